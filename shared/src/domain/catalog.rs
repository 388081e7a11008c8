//! The catalog: products, their stock changes and ledger, parsed from untrusted input. Every
//! value that becomes part of a DynamoDB key (ids, categories) is bounded here.

use serde_json::Value;

use super::{FieldErrors, Money, ProductId, UploadId, collect, required, whole};

/// A product category: a lowercase slug (`kitchen`, `board-games`), 1–50 characters, so it
/// can be part of a key and of a URL without escaping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category(String);

impl Category {
    /// Longest category.
    pub const MAX_LEN: usize = 50;

    /// Parses untrusted input (`field` names it in errors: `category` in a body or a query).
    /// Taken as sent: surrounding spaces are refused, not trimmed.
    pub fn parse(raw: Option<&str>) -> Result<Self, FieldErrors> {
        required("category", raw)?;
        let value = raw.unwrap_or_default();
        let valid = value.len() <= Self::MAX_LEN
            && value.split('-').all(|part| {
                !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        if !valid {
            return Err(FieldErrors::single(
                "category",
                "must be 1–50 lowercase letters, digits and single hyphens (e.g. board-games)",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// Wraps a category read back from our own table.
    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    /// The category.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Bounded free text: trimmed, within `max` characters, no control characters but newlines
/// and tabs.
fn text(field: &'static str, raw: Option<&str>, max: usize, blank_ok: bool) -> Result<String, FieldErrors> {
    let value = match raw.map(str::trim) {
        Some(value) if !value.is_empty() => value,
        _ if blank_ok => return Ok(String::new()),
        _ => return Err(FieldErrors::single(field, "can't be blank")),
    };
    // The limit counts what was sent, surrounding whitespace included.
    if raw.unwrap_or_default().chars().count() > max {
        return Err(FieldErrors::single(
            field,
            format!("is too long (maximum is {max} characters)"),
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(FieldErrors::single(field, "must not contain control characters"));
    }
    Ok(value.to_owned())
}

/// The largest stock a product can hold; keeps every sum far from overflow.
pub const MAX_STOCK: i64 = 1_000_000_000;

/// A new product, validated.
#[derive(Debug, Clone)]
pub struct NewProduct {
    /// Name, 1–200 characters.
    pub name: String,
    /// Description, up to 5,000 characters (may be empty).
    pub description: String,
    /// Category.
    pub category: Category,
    /// Price.
    pub price: Money,
    /// Stock to start with (recorded in the ledger as the first entry).
    pub stock: i64,
    /// An image: an upload id.
    pub image: Option<UploadId>,
}

/// A product's fields as sent, unchecked, by name (the wire's shape is the handler's DTO):
/// `None` is a field left out.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProductFields<'a> {
    /// `name`.
    pub name: Option<&'a str>,
    /// `description`.
    pub description: Option<&'a str>,
    /// `category`.
    pub category: Option<&'a str>,
    /// `price`, as JSON so a float or a string gets a precise message.
    pub price: Option<&'a Value>,
    /// `stock` (creation only; afterwards stock moves through orders and restocks).
    pub stock: Option<&'a Value>,
    /// `image`: an upload id, or `Some(None)` to clear it.
    pub image: Option<Option<&'a str>>,
}

fn image(raw: Option<&str>) -> Result<UploadId, FieldErrors> {
    UploadId::parse(raw.map(str::trim).unwrap_or_default())
        .ok_or_else(|| FieldErrors::single("image", "must be an upload id"))
}

impl NewProduct {
    /// Longest product name, in characters.
    pub const NAME_MAX_LEN: usize = 200;
    /// Longest product description, in characters.
    pub const DESCRIPTION_MAX_LEN: usize = 5_000;

    /// Validates every field, reporting all bad ones at once.
    pub fn parse(fields: ProductFields<'_>) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = collect(
            &mut errors,
            text("name", fields.name, NewProduct::NAME_MAX_LEN, false),
        );
        let description = collect(
            &mut errors,
            text(
                "description",
                fields.description,
                NewProduct::DESCRIPTION_MAX_LEN,
                true,
            ),
        );
        let category = collect(&mut errors, Category::parse(fields.category));
        let price = collect(&mut errors, Money::parse("price", fields.price));
        let stock = match fields.stock {
            None | Some(Value::Null) => Some(0),
            Some(raw) => collect(&mut errors, whole("stock", raw, 0, MAX_STOCK)),
        };
        let image = match fields.image {
            Some(Some(raw)) => collect(&mut errors, image(Some(raw))).map(Some),
            _ => Some(None),
        };
        match (name, description, category, price, stock, image) {
            (Some(name), Some(description), Some(category), Some(price), Some(stock), Some(image))
                if errors.is_empty() =>
            {
                Ok(Self {
                    name,
                    description,
                    category,
                    price,
                    stock,
                    image,
                })
            }
            _ => Err(errors),
        }
    }
}

/// A partial change to a product: only what was sent. Stock and status are not fields of a
/// change (stock moves through orders and restocks, status through archiving).
#[derive(Debug, Clone, Default)]
pub struct ProductChanges {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New category.
    pub category: Option<Category>,
    /// New price.
    pub price: Option<Money>,
    /// New image, or `Some(None)` to clear it.
    pub image: Option<Option<UploadId>>,
}

impl ProductChanges {
    /// Validates the fields that were sent.
    pub fn parse(fields: ProductFields<'_>) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut changes = Self::default();
        if let Some(name) = fields.name {
            changes.name = collect(
                &mut errors,
                text("name", Some(name), NewProduct::NAME_MAX_LEN, false),
            );
        }
        if let Some(description) = fields.description {
            changes.description = collect(
                &mut errors,
                text(
                    "description",
                    Some(description),
                    NewProduct::DESCRIPTION_MAX_LEN,
                    true,
                ),
            );
        }
        if let Some(category) = fields.category {
            changes.category = collect(&mut errors, Category::parse(Some(category)));
        }
        if fields.price.is_some() {
            changes.price = collect(&mut errors, Money::parse("price", fields.price));
        }
        match fields.image {
            Some(Some(raw)) => changes.image = collect(&mut errors, image(Some(raw))).map(Some),
            Some(None) => changes.image = Some(None),
            None => {}
        }
        errors.into_result()?;
        if changes.name.is_none()
            && changes.description.is_none()
            && changes.category.is_none()
            && changes.price.is_none()
            && changes.image.is_none()
        {
            return Err(FieldErrors::single(
                "product",
                "must include at least one of name, description, category, price, image",
            ));
        }
        Ok(changes)
    }
}

/// An admin's stock change: a non-zero delta and why.
#[derive(Debug, Clone)]
pub struct StockChange {
    /// Units added (positive) or removed (negative).
    pub delta: i64,
    /// Why, for the ledger (1–200 characters).
    pub reason: String,
}

impl StockChange {
    /// Longest reason, in characters.
    pub const REASON_MAX_LEN: usize = 200;

    /// Parses `{"delta": <int>, "reason": "..."}`.
    pub fn parse(delta: Option<&Value>, reason: Option<&str>) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let delta = match delta {
            None | Some(Value::Null) => {
                errors.push("delta", "can't be blank");
                None
            }
            Some(raw) => match collect(&mut errors, whole("delta", raw, -MAX_STOCK, MAX_STOCK)) {
                Some(0) => {
                    errors.push("delta", "must not be zero");
                    None
                }
                other => other,
            },
        };
        let reason = collect(&mut errors, text("reason", reason, Self::REASON_MAX_LEN, false));
        match (delta, reason) {
            (Some(delta), Some(reason)) => Ok(Self { delta, reason }),
            _ => Err(errors),
        }
    }
}

/// A product as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// Id.
    pub id: ProductId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Category.
    pub category: Category,
    /// Price.
    pub price: Money,
    /// Units in stock.
    pub stock: i64,
    /// For sale, or archived.
    pub status: ProductStatus,
    /// Upload id of its image.
    pub image: Option<UploadId>,
    /// ISO 8601 UTC.
    pub created_at: String,
    /// ISO 8601 UTC.
    pub updated_at: String,
}

/// A product's `status`: for sale, or archived (out of every public list; orders keep
/// showing it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProductStatus {
    /// For sale.
    Active,
    /// Out of the catalog.
    Archived,
}

impl ProductStatus {
    /// Every status, in the order the API documents them.
    pub const ALL: [ProductStatus; 2] = [ProductStatus::Active, ProductStatus::Archived];

    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            ProductStatus::Active => "active",
            ProductStatus::Archived => "archived",
        }
    }
}

/// One stock change, as the ledger records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// Units added (positive) or taken (negative).
    pub delta: i64,
    /// Stock right after this change.
    pub stock_after: i64,
    /// `order`, `cancel`, `restock` or `initial stock`, or the admin's reason.
    pub reason: String,
    /// The order that caused it, if any.
    pub order_id: Option<String>,
    /// The admin who made it, if any (user id).
    pub admin_id: Option<String>,
    /// ISO 8601 UTC.
    pub at: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{IdempotencyKey, OrderLines};
    use serde_json::json;

    #[test]
    fn money_is_integer_minor_units_in_a_known_currency() {
        let ok = Money::parse("price", Some(&json!({"amount": 1299, "currency": "EUR"}))).unwrap();
        assert_eq!(ok.amount(), 1299);
        for bad in [
            json!({"amount": 12.99, "currency": "EUR"}),
            json!({"amount": "1299", "currency": "EUR"}),
            json!({"amount": -1, "currency": "EUR"}),
            json!({"amount": 1, "currency": "XXX"}),
            json!({"amount": 1, "currency": "eur"}),
            json!(1299),
        ] {
            assert!(Money::parse("price", Some(&bad)).is_err(), "{bad}");
        }
        // JSON Schema's integer: 12.0 is the whole number 12.
        let whole = Money::parse("price", Some(&json!({"amount": 12.0, "currency": "EUR"}))).unwrap();
        assert_eq!(whole.amount(), 12);
    }

    #[test]
    fn order_lines_are_bounded_and_unique() {
        let id = uuid::Uuid::new_v4().to_string();
        let line = |q: Value| json!({"productId": id, "quantity": q});
        assert!(OrderLines::parse(Some(&json!([line(json!(2))]))).is_ok());
        for bad in [json!(0), json!(-1), json!(101), json!(1.5), json!("2")] {
            let errors = OrderLines::parse(Some(&json!([line(bad.clone())]))).unwrap_err();
            assert!(errors.get("lines[0].quantity").is_some(), "{bad}");
        }
        let twice = OrderLines::parse(Some(&json!([line(json!(1)), line(json!(1))]))).unwrap_err();
        assert!(twice.get("lines[1].productId").is_some());
        let many: Vec<Value> = (0..50)
            .map(|_| json!({"productId": uuid::Uuid::new_v4().to_string(), "quantity": 1}))
            .collect();
        assert!(
            OrderLines::parse(Some(&json!(many)))
                .unwrap_err()
                .get("lines")
                .is_some()
        );
        assert!(OrderLines::parse(Some(&json!(many[..49]))).is_ok());
        let not_uuid = OrderLines::parse(Some(&json!([{"productId": "abc", "quantity": 1}]))).unwrap_err();
        assert!(not_uuid.get("lines[0].productId").is_some());
    }

    #[test]
    fn categories_and_idempotency_keys_are_safe_as_keys() {
        assert!(Category::parse(Some("board-games")).is_ok());
        for bad in ["", "Board", "a--b", "-a", "a b", &"x".repeat(51)] {
            assert!(Category::parse(Some(bad)).is_err(), "{bad:?}");
        }
        assert!(IdempotencyKey::parse(b"order-1 retry").is_ok());
        for bad in [&b""[..], &[b'a'; 256][..], b"tab\there", "é".as_bytes()] {
            assert!(IdempotencyKey::parse(bad).is_err());
        }
    }
}
