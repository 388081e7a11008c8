//! Who may use the admin routes.

use keel::auth::Session;
use keel::{ApiError, Deps};
use lambda_http::Request;

/// The caller of an admin route. The role is read from the user record on every request, not
/// from the token, so revoking it takes effect on the next request. Non-admins get a 403.
pub async fn require_admin(deps: &Deps, req: &Request) -> Result<Session, ApiError> {
    let session = deps.require(req).await?;
    match deps.store.role(&session.user_id).await? {
        Some(role) if role.is_admin() => Ok(session),
        Some(_) => Err(ApiError::admin_only()),
        None => Err(ApiError::token_invalid()),
    }
}

/// Whether the caller of a route open to everyone is an admin (who sees more: archived
/// products, every order). Read from the user record, like [`require_admin`].
pub async fn is_admin(deps: &Deps, session: &Session) -> Result<bool, ApiError> {
    Ok(deps
        .store
        .role(&session.user_id)
        .await?
        .is_some_and(|role| role.is_admin()))
}
