use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::{Serialize, de::DeserializeOwned};

use crate::error::{ApiError, FieldErrors};

/// The largest request body a handler reads. API Gateway allows 10 MB and Lambda 6 MB, but no
/// JSON document of this API comes near 1 MiB, so anything larger is refused before parsing.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The content type of every JSON response, charset included as the RealWorld spec asks.
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// Serialises `value` as the response body.
///
/// Serialising our own response types cannot fail (string keys, no non-finite floats), so a
/// failure is a bug and is reported as a bare 500 rather than panicking inside the runtime.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(bytes) => with_json_type(status, Body::Binary(bytes)),
        Err(error) => {
            tracing::error!(%error, "BUG: response did not serialise");
            with_json_type(
                StatusCode::INTERNAL_SERVER_ERROR,
                Body::Text(r#"{"errors":{"server":["internal error"]}}"#.into()),
            )
        }
    }
}

/// A body-less response, e.g. 204 after a delete.
pub fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = status;
    response
}

fn with_json_type(status: StatusCode, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
    response
}

/// Marks `response` as the same for every caller (tags, the public catalog): any cache may
/// keep it, but must ask again before each use. Its strong `ETag` ([`Caching`]) makes asking
/// cheap — a body-less `304` while nothing changed — and a writer sees their own write at once,
/// which no `max-age` allows: after posting a tag, "Popular Tags" must show it.
pub fn public(mut response: Response<Body>) -> Response<Body> {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, no-cache"),
    );
    response
}

/// Marks `response` as never to be stored: it carries a token.
pub fn no_store(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// What of a request decides how its response may be cached, taken before the handler
/// consumes the request; [`Caching::finish`] then sets the headers every response carries.
#[derive(Debug)]
pub struct Caching {
    read: bool,
    personal: bool,
    if_none_match: Option<String>,
}

impl Caching {
    /// Reads the method, whether the caller identified themselves, and `If-None-Match`.
    pub fn of(req: &Request) -> Self {
        let read = req.method() == http::Method::GET || req.method() == http::Method::HEAD;
        Self {
            read,
            personal: req.headers().contains_key(header::AUTHORIZATION),
            if_none_match: req
                .headers()
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }
    }

    /// Adds to every response, errors included: `X-Content-Type-Options: nosniff`; a
    /// `Cache-Control` unless the handler chose one (`no-store` for writes and errors,
    /// `private, no-cache` for a read that depends on the caller, `no-cache` otherwise); `Vary:
    /// Authorization` on reads; and on a successful read a strong `ETag` over the body, answering
    /// `304 Not Modified` with no body when `If-None-Match` names it.
    pub fn finish(self, mut response: Response<Body>) -> Response<Body> {
        let ok = response.status() == StatusCode::OK;
        let headers = response.headers_mut();
        if !headers.contains_key(header::CACHE_CONTROL) {
            let policy = match (self.read && ok, self.personal) {
                (false, _) => "no-store",
                (true, true) => "private, no-cache",
                (true, false) => "no-cache",
            };
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
        }
        secure_defaults(headers);
        if !self.read {
            return response;
        }
        headers.append(header::VARY, HeaderValue::from_static("Authorization"));
        let stored = headers
            .get(header::CACHE_CONTROL)
            .is_some_and(|v| v.as_bytes() != b"no-store");
        let body: &[u8] = response.body().as_ref();
        if !ok || !stored || body.is_empty() {
            return response;
        }
        let tag = entity_tag(body);
        let matched = self.if_none_match.as_deref().is_some_and(|header| {
            header
                .split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == "*" || t == tag)
        });
        let Ok(value) = HeaderValue::from_str(&tag) else {
            return response;
        };
        response.headers_mut().insert(header::ETAG, value);
        if matched {
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            *response.body_mut() = Body::Empty;
            response.headers_mut().remove(header::CONTENT_TYPE);
        }
        response
    }
}

/// The headers every answer carries, whoever made it (a function, or the local gateway's own
/// 404, 405, 413 and docs pages): `X-Content-Type-Options: nosniff`, and `Cache-Control:
/// no-store` where nothing chose a policy.
pub fn secure_defaults(headers: &mut http::HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// A strong validator for exactly these bytes: a 128-bit BLAKE2b digest, quoted.
fn entity_tag(body: &[u8]) -> String {
    use blake2::Digest as _;
    let digest = blake2::Blake2b::<blake2::digest::consts::U16>::digest(body);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Deserialises an optional field that may be absent but not `null`: in a partial update,
/// `{"password": null}` is refused (422) rather than read as "no change". Use with
/// `#[serde(default, deserialize_with = "keel::http::not_null")]`.
pub fn not_null<'de, T, D>(deserializer: D) -> Result<Option<T>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    let value = <serde_json::Value as serde::Deserialize>::deserialize(deserializer)?;
    if value.is_null() {
        return Err(serde::de::Error::custom("a field may be left out but not null"));
    }
    T::deserialize(value).map(Some).map_err(serde::de::Error::custom)
}

/// Deserialises a field that distinguishes "absent" (`None`) from `null` (`Some(None)`), for
/// partial updates where `null` means "clear". Use with `#[serde(default, deserialize_with)]`.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

/// Reads a JSON body into `T`, refusing what no well-behaved client sends.
///
/// - a `Content-Type` that is present and not JSON: 415 (an absent one is tolerated);
/// - more than [`MAX_BODY_BYTES`]: 413;
/// - an empty body: 422 `body: can't be blank`;
/// - bytes that are not JSON: 400;
/// - JSON of the wrong shape (a number where a string belongs): 422.
///
/// Missing fields are best modelled as `Option` in `T`, so the domain `parse` can answer
/// RealWorld's `"can't be blank"` rather than serde's wording.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    if req
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|content_type| !is_json(content_type))
    {
        return Err(ApiError::UnsupportedMediaType);
    }
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(FieldErrors::single("body", "can't be blank").into());
    }
    serde_json::from_slice(bytes).map_err(|error| {
        use serde_json::error::Category;
        match error.classify() {
            Category::Data => FieldErrors::single("body", strip_position(&error)).into(),
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::BadRequest(FieldErrors::single("body", "is not valid JSON"))
            }
        }
    })
}

/// Reads a RealWorld request body: one JSON object whose single key (`"user"`, `"article"`, …)
/// wraps the payload. A missing or `null` wrapper is a 422 `<key>: can't be blank`.
pub fn wrapped_body<T: DeserializeOwned>(req: &Request, key: &'static str) -> Result<T, ApiError> {
    let mut document: serde_json::Value = json_body(req)?;
    let inner = match document.get_mut(key).map(serde_json::Value::take) {
        Some(value) if !value.is_null() => value,
        _ => return Err(FieldErrors::single(key, "can't be blank").into()),
    };
    serde_json::from_value(inner).map_err(|error| FieldErrors::single(key, strip_position(&error)).into())
}

/// serde's message without " at line 1 column 9", which helps nobody reading an API error.
fn strip_position(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message,
    }
}

fn is_json(content_type: &HeaderValue) -> bool {
    let Ok(value) = content_type.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A path parameter API Gateway extracted (`{slug}` in the route). Routing guarantees it is
/// there; if not, the request did not come through the route, which is a 404.
pub fn path_param(req: &Request, name: &str) -> Result<String, ApiError> {
    use lambda_http::RequestExt as _;
    req.path_parameters_ref()
        .and_then(|params| params.first(name))
        .map(str::to_owned)
        .ok_or(ApiError::NotFound("route"))
}

/// The `{slug}` of the path. A value no article could have is a 404, like an unknown one,
/// and never reaches the table.
pub fn slug_param(req: &Request) -> Result<crate::domain::Slug, ApiError> {
    crate::domain::Slug::from_path(&path_param(req, "slug")?).ok_or(ApiError::NotFound("article"))
}

/// The `{username}` of the path; a name no user could have is a 404 `profile`.
pub fn username_param(req: &Request) -> Result<crate::domain::Username, ApiError> {
    crate::domain::Username::parse(Some(&path_param(req, "username")?))
        .map_err(|_| ApiError::NotFound("profile"))
}

/// The comment `{id}` of the path; anything but a positive integer is a 404 `comment`.
pub fn comment_id_param(req: &Request) -> Result<crate::domain::CommentId, ApiError> {
    crate::domain::CommentId::from_path(&path_param(req, "id")?).ok_or(ApiError::NotFound("comment"))
}

/// The product `{id}` of the path; anything but a UUID is a 404 `product`.
pub fn product_id_param(req: &Request) -> Result<crate::domain::ProductId, ApiError> {
    crate::domain::ProductId::parse(&path_param(req, "id")?).ok_or(ApiError::NotFound("product"))
}

/// The order `{id}` of the path; anything but a UUID is a 404 `order`.
pub fn order_id_param(req: &Request) -> Result<crate::domain::OrderId, ApiError> {
    crate::domain::OrderId::parse(&path_param(req, "id")?).ok_or(ApiError::NotFound("order"))
}

/// The `cursor` query parameter: absent, or one this API handed out (else 400).
pub fn cursor_param(req: &Request) -> Result<Option<crate::domain::Cursor>, ApiError> {
    query_param(req, "cursor")
        .map(|raw| crate::domain::Cursor::parse(&raw).map_err(|_| ApiError::bad_cursor()))
        .transpose()
}

/// A query-string parameter, if present (the first value when repeated).
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    use lambda_http::RequestExt as _;
    req.query_string_parameters_ref()
        .and_then(|params| params.first(name))
        .map(str::to_owned)
}

/// The token in `Authorization: Token <jwt>` (RealWorld's scheme) or `Bearer <jwt>`.
///
/// `Ok(None)` when the header is absent, so optional-auth routes can serve anonymous callers;
/// a header that is present but unreadable is a 401, never silently anonymous.
pub fn bearer_token(req: &Request) -> Result<Option<&str>, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ApiError::token_invalid())?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(ApiError::token_invalid)?;
    let token = token.trim();
    if !(scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer")) || token.is_empty() {
        return Err(ApiError::token_invalid());
    }
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Probe {
        #[allow(dead_code)]
        name: Option<String>,
    }

    fn request(content_type: Option<&str>, body: &str) -> Request {
        let mut builder = http::Request::builder().method("POST").uri("/api/users");
        if let Some(content_type) = content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        builder.body(Body::Text(body.to_owned())).unwrap()
    }

    fn status_of(result: Result<Probe, ApiError>) -> u16 {
        result.map(|_| 200).unwrap_or_else(|e| e.status().as_u16())
    }

    #[test]
    fn bodies_are_judged_by_content_type_size_and_shape() {
        let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        let cases = [
            (
                "json",
                Some("application/json"),
                r#"{"name":"a"}"#.to_owned(),
                200,
            ),
            (
                "json with charset",
                Some("application/json; charset=utf-8"),
                r#"{}"#.to_owned(),
                200,
            ),
            (
                "vendor json",
                Some("application/vnd.api+json"),
                r#"{}"#.to_owned(),
                200,
            ),
            ("no content type", None, r#"{}"#.to_owned(), 200),
            (
                "form data",
                Some("application/x-www-form-urlencoded"),
                "name=a".to_owned(),
                415,
            ),
            ("text", Some("text/plain"), r#"{}"#.to_owned(), 415),
            ("too large", Some("application/json"), big, 413),
            ("empty", Some("application/json"), "  ".to_owned(), 422),
            (
                "malformed",
                Some("application/json"),
                r#"{"name":"#.to_owned(),
                400,
            ),
            (
                "not json at all",
                Some("application/json"),
                "hello".to_owned(),
                400,
            ),
            (
                "wrong shape",
                Some("application/json"),
                r#"{"name":42}"#.to_owned(),
                422,
            ),
        ];
        for (case, content_type, body, expected) in cases {
            let got = status_of(json_body::<Probe>(&request(content_type, &body)));
            assert_eq!(got, expected, "case: {case}");
        }
    }

    #[test]
    fn a_missing_or_null_wrapper_is_a_blank_field() {
        for body in [r#"{}"#, r#"{"user":null}"#, r#"[]"#] {
            let error = wrapped_body::<Probe>(&request(None, body), "user").unwrap_err();
            assert_eq!(error.status(), 422, "body {body}");
        }
        let probe: Probe = wrapped_body(&request(None, r#"{"user":{"name":"a"}}"#), "user").unwrap();
        assert_eq!(probe.name.as_deref(), Some("a"));
    }

    #[test]
    fn both_token_and_bearer_schemes_are_accepted_and_nothing_else() {
        let with = |value: &str| {
            http::Request::builder()
                .header(header::AUTHORIZATION, value)
                .body(Body::Empty)
                .unwrap()
        };
        assert_eq!(bearer_token(&with("Token abc")).unwrap(), Some("abc"));
        assert_eq!(bearer_token(&with("Bearer abc")).unwrap(), Some("abc"));
        assert_eq!(bearer_token(&with("bearer  abc ")).unwrap(), Some("abc"));
        for bad in ["Basic abc", "Token", "abc", "Token   "] {
            assert_eq!(bearer_token(&with(bad)).unwrap_err().status(), 401, "case: {bad}");
        }
        let anonymous = http::Request::builder().body(Body::Empty).unwrap();
        assert_eq!(bearer_token(&anonymous).unwrap(), None);
    }
}
