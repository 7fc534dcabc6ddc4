//! Tokens never reach the logs: the real `audit-local` binary, logging at `trace`, is driven with
//! valid, wrong-role and unknown tokens, and its whole log output is searched for them.

use std::io::Read;

use audit_local::process::{Output, ServerProcess};

const INGEST: &str = "ingest-secret-7f3a9c";
const READ: &str = "read-secret-b41d2e";
const UNKNOWN: &str = "unknown-secret-90ce11";

#[tokio::test]
async fn tokens_never_appear_in_the_logs() {
    let dir = tempfile::TempDir::new().unwrap();
    let tokens = format!(
        "svc:ingest:{},admin:read:{}",
        audit_api::hash_token(INGEST),
        audit_api::hash_token(READ)
    );
    let mut server = ServerProcess::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_audit-local")),
        dir.path(),
        &tokens,
        &[("RUST_LOG".into(), "trace".into())],
        Output::Piped,
    )
    .await
    .expect("audit-local starts");
    // Drain both pipes while the server runs, so a full pipe never blocks its logging.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stderr = drain(Box::new(server.child.stderr.take().unwrap()));
    let stdout = drain(Box::new(server.child.stdout.take().unwrap()));
    let base = server.base.clone();
    let client = reqwest::Client::new();

    let event = serde_json::json!({"actor": "alice", "type": "auth.logged_in"});
    for token in [INGEST, READ, UNKNOWN] {
        client
            .post(format!("{base}/events"))
            .bearer_auth(token)
            .json(&event)
            .send()
            .await
            .unwrap();
        client
            .get(format!("{base}/events?q=alice"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        client
            .post(format!("{base}/exports"))
            .bearer_auth(token)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        client
            .get(format!("{base}/events"))
            .header("authorization", format!("Token {token}"))
            .send()
            .await
            .unwrap();
    }

    // SIGTERM, so the server drains and flushes its logs.
    server.stop();
    let logs = stderr.join().unwrap() + &stdout.join().unwrap();
    assert!(logs.contains("audit-local is serving"), "the logs were captured");
    for token in [INGEST, READ, UNKNOWN] {
        assert!(!logs.contains(token), "a token appears in the logs");
        assert!(
            !logs.contains(&audit_api::hash_token(token)),
            "a token's hash appears in the logs"
        );
    }
}
