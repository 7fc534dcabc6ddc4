//! The local server: every route of the audit log on one port, over the embedded store (SQLite
//! plus export files in a data folder) or over DynamoDB and S3. The same routers as the Lambda functions, so what works
//! here works there.
//!
//! - [`config`]: the settings of `serve`, from flags and environment.
//! - [`secrets`]: the data folder's signing key and the first-start token generation.
//! - [`downloads`]: the route that serves signed export links (the local presigned URL).
//! - [`integrity`]: the seal's status and proofs for the API, and the check after each seal.
//! - [`ratelimit`]: requests per token (429 with `Retry-After` beyond them).
//! - [`seed`]: realistic events drawn from the whole catalog, for trying and benchmarking.
//! - [`serve`]: the HTTP loop, with header and request timeouts and a graceful shutdown.
//! - [`ui`]: the admin UI's page and assets at `/`.
//! - [`process`]: the real binary as a child process, for the tests and benchmarks that need it.
//! - [`TaskLauncher`]: runs exports in this process, two at a time by default.
//! - [`run`]: build the app over a listener and serve until shutdown.

pub mod config;
pub mod downloads;
pub mod integrity;
pub mod process;
pub mod ratelimit;
pub mod secrets;
pub mod seed;
pub mod serve;
pub mod ui;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use audit_api::{AppState, ExportLauncher, ExportWorker, Exports};
use audit_storage::{EventStore, ExportJobStore, ExportObjects};
use audit_store_sqlite::{DownloadSigner, FileExports, Sealer, SqliteStore};
use event_model::CursorKey;
use tokio::net::TcpListener;

pub use audit_store_dynamodb::CloudSettings;
pub use config::{OidcConfig, ServeConfig, StoreKind};
pub use secrets::GeneratedTokens;
pub use ui::SignIn;

/// A built server, ready to serve.
pub struct App {
    pub router: axum::Router,
    /// The embedded store, when the server runs over it.
    pub sqlite: Option<SqliteStore>,
    jobs: Arc<dyn ExportJobStore>,
    /// Tokens made at this start because none were configured (to be shown once).
    pub generated_tokens: Option<GeneratedTokens>,
    launcher: Arc<TaskLauncher>,
    /// The export files, when they are local (expired on a timer).
    files: Option<FileExports>,
    /// The archive and its seals, over the embedded store.
    pub sealer: Option<Sealer>,
    /// The tokens in force (read again as their file changes).
    pub tokens: audit_api::Tokens,
}

/// How often expired export files are looked for.
const EXPIRY_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

impl App {
    /// Opens the store and builds every route. `base_url` is where local download links point.
    pub async fn build(config: &ServeConfig, base_url: &str) -> anyhow::Result<App> {
        let secret = secrets::signing_key(&config.data_dir)?;
        let (tokens, generated_tokens) = secrets::tokens(config.tokens.as_deref(), &config.data_dir)?;
        let Stores {
            events,
            jobs,
            objects,
            downloads,
            sqlite,
            files,
        } = Stores::open(config, &secret, base_url).await?;
        let worker = ExportWorker {
            events: events.clone(),
            jobs: jobs.clone(),
            objects: objects.clone(),
        };
        let launcher = Arc::new(TaskLauncher::new(worker, config.export_concurrency));
        let sealer = match &sqlite {
            Some(store) => Some(Sealer::new(
                store.clone(),
                &config.data_dir,
                Arc::new(secrets::integrity_key(&config.data_dir)?),
            )),
            None => None,
        };
        let state = AppState {
            events,
            exports: Some(Exports {
                jobs: jobs.clone(),
                objects,
                launcher: launcher.clone(),
            }),
            integrity: sealer.clone().map(|sealer| {
                Arc::new(integrity::LocalIntegrity {
                    sealer,
                    interval: config.seal_interval,
                }) as _
            }),
            tokens: tokens.clone(),
            jwt: match &config.oidc {
                Some(oidc) => Some(Arc::new(audit_api::jwt::JwtVerifier::new(
                    oidc.settings.clone(),
                    Box::new(audit_api::jwks::HttpJwks::new(
                        &oidc.settings.issuer,
                        oidc.jwks_url.as_deref(),
                    )?),
                )) as Arc<dyn audit_api::jwt::AccessTokens>),
                None => None,
            },
            cursor_key: CursorKey::new(&secret),
            clock: config.clock.clone(),
            record_searches: config.record_searches,
            limits: config
                .rate_limit
                .map(|(per_second, burst)| Arc::new(ratelimit::TokenRateLimit::new(per_second, burst)) as _),
        };
        let mut routes =
            audit_api::routes(state).merge(ui::router(config.oidc.as_ref().and_then(|o| o.sign_in.as_ref()))?);
        if let Some(downloads) = downloads {
            routes = routes.merge(downloads);
        }
        let router = audit_api::layers(serve::with_request_timeout(routes, config.request_timeout));
        Ok(App {
            sealer,
            router,
            sqlite,
            jobs,
            generated_tokens,
            launcher,
            files,
            tokens,
        })
    }

    /// On SIGHUP, the tokens file is read again at the next request (it is anyway within
    /// [`secrets::TOKENS_FILE_EVERY`] of a change).
    pub fn reload_tokens_on_hangup(&self) {
        #[cfg(unix)]
        {
            let tokens = self.tokens.clone();
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
                Ok(mut hangups) => {
                    tokio::spawn(async move {
                        while hangups.recv().await.is_some() {
                            tracing::info!("SIGHUP: the tokens are read again at the next request");
                            tokens.check_now();
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "SIGHUP cannot be watched; the tokens file is still read as it changes")
                }
            }
        }
    }

    /// Removes expired export files now and every [`EXPIRY_SWEEP_EVERY`] after, for as long as
    /// the runtime runs.
    pub fn expire_exports(&self) {
        let Some(files) = self.files.clone() else {
            return;
        };
        tokio::spawn(async move {
            let mut every = tokio::time::interval(EXPIRY_SWEEP_EVERY);
            loop {
                every.tick().await;
                let removed = files.remove_expired().await;
                if removed > 0 {
                    tracing::info!(removed, "expired export files removed");
                }
            }
        });
    }

    /// Archives new events every minute (or every `interval`, if shorter) and seals the archive
    /// at every multiple of `interval` since the epoch, for as long as the runtime runs; a seal
    /// missed while the server was stopped is made at once (one longer period: no gap). Each
    /// sealed period is then checked against the store, and the check kept for `GET /integrity`.
    pub fn seal_on_schedule(&self, interval: std::time::Duration) {
        let Some(sealer) = self.sealer.clone() else {
            return;
        };
        let every = interval;
        let interval = chrono::Duration::from_std(interval.max(std::time::Duration::from_secs(1)))
            .unwrap_or(chrono::Duration::hours(1));
        let archive_every = interval.min(chrono::Duration::minutes(1));
        tokio::spawn(async move {
            loop {
                let last = match sealer.store().seal_state().await {
                    Ok(state) => state.head.map_or(state.started, |(_, end)| end),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the seal state");
                        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                        continue;
                    }
                };
                let due = audit_integrity::seal::period_floor(last, interval) + interval;
                let now = chrono::Utc::now();
                if due <= now {
                    match sealer.seal().await {
                        Ok(d) => {
                            tracing::info!(digest = %d.digest.path(), events = d.digest.events, "sealed");
                            let period = audit_integrity::Range {
                                from: Some(d.digest.period_start),
                                to: Some(d.digest.period_end),
                            };
                            match integrity::check(&sealer, period, every).await {
                                Ok(report) if report.holds() => {}
                                Ok(report) => tracing::error!(
                                    problems = report.problems.len(),
                                    first = %report.problems[0],
                                    "the check after sealing found the log changed behind the API"
                                ),
                                Err(e) => tracing::error!(error = %e, "the check after sealing failed"),
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "sealing failed; trying again");
                            tokio::time::sleep(archive_every.to_std().unwrap_or_default()).await;
                        }
                    }
                    continue;
                }
                let wait = (due - now).min(archive_every);
                tokio::time::sleep(wait.to_std().unwrap_or_default()).await;
                if chrono::Utc::now() < due
                    && let Err(e) = sealer.archive_now().await
                {
                    tracing::error!(error = %e, "archiving failed; trying again");
                }
            }
        });
    }

    /// Launches the exports a previous run left unfinished.
    pub async fn resume_exports(&self) -> anyhow::Result<usize> {
        let jobs = self.jobs.unfinished_jobs().await?;
        for job in &jobs {
            self.launcher.launch(job.id).await?;
        }
        Ok(jobs.len())
    }
}

/// The stores of one server, and the download route when exports are local files.
struct Stores {
    events: Arc<dyn EventStore>,
    jobs: Arc<dyn ExportJobStore>,
    objects: Arc<dyn ExportObjects>,
    downloads: Option<axum::Router>,
    sqlite: Option<SqliteStore>,
    files: Option<FileExports>,
}

impl Stores {
    async fn open(config: &ServeConfig, secret: &[u8], base_url: &str) -> anyhow::Result<Stores> {
        Ok(match &config.store {
            StoreKind::Sqlite => {
                let store = SqliteStore::open(&config.data_dir)
                    .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;
                let signer = DownloadSigner::new(secret, base_url, config.link_ttl);
                let files = FileExports::new(&config.data_dir, signer)
                    .with_limits(config.export_expiry, config.export_budget_bytes);
                let shared = Arc::new(store.clone());
                Stores {
                    events: shared.clone(),
                    jobs: shared,
                    objects: Arc::new(files.clone()),
                    downloads: Some(downloads::router(files.clone())),
                    sqlite: Some(store),
                    files: Some(files),
                }
            }
            StoreKind::DynamoDb(cloud) => {
                let sdk = audit_store_dynamodb::sdk_config().await;
                let store = Arc::new(cloud.events_store(&sdk));
                let s3 = cloud.export_objects(&sdk, config.link_ttl);
                Stores {
                    events: store.clone(),
                    jobs: store,
                    objects: Arc::new(s3),
                    downloads: None,
                    sqlite: None,
                    files: None,
                }
            }
        })
    }
}

/// Serves the app on `listener` until `shutdown` completes, then finishes in-flight requests
/// (see [`serve`] for the timeouts).
pub async fn run(
    listener: TcpListener,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let base_url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let app = App::build(&config, &base_url).await?;
    if let Some(tokens) = &app.generated_tokens {
        println!("{}", tokens.announcement(&config.data_dir));
    }
    let resumed = app.resume_exports().await?;
    app.expire_exports();
    app.reload_tokens_on_hangup();
    if config.archive {
        app.seal_on_schedule(config.seal_interval);
    } else if app.sealer.is_some() {
        tracing::warn!(
            "archiving and sealing are off (AUDIT_ARCHIVE=false): new events are not sealed until they are turned on again or `audit-local seal` runs"
        );
    }
    tracing::info!(%addr, data_dir = %config.data_dir.display(), resumed_exports = resumed, "audit-local is serving");
    serve::serve(listener, app.router, config.header_timeout, shutdown).await?;
    tracing::info!("audit-local stopped");
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

/// Where the local server's logs go: standard error for the binary, the test harness's output
/// for tests (`TEST_LOG=1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTo {
    Stderr,
    TestOutput,
}

/// The local server's logs, filtered by `RUST_LOG` (`info` by default); the one set-up for the
/// binary and the tests (the Lambda functions have theirs, for CloudWatch, in `audit_lambda`).
/// Safe to call more than once: only the first call installs it.
pub fn init_logs(to: LogTo) {
    let logs = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()));
    let _ = match to {
        LogTo::Stderr => logs.with_writer(std::io::stderr).try_init(),
        LogTo::TestOutput => logs.with_test_writer().try_init(),
    };
}

/// Runs exports as tokio tasks in this process, at most `concurrency` at a time (the others wait
/// as `pending`). The local server's launcher; on AWS, the export function's stream does this.
pub struct TaskLauncher {
    worker: ExportWorker,
    permits: Arc<tokio::sync::Semaphore>,
}

impl TaskLauncher {
    pub fn new(worker: ExportWorker, concurrency: usize) -> Self {
        TaskLauncher {
            worker,
            permits: Arc::new(tokio::sync::Semaphore::new(concurrency.max(1))),
        }
    }
}

#[async_trait::async_trait]
impl ExportLauncher for TaskLauncher {
    async fn launch(&self, job_id: uuid::Uuid) -> Result<(), audit_storage::StoreError> {
        let worker = self.worker.clone();
        let permits = self.permits.clone();
        tokio::spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return;
            };
            if let Err(e) = worker.run(job_id).await {
                tracing::error!(error = %e, %job_id, "could not record an export's outcome");
            }
        });
        Ok(())
    }
}
