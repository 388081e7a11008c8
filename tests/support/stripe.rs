//! A Stripe-compatible API on loopback: localstripe, from PyPI (`./infra/test.sh` installs it
//! into `infra/.tools/venv`). It keeps PaymentIntents, charges and refunds, takes test cards,
//! and sends webhooks signed with the secret it is given, so the payment tests run Keel's real
//! Stripe client and webhook verification against a real protocol server.
//!
//! What localstripe does not do, and how the tests cover it: it ignores `Idempotency-Key`
//! (Keel never relies on the gateway's replay: an order's payment is created once and kept on
//! the order, and a retried place reads it back); it answers a refused cancel with a bare 400
//! (Stripe adds `payment_intent_unexpected_state`, which Keel reads the same way).

use serde_json::Value;

/// The API key the tests use (localstripe accepts any `sk_…`).
pub const SECRET_KEY: &str = "sk_test_keel_suite";
/// The webhook signing secret the tests register and configure.
pub const WEBHOOK_SECRET: &str = "whsec_keel_suite";
/// A card that pays.
pub const CARD_OK: &str = "4242424242424242";
/// A card the charge is declined on (`card_declined`).
pub const CARD_DECLINED: &str = "4000000000000341";

/// A running localstripe. Dropping it stops the server.
pub struct LocalStripe {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    client: reqwest::Client,
    _child: tokio::process::Child,
}

impl LocalStripe {
    /// Starts localstripe on a free loopback port, with an empty store, and waits until it
    /// answers.
    pub async fn start() -> Self {
        let (port, child) = crate::start_tool("localstripe", |port| {
            vec!["--port".into(), port.to_string(), "--from-scratch".into()]
        })
        .await;
        Self {
            url: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            _child: child,
        }
    }

    /// Sends every event to `url`, signed with [`WEBHOOK_SECRET`], as a Stripe webhook endpoint
    /// does.
    pub async fn deliver_webhooks_to(&self, url: &str) {
        let response = self
            .client
            .post(format!("{}/_config/webhooks/keel", self.url))
            .form(&[("url", url), ("secret", WEBHOOK_SECRET)])
            .send()
            .await
            .expect("localstripe answers");
        assert!(
            response.status().is_success(),
            "webhook registered: {}",
            response.status()
        );
    }

    async fn call(&self, method: reqwest::Method, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let response = self
            .client
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(SECRET_KEY)
            .form(form)
            .send()
            .await
            .expect("localstripe answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// What the front end does with the client secret: a card payment method, attached to the
    /// intent, confirmed. Answers the confirmation's status (402 for a declined card).
    pub async fn pay(&self, intent: &str, card: &str) -> u16 {
        let (status, method) = self
            .call(
                reqwest::Method::POST,
                "/v1/payment_methods",
                &[
                    ("type", "card"),
                    ("card[number]", card),
                    ("card[exp_month]", "12"),
                    ("card[exp_year]", "2034"),
                    ("card[cvc]", "123"),
                ],
            )
            .await;
        assert_eq!(status, 200, "payment method created: {method}");
        let method = method["id"].as_str().expect("a payment method id").to_owned();
        let path = format!("/v1/payment_intents/{intent}");
        let (status, body) = self
            .call(reqwest::Method::POST, &path, &[("payment_method", &method)])
            .await;
        if status != 200 {
            // A cancelled intent takes no payment method: that is the answer.
            return status;
        }
        assert_eq!(body["id"], intent);
        self.call(reqwest::Method::POST, &format!("{path}/confirm"), &[])
            .await
            .0
    }

    /// Changes an intent's amount at the gateway (what a tampered payment would report).
    pub async fn set_amount(&self, intent: &str, amount: i64) {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &format!("/v1/payment_intents/{intent}"),
                &[("amount", &amount.to_string())],
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// The intent as the gateway holds it.
    pub async fn intent(&self, intent: &str) -> Value {
        let (status, body) = self
            .call(
                reqwest::Method::GET,
                &format!("/v1/payment_intents/{intent}"),
                &[],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The refunds of an intent's payment (empty when it was never charged).
    pub async fn refunds(&self, intent: &str) -> Vec<Value> {
        if self.intent(intent).await["latest_charge"].is_null() {
            return Vec::new();
        }
        let path = format!("/v1/refunds?payment_intent={intent}&limit=100");
        let (status, all) = self.call(reqwest::Method::GET, &path, &[]).await;
        assert_eq!(status, 200, "{all}");
        all["data"].as_array().cloned().unwrap_or_default()
    }
}

pub use keel::payments::webhook::unix_now;

/// A `payment_intent.succeeded` event as Stripe sends it (the fields Keel reads and a few it
/// does not), with a fresh event id.
pub fn succeeded_event(intent: &str, order: &str, amount: i64, currency: &str) -> Value {
    intent_event("payment_intent.succeeded", intent, order, amount, currency)
}

/// A Stripe event of `kind` about `intent`, with a fresh event id.
pub fn intent_event(kind: &str, intent: &str, order: &str, amount: i64, currency: &str) -> Value {
    let failed = kind == "payment_intent.payment_failed";
    serde_json::json!({
        "id": format!("evt_{}", uuid::Uuid::new_v4().simple()),
        "object": "event",
        "api_version": keel::payments::stripe::API_VERSION,
        "created": unix_now(),
        "livemode": false,
        "type": kind,
        "data": {"object": {
            "id": intent,
            "object": "payment_intent",
            "amount": amount,
            "currency": currency,
            "metadata": {"order_id": order},
            "status": if failed { "requires_payment_method" } else { "succeeded" },
            "last_payment_error": if failed {
                serde_json::json!({"code": "card_declined", "decline_code": "generic_decline"})
            } else {
                Value::Null
            },
        }},
    })
}
