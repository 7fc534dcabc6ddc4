//! The harness of the end-to-end tests: [`spawn_app_on`] starts the local server in-process on
//! port 0 over a fresh [`Place`] — a temp data folder and, for [`Backend::DynamoDb`], tables and a
//! bucket of their own in the emulators — with one `ingest` and one `read` token, and gives a
//! client with helpers for every route. Set `TEST_LOG=1` to see the server's logs.
//!
//! The DynamoDB backend needs the emulators that `scripts/test` starts (it exports
//! `AWS_ENDPOINT_URL_DYNAMODB` and `AWS_ENDPOINT_URL_S3`); without them its tests fail.

pub mod contract;
pub mod fault_proxy;
pub mod hostile;
pub mod people;
pub mod runtime_api;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Once};

use audit_local::{CloudSettings, ServeConfig, StoreKind};
use audit_storage::{EventStore, ExportJobStore};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const INGEST_TOKEN: &str = "test-ingest-token";
pub const READ_TOKEN: &str = "test-read-token";

/// A running server.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub client: Client,
    pub place: Arc<Place>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Options of a test server.
#[derive(Clone)]
pub struct Options {
    pub link_ttl: chrono::Duration,
    pub header_timeout: std::time::Duration,
    pub request_timeout: std::time::Duration,
    /// `AUDIT_TOKENS`; `None` lets the server generate tokens at first start.
    pub tokens: Option<String>,
    /// The export folder's size budget.
    pub export_budget_bytes: u64,
    /// Requests per second and burst per token; none by default (tests send in bursts).
    pub rate_limit: Option<(std::num::NonZeroU32, std::num::NonZeroU32)>,
    /// Where the server's handlers read the time (the system clock unless a test pins it).
    pub clock: Arc<dyn audit_api::Clock>,
    /// People's access tokens (none by default).
    pub oidc: Option<audit_local::OidcConfig>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            link_ttl: chrono::Duration::seconds(audit_storage::DEFAULT_LINK_TTL_SECS),
            header_timeout: std::time::Duration::from_secs(10),
            request_timeout: std::time::Duration::from_secs(30),
            tokens: Some(format!(
                "svc-ingest:ingest:{},admin:read:{}",
                audit_api::hash_token(INGEST_TOKEN),
                audit_api::hash_token(READ_TOKEN)
            )),
            export_budget_bytes: 1 << 30,
            rate_limit: None,
            clock: Arc::new(audit_api::SystemClock),
            oidc: None,
        }
    }
}

/// The store a test server runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    DynamoDb,
}

/// Where a test server keeps its data: a temp data folder, and for DynamoDB its own tables and
/// bucket in the emulators. Outlives a server, so a test can restart one over the same data.
pub struct Place {
    pub dir: TempDir,
    pub store: StoreKind,
}

impl Place {
    pub async fn new(backend: Backend) -> Arc<Place> {
        let dir = TempDir::new().expect("temp dir");
        let store = match backend {
            Backend::Sqlite => StoreKind::Sqlite,
            Backend::DynamoDb => StoreKind::DynamoDb(fresh_tables().await),
        };
        Arc::new(Place { dir, store })
    }

    pub fn backend(&self) -> Backend {
        match self.store {
            StoreKind::Sqlite => Backend::Sqlite,
            StoreKind::DynamoDb(_) => Backend::DynamoDb,
        }
    }

    /// The server settings over this place (tokens as the data folder has them).
    pub fn config(&self) -> ServeConfig {
        ServeConfig {
            store: self.store.clone(),
            ..ServeConfig::new(self.dir.path().to_path_buf())
        }
    }

    /// A second handle on the place's event store, beside the server's.
    pub async fn events(&self) -> Arc<dyn EventStore> {
        match &self.store {
            StoreKind::Sqlite => Arc::new(audit_store_sqlite::SqliteStore::open(self.dir.path()).expect("open store")),
            StoreKind::DynamoDb(cloud) => Arc::new(dynamo_store(cloud).await),
        }
    }

    /// Stores, as `pending`, an export job record that this service cannot read (a bug of an
    /// older version, a hand edit): `+10000-01-01` is what an unbounded `to` once stored.
    pub async fn plant_unreadable_job(&self, id: uuid::Uuid) {
        let body = format!(
            r#"{{"id":"{id}","status":"pending","filters":{{"to":"+10000-01-01T00:00:00.000000Z"}},"rows":0,"bytes":0,"created_at":"2026-01-01T00:00:00.000000Z","requested_by":"admin"}}"#
        );
        match &self.store {
            StoreKind::Sqlite => {
                let conn =
                    audit_store_sqlite::open_connection(&self.dir.path().join("audit.db")).expect("open the database");
                conn.execute(
                    "INSERT INTO export_jobs (id, status, job) VALUES (?1, 'pending', ?2)",
                    [id.to_string(), body],
                )
                .expect("plant a job row");
            }
            StoreKind::DynamoDb(cloud) => {
                use audit_store_dynamodb::schema;
                use aws_sdk_dynamodb::types::AttributeValue;
                let sdk = audit_store_dynamodb::sdk_config().await;
                audit_store_dynamodb::dynamodb_client(&sdk)
                    .put_item()
                    .table_name(&cloud.layout.jobs_table)
                    .item(schema::JOB_ID, AttributeValue::S(id.to_string()))
                    .item(schema::JOB, AttributeValue::S(body))
                    .item(schema::OPEN, AttributeValue::S(schema::OPEN_VALUE.into()))
                    .send()
                    .await
                    .expect("plant a job item");
            }
        }
    }

    /// Stores an event row this service cannot read (its `params` are not JSON, its `received_at`
    /// not an instant), at `time` by actor `mallory`, as a bug of another version or a hand
    /// edit might. On DynamoDB the day of `time` must already have events (its day marker).
    pub async fn plant_unreadable_event(&self, id: uuid::Uuid, time: &str) {
        let at = event_model::time::parse_instant(time).expect("an instant");
        match &self.store {
            StoreKind::Sqlite => {
                let conn =
                    audit_store_sqlite::open_connection(&self.dir.path().join("audit.db")).expect("open the database");
                conn.execute(
                    "INSERT INTO events (id, time_us, actor, category, type, message, duration_ms, params, source, received_at, fingerprint)
                     VALUES (?1, ?2, 'mallory', 'custom', 'custom.t', 'unreadable', NULL, 'not json', 'svc', 'yesterday', 'x')",
                    rusqlite::params![id.as_bytes().to_vec(), at.timestamp_micros()],
                )
                .expect("plant an event row");
            }
            StoreKind::DynamoDb(cloud) => {
                use audit_store_dynamodb::schema;
                use aws_sdk_dynamodb::types::AttributeValue;
                let shard = schema::shard_of(&id, cloud.layout.time_shards);
                let s = |v: &str| AttributeValue::S(v.to_owned());
                let sdk = audit_store_dynamodb::sdk_config().await;
                audit_store_dynamodb::dynamodb_client(&sdk)
                    .put_item()
                    .table_name(&cloud.layout.events_table)
                    .item(schema::ID, s(&id.to_string()))
                    .item(schema::TIME_BUCKET, s(&schema::time_bucket(at.date_naive(), shard)))
                    .item(schema::ACTOR, s("mallory"))
                    .item(schema::TIME_ID, s(&event_model::time::time_id(&at, &id)))
                    .item(schema::SEARCH, s("unreadable\nmallory"))
                    .item("time", s(&event_model::time::format(&at)))
                    .item(schema::CATEGORY, s("custom"))
                    .item(schema::TYPE, s("custom.t"))
                    .item("message", s("unreadable"))
                    .item("params", s("not json"))
                    .item("source", s("svc"))
                    .item("received_at", s("yesterday"))
                    .item("fingerprint", s("x"))
                    .item("write_id", s("x"))
                    .send()
                    .await
                    .expect("plant an event item");
            }
        }
    }

    /// A second handle on the place's export-job store.
    pub async fn jobs(&self) -> Arc<dyn ExportJobStore> {
        match &self.store {
            StoreKind::Sqlite => Arc::new(audit_store_sqlite::SqliteStore::open(self.dir.path()).expect("open store")),
            StoreKind::DynamoDb(cloud) => Arc::new(dynamo_store(cloud).await),
        }
    }
}

/// The endpoints of the emulators, or a panic that says how to start them.
pub fn emulator_endpoints() -> (String, String) {
    let var = |name: &str| {
        std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| {
            panic!(
                "{name} is not set: the DynamoDB tests need the emulators that `scripts/test` starts \
                 (dynalite and s3s-fs; see README, \"Tests\")"
            )
        })
    };
    (var("AWS_ENDPOINT_URL_DYNAMODB"), var("AWS_ENDPOINT_URL_S3"))
}

/// New, empty tables and bucket with names no other test uses.
pub async fn fresh_tables() -> CloudSettings {
    emulator_endpoints();
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let names = audit_store_dynamodb::Layout {
        events_table: format!("t{tag}-events"),
        jobs_table: format!("t{tag}-jobs"),
        bucket: format!("t{}", &tag[..20]),
        time_shards: audit_store_dynamodb::schema::DEFAULT_TIME_SHARDS,
        actor_shards: audit_store_dynamodb::schema::DEFAULT_ACTOR_SHARDS,
    };
    let sdk = audit_store_dynamodb::sdk_config().await;
    audit_store_dynamodb::init::create_tables(&audit_store_dynamodb::dynamodb_client(&sdk), &names)
        .await
        .expect("create tables in dynalite");
    audit_store_dynamodb::init::create_bucket(&audit_store_dynamodb::s3_client(&sdk), &names.bucket)
        .await
        .expect("create a bucket in s3s-fs");
    CloudSettings::new(names)
}

/// The environment of a Lambda function over `cloud`, as the SAM template sets it: the test
/// tokens' hashes and a signing key in two Secrets Manager secrets (made now in moto, under
/// names of their own), which the function reads at cold start. The emulator endpoints and
/// credentials are inherited from the test's own.
pub async fn lambda_env(cloud: &CloudSettings) -> Vec<(String, String)> {
    let n = &cloud.layout;
    let (hashes, key) = (
        format!("{}/token-hashes", n.events_table),
        format!("{}/signing-key", n.events_table),
    );
    let sdk = audit_store_dynamodb::sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    for (name, value) in [
        (&hashes, Options::default().tokens.expect("test tokens")),
        (&key, "a-test-signing-key-of-at-least-32-characters".to_owned()),
    ] {
        secrets
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .expect("a secret in moto (AWS_ENDPOINT_URL_SECRETS_MANAGER; scripts/with-emulators starts it)");
    }
    // The archiver's bucket and digest key (it also serves the integrity routes).
    let bucket = format!("a{}", &n.events_table[1..21]);
    audit_store_dynamodb::init::create_bucket(&audit_store_dynamodb::s3_client(&sdk), &bucket)
        .await
        .expect("an archive bucket in s3s-fs");
    let digest_key = kms_key(&sdk).await;
    [
        ("AUDIT_ARCHIVE_BUCKET", bucket),
        ("AUDIT_DIGEST_KEY_ID", digest_key),
        ("AUDIT_EVENTS_TABLE", n.events_table.clone()),
        ("AUDIT_JOBS_TABLE", n.jobs_table.clone()),
        ("AUDIT_EXPORT_BUCKET", n.bucket.clone()),
        ("AUDIT_TIME_SHARDS", n.time_shards.to_string()),
        ("AUDIT_TOKENS_SECRET", hashes),
        ("AUDIT_SIGNING_KEY_SECRET", key),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A new P-256 signing key in moto's KMS (as the template's digest key): its id.
pub async fn kms_key(sdk: &audit_store_dynamodb::SdkConfig) -> String {
    let key = audit_store_dynamodb::integrity::kms_client(sdk)
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::EccNistP256)
        .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
        .send()
        .await
        .expect("a key in moto's KMS (AWS_ENDPOINT_URL_KMS; scripts/with-emulators starts it)");
    key.key_metadata.expect("key metadata").key_id
}

/// A DynamoDB store over `cloud`'s tables.
pub async fn dynamo_store(cloud: &CloudSettings) -> audit_store_dynamodb::DynamoStore {
    cloud.events_store(&audit_store_dynamodb::sdk_config().await)
}

/// Starts a server over a new place of `backend`.
pub async fn spawn_app_on(backend: Backend) -> TestApp {
    spawn_app_with(Place::new(backend).await, Options::default()).await
}

/// Starts a server over `place` (an existing one, to test restarts).
pub async fn spawn_app_with(place: Arc<Place>, options: Options) -> TestApp {
    init_logs();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    let config = ServeConfig {
        addr,
        tokens: options.tokens,
        link_ttl: options.link_ttl,
        header_timeout: options.header_timeout,
        request_timeout: options.request_timeout,
        export_budget_bytes: options.export_budget_bytes,
        rate_limit: options.rate_limit,
        clock: options.clock,
        oidc: options.oidc,
        ..place.config()
    };
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(audit_local::run(listener, config, async {
        let _ = rx.await;
    }));
    let app = TestApp {
        addr,
        base: format!("http://{addr}"),
        client: Client::new(),
        place,
        shutdown: Some(tx),
        handle: Some(handle),
    };
    // The listener is bound before `run` starts, so the first request simply waits for it.
    assert_eq!(app.get("/health", None).await.status(), StatusCode::OK);
    app
}

fn init_logs() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            audit_local::init_logs(audit_local::LogTo::TestOutput);
        }
    });
}

impl TestApp {
    /// Stops the server gracefully and waits for it; gives the place back for a restart.
    pub async fn stop(mut self) -> Arc<Place> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("server task").expect("server ran cleanly");
        }
        self.place.clone()
    }

    pub fn data_path(&self) -> &Path {
        self.place.dir.path()
    }

    pub fn backend(&self) -> Backend {
        self.place.backend()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("GET")
    }

    pub async fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("POST")
    }

    pub async fn post_raw(&self, path: &str, token: Option<&str>, content_type: &str, body: Vec<u8>) -> Response {
        let mut request = self
            .client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("POST")
    }

    /// Posts `events` as one batch with the ingest token; asserts 200 and returns the body.
    pub async fn ingest(&self, events: &[Value]) -> Value {
        let response = self
            .post_json("/events", Some(INGEST_TOKEN), &json!({ "events": events }))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("ingest body")
    }

    /// Posts any number of events in batches of 500; asserts every one was created.
    pub async fn ingest_all(&self, events: &[Value]) {
        for chunk in events.chunks(500) {
            let body = self.ingest(chunk).await;
            assert_eq!(body["accepted"], chunk.len(), "{body}");
        }
    }

    /// One page of `GET /events?{query}` with the read token; asserts 200.
    pub async fn page(&self, query: &str) -> Value {
        let response = self.get(&format!("/events?{query}"), Some(READ_TOKEN)).await;
        assert_eq!(response.status(), StatusCode::OK, "GET /events?{query}");
        response.json().await.expect("page body")
    }

    /// `GET /events/{id}` with the read token; asserts 200.
    pub async fn event(&self, id: &str) -> Value {
        let response = self.get(&format!("/events/{id}"), Some(READ_TOKEN)).await;
        assert_eq!(response.status(), StatusCode::OK, "GET /events/{id}");
        response.json().await.expect("event body")
    }

    /// Every event of `GET /events?{query}`, following cursors to the end.
    pub async fn list_all(&self, query: &str) -> Vec<Value> {
        let mut events = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut q = query.to_owned();
            if let Some(c) = &cursor {
                q.push_str(&format!("&cursor={}", urlencode(c)));
            }
            let page = self.page(&q).await;
            events.extend(page["events"].as_array().expect("events").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return events,
            }
        }
    }

    /// How many events the store holds, read through the API.
    pub async fn count(&self) -> usize {
        self.list_all("limit=500").await.len()
    }

    /// Requests an export of `filters`, waits for it to finish (polling), returns the job.
    pub async fn export(&self, filters: &Value) -> Value {
        let response = self.post_json("/exports", Some(READ_TOKEN), filters).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let created: Value = response.json().await.expect("export body");
        self.finished_export(created["id"].as_str().expect("id")).await
    }

    /// The status of export `id` once it has finished (polled for up to 20 s).
    pub async fn finished_export(&self, id: &str) -> Value {
        for _ in 0..2_000 {
            let job: Value = self
                .get(&format!("/exports/{id}"), Some(READ_TOKEN))
                .await
                .json()
                .await
                .expect("job");
            if job["status"] == "succeeded" || job["status"] == "failed" {
                return job;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the export did not finish within 20 s");
    }
}

/// Percent-encodes a query value.
pub fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `n` custom events at `time` by `actor`, with messages `<prefix> 0`, `<prefix> 1`, …
pub fn customs(n: usize, time: &str, actor: &str, prefix: &str) -> Vec<Value> {
    (0..n)
        .map(|i| custom(uuid::Uuid::new_v4(), time, actor, &format!("{prefix} {i}")))
        .collect()
}

/// A custom event at `time` by `actor` with `message`.
pub fn custom(id: uuid::Uuid, time: &str, actor: &str, message: &str) -> Value {
    json!({"id": id, "time": time, "actor": actor, "type": "custom.test", "message": message})
}

/// Every route of the API table as (method, path with `{id}` replaced by `id`, role needed —
/// `None` for a public route): what the credential matrices walk.
pub fn routes_to_call(id: &str) -> Vec<(&'static str, String, Option<String>)> {
    audit_api::ROUTES
        .iter()
        .map(|r| {
            let needed = match r.access {
                audit_api::Access::Public => None,
                audit_api::Access::Needs(role) => Some(role.to_string()),
            };
            (r.method, r.path.replace("{id}", id), needed)
        })
        .collect()
}
