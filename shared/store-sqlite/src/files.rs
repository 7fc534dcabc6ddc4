//! Export files in the data folder, handed out through HMAC-signed, expiring links: the local
//! twin of an S3 multipart upload and a presigned GET.
//!
//! A file is written as `<key>.part` and renamed into place only once complete and fsynced, so a
//! link never serves half an export. A link is
//! `<base>/downloads/<key>?filename=<name>&expires=<unix seconds>&signature=<hex>`, where the
//! signature is HMAC-SHA256 over the key, the file name and the expiry; the server that serves
//! it checks the signature in constant time and refuses it once expired.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use audit_storage::{DownloadLink, ExportObjects, ExportUpload, StoreError};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::AsyncWriteExt;

type HmacSha256 = Hmac<Sha256>;

/// Signs and checks download links.
#[derive(Clone)]
pub struct DownloadSigner {
    secret: Vec<u8>,
    base_url: String,
    ttl: Duration,
}

/// Why a download link was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the download link's signature does not match")]
    BadSignature,
    #[error("the download link has expired")]
    Expired,
}

impl DownloadSigner {
    /// `base_url` is where the server is reached (`http://127.0.0.1:8080`); links live `ttl`.
    pub fn new(secret: &[u8], base_url: &str, ttl: Duration) -> Self {
        DownloadSigner {
            secret: secret.to_vec(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            ttl,
        }
    }

    /// A link to `key`, downloaded as `file_name`, valid from `now` for the signer's lifetime.
    pub fn link(&self, key: &str, file_name: &str, now: DateTime<Utc>) -> DownloadLink {
        let expires_at = now + self.ttl;
        let expires = expires_at.timestamp();
        let signature = hex::encode(self.mac(key, file_name, expires).finalize().into_bytes());
        DownloadLink {
            url: format!(
                "{}/downloads/{key}?filename={}&expires={expires}&signature={signature}",
                self.base_url,
                encode_component(file_name)
            ),
            expires_at: DateTime::from_timestamp(expires, 0).unwrap_or(expires_at),
        }
    }

    /// Checks a link's parts as the server received them.
    pub fn verify(
        &self,
        key: &str,
        file_name: &str,
        expires: i64,
        signature: &str,
        now: DateTime<Utc>,
    ) -> Result<(), LinkError> {
        let given = hex::decode(signature).map_err(|_| LinkError::BadSignature)?;
        self.mac(key, file_name, expires)
            .verify_slice(&given)
            .map_err(|_| LinkError::BadSignature)?;
        if now.timestamp() >= expires {
            return Err(LinkError::Expired);
        }
        Ok(())
    }

    fn mac(&self, key: &str, file_name: &str, expires: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
        for part in [
            b"audit-download-v1".as_slice(),
            key.as_bytes(),
            file_name.as_bytes(),
            expires.to_string().as_bytes(),
        ] {
            mac.update(part);
            mac.update(b"\0");
        }
        mac
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn encode_component(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Export files under a folder. Like the bucket's lifecycle rule, files older than `expiry` are
/// removed ([`FileExports::remove_expired`]); new exports are refused while the files take more
/// than `budget_bytes`.
#[derive(Clone)]
pub struct FileExports {
    root: PathBuf,
    signer: DownloadSigner,
    expiry: std::time::Duration,
    budget_bytes: u64,
}

/// The folder, under the root, that holds every export file.
const EXPORTS_DIR: &str = "exports";

impl FileExports {
    /// Export files under `root`, kept one day, with a budget of 1 GiB.
    pub fn new(root: &Path, signer: DownloadSigner) -> Self {
        FileExports {
            root: root.to_path_buf(),
            signer,
            expiry: std::time::Duration::from_secs(24 * 3600),
            budget_bytes: 1 << 30,
        }
    }

    /// The same with another expiry and size budget.
    pub fn with_limits(self, expiry: std::time::Duration, budget_bytes: u64) -> Self {
        FileExports {
            expiry,
            budget_bytes,
            ..self
        }
    }

    /// Removes export files (finished or abandoned) last written more than the expiry ago;
    /// returns how many were removed.
    pub async fn remove_expired(&self) -> usize {
        let dir = self.root.join(EXPORTS_DIR);
        let expiry = self.expiry;
        tokio::task::spawn_blocking(move || {
            let mut removed = 0;
            for (path, meta) in files_in(&dir) {
                let age = meta.modified().ok().and_then(|m| m.elapsed().ok());
                if age.is_some_and(|age| age > expiry) {
                    match std::fs::remove_file(&path) {
                        Ok(()) => removed += 1,
                        Err(e) => tracing::warn!(error = %e, path = %path.display(), "could not remove an expired export file"),
                    }
                }
            }
            removed
        })
        .await
        .unwrap_or(0)
    }

    /// Bytes the export files take now.
    pub async fn used_bytes(&self) -> u64 {
        let dir = self.root.join(EXPORTS_DIR);
        tokio::task::spawn_blocking(move || files_in(&dir).iter().map(|(_, m)| m.len()).sum())
            .await
            .unwrap_or(0)
    }

    pub fn signer(&self) -> &DownloadSigner {
        &self.signer
    }

    /// The file of a finished object, or `None` for a key that cannot name one (anything but
    /// plain path segments of letters, digits, `-`, `_` and `.`, so no `..` and no absolute path).
    pub fn path_of(&self, key: &str) -> Option<PathBuf> {
        let safe = !key.is_empty()
            && key.split('/').all(|seg| {
                !seg.is_empty()
                    && !seg.starts_with('.')
                    && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            });
        safe.then(|| self.root.join(key))
    }
}

/// The files directly in `dir` (exports are flat), with their metadata; none if it is missing.
fn files_in(dir: &Path) -> Vec<(PathBuf, std::fs::Metadata)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.path(), e.metadata().ok()?)))
        .filter(|(_, m)| m.is_file())
        .collect()
}

#[async_trait]
impl ExportObjects for FileExports {
    async fn has_room(&self) -> Result<bool, StoreError> {
        Ok(self.used_bytes().await < self.budget_bytes)
    }

    async fn start(&self, key: &str) -> Result<Box<dyn ExportUpload>, StoreError> {
        let path = self.path_of(key).ok_or(StoreError::InvalidPosition)?;
        if let Some(parent) = path.parent().map(Path::to_path_buf) {
            tokio::task::spawn_blocking(move || crate::private::create_dir(&parent))
                .await
                .map_err(StoreError::unavailable)?
                .map_err(StoreError::unavailable)?;
        }
        let part = path.with_extension("part");
        let file = crate::private::async_file_options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&part)
            .await
            .map_err(StoreError::unavailable)?;
        Ok(Box::new(FileUpload {
            file: tokio::io::BufWriter::with_capacity(1 << 20, file),
            part,
            path,
            bytes: 0,
        }))
    }

    async fn download_link(&self, key: &str, file_name: &str) -> Result<DownloadLink, StoreError> {
        Ok(self.signer.link(key, file_name, Utc::now()))
    }
}

struct FileUpload {
    file: tokio::io::BufWriter<tokio::fs::File>,
    part: PathBuf,
    path: PathBuf,
    bytes: u64,
}

#[async_trait]
impl ExportUpload for FileUpload {
    async fn write(&mut self, chunk: Vec<u8>) -> Result<(), StoreError> {
        self.file.write_all(&chunk).await.map_err(StoreError::unavailable)?;
        self.bytes += chunk.len() as u64;
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, StoreError> {
        self.file.flush().await.map_err(StoreError::unavailable)?;
        self.file.get_ref().sync_all().await.map_err(StoreError::unavailable)?;
        tokio::fs::rename(&self.part, &self.path)
            .await
            .map_err(StoreError::unavailable)?;
        Ok(self.bytes)
    }

    async fn abort(self: Box<Self>) {
        drop(self.file);
        if let Err(e) = tokio::fs::remove_file(&self.part).await {
            tracing::warn!(error = %e, path = %self.part.display(), "could not remove an aborted export file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> DownloadSigner {
        DownloadSigner::new(b"k", "http://127.0.0.1:1/", Duration::minutes(15))
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn a_fresh_link_verifies_and_expires_after_its_lifetime() {
        let link = signer().link("exports/a.csv", "audit log.csv", now());
        assert!(link.url.starts_with(
            "http://127.0.0.1:1/downloads/exports/a.csv?filename=audit%20log.csv&expires=1800000900&signature="
        ));
        let sig = link.url.rsplit_once("signature=").unwrap().1;
        assert_eq!(
            signer().verify("exports/a.csv", "audit log.csv", 1_800_000_900, sig, now()),
            Ok(())
        );
        assert_eq!(
            signer().verify(
                "exports/a.csv",
                "audit log.csv",
                1_800_000_900,
                sig,
                now() + Duration::minutes(15)
            ),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn a_tampered_link_is_refused() {
        let link = signer().link("exports/a.csv", "f.csv", now());
        let sig = link.url.rsplit_once("signature=").unwrap().1;
        let s = signer();
        assert_eq!(
            s.verify("exports/b.csv", "f.csv", 1_800_000_900, sig, now()),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            s.verify("exports/a.csv", "g.csv", 1_800_000_900, sig, now()),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            s.verify("exports/a.csv", "f.csv", 1_900_000_000, sig, now()),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            s.verify("exports/a.csv", "f.csv", 1_800_000_900, "zz", now()),
            Err(LinkError::BadSignature)
        );
    }

    #[tokio::test]
    async fn files_older_than_the_expiry_are_removed_and_the_budget_counts_the_rest() {
        let root = tempfile::TempDir::new().unwrap();
        let files = FileExports::new(root.path(), signer()).with_limits(std::time::Duration::from_secs(3600), 100);
        let dir = root.path().join(EXPORTS_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        let old = dir.join("old.csv");
        let fresh = dir.join("fresh.csv");
        std::fs::write(&old, vec![b'x'; 80]).unwrap();
        std::fs::write(&fresh, vec![b'x'; 50]).unwrap();
        let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(two_hours_ago)
            .unwrap();
        assert!(!files.has_room().await.unwrap(), "130 bytes are over a budget of 100");
        assert_eq!(files.remove_expired().await, 1);
        assert!(!old.exists() && fresh.exists());
        assert!(files.has_room().await.unwrap(), "50 bytes are within it");
    }

    #[test]
    fn keys_cannot_leave_the_folder() {
        let files = FileExports::new(Path::new("/data"), signer());
        assert!(files.path_of("exports/a.csv").is_some());
        for bad in [
            "../etc/passwd",
            "exports/../../x",
            "/etc/passwd",
            "exports//a",
            "",
            "exports/.hidden",
        ] {
            assert!(files.path_of(bad).is_none(), "{bad}");
        }
    }
}
