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
        set([schema::JOB_ID, schema::OPEN, schema::REQUESTED_BY])
    );
    assert_eq!(
        indexes(jobs),
        BTreeSet::from([
            (schema::OPEN_JOBS.into(), schema::OPEN.into(), schema::JOB_ID.into()),
            (
                schema::BY_REQUESTER.into(),
                schema::REQUESTED_BY.into(),
                schema::JOB_ID.into()
            )
        ])
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
        ("ArchiverFunction", "archiver"),
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

/// `!Tag value` as ("Tag", value text), e.g. ("GetAtt", "ExportJobsTable.StreamArn").
fn tagged(value: &Value) -> (String, String) {
    match value {
        Value::Tagged(t) => (
            t.tag.to_string().trim_start_matches('!').to_owned(),
            t.value.as_str().unwrap_or_default().to_owned(),
        ),
        other => (String::new(), other.as_str().unwrap_or_default().to_owned()),
    }
}

#[test]
fn the_jobs_table_expires_jobs_and_is_protected() {
    let t = template();
    let props = &t["Resources"]["ExportJobsTable"]["Properties"];
    assert_eq!(props["TimeToLiveSpecification"]["AttributeName"], schema::EXPIRES_AT);
    assert_eq!(props["TimeToLiveSpecification"]["Enabled"], true);
    assert_eq!(props["DeletionProtectionEnabled"], true);
}

#[test]
fn the_export_function_reads_only_its_own_stream_and_gives_up_into_a_queue() {
    let t = template();
    let function = &t["Resources"]["ExportFunction"]["Properties"];
    assert_eq!(tagged(&function["Role"]), ("GetAtt".into(), "ExportRole.Arn".into()));
    assert!(
        function["Policies"].is_null(),
        "no SAM policies (they would add the managed stream role)"
    );
    let stream = &function["Events"]["NewJobs"]["Properties"];
    assert_eq!(
        tagged(&stream["DestinationConfig"]["OnFailure"]["Destination"]),
        ("GetAtt".into(), "ExportStartFailures.Arn".into())
    );
    let given_up = &function["Events"]["GivenUpStarts"];
    assert_eq!(given_up["Type"], "SQS");
    assert_eq!(
        tagged(&given_up["Properties"]["Queue"]),
        ("GetAtt".into(), "ExportStartFailures.Arn".into())
    );

    let statements = t["Resources"]["ExportRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        .as_sequence()
        .expect("statements")
        .clone();
    let actions = |s: &Value| -> Vec<String> {
        s["Action"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect()
    };
    for statement in &statements {
        assert_ne!(statement["Resource"].as_str(), Some("*"), "{statement:?}");
    }
    let stream_reads = statements
        .iter()
        .find(|s| actions(s).contains(&"dynamodb:GetRecords".to_owned()))
        .expect("a statement for the stream");
    assert_eq!(
        tagged(&stream_reads["Resource"]),
        ("GetAtt".into(), "ExportJobsTable.StreamArn".into())
    );
    let on_jobs = statements
        .iter()
        .find(|s| actions(s).contains(&"dynamodb:DeleteItem".to_owned()))
        .expect("a statement for the jobs table");
    for needed in [
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:GetItem",
        "dynamodb:Query",
    ] {
        assert!(
            actions(on_jobs).contains(&needed.to_owned()),
            "{needed}: the slots need it"
        );
    }
}

#[test]
fn each_functions_http_routes_are_exactly_its_routes_in_the_api_table() {
    let t = template();
    for (function, surface) in [
        ("IngestFunction", audit_api::Surface::Ingest),
        ("QueryFunction", audit_api::Surface::Query),
        ("ExportFunction", audit_api::Surface::Export),
        ("ArchiverFunction", audit_api::Surface::Integrity),
    ] {
        let declared: BTreeSet<String> = t["Resources"][function]["Properties"]["Events"]
            .as_mapping()
            .expect("events")
            .values()
            .filter(|event| event["Type"] == "HttpApi")
            .map(|event| {
                let p = &event["Properties"];
                format!("{} {}", p["Method"].as_str().unwrap(), p["Path"].as_str().unwrap())
            })
            .collect();
        let table: BTreeSet<String> = audit_api::ROUTES
            .iter()
            .filter(|r| r.surface == surface)
            .map(|r| r.key())
            .collect();
        assert_eq!(declared, table, "{function}");
    }
}

#[test]
fn the_export_functions_event_sources_take_its_batch_item_failures() {
    let t = template();
    let events = &t["Resources"]["ExportFunction"]["Properties"]["Events"];
    for source in ["NewJobs", "GivenUpStarts"] {
        let types = &events[source]["Properties"]["FunctionResponseTypes"];
        assert_eq!(
            types
                .as_sequence()
                .map(|s| s.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>()),
            Some(vec!["ReportBatchItemFailures"]),
            "{source}: the function answers with batchItemFailures"
        );
    }
}

#[test]
fn the_api_is_throttled_and_logged_and_downloads_are_logged() {
    let t = template();
    let api = &t["Resources"]["HttpApi"]["Properties"];
    assert_eq!(
        tagged(&api["DefaultRouteSettings"]["ThrottlingRateLimit"]),
        ("Ref".into(), "ApiRateLimit".into())
    );
    for route in ["POST /events", "POST /exports"] {
        assert_eq!(
            tagged(&api["RouteSettings"][route]["ThrottlingBurstLimit"]).0,
            "Ref",
            "{route}"
        );
    }
    assert_eq!(
        tagged(&api["AccessLogSettings"]["DestinationArn"]),
        ("GetAtt".into(), "ApiAccessLogs.Arn".into())
    );
    let format = api["AccessLogSettings"]["Format"].as_str().unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(format).is_ok(), "JSON lines");
    assert!(!format.to_lowercase().contains("authorization"));
    let bucket = &t["Resources"]["ExportsBucket"]["Properties"];
    assert_eq!(
        tagged(&bucket["LoggingConfiguration"]["DestinationBucketName"]),
        ("Ref".into(), "AccessLogsBucket".into())
    );
}

#[test]
fn every_function_has_error_and_throttle_alarms_and_the_queue_and_table_have_theirs() {
    let t = template();
    let alarms: Vec<&Value> = t["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
        .collect();
    let watches = |metric: &str, dimension: &str| {
        alarms.iter().any(|a| {
            a["Properties"]["MetricName"] == metric
                && a["Properties"]["Dimensions"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .any(|d| tagged(&d["Value"]).1.starts_with(dimension))
        })
    };
    for function in ["IngestFunction", "QueryFunction", "ExportFunction", "ArchiverFunction"] {
        assert!(watches("Errors", function), "{function} errors");
        if function == "ArchiverFunction" {
            // Its concurrency is the stream's shards: it is watched for lag, not throttles.
            assert!(watches("IteratorAge", function), "the archiver's lag");
            continue;
        }
        assert!(watches("Throttles", function), "{function} throttles");
    }
    assert!(watches("ApproximateNumberOfMessagesVisible", "ExportStartFailures"));
    for metric in ["WriteThrottleEvents", "ReadThrottleEvents", "SystemErrors"] {
        assert!(watches(metric, "EventsTable"), "{metric}");
    }
    for alarm in alarms {
        assert_eq!(
            tagged(&alarm["Properties"]["AlarmActions"]).0,
            "If",
            "notifies the topic when one is set"
        );
    }
}

#[test]
fn no_secret_is_in_the_functions_configuration_and_each_function_may_read_the_two_it_needs() {
    let t = template();
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/template.yaml"))
        .unwrap();
    assert!(
        !text.contains("{{resolve:"),
        "nothing is resolved into the template at deploy"
    );
    let env = &t["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(
        tagged(&env["AUDIT_TOKENS_SECRET"]),
        ("Ref".into(), "TokenHashesSecret".into())
    );
    assert_eq!(
        tagged(&env["AUDIT_SIGNING_KEY_SECRET"]),
        ("Ref".into(), "SigningKeySecret".into())
    );
    assert!(env["AUDIT_TOKENS"].is_null() && env["AUDIT_SIGNING_KEY"].is_null());
    for resource in ["IngestFunction", "QueryFunction", "ExportRole", "ArchiverRole"] {
        let r = &t["Resources"][resource];
        let document = if r["Type"] == "AWS::IAM::Role" {
            &r["Properties"]["Policies"][0]["PolicyDocument"]
        } else {
            &r["Properties"]["Policies"][0]
        };
        let grant = document["Statement"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|s| {
                s["Action"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .any(|a| a == "secretsmanager:GetSecretValue")
            })
            .unwrap_or_else(|| panic!("{resource} may read the secrets"));
        let arns: Vec<String> = grant["Resource"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|r| tagged(r).1)
            .collect();
        assert_eq!(arns.len(), 2, "{resource}: these two and no others");
        for name in ["TokenHashesSecret", "SigningKeySecret"] {
            assert!(
                arns.iter().any(|a| a.contains(&format!("${{{name}}}-??????"))),
                "{resource}: {name}"
            );
        }
    }
}

fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::Sequence(list) => list.iter().map(|a| a.as_str().unwrap().to_owned()).collect(),
        one => vec![one.as_str().unwrap().to_owned()],
    }
}

#[test]
fn the_archive_is_write_once_private_tls_only_and_moves_to_a_colder_class() {
    let t = template();
    let bucket = &t["Resources"]["ArchiveBucket"];
    assert_eq!(bucket["DeletionPolicy"], "Retain");
    let props = &bucket["Properties"];
    assert_eq!(props["ObjectLockEnabled"], true);
    let lock = &props["ObjectLockConfiguration"];
    assert_eq!(lock["ObjectLockEnabled"], "Enabled");
    assert_eq!(lock["Rule"]["DefaultRetention"]["Mode"], "COMPLIANCE");
    assert_eq!(
        tagged(&lock["Rule"]["DefaultRetention"]["Days"]),
        ("Ref".into(), "ArchiveRetentionDays".into())
    );
    assert_eq!(
        props["VersioningConfiguration"]["Status"], "Enabled",
        "Object Lock needs versioning"
    );
    let block = &props["PublicAccessBlockConfiguration"];
    for setting in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(block[setting], true, "{setting}");
    }
    let transition = &props["LifecycleConfiguration"]["Rules"][0]["Transitions"][0];
    assert_eq!(transition["StorageClass"], "GLACIER_IR");
    let policy = &t["Resources"]["ArchiveBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(policy["Effect"], "Deny");
    assert_eq!(policy["Condition"]["Bool"]["aws:SecureTransport"], "false");

    // Athena: partitions projected from dt over the archive's folders.
    let table = &t["Resources"]["ArchiveTable"]["Properties"]["TableInput"];
    assert_eq!(table["Parameters"]["projection.enabled"], "true");
    assert_eq!(table["Parameters"]["projection.dt.type"], "date");
    assert_eq!(table["PartitionKeys"][0]["Name"], "dt");
    assert!(
        tagged(&table["Parameters"]["storage.location.template"])
            .1
            .ends_with("/archive/dt=${!dt}/")
    );
    let columns = names(&table["StorageDescriptor"]["Columns"], "Name");
    assert_eq!(
        columns,
        set([
            "id",
            "time",
            "actor",
            "category",
            "type",
            "message",
            "duration_ms",
            "params",
            "source",
            "received_at"
        ]),
        "every field of an archived event"
    );
}

#[test]
fn the_archiver_reads_the_events_stream_signs_with_kms_and_may_not_delete_or_change() {
    let t = template();
    let table = &t["Resources"]["EventsTable"]["Properties"];
    assert_eq!(
        table["StreamSpecification"]["StreamViewType"], "NEW_AND_OLD_IMAGES",
        "a removal's old image names what was removed"
    );
    let function = &t["Resources"]["ArchiverFunction"]["Properties"];
    assert_eq!(tagged(&function["Role"]), ("GetAtt".into(), "ArchiverRole.Arn".into()));
    let stream = &function["Events"]["EventsStream"]["Properties"];
    assert_eq!(
        tagged(&stream["Stream"]),
        ("GetAtt".into(), "EventsTable.StreamArn".into())
    );
    assert_eq!(stream["MaximumRetryAttempts"], -1, "a batch is retried until archived");
    assert_eq!(stream["FunctionResponseTypes"][0], "ReportBatchItemFailures");
    let seal = &function["Events"]["Seal"];
    assert_eq!(seal["Type"], "ScheduleV2");
    assert_eq!(seal["Properties"]["Input"], r#"{"action": "seal"}"#);
    assert_eq!(
        tagged(&function["Environment"]["Variables"]["AUDIT_DIGEST_KEY_ID"]),
        ("GetAtt".into(), "DigestKey.Arn".into())
    );

    let key = &t["Resources"]["DigestKey"]["Properties"];
    assert_eq!(key["KeySpec"], "ECC_NIST_P256");
    assert_eq!(key["KeyUsage"], "SIGN_VERIFY");
    let grants = key["KeyPolicy"]["Statement"].as_sequence().unwrap();
    let to_archiver = grants
        .iter()
        .find(|g| tagged(&g["Principal"]["AWS"]).1 == "ArchiverRole.Arn")
        .expect("the key lets the archiver sign");
    assert_eq!(actions(to_archiver), ["kms:Sign", "kms:GetPublicKey"]);

    let statements = t["Resources"]["ArchiverRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap()
        .clone();
    let all: Vec<String> = statements.iter().flat_map(actions).collect();
    for never in [
        "s3:DeleteObject",
        "s3:PutObjectRetention",
        "s3:BypassGovernanceRetention",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    ] {
        assert!(!all.contains(&never.to_owned()), "the archiver may not {never}");
    }
    for statement in &statements {
        assert_ne!(statement["Resource"].as_str(), Some("*"), "{statement:?}");
    }
    let stream_reads = statements
        .iter()
        .find(|s| actions(s).contains(&"dynamodb:GetRecords".to_owned()))
        .unwrap();
    assert_eq!(
        tagged(&stream_reads["Resource"]),
        ("GetAtt".into(), "EventsTable.StreamArn".into())
    );

    let tamper = &t["Resources"]["TamperAlarm"]["Properties"];
    assert_eq!(tamper["Namespace"], "AuditLog");
    assert_eq!(
        tamper["MetricName"], "TamperEvents",
        "the metric the archiver logs (EMF)"
    );
}

#[test]
fn every_reading_route_takes_peoples_tokens_when_an_issuer_is_set_and_ingest_may_take_sigv4() {
    let t = template();
    let paths = &t["Resources"]["HttpApi"]["Properties"]["DefinitionBody"]["paths"];
    // `!If [Condition, [{Scheme: []}], !Ref AWS::NoValue]`: the condition and the scheme.
    let security = |route: &audit_api::Route| -> Option<(String, String)> {
        let method = paths[route.path].get(route.method.to_ascii_lowercase())?;
        let Value::Tagged(t) = &method["security"] else {
            panic!("{}: security is not an !If", route.key())
        };
        assert_eq!(t.tag.to_string(), "!If", "{}", route.key());
        let args = t.value.as_sequence().unwrap();
        assert_eq!(tagged(&args[2]), ("Ref".into(), "AWS::NoValue".into()));
        let scheme = args[1][0].as_mapping().unwrap().keys().next().unwrap();
        Some((
            args[0].as_str().unwrap().to_owned(),
            scheme.as_str().unwrap().to_owned(),
        ))
    };
    for route in audit_api::ROUTES {
        let expected = match route.access {
            audit_api::Access::Public => None,
            audit_api::Access::Needs(audit_api::Role::Read) => Some(("HasOidc".to_owned(), "People".to_owned())),
            audit_api::Access::Needs(audit_api::Role::Ingest) => Some(("IngestByIam".to_owned(), "sigv4".to_owned())),
        };
        assert_eq!(security(&route), expected, "{}", route.key());
    }
    let schemes = &t["Resources"]["HttpApi"]["Properties"]["DefinitionBody"]["components"]["securitySchemes"];
    for (scheme, condition) in [("People", "HasOidc"), ("sigv4", "IngestByIam")] {
        let Value::Tagged(t) = &schemes[scheme] else {
            panic!("{scheme}")
        };
        assert_eq!(t.value[0], condition, "{scheme} exists only under its condition");
    }
    let jwt = match &schemes["People"] {
        Value::Tagged(t) => t.value[1]["x-amazon-apigateway-authorizer"]["jwtConfiguration"].clone(),
        _ => unreachable!(),
    };
    assert_eq!(tagged(&jwt["issuer"]), ("Ref".into(), "OidcIssuer".into()));
    // The functions are told the same issuer, so they check the tokens the authorizer let in.
    let vars = &t["Globals"]["Function"]["Environment"]["Variables"];
    for var in [
        "AUDIT_OIDC_ISSUER",
        "AUDIT_OIDC_AUDIENCE",
        "AUDIT_OIDC_ROLE_CLAIM",
        "AUDIT_OIDC_READ_VALUE",
        "AUDIT_RECORD_SEARCHES",
        "AUDIT_INGEST_IAM",
    ] {
        assert!(!vars[var].is_null(), "{var}");
    }
}
