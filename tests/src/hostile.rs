//! The hostile-input cases (`tests/fixtures/hostile/*.json`) and the checks every answer must
//! pass, shared by the runs over the local server (both stores) and over the Lambda functions.
//!
//! A case: `name`, `method`, `path`, optional `body` (text) or `body_hex` (bytes),
//! `content_type` (default `application/json` with a body; empty for none), `token` (`ingest`
//! for POST /events, `read` otherwise by default; `none`; or `header:<Authorization value>`),
//! `expect` (a status) or `expect_any` (statuses), `mentions` (text the problem must contain),
//! `events_len` (for a 200 listing). Macros in path and body: `{{repeat:TEXT:N}}`,
//! `{{FUTURE}}` (6 minutes ahead), `{{CURSOR}}` (a real cursor of `actor=seed&limit=1`),
//! `{{CURSOR_TAMPERED}}`, `{{CURSOR_TRUNCATED}}`, `{{UNKNOWN_ID}}`.

use serde_json::Value;

use crate::{INGEST_TOKEN, READ_TOKEN, urlencode};

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

/// The query every run seeds and takes its `{{CURSOR}}` from.
pub const CURSOR_QUERY: &str = "actor=seed&limit=1";

/// One request and what its answer must be.
#[derive(Debug)]
pub struct Case {
    /// `file: name`.
    pub name: String,
    pub method: String,
    /// Path and query string, macros expanded.
    pub path: String,
    pub body: Option<Vec<u8>>,
    pub content_type: Option<String>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    expect: Vec<u16>,
    mentions: Option<String>,
    events_len: Option<u64>,
}

/// The macro values, from a real cursor of [`CURSOR_QUERY`].
pub fn vars(cursor: &str) -> Vec<(&'static str, String)> {
    let mid = cursor.len() / 2;
    let flipped = if &cursor[mid..mid + 1] == "A" { "B" } else { "A" };
    vec![
        ("CURSOR", urlencode(cursor)),
        (
            "CURSOR_TAMPERED",
            urlencode(&format!("{}{flipped}{}", &cursor[..mid], &cursor[mid + 1..])),
        ),
        ("CURSOR_TRUNCATED", urlencode(&cursor[..mid])),
        ("UNKNOWN_ID", uuid::Uuid::new_v4().to_string()),
        (
            "FUTURE",
            (chrono::Utc::now() + chrono::Duration::minutes(6)).to_rfc3339(),
        ),
    ]
}

/// Every case of every file, in file order.
pub fn cases(vars: &[(&str, String)]) -> Vec<Case> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/hostile");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut cases = Vec::new();
    for file in files {
        let list: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for case in list {
            let name = format!("{}: {}", file.file_name().unwrap().to_string_lossy(), case["name"]);
            let method = case["method"].as_str().unwrap().to_owned();
            let path = expand(case["path"].as_str().unwrap(), vars);
            let body = match (case["body"].as_str(), case["body_hex"].as_str()) {
                (Some(text), _) => Some(expand(text, vars).into_bytes()),
                (None, Some(hex)) => Some(hex::decode(hex).unwrap()),
                (None, None) => None,
            };
            // A content type goes with a body only; "" means a body sent without one.
            let content_type = body.as_ref().and_then(|_| match case["content_type"].as_str() {
                Some("") => None,
                Some(given) => Some(given.to_owned()),
                None => Some("application/json".to_owned()),
            });
            let default_token = if method == "POST" && path.starts_with("/events") {
                "ingest"
            } else {
                "read"
            };
            let authorization = match case["token"].as_str().unwrap_or(default_token) {
                "ingest" => Some(format!("Bearer {INGEST_TOKEN}")),
                "read" => Some(format!("Bearer {READ_TOKEN}")),
                "none" => None,
                other => Some(
                    other
                        .strip_prefix("header:")
                        .expect("token: ingest, read, none or header:…")
                        .to_owned(),
                ),
            };
            let expect = match (case["expect"].as_u64(), case["expect_any"].as_array()) {
                (Some(want), _) => vec![want as u16],
                (None, Some(any)) => any.iter().map(|s| s.as_u64().unwrap() as u16).collect(),
                _ => panic!("{name}: no expected status"),
            };
            cases.push(Case {
                name,
                method,
                path,
                body,
                content_type,
                authorization,
                expect,
                mentions: case["mentions"].as_str().map(str::to_owned),
                events_len: case["events_len"].as_u64(),
            });
        }
    }
    cases
}

impl Case {
    /// Checks an answer: the documented status; for an error, a problem+json body with the
    /// status, a `urn:audit-log:problem:` type, the words it must mention and no internals.
    pub fn check(&self, status: u16, content_type: &str, text: &str) {
        let name = &self.name;
        assert!(
            self.expect.contains(&status),
            "{name}: got {status}, expected {:?}: {text}",
            self.expect
        );
        if (200..300).contains(&status) {
            let page: Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("{name}: {text}"));
            if let Some(n) = self.events_len {
                assert_eq!(page["events"].as_array().unwrap().len() as u64, n, "{name}");
            }
            return;
        }
        assert_eq!(content_type, "application/problem+json", "{name}: {text}");
        let problem: Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("{name}: {text}"));
        assert_eq!(problem["status"], status, "{name}");
        assert!(
            problem["type"].as_str().unwrap().starts_with("urn:audit-log:problem:"),
            "{name}"
        );
        if let Some(mentions) = &self.mentions {
            assert!(
                text.contains(mentions.as_str()),
                "{name}: {text} should mention {mentions}"
            );
        }
        for word in INTERNALS {
            assert!(
                !text.to_lowercase().contains(&word.to_lowercase()),
                "{name} leaks {word}: {text}"
            );
        }
    }
}

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
