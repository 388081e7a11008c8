//! The table stream, processed locally as Lambda's event source mapping processes it in AWS:
//! in the background, one poller per shard, never on a request's path.
//!
//! - **Same settings as the template.** Batch size, retries, bisection on error, starting
//!   position and filter patterns come from the stream function's `DynamoDB` event
//!   ([`StreamSource`]); a batch runs [`keel::store::Store::process_changes`], the code the
//!   `feed-fanout` function runs, with that function's own (IAM-checked) store.
//! - **Durable position.** After each batch a shard's last sequence number is written to the
//!   data folder (`streams/<table>.json`, replaced atomically and synced), and a restart resumes
//!   after it: nothing committed is skipped. A crash between processing and saving reprocesses
//!   that batch, which changes nothing (processing is idempotent).
//! - **Shard order.** A child shard is read only once its parent is finished, as Lambda does.
//! - **Observable.** [`StreamPoller::settled`] waits until every record written before the
//!   call has been processed: what tests use instead of assuming the fan-out is instant.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use keel::store::Store;
use keel::store::stream::Change;
use keel::telemetry::{Metric, Outcome};
use keel_functions::streams::change_from_record;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::dead_letters::{DeadLetter, DeadLetters, Failed, StreamBatch};
use crate::template::StreamSource;

mod filters;
mod positions;
mod records;

use filters::{check_pattern, matches, record_json};
use positions::Positions;
pub(crate) use records::lambda_record;

/// How soon an idle shard is read again; each read that finds nothing doubles the wait up to
/// [`IDLE_POLL_MAX`] (Lambda polls about four times a second). A write through the local
/// gateway pokes the pollers ([`StreamPoke`]), so the fan-out starts at once without an idle
/// server polling the engine hard.
const IDLE_POLL: Duration = Duration::from_millis(50);
/// Longest wait between two reads of an idle shard.
const IDLE_POLL_MAX: Duration = Duration::from_millis(500);
/// How often the shard list is read again, for new shards (they appear rarely: a shard lives
/// about four hours in AWS).
const DISCOVERY_INTERVAL: Duration = Duration::from_secs(2);
/// Wait after a failed read of the stream.
const READ_RETRY: Duration = Duration::from_millis(500);
/// Longest wait between two attempts at a failing batch.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Reads one table's stream in the background and applies it; stops when dropped.
pub struct StreamPoller {
    shared: Arc<Shared>,
    discovery: JoinHandle<()>,
}

impl Drop for StreamPoller {
    fn drop(&mut self) {
        // The shard tasks live in the discovery task's JoinSet and stop with it.
        self.discovery.abort();
    }
}

struct Shared {
    client: Client,
    arn: String,
    processor: Store,
    source: StreamSource,
    positions: Positions,
    /// Where a batch that failed its last retry is parked, as the template's on-failure queue.
    dead_letters: DeadLetters,
    progress: watch::Sender<Progress>,
    /// Bumped to make idle shard pollers read now; sticky, so a poke during a read is not lost.
    poke: Arc<watch::Sender<u64>>,
    /// Bumped to make the discovery loop list the shards now.
    rediscover: watch::Sender<u64>,
}

/// Makes the stream's idle pollers read at once: the local gateway pokes after each write.
#[derive(Clone)]
pub struct StreamPoke(Arc<watch::Sender<u64>>);

impl StreamPoke {
    /// Wakes every idle shard poller; never waits.
    pub fn poke(&self) {
        self.0
            .send_modify(|generation| *generation = generation.wrapping_add(1));
    }
}

/// What [`StreamPoller::settled`] watches.
#[derive(Debug, Default)]
struct Progress {
    /// When the last successful listing of the shards started, and the shards it found.
    discovered: Option<(Instant, Vec<String>)>,
    /// Per shard: when the last read that found nothing new started.
    caught_up: HashMap<String, Instant>,
}

impl Progress {
    /// True when everything written before `since` has been processed: the shard list was
    /// read after `since`, and every shard on it is `finished` (read to its end) or has since
    /// been read empty.
    fn settled_since(&self, since: Instant, finished: impl Fn(&str) -> bool) -> bool {
        let Some((at, shards)) = &self.discovered else {
            return false;
        };
        *at >= since
            && shards
                .iter()
                .all(|shard| finished(shard) || self.caught_up.get(shard).is_some_and(|t| *t >= since))
    }
}

impl StreamPoller {
    /// Starts polling `table`'s stream as `source` says, processing with `processor` and
    /// keeping positions in `state_dir`.
    pub async fn start(
        dynamodb: &aws_sdk_dynamodb::Client,
        client: Client,
        table: &str,
        processor: Store,
        source: StreamSource,
        state_dir: &Path,
    ) -> anyhow::Result<Self> {
        for pattern in &source.filters {
            check_pattern(pattern).with_context(|| format!("unsupported filter pattern {pattern}"))?;
        }
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
        let positions = Positions::load(state_dir.join("streams").join(format!("{table}.json")), &arn)?;
        let shared = Arc::new(Shared {
            client,
            arn,
            processor,
            source,
            positions,
            dead_letters: DeadLetters::new(state_dir),
            progress: watch::Sender::new(Progress::default()),
            poke: Arc::new(watch::Sender::new(0)),
            rediscover: watch::Sender::new(0),
        });
        let discovery = tokio::spawn(discover(shared.clone()));
        Ok(Self { shared, discovery })
    }

    /// A handle that wakes the idle pollers (see [`StreamPoke`]).
    pub fn poke(&self) -> StreamPoke {
        StreamPoke(self.shared.poke.clone())
    }

    /// Waits until every record written to the table before this call has been processed, or
    /// fails after `timeout`.
    pub async fn settled(&self, timeout: Duration) -> anyhow::Result<()> {
        let since = Instant::now();
        let mut progress = self.shared.progress.subscribe();
        self.shared.rediscover.send_modify(|g| *g = g.wrapping_add(1));
        let wait = async {
            loop {
                self.poke().poke();
                let finished = |shard: &str| self.shared.positions.finished(shard);
                if progress.borrow_and_update().settled_since(since, finished) {
                    return;
                }
                // Poked pollers report within milliseconds; the timer re-pokes meanwhile.
                let _ = tokio::time::timeout(IDLE_POLL, progress.changed()).await;
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .with_context(|| format!("the table stream was not processed within {timeout:?}"))
    }
}

/// Lists the shards now and then, and starts a poller for each one that is ready.
async fn discover(shared: Arc<Shared>) {
    let mut rediscover = shared.rediscover.subscribe();
    let mut pollers = tokio::task::JoinSet::new();
    let mut started: HashSet<String> = HashSet::new();
    let mut first = true;
    loop {
        let at = Instant::now();
        rediscover.borrow_and_update();
        match list_shards(&shared).await {
            Ok(shards) => {
                let listed: HashSet<&str> = shards.iter().map(|(id, _)| id.as_str()).collect();
                for (id, parent) in &shards {
                    if started.contains(id) || shared.positions.finished(id) {
                        continue;
                    }
                    // A child is read after its parent, unless the parent is gone (trimmed).
                    let parent_done = parent
                        .as_deref()
                        .is_none_or(|p| shared.positions.finished(p) || !listed.contains(p));
                    if parent_done {
                        started.insert(id.clone());
                        pollers.spawn(poll_shard(shared.clone(), id.clone(), first));
                    }
                }
                first = false;
                shared.progress.send_modify(|p| {
                    p.discovered = Some((at, shards.into_iter().map(|(id, _)| id).collect()));
                });
            }
            Err(error) => tracing::warn!(error = format!("{error:#}"), "listing the stream's shards failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(DISCOVERY_INTERVAL) => {}
            _ = rediscover.changed() => {}
        }
    }
}

/// Every shard of the stream with its parent.
async fn list_shards(shared: &Shared) -> anyhow::Result<Vec<(String, Option<String>)>> {
    let mut shards = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let output = shared
            .client
            .describe_stream()
            .stream_arn(&shared.arn)
            .set_exclusive_start_shard_id(after.clone())
            .send()
            .await
            .context("DescribeStream")?;
        let Some(description) = output.stream_description else {
            return Ok(shards);
        };
        for shard in description.shards() {
            if let Some(id) = shard.shard_id() {
                shards.push((id.to_owned(), shard.parent_shard_id().map(str::to_owned)));
            }
        }
        match description.last_evaluated_shard_id {
            Some(last) if Some(&last) != after.as_ref() => after = Some(last),
            _ => return Ok(shards),
        }
    }
}

/// Reads one shard from its saved position to its end, batch by batch.
async fn poll_shard(shared: Arc<Shared>, shard: String, initial: bool) {
    let mut poked = shared.poke.subscribe();
    let mut idle = IDLE_POLL;
    let mut iterator: Option<String> = None;
    loop {
        let current = match iterator.take() {
            Some(current) => current,
            None => match open_shard(&shared, &shard, initial).await {
                Some(opened) => opened,
                None => return finish(&shared, &shard),
            },
        };
        let started = Instant::now();
        poked.borrow_and_update();
        let Some((records, next)) = read(&shared, &shard, current).await else {
            continue;
        };
        let any = shared.apply(&shard, records).await;
        let Some(next) = next else {
            return finish(&shared, &shard);
        };
        iterator = Some(next);
        if any {
            idle = IDLE_POLL;
        } else {
            shared.progress.send_modify(|p| {
                p.caught_up.insert(shard.clone(), started);
            });
            tokio::select! {
                _ = tokio::time::sleep(idle) => idle = (idle * 2).min(IDLE_POLL_MAX),
                _ = poked.changed() => idle = IDLE_POLL,
            }
        }
    }
}

/// An iterator for `shard`, retrying until the stream answers; `None` once the shard is
/// closed and read to its end.
async fn open_shard(shared: &Shared, shard: &str, initial: bool) -> Option<String> {
    loop {
        match shard_iterator(shared, shard, initial).await {
            Ok(opened) => return opened,
            Err(error) => {
                tracing::warn!(
                    shard,
                    error = format!("{error:#}"),
                    "opening a stream shard failed"
                );
                tokio::time::sleep(READ_RETRY).await;
            }
        }
    }
}

/// One batch of `shard` and the iterator after it (`None`: the shard is closed); `None` when
/// the iterator must be opened again.
async fn read(shared: &Shared, shard: &str, iterator: String) -> Option<(Vec<Record>, Option<String>)> {
    let read = shared
        .client
        .get_records()
        .shard_iterator(iterator)
        .limit(i32::try_from(shared.source.batch_size).unwrap_or(1000))
        .send()
        .await;
    match read {
        Ok(output) => Some((output.records.unwrap_or_default(), output.next_shard_iterator)),
        Err(error) => {
            // An expired iterator (or, on DynamoDB Local, one taken while the shard was
            // empty): reopen after the saved position. Anything else: wait, then the same.
            let stale = error
                .as_service_error()
                .is_some_and(|e| e.is_expired_iterator_exception() || e.is_trimmed_data_access_exception());
            if !stale {
                tracing::warn!(
                    shard,
                    error = format!("{:#}", anyhow::Error::new(error)),
                    "reading the stream failed"
                );
                tokio::time::sleep(READ_RETRY).await;
            }
            None
        }
    }
}

/// Where to start reading `shard`: after its saved position; else where the template says
/// for the shards there at start, and from the beginning for shards that appear later.
async fn shard_iterator(shared: &Shared, shard: &str, initial: bool) -> anyhow::Result<Option<String>> {
    let saved = shared.positions.after(shard);
    let (kind, after) = match &saved {
        Some(sequence) => (ShardIteratorType::AfterSequenceNumber, Some(sequence.clone())),
        None if initial && shared.source.starting_position == "LATEST" => (ShardIteratorType::Latest, None),
        None => (ShardIteratorType::TrimHorizon, None),
    };
    let open = |kind: ShardIteratorType, after: Option<String>| {
        shared
            .client
            .get_shard_iterator()
            .stream_arn(&shared.arn)
            .shard_id(shard)
            .shard_iterator_type(kind)
            .set_sequence_number(after)
            .send()
    };
    match open(kind, after).await {
        Ok(output) => Ok(output.shard_iterator),
        // The saved position has been trimmed away: everything after it is what remains.
        Err(error)
            if saved.is_some()
                && error
                    .as_service_error()
                    .is_some_and(|e| e.is_trimmed_data_access_exception()) =>
        {
            let output = open(ShardIteratorType::TrimHorizon, None)
                .await
                .context("GetShardIterator")?;
            Ok(output.shard_iterator)
        }
        Err(error) => Err(anyhow::Error::new(error).context("GetShardIterator")),
    }
}

fn finish(shared: &Shared, shard: &str) {
    if let Err(error) = shared.positions.finish(shard) {
        tracing::error!(
            shard,
            error = format!("{error:#}"),
            "saving the stream position failed"
        );
    }
    // Its children may start now; the listing that starts them also wakes `settled`.
    shared.rediscover.send_modify(|g| *g = g.wrapping_add(1));
}

/// True when `filters` (a stream event source's `FilterCriteria` patterns) let `record`
/// through, as Lambda's event filtering would; every record passes when there are none.
pub fn delivered(filters: &[serde_json::Value], record: &EventRecord) -> bool {
    if filters.is_empty() {
        return true;
    }
    let event = record_json(record);
    filters.iter().any(|pattern| matches(pattern, &event))
}

/// Where `batch` (read from `shard` of `arn`) is, as Lambda's on-failure record says.
fn stream_batch(arn: &str, shard: &str, batch: &[EventRecord]) -> Option<StreamBatch> {
    let sequence = |record: &EventRecord| record.change.sequence_number.clone();
    Some(StreamBatch {
        stream_arn: arn.to_owned(),
        shard_id: shard.to_owned(),
        start_sequence_number: batch.first().and_then(sequence)?,
        end_sequence_number: batch.last().and_then(sequence)?,
        batch_size: batch.len(),
    })
}

impl Shared {
    /// Filters and applies one batch of `shard` as Lambda would hand it to `feed-fanout`, then
    /// saves the position after it. False when the batch was empty.
    async fn apply(&self, shard: &str, records: Vec<Record>) -> bool {
        let Some(last) = records
            .iter()
            .rev()
            .find_map(|r| r.dynamodb.as_ref().and_then(|d| d.sequence_number.clone()))
        else {
            return false;
        };
        let (records, changes): (Vec<EventRecord>, Vec<Change>) = records
            .into_iter()
            .filter_map(|record| match lambda_record(record, &self.arn) {
                Ok(record) => Some(record),
                Err(error) => {
                    tracing::error!(
                        shard,
                        error = format!("{error:#}"),
                        "a stream record Lambda could not deliver is skipped"
                    );
                    None
                }
            })
            .filter(|record| self.delivers(record))
            .filter_map(|record| change_from_record(record.clone()).map(|change| (record, change)))
            .unzip();
        if !changes.is_empty() {
            self.deliver(shard, &records, &changes).await;
        }
        if let Err(error) = self.positions.advance(shard, &last) {
            tracing::error!(
                shard,
                error = format!("{error:#}"),
                "saving the stream position failed"
            );
        }
        true
    }

    /// True when the template's filter criteria let `record` through.
    fn delivers(&self, record: &EventRecord) -> bool {
        delivered(&self.source.filters, record)
    }

    /// Runs the processor on `changes` (of `records`) as the event source mapping invokes the
    /// function: a failed batch is retried with back-off, split in halves first when bisection
    /// is on, and parked in the dead letters once the template's retries are used up.
    async fn deliver(&self, shard: &str, records: &[EventRecord], changes: &[Change]) {
        let mut tally = Outcome::default();
        let mut pending = vec![(0..changes.len(), 0u32)];
        while let Some((range, retries)) = pending.pop() {
            let n = range.len() as u64;
            let Err(error) = self.processor.process_changes(&changes[range.clone()]).await else {
                tally.add(Metric::StreamRecordsProcessed, n);
                continue;
            };
            tally.add(Metric::StreamRecordsFailed, n);
            if self
                .source
                .maximum_retry_attempts
                .is_some_and(|max| retries >= max)
            {
                let batch = &records[range.clone()];
                let letter = DeadLetter::new(
                    Failed::Stream {
                        records: batch.to_vec(),
                        batch: stream_batch(&self.arn, shard, batch),
                    },
                    &anyhow::Error::new(error),
                    retries + 1,
                );
                tally.add(Metric::StreamRecordsParked, n);
                match self.dead_letters.park(&letter) {
                    Ok(path) => tracing::error!(
                        records = range.len(),
                        retries,
                        error = letter.error,
                        parked = %path.display(),
                        "stream batch parked after its last retry; replay with `keel-local ops replay-failures`"
                    ),
                    Err(park) => tracing::error!(
                        records = range.len(),
                        error = letter.error,
                        park = format!("{park:#}"),
                        "stream batch failed its last retry and could not be parked"
                    ),
                }
                continue;
            }
            tracing::warn!(
                records = range.len(),
                retries,
                error = format!("{error:#}"),
                "stream batch failed; retrying"
            );
            let backoff = Duration::from_millis(100u64 << retries.min(6)).min(MAX_BACKOFF);
            tokio::time::sleep(backoff).await;
            if self.source.bisect_on_error && range.len() > 1 {
                let middle = range.start + range.len() / 2;
                // Popped last-in first-out: the first half runs first.
                pending.push((middle..range.end, retries + 1));
                pending.push((range.start..middle, retries + 1));
            } else {
                pending.push((range, retries + 1));
            }
        }
        // The tally counts records; the fan-out's calls are not gathered here, so no trace.
        keel::telemetry::flush_metrics(keel_functions::streams::FEED_FANOUT, None, &tally);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn record(event: &str, sk: &str) -> Value {
        json!({"eventName": event, "dynamodb": {"Keys": {"pk": {"S": "X"}, "sk": {"S": sk}}}})
    }

    #[test]
    fn the_templates_filter_patterns_pick_article_changes_and_follow_inserts_and_removes_only() {
        let template = crate::template::Template::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../template.yaml"
        )))
        .unwrap();
        let filters = template
            .function_for_binary(keel_functions::streams::FEED_FANOUT)
            .and_then(|f| f.stream_source.clone())
            .expect("the fan-out reads the stream")
            .filters;
        assert_eq!(filters.len(), 2);
        for pattern in &filters {
            check_pattern(pattern).unwrap();
        }
        let any = |r: &Value| filters.iter().any(|pattern| matches(pattern, r));
        assert!(any(&record("INSERT", "ARTICLE")));
        assert!(
            any(&record("MODIFY", "ARTICLE")),
            "an edited title moves its index entries"
        );
        assert!(any(&record("REMOVE", "ARTICLE")));
        assert!(any(&record("INSERT", "FOLLOWS#42")));
        assert!(any(&record("REMOVE", "FOLLOWS#42")));
        assert!(!any(&record("MODIFY", "FOLLOWS#42")));
        assert!(!any(&record("INSERT", "ARTICLES")));
        assert!(!any(&record("INSERT", "COMMENT#1")));
        assert!(!any(&record("MODIFY", "USER")));
        assert!(!any(&json!({"eventName": "INSERT"})));
    }

    #[test]
    fn a_filter_rule_the_poller_cannot_apply_is_refused() {
        for pattern in [
            json!({"eventName": [{"anything-but": ["MODIFY"]}]}),
            json!({"eventName": "INSERT"}),
            json!({"dynamodb": {"Keys": {"sk": {"S": [{"prefix": 1}]}}}}),
        ] {
            assert!(check_pattern(&pattern).is_err(), "{pattern}");
        }
    }

    #[test]
    fn saved_positions_are_read_back_and_another_streams_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("streams").join("t.json");
        let positions = Positions::load(path.clone(), "arn:1").unwrap();
        positions.advance("shard-a", "000100").unwrap();
        positions.finish("shard-b").unwrap();

        let again = Positions::load(path.clone(), "arn:1").unwrap();
        assert_eq!(again.after("shard-a").as_deref(), Some("000100"));
        assert!(again.finished("shard-b"));
        assert!(!again.finished("shard-a"));

        let recreated = Positions::load(path, "arn:2").unwrap();
        assert_eq!(recreated.after("shard-a"), None);
    }
}
