/// Lambda logging: JSON lines when the function's log format is JSON (the template sets it),
/// honouring `AWS_LAMBDA_LOG_LEVEL`. Call once, first thing in `main`.
pub fn init_lambda() {
    lambda_http::tracing::init_default_subscriber();
}
