//! The words the API's document is written in: the token scheme, the error body, cursor
//! paging, and a schema for each kind of value a request may carry. Each takes its limits,
//! patterns and names from the domain's own constants and enums, so the document cannot drift
//! from what the server accepts. Request schemas sit beside their handlers' DTOs and are
//! written in these words; [`crate::openapi`] gathers them.

#![allow(dead_code)] // These types exist to be described, never constructed.

use serde::Serialize;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use keel::domain::{
    ArticleBody, Bio, Category, CommentBody, Currency, Description, Email, Filename, ImageUrl, MAX_STOCK,
    MediaType, NewProduct, OrderStatus, Password, PaymentProvider, ProductStatus, Purpose, StockChange, Tag,
    Title, UploadStatus, Username, Variant,
};

/// The security scheme every authenticated operation names.
pub const TOKEN: &str = "token";

/// Every error body: messages per field (RealWorld's shape).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"errors": {"title": ["can't be blank"]}}))]
pub struct ErrorBody {
    /// Field (or `token`, `article`, …) → messages.
    errors: std::collections::BTreeMap<String, Vec<String>>,
}

/// The query of a list paged by cursor (`nextCursor`); `crate::openapi` adds its 400.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CursorPage {
    /// Page size (default 20)
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `nextCursor` of the previous page
    cursor: Option<String>,
}

/// Declares a string schema whose limits are the domain parser's own constants, so the
/// document cannot drift from what the server accepts.
macro_rules! text_type {
    ($description:literal, $name:ident, $min:expr, $max:expr, $pattern:expr) => {
        #[doc = $description]
        #[derive(serde::Deserialize)]
        pub(crate) struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                text_schema($description, $min, $max, $pattern)
            }
        }
        impl ToSchema for $name {}
    };
}

/// Has a character a reader would see: the server's "blank" is only whitespace and control
/// characters.
const VISIBLE: &str = r"[^\s\x00-\x1f\x7f-\x9f]";
/// One or more lines (newlines and tabs allowed, no other control character), not blank.
const LINES: &str =
    r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x08\x0b-\x1f\x7f-\x9f]*$";
/// Lines as [`LINES`], possibly blank.
const LINES_OR_BLANK: &str = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$";

text_type!(
    "Letters, digits, `_`, `.`, `-`; not `.` or `..`. Unique, ignoring case.",
    UsernameText,
    Some(1),
    Username::MAX_LEN,
    Some(r"^([A-Za-z0-9_-][A-Za-z0-9_.-]*|\.[A-Za-z0-9_-][A-Za-z0-9_.-]*|\.\.[A-Za-z0-9_.-]+)$")
);
text_type!(
    "An email address: one `@`, a dot inside the domain, no whitespace or control characters. Unique, ignoring case.",
    EmailText,
    None,
    Email::MAX_LEN,
    Some(
        r"^[^\s@\x00-\x1f\x7f-\x9f]+@[^\s@.\x00-\x1f\x7f-\x9f][^\s@\x00-\x1f\x7f-\x9f]*\.[^\s@\x00-\x1f\x7f-\x9f]*[^\s@.\x00-\x1f\x7f-\x9f]$"
    )
);
text_type!(
    "A new password.",
    PasswordText,
    Some(Password::MIN_LEN),
    Password::MAX_LEN,
    None
);
text_type!(
    "A password offered at login.",
    LoginPasswordText,
    Some(1),
    Password::MAX_LOGIN_LEN,
    None
);
text_type!(
    "A bio; `\"\"` or `null` clears it.",
    BioText,
    None,
    Bio::MAX_LEN,
    None
);
text_type!(
    "An `http(s)` URL; `\"\"` or `null` clears it.",
    ImageUrlText,
    None,
    ImageUrl::MAX_LEN,
    Some(r"^([\s\x00-\x1f\x7f-\x9f]*|[Hh][Tt][Tt][Pp][Ss]?://[^\s\x00-\x1f\x7f-\x9f]*)$")
);
text_type!(
    "An article's title.",
    TitleText,
    Some(1),
    Title::MAX_LEN,
    Some(VISIBLE)
);
text_type!(
    "An article's description.",
    DescriptionText,
    Some(1),
    Description::MAX_LEN,
    Some(VISIBLE)
);
text_type!(
    "An article's body, Markdown.",
    ArticleBodyText,
    Some(1),
    ArticleBody::MAX_LEN,
    Some(VISIBLE)
);
text_type!(
    "A comment's body.",
    CommentText,
    Some(1),
    CommentBody::MAX_LEN,
    Some(VISIBLE)
);
text_type!(
    "A product's name.",
    ProductNameText,
    Some(1),
    NewProduct::NAME_MAX_LEN,
    Some(LINES)
);
text_type!(
    "A product's description (may be blank).",
    ProductDescriptionText,
    None,
    NewProduct::DESCRIPTION_MAX_LEN,
    Some(LINES_OR_BLANK)
);
text_type!(
    "Lowercase letters, digits and single hyphens.",
    CategoryText,
    None,
    Category::MAX_LEN,
    Some("^[a-z0-9]+(-[a-z0-9]+)*$")
);
text_type!(
    "Why stock changed.",
    ReasonText,
    Some(1),
    StockChange::REASON_MAX_LEN,
    Some(LINES)
);
text_type!(
    "A tag: no control characters; a blank one is dropped.",
    TagText,
    Some(0),
    Tag::MAX_LEN,
    Some(r"^[^\x00-\x1f\x7f-\x9f]*$")
);
text_type!(
    "A bare file name: no folders, no control characters, none of `\" < > : | ? *`. Described here without an extension; one, if given, must match `contentType` (`.png` for `image/png`…).",
    FileName,
    Some(1),
    Filename::MAX_LEN,
    Some(r#"^[^./\\"<>:|?*\x00-\x1f\x7f-\x9f]+$"#)
);

fn text_schema(description: &str, min: Option<usize>, max: usize, pattern: Option<&str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .min_length(min)
        .max_length(Some(max))
        .pattern(pattern)
        .into()
}

/// Declares a string schema whose values are the names of a domain enum's variants, listed by
/// the enum itself (`ALL`), so a variant added there is documented here.
macro_rules! names_type {
    ($description:literal, $name:ident, $names:expr) => {
        #[doc = $description]
        #[derive(serde::Deserialize)]
        pub(crate) struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                names_schema($description, $names)
            }
        }
        impl ToSchema for $name {}
    };
}

fn names_schema<'a>(description: &str, names: impl IntoIterator<Item = &'a str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(names))
        .into()
}

names_type!(
    "An order's status.",
    OrderStatusName,
    OrderStatus::ALL.map(OrderStatus::as_str)
);
names_type!(
    "Who takes an order's money.",
    PaymentProviderName,
    PaymentProvider::ALL.map(PaymentProvider::as_str)
);
names_type!(
    "How the catalog is ordered.",
    ProductSort,
    keel::domain::ProductSort::ALL.map(keel::domain::ProductSort::as_str)
);
names_type!(
    "Which file of an upload: the original or its thumbnail (images only).",
    VariantName,
    Variant::ALL.map(Variant::as_str)
);
names_type!(
    "An upload's state: `pending` until the file is sent and checked, then `ready` or `rejected`.",
    UploadStatusName,
    UploadStatus::ALL.map(UploadStatus::as_str)
);
names_type!(
    "Whether a product is in the catalog.",
    ProductStatusName,
    ProductStatus::ALL.map(ProductStatus::as_str)
);
names_type!(
    "What an upload is for.",
    PurposeName,
    Purpose::ALL.map(Purpose::as_str)
);
names_type!(
    "The image types accepted.",
    ImageType,
    MediaType::ALL
        .into_iter()
        .filter(|t| t.is_image())
        .map(MediaType::mime)
);
names_type!(
    "Every type accepted.",
    FileType,
    MediaType::ALL.map(MediaType::mime)
);

/// An ISO 4217 code of a currency in use, in capitals.
#[derive(serde::Deserialize)]
pub(crate) struct CurrencyCode;

impl PartialSchema for CurrencyCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Currency::codes()))
            .examples(["EUR"])
            .into()
    }
}
impl ToSchema for CurrencyCode {}

/// Declares an integer schema (`int64`) whose bounds are the domain's constants.
macro_rules! integer_type {
    ($description:literal, $name:ident, $min:expr, $max:expr) => {
        #[doc = $description]
        #[derive(serde::Deserialize)]
        pub(crate) struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                integer($min, $max).into()
            }
        }
        impl ToSchema for $name {}
    };
}

/// An `int64` from `min` to `max`.
pub(crate) fn integer(min: i64, max: i64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Int64,
        )))
        .minimum(Some(min))
        .maximum(Some(max))
}

integer_type!(
    "An amount in minor units (cents).",
    Amount,
    0,
    keel::domain::Money::MAX_AMOUNT
);
integer_type!("Units in stock.", StockCount, 0, MAX_STOCK);
integer_type!(
    "Units of one product.",
    Quantity,
    1,
    keel::domain::OrderLines::MAX_QUANTITY
);

/// A stock change: a restock (1 to 10⁹) or a write-off (-10⁹ to -1), never zero.
#[derive(serde::Deserialize)]
pub(crate) struct StockDelta;

impl PartialSchema for StockDelta {
    fn schema() -> RefOr<Schema> {
        let range = |min: i64, max: i64| {
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(min))
                .maximum(Some(max))
        };
        OneOfBuilder::new()
            .item(range(1, MAX_STOCK))
            .item(range(-MAX_STOCK, -1))
            .into()
    }
}
impl ToSchema for StockDelta {}

/// An article's tags: at most [`keel::domain::TagList::MAX_TAGS`].
#[derive(serde::Deserialize)]
pub(crate) struct Tags;

impl PartialSchema for Tags {
    fn schema() -> RefOr<Schema> {
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(RefOr::Ref(utoipa::openapi::Ref::from_schema_name("TagText")))
            .max_items(Some(keel::domain::TagList::MAX_TAGS))
            .into()
    }
}
impl ToSchema for Tags {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push(("TagText".to_owned(), TagText::schema()));
    }
}
