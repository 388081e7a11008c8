//! Lambda entry point for the schedule that expires unpaid orders (see
//! `keel_functions::payments::expire_due`).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keel_functions::payments::serve_expiry().await
}
