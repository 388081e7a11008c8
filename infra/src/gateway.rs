//! A local stand-in for API Gateway (HTTP API, payload 2.0): matches a request to a template
//! route, builds the event API Gateway would send, hands it to the function's handler in-process
//! and returns the handler's response, with CORS applied as the template configures it.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Instant;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use keel::{ApiError, Deps};
use keel_functions::Endpoint;
use serde_json::{Value, json};

use crate::template::{Cors, Route, Template};

/// API Gateway's own payload limit (10 MB). Handlers apply their own, smaller one.
const GATEWAY_MAX_BODY: usize = 10 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Segment {
    Literal(String),
    Param(String),
    Greedy(String),
}

impl Segment {
    /// API Gateway prefers the most specific route: literal over `{param}` over `{param+}`.
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 2,
            Segment::Param(_) => 1,
            Segment::Greedy(_) => 0,
        }
    }
}

struct CompiledRoute {
    route: Route,
    segments: Vec<Segment>,
    endpoint: &'static Endpoint,
    /// The function's own dependencies: its clients answer to its own IAM policy.
    deps: &'static Deps,
}

/// The routing table plus what every request needs.
pub struct Gateway {
    routes: Vec<CompiledRoute>,
    cors: Option<Cors>,
    stream: Option<crate::streams::StreamPoke>,
}

/// Why a request matched no route.
enum Miss {
    NotFound,
    MethodNotAllowed(Vec<String>),
}

impl Gateway {
    /// Compiles the template's routes, failing if any names a binary with no endpoint.
    /// `deps_of` answers each function's dependencies by its logical id (`FunctionDeps::of`).
    pub fn new(
        template: &Template,
        deps_of: impl Fn(&str) -> Option<&'static keel::Deps>,
    ) -> anyhow::Result<Self> {
        let routes = template
            .routes
            .iter()
            .map(|route| {
                let endpoint = crate::registry::endpoint(&route.binary).ok_or_else(|| {
                    anyhow::anyhow!(
                        "{} routes to binary {:?}, which has no endpoint",
                        route.key(),
                        route.binary
                    )
                })?;
                let deps = deps_of(&route.function)
                    .ok_or_else(|| anyhow::anyhow!("BUG: no dependencies for {}", route.function))?;
                Ok(CompiledRoute {
                    segments: compile(&route.path),
                    route: route.clone(),
                    endpoint,
                    deps,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            routes,
            cors: template.cors.clone(),
            stream: None,
        })
    }

    /// Wakes the local stream's pollers after each successful write (never waits for them).
    pub fn with_stream(mut self, poke: crate::streams::StreamPoke) -> Self {
        self.stream = Some(poke);
        self
    }

    /// The event API Gateway would send for this request; `None` when no route matches.
    /// Benchmarks and boot checks feed it to compiled Lambda binaries.
    pub fn event(&self, request: http::Request<Bytes>) -> Option<Value> {
        let (matched, params) = self.find(request.method(), request.uri().path()).ok()?;
        let (parts, body) = request.into_parts();
        let peer = SocketAddr::from(([127, 0, 0, 1], 0));
        Some(api_gateway_event(&matched.route, &parts, &params, &body, peer))
    }

    /// The route table, for the start-up banner.
    pub fn routes(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter().map(|r| &r.route)
    }

    fn find(&self, method: &Method, path: &str) -> Result<(&CompiledRoute, BTreeMap<String, String>), Miss> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        // A 405's `Allow` names the methods of the most specific path that matches: for
        // `/api/articles/feed` that is the feed's GET, not also `/api/articles/{slug}`'s methods.
        let mut allowed: Vec<String> = Vec::new();
        let mut allowed_rank: Vec<u8> = Vec::new();
        let mut best: Option<(&CompiledRoute, BTreeMap<String, String>)> = None;
        for candidate in &self.routes {
            let Some(params) = match_path(&candidate.segments, &parts) else {
                continue;
            };
            if candidate.route.method != method.as_str() && candidate.route.method != "ANY" {
                let rank = specificity(&candidate.segments);
                if rank > allowed_rank {
                    allowed.clear();
                    allowed_rank.clone_from(&rank);
                }
                if rank == allowed_rank && !allowed.contains(&candidate.route.method) {
                    allowed.push(candidate.route.method.clone());
                }
                continue;
            }
            let better = match &best {
                None => true,
                Some((current, _)) => specificity(&candidate.segments) > specificity(&current.segments),
            };
            if better {
                best = Some((candidate, params));
            }
        }
        match best {
            Some(found) => Ok(found),
            None if allowed.is_empty() => Err(Miss::NotFound),
            None => Err(Miss::MethodNotAllowed(allowed)),
        }
    }

    /// Serves one HTTP request and logs one line about it.
    pub async fn serve(
        &self,
        req: hyper::Request<Incoming>,
        peer: SocketAddr,
    ) -> hyper::Response<Full<Bytes>> {
        let started = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let origin = req.headers().get(header::ORIGIN).cloned();
        let mut response = self.dispatch(req, peer).await;
        keel::http::secure_defaults(response.headers_mut());
        if let (Some(cors), Some(origin)) = (&self.cors, origin) {
            apply_cors(cors, &origin, response.headers_mut());
        }
        tracing::info!(
            method = %method,
            path = %path,
            status = response.status().as_u16(),
            duration_ms = format!("{:.1}", started.elapsed().as_secs_f64() * 1000.0),
            "request"
        );
        response
    }

    async fn dispatch(
        &self,
        req: hyper::Request<Incoming>,
        peer: SocketAddr,
    ) -> hyper::Response<Full<Bytes>> {
        if let Some(cors) = self.cors.as_ref().filter(|_| is_preflight(&req)) {
            return preflight(cors, req.headers());
        }
        if let Some(response) = crate::docs::serve(req.method(), req.uri().path()) {
            return response;
        }
        let (matched, params) = match self.find(req.method(), req.uri().path()) {
            Ok(found) => found,
            Err(Miss::NotFound) => return to_hyper(ApiError::NotFound("route").into_response()),
            Err(Miss::MethodNotAllowed(methods)) => {
                let mut response = to_hyper(ApiError::MethodNotAllowed.into_response());
                if let Ok(allow) = HeaderValue::from_str(&methods.join(", ")) {
                    response.headers_mut().insert(header::ALLOW, allow);
                }
                return response;
            }
        };
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, GATEWAY_MAX_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return to_hyper(ApiError::PayloadTooLarge.into_response()),
        };
        let event = api_gateway_event(&matched.route, &parts, &params, &body, peer);
        let request = match lambda_http::request::from_str(&event.to_string()) {
            Ok(request) => request,
            Err(error) => {
                return to_hyper(
                    ApiError::Internal(anyhow::anyhow!("BUG: event did not parse: {error}")).into_response(),
                );
            }
        };
        let response = keel_functions::respond(matched.endpoint, matched.deps, request).await;
        if let Some(stream) = &self.stream
            && parts.method != Method::GET
            && response.status().is_success()
        {
            stream.poke();
        }
        to_hyper(response)
    }
}

fn compile(path: &str) -> Vec<Segment> {
    path.trim_start_matches('/')
        .split('/')
        .map(
            |part| match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) => match name.strip_suffix('+') {
                    Some(greedy) => Segment::Greedy(greedy.to_owned()),
                    None => Segment::Param(name.to_owned()),
                },
                None => Segment::Literal(part.to_owned()),
            },
        )
        .collect()
}

fn specificity(segments: &[Segment]) -> Vec<u8> {
    segments.iter().map(Segment::rank).collect()
}

/// Path parameters when `parts` fits `segments`. Values are percent-decoded, as API Gateway
/// decodes them; an empty segment never matches a parameter.
fn match_path(segments: &[Segment], parts: &[&str]) -> Option<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    for (index, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Greedy(name) => {
                let rest = parts.get(index..)?.join("/");
                if rest.is_empty() {
                    return None;
                }
                params.insert(name.clone(), decode(&rest)?);
                return Some(params);
            }
            Segment::Literal(literal) => {
                if parts.get(index)? != literal {
                    return None;
                }
            }
            Segment::Param(name) => {
                let part = parts.get(index)?;
                if part.is_empty() {
                    return None;
                }
                params.insert(name.clone(), decode(part)?);
            }
        }
    }
    (parts.len() == segments.len()).then_some(params)
}

fn decode(raw: &str) -> Option<String> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// The API Gateway HTTP API (payload format 2.0) event for this request, field for field as
/// AWS builds it: lower-case headers with repeated values comma-joined, cookies moved out of
/// the headers, query parameters decoded and comma-joined, non-UTF-8 bodies base64-encoded.
fn api_gateway_event(
    route: &Route,
    parts: &http::request::Parts,
    params: &BTreeMap<String, String>,
    body: &Bytes,
    peer: SocketAddr,
) -> Value {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        // Bytes outside ASCII are passed on, read as Latin-1 (as HTTP/1.1 defines obs-text),
        // never dropped: a mangled `Authorization` must reach the function and fail there,
        // not turn the request anonymous.
        let value: String = match value.to_str() {
            Ok(text) => text.to_owned(),
            Err(_) => value.as_bytes().iter().map(|&b| char::from(b)).collect(),
        };
        let value = value.as_str();
        if name == header::COOKIE {
            cookies.extend(
                value
                    .split(';')
                    .map(|c| c.trim().to_owned())
                    .filter(|c| !c.is_empty()),
            );
            continue;
        }
        append_joined(&mut headers, name.as_str(), value);
    }
    // API Gateway sets these itself, replacing whatever the client sent.
    headers.insert("x-forwarded-proto".into(), "http".into());
    headers.insert("x-forwarded-for".into(), peer.ip().to_string());
    let raw_query = parts.uri.query().unwrap_or("").to_owned();
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in form_urlencoded::parse(raw_query.as_bytes()) {
        append_joined(&mut query, &key, &value);
    }
    let now = chrono::Utc::now();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route.key(),
        "rawPath": parts.uri.path(),
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "keel-local",
            "domainName": headers.get("host").cloned().unwrap_or_else(|| "127.0.0.1".into()),
            "domainPrefix": "keel-local",
            "http": {
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "protocol": format!("{:?}", parts.version),
                "sourceIp": peer.ip().to_string(),
                "userAgent": headers.get("user-agent").cloned().unwrap_or_default(),
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": route.key(),
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = json!(query);
    }
    if !params.is_empty() {
        event["pathParameters"] = json!(params);
    }
    if !body.is_empty() {
        match std::str::from_utf8(body) {
            Ok(text) => event["body"] = json!(text),
            Err(_) => {
                event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
                event["isBase64Encoded"] = json!(true);
            }
        }
    }
    event
}

/// Adds `value` under `key`, comma-joined after any earlier value: how API Gateway folds
/// repeated headers and query parameters into one string.
fn append_joined(map: &mut BTreeMap<String, String>, key: &str, value: &str) {
    map.entry(key.to_owned())
        .and_modify(|existing| {
            existing.push(',');
            existing.push_str(value);
        })
        .or_insert_with(|| value.to_owned());
}

fn to_hyper(response: lambda_http::Response<lambda_http::Body>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        lambda_http::Body::Empty => Bytes::new(),
        lambda_http::Body::Text(text) => Bytes::from(text),
        lambda_http::Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}

fn is_preflight<B>(req: &hyper::Request<B>) -> bool {
    req.method() == Method::OPTIONS
        && req.headers().contains_key(header::ORIGIN)
        && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

fn allowed_origin(cors: &Cors, origin: &HeaderValue) -> Option<HeaderValue> {
    if cors.allow_origins.iter().any(|o| o == "*") {
        return Some(HeaderValue::from_static("*"));
    }
    let origin_str = origin.to_str().ok()?;
    cors.allow_origins
        .iter()
        .any(|o| o.eq_ignore_ascii_case(origin_str))
        .then(|| origin.clone())
}

fn apply_cors(cors: &Cors, origin: &HeaderValue, headers: &mut HeaderMap) {
    let Some(allow) = allowed_origin(cors, origin) else {
        return;
    };
    if allow != "*" {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
    if let Some(value) = (!cors.expose_headers.is_empty())
        .then(|| HeaderValue::from_str(&cors.expose_headers.join(",")).ok())
        .flatten()
    {
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, value);
    }
}

/// Answers a CORS preflight the way API Gateway does when `CorsConfiguration` is set: before
/// any route or function is involved.
fn preflight(cors: &Cors, request: &HeaderMap) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    let Some(origin) = request.get(header::ORIGIN) else {
        return response;
    };
    if allowed_origin(cors, origin).is_none() {
        return response;
    }
    let headers = response.headers_mut();
    apply_cors(cors, origin, headers);
    let join = |items: &[String]| HeaderValue::from_str(&items.join(",")).ok();
    if let Some(methods) = join(&cors.allow_methods) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
    }
    if let Some(allowed) = join(&cors.allow_headers) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allowed);
    }
    if let Some(max_age) = cors.max_age {
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(max_age));
    }
    response
}

/// Accepts connections on `listener` and serves them until the task is dropped.
pub async fn run(gateway: std::sync::Arc<Gateway>, listener: tokio::net::TcpListener) {
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let gateway = gateway.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let gateway = gateway.clone();
                async move { Ok::<_, Infallible>(gateway.serve(req, peer).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(socket), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_segments_beat_parameters_and_values_are_decoded() {
        let feed = compile("/api/articles/feed");
        let slug = compile("/api/articles/{slug}");
        let parts = ["api", "articles", "feed"];
        assert!(match_path(&feed, &parts).is_some());
        assert!(match_path(&slug, &parts).is_some());
        assert!(specificity(&feed) > specificity(&slug));
        let params = match_path(&slug, &["api", "articles", "a%20b"]).unwrap();
        assert_eq!(params["slug"], "a b");
        assert!(match_path(&slug, &["api", "articles", ""]).is_none());
        assert!(match_path(&slug, &["api", "articles", "x", "y"]).is_none());
    }

    #[test]
    fn a_greedy_parameter_takes_the_rest_of_the_path() {
        let proxy = compile("/files/{key+}");
        assert_eq!(
            match_path(&proxy, &["files", "a", "b.png"]).unwrap()["key"],
            "a/b.png"
        );
        assert!(match_path(&proxy, &["files"]).is_none());
    }
}
