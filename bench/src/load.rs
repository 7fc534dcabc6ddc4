//! Load over loopback against the local server (embedded store): many clients mixing ingest
//! batches, queries and exports for a fixed time. Reports throughput and latency per route, every
//! status seen, and compares the acknowledged events with the stored ones at the end.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::{Value, json};

use crate::{INGEST_TOKEN, Server, enc};

const READERS: usize = 10;

#[derive(Default)]
struct Route {
    latencies: Vec<Duration>,
    statuses: BTreeMap<u16, u64>,
}

#[derive(Default)]
struct Tally {
    routes: BTreeMap<&'static str, Route>,
    acked: HashSet<String>,
}

pub async fn run(bin: &Path, clients: usize, secs: u64) -> anyhow::Result<()> {
    let dir = tempfile::TempDir::new()?;
    let mut tokens = vec![format!("svc:ingest:{}", audit_api::hash_token(INGEST_TOKEN))];
    for r in 0..READERS {
        tokens.push(format!(
            "reader{r}:read:{}",
            audit_api::hash_token(&format!("load-read-{r}"))
        ));
    }
    let server = Server::start_with(bin, dir.path(), &[("AUDIT_TOKENS", tokens.join(","))]).await?;
    println!("\n== load: {clients} clients for {secs} s over loopback (embedded store) ==");
    let tally = Arc::new(Mutex::new(Tally::default()));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (tally, base) = (tally.clone(), server.base.clone());
        tasks.push(tokio::spawn(async move { client(c, base, deadline, tally).await }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();

    let tally = Arc::try_unwrap(tally)
        .map_err(|_| anyhow::anyhow!("tally shared"))?
        .into_inner()
        .unwrap();
    println!(
        "{:<22} {:>9} {:>8} {:>8} {:>8}  statuses",
        "route", "requests", "per s", "p50 ms", "p99 ms"
    );
    let mut server_errors = 0;
    for (name, route) in &tally.routes {
        let mut l = route.latencies.clone();
        l.sort();
        let pct = |p: f64| l[((l.len() as f64 * p) as usize).min(l.len() - 1)].as_secs_f64() * 1e3;
        server_errors += route
            .statuses
            .iter()
            .filter(|(s, _)| **s >= 500)
            .map(|(_, n)| n)
            .sum::<u64>();
        println!(
            "{name:<22} {:>9} {:>8.0} {:>8.1} {:>8.1}  {:?}",
            l.len(),
            l.len() as f64 / elapsed,
            pct(0.5),
            pct(0.99),
            route.statuses
        );
    }
    // Every acknowledged event is stored, and none twice.
    let client = reqwest::Client::new();
    let (mut stored, mut listed, mut cursor) = (HashSet::new(), 0usize, None::<String>);
    loop {
        let mut url = format!("{}/events?limit=500&category=custom", server.base);
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={}", enc(c)));
        }
        let page: Value = client.get(url).bearer_auth("load-read-0").send().await?.json().await?;
        for e in page["events"].as_array().into_iter().flatten() {
            listed += 1;
            stored.insert(e["id"].as_str().unwrap_or_default().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let lost = tally.acked.difference(&stored).count();
    println!(
        "acknowledged {} events; stored {} ({} listed): {lost} lost, {} duplicated; {server_errors} responses 5xx",
        tally.acked.len(),
        stored.len(),
        listed,
        listed - stored.len()
    );
    if lost > 0 || listed != stored.len() || server_errors > 0 {
        bail!("the load run lost, duplicated or failed requests");
    }
    Ok(())
}

async fn client(c: usize, base: String, deadline: Instant, tally: Arc<Mutex<Tally>>) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let reader = format!("load-read-{}", c % READERS);
    let mut i = 0usize;
    while Instant::now() < deadline {
        i += 1;
        let (name, request) = match (c + i) % 10 {
            0..=5 => {
                let events: Vec<Value> = (0..20)
                    .map(|k| {
                        json!({"id": uuid::Uuid::new_v4(), "actor": format!("user{}", (c + k) % 30),
                               "type": "custom.load", "message": format!("load event {k} of client {c}")})
                    })
                    .collect();
                (
                    "POST /events (20)",
                    http.post(format!("{base}/events"))
                        .bearer_auth(INGEST_TOKEN)
                        .json(&json!({ "events": events })),
                )
            }
            6 => (
                "GET /events",
                http.get(format!("{base}/events?limit=50")).bearer_auth(&reader),
            ),
            7 => (
                "GET /events?actor",
                http.get(format!("{base}/events?limit=50&actor=user{}", i % 30))
                    .bearer_auth(&reader),
            ),
            8 => (
                "GET /events?q",
                http.get(format!("{base}/events?limit=50&q=client%20{}", i % 50))
                    .bearer_auth(&reader),
            ),
            _ => (
                "POST /exports",
                http.post(format!("{base}/exports"))
                    .bearer_auth(&reader)
                    .json(&json!({"actor": format!("user{}", i % 30)})),
            ),
        };
        let started = Instant::now();
        let response = request.send().await?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let elapsed = started.elapsed();
        let mut t = tally.lock().unwrap();
        let route = t.routes.entry(name).or_default();
        route.latencies.push(elapsed);
        *route.statuses.entry(status).or_default() += 1;
        if name.starts_with("POST /events") && status == 200 {
            for r in body["results"].as_array().into_iter().flatten() {
                if r["status"] == "created" || r["status"] == "duplicate" {
                    t.acked.insert(r["id"].as_str().unwrap_or_default().to_owned());
                }
            }
        }
    }
    Ok(())
}
