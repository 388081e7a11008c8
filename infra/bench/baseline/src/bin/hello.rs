//! The baseline every function's cold start is compared with: a `lambda_http` function that
//! echoes the request path, built with the same profile as Keel's functions.

use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|req: Request| async move {
        Ok::<_, Error>(Response::new(Body::Text(req.uri().path().to_owned())))
    }))
    .await
}
