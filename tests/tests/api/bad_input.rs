//! Bad input gets the documented 4xx with a problem+json body naming the problem, stores
//! nothing, and leaves the server serving.

use crate::harness::{INGEST_TOKEN, READ_TOKEN, TestApp, custom, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

async fn assert_problem(response: reqwest::Response, status: StatusCode, mentions: &str, case: &str) {
    assert_eq!(response.status(), status, "{case}");
    assert_eq!(response.headers()["content-type"], "application/problem+json", "{case}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status.as_u16(), "{case}");
    let text = body.to_string();
    assert!(text.contains(mentions), "{case}: {text} should mention {mentions}");
}

async fn post_body(app: &TestApp, body: &str) -> reqwest::Response {
    app.post_raw(
        "/events",
        Some(INGEST_TOKEN),
        "application/json",
        body.as_bytes().to_vec(),
    )
    .await
}

#[tokio::test]
async fn bad_events_are_refused_with_a_named_problem_and_nothing_is_stored() {
    let app = spawn_app().await;
    app.ingest_all(&[custom(Uuid::new_v4(), "2026-01-01T00:00:00Z", "seed", "already here")])
        .await;
    let future = (chrono::Utc::now() + chrono::Duration::minutes(6)).to_rfc3339();
    let valid = json!({"actor": "a", "type": "auth.logged_in"});
    let long = "x".repeat(1025);

    let cases: Vec<(&str, String, StatusCode, &str)> = vec![
        (
            "not JSON",
            "{not json".into(),
            StatusCode::BAD_REQUEST,
            "not valid JSON",
        ),
        (
            "truncated JSON",
            r#"{"actor": "a", "type": "#.into(),
            StatusCode::BAD_REQUEST,
            "not valid JSON",
        ),
        ("a bare array", "[]".into(), StatusCode::BAD_REQUEST, "one event object"),
        (
            "a string",
            "\"hello\"".into(),
            StatusCode::BAD_REQUEST,
            "one event object",
        ),
        (
            "events not a list",
            r#"{"events": {}}"#.into(),
            StatusCode::BAD_REQUEST,
            "events",
        ),
        (
            "empty batch",
            r#"{"events": []}"#.into(),
            StatusCode::BAD_REQUEST,
            "at least one",
        ),
        (
            "extra envelope field",
            r#"{"events": [], "x": 1}"#.into(),
            StatusCode::BAD_REQUEST,
            "\"x\"",
        ),
        (
            "actor wrong type",
            r#"{"actor": 5, "type": "auth.logged_in"}"#.into(),
            StatusCode::BAD_REQUEST,
            "\"actor\"",
        ),
        (
            "missing actor",
            r#"{"type": "auth.logged_in"}"#.into(),
            StatusCode::BAD_REQUEST,
            "\"actor\"",
        ),
        (
            "missing type",
            r#"{"actor": "a"}"#.into(),
            StatusCode::BAD_REQUEST,
            "\"type\"",
        ),
        (
            "unknown type",
            r#"{"actor": "a", "type": "auth.hacked"}"#.into(),
            StatusCode::BAD_REQUEST,
            "auth.hacked",
        ),
        (
            "unknown field",
            r#"{"actor": "a", "type": "auth.logged_in", "source": "me"}"#.into(),
            StatusCode::BAD_REQUEST,
            "\"source\"",
        ),
        (
            "missing template param",
            r#"{"actor": "a", "type": "auth.login_failed"}"#.into(),
            StatusCode::BAD_REQUEST,
            "params.username",
        ),
        (
            "integer param as text",
            r#"{"actor": "a", "type": "sca.overall_run_started", "params": {"count": "many"}}"#.into(),
            StatusCode::BAD_REQUEST,
            "params.count",
        ),
        (
            "object param",
            r#"{"actor": "a", "type": "auth.login_failed", "params": {"username": {"x": 1}}}"#.into(),
            StatusCode::BAD_REQUEST,
            "params.username",
        ),
        (
            "custom without message",
            r#"{"actor": "a", "type": "custom.x"}"#.into(),
            StatusCode::BAD_REQUEST,
            "\"message\"",
        ),
        (
            "time in the future",
            json!({"actor": "a", "type": "auth.logged_in", "time": future}).to_string(),
            StatusCode::BAD_REQUEST,
            "\"time\"",
        ),
        (
            "bad time",
            r#"{"actor": "a", "type": "auth.logged_in", "time": "yesterday"}"#.into(),
            StatusCode::BAD_REQUEST,
            "\"time\"",
        ),
        (
            "time before 1970",
            r#"{"actor": "a", "type": "auth.logged_in", "time": "1969-12-31T23:59:59Z"}"#.into(),
            StatusCode::BAD_REQUEST,
            "\"time\"",
        ),
        (
            "control character",
            r#"{"actor": "a\u0007b", "type": "auth.logged_in"}"#.into(),
            StatusCode::BAD_REQUEST,
            "control",
        ),
        (
            "NUL in a param",
            r#"{"actor": "a", "type": "auth.login_failed", "params": {"username": "x\u0000"}}"#.into(),
            StatusCode::BAD_REQUEST,
            "control",
        ),
        (
            "actor too long",
            json!({"actor": "a".repeat(257), "type": "auth.logged_in"}).to_string(),
            StatusCode::BAD_REQUEST,
            "\"actor\"",
        ),
        (
            "param too long",
            json!({"actor": "a", "type": "auth.login_failed", "params": {"username": long}}).to_string(),
            StatusCode::BAD_REQUEST,
            "params.username",
        ),
        (
            "message too long",
            json!({"actor": "a", "type": "custom.x", "message": "m".repeat(4097)}).to_string(),
            StatusCode::BAD_REQUEST,
            "\"message\"",
        ),
        (
            "negative duration",
            r#"{"actor": "a", "type": "auth.logged_in", "duration_ms": -5}"#.into(),
            StatusCode::BAD_REQUEST,
            "duration_ms",
        ),
        (
            "huge duration",
            r#"{"actor": "a", "type": "auth.logged_in", "duration_ms": 1e400}"#.into(),
            StatusCode::BAD_REQUEST,
            "not valid JSON",
        ),
        (
            "bad id",
            r#"{"id": "../../etc/passwd", "actor": "a", "type": "auth.logged_in"}"#.into(),
            StatusCode::BAD_REQUEST,
            "\"id\"",
        ),
        (
            "one bad event spoils the batch",
            json!({"events": [valid, {"actor": "a"}]}).to_string(),
            StatusCode::BAD_REQUEST,
            "events[1].type",
        ),
        (
            "batch over 500",
            json!({"events": vec![valid.clone(); 501]}).to_string(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "500",
        ),
        (
            "body over 1 MiB",
            json!({"actor": "a", "type": "custom.x", "message": "m".repeat(1_100_000)}).to_string(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than",
        ),
        (
            "deep nesting",
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
            StatusCode::BAD_REQUEST,
            "not valid JSON",
        ),
    ];
    for (case, body, status, mentions) in &cases {
        assert_problem(post_body(&app, body).await, *status, mentions, case).await;
    }

    let wrong_type = app
        .post_raw(
            "/events",
            Some(INGEST_TOKEN),
            "text/plain",
            valid.to_string().into_bytes(),
        )
        .await;
    assert_problem(
        wrong_type,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "JSON",
        "text/plain body",
    )
    .await;
    let invalid_utf8 = app
        .post_raw(
            "/events",
            Some(INGEST_TOKEN),
            "application/json",
            b"{\"actor\": \"\xff\"}".to_vec(),
        )
        .await;
    assert_problem(invalid_utf8, StatusCode::BAD_REQUEST, "not valid JSON", "invalid UTF-8").await;

    assert_eq!(app.count().await, 1, "nothing was stored");
    assert_eq!(app.get("/health", None).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn bad_queries_name_the_parameter() {
    let app = spawn_app().await;
    let cases = [
        ("from=yesterday", "from"),
        ("to=2026-13-01", "to"),
        ("from=2026-11-28&to=2026-11-27", "from"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("category=nope", "category"),
        ("type=auth.nope", "type"),
        ("order=sideways", "order"),
        ("user=alice", "user"),
        ("actor=a&actor=b", "actor"),
        ("q=a%00b", "q"),
        ("to=10000-01-01", "to"),
    ];
    for (query, param) in cases {
        let response = app.get(&format!("/events?{query}"), Some(READ_TOKEN)).await;
        assert_problem(
            response,
            StatusCode::BAD_REQUEST,
            &format!("\"field\":\"{param}\""),
            query,
        )
        .await;
    }
    let export = app
        .post_json("/exports", Some(READ_TOKEN), &json!({"limit": 5, "from": "nope"}))
        .await;
    assert_problem(
        export,
        StatusCode::BAD_REQUEST,
        "\"field\":\"limit\"",
        "export with limit",
    )
    .await;
    let export = app.post_json("/exports", Some(READ_TOKEN), &json!(["a"])).await;
    assert_problem(export, StatusCode::BAD_REQUEST, "filters", "export with a list body").await;
    assert_eq!(app.get("/health", None).await.status(), StatusCode::OK);
}
