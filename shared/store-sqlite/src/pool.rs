//! A small pool of read-only connections. Queries run on tokio's blocking threads; WAL lets them
//! read a consistent snapshot while the writer commits.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use audit_storage::StoreError;
use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;

/// Most idle connections kept; more may be open at once under load.
const MAX_IDLE: usize = 8;

pub(crate) struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Reads running on a blocking thread now.
    running: std::sync::Arc<AtomicUsize>,
}

/// Interrupts a read whose caller has gone (the future was dropped: the client hung up, or the
/// request timed out), so SQLite stops at its next step instead of scanning on for nobody.
/// Disarmed once the read has returned.
struct InterruptOnDrop(Option<rusqlite::InterruptHandle>);

impl Drop for InterruptOnDrop {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.interrupt();
            tracing::debug!("a read was abandoned by its caller and interrupted");
        }
    }
}

/// Counts a read as running until its blocking work ends (even after its caller has gone).
struct Running(std::sync::Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl ReaderPool {
    pub(crate) fn new(path: PathBuf) -> Self {
        ReaderPool {
            path,
            idle: Mutex::new(Vec::new()),
            running: std::sync::Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Reads running now, abandoned ones included until SQLite has stopped them.
    pub(crate) fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// Runs `f` on a pooled connection on a blocking thread. If the returned future is dropped
    /// before `f` is done, the connection is interrupted and not returned to the pool.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = match self.idle.lock().expect("pool lock").pop() {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let mut interrupt = InterruptOnDrop(Some(conn.get_interrupt_handle()));
        self.running.fetch_add(1, Ordering::SeqCst);
        let running = Running(self.running.clone());
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let _running = running;
            let result = f(&conn);
            (conn, result)
        })
        .await
        .map_err(StoreError::unavailable)?;
        interrupt.0 = None;
        let mut idle = self.idle.lock().expect("pool lock");
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        result.map_err(StoreError::unavailable)
    }

    /// Runs `f`, a read known to be short, on the calling thread: for a page walked along an
    /// index with no other condition (at most `limit + 1` rows, plus the few thousand not yet
    /// indexed), handing it to a blocking thread and back costs more than the read itself
    /// (0.07–0.1 ms of a 0.35 ms page, measured by the query benchmark). Such a read cannot be
    /// abandoned half-way, so it needs no interrupt.
    pub(crate) fn run_here<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let conn = match self.idle.lock().expect("pool lock").pop() {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let result = f(&conn);
        let mut idle = self.idle.lock().expect("pool lock");
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        result.map_err(StoreError::unavailable)
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        let conn = super::open_connection(&self.path)?;
        conn.execute_batch("PRAGMA query_only = 1;")
            .map_err(StoreError::unavailable)?;
        Ok(conn)
    }
}

/// The store's SQL functions, on every connection (see [`super::open_connection`]):
/// - `audit_fold(text)`: [`event_model::filter::fold`], the service's one case folding; the
///   trigram index holds folded text (its tokenizer's own folding uses older Unicode tables).
/// - `audit_contains(message, actor, needle)`: whether `needle` (already folded) is a substring
///   of the folded message or actor. It confirms the trigram index's candidates and filters scans
///   for terms too short or too common for the index to help.
pub(crate) fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    fn text<'a>(ctx: &'a rusqlite::functions::Context<'_>, i: usize) -> rusqlite::Result<&'a str> {
        ctx.get_raw(i)
            .as_str()
            .map_err(|e| rusqlite::Error::UserFunctionError(e.into()))
    }
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("audit_fold", 1, flags, move |ctx| {
        Ok(event_model::filter::fold(text(ctx, 0)?))
    })?;
    // Called once per candidate row: the texts are borrowed from SQLite and folded into one
    // buffer per connection, so a row costs no allocation.
    let scratch = std::cell::RefCell::new(String::new());
    conn.create_scalar_function("audit_contains", 3, flags, move |ctx| {
        let needle = text(ctx, 2)?;
        let scratch = &mut *scratch.borrow_mut();
        Ok(event_model::filter::occurs_folded(needle, text(ctx, 0)?, scratch)
            || event_model::filter::occurs_folded(needle, text(ctx, 1)?, scratch))
    })
}
