//! The local server's own download links (signed by the server, served from the data folder);
//! the DynamoDB path hands out S3 presigned links instead (see `dynamodb.rs`).

use crate::harness::{Options, custom, new_place, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

#[tokio::test]
async fn a_tampered_download_link_is_refused() {
    let app = spawn_app().await;
    app.ingest_all(&[custom(Uuid::new_v4(), "2026-05-01T00:00:00Z", "alice", "secret stuff")])
        .await;
    let job = app.export(&json!({})).await;
    let url = job["download_url"].as_str().unwrap().to_owned();
    let other = app.export(&json!({"actor": "alice"})).await;
    let other_key = other["download_url"]
        .as_str()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();

    let (path, query) = url.split_once('?').unwrap();
    let later_expiry = {
        let expires: i64 = query
            .split('&')
            .find_map(|p| p.strip_prefix("expires="))
            .unwrap()
            .parse()
            .unwrap();
        query.replace(&format!("expires={expires}"), &format!("expires={}", expires + 3600))
    };
    let key = path.rsplit('/').next().unwrap();
    let tampered = [
        format!("{path}?{later_expiry}"),
        format!("{}?{query}", path.replace(key, &other_key)),
        url.replace("filename=audit-log-", "filename=evil-"),
        format!("{}0", url),
        path.to_owned(),
        url.replace("exports/", "exports/../"),
    ];
    for bad in &tampered {
        let response = app.client.get(bad).send().await.unwrap();
        assert!(
            response.status() == StatusCode::FORBIDDEN || response.status() == StatusCode::NOT_FOUND,
            "{bad} got {}",
            response.status()
        );
        assert_ne!(response.headers()["content-type"], "text/csv; charset=utf-8");
    }
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn an_expired_download_link_is_refused() {
    let app = spawn_app_with(
        new_place().await,
        Options {
            link_ttl: chrono::Duration::zero(),
            ..Options::default()
        },
    )
    .await;
    let job = app.export(&json!({})).await;
    let response = app
        .client
        .get(job["download_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("expired"), "{body}");
}
