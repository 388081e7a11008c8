//! The embedded S3 engine as the deployed bucket behaves: `s3s-fs` (S3's protocol on a
//! folder, signatures checked), plus what the template configures on the bucket that `s3s-fs`
//! does not do itself:
//!
//! - **Object Created events.** Every stored object is reported, as S3 reports it to
//!   EventBridge; the local server hands those under `uploads/` to the same finaliser the
//!   `upload-finalise` function runs.
//! - **Response overrides.** A presigned `GET` may name the `Content-Type` and
//!   `Content-Disposition` of its response (`response-content-*`), as S3 honours them.
//! - **CORS.** Browser preflights and responses follow the bucket's `CorsRules`, so a front end
//!   can `PUT` a presigned upload from another origin, exactly as against the real bucket.
//! - **Lifecycle.** [`expire`] removes objects older than a rule's age under its prefix.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use http::{HeaderValue, Method, header};
use s3s::dto::{
    CreateBucketInput, CreateBucketOutput, DeleteObjectInput, DeleteObjectOutput, GetObjectInput,
    GetObjectOutput, HeadBucketInput, HeadBucketOutput, HeadObjectInput, HeadObjectOutput, ListBucketsInput,
    ListBucketsOutput, ListObjectsV2Input, ListObjectsV2Output, PutObjectInput, PutObjectOutput,
};
use s3s::{S3, S3Request, S3Response, S3Result};
use tokio::sync::mpsc;

use crate::iam::{Access, AccessLog, Policy, Resources};
use crate::template::{Cors, ExpiryRule};

/// An object S3 stored: what its `Object Created` event carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectCreated {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// Its length.
    pub size: u64,
}

/// `s3s-fs`, reporting stored objects and honouring response overrides.
pub struct Engine {
    inner: s3s_fs::FileSystem,
    created: mpsc::UnboundedSender<ObjectCreated>,
}

impl Engine {
    /// Wraps `inner`; every stored object is sent to `created`.
    pub fn new(inner: s3s_fs::FileSystem, created: mpsc::UnboundedSender<ObjectCreated>) -> Self {
        Self { inner, created }
    }
}

#[async_trait::async_trait]
impl S3 for Engine {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.inner.create_bucket(req).await
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.inner.head_bucket(req).await
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.inner.list_buckets(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.inner.list_objects_v2(req).await
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        self.inner.head_object(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.inner.delete_object(req).await
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let content_type = req.input.response_content_type.clone();
        let disposition = req.input.response_content_disposition.clone();
        let mut response = self.inner.get_object(req).await?;
        if let Some(content_type) = content_type {
            response.output.content_type = Some(content_type);
        }
        if let Some(disposition) = disposition {
            response.output.content_disposition = Some(disposition);
        }
        Ok(response)
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let bucket = req.input.bucket.clone();
        let key = req.input.key.clone();
        let size = req
            .input
            .content_length
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or_default();
        let response = self.inner.put_object(req).await?;
        // Like S3's notifications: after the object is stored, never for a refused request.
        let _ = self.created.send(ObjectCreated { bucket, key, size });
        Ok(response)
    }
}

/// The bucket's CORS rule, applied in front of the engine.
#[derive(Debug, Clone)]
pub struct BucketCors(pub Cors);

/// What to answer a request carrying `Origin`, per the rule: `None` when the rule does not
/// allow it (S3 then answers a preflight with 403 and adds no CORS headers otherwise).
impl BucketCors {
    fn allows_origin(&self, origin: &str) -> Option<String> {
        if self.0.allow_origins.iter().any(|o| o == "*") {
            Some("*".into())
        } else {
            self.0
                .allow_origins
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin))
                .then(|| origin.to_owned())
        }
    }

    fn allows_method(&self, method: &str) -> bool {
        self.0
            .allow_methods
            .iter()
            .any(|m| m.eq_ignore_ascii_case(method))
    }

    fn allows_headers(&self, requested: &str) -> bool {
        self.0.allow_headers.iter().any(|h| h == "*")
            || requested
                .split(',')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .all(|h| self.0.allow_headers.contains(&h))
    }

    /// A preflight's answer, or `None` when `request` is not a preflight.
    pub fn preflight<B>(&self, request: &http::Request<B>) -> Option<http::Response<String>> {
        if request.method() != Method::OPTIONS {
            return None;
        }
        let origin = request.headers().get(header::ORIGIN)?.to_str().ok()?;
        let method = request
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)?
            .to_str()
            .ok()?;
        let requested = request
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let allowed = self
            .allows_origin(origin)
            .filter(|_| self.allows_method(method) && self.allows_headers(requested));
        let mut response = http::Response::new(String::new());
        let Some(allow_origin) = allowed else {
            *response.status_mut() = http::StatusCode::FORBIDDEN;
            *response.body_mut() =
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessForbidden</Code>\
                <Message>CORSResponse: This CORS request is not allowed.</Message></Error>"
                    .into();
            return Some(response);
        };
        let headers = response.headers_mut();
        let set = |headers: &mut http::HeaderMap, name, value: &str| {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name, value);
            }
        };
        set(headers, header::ACCESS_CONTROL_ALLOW_ORIGIN, &allow_origin);
        set(
            headers,
            header::ACCESS_CONTROL_ALLOW_METHODS,
            &self.0.allow_methods.join(", "),
        );
        if !requested.is_empty() {
            set(headers, header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
        }
        if !self.0.expose_headers.is_empty() {
            set(
                headers,
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                &self.0.expose_headers.join(", "),
            );
        }
        if let Some(max_age) = self.0.max_age {
            set(headers, header::ACCESS_CONTROL_MAX_AGE, &max_age.to_string());
        }
        headers.insert(
            header::VARY,
            HeaderValue::from_static("Origin, Access-Control-Request-Headers, Access-Control-Request-Method"),
        );
        Some(response)
    }

    /// Adds the CORS headers an actual (non-preflight) request from `origin` gets.
    pub fn decorate(&self, origin: Option<&str>, method: &Method, headers: &mut http::HeaderMap) {
        let Some(origin) = origin else { return };
        let Some(allow_origin) = self
            .allows_origin(origin)
            .filter(|_| self.allows_method(method.as_str()))
        else {
            return;
        };
        if let Ok(value) = HeaderValue::from_str(&allow_origin) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        }
        if !self.0.expose_headers.is_empty()
            && let Ok(value) = HeaderValue::from_str(&self.0.expose_headers.join(", "))
        {
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, value);
        }
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
}

/// Applies `rules` to `bucket` as of `now`, as S3's lifecycle does (daily, in AWS), through
/// the S3 API. Returns the keys removed.
pub async fn expire(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    rules: &[ExpiryRule],
    now: SystemTime,
) -> anyhow::Result<Vec<String>> {
    let mut removed = Vec::new();
    for rule in rules {
        let mut pages = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(&rule.prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for object in page?.contents.unwrap_or_default() {
                let (Some(key), Some(modified)) = (object.key, object.last_modified) else {
                    continue;
                };
                let modified = SystemTime::try_from(modified).unwrap_or(now);
                if now.duration_since(modified).unwrap_or_default() > rule.max_age {
                    client.delete_object().bucket(bucket).key(&key).send().await?;
                    removed.push(key);
                }
            }
        }
    }
    Ok(removed)
}

/// IAM for requests the engine receives, by who signed them: the operator's key
/// ([`crate::credentials::LOCAL_ACCESS_KEY`]) may do anything; a function's key (its logical id)
/// only what its template policy allows. This is how AWS judges a presigned URL — by the
/// permissions of the role that signed it — and a presigned request never passes through the
/// function's SDK client, so [`crate::iam::IamGuard`] cannot see it: the engine does.
#[derive(Clone, Default)]
pub struct Signers(Arc<Mutex<SignerTable>>);

impl std::fmt::Debug for Signers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let table = self.0.lock().expect("signers lock");
        f.debug_list().entries(table.policies.keys()).finish()
    }
}

#[derive(Default)]
struct SignerTable {
    policies: BTreeMap<String, Policy>,
    log: AccessLog,
    resources: Resources,
}

impl Signers {
    /// Lets `function` sign requests with its logical id as access key, judged by `policy`;
    /// accesses are recorded in `log`, resources named through `resources`.
    pub fn register(&self, function: &str, policy: Policy, log: &AccessLog, resources: &Resources) {
        let mut table = self.0.lock().expect("signers lock");
        table.policies.insert(function.to_owned(), policy);
        table.log = log.clone();
        table.resources = resources.clone();
    }

    fn knows(&self, access_key: &str) -> bool {
        access_key == crate::credentials::LOCAL_ACCESS_KEY
            || self
                .0
                .lock()
                .expect("signers lock")
                .policies
                .contains_key(access_key)
    }
}

#[async_trait::async_trait]
impl s3s::auth::S3Auth for Signers {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<s3s::auth::SecretKey> {
        if self.knows(access_key) {
            Ok(crate::credentials::LOCAL_SECRET_KEY.into())
        } else {
            Err(s3s::s3_error!(InvalidAccessKeyId))
        }
    }
}

#[async_trait::async_trait]
impl s3s::access::S3Access for Signers {
    async fn check(&self, cx: &mut s3s::access::S3AccessContext<'_>) -> S3Result<()> {
        let Some(credentials) = cx.credentials() else {
            // The bucket blocks public access: an unsigned request is refused.
            return Err(s3s::s3_error!(AccessDenied, "Anonymous access is denied"));
        };
        if credentials.access_key == crate::credentials::LOCAL_ACCESS_KEY {
            return Ok(());
        }
        let table = self.0.lock().expect("signers lock");
        let Some(policy) = table.policies.get(&credentials.access_key) else {
            return Err(s3s::s3_error!(AccessDenied));
        };
        let action = match cx.s3_op().name() {
            "GetObject" | "HeadObject" => "s3:GetObject".to_owned(),
            "ListObjectsV2" | "ListObjects" | "HeadBucket" => "s3:ListBucket".to_owned(),
            other => format!("s3:{other}"),
        };
        let resource = match cx.s3_path() {
            s3s::path::S3Path::Object { bucket, key } => {
                format!("{}/{key}", table.resources.logical(bucket))
            }
            s3s::path::S3Path::Bucket { bucket } => table.resources.logical(bucket),
            s3s::path::S3Path::Root => "*".to_owned(),
        };
        let access = Access { action, resource };
        let allowed = policy.allows(&access);
        table.log.record(&credentials.access_key, access, allowed);
        if allowed {
            Ok(())
        } else {
            Err(s3s::s3_error!(AccessDenied))
        }
    }
}
