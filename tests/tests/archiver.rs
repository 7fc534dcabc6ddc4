//! The archiver function (its release binary under the local Lambda Runtime API) against
//! dynalite, s3s-fs and moto's KMS. dynalite has no streams, so the function is fed stream
//! records built from the items the store wrote, as DynamoDB Streams would carry them
//! (`NEW_AND_OLD_IMAGES`). Then `verify` over the bucket with the KMS key's public key.

use std::collections::HashMap;

use audit_integrity::verify::{Problem, Range};
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
    let id = integration_tests::kms_key(&sdk).await;
    let kms = audit_store_dynamodb::integrity::kms_client(&sdk);
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

/// Five events stored, archived by the archiver from their stream records and sealed (periods
/// of 1 s, sealed 1 s after they end), with what a test needs to change and check them.
struct Sealed {
    cloud: audit_store_dynamodb::CloudSettings,
    store: audit_store_dynamodb::DynamoStore,
    archive: S3Archive,
    public: PublicKey,
    archiver: LambdaHost,
    /// The stored events' items, as the stream carried them.
    events: Vec<HashMap<String, AttributeValue>>,
    files: Vec<String>,
}

impl Sealed {
    async fn new() -> Sealed {
        let cloud = fresh_tables().await;
        let store = integration_tests::dynamo_store(&cloud).await;
        // As the template sets the function up (its bucket, key, tokens), sealing every second.
        let mut env = integration_tests::lambda_env(&cloud).await;
        env.extend([
            ("AUDIT_SEAL_INTERVAL_SECS".to_owned(), "1".to_owned()),
            ("AUDIT_SEAL_GRACE_SECS".to_owned(), "1".to_owned()),
        ]);
        let setting = |name: &str| env.iter().find(|(k, _)| k == name).unwrap().1.clone();
        let sdk = audit_store_dynamodb::sdk_config().await;
        let archive = S3Archive::new(audit_store_dynamodb::s3_client(&sdk), setting("AUDIT_ARCHIVE_BUCKET"));
        let der = audit_store_dynamodb::integrity::kms_client(&sdk)
            .get_public_key()
            .key_id(setting("AUDIT_DIGEST_KEY_ID"))
            .send()
            .await
            .unwrap()
            .public_key
            .unwrap();
        let public = PublicKey::from_der(der.as_ref()).unwrap();
        let now = event_model::time::format(&chrono::Utc::now());
        let events: Vec<_> = (0..5)
            .map(|i| {
                let input = custom(
                    uuid::Uuid::new_v4(),
                    &now,
                    &format!("user{i}"),
                    &format!("did thing {i}"),
                );
                event_model::NewEvent::parse(&input, "", chrono::Utc::now(), "svc").unwrap()
            })
            .collect();
        assert!(
            store
                .append(events)
                .await
                .iter()
                .all(|o| matches!(o, AppendOutcome::Created))
        );
        let archiver = LambdaHost::start(&function_binary("archiver"), &env).await;

        // What the store wrote (the events, a day marker and the actors' markers), as the stream carries it.
        let written = items(&cloud).await;
        let records: Vec<Value> = written
            .iter()
            .enumerate()
            .map(|(n, item)| record("INSERT", n as u64 + 1, Some(item), None))
            .collect();
        let answer = invoke(&archiver, json!({"Records": records})).await;
        assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
        let files = archive.list("archive/").await.unwrap();
        assert_eq!(files.len(), 1, "one file for the day: {files:?}");
        let events: Vec<_> = written
            .into_iter()
            .filter(|i| !audit_store_dynamodb::schema::is_marker(&id_of(i)))
            .collect();
        assert_eq!(events.len(), 5);
        let sealed = Sealed {
            cloud,
            store,
            archive,
            public,
            archiver,
            events,
            files,
        };
        sealed.seal_after(2100).await;
        sealed
    }

    async fn seal_after(&self, millis: u64) -> Vec<String> {
        tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
        let sealed = invoke(&self.archiver, json!({"action": "seal"})).await;
        let digests: Vec<String> = serde_json::from_value(sealed["sealed"].clone()).unwrap();
        assert!(!digests.is_empty(), "{sealed}");
        digests
    }

    /// `verify` over the bucket and the table (the CLI's `verify --store dynamodb`).
    async fn verify(&self) -> audit_integrity::Report {
        let at = audit_local::integrity::CloudArchive {
            cloud: self.cloud.clone(),
            bucket: self.archive.bucket().to_owned(),
            seal_delay: chrono::Duration::seconds(3),
            grace: chrono::Duration::seconds(1),
        };
        audit_local::integrity::check_cloud(&at, &self.public, Range::default(), false)
            .await
            .unwrap()
    }

    fn id(&self, n: usize) -> String {
        id_of(&self.events[n])
    }

    async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        audit_store_dynamodb::dynamodb_client(&audit_store_dynamodb::sdk_config().await)
    }

    async fn s3(&self) -> aws_sdk_s3::Client {
        audit_store_dynamodb::s3_client(&audit_store_dynamodb::sdk_config().await)
    }

    /// Deletes an object of the bucket (s3s-fs has no Object Lock; on AWS the lock refuses it).
    async fn delete(&self, key: &str) {
        self.s3()
            .await
            .delete_object()
            .bucket(self.archive.bucket())
            .key(key)
            .send()
            .await
            .unwrap();
    }

    /// Puts other bytes at an object's key (what Object Lock refuses on AWS).
    async fn overwrite(&self, key: &str, bytes: Vec<u8>) {
        self.s3()
            .await
            .put_object()
            .bucket(self.archive.bucket())
            .key(key)
            .body(bytes.into())
            .send()
            .await
            .unwrap();
    }

    async fn digests(&self) -> Vec<String> {
        self.archive.list("digests/").await.unwrap()
    }
}

fn only(report: &audit_integrity::Report) -> &Problem {
    assert_eq!(report.problems.len(), 1, "{:#?}", report.problems);
    &report.problems[0]
}

#[tokio::test]
async fn the_cloud_archive_holds_with_the_kms_key_and_the_table_agrees_with_it() {
    let s = Sealed::new().await;
    let report = s.verify().await;
    assert!(report.holds(), "{:?}", report.problems);
    assert_eq!((report.events, report.files), (5, 1));
    assert_eq!(report.key_fingerprint, s.public.fingerprint());
    assert!(report.sealed_through.is_some());
    // Offline: the bucket and the public key alone.
    let at = audit_local::integrity::CloudArchive {
        cloud: s.cloud.clone(),
        bucket: s.archive.bucket().to_owned(),
        seal_delay: chrono::Duration::seconds(3),
        grace: chrono::Duration::seconds(1),
    };
    let offline = audit_local::integrity::check_cloud(&at, &s.public, Range::default(), true)
        .await
        .unwrap();
    assert!(offline.holds() && offline.events == 5);
}

#[tokio::test]
async fn an_event_updated_in_the_table_behind_the_api_is_named() {
    let s = Sealed::new().await;
    s.dynamodb()
        .await
        .update_item()
        .table_name(&s.cloud.layout.events_table)
        .key("id", AttributeValue::S(s.id(1)))
        .update_expression("SET message = :m")
        .expression_attribute_values(":m", AttributeValue::S("nothing happened".into()))
        .send()
        .await
        .unwrap();
    let report = s.verify().await;
    assert!(matches!(only(&report), Problem::EventChanged { id, .. } if *id == s.id(1)));
}

#[tokio::test]
async fn an_event_deleted_from_the_table_behind_the_api_is_named() {
    let s = Sealed::new().await;
    s.dynamodb()
        .await
        .delete_item()
        .table_name(&s.cloud.layout.events_table)
        .key("id", AttributeValue::S(s.id(3)))
        .send()
        .await
        .unwrap();
    let report = s.verify().await;
    assert!(matches!(only(&report), Problem::EventRemoved { id, .. } if *id == s.id(3)));
}

#[tokio::test]
async fn an_event_put_in_the_table_that_the_stream_never_archived_is_named() {
    let s = Sealed::new().await;
    let id = uuid::Uuid::new_v4();
    let input = custom(id, "2026-01-01T00:00:00Z", "mallory", "was always here");
    let received = chrono::Utc::now() - chrono::Duration::seconds(60);
    let event = event_model::NewEvent::parse(&input, "", received, "svc").unwrap();
    assert!(matches!(s.store.append(vec![event]).await[0], AppendOutcome::Created));
    let report = s.verify().await;
    assert!(matches!(only(&report), Problem::EventAdded { id: named, .. } if *named == id.to_string()));
}

#[tokio::test]
async fn a_changed_byte_of_an_archive_file_is_named() {
    let s = Sealed::new().await;
    let mut bytes = s.archive.read(&s.files[0]).await.unwrap().unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    // s3s-fs has no Object Lock to stop an overwrite; on AWS the bucket's compliance lock does.
    s.overwrite(&s.files[0], bytes).await;
    let report = s.verify().await;
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, Problem::FileChanged { file, .. } if *file == s.files[0])),
        "{:?}",
        report.problems
    );
}

#[tokio::test]
async fn a_removed_archive_file_is_named() {
    let s = Sealed::new().await;
    s.delete(&s.files[0]).await;
    let report = s.verify().await;
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, Problem::FileMissing { file, .. } if *file == s.files[0])),
        "{:?}",
        report.problems
    );
}

#[tokio::test]
async fn a_digest_removed_from_the_middle_of_the_chain_is_named() {
    let s = Sealed::new().await;
    s.seal_after(2100).await;
    let digests = s.digests().await;
    assert!(digests.len() >= 3, "{digests:?}");
    let middle = &digests[digests.len() / 2];
    s.delete(middle).await;
    let report = s.verify().await;
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, Problem::DigestMissing { expected, .. } if expected == middle)),
        "{:?}",
        report.problems
    );
}

#[tokio::test]
async fn the_newest_digests_removed_leave_their_events_uncovered_and_named() {
    let s = Sealed::new().await;
    // Every digest from the one that lists the archive file on: the chain's tail.
    let digests = s.digests().await;
    let mut from = None;
    for (n, path) in digests.iter().enumerate() {
        let digest = audit_integrity::SignedDigest::from_bytes(&s.archive.read(path).await.unwrap().unwrap()).unwrap();
        if digest.digest.files.iter().any(|f| f.path == s.files[0]) {
            from = Some(n);
        }
    }
    let from = from.expect("a digest lists the file");
    for path in &digests[from..] {
        s.delete(path).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let report = s.verify().await;
    let mut uncovered: Vec<String> = report
        .problems
        .iter()
        .filter_map(|p| match p {
            Problem::EventUnsealed { id, .. } | Problem::EventAdded { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect();
    uncovered.sort();
    let mut all: Vec<String> = (0..5).map(|n| s.id(n)).collect();
    all.sort();
    assert_eq!(uncovered, all, "{:?}", report.problems);
}

#[tokio::test]
async fn a_digest_re_signed_with_another_key_is_named() {
    let s = Sealed::new().await;
    let (other, _) = kms_key().await;
    let sdk = audit_store_dynamodb::sdk_config().await;
    let signer =
        audit_store_dynamodb::integrity::KmsSigner::new(audit_store_dynamodb::integrity::kms_client(&sdk), other)
            .await
            .unwrap();
    let path = s.digests().await.pop().unwrap();
    let original = audit_integrity::SignedDigest::from_bytes(&s.archive.read(&path).await.unwrap().unwrap()).unwrap();
    let forged = original.digest.sign(&signer).await.unwrap();
    s.overwrite(&path, forged.to_bytes()).await;
    let report = s.verify().await;
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, Problem::BadSignature { digest } if *digest == path)),
        "{:?}",
        report.problems
    );
}

#[tokio::test]
async fn changes_behind_the_api_in_the_stream_are_recorded_once_and_ttl_removals_are_not() {
    let s = Sealed::new().await;
    let mut changed = s.events[0].clone();
    changed.insert("message".into(), AttributeValue::S("nothing happened".into()));
    let mut ttl = record("REMOVE", 20, None, Some(&s.events[2]));
    ttl["userIdentity"] = json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"});
    let tamper = json!({"Records": [
        record("MODIFY", 18, Some(&changed), Some(&s.events[0])),
        record("REMOVE", 19, None, Some(&s.events[1])),
        ttl,
    ]});
    let answer = invoke(&s.archiver, tamper.clone()).await;
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    let again = invoke(&s.archiver, tamper).await;
    assert_eq!(again["batchItemFailures"], json!([]), "a repeated batch is fine");
    let filter = event_model::EventFilter {
        categories: vec![event_model::Category::Audit],
        ..Default::default()
    };
    let page = s.store.query(&filter, 50, None).await.unwrap();
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
            ("audit.record_modified".into(), "system".into(), s.id(0)),
            ("audit.record_removed".into(), "system".into(), s.id(1)),
        ],
        "one record per change, none for the TTL removal, none twice"
    );
}

/// An API Gateway (HTTP API, v2) request for the archiver's routes, with the read token.
fn gateway(route: &str, path: &str, token: &str) -> Value {
    json!({"version": "2.0", "routeKey": route, "rawPath": path, "rawQueryString": "",
        "headers": {"authorization": format!("Bearer {token}")},
        "requestContext": {"accountId": "123456789012", "apiId": "api", "domainName": "api.example",
            "domainPrefix": "api", "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1", "userAgent": "test"}, "requestId": "r", "routeKey": route,
            "stage": "$default", "time": "07/Dec/2026:10:00:00 +0000", "timeEpoch": 0},
        "isBase64Encoded": false})
}

#[tokio::test]
async fn the_archiver_serves_the_seal_and_proofs_that_hold_with_the_kms_key_alone() {
    let s = Sealed::new().await;
    let token = integration_tests::READ_TOKEN;
    let status = s.archiver.http(gateway("GET /integrity", "/integrity", token)).await;
    assert_eq!(status["statusCode"], 200, "{status}");
    let status: Value = serde_json::from_str(status["body"].as_str().unwrap()).unwrap();
    assert_eq!(status["public_key"]["algorithm"], "ECDSA_P256_SHA256");
    assert_eq!(status["public_key"]["fingerprint"], s.public.fingerprint());
    assert!(status["sealed_through"].is_string(), "{status}");
    assert_eq!(status["tamper"], Value::Null);

    let id = s.id(2);
    let path = format!("/events/{id}/proof");
    let response = s.archiver.http(gateway("GET /events/{id}/proof", &path, token)).await;
    assert_eq!(response["statusCode"], 200, "{response}");
    let proof: audit_integrity::Proof = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    let key = PublicKey::from_pem(status["public_key"]["pem"].as_str().unwrap()).unwrap();
    let proven = proof.check(&key).expect("the proof holds with the served key alone");
    assert_eq!(proven.id, id);

    let unknown = format!("/events/{}/proof", uuid::Uuid::new_v4());
    let response = s
        .archiver
        .http(gateway("GET /events/{id}/proof", &unknown, token))
        .await;
    assert_eq!(response["statusCode"], 404, "{response}");
    let denied = s
        .archiver
        .http(gateway("GET /integrity", "/integrity", integration_tests::INGEST_TOKEN))
        .await;
    assert_eq!(denied["statusCode"], 403, "{denied}");

    // A new event, not archived yet: 409 until its period is sealed.
    let late = uuid::Uuid::new_v4();
    let input = custom(late, "2026-01-01T00:00:00Z", "eve", "just now");
    let event = event_model::NewEvent::parse(&input, "", chrono::Utc::now(), "svc").unwrap();
    assert!(matches!(s.store.append(vec![event]).await[0], AppendOutcome::Created));
    let path = format!("/events/{late}/proof");
    let response = s.archiver.http(gateway("GET /events/{id}/proof", &path, token)).await;
    assert_eq!(response["statusCode"], 409, "{response}");

    // A change behind the API, seen in the stream: the status names it.
    let mut changed = s.events[0].clone();
    changed.insert("message".into(), AttributeValue::S("nothing happened".into()));
    let tamper = json!({"Records": [record("MODIFY", 30, Some(&changed), Some(&s.events[0]))]});
    invoke(&s.archiver, tamper).await;
    let status = s.archiver.http(gateway("GET /integrity", "/integrity", token)).await;
    let status: Value = serde_json::from_str(status["body"].as_str().unwrap()).unwrap();
    assert_eq!(status["tamper"]["type"], "audit.record_modified", "{status}");
    assert!(status["tamper"]["message"].as_str().unwrap().contains(&s.id(0)));
}

/// Every item of the events table, read page by page.
async fn all_items(cloud: &audit_store_dynamodb::CloudSettings) -> Vec<HashMap<String, AttributeValue>> {
    let sdk = audit_store_dynamodb::sdk_config().await;
    let client = audit_store_dynamodb::dynamodb_client(&sdk);
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(&cloud.layout.events_table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if start.is_none() {
            return items;
        }
    }
}

#[tokio::test]
async fn sealed_periods_are_counted_once_and_the_counts_answer_as_the_embedded_store_does() {
    use audit_storage::{Bucket, Counts};
    use chrono::{Duration, Utc};
    use event_model::{EventFilter, Outcome};
    use rand::SeedableRng;

    let cloud = fresh_tables().await;
    let store = integration_tests::dynamo_store(&cloud).await;
    let dir = tempfile::tempdir().unwrap();
    let sqlite = audit_store_sqlite::SqliteStore::open(dir.path()).unwrap();
    // 6,000 events over the 9 days before now, every catalog type and custom ones: more than
    // counting by reading takes (5,000), so an exact answer comes from the kept counts.
    let now = Utc::now();
    let mut rng = rand::rngs::StdRng::seed_from_u64(16);
    let events: Vec<event_model::NewEvent> = (0..6_000i64)
        .map(|k| {
            let input = audit_local::seed::random_input(&mut rng, now - Duration::seconds(k * 129 + 40));
            event_model::NewEvent::parse(&input, "", now, "svc").unwrap()
        })
        .collect();
    for chunk in events.chunks(500) {
        for outcomes in [store.append(chunk.to_vec()).await, sqlite.append(chunk.to_vec()).await] {
            assert!(outcomes.iter().all(|o| matches!(o, AppendOutcome::Created)));
        }
    }
    let mut env = integration_tests::lambda_env(&cloud).await;
    env.extend([
        ("AUDIT_SEAL_INTERVAL_SECS".to_owned(), "1".to_owned()),
        ("AUDIT_SEAL_GRACE_SECS".to_owned(), "1".to_owned()),
    ]);
    let archiver = LambdaHost::start(&function_binary("archiver"), &env).await;
    let written = all_items(&cloud).await;
    for (n, batch) in written.chunks(1000).enumerate() {
        let records: Vec<Value> = batch
            .iter()
            .enumerate()
            .map(|(i, item)| record("INSERT", (n * 1000 + i) as u64 + 1, Some(item), None))
            .collect();
        let answer = invoke(&archiver, json!({"Records": records})).await;
        assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let sealed = invoke(&archiver, json!({"action": "seal"})).await;
    let counted = sealed["counted"].as_array().expect("counted periods");
    assert!(!counted.is_empty(), "{sealed}");
    let head = store.counted_through().await.unwrap().expect("a head");
    assert_eq!(json!(event_model::time::format(&head)), *counted.last().unwrap());

    let at = |ago: Duration| Some(now - ago);
    let filter = |f: EventFilter| f;
    let cases: Vec<(&str, EventFilter, Bucket)> = vec![
        ("all time, by day", EventFilter::default(), Bucket::Day),
        (
            "7 days, by hour, ends mid-hour",
            filter(EventFilter {
                from: at(Duration::days(7) + Duration::minutes(17)),
                to: at(Duration::hours(3) - Duration::minutes(11)),
                ..Default::default()
            }),
            Bucket::Hour,
        ),
        (
            "a category, by day",
            filter(EventFilter {
                categories: vec![event_model::Category::Auth],
                ..Default::default()
            }),
            Bucket::Day,
        ),
        (
            "failures, 5 days",
            filter(EventFilter {
                from: at(Duration::days(5)),
                outcome: Some(Outcome::Failure),
                ..Default::default()
            }),
            Bucket::Day,
        ),
        (
            "a username, by hour",
            filter(EventFilter {
                from: at(Duration::days(6) + Duration::minutes(1)),
                actor: Some("system".into()),
                ..Default::default()
            }),
            Bucket::Hour,
        ),
        (
            "a username and a category, all time",
            filter(EventFilter {
                actor: Some("system".into()),
                categories: vec![event_model::Category::Sca],
                ..Default::default()
            }),
            Bucket::Day,
        ),
        (
            "all but one username, by day",
            filter(EventFilter {
                not_actor: Some("system".into()),
                ..Default::default()
            }),
            Bucket::Day,
        ),
        (
            "hiding a type, by hour",
            filter(EventFilter {
                from: at(Duration::days(2) + Duration::minutes(5)),
                to: at(Duration::days(1)),
                not_types: vec!["sca.analysis_finished".into()],
                ..Default::default()
            }),
            Bucket::Hour,
        ),
    ];
    let same = |what: &str, a: &Counts, b: &Counts| {
        assert_eq!((a.total, a.start, &a.buckets), (b.total, b.start, &b.buckets), "{what}");
    };
    for (what, f, bucket) in &cases {
        let (kept, embedded) = (
            store.counts(f, *bucket).await.unwrap(),
            sqlite.counts(f, *bucket).await.unwrap(),
        );
        assert!(embedded.total > 0, "{what}");
        assert!(kept.exact, "{what}: exact from the kept counts");
        assert_eq!(kept.counted_through, Some(head), "{what}");
        same(what, &kept, &embedded);
    }
    let all = store.counts(&EventFilter::default(), Bucket::Day).await.unwrap();
    assert_eq!(all.total, 6_000);

    // A period counted again (a run that failed half-way, two runs at once) changes nothing.
    let mut again = audit_store_dynamodb::integrity::Tally::default();
    again.add(uuid::Uuid::new_v4(), now - Duration::days(3), "alice", "auth.login");
    store.count_period(head, &again).await.unwrap();
    let second = invoke(&archiver, json!({"action": "seal"})).await;
    // (It seals and counts the empty periods since: none of the earlier ones again.)
    for end in second["counted"].as_array().unwrap() {
        assert!(
            end.as_str().unwrap() > event_model::time::format(&head).as_str(),
            "{second}"
        );
    }
    same(
        "counted again",
        &store.counts(&EventFilter::default(), Bucket::Day).await.unwrap(),
        &all,
    );

    // Events received after the head: read from the index until their period is counted.
    let late: Vec<_> = (0..3)
        .map(|k| {
            let input = custom(
                uuid::Uuid::new_v4(),
                &event_model::time::format(&(Utc::now() - Duration::seconds(k))),
                "late",
                "arrived late",
            );
            event_model::NewEvent::parse(&input, "", Utc::now(), "svc").unwrap()
        })
        .collect();
    store.append(late).await;
    let with_late = store.counts(&EventFilter::default(), Bucket::Day).await.unwrap();
    assert_eq!((with_late.total, with_late.exact), (6_003, true));

    // Through the API: the same answer, and how stale the kept counts may be.
    let place = std::sync::Arc::new(integration_tests::Place {
        dir: tempfile::tempdir().unwrap(),
        store: audit_local::StoreKind::DynamoDb(cloud.clone()),
    });
    let app = integration_tests::spawn_app_with(place, integration_tests::Options::default()).await;
    let response = app.get("/counts?bucket=day", Some(integration_tests::READ_TOKEN)).await;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["total"].as_u64(), body["exact"].as_bool()),
        (Some(6_003), Some(true)),
        "{body}"
    );
    let head = store.counted_through().await.unwrap().expect("a head");
    assert_eq!(
        body["counted_through"],
        json!(event_model::time::format(&head)),
        "{body}"
    );
    app.stop().await;
}
