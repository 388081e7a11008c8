use http::StatusCode;
use keel::{ApiError, Deps};
use lambda_http::{Body, Request, Response};

use super::UserResponse;

/// GET /api/user — the logged-in user, with the token they presented.
///
/// A valid token for an account that no longer exists, or from a session that was ended, is a
/// 401 like any other bad token. The user's record carries the session epoch, so this checks
/// the session with the read it makes anyway.
#[utoipa::path(get, path = "/api/user", tag = "users", operation_id = "getCurrentUser",
    summary = "The current user",
    responses((status = 200, description = "The user, with the token", body = super::UserResponse)),
    security(("token" = [])))]
#[tracing::instrument(name = "get_current_user", skip_all, fields(user_id))]
pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let (session, epoch) = deps.signed(&req)?.ok_or_else(ApiError::token_missing)?;
    let user = deps
        .store
        .get_user(&session.user_id)
        .await?
        .filter(|user| user.session <= epoch)
        .ok_or_else(ApiError::token_invalid)?;
    deps.sessions.remember(&user.id, user.session);
    Ok(UserResponse::reply(StatusCode::OK, &user, &session.token))
}
