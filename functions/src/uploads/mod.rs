//! `/api/uploads`: photos and files. A client announces a file and gets a presigned request to
//! send its bytes straight to S3; the upload is then finalised — checked, cleaned, and marked
//! ready or rejected — by the bucket's `ObjectCreated` event (`upload-finalise`) or by
//! `POST /api/uploads/{id}/complete`, which share [`finalise`]. Downloads are redirects to
//! short-lived presigned URLs, for the owner, or for anyone once something public shows the
//! upload.

use http::{HeaderValue, StatusCode, header};
use keel::auth::Session;
use keel::domain::{NewUpload, Upload, UploadFields, UploadId, UploadStatus, Variant, parse_limit};
use keel::error::FieldErrors;
use keel::files::{Files, PresignedRequest};
use keel::http::{cursor_param, empty, json, json_body, path_param, query_param};
use keel::{ApiError, Deps};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use crate::endpoint;

mod finalise;

pub use finalise::{
    BucketRef, FINALISE, FINALISE_NEEDS, Finalised, ObjectCreated, ObjectCreatedEvent, ObjectRef, finalise,
    on_object_created, serve_finalise,
};
use finalise::{all_keys, finalise_read};

endpoint!(
    /// `create-upload`: POST /api/uploads.
    CREATE = "create-upload" => create, TableTokensAndBucket
);
endpoint!(
    /// `list-uploads`: GET /api/uploads (the caller's).
    LIST = "list-uploads" => list, TableAndTokens
);
endpoint!(
    /// `get-upload`: GET /api/uploads/{id}.
    GET = "get-upload" => get, TableAndTokens
);
endpoint!(
    /// `upload-content`: GET /api/uploads/{id}/content — a redirect to the file.
    CONTENT = "upload-content" => content, TableTokensAndBucket
);
endpoint!(
    /// `complete-upload`: POST /api/uploads/{id}/complete — finalise now.
    COMPLETE = "complete-upload" => complete, TableTokensAndBucket
);
endpoint!(
    /// `delete-upload`: DELETE /api/uploads/{id}.
    DELETE = "delete-upload" => delete, TableTokensAndBucket
);

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct UploadBody<'a> {
    id: &'a str,
    #[schema(value_type = crate::schema::PurposeName)]
    purpose: &'static str,
    filename: &'a str,
    #[schema(value_type = crate::schema::FileType)]
    content_type: &'static str,
    size: u64,
    #[schema(value_type = crate::schema::UploadStatusName)]
    status: &'static str,
    reason: Option<&'a str>,
    width: Option<u32>,
    height: Option<u32>,
    /// Where the file is served (a redirect), once ready.
    url: Option<String>,
    thumbnail_url: Option<String>,
    /// True when something public shows it (then anyone may download it).
    attached: bool,
    #[schema(format = DateTime)]
    created_at: &'a str,
}

impl<'a> UploadBody<'a> {
    fn new(upload: &'a Upload, base: &str) -> Self {
        let ready = upload.status == UploadStatus::Ready;
        let url = format!("{base}/api/uploads/{}/content", upload.id);
        Self {
            id: upload.id.as_str(),
            purpose: upload.purpose.as_str(),
            filename: upload.filename.as_str(),
            content_type: upload.media_type.mime(),
            size: upload.size,
            status: upload.status.as_str(),
            reason: upload.reason.as_deref(),
            width: upload.dimensions.map(|d| d.0),
            height: upload.dimensions.map(|d| d.1),
            thumbnail_url: (ready && upload.has_thumbnail).then(|| format!("{url}?variant=thumbnail")),
            url: ready.then_some(url),
            attached: upload.attached_to.is_some(),
            created_at: &upload.created_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct UploadResponse<'a> {
    upload: UploadBody<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<request::UploadRequestBody>)]
    upload_request: Option<&'a PresignedRequest>,
}

fn upload_response(
    status: StatusCode,
    upload: &Upload,
    base: &str,
    request: Option<&PresignedRequest>,
) -> Response<Body> {
    json(
        status,
        &UploadResponse {
            upload: UploadBody::new(upload, base),
            upload_request: request,
        },
    )
}

/// The API's own origin as the client reached it (`https://<api-id>.execute-api…` deployed,
/// `http://127.0.0.1:3000` locally): download URLs point back at it.
fn base_url(req: &Request) -> String {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let scheme = match header("x-forwarded-proto") {
        Some("http") => "http",
        _ => "https",
    };
    let host = header("host")
        .filter(|h| !h.is_empty() && h.len() <= 255 && !h.contains(['/', '\\', '@', ' ']))
        .unwrap_or("localhost");
    format!("{scheme}://{host}")
}

fn upload_id_param(req: &Request) -> Result<UploadId, ApiError> {
    UploadId::parse(&path_param(req, "id")?).ok_or(ApiError::NotFound("upload"))
}

/// The upload `id`, if `viewer` may see it: its owner always; anyone once it is public.
/// Everyone else is told it does not exist.
async fn visible(deps: &Deps, id: &UploadId, viewer: Option<&Session>) -> Result<Upload, ApiError> {
    match deps.store.upload(id).await? {
        Some(upload) if upload.is_public() || viewer.is_some_and(|s| s.user_id.as_str() == upload.owner) => {
            Ok(upload)
        }
        _ => Err(ApiError::NotFound("upload")),
    }
}

/// The caller's own upload `id`; anyone else's is a 404.
async fn owned(deps: &Deps, id: &UploadId, session: &Session) -> Result<Upload, ApiError> {
    match deps.store.upload(id).await? {
        Some(upload) if upload.owner == session.user_id.as_str() => Ok(upload),
        _ => Err(ApiError::NotFound("upload")),
    }
}

/// An announced upload as sent; every field may be left out (a 422 names it).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UploadDto {
    filename: Option<String>,
    content_type: Option<String>,
    /// Read as JSON so a float or a string gets a precise message.
    size: Option<serde_json::Value>,
    purpose: Option<String>,
}

impl UploadDto {
    fn fields(&self) -> UploadFields<'_> {
        UploadFields {
            filename: self.filename.as_deref(),
            content_type: self.content_type.as_deref(),
            size: self.size.as_ref(),
            purpose: self.purpose.as_deref(),
        }
    }
}

/// What a valid request is, for the document: the DTO above is lenient on purpose (a missing
/// field gets RealWorld's "can't be blank" 422), while the document states the limits.
#[allow(dead_code)] // Described, never constructed.
pub(crate) mod request {
    use keel::domain::{MediaType, Purpose};
    use serde::Deserialize;
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    use utoipa::openapi::{Ref, RefOr};
    use utoipa::{PartialSchema, ToSchema};

    use crate::schema;

    /// `{"upload": {...}}` to announce a file.
    #[derive(Deserialize, ToSchema)]
    pub(crate) struct NewUploadRequest {
        upload: NewUploadFields,
    }

    /// A file about to be sent to the returned `uploadRequest`. What it is for decides the types
    /// and sizes accepted: avatars, article and product images are images.
    #[derive(Deserialize)]
    pub(crate) struct NewUploadFields;

    impl PartialSchema for NewUploadFields {
        fn schema() -> RefOr<Schema> {
            Purpose::ALL
                .into_iter()
                .fold(OneOfBuilder::new(), |one_of, purpose| one_of.item(for_purpose(purpose)))
                .description(Some(
                    "A file about to be sent to the returned `uploadRequest`. What it is for decides the types\n\
                     and sizes accepted: avatars, article and product images are images.",
                ))
                .into()
        }
    }

    impl ToSchema for NewUploadFields {
        fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
            schemas.extend([
                ("FileName".to_owned(), schema::FileName::schema()),
                ("ImageType".to_owned(), schema::ImageType::schema()),
                ("FileType".to_owned(), schema::FileType::schema()),
            ]);
        }
    }

    /// One purpose's body: its types and its size limit, from the domain.
    fn for_purpose(purpose: Purpose) -> ObjectBuilder {
        let what = match purpose {
            Purpose::Avatar => "A profile photo",
            Purpose::Article => "An image for an article's body",
            Purpose::Product => "A product photo",
            Purpose::Attachment => "Any accepted file",
        };
        let types = if MediaType::ALL.into_iter().all(|t| purpose.accepts(t)) {
            "FileType"
        } else {
            "ImageType"
        };
        let size = i64::try_from(purpose.max_bytes()).expect("BUG: a size limit beyond i64");
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(format!("{what}, up to {} MiB.", size / (1024 * 1024))))
            .property("filename", Ref::from_schema_name("FileName"))
            .required("filename")
            .property("contentType", Ref::from_schema_name(types))
            .required("contentType")
            .property("size", schema::integer(1, size))
            .required("size")
            .property(
                "purpose",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some([purpose.as_str()])),
            )
            .required("purpose")
    }

    /// Where and how to send an announced file: exactly this method, URL and these headers.
    #[derive(Deserialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct UploadRequestBody {
        /// `PUT`.
        method: String,
        /// A presigned URL.
        url: String,
        /// Headers that were signed and must be sent exactly.
        headers: std::collections::BTreeMap<String, String>,
        /// When the URL stops working.
        #[schema(format = DateTime)]
        expires_at: String,
    }
}

/// POST /api/uploads — announce a file (201): its record, `pending`, and the presigned `PUT`
/// that sends the bytes to S3. The body is `{"upload": {filename, contentType, size, purpose}}`
/// (the fields may also be sent unwrapped).
#[utoipa::path(post, path = "/api/uploads", tag = "uploads", operation_id = "createUpload",
    summary = "Announce a file; send it with the returned request, then call complete",
    request_body = request::NewUploadRequest,
    responses(
        (status = 201, description = "The pending upload and where to send the file", body = UploadResponse),
        (status = 409, description = "Too many pending uploads, or the storage quota is used up", body = crate::schema::ErrorBody),
    ),
    security(("token" = [])))]
#[tracing::instrument(name = "create_upload", skip_all, fields(user_id))]
pub async fn create(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let session = deps.require(&req).await?;
    let mut document: serde_json::Value = json_body(&req)?;
    let inner = match document.get_mut("upload").map(serde_json::Value::take) {
        Some(value) if value.is_object() => value,
        _ => document,
    };
    let dto: UploadDto = serde_json::from_value(inner).map_err(|_| {
        FieldErrors::single(
            "upload",
            "must be an object of filename, contentType, size and purpose",
        )
    })?;
    let new = NewUpload::parse(dto.fields())?;
    let files = deps.files()?;
    let id = UploadId::generate();
    // Signing is local (no request to S3), so sign first: nothing is recorded if it fails.
    let request = files.presign_upload(&id, new.media_type, new.size).await?;
    let upload = deps.store.create_upload(&session.user_id, &id, &new).await?;
    Ok(upload_response(
        StatusCode::CREATED,
        &upload,
        &base_url(&req),
        Some(&request),
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct UploadsResponse<'a> {
    uploads: Vec<UploadBody<'a>>,
    next_cursor: Option<String>,
}

/// GET /api/uploads?limit=&cursor= — the caller's uploads, newest first.
#[utoipa::path(get, path = "/api/uploads", tag = "uploads", operation_id = "listUploads",
    summary = "The caller's uploads, newest first",
    params(crate::schema::CursorPage),
    responses(
        (status = 200, description = "A page", body = UploadsResponse),
    ),
    security(("token" = [])))]
#[tracing::instrument(name = "list_uploads", skip_all, fields(user_id))]
pub async fn list(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let session = deps.require(&req).await?;
    let limit = parse_limit(query_param(&req, "limit").as_deref())?;
    let cursor = cursor_param(&req)?;
    let (uploads, next) = deps
        .store
        .uploads_of(&session.user_id, limit, cursor.as_ref())
        .await?;
    let base = base_url(&req);
    Ok(json(
        StatusCode::OK,
        &UploadsResponse {
            uploads: uploads.iter().map(|u| UploadBody::new(u, &base)).collect(),
            next_cursor: next.map(|c| c.encode()),
        },
    ))
}

/// GET /api/uploads/{id} — the record (owner, or anyone once it is public).
#[utoipa::path(get, path = "/api/uploads/{id}", tag = "uploads", operation_id = "getUpload",
    summary = "One upload (its owner's, or a public one)",
    params(("id" = String, Path, description = "The upload id (UUID)")),
    responses((status = 200, description = "The upload", body = UploadResponse)),
    security((), ("token" = [])))]
#[tracing::instrument(name = "get_upload", skip_all)]
pub async fn get(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let viewer = deps.optional(&req).await?;
    let id = upload_id_param(&req)?;
    let upload = visible(deps, &id, viewer.as_ref()).await?;
    Ok(upload_response(StatusCode::OK, &upload, &base_url(&req), None))
}

/// GET /api/uploads/{id}/content[?variant=thumbnail] — 302 to a presigned download that
/// carries the verified type and a `Content-Disposition` (attachments are always downloaded).
#[utoipa::path(get, path = "/api/uploads/{id}/content", tag = "uploads", operation_id = "uploadContent",
    summary = "Download: a redirect to a short-lived link to the file",
    params(
        ("id" = String, Path, description = "The upload id (UUID)"),
        ("variant" = Option<crate::schema::VariantName>, Query, description = "Default original"),
    ),
    responses((status = 302, description = "The file is at `Location`",
        headers(("Location" = String, description = "A presigned URL, valid for a few minutes")))),
    security((), ("token" = [])))]
#[tracing::instrument(name = "upload_content", skip_all)]
pub async fn content(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let viewer = deps.optional(&req).await?;
    let id = upload_id_param(&req)?;
    let variant = Variant::parse(query_param(&req, "variant").as_deref())?;
    let upload = visible(deps, &id, viewer.as_ref()).await?;
    if upload.status != UploadStatus::Ready || (variant == Variant::Thumbnail && !upload.has_thumbnail) {
        return Err(ApiError::NotFound("upload"));
    }
    let (media, disposition) = match variant {
        Variant::Original => (upload.media_type, upload.content_disposition()),
        Variant::Thumbnail => (upload.media_type.thumbnail_type(), upload.content_disposition()),
    };
    let url = deps
        .files()?
        .presign_download(&Files::stored_key(&id, variant), media, &disposition)
        .await?;
    let mut response = empty(StatusCode::FOUND);
    let headers = response.headers_mut();
    headers.insert(
        header::LOCATION,
        HeaderValue::from_str(&url).map_err(|e| ApiError::Internal(e.into()))?,
    );
    // The link is the permission and expires in minutes: caches keep it for less.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=60"),
    );
    Ok(response)
}

/// POST /api/uploads/{id}/complete — finalise now instead of waiting for the bucket's event:
/// 200 with the ready record; 422 with the reason when the file was refused; 409 while S3 has
/// no file yet. Idempotent: a finished upload answers as it was finished.
#[utoipa::path(post, path = "/api/uploads/{id}/complete", tag = "uploads", operation_id = "completeUpload",
    summary = "Check the sent file and make it ready (or rejected)",
    params(("id" = String, Path, description = "The upload id (UUID)")),
    responses(
        (status = 200, description = "The upload, ready", body = UploadResponse),
        (status = 409, description = "The file has not been sent yet", body = crate::schema::ErrorBody),
        (status = 422, description = "The file was rejected; the message says why", body = crate::schema::ErrorBody),
    ),
    security(("token" = [])))]
#[tracing::instrument(name = "complete_upload", skip_all, fields(user_id))]
pub async fn complete(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let session = deps.require(&req).await?;
    let id = upload_id_param(&req)?;
    let upload = owned(deps, &id, &session).await?;
    match finalise_read(deps, &id, Some(upload)).await? {
        Finalised::Settled(upload) if upload.status == UploadStatus::Rejected => Err(
            ApiError::UnprocessableEntity(FieldErrors::single("file", upload.reason.unwrap_or_default())),
        ),
        Finalised::Settled(upload) => Ok(upload_response(StatusCode::OK, &upload, &base_url(&req), None)),
        Finalised::Waiting(_) => Err(ApiError::Conflict(FieldErrors::single(
            "file",
            "has not been uploaded yet: send it with the upload request first",
        ))),
        Finalised::Unknown => Err(ApiError::NotFound("upload")),
    }
}

/// DELETE /api/uploads/{id} — the owner removes the record and every stored file (204).
/// Refused with 409 while an avatar or a product shows it. The record is marked first and
/// deleted only once the files are gone: if S3 fails in between (503), the upload is hidden
/// and sending the delete again finishes it.
#[utoipa::path(delete, path = "/api/uploads/{id}", tag = "uploads", operation_id = "deleteUpload",
    summary = "Delete one's own upload",
    params(("id" = String, Path, description = "The upload id (UUID)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "In use (an avatar, an article's image, a product's photo)", body = crate::schema::ErrorBody),
    ),
    security(("token" = [])))]
#[tracing::instrument(name = "delete_upload", skip_all, fields(user_id))]
pub async fn delete(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let session = deps.require(&req).await?;
    let id = upload_id_param(&req)?;
    let upload = deps.store.begin_upload_delete(&session.user_id, &id).await?;
    deps.files()?.remove(&all_keys(&id)).await?;
    deps.store.delete_upload(&session.user_id, &upload).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
