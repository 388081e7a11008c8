//! The bucket's background work, as S3 and EventBridge do it in AWS: `Object Created` events
//! delivered to the upload finaliser (retried, then parked), and the lifecycle's expiry.

use keel::Deps;

/// The bucket's lifecycle rules, applied hourly as S3 applies them (daily).
pub async fn apply_lifecycle(
    s3: aws_sdk_s3::Client,
    bucket: String,
    rules: Vec<crate::template::ExpiryRule>,
) {
    if rules.is_empty() {
        return;
    }
    loop {
        if let Err(error) = crate::s3::expire(&s3, &bucket, &rules, std::time::SystemTime::now()).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "applying the bucket's lifecycle failed"
            );
        }
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
}

/// The longest wait between two attempts at a bucket event.
const OBJECT_EVENT_MAX_DELAY: std::time::Duration = std::time::Duration::from_secs(5);

/// The EventBridge `Object Created` event S3 sends for `key` in `bucket`, as the finaliser's
/// rule delivers it (the local bucket's events and keel-bench's boot check alike).
pub fn object_created_event(bucket: &str, key: &str, size: u64) -> serde_json::Value {
    serde_json::json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "000000000000",
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": crate::engines::LOCAL_REGION,
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {
            "version": "0",
            "bucket": { "name": bucket },
            "object": { "key": key, "size": size },
            "reason": "PutObject",
        },
    })
}

/// Delivers the embedded S3 engine's `Object Created` events as EventBridge delivers them in
/// AWS: those matching the template's rule (this bucket, keys under `uploads/`) invoke the
/// `upload-finalise` handler with its own dependencies, asynchronously, retried with back-off
/// as often as the function's `EventInvokeConfig` says when the handler fails, and parked in
/// `dead_letters` after the last attempt (its on-failure queue in AWS).
pub async fn deliver_object_events(
    mut events: tokio::sync::mpsc::UnboundedReceiver<crate::s3::ObjectCreated>,
    bucket: String,
    finaliser: &'static Deps,
    dead_letters: crate::dead_letters::DeadLetters,
    retries: u32,
) {
    let attempts = retries.saturating_add(1);
    use keel_functions::uploads::{ObjectCreatedEvent, on_object_created};
    while let Some(created) = events.recv().await {
        if created.bucket != bucket || !created.key.starts_with(keel::files::INCOMING_PREFIX) {
            continue;
        }
        let payload = object_created_event(&created.bucket, &created.key, created.size);
        let event: ObjectCreatedEvent = match serde_json::from_value(payload) {
            Ok(event) => event,
            Err(error) => {
                tracing::error!(%error, "BUG: could not build an Object Created event");
                continue;
            }
        };
        let dead_letters = dead_letters.clone();
        tokio::spawn(async move {
            let mut delay = std::time::Duration::from_millis(200);
            let mut last = None;
            for _ in 0..attempts {
                // Each attempt is an invocation of its own, traced as active tracing would.
                let trace = keel::telemetry::xray::new_trace_header();
                let (result, outcome) =
                    keel::telemetry::scoped(on_object_created(finaliser, event.clone())).await;
                keel::telemetry::flush_metrics(keel_functions::uploads::FINALISE, Some(&trace), &outcome);
                match result {
                    Ok(()) => return,
                    Err(error) => last = Some(anyhow::anyhow!("{error}")),
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(OBJECT_EVENT_MAX_DELAY);
            }
            let error = last.unwrap_or_else(|| anyhow::anyhow!("never attempted"));
            let letter = crate::dead_letters::DeadLetter::new(
                crate::dead_letters::Failed::ObjectCreated {
                    event: Box::new(event),
                },
                &error,
                attempts,
            );
            match dead_letters.park(&letter) {
                Ok(path) => tracing::error!(
                    error = letter.error,
                    parked = %path.display(),
                    "an Object Created event was parked after its last attempt; replay with `keel-local ops replay-failures`"
                ),
                Err(park) => tracing::error!(
                    error = letter.error,
                    park = format!("{park:#}"),
                    "an Object Created event failed its last attempt and could not be parked"
                ),
            }
        });
    }
}
