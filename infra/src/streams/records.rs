//! A stream record as Lambda hands it to `feed-fanout`: the SDK's `Record` becomes
//! `aws_lambda_events`' DynamoDB `EventRecord`, the very type the function receives in AWS.
//! The poller filters that record as event filtering sees it (its JSON) and turns it into
//! changes through the function's own converter, so the local path and the deployed one read
//! the same event the same way.

use std::collections::HashMap;

use aws_lambda_events::event::dynamodb::{EventRecord, StreamRecord};
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record};

/// `record` as Lambda delivers it from the stream `arn`. A record holding an attribute type
/// this build does not know is refused (the caller logs it), never half-converted.
pub(crate) fn lambda_record(record: Record, arn: &str) -> anyhow::Result<EventRecord> {
    let data = record
        .dynamodb
        .ok_or_else(|| anyhow::anyhow!("a stream record without its `dynamodb` part"))?;
    let item = |map: Option<HashMap<String, AttributeValue>>| -> anyhow::Result<serde_dynamo::Item> {
        let map = map.unwrap_or_default();
        if let Some(name) = map
            .iter()
            .find_map(|(name, value)| (!known(value)).then_some(name))
        {
            anyhow::bail!("attribute {name:?} has a type this build does not know");
        }
        Ok(serde_dynamo::Item::from(map))
    };
    let mut change = StreamRecord::default();
    change.keys = item(data.keys)?;
    change.new_image = item(data.new_image)?;
    change.old_image = item(data.old_image)?;
    change.sequence_number = data.sequence_number;
    change.size_bytes = data.size_bytes.unwrap_or_default();
    if let Some(at) = data.approximate_creation_date_time
        && let Some(at) = chrono::DateTime::from_timestamp(at.secs(), at.subsec_nanos())
    {
        change.approximate_creation_date_time = at;
    }
    let mut event = EventRecord::default();
    event.aws_region = record.aws_region.unwrap_or_default();
    event.change = change;
    event.event_id = record.event_id.unwrap_or_default();
    event.event_name = record
        .event_name
        .map(|name| name.as_str().to_owned())
        .unwrap_or_default();
    event.event_source = record.event_source;
    event.event_version = record.event_version;
    event.event_source_arn = Some(arn.to_owned());
    Ok(event)
}

/// True when `value`, and everything inside it, is a type DynamoDB JSON has a name for.
fn known(value: &AttributeValue) -> bool {
    match value {
        AttributeValue::L(values) => values.iter().all(known),
        AttributeValue::M(map) => map.values().all(known),
        AttributeValue::S(_)
        | AttributeValue::N(_)
        | AttributeValue::B(_)
        | AttributeValue::Bool(_)
        | AttributeValue::Null(_)
        | AttributeValue::Ss(_)
        | AttributeValue::Ns(_)
        | AttributeValue::Bs(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodbstreams::types::{OperationType, StreamRecord as SdkStreamRecord};
    use keel::store::stream::{Change, ChangeKind};

    fn s(text: &str) -> AttributeValue {
        AttributeValue::S(text.to_owned())
    }

    #[test]
    fn a_local_record_reaches_the_function_as_the_json_lambda_delivers_and_reads_back_the_same() {
        let keys = HashMap::from([("pk".to_owned(), s("ARTICLE#1")), ("sk".to_owned(), s("ARTICLE"))]);
        let mut image = keys.clone();
        image.insert(
            "tags".to_owned(),
            AttributeValue::Ss(vec!["a".into(), "b".into()]),
        );
        image.insert("n".to_owned(), AttributeValue::N("7".into()));
        let record = Record::builder()
            .event_id("e-1")
            .event_name(OperationType::Insert)
            .event_source("aws:dynamodb")
            .aws_region("eu-west-1")
            .dynamodb(
                SdkStreamRecord::builder()
                    .set_keys(Some(keys))
                    .set_new_image(Some(image.clone()))
                    .sequence_number("000100")
                    .size_bytes(42)
                    .build(),
            )
            .build();

        let event = lambda_record(record, "arn:aws:dynamodb:local:000000000000:table/t/stream/x").unwrap();
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["eventName"], "INSERT");
        assert_eq!(
            json["dynamodb"]["Keys"]["sk"],
            serde_json::json!({"S": "ARTICLE"})
        );
        assert_eq!(json["dynamodb"]["NewImage"]["n"], serde_json::json!({"N": "7"}));
        assert_eq!(json["dynamodb"]["SequenceNumber"], "000100");

        // What the deployed function parses, from that JSON, and converts with its own code.
        let delivered: aws_lambda_events::event::dynamodb::Event =
            serde_json::from_value(serde_json::json!({ "Records": [json] })).unwrap();
        let changes: Vec<Change> = delivered
            .records
            .into_iter()
            .filter_map(keel_functions::streams::change_from_record)
            .collect();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].kind, ChangeKind::Insert);
        assert!(changes[0].old.is_none());
        let new = changes[0].new.as_ref().expect("the new image");
        assert_eq!(new.len(), image.len());
        assert_eq!(
            new.get("sk"),
            Some(&aws_sdk_dynamodb::types::AttributeValue::S("ARTICLE".into()))
        );
    }
}
