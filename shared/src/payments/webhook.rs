//! Stripe's webhook signatures and events: what makes a `POST /api/payments/webhook` worth
//! believing, and what it says.
//!
//! Stripe signs `"{t}.{payload}"` with HMAC-SHA256 under the endpoint's signing secret and sends
//! `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]`. Several `v1` values appear while
//! a secret is being rolled, and several secrets may be configured here for the same reason: a
//! signature is good when any `v1` matches under any secret.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::domain::{GatewayEventId, PaymentEvent, ReportedPayment};

/// How far a signature's timestamp may be from now (Stripe's libraries default to 5 minutes):
/// an old event replayed by whoever captured it is refused.
pub const TOLERANCE_SECONDS: i64 = 300;
/// The longest `Stripe-Signature` header read.
const MAX_HEADER: usize = 4096;
/// The longest gateway reason kept (`card_declined`, …).
const MAX_REASON: usize = 100;

/// Why a webhook is refused. Every case is a 400 and changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// No `Stripe-Signature` header, or one that does not parse.
    #[error("Stripe-Signature is missing or malformed")]
    Malformed,
    /// The timestamp is outside [`TOLERANCE_SECONDS`] of now.
    #[error("Stripe-Signature is too old or from the future")]
    Stale,
    /// No `v1` signature matches under any configured secret.
    #[error("Stripe-Signature does not match")]
    Mismatch,
    /// Signed, but not an event Keel can read (no id, no object).
    #[error("the event is not readable: {0}")]
    Unreadable(&'static str),
}

/// Now in Unix seconds, the clock a `Stripe-Signature` timestamp is read against (and signed
/// with, by [`sign`]'s callers). A clock before 1970 reads as 0, so every signature is stale.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Checks `header` against `payload` under any of `secrets`, at `now` (Unix seconds). The
/// comparison is constant-time (`Mac::verify_slice`).
pub fn verify(header: &str, payload: &[u8], secrets: &[String], now: i64) -> Result<(), WebhookError> {
    if header.len() > MAX_HEADER {
        return Err(WebhookError::Malformed);
    }
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (name, value) = part.trim().split_once('=').ok_or(WebhookError::Malformed)?;
        match name {
            "t" => timestamp = Some(value.parse::<i64>().map_err(|_| WebhookError::Malformed)?),
            "v1" => signatures.push(hex::decode(value).map_err(|_| WebhookError::Malformed)?),
            _ => {} // v0 (test-mode legacy) and future schemes are ignored, as Stripe's libraries do.
        }
    }
    let timestamp = timestamp.ok_or(WebhookError::Malformed)?;
    if signatures.is_empty() {
        return Err(WebhookError::Malformed);
    }
    if (now - timestamp).abs() > TOLERANCE_SECONDS {
        return Err(WebhookError::Stale);
    }
    let signed = [timestamp.to_string().as_bytes(), b".", payload].concat();
    for secret in secrets {
        for signature in &signatures {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| WebhookError::Mismatch)?;
            mac.update(&signed);
            if mac.verify_slice(signature).is_ok() {
                return Ok(());
            }
        }
    }
    Err(WebhookError::Mismatch)
}

/// Signs `payload` at `timestamp` as Stripe does: for tests, and for an operator replaying an
/// event by hand.
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(&[timestamp.to_string().as_bytes(), b".", payload].concat());
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// A verified event Keel acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event's id: each is processed once.
    pub id: GatewayEventId,
    /// What it says.
    pub payment: PaymentEvent,
}

#[derive(serde::Deserialize)]
struct RawEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: RawData,
}

#[derive(serde::Deserialize)]
struct RawData {
    object: RawIntent,
}

#[derive(serde::Deserialize)]
struct RawIntent {
    id: String,
    amount: i64,
    currency: String,
    #[serde(default)]
    metadata: std::collections::HashMap<String, serde_json::Value>,
    #[serde(default)]
    last_payment_error: Option<RawPaymentError>,
}

#[derive(serde::Deserialize)]
struct RawPaymentError {
    code: Option<String>,
    decline_code: Option<String>,
}

/// Reads a verified payload: `Ok(None)` for event types Keel does not act on (acknowledged,
/// not recorded).
pub fn parse(payload: &[u8]) -> Result<Option<Event>, WebhookError> {
    #[derive(serde::Deserialize)]
    struct Kind {
        id: String,
        #[serde(rename = "type")]
        kind: String,
    }
    let kind: Kind = serde_json::from_slice(payload).map_err(|_| WebhookError::Unreadable("not an event"))?;
    if !matches!(
        kind.kind.as_str(),
        "payment_intent.succeeded" | "payment_intent.payment_failed"
    ) {
        return Ok(None);
    }
    let id = GatewayEventId::parse(&kind.id).ok_or(WebhookError::Unreadable("event id"))?;
    let raw: RawEvent = serde_json::from_slice(payload)
        .map_err(|_| WebhookError::Unreadable("not a payment intent event"))?;
    let intent = raw.data.object;
    let order_id = intent
        .metadata
        .get(super::ORDER_METADATA)
        .and_then(serde_json::Value::as_str)
        .ok_or(WebhookError::Unreadable("metadata.order_id"))?
        .chars()
        .take(64)
        .collect();
    let payment = ReportedPayment {
        intent_id: bounded(&intent.id, 255),
        order_id,
        amount: intent.amount,
        currency: intent.currency.to_ascii_uppercase(),
    };
    let payment = match raw.kind.as_str() {
        "payment_intent.succeeded" => PaymentEvent::Succeeded(payment),
        _ => {
            let reason = intent
                .last_payment_error
                .and_then(|e| e.decline_code.or(e.code))
                .unwrap_or_else(|| "unknown".into());
            PaymentEvent::Failed {
                payment,
                reason: bounded(&reason, MAX_REASON),
            }
        }
    };
    debug_assert_eq!(raw.id, kind.id);
    Ok(Some(Event { id, payment }))
}

fn bounded(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const NOW: i64 = 1_800_000_000;

    #[test]
    fn a_signature_made_with_the_secret_verifies_and_any_change_to_the_payload_breaks_it() {
        let header = sign(b"{\"a\":1}", SECRET, NOW);
        assert_eq!(verify(&header, b"{\"a\":1}", &[SECRET.into()], NOW), Ok(()));
        assert_eq!(
            verify(&header, b"{\"a\":2}", &[SECRET.into()], NOW),
            Err(WebhookError::Mismatch)
        );
        assert_eq!(
            verify(&header, b"{\"a\":1}", &["whsec_other".into()], NOW),
            Err(WebhookError::Mismatch)
        );
    }

    #[test]
    fn signatures_older_or_newer_than_five_minutes_are_stale() {
        let header = sign(b"x", SECRET, NOW - TOLERANCE_SECONDS - 1);
        assert_eq!(
            verify(&header, b"x", &[SECRET.into()], NOW),
            Err(WebhookError::Stale)
        );
        let header = sign(b"x", SECRET, NOW + TOLERANCE_SECONDS + 1);
        assert_eq!(
            verify(&header, b"x", &[SECRET.into()], NOW),
            Err(WebhookError::Stale)
        );
        let header = sign(b"x", SECRET, NOW - TOLERANCE_SECONDS);
        assert_eq!(verify(&header, b"x", &[SECRET.into()], NOW), Ok(()));
    }

    #[test]
    fn any_v1_under_any_configured_secret_verifies_while_a_secret_is_rolled() {
        let new = sign(b"x", "whsec_new", NOW);
        let v1 = new.split_once(",v1=").unwrap().1;
        let header = format!("t={NOW},v1={},v1={v1},v0=00", "ab".repeat(32));
        let secrets = ["whsec_old".to_owned(), "whsec_new".to_owned()];
        assert_eq!(verify(&header, b"x", &secrets, NOW), Ok(()));
    }

    #[test]
    fn malformed_headers_are_refused_before_any_hmac() {
        for header in [
            "",
            "t=abc,v1=00",
            "v1=00",
            &format!("t={NOW}"),
            &format!("t={NOW},v1=zz"),
        ] {
            assert_eq!(
                verify(header, b"x", &[SECRET.into()], NOW),
                Err(WebhookError::Malformed),
                "{header}"
            );
        }
    }

    #[test]
    fn events_are_read_into_payments_and_other_types_are_ignored() {
        let payload = serde_json::json!({
            "id": "evt_1", "type": "payment_intent.payment_failed",
            "data": {"object": {"id": "pi_1", "amount": 2900, "currency": "eur",
                "metadata": {"order_id": "o-1"},
                "last_payment_error": {"code": "card_declined"}}}
        });
        let event = parse(payload.to_string().as_bytes()).unwrap().unwrap();
        assert_eq!(event.id.as_str(), "evt_1");
        let PaymentEvent::Failed { payment, reason } = event.payment else {
            panic!("a failure")
        };
        assert_eq!((payment.amount, payment.currency.as_str()), (2900, "EUR"));
        assert_eq!(
            (payment.order_id.as_str(), reason.as_str()),
            ("o-1", "card_declined")
        );
        let other = serde_json::json!({"id": "evt_2", "type": "charge.refunded", "data": {"object": {}}});
        assert_eq!(parse(other.to_string().as_bytes()), Ok(None));
        assert!(parse(b"not json").is_err());
    }
}
