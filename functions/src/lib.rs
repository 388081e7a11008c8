//! Keel's endpoints. Each handler lives in this library so that its Lambda binary, the local
//! server and the tests all call the same code in-process; `src/bin/<name>.rs` is only the
//! cold-start wrapper, and `template.yaml` routes to it by that name.

#![warn(missing_docs)]

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;

use keel::Deps;
use lambda_http::{Body, Request, Response, service_fn};

/// Articles, the feed, favorites and tags.
pub mod articles;
/// Comments on articles.
pub mod comments;
/// Profiles and follows.
pub mod profiles;
/// The table's change stream: feed fan-out and clean-up (`feed-fanout`).
pub mod streams;
/// Accounts: register, login, read and update the current user.
pub mod users;
/// RealWorld response shapes for profiles, articles and comments.
pub mod views;

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
    ("get-profile", |deps, req| Box::pin(profiles::get(deps, req))),
    ("follow-user", |deps, req| Box::pin(profiles::follow(deps, req))),
    ("unfollow-user", |deps, req| {
        Box::pin(profiles::unfollow(deps, req))
    }),
    ("list-articles", |deps, req| Box::pin(articles::list(deps, req))),
    ("get-feed", |deps, req| Box::pin(articles::feed(deps, req))),
    ("get-article", |deps, req| Box::pin(articles::get(deps, req))),
    ("create-article", |deps, req| {
        Box::pin(articles::create(deps, req))
    }),
    ("update-article", |deps, req| {
        Box::pin(articles::update(deps, req))
    }),
    ("delete-article", |deps, req| {
        Box::pin(articles::delete(deps, req))
    }),
    ("favorite-article", |deps, req| {
        Box::pin(articles::favorite(deps, req))
    }),
    ("unfavorite-article", |deps, req| {
        Box::pin(articles::unfavorite(deps, req))
    }),
    ("list-tags", |deps, req| Box::pin(articles::tags(deps, req))),
    ("list-comments", |deps, req| Box::pin(comments::list(deps, req))),
    ("add-comment", |deps, req| Box::pin(comments::add(deps, req))),
    ("delete-comment", |deps, req| {
        Box::pin(comments::delete(deps, req))
    }),
];

/// Binaries that are not HTTP endpoints: they consume the table's stream.
pub const STREAM_BINARIES: &[&str] = &["feed-fanout"];

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
