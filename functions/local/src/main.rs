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
        cloud: CloudArgs,
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
            cloud,
        } => {
            let config = ServeConfig {
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
