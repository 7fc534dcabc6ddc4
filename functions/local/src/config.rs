//! Settings of `audit-local serve`. Flags win over their environment twins.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;

use audit_store_dynamodb::CloudSettings;
use chrono::Duration;

#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where to listen (`AUDIT_ADDR`, default `127.0.0.1:8080`).
    pub addr: SocketAddr,
    /// The data folder (`AUDIT_DATA_DIR`, default `./audit-data`): the SQLite store and export
    /// files, the signing key of cursors and links, and the generated tokens.
    pub data_dir: PathBuf,
    /// Where events, jobs and export files live (`AUDIT_STORE`, default `sqlite`).
    pub store: StoreKind,
    /// `name:role:sha256hex` entries (`AUDIT_TOKENS`); `None` uses the data folder's tokens,
    /// generating them at first start.
    pub tokens: Option<String>,
    /// The URL download links point at (`AUDIT_PUBLIC_URL`); default `http://<addr>`.
    pub public_url: Option<String>,
    /// How long a download link works (default 15 minutes).
    pub link_ttl: Duration,
    /// Exports run at once; more wait as `pending` (default 2).
    pub export_concurrency: usize,
    /// How long a client may take to send a request's headers (default 10 s).
    pub header_timeout: std::time::Duration,
    /// How long a request may take, body upload included (default 30 s).
    pub request_timeout: std::time::Duration,
    /// How long export files are kept (`AUDIT_EXPORT_EXPIRY_HOURS`, default 24 hours, like the
    /// bucket's lifecycle rule).
    pub export_expiry: std::time::Duration,
    /// The export folder's size budget (`AUDIT_EXPORT_BUDGET_MB`, default 1024 MiB): over it,
    /// new exports are refused until old ones expire.
    pub export_budget_bytes: u64,
    /// Requests per second and burst allowed to each token (`AUDIT_RATE_LIMIT`, default 100 a
    /// second with bursts of 200); `None` for no limit.
    pub rate_limit: Option<(NonZeroU32, NonZeroU32)>,
    /// How often the archive is sealed by a signed digest (`AUDIT_SEAL_INTERVAL_SECS`, default
    /// an hour; seconds for tests). Events are archived every minute, or every interval if shorter.
    pub seal_interval: std::time::Duration,
    /// Whether the server archives and seals (`AUDIT_ARCHIVE`, default true). Off only to
    /// measure what archiving costs, or where another process runs `audit-local seal`.
    pub archive: bool,
    /// Where handlers read the time: the system clock, or a pinned one in tests.
    pub clock: Arc<dyn audit_api::Clock>,
    /// People's OpenID Connect access tokens (`AUDIT_OIDC_*`); none by default.
    pub oidc: Option<OidcConfig>,
    /// Whose searches the journal records (`AUDIT_RECORD_SEARCHES`; people's by default).
    pub record_searches: audit_api::RecordSearches,
}

/// The issuer whose access tokens are accepted, and where its keys are.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    pub settings: audit_api::jwt::JwtSettings,
    /// Its `jwks_uri`; `None`: the one its discovery document names.
    pub jwks_url: Option<String>,
    /// How the admin page signs people in with it, when it has a client id there.
    pub sign_in: Option<crate::ui::SignIn>,
}

impl ServeConfig {
    /// The defaults, over `data_dir`.
    pub fn new(data_dir: PathBuf) -> Self {
        ServeConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir,
            store: StoreKind::Sqlite,
            tokens: None,
            public_url: None,
            link_ttl: Duration::seconds(audit_storage::DEFAULT_LINK_TTL_SECS),
            export_concurrency: 2,
            header_timeout: std::time::Duration::from_secs(10),
            request_timeout: std::time::Duration::from_secs(30),
            export_expiry: std::time::Duration::from_secs(24 * 3600),
            export_budget_bytes: 1024 << 20,
            rate_limit: Some((
                NonZeroU32::new(100).expect("non-zero"),
                NonZeroU32::new(200).expect("non-zero"),
            )),
            seal_interval: std::time::Duration::from_secs(3600),
            archive: true,
            clock: Arc::new(audit_api::SystemClock),
            oidc: None,
            record_searches: audit_api::RecordSearches::People,
        }
    }
}

/// The store behind the server.
#[derive(Debug, Clone)]
pub enum StoreKind {
    /// SQLite and files in the data folder.
    Sqlite,
    /// DynamoDB tables and an S3 bucket (endpoints from `AWS_ENDPOINT_URL_DYNAMODB` and
    /// `AWS_ENDPOINT_URL_S3`, for the emulators); the data folder keeps only the secrets.
    DynamoDb(CloudSettings),
}
