//! `keel-local`: the whole Keel API on localhost, with no AWS account, no Docker and no Java.
//!
//! Read it in the order a request travels: [`app`] (what the binary and the tests start),
//! [`template`] (the routes and settings of `template.yaml`), [`router`] and [`gateway`] (a
//! request's way to its handler), [`engines`] and [`s3`] (the embedded DynamoDB and S3), then
//! [`streams`] (the table's stream). The modules below are listed alphabetically.

#![warn(missing_docs)]

/// `keel-local admin`: grant and revoke the admin role.
pub mod admin;
/// Putting it together: [`app::spawn`] is what both the binary and the tests run.
pub mod app;
/// The bucket's background work: Object Created events to the finaliser, lifecycle expiry.
pub mod bucket_events;
/// The local engines' and clients' one set of credentials.
pub mod credentials;
/// Asynchronous records that failed every retry, parked for replay.
pub mod dead_letters;
/// The OpenAPI document and the docs page.
pub mod docs;
/// Files written whole or not at all.
pub mod durable;
/// The embedded DynamoDB and S3 engines.
pub mod engines;
/// The API Gateway stand-in: routing, events, CORS.
pub mod gateway;
/// IAM, locally: each function's AWS requests checked against its template policy.
pub mod iam;
/// Counts DynamoDB requests and capacity units, for request budgets.
pub mod meter;
/// Replaying what was parked.
pub mod ops;
/// Table and bucket creation.
pub mod provision;
/// Dispatch by binary name, for the local server and tests.
pub mod registry;
/// Which template route a request is for, as API Gateway chooses.
pub mod router;
/// The embedded S3 engine's bucket behaviour: events, response overrides, CORS, lifecycle.
pub mod s3;
/// Scheduled functions (the expiry sweep), run every period their template schedule names.
pub mod schedules;
/// The stream driver: runs the feed fan-out locally, as Lambda does in AWS.
pub mod streams;
/// `template.yaml` -> routes, CORS and table schema.
pub mod template;

pub use app::{App, Backend, Options, spawn};
