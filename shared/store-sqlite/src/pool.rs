//! A small pool of read-only connections. Queries run on tokio's blocking threads; WAL lets them
//! read a consistent snapshot while the writer commits.

use std::path::PathBuf;
use std::sync::Mutex;

use audit_storage::StoreError;
use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;

/// Most idle connections kept; more may be open at once under load.
const MAX_IDLE: usize = 8;

pub(crate) struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReaderPool {
    pub(crate) fn new(path: PathBuf) -> Self {
        ReaderPool {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` on a pooled connection on a blocking thread.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = match self.idle.lock().expect("pool lock").pop() {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let result = f(&conn);
            (conn, result)
        })
        .await
        .map_err(StoreError::unavailable)?;
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
        register_functions(&conn).map_err(StoreError::unavailable)?;
        Ok(conn)
    }
}

/// `audit_contains(message, actor, needle)`: whether `needle` (already lower-cased) is a
/// case-insensitive substring of the message or the actor, folding case for every script. It
/// confirms the trigram index's candidates and filters scans for terms too short or too common
/// for the index to help.
fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        "audit_contains",
        3,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let message = ctx
                .get_raw(0)
                .as_str()
                .map_err(|e| rusqlite::Error::UserFunctionError(e.into()))?;
            let actor = ctx
                .get_raw(1)
                .as_str()
                .map_err(|e| rusqlite::Error::UserFunctionError(e.into()))?;
            let needle = ctx
                .get_raw(2)
                .as_str()
                .map_err(|e| rusqlite::Error::UserFunctionError(e.into()))?;
            Ok(message.to_lowercase().contains(needle) || actor.to_lowercase().contains(needle))
        },
    )
}
