//! Keel's domain crate. Every Lambda function and the local server build on it.
//!
//! Read it in the order a request meets the code: [`http`] (the request parsed), [`auth`]
//! (who is asking), [`domain`] (what they sent, validated), [`store`] (DynamoDB), and
//! [`error`] (the one place a failure becomes a status). The modules below are listed
//! alphabetically.

#![warn(missing_docs)]

/// Password hashing (argon2id) and session tokens (JWT). Read this before touching login.
pub mod auth;
/// Settings read from the environment at cold start, and the SDK clients built from them.
pub mod config;
/// Domain newtypes (`Username`, `Email`, `Password`, …) and entities. No AWS and no HTTP in here:
/// untrusted input is parsed into these types at the edge and never re-validated.
pub mod domain;
/// [`ApiError`](error::ApiError): the one error type. Each variant is named after the status it
/// produces, and `into_response` is the only place an error becomes HTTP.
pub mod error;
/// The uploads bucket: presigned requests, and the reads and writes finalising needs.
pub mod files;
/// Request parsing and response writing for `lambda_http`: JSON bodies with size and content-type
/// checks, the `Authorization` header, and JSON responses. Start here when reading a handler.
pub mod http;
/// Checking uploaded files: real type, declared size, and for images a metadata-free re-encode
/// and a thumbnail, under decode limits.
pub mod media;
/// Taking the money: the payment provider (manual or Stripe), Stripe's API and its webhook
/// signatures. Handlers call it beside the store.
pub mod payments;
/// DynamoDB access, one module per aggregate. Item <-> entity mapping lives only here, and each
/// access pattern is documented next to the code that serves it (and in `docs/access-patterns.md`).
pub mod store;
/// Structured logging set-up for Lambda and for the local server.
pub mod telemetry;

pub use config::Deps;
pub use error::ApiError;
