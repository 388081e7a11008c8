//! `BatchGetItem` for many keys at once: split into requests of 100 keys (DynamoDB's limit)
//! sent concurrently, with unprocessed keys retried. Results come back by key.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest};

use super::{Key, Store, StoreError, StoreResult, item_pair};

/// A returned item, by `(pk, sk)`.
pub(super) type Items = HashMap<(String, String), HashMap<String, AttributeValue>>;

const MAX_KEYS: usize = 100;

impl Store {
    /// Reads every key in one round trip (several concurrent requests past 100 keys).
    ///
    /// `projection` lists attribute *names*; they are sent as `#pN` placeholders, so reserved
    /// words are safe. `pk` and `sk` are always included so results can be matched to keys.
    pub(super) async fn batch_get(
        &self,
        keys: Vec<Key>,
        projection: &[&str],
        consistent: bool,
    ) -> StoreResult<Items> {
        let mut unique: Vec<Key> = Vec::with_capacity(keys.len());
        for key in keys {
            if !unique.contains(&key) {
                unique.push(key);
            }
        }
        let requests = unique
            .chunks(MAX_KEYS)
            .map(|chunk| self.batch_get_chunk(chunk.to_vec(), projection, consistent));
        let mut items = Items::new();
        for result in futures::future::join_all(requests).await {
            items.extend(result?);
        }
        Ok(items)
    }

    async fn batch_get_chunk(
        &self,
        keys: Vec<Key>,
        projection: &[&str],
        consistent: bool,
    ) -> StoreResult<Items> {
        let mut request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(consistent);
        if !projection.is_empty() {
            let mut names: Vec<&str> = vec!["pk", "sk"];
            names.extend(projection.iter().filter(|n| **n != "pk" && **n != "sk"));
            let placeholders: Vec<String> = (0..names.len()).map(|i| format!("#p{i}")).collect();
            request = request.projection_expression(placeholders.join(", "));
            for (placeholder, name) in placeholders.iter().zip(&names) {
                request = request.expression_attribute_names(placeholder, *name);
            }
        }
        let mut pending = Some(request.build().map_err(anyhow::Error::from)?);
        let mut items = Items::new();
        for attempt in 0..8u64 {
            let Some(request) = pending.take() else { break };
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| StoreError::sdk("BatchGetItem", e))?;
            for item in output
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default()
            {
                match item_pair(&item) {
                    Some(pair) => {
                        items.insert(pair, item);
                    }
                    None => tracing::error!("BUG: BatchGetItem returned an item without pk or sk"),
                }
            }
            pending = output
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .filter(|k| !k.keys.is_empty());
            if pending.is_some() {
                tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
            }
        }
        if pending.is_some() {
            // DynamoDB kept refusing the keys: it is throttling this table.
            return Err(StoreError::Unavailable(anyhow::anyhow!(
                "BatchGetItem left keys unprocessed after retries"
            )));
        }
        Ok(items)
    }
}

/// Most writes in one `BatchWriteItem` (DynamoDB's limit).
const MAX_WRITES: usize = 25;

impl Store {
    /// Sends every write, 25 to a request, retrying what DynamoDB leaves unprocessed (with
    /// back-off: it leaves items when a partition is busy). Not atomic: for writes that are
    /// each idempotent on their own (the stream's clean-up and index entries), where a retry
    /// of the whole set is always safe.
    pub(super) async fn batch_write(&self, writes: Vec<WriteRequest>, what: &'static str) -> StoreResult<()> {
        for chunk in writes.chunks(MAX_WRITES) {
            let mut requests = chunk.to_vec();
            for attempt in 0..8u64 {
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|e| StoreError::sdk("BatchWriteItem", e))?;
                requests = output
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
            }
            if !requests.is_empty() {
                return Err(StoreError::Unavailable(anyhow::anyhow!(
                    "BatchWriteItem left {what} unprocessed"
                )));
            }
        }
        Ok(())
    }
}

/// A `BatchWriteItem` delete of `key`.
pub(super) fn delete_request(key: Key) -> anyhow::Result<WriteRequest> {
    let delete = DeleteRequest::builder().set_key(Some(key)).build()?;
    Ok(WriteRequest::builder().delete_request(delete).build())
}

/// A `BatchWriteItem` put of `item`.
pub(super) fn put_request(item: Key) -> anyhow::Result<WriteRequest> {
    let put = PutRequest::builder().set_item(Some(item)).build()?;
    Ok(WriteRequest::builder().put_request(put).build())
}
