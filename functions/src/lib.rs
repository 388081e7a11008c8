//! Keel's endpoints. Each handler lives in this library so that its Lambda binary, the local
//! server and the tests all call the same code in-process. A handler is published as an
//! [`Endpoint`] constant (`articles::GET`), and `src/bin/<name>.rs` is one line naming it:
//! `keel_functions::serve(&keel_functions::articles::GET)`. A binary therefore links only the
//! code its own handler reaches, and `template.yaml` routes to it by that name.
//!
//! Dispatch by name exists only where it is needed: the local server and the tests
//! (`keel_local::registry`).

#![warn(missing_docs)]

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;

use keel::config::Needs;
use keel::{ApiError, Deps};
use lambda_http::{Body, Request, Response, service_fn};

/// Who may use the admin routes.
pub mod access;
/// Articles, the feed, favorites and tags.
pub mod articles;
/// Comments on articles.
pub mod comments;
/// The OpenAPI document, from the handlers' annotations.
pub mod openapi;
/// Orders: placing (idempotently), history, cancel and fulfil.
pub mod orders;
/// Payments: the gateway's webhook, manual payments, and the expiry sweep.
pub mod payments;
/// The product catalog and each product's stock ledger.
pub mod products;
/// Profiles and follows.
pub mod profiles;
/// The words the OpenAPI document's schemas are written in, from the domain's constants.
pub(crate) mod schema;
/// The table's change stream: feed fan-out and clean-up (`feed-fanout`).
pub mod streams;
/// Photo and file uploads: announce, finalise, download, delete.
pub mod uploads;
/// Accounts: register, login, read and update the current user.
pub mod users;
/// RealWorld response shapes for profiles, articles and comments.
pub mod views;

/// The future a boxed handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, ApiError>> + Send>>;

/// A handler as [`serve`] and the local server hold it. `Deps` are built once and live for the
/// process, as they do in a warm Lambda, hence `'static`. Expected failures are `Err(ApiError)`;
/// they become responses in one place ([`respond`]).
pub type Handler = fn(&'static Deps, Request) -> HandlerFuture;

/// One HTTP function: the binary `template.yaml` names, its handler, and what its cold start
/// must load.
#[derive(Debug)]
pub struct Endpoint {
    /// The binary (`Metadata.BuildProperties.Binary` in the template).
    pub binary: &'static str,
    /// The handler.
    pub handler: Handler,
    /// What the cold start loads: a function that never touches a token never fetches the key.
    pub needs: Needs,
}

/// Declares an [`Endpoint`] constant for an `async fn(&Deps, Request) -> Result<Response, ApiError>`.
macro_rules! endpoint {
    ($(#[$doc:meta])* $name:ident = $binary:literal => $handler:path, $needs:ident) => {
        $(#[$doc])*
        pub const $name: $crate::Endpoint = $crate::Endpoint {
            binary: $binary,
            handler: |deps, req| Box::pin($handler(deps, req)),
            needs: keel::config::Needs::$needs,
        };
    };
}
pub(crate) use endpoint;

/// Runs `endpoint`'s handler and turns an expected failure into its response: the one place a
/// handler's error becomes HTTP, for Lambda and the local server alike.
///
/// It also writes the request's one log line and metrics line ([`keel::telemetry`]).
pub async fn respond(endpoint: &Endpoint, deps: &'static Deps, req: Request) -> Response<Body> {
    use lambda_http::RequestExt as _;
    use lambda_http::request::RequestContext;
    let started = std::time::Instant::now();
    let caching = keel::http::Caching::of(&req);
    let (route, request_id) = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => {
            (context.route_key.clone(), context.request_id.clone())
        }
        _ => (None, None),
    };
    let lambda = req.lambda_context_ref();
    let lambda_request_id = lambda.map(|context| context.request_id.clone());
    let trace_id = lambda.and_then(|context| context.xray_trace_id.clone());
    let (response, outcome) = keel::telemetry::scoped((endpoint.handler)(deps, req)).await;
    let response = caching.finish(response.unwrap_or_else(ApiError::into_response));
    let line = keel::telemetry::RequestLine {
        function: endpoint.binary,
        route: route.as_deref().unwrap_or("unknown"),
        request_id: request_id.as_deref(),
        lambda_request_id: lambda_request_id.as_deref(),
        status: response.status().as_u16(),
        duration: started.elapsed(),
        cold_start: first_request(endpoint.binary),
        trace_id: trace_id.as_deref(),
    };
    keel::telemetry::log_request(&line, &outcome);
    response
}

/// True the first time `binary` is asked in this process: its cold start served this request.
fn first_request(binary: &'static str) -> bool {
    static SEEN: std::sync::Mutex<std::collections::BTreeSet<&'static str>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    SEEN.lock().map(|mut seen| seen.insert(binary)).unwrap_or(false)
}

/// Every function's cold start, HTTP or event: logging, then the dependencies it declares,
/// built once and kept for the life of the process (a warm Lambda reuses them).
async fn cold_start(needs: Needs) -> Result<&'static Deps, lambda_http::Error> {
    keel::telemetry::init_lambda();
    Ok(Box::leak(Box::new(Deps::from_env(needs).await?)))
}

/// An HTTP function's whole `main`: the cold start `endpoint` declares, then the runtime loop.
pub async fn serve(endpoint: &'static Endpoint) -> Result<(), lambda_http::Error> {
    let deps = cold_start(endpoint.needs).await?;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Infallible>(respond(endpoint, deps, req).await)
    }))
    .await
}

/// An event function's whole `main`: the cold start, then `handle` for each event's payload,
/// with the metrics it counted written after each invocation. An `Err` fails the invocation,
/// and Lambda retries the event.
pub async fn serve_events<E, F, Fut>(
    binary: &'static str,
    needs: Needs,
    handle: F,
) -> Result<(), lambda_http::Error>
where
    E: serde::de::DeserializeOwned + Send + 'static,
    F: Fn(&'static Deps, E) -> Fut,
    Fut: Future<Output = Result<(), lambda_http::Error>> + Send,
{
    use lambda_http::lambda_runtime::{self, LambdaEvent};
    let deps = cold_start(needs).await?;
    let handle = &handle;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<E>| async move {
            let trace = event.context.xray_trace_id.clone();
            let (result, outcome) = keel::telemetry::scoped(handle(deps, event.payload)).await;
            keel::telemetry::flush_metrics(binary, trace.as_deref(), &outcome);
            result
        },
    ))
    .await
}
