//! The embedded store: the whole service on one machine with no AWS.
//!
//! - Events and export jobs live in one SQLite database (`audit.db` in the data folder), in WAL
//!   mode with `synchronous = FULL`: a commit returns only after its WAL frames are fsynced, so
//!   an acknowledged event survives a process crash *and* a power loss.
//! - All writes go through one writer thread that commits whatever is queued in one transaction
//!   (group commit), so one fsync covers many concurrent requests ([`writer`]).
//! - WAL checkpoints (copying committed pages into the database file) run on a thread of their
//!   own, so a commit never waits for one.
//! - Reads use a small pool of read-only connections, which WAL lets run beside the writer.
//! - `q` is served by an FTS5 trigram index, and `actor` and `category` by index tables, all
//!   filled by the writer in large batches just after the events commit ([`writer`], [`events`]); export files are written into the data folder and
//!   handed out through HMAC-signed, expiring links ([`files`]).
//!
//! Stored events are immutable: triggers abort any UPDATE or DELETE of the events table. What a
//! trigger cannot stop (someone with the file) the archive and its signed digests reveal
//! ([`sealing`]; [`StoreAgainstArchive`] is `verify`'s comparison of the two).

mod counts;
mod events;
pub mod files;
mod jobs;
mod page_sql;
mod pool;
pub mod private;
pub mod sealing;
mod store_check;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use audit_storage::StoreError;
use rusqlite::Connection;

pub use files::{DownloadSigner, FileExports};
pub use sealing::{FolderArchive, SealError, SealState, Sealer};
pub use store_check::StoreAgainstArchive;

const DB_FILE: &str = "audit.db";

/// The database schema (idempotent). Public so benchmarks can measure raw SQLite on the very same
/// tables and indexes.
pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS events (
    seq          INTEGER PRIMARY KEY,
    id           BLOB NOT NULL UNIQUE,    -- the UUID's 16 bytes (they sort like its text)
    time_us      INTEGER NOT NULL,        -- microseconds since the epoch; (time_us, id) is the sort key
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
CREATE INDEX IF NOT EXISTS events_by_time ON events (time_us, id);
-- Filled in batches by the writer, up to index_state.indexed_upto (see writer.rs).
CREATE TABLE IF NOT EXISTS actor_index (
    actor TEXT NOT NULL, time_us INTEGER NOT NULL, id BLOB NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (actor, time_us, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS category_index (
    category TEXT NOT NULL, time_us INTEGER NOT NULL, id BLOB NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (category, time_us, id)
) WITHOUT ROWID;
-- Holds audit_fold(message) and audit_fold(actor): the service's own case folding, so the index
-- and the confirming check agree (the tokenizer's folding uses SQLite's older Unicode tables).
-- Events per UTC hour and type (with the type's category), filled with the batch indexes:
-- counts and histograms of period, category and type filters without reading the events.
CREATE TABLE IF NOT EXISTS type_counts (
    hour_us INTEGER NOT NULL, type TEXT NOT NULL, category TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (hour_us, type)
) WITHOUT ROWID;
-- Every actor once, by its folded form (`audit_fold`): username suggestions by prefix.
CREATE TABLE IF NOT EXISTS actors (
    folded TEXT NOT NULL, actor TEXT NOT NULL,
    PRIMARY KEY (folded, actor)
) WITHOUT ROWID;
CREATE VIRTUAL TABLE IF NOT EXISTS events_search
    USING fts5 (message, actor, content = '', tokenize = 'trigram case_sensitive 1', detail = none, columnsize = 0);
CREATE TABLE IF NOT EXISTS index_state (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_upto INTEGER NOT NULL         -- events with seq <= this are in every batch-filled index
);
INSERT OR IGNORE INTO index_state (id, indexed_upto) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'stored events are immutable'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'stored events are immutable'); END;
CREATE TABLE IF NOT EXISTS export_jobs (
    id       TEXT PRIMARY KEY,
    status   TEXT NOT NULL,
    job      TEXT NOT NULL                -- the ExportJob as JSON
);
-- A token's export slots (see ExportJobStore::claim_slot): a slot is held until its lease passes.
CREATE TABLE IF NOT EXISTS export_slots (
    token          TEXT NOT NULL,
    slot           INTEGER NOT NULL,
    job            TEXT NOT NULL,
    lease_until_us INTEGER NOT NULL,
    PRIMARY KEY (token, slot)
) WITHOUT ROWID;
-- The archive and its seals (see sealing.rs): how far events are archived, the newest digest.
CREATE TABLE IF NOT EXISTS seal_state (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    archived_upto INTEGER NOT NULL,       -- events with seq <= this are in archive files
    started_us    INTEGER NOT NULL,       -- when sealing began: the first period's start
    head          TEXT,                   -- the newest digest's link (path, hash, signature) as JSON
    head_end_us   INTEGER                 -- the end of its period
);
CREATE TABLE IF NOT EXISTS archive_files (
    path      TEXT PRIMARY KEY,
    first_seq INTEGER NOT NULL,
    last_seq  INTEGER NOT NULL,
    file      TEXT NOT NULL,              -- the file as a digest lists it, JSON
    digest    TEXT                        -- the digest that sealed it; NULL until sealed
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
    /// Permits for reads with `q`, which may scan rather than use the trigram index: at most one
    /// per core runs at once, so a burst of unindexed searches cannot take every core.
    searches: tokio::sync::Semaphore,
    common_terms: page_sql::CommonTerms,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        private::create_dir(data_dir).map_err(StoreError::unavailable)?;
        let path = data_dir.join(DB_FILE);
        make_private(&path).map_err(StoreError::unavailable)?;
        let conn = open_connection(&path)?;
        migrate(&conn)?;
        // Checkpoints run on their own thread (see `checkpoint`), not inside a writer's commit.
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0;")
            .map_err(StoreError::unavailable)?;
        let writer = writer::Writer::start(conn, open_connection(&path)?);
        let readers = pool::ReaderPool::new(path.clone());
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                writer,
                readers,
                searches: tokio::sync::Semaphore::new(cores.max(2)),
                common_terms: page_sql::CommonTerms::default(),
                path,
            }),
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

impl SqliteStore {
    /// Closes the store once this is its last handle: queued writes finish, the batch-filled
    /// indexes catch up and the WAL is checkpointed before this returns. With other handles alive
    /// it only drops this one.
    pub async fn close(self) {
        if let Ok(inner) = Arc::try_unwrap(self.inner) {
            let _ = tokio::task::spawn_blocking(move || inner.writer.close()).await;
        }
    }

    /// Reads running now (a read whose caller went away counts until SQLite has stopped it).
    pub fn reads_in_progress(&self) -> usize {
        self.inner.readers.running()
    }

    /// How many stored events are not yet in the batch-filled indexes (they are still found,
    /// through a scan of that tail).
    pub async fn index_lag(&self) -> Result<u64, StoreError> {
        self.inner
            .readers
            .run(|conn| {
                conn.query_row(
                    "SELECT (SELECT coalesce(max(seq), 0) FROM events) - indexed_upto FROM index_state",
                    [],
                    |r| r.get::<_, i64>(0),
                )
            })
            .await
            .map(|n| n.max(0) as u64)
    }
}

/// Creates the database file `0600` before SQLite does (SQLite gives its WAL and shared-memory
/// files the database file's mode), and makes an existing database, WAL and shared-memory file
/// private too (data folders of earlier versions followed the umask).
fn make_private(db: &Path) -> std::io::Result<()> {
    match private::file_options().write(true).create_new(true).open(db) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            for suffix in ["", "-wal", "-shm"] {
                let mut name = db.as_os_str().to_owned();
                name.push(suffix);
                let path = PathBuf::from(name);
                if path.exists() {
                    private::restrict(&path)?;
                }
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The schema's version, kept in `PRAGMA user_version`. Version 2: the trigram index holds
/// folded text (`audit_fold`) and is case-sensitive; version 1's is rebuilt when opened.
/// Version 3: the `actors` index and the hourly `type_counts`, filled from `actor_index` and the
/// indexed events when a version 2 database is opened.
const SCHEMA_VERSION: i64 = 3;

/// Adds version 3's `actors` index and `type_counts` to a version 2 database, in one transaction:
/// the actors of the events already indexed (one pass over `actor_index`, which holds each actor's
/// events together) and their counts (one pass over the events); the writer adds the rest as
/// usual.
fn upgrade_from_2(conn: &Connection) -> Result<(), StoreError> {
    tracing::info!("upgrading the database to schema version 3: indexing the actors (once)");
    conn.execute_batch(
        "BEGIN IMMEDIATE;
         CREATE TABLE IF NOT EXISTS actors (folded TEXT NOT NULL, actor TEXT NOT NULL, PRIMARY KEY (folded, actor)) WITHOUT ROWID;
         INSERT OR IGNORE INTO actors SELECT audit_fold(actor), actor FROM (SELECT DISTINCT actor FROM actor_index);
         DROP TABLE IF EXISTS type_counts;
         CREATE TABLE type_counts (hour_us INTEGER NOT NULL, type TEXT NOT NULL, category TEXT NOT NULL,
             n INTEGER NOT NULL, PRIMARY KEY (hour_us, type)) WITHOUT ROWID;
         INSERT INTO type_counts SELECT time_us - time_us % 3600000000, type, min(category), count(*) FROM events
             WHERE seq <= (SELECT indexed_upto FROM index_state) GROUP BY 1, 2;
         PRAGMA user_version = 3;
         COMMIT;",
    )
    .map_err(StoreError::unavailable)
}

/// Rebuilds version 1's trigram index (the tokenizer folded case) over folded text, in one
/// transaction: the events already indexed are indexed again; the rest the writer indexes as usual.
fn upgrade_from_1(conn: &Connection) -> Result<(), StoreError> {
    tracing::info!("upgrading the database to schema version 2: rebuilding the search index (once)");
    conn.execute_batch(
        "BEGIN IMMEDIATE;
         DROP TABLE events_search;
         CREATE VIRTUAL TABLE events_search
             USING fts5 (message, actor, content = '', tokenize = 'trigram case_sensitive 1', detail = none, columnsize = 0);
         INSERT INTO events_search (rowid, message, actor)
             SELECT seq, audit_fold(message), audit_fold(actor) FROM events
             WHERE seq <= (SELECT indexed_upto FROM index_state);
         PRAGMA user_version = 2;
         COMMIT;",
    )
    .map_err(StoreError::unavailable)
}

/// Creates the schema in a new database, or checks that an existing one has this version's
/// (upgrading version 1).
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(StoreError::unavailable)?;
    let has_events: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE name = 'events'",
            [],
            |r| r.get(0),
        )
        .map_err(StoreError::unavailable)?;
    if has_events && version == 1 {
        upgrade_from_1(conn)?;
        upgrade_from_2(conn)?;
    } else if has_events && version == 2 {
        upgrade_from_2(conn)?;
    } else if has_events && version != SCHEMA_VERSION {
        return Err(StoreError::Corrupt(format!(
            "the database has schema version {version}, this build reads version {SCHEMA_VERSION}"
        )));
    }
    conn.execute_batch(SCHEMA).map_err(StoreError::unavailable)?;
    conn.execute(
        "INSERT OR IGNORE INTO seal_state (id, archived_upto, started_us) VALUES (1, 0, ?1)",
        [chrono::Utc::now().timestamp_micros()],
    )
    .map_err(StoreError::unavailable)?;
    conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION};"))
        .map_err(StoreError::unavailable)
}

/// Opens a connection with the settings every connection of the store uses (WAL,
/// `synchronous = FULL`).
pub fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(StoreError::unavailable)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA busy_timeout = 10000;
         PRAGMA cache_size = -8192;
         PRAGMA temp_store = MEMORY;",
    )
    .map_err(StoreError::unavailable)?;
    // Plans never depend on bound values (there are no statistics to consult), and without this
    // every bind of a `LIMIT ?` marks a cached statement expired (SQLite reads the limit while
    // planning), so each page's statement was parsed and planned again: ~8 % of a page's CPU.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map_err(StoreError::unavailable)?;
    pool::register_functions(&conn).map_err(StoreError::unavailable)?;
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

#[cfg(test)]
mod tests;
