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
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, LambdaEvent, Service, service_fn, tower::ServiceExt};
use serde_json::{Value, json};
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

/// A stream batch runs its new jobs; anything else is an API Gateway request.
async fn handle<S>(event: LambdaEvent<Value>, http: S, worker: ExportWorker) -> Result<Value, lambda_http::Error>
where
    S: Service<LambdaEvent<LambdaRequest>>,
    S::Response: serde::Serialize,
    S::Error: std::fmt::Debug,
{
    let LambdaEvent { payload, context } = event;
    let records = payload.get("Records").and_then(Value::as_array);
    if let Some(records) = records.filter(|r| r.iter().any(|r| r["eventSource"] == "aws:sqs")) {
        // The on-failure queue: stream batches that failed every retry; no worker runs their jobs again.
        for (from, to) in given_up_batches(records) {
            let margin = chrono::Duration::seconds(2);
            let failed =
                audit_api::export::fail_given_up(worker.jobs.as_ref(), from - margin, to + margin, chrono::Utc::now())
                    .await?;
            tracing::warn!(failed, "a stream batch was given up; its jobs are marked failed");
        }
        return Ok(json!({ "batchItemFailures": [] }));
    }
    if let Some(records) = records {
        for id in new_jobs(records) {
            // The worker records a failure in the job itself; an error here is the store's, and
            // failing the invocation lets the event source mapping retry it.
            worker.run(id).await?;
        }
        return Ok(json!({ "batchItemFailures": [] }));
    }
    let request: LambdaRequest = serde_json::from_value(payload)?;
    let response = http
        .oneshot(LambdaEvent::new(request, context))
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(serde_json::to_value(response)?)
}

/// The ids of the jobs a stream batch inserted.
fn new_jobs(records: &[Value]) -> Vec<Uuid> {
    records
        .iter()
        .filter(|r| r["eventName"] == "INSERT")
        .filter_map(|r| r["dynamodb"]["NewImage"][schema::JOB_ID]["S"].as_str())
        .filter_map(|id| id.parse().ok())
        .collect()
}

/// The arrival times (first, last) of each stream batch named by the on-failure queue's messages
/// (Lambda's `DDBStreamBatchInfo`; the message does not carry the records themselves).
fn given_up_batches(records: &[Value]) -> Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> {
    let instant = |v: &Value| v.as_str().and_then(event_model::time::parse_instant);
    records
        .iter()
        .filter_map(|r| serde_json::from_str::<Value>(r["body"].as_str()?).ok())
        .filter_map(|body| {
            let info = &body["DDBStreamBatchInfo"];
            Some((
                instant(&info["approximateArrivalOfFirstRecord"])?,
                instant(&info["approximateArrivalOfLastRecord"])?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_up_batch_is_read_from_the_on_failure_message() {
        let body = json!({"requestContext": {"condition": "RetryAttemptsExhausted"},
            "DDBStreamBatchInfo": {"approximateArrivalOfFirstRecord": "2026-12-01T10:00:00.100Z",
                                   "approximateArrivalOfLastRecord": "2026-12-01T10:00:00.900Z", "batchSize": 1}});
        let records = json!([{"eventSource": "aws:sqs", "body": body.to_string()}, {"eventSource": "aws:sqs", "body": "not json"}]);
        let batches = given_up_batches(records.as_array().unwrap());
        assert_eq!(batches.len(), 1);
        assert_eq!(event_model::time::format(&batches[0].0), "2026-12-01T10:00:00.100000Z");
    }

    #[test]
    fn only_inserted_jobs_are_run() {
        let id = Uuid::new_v4();
        let records = json!([
            {"eventName": "INSERT", "dynamodb": {"NewImage": {"id": {"S": id.to_string()}}}},
            {"eventName": "MODIFY", "dynamodb": {"NewImage": {"id": {"S": Uuid::new_v4().to_string()}}}},
            {"eventName": "INSERT", "dynamodb": {"NewImage": {"id": {"S": "not-a-uuid"}}}},
        ]);
        assert_eq!(new_jobs(records.as_array().unwrap()), vec![id]);
    }
}
