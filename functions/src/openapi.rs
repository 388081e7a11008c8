//! The API's OpenAPI 3.1 document, generated from the handlers' own `#[utoipa::path]`
//! annotations and the response types they serialise.
//!
//! Request bodies are described by a `request` module beside each handler's DTO rather than by
//! the DTO itself: a DTO is deliberately lenient (every field optional, so a missing one gets
//! RealWorld's "can't be blank" 422), while the document states what a *valid* request is,
//! limits included, so that a client generator or a fuzzer knows where the edges are. Those
//! schemas are written in [`crate::schema`]'s words, which take every limit and name from the
//! domain; the tests below hold the few literals left to the domain's constants. Responses every operation shares
//! (401 where a token is read, 400/413/415/422 where a body is, 404 where the path names a
//! resource, 503 everywhere) are added in one place, [`CommonResponses`], from what the
//! operation declares — so an operation cannot forget them.
//!
//! `tests/contract.rs` holds the document to `template.yaml`: every route in one is in the other.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{Content, RefOr, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::schema::{ErrorBody, OrderStatusName, PaymentProviderName, ProductSort, TOKEN, VariantName};
use crate::{articles, comments, orders, payments, products, profiles, uploads, users};

/// The whole API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keel",
        description = "A web application's backend: accounts, profiles, articles with comments \
            and tags (the RealWorld API), a product catalog, orders, and photo and file uploads.\n\n\
            Authenticate with `Authorization: Token <jwt>` (or `Bearer <jwt>`) as returned by \
            register and login. Errors are `{\"errors\": {\"<field>\": [\"<message>\"]}}`.",
        license(name = "MIT")
    ),
    servers((url = "/", description = "This server")),
    paths(
        users::register::handle, users::login::handle, users::current::handle,
        users::update::handle, users::logout::handle,
        profiles::get, profiles::follow, profiles::unfollow,
        articles::list, articles::create, articles::feed, articles::get, articles::update,
        articles::delete, articles::favorite, articles::unfavorite, articles::tags,
        comments::list, comments::add, comments::delete,
        products::list, products::create, products::get, products::update, products::archive,
        products::adjust_stock, products::stock_history,
        orders::place, orders::list, orders::get, orders::cancel, orders::fulfil, orders::admin_list,
        payments::mark_paid, payments::webhook,
        uploads::create, uploads::list, uploads::get, uploads::delete, uploads::content,
        uploads::complete,
    ),
    components(schemas(ErrorBody, ProductSort, VariantName, OrderStatusName, PaymentProviderName)),
    modifiers(&CommonResponses),
    tags(
        (name = "users", description = "Accounts and sessions"),
        (name = "profiles", description = "Profiles and follows"),
        (name = "articles", description = "Articles, the feed, favorites and tags"),
        (name = "comments", description = "Comments on articles"),
        (name = "products", description = "The product catalog and its stock"),
        (name = "orders", description = "Orders"),
        (name = "payments", description = "The payment gateway's webhook"),
        (name = "uploads", description = "Photo and file uploads"),
    )
)]
pub struct ApiDoc;

/// The document as served at `/api/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Adds what every operation shares, from what it declares: the token scheme; 401 where a
/// token is read (optional-auth reads included: an invalid token is refused, never read as
/// anonymous); 400, 413, 415 and 422 where a JSON body is read; 404 where a path parameter
/// names a resource; 422 for out-of-range query values; 503 (storage throttled or unreachable,
/// with `Retry-After`) everywhere.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            TOKEN,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Token <jwt>` (RealWorld) or `Bearer <jwt>`",
            ))),
        );
        for item in doc.paths.paths.values_mut() {
            for operation in operations(item) {
                add_common(operation);
            }
        }
        add_links(doc);
    }
}

/// A link from what a created resource's response holds to the operations that take it.
struct Link {
    /// The operation whose response it is.
    source: &'static str,
    /// That response's status.
    status: &'static str,
    /// The targets' parameters: name, and where its value is.
    parameters: &'static [(&'static str, &'static str)],
    /// The operations linked to.
    targets: &'static [&'static str],
}

/// What a created resource leads to. Clients and the fuzzer's stateful phase follow these
/// from a new article, comment, user, product, order or upload to what takes its id.
const LINKS: &[Link] = &[
    Link {
        source: "createArticle",
        status: "201",
        parameters: &[("slug", "$response.body#/article/slug")],
        targets: &[
            "getArticle",
            "updateArticle",
            "deleteArticle",
            "favoriteArticle",
            "unfavoriteArticle",
            "listComments",
            "addComment",
        ],
    },
    // A comment is deleted on the article it was made on: the request's own path.
    Link {
        source: "addComment",
        status: "201",
        parameters: &[
            ("id", "$response.body#/comment/id"),
            ("slug", "$request.path.slug"),
        ],
        targets: &["deleteComment"],
    },
    Link {
        source: "register",
        status: "201",
        parameters: &[("username", "$response.body#/user/username")],
        targets: &["getProfile", "followUser", "unfollowUser"],
    },
    Link {
        source: "createProduct",
        status: "201",
        parameters: &[("id", "$response.body#/product/id")],
        targets: &[
            "getProduct",
            "updateProduct",
            "archiveProduct",
            "adjustStock",
            "stockHistory",
        ],
    },
    Link {
        source: "placeOrder",
        status: "201",
        parameters: &[("id", "$response.body#/order/id")],
        targets: &["getOrder", "cancelOrder", "fulfilOrder"],
    },
    Link {
        source: "createUpload",
        status: "201",
        parameters: &[("id", "$response.body#/upload/id")],
        targets: &["getUpload", "deleteUpload", "uploadContent", "completeUpload"],
    },
];

fn add_links(doc: &mut utoipa::openapi::OpenApi) {
    for item in doc.paths.paths.values_mut() {
        for operation in operations(item) {
            let Some(id) = operation.operation_id.clone() else {
                continue;
            };
            for link in LINKS.iter().filter(|link| link.source == id) {
                let Some(RefOr::T(response)) = operation.responses.responses.get_mut(link.status) else {
                    continue;
                };
                for target in link.targets {
                    let built = link.parameters.iter().fold(
                        utoipa::openapi::link::LinkBuilder::new().operation_id(*target),
                        |built, (name, value)| built.parameter(*name, *value),
                    );
                    response
                        .links
                        .insert((*target).to_owned(), RefOr::T(built.build()));
                }
            }
        }
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
    ]
    .into_iter()
    .flatten()
}

fn add_common(operation: &mut Operation) {
    let reads_token = operation
        .security
        .as_ref()
        .is_some_and(|requirements| !requirements.is_empty());
    let has_body = operation.request_body.is_some();
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let has_path = parameters
        .iter()
        .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Path));
    let has_query = parameters
        .iter()
        .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query));
    let mut add = |status: &str, description: &str| {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| error_response(description));
    };
    if has_body {
        add("400", "The body is not a JSON document");
        add("413", "The body is larger than 1 MiB");
        add("415", "The body is not JSON (`Content-Type` names another type)");
        add("422", "A field is missing or invalid; the message names it");
    }
    if has_query {
        add("422", "A query value is out of range; the message names it");
    }
    let pages_by_cursor = parameters
        .iter()
        .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query && p.name == "cursor"));
    if pages_by_cursor {
        add("400", "A cursor this list did not hand out");
    }
    if reads_token {
        add("401", "The token is missing, invalid, expired or signed out");
    }
    if has_path {
        add("404", "No such resource (or not one the caller may see)");
    }
    add(
        "503",
        "Storage is throttled or unreachable; nothing was written. Retry after `Retry-After` seconds",
    );
    // Every body this API reads is required: without one the answer is a 422.
    if let Some(RefOr::T(body)) = operation.request_body.as_mut()
        && body.required.is_none()
    {
        body.required = Some(Required::True);
    }
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "ErrorBody",
                )))),
            )
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use keel::domain::{MAX_ARTICLE_IMAGES, Money, OrderLines, Page};
    use serde_json::Value;

    fn document() -> Value {
        serde_json::to_value(super::document()).expect("the document serialises")
    }

    /// Every query parameter of every operation, as (operation id, parameter).
    fn query_parameters(doc: &Value) -> Vec<(String, Value)> {
        let mut found = Vec::new();
        for item in doc["paths"].as_object().expect("paths").values() {
            for operation in item.as_object().expect("a path item").values() {
                for parameter in operation["parameters"].as_array().into_iter().flatten() {
                    if parameter["in"] == "query" {
                        let id = operation["operationId"].as_str().unwrap_or_default();
                        found.push((id.to_owned(), parameter.clone()));
                    }
                }
            }
        }
        found
    }

    #[test]
    fn the_limits_written_as_literals_are_the_domains_own() {
        let doc = document();
        let expected = |name: &str| -> Option<(i64, i64)> {
            let max_price = Money::MAX_AMOUNT;
            match name {
                "limit" => Some((1, Page::MAX_LIMIT as i64)),
                "offset" => Some((0, Page::MAX_OFFSET as i64)),
                "minPrice" | "maxPrice" => Some((0, max_price)),
                _ => None,
            }
        };
        let mut checked = 0;
        for (operation, parameter) in query_parameters(&doc) {
            let name = parameter["name"].as_str().unwrap_or_default();
            let Some((min, max)) = expected(name) else {
                continue;
            };
            let schema = &parameter["schema"];
            assert_eq!(schema["minimum"], min, "{operation} ?{name}");
            assert_eq!(schema["maximum"], max, "{operation} ?{name}");
            checked += 1;
        }
        assert!(checked >= 10, "only {checked} bounded parameters found");

        let lines = &doc["components"]["schemas"]["NewOrderFields"]["properties"]["lines"];
        assert_eq!(lines["maxItems"], OrderLines::MAX_LINES);
        let article = doc["components"]["schemas"]["NewArticleFields"]["description"]
            .as_str()
            .unwrap_or_default();
        assert!(
            article.contains(&format!("at most {MAX_ARTICLE_IMAGES}.")),
            "{article}"
        );
    }

    #[test]
    fn an_upload_is_described_once_per_purpose_with_that_purposes_size_limit() {
        let doc = document();
        let variants = doc["components"]["schemas"]["NewUploadFields"]["oneOf"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(variants.len(), keel::domain::Purpose::ALL.len());
        for (variant, purpose) in variants.iter().zip(keel::domain::Purpose::ALL) {
            assert_eq!(variant["properties"]["purpose"]["enum"][0], purpose.as_str());
            assert_eq!(variant["properties"]["size"]["maximum"], purpose.max_bytes());
        }
    }
}
