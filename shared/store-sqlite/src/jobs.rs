//! Export jobs in SQLite: one row per job, the job itself kept as JSON.

use async_trait::async_trait;
use audit_storage::{ExportJob, ExportJobStore, StoreError};
use rusqlite::OptionalExtension;
use uuid::Uuid;

use crate::SqliteStore;

#[async_trait]
impl ExportJobStore for SqliteStore {
    async fn create_job(&self, job: &ExportJob) -> Result<(), StoreError> {
        let (id, status, body) = columns(job)?;
        self.inner
            .writer
            .write(move |conn| {
                conn.prepare_cached("INSERT INTO export_jobs (id, status, job) VALUES (?1, ?2, ?3)")?
                    .execute([id, status, body])
                    .map(drop)
            })
            .await
    }

    async fn get_job(&self, id: Uuid) -> Result<Option<ExportJob>, StoreError> {
        let body = self
            .inner
            .readers
            .run(move |conn| {
                conn.prepare_cached("SELECT job FROM export_jobs WHERE id = ?1")?
                    .query_row([id.to_string()], |r| r.get::<_, String>(0))
                    .optional()
            })
            .await?;
        body.map(|b| parse(&b)).transpose()
    }

    async fn update_job(&self, job: &ExportJob) -> Result<(), StoreError> {
        let (id, status, body) = columns(job)?;
        self.inner
            .writer
            .write(move |conn| {
                conn.prepare_cached("UPDATE export_jobs SET status = ?2, job = ?3 WHERE id = ?1")?
                    .execute([id, status, body])
                    .map(drop)
            })
            .await
    }

    async fn unfinished_jobs(&self) -> Result<Vec<ExportJob>, StoreError> {
        let bodies = self
            .inner
            .readers
            .run(|conn| {
                conn.prepare_cached("SELECT job FROM export_jobs WHERE status IN ('pending', 'running')")?
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()
            })
            .await?;
        bodies.iter().map(|b| parse(b)).collect()
    }
}

fn columns(job: &ExportJob) -> Result<(String, String, String), StoreError> {
    let status = serde_json::to_value(job.status).map_err(StoreError::unavailable)?;
    let body = serde_json::to_string(job).map_err(StoreError::unavailable)?;
    Ok((job.id.to_string(), status.as_str().unwrap_or_default().to_owned(), body))
}

fn parse(body: &str) -> Result<ExportJob, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt(format!("export job: {e}")))
}
