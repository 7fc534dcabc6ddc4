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
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread on `conn`, and the checkpointer on `checkpoints`; both stop once
    /// the `Writer` is dropped and the queue has drained.
    pub(crate) fn start(conn: Connection, checkpoints: Connection) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE_DEPTH);
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let writer = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                run(conn, rx);
                drop(stop);
            })
            .expect("spawn the SQLite writer thread");
        let checkpointer = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint(checkpoints, stopped))
            .expect("spawn the SQLite checkpoint thread");
        Writer {
            queue,
            threads: vec![writer, checkpointer],
        }
    }

    /// Stops taking work, lets the queue drain, fills the batch-filled indexes, checkpoints, and
    /// waits for both threads.
    pub(crate) fn close(self) {
        let Writer { queue, threads } = self;
        drop(queue);
        for thread in threads {
            let _ = thread.join();
        }
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

/// Unindexed events that make the writer fill the indexes right after a commit.
const INDEX_BATCH: i64 = 4_096;
/// Most events indexed in one transaction, so queued writes wait at most that long.
const INDEX_MAX: i64 = 4 * INDEX_BATCH;
/// How long the writer waits idle before indexing a smaller tail.
const INDEX_IDLE: std::time::Duration = std::time::Duration::from_millis(100);

fn run(mut conn: Connection, mut rx: mpsc::Receiver<Queued>) {
    let timer = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a timer runtime");
    let mut group: Vec<Queued> = Vec::with_capacity(MAX_GROUP);
    loop {
        let behind = unindexed(&conn).map(|(from, to)| to > from).unwrap_or(false);
        let first = if behind {
            match timer.block_on(async { tokio::time::timeout(INDEX_IDLE, rx.recv()).await }) {
                Ok(first) => first,
                Err(_idle) => {
                    fill_indexes(&mut conn, 1);
                    continue;
                }
            }
        } else {
            rx.blocking_recv()
        };
        let Some(first) = first else { break };
        group.push(first);
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(more) => group.push(more),
                Err(_) => break,
            }
        }
        commit_group(&mut conn, &mut group);
        fill_indexes(&mut conn, INDEX_BATCH);
    }
    fill_indexes(&mut conn, 1);
    tracing::debug!("SQLite writer stopped");
}

/// How often committed WAL frames are copied into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Runs PASSIVE checkpoints (which never block the writer or readers) until the writer stops,
/// then a last one that truncates the WAL.
fn checkpoint(conn: Connection, writer_stopped: std::sync::mpsc::Receiver<()>) {
    use std::sync::mpsc::RecvTimeoutError;
    while let Err(RecvTimeoutError::Timeout) = writer_stopped.recv_timeout(CHECKPOINT_EVERY) {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "a WAL checkpoint failed; will retry");
        }
    }
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
        tracing::debug!(error = %e, "the final WAL checkpoint did not complete");
    }
}

/// The range of event `seq`s not yet in the batch-filled indexes: `(indexed_upto, max seq)`.
fn unindexed(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row(
        "SELECT indexed_upto, (SELECT coalesce(max(seq), 0) FROM events) FROM index_state WHERE id = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Adds up to [`INDEX_MAX`] unindexed events to the batch-filled indexes (trigrams, actor,
/// category, actors, hourly counts) in one transaction, if at least `min` are waiting. A failure is logged and retried
/// later: queries read the unindexed tail directly, so a lagging index costs speed, never results.
fn fill_indexes(conn: &mut Connection, min: i64) {
    let result = (|| {
        // The range is read inside the write transaction, so two processes writing the same
        // database (a server and `audit-local seed`) never index the same events twice.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let (from, last) = unindexed(&tx)?;
        if last - from < min {
            return Ok(());
        }
        let to = last.min(from + INDEX_MAX);
        for fill in [
            "INSERT INTO events_search (rowid, message, actor) SELECT seq, audit_fold(message), audit_fold(actor) FROM events WHERE seq > ?1 AND seq <= ?2",
            "INSERT INTO actor_index SELECT actor, time_us, id, seq FROM events WHERE seq > ?1 AND seq <= ?2",
            "INSERT INTO category_index SELECT category, time_us, id, seq FROM events WHERE seq > ?1 AND seq <= ?2",
            "INSERT OR IGNORE INTO actors SELECT audit_fold(actor), actor FROM events WHERE seq > ?1 AND seq <= ?2",
            "INSERT INTO type_counts SELECT time_us - time_us % 3600000000, type, min(category), count(*) FROM events \
             WHERE seq > ?1 AND seq <= ?2 GROUP BY 1, 2 ON CONFLICT (hour_us, type) DO UPDATE SET n = n + excluded.n",
        ] {
            tx.prepare_cached(fill)?.execute([from, to])?;
        }
        tx.execute("UPDATE index_state SET indexed_upto = ?1 WHERE id = 1", [to])?;
        tx.commit()
    })();
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not fill the batch-filled indexes; will retry");
    }
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
