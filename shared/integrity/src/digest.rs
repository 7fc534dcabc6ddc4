//! Digests: one per period, signed, each naming the one before it (a chain).
//!
//! A digest says which archive files were written in its period (with their SHA-256 and event
//! counts), the RFC 6962 Merkle root of the period's events (leaves in file order, line order),
//! and the previous digest's location, hash and signature. A period with no events still gets a
//! digest, so a gap shows. Periods are contiguous: each starts where the previous one ended.
//!
//! What is signed is a short signing string, as CloudTrail signs its digests:
//!
//! ```text
//! <period end, RFC 3339>\n<digest path>\n<hex SHA-256 of the digest's canonical JSON>\n<previous signature, base64, or "null">
//! ```
//!
//! The digest's canonical JSON (RFC 8785) is of every field but `signature`; the file holds the
//! same fields pretty-printed, so the hash does not depend on how the file is laid out.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::keys::{Algorithm, KeyError, PublicKey, Signer};

/// Where digests live, beside the archive's `archive/`.
pub const DIGESTS_PREFIX: &str = "digests/";
/// The format of the digests this code writes.
pub const DIGEST_VERSION: u32 = 1;

/// How instants are written in digest and archive file names (`YYYYMMDDTHHMMSS.ffffffZ`): in
/// name order is in time order.
const STAMP: &str = "%Y%m%dT%H%M%S%.6fZ";

/// An instant as a file name writes it.
pub(crate) fn stamp(t: &DateTime<Utc>) -> impl std::fmt::Display + '_ {
    t.format(STAMP)
}

/// The instant a file name starts with ([`stamp`]), if it does.
pub(crate) fn parse_stamp(name: &str) -> Option<DateTime<Utc>> {
    let text = name.get(..23)?;
    chrono::NaiveDateTime::parse_from_str(text, STAMP)
        .ok()
        .map(|t| t.and_utc())
}

/// The digest of a period ending at `end`: `digests/dt=YYYY-MM-DD/YYYYMMDDTHHMMSS.ffffffZ.json`,
/// so a listing in name order is in time order.
pub fn digest_path(end: &DateTime<Utc>) -> String {
    format!("{DIGESTS_PREFIX}dt={}/{}.json", end.format("%Y-%m-%d"), stamp(end))
}

/// An archive file as a digest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedFile {
    pub path: String,
    /// SHA-256 of the file's bytes (compressed, as stored), hex.
    pub sha256: String,
    pub events: u64,
    pub bytes: u64,
}

impl ArchivedFile {
    /// How a digest lists the file at `path` holding `bytes` (`events` lines).
    pub fn of(path: String, bytes: &[u8], events: u64) -> ArchivedFile {
        ArchivedFile {
            path,
            sha256: hex::encode(Sha256::digest(bytes)),
            events,
            bytes: bytes.len() as u64,
        }
    }
}

/// The previous digest, as the next one names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub path: String,
    pub sha256: String,
    pub signature: String,
}

/// One period's digest, before it is signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    pub version: u32,
    #[serde(with = "event_model::time::rfc3339")]
    pub period_start: DateTime<Utc>,
    #[serde(with = "event_model::time::rfc3339")]
    pub period_end: DateTime<Utc>,
    pub files: Vec<ArchivedFile>,
    /// Events in the period's files: the Merkle tree's size.
    pub events: u64,
    /// Hex.
    pub merkle_root: String,
    pub previous: Option<Link>,
    pub algorithm: Algorithm,
    pub key_fingerprint: String,
}

/// A digest and its signature, as its file holds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedDigest {
    #[serde(flatten)]
    pub digest: Digest,
    /// Base64 of the signature over [`Digest::signing_string`].
    pub signature: String,
}

impl Digest {
    pub fn path(&self) -> String {
        digest_path(&self.period_end)
    }

    /// SHA-256 of the digest's canonical JSON, hex.
    pub fn sha256(&self) -> String {
        let canonical = serde_json_canonicalizer::to_vec(self).expect("a digest is JSON");
        hex::encode(Sha256::digest(canonical))
    }

    pub fn signing_string(&self) -> String {
        let previous = self.previous.as_ref().map_or("null", |p| p.signature.as_str());
        format!(
            "{}\n{}\n{}\n{}",
            event_model::time::format(&self.period_end),
            self.path(),
            self.sha256(),
            previous
        )
    }

    /// Signs the digest with `signer`.
    pub async fn sign(self, signer: &dyn Signer) -> Result<SignedDigest, KeyError> {
        let signature = signer.sign(self.signing_string().as_bytes()).await?;
        Ok(SignedDigest {
            digest: self,
            signature: BASE64.encode(signature),
        })
    }
}

impl SignedDigest {
    /// Whether the signature is `key`'s over this digest's signing string.
    pub fn signed_by(&self, key: &PublicKey) -> bool {
        let Ok(signature) = BASE64.decode(&self.signature) else {
            return false;
        };
        self.digest.key_fingerprint == key.fingerprint()
            && key.verify(self.digest.signing_string().as_bytes(), &signature)
    }

    /// How the next digest names this one.
    pub fn link(&self) -> Link {
        Link {
            path: self.digest.path(),
            sha256: self.digest.sha256(),
            signature: self.signature.clone(),
        }
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a digest is JSON");
        bytes.push(b'\n');
        bytes
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<SignedDigest, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Ed25519Signer;

    fn digest(previous: Option<Link>, signer: &Ed25519Signer) -> Digest {
        Digest {
            version: DIGEST_VERSION,
            period_start: "2026-12-07T10:00:00Z".parse().unwrap(),
            period_end: "2026-12-07T11:00:00Z".parse().unwrap(),
            files: vec![ArchivedFile {
                path: "archive/dt=2026-12-07/x.ndjson.gz".into(),
                sha256: "00".repeat(32),
                events: 3,
                bytes: 120,
            }],
            events: 3,
            merkle_root: "11".repeat(32),
            previous,
            algorithm: signer.public_key().algorithm(),
            key_fingerprint: signer.public_key().fingerprint(),
        }
    }

    #[tokio::test]
    async fn a_signed_digest_survives_its_file_and_any_changed_field_breaks_its_signature() {
        let signer = Ed25519Signer::from_secret(&[1u8; 32]);
        let signed = digest(None, &signer).sign(&signer).await.unwrap();
        assert_eq!(
            signed.digest.path(),
            "digests/dt=2026-12-07/20261207T110000.000000Z.json"
        );
        assert!(
            signed
                .digest
                .signing_string()
                .starts_with("2026-12-07T11:00:00.000000Z\ndigests/dt=2026-12-07/")
        );
        assert!(signed.digest.signing_string().ends_with("\nnull"));
        let read = SignedDigest::from_bytes(&signed.to_bytes()).unwrap();
        assert_eq!(read, signed);
        assert!(read.signed_by(signer.public_key()));

        let mut changed = read.clone();
        changed.digest.files[0].events = 4;
        assert!(!changed.signed_by(signer.public_key()));
        let other = Ed25519Signer::from_secret(&[2u8; 32]);
        let resigned = changed.digest.clone().sign(&other).await.unwrap();
        assert!(
            !resigned.signed_by(signer.public_key()),
            "another key's signature is not ours"
        );

        let next = digest(Some(signed.link()), &signer).sign(&signer).await.unwrap();
        assert!(next.digest.signing_string().ends_with(&signed.signature));
    }
}
