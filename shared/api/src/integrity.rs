//! The integrity side of the API: proofs of single events and the state of the seal, from
//! whichever store keeps an archive (the embedded store's sealer locally).

use async_trait::async_trait;
use audit_integrity::{Proof, Status};
use uuid::Uuid;

use crate::error::ApiError;

#[async_trait]
pub trait Integrity: Send + Sync + 'static {
    /// Through when the log is sealed, the newest digest, the key, the newest check.
    async fn status(&self) -> Result<Status, ApiError>;

    /// A proof that event `id`, as stored, was sealed: [`ApiError::NotFound`] for an unknown
    /// id, [`ApiError::NotSealedYet`] for an event whose period is not sealed yet.
    async fn proof(&self, id: Uuid) -> Result<Proof, ApiError>;
}
