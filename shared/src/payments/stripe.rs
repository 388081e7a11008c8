//! A small typed client for the three Stripe calls Keel makes (create a PaymentIntent, cancel
//! it, refund it), over the same hyper/rustls-on-ring connector the AWS SDK uses: no second
//! HTTP or TLS stack in the functions (docs/payments.md says why not a Stripe crate).
//!
//! Requests are form-encoded as Stripe's API takes them, with the API version pinned and an
//! `Idempotency-Key` derived from the order, so a retry never charges or refunds twice.

use std::time::Duration;

use anyhow::Context as _;
use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorSettings};
use aws_smithy_runtime_api::http::Request;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;

use super::{Cancelled, GatewayError, Intent, ORDER_METADATA};
use crate::domain::Order;

/// The Stripe API version every request pins, so a change in the account's default version
/// cannot change what Keel reads.
pub const API_VERSION: &str = "2024-06-20";
/// Stripe's API.
pub const DEFAULT_API_URL: &str = "https://api.stripe.com";
/// The longest one gateway call may take: within the functions' 10 s, beside their DynamoDB
/// calls.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer read from the gateway.
const MAX_RESPONSE: usize = 256 * 1024;

/// The root certificates api.stripe.com chains to (DigiCert Global Root CA, G2, G3 and the two
/// G5 roots, from Debian's ca-certificates), compiled in as the AWS roots are: parsing the
/// system's ~140 roots at every cold start costs more than the rest of init.
const STRIPE_ROOTS: &[u8] = include_bytes!("../../certs/stripe-roots.pem");

/// The Stripe secrets, as Secrets Manager holds them (`{"secretKey": …, "webhookSecrets": […]}`).
/// `Debug` never shows them.
#[derive(Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StripeSecrets {
    /// The API secret key (`sk_live_…`, `sk_test_…`, or a restricted `rk_…`).
    pub secret_key: String,
    /// The webhook endpoint's signing secrets (`whsec_…`): more than one while rolling.
    #[serde(default)]
    pub webhook_secrets: Vec<String>,
}

impl std::fmt::Debug for StripeSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeSecrets")
            .field("secret_key", &"<redacted>")
            .field("webhook_secrets", &self.webhook_secrets.len())
            .finish()
    }
}

/// Which certificates the client trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// The compiled-in DigiCert roots (deployed functions).
    StripeRoots,
    /// The system's roots (`STRIPE_TRUST=system`: a proxy, or Stripe changing its CA).
    System,
}

/// Stripe's API at `base` (its own, or a compatible server such as localstripe).
#[derive(Clone)]
pub struct Stripe {
    base: String,
    secrets: StripeSecrets,
    connector: std::sync::Arc<dyn HttpConnector>,
}

impl std::fmt::Debug for Stripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stripe")
            .field("base", &self.base)
            .field("secrets", &self.secrets)
            .finish_non_exhaustive()
    }
}

impl Stripe {
    /// A client for `base` (no trailing slash needed). Plain `http://` bases (a local
    /// Stripe-compatible server) work too.
    pub fn new(base: &str, secrets: StripeSecrets, trust: Trust) -> anyhow::Result<Self> {
        use aws_smithy_http_client::tls;
        let mut store = tls::TrustStore::empty().with_native_roots(trust == Trust::System);
        if trust == Trust::StripeRoots {
            store = store.with_pem_certificate(STRIPE_ROOTS);
        }
        let context = tls::TlsContext::builder()
            .with_trust_store(store)
            .build()
            .context("building the TLS context for Stripe")?;
        let connector = aws_smithy_http_client::Connector::builder()
            .connector_settings(
                HttpConnectorSettings::builder()
                    .connect_timeout(Duration::from_secs(2))
                    .read_timeout(CALL_TIMEOUT)
                    .build(),
            )
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
            .tls_context(context)
            .build();
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            secrets,
            connector: std::sync::Arc::new(connector),
        })
    }

    /// The webhook signing secrets.
    pub fn webhook_secrets(&self) -> &[String] {
        &self.secrets.webhook_secrets
    }

    /// `POST /v1/payment_intents` for the order's exact total, its id in the metadata.
    /// Idempotency-Key `keel-order-<id>`: a retried place (or a replay healing a failed one)
    /// gets the same intent back.
    pub async fn create_intent(&self, order: &Order) -> Result<Intent, GatewayError> {
        #[derive(serde::Deserialize)]
        struct Created {
            id: String,
            client_secret: String,
        }
        let form = [
            ("amount", order.total_amount.to_string()),
            ("currency", order.currency.as_str().to_ascii_lowercase()),
            (&format!("metadata[{ORDER_METADATA}]"), order.id.to_string()),
        ];
        let created: Created = self
            .post(
                "create a payment",
                "/v1/payment_intents",
                &form,
                &format!("keel-order-{}", order.id),
            )
            .await?;
        Ok(Intent {
            id: created.id,
            client_secret: created.client_secret,
        })
    }

    /// `POST /v1/payment_intents/{id}/cancel`. An intent that already succeeded or was
    /// cancelled cannot be, which is an answer, not a failure.
    pub async fn cancel_intent(&self, intent: &str) -> Result<Cancelled, GatewayError> {
        let path = format!("/v1/payment_intents/{}/cancel", encode(intent));
        match self
            .post::<serde_json::Value>("cancel a payment", &path, &[], &format!("keel-cancel-{intent}"))
            .await
        {
            Ok(_) => Ok(Cancelled::Now),
            Err(GatewayError::Refused { status: 400, .. }) => Ok(Cancelled::AlreadyFinal),
            Err(error) => Err(error),
        }
    }

    /// `POST /v1/refunds` of the whole payment. Idempotency-Key `keel-refund-<order id>`: an
    /// order is refunded at most once, however often this is retried.
    pub async fn refund(&self, order: &Order, intent: &str) -> Result<String, GatewayError> {
        #[derive(serde::Deserialize)]
        struct Refunded {
            id: String,
        }
        let form = [
            ("payment_intent", intent.to_owned()),
            (&format!("metadata[{ORDER_METADATA}]"), order.id.to_string()),
        ];
        let refunded: Refunded = self
            .post(
                "refund a payment",
                "/v1/refunds",
                &form,
                &format!("keel-refund-{}", order.id),
            )
            .await?;
        Ok(refunded.id)
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        operation: &'static str,
        path: &str,
        form: &[(&str, String)],
        idempotency_key: &str,
    ) -> Result<T, GatewayError> {
        let unavailable = |e: anyhow::Error| GatewayError::Unavailable(e.context(operation));
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let mut request = Request::new(SdkBody::from(body));
        request
            .set_method("POST")
            .and_then(|()| request.set_uri(format!("{}{path}", self.base)))
            .map_err(|e| unavailable(anyhow::anyhow!("building the request: {e}")))?;
        let headers = request.headers_mut();
        headers.insert("authorization", format!("Bearer {}", self.secrets.secret_key));
        headers.insert("content-type", "application/x-www-form-urlencoded");
        headers.insert("stripe-version", API_VERSION);
        headers.insert("idempotency-key", idempotency_key.to_owned());
        let (status, bytes) = self.send(operation, request).await?;
        if bytes.len() > MAX_RESPONSE {
            return Err(unavailable(anyhow::anyhow!("answer of {} bytes", bytes.len())));
        }
        if (200..300).contains(&status) {
            return serde_json::from_slice(&bytes)
                .with_context(|| format!("reading Stripe's answer to {operation}"))
                .map_err(unavailable);
        }
        #[derive(serde::Deserialize, Default)]
        struct ErrorBody {
            #[serde(default)]
            error: ErrorDetail,
        }
        #[derive(serde::Deserialize, Default)]
        struct ErrorDetail {
            #[serde(default)]
            code: Option<String>,
            #[serde(default)]
            message: Option<String>,
        }
        let detail = serde_json::from_slice::<ErrorBody>(&bytes)
            .unwrap_or_default()
            .error;
        if status == 429 || status >= 500 {
            return Err(unavailable(anyhow::anyhow!(
                "status {status}: {}",
                detail.message.unwrap_or_default()
            )));
        }
        Err(GatewayError::Refused {
            operation,
            status,
            code: detail.code.unwrap_or_default(),
            message: detail.message.unwrap_or_default(),
        })
    }
}

impl Stripe {
    /// Sends `request`, within [`CALL_TIMEOUT`]; answers the status and the whole body.
    async fn send(&self, operation: &'static str, request: Request) -> Result<(u16, Vec<u8>), GatewayError> {
        let unavailable = |e: anyhow::Error| GatewayError::Unavailable(e.context(operation));
        let started = std::time::Instant::now();
        let call = async {
            let response = self
                .connector
                .call(request)
                .await
                .map_err(|e| unavailable(anyhow::Error::new(e)))?;
            let status = response.status().as_u16();
            let bytes = ByteStream::new(response.into_body())
                .collect()
                .await
                .map_err(|e| unavailable(anyhow::Error::new(e)))?
                .into_bytes()
                .to_vec();
            Ok::<_, GatewayError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(CALL_TIMEOUT, call)
            .await
            .map_err(|_| unavailable(anyhow::anyhow!("timed out after {CALL_TIMEOUT:?}")))??;
        tracing::debug!(
            operation,
            status,
            took_ms = started.elapsed().as_millis() as u64,
            "stripe call"
        );
        Ok((status, bytes))
    }
}

/// A path segment, percent-encoded (ids are `[A-Za-z0-9_]`, but nothing from outside goes
/// into a URL unencoded).
fn encode(segment: &str) -> String {
    form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_stripe_roots_are_the_five_digicert_roots_and_build() {
        let text = std::str::from_utf8(STRIPE_ROOTS).unwrap();
        assert_eq!(text.matches("-----BEGIN CERTIFICATE-----").count(), 5);
        let secrets = StripeSecrets {
            secret_key: "sk_test_x".into(),
            webhook_secrets: vec![],
        };
        assert!(Stripe::new(DEFAULT_API_URL, secrets, Trust::StripeRoots).is_ok());
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let secrets = StripeSecrets {
            secret_key: "sk_live_do_not_print".into(),
            webhook_secrets: vec!["whsec_do_not_print".into()],
        };
        let shown = format!("{secrets:?}");
        assert!(!shown.contains("do_not_print"), "{shown}");
    }
}
