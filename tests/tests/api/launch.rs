//! The API when the runner of exports cannot start one (store-independent: over the embedded
//! store only).

use crate::harness::READ_TOKEN;
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

/// A launcher that cannot start anything: what the API sees when the runner of exports is down.
struct Refusing;

#[async_trait::async_trait]
impl audit_api::ExportLauncher for Refusing {
    async fn launch(&self, _job_id: Uuid) -> Result<(), audit_storage::StoreError> {
        Err(audit_storage::StoreError::unavailable(std::io::Error::other(
            "the runner is down",
        )))
    }
}

#[tokio::test]
async fn an_export_that_cannot_be_started_is_a_503_its_job_failed_and_its_slot_free() {
    use audit_store_sqlite::SqliteStore;
    use audit_store_sqlite::files::{DownloadSigner, FileExports};
    use std::sync::Arc;
    // The real API over a real embedded store and export folder; only the launcher refuses.
    let dir = tempfile::TempDir::new().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let signer = DownloadSigner::new(b"a-test-secret", "http://127.0.0.1", chrono::Duration::minutes(15));
    let state = audit_api::AppState {
        events: store.clone(),
        exports: Some(audit_api::Exports {
            jobs: store.clone(),
            objects: Arc::new(FileExports::new(dir.path(), signer)),
            launcher: Arc::new(Refusing),
        }),
        jwt: None,
        tokens: audit_api::Tokens::fixed(
            audit_api::TokenSet::parse(&format!("admin:read:{}", audit_api::hash_token(READ_TOKEN))).unwrap(),
        ),
        cursor_key: event_model::CursorKey::new(b"a-test-cursor-key-of-32-characters!!"),
        clock: Arc::new(audit_api::SystemClock),
        limits: None,
        record_searches: audit_api::RecordSearches::People,
        integrity: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(axum::serve(listener, audit_api::router(state)).into_future());
    let client = reqwest::Client::new();
    for _ in 0..4 {
        let response = client
            .post(format!("{base}/exports"))
            .bearer_auth(READ_TOKEN)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "never 429: slots are freed"
        );
        assert!(response.headers().contains_key("retry-after"));
    }
    let jobs = audit_storage::ExportJobStore::unfinished_jobs(store.as_ref())
        .await
        .unwrap();
    assert!(
        jobs.is_empty(),
        "every job that could not start is failed, none left pending: {jobs:?}"
    );
    server.abort();
}
