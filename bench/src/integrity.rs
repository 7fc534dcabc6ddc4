//! The integrity archive's costs (issue 15).
//!
//! - `integrity`: local ingest of `events` with archiving and sealing on (a seal every 10 s) and
//!   off, alternating, in one run: the ratio and the archive's bytes per event; `verify` over
//!   the 1M-event folder and over a 100k one (events/s, peak RSS: flat in size?), online and
//!   offline; the proof of one event in a period of 100,000 events (size, `verify-proof` time).
//! - `archiver` (under `scripts/with-emulators`): the archiver function under a local Runtime API
//!   archiving stream batches of 1,000 records into s3s-fs (events/s per invocation), then
//!   sealing them with moto's KMS.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{Server, ingest_batches, post_batches, proc_status_kib};

/// One part of the benchmark alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Only {
    /// The ingest rounds.
    Ingest,
    /// `verify`, over the folders an earlier run left in the work folder.
    Verify,
}

/// Runs `audit-local ARGS` to its end; (wall seconds, peak RSS KiB, stdout).
async fn timed_command(bin: &Path, args: &[&str]) -> anyhow::Result<(f64, u64, String)> {
    let started = Instant::now();
    let mut child = tokio::process::Command::new(bin)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let pid = child.id().expect("a running child");
    let mut peak = 0;
    let mut stdout = child.stdout.take().expect("piped");
    let reader = tokio::spawn(async move {
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stdout, &mut text)
            .await
            .map(|_| text)
    });
    loop {
        peak = peak.max(proc_status_kib(pid, "VmHWM:"));
        if child.try_wait()?.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((started.elapsed().as_secs_f64(), peak, reader.await??))
}

/// Bytes and files under `dir` (recursively).
fn tree_size(dir: &Path) -> (u64, u64) {
    let mut total = (0, 0);
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                let (b, f) = tree_size(&path);
                total = (total.0 + b, total.1 + f);
            } else if !entry.file_name().to_string_lossy().starts_with('.') {
                total = (total.0 + entry.metadata().map(|m| m.len()).unwrap_or(0), total.1 + 1);
            }
        }
    }
    total
}

/// Ingests `events` over HTTP into a new folder, archiving (sealing every 10 s) or not; the
/// folder is kept in `keep` when given. Returns events/s.
async fn ingest_run(
    bin: &Path,
    events: usize,
    archive: bool,
    seal_every: u64,
    keep: Option<&Path>,
) -> anyhow::Result<f64> {
    let temporary = tempfile::TempDir::new()?;
    let dir = keep.unwrap_or(temporary.path());
    let batches = ingest_batches(events, 100);
    let server = Server::start_with(
        bin,
        dir,
        &[
            ("AUDIT_ARCHIVE", archive.to_string()),
            ("AUDIT_SEAL_INTERVAL_SECS", seal_every.to_string()),
        ],
    )
    .await?;
    let (secs, accepted) = post_batches(&server, &batches, 2).await?;
    drop(server);
    anyhow::ensure!(accepted as usize == events, "only {accepted} of {events} accepted");
    Ok(events as f64 / secs)
}

/// `verify` over the 100k and 1M folders in `work` (the median of three runs each), and offline
/// over the 1M one.
async fn verify_runs(bin: &Path, work: &Path, events: usize) -> anyhow::Result<()> {
    let big = work.join("sealed-1m");
    let small = work.join("sealed-100k");
    let key = work.join("integrity-public.pem");
    let (_, _, pem) = timed_command(bin, &["public-key", "--data-dir", big.to_str().expect("UTF-8")]).await?;
    std::fs::write(&key, pem)?;
    let median = |args: Vec<String>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut runs = Vec::new();
        for _ in 0..3 {
            let (secs, rss, out) = timed_command(bin, &args).await?;
            anyhow::ensure!(out.contains("OK:"), "verify found problems: {out}");
            runs.push((secs, rss));
        }
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        anyhow::Ok(runs[1])
    };
    for (dir, n) in [(&small, events / 10), (&big, events)] {
        let d = dir.to_str().expect("UTF-8").to_owned();
        let (secs, rss) = median(vec!["verify".into(), "--data-dir".into(), d.clone()]).await?;
        println!(
            "verify, {n} events, store both ways: {secs:.2} s = {:.0} events/s, peak RSS {} MiB (median of 3)",
            n as f64 / secs,
            rss / 1024
        );
        if n == events {
            let offline = vec![
                "verify".into(),
                "--data-dir".into(),
                d,
                "--offline".into(),
                key.to_str().expect("UTF-8").into(),
            ];
            let (secs, rss) = median(offline).await?;
            println!(
                "verify, {n} events, offline (archive and digests only): {secs:.2} s = {:.0} events/s, peak RSS {} MiB (median of 3)",
                n as f64 / secs,
                rss / 1024
            );
        }
    }
    Ok(())
}

pub async fn run(bin: &Path, events: usize, work: &Path, seal_every: u64, only: Option<Only>) -> anyhow::Result<()> {
    if only == Some(Only::Verify) {
        println!("\n== verify (the folders an earlier run left in {}) ==", work.display());
        return verify_runs(bin, work, events).await;
    }
    println!(
        "\n== integrity: local ingest of {events} events, archiving and sealing (every {seal_every} s, archiving every {} s) on vs off ==",
        seal_every.min(60)
    );
    let big = work.join("sealed-1m");
    let _ = std::fs::remove_dir_all(&big);
    let mut rates = Vec::new();
    for (round, archive) in [(1, false), (1, true), (2, false), (2, true)] {
        let keep = (archive && round == 2).then_some(big.as_path());
        let rate = ingest_run(bin, events, archive, seal_every, keep).await?;
        println!(
            "round {round}, archiving {}: {rate:.0} events/s",
            if archive { "on " } else { "off" }
        );
        rates.push((archive, rate));
    }
    let mean = |on: bool| {
        let r: Vec<f64> = rates.iter().filter(|(a, _)| *a == on).map(|(_, r)| *r).collect();
        r.iter().sum::<f64>() / r.len() as f64
    };
    println!("on / off = {:.2} (mean of 2 rounds each)", mean(true) / mean(false));
    if only == Some(Only::Ingest) {
        return Ok(());
    }
    let data_dir = big.to_str().expect("a UTF-8 path");
    let (seal_secs, _, sealed) = timed_command(bin, &["seal", "--data-dir", data_dir]).await?;
    print!("final seal ({seal_secs:.2} s): {sealed}");
    let (bytes, files) = tree_size(&big.join("archive"));
    let (digest_bytes, digests) = tree_size(&big.join("digests"));
    println!(
        "archive: {files} files, {bytes} bytes = {:.1} bytes/event; {digests} digests, {digest_bytes} bytes",
        bytes as f64 / events as f64
    );

    println!("\n== verify ==");
    let small = work.join("sealed-100k");
    let _ = std::fs::remove_dir_all(&small);
    ingest_run(bin, events / 10, true, seal_every, Some(&small)).await?;
    timed_command(bin, &["seal", "--data-dir", small.to_str().expect("UTF-8")]).await?;
    verify_runs(bin, work, events).await?;

    println!("\n== proof of one event in a period of {} events ==", events / 10);
    let period = work.join("one-period");
    let _ = std::fs::remove_dir_all(&period);
    let proved_id = {
        let batches = ingest_batches(events / 10, 100);
        let id = batches[batches.len() / 2][37]["id"].as_str().expect("an id").to_owned();
        let server = Server::start_with(bin, &period, &[("AUDIT_SEAL_INTERVAL_SECS", "86400".to_owned())]).await?;
        post_batches(&server, &batches, 2).await?;
        drop(server);
        id
    };
    let p = period.to_str().expect("UTF-8");
    let (_, _, sealed) = timed_command(bin, &["seal", "--data-dir", p]).await?;
    print!("{sealed}");
    let (build, _, proof) = timed_command(bin, &["proof", &proved_id, "--data-dir", p]).await?;
    let proof_file = work.join("proof.json");
    std::fs::write(&proof_file, &proof)?;
    let parsed: Value = serde_json::from_str(&proof)?;
    let (_, _, pem) = timed_command(bin, &["public-key", "--data-dir", p]).await?;
    let key = work.join("integrity-public.pem");
    std::fs::write(&key, pem)?;
    let mut runs = Vec::new();
    for _ in 0..20 {
        let (secs, _, out) = timed_command(
            bin,
            &[
                "verify-proof",
                proof_file.to_str().expect("UTF-8"),
                "--public-key",
                key.to_str().expect("UTF-8"),
            ],
        )
        .await?;
        anyhow::ensure!(out.starts_with("OK"), "the proof does not hold: {out}");
        runs.push(secs);
    }
    runs.sort_by(f64::total_cmp);
    let typed: audit_integrity::Proof = serde_json::from_value(parsed.clone())?;
    let public = audit_integrity::PublicKey::from_pem(&std::fs::read_to_string(&key)?)?;
    let checks = 10_000;
    let started = Instant::now();
    for _ in 0..checks {
        typed.check(&public).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let check_us = started.elapsed().as_secs_f64() * 1e6 / checks as f64;
    println!(
        "proof: {} bytes pretty ({} compact), audit path of {} hashes, tree of {} events; built by `audit-local proof` in {build:.2} s",
        proof.len(),
        serde_json::to_vec(&parsed)?.len(),
        parsed["audit_path"].as_array().map_or(0, Vec::len),
        parsed["tree_size"]
    );
    println!(
        "verify-proof: {:.1} ms median per run of the command (process start included); the check itself {check_us:.1} µs",
        runs[runs.len() / 2] * 1e3
    );
    Ok(())
}

/// A stream record of the events table (`INSERT`), for an item the store wrote.
fn insert_record(n: usize, item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>) -> Value {
    let id = item["id"].as_s().expect("an id").clone();
    json!({"eventID": format!("e{n}"), "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
           "awsRegion": "us-east-1", "dynamodb": {"ApproximateCreationDateTime": chrono::Utc::now().timestamp(),
           "Keys": {"id": {"S": id}}, "NewImage": serde_json::to_value(serde_dynamo::Item::from(item.clone())).expect("JSON"),
           "SequenceNumber": format!("{n:021}"), "SizeBytes": 600, "StreamViewType": "NEW_AND_OLD_IMAGES"}})
}

pub async fn archiver(bin_dir: &Path, events: usize) -> anyhow::Result<()> {
    use audit_storage::EventStore;
    println!("\n== archiver: {events} events as stream batches of 1,000 records, into s3s-fs ==");
    let cloud = integration_tests::fresh_tables().await;
    let mut env = integration_tests::lambda_env(&cloud).await;
    env.extend([
        ("AUDIT_SEAL_INTERVAL_SECS".to_owned(), "1".to_owned()),
        ("AUDIT_SEAL_GRACE_SECS".to_owned(), "1".to_owned()),
    ]);
    let store = integration_tests::dynamo_store(&cloud).await;
    for batch in ingest_batches(events, 100) {
        let now = chrono::Utc::now();
        let rows = batch
            .iter()
            .map(|e| event_model::NewEvent::parse(e, "", now, "bench").expect("valid"))
            .collect();
        store.append(rows).await;
    }
    let sdk = audit_store_dynamodb::sdk_config().await;
    let mut items = Vec::new();
    let mut pages = audit_store_dynamodb::dynamodb_client(&sdk)
        .scan()
        .table_name(&cloud.layout.events_table)
        .into_paginator()
        .items()
        .send();
    while let Some(item) = pages.next().await {
        items.push(item?);
    }
    let records: Vec<Value> = items.iter().enumerate().map(|(n, i)| insert_record(n + 1, i)).collect();
    let host = integration_tests::runtime_api::LambdaHost::start(&bin_dir.join("archiver"), &env).await;
    host.ready().await;
    let mut times = Vec::new();
    for chunk in records.chunks(1000) {
        let started = Instant::now();
        match host.invoke(json!({"Records": chunk})).await {
            integration_tests::runtime_api::Outcome::Response(r) if r["batchItemFailures"] == json!([]) => {}
            other => anyhow::bail!("the batch failed: {other:?}"),
        }
        times.push((chunk.len(), started.elapsed().as_secs_f64()));
    }
    let total: f64 = times.iter().map(|(_, t)| t).sum();
    let mut per: Vec<f64> = times.iter().map(|(n, t)| *n as f64 / t).collect();
    per.sort_by(f64::total_cmp);
    println!(
        "{} records in {} invocations, {total:.2} s: {:.0} events/s overall, median {:.0} events/s per invocation (median {:.0} ms for 1,000)",
        records.len(),
        times.len(),
        records.len() as f64 / total,
        per[per.len() / 2],
        1000.0 / per[per.len() / 2] * 1e3
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let started = Instant::now();
    let answer = match host.invoke(json!({"action": "seal"})).await {
        integration_tests::runtime_api::Outcome::Response(r) => r,
        other => anyhow::bail!("the seal failed: {other:?}"),
    };
    println!(
        "seal: {} digests in {:.2} s (reads back every file of the periods, signs with KMS)",
        answer["sealed"].as_array().map_or(0, Vec::len),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
