//! Where an asynchronous record that failed all its retries is kept, so that nothing is dropped
//! silently: the local stand-in for the deployed stack's on-failure queues (the table stream's
//! and the Object Created rule's, both SQS with 14 days' retention). One JSON file per failure
//! in `<data>/dead-letters/`, written durably (a parked record survives a crash as a message in
//! SQS would), read back by `keel-local ops replay-failures`, and removed only after its replay
//! succeeded.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use aws_lambda_events::event::dynamodb::EventRecord;
use keel_functions::uploads::ObjectCreatedEvent;
use serde::{Deserialize, Serialize};

/// What failed, as its function received it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "kebab-case")]
pub enum Failed {
    /// Table stream records `feed-fanout` could not process, as Lambda delivered them.
    Stream {
        /// The records, in stream order.
        records: Vec<EventRecord>,
        /// Where they are in the stream, as Lambda's on-failure record names a batch.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        batch: Option<StreamBatch>,
    },
    /// A bucket `Object Created` event `upload-finalise` could not finalise.
    ObjectCreated {
        /// The event, as EventBridge delivered it.
        event: Box<ObjectCreatedEvent>,
    },
}

/// Where a failed batch is in the table's stream: the `DDBStreamBatchInfo` of the record Lambda
/// sends to the on-failure queue, which names the batch rather than holding its records (they
/// stay in the stream for 24 hours).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamBatch {
    /// The stream.
    pub stream_arn: String,
    /// The shard the batch was read from.
    pub shard_id: String,
    /// The batch's first record.
    pub start_sequence_number: String,
    /// The batch's last record.
    pub end_sequence_number: String,
    /// How many records it held.
    pub batch_size: usize,
}

/// One parked failure and what an operator needs to act on it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// The records or the event.
    #[serde(flatten)]
    pub failed: Failed,
    /// The last error, its causes included.
    pub error: String,
    /// How many times it was tried.
    pub attempts: u32,
    /// When it was parked (ISO 8601, UTC).
    pub parked_at: String,
}

impl DeadLetter {
    /// A letter for `failed`, parked now.
    pub fn new(failed: Failed, error: &anyhow::Error, attempts: u32) -> Self {
        Self {
            failed,
            error: format!("{error:#}"),
            attempts,
            parked_at: keel::domain::now_timestamp(),
        }
    }
}

/// The dead-letter folder of one data folder.
#[derive(Debug, Clone)]
pub struct DeadLetters {
    dir: PathBuf,
}

impl DeadLetters {
    /// The dead letters kept under `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("dead-letters"),
        }
    }

    /// Keeps `letter` durably; answers where.
    pub fn park(&self, letter: &DeadLetter) -> anyhow::Result<PathBuf> {
        let kind = match letter.failed {
            Failed::Stream { .. } => "stream",
            Failed::ObjectCreated { .. } => "object-created",
        };
        let name = format!(
            "{}-{kind}-{}.json",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
            uuid::Uuid::new_v4().simple()
        );
        let path = self.dir.join(name);
        crate::durable::write(&path, &serde_json::to_vec_pretty(letter)?)?;
        Ok(path)
    }

    /// Every parked letter, oldest first.
    pub fn parked(&self) -> anyhow::Result<Vec<(PathBuf, DeadLetter)>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(error).with_context(|| format!("reading {}", self.dir.display())),
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort();
        paths
            .into_iter()
            .map(|path| {
                let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                let letter =
                    serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))?;
                Ok((path, letter))
            })
            .collect()
    }

    /// Removes a letter once its replay succeeded.
    pub fn remove(&self, path: &Path) -> anyhow::Result<()> {
        crate::durable::remove(path)
    }
}
