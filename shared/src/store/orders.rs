//! Orders and the idempotency records that make placing one safe to retry.
//!
//! | item        | pk                          | sk            | holds |
//! |-------------|-----------------------------|---------------|-------|
//! | order       | `ORDER#<id>`                | `ORDER`       | user_id, status, lines (prices copied), total; gsi1 `ORDERS#USER#<user>`, gsi2 `ORDERS#STATUS#<status>`, both sorted by `<created_at>#<id>` |
//! | idempotency | `IDEMPOTENCY#<user>#<key>`  | `IDEMPOTENCY` | request, state, claim, claimed_until, the first response, expires_at (TTL) |
//!
//! Placing an order is one `TransactWriteItems`: the order (`attribute_not_exists`), the
//! idempotency record (still claimed by this request), and per line the product's stock
//! decrement (`stock >= :q AND status = active`, at the `stock_seq` read) with its ledger
//! entry. So either the order exists with every unit taken and recorded, or nothing changed.

use std::time::Duration;

use aws_sdk_dynamodb::types::TransactWriteItem;
use serde::{Deserialize, Serialize};

use super::catalog::{Cause, ProductItem, stock_change};
use super::idempotency::ClaimTicket;
use super::index_list::{Index, IndexList};
use super::keys::{
    ORDER_PREFIX, ORDER_SK, order_key, order_status_sk, orders_in, orders_of, product_key, product_pk,
};
use super::tx::Tx;
use super::{Detailed, Store, StoreError, StoreResult, from_item, key_pair};
use crate::domain::{
    Currency, Cursor, HistoryEntry, Order, OrderId, OrderLines, OrderPayment, OrderStatus, PaymentProvider,
    PlacedLine, ProductId, ProductStatus, Refund, UserId, now_timestamp, timestamp_in,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct OrderItem {
    pub(super) pk: String,
    pub(super) sk: String,
    pub(super) id: String,
    pub(super) user_id: String,
    pub(super) status: OrderStatus,
    pub(super) lines: Vec<PlacedLine>,
    pub(super) currency: String,
    pub(super) total_amount: i64,
    pub(super) created_at: String,
    pub(super) updated_at: String,
    gsi1pk: String,
    gsi1sk: String,
    gsi2pk: String,
    gsi2sk: String,
    /// While awaiting payment: when it expires (ISO 8601; not `expires_at`, which is the
    /// table's TTL attribute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) pay_by: Option<String>,
    /// Absent on orders from before payments (manual, nothing to pay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) payment_provider: Option<PaymentProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) payment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) client_secret: Option<String>,
    /// `pending` or `done`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) refund_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) refund_id: Option<String>,
    #[serde(default)]
    pub(super) history: Vec<HistoryEntry>,
}

/// `refund_state` of a refund owed and not yet confirmed by the gateway.
pub(super) const REFUND_PENDING: &str = "pending";
/// `refund_state` of a refund the gateway confirmed.
pub(super) const REFUND_DONE: &str = "done";

impl OrderItem {
    pub(super) fn into_order(self) -> Order {
        let refund = match (self.refund_state.as_deref(), self.refund_id) {
            (Some(REFUND_DONE), Some(id)) => Refund::Done(id),
            (Some(REFUND_PENDING), _) => Refund::Pending,
            _ => Refund::None,
        };
        Order {
            id: OrderId::from_trusted(self.id),
            user_id: UserId::from_trusted(self.user_id),
            status: self.status,
            lines: self.lines,
            currency: Currency::from_trusted(self.currency),
            total_amount: self.total_amount,
            created_at: self.created_at,
            updated_at: self.updated_at,
            expires_at: self
                .pay_by
                .filter(|_| self.status == OrderStatus::AwaitingPayment),
            payment: OrderPayment {
                provider: self.payment_provider.unwrap_or(PaymentProvider::Manual),
                intent_id: self.payment_id,
                client_secret: self.client_secret,
                refund,
            },
            history: self.history,
        }
    }
}

/// How a new order is to be paid for.
#[derive(Debug, Clone, Copy)]
pub struct OrderTerms {
    /// Who takes the money.
    pub provider: PaymentProvider,
    /// How long the order holds its stock while it waits for the money.
    pub window: Duration,
}

/// Where the idempotency record's update sits in an order's transaction (after the order).
const CLAIM_INDEX: usize = 1;
/// Where the first line's product update sits; each line is that update and its ledger entry.
const FIRST_LINE_INDEX: usize = 2;

/// How long placing an order keeps retrying while other orders change the same products:
/// within the function's 10 s timeout. Only a product bought by hundreds at the same moment
/// comes near it (docs/access-patterns.md); past it the key is released and the client is told
/// to retry, which the key makes safe.
const CONTENTION_DEADLINE: Duration = Duration::from_secs(8);

impl Store {
    /// Places an order for `user` under the claimed key: reads the products, copies their
    /// prices, and commits everything in one transaction. The order awaits payment until
    /// `terms.window` has passed (then the expiry sweep returns its stock). `render` makes the
    /// response body recorded for replays.
    ///
    /// Access: `BatchGetItem` of the products (strongly consistent), then one
    /// `TransactWriteItems` of 2 + 2 per line items — 2 round trips. When another order changed
    /// one of the products in between, both again (with jittered back-off) until the stock
    /// runs out or [`CONTENTION_DEADLINE`] passes.
    pub async fn place_order(
        &self,
        user: &UserId,
        lines: &OrderLines,
        terms: OrderTerms,
        ticket: &ClaimTicket,
        render: &(dyn Fn(&Order) -> String + Send + Sync),
    ) -> StoreResult<(Order, String)> {
        let id = OrderId::generate();
        let started = tokio::time::Instant::now();
        let mut products = self.products_for(lines).await?;
        let mut read_at = tokio::time::Instant::now();
        for attempt in 0u32.. {
            let (order, body, items) =
                self.order_attempt((&id, user, terms), lines, &products, ticket, render)?;
            match self.transact_detailed(items, false).await {
                Ok(()) => return Ok((order.into_order(), body)),
                Err(Detailed::Cancelled(reasons)) => {
                    if Detailed::failed_at(&reasons, CLAIM_INDEX) {
                        return Err(StoreError::Contended("Idempotency-Key"));
                    }
                    if started.elapsed() > CONTENTION_DEADLINE {
                        // Out of time: if the stock as it is now refuses the order, say so
                        // (that is the answer a retry would get); else ask for a retry.
                        refusal(lines, &self.products_for(lines).await?)?;
                        self.release_idempotency(ticket).await?;
                        return Err(StoreError::Contended("stock"));
                    }
                    // Another order moved a product since it was read. The cancellation carries
                    // each such product as it is now: if that already decides the order (out of
                    // stock, archived), answer at once.
                    let mut decided = products.clone();
                    for (line, product) in decided.iter_mut().enumerate() {
                        let index = FIRST_LINE_INDEX + 2 * line;
                        if let Some(item) = reasons.get(index).and_then(|r| r.item.clone()) {
                            *product = Some(from_item(item)?);
                        }
                    }
                    refusal(lines, &decided)?;
                    // Otherwise wait (exponential back-off, full jitter: many buyers of one
                    // product spread out so that one commits per try instead of none), then
                    // read afresh: what was learnt before the wait is stale after it.
                    // The window grows with the tries and with how long this read-and-write
                    // took: a slow round trip means a long queue of other buyers, so the
                    // retries spread over about as long as that queue takes to serve.
                    let took = u64::try_from(read_at.elapsed().as_millis()).unwrap_or(u64::MAX);
                    let cap = (8u64 << attempt.min(7)).max(took.saturating_mul(2)).min(2_000);
                    tokio::time::sleep(Duration::from_millis(rand::random_range(0..cap))).await;
                    read_at = tokio::time::Instant::now();
                    products = self.products_for(lines).await?;
                }
                Err(Detailed::Other(error)) => return Err(error),
            }
        }
        unreachable!("BUG: the retry loop returns from its last attempt")
    }

    /// One try at an order from `products` as read: the refusal it deserves, or the order,
    /// its recorded response and the transaction to commit.
    fn order_attempt(
        &self,
        (id, user, terms): (&OrderId, &UserId, OrderTerms),
        lines: &OrderLines,
        products: &[Option<ProductItem>],
        ticket: &ClaimTicket,
        render: &(dyn Fn(&Order) -> String + Send + Sync),
    ) -> StoreResult<(OrderItem, String, Vec<TransactWriteItem>)> {
        refusal(lines, products)?;
        let products: Vec<&ProductItem> = products.iter().flatten().collect();
        let too_large = || StoreError::Rejected(vec![("lines".into(), "total is too large".into())]);
        let placed = lines
            .as_slice()
            .iter()
            .zip(&products)
            .map(|(line, product)| {
                Ok(PlacedLine {
                    product_id: product.id.clone(),
                    name: product.name.clone(),
                    quantity: line.quantity,
                    unit_amount: product.price_amount,
                    line_amount: product
                        .price_amount
                        .checked_mul(line.quantity)
                        .ok_or_else(too_large)?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let total = placed
            .iter()
            .try_fold(0i64, |sum, line| sum.checked_add(line.line_amount))
            .ok_or_else(too_large)?;
        let currency = products[0].currency.clone();
        let now = now_timestamp();
        let pay_by = timestamp_in(terms.window);
        let order = OrderItem {
            pk: key_pair(&order_key(id)).0,
            sk: ORDER_SK.into(),
            id: id.to_string(),
            user_id: user.to_string(),
            status: OrderStatus::AwaitingPayment,
            lines: placed,
            currency,
            total_amount: total,
            created_at: now.clone(),
            updated_at: now.clone(),
            gsi1pk: orders_of(user),
            gsi1sk: order_status_sk(&now, id.as_str()),
            gsi2pk: orders_in(OrderStatus::AwaitingPayment),
            gsi2sk: order_status_sk(&pay_by, id.as_str()),
            pay_by: Some(pay_by),
            payment_provider: Some(terms.provider),
            payment_id: None,
            client_secret: None,
            refund_state: None,
            refund_id: None,
            history: vec![HistoryEntry {
                status: OrderStatus::AwaitingPayment,
                note: "placed".into(),
                at: now.clone(),
            }],
        };
        let body = render(&order.clone().into_order());
        let mut tx = Tx::new(&self.table);
        tx.put_new(&order)?;
        let claim_index = ticket.record_response(&mut tx, 201, &body)?;
        debug_assert_eq!(claim_index, CLAIM_INDEX);
        debug_assert_eq!(tx.items.len(), FIRST_LINE_INDEX);
        for (line, product) in lines.as_slice().iter().zip(&products) {
            stock_change(&mut tx, product, -line.quantity, Cause::Order(&order.id), &now)?;
        }
        Ok((order, body, tx.items))
    }

    /// The products of `lines`, in line order (`None` for an unknown id), strongly consistent.
    async fn products_for(&self, lines: &OrderLines) -> StoreResult<Vec<Option<ProductItem>>> {
        self.products_by_id(lines.as_slice().iter().map(|l| &l.product_id))
            .await
    }

    pub(super) async fn products_by_id<'a>(
        &self,
        ids: impl Iterator<Item = &'a ProductId> + Clone,
    ) -> StoreResult<Vec<Option<ProductItem>>> {
        let mut items = self
            .batch_get(ids.clone().map(product_key).collect(), &[], true)
            .await?;
        ids.map(|id| {
            items
                .remove(&(product_pk(id), super::keys::PRODUCT_SK.to_owned()))
                .map(from_item)
                .transpose()
                .map_err(StoreError::from)
        })
        .collect()
    }

    /// Reads an order.
    ///
    /// Access: `GetItem ORDER#<id>/ORDER`, strongly consistent — 1 round trip.
    pub async fn get_order(&self, id: &OrderId) -> StoreResult<Option<Order>> {
        Ok(self
            .get_consistent::<OrderItem>(order_key(id))
            .await?
            .map(OrderItem::into_order))
    }

    /// A user's orders, newest first.
    ///
    /// Access: one `Query` of gsi1 `ORDERS#USER#<user>`, descending — 1 round trip. The index
    /// is eventually consistent: an order placed a moment ago may take a moment to be listed
    /// (it can always be read by id at once).
    pub async fn orders_of(
        &self,
        user: &UserId,
        limit: usize,
        cursor: Option<&Cursor>,
    ) -> StoreResult<(Vec<Order>, Option<Cursor>)> {
        self.order_index(Index::Gsi1, orders_of(user), limit, cursor)
            .await
    }

    /// Every order in `status`, newest first, for admins.
    ///
    /// Access: one `Query` of gsi2 `ORDERS#STATUS#<status>`, descending — 1 round trip.
    pub async fn orders_in(
        &self,
        status: OrderStatus,
        limit: usize,
        cursor: Option<&Cursor>,
    ) -> StoreResult<(Vec<Order>, Option<Cursor>)> {
        self.order_index(Index::Gsi2, orders_in(status), limit, cursor)
            .await
    }

    async fn order_index(
        &self,
        index: Index,
        partition: String,
        limit: usize,
        cursor: Option<&Cursor>,
    ) -> StoreResult<(Vec<Order>, Option<Cursor>)> {
        // The index's key attributes, and an order's values for them.
        type IndexKey = fn(&OrderItem) -> (String, String);
        let (ipk, isk) = index.keys();
        let index_key: IndexKey = match index {
            Index::Gsi1 => |o| (o.gsi1pk.clone(), o.gsi1sk.clone()),
            Index::Gsi2 => |o| (o.gsi2pk.clone(), o.gsi2sk.clone()),
        };
        let list = IndexList {
            index,
            partition,
            record: (ORDER_PREFIX, ORDER_SK),
            valid_id: |id| OrderId::parse(id).is_some(),
            operation: "Query orders",
        };
        let (orders, next) = self
            .index_page(list, limit, cursor, |o: &OrderItem| {
                let (index_pk, index_sk) = index_key(o);
                [
                    ("pk", o.pk.clone()),
                    ("sk", o.sk.clone()),
                    (ipk, index_pk),
                    (isk, index_sk),
                ]
            })
            .await?;
        Ok((orders.into_iter().map(OrderItem::into_order).collect(), next))
    }
}

/// Why `products` (in line order, as read) cannot serve `lines`, if they cannot: unknown
/// products (422), archived ones or too little stock (409, every line that applies), or prices
/// in more than one currency (422).
fn refusal(lines: &OrderLines, products: &[Option<ProductItem>]) -> StoreResult<()> {
    let mut unknown = Vec::new();
    let mut short = Vec::new();
    for (i, (line, product)) in lines.as_slice().iter().zip(products).enumerate() {
        let field = format!("lines[{i}].productId");
        let Some(product) = product else {
            unknown.push((field, format!("no product {}", line.product_id)));
            continue;
        };
        if product.status != ProductStatus::Active {
            short.push((field, format!("product {} is no longer sold", product.id)));
        } else if product.stock < line.quantity {
            short.push((
                format!("lines[{i}].quantity"),
                format!(
                    "product {} has only {} in stock, {} asked",
                    product.id, product.stock, line.quantity
                ),
            ));
        }
    }
    if !unknown.is_empty() {
        return Err(StoreError::Rejected(unknown));
    }
    if !short.is_empty() {
        return Err(StoreError::Conflict(short));
    }
    let mut currencies = products.iter().flatten().map(|p| &p.currency);
    let first = currencies.next();
    if currencies.any(|c| Some(c) != first) {
        return Err(StoreError::Rejected(vec![(
            "lines".into(),
            "mix currencies; order products priced in one currency together".into(),
        )]));
    }
    Ok(())
}
