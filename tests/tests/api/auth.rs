use crate::harness::{INGEST_TOKEN, READ_TOKEN, spawn_app};
use reqwest::{Method, StatusCode};

const EVENT_ID: &str = "01936f0e-6c1a-7d2b-9a4e-3f1c2b7d9e10";

#[tokio::test]
async fn every_route_answers_401_403_or_passes_for_every_kind_of_credential() {
    let app = spawn_app().await;
    // (method, path, role needed; None = public), from the route table.
    let routes = integration_tests::routes_to_call(EVENT_ID);
    let credentials: [(&str, Option<String>); 5] = [
        ("none", None),
        ("malformed", Some("Token abc".into())),
        ("unknown", Some("Bearer not-a-known-token".into())),
        ("ingest", Some(format!("Bearer {INGEST_TOKEN}"))),
        ("read", Some(format!("Bearer {READ_TOKEN}"))),
    ];
    for (method, path, needed) in &routes {
        let method: Method = method.parse().unwrap();
        for (kind, header) in &credentials {
            let mut request = app.client.request(method.clone(), app.url(path));
            if let Some(h) = header {
                request = request.header("authorization", h);
            }
            if method == Method::POST {
                request = request.header("content-type", "application/json").body("{}");
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let expected_denial = match (needed, *kind) {
                (None, _) => None,
                (Some(_), "none" | "malformed" | "unknown") => Some(StatusCode::UNAUTHORIZED),
                (Some(role), given) if role == given => None,
                (Some(_), _) => Some(StatusCode::FORBIDDEN),
            };
            match expected_denial {
                Some(denied) => {
                    assert_eq!(status, denied, "{method} {path} with {kind} credentials");
                    if denied == StatusCode::UNAUTHORIZED {
                        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
                        assert!(challenge.starts_with("Bearer"), "{challenge}");
                    }
                    assert_eq!(response.headers()["content-type"], "application/problem+json");
                }
                None => assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{method} {path} with {kind} credentials got {status}"
                ),
            }
        }
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive_and_the_token_is_not() {
    let app = spawn_app().await;
    let ok = app
        .client
        .get(app.url("/catalog"))
        .header("authorization", format!("bearer {READ_TOKEN}"))
        .send()
        .await;
    assert_eq!(ok.unwrap().status(), StatusCode::OK);
    let upper = READ_TOKEN.to_uppercase();
    let bad = app
        .client
        .get(app.url("/catalog"))
        .bearer_auth(upper)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_flooding_token_gets_429_with_retry_after_and_does_not_starve_another_token() {
    use std::num::NonZeroU32;
    const OTHER_READ: &str = "another-read-token";
    let options = crate::harness::Options {
        tokens: Some(format!(
            "svc-ingest:ingest:{},admin:read:{},auditor:read:{}",
            audit_api::hash_token(crate::harness::INGEST_TOKEN),
            audit_api::hash_token(crate::harness::READ_TOKEN),
            audit_api::hash_token(OTHER_READ)
        )),
        rate_limit: Some((NonZeroU32::new(5).unwrap(), NonZeroU32::new(10).unwrap())),
        ..Default::default()
    };
    let app = crate::harness::spawn_app_with(crate::harness::new_place().await, options).await;
    let app = std::sync::Arc::new(app);
    // One token floods with 200 requests, 20 at a time.
    let flood: Vec<_> = (0..20)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                let mut limited = Vec::new();
                for _ in 0..10 {
                    let response = app.get("/events?limit=1", Some(crate::harness::READ_TOKEN)).await;
                    if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
                        let retry_after = response.headers()["retry-after"]
                            .to_str()
                            .unwrap()
                            .parse::<u64>()
                            .unwrap();
                        let body: serde_json::Value = response.json().await.unwrap();
                        limited.push((retry_after, body["type"].as_str().unwrap().to_owned()));
                    }
                }
                limited
            })
        })
        .collect();
    // Meanwhile the other token reads, within its own limit.
    for _ in 0..5 {
        let response = app.get("/events?limit=1", Some(OTHER_READ)).await;
        assert_eq!(
            response.status(),
            reqwest::StatusCode::OK,
            "the other token is not starved"
        );
    }
    let mut limited = Vec::new();
    for task in flood {
        limited.extend(task.await.unwrap());
    }
    assert!(limited.len() >= 150, "{} of 200 flood requests limited", limited.len());
    for (retry_after, kind) in &limited {
        assert!((1..=2).contains(retry_after), "Retry-After: {retry_after}");
        assert_eq!(kind, "urn:audit-log:problem:rate-limited");
    }
}
