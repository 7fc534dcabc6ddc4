//! A throttling storm on the DynamoDB path (issue 12): the release `audit-local` over dynalite
//! through the test suite's fault proxy, which throttles each DynamoDB call with probability 1/2
//! for `storm_secs`. Clients send 100-event batches and read pages throughout; the figures are
//! the share of events answered `failed`, the share of reads failing, and the p50/p99 of
//! `POST /events` during and after the storm. Run under `scripts/with-emulators`.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use integration_tests::fault_proxy::{Fault, FaultProxy, Rule};
use serde_json::Value;

use crate::{READ_TOKEN, Server, ingest_batches};

#[derive(Default)]
struct Tally {
    events: u64,
    failed_events: u64,
    post_ms: Vec<f64>,
    reads: u64,
    failed_reads: u64,
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The server `bin` over fresh tables, its DynamoDB calls through a new fault proxy (keep the
/// data folder alive as long as the server).
async fn behind_a_proxy(bin: &Path) -> anyhow::Result<(Server, FaultProxy, tempfile::TempDir)> {
    let cloud = integration_tests::fresh_tables().await;
    let (dynamodb, _) = integration_tests::emulator_endpoints();
    let proxy = FaultProxy::start(&dynamodb).await;
    let dir = tempfile::TempDir::new()?;
    let names = &cloud.layout;
    let env = [
        ("AUDIT_STORE", "dynamodb".to_owned()),
        ("AUDIT_EVENTS_TABLE", names.events_table.clone()),
        ("AUDIT_JOBS_TABLE", names.jobs_table.clone()),
        ("AUDIT_EXPORT_BUCKET", names.bucket.clone()),
        ("AWS_ENDPOINT_URL_DYNAMODB", proxy.url.clone()),
    ];
    let server = Server::start_with(bin, dir.path(), &env).await?;
    Ok((server, proxy, dir))
}

pub async fn run(bin: &Path, storm_secs: u64, writers: usize) -> anyhow::Result<()> {
    let (server, proxy, _dir) = behind_a_proxy(bin).await?;
    let server = Arc::new(server);
    println!(
        "\n== storm: every DynamoDB call throttled with probability 1/2 for {storm_secs} s, {writers} writers of 100-event batches, 1 reader ==",
    );
    for (phase, rules, secs) in [
        (
            "during the storm",
            vec![Rule::any(Fault::Throttle).chance(0.5)],
            storm_secs,
        ),
        ("after the storm", Vec::new(), storm_secs.min(10)),
    ] {
        proxy.set_rules(rules);
        let tally = Arc::new(Mutex::new(Tally::default()));
        let until = Instant::now() + Duration::from_secs(secs);
        let mut tasks = Vec::new();
        for _ in 0..writers {
            let (server, tally) = (server.clone(), tally.clone());
            tasks.push(tokio::spawn(async move {
                while Instant::now() < until {
                    let batch = ingest_batches(100, 100).remove(0);
                    let started = Instant::now();
                    let answer = server.post_events(&batch).await;
                    let ms = started.elapsed().as_secs_f64() * 1000.0;
                    let failed = match answer {
                        Ok(r) => match r.json::<Value>().await {
                            Ok(body) => body["results"]
                                .as_array()
                                .map(|rs| rs.iter().filter(|r| r["status"] == "failed").count() as u64)
                                .unwrap_or(100),
                            Err(_) => 100,
                        },
                        Err(_) => 100,
                    };
                    let mut t = tally.lock().unwrap();
                    t.events += 100;
                    t.failed_events += failed;
                    t.post_ms.push(ms);
                }
            }));
        }
        {
            let (server, tally) = (server.clone(), tally.clone());
            tasks.push(tokio::spawn(async move {
                while Instant::now() < until {
                    let ok = server
                        .client
                        .get(format!("{}/events?limit=50", server.base))
                        .bearer_auth(READ_TOKEN)
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    {
                        let mut t = tally.lock().unwrap();
                        t.reads += 1;
                        t.failed_reads += u64::from(!ok);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }));
        }
        for task in tasks {
            task.await?;
        }
        let mut t = std::mem::take(&mut *tally.lock().unwrap());
        t.post_ms.sort_by(f64::total_cmp);
        println!(
            "{phase:>17}: {} events, {} failed ({:.2} %); {} reads, {} failed ({:.1} %); POST /events (100) p50 {:.0} ms, p99 {:.0} ms",
            t.events,
            t.failed_events,
            100.0 * t.failed_events as f64 / t.events.max(1) as f64,
            t.reads,
            t.failed_reads,
            100.0 * t.failed_reads as f64 / t.reads.max(1) as f64,
            percentile(&t.post_ms, 0.5),
            percentile(&t.post_ms, 0.99),
        );
    }
    println!(
        "faults injected: {}; calls forwarded: {}",
        proxy.injected(),
        proxy.forwarded()
    );
    Ok(())
}

/// One 500-event batch while half the DynamoDB writes take 2.5 s: its answer time and status, and
/// how many of its events were stored.
pub async fn slow_batch(bin: &Path) -> anyhow::Result<()> {
    let (server, proxy, _dir) = behind_a_proxy(bin).await?;
    println!("\n== a 500-event batch while half the PutItems take 2.5 s ==");
    proxy.set_rules(vec![
        Rule::dynamodb("PutItem", Fault::Delay(Duration::from_millis(2500))).chance(0.5),
    ]);
    let batch = ingest_batches(500, 500).remove(0);
    let started = Instant::now();
    let answer = server.post_events(&batch).await?;
    let took = started.elapsed().as_secs_f64();
    let status = answer.status();
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    let count = |s: &str| {
        body["results"]
            .as_array()
            .map(|rs| rs.iter().filter(|r| r["status"] == s).count())
            .unwrap_or(0)
    };
    println!(
        "answered {status} after {took:.1} s: {} created, {} failed (per-event results: {})",
        count("created"),
        count("failed"),
        body["results"].is_array()
    );
    Ok(())
}
