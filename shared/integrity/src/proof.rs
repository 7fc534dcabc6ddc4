//! A proof that one event was in the log by the end of a sealed period, checkable with nothing
//! but the proof and the public key: the event, its leaf hash, its RFC 6962 audit path, and the
//! signed digest whose Merkle root the path leads to.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::canonical::canonical_value;
use crate::digest::SignedDigest;
use crate::keys::PublicKey;
use crate::merkle::{Hash, inclusion_path, leaf_hash, root_from_inclusion};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proof {
    /// The event as stored (its canonical JSON is the leaf's data).
    pub event: serde_json::Value,
    /// Hex.
    pub leaf_hash: String,
    pub leaf_index: u64,
    pub tree_size: u64,
    /// Sibling hashes from the leaf up, hex.
    pub audit_path: Vec<String>,
    pub digest_path: String,
    pub digest: SignedDigest,
    /// What the digest's signature is over (also recomputed from the digest when checked).
    pub signing_string: String,
    pub key_fingerprint: String,
}

/// Why a proof does not hold.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the event does not hash to the proof's leaf: it is not the event that was sealed")]
    EventChanged,
    #[error("the audit path does not lead to the digest's Merkle root")]
    PathMismatch,
    #[error("the digest is not signed by this key (fingerprint {0})")]
    BadSignature(String),
    #[error("the proof names digest {named}, but the digest is {actual}")]
    DigestPathMismatch { named: String, actual: String },
    #[error("the proof is malformed: {0}")]
    Malformed(&'static str),
}

/// What a proof that holds shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Proven {
    pub id: String,
    #[serde(with = "event_model::time::rfc3339")]
    pub sealed_by: DateTime<Utc>,
    pub digest_path: String,
    pub key_fingerprint: String,
}

impl Proof {
    /// The proof for the leaf at `index` of a period whose leaves are `leaves`.
    pub fn build(event: serde_json::Value, leaves: &[Hash], index: usize, digest: SignedDigest) -> Option<Proof> {
        let path = inclusion_path(leaves, index)?;
        Some(Proof {
            leaf_hash: hex::encode(leaves[index]),
            event,
            leaf_index: index as u64,
            tree_size: leaves.len() as u64,
            audit_path: path.iter().map(hex::encode).collect(),
            digest_path: digest.digest.path(),
            signing_string: digest.digest.signing_string(),
            key_fingerprint: digest.digest.key_fingerprint.clone(),
            digest,
        })
    }

    /// Checks the proof against `key` alone.
    pub fn check(&self, key: &PublicKey) -> Result<Proven, ProofError> {
        let leaf = leaf_hash(&canonical_value(&self.event));
        if hex::encode(leaf) != self.leaf_hash {
            return Err(ProofError::EventChanged);
        }
        let path = self
            .audit_path
            .iter()
            .map(|h| hex32(h))
            .collect::<Option<Vec<Hash>>>()
            .ok_or(ProofError::Malformed(
                "audit_path holds something that is not a SHA-256",
            ))?;
        let digest = &self.digest.digest;
        if self.tree_size != digest.events {
            return Err(ProofError::PathMismatch);
        }
        let root = root_from_inclusion(&leaf, self.leaf_index, self.tree_size, &path);
        if root.map(hex::encode).as_deref() != Some(digest.merkle_root.as_str()) {
            return Err(ProofError::PathMismatch);
        }
        if self.digest_path != digest.path() {
            return Err(ProofError::DigestPathMismatch {
                named: self.digest_path.clone(),
                actual: digest.path(),
            });
        }
        if !self.digest.signed_by(key) {
            return Err(ProofError::BadSignature(key.fingerprint()));
        }
        let id = self.event.get("id").and_then(|v| v.as_str()).unwrap_or_default();
        Ok(Proven {
            id: id.to_owned(),
            sealed_by: digest.period_end,
            digest_path: self.digest_path.clone(),
            key_fingerprint: key.fingerprint(),
        })
    }
}

fn hex32(text: &str) -> Option<Hash> {
    hex::decode(text).ok()?.try_into().ok()
}
