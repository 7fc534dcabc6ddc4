//! The modules of `api/` that touch the store, over DynamoDB and S3 (dynalite and s3s-fs,
//! started by `scripts/test`), plus what only that path has (`api/dynamodb.rs`). The modules
//! whose requests never reach a store (auth, meta, slow clients, hostile input) run over the
//! embedded store only; the hostile cases also run over the Lambda functions (`lambda.rs`).
//! Fails, never skips, when the emulators are missing.

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

#[path = "api/durability.rs"]
mod durability;
#[path = "api/dynamodb.rs"]
mod dynamodb;
#[path = "api/exports.rs"]
mod exports;
#[path = "api/faults.rs"]
mod faults;
#[path = "api/ingest.rs"]
mod ingest;
#[path = "api/query.rs"]
mod query;
