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

#[tokio::test]
async fn a_token_taken_out_of_the_tokens_file_is_refused_within_a_second_without_a_restart() {
    use audit_api::hash_token;
    use audit_local::process::{Output, ServerProcess};
    // The real server over a data folder whose tokens file it reads (no AUDIT_TOKENS).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens");
    let write = |entries: String| std::fs::write(&file, entries).unwrap();
    write(format!(
        "svc:ingest:{}\nadmin:read:{}\n",
        hash_token(INGEST_TOKEN),
        hash_token(READ_TOKEN)
    ));
    let bin = integration_tests::runtime_api::function_binary("audit-local");
    let mut server = ServerProcess::start(&bin, dir.path(), "", &[], Output::Discard)
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let status = async |token: &str| {
        client
            .get(format!("{}/events?limit=1", server.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(status(READ_TOKEN).await, StatusCode::OK);

    // The read token replaced in the file: refused within a second, the new one and the ingest
    // token accepted, no restart.
    let rotated = "a-rotated-read-token";
    write(format!(
        "svc:ingest:{}\nadmin:read:{}\n",
        hash_token(INGEST_TOKEN),
        hash_token(rotated)
    ));
    let changed = std::time::Instant::now();
    while status(READ_TOKEN).await != StatusCode::UNAUTHORIZED {
        assert!(
            changed.elapsed() < std::time::Duration::from_secs(5),
            "still accepted after 5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        changed.elapsed() < std::time::Duration::from_millis(1_600),
        "refused after {:?}",
        changed.elapsed()
    );
    assert_eq!(status(rotated).await, StatusCode::OK);
    assert_eq!(
        status(INGEST_TOKEN).await,
        StatusCode::FORBIDDEN,
        "known, of role ingest"
    );

    // A bad edit leaves the tokens as they were.
    write("admin:read:not-a-hash\n".to_owned());
    tokio::time::sleep(std::time::Duration::from_millis(1_300)).await;
    assert_eq!(status(rotated).await, StatusCode::OK, "a bad edit locks no one out");

    // SIGHUP: the file is read at the next request (and the server goes on).
    write(format!("svc:ingest:{}\n", hash_token(INGEST_TOKEN)));
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(status(rotated).await, StatusCode::UNAUTHORIZED);
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "SIGHUP does not stop the server"
    );
    server.stop();
}
