//! The export worker: runs one export job to completion, outside any HTTP request.
//!
//! It pages through the events with the same query the API serves (so the CSV holds exactly the
//! rows of the paged listing, in the same order), writes each page as CSV rows into the export
//! object in chunks, and records progress (`rows`, `bytes`) at most once a second. Memory holds
//! one page and one chunk, whatever the export's size. On any failure the object is aborted and
//! the job marked failed with a message fit for clients; the cause goes to the log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use audit_storage::{
    DEAD_WORKER_MESSAGE, EventStore, ExportFormat, ExportJob, ExportJobStore, ExportObjects, ExportStatus,
    ExportUpload, RUN_LEASE, StoreError,
};
use chrono::Utc;
use event_model::csv_row::CsvWriter;
use uuid::Uuid;

/// Events read per query page.
const PAGE: usize = 5_000;
/// Bytes gathered before a chunk is handed to the object.
const CHUNK_BYTES: usize = 1 << 20;
/// How often progress is recorded (with a fresh lease).
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// How often a running job renews its token's export slot.
const SLOT_RENEWAL_EVERY: Duration = Duration::from_secs(30);
/// How long a finished export keeps trying to write its outcome while the jobs table is busy.
const OUTCOME_WRITE_BUDGET: Duration = Duration::from_secs(60);

/// Starts export jobs somewhere other than the request that created them.
#[async_trait]
pub trait ExportLauncher: Send + Sync + 'static {
    async fn launch(&self, job_id: Uuid) -> Result<(), StoreError>;
}

/// Runs export jobs.
#[derive(Clone)]
pub struct ExportWorker {
    pub events: Arc<dyn EventStore>,
    pub jobs: Arc<dyn ExportJobStore>,
    pub objects: Arc<dyn ExportObjects>,
}

impl ExportWorker {
    /// Runs job `job_id` (from the start, if it was interrupted before) unless it has finished.
    /// The job is leased while it runs ([`RUN_LEASE`], renewed with every progress record); if
    /// it is taken away meanwhile (marked failed because the lease passed), the work stops.
    #[tracing::instrument(skip(self))]
    pub async fn run(&self, job_id: Uuid) -> Result<(), StoreError> {
        let Some(mut job) = self.jobs.get_job(job_id).await? else {
            tracing::warn!("the export job does not exist");
            return Ok(());
        };
        if job.status.is_finished() {
            return self.jobs.release_slot(&job.requested_by, job.id).await;
        }
        job.status = ExportStatus::Running;
        job.rows = 0;
        job.bytes = 0;
        if !self.record_progress(&mut job).await? {
            return Ok(());
        }
        self.jobs
            .renew_slot(&job.requested_by, job.id, Utc::now() + RUN_LEASE)
            .await?;

        let upload = self.objects.start(&job.object_key()).await;
        let result = match upload {
            Ok(upload) => self.write_rows(&mut job, upload).await,
            Err(e) => Err(WriteError::Store(e)),
        };
        match result {
            Ok(bytes) => {
                job.succeed(bytes, Utc::now());
                tracing::info!(rows = job.rows, bytes, "export finished");
            }
            Err(WriteError::TakenAway) => {
                tracing::warn!("the export job was marked finished by someone else; its work is dropped");
                return Ok(());
            }
            Err(WriteError::Store(e)) => {
                tracing::error!(error = %e, "export failed");
                job.fail(
                    "the export failed because of a storage error; request it again",
                    Utc::now(),
                );
            }
        }
        self.write_outcome(&job).await?;
        if let Err(e) = self.jobs.release_slot(&job.requested_by, job.id).await {
            // Its lease frees it soon enough.
            tracing::warn!(error = %e, "could not free the export's slot; its lease will");
        }
        Ok(())
    }

    /// Writes the job with a fresh lease; `false` if it has finished meanwhile.
    async fn record_progress(&self, job: &mut ExportJob) -> Result<bool, StoreError> {
        job.lease_until = Some(Utc::now() + RUN_LEASE);
        self.jobs.update_job(job).await
    }

    /// Writes a finished job's outcome, trying again with backoff for as long as the store is
    /// busy (up to [`OUTCOME_WRITE_BUDGET`]): a short outage of the jobs table must not leave a
    /// finished export `running`. If it cannot be written, the job's lease lets it expire into
    /// `failed`.
    async fn write_outcome(&self, job: &ExportJob) -> Result<(), StoreError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(500);
        loop {
            match self.jobs.update_job(job).await {
                Ok(_) => return Ok(()),
                Err(StoreError::Busy(e)) if started.elapsed() + pause < OUTCOME_WRITE_BUDGET => {
                    tracing::warn!(error = %e, retry_in = ?pause, "the export's outcome could not be written yet");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(8));
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn write_rows(&self, job: &mut ExportJob, mut upload: Box<dyn ExportUpload>) -> Result<u64, WriteError> {
        match self.write_all(job, upload.as_mut()).await {
            Ok(()) => Ok(upload.finish().await?),
            Err(e) => {
                upload.abort().await;
                Err(e)
            }
        }
    }

    async fn write_all(&self, job: &mut ExportJob, upload: &mut dyn ExportUpload) -> Result<(), WriteError> {
        let mut chunk = Vec::with_capacity(CHUNK_BYTES + 1024 * 1024);
        if job.format == ExportFormat::Csv {
            let header = CsvWriter::new(Vec::new())
                .and_then(|w| Ok(w.into_inner()?))
                .map_err(StoreError::unavailable)?;
            if job.bom {
                chunk.extend_from_slice(event_model::csv_row::UTF8_BOM);
            }
            chunk.extend_from_slice(&header);
        }
        let mut after: Option<String> = None;
        let mut last_progress = Instant::now();
        let mut last_slot_renewal = Instant::now();
        loop {
            (chunk, after) = match job.format {
                ExportFormat::Csv => {
                    let page = self
                        .events
                        .csv_page(&job.filters, PAGE, after.as_deref(), chunk)
                        .await?;
                    job.rows += page.rows;
                    (page.csv, page.next)
                }
                // Each event as `GET /events/{id}` gives it, one line each.
                ExportFormat::Ndjson => {
                    let page = self.events.query(&job.filters, PAGE, after.as_deref()).await?;
                    for event in &page.events {
                        serde_json::to_writer(&mut chunk, event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                        chunk.push(b'\n');
                    }
                    job.rows += page.events.len() as u64;
                    (chunk, page.next)
                }
            };
            let done = after.is_none();
            if chunk.len() >= CHUNK_BYTES || done {
                job.bytes += chunk.len() as u64;
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_BYTES + 1024 * 1024));
                upload.write(full).await?;
            }
            if done {
                return Ok(());
            }
            // Progress is a report, not the work: a busy jobs table skips a report (the lease
            // covers two minutes of them) instead of failing the export.
            if last_progress.elapsed() >= PROGRESS_EVERY {
                match self.record_progress(job).await {
                    Ok(true) => {}
                    Ok(false) => return Err(WriteError::TakenAway),
                    Err(StoreError::Busy(e)) => tracing::warn!(error = %e, "progress not recorded; the export goes on"),
                    Err(e) => return Err(e.into()),
                }
                last_progress = Instant::now();
            }
            if last_slot_renewal.elapsed() >= SLOT_RENEWAL_EVERY {
                match self
                    .jobs
                    .renew_slot(&job.requested_by, job.id, Utc::now() + RUN_LEASE)
                    .await
                {
                    Ok(()) => {}
                    Err(StoreError::Busy(e)) => {
                        tracing::warn!(error = %e, "slot lease not renewed; the export goes on")
                    }
                    Err(e) => return Err(e.into()),
                }
                last_slot_renewal = Instant::now();
            }
        }
    }
}

/// Why writing an export's rows stopped.
enum WriteError {
    Store(StoreError),
    /// The job was finished by someone else (marked failed once its lease passed).
    TakenAway,
}

impl From<StoreError> for WriteError {
    fn from(e: StoreError) -> Self {
        WriteError::Store(e)
    }
}

/// What a client is told about a job whose run was given up (on AWS: the jobs table's stream
/// record that runs it failed every retry, before or while the export ran).
pub const GIVEN_UP_MESSAGE: &str =
    "the export could not be completed (running it failed every retry and was given up); request it again";

/// Marks failed the unfinished jobs created between `from` and `to` (the arrival times of a
/// stream batch that Lambda gave up on, as its on-failure message gives them), and frees their
/// slots; returns how many. No worker runs them again: the batch's retries are exhausted, whether
/// the job never started or its worker failed or timed out while it ran.
pub async fn fail_given_up(
    jobs: &dyn ExportJobStore,
    from: chrono::DateTime<Utc>,
    to: chrono::DateTime<Utc>,
    now: chrono::DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut failed = 0;
    for mut job in jobs.unfinished_jobs().await? {
        if job.created_at < from || job.created_at > to {
            continue;
        }
        tracing::warn!(job = %job.id, status = ?job.status, "an export's run was given up; the job is marked failed");
        job.fail(GIVEN_UP_MESSAGE, now);
        if jobs.update_job(&job).await? {
            jobs.release_slot(&job.requested_by, job.id).await?;
            failed += 1;
        }
    }
    Ok(failed)
}

/// Marks a running job whose lease has passed as failed (its worker is gone: process killed,
/// Lambda timeout) and frees its slot; returns the job as it now stands.
pub async fn settle_dead_worker(
    jobs: &dyn ExportJobStore,
    mut job: ExportJob,
    now: chrono::DateTime<Utc>,
) -> Result<ExportJob, StoreError> {
    if !job.worker_is_dead(now) {
        return Ok(job);
    }
    tracing::warn!(job = %job.id, lease_until = ?job.lease_until, "an export's worker stopped answering; the job is marked failed");
    job.fail(DEAD_WORKER_MESSAGE, now);
    if !jobs.update_job(&job).await? {
        // Finished meanwhile: report what was stored.
        return Ok(jobs.get_job(job.id).await?.unwrap_or(job));
    }
    jobs.release_slot(&job.requested_by, job.id).await?;
    Ok(job)
}
