//! DynamoDB access. One table (single-table design, `pk`/`sk`), one module per aggregate.
//!
//! Conventions every module follows:
//! - Items are (de)serialised with `serde_dynamo` from private `*Item` structs; entity types in
//!   `domain` never carry key attributes.
//! - Uniqueness is enforced by guard items written in the same `TransactWriteItems` as the record,
//!   conditioned on `attribute_not_exists(pk)`; there is no read-then-write check anywhere.
//! - A `ConditionalCheckFailed` becomes a domain error *here*, so handlers only use `?`.
//! - Every access pattern is written down next to its code as `Access:` (key, index, round trips);
//!   `docs/access-patterns.md` collects them.

mod article_lists;
mod articles;
mod batch;
mod catalog;
mod catalog_list;
mod clock;
mod comments;
mod entries;
mod error;
mod favorites;
mod idempotency;
mod index_list;
/// Every key format of the table.
pub mod keys;
mod order_life;
mod orders;
mod profiles;
/// The change stream: feed fan-out and post-delete clean-up.
pub mod stream;
mod throttle;
mod title_index;
mod tx;
mod uploads;
mod users;

use std::time::Duration;

use anyhow::Context as _;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::TransactWriteItem;

pub use article_lists::{ArticleList, ArticleSearch, ListFilter};
pub use error::{StoreError, StoreResult};
pub use idempotency::{Claim, ClaimTicket};
pub use order_life::Applied;
pub use orders::OrderTerms;
pub use throttle::{
    EMAIL_DELAY_AFTER, LOGIN_WINDOW, LoginGate, MAX_EMAIL_DELAY, MAX_PAIR_FAILURES, MAX_SOURCE_FAILURES,
};
pub use uploads::{PENDING_LIFETIME, Verdict};
pub use users::{LoginRecord, SESSION_PROJECTION, UserUpdate};

/// An item's primary key as the SDK takes it.
pub type Key = std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>;

use keys::key;

/// Handle to the table. Cheap to clone: the SDK client is an `Arc` inside.
#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    /// A store over `table`, using a client built once per cold start.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The table name, for logs and tests.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The SDK client, for the local server's table set-up and for tests.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs one `TransactWriteItems`, retrying when DynamoDB cancels it for a
    /// `TransactionConflict` (another transaction touched one of its items at the same moment:
    /// not a failed condition, so the caller must not see it as one).
    ///
    /// A cancellation for any other reason returns the per-item reason codes, in request
    /// order, for the caller to turn into a domain error.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TransactFailure> {
        self.transact_detailed(items, true)
            .await
            .map_err(|failure| match failure {
                Detailed::Cancelled(reasons) => {
                    TransactFailure::Cancelled(reasons.into_iter().map(|r| r.code).collect())
                }
                Detailed::Other(error) => TransactFailure::Other(error),
            })
    }

    /// [`Store::transact`], answering the full cancellation reasons: with each failed item's
    /// current image where the request asked for it (`ReturnValuesOnConditionCheckFailure`).
    /// `retry_conflicts: false` hands a `TransactionConflict` straight back, for callers that
    /// must read again before retrying (the conflicting transaction changed what they read).
    async fn transact_detailed(
        &self,
        items: Vec<TransactWriteItem>,
        retry_conflicts: bool,
    ) -> Result<(), Detailed> {
        const ATTEMPTS: u32 = 6;
        for attempt in 1..=ATTEMPTS {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let error = match result {
                Ok(_) => return Ok(()),
                Err(error) => error,
            };
            let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
                error.as_service_error()
            else {
                return Err(Detailed::Other(StoreError::sdk("TransactWriteItems", error)));
            };
            let reasons = cancelled.cancellation_reasons().to_vec();
            let code = |wanted: &str| reasons.iter().any(|r| r.code() == Some(wanted));
            if retry_conflicts
                && code("TransactionConflict")
                && !code("ConditionalCheckFailed")
                && attempt < ATTEMPTS
            {
                // Jittered linear back-off: contention is between a handful of writers.
                let jitter: u64 = rand::random_range(0..20);
                tokio::time::sleep(Duration::from_millis(u64::from(attempt) * 15 + jitter)).await;
                continue;
            }
            return Err(Detailed::Cancelled(reasons));
        }
        Err(Detailed::Other(
            anyhow::anyhow!("BUG: transaction retry loop fell through").into(),
        ))
    }
}

/// Why a transaction did not commit, in full.
#[derive(Debug)]
enum Detailed {
    /// Cancelled; one reason per item, in request order.
    Cancelled(Vec<aws_sdk_dynamodb::types::CancellationReason>),
    /// Anything else.
    Other(StoreError),
}

impl Detailed {
    /// True when item `index` of a cancellation failed its condition.
    fn failed_at(reasons: &[aws_sdk_dynamodb::types::CancellationReason], index: usize) -> bool {
        reasons.get(index).and_then(|r| r.code()) == Some("ConditionalCheckFailed")
    }
}

/// Why a transaction did not commit.
#[derive(Debug)]
enum TransactFailure {
    /// Cancelled; one reason code per item, in request order (`None` = that item was fine).
    Cancelled(Vec<Option<String>>),
    /// Anything else: throttling after the SDK's retries, network, a malformed request.
    Other(StoreError),
}

impl TransactFailure {
    /// True when item `index` failed its condition.
    fn failed_at(codes: &[Option<String>], index: usize) -> bool {
        codes.get(index).and_then(Option::as_deref) == Some("ConditionalCheckFailed")
    }
}

/// `(pk, sk)` of a key built by `keys.rs` (which always sets both), for looking up batch
/// results and for writing items under it.
fn key_pair(key: &Key) -> (String, String) {
    item_pair(key).unwrap_or_else(|| (String::new(), String::new()))
}

/// `(pk, sk)` of an item read back; `None` when either is missing, which no item of this
/// table is, so it matches nothing rather than a key of empty strings.
fn item_pair(item: &Key) -> Option<(String, String)> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    Some((text("pk")?, text("sk")?))
}

impl Store {
    /// Reads one item, strongly consistent, into a private item struct.
    async fn get_consistent<T: serde::de::DeserializeOwned>(&self, key: Key) -> StoreResult<Option<T>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::sdk("GetItem", e))?;
        Ok(output.item.map(from_item).transpose()?)
    }

    /// Every item a query matches, following `LastEvaluatedKey` through all pages.
    async fn query_all(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> StoreResult<Vec<Key>> {
        query
            .table_name(&self.table)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| StoreError::sdk("Query", e))
    }
}

/// Converts an SDK item map into a private item struct.
fn from_item<T: serde::de::DeserializeOwned>(
    item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) -> anyhow::Result<T> {
    serde_dynamo::from_item(item).context("item did not match its schema")
}

/// Converts a private item struct into an SDK item map.
fn to_item<T: serde::Serialize>(
    value: &T,
) -> anyhow::Result<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    serde_dynamo::to_item(value).context("item did not serialise")
}
