//! What the three Lambda functions share: their settings, read once per execution environment
//! (at cold start) from the environment the SAM template gives them and from Secrets Manager,
//! and the API state over the DynamoDB store.
//!
//! | variable | required | |
//! |---|---|---|
//! | `AUDIT_EVENTS_TABLE` | yes | the events table |
//! | `AUDIT_JOBS_TABLE` | yes | the export-jobs table |
//! | `AUDIT_TIME_SHARDS` | no (4) | partitions per day of `by_time`; the table's own, fixed value |
//! | `AUDIT_RETENTION_DAYS` | no | sets each event's TTL |
//! | `AUDIT_TOKENS_SECRET` | this or `AUDIT_TOKENS` | the Secrets Manager secret holding `name:role:sha256hex,…` |
//! | `AUDIT_SIGNING_KEY_SECRET` | this or `AUDIT_SIGNING_KEY` | the Secrets Manager secret holding ≥ 32 characters that sign cursors |
//! | `AUDIT_TOKENS`, `AUDIT_SIGNING_KEY` | | the same values given directly (local runs); the template never sets them, so no secret is in the function's configuration |
//! | `AUDIT_EXPORT_BUCKET` | export only | the exports bucket |
//! | `AUDIT_LINK_TTL_SECS` | no (900) | lifetime of presigned download links |
//! | `AUDIT_TOKENS_REFRESH_SECS` | no (60) | how often the token secret is read again (at a request) |
//! | `AUDIT_OIDC_ISSUER` | no | the issuer whose people's access tokens the query and export functions accept (role `read`) |
//! | `AUDIT_OIDC_AUDIENCE` | with the issuer | the audience (`aud`) those tokens must be for |
//! | `AUDIT_OIDC_JWKS_URL` | no | the issuer's keys; by default the `jwks_uri` of its discovery document |
//! | `AUDIT_OIDC_ROLE_CLAIM`, `AUDIT_OIDC_READ_VALUE` | no (`groups`, `audit-readers`) | the claim and value that make a person a reader |
//! | `AUDIT_RECORD_SEARCHES` | no (`people`) | whose searches the journal records: `people`, `everyone`, `none` |
//! | `AUDIT_INGEST_IAM` | no | `true`: POST /events is authorized by API Gateway with SigV4, and the caller's ARN is the events' `source` ([`signed_callers`]) |
//!
//! Read at cold start, the values are cached for the life of the execution environment, but the
//! token hashes are read again from their secret at a request once the last reading is
//! `AUDIT_TOKENS_REFRESH_SECS` old: a token taken out of the secret stops working within that
//! (60 s by default) in every environment, with no deploy and no restart. A secret that cannot
//! be read then leaves the hashes read before in force (logged). The signing key stays as read
//! at cold start.

use std::sync::Arc;

use anyhow::{Context, bail};
use audit_api::jwt::JwtSettings;
use audit_api::{AppState, ExportLauncher, Exports, RecordSearches, TokenSet, TokenSource, Tokens};
use audit_storage::ExportObjects;
use audit_store_dynamodb::{CloudSettings, DynamoStore};
use event_model::CursorKey;

/// Sets up the function's logs as Lambda expects them: JSON lines when the function's log format
/// is JSON (`AWS_LAMBDA_LOG_FORMAT`, which the template sets), at `AWS_LAMBDA_LOG_LEVEL` (or
/// `RUST_LOG` as a plain level; INFO by default), without timestamps (CloudWatch adds them).
/// What `lambda_http::tracing::init_default_subscriber` does, minus its regex-based `EnvFilter`
/// (per-target directives), which costs each binary ~200 KB — and minus lambda_runtime's TRACE
/// records: one of them is every raw event, `Authorization` header and all, so even at TRACE a
/// token never reaches the logs.
pub fn init_logs() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|level| level.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let filter = Targets::new()
        .with_default(level)
        .with_target("lambda_runtime", level.min(LevelFilter::DEBUG));
    let logs = tracing_subscriber::fmt::layer().with_target(false).without_time();
    if std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        tracing_subscriber::registry()
            .with(logs.json().with_filter(filter))
            .init();
    } else {
        tracing_subscriber::registry().with(logs.with_filter(filter)).init();
    }
}

/// `router` with the callers API Gateway authenticated by AWS Signature Version 4, when the
/// function is told POST /events takes them (`AUDIT_INGEST_IAM=true`, the template's
/// `IngestAuthorization: iam`): each request's `requestContext.authorizer.iam.userArn` becomes
/// its [`audit_api::SignedCaller`]. Without the setting nothing in the request context is trusted.
pub fn signed_callers(router: axum::Router) -> axum::Router {
    if std::env::var("AUDIT_INGEST_IAM").ok().as_deref() != Some("true") {
        return router;
    }
    router.layer(axum::middleware::map_request(
        async |mut request: axum::extract::Request| {
            use lambda_http::RequestExt;
            use lambda_http::request::RequestContext;
            let arn = match request.request_context_ref() {
                Some(RequestContext::ApiGatewayV2(context)) => context
                    .authorizer
                    .as_ref()
                    .and_then(|a| a.iam.as_ref())
                    .and_then(|iam| iam.user_arn.clone()),
                _ => None,
            };
            if let Some(arn) = arn.filter(|a| a.starts_with("arn:")) {
                request.extensions_mut().insert(audit_api::SignedCaller(arn));
            }
            request
        },
    ))
}

/// How often, by default, the token secret is read again (`AUDIT_TOKENS_REFRESH_SECS`).
pub const DEFAULT_TOKENS_REFRESH_SECS: u64 = 60;

/// The settings of a function.
pub struct Config {
    pub cloud: CloudSettings,
    pub tokens: Tokens,
    pub signing_key: Vec<u8>,
    pub link_ttl: chrono::Duration,
    /// The check of people's access tokens, when an issuer is set and the function takes them.
    pub jwt: Option<Arc<dyn audit_api::jwt::AccessTokens>>,
    pub record_searches: RecordSearches,
}

// Where settings are read from: the process environment in the functions, a map in tests.
use audit_store_dynamodb::Vars;

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn var(vars: Vars<'_>, name: &str) -> anyhow::Result<String> {
    vars(name)
        .filter(|v| !v.trim().is_empty())
        .with_context(|| format!("{name} is not set"))
}

fn optional<T: std::str::FromStr>(vars: Vars<'_>, name: &str) -> anyhow::Result<Option<T>> {
    match vars(name).filter(|v| !v.trim().is_empty()) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| anyhow::anyhow!("{name} is not a valid number: {v}")),
    }
}

/// The issuer of people's access tokens (`AUDIT_OIDC_*`), if one is set.
fn oidc(vars: Vars<'_>) -> anyhow::Result<Option<Arc<dyn audit_api::jwt::AccessTokens>>> {
    match JwtSettings::from_vars(vars)? {
        Some((settings, jwks_url)) => people(settings, jwks_url),
        None => Ok(None),
    }
}

/// The check of people's access tokens, in a function built with the `people` feature (query
/// and export); the ingest function takes no person's token and links none of it.
#[cfg(feature = "people")]
fn people(
    settings: JwtSettings,
    jwks_url: Option<String>,
) -> anyhow::Result<Option<Arc<dyn audit_api::jwt::AccessTokens>>> {
    let keys = audit_api::jwks::HttpJwks::new(&settings.issuer, jwks_url.as_deref()).context("AUDIT_OIDC_*")?;
    Ok(Some(Arc::new(audit_api::jwt::JwtVerifier::new(
        settings,
        Box::new(keys),
    ))))
}

#[cfg(not(feature = "people"))]
fn people(_: JwtSettings, _: Option<String>) -> anyhow::Result<Option<Arc<dyn audit_api::jwt::AccessTokens>>> {
    Ok(None)
}

/// The token hashes: from the Secrets Manager secret named by `AUDIT_TOKENS_SECRET` (and that
/// secret, to read them again), else from `AUDIT_TOKENS`.
async fn token_hashes(sdk: &audit_store_dynamodb::SdkConfig) -> anyhow::Result<(String, Option<TokenSecret>)> {
    match optional::<String>(&process_env, "AUDIT_TOKENS_SECRET")? {
        Some(id) => {
            let text = secret(sdk, &id, "AUDIT_TOKENS_SECRET").await?;
            Ok((text, Some(TokenSecret { sdk: sdk.clone(), id })))
        }
        None => Ok((var(&process_env, "AUDIT_TOKENS")?, None)),
    }
}

/// The token secret, read again as [`Tokens`] asks.
struct TokenSecret {
    sdk: audit_store_dynamodb::SdkConfig,
    id: String,
}

#[async_trait::async_trait]
impl TokenSource for TokenSecret {
    async fn load(&self) -> anyhow::Result<String> {
        secret(&self.sdk, &self.id, "AUDIT_TOKENS_SECRET").await
    }
}

/// The cursor signing key: from the Secrets Manager secret named by `AUDIT_SIGNING_KEY_SECRET`,
/// else from `AUDIT_SIGNING_KEY`.
async fn signing_key(sdk: &audit_store_dynamodb::SdkConfig) -> anyhow::Result<String> {
    match optional::<String>(&process_env, "AUDIT_SIGNING_KEY_SECRET")? {
        Some(id) => secret(sdk, &id, "AUDIT_SIGNING_KEY_SECRET").await,
        None => var(&process_env, "AUDIT_SIGNING_KEY"),
    }
}

/// The string value of secret `id` (named by the variable `setting`). An error names the secret
/// and the variable, never a value.
async fn secret(sdk: &audit_store_dynamodb::SdkConfig, id: &str, setting: &str) -> anyhow::Result<String> {
    let out = aws_sdk_secretsmanager::Client::new(sdk)
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "reading the secret {id} ({setting}): {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            )
        })?;
    out.secret_string
        .with_context(|| format!("the secret {id} ({setting}) has no string value"))
}

impl Config {
    /// Reads the settings, the token hashes and the signing key (see the module's table). The
    /// bucket is needed only by the export function, so it may be empty. An error names what is
    /// missing or unreadable, never a value.
    pub async fn load(sdk: &audit_store_dynamodb::SdkConfig) -> anyhow::Result<Config> {
        // Both reads at once: they are the cold start's only network round trips.
        let (signing_key, (hashes, source)) = tokio::try_join!(signing_key(sdk), token_hashes(sdk))?;
        let mut config = Config::from_vars(&process_env, signing_key.into_bytes(), &hashes, source)?;
        config.jwt = oidc(&process_env)?;
        Ok(config)
    }

    /// The same for a function that makes and reads no cursors (ingest): without the signing
    /// key, one read fewer at cold start, and without people's access tokens (an ingest route
    /// takes none; nor does the binary link their check, even where the `people` feature is on). Its state gets a random key of its own that signs
    /// nothing it hands out.
    pub async fn load_without_cursors(sdk: &audit_store_dynamodb::SdkConfig) -> anyhow::Result<Config> {
        let (hashes, source) = token_hashes(sdk).await?;
        let key: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
            .iter()
            .flat_map(|u| *u.as_bytes())
            .collect();
        Config::from_vars(&process_env, key, &hashes, source)
    }

    /// The settings from `vars` (see the module's table), with the signing key and token hashes
    /// already read. An error names what is missing or wrong, never a value of a secret.
    fn from_vars(
        vars: Vars<'_>,
        signing_key: Vec<u8>,
        hashes: &str,
        source: Option<TokenSecret>,
    ) -> anyhow::Result<Config> {
        if signing_key.len() < 32 {
            bail!("the cursor signing key must be at least 32 characters");
        }
        let set = TokenSet::parse(hashes).context("the token hashes")?;
        let every = std::time::Duration::from_secs(
            optional::<u64>(vars, "AUDIT_TOKENS_REFRESH_SECS")?
                .unwrap_or(DEFAULT_TOKENS_REFRESH_SECS)
                .max(1),
        );
        let tokens = match source {
            Some(source) => Tokens::reloaded(set, hashes.to_owned(), Box::new(source), every),
            None => Tokens::fixed(set),
        };
        Ok(Config {
            jwt: None,
            record_searches: match optional::<String>(vars, "AUDIT_RECORD_SEARCHES")? {
                Some(v) => v.parse().map_err(|e| anyhow::anyhow!("AUDIT_RECORD_SEARCHES: {e}"))?,
                None => RecordSearches::default(),
            },
            cloud: CloudSettings::from_vars(vars, None)?,
            tokens,
            signing_key,
            link_ttl: chrono::Duration::seconds(
                optional::<i64>(vars, "AUDIT_LINK_TTL_SECS")?
                    .unwrap_or(audit_storage::DEFAULT_LINK_TTL_SECS)
                    .max(1),
            ),
        })
    }

    /// The DynamoDB store over the configured tables (with the SDK settings of
    /// [`audit_store_dynamodb::sdk_config`]).
    pub fn store(&self, sdk: &audit_store_dynamodb::SdkConfig) -> DynamoStore {
        self.cloud.events_store(sdk)
    }

    /// The API state: events in `store`, and the export side where this function serves it
    /// (its jobs in `store`, files in `objects`, started by `launcher`).
    pub fn state(
        self,
        store: DynamoStore,
        exports: Option<(Arc<dyn ExportObjects>, Arc<dyn ExportLauncher>)>,
    ) -> AppState {
        let store = Arc::new(store);
        AppState {
            events: store.clone(),
            exports: exports.map(|(objects, launcher)| Exports {
                jobs: store,
                objects,
                launcher,
            }),
            tokens: self.tokens,
            jwt: self.jwt,
            record_searches: self.record_searches,
            cursor_key: CursorKey::new(&self.signing_key),
            clock: Arc::new(audit_api::SystemClock),
            limits: None,
            integrity: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "a-signing-key-of-at-least-32-characters";

    fn config(vars: &[(&str, &str)]) -> anyhow::Result<Config> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let lookup = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let hashes = format!("svc:ingest:{}", audit_api::hash_token("t"));
        Config::from_vars(&lookup, KEY.as_bytes().to_vec(), &hashes, None)
    }

    const TABLES: [(&str, &str); 2] = [("AUDIT_EVENTS_TABLE", "ev"), ("AUDIT_JOBS_TABLE", "jobs")];

    #[test]
    fn the_tables_are_required_and_the_rest_has_defaults() {
        let c = config(&TABLES).unwrap();
        assert_eq!(
            (c.cloud.layout.events_table.as_str(), c.cloud.layout.jobs_table.as_str()),
            ("ev", "jobs")
        );
        assert_eq!(c.cloud.layout.bucket, "", "only the export function needs one");
        assert_eq!(
            c.cloud.layout.time_shards,
            audit_store_dynamodb::schema::DEFAULT_TIME_SHARDS
        );
        assert_eq!(c.cloud.retention_days, None);
        assert_eq!(c.link_ttl.num_seconds(), audit_storage::DEFAULT_LINK_TTL_SECS);
        for missing in ["AUDIT_EVENTS_TABLE", "AUDIT_JOBS_TABLE"] {
            let vars: Vec<(&str, &str)> = TABLES.into_iter().filter(|(k, _)| *k != missing).collect();
            let err = config(&vars).err().expect("refused").to_string();
            assert!(err.contains(missing), "{err}");
        }
        let blank = config(&[("AUDIT_EVENTS_TABLE", "  "), ("AUDIT_JOBS_TABLE", "jobs")])
            .err()
            .unwrap();
        assert!(
            blank.to_string().contains("AUDIT_EVENTS_TABLE"),
            "a blank value is not a value"
        );
    }

    #[test]
    fn numbers_are_checked_and_named() {
        let with = |k: &'static str, v: &'static str| {
            let mut vars = TABLES.to_vec();
            vars.push((k, v));
            config(&vars)
        };
        let c = with("AUDIT_RETENTION_DAYS", "30").unwrap();
        assert_eq!(c.cloud.retention_days, Some(30));
        assert_eq!(with("AUDIT_LINK_TTL_SECS", "60").unwrap().link_ttl.num_seconds(), 60);
        assert_eq!(
            with("AUDIT_LINK_TTL_SECS", "0").unwrap().link_ttl.num_seconds(),
            1,
            "at least a second"
        );
        for (k, v) in [
            ("AUDIT_RETENTION_DAYS", "a month"),
            ("AUDIT_TIME_SHARDS", "0"),
            ("AUDIT_TIME_SHARDS", "100000"),
            ("AUDIT_LINK_TTL_SECS", "soon"),
        ] {
            let err = with(k, v)
                .err()
                .unwrap_or_else(|| panic!("{k}={v} accepted"))
                .to_string();
            assert!(err.contains(k), "{err}");
        }
    }

    #[test]
    fn a_short_key_or_bad_hashes_are_refused_without_showing_them() {
        let lookup = |name: &str| TABLES.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        let hashes = format!("svc:ingest:{}", audit_api::hash_token("t"));
        let short = Config::from_vars(&lookup, b"short".to_vec(), &hashes, None)
            .err()
            .unwrap()
            .to_string();
        assert!(short.contains("32 characters") && !short.contains("short"), "{short}");
        let bad = Config::from_vars(&lookup, KEY.as_bytes().to_vec(), "svc:ingest:not-a-hash", None)
            .err()
            .unwrap();
        let text = format!("{bad:#}");
        assert!(text.contains("token hashes") && !text.contains("not-a-hash"), "{text}");
    }

    #[test]
    fn an_issuer_needs_its_audience_and_keys_fetched_safely() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        assert!(oidc(&vars(&[])).unwrap().is_none(), "no issuer, no people");
        let err = oidc(&vars(&[("AUDIT_OIDC_ISSUER", "https://id.example.com")]))
            .err()
            .unwrap();
        assert!(format!("{err:#}").contains("AUDIT_OIDC_AUDIENCE"), "{err:#}");
        let ok = oidc(&vars(&[
            ("AUDIT_OIDC_ISSUER", "https://id.example.com"),
            ("AUDIT_OIDC_AUDIENCE", "audit-log"),
        ]));
        assert_eq!(ok.unwrap().is_some(), cfg!(feature = "people"));
        if cfg!(feature = "people") {
            let clear = oidc(&vars(&[
                ("AUDIT_OIDC_ISSUER", "http://id.example.com"),
                ("AUDIT_OIDC_AUDIENCE", "audit-log"),
            ]))
            .err()
            .unwrap();
            assert!(format!("{clear:#}").contains("https://"), "{clear:#}");
        }
    }
}
