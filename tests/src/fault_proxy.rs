//! A fault-injecting HTTP proxy on loopback, between the service and an emulator (dynalite or
//! s3s-fs): every request is forwarded as it came (headers included, so SigV4 signatures still
//! hold), unless a [`Rule`] that matches it injects a fault first:
//!
//! - [`Fault::Throttle`]: answered at once without forwarding, as AWS answers a throttled call
//!   (DynamoDB's `ThrottlingException`, S3's `SlowDown`);
//! - [`Fault::LoseAnswer`]: forwarded, so the store does the work, then the connection is closed
//!   without an answer, as when a reply is lost on the network;
//! - [`Fault::Delay`]: forwarded after a pause;
//! - [`Fault::Deny`]: answered at once as AWS answers a caller without the permission
//!   (DynamoDB's `AccessDeniedException`, S3's `AccessDenied`).
//!
//! Started by a test on a free port and stopped when dropped. Rules can be changed while it runs.
//! It can also keep every DynamoDB request it forwards ([`FaultProxy::recording`]): what a
//! store really sent, for a benchmark to count by partition.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// What a rule does to a request it matches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    Throttle,
    LoseAnswer,
    Delay(Duration),
    Deny,
}

/// Which requests a rule applies to, what it does, how often and how many times.
#[derive(Debug, Clone)]
pub struct Rule {
    /// DynamoDB operation (`PutItem`, `Query`, …) from `X-Amz-Target`; `None` for any request.
    operation: Option<String>,
    /// Texts the body must hold (a table name, say).
    body_contains: Vec<String>,
    /// HTTP method and text its path and query hold, for S3 (`("POST", "uploadId=")`).
    method_path: Option<(String, String)>,
    fault: Fault,
    /// Probability of applying to a matching request.
    chance: f64,
    /// How many more times it may apply; `None` for always.
    times: Option<u64>,
}

impl Rule {
    /// A rule for every request.
    pub fn any(fault: Fault) -> Rule {
        Rule {
            operation: None,
            body_contains: Vec::new(),
            method_path: None,
            fault,
            chance: 1.0,
            times: None,
        }
    }

    /// A rule for one DynamoDB operation.
    pub fn dynamodb(operation: &str, fault: Fault) -> Rule {
        Rule {
            operation: Some(operation.to_owned()),
            ..Rule::any(fault)
        }
    }

    /// A rule for S3 requests of `method` whose path and query hold `path`.
    pub fn s3(method: &str, path: &str, fault: Fault) -> Rule {
        Rule {
            method_path: Some((method.to_owned(), path.to_owned())),
            ..Rule::any(fault)
        }
    }

    /// A rule for PutItems of export jobs (not slots) on `jobs_table` whose body holds `text`
    /// (`requested_by` for any job write, `succeeded` for a finished outcome).
    pub fn job_writes(jobs_table: &str, text: &str, fault: Fault) -> Rule {
        Rule::dynamodb("PutItem", fault)
            .on_table(jobs_table)
            .body_has("requested_by")
            .body_has(text)
    }

    /// Only requests on table `table`.
    pub fn on_table(self, table: &str) -> Rule {
        self.body_has(&format!("\"TableName\":\"{table}\""))
    }

    /// Only requests whose body holds `text`.
    pub fn body_has(mut self, text: &str) -> Rule {
        self.body_contains.push(text.to_owned());
        self
    }

    /// Applies to each matching request with probability `p`.
    pub fn chance(self, p: f64) -> Rule {
        Rule { chance: p, ..self }
    }

    /// Applies `n` times at most.
    pub fn times(self, n: u64) -> Rule {
        Rule { times: Some(n), ..self }
    }

    fn matches(&self, method: &str, path: &str, target: &str, body: &[u8]) -> bool {
        self.operation
            .as_ref()
            .is_none_or(|op| target.ends_with(&format!(".{op}")))
            && self
                .method_path
                .as_ref()
                .is_none_or(|(m, p)| m == method && path.contains(p.as_str()))
            && self
                .body_contains
                .iter()
                .all(|text| String::from_utf8_lossy(body).contains(text.as_str()))
    }
}

struct Shared {
    target: String,
    rules: Mutex<Vec<Rule>>,
    client: reqwest::Client,
    injected: AtomicU64,
    forwarded: AtomicU64,
    /// The DynamoDB requests forwarded (operation, body), while recording.
    recorded: Mutex<Option<Vec<(String, Bytes)>>>,
}

/// A running proxy. Dropping it stops it.
pub struct FaultProxy {
    /// `http://127.0.0.1:<port>`: give this to the SDK as the endpoint.
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy to `target` (an emulator's base URL) with no rules.
    pub async fn start(target: &str) -> FaultProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr: SocketAddr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            target: target.trim_end_matches('/').to_owned(),
            rules: Mutex::new(Vec::new()),
            client: reqwest::Client::new(),
            injected: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
            recorded: Mutex::new(None),
        });
        let serving = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| handle(shared.clone(), request));
                    // A lost answer ends the connection with an error: expected.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FaultProxy {
            url: format!("http://{addr}"),
            shared,
            task,
        }
    }

    /// Replaces the rules (the first that matches a request applies).
    pub fn set_rules(&self, rules: Vec<Rule>) {
        *self.shared.rules.lock().expect("rules lock") = rules;
    }

    /// Faults injected so far.
    pub fn injected(&self) -> u64 {
        self.shared.injected.load(Ordering::Relaxed)
    }

    /// Starts keeping every DynamoDB request forwarded from now on.
    pub fn recording(&self) {
        *self.shared.recorded.lock().expect("record lock") = Some(Vec::new());
    }

    /// The DynamoDB requests kept since [`FaultProxy::recording`] (operation, body); stops keeping.
    pub fn recorded(&self) -> Vec<(String, Bytes)> {
        self.shared
            .recorded
            .lock()
            .expect("record lock")
            .take()
            .unwrap_or_default()
    }

    /// Requests forwarded so far.
    pub fn forwarded(&self) -> u64 {
        self.shared.forwarded.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The error that makes hyper close a connection without answering.
#[derive(Debug)]
pub struct LostAnswer;

impl std::fmt::Display for LostAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the answer was lost on purpose")
    }
}

impl std::error::Error for LostAnswer {}

async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, LostAnswer> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map_err(|_| LostAnswer)?.to_bytes();
    let method = parts.method.as_str().to_owned();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let fault = {
        let mut rules = shared.rules.lock().expect("rules lock");
        let mut chosen = None;
        for rule in rules.iter_mut() {
            if rule.times == Some(0) || !rule.matches(&method, &path, &target, &body) {
                continue;
            }
            if rand::random::<f64>() < rule.chance {
                if let Some(n) = rule.times.as_mut() {
                    *n -= 1;
                }
                chosen = Some(rule.fault);
            }
            break;
        }
        chosen
    };
    if fault.is_some() {
        shared.injected.fetch_add(1, Ordering::Relaxed);
    }
    match fault {
        Some(Fault::Throttle) => return Ok(throttled(!target.is_empty())),
        Some(Fault::Deny) => return Ok(denied(!target.is_empty())),
        Some(Fault::Delay(pause)) => tokio::time::sleep(pause).await,
        _ => {}
    }
    if let Some(kept) = shared.recorded.lock().expect("record lock").as_mut()
        && !target.is_empty()
    {
        let operation = target.rsplit('.').next().unwrap_or_default().to_owned();
        kept.push((operation, body.clone()));
    }
    let mut forward = shared
        .client
        .request(parts.method.clone(), format!("{}{path}", shared.target))
        .body(body);
    for (name, value) in &parts.headers {
        if name != "content-length" && name != "connection" && name != "transfer-encoding" {
            forward = forward.header(name, value);
        }
    }
    let answer = forward.send().await.map_err(|_| LostAnswer)?;
    shared.forwarded.fetch_add(1, Ordering::Relaxed);
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await.map_err(|_| LostAnswer)?;
    if fault == Some(Fault::LoseAnswer) {
        return Err(LostAnswer);
    }
    let mut response = Response::new(Full::new(bytes));
    *response.status_mut() = status;
    // Content-Length is kept: a HEAD answer's says how large the object is.
    for (name, value) in &headers {
        if name != "connection" && name != "transfer-encoding" {
            response.headers_mut().insert(name, value.clone());
        }
    }
    Ok(response)
}

/// The answer of a throttled call: DynamoDB's (JSON) when the request had an `X-Amz-Target`,
/// S3's (XML) otherwise.
fn throttled(dynamodb: bool) -> Response<Full<Bytes>> {
    aws_error(
        dynamodb,
        ("ThrottlingException", "Rate exceeded"),
        (503, "SlowDown", "Please reduce your request rate."),
    )
}

fn denied(dynamodb: bool) -> Response<Full<Bytes>> {
    aws_error(
        dynamodb,
        ("AccessDeniedException", "not authorized"),
        (403, "AccessDenied", "Access Denied"),
    )
}

/// An error as DynamoDB (`400`, a JSON `__type`) or S3 (a status, an XML `Code`) answers it.
fn aws_error(
    dynamodb: bool,
    (dynamodb_type, dynamodb_message): (&str, &str),
    (s3_status, s3_code, s3_message): (u16, &str, &str),
) -> Response<Full<Bytes>> {
    let (status, content_type, body) = if dynamodb {
        (
            400,
            "application/x-amz-json-1.0",
            format!(
                r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{dynamodb_type}","message":"{dynamodb_message}"}}"#
            ),
        )
    } else {
        (
            s3_status,
            "application/xml",
            format!("<Error><Code>{s3_code}</Code><Message>{s3_message}</Message></Error>"),
        )
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = hyper::StatusCode::from_u16(status).expect("a status");
    response
        .headers_mut()
        .insert("content-type", hyper::header::HeaderValue::from_static(content_type));
    response
}
