//! The export function: `POST /exports` and `GET /exports/{id}` behind API Gateway, and the
//! export work itself, started by the export-jobs table's DynamoDB stream.
//!
//! Why the stream: API Gateway cuts a request at 30 s, so the work runs in its own invocation
//! (up to the function's 15-minute timeout). `POST /exports` records the request in the journal,
//! then creates the job; that INSERT is what starts the work (the event source mapping passes
//! only INSERTs). So no job exists that was not recorded, none is created without being started,
//! a failed run is retried by the event source mapping, and the function needs no SDK beyond
//! DynamoDB and S3 (an SQS queue or an asynchronous self-invoke would each add one).

use std::sync::Arc;

use async_trait::async_trait;
use audit_api::{ExportLauncher, ExportWorker, Surface};
use audit_storage::StoreError;
use audit_store_dynamodb::schema;
use aws_lambda_events::event::dynamodb::{Event as DynamoDbEvent, EventRecord as DynamoDbRecord};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, LambdaEvent, Service, service_fn, tower::ServiceExt};
use serde_json::Value;
use uuid::Uuid;

/// Launching is creating the job: the jobs table's stream starts the work.
struct StreamLauncher;

#[async_trait]
impl ExportLauncher for StreamLauncher {
    async fn launch(&self, _job_id: Uuid) -> Result<(), StoreError> {
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    audit_lambda::init_logs();
    let sdk = audit_store_dynamodb::sdk_config().await;
    let config = audit_lambda::Config::load(&sdk).await?;
    if config.cloud.layout.bucket.is_empty() {
        return Err("AUDIT_EXPORT_BUCKET is not set".into());
    }
    let store = config.store(&sdk);
    let objects = Arc::new(config.cloud.export_objects(&sdk, config.link_ttl));
    let worker = ExportWorker {
        events: Arc::new(store.clone()),
        jobs: Arc::new(store.clone()),
        objects: objects.clone(),
    };
    let router = audit_api::router_of(
        Surface::Export,
        config.state(store, Some((objects, Arc::new(StreamLauncher)))),
    );
    let http: Adapter<'static, _, _> = Adapter::from(router);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (http, worker) = (http.clone(), worker.clone());
        async move { handle(event, http, worker).await }
    }))
    .await
}

/// What invoked the function: the jobs table's stream (new jobs to run), the on-failure queue
/// (stream batches that failed every retry), or API Gateway.
enum Invocation {
    JobStream(DynamoDbEvent),
    GivenUp(SqsEvent),
    Http(Box<LambdaRequest>),
}

impl Invocation {
    fn of(payload: Value) -> Result<Invocation, serde_json::Error> {
        Ok(match payload["Records"][0]["eventSource"].as_str() {
            Some("aws:dynamodb") => Invocation::JobStream(serde_json::from_value(payload)?),
            Some("aws:sqs") => Invocation::GivenUp(serde_json::from_value(payload)?),
            _ => Invocation::Http(Box::new(serde_json::from_value(payload)?)),
        })
    }
}

/// A stream batch runs its new jobs, a queue batch marks given-up jobs failed, anything else is
/// an API Gateway request. Both event source mappings report batch item failures
/// (`ReportBatchItemFailures` in the template): a record whose work could not be recorded (the
/// store failed; the worker records a job's own failure in the job) is named in
/// `batchItemFailures`, so only it and what follows it is retried.
async fn handle<S>(event: LambdaEvent<Value>, http: S, worker: ExportWorker) -> Result<Value, lambda_http::Error>
where
    S: Service<LambdaEvent<LambdaRequest>>,
    S::Response: serde::Serialize,
    S::Error: std::fmt::Debug,
{
    let LambdaEvent { payload, context } = event;
    match Invocation::of(payload)? {
        Invocation::JobStream(batch) => Ok(serde_json::to_value(run_new_jobs(&batch, &worker).await)?),
        Invocation::GivenUp(batch) => Ok(serde_json::to_value(fail_given_up(&batch, &worker).await)?),
        Invocation::Http(request) => {
            let response = http
                .oneshot(LambdaEvent::new(*request, context))
                .await
                .map_err(|e| format!("{e:?}"))?;
            Ok(serde_json::to_value(response)?)
        }
    }
}

/// Runs the jobs the batch inserted, in order; the first whose outcome could not be recorded is
/// reported (with it, the stream retries the records after it, which are not run now).
async fn run_new_jobs(batch: &DynamoDbEvent, worker: &ExportWorker) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    for record in &batch.records {
        let Some(id) = new_job(record) else {
            continue;
        };
        if let Err(e) = worker.run(id).await {
            tracing::error!(error = %e, job = %id, "could not record an export's outcome; its record is retried");
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = record.change.sequence_number.clone();
            response.batch_item_failures.push(failure);
            break;
        }
    }
    response
}

/// The id of the job a stream record inserted.
fn new_job(record: &DynamoDbRecord) -> Option<Uuid> {
    if record.event_name != "INSERT" {
        return None;
    }
    match record.change.new_image.get(schema::JOB_ID)? {
        serde_dynamo::AttributeValue::S(id) => id.parse().ok(),
        _ => None,
    }
}

/// Marks failed the jobs of each stream batch the queue's messages name; a message whose jobs
/// could not be marked is reported, to be delivered again.
async fn fail_given_up(batch: &SqsEvent, worker: &ExportWorker) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in &batch.records {
        let Some((from, to)) = given_up_batch(message) else {
            tracing::warn!(message = ?message.message_id, "an on-failure message without a stream batch's times is skipped");
            continue;
        };
        // The batch's arrival times are approximate: a margin either side.
        let margin = chrono::Duration::seconds(2);
        match audit_api::export::fail_given_up(worker.jobs.as_ref(), from - margin, to + margin, chrono::Utc::now())
            .await
        {
            Ok(failed) => tracing::warn!(failed, "a stream batch was given up; its jobs are marked failed"),
            Err(e) => {
                tracing::error!(error = %e, "could not mark a given-up batch's jobs failed; the message is retried");
                if let Some(id) = &message.message_id {
                    response.add_failure(id.clone());
                }
            }
        }
    }
    response
}

/// The arrival times (first, last) of the stream batch an on-failure message names (Lambda's
/// `DDBStreamBatchInfo`; the message does not carry the records themselves).
fn given_up_batch(message: &SqsMessage) -> Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> {
    let body: Value = serde_json::from_str(message.body.as_deref()?).ok()?;
    let info = &body["DDBStreamBatchInfo"];
    let instant = |v: &Value| v.as_str().and_then(event_model::time::parse_instant);
    Some((
        instant(&info["approximateArrivalOfFirstRecord"])?,
        instant(&info["approximateArrivalOfLastRecord"])?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_given_up_batch_is_read_from_the_on_failure_message() {
        let body = json!({"requestContext": {"condition": "RetryAttemptsExhausted"},
            "DDBStreamBatchInfo": {"approximateArrivalOfFirstRecord": "2026-12-01T10:00:00.100Z",
                                   "approximateArrivalOfLastRecord": "2026-12-01T10:00:00.900Z", "batchSize": 1}});
        let batch: SqsEvent = serde_json::from_value(json!({"Records": [
            {"messageId": "m1", "eventSource": "aws:sqs", "body": body.to_string()},
            {"messageId": "m2", "eventSource": "aws:sqs", "body": "not json"}]}))
        .unwrap();
        let batches: Vec<_> = batch.records.iter().filter_map(given_up_batch).collect();
        assert_eq!(batches.len(), 1);
        assert_eq!(event_model::time::format(&batches[0].0), "2026-12-01T10:00:00.100000Z");
    }

    #[test]
    fn only_inserted_jobs_are_run() {
        let id = Uuid::new_v4();
        let record = |name: &str, job: &str| {
            json!({"eventID": "1", "eventName": name, "awsRegion": "us-east-1", "eventSource": "aws:dynamodb",
                   "dynamodb": {"NewImage": {"id": {"S": job}}, "SizeBytes": 10, "SequenceNumber": "1"}})
        };
        let batch: DynamoDbEvent = serde_json::from_value(json!({"Records": [
            record("INSERT", &id.to_string()),
            record("MODIFY", &Uuid::new_v4().to_string()),
            record("INSERT", "not-a-uuid"),
        ]}))
        .unwrap();
        let ids: Vec<Uuid> = batch.records.iter().filter_map(new_job).collect();
        assert_eq!(ids, vec![id]);
    }

    #[test]
    fn invocations_are_told_apart_by_their_source() {
        let stream = json!({"Records": [{"eventID": "1", "eventName": "INSERT", "awsRegion": "us-east-1",
            "eventSource": "aws:dynamodb", "dynamodb": {"SizeBytes": 1}}]});
        assert!(matches!(Invocation::of(stream), Ok(Invocation::JobStream(_))));
        let queue = json!({"Records": [{"messageId": "m", "eventSource": "aws:sqs", "body": "{}"}]});
        assert!(matches!(Invocation::of(queue), Ok(Invocation::GivenUp(_))));
        assert!(Invocation::of(json!({"Records": "nonsense"})).is_err());
    }
}
