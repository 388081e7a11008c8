//! Reads `template.yaml` into typed structs: the routes (every `HttpApi` event), each function's
//! binary, environment and IAM policy, the CORS configuration and the table schema. The local
//! server serves exactly what the template declares, and enforces exactly the permissions it
//! grants, so the two cannot drift.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use serde_yaml_ng::Value;

use crate::iam::Policy;

/// How often Lambda retries a failed asynchronous invocation when the function's
/// `EventInvokeConfig` does not say.
pub const ASYNC_RETRIES_DEFAULT: u32 = 2;

mod doc;

use doc::Document;

/// The parts of the template the local server acts on.
#[derive(Debug, Clone)]
pub struct Template {
    /// Every `HttpApi` event of every function, in template order.
    pub routes: Vec<Route>,
    /// Every `AWS::Serverless::Function`, whether or not it has routes.
    pub functions: Vec<Function>,
    /// The HTTP API's `CorsConfiguration`, if any.
    pub cors: Option<Cors>,
    /// The one DynamoDB table.
    pub table: TableSpec,
    /// The uploads bucket's behaviour.
    pub bucket: BucketSpec,
}

/// What the template configures on the bucket that the local S3 engine must act out.
#[derive(Debug, Clone, Default)]
pub struct BucketSpec {
    /// Its CORS rule (the first of `CorsRules`).
    pub cors: Option<Cors>,
    /// Its lifecycle expiration rules.
    pub expiry: Vec<ExpiryRule>,
    /// Whether Object Created events go to EventBridge.
    pub event_bridge: bool,
}

/// A lifecycle rule: objects under `prefix` older than `max_age` are removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryRule {
    /// Key prefix.
    pub prefix: String,
    /// Age after which an object goes.
    pub max_age: std::time::Duration,
}

/// One route: `METHOD /path/{param}` to a function's binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Upper-case HTTP method, or `ANY`.
    pub method: String,
    /// Path template as API Gateway takes it, e.g. `/api/profiles/{username}`.
    pub path: String,
    /// The function's logical id.
    pub function: String,
    /// The binary the function runs (`Metadata.BuildProperties.Binary`).
    pub binary: String,
}

impl Route {
    /// API Gateway's route key, e.g. `GET /api/user`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A function as the template declares it.
#[derive(Debug, Clone)]
pub struct Function {
    /// Logical id.
    pub logical_id: String,
    /// `Metadata.BuildProperties.Binary`, if set.
    pub binary: Option<String>,
    /// `Metadata.BuildMethod`, if set.
    pub build_method: Option<String>,
    /// Environment variables, `Globals` first and the function's own over them.
    pub environment: BTreeMap<String, Expr>,
    /// What its execution role allows (its `Policies` statements).
    pub policy: Policy,
    /// Types of its non-HTTP event sources (e.g. `DynamoDB`, `S3`).
    pub event_sources: Vec<String>,
    /// Its `DynamoDB` (table stream) event source, if it has one.
    pub stream_source: Option<StreamSource>,
    /// Its `ScheduleV2` (or `Schedule`) event's period: keel-local invokes it this often, as
    /// EventBridge Scheduler does.
    pub schedule: Option<std::time::Duration>,
    /// Its `EventInvokeConfig.MaximumRetryAttempts` (Lambda's default, 2, when absent): how
    /// often an asynchronous invocation (an EventBridge rule's) that failed is tried again
    /// before it goes to the function's on-failure destination. The rule's own `RetryPolicy`
    /// is about delivering the event to Lambda, which cannot fail locally.
    pub async_retries: u32,
}

/// A `DynamoDB` event source: how Lambda's event source mapping reads the table's stream for a
/// function. The local server's stream poller follows the same settings.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSource {
    /// `BatchSize`: most records per invocation (default 100).
    pub batch_size: usize,
    /// `MaximumRetryAttempts`: retries of a failed batch before it goes to the on-failure
    /// destination (parked in the data folder's dead letters locally; `None`: until the
    /// records expire, the default).
    pub maximum_retry_attempts: Option<u32>,
    /// `BisectBatchOnFunctionError`: split a failed batch in two and retry the halves.
    pub bisect_on_error: bool,
    /// `StartingPosition`: where a shard with no saved position is read from (`TRIM_HORIZON`
    /// or `LATEST`).
    pub starting_position: String,
    /// `FilterCriteria.Filters[].Pattern`, parsed: a record is delivered when any matches
    /// (all records when there are none).
    pub filters: Vec<serde_json::Value>,
}

/// A scalar in the template: a literal or one of the intrinsic functions Keel uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A plain value.
    Text(String),
    /// `!Ref Name`: a parameter's value or a resource's name.
    Ref(String),
    /// `!GetAtt Resource.Attribute`.
    GetAtt(String),
    /// `!Sub "text with ${Resource.Attribute}"`.
    Sub(String),
}

impl TryFrom<Value> for Expr {
    type Error = anyhow::Error;

    fn try_from(value: Value) -> anyhow::Result<Self> {
        let text = |value: &Value| -> anyhow::Result<String> {
            match value {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                Value::Bool(b) => Ok(b.to_string()),
                Value::Sequence(parts) => Ok(parts
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(".")),
                other => bail!("expected a scalar, found {other:?}"),
            }
        };
        Ok(match &value {
            Value::Tagged(tagged) => {
                let inner = text(&tagged.value)?;
                match tagged.tag.to_string().trim_start_matches('!') {
                    "Ref" => Expr::Ref(inner),
                    "GetAtt" => Expr::GetAtt(inner),
                    "Sub" => Expr::Sub(inner),
                    other => bail!("unsupported intrinsic !{other}"),
                }
            }
            Value::Mapping(map) if map.len() == 1 => {
                let (name, inner) = map.iter().next().context("BUG: one entry")?;
                let inner = text(inner)?;
                match name.as_str() {
                    Some("Ref") => Expr::Ref(inner),
                    Some("Fn::GetAtt") => Expr::GetAtt(inner),
                    Some("Fn::Sub") => Expr::Sub(inner),
                    _ => bail!("unsupported intrinsic {name:?}"),
                }
            }
            other => Expr::Text(text(other)?),
        })
    }
}

impl<'de> Deserialize<'de> for Expr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Expr::try_from(Value::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

impl Expr {
    /// The logical resource an ARN expression names, as IAM policies are compared locally:
    /// `!GetAtt Table.Arn` is `Table`, `!Sub "${Table.Arn}/index/gsi1"` is `Table/index/gsi1`,
    /// `!Ref JwtSecret` is `JwtSecret`; a literal stays as written (e.g. `*`).
    pub fn logical_resource(&self) -> String {
        match self {
            Expr::Text(text) => text.clone(),
            Expr::Ref(name) => name.clone(),
            Expr::GetAtt(attribute) => attribute.trim_end_matches(".Arn").to_owned(),
            Expr::Sub(text) => {
                let mut out = String::new();
                let mut rest = text.as_str();
                while let Some(start) = rest.find("${") {
                    out.push_str(&rest[..start]);
                    let Some(end) = rest[start..].find('}') else { break };
                    let name = &rest[start + 2..start + end];
                    out.push_str(name.trim_end_matches(".Arn"));
                    rest = &rest[start + end + 1..];
                }
                out.push_str(rest);
                out
            }
        }
    }
}

/// API Gateway HTTP API CORS settings.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    /// Allowed origins; `*` for any.
    pub allow_origins: Vec<String>,
    /// Allowed request headers (lower-case).
    pub allow_headers: Vec<String>,
    /// Allowed methods.
    pub allow_methods: Vec<String>,
    /// Response headers browsers may read.
    pub expose_headers: Vec<String>,
    /// Seconds a browser may cache a preflight.
    pub max_age: Option<u64>,
}

/// The table's keys and indexes.
#[derive(Debug, Clone)]
pub struct TableSpec {
    /// Attribute name -> type (`S`, `N`, `B`).
    pub attributes: BTreeMap<String, String>,
    /// Primary key: (attribute, `HASH`|`RANGE`).
    pub key_schema: Vec<(String, String)>,
    /// Global secondary indexes.
    pub global_indexes: Vec<IndexSpec>,
    /// `StreamSpecification.StreamViewType`, when the table has a stream.
    pub stream_view_type: Option<String>,
}

/// A global secondary index.
#[derive(Debug, Clone)]
pub struct IndexSpec {
    /// Index name.
    pub name: String,
    /// (attribute, `HASH`|`RANGE`).
    pub key_schema: Vec<(String, String)>,
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub projection: String,
    /// Attributes projected by `INCLUDE`.
    pub non_key_attributes: Vec<String>,
}

impl Function {
    /// Its environment with every `!Ref` replaced by the physical name `refs` gives it (e.g.
    /// `("Table", "keel")`), as Lambda would set it. A reference `refs` does not name is an error.
    pub fn resolved_environment(&self, refs: &[(&str, &str)]) -> anyhow::Result<BTreeMap<String, String>> {
        self.environment
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    Expr::Text(text) => text.clone(),
                    Expr::Ref(r) => refs
                        .iter()
                        .find(|(logical, _)| logical == r)
                        .map(|(_, physical)| (*physical).to_owned())
                        .with_context(|| {
                            format!(
                                "{}: {name} refers to {r}, which has no value here",
                                self.logical_id
                            )
                        })?,
                    other => bail!(
                        "{}: {name} = {other:?} cannot be resolved locally",
                        self.logical_id
                    ),
                };
                Ok((name.clone(), value))
            })
            .collect()
    }
}

impl Template {
    /// Reads and interprets the template at `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("interpreting {}", path.display()))
    }

    /// Interprets template text.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let doc: Document = serde_yaml_ng::from_str(text).context("not a SAM template")?;
        let reader = doc.reader()?;
        let mut routes = Vec::new();
        let mut functions = Vec::new();
        let mut cors = None;
        let mut table = None;
        let mut bucket = BucketSpec::default();
        for (id, resource) in doc.resources()? {
            match resource.kind.as_str() {
                "AWS::Serverless::Function" => {
                    let (function, its_routes) = reader.function(id, resource)?;
                    routes.extend(its_routes);
                    functions.push(function);
                }
                "AWS::Serverless::HttpApi" => cors = reader.http_api_cors(&id, resource.properties)?,
                "AWS::S3::Bucket" => bucket = reader.bucket(&id, resource.properties)?,
                "AWS::DynamoDB::Table" => {
                    if table.is_some() {
                        bail!("the template declares more than one table");
                    }
                    table = Some(doc::table(&id, resource.properties)?);
                }
                _ => {}
            }
        }
        Ok(Self {
            routes,
            functions,
            cors,
            table: table.context("the template declares no table")?,
            bucket,
        })
    }

    /// The function with this logical id.
    pub fn function(&self, logical_id: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.logical_id == logical_id)
    }

    /// The function that runs this binary.
    pub fn function_for_binary(&self, binary: &str) -> Option<&Function> {
        self.functions
            .iter()
            .find(|f| f.binary.as_deref() == Some(binary))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
Parameters:
  Origin: { Type: String, Default: "https://app.example" }
Globals:
  Function:
    Environment:
      Variables:
        SHARED: !Ref Table
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      CorsConfiguration:
        AllowOrigins: [!Ref Origin]
        AllowHeaders: [Authorization]
        MaxAge: 60
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  Fn:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: get-thing } }
    Properties:
      Environment:
        Variables:
          OWN: literal
      Events:
        A: { Type: HttpApi, Properties: { ApiId: !Ref Api, Method: get, Path: "/things/{id}" } }
        B: { Type: SQS, Properties: { Queue: x } }
      Policies:
        - Statement:
            - Effect: Allow
              Action: dynamodb:GetItem
              Resource: !GetAtt Table.Arn
            - Effect: Allow
              Action: [dynamodb:Query]
              Resource:
                - !Sub "${Table.Arn}/index/gsi1"
                - { "Fn::GetAtt": [Table, Arn] }
"#;

    #[test]
    fn routes_cors_and_table_are_read_with_refs_resolved() {
        let template = Template::parse(SAMPLE).unwrap();
        assert_eq!(
            template.routes,
            [Route {
                method: "GET".into(),
                path: "/things/{id}".into(),
                function: "Fn".into(),
                binary: "get-thing".into()
            }]
        );
        let cors = template.cors.unwrap();
        assert_eq!(cors.allow_origins, ["https://app.example"]);
        assert_eq!(cors.allow_headers, ["authorization"]);
        assert_eq!(cors.max_age, Some(60));
        assert_eq!(template.table.key_schema, [("pk".to_owned(), "HASH".to_owned())]);
    }

    #[test]
    fn policies_name_logical_resources_and_environment_merges_globals() {
        let template = Template::parse(SAMPLE).unwrap();
        let function = template.function("Fn").unwrap();
        let statements = &function.policy.statements;
        assert_eq!(statements[0].actions, ["dynamodb:GetItem"]);
        assert_eq!(statements[0].resources, ["Table"]);
        assert_eq!(statements[1].resources, ["Table/index/gsi1", "Table"]);
        assert_eq!(function.environment["SHARED"], Expr::Ref("Table".into()));
        assert_eq!(function.environment["OWN"], Expr::Text("literal".into()));
        assert_eq!(function.event_sources, ["SQS"]);
    }

    #[test]
    fn an_environment_resolves_its_refs_and_refuses_an_unknown_one() {
        let template = Template::parse(SAMPLE).unwrap();
        let function = template.function("Fn").unwrap();
        let env = function.resolved_environment(&[("Table", "keel-test")]).unwrap();
        assert_eq!(env["SHARED"], "keel-test");
        assert_eq!(env["OWN"], "literal");
        assert!(function.resolved_environment(&[("Other", "x")]).is_err());
    }

    #[test]
    fn a_routed_function_without_a_binary_is_an_error() {
        let broken = SAMPLE.replace("Metadata: { BuildProperties: { Binary: get-thing } }", "");
        assert!(Template::parse(&broken).is_err());
    }

    #[test]
    fn a_cors_block_that_does_not_read_is_an_error_not_dropped() {
        let broken = SAMPLE.replace("MaxAge: 60", "MaxAge: a minute");
        let error = Template::parse(&broken).unwrap_err();
        assert!(format!("{error:#}").contains("Api.Properties"), "{error:#}");
    }
}
