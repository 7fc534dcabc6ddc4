//! `verify`: the digests' signatures and chain, every archive file's hash and count, each
//! period's Merkle root, and (through [`StoreCheck`]) the live store against the archive. What
//! is wrong is named — digests, files, periods, event ids — in a [`Report`].

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::archive::{ARCHIVE_PREFIX, Archive, Lines};
use crate::digest::{ArchivedFile, DIGESTS_PREFIX, Link, SignedDigest};
use crate::keys::PublicKey;
use crate::merkle::{Hash, RootBuilder, leaf_hash};

/// One thing `verify` found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Problem {
    DigestUnreadable {
        digest: String,
        reason: String,
    },
    BadSignature {
        digest: String,
    },
    DigestMissing {
        expected: String,
        named_by: String,
    },
    ChainBroken {
        digest: String,
        reason: String,
    },
    PeriodGap {
        digest: String,
        expected_start: String,
        start: String,
    },
    NewestDigestMissing {
        expected: String,
    },
    FileMissing {
        file: String,
        digest: String,
    },
    FileChanged {
        file: String,
        digest: String,
    },
    FileCountMismatch {
        file: String,
        digest: String,
        listed: u64,
        found: u64,
    },
    RootMismatch {
        digest: String,
    },
    EventChanged {
        id: String,
        file: String,
    },
    EventRemoved {
        id: String,
        file: String,
    },
    EventAdded {
        id: String,
        received_at: String,
    },
    EventUnsealed {
        id: String,
        received_at: String,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use Problem::*;
        match self {
            DigestUnreadable { digest, reason } => write!(f, "digest {digest} cannot be read: {reason}"),
            BadSignature { digest } => write!(f, "digest {digest}: the signature is not the key's"),
            DigestMissing { expected, named_by } => {
                write!(
                    f,
                    "digest {expected} is missing (named as the previous one by {named_by})"
                )
            }
            ChainBroken { digest, reason } => write!(f, "digest {digest} breaks the chain: {reason}"),
            PeriodGap {
                digest,
                expected_start,
                start,
            } => write!(
                f,
                "digest {digest} starts at {start}, not at {expected_start} where the previous period ended"
            ),
            NewestDigestMissing { expected } => write!(f, "the newest digest {expected} is missing"),
            FileMissing { file, digest } => write!(f, "archive file {file} (in {digest}) is missing"),
            FileChanged { file, digest } => {
                write!(
                    f,
                    "archive file {file} does not have the SHA-256 that {digest} lists: it was changed"
                )
            }
            FileCountMismatch {
                file,
                digest,
                listed,
                found,
            } => write!(f, "archive file {file} holds {found} events; {digest} lists {listed}"),
            RootMismatch { digest } => write!(f, "the events of {digest} do not have its Merkle root"),
            EventChanged { id, file } => write!(
                f,
                "event {id} differs from the archived one in {file}: changed in the store"
            ),
            EventRemoved { id, file } => write!(f, "event {id} (archived in {file}) is not in the store: removed"),
            EventAdded { id, received_at } => write!(
                f,
                "event {id} (received_at {received_at}) is in the store but in no archive file of its period: added behind the API"
            ),
            EventUnsealed { id, received_at } => {
                write!(
                    f,
                    "event {id} (received_at {received_at}) is older than the seal delay and no digest covers it"
                )
            }
        }
    }
}

/// What `verify` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub digests: u64,
    pub files: u64,
    pub events: u64,
    /// The end of the newest digest's period.
    #[serde(with = "event_model::time::rfc3339_opt")]
    pub sealed_through: Option<DateTime<Utc>>,
    pub newest_digest: Option<String>,
    pub key_fingerprint: String,
    pub problems: Vec<Problem>,
    /// What is worth knowing but proves nothing wrong (files not sealed yet, identical repeats).
    pub notes: Vec<String>,
}

/// Events a store check names one by one in a report before the rest are only counted.
pub const MOST_NAMED: usize = 1_000;

impl Report {
    pub fn holds(&self) -> bool {
        self.problems.is_empty()
    }

    /// Adds a store check's problem with one event (`named` counts them): the first
    /// [`MOST_NAMED`] by name, then a note that the rest are not named.
    pub fn name_event(&mut self, named: &mut usize, problem: Problem) {
        *named += 1;
        if *named <= MOST_NAMED {
            self.problems.push(problem);
        } else if *named == MOST_NAMED + 1 {
            self.notes
                .push(format!("only the first {MOST_NAMED} events found wrong are named"));
        }
    }
}

/// The live store's side of `verify`: given each archive file's events, it names events changed
/// or removed; at the end, events the archive does not hold. A file that is missing or changed
/// (already reported) comes with no events: its events cannot be compared, but it was written.
#[async_trait]
pub trait StoreCheck: Send {
    async fn file(&mut self, file: &str, events: Option<Arc<Lines>>, report: &mut Report);
    async fn finish(&mut self, report: &mut Report);
}

/// No store: `verify` of the archive and its digests alone (offline, with a public key file).
pub struct NoStore;

#[async_trait]
impl StoreCheck for NoStore {
    async fn file(&mut self, _: &str, _: Option<Arc<Lines>>, _: &mut Report) {}
    async fn finish(&mut self, _: &mut Report) {}
}

/// Which periods to check: digests whose period ends after `from` and starts before `to`.
/// The chain is followed from the first digest whatever the range.
#[derive(Debug, Clone, Copy, Default)]
pub struct Range {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Checks the archive's digests and files, and the store through `store` ([`NoStore`] for none). `head` is the
/// newest digest the sealer recorded (the store's own record), when there is one to compare.
pub async fn verify(
    archive: &dyn Archive,
    key: &PublicKey,
    range: Range,
    head: Option<&Link>,
    store: &mut dyn StoreCheck,
) -> std::io::Result<Report> {
    let mut report = Report {
        key_fingerprint: key.fingerprint(),
        ..Report::default()
    };
    let mut previous: Option<SignedDigest> = None;
    let mut listed_files = HashSet::new();
    let mut spare = Vec::new();
    for path in archive.list(DIGESTS_PREFIX).await? {
        if !path.ends_with(".json") {
            continue;
        }
        let Some(bytes) = archive.read(&path).await? else {
            continue;
        };
        let signed = match SignedDigest::from_bytes(&bytes) {
            Ok(signed) => signed,
            Err(e) => {
                report.problems.push(Problem::DigestUnreadable {
                    digest: path,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        report.digests += 1;
        check_digest(&path, &signed, previous.as_ref(), key, range, &mut report);
        for file in &signed.digest.files {
            listed_files.insert(file.path.clone());
        }
        let in_range = range.from.is_none_or(|from| signed.digest.period_end > from)
            && range.to.is_none_or(|to| signed.digest.period_start < to);
        if in_range {
            check_files(archive, &path, &signed, &mut report, store, &mut spare).await?;
        }
        report.sealed_through = Some(signed.digest.period_end);
        report.newest_digest = Some(path);
        previous = Some(signed);
    }
    if let Some(head) = head
        && report.newest_digest.as_deref() != Some(head.path.as_str())
        && !report
            .problems
            .iter()
            .any(|p| matches!(p, Problem::DigestMissing { expected, .. } if *expected == head.path))
    {
        report.problems.push(Problem::NewestDigestMissing {
            expected: head.path.clone(),
        });
    }
    let unsealed = archive
        .list(ARCHIVE_PREFIX)
        .await?
        .into_iter()
        .filter(|f| !listed_files.contains(f))
        .count();
    if unsealed > 0 {
        report.notes.push(format!(
            "{unsealed} archive files are in no digest yet (written after the newest seal, or left by a crash)"
        ));
    }
    store.finish(&mut report).await;
    Ok(report)
}

fn check_digest(
    path: &str,
    signed: &SignedDigest,
    previous: Option<&SignedDigest>,
    key: &PublicKey,
    range: Range,
    report: &mut Report,
) {
    let digest = &signed.digest;
    if digest.path() != path {
        report.problems.push(Problem::ChainBroken {
            digest: path.to_owned(),
            reason: format!(
                "its period ends at {}, which is digest {}",
                digest.period_end,
                digest.path()
            ),
        });
    }
    if !signed.signed_by(key) {
        report.problems.push(Problem::BadSignature {
            digest: path.to_owned(),
        });
    }
    match (previous, &digest.previous) {
        (None, None) => {}
        (None, Some(link)) => {
            // The first digest present names one before it: missing, unless a range was asked
            // for (then earlier digests may have been moved out on purpose).
            if range.from.is_none() {
                report.problems.push(Problem::DigestMissing {
                    expected: link.path.clone(),
                    named_by: path.to_owned(),
                });
            }
        }
        (Some(before), None) => report.problems.push(Problem::ChainBroken {
            digest: path.to_owned(),
            reason: format!(
                "it names no previous digest, but {} comes before it",
                before.digest.path()
            ),
        }),
        (Some(before), Some(link)) => {
            let expected = before.link();
            if link.path != expected.path {
                report.problems.push(Problem::DigestMissing {
                    expected: link.path.clone(),
                    named_by: path.to_owned(),
                });
            } else if *link != expected {
                report.problems.push(Problem::ChainBroken {
                    digest: path.to_owned(),
                    reason: format!("the hash or signature it holds of {} is not that digest's", link.path),
                });
            } else if digest.period_start != before.digest.period_end {
                report.problems.push(Problem::PeriodGap {
                    digest: path.to_owned(),
                    expected_start: event_model::time::format(&before.digest.period_end),
                    start: event_model::time::format(&digest.period_start),
                });
            }
        }
    }
}

/// One archive file as `verify` reads it: its bytes against the digest's listing, then its
/// lines and their leaves.
enum FileRead {
    Missing,
    Changed,
    Unreadable(std::io::Error),
    Read { lines: Lines, leaves: Vec<Hash> },
}

/// The buffers a file was read with, handed on to a later file (see [`Lines::read_reusing`]):
/// two sets serve a whole `verify` (one file compared, the next read meanwhile).
#[derive(Default)]
struct Buffers {
    bytes: Vec<u8>,
    lines: Option<Lines>,
    leaves: Vec<Hash>,
}

/// Reads `file` with `buffers`; gives the compressed bytes' buffer back beside what it read.
async fn read_listed(
    archive: &dyn Archive,
    file: &ArchivedFile,
    mut buffers: Buffers,
) -> std::io::Result<(FileRead, Vec<u8>)> {
    if !archive.read_into(&file.path, &mut buffers.bytes).await? {
        return Ok((FileRead::Missing, buffers.bytes));
    }
    let sha256 = file.sha256.clone();
    // Hashing and decompressing take a core: off the task, so that the store's side of the
    // file before runs meanwhile on the other.
    tokio::task::spawn_blocking(move || {
        let Buffers {
            bytes,
            lines,
            mut leaves,
        } = buffers;
        if hex::encode(Sha256::digest(&bytes)) != sha256 {
            return (FileRead::Changed, bytes);
        }
        let read = match Lines::read_reusing(&bytes, lines) {
            Ok(lines) => {
                leaves.clear();
                leaves.extend(lines.iter().map(leaf_hash));
                FileRead::Read { lines, leaves }
            }
            Err(e) => FileRead::Unreadable(e),
        };
        (read, bytes)
    })
    .await
    .map_err(std::io::Error::other)
}

/// A digest's files in order, each read (and hashed) while the store compares the one before.
async fn check_files(
    archive: &dyn Archive,
    digest_path: &str,
    signed: &SignedDigest,
    report: &mut Report,
    store: &mut dyn StoreCheck,
    spare: &mut Vec<Buffers>,
) -> std::io::Result<()> {
    let mut root = RootBuilder::new();
    let mut whole = true;
    let files = &signed.digest.files;
    let mut ahead = match files.first() {
        Some(first) => Some(read_listed(archive, first, spare.pop().unwrap_or_default()).await?),
        None => None,
    };
    for (i, file) in files.iter().enumerate() {
        report.files += 1;
        let (read, bytes) = ahead.take().expect("each file is read ahead");
        let mut leaves_read = Vec::new();
        let lines = match read {
            FileRead::Missing => {
                report.problems.push(Problem::FileMissing {
                    file: file.path.clone(),
                    digest: digest_path.to_owned(),
                });
                None
            }
            FileRead::Changed => {
                report.problems.push(Problem::FileChanged {
                    file: file.path.clone(),
                    digest: digest_path.to_owned(),
                });
                None
            }
            FileRead::Unreadable(e) => {
                report.problems.push(Problem::ChainBroken {
                    digest: digest_path.to_owned(),
                    reason: format!("archive file {} cannot be read: {e}", file.path),
                });
                None
            }
            FileRead::Read { lines, leaves } => {
                if leaves.len() as u64 != file.events {
                    report.problems.push(Problem::FileCountMismatch {
                        file: file.path.clone(),
                        digest: digest_path.to_owned(),
                        listed: file.events,
                        found: leaves.len() as u64,
                    });
                }
                report.events += leaves.len() as u64;
                for leaf in &leaves {
                    root.push(*leaf);
                }
                leaves_read = leaves;
                Some(Arc::new(lines))
            }
        };
        whole &= lines.is_some();
        let compared = store.file(&file.path, lines.clone(), report);
        match files.get(i + 1) {
            Some(next) => {
                let read = read_listed(archive, next, spare.pop().unwrap_or_default());
                let (_, next) = futures_util::future::join(compared, read).await;
                ahead = Some(next?);
            }
            None => compared.await,
        }
        spare.push(Buffers {
            bytes,
            lines: lines.and_then(|lines| Arc::try_unwrap(lines).ok()),
            leaves: leaves_read,
        });
    }
    if whole && hex::encode(root.root()) != signed.digest.merkle_root {
        report.problems.push(Problem::RootMismatch {
            digest: digest_path.to_owned(),
        });
    }
    Ok(())
}
