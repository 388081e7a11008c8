//! Reads `template.yaml`: the routes (every `HttpApi` event), the CORS configuration and the
//! table schema. The local server serves exactly what the template declares, so the two cannot
//! drift.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, bail};
use serde_yaml::Value;

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

impl Template {
    /// Reads and interprets the template at `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("interpreting {}", path.display()))
    }

    /// Interprets template text.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let doc: Value = serde_yaml::from_str(text).context("not YAML")?;
        let parameters = doc.get("Parameters").cloned().unwrap_or(Value::Null);
        let resolve = |value: &Value| resolve_ref(value, &parameters);
        let resources = doc
            .get("Resources")
            .and_then(Value::as_mapping)
            .context("no Resources")?;

        let mut routes = Vec::new();
        let mut functions = Vec::new();
        let mut cors = None;
        let mut table = None;
        for (id, resource) in resources {
            let id = id.as_str().context("resource id is not a string")?.to_owned();
            let kind = resource.get("Type").and_then(Value::as_str).unwrap_or_default();
            let properties = resource.get("Properties").cloned().unwrap_or(Value::Null);
            match kind {
                "AWS::Serverless::Function" => {
                    let metadata = resource.get("Metadata");
                    let binary = metadata
                        .and_then(|m| m.get("BuildProperties"))
                        .and_then(|b| b.get("Binary"))
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    let build_method = metadata
                        .and_then(|m| m.get("BuildMethod"))
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    let events = properties
                        .get("Events")
                        .and_then(Value::as_mapping)
                        .cloned()
                        .unwrap_or_default();
                    for (_, event) in events {
                        if event.get("Type").and_then(Value::as_str) != Some("HttpApi") {
                            continue;
                        }
                        let props = event
                            .get("Properties")
                            .context("HttpApi event without Properties")?;
                        let method = props
                            .get("Method")
                            .and_then(Value::as_str)
                            .context("HttpApi event without Method")?;
                        let path = props
                            .get("Path")
                            .and_then(Value::as_str)
                            .context("HttpApi event without Path")?;
                        let binary = binary
                            .clone()
                            .with_context(|| format!("{id} has routes but no Binary"))?;
                        routes.push(Route {
                            method: method.to_ascii_uppercase(),
                            path: path.to_owned(),
                            function: id.clone(),
                            binary,
                        });
                    }
                    functions.push(Function {
                        logical_id: id,
                        binary,
                        build_method,
                    });
                }
                "AWS::Serverless::HttpApi" => {
                    if let Some(c) = properties.get("CorsConfiguration") {
                        let list = |key: &str| -> Vec<String> {
                            c.get(key)
                                .and_then(Value::as_sequence)
                                .map(|items| items.iter().filter_map(&resolve).collect())
                                .unwrap_or_default()
                        };
                        cors = Some(Cors {
                            allow_origins: list("AllowOrigins"),
                            allow_headers: list("AllowHeaders")
                                .into_iter()
                                .map(|h| h.to_ascii_lowercase())
                                .collect(),
                            allow_methods: list("AllowMethods"),
                            expose_headers: list("ExposeHeaders"),
                            max_age: c.get("MaxAge").and_then(Value::as_u64),
                        });
                    }
                }
                "AWS::DynamoDB::Table" => {
                    if table.is_some() {
                        bail!("the template declares more than one table");
                    }
                    table = Some(parse_table(&properties)?);
                }
                _ => {}
            }
        }
        Ok(Self {
            routes,
            functions,
            cors,
            table: table.context("the template declares no table")?,
        })
    }
}

/// A scalar, or `!Ref Parameter` resolved to the parameter's default.
fn resolve_ref(value: &Value, parameters: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Tagged(tagged) if tagged.tag == "!Ref" || tagged.tag == "Ref" => {
            let name = tagged.value.as_str()?;
            parameters
                .get(name)?
                .get("Default")
                .and_then(|d| resolve_ref(d, parameters))
        }
        _ => None,
    }
}

/// `[{<name_key>: a, <value_key>: b}, …]` as `[(a, b), …]`: key schemas and attribute definitions.
fn pairs(
    value: Option<&Value>,
    list: &str,
    name_key: &str,
    value_key: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    value
        .and_then(Value::as_sequence)
        .with_context(|| format!("{list} missing"))?
        .iter()
        .map(|entry| {
            let field = |key: &str| entry.get(key).and_then(Value::as_str).map(str::to_owned);
            Ok((
                field(name_key).with_context(|| format!("{list}: {name_key}"))?,
                field(value_key).with_context(|| format!("{list}: {value_key}"))?,
            ))
        })
        .collect()
}

fn key_schema(value: Option<&Value>) -> anyhow::Result<Vec<(String, String)>> {
    pairs(value, "KeySchema", "AttributeName", "KeyType")
}

fn parse_table(properties: &Value) -> anyhow::Result<TableSpec> {
    let attributes = pairs(
        properties.get("AttributeDefinitions"),
        "AttributeDefinitions",
        "AttributeName",
        "AttributeType",
    )?
    .into_iter()
    .collect();
    let global_indexes = properties
        .get("GlobalSecondaryIndexes")
        .and_then(Value::as_sequence)
        .map(|indexes| {
            indexes
                .iter()
                .map(|index| {
                    let projection = index.get("Projection");
                    Ok(IndexSpec {
                        name: index
                            .get("IndexName")
                            .and_then(Value::as_str)
                            .context("IndexName")?
                            .to_owned(),
                        key_schema: key_schema(index.get("KeySchema"))?,
                        projection: projection
                            .and_then(|p| p.get("ProjectionType"))
                            .and_then(Value::as_str)
                            .unwrap_or("ALL")
                            .to_owned(),
                        non_key_attributes: projection
                            .and_then(|p| p.get("NonKeyAttributes"))
                            .and_then(Value::as_sequence)
                            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                            .unwrap_or_default(),
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()
        })
        .transpose()?
        .unwrap_or_default();
    let stream_view_type = properties
        .get("StreamSpecification")
        .and_then(|s| s.get("StreamViewType"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(TableSpec {
        attributes,
        key_schema: key_schema(properties.get("KeySchema"))?,
        global_indexes,
        stream_view_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
Parameters:
  Origin: { Type: String, Default: "https://app.example" }
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
      Events:
        A: { Type: HttpApi, Properties: { ApiId: !Ref Api, Method: get, Path: "/things/{id}" } }
        B: { Type: SQS, Properties: { Queue: x } }
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
    fn a_routed_function_without_a_binary_is_an_error() {
        let broken = SAMPLE.replace("Metadata: { BuildProperties: { Binary: get-thing } }", "");
        assert!(Template::parse(&broken).is_err());
    }
}
