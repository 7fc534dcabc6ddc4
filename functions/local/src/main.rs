//! `audit-local`: the audit log on one machine. `serve` runs every route over the embedded store;
//! `seed` loads realistic events into a data folder.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use audit_local::seed::{SeedPlan, generate};
use audit_local::{ServeConfig, run, shutdown_signal};
use audit_storage::{AppendOutcome, EventStore};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

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
        #[arg(long, env = "AUDIT_LINK_TTL_SECS", default_value_t = 900)]
        link_ttl_secs: i64,
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve {
            addr,
            data_dir,
            public_url,
            link_ttl_secs,
        } => {
            let config = ServeConfig {
                addr,
                tokens: std::env::var("AUDIT_TOKENS").ok(),
                public_url,
                link_ttl: chrono::Duration::seconds(link_ttl_secs.max(1)),
                ..ServeConfig::new(data_dir)
            };
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr}"))?;
            run(listener, config, shutdown_signal()).await
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
            while let Some(batch) = rx.recv().await {
                for outcome in store.append(batch).await {
                    match outcome {
                        AppendOutcome::Created => created += 1,
                        AppendOutcome::Duplicate | AppendOutcome::Conflict => existing += 1,
                        AppendOutcome::Failed(e) => return Err(e).context("storing seeded events"),
                    }
                }
            }
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
