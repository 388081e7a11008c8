use std::net::IpAddr;

use http::StatusCode;
use keel::auth::verify_password;
use keel::domain::Credentials;
use keel::error::FieldErrors;
use keel::http::wrapped_body;
use keel::store::LoginGate;
use keel::telemetry::{self, Metric};
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
/// its timing says which emails are registered. Failures are counted per email and address, per
/// address, and per email from every address (registered or not): 429 with `Retry-After` for the
/// guesser's address past a few, and for the email a wait that grows but never locks its owner
/// out (`keel::store::throttle` explains the limits).
#[utoipa::path(post, path = "/api/users/login", tag = "users", operation_id = "login",
    summary = "Log in",
    request_body = request::LoginRequest,
    responses(
        (status = 200, description = "The user, with a token", body = super::UserResponse),
        (status = 401, description = "Unknown email or wrong password (one answer for both)", body = crate::schema::ErrorBody),
        (status = 429, description = "Too many failed logins for this email from this address, from this address, or (for a while) for this email; retry after `Retry-After` seconds",
            body = crate::schema::ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
#[tracing::instrument(name = "login", skip_all, fields(user_id))]
pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let dto: LoginDto = wrapped_body(&req, "user")?;
    let credentials = Credentials::parse(dto.email.as_deref(), dto.password.as_deref())?;
    let source = source_address(&req);
    let (record, had_failures) = match deps.store.open_login(&credentials.email, source).await? {
        LoginGate::Throttled(seconds) => {
            telemetry::count(Metric::LoginThrottled, 1);
            return Err(ApiError::TooManyRequests(seconds));
        }
        LoginGate::Open { record, had_failures } => (record, had_failures),
    };
    let (user, hash) = match record {
        Some(record) => (Some(record.user), Some(record.password_hash)),
        None => (None, None),
    };
    let verified = verify_password(credentials.password, hash).await?;
    let Some(user) = user.filter(|_| verified) else {
        tracing::debug!("login rejected: unknown email or wrong password");
        telemetry::count(Metric::LoginFailed, 1);
        deps.store
            .record_login_failure(&credentials.email, source)
            .await?;
        return Err(ApiError::Unauthorized(FieldErrors::single(
            "credentials",
            "invalid",
        )));
    };
    if had_failures {
        deps.store
            .clear_login_failures(&credentials.email, source)
            .await?;
    }
    tracing::Span::current().record("user_id", user.id.as_str());
    let token = deps.tokens()?.issue(&user.id, user.session)?;
    Ok(UserResponse::reply(StatusCode::OK, &user, &token))
}

/// The caller's address as API Gateway saw it (never a client-supplied header); `None` when
/// there is none or it is not an address.
fn source_address(req: &Request) -> Option<IpAddr> {
    use lambda_http::RequestExt as _;
    use lambda_http::request::RequestContext;
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.as_deref()?.parse().ok(),
        _ => None,
    }
}

/// What a valid request is, for the document: the DTO above is lenient on purpose (a missing
/// field gets RealWorld's "can't be blank" 422), while the document states the limits.
#[allow(dead_code)] // Described, never constructed.
pub(crate) mod request {
    use serde::Deserialize;
    use utoipa::ToSchema;

    use crate::schema;

    /// `{"user": {"email", "password"}}` to log in.
    #[derive(Deserialize, ToSchema)]
    pub(crate) struct LoginRequest {
        user: LoginFields,
    }

    /// Credentials.
    #[derive(Deserialize, ToSchema)]
    pub(crate) struct LoginFields {
        #[schema(inline)]
        email: schema::EmailText,
        #[schema(inline)]
        password: schema::LoginPasswordText,
    }
}
