//! The catalog and purchases: products, prices, stock changes and orders, parsed from untrusted
//! input. Every value that becomes part of a DynamoDB key (ids, categories, idempotency keys)
//! is bounded here.

use std::fmt;

use serde_json::Value;

use super::FieldErrors;
use super::{collect, required};

/// What a user may do beyond their own data. Only an operator changes it (`keel-local admin`);
/// no API body can.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every registered user.
    #[default]
    User,
    /// Manages the catalog, stock and every order.
    Admin,
}

impl Role {
    /// True for [`Role::Admin`].
    pub fn is_admin(self) -> bool {
        self == Role::Admin
    }

    /// As stored (and as serde writes it).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// A fresh random id.
            pub fn generate() -> Self {
                Self(uuid::Uuid::new_v4().to_string())
            }

            /// Parses untrusted text: only a UUID (any case) is an id; it is kept lowercase.
            pub fn parse(raw: &str) -> Option<Self> {
                $crate::domain::parse_uuid(raw).map(Self)
            }

            /// Wraps an id read back from our own table.
            pub fn from_trusted(id: String) -> Self {
                Self(id)
            }

            /// The id as stored.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

pub(crate) use uuid_id;

uuid_id!(
    /// A product's id (UUID): its key, and what orders and uploads refer to.
    ProductId
);
uuid_id!(
    /// An order's id (UUID).
    OrderId
);

/// ISO 4217 codes of the currencies in use (2026), alphabetical.
const CURRENCIES: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL \
BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP \
GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW \
KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO \
NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD \
SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG \
XOF XPF YER ZAR ZMW ZWG";

/// An ISO 4217 currency code, e.g. `EUR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency(String);

impl Currency {
    /// Every code accepted, alphabetical (the OpenAPI document lists them).
    pub fn codes() -> impl Iterator<Item = &'static str> {
        CURRENCIES.split(' ')
    }

    /// Parses a code; only codes of currencies in use are accepted, in upper case.
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 3 && CURRENCIES.split(' ').any(|code| code == raw)).then(|| Self(raw.to_owned()))
    }

    /// Wraps a code read back from our own table.
    pub fn from_trusted(code: String) -> Self {
        Self(code)
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An amount of money in integer minor units (cents for EUR), never a float.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    /// Minor units, `0..=Money::MAX_AMOUNT`.
    pub amount: i64,
    /// Its currency.
    pub currency: Currency,
}

impl Money {
    /// The largest price accepted (10 billion in major units of a two-decimal currency): far
    /// from overflow even multiplied by 100 units × 49 lines.
    pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

    /// Parses `{"amount": <integer>, "currency": "EUR"}`. Floats, strings and negative amounts
    /// are refused with a message naming `field`.
    pub fn parse(field: &'static str, raw: Option<&Value>) -> Result<Self, FieldErrors> {
        let Some(raw) = raw.filter(|v| !v.is_null()) else {
            return Err(FieldErrors::single(field, "can't be blank"));
        };
        let Some(object) = raw.as_object() else {
            return Err(FieldErrors::single(
                field,
                r#"must be an object {"amount": <integer minor units>, "currency": "<ISO 4217>"}"#,
            ));
        };
        let mut errors = FieldErrors::default();
        let amount = match object.get("amount") {
            Some(number) if super::json_whole(number).is_some() || number.is_u64() => {
                match super::json_whole(number) {
                    Some(a) if (0..=Self::MAX_AMOUNT).contains(&a) => Some(a),
                    _ => {
                        errors.push(
                            format!("{field}.amount"),
                            format!("must be from 0 to {}", Self::MAX_AMOUNT),
                        );
                        None
                    }
                }
            }
            None | Some(Value::Null) => {
                errors.push(format!("{field}.amount"), "can't be blank");
                None
            }
            Some(_) => {
                errors.push(
                    format!("{field}.amount"),
                    "must be an integer number of minor units (cents), not a decimal or a string",
                );
                None
            }
        };
        let currency = match object.get("currency").and_then(Value::as_str) {
            Some(code) => {
                let parsed = Currency::parse(code);
                if parsed.is_none() {
                    errors.push(
                        format!("{field}.currency"),
                        "must be an ISO 4217 code in use, in capitals (e.g. EUR)",
                    );
                }
                parsed
            }
            None => {
                errors.push(format!("{field}.currency"), "can't be blank");
                None
            }
        };
        match (amount, currency) {
            (Some(amount), Some(currency)) => Ok(Self { amount, currency }),
            _ => Err(errors),
        }
    }
}

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
    pub image: Option<String>,
}

/// The raw fields of a product body, as sent.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ProductFields {
    /// `name`.
    #[serde(default, deserialize_with = "super::not_null")]
    pub name: Option<String>,
    /// `description`.
    #[serde(default, deserialize_with = "super::not_null")]
    pub description: Option<String>,
    /// `category`.
    #[serde(default, deserialize_with = "super::not_null")]
    pub category: Option<String>,
    /// `price`, read as JSON so a float or a string gets a precise message.
    #[serde(default, deserialize_with = "super::not_null")]
    pub price: Option<Value>,
    /// `stock` (creation only; afterwards stock moves through orders and restocks).
    #[serde(default, deserialize_with = "super::not_null")]
    pub stock: Option<Value>,
    /// `image`: an upload id, or `null` to clear it.
    #[serde(default, deserialize_with = "super::double_option")]
    pub image: Option<Option<String>>,
}

fn image(raw: Option<&str>) -> Result<String, FieldErrors> {
    // An upload id (uploads are keyed by UUID).
    let value = raw.map(str::trim).unwrap_or_default();
    uuid::Uuid::try_parse(value)
        .ok()
        .filter(|_| value.len() == 36)
        .map(|id| id.to_string())
        .ok_or_else(|| FieldErrors::single("image", "must be an upload id"))
}

impl NewProduct {
    /// Longest product name, in characters.
    pub const NAME_MAX_LEN: usize = 200;
    /// Longest product description, in characters.
    pub const DESCRIPTION_MAX_LEN: usize = 5_000;

    /// Validates every field, reporting all bad ones at once.
    pub fn parse(fields: &ProductFields) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = collect(
            &mut errors,
            text("name", fields.name.as_deref(), NewProduct::NAME_MAX_LEN, false),
        );
        let description = collect(
            &mut errors,
            text(
                "description",
                fields.description.as_deref(),
                NewProduct::DESCRIPTION_MAX_LEN,
                true,
            ),
        );
        let category = collect(&mut errors, Category::parse(fields.category.as_deref()));
        let price = collect(&mut errors, Money::parse("price", fields.price.as_ref()));
        let stock = match &fields.stock {
            None | Some(Value::Null) => Some(0),
            Some(raw) => collect(&mut errors, whole("stock", raw, 0, MAX_STOCK)),
        };
        let image = match &fields.image {
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
    pub image: Option<Option<String>>,
}

impl ProductChanges {
    /// Validates the fields that were sent.
    pub fn parse(fields: &ProductFields) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut changes = Self::default();
        if let Some(name) = &fields.name {
            changes.name = collect(
                &mut errors,
                text("name", Some(name), NewProduct::NAME_MAX_LEN, false),
            );
        }
        if let Some(description) = &fields.description {
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
        if let Some(category) = &fields.category {
            changes.category = collect(&mut errors, Category::parse(Some(category)));
        }
        if fields.price.is_some() {
            changes.price = collect(&mut errors, Money::parse("price", fields.price.as_ref()));
        }
        match &fields.image {
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

/// An integer in `min..=max`; floats and strings are refused.
fn whole(field: &str, raw: &Value, min: i64, max: i64) -> Result<i64, FieldErrors> {
    match super::json_whole(raw) {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(FieldErrors::single(
            field,
            format!("must be a whole number from {min} to {max}"),
        )),
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

/// One line of an order as asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    /// The product.
    pub product_id: ProductId,
    /// Units, 1–100.
    pub quantity: i64,
}

/// An order's lines: 1–[`OrderLines::MAX_LINES`], quantity 1–100 each, each product once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLines(Vec<OrderLine>);

impl OrderLines {
    /// The most lines an order can have. An order is one DynamoDB transaction of at most 100
    /// actions: per line the stock decrement and its ledger entry, plus the order and the
    /// idempotency record, so 49 lines.
    pub const MAX_LINES: usize = 49;
    /// The most units of one product in one order.
    pub const MAX_QUANTITY: i64 = 100;

    /// Parses `[{"productId": "...", "quantity": 2}, ...]`; errors name the line
    /// (`lines[3].quantity`).
    pub fn parse(raw: Option<&Value>) -> Result<Self, FieldErrors> {
        let Some(items) = raw.and_then(Value::as_array) else {
            return Err(FieldErrors::single(
                "lines",
                "must be a list of {productId, quantity}",
            ));
        };
        if items.is_empty() || items.len() > Self::MAX_LINES {
            return Err(FieldErrors::single(
                "lines",
                format!("must have from 1 to {} lines", Self::MAX_LINES),
            ));
        }
        let mut errors = FieldErrors::default();
        let mut lines: Vec<OrderLine> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let product_id = match item.get("productId").and_then(Value::as_str) {
                Some(raw) => {
                    let id = ProductId::parse(raw);
                    if id.is_none() {
                        errors.push(format!("lines[{i}].productId"), "must be a product id (UUID)");
                    }
                    id
                }
                None => {
                    errors.push(format!("lines[{i}].productId"), "can't be blank");
                    None
                }
            };
            let quantity = match item.get("quantity") {
                Some(raw) => {
                    let field = format!("lines[{i}].quantity");
                    collect(&mut errors, whole(&field, raw, 1, Self::MAX_QUANTITY))
                }
                None => {
                    errors.push(format!("lines[{i}].quantity"), "can't be blank");
                    None
                }
            };
            if let (Some(product_id), Some(quantity)) = (product_id, quantity) {
                if lines.iter().any(|l| l.product_id == product_id) {
                    errors.push(
                        format!("lines[{i}].productId"),
                        "appears twice; order each product once with its total quantity",
                    );
                } else {
                    lines.push(OrderLine { product_id, quantity });
                }
            }
        }
        errors.into_result()?;
        Ok(Self(lines))
    }

    /// The lines, in the order given.
    pub fn as_slice(&self) -> &[OrderLine] {
        &self.0
    }

    /// The order as an idempotency record compares it: the same lines in the same order,
    /// however the JSON was spelled.
    pub fn fingerprint(&self) -> String {
        self.0
            .iter()
            .map(|l| format!("{}x{}", l.product_id, l.quantity))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// An `Idempotency-Key`: 1–255 printable ASCII characters (IETF draft, Stripe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Parses the header value.
    pub fn parse(raw: &[u8]) -> Result<Self, FieldErrors> {
        if raw.is_empty() || raw.len() > 255 || !raw.iter().all(|b| (0x20..=0x7e).contains(b)) {
            return Err(FieldErrors::single(
                "Idempotency-Key",
                "must be 1–255 printable ASCII characters",
            ));
        }
        Ok(Self(String::from_utf8_lossy(raw).into_owned()))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An order's life: placed, then fulfilled or cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    /// Stock taken, awaiting fulfilment; the owner may cancel.
    Placed,
    /// Shipped.
    Fulfilled,
    /// Cancelled by its owner; stock returned.
    Cancelled,
}

impl OrderStatus {
    /// Parses a query value.
    pub fn parse(raw: &str) -> Result<Self, FieldErrors> {
        match raw {
            "placed" => Ok(Self::Placed),
            "fulfilled" => Ok(Self::Fulfilled),
            "cancelled" => Ok(Self::Cancelled),
            _ => Err(FieldErrors::single(
                "status",
                "must be placed, fulfilled or cancelled",
            )),
        }
    }

    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Placed => "placed",
            Self::Fulfilled => "fulfilled",
            Self::Cancelled => "cancelled",
        }
    }
}

/// How a product list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductSort {
    /// Newest first (default).
    Newest,
    /// Cheapest first.
    PriceAsc,
    /// Dearest first.
    PriceDesc,
}

/// A product list query, validated.
#[derive(Debug, Clone)]
pub struct ProductQuery {
    /// Only this category.
    pub category: Option<Category>,
    /// Lowest price (minor units), inclusive.
    pub min_price: Option<i64>,
    /// Highest price (minor units), inclusive.
    pub max_price: Option<i64>,
    /// Order.
    pub sort: ProductSort,
    /// Page size, 1–100.
    pub limit: usize,
}

/// Parses a `limit` query value: 1–100, default 20.
pub fn parse_limit(raw: Option<&str>) -> Result<usize, FieldErrors> {
    // Absent is the default; present, it must be the number (`limit=` is not one).
    match raw {
        None => Ok(20),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => Ok(n),
            _ => Err(FieldErrors::single(
                "limit",
                "must be a whole number from 1 to 100",
            )),
        },
    }
}

impl ProductQuery {
    /// Parses the query-string values.
    pub fn parse(
        category: Option<&str>,
        min_price: Option<&str>,
        max_price: Option<&str>,
        sort: Option<&str>,
        limit: Option<&str>,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let category = match category {
            Some(raw) => collect(&mut errors, Category::parse(Some(raw))).map(Some),
            None => Some(None),
        };
        let price = |field: &'static str, raw: Option<&str>| match raw {
            None => Ok(None),
            Some(text) => match text.trim().parse::<i64>() {
                Ok(n) if (0..=Money::MAX_AMOUNT).contains(&n) => Ok(Some(n)),
                _ => Err(FieldErrors::single(
                    field,
                    format!(
                        "must be a whole number of minor units from 0 to {}",
                        Money::MAX_AMOUNT
                    ),
                )),
            },
        };
        let min_price = collect(&mut errors, price("minPrice", min_price));
        let max_price = collect(&mut errors, price("maxPrice", max_price));
        let sort = match sort.unwrap_or("newest") {
            "newest" => Some(ProductSort::Newest),
            "price_asc" => Some(ProductSort::PriceAsc),
            "price_desc" => Some(ProductSort::PriceDesc),
            _ => {
                errors.push("sort", "must be newest, price_asc or price_desc");
                None
            }
        };
        let limit = collect(&mut errors, parse_limit(limit));
        match (category, min_price, max_price, sort, limit) {
            (Some(category), Some(min_price), Some(max_price), Some(sort), Some(limit))
                if errors.is_empty() =>
            {
                Ok(Self {
                    category,
                    min_price,
                    max_price,
                    sort,
                    limit,
                })
            }
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
    /// `active` or `archived`.
    pub archived: bool,
    /// Upload id of its image.
    pub image: Option<String>,
    /// ISO 8601 UTC.
    pub created_at: String,
    /// ISO 8601 UTC.
    pub updated_at: String,
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

/// One line of a placed order: the price is the product's at order time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlacedLine {
    /// Product id.
    pub product_id: String,
    /// Product name at order time.
    pub name: String,
    /// Units.
    pub quantity: i64,
    /// Unit price in minor units.
    pub unit_amount: i64,
    /// `quantity × unit_amount`.
    pub line_amount: i64,
}

/// An order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Id.
    pub id: OrderId,
    /// The shopper (user id).
    pub user_id: String,
    /// Status.
    pub status: OrderStatus,
    /// Lines, as ordered.
    pub lines: Vec<PlacedLine>,
    /// Currency of every line and the total.
    pub currency: String,
    /// Sum of the lines, minor units.
    pub total_amount: i64,
    /// ISO 8601 UTC.
    pub created_at: String,
    /// ISO 8601 UTC.
    pub updated_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn money_is_integer_minor_units_in_a_known_currency() {
        let ok = Money::parse("price", Some(&json!({"amount": 1299, "currency": "EUR"}))).unwrap();
        assert_eq!(ok.amount, 1299);
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
        assert_eq!(whole.amount, 12);
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
