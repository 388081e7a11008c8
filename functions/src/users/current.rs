use http::StatusCode;
use keel::http::json;
use keel::{ApiError, Deps};
use lambda_http::{Body, Request, Response};

use super::UserResponse;

/// GET /api/user — the logged-in user, with the token they presented.
///
/// A valid token for an account that no longer exists is a 401, like any other bad token.
#[tracing::instrument(name = "get_current_user", skip_all, fields(user_id))]
pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let session = deps.tokens()?.require(&req)?;
    let user = deps
        .store
        .get_user(&session.user_id)
        .await?
        .ok_or_else(ApiError::token_invalid)?;
    Ok(json(StatusCode::OK, &UserResponse::new(&user, &session.token)))
}
