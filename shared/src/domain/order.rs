//! Orders as asked for (lines, an idempotency key) and as placed.

use serde_json::Value;

use super::{Currency, FieldErrors, HistoryEntry, OrderId, OrderPayment, ProductId, UserId, collect, whole};

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

/// An order's life: awaiting payment, then paid and fulfilled — or expired (never paid in
/// time) or cancelled (by its owner, refunded if it was paid). Orders placed before payments
/// existed are `placed`, and are fulfilled or cancelled as before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Stock held; waiting for the money until `expires_at`. The owner may cancel.
    AwaitingPayment,
    /// Paid; waiting to be shipped. The owner may cancel (the payment is refunded).
    Paid,
    /// Placed before payments existed: stock taken, fulfilled or cancelled like a paid order
    /// (nothing to refund).
    Placed,
    /// Shipped.
    Fulfilled,
    /// Cancelled by its owner; stock returned (and the payment refunded, if there was one).
    Cancelled,
    /// Not paid in time; stock returned.
    Expired,
}

impl OrderStatus {
    /// Every status, in the order of an order's life.
    pub const ALL: [OrderStatus; 6] = [
        Self::AwaitingPayment,
        Self::Paid,
        Self::Placed,
        Self::Fulfilled,
        Self::Cancelled,
        Self::Expired,
    ];

    /// Parses a query value.
    pub fn parse(raw: &str) -> Result<Self, FieldErrors> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw).ok_or_else(|| {
            FieldErrors::single(
                "status",
                "must be awaiting_payment, paid, placed, fulfilled, cancelled or expired",
            )
        })
    }

    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingPayment => "awaiting_payment",
            Self::Paid => "paid",
            Self::Placed => "placed",
            Self::Fulfilled => "fulfilled",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }

    /// True for the statuses an admin may ship: paid (and placed, from before payments).
    pub fn shippable(self) -> bool {
        matches!(self, Self::Paid | Self::Placed)
    }
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
    /// The shopper.
    pub user_id: UserId,
    /// Status.
    pub status: OrderStatus,
    /// Lines, as ordered.
    pub lines: Vec<PlacedLine>,
    /// Currency of every line and the total.
    pub currency: Currency,
    /// Sum of the lines, minor units.
    pub total_amount: i64,
    /// ISO 8601 UTC.
    pub created_at: String,
    /// ISO 8601 UTC.
    pub updated_at: String,
    /// While awaiting payment: when it expires (ISO 8601 UTC).
    pub expires_at: Option<String>,
    /// Who takes the money, and what the gateway knows of it.
    pub payment: OrderPayment,
    /// Every step so far, oldest first (empty for orders from before payments).
    pub history: Vec<HistoryEntry>,
}
