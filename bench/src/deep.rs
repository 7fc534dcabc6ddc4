//! Deep pages (issue 13): for each query shape, with and without a period, the p50 of the first
//! page (limit 50) and of the page `depth` rows deep (reached by following cursors), on a seeded
//! data folder. A deep page should cost about what the first one does.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{READ_TOKEN, Server, enc, export, seed_to};

const SAMPLES: usize = 30;

/// The median time of `SAMPLES` GETs of `url`.
async fn p50(server: &Server, url: &str) -> anyhow::Result<Duration> {
    let mut times = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let response = server.client.get(url).bearer_auth(READ_TOKEN).send().await?;
        anyhow::ensure!(response.status().is_success(), "{url}: {}", response.status());
        response.bytes().await?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok(times[SAMPLES / 2])
}

/// The cursor of the page that starts `depth` rows into `query` (fewer if it has fewer rows).
async fn cursor_at(server: &Server, query: &str, depth: usize) -> anyhow::Result<(Option<String>, usize)> {
    let (mut cursor, mut seen): (Option<String>, usize) = (None, 0);
    while seen < depth {
        let limit = (depth - seen).min(500);
        let mut url = format!("{}/events?{query}&limit={limit}", server.base);
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={}", enc(c)));
        }
        let page: Value = server
            .client
            .get(&url)
            .bearer_auth(READ_TOKEN)
            .send()
            .await?
            .json()
            .await?;
        seen += page["events"].as_array().map_or(0, Vec::len);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok((None, seen)),
        }
    }
    Ok((cursor, seen))
}

pub async fn run(bin: &Path, events: usize, data_dir: &Path, depth: usize) -> anyhow::Result<()> {
    let total = seed_to(data_dir, events).await?;
    let server = Server::start(bin, data_dir).await?;
    let period = format!(
        "from={}&to={}",
        (chrono::Utc::now() - chrono::Duration::days(31)).format("%Y-%m-%d"),
        chrono::Utc::now().format("%Y-%m-%d")
    );
    println!(
        "\n== deep pages: p50 of {SAMPLES} GETs of a 50-event page, first and {depth} rows deep ({total} events) =="
    );
    println!("{:<28} {:>10} {:>12} {:>8}", "shape", "first ms", "deep ms", "deep at");
    for (name, query) in [
        ("no filter", String::from("order=desc")),
        ("period", period.clone()),
        ("actor=system", String::from("actor=system")),
        ("actor=system + period", format!("actor=system&{period}")),
        ("category=auth", String::from("category=auth")),
        ("category=auth + period", format!("category=auth&{period}")),
    ] {
        let first = p50(&server, &format!("{}/events?{query}&limit=50", server.base)).await?;
        let (cursor, reached) = cursor_at(&server, &query, depth).await?;
        let deep = match &cursor {
            Some(c) => Some(
                p50(
                    &server,
                    &format!("{}/events?{query}&limit=50&cursor={}", server.base, enc(c)),
                )
                .await?,
            ),
            None => None,
        };
        println!(
            "{name:<28} {:>10.2} {:>12} {:>8}",
            first.as_secs_f64() * 1000.0,
            deep.map_or("-".into(), |d| format!("{:.2}", d.as_secs_f64() * 1000.0)),
            reached
        );
    }
    println!("\n== a whole-period export beside the unfiltered one ==");
    // No `bom` option: the bench also measures versions that did not have it.
    export(&server, "unfiltered", &serde_json::json!({})).await?;
    let (from, to) = period.split_once('&').expect("from and to");
    let body = serde_json::json!({
        "from": from.trim_start_matches("from="),
        "to": to.trim_start_matches("to="),
    });
    export(&server, "31-day period", &body).await?;
    Ok(())
}
