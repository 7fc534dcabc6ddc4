//! People's OpenID Connect access tokens through the API (issue 17): the test's issuer
//! (`integration_tests::people`) serves its discovery document and keys, which it can take down;
//! the negative cases are the data files of `tests/fixtures/jwt/`. The verifier's own unit tests
//! hold the rest (`audit_api::jwt`).

use integration_tests::people::{AUDIENCE, Issuer};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{INGEST_TOKEN, Options, READ_TOKEN, new_place, spawn_app_with};

fn options(issuer: &Issuer) -> Options {
    Options {
        oidc: Some(audit_local::OidcConfig {
            settings: audit_api::jwt::JwtSettings {
                issuer: issuer.url.clone(),
                audience: AUDIENCE.into(),
                role_claim: "groups".into(),
                read_value: "audit-readers".into(),
            },
            // Where the discovery document says.
            jwks_url: None,
            sign_in: None,
        }),
        ..Options::default()
    }
}

#[tokio::test]
async fn a_persons_access_token_reads_and_names_them_and_each_refusal_says_why() {
    let issuer = Issuer::start().await;
    let app = spawn_app_with(new_place().await, options(&issuer)).await;
    let token = |changes: Value| issuer.token(&changes);
    let get = async |bearer: &str| app.get("/events?limit=1", Some(bearer)).await;

    // A valid token reads; an export it asks for is recorded as the person's, with their `sub`.
    assert_eq!(get(&token(json!({}))).await.status(), StatusCode::OK);
    let response = app.post_json("/exports", Some(&token(json!({}))), &json!({})).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let job: Value = response.json().await.unwrap();
    let record = app.page("type=audit.export_requested&limit=1").await;
    assert_eq!(record["events"][0]["actor"], "ada@example.test", "{record}");
    assert_eq!(record["events"][0]["params"]["subject"], "u-42", "{record}");
    let mine: Value = app.get("/exports", Some(&token(json!({})))).await.json().await.unwrap();
    assert_eq!(mine["exports"][0]["id"], job["id"], "the person's own exports: {mine}");

    for case in issuer.cases() {
        let response = get(&case.token).await;
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        case.check(response.status().as_u16(), challenge.as_deref());
    }
    // A person's token cannot ingest.
    let ingest = app
        .post_json(
            "/events",
            Some(&token(json!({}))),
            &json!({"actor": "svc", "type": "custom.x", "message": "m"}),
        )
        .await;
    assert_eq!(ingest.status(), StatusCode::FORBIDDEN);
    app.stop().await;

    // A server that has not read the issuer's keys yet, while they are down: 503 for a person's
    // token (it cannot be checked), and the service tokens go on.
    issuer.keys_served(false);
    let app = spawn_app_with(new_place().await, options(&issuer)).await;
    assert_eq!(
        app.get("/events?limit=1", Some(&token(json!({})))).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        app.get("/events?limit=1", Some(READ_TOKEN)).await.status(),
        StatusCode::OK
    );
    let service = app
        .post_json(
            "/events",
            Some(INGEST_TOKEN),
            &json!({"actor": "svc", "type": "custom.x", "message": "m"}),
        )
        .await;
    assert!(service.status().is_success(), "{}", service.status());
    // Up again: the next token is checked.
    issuer.keys_served(true);
    assert_eq!(
        app.get("/events?limit=1", Some(&token(json!({})))).await.status(),
        StatusCode::OK
    );
    app.stop().await;
}

#[tokio::test]
async fn a_persons_search_is_recorded_once_not_per_page_and_a_services_is_not() {
    let issuer = Issuer::start().await;
    let app = spawn_app_with(new_place().await, options(&issuer)).await;
    let events: Vec<Value> = (0..5)
        .map(|i| json!({"actor": "bob", "type": "custom.x", "message": format!("e{i}")}))
        .collect();
    app.ingest_all(&events).await;
    let searches = async || {
        let page = app.page("type=audit.journal_searched&limit=50").await;
        page["events"].as_array().unwrap().clone()
    };

    // Ada searches for bob's events, two at a time: three pages, one record.
    let ada = issuer.token(&json!({}));
    let mut query = "actor=bob&limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page: Value = app
            .get(&format!("/events?{query}"), Some(&ada))
            .await
            .json()
            .await
            .unwrap();
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => query = format!("actor=bob&limit=2&cursor={}", integration_tests::urlencode(c)),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let recorded = searches().await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0]["actor"], "ada@example.test");
    assert_eq!(recorded[0]["params"]["subject"], "u-42");
    assert_eq!(recorded[0]["source"], "audit-log");
    assert_eq!(
        recorded[0]["message"],
        "The audit log was searched with filters: actor=bob"
    );
    // The service's reads (the test's own, above, with the read token) are not recorded.
    assert_eq!(searches().await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn the_page_is_told_how_people_sign_in_and_may_reach_the_issuer_and_its_token_endpoint() {
    let issuer = Issuer::start().await;
    let mut options = options(&issuer);
    if let Some(oidc) = options.oidc.as_mut() {
        oidc.sign_in = Some(audit_local::SignIn {
            issuer: issuer.url.clone(),
            client_id: "audit-ui".into(),
            scopes: "openid email".into(),
        });
    }
    let app = spawn_app_with(new_place().await, options).await;
    let config = app.get("/config.js", None).await.text().await.unwrap();
    let json = config
        .trim()
        .strip_prefix("window.AUDIT_CONFIG = ")
        .and_then(|c| c.strip_suffix(';'))
        .unwrap();
    let config: Value = serde_json::from_str(json).unwrap();
    assert_eq!(
        config["oidc"],
        json!({"issuer": issuer.url, "clientId": "audit-ui", "scopes": "openid email"})
    );
    let page = app.get("/", None).await;
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(
        policy.contains(&format!(
            "connect-src 'self' {} https://tokens.example.test;",
            issuer.url
        )),
        "{policy}"
    );
    app.stop().await;

    // Without sign-in settings the page talks to its own origin only.
    let app = spawn_app_with(new_place().await, Options::default()).await;
    let page = app.get("/", None).await;
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("connect-src 'self';"), "{policy}");
    let config = app.get("/config.js", None).await.text().await.unwrap();
    assert!(
        config.trim_end().ends_with(r#"window.AUDIT_CONFIG = { apiUrl: "" };"#),
        "{config}"
    );
    app.stop().await;
}
