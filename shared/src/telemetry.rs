//! What an operator sees of each request and event: one structured log line, and metrics as
//! CloudWatch Embedded Metric Format lines (CloudWatch turns log lines into metrics, so there is
//! no API call and no wait at run time). Keel's small version of what Powertools for AWS Lambda
//! gives other runtimes; the same fields locally (keel-local runs the same code) and in Lambda.
//!
//! A request runs inside [`scoped`]: what it learns on the way — the caller, and the business
//! events it counts with [`count`] — is gathered there and written once, at the end, by
//! [`log_request`] (HTTP functions) or [`flush_metrics`] (event functions). Never a token, a
//! password, a body or a header: the line is built from named fields only.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

pub mod xray;

/// Lambda logging: JSON lines when the function's log format is JSON (the template sets it),
/// honouring `AWS_LAMBDA_LOG_LEVEL`. Call once, first thing in `main`.
pub fn init_lambda() {
    lambda_http::tracing::init_default_subscriber();
}

/// The CloudWatch namespace of every Keel metric.
pub const NAMESPACE: &str = "Keel";

/// A business or health event worth counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Metric {
    /// A login refused: unknown email or wrong password.
    LoginFailed,
    /// A login answered 429 by the throttle.
    LoginThrottled,
    /// An order placed (stock taken).
    OrderPlaced,
    /// An order refused: out of stock, or a product unavailable.
    OrderRefused,
    /// An order cancelled by its owner.
    OrderCancelled,
    /// An order paid (webhook or admin).
    OrderPaid,
    /// An order expired unpaid (its stock returned).
    OrderExpired,
    /// A payment refunded (cancelled after paying, or paid after expiry).
    PaymentRefunded,
    /// A payment attempt the gateway reported failed (the order stays payable).
    PaymentFailed,
    /// A gateway event refused: amount, currency or payment not the order's. Alarmed: an
    /// operator looks at every one (docs/payments.md).
    PaymentRefused,
    /// A webhook refused for its signature (forged, stale or misconfigured secret).
    WebhookRejected,
    /// A gateway call that failed after the order changed (cancelling an expired order's
    /// payment): logged, and harmless (a late payment is refunded by its webhook).
    GatewayCallFailed,
    /// An upload checked and ready.
    UploadAccepted,
    /// An upload rejected by the check.
    UploadRejected,
    /// Stream records the fan-out processed.
    StreamRecordsProcessed,
    /// Stream records in a batch that failed (it is retried).
    StreamRecordsFailed,
    /// Stream records parked after their last retry.
    StreamRecordsParked,
}

impl Metric {
    /// The metric's name in CloudWatch.
    pub fn name(self) -> &'static str {
        match self {
            Metric::LoginFailed => "LoginFailed",
            Metric::LoginThrottled => "LoginThrottled",
            Metric::OrderPlaced => "OrderPlaced",
            Metric::OrderRefused => "OrderRefused",
            Metric::OrderCancelled => "OrderCancelled",
            Metric::OrderPaid => "OrderPaid",
            Metric::OrderExpired => "OrderExpired",
            Metric::PaymentRefunded => "PaymentRefunded",
            Metric::PaymentFailed => "PaymentFailed",
            Metric::PaymentRefused => "PaymentRefused",
            Metric::WebhookRejected => "WebhookRejected",
            Metric::GatewayCallFailed => "GatewayCallFailed",
            Metric::UploadAccepted => "UploadAccepted",
            Metric::UploadRejected => "UploadRejected",
            Metric::StreamRecordsProcessed => "StreamRecordsProcessed",
            Metric::StreamRecordsFailed => "StreamRecordsFailed",
            Metric::StreamRecordsParked => "StreamRecordsParked",
        }
    }
}

/// What one request or event gathered while it ran.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The caller, once a token named one.
    pub caller: Option<String>,
    /// Business events, in the order first counted.
    pub counts: Vec<(Metric, u64)>,
    /// AWS calls made (DynamoDB, S3, Secrets Manager), in the order they ended; a call's
    /// retries are part of it.
    pub calls: Vec<Call>,
}

/// One AWS call: what the request line sums up and an X-Ray subsegment shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The service (`DynamoDB`, `S3`).
    pub service: String,
    /// The operation (`GetItem`).
    pub operation: String,
    /// The table or bucket it named, when it named one.
    pub resource: Option<String>,
    /// When it started.
    pub started: SystemTime,
    /// How long it took, retries included.
    pub took: Duration,
    /// The HTTP status of its last answer (`None`: no answer, a timeout say).
    pub status: Option<u16>,
    /// The AWS request id of its last answer.
    pub request_id: Option<String>,
}

impl Outcome {
    /// Adds `n` to `metric`'s count (each metric is listed once, in the order first counted).
    pub fn add(&mut self, metric: Metric, n: u64) {
        match self.counts.iter_mut().find(|(m, _)| *m == metric) {
            Some((_, total)) => *total += n,
            None => self.counts.push((metric, n)),
        }
    }

    /// The slowest call, when there was one.
    pub fn slowest_call(&self) -> Option<&Call> {
        self.calls.iter().max_by_key(|call| call.took)
    }
}

#[derive(Default)]
struct Scope(Mutex<Outcome>);

tokio::task_local! {
    static SCOPE: Scope;
}

/// Runs `work` as one request or event, and answers what it gathered.
pub async fn scoped<F: Future>(work: F) -> (F::Output, Outcome) {
    SCOPE
        .scope(Scope::default(), async {
            let output = work.await;
            let outcome = SCOPE.with(|scope| scope.0.lock().map(|o| o.clone()).unwrap_or_default());
            (output, outcome)
        })
        .await
}

fn with_outcome(change: impl FnOnce(&mut Outcome)) {
    let _ = SCOPE.try_with(|scope| {
        if let Ok(mut outcome) = scope.0.lock() {
            change(&mut outcome);
        }
    });
}

/// Notes the caller of the current request (a no-op outside [`scoped`]).
pub fn record_caller(user_id: &str) {
    with_outcome(|outcome| outcome.caller = Some(user_id.to_owned()));
}

/// Counts `n` of `metric` for the current request or event (a no-op outside [`scoped`]).
pub fn count(metric: Metric, n: u64) {
    with_outcome(|outcome| outcome.add(metric, n));
}

/// Notes one AWS call of the current request (a debug line of its own, too).
pub fn record_call(call: Call) {
    tracing::debug!(
        service = call.service,
        operation = call.operation,
        resource = call.resource,
        status = call.status,
        duration_ms = call.took.as_secs_f64() * 1000.0,
        "aws call"
    );
    with_outcome(|outcome| outcome.calls.push(call));
}

/// Times every call of the SDK client it is installed on, with the table or bucket it named,
/// its status and AWS request id, for [`record_call`]: a slow request's line names the call
/// that made it slow, and its trace shows each call. Install with `.interceptor(CallTimer)` on
/// each service's config.
#[derive(Debug, Clone, Copy)]
pub struct CallTimer;

#[derive(Debug, Clone, Copy)]
struct CallStarted(std::time::Instant, SystemTime);

impl aws_smithy_types::config_bag::Storable for CallStarted {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

#[derive(Debug, Clone)]
struct CallResource(String);

impl aws_smithy_types::config_bag::Storable for CallResource {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

/// The table a DynamoDB request body names (`TableName`, or a batch's first `RequestItems`
/// key), or the bucket of an S3 request (virtual-hosted `bucket.s3.…` or path-style
/// `/bucket/key`). A transaction's first table stands for it.
fn resource_of(service: &str, uri: &str, body: Option<&[u8]>) -> Option<String> {
    if service == "S3" {
        let uri: http::Uri = uri.parse().ok()?;
        let host = uri.host().unwrap_or_default();
        if let Some((bucket, _)) = host.split_once(".s3.").or_else(|| host.split_once(".s3-")) {
            return Some(bucket.to_owned());
        }
        return uri
            .path()
            .split('/')
            .find(|segment| !segment.is_empty())
            .map(str::to_owned);
    }
    let body = std::str::from_utf8(body?).ok()?;
    let start = ["\"TableName\":\"", "\"RequestItems\":{\""]
        .iter()
        .find_map(|key| body.find(key).map(|at| at + key.len()))?;
    let end = start + body[start..].find('"')?;
    Some(body[start..end].to_owned())
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for CallTimer {
    fn name(&self) -> &'static str {
        "keel-call-timer"
    }

    fn read_before_execution(
        &self,
        _: &aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef<
            '_,
        >,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        cfg.interceptor_state()
            .store_put(CallStarted(std::time::Instant::now(), SystemTime::now()));
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<
            '_,
        >,
        _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let service = cfg
            .load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
            .map(|m| m.service().to_owned())
            .unwrap_or_default();
        let request = context.request();
        if let Some(resource) = resource_of(&service, request.uri(), request.body().bytes()) {
            cfg.interceptor_state().store_put(CallResource(resource));
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef<'_>,
        _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let started = cfg.load::<CallStarted>().copied();
        let metadata = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>();
        if let (Some(CallStarted(instant, at)), Some(metadata)) = (started, metadata) {
            let response = context.response();
            record_call(Call {
                service: metadata.service().to_owned(),
                operation: metadata.name().to_owned(),
                resource: cfg.load::<CallResource>().map(|r| r.0.clone()),
                started: at,
                took: instant.elapsed(),
                status: response.map(|r| r.status().as_u16()),
                request_id: response.and_then(|r| {
                    let headers = r.headers();
                    headers
                        .get("x-amzn-requestid")
                        .or_else(|| headers.get("x-amz-request-id"))
                        .map(str::to_owned)
                }),
            });
        }
        Ok(())
    }
}

/// One HTTP request, as its log line and its metrics report it.
#[derive(Debug, Clone)]
pub struct RequestLine<'a> {
    /// The binary (`get-article`): the same name in every environment.
    pub function: &'a str,
    /// The template route (`GET /api/articles/{slug}`): never the path, which holds user input.
    pub route: &'a str,
    /// API Gateway's request id.
    pub request_id: Option<&'a str>,
    /// Lambda's request id for the invocation.
    pub lambda_request_id: Option<&'a str>,
    /// The status answered.
    pub status: u16,
    /// Time in the handler.
    pub duration: Duration,
    /// The first request this process served for the function.
    pub cold_start: bool,
    /// The X-Ray trace the invocation belongs to (`Root=…;Parent=…`), when tracing is on.
    pub trace_id: Option<&'a str>,
}

/// Requests per route and status class, with their total and slowest latency, when a process
/// asked to keep them ([`keep_summary`]): `keel-local` prints them on exit.
type Summary = std::collections::BTreeMap<(String, u16), (u64, f64, f64)>;

static SUMMARY: std::sync::OnceLock<Mutex<Summary>> = std::sync::OnceLock::new();

/// Keeps a per-route summary of this process's requests from now on (a long-lived local server
/// does; a Lambda function does not need to).
pub fn keep_summary() {
    let _ = SUMMARY.set(Mutex::new(Summary::new()));
}

/// The per-route summary as a table: route, status class, requests, mean and slowest latency.
/// Empty unless [`keep_summary`] was called.
pub fn summary() -> String {
    let Some(summary) = SUMMARY.get().and_then(|s| s.lock().ok()) else {
        return String::new();
    };
    let mut out = format!(
        "{:<45} {:>6} {:>9} {:>10} {:>10}\n",
        "route", "status", "requests", "mean ms", "max ms"
    );
    for ((route, class), (requests, total, max)) in summary.iter() {
        let mean = total / *requests as f64;
        out.push_str(&format!(
            "{route:<45} {:>5}xx {requests:>9} {mean:>10.1} {max:>10.1}\n",
            class
        ));
    }
    out
}

fn add_to_summary(route: &str, status: u16, duration_ms: f64) {
    if let Some(mut summary) = SUMMARY.get().and_then(|s| s.lock().ok()) {
        let entry = summary.entry((route.to_owned(), status / 100)).or_default();
        entry.0 += 1;
        entry.1 += duration_ms;
        entry.2 = entry.2.max(duration_ms);
    }
}

/// Writes the request's one log line and its metrics line.
pub fn log_request(line: &RequestLine<'_>, outcome: &Outcome) {
    let slowest = outcome.slowest_call();
    let duration_ms = (line.duration.as_secs_f64() * 10_000.0).round() / 10.0;
    tracing::info!(
        target: "keel::request",
        function = line.function,
        route = line.route,
        request_id = line.request_id,
        lambda_request_id = line.lambda_request_id,
        status = line.status,
        duration_ms,
        cold_start = line.cold_start,
        user_id = outcome.caller.as_deref(),
        trace_id = line.trace_id,
        aws_calls = outcome.calls.len(),
        slowest_call = slowest.map(|call| format!("{}.{}", call.service, call.operation)),
        slowest_call_ms = slowest.map(|call| (call.took.as_secs_f64() * 10_000.0).round() / 10.0),
        "request"
    );
    xray::send(line.trace_id, &outcome.calls);
    add_to_summary(line.route, line.status, duration_ms);
    let class = format!("{}xx", line.status / 100);
    let mut dimensions = vec![("Function", line.function), ("Route", line.route)];
    dimensions.push(("StatusClass", class.as_str()));
    let mut values: Vec<(&str, &str, f64)> = vec![
        ("Requests", "Count", 1.0),
        ("Latency", "Milliseconds", duration_ms),
    ];
    values.extend(counts(outcome));
    write_metrics(&emf(
        &[&["Route", "StatusClass"], &["Function"]],
        &dimensions,
        &values,
    ));
}

/// Writes the metrics an event function's invocation counted (nothing when it counted none),
/// and sends its calls to X-Ray under `trace_id` (the invocation's trace header), as
/// [`log_request`] does for a request.
pub fn flush_metrics(function: &str, trace_id: Option<&str>, outcome: &Outcome) {
    let values = counts(outcome);
    if !values.is_empty() {
        write_metrics(&emf(&[&["Function"]], &[("Function", function)], &values));
    }
    xray::send(trace_id, &outcome.calls);
}

static METRICS_SINK: std::sync::OnceLock<fn(&str)> = std::sync::OnceLock::new();

/// Sends this process's metrics lines to `sink` instead of standard output (where Lambda's log
/// collector, and CloudWatch's EMF extraction, read them). For tests; the first call wins.
pub fn send_metrics_to(sink: fn(&str)) {
    let _ = METRICS_SINK.set(sink);
}

fn write_metrics(line: &str) {
    match METRICS_SINK.get() {
        Some(sink) => sink(line),
        None => println!("{line}"),
    }
}

fn counts(outcome: &Outcome) -> Vec<(&'static str, &'static str, f64)> {
    outcome
        .counts
        .iter()
        .map(|(metric, n)| (metric.name(), "Count", *n as f64))
        .collect()
}

/// One Embedded Metric Format document: `dimension_sets` name which of `dimensions` each
/// metric is aggregated by; `values` are (name, unit, value).
fn emf(dimension_sets: &[&[&str]], dimensions: &[(&str, &str)], values: &[(&str, &str, f64)]) -> String {
    let mut document = serde_json::Map::new();
    let metrics: Vec<serde_json::Value> = values
        .iter()
        .map(|(name, unit, _)| serde_json::json!({ "Name": name, "Unit": unit }))
        .collect();
    document.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": chrono::Utc::now().timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": dimension_sets,
                "Metrics": metrics,
            }],
        }),
    );
    for (name, value) in dimensions {
        document.insert((*name).into(), serde_json::Value::from(*value));
    }
    for (name, _, value) in values {
        document.insert((*name).into(), serde_json::Value::from(*value));
    }
    serde_json::Value::Object(document).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_gathers_its_caller_and_counts_and_nothing_leaks_outside_it() {
        count(Metric::LoginFailed, 1); // outside any scope: ignored
        let ((), outcome) = scoped(async {
            record_caller("u-1");
            count(Metric::OrderPlaced, 1);
            count(Metric::OrderPlaced, 2);
            count(Metric::LoginFailed, 1);
        })
        .await;
        assert_eq!(outcome.caller.as_deref(), Some("u-1"));
        assert_eq!(
            outcome.counts,
            [(Metric::OrderPlaced, 3), (Metric::LoginFailed, 1)]
        );
        let ((), next) = scoped(async {}).await;
        assert_eq!(next, Outcome::default());
    }

    #[test]
    fn the_summary_counts_requests_per_route_and_status_class_once_asked() {
        let line = |status| RequestLine {
            function: "get-article",
            route: "GET /api/articles/{slug}",
            request_id: None,
            lambda_request_id: None,
            status,
            duration: Duration::from_millis(4),
            cold_start: false,
            trace_id: None,
        };
        log_request(&line(200), &Outcome::default());
        assert_eq!(summary(), "", "nothing is kept unless asked");
        keep_summary();
        log_request(&line(200), &Outcome::default());
        log_request(&line(200), &Outcome::default());
        log_request(&line(404), &Outcome::default());
        let table = summary();
        let rows: Vec<&str> = table.lines().skip(1).collect();
        assert_eq!(rows.len(), 2, "{table}");
        assert!(
            rows[0].contains("GET /api/articles/{slug}") && rows[0].contains("2xx"),
            "{table}"
        );
        assert_eq!(rows[0].split_whitespace().nth(3), Some("2"), "{table}");
        assert!(rows[1].contains("4xx"), "{table}");
    }

    #[test]
    fn a_call_names_the_table_or_bucket_it_was_about() {
        let dynamodb = |body: &str| {
            resource_of(
                "DynamoDB",
                "https://dynamodb.eu-west-1.amazonaws.com/",
                Some(body.as_bytes()),
            )
        };
        assert_eq!(
            dynamodb(r#"{"TableName":"keel","Key":{}}"#).as_deref(),
            Some("keel")
        );
        assert_eq!(
            dynamodb(r#"{"RequestItems":{"keel-prod":{"Keys":[]}}}"#).as_deref(),
            Some("keel-prod")
        );
        assert_eq!(
            dynamodb(r#"{"TransactItems":[{"Put":{"Item":{},"TableName":"keel"}}]}"#).as_deref(),
            Some("keel")
        );
        assert_eq!(dynamodb("{}"), None);
        assert_eq!(
            resource_of(
                "S3",
                "https://keel-uploads.s3.eu-west-1.amazonaws.com/uploads/1?x-id=PutObject",
                None
            )
            .as_deref(),
            Some("keel-uploads")
        );
        assert_eq!(
            resource_of("S3", "http://127.0.0.1:8014/keel-uploads/files/1", None).as_deref(),
            Some("keel-uploads")
        );
    }

    #[test]
    fn an_emf_line_declares_each_metric_and_carries_its_dimensions_and_values() {
        let line = emf(
            &[&["Route", "StatusClass"]],
            &[("Route", "GET /api/user"), ("StatusClass", "2xx")],
            &[("Requests", "Count", 1.0), ("Latency", "Milliseconds", 2.5)],
        );
        let doc: serde_json::Value = serde_json::from_str(&line).unwrap();
        let declared = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], "Keel");
        assert_eq!(
            declared["Dimensions"],
            serde_json::json!([["Route", "StatusClass"]])
        );
        assert_eq!(
            declared["Metrics"][1],
            serde_json::json!({"Name": "Latency", "Unit": "Milliseconds"})
        );
        assert_eq!(doc["Route"], "GET /api/user");
        assert_eq!(doc["Requests"], 1.0);
        assert_eq!(doc["Latency"], 2.5);
        assert!(doc["_aws"]["Timestamp"].as_i64().unwrap() > 0);
    }
}
