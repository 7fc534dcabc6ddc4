//! The hostile-input suite: every case in `tests/fixtures/hostile/*.json` is sent as it is, and
//! must get its documented status with a problem+json body that names the problem and leaks no
//! internals; nothing is stored, and the server keeps serving.
//!
//! A case: `name`, `method`, `path`, optional `body` (text) or `body_hex` (bytes),
//! `content_type` (default `application/json` with a body; empty for none), `token` (`ingest`
//! for POST /events, `read` otherwise by default; `none`; or `header:<Authorization value>`),
//! `expect` (a status) or `expect_any` (statuses), `mentions` (text the problem must contain),
//! `events_len` (for a 200 listing). Macros in path and body: `{{repeat:TEXT:N}}`,
//! `{{FUTURE}}` (6 minutes ahead), `{{CURSOR}}` (a real cursor of `actor=seed&limit=1`),
//! `{{CURSOR_TAMPERED}}`, `{{CURSOR_TRUNCATED}}`, `{{UNKNOWN_ID}}`.

use crate::harness::{INGEST_TOKEN, READ_TOKEN, custom, spawn_app, urlencode};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use uuid::Uuid;

/// Words that would mean an internal error reached a client.
const INTERNALS: [&str; 9] = [
    "rusqlite",
    "sqlite",
    "SdkError",
    "dynamodb",
    "panicked",
    "backtrace",
    "/src/",
    ".rs:",
    "thread '",
];

fn expand(text: &str, vars: &[(&str, String)]) -> String {
    let mut out = text.to_owned();
    for (name, value) in vars {
        out = out.replace(&format!("{{{{{name}}}}}"), value);
    }
    while let Some(start) = out.find("{{repeat:") {
        let rest = &out[start + 9..];
        let end = (0..rest.len())
            .find(|&i| {
                rest[i..].starts_with(':') && {
                    let digits: String = rest[i + 1..].chars().take_while(char::is_ascii_digit).collect();
                    !digits.is_empty() && rest[i + 1 + digits.len()..].starts_with("}}")
                }
            })
            .expect("a well-formed repeat macro");
        let piece = rest[..end].to_owned();
        let digits: String = rest[end + 1..].chars().take_while(char::is_ascii_digit).collect();
        let times: usize = digits.parse().unwrap();
        let macro_len = 9 + end + 1 + digits.len() + 2;
        out.replace_range(start..start + macro_len, &piece.repeat(times));
    }
    out
}

#[tokio::test]
async fn every_hostile_case_gets_its_documented_answer_and_changes_nothing() {
    let app = spawn_app().await;
    let seed: Vec<Value> = (0..3)
        .map(|i| {
            custom(
                Uuid::new_v4(),
                &format!("2026-01-0{}T00:00:00Z", i + 1),
                "seed",
                "seeded",
            )
        })
        .collect();
    app.ingest_all(&seed).await;
    let cursor = app.page("actor=seed&limit=1").await["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let mid = cursor.len() / 2;
    let flipped = if &cursor[mid..mid + 1] == "A" { "B" } else { "A" };
    let vars = [
        ("CURSOR", urlencode(&cursor)),
        (
            "CURSOR_TAMPERED",
            urlencode(&format!("{}{flipped}{}", &cursor[..mid], &cursor[mid + 1..])),
        ),
        ("CURSOR_TRUNCATED", urlencode(&cursor[..mid])),
        ("UNKNOWN_ID", Uuid::new_v4().to_string()),
        (
            "FUTURE",
            (chrono::Utc::now() + chrono::Duration::minutes(6)).to_rfc3339(),
        ),
    ];
    let before = app.count().await;

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/hostile");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut cases = 0;
    for file in files {
        let list: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for case in list {
            cases += 1;
            let name = format!("{}: {}", file.file_name().unwrap().to_string_lossy(), case["name"]);
            let method = Method::from_bytes(case["method"].as_str().unwrap().as_bytes()).unwrap();
            let path = expand(case["path"].as_str().unwrap(), &vars);
            let mut request = app.client.request(method.clone(), app.url(&path));
            let body = match (case["body"].as_str(), case["body_hex"].as_str()) {
                (Some(text), _) => Some(expand(text, &vars).into_bytes()),
                (None, Some(hex)) => Some(hex::decode(hex).unwrap()),
                (None, None) => None,
            };
            if let Some(body) = body {
                let content_type = case["content_type"].as_str().unwrap_or("application/json");
                if !content_type.is_empty() {
                    request = request.header("content-type", content_type);
                }
                request = request.body(body);
            }
            let default_token = if method == Method::POST && path.starts_with("/events") {
                "ingest"
            } else {
                "read"
            };
            match case["token"].as_str().unwrap_or(default_token) {
                "ingest" => request = request.bearer_auth(INGEST_TOKEN),
                "read" => request = request.bearer_auth(READ_TOKEN),
                "none" => {}
                other => request = request.header("authorization", other.strip_prefix("header:").unwrap()),
            }
            let response = request.send().await.unwrap_or_else(|e| panic!("{name}: {e}"));
            let status = response.status();
            match (case["expect"].as_u64(), case["expect_any"].as_array()) {
                (Some(want), _) => assert_eq!(status.as_u16() as u64, want, "{name}"),
                (None, Some(any)) => assert!(
                    any.iter().any(|s| s.as_u64() == Some(status.as_u16() as u64)),
                    "{name}: {status}"
                ),
                _ => panic!("{name}: no expected status"),
            }
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let text = response.text().await.unwrap();
            if status.is_success() {
                let page: Value = serde_json::from_str(&text).unwrap();
                if let Some(n) = case["events_len"].as_u64() {
                    assert_eq!(page["events"].as_array().unwrap().len() as u64, n, "{name}");
                }
                continue;
            }
            assert_eq!(content_type, "application/problem+json", "{name}: {text}");
            let problem: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{name}: {text}"));
            assert_eq!(problem["status"], status.as_u16(), "{name}");
            assert!(
                problem["type"].as_str().unwrap().starts_with("urn:audit-log:problem:"),
                "{name}"
            );
            if let Some(mentions) = case["mentions"].as_str() {
                assert!(text.contains(mentions), "{name}: {text} should mention {mentions}");
            }
            for word in INTERNALS {
                assert!(
                    !text.to_lowercase().contains(&word.to_lowercase()),
                    "{name} leaks {word}: {text}"
                );
            }
        }
    }
    assert!(cases >= 60, "{cases} cases");
    assert_eq!(app.count().await, before, "nothing was stored");
    assert_eq!(app.get("/health", None).await.status(), StatusCode::OK);
}
