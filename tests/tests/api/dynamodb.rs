//! What only the DynamoDB and S3 path has: large and sharded results, answers equal to the
//! embedded store's, presigned S3 links, concurrent writers of one id, and throttling.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::harness::{
    Backend, INGEST_TOKEN, Options, READ_TOKEN, custom, dynamo_store, fresh_tables, new_place, spawn_app, spawn_app_on,
    spawn_app_with, urlencode,
};
use audit_storage::{AppendOutcome, EventStore};
use audit_store_dynamodb::metrics::RequestCounter;
use audit_store_dynamodb::{DynamoStore, schema};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextMut;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use chrono::{Duration, TimeZone, Utc};
use event_model::{EventFilter, NewEvent};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

#[tokio::test]
async fn pages_larger_than_one_megabyte_are_read_to_the_end() {
    let app = spawn_app().await;
    // 300 events of ~20 KB: 6 MB, so every page below spans several 1 MB DynamoDB pages.
    let params: serde_json::Map<String, Value> = (0..20).map(|i| (format!("p{i}"), json!("x".repeat(1000)))).collect();
    let events: Vec<Value> = (0..300)
        .map(|i| {
            let mut e = custom(
                Uuid::new_v4(),
                &format!("2026-02-{:02}T10:00:{:02}Z", 1 + i % 3, i % 60),
                "bulk",
                &format!("big {i}"),
            );
            e["params"] = Value::Object(params.clone());
            e
        })
        .collect();
    for chunk in events.chunks(40) {
        app.ingest_all(chunk).await;
    }
    for query in ["limit=500", "limit=500&actor=bulk", "limit=500&order=asc&q=big"] {
        let page = app.page(query).await;
        assert_eq!(page["events"].as_array().unwrap().len(), 300, "{query}");
        assert!(page["next_cursor"].is_null(), "{query}");
    }
    assert_eq!(app.list_all("limit=7&category=custom").await.len(), 300);
}

#[tokio::test]
async fn many_events_at_one_instant_are_spread_over_shards_and_paged_exactly_once() {
    let app = spawn_app().await;
    let ids: Vec<Uuid> = (0..1000).map(|_| Uuid::new_v4()).collect();
    let mut per_shard = BTreeMap::new();
    for id in &ids {
        *per_shard
            .entry(schema::shard_of(id, schema::DEFAULT_TIME_SHARDS))
            .or_insert(0) += 1;
    }
    assert_eq!(per_shard.len(), schema::DEFAULT_TIME_SHARDS as usize, "{per_shard:?}");
    let events: Vec<Value> = ids
        .iter()
        .map(|id| custom(*id, "2026-04-01T12:00:00Z", "same", "at once"))
        .collect();
    app.ingest_all(&events).await;
    let mut sorted: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    sorted.sort();
    for (query, reversed) in [("limit=7", true), ("limit=7&order=asc", false), ("limit=93", true)] {
        let got: Vec<String> = app
            .list_all(query)
            .await
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect();
        let mut want = sorted.clone();
        if reversed {
            want.reverse();
        }
        assert_eq!(got, want, "{query}");
    }
}

/// 10,000 events over 40 days, from 25 actors; one word in about 1 in 20 messages.
fn forty_days() -> Vec<Value> {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    (0..10_000u64)
        .map(|i| {
            let t = start + Duration::seconds(((i * 7_919) % (40 * 86_400)) as i64);
            let word = if i % 20 == 3 { "Quartz" } else { "granite" };
            custom(
                Uuid::new_v4(),
                &event_model::time::format(&t),
                &format!("user{}", i % 25),
                &format!("Moved {word} block {i}"),
            )
        })
        .collect()
}

fn without_received_at(mut events: Vec<Value>) -> Vec<Value> {
    for e in &mut events {
        e.as_object_mut().unwrap().remove("received_at");
    }
    events
}

#[tokio::test]
async fn ten_thousand_events_over_forty_days_page_exactly_as_the_embedded_store() {
    let events = forty_days();
    let dynamo = spawn_app().await;
    let sqlite = spawn_app_on(Backend::Sqlite).await;
    dynamo.ingest_all(&events).await;
    sqlite.ingest_all(&events).await;
    let queries = [
        "limit=500",
        "limit=173&from=2026-01-06&to=2026-01-25",
        "limit=500&order=asc&from=2026-01-10T12:00:00Z&to=2026-01-31T06:00:00Z",
        "limit=50&actor=user7",
        "limit=41&actor=user7&order=asc&from=2026-01-15",
        "limit=500&q=quartz",
        "limit=29&q=QUARTZ&order=asc&to=2026-01-20",
        "limit=500&actor=user3&q=quartz",
    ];
    for query in queries {
        let from_dynamo = without_received_at(dynamo.list_all(query).await);
        let from_sqlite = without_received_at(sqlite.list_all(query).await);
        assert!(!from_sqlite.is_empty(), "{query}");
        assert_eq!(from_dynamo.len(), from_sqlite.len(), "{query}");
        assert!(from_dynamo == from_sqlite, "{query}: the stores disagree");
    }
    // Counts: the same answer where DynamoDB reads them all (up to 5,000 events); beyond, a
    // lower bound ("more than") where the embedded store counts exactly.
    for query in [
        "from=2026-01-06&to=2026-01-25&actor=user7&bucket=day",
        "q=quartz&to=2026-01-20",
        "category=custom&from=2026-01-10T06:00:00Z&to=2026-01-12T18:00:00Z&bucket=hour",
    ] {
        let (a, b) = (counts(&dynamo, query).await, counts(&sqlite, query).await);
        assert_eq!(a["exact"], true, "{query}: {a}");
        assert!(a["total"].as_u64().unwrap() > 0, "{query}");
        assert_eq!(a, b, "{query}: the stores count alike");
    }
    let (a, b) = (counts(&dynamo, "").await, counts(&sqlite, "").await);
    assert_eq!(
        (a["exact"].as_bool(), a["total"].as_u64()),
        (Some(false), Some(5_000)),
        "{a}"
    );
    assert_eq!((b["exact"].as_bool(), b["total"].as_u64()), (Some(true), Some(10_000)));
}

/// Every page of `GET /events?{query}`, following the cursors.
async fn pages(app: &crate::harness::TestApp, query: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("{query}&cursor={}", urlencode(c)),
            None => query.to_owned(),
        };
        let page = app.page(&q).await;
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        pages.push(page);
        if cursor.is_none() {
            return pages;
        }
    }
}

#[tokio::test]
async fn a_rare_search_comes_back_in_short_pages_that_say_how_far_they_searched() {
    // 40 days of events, and the word searched for only on the first day: each page spends its
    // read budget on days without it and says how far it got.
    let start = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
    let mut events: Vec<Value> = (0..1_200i64)
        .map(|i| {
            let t = start + Duration::minutes(i * 48 + 30);
            custom(
                Uuid::new_v4(),
                &event_model::time::format(&t),
                "user1",
                &format!("Moved granite block {i}"),
            )
        })
        .collect();
    for minutes in [5, 700] {
        let t = event_model::time::format(&(start + Duration::minutes(minutes)));
        events.push(custom(Uuid::new_v4(), &t, "user2", "Found obsidian"));
    }
    let dynamo = spawn_app().await;
    let sqlite = spawn_app_on(Backend::Sqlite).await;
    dynamo.ingest_all(&events).await;
    sqlite.ingest_all(&events).await;
    let time = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().expect("a time")).unwrap();
    for (query, asc) in [("q=obsidian&limit=50", false), ("q=obsidian&limit=50&order=asc", true)] {
        let pages = pages(&dynamo, query).await;
        assert!(pages.len() > 2, "{query}: {} pages", pages.len());
        let found: Vec<&Value> = pages.iter().flat_map(|p| p["events"].as_array().unwrap()).collect();
        assert_eq!(found.len(), 2, "{query}");
        let throughs: Vec<_> = pages[..pages.len() - 1]
            .iter()
            .map(|p| time(&p["searched_through"]))
            .collect();
        for pair in throughs.windows(2) {
            assert!(
                if asc { pair[0] < pair[1] } else { pair[0] > pair[1] },
                "{query}: {throughs:?}"
            );
        }
        // What each page says it searched holds: no match is found later on that side of it.
        for (k, through) in throughs.iter().enumerate() {
            for page in &pages[k + 1..] {
                for e in page["events"].as_array().unwrap() {
                    let t = time(&e["time"]);
                    assert!(if asc { t >= *through } else { t <= *through }, "{query}: page {k}");
                }
            }
        }
        assert_eq!(pages.last().unwrap()["searched_through"], Value::Null, "{query}");
    }
    // The embedded store answers a full page: its position is the page's last event.
    let page = sqlite.page("limit=3").await;
    assert_eq!(page["searched_through"], page["events"][2]["time"], "{page}");
}

/// `GET /counts?{query}` of `app`, which must answer 200.
async fn counts(app: &crate::harness::TestApp, query: &str) -> Value {
    let response = app.get(&format!("/counts?{query}"), Some(READ_TOKEN)).await;
    assert_eq!(response.status(), reqwest::StatusCode::OK, "{query}");
    response.json::<Value>().await.unwrap()
}

#[tokio::test]
async fn reads_query_the_indexes_and_never_scan() {
    let cloud = fresh_tables().await;
    let counter = RequestCounter::default();
    let sdk = audit_store_dynamodb::sdk_config().await;
    let store = DynamoStore::new(counter.dynamodb_client(&sdk), cloud.layout.clone(), None);
    let now = Utc::now();
    let batch: Vec<NewEvent> = forty_days()
        .iter()
        .take(2_000)
        .map(|v| NewEvent::parse(v, "", now, "test").unwrap())
        .collect();
    assert!(
        store
            .append(batch)
            .await
            .iter()
            .all(|o| matches!(o, AppendOutcome::Created))
    );
    let filters = [
        json!({}),
        json!({"actor": "user1"}),
        json!({"q": "quartz", "order": "asc"}),
        json!({"category": "custom", "from": "2026-01-03", "to": "2026-01-09"}),
    ];
    for filter in filters {
        let filter = EventFilter::from_json(&filter).unwrap();
        let mut after: Option<String> = None;
        let mut seen = 0;
        loop {
            let page = store.query(&filter, 100, after.as_deref()).await.unwrap();
            seen += page.events.len();
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert!(seen > 0);
    }
    let ops = counter.snapshot();
    assert!(ops.contains_key("Query"), "{ops:?}");
    assert!(!ops.contains_key("Scan"), "{ops:?}");
}

#[tokio::test]
async fn a_presigned_link_downloads_exactly_the_csv_as_an_attachment() {
    let app = spawn_app().await;
    let events: Vec<Value> = (0..30)
        .map(|i| {
            custom(
                Uuid::new_v4(),
                "2026-05-01T00:00:00Z",
                "alice",
                &format!("row {i}, \"quoted\""),
            )
        })
        .collect();
    app.ingest_all(&events).await;
    let job = app.export(&json!({"actor": "alice"})).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let url = job["download_url"].as_str().unwrap();
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let response = app.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let disposition = response.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"audit-log-"),
        "{disposition}"
    );
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"),
        "{:?}",
        response.headers()
    );
    let body = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let id_column = reader.headers().unwrap().iter().position(|h| h == "id").unwrap();
    let ids: Vec<String> = reader.records().map(|r| r.unwrap()[id_column].to_owned()).collect();
    let listed: Vec<String> = app
        .list_all("actor=alice")
        .await
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, listed);
    assert_eq!(job["rows"], 30);
    assert_eq!(job["bytes"], body.len());
}

#[tokio::test]
async fn a_tampered_or_expired_presigned_link_gets_403_from_s3() {
    let app = spawn_app_with(
        new_place().await,
        Options {
            link_ttl: Duration::seconds(2),
            ..Options::default()
        },
    )
    .await;
    app.ingest_all(&[custom(Uuid::new_v4(), "2026-05-01T00:00:00Z", "alice", "secret stuff")])
        .await;
    let job = app.export(&json!({})).await;
    let url = job["download_url"].as_str().unwrap().to_owned();
    let other = app.export(&json!({"actor": "alice"})).await;
    let other_id = other["id"].as_str().unwrap();
    let own_id = job["id"].as_str().unwrap();
    let signature = url.split("X-Amz-Signature=").nth(1).unwrap().split('&').next().unwrap();
    let flipped = format!(
        "{}{}",
        if signature.starts_with('0') { "1" } else { "0" },
        &signature[1..]
    );
    let tampered = [
        url.replace(signature, &flipped),
        url.replace("X-Amz-Expires=2", "X-Amz-Expires=86400"),
        url.replace(own_id, other_id),
        url.replace("filename%3D%22audit-log-", "filename%3D%22evil-"),
        url.split('?').next().unwrap().to_owned(),
    ];
    for bad in &tampered {
        assert_ne!(bad, &url, "the tampering changed the link");
        let response = app.client.get(bad).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{bad}");
    }
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(3_100)).await;
    let expired = app.client.get(&url).send().await.unwrap();
    assert_eq!(expired.status(), StatusCode::FORBIDDEN, "an expired link");
}

#[tokio::test]
async fn one_id_sent_by_ten_clients_at_once_is_stored_once() {
    let app = Arc::new(spawn_app().await);
    let event = custom(Uuid::new_v4(), "2026-06-01T00:00:00Z", "racer", "first past the post");
    let sends = (0..10).map(|_| {
        let (app, event) = (app.clone(), event.clone());
        tokio::spawn(async move {
            let response = app.post_json("/events", Some(INGEST_TOKEN), &event).await;
            assert_eq!(response.status(), StatusCode::OK);
            let body: Value = response.json().await.unwrap();
            body["results"][0]["status"].as_str().unwrap().to_owned()
        })
    });
    let mut statuses = Vec::new();
    for send in sends {
        statuses.push(send.await.unwrap());
    }
    statuses.sort();
    let mut want = vec!["duplicate".to_owned(); 9];
    want.insert(0, "created".to_owned());
    assert_eq!(statuses, want);
    assert_eq!(app.list_all("actor=racer").await.len(), 1);
    let read = app
        .get(&format!("/events?actor={}", urlencode("racer")), Some(READ_TOKEN))
        .await;
    assert_eq!(read.status(), StatusCode::OK);
}

/// Makes DynamoDB look overloaded: every third request is answered with a throttling error, and
/// every seventh PutItem that DynamoDB accepted has its answer replaced by a 500 (the write
/// landed, the client cannot know).
#[derive(Debug, Default, Clone)]
struct Faults {
    requests: Arc<AtomicU64>,
    puts: Arc<AtomicU64>,
    injected: Arc<AtomicU64>,
}

impl Intercept for Faults {
    fn name(&self) -> &'static str {
        "Faults"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let is_put = cfg.load::<Metadata>().is_some_and(|m| m.name() == "PutItem");
        let lost_answer = is_put && self.puts.fetch_add(1, Ordering::Relaxed) % 7 == 6;
        let (status, body) = if lost_answer {
            (
                500,
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"boom"}"#,
            )
        } else if n % 3 == 2 {
            (
                400,
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"}"#,
            )
        } else {
            return Ok(());
        };
        self.injected.fetch_add(1, Ordering::Relaxed);
        let mut response = HttpResponse::new(status.try_into().unwrap(), SdkBody::from(body));
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        *context.response_mut() = response;
        Ok(())
    }
}

#[tokio::test]
async fn throttling_and_lost_answers_lose_no_acknowledged_event() {
    let cloud = fresh_tables().await;
    let faults = Faults::default();
    let sdk = audit_store_dynamodb::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(faults.clone())
            .build(),
    );
    let store = DynamoStore::new(client, cloud.layout.clone(), None);
    let now = Utc::now();
    let batches: Vec<Vec<NewEvent>> = forty_days()
        .chunks(100)
        .take(8)
        .map(|c| c.iter().map(|v| NewEvent::parse(v, "", now, "test").unwrap()).collect())
        .collect();
    let mut tasks = Vec::new();
    for batch in batches {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let outcomes = store.append(batch.clone()).await;
            batch.into_iter().zip(outcomes).collect::<Vec<_>>()
        }));
    }
    let (mut acknowledged, mut failed) = (Vec::new(), 0);
    for task in tasks {
        for (event, outcome) in task.await.unwrap() {
            match outcome {
                AppendOutcome::Created => acknowledged.push(event.event),
                AppendOutcome::Failed(_) => failed += 1,
                other => panic!("a first write reported {other:?}"),
            }
        }
    }
    assert!(faults.injected.load(Ordering::Relaxed) > 100, "faults were injected");
    assert!(
        acknowledged.len() >= 700,
        "retries got most writes through ({failed} failed)"
    );
    let clean = dynamo_store(&cloud).await;
    let mut ids = HashSet::new();
    for event in &acknowledged {
        assert_eq!(clean.get(event.id).await.unwrap().as_ref(), Some(event));
        ids.insert(event.id);
    }
    assert_eq!(ids.len(), acknowledged.len());
}

#[tokio::test]
async fn a_multipart_export_object_holds_exactly_what_was_written_and_an_abort_leaves_nothing() {
    use audit_storage::ExportObjects;
    let cloud = fresh_tables().await;
    let sdk = audit_store_dynamodb::sdk_config().await;
    let objects = audit_store_dynamodb::S3Exports::new(
        audit_store_dynamodb::s3_client(&sdk),
        cloud.layout.bucket.clone(),
        Duration::minutes(5),
    );
    // 20 MiB in uneven chunks: two full parts and a short last one.
    let mut written = Vec::new();
    let mut upload = objects.start("exports/big.csv").await.unwrap();
    for i in 0..23u32 {
        let chunk: Vec<u8> = (0..900_001u32).map(|j| b'a' + ((i + j) % 26) as u8).collect();
        written.extend_from_slice(&chunk);
        upload.write(chunk).await.unwrap();
    }
    assert_eq!(upload.finish().await.unwrap(), written.len() as u64);
    assert!(written.len() > 2 * audit_store_dynamodb::PART_SIZE);
    let link = objects.download_link("exports/big.csv", "big.csv").await.unwrap();
    let body = reqwest::get(&link.url).await.unwrap().bytes().await.unwrap();
    assert!(body[..] == written[..], "the object is what was written");

    let mut aborted = objects.start("exports/aborted.csv").await.unwrap();
    aborted.write(b"time,actor\r\n".to_vec()).await.unwrap();
    aborted.abort().await;
    let link = objects.download_link("exports/aborted.csv", "a.csv").await.unwrap();
    assert_eq!(reqwest::get(&link.url).await.unwrap().status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_missing_table_is_a_misconfiguration_naming_it_and_a_500_not_a_busy_503() {
    use axum::response::IntoResponse;
    let cloud = fresh_tables().await;
    let sdk = audit_store_dynamodb::sdk_config().await;
    let mut names = cloud.layout.clone();
    names.events_table = format!("{}-missing", names.events_table);
    let store = DynamoStore::new(audit_store_dynamodb::dynamodb_client(&sdk), names.clone(), None);
    let err = store.query(&EventFilter::default(), 10, None).await.unwrap_err();
    match &err {
        audit_storage::StoreError::Misconfigured { resource, .. } => {
            assert_eq!(resource, &format!("table {}", names.events_table))
        }
        other => panic!("a missing table is a misconfiguration, got {other:?}"),
    }
    assert!(err.to_string().contains(&names.events_table), "{err}");
    let response = audit_api::ApiError::from(err).into_response();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        response.headers().get("retry-after").is_none(),
        "retrying will not help"
    );
}
