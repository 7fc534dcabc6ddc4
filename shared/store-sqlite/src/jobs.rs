//! Export jobs in SQLite: one row per job, the job itself kept as JSON; and each token's export
//! slots, claimed inside one write transaction (the single writer), so concurrent claims never
//! take more than the cap.

use async_trait::async_trait;
use audit_storage::{ExportJob, ExportJobStore, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension};
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
        let row = self
            .inner
            .readers
            .run(move |conn| {
                conn.prepare_cached("SELECT id, job, status = 'failed' FROM export_jobs WHERE id = ?1")?
                    .query_row([id.to_string()], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?))
                    })
                    .optional()
            })
            .await?;
        match row {
            None => Ok(None),
            Some((id, body, failed)) => Ok(Some(self.read_or_set_apart(&id, &body, failed).await)),
        }
    }

    async fn update_job(&self, job: &ExportJob) -> Result<bool, StoreError> {
        let (id, status, body) = columns(job)?;
        self.inner
            .writer
            .write(move |conn| {
                conn.prepare_cached(
                    "UPDATE export_jobs SET status = ?2, job = ?3 WHERE id = ?1 AND status IN ('pending', 'running')",
                )?
                .execute([id, status, body])
                .map(|changed| changed == 1)
            })
            .await
    }

    async fn unfinished_jobs(&self) -> Result<Vec<ExportJob>, StoreError> {
        let rows = self
            .inner
            .readers
            .run(|conn| {
                conn.prepare_cached("SELECT id, job FROM export_jobs WHERE status IN ('pending', 'running')")?
                    .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
                    .collect::<rusqlite::Result<Vec<(String, String)>>>()
            })
            .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for (id, body) in rows {
            let job = self.read_or_set_apart(&id, &body, false).await;
            if !job.status.is_finished() {
                jobs.push(job);
            }
        }
        Ok(jobs)
    }

    async fn recent_jobs(&self, requested_by: &str, limit: usize) -> Result<Vec<ExportJob>, StoreError> {
        // A scan of the jobs (one row per export ever asked for here): ids are UUID v7, whose
        // text sorts by creation. A row whose text is not JSON is left out, not an error.
        let requested_by = requested_by.to_owned();
        let rows = self
            .inner
            .readers
            .run(move |conn| {
                conn.prepare_cached(
                    "SELECT id, job, status = 'failed' FROM export_jobs
                     WHERE CASE WHEN json_valid(job) THEN json_extract(job, '$.requested_by') END = ?1
                     ORDER BY id DESC LIMIT ?2",
                )?
                .query_map(rusqlite::params![requested_by, limit as i64], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, bool>(2)?))
                })?
                .collect::<rusqlite::Result<Vec<(String, String, bool)>>>()
            })
            .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for (id, body, marked) in rows {
            jobs.push(self.read_or_set_apart(&id, &body, marked).await);
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
        let (token, job) = (token.to_owned(), job.to_string());
        let (now, until) = (now.timestamp_micros(), until.timestamp_micros());
        self.inner
            .writer
            .write(move |conn| {
                let Some(slot) = free_slot(conn, &token, limit, now)? else {
                    return Ok(false);
                };
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO export_slots (token, slot, job, lease_until_us) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(rusqlite::params![token, slot, job, until])?;
                Ok(true)
            })
            .await
    }

    async fn renew_slot(&self, token: &str, job: Uuid, until: DateTime<Utc>) -> Result<(), StoreError> {
        let (token, job, until) = (token.to_owned(), job.to_string(), until.timestamp_micros());
        self.inner
            .writer
            .write(move |conn| {
                conn.prepare_cached("UPDATE export_slots SET lease_until_us = ?3 WHERE token = ?1 AND job = ?2")?
                    .execute(rusqlite::params![token, job, until])
                    .map(drop)
            })
            .await
    }

    async fn release_slot(&self, token: &str, job: Uuid) -> Result<(), StoreError> {
        let (token, job) = (token.to_owned(), job.to_string());
        self.inner
            .writer
            .write(move |conn| {
                conn.prepare_cached("DELETE FROM export_slots WHERE token = ?1 AND job = ?2")?
                    .execute([token, job])
                    .map(drop)
            })
            .await
    }
}

/// The lowest slot number below `limit` that `token` does not hold under a live lease.
fn free_slot(conn: &Connection, token: &str, limit: usize, now: i64) -> rusqlite::Result<Option<i64>> {
    let held: Vec<i64> = conn
        .prepare_cached("SELECT slot FROM export_slots WHERE token = ?1 AND lease_until_us >= ?2")?
        .query_map(rusqlite::params![token, now], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok((0..limit as i64).find(|slot| !held.contains(slot)))
}

impl SqliteStore {
    /// The job in `body`; if it cannot be read, the row is logged, marked failed (its text is
    /// kept for inspection; once is enough: `marked` says it was) and reported as
    /// [`ExportJob::unreadable`].
    async fn read_or_set_apart(&self, id: &str, body: &str, marked: bool) -> ExportJob {
        let error = match serde_json::from_str::<ExportJob>(body) {
            Ok(job) => return job,
            Err(e) => e,
        };
        if marked {
            return ExportJob::unreadable(Uuid::parse_str(id).unwrap_or_default());
        }
        tracing::error!(job = %id, error = %error, "an export job's record is unreadable; it is set apart and marked failed");
        let key = id.to_owned();
        let marked = self
            .inner
            .writer
            .write(move |conn| {
                conn.prepare_cached("UPDATE export_jobs SET status = 'failed' WHERE id = ?1")?
                    .execute([key])
                    .map(drop)
            })
            .await;
        if let Err(e) = marked {
            tracing::warn!(job = %id, error = %e, "could not mark an unreadable export job failed");
        }
        ExportJob::unreadable(Uuid::parse_str(id).unwrap_or_default())
    }
}

fn columns(job: &ExportJob) -> Result<(String, String, String), StoreError> {
    let status = serde_json::to_value(job.status).map_err(StoreError::unavailable)?;
    let body = serde_json::to_string(job).map_err(StoreError::unavailable)?;
    Ok((job.id.to_string(), status.as_str().unwrap_or_default().to_owned(), body))
}
