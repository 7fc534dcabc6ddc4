//! Benchmarks of the local server over loopback HTTP (issue: walking skeleton).
//!
//! - `ingest`: batches of 100 events from 2 client connections into a fresh server, beside the raw
//!   SQLite figure for the same rows inserted in batched transactions on the same schema.
//! - `query`: p50/p99 of the first page (limit 50) for each query shape on a seeded store.
//! - `export`: rows/s of a full export and the server's peak RSS while it runs.
//!
//! The server is the release `audit-local` binary started as a child process, so client and
//! server are measured as deployed. Build both first:
//! `cargo build --release -p audit-local -p audit-bench`.

mod auth;
mod dynamo;
mod heat;
mod integrity;
mod lambda;
mod load;
mod query;
mod storm;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use audit_local::seed::{SeedPlan, generate, random_input};
use audit_storage::{AppendOutcome, EventStore};
use audit_store_sqlite::SqliteStore;
use clap::{Parser, Subcommand};
use rand::SeedableRng;
use serde_json::{Value, json};

const INGEST_TOKEN: &str = "bench-ingest";
const READ_TOKEN: &str = "bench-read";

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Bench,
    /// The audit-local binary (default: beside this one).
    #[arg(long, global = true)]
    server: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Bench {
    Ingest {
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        #[arg(long, default_value_t = 100)]
        batch: usize,
        #[arg(long, default_value_t = 2)]
        connections: usize,
    },
    /// Only the raw SQLite insert of `ingest` (for profiling).
    Raw {
        #[arg(long, default_value_t = 100_000)]
        events: usize,
        #[arg(long, default_value_t = 100)]
        batch: usize,
    },
    /// Seeds `events` into `data_dir` (unless it already holds them; `--events 0` leaves it as
    /// it is), then runs the query benchmark (every shape, first page and deep) and the exports.
    Read {
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 200)]
        samples: usize,
        /// Only over HTTP (for a server binary whose store this bench cannot open).
        #[arg(long)]
        http_only: bool,
        /// Only the query shapes whose name starts with one of these (`actor,q common`).
        #[arg(long, value_delimiter = ',')]
        shapes: Vec<String>,
        /// Leave out the exports.
        #[arg(long)]
        no_export: bool,
    },
    /// Clients that give up on slow searches: `clients` searches for a term no event holds, too
    /// short for the trigram index (a whole scan each), whose clients hang up after `hang_up_ms`;
    /// prints the CPU-seconds the server spends on them in all (seeds `data_dir` like `read`).
    Hangups {
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 12)]
        clients: usize,
        #[arg(long, default_value_t = 300)]
        hang_up_ms: u64,
    },
    /// A throttling storm on the DynamoDB path through the fault proxy (run under
    /// `scripts/with-emulators`).
    Storm {
        #[arg(long, default_value_t = 15)]
        secs: u64,
        #[arg(long, default_value_t = 4)]
        writers: usize,
    },
    /// One 500-event batch while half the DynamoDB writes take 2.5 s (run under
    /// `scripts/with-emulators`).
    SlowBatch,
    /// Many clients mixing ingest, queries and exports against the local server (embedded store).
    Load {
        #[arg(long, default_value_t = 50)]
        clients: usize,
        #[arg(long, default_value_t = 60)]
        secs: u64,
    },
    /// The Lambda functions under a local Runtime API, against the emulators (run under
    /// `scripts/with-emulators`).
    Lambda {
        /// Where the function binaries are (`target/release`, or cargo-lambda's output).
        #[arg(long, default_value = "target/release")]
        bin_dir: PathBuf,
        #[arg(long, default_value_t = 10)]
        starts: usize,
        #[arg(long, default_value_t = 20)]
        samples: usize,
    },
    /// The integrity archive on the embedded store: ingest with archiving on vs off, verify over
    /// 1M and 100k events, the proof of one event in a 100k-event period.
    Integrity {
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        /// Where the data folders go (kept for a look afterwards).
        #[arg(long)]
        work_dir: PathBuf,
        /// Seconds between seals while ingesting (each followed by the server's check of the
        /// period); archiving runs every minute, or this often if shorter.
        #[arg(long, default_value_t = 10)]
        seal_every: u64,
        /// Only one part: `ingest` (the rounds on vs off) or `verify` (over the folders an earlier
        /// run left in WORK_DIR).
        #[arg(long, value_enum)]
        only: Option<integrity::Only>,
    },
    /// The archiver function under a local Runtime API, against the emulators (run under
    /// `scripts/with-emulators`).
    Archiver {
        #[arg(long, default_value = "target/release")]
        bin_dir: PathBuf,
        #[arg(long, default_value_t = 20_000)]
        events: usize,
    },
    /// `GET /counts` on the DynamoDB store by reading and from the kept counts, against dynalite
    /// (run under `scripts/with-emulators`).
    Counts {
        #[arg(long, default_value_t = 100_000)]
        events: usize,
        #[arg(long, default_value_t = 10)]
        samples: usize,
    },
    /// What authenticating a request costs: a service token against a person's JWT (keys
    /// cached), the first token after a key rotation, whole requests over loopback HTTP.
    Auth {
        #[arg(long, default_value_t = 20_000)]
        samples: usize,
    },
    /// The partition-heat model: write units on the table and its index partitions for a
    /// workload, the highest sustained ingest; checked against the store's real writes on
    /// dynalite unless `--check 0` (run under `scripts/with-emulators`).
    Heat(heat::Args),
    /// The DynamoDB and S3 path, against the emulators (run under `scripts/with-emulators`).
    Dynamo {
        /// Events seeded for the query and export benchmarks.
        #[arg(long, default_value_t = 100_000)]
        events: usize,
        /// Events sent through the local server.
        #[arg(long, default_value_t = 20_000)]
        http_events: usize,
        /// Walks per query shape.
        #[arg(long, default_value_t = 20)]
        samples: usize,
        /// Reuse the tables of this tag if they hold events.
        #[arg(long)]
        tag: Option<String>,
        /// Only the export figures.
        #[arg(long)]
        only_export: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let server_bin = match cli.server {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("audit-local"),
    };
    if !server_bin.exists() {
        bail!(
            "{} not found: cargo build --release -p audit-local",
            server_bin.display()
        );
    }
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism()?.get(),
        cpu_model()
    );
    match cli.command {
        Bench::Ingest {
            events,
            batch,
            connections,
        } => ingest(&server_bin, events, batch, connections).await,
        Bench::Raw { events, batch } => {
            let secs = raw_sqlite_insert(validated(&ingest_batches(events, batch)))?;
            println!("raw SQLite: {:.0} events/s", events as f64 / secs);
            let secs = store_append(validated(&ingest_batches(events, batch)), 2).await?;
            println!("store: {:.0} events/s", events as f64 / secs);
            Ok(())
        }
        Bench::Read {
            events,
            data_dir,
            samples,
            http_only,
            shapes,
            no_export,
        } => {
            let args = query::Args {
                events,
                samples,
                http_only,
                shapes,
                no_export,
            };
            query::run(&server_bin, &data_dir, args).await
        }
        Bench::Hangups {
            events,
            data_dir,
            clients,
            hang_up_ms,
        } => hangups(&server_bin, events, &data_dir, clients, hang_up_ms).await,
        Bench::Load { clients, secs } => load::run(&server_bin, clients, secs).await,
        Bench::Storm { secs, writers } => storm::run(&server_bin, secs, writers).await,
        Bench::SlowBatch => storm::slow_batch(&server_bin).await,
        Bench::Lambda {
            bin_dir,
            starts,
            samples,
        } => lambda::run(&bin_dir, starts, samples).await,
        Bench::Integrity {
            events,
            work_dir,
            seal_every,
            only,
        } => {
            std::fs::create_dir_all(&work_dir)?;
            integrity::run(&server_bin, events, &work_dir, seal_every, only).await
        }
        Bench::Archiver { bin_dir, events } => integrity::archiver(&bin_dir, events).await,
        Bench::Counts { events, samples } => dynamo::counts(samples, events).await,
        Bench::Auth { samples } => auth::auth(samples).await,
        Bench::Heat(args) => heat::heat(args).await,
        Bench::Dynamo {
            events,
            http_events,
            samples,
            tag,
            only_export,
        } => {
            let args = dynamo::Args {
                events,
                http_events,
                samples,
                tag,
                only_export,
            };
            dynamo::run(&server_bin, args).await
        }
    }
}

/// The server under test (the real binary as a child process), stopped when dropped.
struct Server {
    process: audit_local::process::ServerProcess,
    base: String,
    client: reqwest::Client,
}

impl Server {
    async fn start(bin: &Path, data_dir: &Path) -> anyhow::Result<Server> {
        Self::start_with(bin, data_dir, &[]).await
    }

    /// Starts the server with extra environment (`AUDIT_STORE=dynamodb`, …).
    async fn start_with(bin: &Path, data_dir: &Path, env: &[(&str, String)]) -> anyhow::Result<Server> {
        let tokens = format!(
            "bench-ingest:ingest:{},bench-read:read:{}",
            audit_api::hash_token(INGEST_TOKEN),
            audit_api::hash_token(READ_TOKEN)
        );
        // The benchmarks measure capacity, not the per-token limit.
        let mut all = vec![
            ("RUST_LOG".to_owned(), "warn".to_owned()),
            ("AUDIT_RATE_LIMIT".into(), "0".into()),
        ];
        all.extend(env.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let process = audit_local::process::ServerProcess::start(
            bin,
            data_dir,
            &tokens,
            &all,
            audit_local::process::Output::Discard,
        )
        .await?;
        Ok(Server {
            base: process.base.clone(),
            process,
            client: reqwest::Client::new(),
        })
    }

    fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// `GET path_and_query` with the read token, as JSON.
    async fn get_json(&self, path_and_query: &str) -> anyhow::Result<Value> {
        let url = format!("{}{path_and_query}", self.base);
        Ok(self
            .client
            .get(&url)
            .bearer_auth(READ_TOKEN)
            .send()
            .await?
            .json()
            .await?)
    }

    /// `POST /events` of one batch with the ingest token.
    async fn post_events(&self, batch: &[Value]) -> reqwest::Result<reqwest::Response> {
        self.client
            .post(format!("{}/events", self.base))
            .bearer_auth(INGEST_TOKEN)
            .json(&json!({ "events": batch }))
            .send()
            .await
    }
}

/// The query shapes of the benchmarks: name, filter key (`day`: one day, three days ago), the
/// values the samples rotate through (the first is the one walked deep: the actor, category and
/// term with the most rows in a seeded store), and whether the shape also runs within a period.
const SHAPES: [(&str, &str, &[&str], bool); 6] = [
    ("no filter", "", &[""], true),
    ("actor", "actor", &["system", "alice", "bob", "zoë", "k.tanaka"], true),
    ("category", "category", &["tqi", "sca", "auth", "ldap", "policy"], true),
    ("one day", "day", &[""], false),
    ("q rare", "q", &["payments:3.7", "checkout:5.12", "ledger:7.3"], true),
    ("q common", "q", &["analysis", "started", "project"], true),
];

/// The day of the `one day` shape, and the 31-day period of the others, as `YYYY-MM-DD`.
fn shape_dates() -> (String, (String, String)) {
    let today = chrono::Utc::now();
    let day = |d: i64| (today - chrono::Duration::days(d)).format("%Y-%m-%d").to_string();
    (day(3), (day(31), day(0)))
}

async fn ingest(bin: &Path, events: usize, batch: usize, connections: usize) -> anyhow::Result<()> {
    println!("\n== ingest: {events} events, batches of {batch}, {connections} connections ==");
    let batches = ingest_batches(events, batch);
    let dir = tempfile::TempDir::new()?;
    let server = Server::start(bin, dir.path()).await?;
    let (http_secs, accepted) = post_batches(&server, &batches, connections).await?;
    let rss = peak_rss_kib(server.pid());
    drop(server);
    if accepted as usize != events {
        bail!("only {accepted} of {events} events were accepted");
    }
    println!(
        "HTTP ingest:      {events} events in {http_secs:.2} s = {:.0} events/s (server peak RSS {} MiB)",
        events as f64 / http_secs,
        rss / 1024
    );

    let raw = raw_sqlite_insert(validated(&batches))?;
    println!(
        "raw SQLite:       {events} events in {raw:.2} s = {:.0} events/s (one connection, {batch} rows per transaction, actor, category and search indexes every 4,096 rows, same schema, synchronous=FULL)",
        events as f64 / raw
    );
    let store = store_append(validated(&batches), connections).await?;
    println!(
        "store, no HTTP:   {events} events in {store:.2} s = {:.0} events/s ({connections} concurrent appenders of {batch}, group commit)",
        events as f64 / store
    );
    println!("HTTP / raw SQLite = {:.2}", raw / http_secs);
    Ok(())
}

/// Posts `batches` to the server from `connections` clients; the seconds it took and the events
/// accepted.
async fn post_batches(server: &Server, batches: &[Vec<Value>], connections: usize) -> anyhow::Result<(f64, u64)> {
    let bodies: Vec<bytes::Bytes> = batches
        .iter()
        .map(|b| serde_json::to_vec(&json!({ "events": b })).expect("json").into())
        .collect();
    let bodies = Arc::new(bodies);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let client = reqwest::Client::builder().pool_max_idle_per_host(1).build()?;
        let (bodies, next, url) = (bodies.clone(), next.clone(), format!("{}/events", server.base));
        tasks.push(tokio::spawn(async move {
            let mut accepted = 0u64;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else {
                    return Ok::<u64, anyhow::Error>(accepted);
                };
                let response = client
                    .post(&url)
                    .bearer_auth(INGEST_TOKEN)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await?;
                if !response.status().is_success() {
                    bail!("ingest answered {}", response.status());
                }
                let result: Value = response.json().await?;
                accepted += result["accepted"].as_u64().unwrap_or(0);
            }
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        accepted += task.await??;
    }
    Ok((started.elapsed().as_secs_f64(), accepted))
}

/// Ingest batches as services send them: seeded events of every type, happening now (times
/// increase with jitter, ids are UUIDv7), made before the clock starts.
fn ingest_batches(events: usize, batch: usize) -> Vec<Vec<Value>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let start = chrono::Utc::now() - chrono::Duration::hours(1);
    let mut batches = Vec::with_capacity(events.div_ceil(batch));
    for first in (0..events).step_by(batch) {
        let items: Vec<Value> = (first..(first + batch).min(events))
            .map(|k| {
                let jitter = rand::Rng::random_range(&mut rng, 0..2_000);
                let at = start + chrono::Duration::microseconds(k as i64 * 3_000 + jitter);
                let mut input = random_input(&mut rng, at);
                input["id"] = json!(uuid::Uuid::now_v7());
                input
            })
            .collect();
        batches.push(items);
    }
    batches
}

/// The same batches validated into store rows, as the server would make them.
fn validated(batches: &[Vec<Value>]) -> Vec<Vec<event_model::NewEvent>> {
    let now = chrono::Utc::now();
    batches
        .iter()
        .map(|b| {
            b.iter()
                .map(|e| event_model::NewEvent::parse(e, "", now, "bench-ingest").expect("valid"))
                .collect()
        })
        .collect()
}

/// Raw SQLite: the same rows, `batch` per transaction, through one connection, with the batch-filled
/// indexes filled every 4,096 rows, as the store does.
fn raw_sqlite_insert(batches: Vec<Vec<event_model::NewEvent>>) -> anyhow::Result<f64> {
    let dir = tempfile::TempDir::new()?;
    let mut conn = audit_store_sqlite::open_connection(&dir.path().join("raw.db"))?;
    conn.execute_batch(audit_store_sqlite::SCHEMA)?;
    conn.execute_batch("PRAGMA cache_size = -65536;")?; // the store's writer's cache
    // Plain SQLite: checkpoints inside commits (the default), no helper threads.
    let started = Instant::now();
    let (mut stored, mut indexed) = (0i64, 0i64);
    for batch in &batches {
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO events (id, time_us, actor, category, type, message, duration_ms, params, source, received_at, fingerprint)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for new in batch {
                let e = &new.event;
                insert.execute(rusqlite::params![
                    e.id.as_bytes(),
                    e.time.timestamp_micros(),
                    e.actor,
                    e.category.code(),
                    e.event_type,
                    e.message,
                    e.duration_ms.map(|d| d as i64),
                    e.params.as_str().to_owned(),
                    e.source,
                    event_model::time::format(&e.received_at),
                    new.fingerprint,
                ])?;
            }
        }
        tx.commit()?;
        stored += batch.len() as i64;
        if stored - indexed >= 4_096 || stored as usize == batches.iter().map(Vec::len).sum::<usize>() {
            let tx = conn.transaction()?;
            for fill in [
                "INSERT INTO events_search (rowid, message, actor) SELECT seq, message, actor FROM events WHERE seq > ?1",
                "INSERT INTO actor_index SELECT actor, time_us, id, seq FROM events WHERE seq > ?1",
                "INSERT INTO category_index SELECT category, time_us, id, seq FROM events WHERE seq > ?1",
            ] {
                tx.execute(fill, [indexed])?;
            }
            tx.execute("UPDATE index_state SET indexed_upto = ?1", [stored])?;
            tx.commit()?;
            indexed = stored;
        }
    }
    Ok(started.elapsed().as_secs_f64())
}

/// The store's own append path (validation excluded), `appenders` at once.
async fn store_append(mut batches: Vec<Vec<event_model::NewEvent>>, appenders: usize) -> anyhow::Result<f64> {
    batches.reverse();
    let dir = tempfile::TempDir::new()?;
    let store = SqliteStore::open(dir.path())?;
    let queue = Arc::new(std::sync::Mutex::new(batches));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..appenders {
        let (store, queue) = (store.clone(), queue.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(batch) = queue.lock().expect("queue").pop() else {
                    return Ok::<(), anyhow::Error>(());
                };
                for outcome in store.append(batch).await {
                    if !matches!(outcome, AppendOutcome::Created) {
                        bail!("append failed: {outcome:?}");
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Seeds `data_dir` up to `events` events (keeping what it holds); returns how many it holds.
/// With `events` 0 the folder is not opened at all (so a server of another version can be
/// measured on it).
async fn seed_to(data_dir: &Path, events: usize) -> anyhow::Result<u64> {
    if events == 0 {
        return Ok(0);
    }
    let store = SqliteStore::open(data_dir)?;
    let have = store.count_events().await?;
    if have < events as u64 {
        println!(
            "\nseeding {} events into {} ...",
            events as u64 - have,
            data_dir.display()
        );
        let started = Instant::now();
        let plan = SeedPlan {
            events: events - have as usize,
            days: 30,
            until: chrono::Utc::now(),
            seed: 7 + have,
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let producer = tokio::task::spawn_blocking(move || generate(&plan, 5_000, |b| drop(tx.blocking_send(b))));
        while let Some(batch) = rx.recv().await {
            for outcome in store.append(batch).await {
                if let AppendOutcome::Failed(e) = outcome {
                    return Err(e.into());
                }
            }
        }
        producer.await?;
        println!("seeded in {:.1} s", started.elapsed().as_secs_f64());
    }
    let total = store.count_events().await?;
    store.close().await;
    Ok(total)
}

/// CPU-seconds (user + system) process `pid` has used.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at `) `; utime and stime are
    // fields 14 and 15, in clock ticks (100 a second on Linux).
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Waits until process `pid` uses less than `cpu` CPU-seconds in a `period`.
async fn wait_idle(pid: u32, period: Duration, cpu: f64) {
    let mut last = cpu_secs(pid);
    loop {
        tokio::time::sleep(period).await;
        let now = cpu_secs(pid);
        if now - last < cpu {
            return;
        }
        last = now;
    }
}

async fn hangups(bin: &Path, events: usize, data_dir: &Path, clients: usize, hang_up_ms: u64) -> anyhow::Result<()> {
    let total = seed_to(data_dir, events).await?;
    let server = Server::start(bin, data_dir).await?;
    // Let start-up work (index catch-up) settle before measuring.
    wait_idle(server.pid(), Duration::from_millis(500), 0.02).await;
    println!("\n== hang-ups: {clients} searches for `zq` on {total} events, clients gone after {hang_up_ms} ms ==");
    let before = cpu_secs(server.pid());
    let started = Instant::now();
    let searches: Vec<_> = (0..clients)
        .map(|_| {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_millis(hang_up_ms))
                .build()
                .expect("a client");
            let url = format!("{}/events?q=zq", server.base);
            tokio::spawn(async move { client.get(url).bearer_auth(READ_TOKEN).send().await.is_ok() })
        })
        .collect();
    let mut answered = 0;
    for search in searches {
        answered += usize::from(search.await?);
    }
    wait_idle(server.pid(), Duration::from_millis(250), 0.01).await;
    let spent = cpu_secs(server.pid()) - before;
    println!(
        "{answered} of {clients} answered before the hang-up; the server spent {spent:.2} CPU-seconds on them (idle again {:.1} s after the first request)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs one export and prints its speed and the server's RSS: sampled every 25 ms, and the
/// process's high-water mark (VmHWM) at the end.
async fn export(server: &Server, name: &str, filters: &Value) -> anyhow::Result<()> {
    let rss_before = rss_kib(server.pid());
    let started = Instant::now();
    let created: Value = server
        .client
        .post(format!("{}/exports", server.base))
        .bearer_auth(READ_TOKEN)
        .json(filters)
        .send()
        .await?
        .json()
        .await?;
    let status_path = created["status_url"].as_str().context("status_url")?.to_owned();
    let mut peak = rss_before;
    let job = loop {
        peak = peak.max(rss_kib(server.pid()));
        let job = server.get_json(&status_path).await?;
        if job["status"] == "succeeded" || job["status"] == "failed" {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let secs = started.elapsed().as_secs_f64();
    // The kernel's high-water mark catches peaks between samples.
    let peak = peak.max(peak_rss_kib(server.pid()));
    let rows = job["rows"].as_u64().unwrap_or(0);
    let mib = job["bytes"].as_f64().unwrap_or(0.0) / 1_048_576.0;
    println!(
        "{name:<14} {}: {rows} rows, {mib:.1} MiB in {secs:.2} s = {:.0} rows/s; server RSS {} MiB before, peak {} MiB",
        job["status"],
        rows as f64 / secs,
        rss_before / 1024,
        peak / 1024
    );
    Ok(())
}

fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn rss_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmRSS:")
}

fn peak_rss_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmHWM:")
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
