//! The API's own description, served by the local server: the OpenAPI document at
//! [`DOCUMENT_PATH`] and a docs page at [`PAGE_PATH`] (Swagger UI, vendored into the binary, so
//! it works offline). Neither is a template route: in AWS the document ships as a file, not as
//! a function.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::Full;

/// Where the OpenAPI document is served.
pub const DOCUMENT_PATH: &str = "/api/openapi.json";
/// Where the docs page is served.
pub const PAGE_PATH: &str = "/api/docs";

/// The answer for `path` when it is the document or the docs page (or one of its files);
/// `None` for every other path.
pub fn serve(method: &Method, path: &str) -> Option<hyper::Response<Full<Bytes>>> {
    let is_docs = path == DOCUMENT_PATH || path == PAGE_PATH || path.starts_with("/api/docs/");
    if !is_docs {
        return None;
    }
    if method != Method::GET && method != Method::HEAD {
        return Some(plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            Bytes::from_static(b"GET only"),
        ));
    }
    if path == DOCUMENT_PATH {
        return Some(plain(StatusCode::OK, "application/json", document().clone()));
    }
    if path == PAGE_PATH {
        // Relative links in the page resolve under the folder, so send clients there.
        let mut response = plain(StatusCode::MOVED_PERMANENTLY, "text/plain", Bytes::new());
        response
            .headers_mut()
            .insert(header::LOCATION, HeaderValue::from_static("/api/docs/"));
        return Some(response);
    }
    let file = path.trim_start_matches("/api/docs/");
    static CONFIG: OnceLock<Arc<utoipa_swagger_ui::Config<'static>>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| Arc::new(utoipa_swagger_ui::Config::new([DOCUMENT_PATH])));
    Some(match utoipa_swagger_ui::serve(file, config.clone()) {
        Ok(Some(found)) => {
            let mut response = plain(
                StatusCode::OK,
                &found.content_type,
                Bytes::from(found.bytes.into_owned()),
            );
            if found.gzpipped {
                response
                    .headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            response
        }
        Ok(None) => plain(
            StatusCode::NOT_FOUND,
            "text/plain",
            Bytes::from_static(b"not found"),
        ),
        Err(error) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            Bytes::from(format!("docs page: {error}")),
        ),
    })
}

/// The document, rendered once.
pub fn document() -> &'static Bytes {
    static DOCUMENT: OnceLock<Bytes> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let json = keel_functions::openapi::document()
            .to_pretty_json()
            .unwrap_or_else(|error| format!(r#"{{"error": "{error}"}}"#));
        Bytes::from(json)
    })
}

fn plain(status: StatusCode, content_type: &str, body: Bytes) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(body));
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}
