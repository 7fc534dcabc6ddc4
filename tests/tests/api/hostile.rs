//! The hostile-input suite (`integration_tests::hostile`): every case in
//! `tests/fixtures/hostile/*.json` is sent as it is, and must get its documented status with a
//! problem+json body that names the problem and leaks no internals; nothing is stored, and the
//! server keeps serving. `tests/tests/lambda.rs` sends the same cases through the Lambda
//! functions.

use crate::harness::{custom, spawn_app};
use integration_tests::hostile::{self, CURSOR_QUERY};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use uuid::Uuid;

#[tokio::test]
async fn every_hostile_case_gets_its_documented_answer_and_changes_nothing() {
    let app = spawn_app().await;
    let seed: Vec<Value> = (0..3)
        .map(|i| {
            custom(
                Uuid::new_v4(),
                &format!("2026-01-0{}T00:00:00Z", i + 1),
                "seed",
                "seeded",
            )
        })
        .collect();
    app.ingest_all(&seed).await;
    let cursor = app.page(CURSOR_QUERY).await["next_cursor"].as_str().unwrap().to_owned();
    let before = app.count().await;

    let cases = hostile::cases(&hostile::vars(&cursor));
    for case in &cases {
        let method = Method::from_bytes(case.method.as_bytes()).unwrap();
        let mut request = app.client.request(method, app.url(&case.path));
        if let Some(body) = &case.body {
            request = request.body(body.clone());
        }
        if let Some(content_type) = &case.content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(authorization) = &case.authorization {
            request = request.header("authorization", authorization);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        case.check(status, &content_type, &response.text().await.unwrap());
    }
    assert!(cases.len() >= 60, "{} cases", cases.len());
    assert_eq!(app.count().await, before, "nothing was stored");
    assert_eq!(app.get("/health", None).await.status(), StatusCode::OK);
}
