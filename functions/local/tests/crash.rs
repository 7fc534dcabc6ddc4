//! `kill -9` in the middle of concurrent ingest, three times over, then a restart: every event
//! that was acknowledged is there, and none is there twice. The real `audit-local` binary, over
//! the embedded store and over DynamoDB (dynalite, from `scripts/test`).

use std::collections::HashSet;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use audit_local::process::{Output, ServerProcess};
use serde_json::{Value, json};

const INGEST: &str = "crash-ingest-token";
const READ: &str = "crash-read-token";

/// The real binary over `dir`, with this test's tokens and `env`.
async fn start(dir: &std::path::Path, env: &[(String, String)]) -> ServerProcess {
    let tokens = format!(
        "svc:ingest:{},admin:read:{}",
        audit_api::hash_token(INGEST),
        audit_api::hash_token(READ)
    );
    let mut env = env.to_vec();
    env.push(("RUST_LOG".into(), "error".into()));
    ServerProcess::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_audit-local")),
        dir,
        &tokens,
        &env,
        Output::Discard,
    )
    .await
    .expect("audit-local starts")
}

/// Sends batches of new events until the server goes away; records what it acknowledged.
async fn ingest_until_gone(base: String, acked: Arc<Mutex<HashSet<String>>>) {
    let client = reqwest::Client::new();
    loop {
        let events: Vec<Value> = (0..20)
            .map(|i| {
                json!({"id": uuid::Uuid::new_v4(), "actor": format!("crash{i}"), "type": "custom.crash",
                       "message": "written while the server may die"})
            })
            .collect();
        let Ok(response) = client
            .post(format!("{base}/events"))
            .bearer_auth(INGEST)
            .json(&json!({ "events": events }))
            .send()
            .await
        else {
            return;
        };
        if !response.status().is_success() {
            continue;
        }
        let Ok(body) = response.json::<Value>().await else {
            return;
        };
        let mut acked = acked.lock().unwrap();
        for result in body["results"].as_array().unwrap() {
            if result["status"] == "created" || result["status"] == "duplicate" {
                acked.insert(result["id"].as_str().unwrap().to_owned());
            }
        }
    }
}

async fn all_ids(base: &str) -> Vec<String> {
    let client = reqwest::Client::new();
    let (mut ids, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let mut url = format!("{base}/events?limit=500&category=custom");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = client
            .get(url)
            .bearer_auth(READ)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.extend(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return ids,
        }
    }
}

async fn crash_three_times(env: Vec<(String, String)>) {
    let dir = tempfile::TempDir::new().unwrap();
    let acked = Arc::new(Mutex::new(HashSet::new()));
    for round in 0..3 {
        let mut server = start(dir.path(), &env).await;
        let clients: Vec<_> = (0..4)
            .map(|_| tokio::spawn(ingest_until_gone(server.base.clone(), acked.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(800 + 300 * round)).await;
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
        for client in clients {
            client.await.unwrap();
        }
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 100,
        "ingest was under way when killed ({} acknowledged)",
        acked.len()
    );
    let mut server = start(dir.path(), &env).await;
    let ids = all_ids(&server.base).await;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let stored: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(stored.len(), ids.len(), "no event is stored twice");
    let lost: Vec<&String> = acked.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events were lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
}

#[tokio::test]
async fn kill_9_during_ingest_loses_nothing_acknowledged_embedded() {
    crash_three_times(Vec::new()).await;
}

#[tokio::test]
async fn kill_9_during_ingest_loses_nothing_acknowledged_dynamodb() {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some(),
        "AWS_ENDPOINT_URL_DYNAMODB is not set: run the tests with scripts/test (it starts the emulators)"
    );
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let env: Vec<(String, String)> = [
        ("AUDIT_STORE", "dynamodb".to_owned()),
        ("AUDIT_EVENTS_TABLE", format!("crash{tag}-events")),
        ("AUDIT_JOBS_TABLE", format!("crash{tag}-jobs")),
        ("AUDIT_EXPORT_BUCKET", format!("crash{}", &tag[..16])),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let init = Command::new(env!("CARGO_BIN_EXE_audit-local"))
        .arg("init")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "error")
        .status()
        .unwrap();
    assert!(init.success(), "audit-local init");
    crash_three_times(env).await;
}
