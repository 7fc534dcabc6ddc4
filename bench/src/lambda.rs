//! The Lambda functions under a local Runtime API (`integration_tests::runtime_api`), against the
//! emulators: cold start (process start → runtime ready for its first event, and the first
//! invocation), and warm handler time for a 100-event ingest and a 50-event query page.

use std::path::Path;
use std::time::{Duration, Instant};

use integration_tests::runtime_api::{LambdaHost, Outcome};
use integration_tests::{INGEST_TOKEN, READ_TOKEN};
use serde_json::{Value, json};

use crate::ingest_batches;

/// An API Gateway HTTP API (v2) event, as the fixtures of `tests/fixtures/lambda` have it.
fn apigw(method: &str, path: &str, query: &str, token: &str, body: Option<String>) -> Value {
    let mut headers = json!({
        "authorization": format!("Bearer {token}"),
        "host": "abc123def4.execute-api.us-east-1.amazonaws.com",
        "x-forwarded-proto": "https",
    });
    if body.is_some() {
        headers["content-type"] = json!("application/json");
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123def4", "stage": "$default",
            "domainName": "abc123def4.execute-api.us-east-1.amazonaws.com",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "bench"},
            "requestId": "bench", "routeKey": format!("{method} {path}"), "time": "27/Nov/2026:10:15:30 +0000", "timeEpoch": 0
        },
        "isBase64Encoded": false
    });
    if let Some(body) = body {
        event["body"] = json!(body);
    }
    event
}

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e3
}

async fn timed(host: &LambdaHost, event: Value, want: u64) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let outcome = host.invoke(event).await;
    let elapsed = started.elapsed();
    match outcome {
        Outcome::Response(r) if r["statusCode"] == want => Ok(elapsed),
        other => anyhow::bail!("unexpected answer: {other:?}"),
    }
}

pub async fn run(bin_dir: &Path, starts: usize, samples: usize) -> anyhow::Result<()> {
    let cloud = integration_tests::fresh_tables().await;
    let env = integration_tests::lambda_env(&cloud).await;
    println!(
        "\n== Lambda functions from {} under a local Runtime API ==",
        bin_dir.display()
    );
    println!(
        "{:<8} {:>10} {:>22} {:>24}",
        "function", "size KiB", "ready after start ms", "first invocation ms"
    );
    let batches = ingest_batches(100 * (samples + starts + 5), 100);
    let mut next_batch = batches.iter();
    for name in ["ingest", "query", "export"] {
        let binary = bin_dir.join(name);
        let size = std::fs::metadata(&binary)?.len() / 1024;
        let (mut ready, mut first) = (Vec::new(), Vec::new());
        for _ in 0..starts {
            let host = LambdaHost::start(&binary, &env).await;
            ready.push(host.ready().await);
            let event = match name {
                "ingest" => apigw(
                    "POST",
                    "/events",
                    "",
                    INGEST_TOKEN,
                    Some(json!({"events": next_batch.next().expect("batch")}).to_string()),
                ),
                "query" => apigw("GET", "/events", "limit=50", READ_TOKEN, None),
                _ => apigw(
                    "GET",
                    &format!("/exports/{}", uuid::Uuid::new_v4()),
                    "",
                    READ_TOKEN,
                    None,
                ),
            };
            let want = if name == "export" { 404 } else { 200 };
            first.push(timed(&host, event, want).await?);
        }
        println!("{name:<8} {size:>10} {:>22.1} {:>24.1}", median(ready), median(first));
    }

    let ingest = LambdaHost::start(&bin_dir.join("ingest"), &env).await;
    let query = LambdaHost::start(&bin_dir.join("query"), &env).await;
    let mut ingest_times = Vec::new();
    for batch in next_batch.take(samples) {
        let body = json!({ "events": batch }).to_string();
        ingest_times.push(timed(&ingest, apigw("POST", "/events", "", INGEST_TOKEN, Some(body)), 200).await?);
    }
    let mut query_times = Vec::new();
    for _ in 0..samples {
        query_times.push(timed(&query, apigw("GET", "/events", "limit=50", READ_TOKEN, None), 200).await?);
    }
    println!(
        "warm, median of {samples}: ingest of 100 events {:.1} ms; query page of 50 events {:.1} ms (dynalite)",
        median(ingest_times),
        median(query_times)
    );
    Ok(())
}
