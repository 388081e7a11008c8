use std::time::Duration;

use anyhow::Context as _;
use aws_config::SdkConfig;

use crate::auth::{DEFAULT_TOKEN_TTL, TokenKeys};
use crate::store::Store;

/// Everything a handler needs, built once per cold start and lent to every invocation.
#[derive(Clone, Debug)]
pub struct Deps {
    /// The DynamoDB table.
    pub store: Store,
    /// Session token keys.
    pub tokens: TokenKeys,
}

impl Deps {
    /// Builds from the environment, as a Lambda cold start does:
    ///
    /// - `TABLE_NAME` (required): the table the template creates;
    /// - `JWT_SECRET_ARN`: a Secrets Manager secret holding the signing key (what the template
    ///   wires), or `JWT_SECRET`: the key itself (local runs);
    /// - `JWT_TTL_SECONDS` (optional): token lifetime, default one day;
    /// - the usual AWS variables (`AWS_REGION`, credentials, `AWS_ENDPOINT_URL_DYNAMODB`, …),
    ///   read by the SDK itself.
    pub async fn from_env() -> anyhow::Result<Self> {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let table = required_env("TABLE_NAME")?;
        let secret = match std::env::var("JWT_SECRET_ARN") {
            Ok(arn) => fetch_secret(&sdk, &arn).await?,
            Err(_) => required_env("JWT_SECRET")
                .context("set JWT_SECRET_ARN (deployed) or JWT_SECRET (local)")?
                .into_bytes(),
        };
        let ttl = match std::env::var("JWT_TTL_SECONDS") {
            Ok(seconds) => Duration::from_secs(
                seconds
                    .parse()
                    .context("JWT_TTL_SECONDS must be a whole number")?,
            ),
            Err(_) => DEFAULT_TOKEN_TTL,
        };
        Ok(Self::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            table,
            TokenKeys::new(&secret, ttl)?,
        ))
    }

    /// Builds from clients the caller made (the local server and tests point them at local
    /// engines).
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, table: impl Into<String>, tokens: TokenKeys) -> Self {
        Self {
            store: Store::new(dynamodb, table),
            tokens,
        }
    }
}

fn required_env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("environment variable {name} is not set"))
}

/// Reads the signing key at cold start. The value is never logged; only its ARN is in the
/// function's configuration.
async fn fetch_secret(sdk: &SdkConfig, arn: &str) -> anyhow::Result<Vec<u8>> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let output = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .context("reading the JWT secret from Secrets Manager")?;
    output
        .secret_string
        .map(String::into_bytes)
        .context("the JWT secret has no string value")
}
