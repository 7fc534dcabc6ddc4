use crate::harness::{INGEST_TOKEN, Options, READ_TOKEN, custom, new_place, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

#[tokio::test]
async fn a_restart_loses_nothing_and_old_cursors_still_work() {
    let app = spawn_app().await;
    let events: Vec<Value> = (0..300)
        .map(|i| {
            custom(
                Uuid::new_v4(),
                &format!("2026-03-01T00:00:{:02}Z", i % 60),
                "alice",
                &format!("event {i}"),
            )
        })
        .collect();
    app.ingest_all(&events).await;
    let before = app.list_all("limit=500").await;
    let first_page = app.page("limit=100").await;
    let cursor = first_page["next_cursor"].as_str().unwrap().to_owned();
    let data_dir = app.stop().await;

    let app = spawn_app_with(data_dir, Options::default()).await;
    let after = app.list_all("limit=500").await;
    assert_eq!(after, before);
    let second_page = app
        .page(&format!("limit=100&cursor={}", crate::harness::urlencode(&cursor)))
        .await;
    assert_eq!(second_page["events"].as_array().unwrap()[..], before[100..200]);
}

#[tokio::test]
async fn first_start_generates_tokens_once_and_keeps_their_hashes() {
    let place = new_place().await;
    let first = audit_local::App::build(&place.config(), "http://127.0.0.1:1")
        .await
        .unwrap();
    let tokens = first.generated_tokens.expect("tokens are generated at first start");
    let stored = std::fs::read_to_string(place.dir.path().join("tokens")).unwrap();
    assert!(
        !stored.contains(&tokens.ingest) && !stored.contains(&tokens.read),
        "only hashes are stored"
    );
    assert!(stored.contains(&audit_api::hash_token(&tokens.read)));
    drop(first.router);

    let app = spawn_app_with(
        place,
        Options {
            tokens: None,
            ..Options::default()
        },
    )
    .await;
    let read = app.get("/events", Some(&tokens.read)).await;
    assert_eq!(read.status(), StatusCode::OK);
    let ingest = app
        .post_json(
            "/events",
            Some(&tokens.ingest),
            &json!({"actor": "a", "type": "auth.logged_in"}),
        )
        .await;
    assert_eq!(ingest.status(), StatusCode::OK);
    assert_eq!(
        app.get("/events", Some(READ_TOKEN)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/events", Some(INGEST_TOKEN)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_unreadable_event_is_set_apart_and_stops_no_listing_export_or_restart() {
    let app = spawn_app().await;
    let good: Vec<serde_json::Value> = (0..3)
        .map(|i| {
            custom(
                uuid::Uuid::new_v4(),
                &format!("2026-05-01T10:00:0{i}Z"),
                "alice",
                "fine",
            )
        })
        .collect();
    app.ingest_all(&good).await;
    app.place
        .plant_unreadable_event(uuid::Uuid::now_v7(), "2026-05-01T10:00:01.500000Z")
        .await;
    // Paged one by one, the bad row sits in the middle of a page and at the end of another.
    for limit in [1, 2, 50] {
        let listed = app
            .list_all(&format!("from=2026-05-01&to=2026-05-01&limit={limit}"))
            .await;
        assert_eq!(
            listed.len(),
            3,
            "limit {limit}: every readable event, the bad one left out"
        );
    }
    let job = app
        .export(&serde_json::json!({"from": "2026-05-01", "to": "2026-05-01"}))
        .await;
    assert_eq!(
        (job["status"].as_str(), job["rows"].as_u64()),
        (Some("succeeded"), Some(3)),
        "{job}"
    );
    let place = app.stop().await;
    let app = spawn_app_with(place, Options::default()).await;
    assert_eq!(app.list_all("from=2026-05-01&to=2026-05-01").await.len(), 3);
}
