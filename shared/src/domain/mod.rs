//! Domain types. Each newtype has a private field and one fallible `parse`, so holding a value
//! proves it was validated: handlers never re-check.

mod article;
mod catalog;
mod content;
mod cursor;
mod upload;
mod user;

pub use article::{
    ArticleBody, ArticleChanges, CommentBody, CommentId, Description, NewArticle, Page, Slug, Tag, TagList,
    Title,
};

pub use catalog::{
    Category, Currency, IdempotencyKey, LedgerEntry, MAX_STOCK, Money, NewProduct, Order, OrderId, OrderLine,
    OrderLines, OrderStatus, PlacedLine, Product, ProductChanges, ProductFields, ProductId, ProductQuery,
    ProductSort, Role, StockChange, parse_limit,
};
pub use content::{Article, Comment, Profile};
pub use cursor::{BadCursor, Cursor};
pub use upload::{
    Attachment, Filename, MAX_ARTICLE_IMAGES, MAX_PENDING_UPLOADS, MAX_USER_BYTES, MediaType, NewUpload,
    Purpose, Upload, UploadFields, UploadId, UploadStatus, Variant,
};
pub use user::{Bio, Credentials, Email, ImageUrl, NewUser, Password, User, UserChanges, UserId, Username};

use crate::error::FieldErrors;

/// Untrusted text as a UUID id: exactly the 36-character hyphenated form (any case), kept
/// lower-case, so an id never becomes a key of another length.
pub(crate) fn parse_uuid(raw: &str) -> Option<String> {
    if raw.len() != 36 {
        return None;
    }
    uuid::Uuid::try_parse(raw).ok().map(|id| id.to_string())
}

/// Trims `raw` and rejects what is empty afterwards with RealWorld's wording.
fn required<'a>(field: &'static str, raw: Option<&'a str>) -> Result<&'a str, FieldErrors> {
    match raw.map(str::trim) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(FieldErrors::single(field, "can't be blank")),
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
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
