use http::StatusCode;
use keel::auth::hash_password;
use keel::domain::UserChanges;
use keel::error::FieldErrors;
use keel::http::double_option;
use keel::http::wrapped_body;
use keel::store::UserUpdate;
use keel::{ApiError, Deps};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

use super::UserResponse;

#[derive(Deserialize)]
struct UpdateUserDto {
    #[serde(default, deserialize_with = "keel::http::not_null")]
    username: Option<String>,
    #[serde(default, deserialize_with = "keel::http::not_null")]
    email: Option<String>,
    #[serde(default, deserialize_with = "keel::http::not_null")]
    password: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    bio: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    image: Option<Option<String>>,
}

/// PUT /api/user — partial update of the logged-in user.
///
/// Only the fields sent change. A blank or `null` bio/image is cleared (shown as `null`); a new
/// password is re-hashed and ends every other session (the response carries a new token); a
/// new username or email moves its uniqueness guard in the same
/// transaction as the user, so a taken name is a 409 and nothing is half-written.
#[utoipa::path(put, path = "/api/user", tag = "users", operation_id = "updateCurrentUser",
    summary = "Change the current user; a new password ends every other session",
    request_body = request::UpdateUserRequest,
    responses(
        (status = 200, description = "The user, with a token (a new one after a password change)", body = super::UserResponse),
        (status = 409, description = "The username or email is taken", body = crate::schema::ErrorBody),
    ),
    security(("token" = [])))]
#[tracing::instrument(name = "update_current_user", skip_all, fields(user_id))]
pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let session = deps.require(&req).await?;
    let dto: UpdateUserDto = wrapped_body(&req, "user")?;
    if dto.username.is_none()
        && dto.email.is_none()
        && dto.password.is_none()
        && dto.bio.is_none()
        && dto.image.is_none()
    {
        return Err(FieldErrors::single("user", "must include at least one field to change").into());
    }
    let changes = UserChanges::parse(
        dto.username.as_deref(),
        dto.email.as_deref(),
        dto.password.as_deref(),
        dto.bio.as_ref().map(Option::as_deref),
        dto.image.as_ref().map(Option::as_deref),
    )?;
    let new_password = changes.password.is_some();
    let password_hash = match changes.password {
        Some(password) => Some(hash_password(password).await?),
        None => None,
    };
    let update = UserUpdate {
        username: changes.username,
        email: changes.email,
        password_hash,
        bio: changes.bio.map(|bio| bio.map(|b| b.into_inner())),
        image: changes.image.map(|image| image.map(|i| i.into_inner())),
    };
    let user = deps
        .store
        .update_user(&session.user_id, update)
        .await?
        .ok_or_else(ApiError::token_invalid)?;
    if !new_password {
        return Ok(UserResponse::reply(StatusCode::OK, &user, &session.token));
    }
    // The new password ended every earlier session, this one included: the client gets a
    // token for the new one (RealWorld clients store the token each user response carries).
    deps.sessions.remember(&user.id, user.session);
    let token = deps.tokens()?.issue(&user.id, user.session)?;
    Ok(UserResponse::reply(StatusCode::OK, &user, &token))
}

/// What a valid request is, for the document: the DTO above is lenient on purpose (a missing
/// field gets RealWorld's "can't be blank" 422), while the document states the limits.
#[allow(dead_code)] // Described, never constructed.
pub(crate) mod request {
    use serde::Deserialize;
    use utoipa::ToSchema;

    use crate::schema;

    /// `{"user": {...}}`: the fields to change, at least one.
    #[derive(Deserialize, ToSchema)]
    pub(crate) struct UpdateUserRequest {
        user: UserChangesFields,
    }

    /// Changes to the current user; a new password ends every other session and the response
    /// carries a new token.
    #[derive(Deserialize, ToSchema)]
    #[schema(min_properties = 1)]
    #[serde(deny_unknown_fields)]
    pub(crate) struct UserChangesFields {
        #[schema(inline, nullable = false)]
        username: Option<schema::UsernameText>,
        #[schema(inline, nullable = false)]
        email: Option<schema::EmailText>,
        #[schema(inline, nullable = false)]
        password: Option<schema::PasswordText>,
        #[schema(inline, nullable)]
        bio: Option<schema::BioText>,
        #[schema(inline, nullable)]
        image: Option<schema::ImageUrlText>,
    }
}
