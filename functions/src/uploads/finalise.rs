//! Finalising an upload: the check that settles it `ready` or `rejected`, shared by the
//! bucket's `ObjectCreated` event (`upload-finalise`) and `POST /api/uploads/{id}/complete`.

use keel::Deps;
use keel::domain::{Upload, UploadId, UploadStatus, Variant};
use keel::error::ApiError;
use keel::files::Files;
use keel::media;
use keel::store::Verdict;
use keel::telemetry::{self, Metric};
use serde::Serialize;

/// Every key an upload may have in the bucket: the bytes as sent, the cleaned file, its thumbnail.
pub(super) fn all_keys(id: &UploadId) -> [String; 3] {
    [
        Files::incoming_key(id),
        Files::stored_key(id, Variant::Original),
        Files::stored_key(id, Variant::Thumbnail),
    ]
}

/// Where finalising left an upload.
#[derive(Debug)]
pub enum Finalised {
    /// Ready or rejected (by this call or an earlier one).
    Settled(Upload),
    /// Still pending: S3 has no file for it yet.
    Waiting(Upload),
    /// No such upload (never announced, expired or deleted); any bytes for it were removed.
    Unknown,
}

/// Finalises upload `id`: reads what S3 holds for it, checks it against what was declared
/// (length, real type from the bytes, for images a decode under limits), stores the cleaned
/// file and thumbnail, records `ready` or `rejected`, and removes the incoming object.
///
/// Safe to run any number of times, concurrently too (the bucket event and `complete` may
/// race): only a pending upload is settled, by a conditional write, and the loser answers
/// what the winner recorded. Bytes for an upload that no longer exists are removed, so
/// nothing is orphaned in the bucket.
pub async fn finalise(deps: &Deps, id: &UploadId) -> Result<Finalised, ApiError> {
    finalise_read(deps, id, deps.store.upload(id).await?).await
}

/// [`finalise`] from the record as `complete` has just read it (`None`: no such upload), so the
/// owner's request reads it once.
pub(super) async fn finalise_read(
    deps: &Deps,
    id: &UploadId,
    record: Option<Upload>,
) -> Result<Finalised, ApiError> {
    let files = deps.files()?;
    let incoming = Files::incoming_key(id);
    let Some(upload) = record else {
        files.remove(&all_keys(id)).await?;
        return Ok(Finalised::Unknown);
    };
    if upload.status != UploadStatus::Pending {
        // Bytes sent again to a still-valid presigned URL after the upload settled: never read,
        // never served, so removed now rather than left for the lifecycle rule.
        files.remove(std::slice::from_ref(&incoming)).await?;
        return Ok(Finalised::Settled(upload));
    }
    let Some((bytes, total)) = files.read(&incoming, upload.size).await? else {
        // Another finaliser may have just finished and removed the incoming object.
        return match deps.store.upload(id).await? {
            Some(now) if now.status != UploadStatus::Pending => Ok(Finalised::Settled(now)),
            Some(now) => Ok(Finalised::Waiting(now)),
            None => Ok(Finalised::Unknown),
        };
    };
    let (media_type, size) = (upload.media_type, upload.size);
    let checked = tokio::task::spawn_blocking(move || media::check(media_type, size, total, &bytes))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let verdict = match checked {
        Ok(cleaned) => {
            files
                .write(
                    &Files::stored_key(id, Variant::Original),
                    cleaned.bytes,
                    cleaned.media_type,
                )
                .await?;
            if let Some((thumbnail, kind)) = cleaned.thumbnail.clone() {
                files
                    .write(&Files::stored_key(id, Variant::Thumbnail), thumbnail, kind)
                    .await?;
            }
            Verdict::Ready {
                dimensions: cleaned.dimensions,
                has_thumbnail: cleaned.thumbnail.is_some(),
            }
        }
        Err(rejection) => {
            tracing::info!(upload = %id, reason = %rejection, "upload rejected");
            Verdict::Rejected(rejection.0)
        }
    };
    let settled = deps.store.settle_upload(&upload, &verdict).await?;
    if settled.is_some() {
        let metric = match verdict {
            Verdict::Ready { .. } => Metric::UploadAccepted,
            Verdict::Rejected(_) => Metric::UploadRejected,
        };
        telemetry::count(metric, 1);
    }
    files.remove(std::slice::from_ref(&incoming)).await?;
    match settled {
        Some(upload) => Ok(Finalised::Settled(upload)),
        None => match deps.store.upload(id).await? {
            Some(now) => Ok(Finalised::Settled(now)),
            None => {
                // Deleted while we checked it: what we stored must go too.
                files.remove(&all_keys(id)).await?;
                Ok(Finalised::Unknown)
            }
        },
    }
}

/// The binary `template.yaml` names for the bucket's `ObjectCreated` events.
pub const FINALISE: &str = "upload-finalise";

/// What the finaliser's cold start loads: the table and the bucket, never the signing key.
pub const FINALISE_NEEDS: keel::config::Needs = keel::config::Needs::TableAndBucket;

/// The `detail` of S3's `Object Created` event, as EventBridge delivers it (the parts used).
#[derive(Debug, Clone, serde::Deserialize, Serialize)]
pub struct ObjectCreated {
    /// The bucket.
    pub bucket: BucketRef,
    /// The object.
    pub object: ObjectRef,
}

/// `detail.bucket`.
#[derive(Debug, Clone, serde::Deserialize, Serialize)]
pub struct BucketRef {
    /// Its name.
    pub name: String,
}

/// `detail.object`.
#[derive(Debug, Clone, serde::Deserialize, Serialize)]
pub struct ObjectRef {
    /// Its key.
    pub key: String,
    /// Its length.
    #[serde(default)]
    pub size: Option<u64>,
}

/// The event the finaliser receives.
pub type ObjectCreatedEvent = aws_lambda_events::event::eventbridge::EventBridgeEvent<ObjectCreated>;

/// Handles one `Object Created` event: finalises the upload the key belongs to. Keys outside
/// `uploads/` are not ours to judge (the rule's filter keeps them away; this is a second
/// guard). An `Err` makes Lambda retry the event; every outcome of [`finalise`] is final.
pub async fn on_object_created(deps: &Deps, event: ObjectCreatedEvent) -> Result<(), lambda_http::Error> {
    let key = event.detail.object.key;
    let Some(id) = Files::upload_of_incoming(&key) else {
        tracing::warn!(%key, "object outside the uploads prefix ignored");
        return Ok(());
    };
    match finalise(deps, &id).await {
        Ok(outcome) => {
            tracing::info!(upload = %id, outcome = outcome.label(), "finalised");
            Ok(())
        }
        Err(error) => {
            let error = format!("{error:?}");
            tracing::error!(upload = %id, %error, "finalising failed; the event will be retried");
            Err(error.into())
        }
    }
}

impl Finalised {
    /// For logs.
    pub fn label(&self) -> &'static str {
        match self {
            Finalised::Settled(upload) => upload.status.as_str(),
            Finalised::Waiting(_) => "waiting",
            Finalised::Unknown => "unknown",
        }
    }
}

/// The `upload-finalise` function's whole `main`.
pub async fn serve_finalise() -> Result<(), lambda_http::Error> {
    crate::serve_events(FINALISE, FINALISE_NEEDS, on_object_created).await
}
