use crate::harness::{READ_TOKEN, custom, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

const HEADER: &str = "time,actor,category,type,message,duration_ms,id,received_at,source\r\n";

fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let text = text
        .strip_prefix('\u{feff}')
        .expect("the file starts with the UTF-8 BOM");
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[tokio::test]
async fn an_export_holds_exactly_the_paged_listing_as_csv() {
    let app = spawn_app().await;
    let mut events: Vec<Value> = (0..2500)
        .map(|i| {
            custom(
                Uuid::new_v4(),
                &format!("2026-05-0{}T10:00:{:02}Z", 1 + i % 3, i % 60),
                ["alice", "bob"][i % 2],
                &format!("row {i}, \"quoted\""),
            )
        })
        .collect();
    events.push(custom(
        Uuid::new_v4(),
        "2026-05-01T00:00:00Z",
        "alice",
        "=HYPERLINK(\"http://evil\")",
    ));
    app.ingest_all(&events).await;

    let filters = json!({"actor": "alice", "from": "2026-05-01", "to": "2026-05-02", "order": "asc"});
    let job = app.export(&filters).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let listing = app
        .list_all("actor=alice&from=2026-05-01&to=2026-05-02&order=asc&limit=500")
        .await;
    assert_eq!(job["rows"], listing.len());
    assert_eq!(job["filters"]["actor"], "alice");
    assert!(job["expires_at"].is_string());

    let url = job["download_url"].as_str().unwrap();
    let response = app.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = response.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"audit-log-") && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let text = response.text().await.unwrap();
    assert_eq!(job["bytes"], text.len());
    assert!(text.starts_with(&format!("\u{feff}{HEADER}")));

    let rows = csv_rows(&text);
    assert_eq!(rows.len(), listing.len());
    for (row, event) in rows.iter().zip(&listing) {
        let message = event["message"].as_str().unwrap();
        let shown = if message.starts_with('=') {
            format!("'{message}")
        } else {
            message.to_owned()
        };
        let expected = [
            event["time"].as_str().unwrap().to_owned(),
            event["actor"].as_str().unwrap().to_owned(),
            event["category"].as_str().unwrap().to_owned(),
            event["type"].as_str().unwrap().to_owned(),
            shown,
            event["duration_ms"].as_u64().map(|d| d.to_string()).unwrap_or_default(),
            event["id"].as_str().unwrap().to_owned(),
            event["received_at"].as_str().unwrap().to_owned(),
            event["source"].as_str().unwrap().to_owned(),
        ];
        assert_eq!(row[..], expected[..]);
    }
    assert!(rows.iter().any(|r| r[4] == "'=HYPERLINK(\"http://evil\")"));
}

#[tokio::test]
async fn an_export_with_no_match_is_the_header_only() {
    let app = spawn_app().await;
    let job = app.export(&json!({"actor": "nobody"})).await;
    assert_eq!(
        (job["status"].as_str(), job["rows"].as_u64()),
        (Some("succeeded"), Some(0))
    );
    let download = |job: Value| {
        let client = app.client.clone();
        async move {
            let url = job["download_url"].as_str().unwrap().to_owned();
            client.get(url).send().await.unwrap().text().await.unwrap()
        }
    };
    assert_eq!(download(job).await, format!("\u{feff}{HEADER}"));
    let plain = app.export(&json!({"actor": "nobody", "bom": false})).await;
    assert_eq!(plain["bom"], false);
    assert_eq!(download(plain).await, HEADER, "without the BOM when asked");
}

#[tokio::test]
async fn an_export_request_answers_202_with_a_location() {
    let app = spawn_app().await;
    let response = app
        .post_json("/exports", Some(READ_TOKEN), &json!({"category": ["auth", "sca"]}))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "pending");
    assert_eq!(location, format!("/exports/{}", body["id"].as_str().unwrap()));
    assert_eq!(body["status_url"], location);
    // An empty body exports everything.
    let empty = app
        .client
        .post(app.url("/exports"))
        .bearer_auth(READ_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), StatusCode::ACCEPTED);
    let unknown = app.get(&format!("/exports/{}", Uuid::new_v4()), Some(READ_TOKEN)).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_export_request_is_recorded_in_the_journal_under_the_token_that_asked() {
    let app = spawn_app().await;
    let job = app.export(&json!({"actor": "alice", "from": "2026-05-01"})).await;
    let records = app.list_all("category=audit").await;
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record["type"], "audit.export_requested");
    assert_eq!(record["actor"], "admin");
    assert_eq!(record["source"], "audit-log");
    assert_eq!(record["params"]["export_id"], job["id"]);
    assert_eq!(
        record["message"],
        format!(
            "Export {} of the audit log requested with filters: from=2026-05-01T00:00:00.000000Z, actor=alice",
            job["id"].as_str().unwrap()
        )
    );
}

#[tokio::test]
async fn a_token_with_three_unfinished_exports_gets_429() {
    let app = spawn_app().await;
    // Three slots held by jobs that never run, as if they were still waiting for a worker.
    let store = app.place.jobs().await;
    let now = chrono::Utc::now();
    for _ in 0..3 {
        let held = store
            .claim_slot("admin", Uuid::now_v7(), 3, now, now + chrono::Duration::minutes(5))
            .await
            .unwrap();
        assert!(held);
    }
    let response = app.post_json("/exports", Some(READ_TOKEN), &json!({})).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    assert!(
        app.list_all("category=audit").await.is_empty(),
        "a refused export is not recorded"
    );
}

#[tokio::test]
async fn thirty_concurrent_slot_claims_of_one_token_take_exactly_three() {
    let app = spawn_app().await;
    let store = app.place.jobs().await;
    let now = chrono::Utc::now();
    let claims: Vec<_> = (0..30)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .claim_slot("racer", Uuid::now_v7(), 3, now, now + chrono::Duration::minutes(5))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut taken = 0;
    for claim in claims {
        taken += usize::from(claim.await.unwrap());
    }
    assert_eq!(taken, 3, "claims granted out of 30");
    assert!(
        store
            .claim_slot("other", Uuid::now_v7(), 3, now, now + chrono::Duration::minutes(5))
            .await
            .unwrap(),
        "another token has its own slots"
    );
}

#[tokio::test]
async fn thirty_concurrent_export_requests_of_one_token_are_capped() {
    let app = spawn_app().await;
    // Enough events that an export takes longer than the requests take to arrive.
    let events: Vec<Value> = (0..3_000)
        .map(|i| custom(Uuid::new_v4(), "2026-05-01T10:00:00Z", "alice", &format!("row {i}")))
        .collect();
    app.ingest_all(&events).await;
    let requests: Vec<_> = (0..30)
        .map(|_| {
            let (client, url) = (app.client.clone(), app.url("/exports"));
            tokio::spawn(async move {
                client
                    .post(url)
                    .bearer_auth(READ_TOKEN)
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    let mut accepted = 0;
    for request in requests {
        match request.await.unwrap() {
            StatusCode::ACCEPTED => accepted += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    // Exports that finished while others arrived free their slot, so a few more may pass; 30
    // would mean no cap at all.
    eprintln!(
        "{:?}: {accepted} of 30 concurrent export requests accepted",
        app.backend()
    );
    assert!((3..=6).contains(&accepted), "{accepted} of 30 accepted");
    let records = app.list_all("category=audit").await;
    assert_eq!(records.len(), accepted, "only accepted exports are recorded");
}

#[tokio::test]
async fn a_job_whose_worker_died_is_reported_failed_and_frees_its_slot() {
    use audit_storage::{ExportJob, ExportStatus};
    let app = spawn_app().await;
    let store = app.place.jobs().await;
    let now = chrono::Utc::now();
    let gone = now - chrono::Duration::seconds(1);
    // Three jobs whose worker renewed the lease and then died (a killed process, a Lambda timeout).
    let mut dead = Vec::new();
    for _ in 0..3 {
        let mut job = ExportJob::new(
            event_model::EventFilter::default(),
            "admin",
            now - chrono::Duration::minutes(5),
        );
        job.status = ExportStatus::Running;
        job.lease_until = Some(gone);
        store.create_job(&job).await.unwrap();
        assert!(store.claim_slot("admin", job.id, 3, now, gone).await.unwrap());
        dead.push(job.id);
    }
    let job: Value = app
        .get(&format!("/exports/{}", dead[0]), Some(READ_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().contains("stopped"), "{job}");
    let fresh = app.export(&json!({})).await;
    assert_eq!(
        fresh["status"], "succeeded",
        "the dead jobs' slots are free again: {fresh}"
    );
}

#[tokio::test]
async fn an_unreadable_export_job_is_set_apart_and_neither_exports_nor_a_restart_stop() {
    let app = spawn_app().await;
    let bad = Uuid::now_v7();
    app.place.plant_unreadable_job(bad).await;
    let first = app.export(&json!({})).await;
    assert_eq!(first["status"], "succeeded", "{first}");
    // A restart reads the unfinished jobs: the unreadable one must not stop it.
    let place = app.stop().await;
    let app = crate::harness::spawn_app_with(place, Default::default()).await;
    let job: Value = app
        .get(&format!("/exports/{bad}"), Some(READ_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().contains("could not be read"), "{job}");
    let again = app.export(&json!({})).await;
    assert_eq!(again["status"], "succeeded", "{again}");
}

#[tokio::test]
async fn an_export_folder_over_its_budget_refuses_new_exports() {
    let place = crate::harness::new_place().await;
    let options = crate::harness::Options {
        export_budget_bytes: 0,
        ..Default::default()
    };
    let app = crate::harness::spawn_app_with(place, options).await;
    let response = app.post_json("/exports", Some(READ_TOKEN), &json!({})).await;
    if app.backend() == crate::harness::Backend::DynamoDb {
        // A bucket has no budget.
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        return;
    }
    assert_eq!(response.status(), StatusCode::INSUFFICIENT_STORAGE);
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("budget"), "{body}");
    assert!(
        app.list_all("category=audit").await.is_empty(),
        "a refused export is not recorded"
    );
}

#[tokio::test]
async fn an_export_that_cannot_be_written_is_reported_failed_and_frees_its_slot() {
    use crate::harness::{BACKEND, Backend, Options, Place, spawn_app_with};
    use audit_local::StoreKind;
    // Where the file goes is broken: over the embedded store a file stands where the export
    // folder should be; over DynamoDB, S3 refuses every request (access denied).
    let (app, _proxy) = match BACKEND {
        Backend::Sqlite => {
            let app = spawn_app().await;
            let folder = app.place.dir.path().join("exports");
            let _ = std::fs::remove_dir_all(&folder);
            std::fs::write(&folder, b"not a folder").unwrap();
            (app, None)
        }
        Backend::DynamoDb => {
            let StoreKind::DynamoDb(mut cloud) = crate::harness::new_place().await.store.clone() else {
                unreachable!("a DynamoDB place")
            };
            let s3 = crate::harness::emulator_endpoints().1;
            let proxy = integration_tests::fault_proxy::FaultProxy::start(&s3).await;
            proxy.set_rules(vec![integration_tests::fault_proxy::Rule::any(
                integration_tests::fault_proxy::Fault::Deny,
            )]);
            cloud.s3_endpoint = Some(proxy.url.clone());
            let place = std::sync::Arc::new(Place {
                dir: tempfile::TempDir::new().unwrap(),
                store: StoreKind::DynamoDb(cloud),
            });
            (spawn_app_with(place, Options::default()).await, Some(proxy))
        }
    };
    app.ingest(&[json!({"actor": "alice", "type": "auth.logged_in"})]).await;
    let job = app.export(&json!({})).await;
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["error"].as_str().unwrap_or_default();
    assert!(!error.is_empty(), "the job says why: {job}");
    for internal in ["rusqlite", "SdkError", "NoSuchBucket", "/src/"] {
        assert!(!error.contains(internal), "{error}");
    }
    assert!(job["download_url"].is_null(), "{job}");
    // Its slot is free again: three more requests are taken (each fails the same way).
    for _ in 0..3 {
        assert_eq!(app.export(&json!({})).await["status"], "failed");
    }
    assert_eq!(
        app.list_all("category=audit").await.len(),
        4,
        "every request is in the journal"
    );
}

#[tokio::test]
async fn an_export_a_stopped_server_left_pending_runs_when_it_starts_again() {
    use crate::harness::{Options, new_place, spawn_app_with};
    use audit_storage::{ExportJob, ExportStatus};
    let place = new_place().await;
    let app = spawn_app_with(place.clone(), Options::default()).await;
    app.ingest(&[json!({"actor": "alice", "type": "auth.logged_in"})]).await;
    let place = app.stop().await;
    // What a server leaves when it stops between taking a request and running it.
    let now = chrono::Utc::now();
    let job = ExportJob::new(event_model::EventFilter::default(), "admin", now);
    let jobs = place.jobs().await;
    jobs.create_job(&job).await.unwrap();
    assert!(
        jobs.claim_slot("admin", job.id, 3, now, now + audit_storage::PENDING_LEASE)
            .await
            .unwrap()
    );
    assert_eq!(
        jobs.get_job(job.id).await.unwrap().unwrap().status,
        ExportStatus::Pending
    );

    let app = spawn_app_with(place, Options::default()).await;
    let status = app.finished_export(&job.id.to_string()).await;
    assert_eq!(status["status"], "succeeded", "{status}");
    assert_eq!(status["rows"], 1, "{status}");
    let url = status["download_url"].as_str().unwrap();
    let csv = app.client.get(url).send().await.unwrap().text().await.unwrap();
    assert!(csv.contains("alice"), "{csv}");
}

#[tokio::test]
async fn an_ndjson_export_holds_each_event_as_the_api_gives_it_and_the_caller_lists_its_exports() {
    let app = spawn_app().await;
    let events = crate::harness::customs(30, "2026-05-02T10:00:00Z", "nd.json", "line");
    app.ingest_all(&events).await;
    let ndjson = app.export(&json!({"actor": "nd.json", "format": "ndjson"})).await;
    assert_eq!(ndjson["status"], "succeeded", "{ndjson}");
    assert_eq!(
        (ndjson["rows"].as_u64(), ndjson["format"].as_str()),
        (Some(30), Some("ndjson"))
    );
    let response = app
        .client
        .get(ndjson["download_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/x-ndjson"),
        "{:?}",
        response.headers()
    );
    let text = response.text().await.unwrap();
    assert_eq!(ndjson["bytes"], text.len());
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(
        lines,
        app.list_all("actor=nd.json").await,
        "each line is the event as the API lists it"
    );
    let csv = app.export(&json!({"actor": "nd.json"})).await;
    assert_eq!(csv["format"], "csv");

    // The caller's exports, newest first, each with a fresh link.
    let listed: Value = app.get("/exports", Some(READ_TOKEN)).await.json().await.unwrap();
    let listed = listed["exports"].as_array().unwrap();
    assert_eq!(listed[0]["id"], csv["id"]);
    assert_eq!(listed[1]["id"], ndjson["id"]);
    assert_eq!(listed[1]["filters"], json!({"actor": "nd.json", "order": "desc"}));
    for job in &listed[..2] {
        let link = job["download_url"].as_str().expect("a fresh link");
        assert_eq!(app.client.get(link).send().await.unwrap().status(), StatusCode::OK);
    }
    let one: Value = app
        .get("/exports?limit=1", Some(READ_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["exports"].as_array().unwrap().len(), 1);
    for bad in ["/exports?limit=0", "/exports?limit=51", "/exports?user=x"] {
        assert_eq!(
            app.get(bad, Some(READ_TOKEN)).await.status(),
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    let refused = app
        .post_json("/exports", Some(READ_TOKEN), &json!({"format": "xml"}))
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
}
