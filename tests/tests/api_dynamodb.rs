//! The end-to-end suite of `api/` over DynamoDB and S3 (dynalite and s3s-fs, started by
//! `scripts/test`), plus what only that path has (`api/dynamodb.rs`). Fails, never skips, when
//! the emulators are missing.

mod harness {
    pub use integration_tests::*;
    use std::sync::Arc;

    pub const BACKEND: Backend = Backend::DynamoDb;

    pub async fn spawn_app() -> TestApp {
        spawn_app_on(BACKEND).await
    }

    pub async fn new_place() -> Arc<Place> {
        Place::new(BACKEND).await
    }
}

#[path = "api/auth.rs"]
mod auth;
#[path = "api/bad_input.rs"]
mod bad_input;
#[path = "api/durability.rs"]
mod durability;
#[path = "api/dynamodb.rs"]
mod dynamodb;
#[path = "api/exports.rs"]
mod exports;
#[path = "api/faults.rs"]
mod faults;
#[path = "api/hostile.rs"]
mod hostile;
#[path = "api/ingest.rs"]
mod ingest;
#[path = "api/meta.rs"]
mod meta;
#[path = "api/query.rs"]
mod query;
#[path = "api/slow_clients.rs"]
mod slow_clients;
