//! Storage faults, injected on the wire: a function's DynamoDB client talks to the real engine
//! through a TCP proxy on loopback that the test can cut, or make answer every request with
//! DynamoDB's `ThrottlingException`. Either way every request gets a 503 JSON answer with
//! `Retry-After` — not a panic, not a 500, not a hang past the SDK's timeouts and retries — and
//! nothing is half-written; once the store is back, the same function serves again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use keel::Deps;
use keel_functions::{articles, users};
use keel_tests::spawn_app;
use lambda_http::Body;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does with a connection.
const UP: u8 = 0;
const DOWN: u8 = 1;
const THROTTLED: u8 = 2;

/// DynamoDB's answer when a table's or an account's throughput is exceeded.
fn throttling() -> String {
    let body =
        r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"}"#;
    format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\n\
         x-amzn-requestid: fault-injection\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Forwards loopback connections to `upstream` while the mode is [`UP`]; refuses them when
/// [`DOWN`]; answers each request with a `ThrottlingException` when [`THROTTLED`].
async fn proxy(upstream: String) -> (String, Arc<AtomicU8>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let mode = Arc::new(AtomicU8::new(UP));
    let gate = mode.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            match gate.load(Ordering::SeqCst) {
                DOWN => {
                    drop(client); // connection closed at once: the SDK sees a dispatch failure
                    continue;
                }
                THROTTLED => {
                    tokio::spawn(async move {
                        // Read the whole request (headers, then content-length bytes) first.
                        let mut request = Vec::new();
                        let mut chunk = [0u8; 8192];
                        loop {
                            let Ok(n) = client.read(&mut chunk).await else {
                                return;
                            };
                            if n == 0 {
                                return;
                            }
                            request.extend_from_slice(&chunk[..n]);
                            let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
                            if let Some(end) = text.find("\r\n\r\n") {
                                let length = text
                                    .lines()
                                    .find_map(|l| l.strip_prefix("content-length:"))
                                    .and_then(|v| v.trim().parse::<usize>().ok())
                                    .unwrap_or(0);
                                if request.len() >= end + 4 + length {
                                    break;
                                }
                            }
                        }
                        let _ = client.write_all(throttling().as_bytes()).await;
                        let _ = client.shutdown().await;
                    });
                    continue;
                }
                _ => {}
            }
            let upstream = upstream.clone();
            tokio::spawn(async move {
                if let Ok(mut server) = TcpStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    (address, mode)
}

fn request(method: &str, path: &str, body: Option<Value>, token: Option<&str>) -> lambda_http::Request {
    let mut builder = http::Request::builder()
        .method(method)
        .uri(format!("http://localhost{path}"))
        .header("content-type", "application/json");
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Token {token}"));
    }
    builder
        .body(body.map_or(Body::Empty, |b| Body::Text(b.to_string())))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_that_is_down_is_a_503_with_retry_after_and_service_resumes_when_it_returns() {
    outage_then_recovery(DOWN, "During the outage").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttling_store_is_a_503_with_retry_after_after_the_sdks_retries_and_service_resumes() {
    outage_then_recovery(THROTTLED, "While throttled").await;
}

async fn outage_then_recovery(fault: u8, title: &str) {
    let app = spawn_app().await;
    let (user, token) = app.registered_user().await;
    let upstream = app
        .app
        .dynamodb_endpoint
        .clone()
        .expect("a local engine")
        .trim_start_matches("http://")
        .to_owned();
    let (endpoint, mode) = proxy(upstream).await;
    // The function's own client, configured as a cold start configures it, through the proxy.
    let sdk = keel::config::sdk_defaults()
        .endpoint_url(&endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::for_tests())
        .load()
        .await;
    let deps: &'static Deps = Box::leak(Box::new(Deps::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        app.app.deps.store.table(),
        app.app.deps.tokens().unwrap().clone(),
    )));
    let create = || {
        request(
            "POST",
            "/api/articles",
            Some(json!({"article": {"title": title, "description": "d", "body": "b"}})),
            Some(&token),
        )
    };

    mode.store(fault, Ordering::SeqCst);
    for (endpoint, req) in [
        (&articles::LIST, request("GET", "/api/articles", None, None)),
        (&articles::CREATE, create()),
        (&users::CURRENT, request("GET", "/api/user", None, Some(&token))),
    ] {
        let started = Instant::now();
        let response = keel_functions::respond(endpoint, deps, req).await;
        assert_eq!(response.status(), 503, "{}", endpoint.binary);
        assert_eq!(response.headers()["retry-after"], "1");
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["errors"]["server"][0], "is busy; try again shortly");
        assert!(
            started.elapsed() < keel::config::SDK_OPERATION_TIMEOUT + Duration::from_secs(1),
            "{}: {:?}",
            endpoint.binary,
            started.elapsed()
        );
    }
    // Nothing was written while the store was unreachable.
    let list = app.list(&format!("?author={}", user.username), None).await;
    assert_eq!(list.body["articlesCount"], 0);

    mode.store(UP, Ordering::SeqCst);
    let created = keel_functions::respond(&articles::CREATE, deps, create()).await;
    assert_eq!(created.status(), 201);
    let listed =
        keel_functions::respond(&articles::LIST, deps, request("GET", "/api/articles", None, None)).await;
    assert_eq!(listed.status(), 200);
}
