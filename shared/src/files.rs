//! The bucket, through the AWS SDK: presigned requests that let a client send or fetch a file
//! without its bytes passing through a function, and the reads, writes and deletes that
//! finalising an upload needs.
//!
//! Keys are made here, never from anything a client sent:
//! - `uploads/<id>`: where the client's bytes land. Nothing is ever served from here; the
//!   `ObjectCreated` event for this prefix finalises the upload, and a lifecycle rule removes
//!   whatever is left after a day.
//! - `files/<id>/original`, `files/<id>/thumbnail`: what finalising stored, the only keys a
//!   download URL is ever signed for.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;

use crate::domain::{MediaType, UploadId, Variant};
use crate::store::StoreError;

/// The prefix uploads arrive under (and the event source's filter).
pub const INCOMING_PREFIX: &str = "uploads/";
/// How long a presigned upload may be used.
pub const UPLOAD_WINDOW: Duration = Duration::from_secs(10 * 60);
/// How long a download link works. Short: the link is the permission.
pub const DOWNLOAD_WINDOW: Duration = Duration::from_secs(5 * 60);

/// A request the client sends itself, straight to S3.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PresignedRequest {
    /// `PUT`.
    pub method: &'static str,
    /// The URL, signature included.
    pub url: String,
    /// Headers that were signed and must be sent exactly (`content-type`, `content-length`).
    pub headers: std::collections::BTreeMap<String, String>,
    /// When the signature stops working (RFC 3339).
    pub expires_at: String,
}

/// The uploads bucket.
#[derive(Debug, Clone)]
pub struct Files {
    client: aws_sdk_s3::Client,
    bucket: String,
}

type FilesResult<T> = Result<T, StoreError>;

impl Files {
    /// Wraps a client built once per cold start.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Where the client's bytes for `id` land.
    pub fn incoming_key(id: &UploadId) -> String {
        format!("{INCOMING_PREFIX}{id}")
    }

    /// The upload an incoming key belongs to, if it is one.
    pub fn upload_of_incoming(key: &str) -> Option<UploadId> {
        key.strip_prefix(INCOMING_PREFIX).and_then(UploadId::parse)
    }

    /// Where the checked file (or its thumbnail) of `id` is kept.
    pub fn stored_key(id: &UploadId, variant: Variant) -> String {
        match variant {
            Variant::Original => format!("files/{id}/original"),
            Variant::Thumbnail => format!("files/{id}/thumbnail"),
        }
    }

    /// A presigned `PUT` for exactly `size` bytes of `media`: S3 refuses another length or type
    /// (both are signed headers), another key, and any use after [`UPLOAD_WINDOW`].
    pub async fn presign_upload(
        &self,
        id: &UploadId,
        media: MediaType,
        size: u64,
    ) -> FilesResult<PresignedRequest> {
        let config = PresigningConfig::expires_in(UPLOAD_WINDOW).map_err(|e| StoreError::Failed(e.into()))?;
        let length = i64::try_from(size).map_err(|e| StoreError::Failed(e.into()))?;
        let presigned = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(Self::incoming_key(id))
            .content_type(media.mime())
            .content_length(length)
            .presigned(config)
            .await
            .map_err(|e| StoreError::sdk("presign PutObject", e))?;
        let expires_at = chrono::Utc::now()
            + chrono::Duration::from_std(UPLOAD_WINDOW).map_err(|e| StoreError::Failed(e.into()))?;
        Ok(PresignedRequest {
            method: "PUT",
            url: presigned.uri().to_owned(),
            headers: presigned
                .headers()
                .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
                .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
                .collect(),
            expires_at: expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
    }

    /// A presigned `GET` of a stored file, for [`DOWNLOAD_WINDOW`], whose response carries the
    /// given type and `Content-Disposition`.
    pub async fn presign_download(
        &self,
        key: &str,
        media: MediaType,
        disposition: &str,
    ) -> FilesResult<String> {
        let config =
            PresigningConfig::expires_in(DOWNLOAD_WINDOW).map_err(|e| StoreError::Failed(e.into()))?;
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_type(media.mime())
            .response_content_disposition(disposition)
            .presigned(config)
            .await
            .map_err(|e| StoreError::sdk("presign GetObject", e))?;
        Ok(presigned.uri().to_owned())
    }

    /// The object at `key` and its full length, or `None` when there is none. Reads at most
    /// `limit + 1` bytes, so an object larger than declared is never loaded whole.
    pub async fn read(&self, key: &str, limit: u64) -> FilesResult<Option<(Vec<u8>, u64)>> {
        let result = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes=0-{limit}"))
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
            // An empty object has no byte 0: S3 answers 416 to any range.
            Err(error) if error.raw_response().is_some_and(|r| r.status().as_u16() == 416) => {
                return Ok(Some((Vec::new(), 0)));
            }
            Err(error) => return Err(StoreError::sdk("GetObject", error)),
        };
        let total = output
            .content_range()
            .and_then(|range| range.rsplit_once('/'))
            .and_then(|(_, total)| total.parse().ok())
            .or_else(|| output.content_length().and_then(|n| u64::try_from(n).ok()))
            .unwrap_or_default();
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Unavailable(anyhow::Error::new(e).context("reading an object")))?;
        Ok(Some((bytes.to_vec(), total)))
    }

    /// Stores `bytes` at `key` as `media`.
    pub async fn write(&self, key: &str, bytes: Vec<u8>, media: MediaType) -> FilesResult<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(media.mime())
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| StoreError::sdk("PutObject", e))?;
        Ok(())
    }

    /// Removes the objects at `keys`; absent ones are not an error (as in S3).
    pub async fn remove(&self, keys: &[String]) -> FilesResult<()> {
        for key in keys {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| StoreError::sdk("DeleteObject", e))?;
        }
        Ok(())
    }
}
