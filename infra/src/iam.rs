//! IAM, locally: every AWS request a function sends is described as the IAM actions it needs
//! on the resources it names, recorded, and checked against the policy `template.yaml` gives
//! that function. A request the policy does not allow is answered with the same
//! `AccessDeniedException` AWS would send, before it reaches the engine, so a function that
//! lacks a grant fails locally exactly as it would when deployed.
//!
//! The check sits in the SDK's HTTP client ([`IamGuard`]), below every client a function
//! builds, so it sees cold-start calls (the Secrets Manager read) as well as handler calls.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use serde_json::Value;

/// One `Allow` statement: actions (may end in `*`) on logical resources (may contain `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// e.g. `dynamodb:GetItem`, `s3:*`.
    pub actions: Vec<String>,
    /// Logical resources: `Table`, `Table/index/gsi1`, `Bucket/uploads/*`, `JwtSecret`, `*`.
    pub resources: Vec<String>,
}

/// A function's permissions: the union of its statements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Its `Allow` statements.
    pub statements: Vec<Statement>,
}

/// One IAM action on one resource, as a request needs it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Access {
    /// e.g. `dynamodb:PutItem`.
    pub action: String,
    /// Logical resource, e.g. `Table/index/gsi1`; `?` when the request names a resource the
    /// template does not declare.
    pub resource: String,
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on {}", self.action, self.resource)
    }
}

/// `*` matches any run of characters; comparison of actions ignores case, as IAM's does.
fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let (pattern, text) = if ignore_case {
        (pattern.to_ascii_lowercase(), text.to_ascii_lowercase())
    } else {
        (pattern.to_owned(), text.to_owned())
    };
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(after) = rest.strip_prefix(part) else {
                return false;
            };
            rest = after;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(at) = rest.find(part) else { return false };
            rest = &rest[at + part.len()..];
        }
    }
    true
}

impl Policy {
    /// True when some statement allows `access`.
    pub fn allows(&self, access: &Access) -> bool {
        self.statements.iter().any(|s| {
            s.actions.iter().any(|a| glob(a, &access.action, true))
                && s.resources.iter().any(|r| glob(r, &access.resource, false))
        })
    }

    /// Every (action, resource) pair the policy names, for finding grants nothing uses.
    pub fn grants(&self) -> BTreeSet<Access> {
        self.statements
            .iter()
            .flat_map(|s| {
                s.actions.iter().flat_map(move |a| {
                    s.resources.iter().map(move |r| Access {
                        action: a.clone(),
                        resource: r.clone(),
                    })
                })
            })
            .collect()
    }

    /// True when `grant` (from [`Policy::grants`]) covers `access`.
    pub fn grant_covers(grant: &Access, access: &Access) -> bool {
        glob(&grant.action, &access.action, true) && glob(&grant.resource, &access.resource, false)
    }
}

/// Physical names of the template's resources, so requests can be described in logical terms.
#[derive(Debug, Clone, Default)]
pub struct Resources {
    /// Physical name (table name, bucket name, secret ARN) -> logical id.
    pub names: BTreeMap<String, String>,
}

impl Resources {
    /// The logical id of a physical name, `?` when the template declares no such resource.
    pub fn logical(&self, physical: &str) -> String {
        self.names.get(physical).cloned().unwrap_or_else(|| "?".into())
    }
}

/// What one HTTP request to AWS asks IAM for. DynamoDB and Secrets Manager speak JSON with
/// `X-Amz-Target`; S3 speaks REST (path-style requests, as Keel's clients send them).
pub fn describe(request: &HttpRequest, resources: &Resources) -> Vec<Access> {
    let target = request.headers().get("x-amz-target").map(str::to_owned);
    let body: Value = request
        .body()
        .bytes()
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or(Value::Null);
    let access = |action: String, resource: String| Access { action, resource };
    match target.as_deref().and_then(|t| t.split_once('.')) {
        Some((service, operation)) if service.starts_with("DynamoDB_") => {
            let table = |v: &Value| resources.logical(v.as_str().unwrap_or_default());
            match operation {
                "TransactWriteItems" => body["TransactItems"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|item| {
                        [
                            ("Put", "PutItem"),
                            ("Update", "UpdateItem"),
                            ("Delete", "DeleteItem"),
                            ("ConditionCheck", "ConditionCheckItem"),
                        ]
                        .into_iter()
                        .filter(|(kind, _)| item.get(kind).is_some())
                        .map(|(kind, action)| {
                            access(format!("dynamodb:{action}"), table(&item[kind]["TableName"]))
                        })
                        .collect::<Vec<_>>()
                    })
                    .collect(),
                "TransactGetItems" => body["TransactItems"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|item| access("dynamodb:GetItem".into(), table(&item["Get"]["TableName"])))
                    .collect(),
                "BatchGetItem" | "BatchWriteItem" => body["RequestItems"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(name, _)| access(format!("dynamodb:{operation}"), resources.logical(name)))
                    .collect(),
                _ => {
                    let mut resource = table(&body["TableName"]);
                    if let Some(index) = body["IndexName"].as_str() {
                        resource = format!("{resource}/index/{index}");
                    }
                    vec![access(format!("dynamodb:{operation}"), resource)]
                }
            }
        }
        Some((service, operation)) if service.starts_with("DynamoDBStreams_") => {
            vec![access(format!("dynamodb:{operation}"), "Table/stream/*".into())]
        }
        Some(("secretsmanager", operation)) => {
            let secret = resources.logical(body["SecretId"].as_str().unwrap_or_default());
            vec![access(format!("secretsmanager:{operation}"), secret)]
        }
        Some((_, operation)) => vec![access(format!("unknown:{operation}"), "?".into())],
        None => describe_s3(request, resources),
    }
}

fn describe_s3(request: &HttpRequest, resources: &Resources) -> Vec<Access> {
    let uri = request.uri().to_owned();
    let (path, query) = uri
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(&uri)
        .split_once('/')
        .map(|(_, path)| path.split_once('?').unwrap_or((path, "")))
        .unwrap_or(("", ""));
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    let bucket_logical = resources.logical(bucket);
    let object = format!("{bucket_logical}/{key}");
    let action = match (request.method(), key.is_empty()) {
        ("GET", true) if query.contains("list-type") || query.is_empty() => ("s3:ListBucket", bucket_logical),
        ("HEAD", true) => ("s3:ListBucket", bucket_logical),
        ("PUT", true) => ("s3:CreateBucket", bucket_logical),
        ("GET" | "HEAD", false) => ("s3:GetObject", object),
        ("PUT" | "POST", false) => ("s3:PutObject", object),
        ("DELETE", false) => ("s3:DeleteObject", object),
        ("POST", true) if query.contains("delete") => ("s3:DeleteObject", format!("{bucket_logical}/*")),
        (method, _) => {
            return vec![Access {
                action: format!("s3:{method}"),
                resource: object,
            }];
        }
    };
    vec![Access {
        action: action.0.into(),
        resource: action.1,
    }]
}

/// Every access seen, per function, with whether it was allowed.
#[derive(Debug, Clone, Default)]
pub struct AccessLog {
    entries: Arc<Mutex<Vec<(String, Access, bool)>>>,
}

impl AccessLog {
    /// Records that `function` asked for `access`, and whether it was allowed.
    pub fn record(&self, function: &str, access: Access, allowed: bool) {
        self.entries
            .lock()
            .expect("access log lock")
            .push((function.to_owned(), access, allowed));
    }

    /// Every access `function` made, allowed or not.
    pub fn accesses(&self, function: &str) -> BTreeSet<Access> {
        self.entries
            .lock()
            .expect("access log lock")
            .iter()
            .filter(|(f, _, _)| f == function)
            .map(|(_, a, _)| a.clone())
            .collect()
    }

    /// Every (function, access) that its policy refused.
    pub fn denied(&self) -> Vec<(String, Access)> {
        self.entries
            .lock()
            .expect("access log lock")
            .iter()
            .filter(|(_, _, allowed)| !allowed)
            .map(|(f, a, _)| (f.clone(), a.clone()))
            .collect()
    }

    /// How many requests were seen in all (each access counts once).
    pub fn len(&self) -> usize {
        self.entries.lock().expect("access log lock").len()
    }

    /// True when nothing was seen.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An SDK HTTP client that acts as IAM for one function: it describes, records and checks
/// every request, and forwards only the allowed ones to `inner`.
#[derive(Debug, Clone)]
pub struct IamGuard {
    inner: SharedHttpClient,
    function: Arc<str>,
    policy: Arc<Policy>,
    resources: Arc<Resources>,
    log: AccessLog,
}

impl IamGuard {
    /// A guard for `function`, allowing what `policy` allows.
    pub fn new(
        inner: SharedHttpClient,
        function: &str,
        policy: Policy,
        resources: Resources,
        log: AccessLog,
    ) -> Self {
        Self {
            inner,
            function: function.into(),
            policy: Arc::new(policy),
            resources: Arc::new(resources),
            log,
        }
    }
}

impl HttpClient for IamGuard {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(GuardedConnector {
            inner: self.inner.http_connector(settings, components),
            guard: self.clone(),
        })
    }
}

#[derive(Debug)]
struct GuardedConnector {
    inner: SharedHttpConnector,
    guard: IamGuard,
}

impl HttpConnector for GuardedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let guard = &self.guard;
        let mut refused = None;
        for access in describe(&request, &guard.resources) {
            let allowed = guard.policy.allows(&access);
            if !allowed && refused.is_none() {
                refused = Some(access.clone());
            }
            guard.log.record(&guard.function, access, allowed);
        }
        match refused {
            None => self.inner.call(request),
            Some(access) => {
                tracing::error!(
                    function = %guard.function,
                    %access,
                    "AccessDenied: template.yaml does not grant this to the function"
                );
                HttpConnectorFuture::ready(Ok(access_denied(&guard.function, &access)))
            }
        }
    }
}

/// The response the service sends when IAM refuses a request, in that service's protocol, so
/// the SDK reads it as AWS's own `AccessDenied`: S3 answers 403 with an XML error, DynamoDB and
/// Secrets Manager answer 400 with a JSON one.
fn access_denied(function: &str, access: &Access) -> HttpResponse {
    let message = format!("{function} is not authorized to perform {access}");
    if access.action.starts_with("s3:") {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>{message}</Message></Error>"
        );
        let mut response = HttpResponse::new(
            403u16.try_into().expect("BUG: 403 is a status"),
            SdkBody::from(body),
        );
        response.headers_mut().insert("content-type", "application/xml");
        return response;
    }
    let (kind, content_type) = if access.action.starts_with("secretsmanager:") {
        ("AccessDeniedException", "application/x-amz-json-1.1")
    } else {
        (
            "com.amazonaws.dynamodb.v20120810#AccessDeniedException",
            "application/x-amz-json-1.0",
        )
    };
    let body = serde_json::json!({ "__type": kind, "message": message });
    let mut response = HttpResponse::new(
        400u16.try_into().expect("BUG: 400 is a status"),
        SdkBody::from(body.to_string()),
    );
    response.headers_mut().insert("content-type", content_type);
    response
        .headers_mut()
        .insert("x-amzn-errortype", "AccessDeniedException");
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            statements: vec![
                Statement {
                    actions: vec!["dynamodb:GetItem".into(), "dynamodb:Query".into()],
                    resources: vec!["Table".into()],
                },
                Statement {
                    actions: vec!["s3:*".into()],
                    resources: vec!["Bucket/uploads/*".into()],
                },
            ],
        }
    }

    fn access(action: &str, resource: &str) -> Access {
        Access {
            action: action.into(),
            resource: resource.into(),
        }
    }

    #[test]
    fn a_policy_allows_exactly_its_actions_on_its_resources() {
        let policy = policy();
        assert!(policy.allows(&access("dynamodb:GetItem", "Table")));
        assert!(policy.allows(&access("DynamoDB:getitem", "Table")));
        assert!(!policy.allows(&access("dynamodb:PutItem", "Table")));
        assert!(!policy.allows(&access("dynamodb:Query", "Table/index/gsi1")));
        assert!(policy.allows(&access("s3:GetObject", "Bucket/uploads/a/b.png")));
        assert!(!policy.allows(&access("s3:GetObject", "Bucket/private/a.png")));
        assert!(!policy.allows(&access("secretsmanager:GetSecretValue", "JwtSecret")));
    }

    fn request(target: &str, body: Value) -> HttpRequest {
        let mut request = HttpRequest::new(SdkBody::from(body.to_string()));
        request.headers_mut().insert("x-amz-target", target.to_owned());
        request
    }

    #[test]
    fn a_transaction_needs_each_write_action_on_each_table() {
        let resources = Resources {
            names: [("keel".to_owned(), "Table".to_owned())].into(),
        };
        let body = serde_json::json!({"TransactItems": [
            {"Put": {"TableName": "keel"}},
            {"Update": {"TableName": "keel"}},
            {"ConditionCheck": {"TableName": "other"}},
        ]});
        let described = describe(&request("DynamoDB_20120810.TransactWriteItems", body), &resources);
        assert_eq!(
            described,
            [
                access("dynamodb:PutItem", "Table"),
                access("dynamodb:UpdateItem", "Table"),
                access("dynamodb:ConditionCheckItem", "?"),
            ]
        );
        let query = serde_json::json!({"TableName": "keel", "IndexName": "gsi1"});
        assert_eq!(
            describe(&request("DynamoDB_20120810.Query", query), &resources),
            [access("dynamodb:Query", "Table/index/gsi1")]
        );
    }

    #[tokio::test]
    async fn an_s3_request_outside_the_policy_fails_as_s3_access_denied() {
        use aws_sdk_s3::error::ProvideErrorMetadata as _;
        let log = AccessLog::default();
        let guard = IamGuard::new(
            keel::config::aws_https_client().unwrap(),
            "UploadFunction",
            policy(),
            Resources {
                names: [("keel-uploads".to_owned(), "Bucket".to_owned())].into(),
            },
            log.clone(),
        );
        let sdk = crate::engines::local_sdk_config()
            .into_builder()
            .endpoint_url("http://127.0.0.1:9")
            .http_client(guard)
            .build();
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        );
        // The policy grants s3:* only under uploads/: a key elsewhere is refused before any
        // network (nothing listens on port 9).
        let error = s3
            .put_object()
            .bucket("keel-uploads")
            .key("private/x.txt")
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(error.code(), Some("AccessDenied"), "{error:?}");
        assert_eq!(log.denied().len(), 1);
    }
}
