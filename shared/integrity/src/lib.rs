//! Evidence that the audit log was not changed: every acknowledged event is archived in
//! write-once files, and every period is sealed by a signed digest that chains to the one before.
//! Pure logic and formats; where files live is behind [`archive::Archive`], and who signs behind
//! [`keys::Signer`] (a local Ed25519 key, or KMS on AWS).
//!
//! - [`canonical`]: an event's canonical bytes (RFC 8785), the data of its Merkle leaf.
//! - [`merkle`]: RFC 6962 tree hashing, streamed roots, audit paths and their check.
//! - [`archive`]: archive files (gzip NDJSON of canonical events) and where they are kept.
//! - [`digest`]: a period's digest, its signing string, its chain link.
//! - [`keys`]: the public keys that check signatures, and the local signer.
//! - [`proof`]: a self-contained proof that one event was sealed in a period.
//! - [`seal`]: sealing a period over its files; the cloud archiver's file names and periods.
//! - [`status`]: what the API says of the seal and of the newest check.
//! - [`verify`]: the chain, the files, the roots and the store, checked and reported.

pub mod archive;
pub mod canonical;
pub mod digest;
pub mod keys;
pub mod merkle;
pub mod proof;
pub mod seal;
pub mod status;
pub mod verify;

pub use archive::{Archive, FileWriter};
pub use digest::{ArchivedFile, Digest, Link, SignedDigest};
pub use keys::{Ed25519Signer, PublicKey, Signer};
pub use proof::Proof;
pub use status::{CheckSummary, Status};
pub use verify::{NoStore, Problem, Range, Report, StoreCheck};
