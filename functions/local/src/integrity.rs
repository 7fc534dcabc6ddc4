//! The seal as the server shows it: `GET /integrity` and `GET /events/{id}/proof` over the
//! embedded store's [`Sealer`], and the check (`verify` over the store) whose newest summary
//! the status reports.

use async_trait::async_trait;
use audit_api::{ApiError, Integrity};
use audit_integrity::verify::{Range, Report};
use audit_integrity::{CheckSummary, Proof, Status};
use audit_storage::StoreError;
use audit_store_sqlite::sealing::{NoProof, SEAL_GRACE, SealError};
use audit_store_sqlite::{Sealer, StoreAgainstArchive};

/// The embedded store's integrity side, sealed every `interval`.
pub struct LocalIntegrity {
    pub sealer: Sealer,
    pub interval: std::time::Duration,
}

#[async_trait]
impl Integrity for LocalIntegrity {
    async fn status(&self) -> Result<Status, ApiError> {
        let newest = self.sealer.newest_digest().await.map_err(unexpected)?;
        Ok(Status {
            sealed_through: newest.as_ref().map(|d| d.digest.period_end),
            seal_interval_secs: self.interval.as_secs(),
            newest_digest: newest.as_ref().map(Into::into),
            public_key: self.sealer.public_key().into(),
            last_check: self.sealer.last_check().await,
            tamper: None,
        })
    }

    async fn proof(&self, id: uuid::Uuid) -> Result<Proof, ApiError> {
        self.sealer.proof(id).await.map_err(|e| match e {
            NoProof::NotFound => ApiError::NotFound(format!("no event with id {id}")),
            NoProof::NotSealedYet => ApiError::NotSealedYet(format!(
                "event {id} is stored but its period is not sealed yet; periods are sealed every {} s",
                self.interval.as_secs()
            )),
            NoProof::Failed(e) => unexpected(e),
        })
    }
}

fn unexpected(e: SealError) -> ApiError {
    match e {
        SealError::Store(e) => e.into(),
        other => ApiError::Unexpected(StoreError::Corrupt(other.to_string())),
    }
}

/// Checks the archive's digests and files in `range`, and the store against them both ways,
/// then keeps the summary as the newest check. Events older than a period and the grace that
/// no digest covers are reported.
pub async fn check(sealer: &Sealer, range: Range, seal_interval: std::time::Duration) -> anyhow::Result<Report> {
    let store = sealer.store().clone();
    let head = store.seal_state().await?.head.map(|(link, _)| link);
    let now = chrono::Utc::now();
    let delay = chrono::Duration::from_std(seal_interval)? + SEAL_GRACE;
    let mut against = StoreAgainstArchive::new(store, range, now, delay, SEAL_GRACE);
    let report = audit_integrity::verify::verify(
        sealer.archive(),
        sealer.public_key(),
        range,
        head.as_ref(),
        &mut against,
    )
    .await?;
    if let Err(e) = sealer.record_check(&CheckSummary::of(&report, now)).await {
        tracing::warn!(error = %e, "the check's summary could not be kept");
    }
    Ok(report)
}

/// Where the cloud archive is and which key checks it: `verify --store dynamodb`.
pub struct CloudArchive {
    pub cloud: audit_store_dynamodb::CloudSettings,
    pub bucket: String,
    /// How long after it is received an event may wait for its digest (the seal interval, the
    /// archiver's grace and the stream's lag).
    pub seal_delay: chrono::Duration,
    /// How long before a period's end an event may be received and archived in the next one.
    pub grace: chrono::Duration,
}

/// The public key of the KMS key `key_id` (what the archiver signs with).
pub async fn kms_public_key(key_id: &str) -> anyhow::Result<audit_integrity::PublicKey> {
    let sdk = audit_store_dynamodb::sdk_config().await;
    let signer =
        audit_store_dynamodb::integrity::KmsSigner::new(audit_store_dynamodb::integrity::kms_client(&sdk), key_id)
            .await?;
    Ok(audit_integrity::Signer::public_key(&signer).clone())
}

/// `verify` over the archive bucket with `key`, and (unless `offline`) the DynamoDB store
/// against it both ways.
pub async fn check_cloud(
    at: &CloudArchive,
    key: &audit_integrity::PublicKey,
    range: Range,
    offline: bool,
) -> anyhow::Result<Report> {
    let sdk = audit_store_dynamodb::sdk_config().await;
    let archive = at.cloud.archive(&sdk, &at.bucket);
    if offline {
        let mut none = audit_integrity::NoStore;
        return Ok(audit_integrity::verify::verify(&archive, key, range, None, &mut none).await?);
    }
    let store = at.cloud.events_store(&sdk);
    let mut against = audit_store_dynamodb::integrity::CloudStoreCheck::new(
        store,
        range,
        chrono::Utc::now(),
        at.seal_delay,
        at.grace,
    );
    Ok(audit_integrity::verify::verify(&archive, key, range, None, &mut against).await?)
}
