//! `GET /integrity` and `GET /events/{id}/proof` over the embedded store: the seal's state, a
//! proof that holds offline with the served key, 409 before the seal, 404 for an unknown event,
//! and the newest check's finding once the log is changed behind the API.

use std::sync::Arc;

use crate::harness::{READ_TOKEN, custom, spawn_app};
use audit_integrity::{Proof, PublicKey};
use reqwest::StatusCode;
use serde_json::Value;

/// A sealer over the server's data folder, as `audit-local seal` opens it beside a running server.
fn sealer(dir: &std::path::Path) -> audit_store_sqlite::Sealer {
    let store = audit_store_sqlite::SqliteStore::open(dir).unwrap();
    let key = audit_local::secrets::integrity_key(dir).unwrap();
    audit_store_sqlite::Sealer::new(store, dir, Arc::new(key))
}

#[tokio::test]
async fn a_sealed_event_has_a_proof_that_holds_with_the_served_key_and_fails_once_changed() {
    let app = spawn_app().await;
    let (kept, changed) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let now = event_model::time::format(&chrono::Utc::now());
    app.ingest_all(&[
        custom(kept, &now, "alice", "kept as it was"),
        custom(changed, &now, "bob", "changed behind the API"),
    ])
    .await;

    let status: Value = app.get("/integrity", Some(READ_TOKEN)).await.json().await.unwrap();
    assert_eq!(status["sealed_through"], Value::Null, "{status}");
    assert_eq!(status["newest_digest"], Value::Null);
    assert_eq!(status["public_key"]["algorithm"], "Ed25519");
    let key = PublicKey::from_pem(status["public_key"]["pem"].as_str().unwrap()).unwrap();
    assert_eq!(status["public_key"]["fingerprint"], key.fingerprint());

    let early = app.get(&format!("/events/{kept}/proof"), Some(READ_TOKEN)).await;
    assert_eq!(early.status(), StatusCode::CONFLICT);
    assert_eq!(early.headers()["content-type"], "application/problem+json");
    let unknown = app
        .get(&format!("/events/{}/proof", uuid::Uuid::new_v4()), Some(READ_TOKEN))
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let malformed = app.get("/events/not-a-uuid/proof", Some(READ_TOKEN)).await;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);

    let sealer = sealer(app.data_path());
    let signed = sealer.seal().await.unwrap();
    let status: Value = app.get("/integrity", Some(READ_TOKEN)).await.json().await.unwrap();
    assert_eq!(status["newest_digest"]["path"], signed.digest.path().as_str());
    assert_eq!(status["newest_digest"]["events"], 2);
    assert_eq!(
        status["sealed_through"],
        event_model::time::format(&signed.digest.period_end).as_str()
    );

    let response = app.get(&format!("/events/{kept}/proof"), Some(READ_TOKEN)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let proof: Proof = response.json().await.unwrap();
    let proven = proof.check(&key).expect("the proof holds with the served key alone");
    assert_eq!(proven.id, kept.to_string());
    assert_eq!(proven.digest_path, signed.digest.path());

    // Changed behind the API: its proof no longer holds, and a check names it.
    let connection = rusqlite::Connection::open(app.data_path().join("audit.db")).unwrap();
    connection
        .execute_batch(&format!(
            "DROP TRIGGER events_no_update; UPDATE events SET message = 'nothing happened' WHERE id = x'{}';",
            changed.simple()
        ))
        .unwrap();
    let proof: Proof = app
        .get(&format!("/events/{changed}/proof"), Some(READ_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(proof.check(&key), Err(audit_integrity::proof::ProofError::EventChanged));
    assert_eq!(
        app.get("/integrity", Some(READ_TOKEN))
            .await
            .json::<Value>()
            .await
            .unwrap()["last_check"],
        Value::Null,
        "no check has run yet"
    );
    let report = audit_local::integrity::check(
        &sealer,
        audit_integrity::Range::default(),
        std::time::Duration::from_secs(3600),
    )
    .await
    .unwrap();
    assert!(!report.holds());
    let status: Value = app.get("/integrity", Some(READ_TOKEN)).await.json().await.unwrap();
    let check = &status["last_check"];
    assert_eq!(check["holds"], false, "{status}");
    assert_eq!(check["problem_count"], 1);
    assert!(
        check["problems"][0].as_str().unwrap().contains(&changed.to_string()),
        "{check}"
    );
}
