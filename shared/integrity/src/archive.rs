//! Archive files: gzip-compressed NDJSON, one canonical event per line, under
//! `archive/dt=YYYY-MM-DD/` by the day the events were received. Written once, never changed;
//! where they are kept (the data folder, an S3 bucket with Object Lock) is behind [`Archive`].

use std::io::{BufRead, Write};

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

/// The lines (canonical events) of an archive file, without their newlines.
pub fn lines(bytes: &[u8]) -> impl Iterator<Item = std::io::Result<Vec<u8>>> + '_ {
    std::io::BufReader::new(GzDecoder::new(bytes)).split(b'\n')
}

/// The leaf hashes of an archive file's events, in order.
pub fn leaves(bytes: &[u8]) -> std::io::Result<Vec<Hash>> {
    lines(bytes).map(|line| line.map(|l| leaf_hash(&l))).collect()
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
        let read: Vec<Vec<u8>> = lines(&bytes).collect::<Result<_, _>>().unwrap();
        assert_eq!(read, vec![br#"{"a":1}"#.to_vec(), br#"{"b":2}"#.to_vec()]);
        assert_eq!(leaves(&bytes).unwrap()[1], leaf_hash(br#"{"b":2}"#));
        assert_eq!(
            day_prefix(&"2026-12-07T23:59:59Z".parse().unwrap()),
            "archive/dt=2026-12-07/"
        );
    }
}
