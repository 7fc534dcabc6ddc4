//! `audit-local init`: the tables (with their indexes) and the bucket, from [`crate::schema`].
//! Idempotent: what exists is left as it is. On AWS the SAM template creates the same things.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};

use crate::schema::{self, Layout};

fn attribute(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("name and type are set")
}

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .expect("name and type are set")
}

fn index(name: &str, hash: &str, range: &str) -> GlobalSecondaryIndex {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(hash, KeyType::Hash))
        .key_schema(key(range, KeyType::Range))
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()
        .expect("name, keys and projection are set")
}

/// Creates the events and export-jobs tables unless they exist, and waits until both are active.
pub async fn create_tables(client: &Client, names: &Layout) -> anyhow::Result<()> {
    let events = client
        .create_table()
        .table_name(&names.events_table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute(schema::ID))
        .attribute_definitions(attribute(schema::TIME_BUCKET))
        .attribute_definitions(attribute(schema::ACTOR))
        .attribute_definitions(attribute(schema::TIME_ID))
        .key_schema(key(schema::ID, KeyType::Hash))
        .global_secondary_indexes(index(schema::BY_TIME, schema::TIME_BUCKET, schema::TIME_ID))
        .global_secondary_indexes(index(schema::BY_ACTOR, schema::ACTOR, schema::TIME_ID))
        .send()
        .await;
    created(events, &names.events_table)?;
    let jobs = client
        .create_table()
        .table_name(&names.jobs_table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute(schema::JOB_ID))
        .attribute_definitions(attribute(schema::OPEN))
        .attribute_definitions(attribute(schema::REQUESTED_BY))
        .key_schema(key(schema::JOB_ID, KeyType::Hash))
        .global_secondary_indexes(index(schema::OPEN_JOBS, schema::OPEN, schema::JOB_ID))
        .global_secondary_indexes(index(schema::BY_REQUESTER, schema::REQUESTED_BY, schema::JOB_ID))
        .send()
        .await;
    created(jobs, &names.jobs_table)?;
    for table in [&names.events_table, &names.jobs_table] {
        wait_active(client, table).await?;
    }
    for table in [&names.events_table, &names.jobs_table] {
        enable_ttl(client, table).await;
    }
    Ok(())
}

/// Turns on TTL (on [`schema::EXPIRES_AT`]) for `table`. An endpoint without TTL (dynalite) gets
/// one readable warning line; the SDK's detail goes to the debug log.
async fn enable_ttl(client: &Client, table: &str) {
    let ttl = client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(schema::EXPIRES_AT)
                .enabled(true)
                .build()
                .expect("name and flag are set"),
        )
        .send()
        .await;
    if let Err(e) = ttl {
        let code = e
            .as_service_error()
            .and_then(aws_sdk_dynamodb::error::ProvideErrorMetadata::code)
            .unwrap_or("no answer");
        tracing::warn!(
            "TTL is not on for table {table} ({code}): items are kept until removed by hand. \
             Emulators such as dynalite have no TTL; on AWS the SAM template turns it on."
        );
        tracing::debug!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(&e), "UpdateTimeToLive");
    }
}

fn created<O>(
    result: Result<O, aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::create_table::CreateTableError>>,
    table: &str,
) -> anyhow::Result<()> {
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => Ok(()),
        Err(e) => Err(anyhow::anyhow!(
            "creating table {table}: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(&e)
        )),
    }
}

async fn wait_active(client: &Client, table: &str) -> anyhow::Result<()> {
    for _ in 0..600 {
        let out = client.describe_table().table_name(table).send().await.map_err(|e| {
            anyhow::anyhow!(
                "describing table {table}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(&e)
            )
        })?;
        if out.table.and_then(|t| t.table_status) == Some(TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("table {table} did not become active within a minute")
}

#[cfg(feature = "s3")]
/// Creates the exports bucket unless it exists.
pub async fn create_bucket(client: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<()> {
    match client.create_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()) =>
        {
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!(
            "creating bucket {bucket}: {}",
            aws_sdk_s3::error::DisplayErrorContext(&e)
        )),
    }
}
