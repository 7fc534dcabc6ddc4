//! Export jobs in their own table: the job as JSON, and the sparse `open` attribute that puts a
//! pending or running job in the [`schema::OPEN_JOBS`] index.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use uuid::Uuid;

use crate::{DynamoStore, schema};
use audit_storage::{ExportJob, ExportJobStore, StoreError};

fn item(job: &ExportJob) -> Result<std::collections::HashMap<String, AttributeValue>, StoreError> {
    let body = serde_json::to_string(job).map_err(StoreError::unavailable)?;
    let mut item = std::collections::HashMap::from([
        (schema::JOB_ID.to_owned(), AttributeValue::S(job.id.to_string())),
        (schema::JOB.to_owned(), AttributeValue::S(body)),
    ]);
    if !job.status.is_finished() {
        item.insert(
            schema::OPEN.to_owned(),
            AttributeValue::S(schema::OPEN_VALUE.to_owned()),
        );
    }
    Ok(item)
}

fn parse(item: &std::collections::HashMap<String, AttributeValue>) -> Result<ExportJob, StoreError> {
    match item.get(schema::JOB) {
        Some(AttributeValue::S(body)) => {
            serde_json::from_str(body).map_err(|e| StoreError::Corrupt(format!("export job: {e}")))
        }
        _ => Err(StoreError::Corrupt("export job without a body".into())),
    }
}

impl DynamoStore {
    async fn put_job(&self, job: &ExportJob, condition: &str) -> Result<(), StoreError> {
        self.inner
            .client
            .put_item()
            .table_name(&self.inner.names.jobs_table)
            .set_item(Some(item(job)?))
            .condition_expression(condition)
            .expression_attribute_names("#id", schema::JOB_ID)
            .send()
            .await
            .map(drop)
            .map_err(StoreError::unavailable)
    }
}

#[async_trait]
impl ExportJobStore for DynamoStore {
    async fn create_job(&self, job: &ExportJob) -> Result<(), StoreError> {
        self.put_job(job, "attribute_not_exists(#id)").await
    }

    async fn get_job(&self, id: Uuid) -> Result<Option<ExportJob>, StoreError> {
        let out = self
            .inner
            .client
            .get_item()
            .table_name(&self.inner.names.jobs_table)
            .key(schema::JOB_ID, AttributeValue::S(id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::unavailable)?;
        out.item.as_ref().map(parse).transpose()
    }

    async fn update_job(&self, job: &ExportJob) -> Result<(), StoreError> {
        self.put_job(job, "attribute_exists(#id)").await
    }

    async fn unfinished_jobs(&self) -> Result<Vec<ExportJob>, StoreError> {
        let pages = self
            .inner
            .client
            .query()
            .table_name(&self.inner.names.jobs_table)
            .index_name(schema::OPEN_JOBS)
            .key_condition_expression("#o = :o")
            .expression_attribute_names("#o", schema::OPEN)
            .expression_attribute_values(":o", AttributeValue::S(schema::OPEN_VALUE.into()))
            .into_paginator()
            .items()
            .send()
            .collect::<Vec<_>>()
            .await;
        let mut jobs = Vec::new();
        for item in pages {
            let job = parse(&item.map_err(StoreError::unavailable)?)?;
            // The index is eventually consistent: a job finished a moment ago may still be listed.
            if !job.status.is_finished() {
                jobs.push(job);
            }
        }
        Ok(jobs)
    }
}
