//! A local stand-in for API Gateway (HTTP API, payload 2.0): matches a request to a template
//! route, builds the event API Gateway would send, hands it to the function's handler in-process
//! and returns the handler's response, with CORS applied as the template configures it.

use std::collections::{BTreeMap, HashMap};
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
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
};
use lambda_http::aws_lambda_events::query_map::QueryMap;
use serde_json::Value;

use crate::router::{Miss, Router};
use crate::template::{Cors, Route, Template};

/// API Gateway's own payload limit (10 MB). Handlers apply their own, smaller one.
const GATEWAY_MAX_BODY: usize = 10 * 1024 * 1024;

struct CompiledRoute {
    route: Route,
    endpoint: &'static Endpoint,
    /// The function's own dependencies: its clients answer to its own IAM policy.
    deps: &'static Deps,
}

/// The routing table plus what every request needs.
pub struct Gateway {
    routes: Router<CompiledRoute>,
    cors: Option<Cors>,
    stream: Option<crate::streams::StreamPoke>,
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
                let compiled = CompiledRoute {
                    route: route.clone(),
                    endpoint,
                    deps,
                };
                Ok((route.method.clone(), route.path.clone(), compiled))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            routes: Router::new(routes)?,
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
        let (matched, params) = self
            .routes
            .find(request.method().as_str(), request.uri().path())
            .ok()?;
        let (parts, body) = request.into_parts();
        let peer = SocketAddr::from(([127, 0, 0, 1], 0));
        serde_json::to_value(api_gateway_event(&matched.route, &parts, params, &body, peer)).ok()
    }

    /// The route table, for the start-up banner.
    pub fn routes(&self) -> impl Iterator<Item = &Route> {
        self.routes.values().map(|r| &r.route)
    }

    /// Serves one HTTP request. A function's answer is logged by the function (its request
    /// line, as in Lambda); what the gateway answers itself (docs, preflights, no route, too
    /// large) gets a line here.
    pub async fn serve(
        &self,
        req: hyper::Request<Incoming>,
        peer: SocketAddr,
    ) -> hyper::Response<Full<Bytes>> {
        let started = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let origin = req.headers().get(header::ORIGIN).cloned();
        let (mut response, by_function) = self.dispatch(req, peer).await;
        keel::http::secure_defaults(response.headers_mut());
        if let (Some(cors), Some(origin)) = (&self.cors, origin) {
            apply_cors(cors, &origin, response.headers_mut());
        }
        if !by_function {
            tracing::info!(
                method = %method,
                path = %path,
                status = response.status().as_u16(),
                duration_ms = format!("{:.1}", started.elapsed().as_secs_f64() * 1000.0),
                "answered by the gateway"
            );
        }
        response
    }

    /// The response, and whether a function gave it.
    async fn dispatch(
        &self,
        req: hyper::Request<Incoming>,
        peer: SocketAddr,
    ) -> (hyper::Response<Full<Bytes>>, bool) {
        match self.route(req, peer).await {
            Ok(response) => (response, true),
            Err(response) => (response, false),
        }
    }

    /// A function's response (`Ok`), or the gateway's own (`Err`).
    async fn route(
        &self,
        req: hyper::Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<hyper::Response<Full<Bytes>>, hyper::Response<Full<Bytes>>> {
        if let Some(cors) = self.cors.as_ref().filter(|_| is_preflight(&req)) {
            return Err(preflight(cors, req.headers()));
        }
        if let Some(response) = crate::docs::serve(req.method(), req.uri().path()) {
            return Err(response);
        }
        let (matched, params) = match self.routes.find(req.method().as_str(), req.uri().path()) {
            Ok(found) => found,
            Err(Miss::NotFound) => return Err(to_hyper(ApiError::NotFound("route").into_response())),
            Err(Miss::MethodNotAllowed(methods)) => {
                let mut response = to_hyper(ApiError::MethodNotAllowed.into_response());
                if let Ok(allow) = HeaderValue::from_str(&methods.join(", ")) {
                    response.headers_mut().insert(header::ALLOW, allow);
                }
                return Err(response);
            }
        };
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, GATEWAY_MAX_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return Err(to_hyper(ApiError::PayloadTooLarge.into_response())),
        };
        // As JSON, the way the Lambda receives it, read by the runtime's own parser.
        let event = api_gateway_event(&matched.route, &parts, params, &body, peer);
        let mut request = match serde_json::to_string(&event)
            .map_err(anyhow::Error::from)
            .and_then(|json| lambda_http::request::from_str(&json).map_err(anyhow::Error::from))
        {
            Ok(request) => request,
            Err(error) => {
                return Err(to_hyper(
                    ApiError::Internal(anyhow::anyhow!("BUG: event did not parse: {error}")).into_response(),
                ));
            }
        };
        request.extensions_mut().insert(invocation(&matched.route.binary));
        let response = keel_functions::respond(matched.endpoint, matched.deps, request).await;
        if let Some(stream) = &self.stream
            && parts.method != Method::GET
            && response.status().is_success()
        {
            stream.poke();
        }
        Ok(to_hyper(response))
    }
}

/// The Lambda context of one invocation of `binary`, as the runtime gives it to the handler:
/// its own request id, the function it invoked, and a sampled X-Ray trace (active tracing).
fn invocation(binary: &str) -> lambda_http::Context {
    let mut context = lambda_http::Context::default();
    context.request_id = uuid::Uuid::new_v4().to_string();
    context.xray_trace_id = Some(keel::telemetry::xray::new_trace_header());
    context.invoked_function_arn = format!(
        "arn:aws:lambda:{}:000000000000:function:{binary}",
        crate::engines::LOCAL_REGION
    );
    context
}

/// The API Gateway HTTP API (payload format 2.0) event for this request, field for field as
/// AWS builds it: lower-case headers with repeated values comma-joined, cookies moved out of
/// the headers, query parameters decoded and comma-joined, non-UTF-8 bodies base64-encoded.
fn api_gateway_event(
    route: &Route,
    parts: &http::request::Parts,
    path_parameters: BTreeMap<String, String>,
    body: &Bytes,
    peer: SocketAddr,
) -> ApiGatewayV2httpRequest {
    let (headers, cookies) = headers_and_cookies(&parts.headers, peer);
    let raw_query = parts.uri.query().unwrap_or("").to_owned();
    let mut query: HashMap<String, Vec<String>> = HashMap::new();
    for (key, value) in form_urlencoded::parse(raw_query.as_bytes()) {
        query
            .entry(key.into_owned())
            .or_default()
            .push(value.into_owned());
    }
    let mut event = ApiGatewayV2httpRequest::default();
    event.version = Some("2.0".into());
    event.route_key = Some(route.key());
    event.raw_path = Some(parts.uri.path().to_owned());
    event.raw_query_string = Some(raw_query);
    event.request_context = request_context(route, parts, &headers, peer);
    event.headers = headers;
    event.cookies = (!cookies.is_empty()).then_some(cookies);
    event.query_string_parameters = QueryMap::from(query);
    event.path_parameters = path_parameters.into_iter().collect();
    if !body.is_empty() {
        match std::str::from_utf8(body) {
            Ok(text) => event.body = Some(text.to_owned()),
            Err(_) => {
                event.body = Some(base64::engine::general_purpose::STANDARD.encode(body));
                event.is_base64_encoded = true;
            }
        }
    }
    event
}

/// The headers as API Gateway passes them on (repeats comma-joined, its own `x-forwarded-*`
/// in place of the client's), and the cookies it moves out of them.
fn headers_and_cookies(received: &HeaderMap, peer: SocketAddr) -> (HeaderMap, Vec<String>) {
    let mut joined: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in received {
        // Bytes outside ASCII are passed on, read as Latin-1 (as HTTP/1.1 defines obs-text),
        // never dropped: a mangled `Authorization` must reach the function and fail there,
        // not turn the request anonymous.
        let value: String = match value.to_str() {
            Ok(text) => text.to_owned(),
            Err(_) => value.as_bytes().iter().map(|&b| char::from(b)).collect(),
        };
        if name == header::COOKIE {
            cookies.extend(
                value
                    .split(';')
                    .map(|c| c.trim().to_owned())
                    .filter(|c| !c.is_empty()),
            );
            continue;
        }
        joined
            .entry(name.as_str().to_owned())
            .and_modify(|existing| {
                existing.push(',');
                existing.push_str(&value);
            })
            .or_insert(value);
    }
    // API Gateway sets these itself, replacing whatever the client sent.
    joined.insert("x-forwarded-proto".into(), "http".into());
    joined.insert("x-forwarded-for".into(), peer.ip().to_string());
    let headers = joined
        .into_iter()
        .filter_map(|(name, value)| {
            let name = http::HeaderName::from_bytes(name.as_bytes()).ok()?;
            Some((name, HeaderValue::from_str(&value).ok()?))
        })
        .collect();
    (headers, cookies)
}

/// `requestContext`: who API Gateway says called, on which route, when.
fn request_context(
    route: &Route,
    parts: &http::request::Parts,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> ApiGatewayV2httpRequestContext {
    let header =
        |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let now = chrono::Utc::now();
    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.method = parts.method.clone();
    http.path = Some(parts.uri.path().to_owned());
    http.protocol = Some(format!("{:?}", parts.version));
    http.source_ip = Some(peer.ip().to_string());
    http.user_agent = Some(header(header::USER_AGENT).unwrap_or_default());
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.account_id = Some("000000000000".into());
    context.apiid = Some("keel-local".into());
    context.domain_name = Some(header(header::HOST).unwrap_or_else(|| "127.0.0.1".into()));
    context.domain_prefix = Some("keel-local".into());
    context.http = http;
    context.request_id = Some(uuid::Uuid::new_v4().to_string());
    context.route_key = Some(route.key());
    context.stage = Some("$default".into());
    context.time = Some(now.format("%d/%b/%Y:%H:%M:%S %z").to_string());
    context.time_epoch = now.timestamp_millis();
    context
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
