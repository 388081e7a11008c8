//! The template as written: the YAML shapes Keel reads, and how each resource becomes the typed
//! spec of the parent module. Every shape that does not fit is an error naming the resource,
//! never silently dropped.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};

use super::{
    ASYNC_RETRIES_DEFAULT, BucketSpec, Cors, Expr, Function, IndexSpec, Route, StreamSource, TableSpec,
};
use crate::iam::{Policy, Statement};

/// A list where the template allows one value or several.
#[derive(Debug, Clone, Default)]
struct OneOrMany<T>(Vec<T>);

impl<'de, T: TryFrom<Value, Error = anyhow::Error>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let items = match Value::deserialize(deserializer)? {
            Value::Sequence(items) => items,
            single => vec![single],
        };
        items
            .into_iter()
            .map(T::try_from)
            .collect::<anyhow::Result<_>>()
            .map(OneOrMany)
            .map_err(serde::de::Error::custom)
    }
}

/// The template as written (the parts Keel reads).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Document {
    #[serde(default)]
    parameters: BTreeMap<String, ParameterDoc>,
    #[serde(default)]
    globals: GlobalsDoc,
    resources: Mapping,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ParameterDoc {
    default: Option<Expr>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct GlobalsDoc {
    #[serde(default)]
    function: Option<Value>,
}

/// One resource: its type, and what the reader needs of the rest.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ResourceDoc {
    #[serde(rename = "Type")]
    pub(super) kind: String,
    #[serde(default)]
    metadata: Option<MetadataDoc>,
    #[serde(default)]
    pub(super) properties: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MetadataDoc {
    build_method: Option<String>,
    build_properties: Option<BuildPropertiesDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BuildPropertiesDoc {
    binary: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct FunctionDoc {
    #[serde(default)]
    events: Mapping,
    #[serde(default)]
    policies: Vec<Mapping>,
    #[serde(default)]
    environment: Option<EnvironmentDoc>,
    #[serde(default)]
    event_invoke_config: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EnvironmentDoc {
    #[serde(default)]
    variables: BTreeMap<String, Expr>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EventDoc {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(default)]
    properties: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StreamEventDoc {
    #[serde(default)]
    batch_size: Option<usize>,
    #[serde(default)]
    maximum_retry_attempts: Option<i64>,
    #[serde(default)]
    bisect_batch_on_function_error: bool,
    starting_position: String,
    #[serde(default)]
    filter_criteria: Option<FilterCriteriaDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FilterCriteriaDoc {
    #[serde(default)]
    filters: Vec<FilterDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FilterDoc {
    pattern: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HttpApiEventDoc {
    method: String,
    path: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StatementDoc {
    effect: String,
    action: OneOrManyText,
    resource: OneOrMany<Expr>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrManyText {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct HttpApiDoc {
    cors_configuration: Option<CorsDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
/// An HTTP API's `CorsConfiguration`, or one of a bucket's `CorsRules` (same meaning, other
/// names).
struct CorsDoc {
    #[serde(default, alias = "AllowedOrigins")]
    allow_origins: Vec<Expr>,
    #[serde(default, alias = "AllowedHeaders")]
    allow_headers: Vec<Expr>,
    #[serde(default, alias = "AllowedMethods")]
    allow_methods: Vec<Expr>,
    #[serde(default, alias = "ExposedHeaders")]
    expose_headers: Vec<Expr>,
    max_age: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct BucketDoc {
    cors_configuration: Option<BucketCorsDoc>,
    lifecycle_configuration: Option<LifecycleDoc>,
    notification_configuration: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BucketCorsDoc {
    cors_rules: Vec<CorsDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LifecycleDoc {
    rules: Vec<LifecycleRuleDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LifecycleRuleDoc {
    status: String,
    prefix: Option<String>,
    expiration_in_days: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TableDoc {
    attribute_definitions: Vec<AttributeDoc>,
    key_schema: Vec<KeyDoc>,
    #[serde(default)]
    global_secondary_indexes: Vec<IndexDoc>,
    stream_specification: Option<StreamDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttributeDoc {
    attribute_name: String,
    attribute_type: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyDoc {
    attribute_name: String,
    key_type: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IndexDoc {
    index_name: String,
    key_schema: Vec<KeyDoc>,
    projection: Option<ProjectionDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProjectionDoc {
    projection_type: Option<String>,
    #[serde(default)]
    non_key_attributes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StreamDoc {
    stream_view_type: String,
}

fn keys(schema: Vec<KeyDoc>) -> Vec<(String, String)> {
    schema
        .into_iter()
        .map(|k| (k.attribute_name, k.key_type))
        .collect()
}

/// Reads `properties` as `T`; a resource with no properties reads as `T::default()`.
fn properties<T: serde::de::DeserializeOwned + Default>(id: &str, properties: Value) -> anyhow::Result<T> {
    if properties.is_null() {
        return Ok(T::default());
    }
    serde_yaml_ng::from_value(properties).with_context(|| format!("{id}.Properties"))
}

impl Document {
    /// What every resource is read with: the parameters' defaults and the global function
    /// settings.
    pub(super) fn reader(&self) -> anyhow::Result<Reader<'_>> {
        let globals: FunctionDoc = match &self.globals.function {
            Some(value) => serde_yaml_ng::from_value(value.clone()).context("Globals.Function")?,
            None => FunctionDoc::default(),
        };
        Ok(Reader {
            parameters: &self.parameters,
            global_env: globals.environment.map(|e| e.variables).unwrap_or_default(),
        })
    }

    /// The resources, in template order, by logical id.
    pub(super) fn resources(&self) -> anyhow::Result<Vec<(String, ResourceDoc)>> {
        self.resources
            .iter()
            .map(|(id, resource)| {
                let id = id.as_str().context("resource id is not a string")?.to_owned();
                let resource: ResourceDoc =
                    serde_yaml_ng::from_value(resource.clone()).with_context(|| format!("resource {id}"))?;
                Ok((id, resource))
            })
            .collect()
    }
}

/// Reads resources with the template's parameters and globals in hand.
pub(super) struct Reader<'a> {
    parameters: &'a BTreeMap<String, ParameterDoc>,
    global_env: BTreeMap<String, Expr>,
}

impl Reader<'_> {
    /// A literal, or a `!Ref` to a parameter with a literal default; anything else has no value
    /// before deployment.
    fn resolve(&self, expr: &Expr) -> Option<String> {
        match expr {
            Expr::Text(text) => Some(text.clone()),
            Expr::Ref(name) => match self.parameters.get(name)?.default.as_ref()? {
                Expr::Text(text) => Some(text.clone()),
                _ => None,
            },
            _ => None,
        }
    }

    fn cors(&self, doc: CorsDoc) -> Cors {
        let list = |items: &[Expr]| -> Vec<String> { items.iter().filter_map(|e| self.resolve(e)).collect() };
        Cors {
            allow_origins: list(&doc.allow_origins),
            allow_headers: list(&doc.allow_headers)
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            allow_methods: list(&doc.allow_methods),
            expose_headers: list(&doc.expose_headers),
            max_age: doc.max_age,
        }
    }

    /// An `AWS::Serverless::Function`, and the routes its `HttpApi` events declare.
    pub(super) fn function(
        &self,
        id: String,
        resource: ResourceDoc,
    ) -> anyhow::Result<(Function, Vec<Route>)> {
        let doc: FunctionDoc = properties(&id, resource.properties)?;
        let (binary, build_method) = match resource.metadata {
            Some(m) => (m.build_properties.and_then(|b| b.binary), m.build_method),
            None => (None, None),
        };
        let mut routes = Vec::new();
        let mut event_sources = Vec::new();
        let mut stream_source = None;
        let mut schedule = None;
        // An asynchronous invocation's retries after a function error: Lambda's default is 2.
        let async_retries = doc.event_invoke_config["MaximumRetryAttempts"]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(ASYNC_RETRIES_DEFAULT);
        for (name, event) in doc.events.iter() {
            let event: EventDoc =
                serde_yaml_ng::from_value(event.clone()).with_context(|| format!("{id}: event {name:?}"))?;
            match event.kind.as_str() {
                "HttpApi" => {
                    let http: HttpApiEventDoc = serde_yaml_ng::from_value(event.properties)
                        .with_context(|| format!("{id}: HttpApi event needs Method and Path"))?;
                    routes.push(Route {
                        method: http.method.to_ascii_uppercase(),
                        path: http.path,
                        function: id.clone(),
                        binary: binary
                            .clone()
                            .with_context(|| format!("{id} has routes but no Binary"))?,
                    });
                    continue;
                }
                "DynamoDB" => stream_source = Some(stream_source_of(&id, name, event.properties)?),
                "ScheduleV2" | "Schedule" => {
                    // SAM names it `Schedule` on a Schedule event, `ScheduleExpression` on ScheduleV2.
                    let expression = event.properties["Schedule"]
                        .as_str()
                        .or_else(|| event.properties["ScheduleExpression"].as_str())
                        .with_context(|| {
                            format!("{id}: schedule event {name:?} needs a ScheduleExpression")
                        })?;
                    schedule =
                        Some(rate_of(expression).with_context(|| format!("{id}: schedule event {name:?}"))?);
                }
                _ => {}
            }
            event_sources.push(event.kind);
        }
        let mut environment = self.global_env.clone();
        environment.extend(doc.environment.map(|e| e.variables).unwrap_or_default());
        let function = Function {
            policy: policy_of(&id, doc.policies)?,
            logical_id: id,
            binary,
            build_method,
            environment,
            event_sources,
            stream_source,
            schedule,
            async_retries,
        };
        Ok((function, routes))
    }

    /// An `AWS::Serverless::HttpApi`'s CORS configuration.
    pub(super) fn http_api_cors(&self, id: &str, properties_doc: Value) -> anyhow::Result<Option<Cors>> {
        let api: HttpApiDoc = properties(id, properties_doc)?;
        Ok(api.cors_configuration.map(|c| self.cors(c)))
    }

    /// An `AWS::S3::Bucket`: its CORS rule, lifecycle expiry and EventBridge switch.
    pub(super) fn bucket(&self, id: &str, properties_doc: Value) -> anyhow::Result<BucketSpec> {
        let doc: BucketDoc = properties(id, properties_doc)?;
        let expiry = doc
            .lifecycle_configuration
            .map(|l| l.rules)
            .unwrap_or_default()
            .into_iter()
            .filter(|rule| rule.status == "Enabled")
            .filter_map(|rule| {
                Some(crate::template::ExpiryRule {
                    prefix: rule.prefix.unwrap_or_default(),
                    max_age: std::time::Duration::from_secs(rule.expiration_in_days? * 24 * 3600),
                })
            })
            .collect();
        let event_bridge = doc
            .notification_configuration
            .as_ref()
            .and_then(|n| n.get("EventBridgeConfiguration"))
            .and_then(|e| e.get("EventBridgeEnabled"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok(BucketSpec {
            cors: doc
                .cors_configuration
                .and_then(|c| c.cors_rules.into_iter().next())
                .map(|c| self.cors(c)),
            expiry,
            event_bridge,
        })
    }
}

/// A schedule's `rate(N minute|minutes|hour|hours|day|days)` as a period. Cron expressions are
/// not run locally, so they are refused rather than ignored.
fn rate_of(expression: &str) -> anyhow::Result<std::time::Duration> {
    let inner = expression
        .strip_prefix("rate(")
        .and_then(|e| e.strip_suffix(')'))
        .with_context(|| format!("{expression:?} is not rate(...), the only form keel-local runs"))?;
    let (count, unit) = inner
        .trim()
        .split_once(' ')
        .with_context(|| format!("{expression:?} has no unit"))?;
    let count: u64 = count
        .parse()
        .with_context(|| format!("{expression:?}: not a whole number"))?;
    let unit = match unit.trim() {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86_400,
        other => bail!("{expression:?}: unknown unit {other:?}"),
    };
    anyhow::ensure!(count > 0, "{expression:?}: a rate must be at least 1");
    Ok(std::time::Duration::from_secs(count * unit))
}

/// A `DynamoDB` event's stream settings, as Lambda's event source mapping applies them.
fn stream_source_of(id: &str, name: &Value, properties: Value) -> anyhow::Result<StreamSource> {
    let doc: StreamEventDoc =
        serde_yaml_ng::from_value(properties).with_context(|| format!("{id}: DynamoDB event {name:?}"))?;
    let filters = doc
        .filter_criteria
        .map(|c| c.filters)
        .unwrap_or_default()
        .into_iter()
        .map(|f| serde_json::from_str(&f.pattern))
        .collect::<Result<Vec<serde_json::Value>, _>>()
        .with_context(|| format!("{id}: a filter pattern is not JSON"))?;
    Ok(StreamSource {
        batch_size: doc.batch_size.unwrap_or(100),
        maximum_retry_attempts: doc.maximum_retry_attempts.and_then(|n| u32::try_from(n).ok()),
        bisect_on_error: doc.bisect_batch_on_function_error,
        starting_position: doc.starting_position,
        filters,
    })
}

/// A function's inline policy statements (the only kind Keel's template uses).
fn policy_of(id: &str, policies: Vec<Mapping>) -> anyhow::Result<Policy> {
    let mut statements = Vec::new();
    for policy in policies {
        for (kind, body) in policy {
            if kind.as_str() != Some("Statement") {
                bail!("{id}: only inline policy statements are supported, found {kind:?}");
            }
            let docs: Vec<StatementDoc> =
                serde_yaml_ng::from_value(body).with_context(|| format!("{id}: Statement"))?;
            for doc in docs {
                if doc.effect != "Allow" {
                    bail!("{id}: only Allow statements are supported");
                }
                statements.push(Statement {
                    actions: match doc.action {
                        OneOrManyText::One(a) => vec![a],
                        OneOrManyText::Many(a) => a,
                    },
                    resources: doc.resource.0.iter().map(Expr::logical_resource).collect(),
                });
            }
        }
    }
    Ok(Policy { statements })
}

/// An `AWS::DynamoDB::Table`: keys, indexes and stream.
pub(super) fn table(id: &str, properties_doc: Value) -> anyhow::Result<TableSpec> {
    let doc: TableDoc =
        serde_yaml_ng::from_value(properties_doc).with_context(|| format!("{id}.Properties"))?;
    Ok(TableSpec {
        attributes: doc
            .attribute_definitions
            .into_iter()
            .map(|a| (a.attribute_name, a.attribute_type))
            .collect(),
        key_schema: keys(doc.key_schema),
        global_indexes: doc
            .global_secondary_indexes
            .into_iter()
            .map(|index| {
                let (projection, non_key_attributes) = match index.projection {
                    Some(p) => (
                        p.projection_type.unwrap_or_else(|| "ALL".into()),
                        p.non_key_attributes,
                    ),
                    None => ("ALL".into(), Vec::new()),
                };
                IndexSpec {
                    name: index.index_name,
                    key_schema: keys(index.key_schema),
                    projection,
                    non_key_attributes,
                }
            })
            .collect(),
        stream_view_type: doc.stream_specification.map(|s| s.stream_view_type),
    })
}
