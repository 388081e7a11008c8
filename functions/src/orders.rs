//! `/api/orders` (a shopper's own) and `/api/admin/orders` (everyone's, for admins).

use std::time::Duration;

use http::{HeaderValue, StatusCode, header};
use keel::domain::{
    Cursor, IdempotencyKey, Order, OrderId, OrderLines, OrderStatus, PaymentProvider, Refund, parse_limit,
};
use keel::error::FieldErrors;
use keel::http::{JSON_CONTENT_TYPE, cursor_param, json, order_id_param, query_param, wrapped_body};
use keel::store::{Claim, OrderTerms, StoreError};
use keel::telemetry::{self, Metric};
use keel::{ApiError, Deps};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use crate::access::{is_admin, require_admin};
use crate::endpoint;
use crate::products::MoneyBody;

endpoint!(
    /// `place-order`: POST /api/orders.
    PLACE = "place-order" => place, TableTokensAndPayments
);
endpoint!(
    /// `list-orders`: GET /api/orders (the caller's).
    LIST = "list-orders" => list, TableAndTokens
);
endpoint!(
    /// `get-order`: GET /api/orders/{id} (owner or admin).
    GET = "get-order" => get, TableAndTokens
);
endpoint!(
    /// `cancel-order`: POST /api/orders/{id}/cancel (owner).
    CANCEL = "cancel-order" => cancel, TableTokensAndPayments
);
endpoint!(
    /// `fulfil-order`: POST /api/orders/{id}/fulfil (admin).
    FULFIL = "fulfil-order" => fulfil, TableAndTokens
);
endpoint!(
    /// `list-all-orders`: GET /api/admin/orders (admin).
    ADMIN_LIST = "list-all-orders" => admin_list, TableAndTokens
);

/// The header a client sends so that a retried order is placed once.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Set on a response that repeats the first response to the same key.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// How long a request waits for an earlier request with its key to finish before answering
/// 409: long enough that a client's parallel retries all get the first answer.
const IN_FLIGHT_WAIT: Duration = Duration::from_secs(3);

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct LineBody<'a> {
    product_id: &'a str,
    name: &'a str,
    quantity: i64,
    unit_price: MoneyBody<'a>,
    line_total: MoneyBody<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct OrderBody<'a> {
    id: &'a str,
    user_id: &'a str,
    #[schema(value_type = crate::schema::OrderStatusName)]
    status: &'static str,
    lines: Vec<LineBody<'a>>,
    total: MoneyBody<'a>,
    #[schema(format = DateTime)]
    created_at: &'a str,
    #[schema(format = DateTime)]
    updated_at: &'a str,
    /// While awaiting payment: when the order expires and its stock returns.
    #[schema(format = DateTime)]
    expires_at: Option<&'a str>,
    payment: PaymentBody<'a>,
    /// Every step of the order's life, oldest first.
    history: Vec<HistoryBody<'a>>,
}

/// How the order is paid for. `clientSecret` is what the front end confirms a Stripe payment
/// with (Stripe.js `confirmPayment`); it is only ever shown to the order's owner and admins.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct PaymentBody<'a> {
    #[schema(value_type = crate::schema::PaymentProviderName)]
    provider: &'static str,
    client_secret: Option<&'a str>,
    /// `pending` (owed), `refunded`, or null.
    #[schema(value_type = Option<String>)]
    refund: Option<&'static str>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct HistoryBody<'a> {
    #[schema(value_type = crate::schema::OrderStatusName)]
    status: &'static str,
    note: &'a str,
    #[schema(format = DateTime)]
    at: &'a str,
}

impl<'a> From<&'a Order> for OrderBody<'a> {
    fn from(o: &'a Order) -> Self {
        Self {
            id: o.id.as_str(),
            user_id: o.user_id.as_str(),
            status: o.status.as_str(),
            lines: o
                .lines
                .iter()
                .map(|l| LineBody {
                    product_id: &l.product_id,
                    name: &l.name,
                    quantity: l.quantity,
                    unit_price: MoneyBody::new(l.unit_amount, o.currency.as_str()),
                    line_total: MoneyBody::new(l.line_amount, o.currency.as_str()),
                })
                .collect(),
            total: MoneyBody::new(o.total_amount, o.currency.as_str()),
            created_at: &o.created_at,
            updated_at: &o.updated_at,
            expires_at: o.expires_at.as_deref(),
            payment: PaymentBody {
                provider: o.payment.provider.as_str(),
                client_secret: o
                    .payment
                    .client_secret
                    .as_deref()
                    .filter(|_| o.status == OrderStatus::AwaitingPayment),
                refund: match o.payment.refund {
                    Refund::None => None,
                    Refund::Pending => Some("pending"),
                    Refund::Done(_) => Some("refunded"),
                },
            },
            history: o
                .history
                .iter()
                .map(|h| HistoryBody {
                    status: h.status.as_str(),
                    note: &h.note,
                    at: &h.at,
                })
                .collect(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct OrderResponse<'a> {
    order: OrderBody<'a>,
}

pub(crate) fn order_response(status: StatusCode, order: &Order) -> Response<Body> {
    json(status, &OrderResponse { order: order.into() })
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct OrdersResponse<'a> {
    orders: Vec<OrderBody<'a>>,
    next_cursor: Option<String>,
}

fn orders_response(orders: &[Order], next: Option<&Cursor>) -> Response<Body> {
    json(
        StatusCode::OK,
        &OrdersResponse {
            orders: orders.iter().map(OrderBody::from).collect(),
            next_cursor: next.map(Cursor::encode),
        },
    )
}

#[derive(Deserialize)]
struct NewOrderDto {
    lines: Option<serde_json::Value>,
}

/// What a valid request is, for the document: the DTO above is lenient on purpose (a missing
/// field gets RealWorld's "can't be blank" 422), while the document states the limits.
#[allow(dead_code)] // Described, never constructed.
pub(crate) mod request {
    use serde::Deserialize;
    use utoipa::ToSchema;

    use crate::schema;

    /// `{"order": {"lines": [...]}}`.
    #[derive(Deserialize, ToSchema)]
    pub(crate) struct NewOrderRequest {
        order: NewOrderFields,
    }

    /// What to buy.
    #[derive(Deserialize, ToSchema)]
    pub(crate) struct NewOrderFields {
        #[schema(min_items = 1, max_items = 49)]
        lines: Vec<OrderLineFields>,
    }

    /// One product and how many.
    #[derive(Deserialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct OrderLineFields {
        #[schema(format = Uuid)]
        product_id: String,
        #[schema(inline)]
        quantity: schema::Quantity,
    }
}

fn idempotency_key(req: &Request) -> Result<IdempotencyKey, ApiError> {
    let raw = req.headers().get(IDEMPOTENCY_KEY).ok_or_else(|| {
        ApiError::BadRequest(FieldErrors::single(
            "Idempotency-Key",
            "header is required: a unique value per order, reused when retrying it",
        ))
    })?;
    IdempotencyKey::parse(raw.as_bytes()).map_err(ApiError::BadRequest)
}

/// A response recorded for a key: sent first as is, and again (marked replayed) to a retry.
fn recorded(status: u16, body: String, replayed: bool) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
    if replayed {
        marked_replayed(response)
    } else {
        response
    }
}

/// `response` as a retry gets it: `Idempotent-Replayed: true` says the order was placed once,
/// by the first request.
fn marked_replayed(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}

/// POST /api/orders — place an order (201), safely retried with the same `Idempotency-Key`.
///
/// The key's first request decides: a retry with the same lines gets the same status and
/// body (`Idempotent-Replayed: true`), whether that was the order or a refusal (409 out of
/// stock, 422 unknown product); the same key with other lines is a 422; a retry while the
/// first is still running waits for its answer, and gets a 409 if it takes too long. When many
/// buyers of one product arrive at once and this order cannot get a turn in time, the answer is
/// a 503 with `Retry-After`: retrying with the same key is safe.
#[utoipa::path(post, path = "/api/orders", tag = "orders", operation_id = "placeOrder",
    summary = "Place an order; retry safely with the same Idempotency-Key",
    params(("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = "^[\\x20-\\x7e]+$",
        description = "A unique value per order, reused when retrying it")),
    request_body = request::NewOrderRequest,
    responses(
        (status = 201, description = "The order (a retry: the first answer, with `Idempotent-Replayed: true`)", body = OrderResponse),
        (status = 409, description = "Out of stock, or the same key still in flight", body = crate::schema::ErrorBody),
        (status = 422, description = "Unknown or unavailable product, bad lines, or the key reused for other lines", body = crate::schema::ErrorBody),
        (status = 503, description = "Too many buyers of its products at once: retry with the same key after Retry-After", body = crate::schema::ErrorBody),
    ),
    security(("token" = [])))]
#[tracing::instrument(name = "place_order", skip_all, fields(user_id))]
pub async fn place(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let session = deps.require(&req).await?;
    let key = idempotency_key(&req)?;
    let dto: NewOrderDto = wrapped_body(&req, "order")?;
    let lines = OrderLines::parse(dto.lines.as_ref())?;
    let payments = deps.payments()?;
    let terms = OrderTerms {
        provider: payments.provider,
        window: payments.window,
    };
    let fingerprint = lines.fingerprint();
    let waiting_since = tokio::time::Instant::now();
    let ticket = loop {
        match deps
            .store
            .claim_idempotency(&session.user_id, &key, &fingerprint)
            .await?
        {
            Claim::Acquired(ticket) => break ticket,
            Claim::Replay { status: 201, body } if payments.provider != PaymentProvider::Manual => {
                return replay_with_payment(deps, &body).await;
            }
            Claim::Replay { status, body } => return Ok(recorded(status, body, true)),
            Claim::Mismatch => {
                return Err(FieldErrors::single(
                    "Idempotency-Key",
                    "was already used for a different order; use a new key",
                )
                .into());
            }
            Claim::InFlight if waiting_since.elapsed() < IN_FLIGHT_WAIT => {
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            Claim::InFlight => {
                return Err(ApiError::Conflict(FieldErrors::single(
                    "Idempotency-Key",
                    "an order with this key is still being placed; retry shortly",
                )));
            }
        }
    };
    let render =
        |order: &Order| serde_json::to_string(&OrderResponse { order: order.into() }).unwrap_or_default();
    match deps
        .store
        .place_order(&session.user_id, &lines, terms, &ticket, &render)
        .await
    {
        Ok((order, body)) => {
            telemetry::count(Metric::OrderPlaced, 1);
            if terms.provider == PaymentProvider::Manual {
                return Ok(recorded(201, body, false));
            }
            // The order is committed (and its key answered); its gateway payment comes next. If
            // the gateway fails now, a retry with the same key replays the order and creates
            // the payment then (the gateway's own key is the order's, so never twice).
            let order = with_intent(deps, order).await?;
            Ok(order_response(StatusCode::CREATED, &order))
        }
        // A refusal is the key's answer too: recorded, so a retry gets it again.
        Err(error @ (StoreError::Conflict(_) | StoreError::Rejected(_))) => {
            telemetry::count(Metric::OrderRefused, 1);
            let response = ApiError::from(error).into_response();
            let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
            deps.store
                .finish_idempotency(&ticket, response.status().as_u16(), &body)
                .await?;
            Ok(response)
        }
        // Too many buyers of the same product at once: the key was released; a retry with it
        // is safe and is what the client should do.
        Err(StoreError::Contended(_)) => Err(busy("order")),
        // Anything else may succeed on retry: the claim lapses and the key stays usable.
        Err(error) => Err(error.into()),
    }
}

/// `order` with its gateway payment: created (idempotently, keyed by the order) and attached
/// if it has none yet.
async fn with_intent(deps: &Deps, order: Order) -> Result<Order, ApiError> {
    if order.status != OrderStatus::AwaitingPayment || order.payment.client_secret.is_some() {
        return Ok(order);
    }
    let Some(intent) = deps.payments()?.create_intent(&order).await? else {
        return Ok(order);
    };
    Ok(deps
        .store
        .attach_intent(&order.id, &intent.id, &intent.client_secret)
        .await?)
}

/// A retried order placed through a gateway: the order as it is now, with its payment (created
/// now if the first request could not), marked replayed.
async fn replay_with_payment(deps: &Deps, recorded_body: &str) -> Result<Response<Body>, ApiError> {
    let id = serde_json::from_str::<serde_json::Value>(recorded_body)
        .ok()
        .and_then(|body| body["order"]["id"].as_str().and_then(OrderId::parse))
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("BUG: a recorded order without its id")))?;
    let order = deps
        .store
        .get_order(&id)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("BUG: order {id} was recorded but is gone")))?;
    let order = with_intent(deps, order).await?;
    Ok(marked_replayed(order_response(StatusCode::CREATED, &order)))
}

/// GET /api/orders — the caller's orders, newest first, in cursor pages.
#[utoipa::path(get, path = "/api/orders", tag = "orders", operation_id = "listOrders",
    summary = "The caller's orders, newest first",
    params(crate::schema::CursorPage),
    responses(
        (status = 200, description = "A page", body = OrdersResponse),
    ),
    security(("token" = [])))]
#[tracing::instrument(name = "list_orders", skip_all, fields(user_id))]
pub async fn list(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let session = deps.require(&req).await?;
    let limit = parse_limit(query_param(&req, "limit").as_deref())?;
    let cursor = cursor_param(&req)?;
    let (orders, next) = deps
        .store
        .orders_of(&session.user_id, limit, cursor.as_ref())
        .await?;
    Ok(orders_response(&orders, next.as_ref()))
}

/// GET /api/orders/{id} — for its owner and admins; anyone else gets the same 404 as for an
/// order that does not exist.
#[utoipa::path(get, path = "/api/orders/{id}", tag = "orders", operation_id = "getOrder",
    summary = "One order (its owner and admins)",
    params(("id" = String, Path, description = "The order id (UUID)")),
    responses((status = 200, description = "The order", body = OrderResponse)),
    security(("token" = [])))]
#[tracing::instrument(name = "get_order", skip_all, fields(user_id))]
pub async fn get(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let session = deps.require(&req).await?;
    let id = order_id_param(&req)?;
    let order = deps
        .store
        .get_order(&id)
        .await?
        .ok_or(ApiError::NotFound("order"))?;
    if order.user_id != session.user_id && !is_admin(deps, &session).await? {
        return Err(ApiError::NotFound("order"));
    }
    Ok(order_response(StatusCode::OK, &order))
}

/// POST /api/orders/{id}/cancel — the owner cancels an order awaiting payment (its payment is
/// cancelled) or paid and not yet shipped (its payment is refunded); its stock returns. A 503
/// (refund not confirmed, or its products too busy) is retried by cancelling again.
#[utoipa::path(post, path = "/api/orders/{id}/cancel", tag = "orders", operation_id = "cancelOrder",
    summary = "Cancel one's own unshipped order; its stock returns and a payment is refunded",
    params(("id" = String, Path, description = "The order id (UUID)")),
    responses(
        (status = 200, description = "The order", body = OrderResponse),
        (status = 409, description = "Already shipped, expired or cancelled", body = crate::schema::ErrorBody),
        (status = 503, description = "The gateway did not confirm the refund (it stays owed), or other orders kept moving its products: cancel again to retry", body = crate::schema::ErrorBody),
    ),
    security(("token" = [])))]
#[tracing::instrument(name = "cancel_order", skip_all, fields(user_id))]
pub async fn cancel(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let session = deps.require(&req).await?;
    let id = order_id_param(&req)?;
    let order = match deps.store.cancel_order(&id, &session.user_id).await {
        Ok(order) => order,
        // Its products kept moving under other orders: nothing changed, cancelling again is safe.
        Err(StoreError::Contended(_)) => return Err(busy("cancel")),
        Err(error) => return Err(error.into()),
    };
    telemetry::count(Metric::OrderCancelled, 1);
    let order = settle_cancelled(deps, order).await?;
    Ok(order_response(StatusCode::OK, &order))
}

/// The answer when a write on a busy product gave up before its deadline: a 503 with
/// `Retry-After`, because the same request later succeeds (a 409 would read as "never").
fn busy(action: &'static str) -> ApiError {
    ApiError::ServiceUnavailable(anyhow::anyhow!("{action} gave up under contention"))
}

/// What the gateway must do for a cancelled order: refund it if it was paid (then record the
/// refund), else cancel its payment so it can no longer be paid. A failed refund is a 503 and
/// stays owed: cancelling again retries it.
async fn settle_cancelled(deps: &Deps, order: Order) -> Result<Order, ApiError> {
    let payments = deps.payments()?;
    match (&order.payment.refund, order.payment.intent_id.as_deref()) {
        (Refund::Pending, Some(intent)) => match payments.refund(&order, intent).await? {
            Some(refund) => {
                telemetry::count(Metric::PaymentRefunded, 1);
                Ok(deps.store.record_refund(&order, &refund).await?)
            }
            None => Ok(order),
        },
        (Refund::None, Some(_)) => {
            // Best effort: if the payment succeeds anyway, its webhook refunds it.
            if let Err(error) = payments.cancel_intent(&order).await {
                telemetry::count(Metric::GatewayCallFailed, 1);
                tracing::warn!(order_id = %order.id, error = format!("{error:#}"), "cancelling the order's payment failed");
            }
            Ok(order)
        }
        _ => Ok(order),
    }
}

/// POST /api/orders/{id}/fulfil — an admin marks a paid order shipped.
#[utoipa::path(post, path = "/api/orders/{id}/fulfil", tag = "orders", operation_id = "fulfilOrder",
    summary = "Mark a paid order shipped (admins)",
    params(("id" = String, Path, description = "The order id (UUID)")),
    responses(
        (status = 200, description = "The order", body = OrderResponse),
        (status = 403, description = "Not an admin", body = crate::schema::ErrorBody),
        (status = 409, description = "Not paid (or already shipped, cancelled or expired)", body = crate::schema::ErrorBody),
    ),
    security(("token" = [])))]
#[tracing::instrument(name = "fulfil_order", skip_all, fields(user_id))]
pub async fn fulfil(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    require_admin(deps, &req).await?;
    let id = order_id_param(&req)?;
    let order = deps.store.fulfil_order(&id).await?;
    Ok(order_response(StatusCode::OK, &order))
}

/// GET /api/admin/orders?status=paid — every order in one status (default `paid`: the orders
/// waiting to be shipped), in cursor pages: awaiting payment by expiry (latest first), the
/// others newest in their status first.
#[utoipa::path(get, path = "/api/admin/orders", tag = "orders", operation_id = "listAllOrders",
    summary = "Every order in one status, newest first (admins)",
    params(
        ("status" = Option<crate::schema::OrderStatusName>, Query, description = "Default paid"),
        crate::schema::CursorPage,
    ),
    responses(
        (status = 200, description = "A page", body = OrdersResponse),
        (status = 403, description = "Not an admin", body = crate::schema::ErrorBody),
    ),
    security(("token" = [])))]
#[tracing::instrument(name = "list_all_orders", skip_all, fields(user_id))]
pub async fn admin_list(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    require_admin(deps, &req).await?;
    let status = match query_param(&req, "status") {
        Some(raw) => OrderStatus::parse(&raw)?,
        None => OrderStatus::Paid,
    };
    let limit = parse_limit(query_param(&req, "limit").as_deref())?;
    let cursor = cursor_param(&req)?;
    let (orders, next) = deps.store.orders_in(status, limit, cursor.as_ref()).await?;
    Ok(orders_response(&orders, next.as_ref()))
}
