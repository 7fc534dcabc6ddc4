//! The SAM template names the tables, indexes and attributes exactly as the schema module does
//! (`shared/store-dynamodb/src/schema.rs`), and its functions are this workspace's binaries.

use std::collections::BTreeSet;

use audit_store_dynamodb::schema;
use serde_yaml::Value;

fn template() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).expect("infra/template.yaml")).expect("YAML")
}

fn names(list: &Value, field: &str) -> BTreeSet<String> {
    list.as_sequence()
        .expect("a list")
        .iter()
        .map(|v| v[field].as_str().expect("a name").to_owned())
        .collect()
}

/// (name, hash key, range key) of each global secondary index.
fn indexes(table: &Value) -> BTreeSet<(String, String, String)> {
    table["Properties"]["GlobalSecondaryIndexes"]
        .as_sequence()
        .expect("indexes")
        .iter()
        .map(|index| {
            assert_eq!(index["Projection"]["ProjectionType"], "ALL");
            let key = |kind: &str| {
                index["KeySchema"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .find(|k| k["KeyType"] == kind)
                    .map(|k| k["AttributeName"].as_str().unwrap().to_owned())
                    .unwrap()
            };
            (
                index["IndexName"].as_str().unwrap().to_owned(),
                key("HASH"),
                key("RANGE"),
            )
        })
        .collect()
}

fn set<const N: usize>(items: [&str; N]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_tables_are_the_schema_modules() {
    let t = template();
    let events = &t["Resources"]["EventsTable"];
    let props = &events["Properties"];
    assert_eq!(names(&props["KeySchema"], "AttributeName"), set([schema::ID]));
    assert_eq!(
        names(&props["AttributeDefinitions"], "AttributeName"),
        set([schema::ID, schema::TIME_BUCKET, schema::ACTOR, schema::TIME_ID])
    );
    assert_eq!(
        indexes(events),
        BTreeSet::from([
            (
                schema::BY_TIME.into(),
                schema::TIME_BUCKET.into(),
                schema::TIME_ID.into()
            ),
            (schema::BY_ACTOR.into(), schema::ACTOR.into(), schema::TIME_ID.into()),
        ])
    );
    assert_eq!(props["TimeToLiveSpecification"]["AttributeName"], schema::EXPIRES_AT);
    assert_eq!(props["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(props["DeletionProtectionEnabled"], true);
    assert_eq!(
        props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );

    let jobs = &t["Resources"]["ExportJobsTable"];
    assert_eq!(
        names(&jobs["Properties"]["KeySchema"], "AttributeName"),
        set([schema::JOB_ID])
    );
    assert_eq!(
        names(&jobs["Properties"]["AttributeDefinitions"], "AttributeName"),
        set([schema::JOB_ID, schema::OPEN])
    );
    assert_eq!(
        indexes(jobs),
        BTreeSet::from([(schema::OPEN_JOBS.into(), schema::OPEN.into(), schema::JOB_ID.into())])
    );
    assert_eq!(
        t["Parameters"]["TimeShards"]["Default"].as_u64(),
        Some(u64::from(schema::DEFAULT_TIME_SHARDS))
    );
}

#[test]
fn each_function_is_a_binary_of_the_workspace() {
    let t = template();
    for (resource, binary) in [
        ("IngestFunction", "ingest"),
        ("QueryFunction", "query"),
        ("ExportFunction", "export"),
    ] {
        let function = &t["Resources"][resource];
        assert_eq!(function["Metadata"]["BuildMethod"], "rust-cargolambda");
        assert_eq!(function["Metadata"]["BuildProperties"]["Binary"], binary);
        let manifest =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../functions/{binary}/Cargo.toml"));
        let text = std::fs::read_to_string(manifest).unwrap();
        assert!(text.contains(&format!("name = \"{binary}\"")), "{binary} is a [[bin]]");
    }
}
