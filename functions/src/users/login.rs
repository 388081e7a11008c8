use http::StatusCode;
use keel::auth::verify_password;
use keel::domain::Credentials;
use keel::error::FieldErrors;
use keel::http::wrapped_body;
use keel::{ApiError, Deps};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

use super::UserResponse;

#[derive(Deserialize)]
struct LoginDto {
    email: Option<String>,
    password: Option<String>,
}

/// POST /api/users/login — exchange email + password for a token.
///
/// An unknown email and a wrong password get the same 401 body, and both run one argon2
/// verification (against a dummy hash when there is no account), so neither the answer nor
/// its timing says which emails are registered.
#[tracing::instrument(name = "login", skip_all, fields(user_id))]
pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let dto: LoginDto = wrapped_body(&req, "user")?;
    let credentials = Credentials::parse(dto.email.as_deref(), dto.password.as_deref())?;
    let record = deps.store.find_login(&credentials.email).await?;
    let (user, hash) = match record {
        Some(record) => (Some(record.user), Some(record.password_hash)),
        None => (None, None),
    };
    let verified = verify_password(credentials.password, hash).await?;
    let Some(user) = user.filter(|_| verified) else {
        tracing::debug!("login rejected: unknown email or wrong password");
        return Err(ApiError::Unauthorized(FieldErrors::single(
            "credentials",
            "invalid",
        )));
    };
    tracing::Span::current().record("user_id", user.id.as_str());
    let token = deps.tokens()?.issue(&user.id, user.session)?;
    Ok(UserResponse::reply(StatusCode::OK, &user, &token))
}
