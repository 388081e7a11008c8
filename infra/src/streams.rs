//! Drives the stream processor locally, as Lambda's event source mapping does in AWS: reads the
//! engine's DynamoDB stream (embedded or DynamoDB Local, through the ordinary Streams API) and
//! hands the records to [`keel::store::Store::process_changes`].
//!
//! The gateway drains the stream after every write, before answering, so local reads see the
//! fan-out at once; in AWS it lands a moment later.

use std::collections::HashMap;

use anyhow::Context as _;
use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::types::{OperationType, ShardIteratorType};
use keel::store::Store;
use keel::store::stream::{Change, ChangeKind, Image};
use tokio::sync::Mutex;

#[derive(Debug, Default)]
struct Shard {
    iterator: Option<String>,
    last_sequence: Option<String>,
    closed: bool,
}

/// Reads one table's stream and applies it.
pub struct StreamDriver {
    client: Client,
    arn: String,
    store: Store,
    shards: Mutex<HashMap<String, Shard>>,
}

impl StreamDriver {
    /// Attaches to `table`'s stream, starting after everything already in it.
    pub async fn attach(
        dynamodb: &aws_sdk_dynamodb::Client,
        streams: Client,
        table: &str,
        store: Store,
    ) -> anyhow::Result<Self> {
        let described = dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .context("DescribeTable")?;
        let arn = described
            .table()
            .and_then(|t| t.latest_stream_arn())
            .with_context(|| format!("table {table} has no stream"))?
            .to_owned();
        let driver = Self {
            client: streams,
            arn,
            store,
            shards: Mutex::new(HashMap::new()),
        };
        let mut shards = driver.shards.lock().await;
        for shard_id in driver.shard_ids().await? {
            let iterator = driver
                .iterator(&shard_id, ShardIteratorType::Latest, None)
                .await?;
            shards.insert(
                shard_id,
                Shard {
                    iterator,
                    ..Shard::default()
                },
            );
        }
        drop(shards);
        Ok(driver)
    }

    async fn shard_ids(&self) -> anyhow::Result<Vec<String>> {
        let output = self
            .client
            .describe_stream()
            .stream_arn(&self.arn)
            .send()
            .await
            .context("DescribeStream")?;
        Ok(output
            .stream_description()
            .map(|d| {
                d.shards()
                    .iter()
                    .filter_map(|s| s.shard_id().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn iterator(
        &self,
        shard: &str,
        kind: ShardIteratorType,
        after: Option<&str>,
    ) -> anyhow::Result<Option<String>> {
        let output = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.arn)
            .shard_id(shard)
            .shard_iterator_type(kind)
            .set_sequence_number(after.map(str::to_owned))
            .send()
            .await
            .context("GetShardIterator")?;
        Ok(output.shard_iterator)
    }

    /// Reads and applies every record written so far; answers how many were read.
    pub async fn drain(&self) -> anyhow::Result<usize> {
        let mut shards = self.shards.lock().await;
        let mut total = 0;
        // Applying records writes more (feed entries, counts): read again until quiet.
        for _ in 0..50 {
            for shard_id in self.shard_ids().await? {
                if let std::collections::hash_map::Entry::Vacant(vacant) = shards.entry(shard_id) {
                    let iterator = self
                        .iterator(vacant.key(), ShardIteratorType::TrimHorizon, None)
                        .await?;
                    vacant.insert(Shard {
                        iterator,
                        ..Shard::default()
                    });
                }
            }
            let mut changes = Vec::new();
            // New positions are kept aside and applied only once the records are processed, so
            // a failure re-reads them on the next drain instead of losing them.
            let mut advanced: Vec<(String, Option<String>, Option<String>)> = Vec::new();
            let open: Vec<String> = shards
                .iter()
                .filter(|(_, s)| !s.closed)
                .map(|(id, _)| id.clone())
                .collect();
            for shard_id in &open {
                let Some(shard) = shards.get_mut(shard_id) else {
                    continue;
                };
                let Some(iterator) = shard.iterator.clone() else {
                    continue;
                };
                let output = match self.client.get_records().shard_iterator(iterator).send().await {
                    Ok(output) => output,
                    // An expired iterator, or (DynamoDB Local) one taken while the shard was
                    // still empty: start again after the last record seen. Processing is
                    // idempotent, so reading a record twice is harmless.
                    Err(error)
                        if error.as_service_error().is_some_and(|e| {
                            e.is_expired_iterator_exception() || e.is_trimmed_data_access_exception()
                        }) =>
                    {
                        let (kind, after) = match &shard.last_sequence {
                            Some(seq) => (ShardIteratorType::AfterSequenceNumber, Some(seq.clone())),
                            None => (ShardIteratorType::TrimHorizon, None),
                        };
                        shard.iterator = self.iterator(shard_id, kind, after.as_deref()).await?;
                        let Some(retry) = shard.iterator.clone() else {
                            continue;
                        };
                        self.client
                            .get_records()
                            .shard_iterator(retry)
                            .send()
                            .await
                            .context("GetRecords")?
                    }
                    Err(error) => return Err(anyhow::Error::new(error).context("GetRecords")),
                };
                let mut last_sequence = shard.last_sequence.clone();
                for record in output.records.unwrap_or_default() {
                    let Some(data) = record.dynamodb else { continue };
                    if data.sequence_number.is_some() {
                        last_sequence = data.sequence_number.clone();
                    }
                    let kind = match record.event_name {
                        Some(OperationType::Insert) => ChangeKind::Insert,
                        Some(OperationType::Modify) => ChangeKind::Modify,
                        Some(OperationType::Remove) => ChangeKind::Remove,
                        _ => continue,
                    };
                    changes.push(Change {
                        kind,
                        old: image(data.old_image),
                        new: image(data.new_image),
                    });
                }
                advanced.push((shard_id.clone(), output.next_shard_iterator, last_sequence));
            }
            if !changes.is_empty() {
                self.store.process_changes(&changes).await?;
            }
            for (shard_id, next, last_sequence) in advanced {
                if let Some(shard) = shards.get_mut(&shard_id) {
                    shard.closed = next.is_none();
                    shard.iterator = next;
                    shard.last_sequence = last_sequence;
                }
            }
            if changes.is_empty() {
                return Ok(total);
            }
            total += changes.len();
        }
        anyhow::bail!("the stream did not quiet down after 50 passes")
    }
}

/// A stream image in the SDK's table types (both SDKs share DynamoDB's JSON model).
fn image(map: Option<HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>) -> Option<Image> {
    map.filter(|m| !m.is_empty())
        .map(|m| Image::from(serde_dynamo::Item::from(m)))
}
