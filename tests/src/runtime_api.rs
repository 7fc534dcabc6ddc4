//! A local Lambda Runtime API (the part of AWS Lambda a custom runtime talks to): the function's
//! own binary runs as a child process, polls `GET /2018-06-01/runtime/invocation/next` and posts
//! each answer back, exactly as on Lambda. Tests and benchmarks queue events and read answers.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Notify, oneshot};

/// How an invocation ended.
#[derive(Debug)]
pub enum Outcome {
    Response(Value),
    Error(Value),
}

#[derive(Default)]
struct Shared {
    queue: Mutex<VecDeque<(String, Value)>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    queued: Notify,
    /// When the runtime first asked for an event: it is initialised and ready.
    first_poll: Mutex<Option<Instant>>,
    init_error: Mutex<Option<String>>,
}

/// A Runtime API on a free loopback port, and the function process polling it.
pub struct LambdaHost {
    shared: Arc<Shared>,
    child: Child,
    pub started: Instant,
    server: tokio::task::JoinHandle<()>,
}

impl LambdaHost {
    /// Starts the Runtime API, then `binary` with `env` (plus the variables Lambda sets).
    pub async fn start(binary: &Path, env: &[(String, String)]) -> LambdaHost {
        LambdaHost::start_logged(binary, env, None).await
    }

    /// As [`LambdaHost::start`], with the function's logs (its stdout) written to `log`.
    pub async fn start_logged(binary: &Path, env: &[(String, String)], log: Option<&Path>) -> LambdaHost {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("runtime API");
        });
        let name = binary.file_name().and_then(|n| n.to_str()).unwrap_or("function");
        let started = Instant::now();
        let child = Command::new(binary)
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_LAMBDA_LOG_LEVEL", "WARN")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(match log {
                Some(path) => Stdio::from(std::fs::File::create(path).expect("log file")),
                None => Stdio::null(),
            })
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        LambdaHost {
            shared,
            child,
            started,
            server,
        }
    }

    /// Waits until the function asks for its first event; how long after its start that was.
    pub async fn ready(&self) -> Duration {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(at) = *self.shared.first_poll.lock().unwrap() {
                return at - self.started;
            }
            if let Some(e) = self.shared.init_error.lock().unwrap().clone() {
                panic!("the function failed to start: {e}");
            }
            assert!(
                Instant::now() < deadline,
                "the function did not ask for an event within 20 s"
            );
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }

    /// Sends one event and waits for the function's answer.
    pub async fn invoke(&self, event: Value) -> Outcome {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        self.shared.waiting.lock().unwrap().insert(id.clone(), tx);
        self.shared.queue.lock().unwrap().push_back((id, event));
        self.shared.queued.notify_one();
        tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .expect("the function answered within 60 s")
            .expect("an answer")
    }

    /// Sends an API Gateway HTTP API (v2) event; the function's response object.
    pub async fn http(&self, event: Value) -> Value {
        match self.invoke(event).await {
            Outcome::Response(v) => v,
            Outcome::Error(e) => panic!("the function failed: {e}"),
        }
    }
}

impl Drop for LambdaHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.server.abort();
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    shared.first_poll.lock().unwrap().get_or_insert_with(Instant::now);
    loop {
        let notified = shared.queued.notified();
        if let Some((id, event)) = shared.queue.lock().unwrap().pop_front() {
            let deadline = chrono::Utc::now().timestamp_millis() + 900_000;
            let mut headers = HeaderMap::new();
            headers.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
            headers.insert("lambda-runtime-deadline-ms", deadline.to_string().parse().unwrap());
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:000000000000:function:local".parse().unwrap(),
            );
            headers.insert("content-type", "application/json".parse().unwrap());
            return (headers, event.to_string());
        }
        notified.await;
    }
}

fn settle(shared: &Shared, id: &str, outcome: Outcome) -> StatusCode {
    match shared.waiting.lock().unwrap().remove(id) {
        Some(tx) => {
            let _ = tx.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}

fn json(body: &Bytes) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn response(State(shared): State<Arc<Shared>>, UrlPath(id): UrlPath<String>, body: Bytes) -> StatusCode {
    settle(&shared, &id, Outcome::Response(json(&body)))
}

async fn error(State(shared): State<Arc<Shared>>, UrlPath(id): UrlPath<String>, body: Bytes) -> StatusCode {
    settle(&shared, &id, Outcome::Error(json(&body)))
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    *shared.init_error.lock().unwrap() = Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}

/// The binary of a function (`ingest`, `query`, `export`, `archiver`) in the dev profile, built by
/// `scripts/test` (`cargo build --workspace --bins --tests`).
pub fn function_binary(name: &str) -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("debug").join(name);
    assert!(
        path.exists(),
        "{} is missing: `scripts/test` builds it (cargo build -p audit-fn-{name})",
        path.display()
    );
    path
}
