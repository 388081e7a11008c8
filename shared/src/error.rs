use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

use crate::store::StoreError;

/// Field errors are the domain's own ([`crate::domain::FieldErrors`]); every handler maps them to
/// 400/401/422 through [`ApiError`].
pub use crate::domain::FieldErrors;

/// Every way a request can fail. Variants are named after the status they produce; the only
/// mapping to HTTP is [`ApiError::into_response`], so a handler just uses `?`.
///
/// Expected failures are answered with `Ok(response)`: the Lambda runtime only sees an error
/// for bugs and init failures.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request could not be read at all (e.g. malformed JSON).
    #[error("bad request")]
    BadRequest(FieldErrors),
    /// 401: no credentials, bad credentials, or a token that does not verify.
    #[error("unauthorized")]
    Unauthorized(FieldErrors),
    /// 403: authenticated, but not allowed to touch this resource.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// 404: the named resource does not exist.
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// 405: the path exists with other methods.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: a uniqueness rule or a concurrent change stopped the write.
    #[error("conflict")]
    Conflict(FieldErrors),
    /// 413: the body is larger than [`crate::http::MAX_BODY_BYTES`].
    #[error("payload too large")]
    PayloadTooLarge,
    /// 415: the body is not JSON.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 422: the JSON was read but its content is invalid.
    #[error("unprocessable entity")]
    UnprocessableEntity(FieldErrors),
    /// 500: a bug or an infrastructure failure. The cause is logged once, never sent.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
    /// 503: storage is throttling or unreachable; the client may retry after a moment.
    #[error("service unavailable")]
    ServiceUnavailable(#[source] anyhow::Error),
    /// 429: too many failed logins; the number is the seconds until the next attempt may go.
    #[error("too many requests")]
    TooManyRequests(u64),
}

impl From<StoreError> for ApiError {
    /// How each storage outcome reads to a client. Conflicts name the field, in RealWorld's
    /// wording; "not yours" is a 403 naming the resource.
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(thing) => ApiError::NotFound(thing),
            StoreError::NotOwner(thing) => ApiError::Forbidden(thing),
            StoreError::Taken(fields) => {
                let mut errors = FieldErrors::default();
                for field in fields {
                    errors.push(field, "has already been taken");
                }
                ApiError::Conflict(errors)
            }
            StoreError::Contended(thing) => ApiError::Conflict(FieldErrors::single(
                thing,
                "was changed by another request; try again",
            )),
            StoreError::Invalid(field, message) => FieldErrors::single(field, message).into(),
            StoreError::Conflict(pairs) => ApiError::Conflict(field_errors(pairs)),
            StoreError::Rejected(pairs) => ApiError::UnprocessableEntity(field_errors(pairs)),
            StoreError::BadCursor => ApiError::bad_cursor(),
            StoreError::UnknownCaller => ApiError::token_invalid(),
            StoreError::Unavailable(cause) => ApiError::ServiceUnavailable(cause),
            StoreError::Failed(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<crate::payments::GatewayError> for ApiError {
    /// An unreachable or failing gateway is worth a retry (503); a refusal is Keel's problem
    /// (its configuration or a bug), never the client's (500, logged).
    fn from(error: crate::payments::GatewayError) -> Self {
        match error {
            crate::payments::GatewayError::Unavailable(cause) => ApiError::ServiceUnavailable(cause),
            refused @ crate::payments::GatewayError::Refused { .. } => ApiError::Internal(refused.into()),
        }
    }
}

fn field_errors(pairs: Vec<(String, String)>) -> FieldErrors {
    let mut errors = FieldErrors::default();
    for (field, message) in pairs {
        errors.push(field, message);
    }
    errors
}

impl From<FieldErrors> for ApiError {
    /// Validation failures are 422s: the JSON parsed, its content did not.
    fn from(errors: FieldErrors) -> Self {
        ApiError::UnprocessableEntity(errors)
    }
}

impl ApiError {
    /// A 401 with the message RealWorld clients expect when the header is absent.
    pub fn token_missing() -> Self {
        ApiError::Unauthorized(FieldErrors::single("token", "is missing"))
    }

    /// A 401 for a token that is malformed, forged or expired. One message for all three, so a
    /// probe learns nothing about which check failed.
    pub fn token_invalid() -> Self {
        ApiError::Unauthorized(FieldErrors::single("token", "is invalid"))
    }

    /// A 400 for a page cursor the list did not hand out (edited, or from another list).
    pub fn bad_cursor() -> Self {
        ApiError::BadRequest(FieldErrors::single(
            "cursor",
            "is not a cursor this list handed out",
        ))
    }

    /// A 403 for a route only admins may use.
    pub fn admin_only() -> Self {
        ApiError::Forbidden("admin")
    }

    /// The status this error produces.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::UnprocessableEntity(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// The JSON body the client sees: never a `Debug` dump, never the cause of a 500.
    fn body(&self) -> FieldErrors {
        match self {
            ApiError::BadRequest(e)
            | ApiError::Unauthorized(e)
            | ApiError::Conflict(e)
            | ApiError::UnprocessableEntity(e) => e.clone(),
            ApiError::Forbidden(thing) => FieldErrors::single(*thing, "forbidden"),
            ApiError::NotFound(thing) => FieldErrors::single(*thing, "not found"),
            ApiError::MethodNotAllowed => FieldErrors::single("method", "is not allowed"),
            ApiError::PayloadTooLarge => FieldErrors::single("body", "is too large"),
            ApiError::UnsupportedMediaType => {
                FieldErrors::single("body", "must be JSON (Content-Type: application/json)")
            }
            ApiError::Internal(_) => FieldErrors::single("server", "internal error"),
            ApiError::ServiceUnavailable(_) => FieldErrors::single("server", "is busy; try again shortly"),
            ApiError::TooManyRequests(seconds) => FieldErrors::single(
                "credentials",
                format!("too many failed attempts; try again in {seconds} seconds"),
            ),
        }
    }

    /// The single place an error becomes a response. A 500 is logged here, once, with its
    /// whole cause chain; the client gets a fixed message.
    pub fn into_response(self) -> Response<Body> {
        match &self {
            ApiError::Internal(cause) => tracing::error!(error = format!("{cause:#}"), "request failed"),
            ApiError::ServiceUnavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "storage unavailable")
            }
            _ => {}
        }
        let mut response = crate::http::json(self.status(), &Errors { errors: self.body() });
        match self {
            ApiError::Unauthorized(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
            }
            ApiError::ServiceUnavailable(_) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::TooManyRequests(seconds) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            _ => {}
        }
        response
    }
}

#[derive(Serialize)]
struct Errors {
    errors: FieldErrors,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(response: Response<Body>) -> serde_json::Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[test]
    fn every_error_is_a_json_body_in_the_realworld_shape() {
        let cases = [
            (
                ApiError::token_missing(),
                401,
                serde_json::json!({"token": ["is missing"]}),
            ),
            (
                ApiError::Forbidden("article"),
                403,
                serde_json::json!({"article": ["forbidden"]}),
            ),
            (
                ApiError::NotFound("profile"),
                404,
                serde_json::json!({"profile": ["not found"]}),
            ),
            (
                FieldErrors::single("title", "can't be blank").into(),
                422,
                serde_json::json!({"title": ["can't be blank"]}),
            ),
        ];
        for (error, status, errors) in cases {
            let response = error.into_response();
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(body_of(response), serde_json::json!({ "errors": errors }));
        }
    }

    #[test]
    fn an_internal_error_never_reveals_its_cause() {
        let response = ApiError::from(anyhow::anyhow!("table keel-prod: secret detail")).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let text = String::from_utf8(response.body().to_vec()).unwrap();
        assert!(!text.contains("secret detail"), "{text}");
    }

    #[test]
    fn storage_outcomes_read_as_the_matching_status() {
        let cases = [
            (StoreError::NotFound("article"), 404),
            (StoreError::NotOwner("comment"), 403),
            (StoreError::Taken(vec!["username", "email"]), 409),
            (StoreError::Contended("user"), 409),
            (StoreError::Invalid("profile", "cannot follow yourself"), 422),
            (StoreError::UnknownCaller, 401),
            (StoreError::Unavailable(anyhow::anyhow!("throttled")), 503),
            (StoreError::Failed(anyhow::anyhow!("bug")), 500),
        ];
        for (error, status) in cases {
            let label = error.to_string();
            assert_eq!(ApiError::from(error).status().as_u16(), status, "{label}");
        }
        let taken = body_of(ApiError::from(StoreError::Taken(vec!["email"])).into_response());
        assert_eq!(
            taken,
            serde_json::json!({"errors": {"email": ["has already been taken"]}})
        );
        let busy = ApiError::from(StoreError::Unavailable(anyhow::anyhow!("x"))).into_response();
        assert_eq!(busy.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn a_401_tells_the_client_which_scheme_to_use() {
        let response = ApiError::token_invalid().into_response();
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Token");
    }
}
