//! The API's OpenAPI 3.1 document, generated from the handlers' own `#[utoipa::path]`
//! annotations and the response types they serialise.
//!
//! Request bodies are described by the schemas below rather than by the handlers' DTOs: a DTO
//! is deliberately lenient (every field optional, so a missing one gets RealWorld's "can't be
//! blank" 422), while the document states what a *valid* request is, limits included, so that
//! a client generator or a fuzzer knows where the edges are. Responses every operation shares
//! (401 where a token is read, 400/413/415/422 where a body is, 404 where the path names a
//! resource, 503 everywhere) are added in one place, [`CommonResponses`], from what the
//! operation declares — so an operation cannot forget them.
//!
//! `tests/contract.rs` holds the document to `template.yaml`: every route in one is in the other.

#![allow(dead_code)] // The request schemas exist to be described, never constructed.

use serde::{Deserialize, Serialize};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{Content, RefOr, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use keel::domain::{
    ArticleBody, Bio, Category, CommentBody, Description, Email, Filename, ImageUrl, NewProduct, Password,
    StockChange, Tag, Title, Username,
};

use crate::{articles, comments, orders, products, profiles, uploads, users};

/// The whole API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keel",
        description = "A web application's backend: accounts, profiles, articles with comments \
            and tags (the RealWorld API), a product catalog, orders, and photo and file uploads.\n\n\
            Authenticate with `Authorization: Token <jwt>` (or `Bearer <jwt>`) as returned by \
            register and login. Errors are `{\"errors\": {\"<field>\": [\"<message>\"]}}`.",
        license(name = "MIT")
    ),
    servers((url = "/", description = "This server")),
    paths(
        users::register::handle, users::login::handle, users::current::handle,
        users::update::handle, users::logout::handle,
        profiles::get, profiles::follow, profiles::unfollow,
        articles::list, articles::create, articles::feed, articles::get, articles::update,
        articles::delete, articles::favorite, articles::unfavorite, articles::tags,
        comments::list, comments::add, comments::delete,
        products::list, products::create, products::get, products::update, products::archive,
        products::adjust_stock, products::stock_history,
        orders::place, orders::list, orders::get, orders::cancel, orders::fulfil, orders::admin_list,
        uploads::create, uploads::list, uploads::get, uploads::delete, uploads::content,
        uploads::complete,
    ),
    components(schemas(ErrorBody, ProductSort, VariantName, OrderStatusName)),
    modifiers(&CommonResponses),
    tags(
        (name = "users", description = "Accounts and sessions"),
        (name = "profiles", description = "Profiles and follows"),
        (name = "articles", description = "Articles, the feed, favorites and tags"),
        (name = "comments", description = "Comments on articles"),
        (name = "products", description = "The product catalog and its stock"),
        (name = "orders", description = "Orders"),
        (name = "uploads", description = "Photo and file uploads"),
    )
)]
pub struct ApiDoc;

/// The document as served at `/api/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The security scheme every authenticated operation names.
pub const TOKEN: &str = "token";

/// Every error body: messages per field (RealWorld's shape).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"errors": {"title": ["can't be blank"]}}))]
pub struct ErrorBody {
    /// Field (or `token`, `article`, …) → messages.
    errors: std::collections::BTreeMap<String, Vec<String>>,
}

/// Adds what every operation shares, from what it declares: the token scheme; 401 where a
/// token is read (optional-auth reads included: an invalid token is refused, never read as
/// anonymous); 400, 413, 415 and 422 where a JSON body is read; 404 where a path parameter
/// names a resource; 422 for out-of-range query values; 503 (storage throttled or unreachable,
/// with `Retry-After`) everywhere.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            TOKEN,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Token <jwt>` (RealWorld) or `Bearer <jwt>`",
            ))),
        );
        for item in doc.paths.paths.values_mut() {
            for operation in operations(item) {
                add_common(operation);
            }
        }
        add_links(doc);
    }
}

/// A link from what a created resource's response holds to an operation that takes it:
/// the operation whose response it is, the status, the target's parameters (name and where
/// its value is), and the targets.
type Link = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [&'static str],
);

/// What a created resource leads to. Clients and the fuzzer's stateful phase follow these
/// from a new article, comment, user, product, order or upload to what takes its id.
const LINKS: &[Link] = &[
    (
        "createArticle",
        "201",
        &[("slug", "$response.body#/article/slug")],
        &[
            "getArticle",
            "updateArticle",
            "deleteArticle",
            "favoriteArticle",
            "unfavoriteArticle",
            "listComments",
            "addComment",
        ],
    ),
    // A comment is deleted on the article it was made on: the request's own path.
    (
        "addComment",
        "201",
        &[
            ("id", "$response.body#/comment/id"),
            ("slug", "$request.path.slug"),
        ],
        &["deleteComment"],
    ),
    (
        "register",
        "201",
        &[("username", "$response.body#/user/username")],
        &["getProfile", "followUser", "unfollowUser"],
    ),
    (
        "createProduct",
        "201",
        &[("id", "$response.body#/product/id")],
        &[
            "getProduct",
            "updateProduct",
            "archiveProduct",
            "adjustStock",
            "stockHistory",
        ],
    ),
    (
        "placeOrder",
        "201",
        &[("id", "$response.body#/order/id")],
        &["getOrder", "cancelOrder", "fulfilOrder"],
    ),
    (
        "createUpload",
        "201",
        &[("id", "$response.body#/upload/id")],
        &["getUpload", "deleteUpload", "uploadContent", "completeUpload"],
    ),
];

fn add_links(doc: &mut utoipa::openapi::OpenApi) {
    for item in doc.paths.paths.values_mut() {
        for operation in operations(item) {
            let Some(id) = operation.operation_id.clone() else {
                continue;
            };
            for (source, status, parameters, targets) in LINKS {
                if *source != id {
                    continue;
                }
                let Some(RefOr::T(response)) = operation.responses.responses.get_mut(*status) else {
                    continue;
                };
                for target in *targets {
                    let link = parameters.iter().fold(
                        utoipa::openapi::link::LinkBuilder::new().operation_id(*target),
                        |link, (name, value)| link.parameter(*name, *value),
                    );
                    response
                        .links
                        .insert((*target).to_owned(), RefOr::T(link.build()));
                }
            }
        }
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
    ]
    .into_iter()
    .flatten()
}

fn add_common(operation: &mut Operation) {
    let reads_token = operation
        .security
        .as_ref()
        .is_some_and(|requirements| !requirements.is_empty());
    let has_body = operation.request_body.is_some();
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let has_path = parameters
        .iter()
        .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Path));
    let has_query = parameters
        .iter()
        .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query));
    let mut add = |status: &str, description: &str| {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| error_response(description));
    };
    if has_body {
        add("400", "The body is not a JSON document");
        add("413", "The body is larger than 1 MiB");
        add("415", "The body is not JSON (`Content-Type` names another type)");
        add("422", "A field is missing or invalid; the message names it");
    }
    if has_query {
        add("422", "A query value is out of range; the message names it");
    }
    let pages_by_cursor = parameters
        .iter()
        .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query && p.name == "cursor"));
    if pages_by_cursor {
        add("400", "A cursor this list did not hand out");
    }
    if reads_token {
        add("401", "The token is missing, invalid, expired or signed out");
    }
    if has_path {
        add("404", "No such resource (or not one the caller may see)");
    }
    add(
        "503",
        "Storage is throttled or unreachable; nothing was written. Retry after `Retry-After` seconds",
    );
    // Every body this API reads is required: without one the answer is a 422.
    if let Some(RefOr::T(body)) = operation.request_body.as_mut()
        && body.required.is_none()
    {
        body.required = Some(Required::True);
    }
}

/// The query of a list paged by cursor (`nextCursor`); [`add_common`] adds its 400.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CursorPage {
    /// Page size (default 20)
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `nextCursor` of the previous page
    cursor: Option<String>,
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "ErrorBody",
                )))),
            )
            .build(),
    )
}

/// Declares a string schema whose limits are the domain parser's own constants, so the
/// document cannot drift from what the server accepts.
macro_rules! text_type {
    ($description:literal, $name:ident, $min:expr, $max:expr, $pattern:expr) => {
        #[doc = $description]
        #[derive(Deserialize)]
        pub(crate) struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
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

fn text_schema(
    description: &str,
    min: Option<usize>,
    max: usize,
    pattern: Option<&str>,
) -> RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some(description))
        .min_length(min)
        .max_length(Some(max))
        .pattern(pattern)
        .into()
}

// ---- Request bodies: what a valid request is. ----

/// `{"user": {...}}` to register.
#[derive(Deserialize, ToSchema)]
pub(crate) struct RegisterRequest {
    user: NewUserFields,
}

/// A new account.
#[derive(Deserialize, ToSchema)]
pub(crate) struct NewUserFields {
    #[schema(inline)]
    username: UsernameText,
    #[schema(inline)]
    email: EmailText,
    #[schema(inline)]
    password: PasswordText,
}

/// `{"user": {"email", "password"}}` to log in.
#[derive(Deserialize, ToSchema)]
pub(crate) struct LoginRequest {
    user: LoginFields,
}

/// Credentials.
#[derive(Deserialize, ToSchema)]
pub(crate) struct LoginFields {
    #[schema(inline)]
    email: EmailText,
    #[schema(inline)]
    password: LoginPasswordText,
}

/// `{"user": {...}}`: the fields to change, at least one.
#[derive(Deserialize, ToSchema)]
pub(crate) struct UpdateUserRequest {
    user: UserChangesFields,
}

/// Changes to the current user; a new password ends every other session and the response
/// carries a new token.
#[derive(Deserialize, ToSchema)]
#[schema(min_properties = 1)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserChangesFields {
    #[schema(inline, nullable = false)]
    username: Option<UsernameText>,
    #[schema(inline, nullable = false)]
    email: Option<EmailText>,
    #[schema(inline, nullable = false)]
    password: Option<PasswordText>,
    #[schema(inline, nullable)]
    bio: Option<BioText>,
    #[schema(inline, nullable)]
    image: Option<ImageUrlText>,
}

/// `{"article": {...}}` to create an article.
#[derive(Deserialize, ToSchema)]
pub(crate) struct NewArticleRequest {
    article: NewArticleFields,
}

/// A new article. Images linked in the body (`…/api/uploads/{id}/content`) must be the
/// author's own ready `article` uploads, at most 10.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NewArticleFields {
    #[schema(inline)]
    title: TitleText,
    #[schema(inline)]
    description: DescriptionText,
    #[schema(inline)]
    body: ArticleBodyText,
    #[schema(max_items = 10, nullable = false)]
    tag_list: Option<Vec<TagText>>,
}

/// `{"article": {...}}`: the fields to change, at least one. A new title gives a new slug.
#[derive(Deserialize, ToSchema)]
pub(crate) struct UpdateArticleRequest {
    article: ArticleChangesFields,
}

/// Changes to an article.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(min_properties = 1)]
#[serde(deny_unknown_fields)]
pub(crate) struct ArticleChangesFields {
    #[schema(inline, nullable = false)]
    title: Option<TitleText>,
    #[schema(inline, nullable = false)]
    description: Option<DescriptionText>,
    #[schema(inline, nullable = false)]
    body: Option<ArticleBodyText>,
    #[schema(max_items = 10, nullable = false)]
    tag_list: Option<Vec<TagText>>,
}

/// `{"comment": {"body"}}`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct NewCommentRequest {
    comment: NewCommentFields,
}

/// A comment.
#[derive(Deserialize, ToSchema)]
pub(crate) struct NewCommentFields {
    #[schema(inline)]
    body: CommentText,
}

/// A price: integer minor units (cents) and an ISO 4217 code.
#[derive(Deserialize, ToSchema)]
pub(crate) struct MoneyFields {
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    amount: i64,
    currency: CurrencyCode,
}

/// `{"product": {...}}` to create a product (admins).
#[derive(Deserialize, ToSchema)]
pub(crate) struct NewProductRequest {
    product: NewProductFields,
}

/// A new product.
#[derive(Deserialize, ToSchema)]
pub(crate) struct NewProductFields {
    #[schema(inline)]
    name: ProductNameText,
    #[schema(inline, nullable = false)]
    description: Option<ProductDescriptionText>,
    #[schema(inline)]
    category: CategoryText,
    price: MoneyFields,
    #[schema(minimum = 0, maximum = 1_000_000_000, nullable = false)]
    stock: Option<i64>,
    /// An upload id.
    #[schema(format = Uuid, nullable)]
    image: Option<String>,
}

/// `{"product": {...}}`: the fields to change.
#[derive(Deserialize, ToSchema)]
pub(crate) struct UpdateProductRequest {
    product: ProductChangesFields,
}

/// Changes to a product. Stock moves through orders and `/stock`, status through DELETE.
#[derive(Deserialize, ToSchema)]
#[schema(min_properties = 1)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProductChangesFields {
    #[schema(inline, nullable = false)]
    name: Option<ProductNameText>,
    #[schema(inline, nullable = false)]
    description: Option<ProductDescriptionText>,
    #[schema(inline, nullable = false)]
    category: Option<CategoryText>,
    #[schema(nullable = false)]
    price: Option<MoneyFields>,
    #[schema(format = Uuid, nullable)]
    image: Option<String>,
}

/// `{"stock": {"delta", "reason"}}`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct StockRequest {
    stock: StockFields,
}

/// A restock (positive) or write-off (negative); stock never goes below zero (409).
#[derive(Deserialize, ToSchema)]
pub(crate) struct StockFields {
    delta: StockDelta,
    #[schema(inline)]
    reason: ReasonText,
}

/// `{"order": {"lines": [...]}}`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct NewOrderRequest {
    order: NewOrderFields,
}

/// What to buy.
#[derive(Deserialize, ToSchema)]
pub(crate) struct NewOrderFields {
    #[schema(min_items = 1, max_items = 49)]
    lines: Vec<OrderLineFields>,
}

/// One product and how many.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrderLineFields {
    #[schema(format = Uuid)]
    product_id: String,
    #[schema(minimum = 1, maximum = 100)]
    quantity: i64,
}

/// `{"upload": {...}}` to announce a file.
#[derive(Deserialize, ToSchema)]
pub(crate) struct NewUploadRequest {
    upload: NewUploadFields,
}

/// A file about to be sent to the returned `uploadRequest`. What it is for decides the types
/// and sizes accepted: avatars, article and product images are images.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "purpose", rename_all = "lowercase")]
pub(crate) enum NewUploadFields {
    /// A profile photo, up to 2 MiB.
    Avatar {
        filename: FileName,
        #[serde(rename = "contentType")]
        content_type: ImageType,
        #[schema(minimum = 1, maximum = 2_097_152)]
        size: u64,
    },
    /// An image for an article's body, up to 10 MiB.
    Article {
        filename: FileName,
        #[serde(rename = "contentType")]
        content_type: ImageType,
        #[schema(minimum = 1, maximum = 10_485_760)]
        size: u64,
    },
    /// A product photo, up to 10 MiB.
    Product {
        filename: FileName,
        #[serde(rename = "contentType")]
        content_type: ImageType,
        #[schema(minimum = 1, maximum = 10_485_760)]
        size: u64,
    },
    /// Any accepted file, up to 25 MiB.
    Attachment {
        filename: FileName,
        #[serde(rename = "contentType")]
        content_type: FileType,
        #[schema(minimum = 1, maximum = 26_214_400)]
        size: u64,
    },
}

/// The image types accepted.
#[derive(Deserialize, ToSchema)]
pub(crate) enum ImageType {
    #[serde(rename = "image/jpeg")]
    Jpeg,
    #[serde(rename = "image/png")]
    Png,
    #[serde(rename = "image/gif")]
    Gif,
    #[serde(rename = "image/webp")]
    Webp,
}

/// Every type accepted.
#[derive(Deserialize, ToSchema)]
pub(crate) enum FileType {
    #[serde(rename = "image/jpeg")]
    Jpeg,
    #[serde(rename = "image/png")]
    Png,
    #[serde(rename = "image/gif")]
    Gif,
    #[serde(rename = "image/webp")]
    Webp,
    #[serde(rename = "application/pdf")]
    Pdf,
    #[serde(rename = "text/plain")]
    Text,
}

/// An order's status.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum OrderStatusName {
    Placed,
    Fulfilled,
    Cancelled,
}

/// `{"tags": [...]}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct TagsResponse {
    tags: Vec<String>,
}

/// How the catalog is ordered.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ProductSort {
    Newest,
    PriceAsc,
    PriceDesc,
}

/// Which file of an upload: the original or its thumbnail (images only).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum VariantName {
    Original,
    Thumbnail,
}

/// An upload's state: `pending` until the file is sent and checked, then `ready` or `rejected`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum UploadStatusName {
    Pending,
    Ready,
    Rejected,
}

/// Whether a product is in the catalog.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ProductStatusName {
    Active,
    Archived,
}

/// Where and how to send an announced file: exactly this method, URL and these headers.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UploadRequestBody {
    /// `PUT`.
    method: String,
    /// A presigned URL.
    url: String,
    /// Headers that were signed and must be sent exactly.
    headers: std::collections::BTreeMap<String, String>,
    /// When the URL stops working.
    #[schema(format = DateTime)]
    expires_at: String,
}

/// What an upload is for.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PurposeName {
    Avatar,
    Article,
    Product,
    Attachment,
}

/// An ISO 4217 code of a currency in use, in capitals.
#[derive(Deserialize)]
pub(crate) struct CurrencyCode;

impl utoipa::PartialSchema for CurrencyCode {
    fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(keel::domain::Currency::codes()))
            .examples(["EUR"])
            .into()
    }
}
impl ToSchema for CurrencyCode {}

/// A stock change: a restock (1 to 10⁹) or a write-off (-10⁹ to -1), never zero.
#[derive(Deserialize)]
pub(crate) struct StockDelta;

impl utoipa::PartialSchema for StockDelta {
    fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
        let range = |min: i64, max: i64| {
            utoipa::openapi::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::Integer)
                .minimum(Some(min))
                .maximum(Some(max))
        };
        utoipa::openapi::schema::OneOfBuilder::new()
            .item(range(1, keel::domain::MAX_STOCK))
            .item(range(-keel::domain::MAX_STOCK, -1))
            .into()
    }
}
impl ToSchema for StockDelta {}
