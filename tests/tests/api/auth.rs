use crate::harness::{INGEST_TOKEN, READ_TOKEN, spawn_app};
use reqwest::{Method, StatusCode};

const EVENT_ID: &str = "01936f0e-6c1a-7d2b-9a4e-3f1c2b7d9e10";

#[tokio::test]
async fn every_route_answers_401_403_or_passes_for_every_kind_of_credential() {
    let app = spawn_app().await;
    // (method, path, role needed; None = public)
    let routes: [(Method, String, Option<&str>); 8] = [
        (Method::POST, "/events".into(), Some("ingest")),
        (Method::GET, "/events".into(), Some("read")),
        (Method::GET, format!("/events/{EVENT_ID}"), Some("read")),
        (Method::POST, "/exports".into(), Some("read")),
        (Method::GET, format!("/exports/{EVENT_ID}"), Some("read")),
        (Method::GET, "/catalog".into(), Some("read")),
        (Method::GET, "/health".into(), None),
        (Method::GET, "/openapi.json".into(), None),
    ];
    let credentials: [(&str, Option<String>); 5] = [
        ("none", None),
        ("malformed", Some("Token abc".into())),
        ("unknown", Some("Bearer not-a-known-token".into())),
        ("ingest", Some(format!("Bearer {INGEST_TOKEN}"))),
        ("read", Some(format!("Bearer {READ_TOKEN}"))),
    ];
    for (method, path, needed) in &routes {
        for (kind, header) in &credentials {
            let mut request = app.client.request(method.clone(), app.url(path));
            if let Some(h) = header {
                request = request.header("authorization", h);
            }
            if *method == Method::POST {
                request = request.header("content-type", "application/json").body("{}");
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let expected_denial = match (needed, *kind) {
                (None, _) => None,
                (Some(_), "none" | "malformed" | "unknown") => Some(StatusCode::UNAUTHORIZED),
                (Some(role), given) if *role == given => None,
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
