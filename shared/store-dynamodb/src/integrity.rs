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
pub use crate::events::kept_counts::Tally;

/// What a stream image of the events table holds.
#[derive(Debug)]
pub enum Image {
    /// An event: when it was received, its id, and its canonical JSON (its archive line).
    Event {
        id: uuid::Uuid,
        received_at: DateTime<Utc>,
        canonical: Vec<u8>,
    },
    /// A day or actor marker (the store's indexes of days and actors with events), not an event.
    Marker,
}

/// Reads a stream image (`NewImage` or `OldImage`) of the events table.
pub fn image<I>(image: I) -> Result<Image, StoreError>
where
    I: Into<serde_dynamo::Item>,
{
    let item: serde_dynamo::Item = image.into();
    let is_marker = matches!(item.get(schema::ID), Some(serde_dynamo::AttributeValue::S(id)) if schema::is_marker(id));
    if is_marker {
        return Ok(Image::Marker);
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

/// Keys asked for in one BatchGetItem (DynamoDB's limit).
const BATCH_GET: usize = 100;

impl crate::DynamoStore {
    /// The canonical JSON of the stored events among `ids`, by id (absent ids are not there).
    pub async fn canonical_events(
        &self,
        ids: &[String],
    ) -> Result<std::collections::HashMap<String, Vec<u8>>, StoreError> {
        use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
        let table = &self.inner.layout.events_table;
        let mut found = std::collections::HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH_GET) {
            let keys: Vec<_> = chunk
                .iter()
                .map(|id| std::collections::HashMap::from([(schema::ID.to_owned(), AttributeValue::S(id.clone()))]))
                .collect();
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(StoreError::unavailable)?,
            );
            while let Some(keys) = request.take() {
                let out = self
                    .inner
                    .client
                    .batch_get_item()
                    .request_items(table, keys)
                    .send()
                    .await
                    .map_err(|e| crate::store_error(e, &self.inner.layout.events_resource()))?;
                for item in out.responses.and_then(|mut r| r.remove(table)).unwrap_or_default() {
                    let item: EventItem =
                        serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    let canonical = audit_integrity::canonical::canonical_event(&item.view()?);
                    found.insert(item.id.clone(), canonical);
                }
                request = out
                    .unprocessed_keys
                    .and_then(|mut left| left.remove(table))
                    .filter(|k| !k.keys().is_empty());
            }
        }
        Ok(found)
    }

    /// Every event in the table (a Scan), page by page: (id, received_at) of each; an item that
    /// is not a readable event (a day marker, or unreadable) is skipped, the unreadable counted.
    pub async fn scan_received(&self, mut each: impl FnMut(uuid::Uuid, DateTime<Utc>)) -> Result<u64, StoreError> {
        let mut pages = self
            .inner
            .client
            .scan()
            .table_name(&self.inner.layout.events_table)
            .projection_expression("#id, received_at")
            .expression_attribute_names("#id", schema::ID)
            .into_paginator()
            .send();
        let mut unreadable = 0;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| crate::store_error(e, &self.inner.layout.events_resource()))?;
            for item in page.items() {
                let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
                let (Some(id), Some(received)) = (text(schema::ID), text("received_at")) else {
                    continue;
                };
                match (id.parse(), event_model::time::parse_instant(received)) {
                    (Ok(id), Some(received)) => each(id, received),
                    _ => unreadable += 1,
                }
            }
        }
        Ok(unreadable)
    }
}

/// `verify`'s comparison of the DynamoDB store with the archive, both ways: an archived event
/// changed or removed in the table (a removal past the store's retention is TTL's, noted, not a
/// problem), and an event in the table no archive file holds (added behind the API, or older
/// than the seal delay and not sealed). Identical repeats of an event in two files (a stream
/// batch delivered again) count once and are noted. Keeps one id and a short hash per archived
/// event (about 40 bytes each).
pub struct CloudStoreCheck {
    store: crate::DynamoStore,
    range: audit_integrity::Range,
    now: DateTime<Utc>,
    seal_delay: chrono::Duration,
    grace: chrono::Duration,
    retention: Option<chrono::Duration>,
    seen: std::collections::HashMap<uuid::Uuid, u64>,
    repeats: u64,
    expired: u64,
    named: usize,
}

impl CloudStoreCheck {
    pub fn new(
        store: crate::DynamoStore,
        range: audit_integrity::Range,
        now: DateTime<Utc>,
        seal_delay: chrono::Duration,
        grace: chrono::Duration,
    ) -> Self {
        let retention = store.inner.retention;
        CloudStoreCheck {
            store,
            range,
            now,
            seal_delay,
            grace,
            retention,
            seen: std::collections::HashMap::new(),
            repeats: 0,
            expired: 0,
            named: 0,
        }
    }
}

fn short_hash(bytes: &[u8]) -> u64 {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(bytes);
    u64::from_le_bytes(hash[..8].try_into().expect("8 bytes"))
}

#[derive(serde::Deserialize)]
struct Archived {
    id: uuid::Uuid,
    #[serde(with = "event_model::time::rfc3339")]
    received_at: DateTime<Utc>,
}

#[async_trait::async_trait]
impl audit_integrity::StoreCheck for CloudStoreCheck {
    async fn file(
        &mut self,
        file: &str,
        events: Option<std::sync::Arc<audit_integrity::archive::Lines>>,
        report: &mut audit_integrity::Report,
    ) {
        use audit_integrity::Problem;
        let Some(events) = events else { return };
        let mut fresh: Vec<(uuid::Uuid, DateTime<Utc>, &[u8])> = Vec::with_capacity(events.len());
        for line in events.iter() {
            let Ok(archived) = serde_json::from_slice::<Archived>(line) else {
                report.notes.push(format!("{file} holds a line that is not an event"));
                continue;
            };
            let hash = short_hash(line);
            match self.seen.insert(archived.id, hash) {
                None => fresh.push((archived.id, archived.received_at, line)),
                Some(before) if before == hash => self.repeats += 1,
                Some(_) => {
                    report.notes.push(format!(
                        "event {} is archived twice with different contents ({file})",
                        archived.id
                    ));
                }
            }
        }
        let ids: Vec<String> = fresh.iter().map(|(id, ..)| id.to_string()).collect();
        let stored = match self.store.canonical_events(&ids).await {
            Ok(stored) => stored,
            Err(e) => {
                report
                    .notes
                    .push(format!("the store could not be read for {file}: {e}"));
                return;
            }
        };
        for ((_, received, archived), id) in fresh.into_iter().zip(ids) {
            match stored.get(&id) {
                Some(current) if current == archived => {}
                Some(_) => report.name_event(
                    &mut self.named,
                    Problem::EventChanged {
                        id,
                        file: file.to_owned(),
                    },
                ),
                None if self.retention.is_some_and(|r| received < self.now - r) => self.expired += 1,
                None => report.name_event(
                    &mut self.named,
                    Problem::EventRemoved {
                        id,
                        file: file.to_owned(),
                    },
                ),
            }
        }
    }

    async fn finish(&mut self, report: &mut audit_integrity::Report) {
        use audit_integrity::Problem;
        if self.repeats > 0 {
            report.notes.push(format!(
                "{} events are archived more than once, identically (a stream batch delivered again): counted once",
                self.repeats
            ));
        }
        if self.expired > 0 {
            report.notes.push(format!(
                "{} archived events are past the table's retention and gone from it (TTL): the archive keeps them",
                self.expired
            ));
        }
        let mut missing = Vec::new();
        let scanned = self
            .store
            .scan_received(|id, received| {
                if !self.seen.contains_key(&id) && self.range.to.is_none_or(|to| received < to) {
                    missing.push((received, id));
                }
            })
            .await;
        match scanned {
            Ok(0) => {}
            Ok(n) => report
                .notes
                .push(format!("{n} items of the table are not readable events")),
            Err(e) => {
                report.notes.push(format!("the store could not be read: {e}"));
                return;
            }
        }
        missing.sort();
        let sealed_through = report.sealed_through;
        for (received, id) in missing {
            let (id, received_at) = (id.to_string(), event_model::time::format(&received));
            if sealed_through.is_some_and(|through| received < through - self.grace) {
                report.name_event(&mut self.named, Problem::EventAdded { id, received_at });
            } else if received < self.now - self.seal_delay {
                report.name_event(&mut self.named, Problem::EventUnsealed { id, received_at });
            }
        }
    }
}

/// One sealed period counted into the kept counts.
#[derive(Debug)]
pub struct Counted {
    pub period_end: DateTime<Utc>,
    pub events: usize,
}

/// Counts the sealed periods not counted yet into the store's kept counts (see
/// [`crate::DynamoStore::count_period`]), oldest first, at most `max`: each period's archive
/// files read (a few at once), each event counted once by the hour of its time and its type.
pub async fn count_sealed(
    store: &crate::DynamoStore,
    archive: &dyn audit_integrity::Archive,
    now: DateTime<Utc>,
    max: usize,
) -> anyhow::Result<Vec<Counted>> {
    use futures_util::{StreamExt, TryStreamExt};

    /// What counting needs of an archive line.
    #[derive(serde::Deserialize)]
    struct Line {
        id: uuid::Uuid,
        #[serde(with = "event_model::time::rfc3339")]
        time: DateTime<Utc>,
        actor: String,
        #[serde(rename = "type")]
        ty: String,
    }

    let head = store.counted_through().await?;
    let mut counted = Vec::new();
    for signed in audit_integrity::seal::digests_after(archive, head, now, max).await? {
        let files: Vec<Vec<u8>> = futures_util::stream::iter(&signed.digest.files)
            .map(|file| async move {
                archive
                    .read(&file.path)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("archive file {} is missing", file.path))
            })
            .buffered(16)
            .try_collect()
            .await?;
        let mut tally = Tally::default();
        for bytes in &files {
            for line in audit_integrity::archive::Lines::read(bytes)?.iter() {
                let line: Line = serde_json::from_slice(line)?;
                tally.add(line.id, line.time, &line.actor, &line.ty);
            }
        }
        store.count_period(signed.digest.period_end, &tally).await?;
        counted.push(Counted {
            period_end: signed.digest.period_end,
            events: tally.events(),
        });
    }
    Ok(counted)
}
