//! The cloud side of the integrity archive: events as the events table's stream carries them,
//! turned into archive lines; the KMS key that signs digests; the archive bucket's settings.

use audit_integrity::keys::{KeyError, PublicKey, Signer};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
use chrono::{DateTime, Utc};

use crate::item::EventItem;
use crate::schema;
use audit_storage::StoreError;

pub use crate::archive::S3Archive;

/// What a stream image of the events table holds.
#[derive(Debug)]
pub enum Image {
    /// An event: when it was received, its id, and its canonical JSON (its archive line).
    Event {
        id: uuid::Uuid,
        received_at: DateTime<Utc>,
        canonical: Vec<u8>,
    },
    /// A day marker (the store's index of days with events), not an event.
    DayMarker,
}

/// Reads a stream image (`NewImage` or `OldImage`) of the events table.
pub fn image<I>(image: I) -> Result<Image, StoreError>
where
    I: Into<serde_dynamo::Item>,
{
    let item: serde_dynamo::Item = image.into();
    let is_marker = matches!(item.get(schema::ID), Some(serde_dynamo::AttributeValue::S(id)) if id.starts_with(schema::DAY_MARKER_PREFIX));
    if is_marker {
        return Ok(Image::DayMarker);
    }
    let item: EventItem = serde_dynamo::from_item(item)
        .map_err(|e| StoreError::Corrupt(format!("a stream image is not an event: {e}")))?;
    let view = item.view()?;
    Ok(Image::Event {
        id: view.id,
        received_at: view.received_at,
        canonical: audit_integrity::canonical::canonical_event(&view),
    })
}

/// A KMS key (`ECC_NIST_P256`, `SIGN_VERIFY`) that signs digests with `ECDSA_SHA_256` over the
/// raw signing string (`MessageType=RAW`: KMS hashes it; the string is well under KMS's 4 KB).
/// The private key never leaves KMS.
pub struct KmsSigner {
    client: aws_sdk_kms::Client,
    key_id: String,
    public: PublicKey,
}

impl KmsSigner {
    /// The signer of key `key_id` (an id, ARN or alias), with its public key read from KMS.
    pub async fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Result<KmsSigner, KeyError> {
        let key_id = key_id.into();
        let out = client.get_public_key().key_id(&key_id).send().await.map_err(|e| {
            KeyError::Signer(
                format!(
                    "reading the public key of KMS key {key_id}: {}",
                    aws_sdk_kms::error::DisplayErrorContext(e)
                )
                .into(),
            )
        })?;
        let der = out
            .public_key
            .ok_or_else(|| KeyError::Signer(format!("KMS key {key_id} has no public key").into()))?;
        let public = PublicKey::from_der(der.as_ref())?;
        Ok(KmsSigner { client, key_id, public })
    }
}

#[async_trait::async_trait]
impl Signer for KmsSigner {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let out = self
            .client
            .sign()
            .key_id(&self.key_id)
            .message(Blob::new(message))
            .message_type(MessageType::Raw)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await
            .map_err(|e| {
                KeyError::Signer(
                    format!(
                        "signing with KMS key {}: {}",
                        self.key_id,
                        aws_sdk_kms::error::DisplayErrorContext(e)
                    )
                    .into(),
                )
            })?;
        out.signature
            .map(Blob::into_inner)
            .ok_or_else(|| KeyError::Signer("KMS returned no signature".into()))
    }
}

/// A KMS client with the SDK's settings (`AWS_ENDPOINT_URL_KMS` points it at an emulator).
pub fn kms_client(sdk: &aws_config::SdkConfig) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::new(sdk)
}
