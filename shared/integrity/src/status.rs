//! What the API says of the seal (`GET /integrity`): through when the log is sealed, the newest
//! digest, the key that checks it, and what the newest `verify` run found.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::digest::SignedDigest;
use crate::keys::{Algorithm, PublicKey};
use crate::verify::Report;

/// Problems a check keeps by name; the count says how many there were in all.
pub const CHECK_PROBLEMS_KEPT: usize = 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The end of the newest digest's period: every event received before it is sealed.
    #[serde(with = "event_model::time::rfc3339_opt")]
    pub sealed_through: Option<DateTime<Utc>>,
    /// How often a period is sealed, in seconds.
    pub seal_interval_secs: u64,
    pub newest_digest: Option<DigestSummary>,
    pub public_key: KeySummary,
    /// The newest `verify` run, if one was recorded.
    pub last_check: Option<CheckSummary>,
    /// The newest record of a change behind the API that the store's change stream showed (the
    /// cloud archiver's tamper alarm); `None` where there is none, or no stream (SQLite).
    pub tamper: Option<TamperNote>,
}

/// A change behind the API, as the journal recorded it (`audit.record_modified` or
/// `audit.record_removed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TamperNote {
    #[serde(with = "event_model::time::rfc3339")]
    pub at: DateTime<Utc>,
    #[serde(rename = "type")]
    pub event_type: String,
    pub message: String,
}

/// The newest digest, named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestSummary {
    pub path: String,
    #[serde(with = "event_model::time::rfc3339")]
    pub period_start: DateTime<Utc>,
    #[serde(with = "event_model::time::rfc3339")]
    pub period_end: DateTime<Utc>,
    pub events: u64,
    pub files: u64,
    pub merkle_root: String,
    pub signature: String,
}

impl From<&SignedDigest> for DigestSummary {
    fn from(signed: &SignedDigest) -> Self {
        let d = &signed.digest;
        DigestSummary {
            path: d.path(),
            period_start: d.period_start,
            period_end: d.period_end,
            events: d.events,
            files: d.files.len() as u64,
            merkle_root: d.merkle_root.clone(),
            signature: signed.signature.clone(),
        }
    }
}

/// The public key that checks the digests, in PEM so it can be saved and given to `verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySummary {
    pub algorithm: Algorithm,
    pub fingerprint: String,
    pub pem: String,
}

impl From<&PublicKey> for KeySummary {
    fn from(key: &PublicKey) -> Self {
        KeySummary {
            algorithm: key.algorithm(),
            fingerprint: key.fingerprint(),
            pem: key.to_pem(),
        }
    }
}

/// What one `verify` run found, kept for the API and the admin UI's badge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckSummary {
    #[serde(with = "event_model::time::rfc3339")]
    pub at: DateTime<Utc>,
    /// Whether everything held.
    pub holds: bool,
    /// Through when the check reached.
    #[serde(with = "event_model::time::rfc3339_opt")]
    pub sealed_through: Option<DateTime<Utc>>,
    pub events: u64,
    /// How many problems there were.
    pub problem_count: u64,
    /// The first [`CHECK_PROBLEMS_KEPT`], as sentences.
    pub problems: Vec<String>,
}

impl CheckSummary {
    pub fn of(report: &Report, at: DateTime<Utc>) -> CheckSummary {
        CheckSummary {
            at,
            holds: report.holds(),
            sealed_through: report.sealed_through,
            events: report.events,
            problem_count: report.problems.len() as u64,
            problems: report
                .problems
                .iter()
                .take(CHECK_PROBLEMS_KEPT)
                .map(ToString::to_string)
                .collect(),
        }
    }
}
