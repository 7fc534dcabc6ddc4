//! `audit-local init` against an emulator without TTL (dynalite): the operator reads one line per
//! table that says what happened and what it means, not the SDK error's debug dump. Needs the
//! emulators that `scripts/test` starts.

use std::process::Command;

#[test]
fn init_without_ttl_warns_in_one_readable_line_per_table() {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some(),
        "AWS_ENDPOINT_URL_DYNAMODB is not set: run the tests with scripts/test (it starts the emulators)"
    );
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_audit-local"))
        .arg("init")
        .env("AUDIT_EVENTS_TABLE", format!("init{tag}-events"))
        .env("AUDIT_JOBS_TABLE", format!("init{tag}-jobs"))
        .env("AUDIT_EXPORT_BUCKET", format!("init{}", &tag[..16]))
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 2, "one line per table: {stderr}");
    for line in warnings {
        assert!(line.contains("TTL is not on for table init"), "{line}");
        assert!(line.contains("kept until removed"), "says what it means: {line}");
        assert!(line.len() < 400, "one short line: {line}");
    }
    for dump in ["SdkError", "ServiceError", "raw:", "DispatchFailure", "source:"] {
        assert!(!stderr.contains(dump), "no debug dump ({dump}): {stderr}");
    }
    assert!(String::from_utf8_lossy(&out.stdout).contains("are ready"));
}
