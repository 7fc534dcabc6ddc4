//! The three functions as Lambda functions, without AWS: each release binary runs under a local
//! Lambda Runtime API (`integration_tests::runtime_api`) and is fed API Gateway HTTP API (v2)
//! events and a DynamoDB stream event from saved fixtures (`tests/fixtures/lambda/`), against
//! dynalite and s3s-fs: ingest → query → export → download. Then the security suites through
//! the same binaries: the 113 hostile-input cases and the route × credential matrix, each request
//! made into the API Gateway event that the template's routes would hand to one function.

use base64::Engine;
use integration_tests::fault_proxy::{Fault, FaultProxy, Rule};
use integration_tests::hostile::{self, CURSOR_QUERY};
use integration_tests::runtime_api::{LambdaHost, Outcome, function_binary};
use integration_tests::{INGEST_TOKEN, READ_TOKEN, fresh_tables};
use serde_json::{Value, json};

/// A fixture with its placeholders filled in.
fn fixture(name: &str, fill: &[(&str, &str)]) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/lambda")
        .join(name);
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (key, value) in fill
        .iter()
        .chain([("INGEST_TOKEN", INGEST_TOKEN), ("READ_TOKEN", READ_TOKEN)].iter())
    {
        text = text.replace(&format!("{{{{{key}}}}}"), value);
    }
    serde_json::from_str(&text).expect("fixture JSON")
}

fn body(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().expect("a body")).expect("a JSON body")
}

#[tokio::test]
async fn ingest_query_export_and_download_through_the_lambda_runtime() {
    let cloud = fresh_tables().await;
    let Functions {
        ingest, query, export, ..
    } = Functions::start(&integration_tests::lambda_env(&cloud).await, None).await;

    let stored = ingest.http(fixture("post_events.json", &[])).await;
    assert_eq!(stored["statusCode"], 200, "{stored}");
    assert_eq!(body(&stored)["accepted"], 3);
    let again = ingest.http(fixture("post_events.json", &[])).await;
    assert_eq!(body(&again)["duplicates"], 3, "a retry stores nothing twice");

    let page = query.http(fixture("list_events.json", &[])).await;
    assert_eq!(page["statusCode"], 200, "{page}");
    let listed = body(&page);
    let ids: Vec<&str> = listed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "6f1d2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a43",
            "6f1d2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a42"
        ]
    );
    assert!(listed["next_cursor"].is_string());
    assert!(
        page["headers"]["link"].as_str().unwrap().contains("rel=\"next\""),
        "{page}"
    );

    let one = query
        .http(fixture(
            "get_event.json",
            &[("EVENT_ID", "6f1d2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a41")],
        ))
        .await;
    assert_eq!(one["statusCode"], 200, "{one}");
    assert_eq!(body(&one)["message"], "User logged in");

    // The query function serves no writes, the ingest function no reads.
    let wrong = query.http(fixture("post_events.json", &[])).await;
    assert_eq!(wrong["statusCode"], 405, "{wrong}");
    let wrong = ingest.http(fixture("list_events.json", &[])).await;
    assert_eq!(wrong["statusCode"], 405, "{wrong}");

    let created = export.http(fixture("create_export.json", &[])).await;
    assert_eq!(created["statusCode"], 202, "{created}");
    let job_id = body(&created)["id"].as_str().unwrap().to_owned();
    let pending = body(&export.http(fixture("get_export.json", &[("EXPORT_ID", &job_id)])).await);
    assert_eq!(pending["status"], "pending");

    // The jobs table's stream delivers the new job to the export function.
    match export
        .invoke(fixture("jobs_stream_insert.json", &[("EXPORT_ID", &job_id)]))
        .await
    {
        Outcome::Response(r) => assert_eq!(r["batchItemFailures"], serde_json::json!([])),
        Outcome::Error(e) => panic!("the export failed: {e}"),
    }
    let done = body(&export.http(fixture("get_export.json", &[("EXPORT_ID", &job_id)])).await);
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["rows"], 3);
    let csv = reqwest::get(done["download_url"].as_str().unwrap()).await.unwrap();
    assert_eq!(csv.status(), 200);
    let text = csv.text().await.unwrap();
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(text.contains("'=HYPERLINK"), "formulas are defused: {text}");

    // The request was recorded in the journal, under the token's name.
    let audit = query.http(fixture("list_audit_events.json", &[])).await;
    let records = body(&audit);
    assert_eq!(records["events"][0]["type"], "audit.export_requested", "{records}");
}

/// The three functions over fresh tables, their DynamoDB calls through a new fault proxy.
async fn behind_a_proxy() -> (Functions, FaultProxy, audit_local::CloudSettings) {
    let cloud = fresh_tables().await;
    let (dynamodb, _) = integration_tests::emulator_endpoints();
    let proxy = FaultProxy::start(&dynamodb).await;
    let mut env = integration_tests::lambda_env(&cloud).await;
    env.push(("AWS_ENDPOINT_URL_DYNAMODB".into(), proxy.url.clone()));
    (Functions::start(&env, None).await, proxy, cloud)
}

#[tokio::test]
async fn a_busy_dynamodb_is_a_503_with_retry_after_from_the_query_function() {
    let (Functions { query, .. }, proxy, _) = behind_a_proxy().await;
    proxy.set_rules(vec![Rule::dynamodb("Query", Fault::Throttle)]);
    let page = query.http(fixture("list_events.json", &[])).await;
    assert_eq!(page["statusCode"], 503, "{page}");
    assert_eq!(page["headers"]["retry-after"], "1", "{page}");
    assert!(proxy.injected() > 0);
    proxy.set_rules(Vec::new());
    let page = query.http(fixture("list_events.json", &[])).await;
    assert_eq!(page["statusCode"], 200, "{page}");
}

#[tokio::test]
async fn a_lost_answer_to_the_job_write_still_creates_the_export_through_the_export_function() {
    let (Functions { export, .. }, proxy, cloud) = behind_a_proxy().await;
    proxy.set_rules(vec![
        Rule::job_writes(&cloud.layout.jobs_table, "requested_by", Fault::LoseAnswer).times(1),
    ]);
    let created = export.http(fixture("create_export.json", &[])).await;
    assert_eq!(created["statusCode"], 202, "{created}");
    assert_eq!(proxy.injected(), 1, "the job's answer was lost once");
    let job_id = body(&created)["id"].as_str().unwrap().to_owned();
    let pending = body(&export.http(fixture("get_export.json", &[("EXPORT_ID", &job_id)])).await);
    assert_eq!(
        pending["status"], "pending",
        "the job exists, to be started by the stream"
    );
}

#[tokio::test]
async fn a_stream_record_whose_job_cannot_be_read_is_reported_for_a_retry() {
    let (Functions { export, .. }, proxy, _) = behind_a_proxy().await;
    let created = export.http(fixture("create_export.json", &[])).await;
    let job_id = body(&created)["id"].as_str().unwrap().to_owned();
    // DynamoDB refuses the export function (a permission lost, say) when the stream delivers
    // the job: the record is named, so the stream delivers it again; nothing else fails.
    proxy.set_rules(vec![Rule::any(Fault::Deny)]);
    match export
        .invoke(fixture("jobs_stream_insert.json", &[("EXPORT_ID", &job_id)]))
        .await
    {
        Outcome::Response(r) => assert_eq!(
            r["batchItemFailures"],
            json!([{"itemIdentifier": "111100000000000000000001"}]),
            "{r}"
        ),
        Outcome::Error(e) => panic!("the invocation itself failed: {e}"),
    }
    // Delivered again once DynamoDB answers: the export runs.
    proxy.set_rules(Vec::new());
    match export
        .invoke(fixture("jobs_stream_insert.json", &[("EXPORT_ID", &job_id)]))
        .await
    {
        Outcome::Response(r) => assert_eq!(r["batchItemFailures"], json!([]), "{r}"),
        Outcome::Error(e) => panic!("the export failed: {e}"),
    }
    let done = body(&export.http(fixture("get_export.json", &[("EXPORT_ID", &job_id)])).await);
    assert_eq!(done["status"], "succeeded", "{done}");
}

#[tokio::test]
async fn a_function_reads_its_secrets_at_cold_start_and_stops_naming_one_it_cannot_read() {
    let cloud = fresh_tables().await;
    // The other tests run every function with the token hashes and signing key read from
    // Secrets Manager (moto); here the token hashes' secret does not exist.
    let mut env = integration_tests::lambda_env(&cloud).await;
    env.retain(|(k, _)| k != "AUDIT_TOKENS_SECRET");
    env.push(("AUDIT_TOKENS_SECRET".into(), "no/such/token-hashes".into()));
    let out = std::process::Command::new(function_binary("ingest"))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the function does not start without its token hashes"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no/such/token-hashes") && stderr.contains("AUDIT_TOKENS_SECRET"),
        "{stderr}"
    );
}

#[tokio::test]
async fn jobs_whose_run_was_given_up_are_marked_failed_from_the_on_failure_queue() {
    use audit_storage::{ExportJob, ExportJobStore, ExportStatus};
    let cloud = fresh_tables().await;
    let store = integration_tests::dynamo_store(&cloud).await;
    let now = chrono::Utc::now();
    // A job created now whose stream record failed every retry: it never started.
    let lost = ExportJob::new(event_model::EventFilter::default(), "admin", now);
    store.create_job(&lost).await.unwrap();
    assert!(
        store
            .claim_slot("admin", lost.id, 1, now, now + chrono::Duration::minutes(15))
            .await
            .unwrap()
    );
    // One of the same batch whose worker timed out on every retry while it ran (its lease has
    // not passed yet, but no worker will come back to it).
    let mut timed_out = ExportJob::new(event_model::EventFilter::default(), "other", now);
    timed_out.status = ExportStatus::Running;
    timed_out.lease_until = Some(now + chrono::Duration::minutes(2));
    store.create_job(&timed_out).await.unwrap();
    // One created an hour before, still waiting: not part of that batch.
    let older = ExportJob::new(
        event_model::EventFilter::default(),
        "admin",
        now - chrono::Duration::hours(1),
    );
    store.create_job(&older).await.unwrap();

    let Functions { export, .. } = Functions::start(&integration_tests::lambda_env(&cloud).await, None).await;
    let arrived = event_model::time::format(&now);
    let message = fixture(
        "export_start_given_up.json",
        &[
            ("ARRIVED", &arrived),
            ("NOW", &event_model::time::format(&chrono::Utc::now())),
        ],
    );
    match export.invoke(message).await {
        Outcome::Response(r) => assert_eq!(r["batchItemFailures"], json!([])),
        Outcome::Error(e) => panic!("the on-failure message was not handled: {e}"),
    }
    let failed = store.get_job(lost.id).await.unwrap().unwrap();
    assert_eq!(failed.status, ExportStatus::Failed);
    assert!(failed.error.unwrap().contains("given up"));
    assert!(
        store
            .claim_slot("admin", uuid::Uuid::now_v7(), 1, now, now)
            .await
            .unwrap(),
        "its slot is free again"
    );
    let timed_out = store.get_job(timed_out.id).await.unwrap().unwrap();
    assert_eq!(timed_out.status, ExportStatus::Failed);
    let untouched = store.get_job(older.id).await.unwrap().unwrap();
    assert_eq!(untouched.status, ExportStatus::Pending);
}

/// The four functions, as the template wires them behind the HTTP API.
struct Functions {
    ingest: LambdaHost,
    query: LambdaHost,
    export: LambdaHost,
    archiver: LambdaHost,
}

impl Functions {
    /// Starts the four functions and waits until each is ready; with `logs`, each logs into
    /// `logs/<name>.log`.
    async fn start(env: &[(String, String)], logs: Option<&std::path::Path>) -> Functions {
        let start = async |name: &str| {
            let log = logs.map(|dir| dir.join(format!("{name}.log")));
            LambdaHost::start_logged(&function_binary(name), env, log.as_deref()).await
        };
        let functions = Functions {
            ingest: start("ingest").await,
            query: start("query").await,
            export: start("export").await,
            archiver: start("archiver").await,
        };
        for host in [
            &functions.ingest,
            &functions.query,
            &functions.export,
            &functions.archiver,
        ] {
            host.ready().await;
        }
        functions
    }

    /// The function and route key API Gateway picks for a request (the route table, which the
    /// template test holds infra/template.yaml to); `None` when no route matches, which API
    /// Gateway answers itself with a 404.
    fn route(&self, method: &str, path: &str) -> Option<(&LambdaHost, String)> {
        let path = path.split('?').next().unwrap_or_default();
        let route = audit_api::ROUTES.iter().find(|r| r.matches(method, path))?;
        let host = match route.surface {
            audit_api::Surface::Ingest => &self.ingest,
            audit_api::Surface::Query => &self.query,
            audit_api::Surface::Export => &self.export,
            audit_api::Surface::Integrity => &self.archiver,
            audit_api::Surface::All => unreachable!("the table names one function per route"),
        };
        Some((host, route.key()))
    }

    /// Sends a request through its route; `None` when API Gateway has no route for it.
    /// Returns (status, content type, headers, body).
    async fn send(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Option<(u16, String, Value, String)> {
        let (host, route_key) = self.route(method, path_and_query)?;
        let response = host
            .http(gateway_event(method, &route_key, path_and_query, headers, body))
            .await;
        let status = response["statusCode"].as_u64().expect("a status") as u16;
        let content_type = response["headers"]["content-type"].as_str().unwrap_or("").to_owned();
        let text = match response["body"].as_str() {
            Some(b) if response["isBase64Encoded"] == true => {
                String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b).unwrap()).unwrap()
            }
            Some(b) => b.to_owned(),
            None => String::new(),
        };
        Some((status, content_type, response["headers"].clone(), text))
    }

    /// Every event the query function lists.
    async fn count(&self) -> usize {
        let mut count = 0;
        let mut cursor: Option<String> = None;
        loop {
            let query = match &cursor {
                Some(c) => format!("/events?limit=500&cursor={}", integration_tests::urlencode(c)),
                None => "/events?limit=500".to_owned(),
            };
            let auth = format!("Bearer {READ_TOKEN}");
            let (status, _, _, text) = self
                .send("GET", &query, &[("authorization", &auth)], None)
                .await
                .unwrap();
            assert_eq!(status, 200, "{text}");
            let page: Value = serde_json::from_str(&text).unwrap();
            count += page["events"].as_array().unwrap().len();
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return count,
            }
        }
    }
}

/// An API Gateway HTTP API (v2) event, shaped like `fixtures/lambda/*.json`: a body that is not
/// UTF-8 arrives base64-encoded, as API Gateway sends it.
fn gateway_event(
    method: &str,
    route_key: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Value {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let mut header_map = serde_json::Map::new();
    header_map.insert("host".into(), json!("abc123def4.execute-api.us-east-1.amazonaws.com"));
    header_map.insert("x-forwarded-proto".into(), json!("https"));
    for (name, value) in headers {
        header_map.insert(name.to_ascii_lowercase(), json!(value));
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": header_map,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123def4",
            "domainName": "abc123def4.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123def4",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "hostile"},
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": route_key,
            "stage": "$default",
            "time": "27/Nov/2026:10:15:30 +0000",
            "timeEpoch": 1795774530000u64
        },
        "isBase64Encoded": false
    });
    if let Some(bytes) = body {
        event["headers"]["content-length"] = json!(bytes.len().to_string());
        match std::str::from_utf8(bytes) {
            Ok(text) => event["body"] = json!(text),
            Err(_) => {
                event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
                event["isBase64Encoded"] = json!(true);
            }
        }
    }
    event
}

#[tokio::test]
async fn the_hostile_cases_and_the_credential_matrix_through_the_lambda_functions() {
    let cloud = fresh_tables().await;
    // Everything logged, at the most verbose level, to check that no token is ever in the logs.
    let logs = tempfile::tempdir().unwrap();
    let mut env = integration_tests::lambda_env(&cloud).await;
    env.push(("AWS_LAMBDA_LOG_LEVEL".into(), "TRACE".into()));
    let functions = Functions::start(&env, Some(logs.path())).await;
    let ingest_auth = format!("Bearer {INGEST_TOKEN}");
    let read_auth = format!("Bearer {READ_TOKEN}");
    let json_type = ("content-type", "application/json");

    let seed = json!({"events": (1..=3).map(|i| json!({
        "id": uuid::Uuid::new_v4(), "time": format!("2026-01-0{i}T00:00:00Z"), "actor": "seed",
        "type": "custom.test", "message": "seeded"})).collect::<Vec<_>>()});
    let seeded = functions
        .send(
            "POST",
            "/events",
            &[("authorization", &ingest_auth), json_type],
            Some(seed.to_string().as_bytes()),
        )
        .await
        .unwrap();
    assert_eq!(seeded.0, 200, "{}", seeded.3);
    let (_, _, _, page) = functions
        .send(
            "GET",
            &format!("/events?{CURSOR_QUERY}"),
            &[("authorization", &read_auth)],
            None,
        )
        .await
        .unwrap();
    let cursor = serde_json::from_str::<Value>(&page).unwrap()["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = functions.count().await;

    // The hostile cases: each through the function its route reaches.
    let cases = hostile::cases(&hostile::vars(&cursor));
    let mut unrouted = Vec::new();
    for case in &cases {
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(content_type) = &case.content_type {
            headers.push(("content-type", content_type));
        }
        if let Some(authorization) = &case.authorization {
            headers.push(("authorization", authorization));
        }
        match functions
            .send(&case.method, &case.path, &headers, case.body.as_deref())
            .await
        {
            Some((status, content_type, _, text)) => case.check(status, &content_type, &text),
            None => unrouted.push(case.name.as_str()),
        }
    }
    println!(
        "{} hostile cases reached a function; {} have no API Gateway route (answered 404 by the gateway): {unrouted:?}",
        cases.len() - unrouted.len(),
        unrouted.len()
    );
    assert!(cases.len() - unrouted.len() >= 60, "most cases reach a function");
    assert_eq!(functions.count().await, before, "nothing was stored");

    // Every route × every kind of credential.
    let id = "01936f0e-6c1a-7d2b-9a4e-3f1c2b7d9e10";
    let routes = integration_tests::routes_to_call(id);
    let credentials = [
        ("none", None),
        ("malformed", Some("Token abc".to_owned())),
        ("unknown", Some("Bearer not-a-known-token".to_owned())),
        ("ingest", Some(ingest_auth.clone())),
        ("read", Some(read_auth.clone())),
    ];
    for (method, path, needed) in &routes {
        for (kind, header) in &credentials {
            let mut headers = Vec::new();
            if let Some(h) = header {
                headers.push(("authorization", h.as_str()));
            }
            let body = (*method == "POST").then_some(&b"{}"[..]);
            if body.is_some() {
                headers.push(json_type);
            }
            let (status, content_type, response_headers, _) = functions
                .send(method, path, &headers, body)
                .await
                .expect("a routed request");
            let denial = match (needed, *kind) {
                (None, _) => None,
                (Some(_), "none" | "malformed" | "unknown") => Some(401),
                (Some(role), given) if role == given => None,
                (Some(_), _) => Some(403),
            };
            match denial {
                Some(denied) => {
                    assert_eq!(status, denied, "{method} {path} with {kind} credentials");
                    if denied == 401 {
                        let challenge = response_headers["www-authenticate"].as_str().unwrap_or("");
                        assert!(challenge.starts_with("Bearer"), "{method} {path}: {challenge:?}");
                    }
                    assert_eq!(content_type, "application/problem+json");
                }
                None => assert!(
                    status != 401 && status != 403,
                    "{method} {path} with {kind} credentials got {status}"
                ),
            }
        }
    }

    // No token, known or not, in any function's logs (at TRACE, with every request above logged).
    drop(functions);
    for name in ["ingest", "query", "export"] {
        let text = std::fs::read_to_string(logs.path().join(format!("{name}.log"))).unwrap();
        assert!(text.lines().count() > 10, "{name} logged at TRACE: {text}");
        for secret in [INGEST_TOKEN, READ_TOKEN, "not-a-known-token"] {
            let leak = text.lines().find(|line| line.contains(secret));
            assert!(
                leak.is_none(),
                "{name}'s logs contain a token: {:.400}",
                leak.unwrap_or_default()
            );
        }
    }
}

#[tokio::test]
async fn a_token_taken_out_of_the_secret_is_refused_within_the_refresh_time_without_a_restart() {
    use integration_tests::{INGEST_TOKEN, READ_TOKEN};
    let cloud = fresh_tables().await;
    let mut env = integration_tests::lambda_env(&cloud).await;
    env.push(("AUDIT_TOKENS_REFRESH_SECS".into(), "1".into()));
    let secret_id = env.iter().find(|(k, _)| k == "AUDIT_TOKENS_SECRET").unwrap().1.clone();
    let query = LambdaHost::start(&function_binary("query"), &env).await;
    let list = |token: &str| {
        let bearer = format!("Bearer {token}");
        gateway_event(
            "GET",
            "GET /events",
            "/events?limit=1",
            &[("authorization", &bearer)],
            None,
        )
    };
    let status = |outcome: Outcome| match outcome {
        Outcome::Response(r) => r["statusCode"].as_u64().unwrap(),
        Outcome::Error(e) => panic!("the function failed: {e}"),
    };
    assert_eq!(status(query.invoke(list(READ_TOKEN)).await), 200);

    // The read token is replaced by another in the secret: the same environment refuses it
    // within the refresh time and accepts the new one, with no restart.
    let new_read = "a-rotated-read-token";
    let rotated = format!(
        "test-ingest:ingest:{},rotated-read:read:{}",
        audit_api::hash_token(INGEST_TOKEN),
        audit_api::hash_token(new_read)
    );
    let sdk = audit_store_dynamodb::sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    secrets
        .put_secret_value()
        .secret_id(&secret_id)
        .secret_string(&rotated)
        .send()
        .await
        .unwrap();
    let changed = std::time::Instant::now();
    loop {
        if status(query.invoke(list(READ_TOKEN)).await) == 401 {
            break;
        }
        assert!(
            changed.elapsed() < std::time::Duration::from_secs(5),
            "still accepted 5 s after it was taken out"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        changed.elapsed() < std::time::Duration::from_millis(1_900),
        "refused after {:?}",
        changed.elapsed()
    );
    assert_eq!(status(query.invoke(list(new_read)).await), 200);

    // A secret that cannot be read any more leaves the tokens read before in force.
    secrets
        .put_secret_value()
        .secret_id(&secret_id)
        .secret_string("not a token list")
        .send()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    assert_eq!(
        status(query.invoke(list(new_read)).await),
        200,
        "a bad edit locks no one out"
    );
}

/// `event` as API Gateway passes it on after its JWT authorizer let `claims` through: each claim
/// a string in `requestContext.authorizer.jwt.claims` (an array as `[a b]`, as API Gateway
/// writes it).
fn with_authorizer_claims(mut event: Value, claims: &Value) -> Value {
    let strings: serde_json::Map<String, Value> = claims
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Array(items) => format!(
                    "[{}]",
                    items
                        .iter()
                        .map(|i| i.as_str().unwrap_or_default())
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                other => other.to_string(),
            };
            (k.clone(), json!(text))
        })
        .collect();
    event["requestContext"]["authorizer"] = json!({"jwt": {"claims": strings, "scopes": null}});
    event
}

#[tokio::test]
async fn a_persons_token_through_the_query_and_export_functions_and_each_refusal_says_why() {
    use integration_tests::people::{AUDIENCE, Issuer};
    let issuer = Issuer::start().await;
    let cloud = fresh_tables().await;
    let mut env = integration_tests::lambda_env(&cloud).await;
    env.push(("AUDIT_OIDC_ISSUER".into(), issuer.url.clone()));
    env.push(("AUDIT_OIDC_AUDIENCE".into(), AUDIENCE.into()));
    let query = LambdaHost::start(&function_binary("query"), &env).await;
    let export = LambdaHost::start(&function_binary("export"), &env).await;
    let request = |method: &str, path: &str, bearer: &str, claims: Option<&Value>| {
        let auth = format!("Bearer {bearer}");
        let route = audit_api::ROUTES
            .iter()
            .find(|r| r.matches(method, path.split('?').next().unwrap()))
            .unwrap()
            .key();
        let body = (method == "POST").then_some(&b"{}"[..]);
        let headers = [("authorization", auth.as_str()), ("content-type", "application/json")];
        let event = gateway_event(method, &route, path, &headers, body);
        match claims {
            Some(claims) => with_authorizer_claims(event, claims),
            None => event,
        }
    };
    let ada = issuer.token(&json!({}));
    let ada_claims = issuer.claims(&json!({}));

    // Ada searches and exports: both recorded as hers, with her `sub`.
    let page = query
        .http(request("GET", "/events?limit=5", &ada, Some(&ada_claims)))
        .await;
    assert_eq!(page["statusCode"], 200, "{page}");
    let started = export.http(request("POST", "/exports", &ada, Some(&ada_claims))).await;
    assert_eq!(started["statusCode"], 202, "{started}");
    let journal = query
        .http(request("GET", "/events?category=audit&limit=10", READ_TOKEN, None))
        .await;
    let records = body(&journal)["events"].as_array().unwrap().clone();
    let types: Vec<&str> = records.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["audit.export_requested", "audit.journal_searched"],
        "{records:?}"
    );
    for record in &records {
        assert_eq!(record["actor"], "ada@example.test");
        assert_eq!(record["params"]["subject"], "u-42");
    }

    // Each negative case, as if an authorizer had let it through with its claims: the function
    // checks the token itself, so a missing or misconfigured authorizer lets nothing in.
    for case in issuer.cases() {
        let response = query
            .http(request("GET", "/events?limit=1", &case.token, Some(&case.claims)))
            .await;
        let status = response["statusCode"].as_u64().unwrap() as u16;
        case.check(status, response["headers"]["www-authenticate"].as_str());
    }

    // The issuer's keys down before a function has read them: 503 for a person, and the service
    // tokens go on.
    issuer.keys_served(false);
    let fresh = LambdaHost::start(&function_binary("query"), &env).await;
    let down = fresh
        .http(request("GET", "/events?limit=1", &ada, Some(&ada_claims)))
        .await;
    assert_eq!(down["statusCode"], 503, "{down}");
    let service = fresh.http(request("GET", "/events?limit=1", READ_TOKEN, None)).await;
    assert_eq!(service["statusCode"], 200, "{service}");
}

#[tokio::test]
async fn a_service_signed_in_with_sigv4_ingests_under_its_arn_only_where_iam_is_configured() {
    let cloud = fresh_tables().await;
    let env = integration_tests::lambda_env(&cloud).await;
    let mut iam_env = env.clone();
    iam_env.push(("AUDIT_INGEST_IAM".into(), "true".into()));
    let arn = "arn:aws:sts::123456789012:assumed-role/billing-service/i-0abc";
    let signed = |id: &str| {
        let body = json!({"id": id, "actor": "bob", "type": "custom.x", "message": "signed"}).to_string();
        let sigv4 = "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261208/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";
        let mut event = gateway_event(
            "POST",
            "POST /events",
            "/events",
            &[("authorization", sigv4), ("content-type", "application/json")],
            Some(body.as_bytes()),
        );
        event["requestContext"]["authorizer"] = json!({"iam": {
            "accessKey": "ASIAEXAMPLE", "accountId": "123456789012", "callerId": "AROAEXAMPLE:i-0abc",
            "principalOrgId": null, "userArn": arn, "userId": "AROAEXAMPLE:i-0abc"}});
        event
    };
    let iam = LambdaHost::start(&function_binary("ingest"), &iam_env).await;
    let id = uuid::Uuid::now_v7().to_string();
    let stored = iam.http(signed(&id)).await;
    assert!(matches!(stored["statusCode"].as_u64(), Some(200 | 201)), "{stored}");
    let query = LambdaHost::start(&function_binary("query"), &env).await;
    let auth = format!("Bearer {READ_TOKEN}");
    let event = query
        .http(gateway_event(
            "GET",
            "GET /events/{id}",
            &format!("/events/{id}"),
            &[("authorization", &auth)],
            None,
        ))
        .await;
    assert_eq!(body(&event)["source"], arn, "{event}");

    // Where POST /events is not configured for SigV4, the same request context is not trusted.
    let tokens = LambdaHost::start(&function_binary("ingest"), &env).await;
    let refused = tokens.http(signed(&uuid::Uuid::now_v7().to_string())).await;
    assert_eq!(refused["statusCode"], 401, "{refused}");
}
