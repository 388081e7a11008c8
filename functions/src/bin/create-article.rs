//! The `create-article` Lambda function: its handler, nothing else.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    keel_functions::serve(&keel_functions::articles::CREATE).await
}
