//! An order's life after it is placed: its gateway payment attached, paid (by an admin, or by
//! the gateway's webhook), expired, cancelled (a refund owed when it was paid), refunded and
//! fulfilled. Every change is one conditional write on the status it was decided from, so a
//! webhook racing a cancel or an expiry ends in exactly one of them; every status change
//! appends to the order's `history` in the same write.
//!
//! | item          | pk                         | sk              | holds |
//! |---------------|----------------------------|-----------------|-------|
//! | payment event | `PAYMENT_EVENT#<event id>` | `PAYMENT_EVENT` | order_id, outcome, at, expires_at (TTL 30 days) |
//!
//! gsi2 holds an order under `ORDERS#STATUS#<status>`: while awaiting payment sorted by when
//! it expires (so the due ones are one key range), afterwards by when it entered its status.

use std::time::Duration;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use serde::Serialize;

use super::catalog::{Cause, stock_change};
use super::clock::{epoch_now, seconds};
use super::index_list::Index;
use super::keys::{due_before, order_key, order_status_sk, orders_in, payment_event_key};
use super::orders::{OrderItem, REFUND_DONE, REFUND_PENDING};
use super::tx::Tx;
use super::{Detailed, Store, StoreError, StoreResult, TransactFailure, from_item, key_pair};
use crate::domain::{
    Decision, GatewayEventId, HistoryEntry, Order, OrderId, OrderStatus, PaymentProvider, ProductId, Refund,
    UserId, now_timestamp,
};

/// How long a processed event is remembered: Stripe redelivers for up to 3 days.
const EVENT_MEMORY: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long cancelling or expiring retries while orders change its products: within the
/// function's 10 s.
const STOCK_DEADLINE: Duration = Duration::from_secs(8);

/// What applying a gateway event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Recorded, and the order changed as decided (or was left as it was, if so decided).
    Done,
    /// This event was processed before: nothing changed.
    Duplicate,
    /// The order changed since it was read: read it again and decide again.
    Raced,
}

#[derive(Serialize)]
struct EventItem<'a> {
    pk: String,
    sk: String,
    order_id: &'a str,
    outcome: &'a str,
    at: &'a str,
    expires_at: i64,
}

/// One conditional change of an order: out of one of `from`, into `to` (the same status for a
/// note), with a history entry and further `SET`s (`attribute = :attribute`).
#[derive(Clone)]
struct Change {
    from: Vec<OrderStatus>,
    to: OrderStatus,
    note: String,
    sets: Vec<(&'static str, AttributeValue)>,
    /// More condition, over the `sets` values, `:now` and `values`.
    condition: Option<&'static str>,
    /// Values only the condition names (`:name`).
    values: Vec<(&'static str, AttributeValue)>,
}

impl Change {
    fn new(from: &[OrderStatus], to: OrderStatus, note: impl Into<String>) -> Self {
        Self {
            from: from.to_vec(),
            to,
            note: note.into(),
            sets: Vec::new(),
            condition: None,
            values: Vec::new(),
        }
    }

    /// A value the condition names as `:name`, not written.
    fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.values.push((name, AttributeValue::S(value.into())));
        self
    }

    fn set(mut self, attribute: &'static str, value: impl Into<String>) -> Self {
        self.sets.push((attribute, AttributeValue::S(value.into())));
        self
    }

    fn only_if(mut self, condition: &'static str) -> Self {
        self.condition = Some(condition);
        self
    }

    /// The update expression, the names, the values and the condition, for `id` at `now`.
    #[allow(clippy::type_complexity)]
    fn parts(
        &self,
        id: &OrderId,
        now: &str,
    ) -> anyhow::Result<(
        String,
        Vec<(&'static str, &'static str)>,
        Vec<(String, AttributeValue)>,
        String,
    )> {
        let entry = HistoryEntry {
            status: self.to,
            note: self.note.clone(),
            at: now.to_owned(),
        };
        let mut expression =
            "SET #status = :to, updated_at = :now, #history = list_append(if_not_exists(#history, :none), :entry)"
                .to_owned();
        let mut values: Vec<(String, AttributeValue)> = vec![
            (":to".into(), AttributeValue::S(self.to.as_str().into())),
            (":now".into(), AttributeValue::S(now.to_owned())),
            (":none".into(), AttributeValue::L(vec![])),
            (":entry".into(), serde_dynamo::to_attribute_value(vec![entry])?),
        ];
        if !self.from.contains(&self.to) {
            expression.push_str(", gsi2pk = :list, gsi2sk = :list_sk");
            values.push((":list".into(), AttributeValue::S(orders_in(self.to))));
            values.push((
                ":list_sk".into(),
                AttributeValue::S(order_status_sk(now, id.as_str())),
            ));
        }
        for (attribute, value) in &self.sets {
            expression.push_str(&format!(", {attribute} = :{attribute}"));
            values.push((format!(":{attribute}"), value.clone()));
        }
        for (name, value) in &self.values {
            values.push((format!(":{name}"), value.clone()));
        }
        let from: Vec<String> = (0..self.from.len()).map(|i| format!(":from{i}")).collect();
        for (placeholder, status) in from.iter().zip(&self.from) {
            values.push((placeholder.clone(), AttributeValue::S(status.as_str().into())));
        }
        let mut condition = format!("#status IN ({})", from.join(", "));
        if let Some(more) = self.condition {
            condition = format!("{condition} AND ({more})");
        }
        Ok((
            expression,
            vec![("#status", "status"), ("#history", "history")],
            values,
            condition,
        ))
    }

    /// `order` as this change leaves it (for a change written in a transaction, which cannot
    /// answer the item).
    fn applied_to(&self, mut order: Order, now: &str) -> Order {
        order.status = self.to;
        order.updated_at = now.to_owned();
        if self.to != OrderStatus::AwaitingPayment {
            order.expires_at = None;
        }
        let pending = AttributeValue::S(REFUND_PENDING.into());
        if self
            .sets
            .iter()
            .any(|(a, v)| *a == "refund_state" && *v == pending)
        {
            order.payment.refund = Refund::Pending;
        }
        order.history.push(HistoryEntry {
            status: self.to,
            note: self.note.clone(),
            at: now.to_owned(),
        });
        order
    }

    fn into_tx(self, tx: &mut Tx<'_>, id: &OrderId, now: &str) -> anyhow::Result<usize> {
        let (expression, names, values, condition) = self.parts(id, now)?;
        let (pk, sk) = key_pair(&order_key(id));
        let values = values.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        tx.update_named(pk, &sk, &expression, &names, values, Some(&condition))
    }
}

/// What a single conditional update of an order found.
enum Updated {
    /// The order after the change.
    Changed(OrderItem),
    /// The condition failed; the order as it is (`None`: there is no such order).
    Refused(Option<OrderItem>),
}

impl Store {
    async fn update_order(&self, id: &OrderId, change: Change) -> StoreResult<Updated> {
        let now = now_timestamp();
        let (expression, names, values, condition) = change.parts(id, &now)?;
        self.update_order_item(id, &expression, &names, values, &condition)
            .await
    }

    /// One conditional `UpdateItem` of an order that answers the order either way: as the
    /// update left it, or (on a failed condition) as it is, so the caller can say why without
    /// reading it again.
    async fn update_order_item(
        &self,
        id: &OrderId,
        expression: &str,
        names: &[(&'static str, &'static str)],
        values: Vec<(String, AttributeValue)>,
        condition: &str,
    ) -> StoreResult<Updated> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(order_key(id)))
            .update_expression(expression)
            .condition_expression(condition)
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (placeholder, name) in names {
            update = update.expression_attribute_names(*placeholder, *name);
        }
        for (name, value) in values {
            update = update.expression_attribute_values(name, value);
        }
        match update.send().await {
            Ok(output) => Ok(Updated::Changed(from_item(
                output.attributes.unwrap_or_default(),
            )?)),
            Err(error) => match error.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    Ok(Updated::Refused(failed.item.clone().map(from_item).transpose()?))
                }
                _ => Err(StoreError::sdk("UpdateItem order", error)),
            },
        }
    }

    /// Records the gateway payment created for `order` (its id and the client secret the
    /// front end confirms it with), while the order still awaits payment.
    ///
    /// Access: `UpdateItem` conditioned on `status = awaiting_payment` and no other payment —
    /// 1 round trip.
    pub async fn attach_intent(
        &self,
        order: &OrderId,
        intent: &str,
        client_secret: &str,
    ) -> StoreResult<Order> {
        let values = vec![
            (":intent".to_owned(), AttributeValue::S(intent.to_owned())),
            (":secret".to_owned(), AttributeValue::S(client_secret.to_owned())),
            (
                ":awaiting".to_owned(),
                AttributeValue::S(OrderStatus::AwaitingPayment.as_str().into()),
            ),
        ];
        let updated = self
            .update_order_item(
                order,
                "SET payment_id = :intent, client_secret = :secret",
                &[("#status", "status")],
                values,
                "#status = :awaiting AND (attribute_not_exists(payment_id) OR payment_id = :intent)",
            )
            .await?;
        match updated {
            Updated::Changed(item) => Ok(item.into_order()),
            Updated::Refused(None) => Err(StoreError::NotFound("order")),
            Updated::Refused(Some(item)) => Err(wrong_status(item.status, "take a payment")),
        }
    }

    /// An admin records that the money of an order paid by hand (the `manual` provider)
    /// arrived.
    ///
    /// Access: `UpdateItem` conditioned on `status = awaiting_payment` and the manual provider —
    /// 1 round trip.
    pub async fn mark_paid(&self, id: &OrderId, admin: &UserId) -> StoreResult<Order> {
        let change = Change::new(
            &[OrderStatus::AwaitingPayment],
            OrderStatus::Paid,
            format!("marked paid by admin {admin}"),
        )
        .with("manual", PaymentProvider::Manual.as_str())
        .only_if("payment_provider = :manual");
        match self.update_order(id, change).await? {
            Updated::Changed(item) => Ok(item.into_order()),
            Updated::Refused(None) => Err(StoreError::NotFound("order")),
            Updated::Refused(Some(item)) if item.status == OrderStatus::AwaitingPayment => {
                Err(StoreError::Conflict(vec![(
                    "payment".into(),
                    format!(
                        "is taken through {}: the gateway's webhook marks this order paid",
                        item.payment_provider.unwrap_or(PaymentProvider::Manual).as_str()
                    ),
                )]))
            }
            Updated::Refused(Some(item)) => Err(wrong_status(item.status, "be marked paid")),
        }
    }

    /// Applies what `decision` (decided on `order` as read) says, and records `event` as
    /// processed, in one transaction: a redelivered event changes nothing, and an order that
    /// changed since it was read is not touched (the caller reads and decides again).
    /// `refund` is the gateway's refund id when the decision was to refund.
    ///
    /// Access: one `TransactWriteItems` of the event record (`attribute_not_exists`) and, when
    /// the order changes, the order (conditioned on the status it was read in) — 1 round trip.
    pub async fn apply_payment_event(
        &self,
        event: &GatewayEventId,
        order: &Order,
        intent: &str,
        decision: &Decision,
        refund: Option<&str>,
    ) -> StoreResult<Applied> {
        let now = now_timestamp();
        let outcome = match decision {
            Decision::MarkPaid => "paid",
            Decision::NoteFailure(_) => "payment_failed",
            Decision::Refund => "refunded",
            Decision::Refuse(_) => "refused",
            Decision::Nothing => "nothing",
        };
        let (pk, sk) = key_pair(&payment_event_key(event));
        let mut tx = Tx::new(&self.table);
        tx.put_new(&EventItem {
            pk,
            sk,
            order_id: order.id.as_str(),
            outcome,
            at: &now,
            expires_at: epoch_now() + seconds(EVENT_MEMORY),
        })?;
        let status = order.status;
        let change = match decision {
            Decision::MarkPaid => Some(
                Change::new(&[status], OrderStatus::Paid, "paid")
                    .set("payment_id", intent)
                    .only_if("attribute_not_exists(payment_id) OR payment_id = :payment_id"),
            ),
            Decision::NoteFailure(reason) => Some(Change::new(
                &[status],
                status,
                format!("payment failed: {reason}"),
            )),
            Decision::Refund => {
                let refund =
                    refund.ok_or_else(|| anyhow::anyhow!("BUG: a refund decision without its refund"))?;
                Some(
                    Change::new(
                        &[status],
                        status,
                        format!(
                            "payment arrived after the order was {}; refunded",
                            status.as_str()
                        ),
                    )
                    .set("payment_id", intent)
                    .set("refund_state", REFUND_DONE)
                    .set("refund_id", refund),
                )
            }
            Decision::Refuse(_) | Decision::Nothing => None,
        };
        if let Some(change) = change {
            change.into_tx(&mut tx, &order.id, &now)?;
        }
        match self.transact(tx.items).await {
            Ok(()) => Ok(Applied::Done),
            Err(TransactFailure::Cancelled(codes)) if TransactFailure::failed_at(&codes, 0) => {
                Ok(Applied::Duplicate)
            }
            Err(TransactFailure::Cancelled(_)) => Ok(Applied::Raced),
            Err(TransactFailure::Other(error)) => Err(error),
        }
    }

    /// The orders awaiting payment whose window closed at or before `now`, oldest first.
    ///
    /// Access: one `Query` of gsi2 `ORDERS#STATUS#awaiting_payment` with `gsi2sk <= <now>#~`
    /// (the sort key is the expiry), ascending, `Limit` — 1 round trip. Never a Scan: the
    /// partition holds only unpaid orders, and the key range only the due ones.
    pub async fn due_orders(&self, now: &str, limit: i32) -> StoreResult<Vec<Order>> {
        let (ipk, isk) = Index::Gsi2.keys();
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(Index::Gsi2.name())
            .key_condition_expression(format!("{ipk} = :list AND {isk} <= :due"))
            .expression_attribute_values(
                ":list",
                AttributeValue::S(orders_in(OrderStatus::AwaitingPayment)),
            )
            .expression_attribute_values(":due", AttributeValue::S(due_before(now)))
            .scan_index_forward(true)
            .limit(limit)
            .send()
            .await
            .map_err(|e| StoreError::sdk("Query due orders", e))?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| Ok(from_item::<OrderItem>(item)?.into_order()))
            .collect()
    }

    /// Expires `order` if it still awaits payment and its window has closed at `now`: the
    /// status and the stock's return (ledger reason `expired`) in one transaction. `None` when
    /// it was paid, cancelled or expired meanwhile: the stock is returned exactly once.
    ///
    /// Access: `BatchGetItem` of its products, then one `TransactWriteItems` of the order
    /// (`status = awaiting_payment AND pay_by <= now`) and per line the stock increment and
    /// its ledger entry — 2 round trips (again while other orders move the same products).
    pub async fn expire_order(&self, order: &Order, now: &str) -> StoreResult<Option<Order>> {
        let change = Change::new(
            &[OrderStatus::AwaitingPayment],
            OrderStatus::Expired,
            "not paid in time",
        )
        .with("due", now)
        .only_if("pay_by <= :due");
        self.return_stock(order, change, |id| Cause::Expire(id)).await
    }

    /// Changes `order` with `change` and returns its stock, with ledger entries, in one
    /// transaction; retried while other orders move the same products. `None` when the order's
    /// own condition failed (it changed meanwhile).
    ///
    /// A product another order moved since it was read comes back with the cancellation
    /// (`ReturnValuesOnConditionCheckFailure`), so a retry needs no read, and the wait before it
    /// stays short (4 ms doubling to 128 ms, full jitter): giving stock back cannot fail for
    /// want of stock, so it goes in between buyers whose back-off grows to seconds, instead of
    /// queueing behind them until the deadline.
    async fn return_stock(
        &self,
        order: &Order,
        change: Change,
        cause: impl for<'c> Fn(&'c str) -> Cause<'c>,
    ) -> StoreResult<Option<Order>> {
        let started = tokio::time::Instant::now();
        let ids: Vec<ProductId> = order
            .lines
            .iter()
            .map(|l| ProductId::from_trusted(l.product_id.clone()))
            .collect();
        let mut products = self.products_by_id(ids.iter()).await?;
        for attempt in 0u32.. {
            let now = now_timestamp();
            let mut tx = Tx::new(&self.table);
            change.clone().into_tx(&mut tx, &order.id, &now)?;
            let mut indexes = Vec::with_capacity(order.lines.len());
            for (line, product) in order.lines.iter().zip(&products) {
                let product = product.as_ref().ok_or_else(|| {
                    anyhow::anyhow!("order {} names missing product {}", order.id, line.product_id)
                })?;
                indexes.push(stock_change(
                    &mut tx,
                    product,
                    line.quantity,
                    cause(order.id.as_str()),
                    &now,
                )?);
            }
            let reasons = match self.transact_detailed(tx.items, false).await {
                Ok(()) => return Ok(Some(change.applied_to(order.clone(), &now))),
                Err(Detailed::Cancelled(reasons)) => reasons,
                Err(Detailed::Other(error)) => return Err(error),
            };
            let failed = |i: usize| Detailed::failed_at(&reasons, i);
            if failed(0) {
                return Ok(None);
            }
            if started.elapsed() >= STOCK_DEADLINE {
                return Err(StoreError::Contended("order"));
            }
            let mut unseen = false;
            for (&index, product) in indexes.iter().zip(products.iter_mut()) {
                match reasons.get(index).and_then(|r| r.item.clone()) {
                    Some(item) => *product = Some(from_item(item)?),
                    None if failed(index) => unseen = true,
                    None => {}
                }
            }
            let cap = 4u64 << attempt.min(5);
            tokio::time::sleep(Duration::from_millis(rand::random_range(0..cap))).await;
            if unseen {
                products = self.products_by_id(ids.iter()).await?;
            }
        }
        unreachable!("BUG: the retry loop returns from its last attempt")
    }

    /// Cancels `user`'s order and puts its stock back, with ledger entries, in the same
    /// transaction as the status change. A paid order is cancelled with a refund owed
    /// ([`Refund::Pending`]): the caller refunds it at the gateway and records that with
    /// [`Store::record_refund`]; cancelling again while the refund is owed answers the order
    /// as it is, so a retry completes the refund. Another user's order is not found.
    ///
    /// Access: `GetItem` of the order, `BatchGetItem` of its products, then one
    /// `TransactWriteItems` of the order (conditioned on the status read) and per line the
    /// stock increment and its ledger entry — 3 round trips.
    pub async fn cancel_order(&self, id: &OrderId, user: &UserId) -> StoreResult<Order> {
        loop {
            let order = self
                .get_order(id)
                .await?
                .filter(|o| &o.user_id == user)
                .ok_or(StoreError::NotFound("order"))?;
            let status = order.status;
            let change = match status {
                OrderStatus::AwaitingPayment | OrderStatus::Placed => {
                    Change::new(&[status], OrderStatus::Cancelled, "cancelled by its owner")
                }
                OrderStatus::Paid => Change::new(
                    &[status],
                    OrderStatus::Cancelled,
                    "cancelled by its owner; refund owed",
                )
                .set("refund_state", REFUND_PENDING),
                OrderStatus::Cancelled if order.payment.refund == Refund::Pending => return Ok(order),
                _ => return Err(wrong_status(status, "be cancelled")),
            };
            if let Some(cancelled) = self.return_stock(&order, change, |id| Cause::Cancel(id)).await? {
                return Ok(cancelled);
            }
            // The order changed between the read and the write (paid, expired): decide again.
        }
    }

    /// Records that the refund owed on a cancelled order went through at the gateway.
    ///
    /// Access: `UpdateItem` conditioned on the refund being owed — 1 round trip.
    pub async fn record_refund(&self, order: &Order, refund_id: &str) -> StoreResult<Order> {
        let change = Change::new(&[order.status], order.status, "refunded")
            .set("refund_state", REFUND_DONE)
            .set("refund_id", refund_id)
            .with("owed", REFUND_PENDING)
            .only_if("refund_state = :owed");
        match self.update_order(&order.id, change).await? {
            Updated::Changed(item) => Ok(item.into_order()),
            Updated::Refused(Some(item)) => Ok(item.into_order()),
            Updated::Refused(None) => Err(StoreError::NotFound("order")),
        }
    }

    /// Marks a paid (or, from before payments, placed) order fulfilled.
    ///
    /// Access: `UpdateItem` conditioned on `status IN (paid, placed)`, returning the order
    /// either way — 1 round trip.
    pub async fn fulfil_order(&self, id: &OrderId) -> StoreResult<Order> {
        let change = Change::new(
            &[OrderStatus::Paid, OrderStatus::Placed],
            OrderStatus::Fulfilled,
            "fulfilled",
        );
        match self.update_order(id, change).await? {
            Updated::Changed(item) => Ok(item.into_order()),
            Updated::Refused(None) => Err(StoreError::NotFound("order")),
            Updated::Refused(Some(item)) => Err(wrong_status(item.status, "be fulfilled")),
        }
    }
}

/// The conflict of a change an order's status does not allow.
fn wrong_status(status: OrderStatus, wanted: &str) -> StoreError {
    let allowed = match wanted {
        "be fulfilled" => "a paid order",
        "be cancelled" => "an order awaiting payment or paid",
        _ => "an order awaiting payment",
    };
    StoreError::Conflict(vec![(
        "status".into(),
        format!("is {}; only {allowed} can {wanted}", status.as_str()),
    )])
}
