//! The archiver function (its release binary under the local Lambda Runtime API) against
//! dynalite, s3s-fs and moto's KMS. dynalite has no streams, so the function is fed stream
//! records built from the items the store wrote, as DynamoDB Streams would carry them
//! (`NEW_AND_OLD_IMAGES`). Then `verify` over the bucket with the KMS key's public key.

use std::collections::HashMap;

use audit_integrity::verify::{NoStore, Problem, Range};
use audit_integrity::{Archive, PublicKey};
use audit_storage::{AppendOutcome, EventStore};
use audit_store_dynamodb::integrity::S3Archive;
use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::runtime_api::{LambdaHost, Outcome, function_binary};
use integration_tests::{custom, fresh_tables};
use serde_json::{Value, json};

/// Every item of the events table, as the SDK reads it.
async fn items(cloud: &audit_store_dynamodb::CloudSettings) -> Vec<HashMap<String, AttributeValue>> {
    let sdk = audit_store_dynamodb::sdk_config().await;
    let out = audit_store_dynamodb::dynamodb_client(&sdk)
        .scan()
        .table_name(&cloud.layout.events_table)
        .send()
        .await
        .unwrap();
    out.items.unwrap_or_default()
}

fn dynamodb_json(item: &HashMap<String, AttributeValue>) -> Value {
    serde_json::to_value(serde_dynamo::Item::from(item.clone())).unwrap()
}

fn id_of(item: &HashMap<String, AttributeValue>) -> String {
    item["id"].as_s().unwrap().clone()
}

/// A stream record of the events table: `name` (INSERT, MODIFY, REMOVE) with its images.
fn record(
    name: &str,
    sequence: u64,
    new: Option<&HashMap<String, AttributeValue>>,
    old: Option<&HashMap<String, AttributeValue>>,
) -> Value {
    let key = new.or(old).unwrap();
    let mut change = json!({
        "ApproximateCreationDateTime": chrono::Utc::now().timestamp(),
        "Keys": {"id": {"S": id_of(key)}},
        "SequenceNumber": format!("{sequence:021}"),
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    });
    if let Some(new) = new {
        change["NewImage"] = dynamodb_json(new);
    }
    if let Some(old) = old {
        change["OldImage"] = dynamodb_json(old);
    }
    json!({"eventID": format!("e{sequence}"), "eventName": name, "eventVersion": "1.1",
           "eventSource": "aws:dynamodb", "awsRegion": "us-east-1", "dynamodb": change,
           "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/events/stream/2026-12-07T00:00:00.000"})
}

/// A new P-256 signing key in moto's KMS, and its public key.
async fn kms_key() -> (String, PublicKey) {
    let sdk = audit_store_dynamodb::sdk_config().await;
    let kms = audit_store_dynamodb::integrity::kms_client(&sdk);
    let key = kms
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::EccNistP256)
        .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
        .send()
        .await
        .expect("a key in moto's KMS (AWS_ENDPOINT_URL_KMS; scripts/with-emulators starts it)");
    let id = key.key_metadata.unwrap().key_id;
    let der = kms
        .get_public_key()
        .key_id(&id)
        .send()
        .await
        .unwrap()
        .public_key
        .unwrap();
    (id, PublicKey::from_der(der.as_ref()).unwrap())
}

async fn archive_bucket() -> S3Archive {
    let sdk = audit_store_dynamodb::sdk_config().await;
    let client = audit_store_dynamodb::s3_client(&sdk);
    let bucket = format!("a{}", &uuid::Uuid::new_v4().simple().to_string()[..20]);
    audit_store_dynamodb::init::create_bucket(&client, &bucket)
        .await
        .unwrap();
    S3Archive::new(client, bucket)
}

async fn invoke(archiver: &LambdaHost, event: Value) -> Value {
    match archiver.invoke(event).await {
        Outcome::Response(r) => r,
        Outcome::Error(e) => panic!("the archiver failed: {e}"),
    }
}

#[tokio::test]
async fn the_archive_bucket_keeps_the_first_bytes_written_at_a_key() {
    let archive = archive_bucket().await;
    archive
        .write_new("archive/dt=2026-12-07/a.ndjson.gz", b"first")
        .await
        .unwrap();
    archive
        .write_new("archive/dt=2026-12-07/a.ndjson.gz", b"first")
        .await
        .expect("the same bytes again: a repeated write");
    let other = archive.write_new("archive/dt=2026-12-07/a.ndjson.gz", b"other").await;
    assert_eq!(other.unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
    assert_eq!(
        archive
            .read("archive/dt=2026-12-07/a.ndjson.gz")
            .await
            .unwrap()
            .unwrap(),
        b"first"
    );
    assert_eq!(archive.read("archive/none").await.unwrap(), None);
    assert_eq!(
        archive.list("archive/").await.unwrap(),
        ["archive/dt=2026-12-07/a.ndjson.gz"]
    );
}

#[tokio::test]
async fn the_stream_is_archived_sealed_with_kms_and_changes_behind_the_api_are_recorded() {
    let cloud = fresh_tables().await;
    let store = integration_tests::dynamo_store(&cloud).await;
    let archive = archive_bucket().await;
    let (key_id, public) = kms_key().await;
    let now = event_model::time::format(&chrono::Utc::now());
    let inputs: Vec<Value> = (0..5)
        .map(|i| {
            custom(
                uuid::Uuid::new_v4(),
                &now,
                &format!("user{i}"),
                &format!("did thing {i}"),
            )
        })
        .collect();
    let events: Vec<_> = inputs
        .iter()
        .map(|v| event_model::NewEvent::parse(v, "", chrono::Utc::now(), "svc").unwrap())
        .collect();
    assert!(
        store
            .append(events)
            .await
            .iter()
            .all(|o| matches!(o, AppendOutcome::Created))
    );

    let mut env = vec![
        ("AUDIT_EVENTS_TABLE".to_owned(), cloud.layout.events_table.clone()),
        ("AUDIT_JOBS_TABLE".to_owned(), cloud.layout.jobs_table.clone()),
        ("AUDIT_ARCHIVE_BUCKET".to_owned(), archive.bucket().to_owned()),
        ("AUDIT_DIGEST_KEY_ID".to_owned(), key_id),
        ("AUDIT_SEAL_INTERVAL_SECS".to_owned(), "1".to_owned()),
        ("AUDIT_SEAL_GRACE_SECS".to_owned(), "1".to_owned()),
    ];
    env.push(("AUDIT_TIME_SHARDS".to_owned(), cloud.layout.time_shards.to_string()));
    let archiver = LambdaHost::start(&function_binary("archiver"), &env).await;

    // What the store wrote (events and a day marker), as the stream carries it.
    let written = items(&cloud).await;
    let events: Vec<_> = written.iter().filter(|i| !id_of(i).starts_with("day#")).collect();
    assert_eq!(events.len(), 5);
    let records: Vec<Value> = written
        .iter()
        .enumerate()
        .map(|(n, item)| record("INSERT", n as u64 + 1, Some(item), None))
        .collect();
    let answer = invoke(&archiver, json!({"Records": records})).await;
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    let files = archive.list("archive/").await.unwrap();
    assert_eq!(files.len(), 1, "one file for the day: {files:?}");

    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let sealed = invoke(&archiver, json!({"action": "seal"})).await;
    assert!(!sealed["sealed"].as_array().unwrap().is_empty(), "{sealed}");
    let report = audit_integrity::verify::verify(&archive, &public, Range::default(), None, &mut NoStore)
        .await
        .unwrap();
    assert!(report.holds(), "{:?}", report.problems);
    assert_eq!(report.events, 5);
    assert_eq!(report.files, 1);
    assert_eq!(report.key_fingerprint, public.fingerprint());

    // Changes behind the API: a modify, a delete, and a TTL removal (retention, not tampering).
    let mut changed = events[0].clone();
    changed.insert("message".into(), AttributeValue::S("nothing happened".into()));
    let mut ttl = record("REMOVE", 20, None, Some(events[2]));
    ttl["userIdentity"] = json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"});
    let tamper = json!({"Records": [
        record("MODIFY", 18, Some(&changed), Some(events[0])),
        record("REMOVE", 19, None, Some(events[1])),
        ttl,
    ]});
    let answer = invoke(&archiver, tamper.clone()).await;
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    let again = invoke(&archiver, tamper).await;
    assert_eq!(again["batchItemFailures"], json!([]), "a repeated batch is fine");
    let filter = event_model::EventFilter {
        categories: vec![event_model::Category::Audit],
        ..Default::default()
    };
    let page = store.query(&filter, 50, None).await.unwrap();
    let mut recorded: Vec<(String, String, String)> = page
        .events
        .iter()
        .map(|e| {
            let params: Value = serde_json::from_str(e.params.as_str()).unwrap();
            (
                e.event_type.clone(),
                e.actor.clone(),
                params["event_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    recorded.sort();
    assert_eq!(
        recorded,
        [
            ("audit.record_modified".into(), "system".into(), id_of(events[0])),
            ("audit.record_removed".into(), "system".into(), id_of(events[1])),
        ],
        "one record per change, none for the TTL removal, none twice"
    );

    // A byte of the archive file changed (s3s-fs has no Object Lock to stop it): named.
    let sdk = audit_store_dynamodb::sdk_config().await;
    let mut bytes = archive.read(&files[0]).await.unwrap().unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    audit_store_dynamodb::s3_client(&sdk)
        .put_object()
        .bucket(archive.bucket())
        .key(&files[0])
        .body(bytes.into())
        .send()
        .await
        .unwrap();
    let report = audit_integrity::verify::verify(&archive, &public, Range::default(), None, &mut NoStore)
        .await
        .unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, Problem::FileChanged { file, .. } if *file == files[0])),
        "{:?}",
        report.problems
    );
}
