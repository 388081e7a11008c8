//! Storage faults, injected on the wire: a function's DynamoDB or S3 client talks to the real
//! engine through a TCP proxy on loopback that the test can cut, or make answer requests with
//! the service's own throttling reply (DynamoDB's `ThrottlingException`, S3's `SlowDown`).
//! Either way every request gets a 503 JSON answer with `Retry-After` — not a panic, not a 500,
//! not a hang past the SDK's timeouts and retries — and nothing is half-written; once the
//! store is back, the same function serves again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use keel::Deps;
use keel::files::Files;
use keel_functions::{articles, uploads, users};
use keel_tests::spawn_app;
use keel_tests::uploads::{announce, png};
use lambda_http::Body;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with a connection.
const UP: u8 = 0;
const DOWN: u8 = 1;
const THROTTLED: u8 = 2;
/// Reads (`GET`, `HEAD`) pass; every other request is answered with the throttling reply.
const WRITES_THROTTLED: u8 = 3;

/// A whole HTTP response with status line `status`, a JSON or XML `body`, closing the
/// connection.
fn reply(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\nx-amzn-requestid: fault-injection\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// DynamoDB's answer when a table's or an account's throughput is exceeded.
fn dynamodb_throttling() -> String {
    reply(
        "400 Bad Request",
        "application/x-amz-json-1.0",
        r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"}"#,
    )
}

/// S3's answer when a prefix's request rate is exceeded.
fn s3_slow_down() -> String {
    reply(
        "503 Slow Down",
        "application/xml",
        r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>fault-injection</RequestId></Error>"#,
    )
}

/// Reads one whole request (headers, then `content-length` bytes) from `client`.
async fn read_request(client: &mut TcpStream) -> Option<Vec<u8>> {
    let mut request = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
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
                return Some(request);
            }
        }
    }
}

/// Sends one `request` upstream with `connection: close` and relays the answer.
async fn forward_one(mut client: TcpStream, upstream: &str, request: Vec<u8>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let line_end = request.windows(2).position(|w| w == b"\r\n").unwrap_or(0);
    let mut sent = request[..line_end + 2].to_vec();
    sent.extend_from_slice(b"connection: close\r\n");
    sent.extend_from_slice(&request[line_end + 2..]);
    if server.write_all(&sent).await.is_ok() {
        let _ = tokio::io::copy(&mut server, &mut client).await;
    }
    let _ = client.shutdown().await;
}

/// Forwards loopback connections to `upstream` while the mode is [`UP`]; refuses them when
/// [`DOWN`]; answers each request with `fault` when [`THROTTLED`], and each request that
/// writes when [`WRITES_THROTTLED`].
/// A change of mode also cuts the connections it forwards, which the SDK would otherwise
/// keep reusing.
async fn proxy(upstream: String, fault: fn() -> String) -> (String, Arc<watch::Sender<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let mode = Arc::new(watch::Sender::new(UP));
    let gate = mode.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let mut changes = gate.subscribe();
            let mode = *changes.borrow_and_update();
            let upstream = upstream.clone();
            tokio::spawn(async move {
                match mode {
                    // Closed at once: the SDK sees a dispatch failure.
                    DOWN => drop(client),
                    THROTTLED | WRITES_THROTTLED => {
                        let Some(request) = read_request(&mut client).await else {
                            return;
                        };
                        if mode == WRITES_THROTTLED
                            && (request.starts_with(b"GET ") || request.starts_with(b"HEAD "))
                        {
                            forward_one(client, &upstream, request).await;
                        } else {
                            let _ = client.write_all(fault().as_bytes()).await;
                            let _ = client.shutdown().await;
                        }
                    }
                    _ => {
                        if let Ok(mut server) = TcpStream::connect(&upstream).await {
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                                _ = changes.changed() => {}
                            }
                        }
                    }
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
    let (endpoint, mode) = proxy(upstream, dynamodb_throttling).await;
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

    mode.send_replace(fault);
    for (endpoint, req) in [
        (&articles::LIST, request("GET", "/api/articles", None, None)),
        (&articles::CREATE, create()),
        (&users::CURRENT, request("GET", "/api/user", None, Some(&token))),
    ] {
        assert_busy(endpoint, deps, req).await;
    }
    // Nothing was written while the store was unreachable.
    let list = app.list(&format!("?author={}", user.username), None).await;
    assert_eq!(list.body["articlesCount"], 0);

    mode.send_replace(UP);
    let created = keel_functions::respond(&articles::CREATE, deps, create()).await;
    assert_eq!(created.status(), 201);
    let listed =
        keel_functions::respond(&articles::LIST, deps, request("GET", "/api/articles", None, None)).await;
    assert_eq!(listed.status(), 200);
}

/// Calls `endpoint` with `req` and asserts the storage-busy answer: 503 JSON with
/// `Retry-After`, within the SDK's time budget.
async fn assert_busy(endpoint: &keel_functions::Endpoint, deps: &'static Deps, req: lambda_http::Request) {
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

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_or_throttling_bucket_is_a_503_and_no_upload_is_left_half_settled_or_half_deleted() {
    let app = spawn_app().await;
    let (_, token) = app.registered_user().await;
    // The functions under test use a bucket of their own, so the local server's Object Created
    // events (for its bucket) do not finalise the upload before the test does.
    let operator = app.app.s3.clone().expect("a local S3");
    let bucket = format!("{}-faults", app.app.bucket);
    operator.create_bucket().bucket(&bucket).send().await.unwrap();
    let keys = || async {
        let listed = operator.list_objects_v2().bucket(&bucket).send().await.unwrap();
        listed
            .contents()
            .iter()
            .filter_map(|o| o.key.clone())
            .collect::<Vec<_>>()
    };
    let announced = announce(
        &app,
        &token,
        "photo.png",
        "image/png",
        png(64, 48).len(),
        "attachment",
    )
    .await;
    let id = announced.body["upload"]["id"].as_str().unwrap().to_owned();
    let incoming = format!("uploads/{id}");
    operator
        .put_object()
        .bucket(&bucket)
        .key(&incoming)
        .body(png(64, 48).into())
        .send()
        .await
        .unwrap();

    // The functions' own S3 client, configured as a cold start configures it, through the proxy.
    let upstream = app.app.s3_endpoint.clone().expect("a local S3");
    let (endpoint, mode) = proxy(upstream.trim_start_matches("http://").to_owned(), s3_slow_down).await;
    let sdk = keel::config::sdk_defaults()
        .region(aws_config::Region::new(keel_local::engines::LOCAL_REGION))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            keel_local::engines::LOCAL_ACCESS_KEY,
            keel_local::engines::LOCAL_SECRET_KEY,
            None,
            None,
            "faults",
        ))
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .endpoint_url(&endpoint)
            .force_path_style(true)
            .build(),
    );
    let deps: &'static Deps = Box::leak(Box::new(Deps::assemble(
        app.app.deps.store.clone(),
        Some(app.app.deps.tokens().unwrap().clone()),
        Some(Files::new(s3, &bucket)),
    )));
    let at = |method: &str, path: String| {
        use lambda_http::RequestExt as _;
        request(method, &path, None, Some(&token))
            .with_path_parameters(std::collections::HashMap::from([("id".to_owned(), id.clone())]))
    };
    let status = || async {
        app.send("GET", &format!("/uploads/{id}"), None, Some(&token))
            .await
    };

    // Finalising: S3 down, S3 refusing everything, S3 serving reads but refusing the writes
    // that store the checked file. Each time the upload stays pending with only its bytes.
    for fault in [DOWN, THROTTLED, WRITES_THROTTLED] {
        mode.send_replace(fault);
        assert_busy(
            &uploads::COMPLETE,
            deps,
            at("POST", format!("/api/uploads/{id}/complete")),
        )
        .await;
        assert_eq!(
            status().await.body["upload"]["status"],
            "pending",
            "fault {fault}"
        );
        assert_eq!(keys().await, std::slice::from_ref(&incoming), "fault {fault}");
    }
    mode.send_replace(UP);
    let completed = keel_functions::respond(
        &uploads::COMPLETE,
        deps,
        at("POST", format!("/api/uploads/{id}/complete")),
    )
    .await;
    assert_eq!(completed.status(), 200);
    assert_eq!(status().await.body["upload"]["status"], "ready");
    let stored = [format!("files/{id}/original"), format!("files/{id}/thumbnail")];
    assert_eq!(keys().await, stored);

    // A download link is signed without calling S3: it is handed out during an outage too.
    mode.send_replace(DOWN);
    let link = keel_functions::respond(
        &uploads::CONTENT,
        deps,
        at("GET", format!("/api/uploads/{id}/content")),
    )
    .await;
    assert_eq!(link.status(), 302);

    // Deleting while S3 cannot remove the files: 503, the upload is hidden but its files and
    // record are kept until the delete is sent again — then both are gone.
    for fault in [DOWN, WRITES_THROTTLED] {
        mode.send_replace(fault);
        assert_busy(&uploads::DELETE, deps, at("DELETE", format!("/api/uploads/{id}"))).await;
        assert_eq!(status().await.status, 404, "fault {fault}");
        assert_eq!(keys().await, stored, "fault {fault}");
        let listed = app.send("GET", "/uploads", None, Some(&token)).await;
        assert_eq!(listed.body["uploads"], json!([]), "fault {fault}");
    }
    mode.send_replace(UP);
    let deleted =
        keel_functions::respond(&uploads::DELETE, deps, at("DELETE", format!("/api/uploads/{id}"))).await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(keys().await, Vec::<String>::new());
    let again =
        keel_functions::respond(&uploads::DELETE, deps, at("DELETE", format!("/api/uploads/{id}"))).await;
    assert_eq!(again.status(), 404);
}
