//! The query benchmark: every shape (no filter, actor, category, one day, `q` rare and common),
//! with and without a 31-day period, at the first page and 10,000 and 200,000 rows deep, each
//! measured three ways on the same data folder:
//! - `sql`: the store's own SQL for the page, run in this process, rows stepped through without
//!   being turned into events;
//! - `store`: the store's `json_page`, in this process (what the server reads: SQL, rows written
//!   as the page's JSON);
//! - `http`: `GET /events` against the server, at the client (everything).
//!
//! `/health` over HTTP is the floor of a request; the target (issue 13) is an HTTP p50 within
//! 2× of `sql + /health`, and a p99 ≤ 2 ms for the simple shapes. Deep pages are reached by
//! following the API's cursors; the store reads from the position a cursor carries.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use audit_storage::EventStore;
use audit_store_sqlite::SqliteStore;
use base64::Engine;
use event_model::EventFilter;
use serde_json::Value;

use crate::{READ_TOKEN, SHAPES, Server, enc, export, seed_to, shape_dates};

const WARM_UP: usize = 10;
const DEPTHS: [usize; 2] = [10_000, 200_000];

/// A row of the table: a query at a depth.
struct Probe {
    shape: String,
    /// The queries the samples rotate through (one value per entry; deep pages use one).
    queries: Vec<String>,
    depth: usize,
    /// The API cursor of the page `depth` rows in (`None` at the first page).
    cursor: Option<String>,
    /// The rows a page returned.
    rows: usize,
    http: Option<Percentiles>,
    /// The server's CPU time per HTTP request, in ms.
    cpu: Option<f64>,
    store: Option<Percentiles>,
    sql: Option<Percentiles>,
}

impl Probe {
    fn new(shape: &str, queries: Vec<String>, depth: usize, cursor: Option<String>) -> Self {
        Probe {
            shape: shape.to_owned(),
            queries,
            depth,
            cursor,
            rows: 0,
            http: None,
            cpu: None,
            store: None,
            sql: None,
        }
    }
}

#[derive(Clone, Copy)]
struct Percentiles {
    p50: f64,
    p99: f64,
    max: f64,
}

impl Percentiles {
    fn of(mut times: Vec<Duration>) -> Self {
        times.sort();
        let at = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)].as_secs_f64() * 1e3;
        Percentiles {
            p50: at(0.50),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

/// Runs `f` `WARM_UP + samples` times, rotating `i`, and keeps the times of the last `samples`.
async fn sample<F, Fut>(samples: usize, mut f: F) -> anyhow::Result<Percentiles>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut times = Vec::with_capacity(samples);
    for i in 0..WARM_UP + samples {
        let started = Instant::now();
        f(i).await?;
        if i >= WARM_UP {
            times.push(started.elapsed());
        }
    }
    Ok(Percentiles::of(times))
}

pub struct Args {
    pub events: usize,
    pub samples: usize,
    pub http_only: bool,
    /// Only the shapes whose name starts with one of these (all when empty).
    pub shapes: Vec<String>,
    pub no_export: bool,
}

pub async fn run(bin: &Path, data_dir: &Path, args: Args) -> anyhow::Result<()> {
    let Args {
        events,
        samples,
        http_only,
        shapes,
        no_export,
    } = args;
    let total = seed_to(data_dir, events).await?;
    let server = Server::start(bin, data_dir).await?;
    println!(
        "\n== query: pages of 50 on {} events, {samples} samples per row after {WARM_UP} warm-up ==",
        if total > 0 { total.to_string() } else { "the".into() }
    );

    // Deep cursors: one walk per shape, noting the cursor at each depth on the way; each shape's
    // deep rows follow its first page.
    let mut probes = Vec::new();
    let chosen = self::probes()
        .into_iter()
        .filter(|p| shapes.is_empty() || shapes.iter().any(|s| p.shape.starts_with(s.as_str())));
    for first in chosen {
        let cursors = cursors_at(&server, &first.queries[0]).await?;
        let deep: Vec<Probe> = DEPTHS
            .iter()
            .zip(cursors)
            .map(|(depth, cursor)| Probe::new(&first.shape, vec![first.queries[0].clone()], *depth, cursor))
            .collect();
        probes.push(first);
        probes.extend(deep);
    }

    let cpu_before = server_cpu_ms(server.pid());
    let health = sample(samples, |_| async {
        let response = server.client.get(format!("{}/health", server.base)).send().await?;
        anyhow::ensure!(response.status().is_success());
        response.bytes().await?;
        Ok(())
    })
    .await?;
    let health_cpu = (server_cpu_ms(server.pid()) - cpu_before) / (WARM_UP + samples) as f64;
    for probe in probes.iter_mut() {
        if probe.depth > 0 && probe.cursor.is_none() {
            continue;
        }
        let cpu_before = server_cpu_ms(server.pid());
        let rows = std::cell::Cell::new(0);
        let http = sample(samples, |i| {
            let mut url = format!(
                "{}/events?limit=50&{}",
                server.base,
                probe.queries[i % probe.queries.len()]
            );
            if let Some(c) = &probe.cursor {
                url.push_str(&format!("&cursor={}", enc(c)));
            }
            let client = &server.client;
            let rows = &rows;
            async move {
                let response = client.get(&url).bearer_auth(READ_TOKEN).send().await?;
                anyhow::ensure!(response.status().is_success(), "{url}: {}", response.status());
                let body = response.bytes().await?;
                // Counted in a warm-up sample only: parsing is the client's work, not the server's.
                if i == 0 {
                    let body: Value = serde_json::from_slice(&body)?;
                    rows.set(body["events"].as_array().map_or(0, Vec::len));
                }
                Ok(())
            }
        })
        .await?;
        probe.http = Some(http);
        probe.cpu = Some((server_cpu_ms(server.pid()) - cpu_before) / (WARM_UP + samples) as f64);
        probe.rows = rows.get();
    }

    let (_, (from, to)) = shape_dates();
    if !no_export {
        println!("\n== a whole-period export beside the unfiltered one, and a slice ==");
    }
    for (name, filters) in [
        ("category=ldap", serde_json::json!({"category": "ldap"})),
        ("unfiltered", serde_json::json!({})),
        ("31-day period", serde_json::json!({"from": from, "to": to})),
    ] {
        if !no_export {
            export(&server, name, &filters).await?;
        }
    }
    drop(server);

    if !http_only {
        let store = SqliteStore::open(data_dir)?;
        for probe in probes.iter_mut() {
            if probe.depth > 0 && probe.cursor.is_none() {
                continue;
            }
            let filters: Vec<EventFilter> = probe.queries.iter().map(|q| filter_of(q)).collect::<Result<_, _>>()?;
            let position = probe.cursor.as_deref().map(position_of).transpose()?;
            let position = position.as_deref();
            probe.store = Some(
                sample(samples, |i| {
                    let (store, filter) = (&store, &filters[i % filters.len()]);
                    async move {
                        store.json_page(filter, 50, position, Vec::new()).await?;
                        Ok(())
                    }
                })
                .await?,
            );
            probe.sql = Some(
                sample(samples, |i| {
                    let (store, filter) = (&store, &filters[i % filters.len()]);
                    async move {
                        store.page_sql_only(filter, 50, position)?;
                        Ok(())
                    }
                })
                .await?,
            );
        }
        store.close().await;
    }

    println!(
        "\n/health over HTTP: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; server CPU {health_cpu:.3} ms per request",
        health.p50, health.p99, health.max
    );
    println!(
        "{:<22} {:>7} {:>5} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>11}",
        "shape", "depth", "rows", "sql p50", "store", "http p50", "p99", "max", "cpu/req", "p50/(sql+h)"
    );
    let ms =
        |p: Option<Percentiles>, f: fn(&Percentiles) -> f64| p.as_ref().map_or("-".into(), |p| format!("{:.3}", f(p)));
    for probe in &probes {
        let depth = if probe.depth == 0 {
            "first".into()
        } else {
            probe.depth.to_string()
        };
        if probe.http.is_none() {
            println!("{:<22} {depth:>7}   (fewer rows)", probe.shape);
            continue;
        }
        let ratio = match (probe.http, probe.sql) {
            (Some(h), Some(s)) => format!("{:.2}", h.p50 / (s.p50 + health.p50)),
            _ => "-".into(),
        };
        println!(
            "{:<22} {depth:>7} {:>5} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8.3} {ratio:>11}",
            probe.shape,
            probe.rows,
            ms(probe.sql, |p| p.p50),
            ms(probe.store, |p| p.p50),
            ms(probe.http, |p| p.p50),
            ms(probe.http, |p| p.p99),
            ms(probe.http, |p| p.max),
            probe.cpu.unwrap_or(0.0),
        );
    }
    Ok(())
}

/// The first-page probes of [`SHAPES`] as query strings, each with and without the period.
fn probes() -> Vec<Probe> {
    let (day, (from, to)) = shape_dates();
    let period = format!("from={from}&to={to}");
    let mut probes = Vec::new();
    for (name, key, values, with_period) in SHAPES {
        let queries: Vec<String> = values
            .iter()
            .map(|v| match key {
                "" => String::new(),
                "day" => format!("from={day}&to={day}"),
                key => format!("{key}={}", enc(v)),
            })
            .collect();
        let mut variants = vec![(name.to_owned(), queries.clone())];
        if with_period {
            let joined = queries
                .iter()
                .map(|q| {
                    if q.is_empty() {
                        period.clone()
                    } else {
                        format!("{q}&{period}")
                    }
                })
                .collect();
            variants.push((format!("{name} + period"), joined));
        }
        for (shape, queries) in variants {
            probes.push(Probe::new(&shape, queries, 0, None));
        }
    }
    probes
}

/// The API cursors of the pages `DEPTHS` rows into `query` (`None` past its last row).
async fn cursors_at(server: &Server, query: &str) -> anyhow::Result<Vec<Option<String>>> {
    let mut found = Vec::new();
    let (mut cursor, mut seen): (Option<String>, usize) = (None, 0);
    for depth in DEPTHS {
        while seen < depth {
            let limit = (depth - seen).min(500);
            let mut url = format!("/events?{query}&limit={limit}");
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={}", enc(c)));
            }
            let page = server.get_json(&url).await?;
            seen += page["events"].as_array().map_or(0, Vec::len);
            cursor = page["next_cursor"].as_str().map(str::to_owned);
            if cursor.is_none() {
                break;
            }
        }
        found.push(if seen >= depth { cursor.clone() } else { None });
    }
    Ok(found)
}

fn filter_of(query: &str) -> anyhow::Result<EventFilter> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)?;
    let (filter, _) = EventFilter::from_query(&pairs).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(filter)
}

/// The store position an API cursor carries (in the clear before its signature).
fn position_of(cursor: &str) -> anyhow::Result<String> {
    let (position, _) = cursor.split_once('.').context("a cursor is position.signature")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(position)?;
    Ok(String::from_utf8(bytes)?)
}

/// CPU time process `pid` has used, in ms: the sum over its threads' scheduler statistics
/// (nanoseconds, unlike `/proc/<pid>/stat`'s 10 ms ticks).
fn server_cpu_ms(pid: u32) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<f64>().ok())
        .sum::<f64>()
        / 1e6
}
