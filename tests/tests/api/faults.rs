//! The DynamoDB path through a fault-injecting proxy (`integration_tests::fault_proxy`) between
//! the server and dynalite: how failures of the store are reported and recovered from.

use std::sync::Arc;

use crate::harness::{Options, Place, READ_TOKEN, custom, customs, fresh_tables, spawn_app_with};
use integration_tests::fault_proxy::{Fault, FaultProxy, Rule};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A server over fresh tables whose DynamoDB and S3 calls go through a proxy each (without
/// faults until a test sets rules): (app, DynamoDB's proxy, S3's proxy, the jobs table). Keep
/// both proxies alive for as long as the app runs.
async fn behind_proxies() -> (crate::harness::TestApp, FaultProxy, FaultProxy, String) {
    let mut cloud = fresh_tables().await;
    let (dynamodb, s3) = integration_tests::emulator_endpoints();
    let proxy = FaultProxy::start(&dynamodb).await;
    let s3_proxy = FaultProxy::start(&s3).await;
    cloud.dynamodb_endpoint = Some(proxy.url.clone());
    cloud.s3_endpoint = Some(s3_proxy.url.clone());
    let jobs_table = cloud.layout.jobs_table.clone();
    let place = Arc::new(Place {
        dir: tempfile::TempDir::new().unwrap(),
        store: audit_local::StoreKind::DynamoDb(cloud),
    });
    (
        spawn_app_with(place, Options::default()).await,
        proxy,
        s3_proxy,
        jobs_table,
    )
}

/// Stores one custom event by alice.
async fn one_row(app: &crate::harness::TestApp) {
    app.ingest_all(&[custom(uuid::Uuid::new_v4(), "2026-05-01T10:00:00Z", "alice", "row")])
        .await;
}

fn retry_after(response: &reqwest::Response) -> Option<u64> {
    response.headers().get("retry-after")?.to_str().ok()?.parse().ok()
}

#[tokio::test]
async fn a_busy_store_answers_503_with_retry_after_on_every_route() {
    let (app, proxy, _s3, _) = behind_proxies().await;
    app.ingest_all(&[custom(uuid::Uuid::new_v4(), "2026-05-01T10:00:00Z", "alice", "before")])
        .await;
    let job = app.export(&json!({})).await;
    let job_path = format!("/exports/{}", job["id"].as_str().unwrap());
    // From now on DynamoDB throttles every call.
    proxy.set_rules(vec![Rule::any(Fault::Throttle)]);

    let listed = app.get("/events", Some(READ_TOKEN)).await;
    assert_eq!(listed.status(), StatusCode::SERVICE_UNAVAILABLE, "GET /events");
    assert_eq!(retry_after(&listed), Some(1));
    let problem: Value = listed.json().await.unwrap();
    assert_eq!(problem["type"], "urn:audit-log:problem:store-busy");

    let status = app.get(&job_path, Some(READ_TOKEN)).await;
    assert_eq!(status.status(), StatusCode::SERVICE_UNAVAILABLE, "GET /exports/{{id}}");
    assert_eq!(retry_after(&status), Some(1));

    let export = app.post_json("/exports", Some(READ_TOKEN), &json!({})).await;
    assert_eq!(export.status(), StatusCode::SERVICE_UNAVAILABLE, "POST /exports");
    assert_eq!(retry_after(&export), Some(1));

    let ingest = app
        .post_json(
            "/events",
            Some(crate::harness::INGEST_TOKEN),
            &json!({"actor": "alice", "type": "custom.t", "message": "during"}),
        )
        .await;
    assert_eq!(ingest.status(), StatusCode::SERVICE_UNAVAILABLE, "POST /events");
    assert_eq!(retry_after(&ingest), Some(1));
    let body: Value = ingest.json().await.unwrap();
    assert_eq!(body["results"][0]["status"], "failed");
    assert!(proxy.injected() > 10, "{} faults injected", proxy.injected());

    // Once the store answers again, so does the service.
    proxy.set_rules(Vec::new());
    assert_eq!(app.get("/events", Some(READ_TOKEN)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_lost_answer_to_the_job_write_still_starts_the_export() {
    let (app, proxy, _s3, jobs_table) = behind_proxies().await;
    one_row(&app).await;
    // The job's PutItem lands, its answer is lost, and the SDK sends it again.
    proxy.set_rules(vec![
        Rule::job_writes(&jobs_table, "requested_by", Fault::LoseAnswer).times(1),
    ]);
    for round in 0..4 {
        let job = app.export(&json!({"category": "custom"})).await;
        assert_eq!(job["status"], "succeeded", "round {round}: {job}");
        assert_eq!(job["rows"], 1);
    }
    assert_eq!(proxy.injected(), 1, "the answer was lost once");
}

#[tokio::test]
async fn an_export_finishing_during_a_jobs_table_outage_is_recorded_once_it_ends() {
    let (app, proxy, _s3, jobs_table) = behind_proxies().await;
    one_row(&app).await;
    // Every write of a finished outcome to the jobs table is throttled for 8 s: longer than the
    // SDK's own retries.
    proxy.set_rules(vec![Rule::job_writes(&jobs_table, "succeeded", Fault::Throttle)]);
    let created = app
        .post_json("/exports", Some(READ_TOKEN), &json!({"category": "custom"}))
        .await;
    assert_eq!(created.status(), StatusCode::ACCEPTED);
    let path = created.json::<Value>().await.unwrap()["status_url"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(std::time::Duration::from_secs(8)).await;
    assert!(proxy.injected() > 0, "the outcome's writes were throttled");
    let during: Value = app.get(&path, Some(READ_TOKEN)).await.json().await.unwrap();
    assert_eq!(during["status"], "running", "not written yet: {during}");
    proxy.set_rules(Vec::new());
    let mut job = Value::Null;
    for _ in 0..300 {
        job = app.get(&path, Some(READ_TOKEN)).await.json().await.unwrap();
        if job["status"] != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["rows"], 1);
}

#[tokio::test]
async fn a_lost_answer_to_completing_the_upload_is_still_a_succeeded_export() {
    let (app, _, s3, _) = behind_proxies().await;
    let events = customs(50, "2026-05-01T10:00:00Z", "alice", "row");
    app.ingest_all(&events).await;
    // S3 completes the object; its answer is lost; the SDK's retry finds the upload gone.
    s3.set_rules(vec![Rule::s3("POST", "uploadId=", Fault::LoseAnswer).times(1)]);
    let job = app.export(&json!({"category": "custom"})).await;
    assert_eq!(s3.injected(), 1);
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["rows"], 50);
    let csv = app
        .client
        .get(job["download_url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(job["bytes"], csv.len(), "the object is the whole file");
    assert_eq!(csv.lines().count(), 51);
}

#[tokio::test]
async fn a_slow_store_answers_a_full_batch_with_per_event_results_before_the_request_timeout() {
    let (app, proxy, _s3, _) = behind_proxies().await;
    let mut events = customs(497, "2026-05-01T10:00:00Z", "alice", "row");
    for i in 0..3 {
        events.push(custom(
            uuid::Uuid::new_v4(),
            "2026-05-01T10:00:00Z",
            "slowpoke",
            &format!("late {i}"),
        ));
    }
    // Half the writes take 2.5 s; three never answer within an attempt's 10 s.
    proxy.set_rules(vec![
        Rule::dynamodb("PutItem", Fault::Delay(std::time::Duration::from_secs(12))).body_has("slowpoke"),
        Rule::dynamodb("PutItem", Fault::Delay(std::time::Duration::from_millis(2500))).chance(0.5),
    ]);
    let started = std::time::Instant::now();
    let answer = app
        .post_json(
            "/events",
            Some(crate::harness::INGEST_TOKEN),
            &json!({ "events": events }),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(
        answer.status(),
        StatusCode::OK,
        "per-event results, not a timeout, after {took:?}"
    );
    assert!(
        took < std::time::Duration::from_secs(25),
        "answered within the deadline: {took:?}"
    );
    assert_eq!(retry_after(&answer), Some(1), "some events are to be sent again");
    let body: Value = answer.json().await.unwrap();
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 500);
    let failed: Vec<usize> = results
        .iter()
        .filter(|r| r["status"] == "failed")
        .map(|r| r["index"].as_u64().unwrap() as usize)
        .collect();
    assert_eq!(failed, [497, 498, 499], "only the writes that never answered: {body}");
    assert_eq!(body["accepted"], 497);

    // Sent again once the store is itself again: the late ones stored once, the rest duplicates.
    proxy.set_rules(Vec::new());
    let again: Value = app.ingest(&events).await;
    assert_eq!(
        again["duplicates"].as_u64().unwrap() + again["accepted"].as_u64().unwrap(),
        500,
        "{again}"
    );
    assert_eq!(app.list_all("actor=slowpoke").await.len(), 3);
}

#[tokio::test]
async fn reads_keep_their_retries_after_a_storm_of_throttled_writes() {
    let (app, proxy, _s3, _) = behind_proxies().await;
    app.ingest_all(&[custom(uuid::Uuid::new_v4(), "2026-05-01T10:00:00Z", "alice", "before")])
        .await;
    // A storm of writes that are all throttled: every one spends its retries.
    proxy.set_rules(vec![Rule::dynamodb("PutItem", Fault::Throttle)]);
    let storm: Vec<Value> = (0..40)
        .map(|i| custom(uuid::Uuid::new_v4(), "2026-05-01T10:00:00Z", "storm", &format!("s{i}")))
        .collect();
    let stormed = app
        .post_json(
            "/events",
            Some(crate::harness::INGEST_TOKEN),
            &json!({ "events": storm }),
        )
        .await;
    assert_eq!(stormed.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Then each read's first attempt is throttled: its retry must still be there.
    proxy.set_rules(vec![Rule::dynamodb("Query", Fault::Throttle).times(5)]);
    for read in 0..5 {
        let page = app.get("/events?actor=alice", Some(READ_TOKEN)).await;
        assert_eq!(page.status(), StatusCode::OK, "read {read} after the write storm");
    }
    assert!(proxy.injected() >= 5);
}

#[tokio::test]
async fn the_local_server_runs_two_exports_at_once_and_the_third_waits_its_turn() {
    let (app, _dynamodb, s3, _) = behind_proxies().await;
    one_row(&app).await;
    // Each upload takes 2 s to start: long enough to see which exports run and which waits.
    s3.set_rules(vec![Rule::s3(
        "POST",
        "?uploads",
        Fault::Delay(std::time::Duration::from_secs(2)),
    )]);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let response = app.post_json("/exports", Some(READ_TOKEN), &json!({})).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        ids.push(
            response.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let mut statuses = Vec::new();
    for id in &ids {
        let job: Value = app
            .get(&format!("/exports/{id}"), Some(READ_TOKEN))
            .await
            .json()
            .await
            .unwrap();
        statuses.push(job["status"].as_str().unwrap().to_owned());
    }
    statuses.sort();
    assert_eq!(statuses, ["pending", "running", "running"], "two run, the third waits");
    // The third runs once one of the two is done; all three finish.
    for id in &ids {
        let job = app.finished_export(id).await;
        assert_eq!(job["status"], "succeeded", "{job}");
    }
    assert_eq!(s3.injected(), 3, "each upload was delayed once");
}
