//! Export jobs in their own table: the job as JSON, and the sparse `open` attribute that puts a
//! pending or running job in the [`schema::OPEN_JOBS`] index. Each token's export slots are
//! items of the same table, claimed with a conditional write (DynamoDB has no conditional
//! count, and the emulators have no transactions).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{DynamoStore, condition_failed, conditional, schema};
use audit_storage::{ExportJob, ExportJobStore, StoreError};

type Item = HashMap<String, AttributeValue>;

fn item(job: &ExportJob) -> Result<Item, StoreError> {
    let body = serde_json::to_string(job).map_err(StoreError::unavailable)?;
    let mut item = HashMap::from([
        (schema::JOB_ID.to_owned(), AttributeValue::S(job.id.to_string())),
        (schema::JOB.to_owned(), AttributeValue::S(body)),
        (schema::EXPIRES_AT.to_owned(), expires_after(job.created_at)),
    ]);
    if !job.requested_by.is_empty() {
        item.insert(
            schema::REQUESTED_BY.to_owned(),
            AttributeValue::S(job.requested_by.clone()),
        );
    }
    if !job.status.is_finished() {
        item.insert(
            schema::OPEN.to_owned(),
            AttributeValue::S(schema::OPEN_VALUE.to_owned()),
        );
    }
    Ok(item)
}

/// The TTL value [`schema::JOB_RETENTION_DAYS`] after `t`.
fn expires_after(t: DateTime<Utc>) -> AttributeValue {
    let at = t + chrono::Duration::days(schema::JOB_RETENTION_DAYS);
    AttributeValue::N(at.timestamp().to_string())
}

impl DynamoStore {
    /// Writes `job` if `condition` holds: `Ok(false)` if it does not.
    async fn put_job(&self, job: &ExportJob, condition: &str) -> Result<bool, StoreError> {
        let written = self
            .inner
            .client
            .put_item()
            .table_name(&self.inner.layout.jobs_table)
            .set_item(Some(item(job)?))
            .condition_expression(condition)
            .expression_attribute_names("#id", schema::JOB_ID)
            .send()
            .await;
        conditional(written, &self.inner.layout.jobs_resource())
    }

    /// The job in `item`; if it cannot be read, the item is logged, set apart (its text moved to
    /// [`schema::UNREADABLE_JOB`], a failed stub in its place, out of the open-jobs index) and
    /// reported as [`ExportJob::unreadable`].
    async fn read_or_set_apart(&self, item: &Item) -> Result<ExportJob, StoreError> {
        let id = match item.get(schema::JOB_ID) {
            Some(AttributeValue::S(id)) => id.clone(),
            _ => return Err(StoreError::Corrupt("an export job item without an id".into())),
        };
        let body = match item.get(schema::JOB) {
            Some(AttributeValue::S(body)) => body.clone(),
            _ => String::new(),
        };
        let error = match serde_json::from_str::<ExportJob>(&body) {
            Ok(job) => return Ok(job),
            Err(e) => e,
        };
        tracing::error!(job = %id, error = %error, "an export job's record is unreadable; it is set apart and marked failed");
        let stub = ExportJob::unreadable(Uuid::parse_str(&id).unwrap_or_default());
        let stub_body = serde_json::to_string(&stub).map_err(StoreError::unavailable)?;
        let marked = self
            .inner
            .client
            .update_item()
            .table_name(&self.inner.layout.jobs_table)
            .key(schema::JOB_ID, AttributeValue::S(id.clone()))
            .update_expression("SET #u = :u, #j = :j REMOVE #o")
            .condition_expression("#j = :u")
            .expression_attribute_names("#u", schema::UNREADABLE_JOB)
            .expression_attribute_names("#j", schema::JOB)
            .expression_attribute_names("#o", schema::OPEN)
            .expression_attribute_values(":u", AttributeValue::S(body))
            .expression_attribute_values(":j", AttributeValue::S(stub_body))
            .send()
            .await;
        if let Err(e) = marked
            && !condition_failed(&e)
        {
            tracing::warn!(job = %id, error = %e, "could not mark an unreadable export job failed");
        }
        Ok(stub)
    }
}

#[async_trait]
impl ExportJobStore for DynamoStore {
    async fn create_job(&self, job: &ExportJob) -> Result<(), StoreError> {
        if self.put_job(job, "attribute_not_exists(#id)").await? {
            return Ok(());
        }
        // The id is new to this request, so a job already under it is this very write, whose
        // answer was lost and which the SDK sent again (as `write_id` tells for events).
        match self.get_job(job.id).await? {
            Some(stored) if stored.requested_by == job.requested_by && stored.filters == job.filters => Ok(()),
            _ => Err(StoreError::Corrupt(format!("export job {} exists already", job.id))),
        }
    }

    async fn get_job(&self, id: Uuid) -> Result<Option<ExportJob>, StoreError> {
        let out = self
            .inner
            .client
            .get_item()
            .table_name(&self.inner.layout.jobs_table)
            .key(schema::JOB_ID, AttributeValue::S(id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| crate::store_error(e, &self.inner.layout.jobs_resource()))?;
        match &out.item {
            None => Ok(None),
            Some(item) => self.read_or_set_apart(item).await.map(Some),
        }
    }

    async fn update_job(&self, job: &ExportJob) -> Result<bool, StoreError> {
        // Only an open job is updated: a job marked failed (its lease passed) stays failed.
        let written = self
            .inner
            .client
            .put_item()
            .table_name(&self.inner.layout.jobs_table)
            .set_item(Some(item(job)?))
            .condition_expression("attribute_exists(#o)")
            .expression_attribute_names("#o", schema::OPEN)
            .send()
            .await;
        conditional(written, &self.inner.layout.jobs_resource())
    }

    async fn unfinished_jobs(&self) -> Result<Vec<ExportJob>, StoreError> {
        let pages = self
            .inner
            .client
            .query()
            .table_name(&self.inner.layout.jobs_table)
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
            let job = self
                .read_or_set_apart(&item.map_err(|e| crate::store_error(e, &self.inner.layout.jobs_resource()))?)
                .await?;
            // The index is eventually consistent: a job finished a moment ago may still be listed.
            if !job.status.is_finished() {
                jobs.push(job);
            }
        }
        Ok(jobs)
    }

    async fn recent_jobs(&self, requested_by: &str, limit: usize) -> Result<Vec<ExportJob>, StoreError> {
        let out = self
            .inner
            .client
            .query()
            .table_name(&self.inner.layout.jobs_table)
            .index_name(schema::BY_REQUESTER)
            .key_condition_expression("#r = :r")
            .expression_attribute_names("#r", schema::REQUESTED_BY)
            .expression_attribute_values(":r", AttributeValue::S(requested_by.to_owned()))
            .scan_index_forward(false)
            .limit(limit.clamp(1, 1000) as i32)
            .send()
            .await
            .map_err(|e| crate::store_error(e, &self.inner.layout.jobs_resource()))?;
        let mut jobs = Vec::new();
        for item in out.items() {
            jobs.push(self.read_or_set_apart(item).await?);
        }
        Ok(jobs)
    }

    async fn claim_slot(
        &self,
        token: &str,
        job: Uuid,
        limit: usize,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        for n in 0..limit {
            // Free if never taken or its lease has passed; already ours if the SDK retried a
            // claim whose answer was lost.
            let claimed = self
                .inner
                .client
                .put_item()
                .table_name(&self.inner.layout.jobs_table)
                .item(schema::JOB_ID, AttributeValue::S(schema::slot_id(token, n)))
                .item(schema::SLOT_JOB, AttributeValue::S(job.to_string()))
                .item(
                    schema::SLOT_LEASE,
                    AttributeValue::N(until.timestamp_micros().to_string()),
                )
                .condition_expression("attribute_not_exists(#id) OR #l < :now OR #j = :job")
                .expression_attribute_names("#id", schema::JOB_ID)
                .expression_attribute_names("#l", schema::SLOT_LEASE)
                .expression_attribute_names("#j", schema::SLOT_JOB)
                .expression_attribute_values(":now", AttributeValue::N(now.timestamp_micros().to_string()))
                .expression_attribute_values(":job", AttributeValue::S(job.to_string()))
                .send()
                .await;
            if conditional(claimed, &self.inner.layout.jobs_resource())? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn renew_slot(&self, token: &str, job: Uuid, until: DateTime<Utc>) -> Result<(), StoreError> {
        let lease = AttributeValue::N(until.timestamp_micros().to_string());
        self.on_slot_of(token, job, |slot, job| {
            self.inner
                .client
                .update_item()
                .table_name(&self.inner.layout.jobs_table)
                .key(schema::JOB_ID, slot)
                .update_expression("SET #l = :l")
                .condition_expression("#j = :job")
                .expression_attribute_names("#l", schema::SLOT_LEASE)
                .expression_attribute_names("#j", schema::SLOT_JOB)
                .expression_attribute_values(":l", lease.clone())
                .expression_attribute_values(":job", job)
                .send()
        })
        .await
    }

    async fn release_slot(&self, token: &str, job: Uuid) -> Result<(), StoreError> {
        self.on_slot_of(token, job, |slot, job| {
            self.inner
                .client
                .delete_item()
                .table_name(&self.inner.layout.jobs_table)
                .key(schema::JOB_ID, slot)
                .condition_expression("#j = :job")
                .expression_attribute_names("#j", schema::SLOT_JOB)
                .expression_attribute_values(":job", job)
                .send()
        })
        .await
    }
}

impl DynamoStore {
    /// Runs `write` (conditional on the slot holding `job`) on each of `token`'s slots until one
    /// holds; a job that holds none is left as it is.
    async fn on_slot_of<F, Fut, T, E>(&self, token: &str, job: Uuid, write: F) -> Result<(), StoreError>
    where
        F: Fn(AttributeValue, AttributeValue) -> Fut,
        Fut: std::future::Future<
                Output = Result<T, aws_sdk_dynamodb::error::SdkError<E, aws_smithy_runtime_api::http::Response>>,
            >,
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        for n in 0..MAX_SLOTS_SEARCHED {
            let slot = AttributeValue::S(schema::slot_id(token, n));
            if conditional(
                write(slot, AttributeValue::S(job.to_string())).await,
                &self.inner.layout.jobs_resource(),
            )? {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// Slot numbers looked through to find a job's slot (the cap is 3; a few more in case it was
/// configured higher once).
const MAX_SLOTS_SEARCHED: usize = 8;
