//! The storage seams of the service: what the HTTP layer and the export worker need from a
//! store, and nothing about how a store does it. Each trait has an embedded adapter (SQLite and
//! files) and a cloud adapter (DynamoDB and S3); the same contract tests run against both,
//! directly (`tests/src/contract.rs`) and through the HTTP API (`tests/tests/api`).
//!
//! - [`EventStore`]: append-only events, read by id or page by page under a filter.
//! - [`ExportJobStore`]: the export jobs and their progress.
//! - [`ExportObjects`]: where export files go, and the short-lived links that hand them out.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use event_model::{Event, EventFilter, NewEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A storage failure. The cause is kept for logs; clients only ever see an opaque error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or refused the operation.
    #[error("the store is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store is throttling, slow or briefly failing (after the client's own retries):
    /// retrying after a pause is expected to work. Clients are answered 503 with `Retry-After`.
    #[error("the store is busy")]
    Busy(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store's resource is missing or refuses this service (no such table or bucket, access
    /// denied, bad credentials, a request the service rejects as invalid): retrying will not help
    /// until the deployment is fixed. Names the resource, for the operator's log.
    #[error("the store is misconfigured: {resource} is missing, not accessible or refused the request")]
    Misconfigured {
        resource: String,
        #[source]
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store holds data this code cannot read.
    #[error("the store holds unreadable data: {0}")]
    Corrupt(String),
    /// A page position that this store did not make (cursors are signed, so this means a bug or
    /// a changed signing key).
    #[error("the page position is not one this store made")]
    InvalidPosition,
}

impl StoreError {
    pub fn unavailable(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Unavailable(Box::new(cause))
    }

    pub fn busy(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Busy(Box::new(cause))
    }
}

/// What became of one appended event.
#[derive(Debug)]
pub enum AppendOutcome {
    /// Stored now (durably: the store acknowledges only what it has made durable).
    Created,
    /// An event with this id and the same content was already stored; nothing was written.
    Duplicate,
    /// An event with this id but other content is stored; nothing was written.
    Conflict,
    /// Not stored because of a storage failure; the client should retry it.
    Failed(StoreError),
}

/// One page of a query. `next` is the store's position after the page's last event, or `None`
/// when nothing follows. A page may hold fewer events than asked while `next` is set.
#[derive(Debug, Default)]
pub struct EventPage {
    pub events: Vec<Event>,
    pub next: Option<String>,
}

/// One page of events as JSON, for `GET /events`.
#[derive(Debug, Default)]
pub struct JsonPage {
    /// The buffer given to [`EventStore::json_page`], with a JSON array of this page's events
    /// appended (each as [`Event`] serializes).
    pub json: Vec<u8>,
    pub next: Option<String>,
}

/// One page of CSV rows (no header), for exports.
#[derive(Debug, Default)]
pub struct CsvPage {
    /// The buffer given to [`EventStore::csv_page`], with this page's rows appended.
    pub csv: Vec<u8>,
    pub rows: u64,
    pub next: Option<String>,
}

/// The width of a histogram's buckets (UTC hours or days).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Hour,
    Day,
}

impl Bucket {
    pub fn micros(self) -> i64 {
        match self {
            Bucket::Hour => 3_600_000_000,
            Bucket::Day => 86_400_000_000,
        }
    }
}

/// How many events match a filter (`total`, a lower bound unless `exact`), and how many in each
/// bucket from `start` on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    pub bucket: Bucket,
    pub start: DateTime<Utc>,
    pub buckets: Vec<u64>,
    pub total: u64,
    pub exact: bool,
    /// When the counts come partly from counts the store keeps: the end of the last period
    /// they hold (events arriving late after it may be missing until the next is counted).
    pub counted_through: Option<DateTime<Utc>>,
}

impl Counts {
    /// Most buckets one answer holds (over 13 years of days; 208 days of hours).
    pub const MAX_BUCKETS: usize = 5_000;

    /// Zero in every bucket of `bucket` over `[from, to)` (aligned down to a bucket), counting
    /// only what [`Counts::add`] is given in that range. A range of more than
    /// [`Counts::MAX_BUCKETS`] keeps its last ones and is a lower bound (`exact: false`).
    pub fn over(bucket: Bucket, from: DateTime<Utc>, to: DateTime<Utc>) -> Counts {
        let size = bucket.micros();
        let (from, to) = (from.timestamp_micros(), to.timestamp_micros());
        let earliest = (to - (Counts::MAX_BUCKETS as i64 - 1) * size).div_euclid(size) * size;
        let clipped = from < earliest;
        let start = if clipped {
            earliest
        } else {
            from.div_euclid(size) * size
        };
        let buckets = if from >= to {
            0
        } else {
            (to - start + size - 1).div_euclid(size).max(0) as usize
        };
        Counts {
            bucket,
            start: DateTime::from_timestamp_micros(start).unwrap_or_default(),
            buckets: vec![0; buckets],
            total: 0,
            exact: !clipped,
            counted_through: None,
        }
    }

    /// Counts `n` events at `time_us` (microseconds since the epoch), if it falls in a bucket.
    pub fn add(&mut self, time_us: i64, n: u64) {
        let i = (time_us - self.start.timestamp_micros()).div_euclid(self.bucket.micros());
        if let Some(slot) = usize::try_from(i).ok().and_then(|i| self.buckets.get_mut(i)) {
            *slot += n;
            self.total += n;
        }
    }

    /// No events, no buckets.
    pub fn empty(bucket: Bucket) -> Counts {
        Counts {
            bucket,
            start: DateTime::<Utc>::UNIX_EPOCH,
            buckets: Vec::new(),
            total: 0,
            exact: true,
            counted_through: None,
        }
    }
}

/// Append-only event storage. No method changes or deletes a stored event.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Stores each event unless its id is taken; one outcome per event, in order.
    async fn append(&self, events: Vec<NewEvent>) -> Vec<AppendOutcome>;

    async fn get(&self, id: Uuid) -> Result<Option<Event>, StoreError>;

    /// How many events match `filter` and when, in buckets of `bucket` over the filter's period
    /// (from the first event to now when it has no bound): exact when the store can count
    /// cheaply, else a lower bound (`exact: false`).
    async fn counts(&self, filter: &EventFilter, bucket: Bucket) -> Result<Counts, StoreError>;

    /// Usernames (actors) that start with `prefix`, case folded as `q` is
    /// ([`event_model::filter::fold`]), sorted by their folded form, at most `limit`: from an
    /// index of actors the store keeps, never a scan of the events.
    async fn actors(&self, prefix: &str, limit: usize) -> Result<Vec<String>, StoreError>;

    /// The events matching `filter` in its order (time, then id), at most `limit` of them,
    /// starting after `after` (a position from an earlier page of the same filter).
    async fn query(&self, filter: &EventFilter, limit: usize, after: Option<&str>) -> Result<EventPage, StoreError>;

    /// The time through which the pages up to `position` (an earlier page's `next` under
    /// `filter`) have examined every event, in the filter's order: how far a search has got when
    /// its pages come back short. `None` for a position this store did not make.
    fn searched_through(&self, filter: &EventFilter, position: &str) -> Option<DateTime<Utc>>;

    /// The page [`EventStore::query`] would return, as a JSON array appended to `buf`. Stores
    /// may override it to write rows without building events (through [`event_model::EventView`],
    /// the one JSON shape of an event).
    async fn json_page(
        &self,
        filter: &EventFilter,
        limit: usize,
        after: Option<&str>,
        mut buf: Vec<u8>,
    ) -> Result<JsonPage, StoreError> {
        let page = self.query(filter, limit, after).await?;
        serde_json::to_writer(&mut buf, &page.events).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(JsonPage {
            json: buf,
            next: page.next,
        })
    }

    /// The page [`EventStore::query`] would return, as CSV rows appended to `buf`. Stores may
    /// override it to skip building whole events (an export reads only the CSV's columns).
    async fn csv_page(
        &self,
        filter: &EventFilter,
        limit: usize,
        after: Option<&str>,
        buf: Vec<u8>,
    ) -> Result<CsvPage, StoreError> {
        let page = self.query(filter, limit, after).await?;
        let mut writer = event_model::csv_row::CsvWriter::continuing(buf);
        for event in &page.events {
            writer.write(event).map_err(StoreError::unavailable)?;
        }
        let csv = writer.into_inner().map_err(StoreError::unavailable)?;
        Ok(CsvPage {
            csv,
            rows: page.events.len() as u64,
            next: page.next,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
}

impl ExportStatus {
    pub fn is_finished(self) -> bool {
        matches!(self, ExportStatus::Succeeded | ExportStatus::Failed)
    }
}

/// An export of the journal under a filter into one CSV object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportJob {
    pub id: Uuid,
    pub status: ExportStatus,
    pub filters: EventFilter,
    /// Rows written so far (the final count once succeeded).
    pub rows: u64,
    /// Bytes written so far.
    pub bytes: u64,
    #[serde(with = "event_model::time::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(
        default,
        with = "event_model::time::rfc3339_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed, in words fit for the client (never an internal error's text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The name of the token that asked for it.
    pub requested_by: String,
    /// While running: the worker renews this with every progress record; once it has passed, the
    /// worker is taken for dead (process killed, Lambda timeout) and the job for failed.
    #[serde(
        default,
        with = "event_model::time::rfc3339_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub lease_until: Option<DateTime<Utc>>,
    /// Whether the file starts with the UTF-8 byte order mark (which Excel needs to read UTF-8).
    #[serde(default)]
    pub bom: bool,
    /// CSV (the journal's columns) or NDJSON (each event as `GET /events/{id}` gives it, a line
    /// each). Jobs from before formats were offered read back as CSV.
    #[serde(default)]
    pub format: ExportFormat,
}

/// The file an export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    #[default]
    Csv,
    Ndjson,
}

impl ExportFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Ndjson => "ndjson",
        }
    }

    /// The format of an export object, by its key's extension ([`ExportJob::object_key`]).
    pub fn of_key(key: &str) -> ExportFormat {
        if key.ends_with(".ndjson") {
            ExportFormat::Ndjson
        } else {
            ExportFormat::Csv
        }
    }

    /// The file's media type (with its charset).
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Ndjson => "application/x-ndjson; charset=utf-8",
        }
    }
}

/// How long a running job's worker may go without recording progress (it records it every
/// second) before the job is taken for dead.
pub const RUN_LEASE: chrono::Duration = chrono::Duration::minutes(2);
/// How long a token's export slot is held for a job that has not started running yet (on AWS,
/// until the jobs table's stream starts it; locally, while it waits for a free worker).
pub const PENDING_LEASE: chrono::Duration = chrono::Duration::minutes(15);

/// What a client is told about a job whose worker stopped answering.
pub const DEAD_WORKER_MESSAGE: &str =
    "the export stopped before it finished (its worker stopped answering); request it again";
/// What a client is told about a job whose stored record could not be read.
pub const UNREADABLE_JOB_MESSAGE: &str = "this export's record could not be read; request it again";

impl ExportJob {
    /// A pending job. Its instants have the precision every stored instant has (microseconds),
    /// so a job reads back from any store exactly as it was made.
    pub fn new(filters: EventFilter, requested_by: &str, now: DateTime<Utc>) -> Self {
        ExportJob {
            id: Uuid::now_v7(),
            status: ExportStatus::Pending,
            filters,
            rows: 0,
            bytes: 0,
            created_at: event_model::time::truncate_micros(now),
            finished_at: None,
            error: None,
            requested_by: requested_by.to_owned(),
            lease_until: None,
            bom: true,
            format: ExportFormat::Csv,
        }
    }

    /// The job a store reports for a row it cannot read (set apart and marked failed): its id,
    /// and the creation time that a UUID v7 id carries.
    pub fn unreadable(id: Uuid) -> Self {
        let created_at = id
            .get_timestamp()
            .and_then(|ts| {
                let (secs, nanos) = ts.to_unix();
                DateTime::from_timestamp(secs as i64, nanos)
            })
            .unwrap_or(DateTime::UNIX_EPOCH);
        ExportJob {
            id,
            status: ExportStatus::Failed,
            filters: EventFilter::default(),
            rows: 0,
            bytes: 0,
            created_at,
            finished_at: Some(created_at),
            error: Some(UNREADABLE_JOB_MESSAGE.to_owned()),
            requested_by: String::new(),
            lease_until: None,
            bom: false,
            format: ExportFormat::Csv,
        }
    }

    /// Ends the job as succeeded with a file of `bytes`.
    pub fn succeed(&mut self, bytes: u64, now: DateTime<Utc>) {
        self.bytes = bytes;
        self.close(ExportStatus::Succeeded, now);
    }

    /// Ends the job as failed; `reason` is what the client is told.
    pub fn fail(&mut self, reason: &str, now: DateTime<Utc>) {
        self.error = Some(reason.to_owned());
        self.close(ExportStatus::Failed, now);
    }

    fn close(&mut self, status: ExportStatus, now: DateTime<Utc>) {
        self.status = status;
        self.finished_at = Some(event_model::time::truncate_micros(now));
        self.lease_until = None;
    }

    /// Whether the job is running under a lease that has passed: its worker is gone.
    pub fn worker_is_dead(&self, now: DateTime<Utc>) -> bool {
        self.status == ExportStatus::Running && self.lease_until.is_some_and(|lease| lease < now)
    }

    /// The key of the job's object.
    pub fn object_key(&self) -> String {
        format!("exports/{}.{}", self.id, self.format.extension())
    }

    /// The file name offered to the browser.
    pub fn file_name(&self) -> String {
        format!(
            "audit-log-{}-{}.{}",
            self.created_at.format("%Y%m%dT%H%M%SZ"),
            self.id,
            self.format.extension()
        )
    }
}

/// Export jobs, and the slots that cap how many one token may have at once.
///
/// A row a store cannot read never stops it: it is logged with its id, set apart (kept, but
/// marked failed) and reported as [`ExportJob::unreadable`].
#[async_trait]
pub trait ExportJobStore: Send + Sync + 'static {
    async fn create_job(&self, job: &ExportJob) -> Result<(), StoreError>;
    async fn get_job(&self, id: Uuid) -> Result<Option<ExportJob>, StoreError>;
    /// Records the progress or outcome of a job that is not finished yet; `false` (nothing
    /// written) if it has finished meanwhile, e.g. marked failed because its lease passed.
    async fn update_job(&self, job: &ExportJob) -> Result<bool, StoreError>;
    /// Jobs not yet finished (pending or running), so a restarted server can resume them.
    async fn unfinished_jobs(&self) -> Result<Vec<ExportJob>, StoreError>;

    /// The newest `limit` jobs requested by `requested_by` (a token's or person's name), newest
    /// first.
    async fn recent_jobs(&self, requested_by: &str, limit: usize) -> Result<Vec<ExportJob>, StoreError>;
    /// Atomically takes one of the `limit` export slots of `token` for `job` until `until`,
    /// unless all are held (slots whose lease has passed are free again). Concurrent claims
    /// never take more than `limit` slots between them.
    async fn claim_slot(
        &self,
        token: &str,
        job: Uuid,
        limit: usize,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Extends the lease of `job`'s slot (a no-op if it holds none).
    async fn renew_slot(&self, token: &str, job: Uuid, until: DateTime<Utc>) -> Result<(), StoreError>;
    /// Frees `job`'s slot (a no-op if it holds none).
    async fn release_slot(&self, token: &str, job: Uuid) -> Result<(), StoreError>;
}

/// A download link and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadLink {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// How long a download link works unless a deployment says otherwise (`AUDIT_LINK_TTL_SECS`):
/// 15 minutes.
pub const DEFAULT_LINK_TTL_SECS: i64 = 900;

/// Where export files are written and how they are handed out.
#[async_trait]
pub trait ExportObjects: Send + Sync + 'static {
    /// Starts writing the object `key`. Nothing is visible under `key` until `finish`.
    async fn start(&self, key: &str) -> Result<Box<dyn ExportUpload>, StoreError>;
    /// A short-lived link that downloads `key` as an attachment named `file_name`.
    async fn download_link(&self, key: &str, file_name: &str) -> Result<DownloadLink, StoreError>;
    /// Whether there is room for another export (a local folder has a size budget; a bucket
    /// has none).
    async fn has_room(&self) -> Result<bool, StoreError> {
        Ok(true)
    }
}

/// An object being written. Chunks may be any size; the adapter buffers as its backend needs.
#[async_trait]
pub trait ExportUpload: Send {
    async fn write(&mut self, chunk: Vec<u8>) -> Result<(), StoreError>;
    /// Makes the object visible; returns its size in bytes.
    async fn finish(self: Box<Self>) -> Result<u64, StoreError>;
    /// Discards what was written.
    async fn abort(self: Box<Self>);
}
