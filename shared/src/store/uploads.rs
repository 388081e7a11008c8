//! Upload records and each user's upload quota.
//!
//! | item    | pk                | sk             | attributes |
//! |---------|-------------------|----------------|------------|
//! | upload  | `UPLOAD#<id>`     | `UPLOAD`       | owner, purpose, filename, media_type, size, status, reason, width, height, has_thumbnail, attached_to, created_at, expires_at (TTL while pending or rejected); gsi1 `UPLOADS#<owner>` / `<created_at>#<id>` |
//! | quota   | `USER#<id>`       | `UPLOAD_QUOTA` | ready_bytes, pending (id → size, expires_at), version |
//!
//! The quota item holds the bytes of the owner's ready uploads and a reservation per pending
//! one. A reservation carries its own expiry, so an upload that is never finished stops
//! counting when its record expires, with no clean-up job: the next announcement drops it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::clock::{epoch_now, seconds};
use super::index_list::{Index, IndexList};
use super::keys::{UPLOAD_PREFIX, UPLOAD_SK, key, upload_pk, uploads_gsi, user_pk};
use super::tx::{Tx, number};
use super::{Detailed, Store, StoreError, StoreResult, from_item};
use crate::domain::{
    Attachment, Cursor, Filename, MAX_PENDING_UPLOADS, MAX_USER_BYTES, MediaType, NewUpload, Purpose, Upload,
    UploadId, UploadStatus, UserId, now_timestamp,
};

/// Sort key of a user's quota item.
const QUOTA_SK: &str = "UPLOAD_QUOTA";
/// How long an announced upload waits for its bytes and its check: the presigned request's
/// window, plus time for the event to arrive.
pub const PENDING_LIFETIME: Duration = Duration::from_secs(3600);
/// How long a rejected upload's record (and its reason) stays readable.
const REJECTED_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct UploadItem {
    pk: String,
    sk: String,
    id: String,
    owner: String,
    purpose: String,
    filename: String,
    media_type: String,
    size: u64,
    status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    height: Option<u32>,
    #[serde(default)]
    has_thumbnail: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    attached_to: Option<String>,
    /// Set by the first half of a delete: the files are being removed; no read shows it and
    /// nothing may attach it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    deleting: bool,
    created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
    gsi1pk: String,
    gsi1sk: String,
}

impl UploadItem {
    /// An expired record is treated as absent, as DynamoDB's TTL deletion may lag by days.
    fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// What reads show: not expired, and not being deleted.
    fn live(self, now: i64) -> Option<Self> {
        (!self.deleting && !self.expired(now)).then_some(self)
    }

    fn into_upload(self) -> anyhow::Result<Upload> {
        use anyhow::Context as _;
        Ok(Upload {
            id: UploadId::from_trusted(self.id),
            owner: self.owner,
            purpose: Purpose::parse(&self.purpose).context("stored purpose")?,
            filename: Filename::from_trusted(self.filename),
            media_type: MediaType::from_mime(&self.media_type).context("stored media type")?,
            size: self.size,
            status: UploadStatus::parse(&self.status).context("stored status")?,
            reason: self.reason,
            dimensions: self.width.zip(self.height),
            has_thumbnail: self.has_thumbnail,
            attached_to: self.attached_to,
            created_at: self.created_at,
        })
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Reservation {
    size: u64,
    expires_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct QuotaItem {
    pk: String,
    sk: String,
    #[serde(default)]
    ready_bytes: u64,
    #[serde(default)]
    pending: BTreeMap<String, Reservation>,
    #[serde(default)]
    version: u64,
}

/// A finished check, to record.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// The file is what was declared: (width, height) for images, and whether a thumbnail was
    /// stored.
    Ready {
        /// Image dimensions.
        dimensions: Option<(u32, u32)>,
        /// A thumbnail was stored.
        has_thumbnail: bool,
    },
    /// It is not: why.
    Rejected(String),
}

impl Store {
    /// Records an announced upload and reserves its size in the owner's quota.
    ///
    /// Access: `GetItem` of the quota, then one `TransactWriteItems` (the record, new; the
    /// quota, conditioned on the version read) — 2 round trips. A concurrent change to the
    /// quota makes the transaction fail and the pair is tried again.
    pub async fn create_upload(&self, owner: &UserId, id: &UploadId, new: &NewUpload) -> StoreResult<Upload> {
        const ATTEMPTS: usize = 4;
        for _ in 0..ATTEMPTS {
            let now = epoch_now();
            let current = self.quota(owner).await?;
            let read_version = current.as_ref().map(|q| q.version);
            let mut quota = current.unwrap_or_else(|| QuotaItem {
                pk: user_pk(owner),
                sk: QUOTA_SK.to_owned(),
                ready_bytes: 0,
                pending: BTreeMap::new(),
                version: 0,
            });
            quota.pending.retain(|_, r| r.expires_at > now);
            if quota.pending.len() >= MAX_PENDING_UPLOADS {
                return Err(StoreError::Conflict(vec![(
                    "uploads".into(),
                    format!("you have {MAX_PENDING_UPLOADS} unfinished uploads; finish or delete one first"),
                )]));
            }
            let used = quota.ready_bytes + quota.pending.values().map(|r| r.size).sum::<u64>();
            if used + new.size > MAX_USER_BYTES {
                return Err(StoreError::Conflict(vec![(
                    "size".into(),
                    format!("would exceed your storage quota ({used} of {MAX_USER_BYTES} bytes used)"),
                )]));
            }
            let expires_at = now + seconds(PENDING_LIFETIME);
            quota.pending.insert(
                id.to_string(),
                Reservation {
                    size: new.size,
                    expires_at,
                },
            );
            quota.version += 1;
            let created_at = now_timestamp();
            let item = UploadItem {
                pk: upload_pk(id),
                sk: UPLOAD_SK.to_owned(),
                id: id.to_string(),
                owner: owner.as_str().to_owned(),
                purpose: new.purpose.as_str().to_owned(),
                filename: new.filename.as_str().to_owned(),
                media_type: new.media_type.mime().to_owned(),
                size: new.size,
                status: UploadStatus::Pending.as_str().to_owned(),
                reason: None,
                width: None,
                height: None,
                has_thumbnail: false,
                attached_to: None,
                deleting: false,
                gsi1pk: uploads_gsi(owner),
                gsi1sk: format!("{created_at}#{id}"),
                created_at,
                expires_at: Some(expires_at),
            };
            let mut tx = Tx::new(&self.table);
            tx.put_new(&item)?;
            match read_version {
                Some(version) => tx.put(
                    &quota,
                    Some(("version = :read", vec![(":read", number(version))])),
                )?,
                None => tx.put_new(&quota)?,
            };
            match self.transact_detailed(tx.items, true).await {
                Ok(()) => return Ok(item.into_upload()?),
                Err(Detailed::Cancelled(_)) => continue,
                Err(Detailed::Other(error)) => return Err(error),
            }
        }
        Err(StoreError::Contended("upload quota"))
    }

    async fn quota(&self, owner: &UserId) -> StoreResult<Option<QuotaItem>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(owner), QUOTA_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::sdk("GetItem quota", e))?;
        Ok(output.item.map(from_item).transpose()?)
    }

    /// An upload's record, or `None` (also once a pending or rejected one has expired).
    ///
    /// Access: `GetItem` `UPLOAD#<id>`, strongly consistent — 1 round trip.
    pub async fn upload(&self, id: &UploadId) -> StoreResult<Option<Upload>> {
        let item: Option<UploadItem> = self.get_consistent(key(upload_pk(id), UPLOAD_SK)).await?;
        Ok(item
            .and_then(|item| item.live(epoch_now()))
            .map(UploadItem::into_upload)
            .transpose()?)
    }

    /// `owner`'s uploads, newest first.
    ///
    /// Access: one `Query` of gsi1 `UPLOADS#<owner>`, descending — 1 round trip.
    pub async fn uploads_of(
        &self,
        owner: &UserId,
        limit: usize,
        cursor: Option<&Cursor>,
    ) -> StoreResult<(Vec<Upload>, Option<Cursor>)> {
        let list = IndexList {
            index: Index::Gsi1,
            partition: uploads_gsi(owner),
            record: (UPLOAD_PREFIX, UPLOAD_SK),
            valid_id: |id| UploadId::parse(id).is_some(),
            operation: "Query uploads",
        };
        let (items, next) = self
            .index_page(list, limit, cursor, |u: &UploadItem| {
                [
                    ("pk", u.pk.clone()),
                    ("sk", u.sk.clone()),
                    ("gsi1pk", u.gsi1pk.clone()),
                    ("gsi1sk", u.gsi1sk.clone()),
                ]
            })
            .await?;
        let now = epoch_now();
        let uploads = items
            .into_iter()
            .filter_map(|item| item.live(now))
            .map(UploadItem::into_upload)
            .collect::<anyhow::Result<_>>()?;
        Ok((uploads, next))
    }

    /// Records the outcome of checking a pending upload and settles its quota reservation: a
    /// ready upload's bytes now count as stored; a rejected one's count no more. Only a
    /// pending upload can be settled, so of two finalisers racing, one records and the other
    /// gets `None` (and reads what the first recorded).
    ///
    /// Access: one `TransactWriteItems` (the record, conditioned on `status = pending`; the
    /// quota) — 1 round trip.
    pub async fn settle_upload(&self, upload: &Upload, verdict: &Verdict) -> StoreResult<Option<Upload>> {
        let owner = UserId::from_trusted(upload.owner.clone());
        let mut tx = Tx::new(&self.table);
        let pending = UploadStatus::Pending.as_str();
        let mut settled = upload.clone();
        match verdict {
            Verdict::Ready {
                dimensions,
                has_thumbnail,
            } => {
                let (width, height) = dimensions.unwrap_or_default();
                let (set_dims, mut values) = if dimensions.is_some() {
                    (
                        ", width = :w, height = :h",
                        vec![(":w", number(width)), (":h", number(height))],
                    )
                } else {
                    ("", vec![])
                };
                values.extend([
                    (":ready", AttributeValue::S(UploadStatus::Ready.as_str().into())),
                    (":pending", AttributeValue::S(pending.into())),
                    (":thumb", AttributeValue::Bool(*has_thumbnail)),
                ]);
                tx.update_named(
                    upload_pk(&upload.id),
                    UPLOAD_SK,
                    &format!("SET #status = :ready, has_thumbnail = :thumb{set_dims} REMOVE expires_at"),
                    &[("#status", "status")],
                    values,
                    Some("#status = :pending"),
                )?;
                tx.update_named(
                    user_pk(&owner),
                    QUOTA_SK,
                    "REMOVE pending.#id SET ready_bytes = ready_bytes + :size, version = version + :one",
                    &[("#id", upload.id.as_str())],
                    vec![(":size", number(upload.size)), (":one", number(1))],
                    None,
                )?;
                settled.status = UploadStatus::Ready;
                settled.dimensions = *dimensions;
                settled.has_thumbnail = *has_thumbnail;
            }
            Verdict::Rejected(reason) => {
                tx.update_named(
                    upload_pk(&upload.id),
                    UPLOAD_SK,
                    "SET #status = :rejected, reason = :reason, expires_at = :expires",
                    &[("#status", "status")],
                    vec![
                        (
                            ":rejected",
                            AttributeValue::S(UploadStatus::Rejected.as_str().into()),
                        ),
                        (":pending", AttributeValue::S(pending.into())),
                        (":reason", AttributeValue::S(reason.clone())),
                        (":expires", number(epoch_now() + seconds(REJECTED_LIFETIME))),
                    ],
                    Some("#status = :pending"),
                )?;
                tx.update_named(
                    user_pk(&owner),
                    QUOTA_SK,
                    "REMOVE pending.#id SET version = version + :one",
                    &[("#id", upload.id.as_str())],
                    vec![(":one", number(1))],
                    None,
                )?;
                settled.status = UploadStatus::Rejected;
                settled.reason = Some(reason.clone());
            }
        }
        match self.transact_detailed(tx.items, true).await {
            Ok(()) => Ok(Some(settled)),
            Err(Detailed::Cancelled(_)) => Ok(None),
            Err(Detailed::Other(error)) => Err(error),
        }
    }

    /// First half of deleting `owner`'s upload `id`: marks the record as being deleted, so no
    /// read shows it and nothing can attach it while the caller removes its files; then
    /// [`Store::delete_upload`]. Refused while something shows it. A record already marked is
    /// answered again, so a delete that failed between the halves (S3 unreachable) is finished
    /// by sending it again, and no file outlives an acknowledged delete.
    ///
    /// Access: a consistent `GetItem` and, unless already marked, one conditional
    /// `UpdateItem` — 2 round trips.
    pub async fn begin_upload_delete(&self, owner: &UserId, id: &UploadId) -> StoreResult<Upload> {
        let item: Option<UploadItem> = self.get_consistent(key(upload_pk(id), UPLOAD_SK)).await?;
        let Some(item) = item.filter(|i| i.owner == owner.as_str() && !i.expired(epoch_now())) else {
            return Err(StoreError::NotFound("upload"));
        };
        if let Some(attached) = &item.attached_to {
            return Err(attached_conflict(attached));
        }
        if item.deleting {
            return Ok(item.into_upload()?);
        }
        let marked = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(upload_pk(id), UPLOAD_SK)))
            .update_expression("SET deleting = :yes")
            .condition_expression("#owner = :me AND attribute_not_exists(attached_to)")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":me", AttributeValue::S(owner.as_str().into()))
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await;
        match marked {
            Ok(_) => Ok(item.into_upload()?),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                // Attached (or removed) since the read: the next attempt says which.
                Err(StoreError::Contended("upload"))
            }
            Err(e) => Err(StoreError::sdk("UpdateItem upload", e)),
        }
    }

    /// Second half of deleting (after [`Store::begin_upload_delete`] and the files' removal):
    /// deletes the marked record and releases its quota.
    ///
    /// Access: one `TransactWriteItems` (the record, conditioned on owner, mark and status;
    /// the quota) — 1 round trip.
    pub async fn delete_upload(&self, owner: &UserId, upload: &Upload) -> StoreResult<()> {
        let id = &upload.id;
        let mut tx = Tx::new(&self.table);
        tx.delete_named(
            upload_pk(id),
            UPLOAD_SK,
            &[("#owner", "owner"), ("#status", "status")],
            Some((
                "#owner = :me AND deleting = :yes AND attribute_not_exists(attached_to) AND #status = :status",
                vec![
                    (":me", AttributeValue::S(owner.as_str().into())),
                    (":yes", AttributeValue::Bool(true)),
                    (":status", AttributeValue::S(upload.status.as_str().into())),
                ],
            )),
        )?;
        let (expression, values) = match upload.status {
            UploadStatus::Ready => (
                "SET ready_bytes = ready_bytes - :size, version = version + :one",
                vec![(":size", number(upload.size)), (":one", number(1))],
            ),
            _ => (
                "REMOVE pending.#id SET version = version + :one",
                vec![(":one", number(1))],
            ),
        };
        let names: &[(&str, &str)] = if upload.status == UploadStatus::Ready {
            &[]
        } else {
            &[("#id", id.as_str())]
        };
        tx.update_named(user_pk(owner), QUOTA_SK, expression, names, values, None)?;
        match self.transact_detailed(tx.items, true).await {
            Ok(()) => Ok(()),
            // Settled by a finalise that read it before the mark, or already deleted by a
            // concurrent request: sending the delete again finishes it or answers 404.
            Err(Detailed::Cancelled(_)) => Err(StoreError::Contended("upload")),
            Err(Detailed::Other(error)) => Err(error),
        }
    }
}

fn attached_conflict(attached: &str) -> StoreError {
    let what = match attached.split('#').next() {
        Some("avatar") => "an avatar",
        Some("product") => "a product's image",
        Some("article") => "an article's image",
        _ => "an image",
    };
    StoreError::Conflict(vec![(
        "upload".into(),
        format!("is in use as {what}; replace or remove it there first"),
    )])
}

/// Writes that attach an upload to what shows it, and detach the one it replaces, inside the
/// caller's transaction. The condition is the rule: only the owner's own ready upload of the
/// right purpose can be attached (an avatar to nobody else's profile, a product photo only to
/// a product); a failed condition cancels the whole change.
pub(super) fn attach(
    tx: &mut Tx<'_>,
    upload: &UploadId,
    owner: &UserId,
    purpose: Purpose,
    to: &Attachment,
) -> anyhow::Result<usize> {
    tx.update_named(
        upload_pk(upload),
        UPLOAD_SK,
        "SET attached_to = :to",
        &[("#status", "status"), ("#owner", "owner")],
        vec![
            (":to", AttributeValue::S(to.key())),
            (":me", AttributeValue::S(owner.as_str().into())),
            (":ready", AttributeValue::S(UploadStatus::Ready.as_str().into())),
            (":purpose", AttributeValue::S(purpose.as_str().into())),
        ],
        Some("#owner = :me AND #status = :ready AND purpose = :purpose AND attribute_not_exists(deleting) AND (attribute_not_exists(attached_to) OR attached_to = :to)"),
    )
}

/// See [`attach`]: releases `upload` from `from`, if it is still attached there.
pub(super) fn detach(tx: &mut Tx<'_>, upload: &UploadId, from: &Attachment) -> anyhow::Result<usize> {
    tx.update(
        upload_pk(upload),
        UPLOAD_SK,
        "REMOVE attached_to",
        vec![(":from", AttributeValue::S(from.key()))],
        Some("attached_to = :from"),
    )
}

/// The attach and release writes an article's change added to its transaction, to read a
/// cancellation by.
#[derive(Debug, Default)]
pub(super) struct ImageLinks {
    attached: Vec<(usize, UploadId)>,
    released: Vec<(usize, UploadId)>,
}

impl ImageLinks {
    /// Adds to `tx` an attach of each of `added` (the author's own ready `article` uploads) and
    /// a release of each of `removed` not in `stale` (known not to be attached here).
    pub(super) fn write<'a>(
        tx: &mut Tx<'_>,
        author: &UserId,
        article: &Attachment,
        added: impl IntoIterator<Item = &'a UploadId>,
        removed: impl IntoIterator<Item = &'a UploadId>,
        stale: &BTreeSet<UploadId>,
    ) -> anyhow::Result<Self> {
        let mut links = Self::default();
        for id in added {
            let at = attach(tx, id, author, Purpose::Article, article)?;
            links.attached.push((at, id.clone()));
        }
        for id in removed.into_iter().filter(|id| !stale.contains(*id)) {
            links.released.push((detach(tx, id, article)?, id.clone()));
        }
        Ok(links)
    }

    /// The 422 for an image the author may not attach, if that is what cancelled.
    pub(super) fn refused(&self, codes: &[Option<String>]) -> Option<StoreError> {
        let (_, id) = self
            .attached
            .iter()
            .find(|(at, _)| super::TransactFailure::failed_at(codes, *at))?;
        Some(StoreError::Rejected(vec![(
            "body".into(),
            format!("links upload {id}, which is not your own ready article upload"),
        )]))
    }

    /// The released uploads that were not attached here (deleted since, or never attached):
    /// the change is retried without releasing them.
    pub(super) fn stale(&self, codes: &[Option<String>]) -> Vec<UploadId> {
        self.released
            .iter()
            .filter(|(at, _)| super::TransactFailure::failed_at(codes, *at))
            .map(|(_, id)| id.clone())
            .collect()
    }
}
