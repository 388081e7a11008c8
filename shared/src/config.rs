use std::time::Duration;

use anyhow::Context as _;
use aws_config::SdkConfig;

use crate::auth::{DEFAULT_TOKEN_TTL, Session, SessionCache, TokenKeys};
use crate::error::ApiError;
use crate::files::Files;
use crate::payments::Payments;
use crate::store::Store;

/// What a function's cold start loads beyond the table. Each function declares it, so a
/// function that never reads or signs a token never fetches the signing key: no Secrets Manager
/// call at init, and no `secretsmanager:GetSecretValue` in its policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Only the table (e.g. `GET /api/tags`, the stream consumer).
    Table,
    /// The table and the session token keys (every route that reads or issues a token).
    TableAndTokens,
    /// The table and the uploads bucket, no tokens (the upload-finalising event function).
    TableAndBucket,
    /// The table, the token keys and the uploads bucket (the upload routes).
    TableTokensAndBucket,
    /// The table, the token keys and the payment provider (placing and cancelling orders).
    TableTokensAndPayments,
    /// The table and the payment provider, no tokens (the gateway's webhook, the expiry sweep).
    TableAndPayments,
}

impl Needs {
    /// True when the cold start must load the token keys.
    pub fn tokens(self) -> bool {
        matches!(
            self,
            Needs::TableAndTokens | Needs::TableTokensAndBucket | Needs::TableTokensAndPayments
        )
    }

    /// True when the function takes or gives back money: it reads the payment settings
    /// (`PAYMENT_PROVIDER`, …) and, for Stripe, its secrets.
    pub fn payments(self) -> bool {
        matches!(self, Needs::TableTokensAndPayments | Needs::TableAndPayments)
    }

    /// True when the function uses the uploads bucket (`BUCKET_NAME`).
    pub fn bucket(self) -> bool {
        matches!(self, Needs::TableAndBucket | Needs::TableTokensAndBucket)
    }
}

/// Everything a handler needs, built once per cold start and lent to every invocation.
#[derive(Clone, Debug)]
pub struct Deps {
    /// The DynamoDB table.
    pub store: Store,
    tokens: Option<TokenKeys>,
    /// Users' session epochs, remembered for a few seconds.
    pub sessions: std::sync::Arc<SessionCache>,
    files: Option<Files>,
    payments: Option<Payments>,
}

/// Attempts per AWS call (the first and two retries, with the SDK's jittered backoff).
const SDK_ATTEMPTS: u32 = 3;
/// Longest one AWS call may take, retries included: shorter than the shortest function timeout
/// (10 s in `template.yaml`), so a store that hangs becomes a 503 the handler answers, not a
/// Lambda timeout.
pub const SDK_OPERATION_TIMEOUT: Duration = Duration::from_secs(6);

/// How every function's AWS configuration starts: timeouts of connect 1 s, one attempt 2 s and
/// the whole call [`SDK_OPERATION_TIMEOUT`], and [`SDK_ATTEMPTS`] attempts. Tests that put a
/// fault between a function and its store start from the same.
pub fn sdk_defaults() -> aws_config::ConfigLoader {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(SDK_OPERATION_TIMEOUT)
        .build();
    aws_defaults()
        .timeout_config(timeouts)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(SDK_ATTEMPTS))
}

impl Deps {
    /// Builds what `needs` asks for from the process environment and the default AWS
    /// configuration, as a Lambda cold start does. See [`Deps::cold_start`].
    pub async fn from_env(needs: Needs) -> anyhow::Result<Self> {
        let sdk = sdk_defaults().http_client(aws_https_client()?).load().await;
        Self::cold_start(needs, |name| std::env::var(name).ok(), &sdk).await
    }

    /// Builds what `needs` asks for, reading settings through `var`:
    ///
    /// - `TABLE_NAME` (required): the table the template creates;
    /// - only when `needs` includes tokens: `JWT_SECRET_ARN`, a Secrets Manager secret holding
    ///   the signing key (what the template wires), or `JWT_SECRET`, the key itself (local
    ///   runs); and `JWT_TTL_SECONDS` (optional), the token lifetime, default one day;
    /// - only when `needs` includes the bucket: `BUCKET_NAME`, the uploads bucket.
    ///
    /// `sdk` is built once per cold start and shared by every client made from it. Tests pass
    /// their own `var` and `sdk`, so they run this very code with a function's template
    /// environment.
    pub async fn cold_start(
        needs: Needs,
        var: impl Fn(&str) -> Option<String>,
        sdk: &SdkConfig,
    ) -> anyhow::Result<Self> {
        let table = var("TABLE_NAME").context("environment variable TABLE_NAME is not set")?;
        // Both secrets at once: a function that needs both waits for one round trip, not two.
        let (tokens, payments) = tokio::join!(
            async {
                match needs.tokens() {
                    true => load_token_keys(&var, sdk).await.map(Some),
                    false => Ok(None),
                }
            },
            async {
                match needs.payments() {
                    true => load_payments(&var, sdk).await.map(Some),
                    false => Ok(None),
                }
            },
        );
        let (tokens, payments) = (tokens?, payments?);
        let files = if needs.bucket() {
            let bucket = var("BUCKET_NAME").context("environment variable BUCKET_NAME is not set")?;
            let config = aws_sdk_s3::config::Builder::from(sdk)
                .interceptor(crate::telemetry::CallTimer)
                .build();
            Some(Files::new(aws_sdk_s3::Client::from_conf(config), bucket))
        } else {
            None
        };
        Ok(Self {
            store: Store::new(
                aws_sdk_dynamodb::Client::from_conf(
                    aws_sdk_dynamodb::config::Builder::from(sdk)
                        .interceptor(crate::telemetry::CallTimer)
                        .build(),
                ),
                table,
            ),
            tokens,
            sessions: Default::default(),
            files,
            payments,
        })
    }

    /// Builds from clients the caller made (tests that need no cold start).
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, table: impl Into<String>, tokens: TokenKeys) -> Self {
        Self {
            store: Store::new(dynamodb, table),
            tokens: Some(tokens),
            sessions: Default::default(),
            files: None,
            payments: None,
        }
    }

    /// Assembles dependencies from parts the caller built: the local server gives each function
    /// its own metered, IAM-checked store, and token keys only where the function declared them.
    pub fn assemble(store: Store, tokens: Option<TokenKeys>, files: Option<Files>) -> Self {
        Self {
            store,
            tokens,
            sessions: Default::default(),
            files,
            payments: None,
        }
    }

    /// These dependencies with the payment provider (the local server's, for the functions
    /// that declared it).
    pub fn with_payments(self, payments: Option<Payments>) -> Self {
        Self { payments, ..self }
    }

    /// The payment provider; like [`Deps::tokens`], only for functions that declared it.
    pub fn payments(&self) -> Result<&Payments, ApiError> {
        self.payments.as_ref().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "BUG: this function takes payments but did not declare it in Needs"
            ))
        })
    }

    /// The uploads bucket; like [`Deps::tokens`], only for functions that declared it.
    pub fn files(&self) -> Result<&Files, ApiError> {
        self.files.as_ref().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "BUG: this function uses the bucket but did not declare it in Needs"
            ))
        })
    }

    /// The caller of a route that requires a login: 401 `token: is missing` without a header.
    /// Records `user_id` on the current span (handlers declare the field).
    pub async fn require(&self, req: &lambda_http::Request) -> Result<Session, ApiError> {
        let session = self.optional(req).await?.ok_or_else(ApiError::token_missing)?;
        tracing::Span::current().record("user_id", session.user_id.as_str());
        Ok(session)
    }

    /// The caller of a route where login is optional. A header that is present but does not
    /// verify, or a token from an ended session (signed out everywhere, password changed, user
    /// gone), is a 401, never a silent downgrade to anonymous.
    ///
    /// Access: none while the caller's session epoch is cached ([`crate::auth::SESSION_RECHECK`]); else one
    /// `GetItem` ([`Store::session_epoch`]).
    pub async fn optional(&self, req: &lambda_http::Request) -> Result<Option<Session>, ApiError> {
        let Some((session, epoch)) = self.signed(req)? else {
            return Ok(None);
        };
        let current = match self.sessions.fresh(&session.user_id) {
            Some(epoch) => epoch,
            None => {
                let current = self
                    .store
                    .session_epoch(&session.user_id)
                    .await?
                    .ok_or_else(ApiError::token_invalid)?;
                self.sessions.remember(&session.user_id, current);
                current
            }
        };
        if epoch < current {
            tracing::debug!("token rejected: its session was ended");
            return Err(ApiError::token_invalid());
        }
        Ok(Some(session))
    }

    /// The caller a correctly signed, unexpired token names, and the session epoch it was
    /// signed in — *without* checking that the session is still open. Only for a handler that
    /// reads the user's record anyway and compares the epoch itself (`GET /api/user`).
    pub fn signed(&self, req: &lambda_http::Request) -> Result<Option<(Session, u64)>, ApiError> {
        let Some(token) = crate::http::bearer_token(req)? else {
            return Ok(None);
        };
        let claimed = self.tokens()?.verify(token)?;
        // Who the verified signature names: on the request's log line even when the session
        // turns out to be ended (a 401), which is what an operator wants to see then.
        crate::telemetry::record_caller(claimed.user_id.as_str());
        Ok(Some((
            Session {
                user_id: claimed.user_id,
                token: token.to_owned(),
            },
            claimed.session,
        )))
    }

    /// The session token keys. Only functions that declared [`Needs::TableAndTokens`] have
    /// them; any other reaching for them is a bug in its declaration, reported as a 500.
    pub fn tokens(&self) -> Result<&TokenKeys, ApiError> {
        self.tokens.as_ref().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "BUG: this function reads tokens but was declared Needs::Table"
            ))
        })
    }
}

/// The root certificates AWS service endpoints chain to (Amazon Root CA 1–4 and Starfield Services
/// Root CA G2, from Debian's ca-certificates), compiled in.
const AWS_ROOTS: &[u8] = include_bytes!("../certs/aws-roots.pem");

/// The SDK's HTTPS client, trusting only the roots AWS endpoints use.
///
/// The default client reads and parses the system's ~140 root certificates at every cold start:
/// that was two thirds of a function's init (docs/BENCHMARKS.md). A Lambda function talks only to
/// AWS endpoints, whose certificates chain to these five roots (the set AWS documents for its
/// Amazon Trust Services certificates). Plain-HTTP endpoints (local engines) are unaffected.
pub fn aws_https_client() -> anyhow::Result<aws_smithy_runtime_api::client::http::SharedHttpClient> {
    use aws_smithy_http_client::tls;
    let trust = tls::TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(AWS_ROOTS);
    let context = tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .context("building the TLS context")?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .tls_context(context)
        .build_https())
}

/// The SDK's default configuration loader with [`system_https_client`]: what the CLI and the
/// local server's `--aws` mode load (the SDK crates have no client of their own to default to).
pub fn aws_defaults() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(system_https_client())
}

/// An HTTPS client (rustls on ring) trusting the system's root certificates, for what runs
/// outside Lambda: the local server's and CLI's clients, and any endpoint not known to chain to
/// the AWS roots. The SDK crates are built without their default client (which would bring a
/// second TLS stack, aws-lc), so every configuration is given this one or [`aws_https_client`].
pub fn system_https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls;
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https()
}

async fn load_token_keys(
    var: &impl Fn(&str) -> Option<String>,
    sdk: &SdkConfig,
) -> anyhow::Result<TokenKeys> {
    let secret = match var("JWT_SECRET_ARN") {
        Some(arn) => fetch_secret(sdk, &arn, "the JWT secret").await?,
        None => var("JWT_SECRET")
            .context("set JWT_SECRET_ARN (deployed) or JWT_SECRET (local)")?
            .into_bytes(),
    };
    let ttl = match var("JWT_TTL_SECONDS") {
        Some(seconds) => Duration::from_secs(
            seconds
                .parse()
                .context("JWT_TTL_SECONDS must be a whole number")?,
        ),
        None => DEFAULT_TOKEN_TTL,
    };
    TokenKeys::new(&secret, ttl)
}

/// The payment settings, read at cold start by the functions that take or give back money:
///
/// - `PAYMENT_PROVIDER`: `manual` (default: an admin marks orders paid) or `stripe`;
/// - `ORDER_PAYMENT_WINDOW_SECONDS` (optional): how long an order waits for its money, default
///   1,800 (30 minutes);
/// - for Stripe: `STRIPE_SECRET_ARN`, a Secrets Manager secret holding
///   `{"secretKey": "sk_…", "webhookSecrets": ["whsec_…"]}` (what the template wires), or
///   `STRIPE_SECRET_KEY` and `STRIPE_WEBHOOK_SECRETS` (comma-separated) themselves (local
///   runs); `STRIPE_API_URL` (optional, default Stripe's); `STRIPE_TRUST=system` to trust the
///   system's root certificates instead of the compiled-in DigiCert ones.
async fn load_payments(var: &impl Fn(&str) -> Option<String>, sdk: &SdkConfig) -> anyhow::Result<Payments> {
    use crate::payments::stripe::{DEFAULT_API_URL, Stripe, StripeSecrets, Trust};
    let window = match var("ORDER_PAYMENT_WINDOW_SECONDS") {
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .filter(|s| crate::payments::WINDOW_RANGE.contains(s))
            .map(Duration::from_secs)
            .with_context(|| {
                format!(
                    "ORDER_PAYMENT_WINDOW_SECONDS must be whole seconds in {:?}",
                    crate::payments::WINDOW_RANGE
                )
            })?,
        None => crate::payments::DEFAULT_WINDOW,
    };
    let provider = var("PAYMENT_PROVIDER").unwrap_or_else(|| "manual".into());
    match crate::domain::PaymentProvider::parse(&provider) {
        Some(crate::domain::PaymentProvider::Manual) => Ok(Payments::manual(window)),
        Some(crate::domain::PaymentProvider::Stripe) => {
            let secrets: StripeSecrets = match var("STRIPE_SECRET_ARN") {
                Some(arn) => serde_json::from_slice(&fetch_secret(sdk, &arn, "the Stripe secret").await?)
                    .context("the Stripe secret must be {\"secretKey\": …, \"webhookSecrets\": [...]}")?,
                None => StripeSecrets {
                    secret_key: var("STRIPE_SECRET_KEY")
                        .context("set STRIPE_SECRET_ARN (deployed) or STRIPE_SECRET_KEY (local)")?,
                    webhook_secrets: var("STRIPE_WEBHOOK_SECRETS")
                        .unwrap_or_default()
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                },
            };
            let trust = match var("STRIPE_TRUST").as_deref() {
                Some("system") => Trust::System,
                _ => Trust::StripeRoots,
            };
            let api = var("STRIPE_API_URL").unwrap_or_else(|| DEFAULT_API_URL.into());
            Ok(Payments::stripe(Stripe::new(&api, secrets, trust)?, window))
        }
        None => anyhow::bail!("PAYMENT_PROVIDER must be manual or stripe, not {provider:?}"),
    }
}

/// Reads the signing key at cold start. The value is never logged; only its ARN is in the
/// function's configuration.
async fn fetch_secret(sdk: &SdkConfig, arn: &str, what: &str) -> anyhow::Result<Vec<u8>> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let output = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .with_context(|| format!("reading {what} from Secrets Manager"))?;
    output
        .secret_string
        .map(String::into_bytes)
        .with_context(|| format!("{what} has no string value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_trust_store_holds_the_five_aws_roots_and_builds() {
        let text = std::str::from_utf8(AWS_ROOTS).unwrap();
        assert_eq!(text.matches("-----BEGIN CERTIFICATE-----").count(), 5);
        assert!(aws_https_client().is_ok());
    }
}
