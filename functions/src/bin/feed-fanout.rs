//! Lambda entry point for the table's stream (see `keel_functions::streams`).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keel_functions::streams::serve().await
}
