//! Paying for an order: who takes the money, what the gateway told us, and what each gateway
//! event does to an order. No HTTP and no gateway client here: [`decide`] is the rule, the
//! store applies it under conditions, and `crate::payments` talks to the gateway.

use super::{Order, OrderStatus};

/// Who takes an order's money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentProvider {
    /// An admin marks the order paid (`POST /api/orders/{id}/mark-paid`): bank transfer, cash,
    /// or any payment Keel does not see. The default, and the local server's.
    Manual,
    /// Stripe: a PaymentIntent per order, confirmed by the front end, settled by webhook.
    Stripe,
}

impl PaymentProvider {
    /// Every provider.
    pub const ALL: [PaymentProvider; 2] = [Self::Manual, Self::Stripe];

    /// As configured, stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Stripe => "stripe",
        }
    }

    /// Parses a setting (`PAYMENT_PROVIDER`).
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == raw)
    }
}

/// Where an order's refund stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Refund {
    /// Nothing to refund.
    #[default]
    None,
    /// Owed: the order was cancelled or expired after the money was taken, and the gateway
    /// has not confirmed the refund yet. Retrying the cancel (or the webhook) completes it.
    Pending,
    /// Refunded; the gateway's refund id.
    Done(String),
}

/// An order's payment, as far as Keel knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPayment {
    /// Who takes the money.
    pub provider: PaymentProvider,
    /// The gateway's payment (a Stripe PaymentIntent id), once created.
    pub intent_id: Option<String>,
    /// What the front end confirms the payment with (Stripe's `client_secret`). Only the order's
    /// owner (and admins) ever see it.
    pub client_secret: Option<String>,
    /// Where a refund stands.
    pub refund: Refund,
}

impl OrderPayment {
    /// A new order's payment: nothing created at the gateway yet.
    pub fn new(provider: PaymentProvider) -> Self {
        Self {
            provider,
            intent_id: None,
            client_secret: None,
            refund: Refund::None,
        }
    }
}

/// One step in an order's life, as its history shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HistoryEntry {
    /// The status after this step (unchanged for a failed payment attempt or a refund).
    pub status: OrderStatus,
    /// What happened, for people: `placed`, `payment failed: card_declined`, `paid`, …
    pub note: String,
    /// ISO 8601 UTC.
    pub at: String,
}

/// A gateway event's id (Stripe's `evt_…`): 1–255 characters of `[A-Za-z0-9_-]`, so that it
/// can become a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayEventId(String);

impl GatewayEventId {
    /// The longest id accepted.
    pub const MAX_LEN: usize = 255;

    /// Parses an id from a verified event.
    pub fn parse(raw: &str) -> Option<Self> {
        let valid = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        valid.then(|| Self(raw.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a verified gateway event says about a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentEvent {
    /// The money was taken (`payment_intent.succeeded`).
    Succeeded(ReportedPayment),
    /// An attempt failed (`payment_intent.payment_failed`); the order stays payable.
    Failed {
        /// The payment.
        payment: ReportedPayment,
        /// The gateway's reason (`card_declined`), bounded.
        reason: String,
    },
}

impl PaymentEvent {
    /// The payment the event is about.
    pub fn payment(&self) -> &ReportedPayment {
        match self {
            Self::Succeeded(payment) | Self::Failed { payment, .. } => payment,
        }
    }
}

/// A payment as the gateway reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedPayment {
    /// The gateway's payment id.
    pub intent_id: String,
    /// The order it names in its metadata (bounded text; parsed into an id by the caller).
    pub order_id: String,
    /// Minor units.
    pub amount: i64,
    /// ISO 4217, upper case.
    pub currency: String,
}

/// What a payment event does to an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Awaiting payment, and the amount, currency and payment match: it is paid.
    MarkPaid,
    /// An attempt failed while the order was payable: note it; the order stays payable.
    NoteFailure(String),
    /// The money arrived for an order that no longer takes it (expired or cancelled): give it
    /// back.
    Refund,
    /// The event reports another amount, currency or payment than the order's: never paid;
    /// an operator looks (the reason, for the log).
    Refuse(String),
    /// Nothing to do: the order already reflects it (a late failure after payment, a repeat).
    Nothing,
}

/// The rule for `event` against `order` as it is now. The store applies the answer under a
/// condition on the status it was decided from, so a racing cancel or expiry re-decides.
pub fn decide(order: &Order, event: &PaymentEvent) -> Decision {
    let reported = event.payment();
    let other_payment = order
        .payment
        .intent_id
        .as_deref()
        .is_some_and(|known| known != reported.intent_id);
    if reported.amount != order.total_amount
        || !reported.currency.eq_ignore_ascii_case(order.currency.as_str())
        || other_payment
    {
        return Decision::Refuse(format!(
            "event reports {} {} for payment {}; the order is {} {} with payment {}",
            reported.amount,
            reported.currency,
            reported.intent_id,
            order.total_amount,
            order.currency.as_str(),
            order.payment.intent_id.as_deref().unwrap_or("none"),
        ));
    }
    match (event, order.status) {
        (PaymentEvent::Succeeded(_), OrderStatus::AwaitingPayment) => Decision::MarkPaid,
        (PaymentEvent::Succeeded(_), OrderStatus::Expired | OrderStatus::Cancelled) => {
            match order.payment.refund {
                Refund::Done(_) => Decision::Nothing,
                Refund::None | Refund::Pending => Decision::Refund,
            }
        }
        (PaymentEvent::Failed { reason, .. }, OrderStatus::AwaitingPayment) => {
            Decision::NoteFailure(reason.clone())
        }
        _ => Decision::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, OrderId, UserId};

    fn order(status: OrderStatus, intent: Option<&str>) -> Order {
        Order {
            id: OrderId::generate(),
            user_id: UserId::from_trusted("u".into()),
            status,
            lines: vec![],
            currency: Currency::from_trusted("EUR".into()),
            total_amount: 2900,
            created_at: String::new(),
            updated_at: String::new(),
            expires_at: None,
            payment: OrderPayment {
                intent_id: intent.map(str::to_owned),
                ..OrderPayment::new(PaymentProvider::Stripe)
            },
            history: vec![],
        }
    }

    fn succeeded(amount: i64, currency: &str) -> PaymentEvent {
        PaymentEvent::Succeeded(ReportedPayment {
            intent_id: "pi_1".into(),
            order_id: "o".into(),
            amount,
            currency: currency.into(),
        })
    }

    #[test]
    fn a_matching_payment_pays_an_awaiting_order_whatever_the_currency_case() {
        let awaiting = order(OrderStatus::AwaitingPayment, Some("pi_1"));
        assert_eq!(decide(&awaiting, &succeeded(2900, "eur")), Decision::MarkPaid);
        assert_eq!(decide(&awaiting, &succeeded(2900, "EUR")), Decision::MarkPaid);
    }

    #[test]
    fn another_amount_currency_or_payment_is_refused_never_paid() {
        let awaiting = order(OrderStatus::AwaitingPayment, Some("pi_1"));
        assert!(matches!(
            decide(&awaiting, &succeeded(2899, "eur")),
            Decision::Refuse(_)
        ));
        assert!(matches!(
            decide(&awaiting, &succeeded(2900, "usd")),
            Decision::Refuse(_)
        ));
        let other = order(OrderStatus::AwaitingPayment, Some("pi_2"));
        assert!(matches!(
            decide(&other, &succeeded(2900, "eur")),
            Decision::Refuse(_)
        ));
    }

    #[test]
    fn money_for_an_expired_or_cancelled_order_is_refunded_once() {
        for status in [OrderStatus::Expired, OrderStatus::Cancelled] {
            let mut gone = order(status, Some("pi_1"));
            assert_eq!(decide(&gone, &succeeded(2900, "eur")), Decision::Refund);
            gone.payment.refund = Refund::Done("re_1".into());
            assert_eq!(decide(&gone, &succeeded(2900, "eur")), Decision::Nothing);
        }
    }

    #[test]
    fn a_failure_is_noted_only_while_the_order_is_payable() {
        let failed = PaymentEvent::Failed {
            payment: ReportedPayment {
                intent_id: "pi_1".into(),
                order_id: "o".into(),
                amount: 2900,
                currency: "eur".into(),
            },
            reason: "card_declined".into(),
        };
        let awaiting = order(OrderStatus::AwaitingPayment, Some("pi_1"));
        assert_eq!(
            decide(&awaiting, &failed),
            Decision::NoteFailure("card_declined".into())
        );
        let paid = order(OrderStatus::Paid, Some("pi_1"));
        assert_eq!(decide(&paid, &failed), Decision::Nothing);
        assert_eq!(decide(&paid, &succeeded(2900, "eur")), Decision::Nothing);
    }

    #[test]
    fn event_ids_that_could_not_be_keys_are_refused() {
        assert!(GatewayEventId::parse("evt_1NG8Du2eZvKYlo2CUI79vXWy").is_some());
        assert!(GatewayEventId::parse("").is_none());
        assert!(GatewayEventId::parse("evt#1").is_none());
        assert!(GatewayEventId::parse(&"e".repeat(256)).is_none());
    }
}
