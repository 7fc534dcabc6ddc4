//! The embedded store's archive and seals: every stored event is copied, in `seq` order, into
//! write-once archive files in the data folder (`archive/dt=YYYY-MM-DD/<first>-<last>.ndjson.gz`,
//! named by the `seq` range they hold), and every period is sealed by a signed digest in
//! `digests/` that chains to the one before (formats: `audit_integrity`).
//!
//! The archive's progress (`seal_state.archived_upto`), the files not yet sealed and the newest
//! digest (the chain's head) are recorded in the database through the single writer; the files
//! themselves are the evidence, and `verify` trusts the records only to know which digest
//! should be the newest. One process archives and seals at a time (a lock on
//! `archive/.lock`), so `audit-local seal` may run beside the server.
//!
//! A crash between writing a file and recording it leaves a file that the next run writes again
//! with the same name and the same bytes: each event is archived once.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use audit_integrity::archive::{ARCHIVE_PREFIX, Archive, FileWriter, Lines, day_prefix};
use audit_integrity::canonical::{canonical_event, write_stored_form};
use audit_integrity::digest::{Link, SignedDigest};
use audit_integrity::{ArchivedFile, Signer};
use audit_storage::StoreError;
use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;

use crate::SqliteStore;
use crate::events::{COLUMNS, view_of};

/// How long after its `received_at` an acknowledged event may still be committed (the request
/// timeout is 30 s): an event received longer than this before a seal belongs in that seal.
pub const SEAL_GRACE: chrono::Duration = chrono::Duration::seconds(60);

/// Most events in one archive file.
const FILE_EVENTS: usize = 50_000;

/// Why archiving or sealing stopped (nothing is recorded for a step that did not finish).
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the archive folder: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Key(#[from] audit_integrity::keys::KeyError),
    #[error("{0}")]
    Archive(String),
}

impl From<audit_integrity::seal::SealFailed> for SealError {
    fn from(e: audit_integrity::seal::SealFailed) -> Self {
        use audit_integrity::seal::SealFailed;
        match e {
            SealFailed::Io(e) => SealError::Io(e),
            SealFailed::Key(e) => SealError::Key(e),
            SealFailed::Archive(e) => SealError::Archive(e),
        }
    }
}

/// The archive folder inside the data folder (paths are relative to the data folder).
#[derive(Clone)]
pub struct FolderArchive {
    root: PathBuf,
}

impl FolderArchive {
    pub fn new(data_dir: &Path) -> Self {
        FolderArchive {
            root: data_dir.to_path_buf(),
        }
    }

    fn full(&self, path: &str) -> PathBuf {
        self.root.join(path)
    }
}

#[async_trait]
impl Archive for FolderArchive {
    async fn list(&self, prefix: &str) -> std::io::Result<Vec<String>> {
        let root = self.root.clone();
        let top = self.full(prefix);
        tokio::task::spawn_blocking(move || {
            let mut found = Vec::new();
            let mut folders = vec![top];
            while let Some(folder) = folders.pop() {
                let entries = match std::fs::read_dir(&folder) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                for entry in entries {
                    let path = entry?.path();
                    if path.is_dir() {
                        folders.push(path);
                    } else if !is_hidden(&path)
                        && let Ok(relative) = path.strip_prefix(&root)
                    {
                        found.push(relative.to_string_lossy().replace('\\', "/"));
                    }
                }
            }
            found.sort();
            Ok(found)
        })
        .await
        .expect("listing does not panic")
    }

    async fn read(&self, path: &str) -> std::io::Result<Option<Vec<u8>>> {
        match tokio::fs::read(self.full(path)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn read_into(&self, path: &str, buffer: &mut Vec<u8>) -> std::io::Result<bool> {
        let full = self.full(path);
        let mut bytes = std::mem::take(buffer);
        let (bytes, found) = tokio::task::spawn_blocking(move || {
            bytes.clear();
            let found = match std::fs::File::open(full) {
                Ok(mut file) => std::io::Read::read_to_end(&mut file, &mut bytes).map(|_| true),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(e),
            };
            (bytes, found)
        })
        .await
        .expect("reading does not panic");
        *buffer = bytes;
        found
    }

    async fn write_new(&self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        let target = self.full(path);
        let bytes = bytes.to_vec();
        tokio::task::spawn_blocking(move || write_once(&target, &bytes))
            .await
            .expect("writing does not panic")
    }
}

fn is_hidden(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// Writes `bytes` at `target` durably (a hidden temporary file, fsync, rename, fsync of the
/// folder) and leaves it read-only. The same bytes already there are accepted; others are not
/// overwritten.
fn write_once(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Ok(existing) = std::fs::read(target) {
        return if existing == bytes {
            Ok(())
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} already holds other bytes", target.display()),
            ))
        };
    }
    let folder = target.parent().expect("archive paths have a folder");
    crate::private::create_dir(folder)?;
    let name = target.file_name().expect("archive paths name a file").to_string_lossy();
    let temporary = folder.join(format!(".{name}.tmp"));
    let mut file = crate::private::file_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    #[cfg(unix)]
    std::fs::set_permissions(&temporary, std::os::unix::fs::PermissionsExt::from_mode(0o400))?;
    std::fs::rename(&temporary, target)?;
    std::fs::File::open(folder)?.sync_all()
}

/// What the database records of the archive and the chain.
#[derive(Debug, Clone)]
pub struct SealState {
    /// Events with `seq` up to this are in archive files.
    pub archived_upto: i64,
    /// When sealing began in this database: the first period's start.
    pub started: DateTime<Utc>,
    /// The newest digest, and the end of its period.
    pub head: Option<(Link, DateTime<Utc>)>,
}

impl SqliteStore {
    pub async fn seal_state(&self) -> Result<SealState, StoreError> {
        self.inner
            .readers
            .run(|conn| {
                conn.query_row(
                    "SELECT archived_upto, started_us, head, head_end_us FROM seal_state",
                    [],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, Option<String>>(2)?,
                            r.get::<_, Option<i64>>(3)?,
                        ))
                    },
                )
            })
            .await
            .and_then(|(archived_upto, started, head, head_end)| {
                let instant = |us: i64| {
                    DateTime::from_timestamp_micros(us).ok_or_else(|| StoreError::Corrupt("seal_state instant".into()))
                };
                let head = match (head, head_end) {
                    (Some(link), Some(end)) => Some((
                        serde_json::from_str(&link).map_err(|_| StoreError::Corrupt("seal_state head".into()))?,
                        instant(end)?,
                    )),
                    _ => None,
                };
                Ok(SealState {
                    archived_upto,
                    started: instant(started)?,
                    head,
                })
            })
    }

    /// Up to `limit` events after `seq`, in `seq` order: each one's `seq`, received instant and
    /// canonical bytes. Unreadable rows are logged and left out.
    pub async fn canonical_events_after(
        &self,
        seq: i64,
        through: i64,
        limit: usize,
    ) -> Result<Vec<(i64, DateTime<Utc>, Vec<u8>)>, StoreError> {
        self.canonical_events(
            format!("SELECT {COLUMNS}, seq FROM events WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3"),
            vec![seq, through, limit as i64],
        )
        .await
    }

    /// The `seq` of the newest stored event (0 when there is none).
    pub async fn last_seq(&self) -> Result<i64, StoreError> {
        self.inner
            .readers
            .run(|conn| {
                conn.prepare_cached("SELECT coalesce(max(seq), 0) FROM events")?
                    .query_row([], |r| r.get(0))
            })
            .await
    }

    /// The events with `seq` in `first..=last`, as [`Self::canonical_events_after`].
    pub async fn canonical_events_between(
        &self,
        first: i64,
        last: i64,
    ) -> Result<Vec<(i64, DateTime<Utc>, Vec<u8>)>, StoreError> {
        self.canonical_events(
            format!("SELECT {COLUMNS}, seq FROM events WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq"),
            vec![first, last],
        )
        .await
    }

    /// Whether the events with `seq` in `first..=last` are, in order, `lines` from line
    /// `offset` on, each in its [`write_stored_form`]: `verify`'s common case, read without
    /// keeping the events (one buffer for all). `false` for any difference, a missing `seq`
    /// included: then compare the canonical forms.
    pub async fn stored_as(&self, first: i64, last: i64, lines: Arc<Lines>, offset: usize) -> Result<bool, StoreError> {
        self.inner
            .readers
            .run(move |conn| {
                let mut statement = conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM events WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq"
                ))?;
                let mut rows = statement.query([first, last])?;
                let mut form = Vec::new();
                let mut at = offset;
                while let Some(row) = rows.next()? {
                    let Ok(view) = view_of(row) else { return Ok(false) };
                    form.clear();
                    write_stored_form(&mut form, &view);
                    if lines.get(at) != Some(form.as_slice()) {
                        return Ok(false);
                    }
                    at += 1;
                }
                Ok((at - offset) as i64 == last - first + 1)
            })
            .await
    }

    async fn canonical_events(
        &self,
        sql: String,
        bounds: Vec<i64>,
    ) -> Result<Vec<(i64, DateTime<Utc>, Vec<u8>)>, StoreError> {
        self.inner
            .readers
            .run(move |conn| {
                let mut statement = conn.prepare_cached(&sql)?;
                let mut rows = statement.query(rusqlite::params_from_iter(bounds))?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    let seq: i64 = row.get(10)?;
                    match view_of(row) {
                        Ok(view) => out.push((seq, view.received_at, canonical_event(&view))),
                        Err(e) => tracing::error!(seq, error = %e, "an unreadable event is not archived"),
                    }
                }
                Ok(out)
            })
            .await
    }

    /// The `seq` of event `id`, if it is stored.
    pub async fn seq_of(&self, id: uuid::Uuid) -> Result<Option<i64>, StoreError> {
        self.inner
            .readers
            .run(move |conn| {
                conn.prepare_cached("SELECT seq FROM events WHERE id = ?1")?
                    .query_row([id.as_bytes()], |r| r.get(0))
                    .optional()
            })
            .await
    }

    /// The archive file holding the event with `seq`, and the digest that sealed it (if any).
    pub async fn archive_file_of(&self, seq: i64) -> Result<Option<(String, Option<String>)>, StoreError> {
        self.inner
            .readers
            .run(move |conn| {
                conn.prepare_cached("SELECT path, digest FROM archive_files WHERE first_seq <= ?1 AND last_seq >= ?1")?
                    .query_row([seq], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .await
    }

    async fn unsealed_files(&self) -> Result<Vec<ArchivedFile>, StoreError> {
        let rows: Vec<String> = self
            .inner
            .readers
            .run(|conn| {
                conn.prepare_cached("SELECT file FROM archive_files WHERE digest IS NULL ORDER BY first_seq")?
                    .query_map([], |r| r.get(0))?
                    .collect()
            })
            .await?;
        rows.iter()
            .map(|row| serde_json::from_str(row).map_err(|_| StoreError::Corrupt("archive_files.file".into())))
            .collect()
    }

    async fn record_files(&self, from: i64, upto: i64, files: Vec<(i64, i64, ArchivedFile)>) -> Result<(), StoreError> {
        let rows: Vec<(i64, i64, String, String)> = files
            .into_iter()
            .map(|(first, last, file)| {
                let json = serde_json::to_string(&file).expect("a file entry is JSON");
                (first, last, file.path, json)
            })
            .collect();
        let moved = self
            .inner
            .writer
            .write(move |conn| {
                let moved = conn
                    .prepare_cached("UPDATE seal_state SET archived_upto = ?2 WHERE archived_upto = ?1")?
                    .execute([from, upto])?;
                if moved == 1 {
                    for (first, last, path, json) in &rows {
                        conn.prepare_cached(
                            "INSERT INTO archive_files (path, first_seq, last_seq, file) VALUES (?1, ?2, ?3, ?4)",
                        )?
                        .execute(rusqlite::params![path, first, last, json])?;
                    }
                }
                Ok(moved == 1)
            })
            .await?;
        if moved {
            Ok(())
        } else {
            Err(StoreError::Corrupt("the archive moved on under this archiver".into()))
        }
    }

    async fn record_seal(&self, previous: Option<String>, signed: &SignedDigest) -> Result<(), StoreError> {
        let link = serde_json::to_string(&signed.link()).expect("a link is JSON");
        let end = signed.digest.period_end.timestamp_micros();
        let digest = signed.digest.path();
        let files: Vec<String> = signed.digest.files.iter().map(|f| f.path.clone()).collect();
        let moved = self
            .inner
            .writer
            .write(move |conn| {
                let moved = conn
                    .prepare_cached("UPDATE seal_state SET head = ?2, head_end_us = ?3 WHERE head IS ?1")?
                    .execute(rusqlite::params![previous, link, end])?;
                if moved == 1 {
                    for path in &files {
                        conn.prepare_cached("UPDATE archive_files SET digest = ?2 WHERE path = ?1")?
                            .execute([path, &digest])?;
                    }
                }
                Ok(moved == 1)
            })
            .await?;
        if moved {
            Ok(())
        } else {
            Err(StoreError::Corrupt("the chain moved on under this sealer".into()))
        }
    }
}

/// Archives and seals the embedded store's events.
#[derive(Clone)]
pub struct Sealer {
    store: SqliteStore,
    archive: FolderArchive,
    signer: Arc<dyn Signer>,
    lock: PathBuf,
    check: PathBuf,
    /// Whether files a crash left unrecorded were looked for (once per process).
    orphans_checked: Arc<std::sync::atomic::AtomicBool>,
}

/// The file that keeps the newest `verify` run's summary, in the data folder.
const CHECK_FILE: &str = "last-check.json";

impl Sealer {
    pub fn new(store: SqliteStore, data_dir: &Path, signer: Arc<dyn Signer>) -> Sealer {
        Sealer {
            store,
            archive: FolderArchive::new(data_dir),
            signer,
            lock: data_dir.join(ARCHIVE_PREFIX).join(".lock"),
            check: data_dir.join(CHECK_FILE),
            orphans_checked: Arc::default(),
        }
    }

    /// Keeps `check` as the newest `verify` run's summary (replacing the one before).
    pub async fn record_check(&self, check: &audit_integrity::CheckSummary) -> std::io::Result<()> {
        let path = self.check.clone();
        let bytes = serde_json::to_vec_pretty(check).expect("a summary is JSON");
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let temporary = path.with_extension("json.tmp");
            let mut file = crate::private::file_options()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&temporary)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&temporary, &path)
        })
        .await
        .expect("writing does not panic")
    }

    /// The newest `verify` run's summary, if one was kept (an unreadable one is logged and
    /// treated as none).
    pub async fn last_check(&self) -> Option<audit_integrity::CheckSummary> {
        let bytes = tokio::fs::read(&self.check).await.ok()?;
        serde_json::from_slice(&bytes)
            .inspect_err(
                |e| tracing::warn!(error = %e, file = %self.check.display(), "the newest check cannot be read"),
            )
            .ok()
    }

    /// The newest digest, as its file holds it.
    pub async fn newest_digest(&self) -> Result<Option<SignedDigest>, SealError> {
        let Some((link, _)) = self.store.seal_state().await?.head else {
            return Ok(None);
        };
        self.read_digest(&link.path).await.map(Some)
    }

    async fn read_digest(&self, path: &str) -> Result<SignedDigest, SealError> {
        let bytes = self
            .archive
            .read(path)
            .await?
            .ok_or_else(|| SealError::Archive(format!("digest {path} is missing")))?;
        SignedDigest::from_bytes(&bytes).map_err(|e| SealError::Archive(format!("digest {path} cannot be read: {e}")))
    }

    pub fn archive(&self) -> &FolderArchive {
        &self.archive
    }

    /// The public key that checks this sealer's digests.
    pub fn public_key(&self) -> &audit_integrity::PublicKey {
        self.signer.public_key()
    }

    pub fn store(&self) -> &SqliteStore {
        &self.store
    }

    /// Holds the archive's lock (against another process) until the guard is dropped.
    async fn locked(&self) -> Result<std::fs::File, SealError> {
        let path = self.lock.clone();
        let file = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            crate::private::create_dir(path.parent().expect("the lock is in a folder"))?;
            let file = crate::private::file_options()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)?;
            file.lock()?;
            Ok(file)
        })
        .await
        .expect("locking does not panic")?;
        Ok(file)
    }

    /// Copies every stored event not yet archived into archive files; returns how many.
    pub async fn archive_now(&self) -> Result<u64, SealError> {
        let _lock = self.locked().await?;
        self.archive_locked().await
    }

    async fn archive_locked(&self) -> Result<u64, SealError> {
        let mut archived = 0;
        let mut from = self.store.seal_state().await?.archived_upto;
        if !self.orphans_checked.swap(true, std::sync::atomic::Ordering::Relaxed) {
            self.remove_orphans(from).await?;
        }
        // What is stored now, and no further: under a steady ingest the run would otherwise
        // chase the newest events and never end (nor let a seal finish).
        let through = self.store.last_seq().await?;
        loop {
            let events = self.store.canonical_events_after(from, through, FILE_EVENTS).await?;
            let Some(&(upto, ..)) = events.last() else {
                return Ok(archived);
            };
            let mut files = Vec::new();
            // One file per day the events were received on (runs in `seq` order).
            for run in events.chunk_by(|a, b| a.1.date_naive() == b.1.date_naive()) {
                let (first, last) = (run[0].0, run[run.len() - 1].0);
                let mut writer = FileWriter::default();
                for (_, _, canonical) in run {
                    writer.push(canonical);
                }
                let path = format!("{}{first:020}-{last:020}.ndjson.gz", day_prefix(&run[0].1));
                let (bytes, file) = writer.finish(path);
                self.archive.write_new(&file.path, &bytes).await?;
                files.push((first, last, file));
            }
            archived += events.len() as u64;
            self.store.record_files(from, upto, files).await?;
            from = upto;
        }
    }

    /// Removes archive files a crash left between writing them and recording them: files of
    /// events after `archived_upto`, which no record and no digest names. Their events are
    /// archived again (possibly grouped otherwise, so under other names).
    async fn remove_orphans(&self, archived_upto: i64) -> Result<(), SealError> {
        for path in self.archive.list(ARCHIVE_PREFIX).await? {
            let Some((first, _)) = crate::store_check::seq_range(&path) else {
                continue;
            };
            if first > archived_upto {
                tracing::warn!(file = %path, "an archive file written but never recorded (the process stopped in between) is removed; its events are archived again");
                tokio::fs::remove_file(self.archive.full(&path)).await?;
            }
        }
        Ok(())
    }

    /// Archives what is new, then seals the period from the end of the newest digest (or the
    /// start of sealing) to now: a signed digest of the files written since, chained to the
    /// newest one. A period with no events gets a digest too. The period ends once every event
    /// it holds was read, so each was stored (and received) before its period's end.
    pub async fn seal(&self) -> Result<SignedDigest, SealError> {
        let _lock = self.locked().await?;
        self.archive_locked().await?;
        let state = self.store.seal_state().await?;
        let start = state.head.as_ref().map_or(state.started, |(_, end)| *end);
        let end = event_model::time::truncate_micros(Utc::now());
        if end <= start {
            return Err(SealError::Archive(format!(
                "the period to seal would end at {end}, not after its start {start}"
            )));
        }
        let files = self.store.unsealed_files().await?;
        let signed = audit_integrity::seal::seal_files(
            &self.archive,
            self.signer.as_ref(),
            start,
            end,
            files,
            state.head.as_ref().map(|(link, _)| link.clone()),
        )
        .await?;
        let previous = state
            .head
            .map(|(link, _)| serde_json::to_string(&link).expect("a link is JSON"));
        self.store.record_seal(previous, &signed).await?;
        Ok(signed)
    }
}

/// Why no proof could be made for an event.
#[derive(Debug, thiserror::Error)]
pub enum NoProof {
    #[error("no event has this id")]
    NotFound,
    #[error("the event is not sealed yet")]
    NotSealedYet,
    #[error(transparent)]
    Failed(#[from] SealError),
}

impl Sealer {
    /// A proof that event `id`, as the store holds it now, is the one sealed in its period: its
    /// leaf is taken from the archive, so a proof for an event changed since does not hold.
    pub async fn proof(&self, id: uuid::Uuid) -> Result<audit_integrity::Proof, NoProof> {
        let stored = self.store.seq_of(id).await.map_err(SealError::from)?;
        let seq = stored.ok_or(NoProof::NotFound)?;
        let (file, digest) = self
            .store
            .archive_file_of(seq)
            .await
            .map_err(SealError::from)?
            .ok_or(NoProof::NotSealedYet)?;
        let digest_path = digest.ok_or(NoProof::NotSealedYet)?;
        let signed = self.read_digest(&digest_path).await?;
        let current = self
            .store
            .canonical_events_between(seq, seq)
            .await
            .map_err(SealError::from)?
            .pop()
            .ok_or(NoProof::NotFound)?;
        let event: serde_json::Value = serde_json::from_slice(&current.2).expect("canonical events are JSON");
        let proof = audit_integrity::seal::prove_in(&self.archive, signed, &file, &id.to_string(), event)
            .await
            .map_err(SealError::from)?;
        Ok(proof)
    }
}
