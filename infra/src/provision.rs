//! Creates the table (from the template's schema) and the bucket when they are missing, so a
//! fresh data folder or a fresh DynamoDB Local is ready without a manual step.

use anyhow::Context as _;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, KeySchemaElement, KeyType, Projection, ProjectionType, ScalarAttributeType,
    StreamSpecification, StreamViewType,
};

use crate::template::TableSpec;

/// Creates `table` with the template's keys and indexes unless it exists.
pub async fn ensure_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    spec: &TableSpec,
) -> anyhow::Result<()> {
    match client.describe_table().table_name(table).send().await {
        Ok(existing) => return bring_up_to_date(client, table, spec, existing).await,
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) => {}
        Err(error) => return Err(anyhow::Error::new(error).context("DescribeTable")),
    }
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest);
    for (name, kind) in &spec.attributes {
        request = request.attribute_definitions(attribute(name, kind)?);
    }
    request = request.set_key_schema(Some(keys(&spec.key_schema)?));
    if let Some(view) = &spec.stream_view_type {
        request = request.stream_specification(stream(view)?);
    }
    for index in &spec.global_indexes {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&index.name)
                .set_key_schema(Some(keys(&index.key_schema)?))
                .projection(projection(index))
                .build()?,
        );
    }
    match request.send().await {
        Ok(_) => Ok(()),
        // Another process created it between our describe and create.
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            Ok(())
        }
        Err(error) => Err(anyhow::Error::new(error).context(format!("CreateTable {table}"))),
    }
}

/// Gives a table made by an earlier template what the template has gained since: the stream,
/// and each new index (one per `UpdateTable`, as DynamoDB requires).
async fn bring_up_to_date(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    spec: &TableSpec,
    existing: aws_sdk_dynamodb::operation::describe_table::DescribeTableOutput,
) -> anyhow::Result<()> {
    let has_stream = existing
        .table()
        .and_then(|t| t.stream_specification())
        .is_some_and(|s| s.stream_enabled());
    if let (Some(view), false) = (&spec.stream_view_type, has_stream) {
        client
            .update_table()
            .table_name(table)
            .stream_specification(stream(view)?)
            .send()
            .await
            .context("UpdateTable: enabling the stream")?;
    }
    let existing: Vec<String> = existing
        .table()
        .map(|t| t.global_secondary_indexes())
        .unwrap_or_default()
        .iter()
        .filter_map(|i| i.index_name().map(str::to_owned))
        .collect();
    for index in spec.global_indexes.iter().filter(|i| !existing.contains(&i.name)) {
        let mut request = client.update_table().table_name(table);
        for (name, kind) in spec
            .attributes
            .iter()
            .filter(|(name, _)| index.key_schema.iter().any(|(k, _)| k == *name))
        {
            request = request.attribute_definitions(attribute(name, kind)?);
        }
        request
            .global_secondary_index_updates(
                GlobalSecondaryIndexUpdate::builder()
                    .create(
                        CreateGlobalSecondaryIndexAction::builder()
                            .index_name(&index.name)
                            .set_key_schema(Some(keys(&index.key_schema)?))
                            .projection(projection(index))
                            .build()?,
                    )
                    .build(),
            )
            .send()
            .await
            .with_context(|| format!("UpdateTable: adding index {}", index.name))?;
    }
    Ok(())
}

fn attribute(name: &str, kind: &str) -> anyhow::Result<AttributeDefinition> {
    Ok(AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::from(kind))
        .build()?)
}

fn keys(schema: &[(String, String)]) -> anyhow::Result<Vec<KeySchemaElement>> {
    schema
        .iter()
        .map(|(name, kind)| {
            Ok(KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(KeyType::from(kind.as_str()))
                .build()?)
        })
        .collect()
}

fn projection(index: &crate::template::IndexSpec) -> Projection {
    let mut projection =
        Projection::builder().projection_type(ProjectionType::from(index.projection.as_str()));
    for attribute in &index.non_key_attributes {
        projection = projection.non_key_attributes(attribute);
    }
    projection.build()
}

fn stream(view: &str) -> anyhow::Result<StreamSpecification> {
    Ok(StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::from(view))
        .build()?)
}

/// Creates `bucket` unless it exists.
pub async fn ensure_bucket(client: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<()> {
    if client.head_bucket().bucket(bucket).send().await.is_ok() {
        return Ok(());
    }
    match client.create_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_bucket_already_owned_by_you() || e.is_bucket_already_exists()) =>
        {
            Ok(())
        }
        Err(error) => Err(anyhow::Error::new(error)).with_context(|| format!("CreateBucket {bucket}")),
    }
}
