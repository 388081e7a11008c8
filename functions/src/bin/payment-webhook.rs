//! The `payment-webhook` Lambda function: its handler, nothing else.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keel_functions::serve(&keel_functions::payments::WEBHOOK).await
}
