//! End-to-end tests of every behaviour of SPEC §3 against the local server over HTTP, over the
//! embedded store. `api_dynamodb` runs the same modules over DynamoDB and S3 (the emulators).

mod harness {
    pub use integration_tests::*;
    use std::sync::Arc;

    pub const BACKEND: Backend = Backend::Sqlite;

    pub async fn spawn_app() -> TestApp {
        spawn_app_on(BACKEND).await
    }

    pub async fn new_place() -> Arc<Place> {
        Place::new(BACKEND).await
    }
}

mod auth;
mod durability;
mod exports;
mod hostile;
mod ingest;
mod integrity;
mod launch;
mod local_links;
mod meta;
mod oidc;
mod query;
mod slow_clients;
