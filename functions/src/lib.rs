//! Keel's endpoints. Each handler lives in this library so that its Lambda binary, the local
//! server and the tests all call the same code in-process; `src/bin/<name>.rs` is only the
//! cold-start wrapper, and `template.yaml` routes to it by that name.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;

use keel::Deps;
use lambda_http::{Body, Request, Response, service_fn};

/// Accounts: register, login, read and update the current user.
pub mod users;

/// The future a boxed handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

/// A handler as the local server and [`serve`] hold it. `Deps` are built once and live for the
/// process, as they do in a warm Lambda, hence `'static`.
pub type Handler = fn(&'static Deps, Request) -> HandlerFuture;

/// Every endpoint, by the binary name `template.yaml` gives its function
/// (`Metadata.BuildProperties.Binary`). A test fails when the template, `src/bin/` and this
/// table disagree.
pub const HANDLERS: &[(&str, Handler)] = &[
    ("register-user", |deps, req| {
        Box::pin(users::register::handle(deps, req))
    }),
    ("login", |deps, req| Box::pin(users::login::handle(deps, req))),
    ("get-current-user", |deps, req| {
        Box::pin(users::current::handle(deps, req))
    }),
    ("update-current-user", |deps, req| {
        Box::pin(users::update::handle(deps, req))
    }),
];

/// The handler registered under `binary`.
pub fn handler(binary: &str) -> Option<Handler> {
    HANDLERS
        .iter()
        .find(|(name, _)| *name == binary)
        .map(|(_, handler)| *handler)
}

/// A Lambda function's whole `main`: logging, dependencies from the environment (once per cold
/// start), then the runtime loop. Each binary passes its own name, so a binary can only ever
/// run the handler registered for it.
pub async fn serve(binary: &str) -> Result<(), lambda_http::Error> {
    keel::telemetry::init_lambda();
    let handler = handler(binary).ok_or_else(|| format!("no handler is registered for binary {binary}"))?;
    let deps: &'static Deps = Box::leak(Box::new(Deps::from_env().await?));
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Infallible>(handler(deps, req).await)
    }))
    .await
}
