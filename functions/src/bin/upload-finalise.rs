//! Lambda entry point for the bucket's `Object Created` events (see
//! `keel_functions::uploads::finalise`).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keel_functions::uploads::serve_finalise().await
}
