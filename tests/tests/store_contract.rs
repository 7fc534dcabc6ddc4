//! The storage contract (`integration_tests::contract`) over each store directly, without HTTP:
//! the embedded store with its export folder, and DynamoDB with S3 (dynalite and s3s-fs, from
//! `scripts/test`).

use integration_tests::contract;

async fn fetch(url: String) -> (reqwest::StatusCode, Vec<u8>) {
    let response = reqwest::get(&url).await.expect("GET the link");
    let status = response.status();
    (status, response.bytes().await.expect("body").to_vec())
}

#[tokio::test]
async fn the_embedded_store_and_its_export_folder_keep_the_contract() {
    use audit_store_sqlite::files::{DownloadSigner, FileExports};
    let dir = tempfile::TempDir::new().unwrap();
    let store = audit_store_sqlite::SqliteStore::open(dir.path()).unwrap();
    contract::appends(&store).await;
    contract::actors(&store).await;
    contract::jobs(&store).await;
    let empty = tempfile::TempDir::new().unwrap();
    contract::pages(&audit_store_sqlite::SqliteStore::open(empty.path()).unwrap()).await;
    // Local links are served by the server's download route: serve it alone.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let signer = DownloadSigner::new(b"a-contract-secret", &base, chrono::Duration::minutes(15));
    let files = FileExports::new(dir.path(), signer);
    let server = tokio::spawn(axum::serve(listener, audit_local::downloads::router(files.clone())).into_future());
    contract::objects(&files, fetch).await;
    server.abort();
}

#[tokio::test]
async fn dynamodb_and_s3_keep_the_contract() {
    let cloud = integration_tests::fresh_tables().await;
    let sdk = audit_store_dynamodb::sdk_config().await;
    let store = cloud.events_store(&sdk);
    contract::appends(&store).await;
    contract::actors(&store).await;
    contract::jobs(&store).await;
    let empty = integration_tests::fresh_tables().await;
    contract::pages(&empty.events_store(&sdk)).await;
    contract::objects(&cloud.export_objects(&sdk, chrono::Duration::minutes(15)), fetch).await;
}

#[tokio::test]
async fn dynamodb_keeps_the_contract_with_actors_spread_over_partitions_and_across_the_change() {
    let sdk = audit_store_dynamodb::sdk_config().await;
    let spread = |cloud: &audit_store_dynamodb::CloudSettings, actor_shards: u32| {
        let mut cloud = cloud.clone();
        cloud.layout.actor_shards = actor_shards;
        cloud.events_store(&sdk)
    };
    // Every actor over 16 partitions from the start.
    let cloud = integration_tests::fresh_tables().await;
    let store = spread(&cloud, 16);
    contract::appends(&store).await;
    contract::actors(&store).await;
    contract::pages(&spread(&integration_tests::fresh_tables().await, 16)).await;
    // A table whose first events were written with one partition per actor, the rest with 4,
    // read with 4: each actor's pages hold both.
    let changed = integration_tests::fresh_tables().await;
    contract::pages_written_by(&[&spread(&changed, 1), &spread(&changed, 4)], &spread(&changed, 4)).await;
}
