//! The real server seals on its schedule: with `AUDIT_SEAL_INTERVAL_SECS=1`, events sent over HTTP
//! are archived and sealed within seconds, and `audit-local verify` (the binary, as an operator
//! runs it) exits 0 over the result, then 1 naming the event once one is changed behind the API.

use std::process::Command;
use std::time::Duration;

use audit_local::process::{Output, ServerProcess};
use serde_json::json;

const INGEST: &str = "ingest-secret-5e1a";
const READ: &str = "read-secret-9c2b";

fn bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_audit-local"))
}

/// Events sealed so far, from the digests in the data folder.
fn sealed_events(data: &std::path::Path) -> u64 {
    let Ok(days) = std::fs::read_dir(data.join("digests")) else {
        return 0;
    };
    let mut total = 0;
    for day in days {
        for digest in std::fs::read_dir(day.unwrap().path()).unwrap() {
            let bytes = std::fs::read(digest.unwrap().path()).unwrap();
            let digest: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            total += digest["events"].as_u64().unwrap();
        }
    }
    total
}

#[tokio::test]
async fn the_server_seals_every_interval_and_verify_names_a_change_behind_the_api() {
    let dir = tempfile::TempDir::new().unwrap();
    let tokens = format!(
        "svc:ingest:{},admin:read:{}",
        audit_api::hash_token(INGEST),
        audit_api::hash_token(READ)
    );
    let mut server = ServerProcess::start(
        bin(),
        dir.path(),
        &tokens,
        &[("AUDIT_SEAL_INTERVAL_SECS".into(), "1".into())],
        Output::Discard,
    )
    .await
    .unwrap();
    let events: Vec<_> = (0..20)
        .map(|n| json!({"actor": "anna", "type": "custom.deploy", "message": format!("Deployed {n}")}))
        .collect();
    let response = reqwest::Client::new()
        .post(format!("{}/events", server.base))
        .bearer_auth(INGEST)
        .json(&json!({ "events": events }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let mut sealed = 0;
    for _ in 0..300 {
        sealed = sealed_events(dir.path());
        if sealed >= 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sealed, 20, "every event sealed within 15 s");
    server.stop();

    let verify = || {
        Command::new(bin())
            .args(["verify", "--seal-interval-secs", "1", "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let ok = verify();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stdout));

    let conn = rusqlite::Connection::open(dir.path().join("audit.db")).unwrap();
    conn.execute_batch("DROP TRIGGER events_no_update; UPDATE events SET message = 'Deployed nothing' WHERE seq = 3;")
        .unwrap();
    let id: Vec<u8> = conn
        .query_row("SELECT id FROM events WHERE seq = 3", [], |r| r.get(0))
        .unwrap();
    drop(conn);
    let failed = verify();
    let report = String::from_utf8_lossy(&failed.stdout);
    assert_eq!(failed.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&uuid::Uuid::from_slice(&id).unwrap().to_string()),
        "{report}"
    );
}
