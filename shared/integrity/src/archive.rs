//! Archive files: gzip-compressed NDJSON, one canonical event per line, under
//! `archive/dt=YYYY-MM-DD/` by the day the events were received. Written once, never changed;
//! where they are kept (the data folder, an S3 bucket with Object Lock) is behind [`Archive`].

use std::io::{Read, Write};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use crate::digest::ArchivedFile;
use crate::merkle::{Hash, leaf_hash};

/// Where archive files live.
pub const ARCHIVE_PREFIX: &str = "archive/";

/// The folder of the events received on `day`'s date (UTC).
pub fn day_prefix(day: &DateTime<Utc>) -> String {
    format!("{ARCHIVE_PREFIX}dt={}/", day.format("%Y-%m-%d"))
}

/// Where archive files and digests are kept, read back by `verify` and by proofs.
#[async_trait]
pub trait Archive: Send + Sync {
    /// Every path under `prefix`, in name order.
    async fn list(&self, prefix: &str) -> std::io::Result<Vec<String>>;
    /// The bytes at `path`, or `None` if there is nothing there.
    async fn read(&self, path: &str) -> std::io::Result<Option<Vec<u8>>>;
    /// [`Archive::read`] into `buffer` (its bytes replaced), for a caller reading file after file
    /// with one buffer (see [`Lines::read_reusing`]); `false` if there is nothing at `path`.
    async fn read_into(&self, path: &str, buffer: &mut Vec<u8>) -> std::io::Result<bool> {
        let bytes = self.read(path).await?;
        let found = bytes.is_some();
        *buffer = bytes.unwrap_or_default();
        Ok(found)
    }
    /// Writes `bytes` at `path`, which must not hold anything else yet (the same bytes again are
    /// accepted: a repeated write after a crash).
    async fn write_new(&self, path: &str, bytes: &[u8]) -> std::io::Result<()>;
}

/// Builds one archive file.
pub struct FileWriter {
    gz: GzEncoder<Vec<u8>>,
    events: u64,
}

impl Default for FileWriter {
    fn default() -> Self {
        FileWriter {
            // Level 1: archiving is on the ingest path's CPU; level 6 took a third more time to
            // seal 200,000 events for 35 % smaller files (BENCHMARKS.md, issue 15).
            gz: GzEncoder::new(Vec::new(), Compression::fast()),
            events: 0,
        }
    }
}

impl FileWriter {
    /// Adds one event, by its canonical bytes.
    pub fn push(&mut self, canonical: &[u8]) {
        self.gz.write_all(canonical).expect("writing to memory");
        self.gz.write_all(b"\n").expect("writing to memory");
        self.events += 1;
    }

    pub fn events(&self) -> u64 {
        self.events
    }

    /// The file's bytes and how a digest will list it at `path`.
    pub fn finish(self, path: String) -> (Vec<u8>, ArchivedFile) {
        let bytes = self.gz.finish().expect("writing to memory");
        let file = ArchivedFile::of(path, &bytes, self.events);
        (bytes, file)
    }
}

/// An archive file's text, decompressed in one buffer, and where each line ends: its lines are
/// the canonical events.
#[derive(Default)]
pub struct Lines {
    text: Vec<u8>,
    ends: Vec<usize>,
}

impl Lines {
    /// Decompresses an archive file (an error if it is not gzip, or cut short).
    pub fn read(bytes: &[u8]) -> std::io::Result<Lines> {
        Lines::read_reusing(bytes, None)
    }

    /// [`Lines::read`] into the buffers of `spare`, lines no longer needed: reading file after
    /// file, a few buffers serve them all. (A file's text is up to ~17 MB: freed and allocated
    /// again file after file, glibc kept the freed ones — its mmap threshold slides up to the
    /// largest block freed — and `verify`'s peak memory doubled from 100,000 to 1,000,000
    /// events.)
    pub fn read_reusing(bytes: &[u8], spare: Option<Lines>) -> std::io::Result<Lines> {
        let Lines { mut text, mut ends } = spare.unwrap_or_default();
        text.clear();
        ends.clear();
        // Canonical events compress about 4.5 times at level 1: one allocation for most files.
        text.reserve(bytes.len().saturating_mul(5));
        GzDecoder::new(bytes).read_to_end(&mut text)?;
        ends.extend(memchr::memchr_iter(b'\n', &text));
        if text.last().is_some_and(|&b| b != b'\n') {
            ends.push(text.len());
        }
        Ok(Lines { text, ends })
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Line `i` without its newline.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] + 1 };
        Some(&self.text[start..end])
    }

    /// The lines without their newlines, in order (an empty file has none).
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len()).map(|i| self.get(i).expect("a line of the file"))
    }
}

/// The leaf hashes of an archive file's events, in order.
pub fn leaves(bytes: &[u8]) -> std::io::Result<Vec<Hash>> {
    Ok(Lines::read(bytes)?.iter().map(leaf_hash).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest as _, Sha256};

    #[test]
    fn a_file_holds_its_lines_in_order_and_says_its_hash_and_count() {
        let mut w = FileWriter::default();
        w.push(br#"{"a":1}"#);
        w.push(br#"{"b":2}"#);
        let (bytes, file) = w.finish("archive/dt=2026-12-07/1.ndjson.gz".into());
        assert_eq!(file.events, 2);
        assert_eq!(file.bytes, bytes.len() as u64);
        assert_eq!(file.sha256, hex::encode(Sha256::digest(&bytes)));
        let lines = Lines::read(&bytes).unwrap();
        assert_eq!(lines.iter().collect::<Vec<_>>(), [br#"{"a":1}"#, br#"{"b":2}"#]);
        for (text, expected) in [
            (&b""[..], &[][..]),
            (b"\n", &[&b""[..]][..]),
            (b"a", &[&b"a"[..]][..]),
            (b"a\n\nb\n", &[&b"a"[..], b"", b"b"][..]),
        ] {
            let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
            gz.write_all(text).unwrap();
            let lines = Lines::read(&gz.finish().unwrap()).unwrap();
            assert_eq!(lines.iter().collect::<Vec<_>>(), expected);
            assert_eq!(lines.len(), expected.len());
            assert_eq!(lines.get(expected.len()), None);
        }
        assert_eq!(leaves(&bytes).unwrap()[1], leaf_hash(br#"{"b":2}"#));
        assert_eq!(
            day_prefix(&"2026-12-07T23:59:59Z".parse().unwrap()),
            "archive/dt=2026-12-07/"
        );
    }
}
