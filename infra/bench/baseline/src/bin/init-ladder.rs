//! Where a function's init time goes: a `lambda_http` echo function that performs the first
//! `KEEL_LADDER_STEP` steps of Keel's cold start before asking for work. The benchmark starts it
//! at every step; the difference between consecutive steps is what that step costs. One binary
//! for all steps, so size and page-cache effects are the same for each.

use lambda_http::{Body, Error, Request, Response, service_fn};

/// The last step: 0 the runtime only (single-threaded, as every function's), 1 JSON logging,
/// 2 the SDK configuration as `Deps::from_env` loads it (with Keel's HTTPS client), 3 a
/// DynamoDB client, 4 token keys. For comparison (keel-bench names them in its report): 5 is
/// steps 2–3 with a client that reads the system's root certificates (as the SDK's default does),
/// and 6 is step 0 on tokio's multi-threaded runtime, as hello-world (`#[tokio::main]`) runs.
const LAST_STEP: usize = 6;
const MULTI_THREADED: usize = 6;

fn main() -> Result<(), Error> {
    let step: usize = std::env::var("KEEL_LADDER_STEP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
        .min(LAST_STEP);
    let mut runtime = if step == MULTI_THREADED {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    runtime.enable_all().build()?.block_on(cold_start(step))
}

async fn cold_start(step: usize) -> Result<(), Error> {
    let mut keep: Vec<Box<dyn std::any::Any>> = Vec::new();
    if (1..MULTI_THREADED).contains(&step) {
        keel::telemetry::init_lambda();
    }
    if step == 5 {
        let sdk = keel::config::aws_defaults()
            .credentials_provider(aws_config::environment::EnvironmentVariableCredentialsProvider::new())
            .region(aws_config::Region::new(
                std::env::var("AWS_REGION").unwrap_or_default(),
            ))
            .load()
            .await;
        keep.push(Box::new(aws_sdk_dynamodb::Client::new(&sdk)));
    } else if (2..=4).contains(&step) {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(keel::config::aws_https_client()?)
            .load()
            .await;
        if step >= 3 {
            keep.push(Box::new(aws_sdk_dynamodb::Client::new(&sdk)));
        }
        keep.push(Box::new(sdk));
    }
    if step == 4 {
        let secret = std::env::var("JWT_SECRET").unwrap_or_else(|_| "x".repeat(32));
        keep.push(Box::new(keel::auth::TokenKeys::new(
            secret.as_bytes(),
            keel::auth::DEFAULT_TOKEN_TTL,
        )?));
    }
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(Response::new(Body::Text(req.uri().path().to_owned())))
    }))
    .await
}
