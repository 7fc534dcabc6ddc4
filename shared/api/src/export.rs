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
use audit_storage::{EventStore, ExportJob, ExportJobStore, ExportObjects, ExportStatus, ExportUpload, StoreError};
use chrono::Utc;
use event_model::csv_row::CsvWriter;
use tokio::sync::Semaphore;
use uuid::Uuid;

/// Events read per query page.
const PAGE: usize = 5_000;
/// Bytes gathered before a chunk is handed to the object.
const CHUNK_BYTES: usize = 1 << 20;
/// How often progress is recorded.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

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
    #[tracing::instrument(skip(self))]
    pub async fn run(&self, job_id: Uuid) -> Result<(), StoreError> {
        let Some(mut job) = self.jobs.get_job(job_id).await? else {
            tracing::warn!("the export job does not exist");
            return Ok(());
        };
        if job.status.is_finished() {
            return Ok(());
        }
        job.status = ExportStatus::Running;
        job.rows = 0;
        job.bytes = 0;
        self.jobs.update_job(&job).await?;

        let upload = self.objects.start(&job.object_key()).await;
        let result = match upload {
            Ok(upload) => self.write_rows(&mut job, upload).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(bytes) => {
                job.status = ExportStatus::Succeeded;
                job.bytes = bytes;
                tracing::info!(rows = job.rows, bytes, "export finished");
            }
            Err(e) => {
                tracing::error!(error = %e, "export failed");
                job.status = ExportStatus::Failed;
                job.error = Some("the export failed because of a storage error; request it again".into());
            }
        }
        job.finished_at = Some(Utc::now());
        self.jobs.update_job(&job).await
    }

    async fn write_rows(&self, job: &mut ExportJob, mut upload: Box<dyn ExportUpload>) -> Result<u64, StoreError> {
        match self.write_all(job, upload.as_mut()).await {
            Ok(()) => upload.finish().await,
            Err(e) => {
                upload.abort().await;
                Err(e)
            }
        }
    }

    async fn write_all(&self, job: &mut ExportJob, upload: &mut dyn ExportUpload) -> Result<(), StoreError> {
        let header = CsvWriter::new(Vec::new())
            .and_then(|w| Ok(w.into_inner()?))
            .map_err(StoreError::unavailable)?;
        let mut chunk = Vec::with_capacity(CHUNK_BYTES + 1024 * 1024);
        chunk.extend_from_slice(&header);
        let mut after: Option<String> = None;
        let mut last_progress = Instant::now();
        loop {
            let page = self
                .events
                .csv_page(&job.filters, PAGE, after.as_deref(), chunk)
                .await?;
            chunk = page.csv;
            job.rows += page.rows;
            after = page.next;
            let done = after.is_none();
            if chunk.len() >= CHUNK_BYTES || done {
                job.bytes += chunk.len() as u64;
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_BYTES + 1024 * 1024));
                upload.write(full).await?;
            }
            if done {
                return Ok(());
            }
            if last_progress.elapsed() >= PROGRESS_EVERY {
                self.jobs.update_job(job).await?;
                last_progress = Instant::now();
            }
        }
    }
}

/// Runs exports as tokio tasks in this process, at most `concurrency` at a time (the others wait
/// as `pending`). The local server's launcher.
pub struct TaskLauncher {
    worker: ExportWorker,
    permits: Arc<Semaphore>,
}

impl TaskLauncher {
    pub fn new(worker: ExportWorker, concurrency: usize) -> Self {
        TaskLauncher {
            worker,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }
}

#[async_trait]
impl ExportLauncher for TaskLauncher {
    async fn launch(&self, job_id: Uuid) -> Result<(), StoreError> {
        let worker = self.worker.clone();
        let permits = self.permits.clone();
        tokio::spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return;
            };
            if let Err(e) = worker.run(job_id).await {
                tracing::error!(error = %e, %job_id, "could not record an export's outcome");
            }
        });
        Ok(())
    }
}

/// The export side of a router that does not serve exports (the ingest and query Lambda
/// functions): their routers have no export routes, so these are never called; if they were,
/// they would refuse.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotServedHere;

#[derive(Debug, thiserror::Error)]
#[error("exports are served by the export function")]
struct Elsewhere;

#[async_trait]
impl ExportLauncher for NotServedHere {
    async fn launch(&self, _job_id: Uuid) -> Result<(), StoreError> {
        Err(StoreError::unavailable(Elsewhere))
    }
}

#[async_trait]
impl audit_storage::ExportObjects for NotServedHere {
    async fn start(&self, _key: &str) -> Result<Box<dyn audit_storage::ExportUpload>, StoreError> {
        Err(StoreError::unavailable(Elsewhere))
    }

    async fn download_link(&self, _key: &str, _file_name: &str) -> Result<audit_storage::DownloadLink, StoreError> {
        Err(StoreError::unavailable(Elsewhere))
    }
}
