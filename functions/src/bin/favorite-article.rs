//! Lambda entry point. The handler is the one `keel_functions::HANDLERS` registers under this
//! binary's name; `template.yaml` names the binary in the function's `BuildProperties`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    keel_functions::serve(env!("CARGO_BIN_NAME")).await
}
