//! Sealing a period: read the period's archive files, compute the Merkle root of their events,
//! sign the digest and write it next to the archive. The local sealer knows its files from its
//! database; the cloud archiver names each file by when it was written ([`file_path`]), so a
//! sealer finds a period's files from the archive's listing alone.

use chrono::{DateTime, Duration, Utc};

use crate::archive::{ARCHIVE_PREFIX, Archive, FileWriter, Lines, day_prefix, leaves};
use crate::digest::{ArchivedFile, DIGEST_VERSION, DIGESTS_PREFIX, Digest, Link, SignedDigest, parse_stamp, stamp};
use crate::keys::{KeyError, Signer};
use crate::merkle::RootBuilder;

/// Why a period could not be sealed (nothing is written for it then).
#[derive(Debug, thiserror::Error)]
pub enum SealFailed {
    #[error("the archive: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("{0}")]
    Archive(String),
}

/// Seals the period `start..end` over `files` as recorded when they were written (in the order
/// their events are leaves): reads each file for its leaves, signs the digest chained to
/// `previous` and writes it.
pub async fn seal_files(
    archive: &dyn Archive,
    signer: &dyn Signer,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    files: Vec<ArchivedFile>,
    previous: Option<Link>,
) -> Result<SignedDigest, SealFailed> {
    let mut root = RootBuilder::new();
    for file in &files {
        for leaf in leaves(&read_file(archive, &file.path).await?)? {
            root.push(leaf);
        }
    }
    sign_and_write(archive, signer, start, end, files, root, previous).await
}

/// [`seal_files`] over files known by their paths alone (the cloud archive's listing): each is
/// read once, for its hash and count and its leaves.
async fn seal_paths(
    archive: &dyn Archive,
    signer: &dyn Signer,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    paths: Vec<String>,
    previous: Option<Link>,
) -> Result<SignedDigest, SealFailed> {
    let mut root = RootBuilder::new();
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let bytes = read_file(archive, &path).await?;
        let file_leaves = leaves(&bytes)?;
        files.push(ArchivedFile::of(path, &bytes, file_leaves.len() as u64));
        for leaf in file_leaves {
            root.push(leaf);
        }
    }
    sign_and_write(archive, signer, start, end, files, root, previous).await
}

async fn read_file(archive: &dyn Archive, path: &str) -> Result<Vec<u8>, SealFailed> {
    archive
        .read(path)
        .await?
        .ok_or_else(|| SealFailed::Archive(format!("archive file {path} is missing")))
}

/// The digest of `files` (whose events' tree is `root`), signed, chained and written.
async fn sign_and_write(
    archive: &dyn Archive,
    signer: &dyn Signer,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    files: Vec<ArchivedFile>,
    root: RootBuilder,
    previous: Option<Link>,
) -> Result<SignedDigest, SealFailed> {
    let public = signer.public_key();
    let digest = Digest {
        version: DIGEST_VERSION,
        period_start: start,
        period_end: end,
        events: root.size(),
        merkle_root: hex::encode(root.root()),
        files,
        previous,
        algorithm: public.algorithm(),
        key_fingerprint: public.fingerprint(),
    };
    let signed = digest.sign(signer).await?;
    archive.write_new(&signed.digest.path(), &signed.to_bytes()).await?;
    Ok(signed)
}

/// The path of an archive file of events received on `day`, written at `written` by the batch
/// that `batch` names (a stream sequence number): `archive/dt=DAY/<written>-<batch>.ndjson.gz`.
pub fn file_path(day: &DateTime<Utc>, written: &DateTime<Utc>, batch: &str) -> String {
    let batch: String = batch.chars().filter(char::is_ascii_alphanumeric).take(64).collect();
    format!("{}{}-{batch}.ndjson.gz", day_prefix(day), stamp(written))
}

/// When the file at `path` was written, from its name ([`file_path`]).
pub fn written_at(path: &str) -> Option<DateTime<Utc>> {
    parse_stamp(path.rsplit('/').next()?)
}

/// Writes `events` (received time, canonical bytes; in stream order) into one archive file per
/// day they were received on, named as written `now` by `batch`. Returns the files.
pub async fn write_batch(
    archive: &dyn Archive,
    events: &[(DateTime<Utc>, Vec<u8>)],
    batch: &str,
    now: DateTime<Utc>,
) -> std::io::Result<Vec<ArchivedFile>> {
    let mut days: Vec<(chrono::NaiveDate, FileWriter, DateTime<Utc>)> = Vec::new();
    for (received, canonical) in events {
        let day = received.date_naive();
        match days.iter_mut().find(|(d, ..)| *d == day) {
            Some((_, writer, _)) => writer.push(canonical),
            None => {
                let mut writer = FileWriter::default();
                writer.push(canonical);
                days.push((day, writer, *received));
            }
        }
    }
    let mut files = Vec::with_capacity(days.len());
    for (_, writer, received) in days {
        let (bytes, file) = writer.finish(file_path(&received, &now, batch));
        archive.write_new(&file.path, &bytes).await?;
        files.push(file);
    }
    Ok(files)
}

/// The newest digest in `archive`, looked for day by day back from `now` (every period has a
/// digest, so it is near unless sealing stopped), then in the whole listing.
pub async fn newest_digest(archive: &dyn Archive, now: DateTime<Utc>) -> Result<Option<SignedDigest>, SealFailed> {
    let mut newest = None;
    for back in 0..3 {
        let day = now - Duration::days(back);
        let listed = archive
            .list(&format!("{DIGESTS_PREFIX}dt={}/", day.format("%Y-%m-%d")))
            .await?;
        if let Some(path) = listed.into_iter().next_back() {
            newest = Some(path);
            break;
        }
    }
    if newest.is_none() {
        newest = archive.list(DIGESTS_PREFIX).await?.into_iter().next_back();
    }
    match newest {
        Some(path) => read_digest(archive, &path).await.map(Some),
        None => Ok(None),
    }
}

/// The digest at `path`, which a listing found.
async fn read_digest(archive: &dyn Archive, path: &str) -> Result<SignedDigest, SealFailed> {
    let bytes = archive
        .read(path)
        .await?
        .ok_or_else(|| SealFailed::Archive(format!("digest {path} is missing")))?;
    SignedDigest::from_bytes(&bytes).map_err(|e| SealFailed::Archive(format!("digest {path} cannot be read: {e}")))
}

/// The digests of the periods that ended after `after` (every one when `None`), oldest first,
/// at most `max`: what a reader of sealed periods (the kept counts) has not read yet.
pub async fn digests_after(
    archive: &dyn Archive,
    after: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    max: usize,
) -> Result<Vec<SignedDigest>, SealFailed> {
    let later = |path: &String| digest_end(path).is_some_and(|end| after.is_none_or(|a| end > a));
    let mut paths = Vec::new();
    match after {
        None => paths.extend(archive.list(DIGESTS_PREFIX).await?.into_iter().filter(later)),
        Some(after) => {
            let mut day = after.date_naive();
            while day <= now.date_naive() && paths.len() < max {
                let prefix = format!("{DIGESTS_PREFIX}dt={}/", day.format("%Y-%m-%d"));
                paths.extend(archive.list(&prefix).await?.into_iter().filter(later));
                day = day.succ_opt().expect("a day after");
            }
        }
    }
    let mut digests = Vec::new();
    for path in paths.iter().take(max) {
        digests.push(read_digest(archive, path).await?);
    }
    Ok(digests)
}

/// The paths of the archive files written in `start..end`, in name order (by written time, then
/// batch), from the day folders their events can be in: received at most `lag` before they were
/// written.
pub async fn files_written(
    archive: &dyn Archive,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    lag: Duration,
) -> Result<Vec<String>, SealFailed> {
    let mut paths = Vec::new();
    let mut day = (start - lag).date_naive();
    while day <= end.date_naive() {
        let prefix = format!("{ARCHIVE_PREFIX}dt={}/", day.format("%Y-%m-%d"));
        paths.extend(
            archive
                .list(&prefix)
                .await?
                .into_iter()
                .filter(|p| written_at(p).is_some_and(|w| start <= w && w < end)),
        );
        day = day.succ_opt().expect("a day after");
    }
    paths.sort_by(|a, b| file_name(a).cmp(file_name(b)).then(a.cmp(b)));
    Ok(paths)
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The first multiple of `interval` since the epoch at or before `t`.
pub fn period_floor(t: DateTime<Utc>, interval: Duration) -> DateTime<Utc> {
    let step = interval.num_microseconds().unwrap_or(3_600_000_000).max(1);
    DateTime::from_timestamp_micros(t.timestamp_micros().div_euclid(step) * step).unwrap_or(t)
}

/// Seals every period of `interval` that ended at least `grace` before `now` and has no digest
/// yet (at most `max_periods` of them, oldest first), each over the files written in it, chained
/// to the newest digest. The first period starts at the interval boundary before the oldest
/// file's writing (or ends now, empty, when nothing was archived yet). Two sealers at once are
/// safe: periods end at interval boundaries, so both would write the same digest path, and the
/// archive keeps the first.
pub async fn seal_due(
    archive: &dyn Archive,
    signer: &dyn Signer,
    interval: Duration,
    grace: Duration,
    lag: Duration,
    now: DateTime<Utc>,
    max_periods: usize,
) -> Result<Vec<SignedDigest>, SealFailed> {
    let last_end = period_floor(now - grace, interval);
    let mut head = newest_digest(archive, now).await?;
    let mut start = match &head {
        Some(d) => d.digest.period_end,
        None => {
            let oldest = archive
                .list(ARCHIVE_PREFIX)
                .await?
                .iter()
                .filter_map(|p| written_at(p))
                .min();
            match oldest {
                Some(t) => period_floor(t, interval),
                None => last_end - interval,
            }
        }
    };
    let mut sealed = Vec::new();
    while sealed.len() < max_periods {
        let end = period_floor(start, interval) + interval;
        if end > last_end {
            break;
        }
        let paths = files_written(archive, start, end, lag).await?;
        let previous = head.as_ref().map(SignedDigest::link);
        let digest = seal_paths(archive, signer, start, end, paths, previous).await?;
        start = end;
        head = Some(digest.clone());
        sealed.push(digest);
    }
    Ok(sealed)
}

/// Why an event in a cloud archive has no proof (yet).
#[derive(Debug, thiserror::Error)]
pub enum Unproven {
    #[error("the event is not archived yet")]
    NotArchived,
    #[error("the event's period is not sealed yet")]
    NotSealed,
    #[error(transparent)]
    Failed(#[from] SealFailed),
}

impl From<std::io::Error> for Unproven {
    fn from(e: std::io::Error) -> Self {
        Unproven::Failed(e.into())
    }
}

/// When the period of the digest at `path` ended, from its name.
fn digest_end(path: &str) -> Option<DateTime<Utc>> {
    parse_stamp(path.rsplit('/').next()?.strip_suffix(".json")?)
}

/// A proof for event `id` (received at `received_at`; `current` is the event as the store holds
/// it now) in an archive whose files are named by when they were written ([`file_path`]): the
/// first file of its day written after it was received that holds it, and the digest whose
/// period that file was written in.
pub async fn prove(
    archive: &dyn Archive,
    id: &str,
    received_at: DateTime<Utc>,
    current: serde_json::Value,
) -> Result<crate::Proof, Unproven> {
    let mut found = None;
    for path in archive.list(&day_prefix(&received_at)).await? {
        if written_at(&path).is_none_or(|w| w < received_at) {
            continue;
        }
        let Some(bytes) = archive.read(&path).await? else {
            continue;
        };
        if Lines::read(&bytes).is_ok_and(|lines| lines.iter().any(|line| holds_id(line, id))) {
            found = Some(path);
            break;
        }
    }
    let file = found.ok_or(Unproven::NotArchived)?;
    let written = written_at(&file).expect("listed by its written time");
    // The digest of the period the file was written in: the first to end after it.
    let mut digest = None;
    for day in [written, written + Duration::days(1)] {
        let prefix = format!("{DIGESTS_PREFIX}dt={}/", day.format("%Y-%m-%d"));
        if let Some(path) = archive
            .list(&prefix)
            .await?
            .into_iter()
            .find(|p| digest_end(p).is_some_and(|end| end > written))
        {
            digest = Some(path);
            break;
        }
    }
    let digest_path = digest.ok_or(Unproven::NotSealed)?;
    let signed = read_digest(archive, &digest_path).await?;
    Ok(prove_in(archive, signed, &file, id, current).await?)
}

/// A proof for event `id`, archived in `file`, which `signed` lists: the leaves of every file
/// of the digest, the event's index among them. `current` is the event as stored now.
pub async fn prove_in(
    archive: &dyn Archive,
    signed: SignedDigest,
    file: &str,
    id: &str,
    current: serde_json::Value,
) -> Result<crate::Proof, SealFailed> {
    let mut all = Vec::with_capacity(signed.digest.events as usize);
    let mut index = None;
    for listed in &signed.digest.files {
        let bytes = archive
            .read(&listed.path)
            .await?
            .ok_or_else(|| SealFailed::Archive(format!("archive file {} is missing", listed.path)))?;
        for line in Lines::read(&bytes)?.iter() {
            if listed.path == file && index.is_none() && holds_id(line, id) {
                index = Some(all.len());
            }
            all.push(crate::merkle::leaf_hash(line));
        }
    }
    let index = index.ok_or_else(|| SealFailed::Archive(format!("{file} does not hold event {id}")))?;
    crate::Proof::build(current, &all, index, signed)
        .ok_or_else(|| SealFailed::Archive("the event's leaf is outside its tree".into()))
}

/// Whether a canonical archive line is event `id`'s.
fn holds_id(line: &[u8], id: &str) -> bool {
    crate::canonical::canonical_id(line) == Some(id)
}
