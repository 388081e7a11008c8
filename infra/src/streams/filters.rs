//! Lambda's event filtering, as the poller applies a stream function's `FilterCriteria`: the
//! record as filtering sees it (DynamoDB JSON), the patterns Keel's template uses, and the match.

use aws_lambda_events::event::dynamodb::EventRecord;
use serde_json::Value;

/// A record as event filtering sees it: its JSON as Lambda would deliver it (`eventName`, and
/// `dynamodb` with `Keys`, `NewImage` and `OldImage` in DynamoDB JSON).
pub(super) fn record_json(record: &EventRecord) -> Value {
    serde_json::to_value(record).unwrap_or(Value::Null)
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
