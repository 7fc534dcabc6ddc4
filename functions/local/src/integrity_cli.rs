//! The integrity commands of `audit-local`: seal, verify, proof, verify-proof.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use audit_integrity::verify::{NoStore, Range, Report};
use audit_integrity::{Proof, PublicKey};
use audit_store_sqlite::{FolderArchive, Sealer, SqliteStore};

/// The data folder's sealer (opening its store and key).
pub fn sealer(data_dir: &Path) -> anyhow::Result<Sealer> {
    let store = SqliteStore::open(data_dir).with_context(|| format!("opening the store in {}", data_dir.display()))?;
    let key = audit_local::secrets::integrity_key(data_dir)?;
    Ok(Sealer::new(store, data_dir, Arc::new(key)))
}

pub fn instant(text: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    event_model::time::parse_instant(text)
        .or_else(|| chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| t.to_utc()))
        .with_context(|| format!("{text} is not an RFC 3339 instant"))
}

pub fn public_key(path: &Path) -> anyhow::Result<PublicKey> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let key = match std::str::from_utf8(&bytes) {
        Ok(text) if text.contains("-----BEGIN") => PublicKey::from_pem(text),
        _ => PublicKey::from_der(&bytes),
    };
    key.with_context(|| format!("{} is not a public key (PEM or DER)", path.display()))
}

/// `verify`: over the data folder's store (and kept as the newest check), or `offline` over its
/// archive alone with a key file.
pub async fn verify(
    data_dir: &Path,
    range: Range,
    offline: Option<&Path>,
    seal_interval: std::time::Duration,
) -> anyhow::Result<Report> {
    if let Some(key) = offline {
        let key = public_key(key)?;
        let archive = FolderArchive::new(data_dir);
        return Ok(audit_integrity::verify::verify(&archive, &key, range, None, &mut NoStore).await?);
    }
    let sealer = sealer(data_dir)?;
    let report = audit_local::integrity::check(&sealer, range, seal_interval).await;
    let store = sealer.store().clone();
    drop(sealer);
    store.close().await;
    report
}

pub fn print_report(report: &Report, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(report).expect("a report is JSON"));
        return;
    }
    let through = report.sealed_through.map_or("nothing sealed yet".to_owned(), |t| {
        format!("sealed through {}", event_model::time::format(&t))
    });
    println!(
        "{} digests, {} archive files, {} events checked; {through}; key {}",
        report.digests, report.files, report.events, report.key_fingerprint
    );
    for note in &report.notes {
        println!("note: {note}");
    }
    if report.holds() {
        println!("OK: the archive, its digests and the store agree");
    } else {
        println!("{} problems:", report.problems.len());
        for problem in &report.problems {
            println!("  - {problem}");
        }
    }
}

/// `verify-proof`: exit 0 and say what the proof shows, or say why it does not hold.
pub fn verify_proof(proof: &Path, key: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(proof).with_context(|| format!("reading {}", proof.display()))?;
    let proof: Proof = serde_json::from_str(&text).with_context(|| format!("{} is not a proof", proof.display()))?;
    match proof.check(&public_key(key)?) {
        Ok(proven) => {
            println!(
                "OK: event {} was in the log by {} (digest {}, key {})",
                proven.id,
                event_model::time::format(&proven.sealed_by),
                proven.digest_path,
                proven.key_fingerprint
            );
            Ok(())
        }
        Err(e) => {
            println!("the proof does not hold: {e}");
            std::process::exit(1);
        }
    }
}
