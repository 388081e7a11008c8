//! Payments: the gateway's webhook (`POST /api/payments/webhook`), an admin marking a manual
//! payment (`POST /api/orders/{id}/mark-paid`), and the scheduled sweep that expires unpaid
//! orders (`expire-orders`). docs/payments.md tells the whole flow.

use http::StatusCode;
use keel::config::Needs;
use keel::domain::{Decision, OrderId, decide, now_timestamp};
use keel::error::FieldErrors;
use keel::http::{MAX_BODY_BYTES, json, order_id_param};
use keel::payments::webhook::{self, WebhookError};
use keel::store::Applied;
use keel::telemetry::{self, Metric};
use keel::{ApiError, Deps};
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use crate::access::require_admin;
use crate::endpoint;
use crate::orders::order_response;

endpoint!(
    /// `payment-webhook`: POST /api/payments/webhook (the gateway; no token).
    WEBHOOK = "payment-webhook" => webhook, TableAndPayments
);
endpoint!(
    /// `mark-paid`: POST /api/orders/{id}/mark-paid (admin; manual payments).
    MARK_PAID = "mark-paid" => mark_paid, TableAndTokens
);

/// The header Stripe signs its webhooks in.
pub const SIGNATURE_HEADER: &str = "stripe-signature";
/// How often one event re-reads its order after a racing change, before asking for redelivery.
const RACE_ATTEMPTS: usize = 5;

/// What the webhook answers the gateway (any 2xx stops its redelivery).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Received {
    received: bool,
    /// What the event did: `paid`, `payment_failed`, `refunded`, `refused`, `nothing`,
    /// `duplicate` (processed before), or `ignored` (not an event Keel acts on).
    outcome: &'static str,
}

fn received(outcome: &'static str) -> Response<Body> {
    json(
        StatusCode::OK,
        &Received {
            received: true,
            outcome,
        },
    )
}

/// POST /api/payments/webhook — a gateway event. Only an event whose `Stripe-Signature`
/// verifies under a configured signing secret (HMAC-SHA256 over `timestamp.payload`, within 5
/// minutes) is read; anything else is a 400 and changes nothing. Each event is processed once;
/// redelivery and any order of delivery are normal.
///
/// A payment that succeeds for the order's exact amount and currency marks it paid; one for an
/// order that expired or was cancelled is refunded; a mismatch is refused (recorded, logged and
/// counted for an operator, never paid). Until the order can be read the answer is a 409, which
/// the gateway redelivers.
#[utoipa::path(post, path = "/api/payments/webhook", tag = "payments", operation_id = "paymentWebhook",
    summary = "A payment gateway's event (Stripe-signed)",
    params(("Stripe-Signature" = String, Header, min_length = 1, description = "t=<unix seconds>,v1=<hex HMAC-SHA256>")),
    request_body(content = Object, description = "The gateway's event, exactly as signed"),
    responses(
        (status = 200, description = "Processed (or already, or not an event Keel acts on)", body = Received),
        (status = 400, description = "Signature missing, malformed, stale or not matching; or not an event", body = crate::schema::ErrorBody),
        (status = 404, description = "No gateway is configured (the manual provider)", body = crate::schema::ErrorBody),
        (status = 409, description = "The order is not readable yet, or kept changing: redeliver", body = crate::schema::ErrorBody),
        (status = 503, description = "The gateway did not confirm a refund: redeliver", body = crate::schema::ErrorBody),
    ))]
#[tracing::instrument(name = "payment_webhook", skip_all, fields(event_id, order_id))]
pub async fn webhook(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let payload = req.body().as_ref();
    if payload.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    // Unsigned is refused before anything else, gateway or not.
    let header = req
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| refused(&WebhookError::Malformed))?;
    let payments = deps.payments()?;
    let stripe = payments
        .stripe_client()
        .ok_or(ApiError::NotFound("payment gateway"))?;
    if let Err(error) = webhook::verify(header, payload, stripe.webhook_secrets(), webhook::unix_now()) {
        telemetry::count(Metric::WebhookRejected, 1);
        tracing::warn!(%error, "webhook refused");
        return Err(refused(&error));
    }
    let Some(event) = webhook::parse(payload).map_err(|error| refused(&error))? else {
        return Ok(received("ignored"));
    };
    tracing::Span::current().record("event_id", event.id.as_str());
    let reported = event.payment.payment();
    let Some(order_id) = OrderId::parse(&reported.order_id) else {
        // Another integration's payment on the same account: not Keel's to act on.
        tracing::info!(order_id = reported.order_id, "payment for no Keel order ignored");
        return Ok(received("ignored"));
    };
    tracing::Span::current().record("order_id", order_id.as_str());
    settle(deps, &event, &order_id).await
}

/// Applies a verified `event` to its order: read, decide, (refund), write under the status
/// read; again when the order changed in between.
async fn settle(deps: &Deps, event: &webhook::Event, order_id: &OrderId) -> Result<Response<Body>, ApiError> {
    let payments = deps.payments()?;
    let reported = event.payment.payment();
    for _ in 0..RACE_ATTEMPTS {
        let Some(order) = deps.store.get_order(order_id).await? else {
            return Err(ApiError::Conflict(FieldErrors::single(
                "order",
                "is not readable yet; redeliver the event",
            )));
        };
        let decision = decide(&order, &event.payment);
        let refund = match decision {
            Decision::Refund => payments.refund(&order, &reported.intent_id).await?,
            _ => None,
        };
        let applied = deps
            .store
            .apply_payment_event(
                &event.id,
                &order,
                &reported.intent_id,
                &decision,
                refund.as_deref(),
            )
            .await?;
        match applied {
            Applied::Duplicate => return Ok(received("duplicate")),
            Applied::Raced => continue,
            Applied::Done => {
                let (metric, outcome) = match decision {
                    Decision::MarkPaid => (Some(Metric::OrderPaid), "paid"),
                    Decision::NoteFailure(_) => (Some(Metric::PaymentFailed), "payment_failed"),
                    Decision::Refund => (Some(Metric::PaymentRefunded), "refunded"),
                    Decision::Refuse(reason) => {
                        tracing::error!(
                            reason,
                            "payment refused: not this order's amount, currency or payment; look at it"
                        );
                        (Some(Metric::PaymentRefused), "refused")
                    }
                    Decision::Nothing => (None, "nothing"),
                };
                if let Some(metric) = metric {
                    telemetry::count(metric, 1);
                }
                return Ok(received(outcome));
            }
        }
    }
    Err(ApiError::Conflict(FieldErrors::single(
        "order",
        "kept changing; redeliver the event",
    )))
}

fn refused(error: &WebhookError) -> ApiError {
    let field = match error {
        WebhookError::Unreadable(_) => "event",
        _ => "Stripe-Signature",
    };
    ApiError::BadRequest(FieldErrors::single(field, error.to_string()))
}

/// POST /api/orders/{id}/mark-paid — an admin records that an order's money arrived outside
/// Keel (bank transfer, cash): the `manual` provider's way to pay. An order paid through a
/// gateway is marked paid by the gateway's webhook only.
#[utoipa::path(post, path = "/api/orders/{id}/mark-paid", tag = "orders", operation_id = "markOrderPaid",
    summary = "Mark an order awaiting a manual payment paid (admins)",
    params(("id" = String, Path, description = "The order id (UUID)")),
    responses(
        (status = 200, description = "The order, paid", body = crate::orders::OrderResponse),
        (status = 403, description = "Not an admin", body = crate::schema::ErrorBody),
        (status = 409, description = "Not awaiting payment, or paid through a gateway", body = crate::schema::ErrorBody),
    ),
    security(("token" = [])))]
#[tracing::instrument(name = "mark_paid", skip_all, fields(user_id))]
pub async fn mark_paid(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let admin = require_admin(deps, &req).await?;
    let id = order_id_param(&req)?;
    let order = deps.store.mark_paid(&id, &admin.user_id).await?;
    telemetry::count(Metric::OrderPaid, 1);
    Ok(order_response(StatusCode::OK, &order))
}

/// The expiry sweep's binary.
pub const EXPIRE: &str = "expire-orders";
/// What its cold start loads: the table, and the gateway to cancel expired payments.
pub const EXPIRE_NEEDS: Needs = Needs::TableAndPayments;
/// Orders read per page of the sweep.
const SWEEP_PAGE: i32 = 25;
/// How long one sweep runs before leaving the rest to the next (its function's timeout is 60 s).
const SWEEP_BUDGET: std::time::Duration = std::time::Duration::from_secs(45);

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Orders expired (stock returned).
    pub expired: usize,
    /// Due orders that had been paid or cancelled in the meantime.
    pub skipped: usize,
    /// Orders that could not be expired this time (they stay due; the next sweep retries).
    pub failed: usize,
}

/// Expires every order whose payment window has closed: its stock goes back through the ledger
/// and its gateway payment is cancelled. Reads only the due orders, through gsi2. A failure
/// leaves the order due for the next sweep and fails this invocation (counted in the
/// function's `Errors`, which is alarmed); it never drops an order.
pub async fn expire_due(deps: &Deps) -> Result<Swept, anyhow::Error> {
    let started = std::time::Instant::now();
    let now = now_timestamp();
    let payments = deps.payments()?;
    let mut swept = Swept::default();
    let mut seen = std::collections::HashSet::new();
    while started.elapsed() < SWEEP_BUDGET {
        let due = deps.store.due_orders(&now, SWEEP_PAGE).await?;
        // A short page is the last: no query to learn that nothing is left.
        let last = due.len() < usize::try_from(SWEEP_PAGE).unwrap_or(usize::MAX);
        let fresh: Vec<_> = due.into_iter().filter(|o| seen.insert(o.id.clone())).collect();
        if fresh.is_empty() {
            break;
        }
        for order in fresh {
            match deps.store.expire_order(&order, &now).await {
                Ok(Some(expired)) => {
                    swept.expired += 1;
                    telemetry::count(Metric::OrderExpired, 1);
                    if let Err(error) = payments.cancel_intent(&expired).await {
                        // Harmless: a payment that still succeeds is refunded by its webhook.
                        telemetry::count(Metric::GatewayCallFailed, 1);
                        tracing::warn!(order_id = %expired.id, error = format!("{error:#}"), "cancelling an expired order's payment failed");
                    }
                }
                Ok(None) => swept.skipped += 1,
                Err(error) => {
                    swept.failed += 1;
                    tracing::error!(order_id = %order.id, error = format!("{error:#}"), "expiring an order failed; the next sweep retries it");
                }
            }
        }
        if last {
            break;
        }
    }
    tracing::info!(
        expired = swept.expired,
        skipped = swept.skipped,
        failed = swept.failed,
        "expiry sweep"
    );
    if swept.failed > 0 {
        anyhow::bail!(
            "{} due orders could not be expired; the next sweep retries them",
            swept.failed
        );
    }
    Ok(swept)
}

/// The sweep's invocation: the schedule's event carries nothing it needs.
pub async fn on_schedule(deps: &'static Deps, _event: serde_json::Value) -> Result<(), lambda_http::Error> {
    expire_due(deps).await.map(|_| ()).map_err(Into::into)
}

/// `expire-orders`' `main`.
pub async fn serve_expiry() -> Result<(), lambda_http::Error> {
    crate::serve_events(EXPIRE, EXPIRE_NEEDS, on_schedule).await
}
