//! `/api/profiles/{username}` and its `/follow`.

use http::StatusCode;
use keel::http::{json, username_param};
use keel::{ApiError, Deps};
use lambda_http::{Body, Request, Response};

use crate::endpoint;
use crate::views::ProfileResponse;

endpoint!(
    /// `get-profile`: GET /api/profiles/{username}.
    GET = "get-profile" => get, TableAndTokens
);
endpoint!(
    /// `follow-user`: POST /api/profiles/{username}/follow.
    FOLLOW = "follow-user" => follow, TableAndTokens
);
endpoint!(
    /// `unfollow-user`: DELETE /api/profiles/{username}/follow.
    UNFOLLOW = "unfollow-user" => unfollow, TableAndTokens
);

/// GET /api/profiles/{username} — a profile; `following` reflects the caller when a token is
/// sent. An invalid token is a 401, not an anonymous read.
#[utoipa::path(get, path = "/api/profiles/{username}", tag = "profiles", operation_id = "getProfile",
    summary = "A profile; `following` reflects the caller",
    params(("username" = String, Path, description = "The username")),
    responses((status = 200, description = "The profile", body = ProfileResponse)),
    security((), ("token" = [])))]
#[tracing::instrument(name = "get_profile", skip_all)]
pub async fn get(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let viewer = deps.optional(&req).await?;
    let username = username_param(&req)?;
    let profile = deps
        .store
        .profile(&username, viewer.as_ref().map(|s| &s.user_id))
        .await?
        .ok_or(ApiError::NotFound("profile"))?;
    Ok(json(StatusCode::OK, &ProfileResponse::new(&profile)))
}

/// POST /api/profiles/{username}/follow — follow a user (idempotent).
#[utoipa::path(post, path = "/api/profiles/{username}/follow", tag = "profiles", operation_id = "followUser",
    summary = "Follow a user (idempotent); their newest articles are in the feed at once",
    params(("username" = String, Path, description = "The username")),
    responses(
        (status = 200, description = "The profile", body = ProfileResponse),
        (status = 422, description = "The caller's own profile", body = crate::schema::ErrorBody),
    ),
    security(("token" = [])))]
pub async fn follow(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    set_following::<true>(deps, req).await
}

/// DELETE /api/profiles/{username}/follow — stop following a user (idempotent).
#[utoipa::path(delete, path = "/api/profiles/{username}/follow", tag = "profiles", operation_id = "unfollowUser",
    summary = "Stop following a user (idempotent)",
    params(("username" = String, Path, description = "The username")),
    responses(
        (status = 200, description = "The profile", body = ProfileResponse),
        (status = 422, description = "The caller's own profile", body = crate::schema::ErrorBody),
    ),
    security(("token" = [])))]
pub async fn unfollow(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    set_following::<false>(deps, req).await
}

#[tracing::instrument(name = "set_following", skip_all, fields(user_id, follow = FOLLOW))]
async fn set_following<const FOLLOW: bool>(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let session = deps.require(&req).await?;
    let username = username_param(&req)?;
    let profile = if FOLLOW {
        deps.store.follow(&session.user_id, &username).await?
    } else {
        deps.store.unfollow(&session.user_id, &username).await?
    };
    Ok(json(StatusCode::OK, &ProfileResponse::new(&profile)))
}
