//! Domain types. Each newtype has a private field and one fallible `parse`, so holding a value
//! proves it was validated: handlers never re-check.

mod article;
mod catalog;
mod content;
mod cursor;
mod fields;
mod ids;
mod money;
mod order;
mod payment;
mod product_query;
mod role;
mod search;
mod upload;
mod user;

pub use article::{
    ArticleBody, ArticleChanges, CommentBody, CommentId, Description, NewArticle, Page, Slug, Tag, TagList,
    Title,
};

pub use catalog::{
    Category, LedgerEntry, MAX_STOCK, NewProduct, Product, ProductChanges, ProductFields, ProductStatus,
    StockChange,
};
pub use content::{Article, Comment, Profile};
pub use cursor::{BadCursor, Cursor};
pub use fields::FieldErrors;
pub use ids::{ArticleId, OrderId, ProductId};
pub use money::{Currency, Money};
pub use order::{IdempotencyKey, Order, OrderLine, OrderLines, OrderStatus, PlacedLine};
pub use payment::{
    Decision, GatewayEventId, HistoryEntry, OrderPayment, PaymentEvent, PaymentProvider, Refund,
    ReportedPayment, decide,
};
pub use product_query::{ProductQuery, ProductQueryParams, ProductSort, parse_limit};
pub use role::Role;
pub use search::{DateRange, MAX_WORD_LEN, TitleQuery, title_words};
pub use upload::{
    Attachment, Filename, MAX_ARTICLE_IMAGES, MAX_PENDING_UPLOADS, MAX_USER_BYTES, MediaType, NewUpload,
    Purpose, Upload, UploadFields, UploadId, UploadStatus, Variant,
};
pub use user::{Bio, Credentials, Email, ImageUrl, NewUser, Password, User, UserChanges, UserId, Username};

/// Untrusted text as a UUID id: exactly the 36-character hyphenated form (any case), kept
/// lower-case, so an id never becomes a key of another length.
pub(crate) fn parse_uuid(raw: &str) -> Option<String> {
    if raw.len() != 36 {
        return None;
    }
    uuid::Uuid::try_parse(raw).ok().map(|id| id.to_string())
}

/// Trims `raw` and rejects what is blank with RealWorld's wording.
fn required<'a>(field: &'static str, raw: Option<&'a str>) -> Result<&'a str, FieldErrors> {
    match raw {
        Some(value) if !is_blank(value) => Ok(value.trim()),
        _ => Err(FieldErrors::single(field, "can't be blank")),
    }
}

/// A JSON number that is a whole number, as JSON Schema's `integer` is: `7` and `7.0` alike
/// (within ±2⁵³ for the latter, where a double is still exact); `7.5`, strings and the rest are not.
pub(crate) fn json_whole(raw: &serde_json::Value) -> Option<i64> {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    match raw {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() <= EXACT)
                .map(|f| f as i64)
        }),
        _ => None,
    }
}

/// Nothing a reader would see: only whitespace and control characters (the OpenAPI document
/// says the same with the pattern `[^\s\x00-\x1f\x7f-\x9f]`, "has a visible character").
pub(crate) fn is_blank(value: &str) -> bool {
    value.chars().all(|c| c.is_whitespace() || c.is_control())
}

/// An integer in `min..=max`; floats and strings are refused.
fn whole(field: &str, raw: &serde_json::Value, min: i64, max: i64) -> Result<i64, FieldErrors> {
    match json_whole(raw) {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(FieldErrors::single(
            field,
            format!("must be a whole number from {min} to {max}"),
        )),
    }
}

/// Collects the outcome of parsing one field into `errors`, so a DTO reports every bad field.
fn collect<T>(errors: &mut FieldErrors, result: Result<T, FieldErrors>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(e) => {
            errors.extend(e);
            None
        }
    }
}

/// Current time as RealWorld writes it: ISO 8601, UTC, milliseconds (`2026-11-21T12:19:36.511Z`).
pub fn now_timestamp() -> String {
    timestamp_in(std::time::Duration::ZERO)
}

/// The time `from_now` ahead, written as [`now_timestamp`] writes it (so the two compare as
/// text: same width, same zone).
pub fn timestamp_in(from_now: std::time::Duration) -> String {
    let now = chrono::Utc::now();
    chrono::Duration::from_std(from_now)
        .ok()
        .and_then(|ahead| now.checked_add_signed(ahead))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
