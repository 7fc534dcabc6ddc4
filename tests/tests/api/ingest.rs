use crate::harness::{INGEST_TOKEN, READ_TOKEN, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

const RUN: &str = "5f0c3c1e-8d2a-4c1b-9a51-0e7b7a0f6a11";

#[tokio::test]
async fn a_single_event_is_stored_with_its_rendered_message_and_source() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/events",
            Some(INGEST_TOKEN),
            &json!({"actor": "alice", "type": "sca.analysis_finished", "duration_ms": 5234,
                    "params": {"project": "payments", "sequence": 12, "run_id": RUN}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (
            body["accepted"].clone(),
            body["duplicates"].clone(),
            body["rejected"].clone()
        ),
        (json!(1), json!(0), json!(0))
    );
    let id = body["results"][0]["id"].as_str().unwrap();
    assert_eq!(Uuid::parse_str(id).unwrap().get_version_num(), 7);

    let event: Value = app.event(id).await;
    assert_eq!(event["message"], format!("[SCA][payments][12/{RUN}] Analysis finished"));
    assert_eq!(event["category"], "sca");
    assert_eq!(event["source"], "svc-ingest");
    assert_eq!(event["duration_ms"], 5234);
    assert_eq!(event["time"].as_str().unwrap().len(), 27);
    let keys: Vec<&String> = event.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 10, "{keys:?}");
}

#[tokio::test]
async fn a_retried_event_is_a_duplicate_and_a_changed_one_is_rejected() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    let event = json!({"id": id, "actor": "alice", "type": "auth.logged_in"});
    let first = app.ingest(std::slice::from_ref(&event)).await;
    assert_eq!(first["results"][0]["status"], "created");

    // A retry without `time` still counts as the same event.
    let again = app.ingest(std::slice::from_ref(&event)).await;
    assert_eq!(again["duplicates"], 1);
    assert_eq!(again["results"][0]["status"], "duplicate");

    let changed = json!({"id": id, "actor": "mallory", "type": "auth.logged_in"});
    let conflict = app.ingest(&[changed]).await;
    assert_eq!(conflict["rejected"], 1);
    assert_eq!(conflict["results"][0]["status"], "rejected");
    assert!(conflict["results"][0]["error"].as_str().unwrap().contains("conflict"));

    let stored: Value = app.event(&id.to_string()).await;
    assert_eq!(stored["actor"], "alice", "a stored event is never overwritten");
    assert_eq!(app.count().await, 1);
}

#[tokio::test]
async fn the_same_id_twice_in_one_batch_is_stored_once() {
    let app = spawn_app().await;
    let id = Uuid::new_v4();
    let a = json!({"id": id, "time": "2026-01-01T00:00:00Z", "actor": "a", "type": "auth.logged_in"});
    let b = json!({"id": id, "time": "2026-01-01T00:00:00Z", "actor": "b", "type": "auth.logged_in"});
    let body = app.ingest(&[a.clone(), a, b]).await;
    let statuses: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["created", "duplicate", "rejected"]);
    assert_eq!(app.count().await, 1);
}

#[tokio::test]
async fn a_batch_reports_each_event_by_index() {
    let app = spawn_app().await;
    let events: Vec<Value> = (0..5)
        .map(|i| json!({"actor": format!("user{i}"), "type": "auth.logged_out"}))
        .collect();
    let body = app.ingest(&events).await;
    assert_eq!(body["accepted"], 5);
    for (i, result) in body["results"].as_array().unwrap().iter().enumerate() {
        assert_eq!(result["index"], i);
        assert_eq!(result["status"], "created");
    }
}

#[tokio::test]
async fn custom_events_need_a_message_and_land_in_the_custom_category() {
    let app = spawn_app().await;
    let body = app
        .ingest(&[json!({"actor": "ci", "type": "custom.deploy", "message": "Deployed v2.3"})])
        .await;
    let id = body["results"][0]["id"].as_str().unwrap();
    let event: Value = app.event(id).await;
    assert_eq!(
        (event["category"].as_str(), event["message"].as_str()),
        (Some("custom"), Some("Deployed v2.3"))
    );
}

#[tokio::test]
async fn an_unknown_or_malformed_id_is_404_or_400() {
    let app = spawn_app().await;
    let missing = app.get(&format!("/events/{}", Uuid::new_v4()), Some(READ_TOKEN)).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.headers()["content-type"], "application/problem+json");
    let malformed = app.get("/events/not-a-uuid", Some(READ_TOKEN)).await;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
}

/// A clock that always says the same time.
#[derive(Debug)]
struct Pinned(chrono::DateTime<chrono::Utc>);

impl audit_api::Clock for Pinned {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0
    }
}

#[tokio::test]
async fn handlers_read_the_time_from_the_servers_clock() {
    use chrono::TimeZone;
    let at = chrono::Utc.with_ymd_and_hms(2031, 5, 6, 7, 8, 9).unwrap();
    let options = crate::harness::Options {
        clock: std::sync::Arc::new(Pinned(at)),
        ..Default::default()
    };
    let app = crate::harness::spawn_app_with(crate::harness::new_place().await, options).await;
    let stamped = app.ingest(&[json!({"actor": "alice", "type": "auth.logged_in"})]).await;
    let event = app.event(stamped["results"][0]["id"].as_str().unwrap()).await;
    assert_eq!(
        event["time"], "2031-05-06T07:08:09.000000Z",
        "no time: received at the clock's time"
    );
    assert_eq!(event["received_at"], "2031-05-06T07:08:09.000000Z");
    // The five minutes of skew allowed are counted from the clock, not from the machine's time.
    let ahead = |minutes: i64| {
        json!({"actor": "alice", "type": "auth.logged_in",
               "time": event_model::time::format(&(at + chrono::Duration::minutes(minutes)))})
    };
    assert_eq!(app.ingest(&[ahead(4)]).await["accepted"], 1);
    let refused = app.post_json("/events", Some(INGEST_TOKEN), &ahead(6)).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let problem: Value = refused.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("time"), "{problem}");
}
