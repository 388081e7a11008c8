use http::StatusCode;
use keel::http::empty;
use keel::{ApiError, Deps};
use lambda_http::{Body, Request, Response};

/// POST /api/user/logout — "sign out everywhere": every token issued to the caller so far,
/// this one included, stops working (at once here, within `keel::auth::SESSION_RECHECK`
/// everywhere else). RealWorld has no logout route; its clients simply forget the token, and
/// keep working unchanged.
#[utoipa::path(post, path = "/api/user/logout", tag = "users", operation_id = "logout",
    summary = "Sign out everywhere: every token issued so far stops working",
    responses((status = 204, description = "Signed out")),
    security(("token" = [])))]
#[tracing::instrument(name = "logout", skip_all, fields(user_id))]
pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let session = deps.require(&req).await?;
    let epoch = deps
        .store
        .end_sessions(&session.user_id)
        .await?
        .ok_or_else(ApiError::token_invalid)?;
    deps.sessions.remember(&session.user_id, epoch);
    Ok(empty(StatusCode::NO_CONTENT))
}
