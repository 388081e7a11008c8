//! Taking the money: the configured provider ([`Payments`]), Stripe's API ([`stripe`]) and its
//! webhooks ([`webhook`]). Handlers call this beside the store; the store never calls it.

use std::time::Duration;

use crate::domain::{Order, PaymentProvider};

pub mod stripe;
pub mod webhook;

/// The metadata key a gateway payment names its order by.
pub const ORDER_METADATA: &str = "order_id";
/// How long an order waits for its money by default.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(30 * 60);
/// The shortest and longest payment windows accepted (`ORDER_PAYMENT_WINDOW_SECONDS`).
pub const WINDOW_RANGE: std::ops::RangeInclusive<u64> = 1..=7 * 24 * 3600;

/// Why the gateway did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Unreachable, timed out, throttling or failing (5xx): worth retrying.
    #[error("payment gateway unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// It answered and refused (4xx): a configuration problem or a bug, not the client's.
    #[error("payment gateway refused {operation}: {status} {code}: {message}")]
    Refused {
        /// What was asked.
        operation: &'static str,
        /// HTTP status.
        status: u16,
        /// The gateway's error code (`payment_intent_unexpected_state`), when it gives one.
        code: String,
        /// Its message.
        message: String,
    },
}

/// A payment the front end confirms with the gateway's client library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// The gateway's id (`pi_…`).
    pub id: String,
    /// What the front end confirms it with.
    pub client_secret: String,
}

/// What asking the gateway to cancel a payment found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// Cancelled: it can no longer take money.
    Now,
    /// It had already succeeded or been cancelled. If it succeeded, its webhook refunds it.
    AlreadyFinal,
}

/// The payment side of a function's dependencies: the provider, the window, and the Stripe
/// client when Stripe is the provider.
#[derive(Clone, Debug)]
pub struct Payments {
    /// New orders' provider.
    pub provider: PaymentProvider,
    /// How long a new order waits for its money.
    pub window: Duration,
    stripe: Option<stripe::Stripe>,
}

impl Payments {
    /// Orders are marked paid by an admin.
    pub fn manual(window: Duration) -> Self {
        Self {
            provider: PaymentProvider::Manual,
            window,
            stripe: None,
        }
    }

    /// Orders are paid through Stripe.
    pub fn stripe(client: stripe::Stripe, window: Duration) -> Self {
        Self {
            provider: PaymentProvider::Stripe,
            window,
            stripe: Some(client),
        }
    }

    /// The Stripe client, when Stripe takes the money.
    pub fn stripe_client(&self) -> Option<&stripe::Stripe> {
        self.stripe.as_ref()
    }

    /// Creates the order's payment at the gateway (none for the manual provider). Safe to
    /// repeat: the gateway's idempotency key is derived from the order id.
    pub async fn create_intent(&self, order: &Order) -> Result<Option<Intent>, GatewayError> {
        match &self.stripe {
            Some(stripe) => stripe.create_intent(order).await.map(Some),
            None => Ok(None),
        }
    }

    /// Cancels `order`'s gateway payment, if it has one at this provider.
    pub async fn cancel_intent(&self, order: &Order) -> Result<Option<Cancelled>, GatewayError> {
        match (&self.stripe, order.payment.intent_id.as_deref()) {
            (Some(stripe), Some(intent)) if order.payment.provider == PaymentProvider::Stripe => {
                stripe.cancel_intent(intent).await.map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Refunds the gateway payment `intent` of `order` in full; answers the refund's id. Safe
    /// to repeat (the idempotency key is derived from the order id). `None` without a gateway
    /// (a manual payment is refunded by hand).
    pub async fn refund(&self, order: &Order, intent: &str) -> Result<Option<String>, GatewayError> {
        match &self.stripe {
            Some(stripe) => stripe.refund(order, intent).await.map(Some),
            None => Ok(None),
        }
    }
}
