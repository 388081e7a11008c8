//! `keel-local ops replay-failures --aws`: the deployed stack's failure queues, replayed.
//!
//! A message is one of three shapes, whichever queue it is in:
//! - Lambda's on-failure record of a stream batch (`StreamFailureQueue`): it names the batch
//!   (`DDBStreamBatchInfo`: stream, shard, first and last sequence number) rather than holding
//!   it, so the records are read back from the stream — which keeps them 24 hours — and put
//!   through the template's filter criteria, as the event source mapping did;
//! - Lambda's on-failure record of an asynchronous invocation (`FinaliseFailureQueue`, the
//!   finaliser failed every retry): the event is its `requestPayload`;
//! - an event the EventBridge rule could not deliver (`FinaliseFailureQueue`, the rule's
//!   dead-letter queue): the body is the event itself.
//!
//! Each is run through [`Replayer::run`] and deleted only once that succeeded. One that fails
//! again, or cannot be read (its records have left the stream, say), is made visible again at
//! once and stays in its queue for its 14 days.

use std::collections::HashSet;

use anyhow::Context as _;
use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use keel_functions::uploads::ObjectCreatedEvent;
use serde::Deserialize;

use super::{Replayed, Replayer};
use crate::dead_letters::{Failed, StreamBatch};

/// How long a received message stays hidden from other readers while it is replayed.
const VISIBILITY_SECONDS: i32 = 300;
/// Empty reads of an open shard before a batch's records are taken to be all read.
const EMPTY_READS: usize = 10;

/// The deployed stack's failure queues and what reading them back needs.
#[derive(Clone)]
pub struct Queues {
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
    /// The table's stream, where a failed batch's records are read back.
    pub streams: aws_sdk_dynamodbstreams::Client,
    /// The queues' URLs (the stack's `StreamFailureQueueUrl` and `FinaliseFailureQueueUrl`).
    pub urls: Vec<String>,
    /// The stream function's `FilterCriteria` patterns: a batch's sequence range also holds
    /// the records Lambda filtered out, which must not be delivered now either.
    pub filters: Vec<serde_json::Value>,
}

impl Queues {
    /// The queues at `urls`, read with `sqs`, their stream batches read back with `streams`
    /// and filtered as `template`'s stream function's event source filters them.
    pub fn new(
        sqs: aws_sdk_sqs::Client,
        streams: aws_sdk_dynamodbstreams::Client,
        urls: Vec<String>,
        template: &crate::template::Template,
    ) -> Self {
        let filters = template
            .function_for_binary(keel_functions::streams::FEED_FANOUT)
            .and_then(|f| f.stream_source.as_ref())
            .map(|source| source.filters.clone())
            .unwrap_or_default();
        Self {
            sqs,
            streams,
            urls,
            filters,
        }
    }
}

/// What a failure queue's message asks to replay.
#[derive(Debug, Clone)]
pub enum Parked {
    /// A stream batch, named by where it is.
    StreamBatch(StreamBatch),
    /// An `Object Created` event.
    ObjectCreated(Box<ObjectCreatedEvent>),
}

#[derive(Deserialize)]
struct OnFailureRecord {
    #[serde(rename = "DDBStreamBatchInfo")]
    stream_batch: Option<StreamBatch>,
    #[serde(rename = "requestPayload")]
    request_payload: Option<serde_json::Value>,
}

/// Reads a failure queue's message body.
pub fn parse_message(body: &str) -> anyhow::Result<Parked> {
    let value: serde_json::Value = serde_json::from_str(body).context("the message is not JSON")?;
    let record = OnFailureRecord::deserialize(&value).context("the message is not an object")?;
    let event = match (record.stream_batch, record.request_payload) {
        (Some(batch), _) => return Ok(Parked::StreamBatch(batch)),
        (None, Some(payload)) => payload,
        (None, None) => value,
    };
    let event = serde_json::from_value(event)
        .context("neither a stream batch nor an Object Created event (nor Lambda's record of one)")?;
    Ok(Parked::ObjectCreated(Box::new(event)))
}

/// True when stream sequence number `a` comes after `b` (they are decimal numbers of up to 40
/// digits, too long for an integer type).
fn after(a: &str, b: &str) -> bool {
    (a.len(), a) > (b.len(), b)
}

impl Queues {
    /// The records of `batch`, as Lambda delivered them: read from the stream and filtered.
    pub async fn records(&self, batch: &StreamBatch) -> anyhow::Result<Vec<EventRecord>> {
        let iterator = self
            .streams
            .get_shard_iterator()
            .stream_arn(&batch.stream_arn)
            .shard_id(&batch.shard_id)
            .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
            .sequence_number(&batch.start_sequence_number)
            .send()
            .await
            .map_err(aws_sdk_dynamodbstreams::Error::from)
            .context(
                "reading the batch from the stream (a stream keeps its records 24 hours; \
                 see docs/OPERATIONS.md#replaying-failures for older ones)",
            )?;
        let mut iterator = iterator.shard_iterator;
        let mut records = Vec::new();
        let mut empty = 0;
        while let Some(current) = iterator.take() {
            let page = self
                .streams
                .get_records()
                .shard_iterator(current)
                .send()
                .await
                .map_err(aws_sdk_dynamodbstreams::Error::from)
                .context("reading the batch from the stream")?;
            let read = page.records.unwrap_or_default();
            empty = if read.is_empty() { empty + 1 } else { 0 };
            for record in read {
                let sequence = record
                    .dynamodb
                    .as_ref()
                    .and_then(|d| d.sequence_number.clone())
                    .unwrap_or_default();
                if after(&sequence, &batch.end_sequence_number) {
                    return Ok(records);
                }
                let record = crate::streams::lambda_record(record, &batch.stream_arn)?;
                let last = sequence == batch.end_sequence_number;
                if crate::streams::delivered(&self.filters, &record) {
                    records.push(record);
                }
                if last {
                    return Ok(records);
                }
            }
            if empty >= EMPTY_READS {
                break;
            }
            iterator = page.next_shard_iterator;
        }
        anyhow::ensure!(
            !records.is_empty(),
            "the stream holds none of the batch's records any more"
        );
        Ok(records)
    }
}

impl Replayer {
    /// Replays every message in `queues` once.
    pub async fn replay_queues(&self, queues: &Queues) -> anyhow::Result<Replayed> {
        let mut outcome = Replayed::default();
        for url in &queues.urls {
            let mut seen = HashSet::new();
            let mut failed = Vec::new();
            loop {
                let received = queues
                    .sqs
                    .receive_message()
                    .queue_url(url)
                    .max_number_of_messages(10)
                    .visibility_timeout(VISIBILITY_SECONDS)
                    .wait_time_seconds(1)
                    .send()
                    .await
                    .map_err(aws_sdk_sqs::Error::from)
                    .with_context(|| format!("receiving from {url}"))?;
                let fresh: Vec<_> = received
                    .messages
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|m| seen.insert(m.message_id.clone().unwrap_or_default()))
                    .collect();
                if fresh.is_empty() {
                    break;
                }
                for message in fresh {
                    let id = message.message_id.as_deref().unwrap_or_default();
                    let receipt = message.receipt_handle.clone().unwrap_or_default();
                    match self
                        .replay_message(queues, message.body.as_deref().unwrap_or_default())
                        .await
                    {
                        Ok(()) => {
                            queues
                                .sqs
                                .delete_message()
                                .queue_url(url)
                                .receipt_handle(receipt)
                                .send()
                                .await
                                .map_err(aws_sdk_sqs::Error::from)
                                .with_context(|| format!("deleting message {id} from {url}"))?;
                            tracing::info!(queue = url, message = id, "replayed");
                            outcome.replayed += 1;
                        }
                        Err(error) => {
                            tracing::error!(
                                queue = url,
                                message = id,
                                error = format!("{error:#}"),
                                "replay failed; the message stays in its queue"
                            );
                            outcome.still_failing += 1;
                            failed.push(receipt);
                        }
                    }
                }
            }
            for receipt in failed {
                // Visible again now, for the next replay, rather than after the timeout.
                let _ = queues
                    .sqs
                    .change_message_visibility()
                    .queue_url(url)
                    .receipt_handle(receipt)
                    .visibility_timeout(0)
                    .send()
                    .await;
            }
        }
        Ok(outcome)
    }

    async fn replay_message(&self, queues: &Queues, body: &str) -> anyhow::Result<()> {
        let failed = match parse_message(body)? {
            Parked::StreamBatch(batch) => Failed::Stream {
                records: queues.records(&batch).await?,
                batch: Some(batch),
            },
            Parked::ObjectCreated(event) => Failed::ObjectCreated { event },
        };
        self.run(failed).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"version":"0","id":"17793124-05d4-b198-2fde-7ededc63b103","detail-type":"Object Created","source":"aws.s3","account":"123456789012","time":"2026-12-07T03:00:00Z","region":"eu-west-1","resources":["arn:aws:s3:::keel-bucket"],"detail":{"version":"0","bucket":{"name":"keel-bucket"},"object":{"key":"uploads/0b9e4f0c","size":512},"reason":"PutObject"}}"#;

    fn key(parked: Parked) -> String {
        match parked {
            Parked::ObjectCreated(event) => event.detail.object.key.clone(),
            other => panic!("not an event: {other:?}"),
        }
    }

    #[test]
    fn an_event_the_rule_could_not_deliver_is_the_body_itself() {
        assert_eq!(key(parse_message(EVENT).unwrap()), "uploads/0b9e4f0c");
    }

    #[test]
    fn an_invocation_lambda_gave_up_on_carries_the_event_as_its_request_payload() {
        let record = format!(
            r#"{{"version":"1.0","timestamp":"2026-12-07T03:03:01.000Z","requestContext":{{"requestId":"e4b46cbf","functionArn":"arn:aws:lambda:eu-west-1:123456789012:function:keel-UploadFinaliseFunction:$LATEST","condition":"RetriesExhausted","approximateInvokeCount":3}},"requestPayload":{EVENT},"responseContext":{{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"}},"responsePayload":{{"errorMessage":"AccessDenied","errorType":"&alloc::boxed::Box<dyn core::error::Error + core::marker::Send + core::marker::Sync>"}}}}"#
        );
        assert_eq!(key(parse_message(&record).unwrap()), "uploads/0b9e4f0c");
    }

    #[test]
    fn a_stream_batch_is_named_by_its_shard_and_sequence_range() {
        let record = r#"{"requestContext":{"requestId":"316aa6d0","functionArn":"arn:aws:lambda:eu-west-1:123456789012:function:keel-FeedFanoutFunction","condition":"RetryAttemptsExhausted","approximateInvokeCount":21},"responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},"version":"1.0","timestamp":"2026-12-07T03:00:00.000Z","DDBStreamBatchInfo":{"shardId":"shardId-00000001796612400000-0e6e6f9b","startSequenceNumber":"800000000003126276362","endSequenceNumber":"800000000003126276370","approximateArrivalOfFirstRecord":"2026-12-07T02:59:00Z","approximateArrivalOfLastRecord":"2026-12-07T02:59:01Z","batchSize":2,"streamArn":"arn:aws:dynamodb:eu-west-1:123456789012:table/keel/stream/2026-12-01T00:00:00.000"}}"#;
        let Parked::StreamBatch(batch) = parse_message(record).unwrap() else {
            panic!("not a stream batch");
        };
        assert_eq!(
            batch,
            StreamBatch {
                stream_arn:
                    "arn:aws:dynamodb:eu-west-1:123456789012:table/keel/stream/2026-12-01T00:00:00.000".into(),
                shard_id: "shardId-00000001796612400000-0e6e6f9b".into(),
                start_sequence_number: "800000000003126276362".into(),
                end_sequence_number: "800000000003126276370".into(),
                batch_size: 2,
            }
        );
    }

    #[test]
    fn a_message_of_another_shape_is_refused_not_guessed_at() {
        assert!(parse_message(r#"{"hello": "world"}"#).is_err());
        assert!(parse_message("not json").is_err());
    }

    #[test]
    fn sequence_numbers_compare_as_numbers_not_as_text() {
        assert!(after("100", "99"));
        assert!(!after("99", "100"));
        assert!(after("800000000003126276370", "800000000003126276362"));
        assert!(!after("5", "5"));
    }
}
