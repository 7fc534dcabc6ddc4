//! Benchmarks of the DynamoDB and S3 path against the emulators (run under
//! `scripts/with-emulators`): the requests and items each query shape costs, ingest through the
//! local server, and exports into S3 with the server's peak RSS.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::bail;
use audit_local::seed::{SeedPlan, generate};
use audit_storage::{AppendOutcome, EventStore};
use audit_store_dynamodb::metrics::RequestCounter;
use audit_store_dynamodb::{DynamoStore, Layout, schema};
use event_model::EventFilter;
use serde_json::{Value, json};

use crate::{Server, ingest_batches, peak_rss_kib};

fn names(tag: &str) -> Layout {
    Layout {
        events_table: format!("bench-{tag}-events"),
        jobs_table: format!("bench-{tag}-jobs"),
        bucket: format!("bench-{tag}"),
        time_shards: schema::DEFAULT_TIME_SHARDS,
        actor_shards: schema::DEFAULT_ACTOR_SHARDS,
    }
}

async fn create(names: &Layout) -> anyhow::Result<()> {
    let sdk = audit_store_dynamodb::sdk_config().await;
    audit_store_dynamodb::init::create_tables(&audit_store_dynamodb::dynamodb_client(&sdk), names).await?;
    audit_store_dynamodb::init::create_bucket(&audit_store_dynamodb::s3_client(&sdk), &names.bucket).await
}

fn server_env(names: &Layout) -> Vec<(&'static str, String)> {
    vec![
        ("AUDIT_STORE", "dynamodb".into()),
        ("AUDIT_EVENTS_TABLE", names.events_table.clone()),
        ("AUDIT_JOBS_TABLE", names.jobs_table.clone()),
        ("AUDIT_EXPORT_BUCKET", names.bucket.clone()),
    ]
}

pub struct Args {
    pub events: usize,
    pub http_events: usize,
    pub samples: usize,
    /// Reuse the tables of this tag when they hold events (to iterate on one part).
    pub tag: Option<String>,
    /// Only the export figures.
    pub only_export: bool,
}

pub async fn run(bin: &Path, args: Args) -> anyhow::Result<()> {
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_none() {
        bail!("run under scripts/with-emulators (AWS_ENDPOINT_URL_DYNAMODB is not set)");
    }
    let tag = args
        .tag
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..8].to_owned());
    let sdk = audit_store_dynamodb::sdk_config().await;
    let seeded = names(&format!("{tag}s"));
    create(&seeded).await?;
    let counter = RequestCounter::default();
    let store = DynamoStore::new(counter.dynamodb_client(&sdk), seeded.clone(), None);
    if store.query(&EventFilter::default(), 1, None).await?.events.is_empty() {
        let plan = SeedPlan {
            events: args.events,
            days: 30,
            until: chrono::Utc::now(),
            seed: 11,
        };
        seed(&store, &counter, plan).await?;
    }
    if !args.only_export {
        efficiency(&store, &counter, args.samples).await?;
        ingest_http(bin, &tag, args.http_events).await?;
    }
    println!("\n== export into S3 (s3s-fs), each in a fresh server process ==");
    let now = chrono::Utc::now();
    let three_days = json!({
        "from": event_model::time::format(&(now - chrono::Duration::days(3))),
    });
    for (name, filters) in [("last 3 days", three_days), ("everything", json!({}))] {
        let dir = tempfile::TempDir::new()?;
        let server = Server::start_with(bin, dir.path(), &server_env(&seeded)).await?;
        crate::export(&server, name, &filters).await?;
        drop(server);
    }
    Ok(())
}

/// Seeds through the store itself, counting requests.
async fn seed(store: &DynamoStore, counter: &RequestCounter, plan: SeedPlan) -> anyhow::Result<()> {
    let events = plan.events;
    println!("\n== DynamoDB (dynalite): seeding {events} events over 30 days through the store ==");
    let started = Instant::now();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let producer = tokio::task::spawn_blocking(move || generate(&plan, 500, |b| drop(tx.blocking_send(b))));
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let mut appenders = Vec::new();
    for _ in 0..2 {
        let (store, rx) = (store.clone(), rx.clone());
        appenders.push(tokio::spawn(async move {
            loop {
                let Some(batch) = rx.lock().await.recv().await else {
                    return Ok::<_, anyhow::Error>(());
                };
                for outcome in store.append(batch).await {
                    if let AppendOutcome::Failed(e) = outcome {
                        return Err(e.into());
                    }
                }
            }
        }));
    }
    for a in appenders {
        a.await??;
    }
    producer.await?;
    let secs = started.elapsed().as_secs_f64();
    let ops = counter.snapshot();
    println!(
        "store append: {events} events in {secs:.1} s = {:.0} events/s (2 appenders of 500, 16 writes in flight each)",
        events as f64 / secs
    );
    println!(
        "requests per 1,000 events: {:.1} ({ops:?})",
        counter.total() as f64 * 1000.0 / events as f64
    );
    Ok(())
}

async fn ingest_http(bin: &Path, tag: &str, http_events: usize) -> anyhow::Result<()> {
    println!(
        "\n== ingest through the local server (--store dynamodb): {http_events} events, batches of 100, 2 connections =="
    );
    let fresh = names(&format!(
        "{tag}h{}",
        uuid::Uuid::new_v4().simple().to_string()[..4].to_owned()
    ));
    create(&fresh).await?;
    let dir = tempfile::TempDir::new()?;
    let server = Server::start_with(bin, dir.path(), &server_env(&fresh)).await?;
    let (secs, accepted) = crate::post_batches(&server, &ingest_batches(http_events, 100), 2).await?;
    if accepted != http_events as u64 {
        bail!("only {accepted} of {http_events} accepted");
    }
    println!(
        "HTTP ingest: {http_events} events in {secs:.2} s = {:.0} events/s (server peak RSS {} MiB)",
        http_events as f64 / secs,
        peak_rss_kib(server.pid()) / 1024
    );
    Ok(())
}

/// Requests per page and items read per item returned, for the query shapes of the embedded
/// store's benchmark, with and without a 31-day period: the first page (limit 50), the next pages
/// of the same walk, and the pages 10,000 rows deep (a deep page must read only its own rows, not
/// again what the pages before it read).
async fn efficiency(store: &DynamoStore, counter: &RequestCounter, samples: usize) -> anyhow::Result<()> {
    println!(
        "\n== request efficiency, limit 50, TIME_SHARDS = {}: first page, pages 2-10, and {DEEP_PAGES} pages {DEEP} rows deep ==",
        store.layout().time_shards
    );
    let (day, (from, to)) = crate::shape_dates();
    let period = json!({"from": from, "to": to});
    println!(
        "{:<20} {:>9} {:>9} {:>6} {:>9} {:>9} {:>9} {:>9} {:>8} {:>7}",
        "shape", "req/page", "read/ret", "rows", "req 2-10", "read 2-10", "req deep", "read deep", "max req", "p50 ms"
    );
    for (name, key, values, with_period) in crate::SHAPES {
        let filters: Vec<Value> = values
            .iter()
            .map(|v| match key {
                "" => json!({}),
                "day" => json!({"from": day, "to": day}),
                key => json!({ key: v }),
            })
            .collect();
        let mut variants = vec![(name.to_owned(), filters.clone())];
        if with_period {
            let joined = filters
                .iter()
                .map(|f| {
                    let mut f = f.clone();
                    f.as_object_mut()
                        .expect("an object")
                        .extend(period.as_object().expect("an object").clone());
                    f
                })
                .collect();
            variants.push((format!("{name} + period"), joined));
        }
        for (name, filters) in variants {
            efficiency_of(store, counter, samples, &name, &filters).await?;
        }
    }
    Ok(())
}

const DEEP: usize = 10_000;
const DEEP_PAGES: usize = 5;

async fn efficiency_of(
    store: &DynamoStore,
    counter: &RequestCounter,
    samples: usize,
    name: &str,
    filters: &[Value],
) -> anyhow::Result<()> {
    let (mut first, mut later, mut deep) = (Tally::default(), Tally::default(), Tally::default());
    let mut latencies = Vec::new();
    let measure = async |filter: &EventFilter, after: Option<&str>, tally: &mut Tally| {
        let (before_req, before_stats) = (counter.total(), store.read_stats());
        let started = Instant::now();
        let page = store.query(filter, 50, after).await?;
        let elapsed = started.elapsed().as_secs_f64() * 1e3;
        let stats = store.read_stats();
        tally.add(
            counter.total() - before_req,
            stats.items_read - before_stats.items_read,
            page.events.len() as u64,
        );
        anyhow::Ok((page.next, elapsed))
    };
    for i in 0..samples {
        let filter = EventFilter::from_json(&filters[i % filters.len()]).expect("valid filter");
        let mut after: Option<String> = None;
        for page_no in 0..10 {
            let tally = if page_no == 0 { &mut first } else { &mut later };
            let (next, elapsed) = measure(&filter, after.as_deref(), tally).await?;
            if page_no == 0 {
                latencies.push(elapsed);
            }
            match next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    // One walk to DEEP rows with the first value, in pages of 500, then pages of 50 measured.
    let filter = EventFilter::from_json(&filters[0]).expect("valid filter");
    let (mut after, mut seen) = (None::<String>, 0);
    while seen < DEEP {
        let page = store.query(&filter, (DEEP - seen).min(500), after.as_deref()).await?;
        seen += page.events.len();
        after = page.next;
        if after.is_none() {
            break;
        }
    }
    if after.is_some() {
        for _ in 0..DEEP_PAGES {
            let (next, _) = measure(&filter, after.as_deref(), &mut deep).await?;
            after = next;
            if after.is_none() {
                break;
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    let or_none = |t: &Tally, f: fn(&Tally) -> f64| {
        if t.pages == 0 {
            "-".to_owned()
        } else {
            format!("{:.2}", f(t))
        }
    };
    println!(
        "{name:<20} {:>9.2} {:>9.2} {:>6.1} {:>9} {:>9} {:>9} {:>9} {:>8} {:>7.1}",
        first.per_page(),
        first.read_per_returned(),
        first.returned as f64 / first.pages.max(1) as f64,
        or_none(&later, Tally::per_page),
        or_none(&later, Tally::read_per_returned),
        or_none(&deep, Tally::per_page),
        or_none(&deep, Tally::read_per_returned),
        first.max_requests.max(later.max_requests).max(deep.max_requests),
        latencies.get(latencies.len() / 2).copied().unwrap_or(0.0)
    );
    Ok(())
}

#[derive(Default)]
struct Tally {
    pages: u64,
    requests: u64,
    read: u64,
    returned: u64,
    max_requests: u64,
}

impl Tally {
    fn add(&mut self, requests: u64, read: u64, returned: u64) {
        self.pages += 1;
        self.requests += requests;
        self.read += read;
        self.returned += returned;
        self.max_requests = self.max_requests.max(requests);
    }

    fn per_page(&self) -> f64 {
        self.requests as f64 / self.pages.max(1) as f64
    }

    fn read_per_returned(&self) -> f64 {
        self.read as f64 / self.returned.max(1) as f64
    }
}

/// `GET /counts` on the DynamoDB store, for the filters the admin page asks for most: by reading
/// the events (what the store does before any period is counted), then from the kept counts.
/// The kept counts are made here from the seeded events themselves, as one period ending at the
/// last full hour (the archiver makes them from each sealed period's archive files); the
/// requests that costs are printed per 1,000 events.
pub async fn counts(samples: usize, events: usize) -> anyhow::Result<()> {
    use audit_storage::Bucket;
    use chrono::{Duration, DurationRound, Utc};
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_none() {
        bail!("run under scripts/with-emulators (AWS_ENDPOINT_URL_DYNAMODB is not set)");
    }
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let sdk = audit_store_dynamodb::sdk_config().await;
    let layout = names(&format!("{tag}c"));
    create(&layout).await?;
    let counter = RequestCounter::default();
    let store = DynamoStore::new(counter.dynamodb_client(&sdk), layout.clone(), None);
    let plan = SeedPlan {
        events,
        days: 30,
        until: Utc::now(),
        seed: 16,
    };
    seed(&store, &counter, plan.clone()).await?;
    let now = Utc::now();
    let ago = |d: Duration| Some(now - d);
    let shapes: Vec<(&str, EventFilter, Bucket)> = vec![
        ("all time, by day", EventFilter::default(), Bucket::Day),
        (
            "last 7 days, by hour",
            EventFilter {
                from: ago(Duration::days(7)),
                ..Default::default()
            },
            Bucket::Hour,
        ),
        (
            "last 24 hours, by hour",
            EventFilter {
                from: ago(Duration::days(1)),
                ..Default::default()
            },
            Bucket::Hour,
        ),
        (
            "last 30 days, category auth, by day",
            EventFilter {
                from: ago(Duration::days(30)),
                categories: vec![event_model::Category::Auth],
                ..Default::default()
            },
            Bucket::Day,
        ),
        (
            "last 7 days, failures only, by hour",
            EventFilter {
                from: ago(Duration::days(7)),
                outcome: Some(event_model::Outcome::Failure),
                ..Default::default()
            },
            Bucket::Hour,
        ),
        (
            "last 7 days, username alice, by hour",
            EventFilter {
                from: ago(Duration::days(7)),
                actor: Some("alice".into()),
                ..Default::default()
            },
            Bucket::Hour,
        ),
        (
            "all time, without system, by day",
            EventFilter {
                not_actor: Some("system".into()),
                ..Default::default()
            },
            Bucket::Day,
        ),
        (
            "last 7 days, search \"timeout\", by hour",
            EventFilter {
                from: ago(Duration::days(7)),
                q: Some("timeout".into()),
                ..Default::default()
            },
            Bucket::Hour,
        ),
    ];
    let measure = |label: &'static str| {
        let (store, counter, shapes) = (store.clone(), counter.clone(), shapes.clone());
        async move {
            println!("\n-- {label} --");
            println!(
                "{:<42} {:>10} {:>6} {:>9} {:>8} {:>8}",
                "shape", "total", "exact", "requests", "p50 ms", "p90 ms"
            );
            let mut totals = Vec::new();
            for (name, filter, bucket) in &shapes {
                let mut ms = Vec::new();
                let mut last = None;
                counter.reset();
                for _ in 0..samples {
                    let started = Instant::now();
                    last = Some(store.counts(filter, *bucket).await?);
                    ms.push(started.elapsed().as_secs_f64() * 1e3);
                }
                ms.sort_by(f64::total_cmp);
                let c = last.expect("samples ≥ 1");
                println!(
                    "{name:<42} {:>10} {:>6} {:>9.1} {:>8.1} {:>8.1}",
                    c.total,
                    c.exact,
                    counter.total() as f64 / samples as f64,
                    crate::storm::percentile(&ms, 0.5),
                    crate::storm::percentile(&ms, 0.9),
                );
                totals.push((c.total, c.exact));
            }
            anyhow::Ok(totals)
        }
    };
    println!("\n== GET /counts on DynamoDB (dynalite), {events} events over 30 days, {samples} samples per shape ==");
    let by_reading = measure("by reading the events (no period counted yet)").await?;
    // The kept counts, as one period ending at the last full hour.
    let end = now.duration_trunc(Duration::hours(1))?;
    let mut tally = audit_store_dynamodb::integrity::Tally::default();
    let generator = plan.clone();
    let all = tokio::task::spawn_blocking(move || {
        let mut all = Vec::new();
        generate(&generator, 10_000, |b| all.extend(b));
        all
    })
    .await?;
    for e in all.iter().map(|n| &n.event).filter(|e| e.time < end) {
        tally.add(e.id, e.time, &e.actor, &e.event_type);
    }
    counter.reset();
    let started = Instant::now();
    store.count_period(end, &tally).await?;
    println!(
        "\ncounting {} events into kept counts: {:.1} s, {} requests ({:.1} per 1,000 events: {:?})",
        tally.events(),
        started.elapsed().as_secs_f64(),
        counter.total(),
        counter.total() as f64 * 1000.0 / tally.events().max(1) as f64,
        counter.snapshot()
    );
    let kept = measure("from the kept counts (the hours from 15 min before the head on read)").await?;
    for (((name, ..), a), b) in shapes.iter().zip(&by_reading).zip(&kept) {
        if a.1 && b.1 && a.0 != b.0 {
            bail!("{name}: by reading {} events, from the kept counts {}", a.0, b.0);
        }
    }
    println!("(where both are exact, both totals are equal: checked)");
    Ok(())
}
