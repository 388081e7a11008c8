//! Lambda's event filtering, as the poller applies a stream function's `FilterCriteria`: the
//! record as filtering sees it (DynamoDB JSON), the patterns Keel's template uses, and the match.

use std::collections::HashMap;

use aws_sdk_dynamodbstreams::types::{AttributeValue, Record};
use serde_json::{Value, json};

/// A record as event filtering sees it: `eventName`, and `dynamodb` with `Keys`, `NewImage`
/// and `OldImage` in DynamoDB JSON.
pub(super) fn record_json(record: &Record) -> Value {
    let map = |m: Option<&HashMap<String, AttributeValue>>| -> Value {
        m.map(|m| Value::Object(m.iter().map(|(k, v)| (k.clone(), attribute_json(v))).collect()))
            .unwrap_or(Value::Null)
    };
    let data = record.dynamodb.as_ref();
    json!({
        "eventName": record.event_name.as_ref().map(|e| e.as_str()),
        "dynamodb": {
            "Keys": map(data.and_then(|d| d.keys.as_ref())),
            "NewImage": map(data.and_then(|d| d.new_image.as_ref())),
            "OldImage": map(data.and_then(|d| d.old_image.as_ref())),
        },
    })
}

fn attribute_json(value: &AttributeValue) -> Value {
    use base64::Engine as _;
    let b64 = |b: &aws_sdk_dynamodbstreams::primitives::Blob| {
        base64::engine::general_purpose::STANDARD.encode(b.as_ref())
    };
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": b64(b) }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(n) => json!({ "NULL": n }),
        AttributeValue::Ss(v) => json!({ "SS": v }),
        AttributeValue::Ns(v) => json!({ "NS": v }),
        AttributeValue::Bs(v) => json!({ "BS": v.iter().map(b64).collect::<Vec<_>>() }),
        AttributeValue::L(v) => json!({ "L": v.iter().map(attribute_json).collect::<Vec<_>>() }),
        AttributeValue::M(m) => {
            json!({ "M": m.iter().map(|(k, v)| (k.clone(), attribute_json(v))).collect::<serde_json::Map<_, _>>() })
        }
        other => {
            tracing::warn!(
                ?other,
                "an attribute type event filtering does not know is read as null"
            );
            Value::Null
        }
    }
}

/// Refuses what [`matches`] does not implement, so a filter the local poller would misread
/// stops `keel-local` instead of silently dropping records. Supported: nested objects, lists
/// of exact values, and `{"prefix": "…"}`.
pub(super) fn check_pattern(pattern: &Value) -> anyhow::Result<()> {
    match pattern {
        Value::Object(fields) => fields.values().try_for_each(check_pattern),
        Value::Array(options) => options.iter().try_for_each(|option| match option {
            Value::Object(rule) if rule.len() == 1 && rule.get("prefix").is_some_and(Value::is_string) => {
                Ok(())
            }
            Value::Object(rule) => anyhow::bail!("unsupported rule {}", Value::Object(rule.clone())),
            Value::Array(_) => anyhow::bail!("nested list"),
            _ => Ok(()),
        }),
        other => anyhow::bail!("a pattern's leaf must be a list, found {other}"),
    }
}

/// Event filtering's match of `pattern` against `event`: every field of an object must match;
/// a list matches when the value (or, for a list value, one of its elements) equals one of its
/// values or starts with one of its prefixes.
pub(super) fn matches(pattern: &Value, event: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields
            .iter()
            .all(|(name, sub)| event.get(name).is_some_and(|value| matches(sub, value))),
        Value::Array(options) => {
            let one = |value: &Value| {
                options.iter().any(|option| match option {
                    Value::Object(rule) => rule
                        .get("prefix")
                        .and_then(Value::as_str)
                        .zip(value.as_str())
                        .is_some_and(|(prefix, text)| text.starts_with(prefix)),
                    exact => exact == value,
                })
            };
            match event {
                Value::Array(values) => values.iter().any(one),
                value => one(value),
            }
        }
        _ => false,
    }
}
