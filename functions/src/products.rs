//! `/api/products`: the catalog (public reads, admin writes) and each product's stock ledger.

use http::StatusCode;
use keel::domain::{
    Cursor, LedgerEntry, NewProduct, Product, ProductChanges, ProductFields, ProductQuery,
    ProductQueryParams, ProductStatus, StockChange, parse_limit,
};
use keel::error::FieldErrors;
use keel::http::{
    cursor_param, double_option, empty, json, not_null, product_id_param, public, query_param, wrapped_body,
};
use keel::{ApiError, Deps};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use crate::access::{is_admin, require_admin};
use crate::endpoint;

endpoint!(
    /// `create-product`: POST /api/products (admin).
    CREATE = "create-product" => create, TableAndTokens
);
endpoint!(
    /// `list-products`: GET /api/products (public).
    LIST = "list-products" => list, Table
);
endpoint!(
    /// `get-product`: GET /api/products/{id} (public; archived ones for admins only).
    GET = "get-product" => get, TableAndTokens
);
endpoint!(
    /// `update-product`: PUT /api/products/{id} (admin).
    UPDATE = "update-product" => update, TableAndTokens
);
endpoint!(
    /// `archive-product`: DELETE /api/products/{id} (admin).
    ARCHIVE = "archive-product" => archive, TableAndTokens
);
endpoint!(
    /// `adjust-stock`: POST /api/products/{id}/stock (admin).
    ADJUST_STOCK = "adjust-stock" => adjust_stock, TableAndTokens
);
endpoint!(
    /// `stock-history`: GET /api/products/{id}/stock-history (admin).
    STOCK_HISTORY = "stock-history" => stock_history, TableAndTokens
);

/// A price as the API shows it: integer minor units and an ISO 4217 code.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MoneyBody<'a> {
    amount: i64,
    currency: &'a str,
}

impl<'a> MoneyBody<'a> {
    /// `amount` of `currency`.
    pub fn new(amount: i64, currency: &'a str) -> Self {
        Self { amount, currency }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ProductBody<'a> {
    id: &'a str,
    name: &'a str,
    description: &'a str,
    category: &'a str,
    price: MoneyBody<'a>,
    stock: i64,
    #[schema(value_type = crate::schema::ProductStatusName)]
    status: &'static str,
    image: Option<&'a str>,
    #[schema(format = DateTime)]
    created_at: &'a str,
    #[schema(format = DateTime)]
    updated_at: &'a str,
}

impl<'a> From<&'a Product> for ProductBody<'a> {
    fn from(p: &'a Product) -> Self {
        Self {
            id: p.id.as_str(),
            name: &p.name,
            description: &p.description,
            category: p.category.as_str(),
            price: MoneyBody::new(p.price.amount(), p.price.currency().as_str()),
            stock: p.stock,
            status: p.status.as_str(),
            image: p.image.as_ref().map(keel::domain::UploadId::as_str),
            created_at: &p.created_at,
            updated_at: &p.updated_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct ProductResponse<'a> {
    product: ProductBody<'a>,
}

fn product_response(status: StatusCode, product: &Product) -> Response<Body> {
    json(
        status,
        &ProductResponse {
            product: product.into(),
        },
    )
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ProductsResponse<'a> {
    products: Vec<ProductBody<'a>>,
    next_cursor: Option<String>,
}

/// A product's body as sent: every field may be left out (a missing one is a 422 when creating,
/// no change when updating); `null` is refused except for `image`, where it clears it.
#[derive(Deserialize)]
struct ProductDto {
    #[serde(default, deserialize_with = "not_null")]
    name: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    description: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    category: Option<String>,
    /// Read as JSON so a float or a string gets a precise message.
    #[serde(default, deserialize_with = "not_null")]
    price: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "not_null")]
    stock: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "double_option")]
    image: Option<Option<String>>,
    /// Keys that are no product field: ignored when creating, refused when updating (where
    /// a misspelt field would otherwise be a silent no-op).
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}

impl ProductDto {
    /// A 422 naming every key an update cannot change: stock moves through orders and
    /// `/stock`, and anything else is not a product field.
    fn only_changeable(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        if self.stock.is_some() {
            errors.push(
                "stock",
                "changes through orders and POST /api/products/{id}/stock",
            );
        }
        for key in self.other.keys() {
            errors.push(key.as_str(), "is not a product field");
        }
        errors.into_result()
    }

    fn fields(&self) -> ProductFields<'_> {
        ProductFields {
            name: self.name.as_deref(),
            description: self.description.as_deref(),
            category: self.category.as_deref(),
            price: self.price.as_ref(),
            stock: self.stock.as_ref(),
            image: self.image.as_ref().map(Option::as_deref),
        }
    }
}

/// What a valid request is, for the document: the DTO above is lenient on purpose (a missing
/// field gets RealWorld's "can't be blank" 422), while the document states the limits.
#[allow(dead_code)] // Described, never constructed.
pub(crate) mod request {
    use serde::Deserialize;
    use utoipa::ToSchema;

    use crate::schema;

    /// A price: integer minor units (cents) and an ISO 4217 code.
    #[derive(Deserialize, ToSchema)]
    pub(crate) struct MoneyFields {
        #[schema(inline)]
        amount: schema::Amount,
        currency: schema::CurrencyCode,
    }

    /// `{"product": {...}}` to create a product (admins).
    #[derive(Deserialize, ToSchema)]
    pub(crate) struct NewProductRequest {
        product: NewProductFields,
    }

    /// A new product.
    #[derive(Deserialize, ToSchema)]
    pub(crate) struct NewProductFields {
        #[schema(inline)]
        name: schema::ProductNameText,
        #[schema(inline, nullable = false)]
        description: Option<schema::ProductDescriptionText>,
        #[schema(inline)]
        category: schema::CategoryText,
        price: MoneyFields,
        #[schema(inline, nullable = false)]
        stock: Option<schema::StockCount>,
        /// An upload id.
        #[schema(format = Uuid, nullable)]
        image: Option<String>,
    }

    /// `{"product": {...}}`: the fields to change.
    #[derive(Deserialize, ToSchema)]
    pub(crate) struct UpdateProductRequest {
        product: ProductChangesFields,
    }

    /// Changes to a product. Stock moves through orders and `/stock`, status through DELETE.
    #[derive(Deserialize, ToSchema)]
    #[schema(min_properties = 1)]
    #[serde(deny_unknown_fields)]
    pub(crate) struct ProductChangesFields {
        #[schema(inline, nullable = false)]
        name: Option<schema::ProductNameText>,
        #[schema(inline, nullable = false)]
        description: Option<schema::ProductDescriptionText>,
        #[schema(inline, nullable = false)]
        category: Option<schema::CategoryText>,
        #[schema(nullable = false)]
        price: Option<MoneyFields>,
        #[schema(format = Uuid, nullable)]
        image: Option<String>,
    }

    /// `{"stock": {"delta", "reason"}}`.
    #[derive(Deserialize, ToSchema)]
    pub(crate) struct StockRequest {
        stock: StockFields,
    }

    /// A restock (positive) or write-off (negative); stock never goes below zero (409).
    #[derive(Deserialize, ToSchema)]
    pub(crate) struct StockFields {
        delta: schema::StockDelta,
        #[schema(inline)]
        reason: schema::ReasonText,
    }
}

/// POST /api/products — a new product (201). Admins only.
#[utoipa::path(post, path = "/api/products", tag = "products", operation_id = "createProduct",
    summary = "Add a product (admins)",
    request_body = request::NewProductRequest,
    responses(
        (status = 201, description = "The product", body = ProductResponse),
        (status = 403, description = "Not an admin", body = crate::schema::ErrorBody),
    ),
    security(("token" = [])))]
#[tracing::instrument(name = "create_product", skip_all, fields(user_id))]
pub async fn create(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let admin = require_admin(deps, &req).await?;
    let dto: ProductDto = wrapped_body(&req, "product")?;
    let new = NewProduct::parse(dto.fields())?;
    let product = deps.store.create_product(new, &admin.user_id).await?;
    Ok(product_response(StatusCode::CREATED, &product))
}

/// GET /api/products — the public catalog: active products, newest first or by price,
/// optionally in one category and a price range, in cursor pages.
#[utoipa::path(get, path = "/api/products", tag = "products", operation_id = "listProducts",
    summary = "The public catalog: active products, newest first or by price, in cursor pages",
    params(
        ("category" = Option<String>, Query, max_length = 50, pattern = "^[a-z0-9]+(-[a-z0-9]+)*$", description = "Only this category"),
        ("minPrice" = Option<i64>, Query, minimum = 0, maximum = 1_000_000_000_000_i64, description = "Lowest price, minor units"),
        ("maxPrice" = Option<i64>, Query, minimum = 0, maximum = 1_000_000_000_000_i64, description = "Highest price, minor units"),
        ("sort" = Option<crate::schema::ProductSort>, Query, description = "Order (default newest)"),
        crate::schema::CursorPage,
    ),
    responses(
        (status = 200, description = "A page", body = ProductsResponse),
    ))]
#[tracing::instrument(name = "list_products", skip_all)]
pub async fn list(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let [category, min_price, max_price, sort, limit] =
        ["category", "minPrice", "maxPrice", "sort", "limit"].map(|name| query_param(&req, name));
    let query = ProductQuery::parse(ProductQueryParams {
        category: category.as_deref(),
        min_price: min_price.as_deref(),
        max_price: max_price.as_deref(),
        sort: sort.as_deref(),
        limit: limit.as_deref(),
    })?;
    let cursor = cursor_param(&req)?;
    let (products, next) = deps.store.list_products(&query, cursor.as_ref()).await?;
    let page = json(
        StatusCode::OK,
        &ProductsResponse {
            products: products.iter().map(ProductBody::from).collect(),
            next_cursor: next.as_ref().map(Cursor::encode),
        },
    );
    Ok(public(page))
}

/// GET /api/products/{id} — one product. An archived one is shown to admins and is a 404 for
/// everyone else, as if it never existed.
#[utoipa::path(get, path = "/api/products/{id}", tag = "products", operation_id = "getProduct",
    summary = "One product (an archived one only for admins)",
    params(("id" = String, Path, description = "The product id (UUID)")),
    responses((status = 200, description = "The product", body = ProductResponse)),
    security((), ("token" = [])))]
#[tracing::instrument(name = "get_product", skip_all)]
pub async fn get(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let viewer = deps.optional(&req).await?;
    let id = product_id_param(&req)?;
    let product = deps
        .store
        .get_product(&id)
        .await?
        .ok_or(ApiError::NotFound("product"))?;
    if product.status == ProductStatus::Archived {
        let admin = match &viewer {
            Some(session) => is_admin(deps, session).await?,
            None => false,
        };
        if !admin {
            return Err(ApiError::NotFound("product"));
        }
    }
    let response = product_response(StatusCode::OK, &product);
    Ok(if viewer.is_none() {
        public(response)
    } else {
        response
    })
}

/// PUT /api/products/{id} — change name, description, category, price or image. Stock and
/// status are not fields here: stock moves through orders and `/stock`, status through DELETE.
#[utoipa::path(put, path = "/api/products/{id}", tag = "products", operation_id = "updateProduct",
    summary = "Change a product (admins)",
    params(("id" = String, Path, description = "The product id (UUID)")),
    request_body = request::UpdateProductRequest,
    responses(
        (status = 200, description = "The product", body = ProductResponse),
        (status = 403, description = "Not an admin", body = crate::schema::ErrorBody),
        (status = 409, description = "Changed by another request; retry", body = crate::schema::ErrorBody),
    ),
    security(("token" = [])))]
#[tracing::instrument(name = "update_product", skip_all, fields(user_id))]
pub async fn update(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let admin = require_admin(deps, &req).await?;
    let id = product_id_param(&req)?;
    let dto: ProductDto = wrapped_body(&req, "product")?;
    dto.only_changeable()?;
    let changes = ProductChanges::parse(dto.fields())?;
    let product = deps.store.update_product(&id, &changes, &admin.user_id).await?;
    Ok(product_response(StatusCode::OK, &product))
}

/// DELETE /api/products/{id} — archive: out of the catalog, still in old orders (204).
#[utoipa::path(delete, path = "/api/products/{id}", tag = "products", operation_id = "archiveProduct",
    summary = "Archive a product: out of the catalog, still in old orders (admins)",
    params(("id" = String, Path, description = "The product id (UUID)")),
    responses(
        (status = 204, description = "Archived"),
        (status = 403, description = "Not an admin", body = crate::schema::ErrorBody),
    ),
    security(("token" = [])))]
#[tracing::instrument(name = "archive_product", skip_all, fields(user_id))]
pub async fn archive(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    require_admin(deps, &req).await?;
    let id = product_id_param(&req)?;
    deps.store.archive_product(&id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

#[derive(Deserialize)]
struct StockDto {
    delta: Option<serde_json::Value>,
    reason: Option<String>,
}

/// POST /api/products/{id}/stock — `{"stock": {"delta": 10, "reason": "delivery"}}`: an
/// admin's restock or write-off, recorded in the ledger; never below zero (409).
#[utoipa::path(post, path = "/api/products/{id}/stock", tag = "products", operation_id = "adjustStock",
    summary = "Restock or write off (admins); recorded in the stock history",
    params(("id" = String, Path, description = "The product id (UUID)")),
    request_body = request::StockRequest,
    responses(
        (status = 200, description = "The product", body = ProductResponse),
        (status = 403, description = "Not an admin", body = crate::schema::ErrorBody),
        (status = 409, description = "Stock would go below zero", body = crate::schema::ErrorBody),
    ),
    security(("token" = [])))]
#[tracing::instrument(name = "adjust_stock", skip_all, fields(user_id))]
pub async fn adjust_stock(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let admin = require_admin(deps, &req).await?;
    let id = product_id_param(&req)?;
    let dto: StockDto = wrapped_body(&req, "stock")?;
    let change = StockChange::parse(dto.delta.as_ref(), dto.reason.as_deref())?;
    let product = deps.store.adjust_stock(&id, &change, &admin.user_id).await?;
    Ok(product_response(StatusCode::OK, &product))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct EntryBody<'a> {
    delta: i64,
    stock: i64,
    reason: &'a str,
    order_id: Option<&'a str>,
    admin_id: Option<&'a str>,
    #[schema(format = DateTime)]
    created_at: &'a str,
}

impl<'a> From<&'a LedgerEntry> for EntryBody<'a> {
    fn from(e: &'a LedgerEntry) -> Self {
        Self {
            delta: e.delta,
            stock: e.stock_after,
            reason: &e.reason,
            order_id: e.order_id.as_deref(),
            admin_id: e.admin_id.as_deref(),
            created_at: &e.at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct EntriesResponse<'a> {
    entries: Vec<EntryBody<'a>>,
    next_cursor: Option<String>,
}

/// GET /api/products/{id}/stock-history — every stock change, newest first, each with the
/// stock right after it. Admins only.
#[utoipa::path(get, path = "/api/products/{id}/stock-history", tag = "products", operation_id = "stockHistory",
    summary = "Every stock change, newest first (admins)",
    params(
        ("id" = String, Path, description = "The product id (UUID)"),
        crate::schema::CursorPage,
    ),
    responses(
        (status = 200, description = "A page", body = EntriesResponse),
        (status = 403, description = "Not an admin", body = crate::schema::ErrorBody),
    ),
    security(("token" = [])))]
#[tracing::instrument(name = "stock_history", skip_all, fields(user_id))]
pub async fn stock_history(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    require_admin(deps, &req).await?;
    let id = product_id_param(&req)?;
    let limit = parse_limit(query_param(&req, "limit").as_deref())?;
    let cursor = cursor_param(&req)?;
    let (entries, next) = deps
        .store
        .stock_history(&id, limit, cursor.as_ref())
        .await?
        .ok_or(ApiError::NotFound("product"))?;
    Ok(json(
        StatusCode::OK,
        &EntriesResponse {
            entries: entries.iter().map(EntryBody::from).collect(),
            next_cursor: next.as_ref().map(Cursor::encode),
        },
    ))
}
