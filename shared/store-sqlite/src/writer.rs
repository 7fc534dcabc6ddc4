//! The single writer: a thread that owns the write connection and commits queued work in groups.
//!
//! Each queued [`Op`] runs inside its own SAVEPOINT, so a failing op is rolled back alone; the
//! group's transaction then commits once, and every op learns its result only after that commit
//! (with `synchronous = FULL`, after the fsync). Under load many requests share one fsync; alone,
//! a request pays for one.

use audit_storage::StoreError;
use rusqlite::Connection;

use crate::SharedError;
use tokio::sync::{mpsc, oneshot};

/// A unit of write work; its result is delivered after the group's commit.
pub(crate) type Op = Box<dyn FnOnce(&Connection) -> rusqlite::Result<Box<dyn std::any::Any + Send>> + Send>;

struct Queued {
    op: Op,
    reply: oneshot::Sender<Result<Box<dyn std::any::Any + Send>, StoreError>>,
}

/// Most ops committed together: bounds a group's latency and its transaction's size.
const MAX_GROUP: usize = 256;
/// Queued ops beyond which submitters wait (back-pressure instead of unbounded memory).
const QUEUE_DEPTH: usize = 1024;

pub(crate) struct Writer {
    queue: mpsc::Sender<Queued>,
}

impl Writer {
    pub(crate) fn start(conn: Connection) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE_DEPTH);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, rx))
            .expect("spawn the SQLite writer thread");
        Writer { queue }
    }

    /// Runs `f` in the next group commit and returns its result once committed.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let op: Op = Box::new(move |conn| f(conn).map(|v| Box::new(v) as Box<dyn std::any::Any + Send>));
        self.queue
            .send(Queued { op, reply })
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?;
        let value = rx
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))??;
        Ok(*value.downcast::<T>().expect("the op's own result type"))
    }
}

fn run(mut conn: Connection, mut rx: mpsc::Receiver<Queued>) {
    let mut group: Vec<Queued> = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = rx.blocking_recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(more) => group.push(more),
                Err(_) => break,
            }
        }
        commit_group(&mut conn, &mut group);
    }
    tracing::debug!("SQLite writer stopped");
}

fn commit_group(conn: &mut Connection, group: &mut Vec<Queued>) {
    let tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            tracing::error!(error = %e, "could not begin a write transaction");
            let shared = SharedError::new(e);
            for Queued { reply, .. } in group.drain(..) {
                let _ = reply.send(Err(StoreError::unavailable(shared.clone())));
            }
            return;
        }
    };
    let mut results = Vec::with_capacity(group.len());
    let mut replies = Vec::with_capacity(group.len());
    for Queued { op, reply } in group.drain(..) {
        let result = run_in_savepoint(&tx, op);
        results.push(result);
        replies.push(reply);
    }
    match tx.commit() {
        Ok(()) => {
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(result.map_err(StoreError::unavailable));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "a group commit failed");
            let shared = SharedError::new(e);
            for reply in replies {
                let _ = reply.send(Err(StoreError::unavailable(shared.clone())));
            }
        }
    }
}

fn run_in_savepoint(conn: &Connection, op: Op) -> rusqlite::Result<Box<dyn std::any::Any + Send>> {
    conn.execute_batch("SAVEPOINT op")?;
    match op(conn) {
        Ok(value) => {
            conn.execute_batch("RELEASE op")?;
            Ok(value)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO op; RELEASE op")?;
            Err(e)
        }
    }
}
