//! Storage faults, injected on the wire: a function's DynamoDB client talks to the real engine
//! through a TCP proxy on loopback that the test can cut. While it is cut, every request gets a
//! 503 JSON answer with `Retry-After` — not a panic, not a 500, not a hang past the SDK's
//! timeouts — and nothing is half-written; once it is back, the same function serves again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use keel::Deps;
use keel_functions::{articles, users};
use keel_tests::spawn_app;
use lambda_http::Body;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

/// Forwards loopback connections to `upstream` while `up` is set; refuses them otherwise.
async fn proxy(upstream: String) -> (String, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let up = Arc::new(AtomicBool::new(true));
    let gate = up.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            if !gate.load(Ordering::SeqCst) {
                drop(client); // connection closed at once: the SDK sees a dispatch failure
                continue;
            }
            let upstream = upstream.clone();
            tokio::spawn(async move {
                if let Ok(mut server) = TcpStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    (address, up)
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
    let app = spawn_app().await;
    let (user, token) = app.registered_user().await;
    let upstream = app
        .app
        .dynamodb_endpoint
        .clone()
        .expect("a local engine")
        .trim_start_matches("http://")
        .to_owned();
    let (endpoint, up) = proxy(upstream).await;
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
            Some(json!({"article": {"title": "During the outage", "description": "d", "body": "b"}})),
            Some(&token),
        )
    };

    up.store(false, Ordering::SeqCst);
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

    up.store(true, Ordering::SeqCst);
    let created = keel_functions::respond(&articles::CREATE, deps, create()).await;
    assert_eq!(created.status(), 201);
    let listed =
        keel_functions::respond(&articles::LIST, deps, request("GET", "/api/articles", None, None)).await;
    assert_eq!(listed.status(), 200);
}
