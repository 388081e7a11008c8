use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use keel::Deps;
use keel::config::Needs;
use keel::store::stream::{Change, ChangeKind, Image};
use keel::telemetry::Metric;
use lambda_http::lambda_runtime;

/// Converts a DynamoDB Streams record, as Lambda delivers it, into the processor's terms.
pub fn change_from_record(record: EventRecord) -> Option<Change> {
    let kind = match record.event_name.as_str() {
        "INSERT" => ChangeKind::Insert,
        "MODIFY" => ChangeKind::Modify,
        "REMOVE" => ChangeKind::Remove,
        _ => return None,
    };
    let image = |item: serde_dynamo::Item| -> Option<Image> {
        let image: Image = item.into();
        (!image.is_empty()).then_some(image)
    };
    Some(Change {
        kind,
        old: image(record.change.old_image),
        new: image(record.change.new_image),
    })
}

/// Processes one batch of stream records. An error fails the batch, and Lambda retries it
/// (bisecting to isolate a bad record); processing is idempotent, so retries are safe.
pub async fn fanout(deps: &Deps, event: Event) -> Result<(), lambda_runtime::Error> {
    let changes: Vec<Change> = event.records.into_iter().filter_map(change_from_record).collect();
    let records = changes.len() as u64;
    let processed = deps.store.process_changes(&changes).await;
    let metric = if processed.is_ok() {
        Metric::StreamRecordsProcessed
    } else {
        Metric::StreamRecordsFailed
    };
    keel::telemetry::count(metric, records);
    processed.map_err(|error| {
        tracing::error!(
            error = format!("{error:#}"),
            records = changes.len(),
            "stream batch failed"
        );
        error.into()
    })
}

/// The binary `template.yaml` names for the stream consumer.
pub const FEED_FANOUT: &str = "feed-fanout";

/// What the stream consumer's cold start loads: the table only. It never reads a token, so it
/// never fetches the signing key (and its policy grants no Secrets Manager access).
pub const FEED_FANOUT_NEEDS: Needs = Needs::Table;

/// The `feed-fanout` function's whole `main`.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    crate::serve_events(FEED_FANOUT, FEED_FANOUT_NEEDS, fanout).await
}
