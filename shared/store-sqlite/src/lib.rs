//! The embedded store: the whole service on one machine with no AWS.
//!
//! - Events and export jobs live in one SQLite database (`audit.db` in the data folder), in WAL
//!   mode with `synchronous = FULL`: a commit returns only after its WAL frames are fsynced, so
//!   an acknowledged event survives a process crash *and* a power loss.
//! - All writes go through one writer thread that commits whatever is queued in one transaction
//!   (group commit), so one fsync covers many concurrent requests ([`writer`]).
//! - Reads use a small pool of read-only connections, which WAL lets run beside the writer.
//! - `q` is served by an FTS5 trigram index ([`events`]); export files are written into the data
//!   folder and handed out through HMAC-signed, expiring links ([`files`]).
//!
//! Stored events are immutable: triggers abort any UPDATE or DELETE of the events table.

mod events;
pub mod files;
mod jobs;
mod pool;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use audit_storage::StoreError;
use rusqlite::Connection;

pub use files::{DownloadSigner, FileExports};

const DB_FILE: &str = "audit.db";

/// The database schema (idempotent). Public so benchmarks can measure raw SQLite on the very same
/// tables and indexes.
pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS events (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    time_id      TEXT NOT NULL,           -- '<time RFC 3339 µs>#<id>': the sort key
    actor        TEXT NOT NULL,
    category     TEXT NOT NULL,
    type         TEXT NOT NULL,
    message      TEXT NOT NULL,
    duration_ms  INTEGER,
    params       TEXT NOT NULL,           -- JSON object
    source       TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    fingerprint  TEXT NOT NULL            -- what the client sent, to tell retries from conflicts
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (time_id);
CREATE INDEX IF NOT EXISTS events_by_actor ON events (actor, time_id);
CREATE INDEX IF NOT EXISTS events_by_category ON events (category, time_id);
CREATE VIRTUAL TABLE IF NOT EXISTS events_search
    USING fts5 (message, actor, content = '', tokenize = 'trigram case_sensitive 0');
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'stored events are immutable'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'stored events are immutable'); END;
CREATE TABLE IF NOT EXISTS export_jobs (
    id       TEXT PRIMARY KEY,
    status   TEXT NOT NULL,
    job      TEXT NOT NULL                -- the ExportJob as JSON
);
"#;

/// The SQLite event and export-job store. Cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    writer: writer::Writer,
    readers: pool::ReaderPool,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(StoreError::unavailable)?;
        let path = data_dir.join(DB_FILE);
        let conn = open_connection(&path)?;
        conn.execute_batch(SCHEMA).map_err(StoreError::unavailable)?;
        let writer = writer::Writer::start(conn);
        let readers = pool::ReaderPool::new(path.clone());
        Ok(SqliteStore {
            inner: Arc::new(Inner { writer, readers, path }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How many events are stored (for tests and benchmarks; a full count is not a query the
    /// API offers).
    pub async fn count_events(&self) -> Result<u64, StoreError> {
        self.inner
            .readers
            .run(|conn| conn.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0)))
            .await
            .map(|n| n as u64)
    }
}

/// Opens a connection with the settings every connection of the store uses (WAL,
/// `synchronous = FULL`).
pub fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(StoreError::unavailable)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA busy_timeout = 10000;
         PRAGMA cache_size = -65536;
         PRAGMA temp_store = MEMORY;",
    )
    .map_err(StoreError::unavailable)?;
    Ok(conn)
}

/// One error reported to several waiters (every op of a failed group commit, every event of a
/// failed append).
#[derive(Debug, Clone)]
pub(crate) struct SharedError(Arc<dyn std::error::Error + Send + Sync>);

impl SharedError {
    pub(crate) fn new(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        SharedError(Arc::new(e))
    }
}

impl std::fmt::Display for SharedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SharedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}
