//! The template's operational contract: what an on-call engineer needs from every function,
//! held as the route and policy contracts are. Every function logs to a log group the template
//! declares, with a retention (no log kept and billed forever); every asynchronous consumer
//! sends what it failed on to an encrypted queue that keeps it 14 days (nothing dropped
//! silently); every function's errors, and every such queue's depth, have an alarm that pages.
//! The checker is tested on templates with each gap cut in, so it can fail.

use serde_yaml_ng::Value;

fn template() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).expect("template.yaml is YAML")
}

/// The logical id `!Ref X` or `!GetAtt X.Attr` names.
fn named(value: &Value) -> Option<String> {
    let Value::Tagged(tagged) = value else {
        return None;
    };
    let tag = tagged.tag.to_string();
    let text = tagged.value.as_str()?;
    match tag.trim_start_matches('!') {
        "Ref" => Some(text.to_owned()),
        "GetAtt" => text.split_once('.').map(|(id, _)| id.to_owned()),
        _ => None,
    }
}

fn resource_type(doc: &Value, id: &str) -> Option<String> {
    doc["Resources"][id]["Type"].as_str().map(str::to_owned)
}

/// Where an asynchronous consumer's failures go must be a queue that keeps them, is encrypted,
/// and pages when anything is in it.
fn check_queue(
    doc: &Value,
    id: Option<String>,
    what: &str,
    watched: &dyn Fn(&str, &str) -> bool,
    gaps: &mut Vec<String>,
) {
    let Some(id) = id else {
        gaps.push(format!("{what} has no on-failure destination"));
        return;
    };
    let queue = &doc["Resources"][&id]["Properties"];
    if resource_type(doc, &id).as_deref() != Some("AWS::SQS::Queue") {
        gaps.push(format!("{what} fails to {id}, which is not an SQS queue"));
    } else if queue["MessageRetentionPeriod"].as_u64() != Some(14 * 24 * 3600) {
        gaps.push(format!("{what}: queue {id} does not keep messages 14 days"));
    } else if queue["SqsManagedSseEnabled"].as_bool() != Some(true) && queue["KmsMasterKeyId"].is_null() {
        gaps.push(format!("{what}: queue {id} is not encrypted"));
    } else if !watched("ApproximateNumberOfMessagesVisible", &id) {
        gaps.push(format!("{what}: queue {id} has no depth alarm"));
    }
}

/// The alarms that notify the alarm topic, as (metric name, the resource its dimensions name).
fn paging_alarms(doc: &Value) -> Vec<(String, String)> {
    let mut watched = Vec::new();
    for (_, resource) in doc["Resources"].as_mapping().into_iter().flatten() {
        let properties = &resource["Properties"];
        let pages = properties["AlarmActions"]
            .as_sequence()
            .is_some_and(|actions| actions.iter().any(|a| named(a).as_deref() == Some("AlarmTopic")));
        if resource["Type"].as_str() != Some("AWS::CloudWatch::Alarm") || !pages {
            continue;
        }
        let mut metrics = vec![properties.clone()];
        for query in properties["Metrics"].as_sequence().into_iter().flatten() {
            metrics.push(query["MetricStat"]["Metric"].clone());
        }
        for metric in metrics {
            let name = metric["MetricName"].as_str().unwrap_or_default().to_owned();
            for dimension in metric["Dimensions"].as_sequence().into_iter().flatten() {
                if let Some(target) = named(&dimension["Value"]) {
                    watched.push((name.clone(), target));
                }
            }
        }
    }
    watched
}

/// Every gap in the operational contract, named.
fn operational_gaps(doc: &Value) -> Vec<String> {
    let mut gaps = Vec::new();
    let alarms = paging_alarms(doc);
    let watched = |metric: &str, target: &str| alarms.iter().any(|(m, t)| m == metric && t == target);
    let resources = doc["Resources"].as_mapping().expect("Resources");
    for (id, resource) in resources {
        let id = id.as_str().unwrap_or_default();
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let properties = &resource["Properties"];
        if !watched("Errors", id) {
            gaps.push(format!("{id} has no alarm on its errors"));
        }
        match named(&properties["LoggingConfig"]["LogGroup"]) {
            None => gaps.push(format!("{id} has no declared log group")),
            Some(group) if resource_type(doc, &group).as_deref() != Some("AWS::Logs::LogGroup") => {
                gaps.push(format!("{id} logs to {group}, which is not a log group"))
            }
            Some(group) if doc["Resources"][&group]["Properties"]["RetentionInDays"].is_null() => {
                gaps.push(format!("{id}'s log group {group} has no retention"))
            }
            Some(_) => {}
        }
        let mut asynchronous = false;
        for (name, event) in properties["Events"].as_mapping().into_iter().flatten() {
            let what = format!("{id}'s event {}", name.as_str().unwrap_or_default());
            let event_properties = &event["Properties"];
            match event["Type"].as_str().unwrap_or_default() {
                "HttpApi" => {}
                "DynamoDB" | "Kinesis" | "SQS" => check_queue(
                    doc,
                    named(&event_properties["DestinationConfig"]["OnFailure"]["Destination"]),
                    &what,
                    &watched,
                    &mut gaps,
                ),
                // The rule delivers to Lambda (its dead-letter queue: events it could not
                // deliver), and Lambda invokes the function asynchronously (its on-failure
                // destination: events the function failed on every retry). Both can lose one.
                "EventBridgeRule" | "Schedule" => {
                    check_queue(
                        doc,
                        named(&event_properties["DeadLetterConfig"]["Arn"]),
                        &what,
                        &watched,
                        &mut gaps,
                    );
                    asynchronous = true;
                }
                "S3" | "SNS" => asynchronous = true,
                other => gaps.push(format!("{what}: the contract does not know {other:?} events")),
            }
        }
        if asynchronous {
            check_queue(
                doc,
                named(&properties["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"]),
                &format!("{id}'s asynchronous invocation"),
                &watched,
                &mut gaps,
            );
        }
    }
    gaps
}

#[test]
fn every_function_has_a_log_group_with_retention_an_errors_alarm_and_every_async_consumer_a_watched_on_failure_queue()
 {
    let gaps = operational_gaps(&template());
    assert!(gaps.is_empty(), "template.yaml:\n{}", gaps.join("\n"));
}

#[test]
fn the_contract_names_each_gap_cut_into_the_template() {
    let cut = |edit: &dyn Fn(&mut Value)| {
        let mut doc = template();
        edit(&mut doc);
        operational_gaps(&doc)
    };
    let gaps = cut(&|doc| {
        doc["Resources"]["LoginFunction"]["Properties"]
            .as_mapping_mut()
            .unwrap()
            .remove("LoggingConfig");
    });
    assert_eq!(gaps, ["LoginFunction has no declared log group"]);
    let gaps = cut(&|doc| {
        doc["Resources"]["LoginFunctionLogGroup"]["Properties"]
            .as_mapping_mut()
            .unwrap()
            .remove("RetentionInDays");
    });
    assert_eq!(
        gaps,
        ["LoginFunction's log group LoginFunctionLogGroup has no retention"]
    );
    let gaps = cut(&|doc| {
        doc["Resources"]["FeedFanoutFunction"]["Properties"]["Events"]["Changes"]["Properties"]
            .as_mapping_mut()
            .unwrap()
            .remove("DestinationConfig");
    });
    assert_eq!(
        gaps,
        ["FeedFanoutFunction's event Changes has no on-failure destination"]
    );
    let gaps = cut(&|doc| {
        doc["Resources"]["UploadFinaliseFunction"]["Properties"]["Events"]["ObjectCreated"]["Properties"]
            .as_mapping_mut()
            .unwrap()
            .remove("DeadLetterConfig");
    });
    assert_eq!(
        gaps,
        ["UploadFinaliseFunction's event ObjectCreated has no on-failure destination"]
    );
    let gaps = cut(&|doc| {
        doc["Resources"]["UploadFinaliseFunction"]["Properties"]
            .as_mapping_mut()
            .unwrap()
            .remove("EventInvokeConfig");
    });
    assert_eq!(
        gaps,
        ["UploadFinaliseFunction's asynchronous invocation has no on-failure destination"]
    );
    let gaps = cut(&|doc| {
        doc["Resources"]["StreamFailureQueue"]["Properties"]
            .as_mapping_mut()
            .unwrap()
            .remove("SqsManagedSseEnabled");
    });
    assert_eq!(
        gaps,
        ["FeedFanoutFunction's event Changes: queue StreamFailureQueue is not encrypted"]
    );
    let gaps = cut(&|doc| {
        doc["Resources"]
            .as_mapping_mut()
            .unwrap()
            .remove("LoginFunctionAlarm");
    });
    assert_eq!(gaps, ["LoginFunction has no alarm on its errors"]);
    let gaps = cut(&|doc| {
        doc["Resources"]["FinaliseFailureQueueAlarm"]["Properties"]
            .as_mapping_mut()
            .unwrap()
            .remove("AlarmActions");
    });
    assert_eq!(
        gaps,
        [
            "UploadFinaliseFunction's event ObjectCreated: queue FinaliseFailureQueue has no depth alarm",
            "UploadFinaliseFunction's asynchronous invocation: queue FinaliseFailureQueue has no depth alarm"
        ]
    );
}

#[test]
fn each_environment_in_samconfig_sets_only_parameters_the_template_declares_and_prod_confirms() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let config: toml::Table = std::fs::read_to_string(root.join("samconfig.toml"))
        .unwrap()
        .parse()
        .expect("samconfig.toml is TOML");
    let doc = template();
    let declared = doc["Parameters"].as_mapping().expect("Parameters");
    for environment in ["dev", "prod"] {
        let deploy = &config[environment]["deploy"]["parameters"];
        let overrides = deploy["parameter_overrides"]
            .as_str()
            .expect("parameter_overrides");
        let mut names = Vec::new();
        for assignment in overrides.split_whitespace() {
            let (name, _) = assignment.split_once('=').expect("Name=value");
            assert!(
                declared.contains_key(name),
                "{environment} sets {name}, which template.yaml does not declare"
            );
            names.push(name);
        }
        assert!(
            names.contains(&"Environment"),
            "{environment} names its Environment"
        );
        assert!(
            overrides.contains(&format!("Environment={environment}")),
            "{environment}: {overrides}"
        );
        assert_eq!(deploy["confirm_changeset"].as_bool(), Some(environment == "prod"));
    }
}
