//! `audit-local`: the audit log on one machine. `serve` runs every route over the embedded store
//! (or over DynamoDB and S3); `init` creates the DynamoDB tables and the S3 bucket; `seed` loads
//! realistic events into a data folder.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use audit_local::seed::{SeedPlan, generate};
use audit_local::{CloudSettings, ServeConfig, StoreKind, run, shutdown_signal};
use audit_storage::{AppendOutcome, EventStore};
use audit_store_dynamodb::Layout;
use clap::{Parser, Subcommand};

mod integrity_cli;

use integrity_cli as integrity;

#[derive(Parser)]
#[command(
    name = "audit-local",
    version,
    about = "The audit log on one machine: every route over an embedded store"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// People's sign-in: OpenID Connect access tokens of an issuer, beside the service tokens.
#[derive(clap::Args)]
struct OidcArgs {
    /// The issuer (`iss`) whose access tokens are accepted, with role `read`; none by default.
    #[arg(long, env = "AUDIT_OIDC_ISSUER")]
    oidc_issuer: Option<String>,
    /// The audience (`aud`) the tokens must be for.
    #[arg(long, env = "AUDIT_OIDC_AUDIENCE")]
    oidc_audience: Option<String>,
    /// Where the issuer's keys are (its `jwks_uri`); by default the one its discovery document
    /// (`<issuer>/.well-known/openid-configuration`) names.
    #[arg(long, env = "AUDIT_OIDC_JWKS_URL")]
    oidc_jwks_url: Option<String>,
    /// The admin page's client id at the issuer (a public client, Authorization Code with PKCE,
    /// this server's `/` as its redirect URI): with it the page offers "Sign in".
    #[arg(long, env = "AUDIT_OIDC_CLIENT_ID")]
    oidc_client_id: Option<String>,
    /// The scopes the page asks for.
    #[arg(long, env = "AUDIT_OIDC_SCOPES", default_value = "openid profile email")]
    oidc_scopes: String,
    /// The claim that carries the role [default: groups].
    #[arg(long, env = "AUDIT_OIDC_ROLE_CLAIM")]
    oidc_role_claim: Option<String>,
    /// The claim's value that makes a person a reader [default: audit-readers].
    #[arg(long, env = "AUDIT_OIDC_READ_VALUE")]
    oidc_read_value: Option<String>,
}

impl OidcArgs {
    fn config(self) -> anyhow::Result<Option<audit_local::OidcConfig>> {
        // Each flag (or its environment variable, which clap reads) under the variable's name,
        // for the one reading of them the Lambda functions share.
        let flags = [
            ("AUDIT_OIDC_ISSUER", self.oidc_issuer),
            ("AUDIT_OIDC_AUDIENCE", self.oidc_audience),
            ("AUDIT_OIDC_JWKS_URL", self.oidc_jwks_url),
            ("AUDIT_OIDC_ROLE_CLAIM", self.oidc_role_claim),
            ("AUDIT_OIDC_READ_VALUE", self.oidc_read_value),
        ];
        let vars = |name: &str| {
            flags
                .iter()
                .find(|(flag, _)| *flag == name)
                .and_then(|(_, v)| v.clone())
        };
        let Some((settings, jwks_url)) = audit_api::jwt::JwtSettings::from_vars(&vars)? else {
            return Ok(None);
        };
        Ok(Some(audit_local::OidcConfig {
            sign_in: self
                .oidc_client_id
                .filter(|c| !c.trim().is_empty())
                .map(|client_id| audit_local::SignIn {
                    issuer: settings.issuer.clone(),
                    client_id,
                    scopes: self.oidc_scopes,
                }),
            settings,
            jwks_url,
        }))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (and export downloads) until SIGINT or SIGTERM.
    Serve {
        #[arg(long, env = "AUDIT_ADDR", default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        #[arg(long, env = "AUDIT_DATA_DIR", default_value = "./audit-data")]
        data_dir: PathBuf,
        /// Base URL of download links, if clients reach the server under another address.
        #[arg(long, env = "AUDIT_PUBLIC_URL")]
        public_url: Option<String>,
        /// Lifetime of download links, in seconds.
        #[arg(long, env = "AUDIT_LINK_TTL_SECS", default_value_t = audit_storage::DEFAULT_LINK_TTL_SECS)]
        link_ttl_secs: i64,
        #[arg(long, env = "AUDIT_STORE", value_enum, default_value_t = Store::Sqlite)]
        store: Store,
        /// Hours export files are kept in the data folder before they are removed.
        #[arg(long, env = "AUDIT_EXPORT_EXPIRY_HOURS", default_value_t = 24,
              value_parser = clap::value_parser!(u64).range(1..))]
        export_expiry_hours: u64,
        /// Size budget of the data folder's export files, in MiB: over it, new exports are refused.
        #[arg(long, env = "AUDIT_EXPORT_BUDGET_MB", default_value_t = 1024)]
        export_budget_mb: u64,
        /// Requests each token may send per second (a burst may be twice that); 0 for no limit.
        #[arg(long, env = "AUDIT_RATE_LIMIT", default_value_t = 100)]
        rate_limit: u32,
        #[command(flatten)]
        seal: SealArgs,
        /// Archive and seal on schedule (false only to measure its cost, or when another process
        /// runs `audit-local seal`).
        #[arg(long, env = "AUDIT_ARCHIVE", default_value_t = true, action = clap::ArgAction::Set)]
        archive: bool,
        #[command(flatten)]
        cloud: CloudArgs,
        #[command(flatten)]
        oidc: OidcArgs,
        /// Whose searches the journal records (`audit.journal_searched`, once per search):
        /// `people` (their OpenID Connect tokens), `everyone` (read tokens too) or `none`.
        #[arg(long, env = "AUDIT_RECORD_SEARCHES", default_value = "people",
              value_parser = |s: &str| s.parse::<audit_api::RecordSearches>())]
        record_searches: audit_api::RecordSearches,
    },
    /// Archive new events and seal the archive now: a signed digest of the period since the last.
    Seal {
        #[arg(long, env = "AUDIT_DATA_DIR", default_value = "./audit-data")]
        data_dir: PathBuf,
    },
    /// Check the digests' signatures and chain, every archive file, and the store against the
    /// archive in both directions. Exits 0 only when all holds; otherwise names each problem.
    Verify {
        #[arg(long, env = "AUDIT_DATA_DIR", default_value = "./audit-data")]
        data_dir: PathBuf,
        /// Check the periods that end after this instant (RFC 3339) only.
        #[arg(long)]
        from: Option<String>,
        /// Check the periods that start before this instant (RFC 3339) only.
        #[arg(long)]
        to: Option<String>,
        /// The report as JSON.
        #[arg(long)]
        json: bool,
        /// Check the archive and digests in DATA_DIR alone, with this public key (PEM), without
        /// the store: what an auditor holding a copy of the archive can do.
        #[arg(long, value_name = "KEY")]
        offline: Option<PathBuf>,
        #[command(flatten)]
        seal: SealArgs,
        /// The embedded store and its data folder, or DynamoDB and the archive bucket.
        #[arg(long, env = "AUDIT_STORE", value_enum, default_value_t = Store::Sqlite)]
        store: Store,
        /// With --store dynamodb: the archive bucket (the stack's ArchiveBucketName).
        #[arg(long, env = "AUDIT_ARCHIVE_BUCKET")]
        archive_bucket: Option<String>,
        /// With --store dynamodb: the KMS key that signs the digests (the stack's DigestKeyArn),
        /// whose public key checks them; or give --offline KEY.
        #[arg(long, env = "AUDIT_DIGEST_KEY_ID")]
        digest_key: Option<String>,
        /// With --store dynamodb: the archiver's grace before sealing a period, in seconds.
        #[arg(long, env = "AUDIT_SEAL_GRACE_SECS", default_value_t = 300)]
        seal_grace_secs: u64,
        #[command(flatten)]
        cloud: CloudArgs,
    },
    /// Print the public key that checks this data folder's digests (PEM).
    PublicKey {
        #[arg(long, env = "AUDIT_DATA_DIR", default_value = "./audit-data")]
        data_dir: PathBuf,
    },
    /// Print a proof (JSON) that one event, as stored now, was sealed in its period.
    Proof {
        id: uuid::Uuid,
        #[arg(long, env = "AUDIT_DATA_DIR", default_value = "./audit-data")]
        data_dir: PathBuf,
    },
    /// Check a proof with a public key and nothing else.
    VerifyProof {
        proof: PathBuf,
        #[arg(long, value_name = "KEY")]
        public_key: PathBuf,
    },
    /// Create the DynamoDB tables (with their indexes) and the S3 bucket; existing ones are kept.
    Init {
        #[command(flatten)]
        cloud: CloudArgs,
    },
    /// Load realistic events drawn from the whole catalog into the data folder.
    Seed {
        #[arg(long, default_value_t = 10_000)]
        events: usize,
        /// Spread the events over this many days before now.
        #[arg(long, default_value_t = 30)]
        days: u32,
        #[arg(long, env = "AUDIT_DATA_DIR", default_value = "./audit-data")]
        data_dir: PathBuf,
        /// RNG seed: the same seed gives the same events.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Store {
    /// SQLite and files in the data folder.
    Sqlite,
    /// DynamoDB and S3 (endpoints from AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_S3).
    Dynamodb,
}

/// How often the archive is sealed.
#[derive(clap::Args)]
struct SealArgs {
    /// Seconds between seals (each a signed digest of the period's archive files)
    #[arg(long, env = "AUDIT_SEAL_INTERVAL_SECS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..))]
    seal_interval_secs: u64,
}

/// Where the cloud store lives: each flag, else its environment variable, else the local default
/// (read by `CloudSettings::from_vars`, as the Lambda functions read theirs).
#[derive(clap::Args)]
struct CloudArgs {
    /// DynamoDB events table [env: AUDIT_EVENTS_TABLE] [default: audit-events]
    #[arg(long)]
    events_table: Option<String>,
    /// DynamoDB export-jobs table [env: AUDIT_JOBS_TABLE] [default: audit-export-jobs]
    #[arg(long)]
    jobs_table: Option<String>,
    /// S3 export bucket [env: AUDIT_EXPORT_BUCKET] [default: audit-exports]
    #[arg(long)]
    bucket: Option<String>,
    /// Partitions of each day in the by_time index (1–64), fixed for the life of a table
    /// [env: AUDIT_TIME_SHARDS] [default: 4]
    #[arg(long)]
    time_shards: Option<u32>,
    /// Partitions of each actor in the by_actor index (1–64); may be raised on a table in use,
    /// never lowered [env: AUDIT_ACTOR_SHARDS] [default: 1]
    #[arg(long)]
    actor_shards: Option<u32>,
    /// Days after which DynamoDB's TTL removes an event; kept forever if unset
    /// [env: AUDIT_RETENTION_DAYS]
    #[arg(long)]
    retention_days: Option<u32>,
}

impl CloudArgs {
    fn config(self) -> anyhow::Result<CloudSettings> {
        let flags = [
            ("AUDIT_EVENTS_TABLE", self.events_table),
            ("AUDIT_JOBS_TABLE", self.jobs_table),
            ("AUDIT_EXPORT_BUCKET", self.bucket),
            ("AUDIT_TIME_SHARDS", self.time_shards.map(|n| n.to_string())),
            ("AUDIT_ACTOR_SHARDS", self.actor_shards.map(|n| n.to_string())),
            ("AUDIT_RETENTION_DAYS", self.retention_days.map(|n| n.to_string())),
        ];
        let vars = |name: &str| {
            flags
                .iter()
                .find(|(flag, _)| *flag == name)
                .and_then(|(_, value)| value.clone())
                .or_else(|| std::env::var(name).ok())
        };
        CloudSettings::from_vars(&vars, Some(&Layout::local_defaults()))
    }
}

/// Progress of `seed` on a terminal (stderr): events written, rate and time left, redrawn at
/// most twice a second. Nothing when stderr is not a terminal (a log, a pipe).
struct Progress {
    total: usize,
    started: std::time::Instant,
    last: std::time::Instant,
    on_terminal: bool,
}

impl Progress {
    fn new(total: usize) -> Self {
        let now = std::time::Instant::now();
        Progress {
            total,
            started: now,
            last: now,
            on_terminal: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        }
    }

    fn show(&mut self, done: usize) {
        if !self.on_terminal || self.last.elapsed() < std::time::Duration::from_millis(500) {
            return;
        }
        self.last = std::time::Instant::now();
        let secs = self.started.elapsed().as_secs_f64();
        let rate = done as f64 / secs.max(0.001);
        let left = (self.total.saturating_sub(done)) as f64 / rate.max(1.0);
        eprint!(
            "\rseeding: {done} of {} events, {rate:.0} events/s, about {left:.0} s left   ",
            self.total
        );
    }

    fn finish(&self) {
        if self.on_terminal {
            eprint!("\r{:70}\r", "");
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    audit_local::init_logs(audit_local::LogTo::Stderr);
    match Cli::parse().command {
        Command::Serve {
            addr,
            data_dir,
            public_url,
            link_ttl_secs,
            store,
            export_expiry_hours,
            export_budget_mb,
            rate_limit,
            seal,
            archive,
            cloud,
            oidc,
            record_searches,
        } => {
            let config = ServeConfig {
                oidc: oidc.config()?,
                record_searches,
                addr,
                store: match store {
                    Store::Sqlite => StoreKind::Sqlite,
                    Store::Dynamodb => StoreKind::DynamoDb(cloud.config()?),
                },
                tokens: std::env::var("AUDIT_TOKENS").ok(),
                public_url,
                link_ttl: chrono::Duration::seconds(link_ttl_secs.max(1)),
                export_expiry: std::time::Duration::from_secs(export_expiry_hours.saturating_mul(3600)),
                export_budget_bytes: export_budget_mb.saturating_mul(1 << 20),
                rate_limit: std::num::NonZeroU32::new(rate_limit)
                    .map(|r| (r, r.saturating_mul(std::num::NonZeroU32::new(2).expect("non-zero")))),
                seal_interval: std::time::Duration::from_secs(seal.seal_interval_secs),
                archive,
                ..ServeConfig::new(data_dir)
            };
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr}"))?;
            run(listener, config, shutdown_signal()).await
        }
        Command::Init { cloud } => {
            let cloud = cloud.config()?;
            let sdk = audit_store_dynamodb::sdk_config().await;
            audit_store_dynamodb::init::create_tables(&audit_store_dynamodb::dynamodb_client(&sdk), &cloud.layout)
                .await?;
            audit_store_dynamodb::init::create_bucket(&audit_store_dynamodb::s3_client(&sdk), &cloud.layout.bucket)
                .await?;
            println!(
                "tables {} and {} and bucket {} are ready",
                cloud.layout.events_table, cloud.layout.jobs_table, cloud.layout.bucket
            );
            Ok(())
        }
        Command::Seal { data_dir } => {
            let sealer = integrity::sealer(&data_dir)?;
            let signed = sealer.seal().await?;
            let d = &signed.digest;
            println!(
                "sealed {} to {}: {} events in {} archive files; digest {}",
                event_model::time::format(&d.period_start),
                event_model::time::format(&d.period_end),
                d.events,
                d.files.len(),
                d.path()
            );
            sealer.store().clone().close().await;
            Ok(())
        }
        Command::Verify {
            data_dir,
            from,
            to,
            json,
            offline,
            seal,
            store,
            archive_bucket,
            digest_key,
            seal_grace_secs,
            cloud,
        } => {
            let range = audit_integrity::Range {
                from: from.as_deref().map(integrity::instant).transpose()?,
                to: to.as_deref().map(integrity::instant).transpose()?,
            };
            let delay = std::time::Duration::from_secs(seal.seal_interval_secs);
            let report = match store {
                Store::Sqlite => integrity::verify(&data_dir, range, offline.as_deref(), delay).await?,
                Store::Dynamodb => {
                    let bucket =
                        archive_bucket.context("--store dynamodb needs --archive-bucket (AUDIT_ARCHIVE_BUCKET)")?;
                    let key = match (&offline, &digest_key) {
                        (Some(file), _) => integrity::public_key(file)?,
                        (None, Some(key_id)) => audit_local::integrity::kms_public_key(key_id).await?,
                        (None, None) => {
                            anyhow::bail!("--store dynamodb needs --digest-key (AUDIT_DIGEST_KEY_ID) or --offline KEY")
                        }
                    };
                    let grace = chrono::Duration::seconds(seal_grace_secs as i64);
                    let at = audit_local::integrity::CloudArchive {
                        cloud: cloud.config()?,
                        bucket,
                        seal_delay: chrono::Duration::from_std(delay)? + grace + grace,
                        grace,
                    };
                    audit_local::integrity::check_cloud(&at, &key, range, offline.is_some()).await?
                }
            };
            integrity::print_report(&report, json);
            if !report.holds() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::PublicKey { data_dir } => {
            print!(
                "{}",
                audit_integrity::Signer::public_key(&audit_local::secrets::integrity_key(&data_dir)?).to_pem()
            );
            Ok(())
        }
        Command::Proof { id, data_dir } => {
            let sealer = integrity::sealer(&data_dir)?;
            let proof = sealer.proof(id).await?;
            println!("{}", serde_json::to_string_pretty(&proof)?);
            Ok(())
        }
        Command::VerifyProof { proof, public_key } => integrity::verify_proof(&proof, &public_key),
        Command::Seed {
            events,
            days,
            data_dir,
            seed,
        } => {
            let store = audit_store_sqlite::SqliteStore::open(&data_dir)?;
            let plan = SeedPlan {
                events,
                days,
                until: chrono::Utc::now(),
                seed,
            };
            let (tx, mut rx) = tokio::sync::mpsc::channel(4);
            let producer = tokio::task::spawn_blocking(move || {
                generate(&plan, 5_000, |batch| {
                    let _ = tx.blocking_send(batch);
                })
            });
            let (mut created, mut existing) = (0usize, 0usize);
            let mut progress = Progress::new(events);
            while let Some(batch) = rx.recv().await {
                for outcome in store.append(batch).await {
                    match outcome {
                        AppendOutcome::Created => created += 1,
                        AppendOutcome::Duplicate | AppendOutcome::Conflict => existing += 1,
                        AppendOutcome::Failed(e) => return Err(e).context("storing seeded events"),
                    }
                }
                progress.show(created + existing);
            }
            progress.finish();
            producer.await?;
            store.close().await;
            println!(
                "seeded {created} events into {} ({existing} were already there)",
                data_dir.display()
            );
            Ok(())
        }
    }
}
