//! The `mark-paid` Lambda function: its handler, nothing else.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keel_functions::serve(&keel_functions::payments::MARK_PAID).await
}
