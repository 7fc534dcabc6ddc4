//! The three functions as Lambda functions, without AWS: each release binary runs under a local
//! Lambda Runtime API (`integration_tests::runtime_api`) and is fed API Gateway HTTP API (v2)
//! events and a DynamoDB stream event from saved fixtures (`tests/fixtures/lambda/`), against
//! dynalite and s3s-fs: ingest → query → export → download.

use integration_tests::runtime_api::{LambdaHost, Outcome, function_binary};
use integration_tests::{INGEST_TOKEN, READ_TOKEN, fresh_tables};
use serde_json::Value;

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
    let env = integration_tests::lambda_env(&cloud);
    let ingest = LambdaHost::start(&function_binary("ingest"), &env).await;
    let query = LambdaHost::start(&function_binary("query"), &env).await;
    let export = LambdaHost::start(&function_binary("export"), &env).await;
    for host in [&ingest, &query, &export] {
        host.ready().await;
    }

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
