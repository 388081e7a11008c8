use http::StatusCode;
use keel::auth::hash_password;
use keel::domain::NewUser;
use keel::http::wrapped_body;
use keel::{ApiError, Deps};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

use super::UserResponse;

#[derive(Deserialize)]
struct NewUserDto {
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
}

/// POST /api/users — create an account and return it with a token (201).
///
/// 422 for invalid fields (all reported at once), 409 when the username or email is taken.
#[utoipa::path(post, path = "/api/users", tag = "users", operation_id = "register",
    summary = "Register an account",
    request_body = request::RegisterRequest,
    responses(
        (status = 201, description = "The new user, with a token", body = super::UserResponse),
        (status = 409, description = "The username or email is taken", body = crate::schema::ErrorBody),
    ))]
#[tracing::instrument(name = "register", skip_all, fields(user_id))]
pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let dto: NewUserDto = wrapped_body(&req, "user")?;
    let new = NewUser::parse(
        dto.username.as_deref(),
        dto.email.as_deref(),
        dto.password.as_deref(),
    )?;
    let hash = hash_password(new.password).await?;
    let user = deps.store.create_user(new.username, new.email, hash).await?;
    tracing::Span::current().record("user_id", user.id.as_str());
    let token = deps.tokens()?.issue(&user.id, user.session)?;
    Ok(UserResponse::reply(StatusCode::CREATED, &user, &token))
}

/// What a valid request is, for the document: the DTO above is lenient on purpose (a missing
/// field gets RealWorld's "can't be blank" 422), while the document states the limits.
#[allow(dead_code)] // Described, never constructed.
pub(crate) mod request {
    use serde::Deserialize;
    use utoipa::ToSchema;

    use crate::schema;

    /// `{"user": {...}}` to register.
    #[derive(Deserialize, ToSchema)]
    pub(crate) struct RegisterRequest {
        user: NewUserFields,
    }

    /// A new account.
    #[derive(Deserialize, ToSchema)]
    pub(crate) struct NewUserFields {
        #[schema(inline)]
        username: schema::UsernameText,
        #[schema(inline)]
        email: schema::EmailText,
        #[schema(inline)]
        password: schema::PasswordText,
    }
}
