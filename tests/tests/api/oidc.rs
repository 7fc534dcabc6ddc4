//! People's OpenID Connect access tokens through the API (issue 17): the issuer's keys served
//! over HTTP by the test (a JWKS it can change or take down), tokens signed with its P-256 key.
//! The negative cases are data files (`tests/fixtures/jwt/*.json`: the claims changed, how the
//! token is signed, the status and the reason `WWW-Authenticate` gives); the verifier's own
//! unit tests hold the rest (`audit_api::jwt`).

use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::EncodePrivateKey;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{INGEST_TOKEN, Options, READ_TOKEN, new_place, spawn_app_with};

const AUDIENCE: &str = "audit-log";

/// The issuer's JWKS over HTTP on a loopback port; `None` answers 503 (down).
async fn jwks_server(jwks: Arc<Mutex<Option<Value>>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move {
                match jwks.lock().unwrap().clone() {
                    Some(v) => (axum::http::StatusCode::OK, v.to_string()),
                    None => (axum::http::StatusCode::SERVICE_UNAVAILABLE, String::new()),
                }
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[tokio::test]
async fn a_persons_access_token_reads_and_names_them_and_each_refusal_says_why() {
    let secret = p256::SecretKey::from_slice(&[5; 32]).unwrap();
    let point = secret.public_key().to_sec1_bytes();
    let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
                     "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65])});
    let jwk_again = jwk.clone();
    let jwks = Arc::new(Mutex::new(Some(json!({"keys": [jwk]}))));
    let issuer = jwks_server(jwks.clone()).await;
    let options = Options {
        oidc: Some(audit_local::OidcConfig {
            settings: audit_api::jwt::JwtSettings {
                issuer: issuer.clone(),
                audience: AUDIENCE.into(),
                role_claim: "groups".into(),
                read_value: "audit-readers".into(),
            },
            jwks_url: Some(format!("{issuer}/jwks")),
        }),
        ..Options::default()
    };
    let app = spawn_app_with(new_place().await, options.clone()).await;
    let key = EncodingKey::from_ec_der(secret.to_pkcs8_der().unwrap().as_bytes());
    let now = chrono::Utc::now().timestamp();
    let token = |changes: Value| {
        let mut claims = json!({"iss": issuer, "aud": AUDIENCE, "sub": "u-42", "email": "ada@example.test",
                                "groups": ["audit-readers"], "iat": now, "exp": now + 600});
        for (k, v) in changes.as_object().unwrap() {
            claims[k] = v.clone();
        }
        let header = Header {
            kid: Some("k1".into()),
            ..Header::new(Algorithm::ES256)
        };
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    };
    let get = async |bearer: &str| app.get("/events?limit=1", Some(bearer)).await;

    // A valid token reads; an export it asks for is recorded as the person's.
    assert_eq!(get(&token(json!({}))).await.status(), StatusCode::OK);
    let response = app.post_json("/exports", Some(&token(json!({}))), &json!({})).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let job: Value = response.json().await.unwrap();
    let record = app.page("type=audit.export_requested&limit=1").await;
    assert_eq!(record["events"][0]["actor"], "ada@example.test", "{record}");
    let mine: Value = app.get("/exports", Some(&token(json!({})))).await.json().await.unwrap();
    assert_eq!(mine["exports"][0]["id"], job["id"], "the person's own exports: {mine}");

    // Each negative case of `tests/fixtures/jwt/*.json`: its status, and for a 401 its reason in
    // WWW-Authenticate, never the token.
    let mut files: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/jwt"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 9, "{files:?}");
    for file in files {
        let case: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let what = format!("{} ({})", file.file_name().unwrap().to_string_lossy(), case["what"]);
        let mut changes = case["claims"].clone();
        for v in changes.as_object_mut().unwrap().values_mut() {
            if let Some(offset) = v.as_str().and_then(|t| t.strip_prefix("NOW")) {
                *v = json!(now + offset.parse::<i64>().unwrap());
            }
        }
        let good = token(changes);
        let bad = match case["sign"].as_str().unwrap() {
            "issuer-key" => good,
            "none" => {
                let parts: Vec<&str> = good.split('.').collect();
                format!("{}.{}.", B64.encode(r#"{"alg":"none","kid":"k1"}"#), parts[1])
            }
            "hs256-public-key" => {
                let header = Header {
                    kid: Some("k1".into()),
                    ..Header::new(Algorithm::HS256)
                };
                let claims: Value =
                    serde_json::from_slice(&B64.decode(good.split('.').nth(1).unwrap()).unwrap()).unwrap();
                jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&point)).unwrap()
            }
            "unknown-key" => {
                let other = p256::SecretKey::from_slice(&[6; 32]).unwrap();
                let header = Header {
                    kid: Some("k-unknown".into()),
                    ..Header::new(Algorithm::ES256)
                };
                let claims: Value =
                    serde_json::from_slice(&B64.decode(good.split('.').nth(1).unwrap()).unwrap()).unwrap();
                let key = EncodingKey::from_ec_der(other.to_pkcs8_der().unwrap().as_bytes());
                jsonwebtoken::encode(&header, &claims, &key).unwrap()
            }
            "tampered" => {
                let parts: Vec<&str> = good.split('.').collect();
                let mut claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
                claims["sub"] = json!("someone-else");
                format!("{}.{}.{}", parts[0], B64.encode(claims.to_string()), parts[2])
            }
            other => panic!("{what}: unknown sign {other}"),
        };
        let response = get(&bad).await;
        assert_eq!(
            response.status().as_u16() as u64,
            case["status"].as_u64().unwrap(),
            "{what}"
        );
        if let Some(reason) = case["reason"].as_str() {
            let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
            assert!(
                challenge.contains(reason) && challenge.contains("invalid_token"),
                "{what}: {challenge}"
            );
            assert!(
                !challenge.contains(&bad[..20.min(bad.len())]),
                "{what}: the token is not echoed"
            );
        }
    }
    // Valid but not a reader: 403. A person's token cannot ingest.
    assert_eq!(
        get(&token(json!({"groups": ["staff"]}))).await.status(),
        StatusCode::FORBIDDEN
    );
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
    *jwks.lock().unwrap() = None;
    let app = spawn_app_with(new_place().await, options).await;
    assert_eq!(
        get_on(&app, &token(json!({}))).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(get_on(&app, READ_TOKEN).await.status(), StatusCode::OK);
    let service = app
        .post_json(
            "/events",
            Some(INGEST_TOKEN),
            &json!({"actor": "svc", "type": "custom.x", "message": "m"}),
        )
        .await;
    assert!(service.status().is_success(), "{}", service.status());
    // Up again: the next token is checked.
    *jwks.lock().unwrap() = Some(json!({"keys": [jwk_again]}));
    assert_eq!(get_on(&app, &token(json!({}))).await.status(), StatusCode::OK);
    app.stop().await;
}

async fn get_on(app: &crate::harness::TestApp, bearer: &str) -> reqwest::Response {
    app.get("/events?limit=1", Some(bearer)).await
}
