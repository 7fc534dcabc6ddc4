//! The archiver function: the integrity archive on AWS.
//!
//! - **The events table's stream** (`NEW_AND_OLD_IMAGES`): each batch's inserted events go into
//!   write-once archive files in the archive bucket (gzip NDJSON of canonical events, one file
//!   per day received, named by when it was written). A `MODIFY` or `REMOVE` of an event — the
//!   API never does either — is recorded as `audit.record_modified` / `audit.record_removed`
//!   (actor `system`) and counted in the `TamperEvents` metric the template's alarm watches;
//!   removals by the table's TTL (the stream marks them, principal `dynamodb.amazonaws.com`)
//!   are retention, logged only.
//! - **A schedule** (`{"action": "seal"}`): every period of `AUDIT_SEAL_INTERVAL_SECS` that
//!   ended at least `AUDIT_SEAL_GRACE_SECS` ago gets its digest, signed by the KMS key
//!   `AUDIT_DIGEST_KEY_ID` and chained to the one before. Then each sealed period not counted
//!   yet is counted into the events table's kept counts (by hour of event time and type), from
//!   which `GET /counts` answers.
//! - **API Gateway**: `GET /integrity` and `GET /events/{id}/proof` (the routes of
//!   `Surface::Integrity`), over the archive this function writes. The API's settings (token
//!   hashes, signing key) are read at the first request, so stream and schedule invocations
//!   never wait for them.
//!
//! A batch whose files or records could not be written is reported as failed from its first
//! record, so the stream delivers it again: a repeated file holds identical events, which
//! `verify` counts once and notes. Tamper records have ids made from the stream record's id,
//! so a repeat is a duplicate, not a second record.

use std::sync::Arc;

use audit_api::ApiError;
use audit_integrity::Archive;
use audit_integrity::seal::{Unproven, seal_due, write_batch};
use audit_storage::{AppendOutcome, EventStore};
use audit_store_dynamodb::integrity::{Image, KmsSigner, S3Archive, count_sealed, image};
use audit_store_dynamodb::{CloudSettings, DynamoStore};
use aws_lambda_events::event::dynamodb::{Event as DynamoDbEvent, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use chrono::{DateTime, Duration, Utc};
use event_model::catalog;
use lambda_http::request::LambdaRequest;
use lambda_http::tower::ServiceExt;
use lambda_http::{Adapter, LambdaEvent, service_fn};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

/// Periods sealed at most per scheduled run (a backlog is worked off run by run).
const MAX_PERIODS_PER_RUN: usize = 48;
/// How long before it was written an archived event can have been received: the stream keeps
/// records for 24 hours, so a file's events are from at most a day before (plus a margin).
const STREAM_LAG: i64 = 26;

struct App {
    archive: S3Archive,
    store: DynamoStore,
    sdk: audit_store_dynamodb::SdkConfig,
    key_id: Option<String>,
    signer: OnceCell<KmsSigner>,
    interval: Duration,
    grace: Duration,
    /// The HTTP routes, built at the first request.
    http: OnceCell<axum::Router>,
}

fn setting(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn seconds(name: &str, default: i64) -> anyhow::Result<Duration> {
    match setting(name) {
        None => Ok(Duration::seconds(default)),
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if n >= 1 => Ok(Duration::seconds(n)),
            _ => anyhow::bail!("{name} must be a whole number of seconds, at least 1: {v}"),
        },
    }
}

impl App {
    async fn load() -> anyhow::Result<App> {
        let sdk = audit_store_dynamodb::sdk_config().await;
        let cloud = CloudSettings::from_vars(&|name| std::env::var(name).ok(), None)?;
        let bucket =
            setting("AUDIT_ARCHIVE_BUCKET").ok_or_else(|| anyhow::anyhow!("AUDIT_ARCHIVE_BUCKET is not set"))?;
        Ok(App {
            archive: cloud.archive(&sdk, &bucket),
            store: cloud.events_store(&sdk),
            key_id: setting("AUDIT_DIGEST_KEY_ID"),
            signer: OnceCell::new(),
            interval: seconds("AUDIT_SEAL_INTERVAL_SECS", 3600)?,
            grace: seconds("AUDIT_SEAL_GRACE_SECS", 300)?,
            http: OnceCell::new(),
            sdk,
        })
    }

    /// The KMS signer, made at the first seal (a stream invocation never needs it).
    async fn signer(&self) -> anyhow::Result<&KmsSigner> {
        let key_id = self
            .key_id
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("AUDIT_DIGEST_KEY_ID is not set"))?;
        Ok(self
            .signer
            .get_or_try_init(|| KmsSigner::new(audit_store_dynamodb::integrity::kms_client(&self.sdk), key_id))
            .await?)
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    audit_lambda::init_logs();
    let app = Arc::new(App::load().await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let app = app.clone();
        async move { handle(event, &app).await }
    }))
    .await
}

async fn handle(event: LambdaEvent<Value>, app: &Arc<App>) -> Result<Value, lambda_runtime::Error> {
    let LambdaEvent { payload, context } = event;
    if payload["Records"][0]["eventSource"] == "aws:dynamodb" {
        let batch: DynamoDbEvent = serde_json::from_value(payload)?;
        return Ok(serde_json::to_value(archive_batch(&batch, app, Utc::now()).await)?);
    }
    if payload["action"] == "seal" {
        let signer = app.signer().await?;
        let sealed = seal_due(
            &app.archive,
            signer,
            app.interval,
            app.grace,
            Duration::hours(STREAM_LAG),
            Utc::now(),
            MAX_PERIODS_PER_RUN,
        )
        .await?;
        for d in &sealed {
            tracing::info!(digest = %d.digest.path(), events = d.digest.events, files = d.digest.files.len(), "sealed");
        }
        let digests: Vec<String> = sealed.iter().map(|d| d.digest.path()).collect();
        // Then the sealed periods' events into the kept counts (GET /counts). A failure is
        // logged and tried again at the next run; it never holds up sealing.
        let counted = match count_sealed(&app.store, &app.archive, Utc::now(), MAX_PERIODS_PER_RUN).await {
            Ok(counted) => counted,
            Err(e) => {
                tracing::error!(error = %e, "counting the sealed periods failed");
                Vec::new()
            }
        };
        for c in &counted {
            tracing::info!(period_end = %c.period_end, events = c.events, "counted");
        }
        let counted: Vec<String> = counted
            .iter()
            .map(|c| event_model::time::format(&c.period_end))
            .collect();
        return Ok(json!({"sealed": digests, "counted": counted}));
    }
    // Anything else is an API Gateway request for the integrity routes.
    let request: LambdaRequest = serde_json::from_value(payload)?;
    let router = app.http.get_or_try_init(|| http_routes(app.clone())).await?;
    let http: Adapter<'static, _, _> = Adapter::from(router.clone());
    let response = http
        .oneshot(LambdaEvent::new(request, context))
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(serde_json::to_value(response)?)
}

/// The integrity routes over the archive, with the API's settings (read now, once).
async fn http_routes(app: Arc<App>) -> anyhow::Result<axum::Router> {
    let config = audit_lambda::Config::load(&app.sdk).await?;
    let mut state = config.state(app.store.clone(), None);
    state.integrity = Some(Arc::new(CloudIntegrity { app }));
    Ok(audit_api::router_of(audit_api::Surface::Integrity, state))
}

/// `GET /integrity` and proofs over the archive bucket and the events table.
struct CloudIntegrity {
    app: Arc<App>,
}

#[async_trait::async_trait]
impl audit_api::Integrity for CloudIntegrity {
    async fn status(&self) -> Result<audit_integrity::Status, ApiError> {
        let app = &self.app;
        let newest = audit_integrity::seal::newest_digest(&app.archive, Utc::now())
            .await
            .map_err(unexpected)?;
        let signer = app.signer().await.map_err(|e| unexpected(e.to_string()))?;
        let filter = event_model::EventFilter {
            types: vec![
                catalog::RECORD_MODIFIED.code.to_owned(),
                catalog::RECORD_REMOVED.code.to_owned(),
            ],
            ..Default::default()
        };
        let tamper = app.store.query(&filter, 1, None).await?.events.into_iter().next();
        Ok(audit_integrity::Status {
            sealed_through: newest.as_ref().map(|d| d.digest.period_end),
            seal_interval_secs: app.interval.num_seconds().max(0) as u64,
            newest_digest: newest.as_ref().map(Into::into),
            public_key: audit_integrity::Signer::public_key(signer).into(),
            last_check: None,
            tamper: tamper.map(|e| audit_integrity::status::TamperNote {
                at: e.received_at,
                event_type: e.event_type,
                message: e.message,
            }),
        })
    }

    async fn proof(&self, id: uuid::Uuid) -> Result<audit_integrity::Proof, ApiError> {
        let app = &self.app;
        let key = id.to_string();
        let stored = app.store.canonical_events(std::slice::from_ref(&key)).await?;
        let canonical = stored
            .get(&key)
            .ok_or_else(|| ApiError::NotFound(format!("no event with id {id}")))?;
        let current: Value = serde_json::from_slice(canonical).map_err(|e| unexpected(e.to_string()))?;
        let received = current["received_at"]
            .as_str()
            .and_then(event_model::time::parse_instant)
            .ok_or_else(|| unexpected(format!("event {id} has no readable received_at")))?;
        audit_integrity::seal::prove(&app.archive, &key, received, current)
            .await
            .map_err(|e| match e {
                Unproven::NotArchived | Unproven::NotSealed => ApiError::NotSealedYet(format!(
                    "event {id} is stored but not sealed yet ({e}); periods are sealed every {} s, {} s after they end",
                    app.interval.num_seconds(),
                    app.grace.num_seconds()
                )),
                Unproven::Failed(e) => unexpected(e),
            })
    }
}

fn unexpected(e: impl std::fmt::Display) -> ApiError {
    ApiError::Unexpected(audit_storage::StoreError::Corrupt(e.to_string()))
}

/// A change of a stored event that the API never makes.
struct Tamper<'a> {
    record: &'a EventRecord,
    kind: &'static event_model::EventType,
    event_id: String,
}

/// Records the batch's tamper events, then archives its inserted events. Unreadable images are
/// logged and skipped (one bad item never stops the stream).
async fn archive_batch(batch: &DynamoDbEvent, app: &App, now: DateTime<Utc>) -> DynamoDbEventResponse {
    let mut lines = Vec::new();
    let mut tampers = Vec::new();
    for record in &batch.records {
        let sequence = record.change.sequence_number.as_deref().unwrap_or("-");
        match record.event_name.as_str() {
            "INSERT" => match image(record.change.new_image.clone()) {
                Ok(Image::Event {
                    received_at, canonical, ..
                }) => lines.push((received_at, canonical)),
                Ok(Image::Marker) => {}
                Err(e) => {
                    tracing::error!(error = %e, sequence, "an inserted item is not a readable event; it is not archived")
                }
            },
            name @ ("MODIFY" | "REMOVE") => {
                let old = image(record.change.old_image.clone());
                if matches!(old, Ok(Image::Marker)) {
                    continue;
                }
                let event_id = match &old {
                    Ok(Image::Event { id, .. }) => id.to_string(),
                    _ => key_id(record).unwrap_or_else(|| "(unknown)".into()),
                };
                if name == "REMOVE" && by_ttl(record) {
                    tracing::info!(event = %event_id, "an event reached its retention and was removed by the table's TTL");
                    continue;
                }
                let kind = if name == "MODIFY" {
                    catalog::RECORD_MODIFIED
                } else {
                    catalog::RECORD_REMOVED
                };
                tracing::error!(event = %event_id, change = name, sequence, "an event was changed behind the API");
                tampers.push(Tamper { record, kind, event_id });
            }
            other => tracing::warn!(event_name = other, sequence, "an unknown stream record is skipped"),
        }
    }
    let first = batch.records.first().and_then(|r| r.change.sequence_number.clone());
    let failed = || {
        let mut response = DynamoDbEventResponse::default();
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = first.clone();
        response.batch_item_failures.push(failure);
        response
    };
    if !tampers.is_empty() {
        if let Err(e) = record_tampers(&app.store, &tampers).await {
            tracing::error!(error = %e, "the tamper records could not be stored; the batch is retried");
            return failed();
        }
        // Embedded metric format: CloudWatch turns this log line into the alarm's metric.
        println!(
            "{}",
            json!({"_aws": {"Timestamp": now.timestamp_millis(), "CloudWatchMetrics": [{"Namespace": "AuditLog",
                "Dimensions": [[]], "Metrics": [{"Name": "TamperEvents", "Unit": "Count"}]}]},
                "TamperEvents": tampers.len()})
        );
    }
    if !lines.is_empty() {
        let batch_id = first.as_deref().unwrap_or("batch");
        match write_batch(&app.archive as &dyn Archive, &lines, batch_id, now).await {
            Ok(files) => tracing::info!(events = lines.len(), files = files.len(), "archived"),
            Err(e) => {
                tracing::error!(error = %e, "the batch could not be archived; it is retried");
                return failed();
            }
        }
    }
    DynamoDbEventResponse::default()
}

/// The event id in a record's keys.
fn key_id(record: &EventRecord) -> Option<String> {
    match record.change.keys.get(audit_store_dynamodb::schema::ID)? {
        serde_dynamo::AttributeValue::S(id) => Some(id.clone()),
        _ => None,
    }
}

/// Whether a removal was the table's TTL (the stream's own marking of it).
fn by_ttl(record: &EventRecord) -> bool {
    record
        .user_identity
        .as_ref()
        .is_some_and(|u| u.type_ == "Service" && u.principal_id == "dynamodb.amazonaws.com")
}

async fn record_tampers(store: &DynamoStore, tampers: &[Tamper<'_>]) -> Result<(), audit_storage::StoreError> {
    let mut events = Vec::with_capacity(tampers.len());
    for t in tampers {
        let mut params = serde_json::Map::new();
        params.insert("event_id".into(), json!(t.event_id));
        params.insert("stream_record".into(), json!(t.record.event_id));
        let at = t.record.change.approximate_creation_date_time;
        let mut event = event_model::NewEvent::service_record(t.kind, event_model::SYSTEM_ACTOR, params, at)
            .map_err(audit_storage::StoreError::unavailable)?;
        event.event.id = record_id(&t.record.event_id);
        events.push(event);
    }
    for outcome in store.append(events).await {
        match outcome {
            AppendOutcome::Created | AppendOutcome::Duplicate => {}
            AppendOutcome::Failed(e) => return Err(e),
            AppendOutcome::Conflict => {
                return Err(audit_storage::StoreError::Corrupt(
                    "a tamper record's id holds another event".into(),
                ));
            }
        }
    }
    Ok(())
}

/// The id of the tamper record of stream record `event_id`: the same on every delivery.
fn record_id(event_id: &str) -> uuid::Uuid {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(format!("audit-log tamper record {event_id}").as_bytes());
    let bytes: [u8; 16] = hash[..16].try_into().expect("16 bytes");
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}
