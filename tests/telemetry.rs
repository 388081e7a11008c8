//! What an operator sees of a request: one log line with the request's ids, function, route,
//! status, duration, cold start and caller — never its token, password or body — and one
//! Embedded Metric Format line that CloudWatch turns into metrics by route and status class,
//! with the business events the request counted. Read from the real handler path, as Lambda
//! runs it (keel-local calls the same `respond`).

use std::sync::Mutex;

use keel_tests::spawn_app;
use serde_json::Value;

static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static METRICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Log;

impl std::io::Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        LOG.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture() {
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_writer(|| Log)
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish(),
    )
    .expect("the only subscriber in this process");
    keel::telemetry::send_metrics_to(|line| METRICS.lock().unwrap().push(line.to_owned()));
}

fn request_lines() -> Vec<String> {
    String::from_utf8_lossy(&LOG.lock().unwrap())
        .lines()
        .filter(|line| line.contains("keel::request"))
        .map(str::to_owned)
        .collect()
}

fn metrics() -> Vec<Value> {
    METRICS
        .lock()
        .unwrap()
        .iter()
        .map(|line| serde_json::from_str(line).expect("an EMF line is JSON"))
        .collect()
}

#[tokio::test]
async fn each_request_logs_one_line_of_named_fields_and_one_metrics_line_and_never_its_secrets() {
    capture();
    let app = spawn_app().await;
    let (user, token) = app.registered_user().await;
    let me = app.current_user(Some(&token)).await;
    assert_eq!(me.status, 200);
    let again = app.current_user(Some(&token)).await;
    assert_eq!(again.status, 200);
    assert_eq!(app.login(&user.email, "not the password").await.status, 401);

    let lines = request_lines();
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let current: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("route=\"GET /api/user\""))
        .collect();
    assert_eq!(current.len(), 2, "{lines:#?}");
    for field in [
        "function=\"get-current-user\"",
        "status=200",
        "request_id=",
        "lambda_request_id=",
        "duration_ms=",
    ] {
        assert!(current[0].contains(field), "{field} missing: {}", current[0]);
    }
    assert!(
        current[0].contains("cold_start=true") && current[1].contains("cold_start=false"),
        "{current:#?}"
    );
    // Reading the user is one GetItem: counted, and named as the slowest call.
    assert!(current[0].contains("aws_calls=1"), "{}", current[0]);
    assert!(
        current[0].contains("slowest_call=\"DynamoDB.GetItem\""),
        "{}",
        current[0]
    );
    let user_id = me.body["user"]["username"].as_str().unwrap();
    assert!(!user_id.is_empty());
    assert!(
        current[0].contains("user_id=\""),
        "the caller is named: {}",
        current[0]
    );
    let everything = String::from_utf8_lossy(&LOG.lock().unwrap()).into_owned();
    for secret in [token.as_str(), user.password.as_str(), "not the password"] {
        assert!(!everything.contains(secret), "a secret reached the log");
    }

    let metrics = metrics();
    let of_route = |route: &str| -> Vec<&Value> { metrics.iter().filter(|m| m["Route"] == route).collect() };
    let current = of_route("GET /api/user");
    assert_eq!(current.len(), 2);
    assert_eq!(current[0]["StatusClass"], "2xx");
    assert_eq!(current[0]["Requests"], 1.0);
    assert!(current[0]["Latency"].as_f64().unwrap() >= 0.0);
    assert_eq!(current[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Keel");
    let login = of_route("POST /api/users/login");
    assert_eq!(login.len(), 1);
    assert_eq!(login[0]["StatusClass"], "4xx");
    assert_eq!(login[0]["LoginFailed"], 1.0);
    let declared: Vec<&str> = login[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["Name"].as_str())
        .collect();
    assert_eq!(declared, ["Requests", "Latency", "LoginFailed"]);
}

/// The value of `name="…"` in a request line.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("{name}=\"");
    let start = line.find(&key)? + key.len();
    Some(&line[start..start + line[start..].find('"')?])
}

fn number(line: &str, name: &str) -> Option<usize> {
    let key = format!("{name}=");
    let start = line.find(&key)? + key.len();
    line[start..].split_whitespace().next()?.parse().ok()
}

#[tokio::test]
async fn each_aws_call_of_a_traced_request_reaches_the_xray_daemon_as_a_subsegment_of_its_trace() {
    capture();
    let daemon = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    daemon
        .set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .unwrap();
    keel::telemetry::xray::send_traces_to(daemon.local_addr().unwrap());
    let app = spawn_app().await;
    let (user, token) = app.registered_user().await;
    assert_eq!(app.current_user(Some(&token)).await.status, 200);
    assert_eq!(app.login(&user.email, "not the password").await.status, 401);

    let mut documents = Vec::new();
    let mut datagram = [0u8; 65_536];
    while let Ok(n) = daemon.recv(&mut datagram) {
        let text = std::str::from_utf8(&datagram[..n]).unwrap();
        for secret in [token.as_str(), user.password.as_str(), "not the password"] {
            assert!(!text.contains(secret), "a secret reached a trace");
        }
        let (header, document) = text.split_once('\n').expect("a header line, then the document");
        assert_eq!(header, r#"{"format":"json","version":1}"#);
        documents.push(serde_json::from_str::<Value>(document).unwrap());
    }

    let lines = request_lines();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let mut traced = 0;
    for line in &lines {
        let header = field(line, "trace_id").expect("every request is traced");
        let trace = keel::telemetry::xray::TraceHeader::parse(header).expect("sampled");
        let ours: Vec<&Value> = documents.iter().filter(|d| d["trace_id"] == trace.root).collect();
        assert_eq!(
            Some(ours.len()),
            number(line, "aws_calls"),
            "one subsegment per call of {line}"
        );
        traced += ours.len();
        for document in ours {
            assert_eq!(document["parent_id"], trace.parent);
            assert_eq!(document["type"], "subsegment");
            assert_eq!(document["namespace"], "aws");
            assert!(document["start_time"].as_f64().unwrap() <= document["end_time"].as_f64().unwrap());
        }
    }
    assert_eq!(traced, documents.len(), "no subsegment outside a request's trace");

    let current = lines.iter().find(|l| l.contains("GET /api/user")).unwrap();
    let root = keel::telemetry::xray::TraceHeader::parse(field(current, "trace_id").unwrap())
        .unwrap()
        .root;
    let read = documents.iter().find(|d| d["trace_id"] == root).unwrap();
    assert_eq!(read["name"], "DynamoDB");
    assert_eq!(read["aws"]["operation"], "GetItem");
    assert_eq!(read["aws"]["table_name"], app.app.deps.store.table());
    assert_eq!(read["http"]["response"]["status"], 200);
    assert!(read.get("fault").is_none(), "{read}");
}
