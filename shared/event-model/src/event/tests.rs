//! Validation of ingest input, one rule per test.

use super::*;
use crate::catalog;
use serde_json::json;

fn now() -> DateTime<Utc> {
    time::parse_instant("2026-11-27T10:00:00Z").unwrap()
}

fn parse(v: Value) -> Result<NewEvent, Vec<FieldError>> {
    NewEvent::parse(&v, "", now(), "scanner")
}

fn fields(v: Value) -> Vec<String> {
    parse(v).unwrap_err().into_iter().map(|e| e.field).collect()
}

const RUN: &str = "5f0c3c1e-8d2a-4c1b-9a51-0e7b7a0f6a11";

#[test]
fn a_catalog_event_gets_its_message_category_and_source() {
    let e = parse(json!({
        "time": "2026-11-27T09:15:30.123456Z", "actor": "alice", "type": "sca.analysis_finished",
        "params": {"project": "payments", "sequence": 12, "run_id": RUN}, "duration_ms": 5234
    }))
    .unwrap()
    .event;
    assert_eq!(e.message, format!("[SCA][payments][12/{RUN}] Analysis finished"));
    assert_eq!(e.category, Category::Sca);
    assert_eq!(e.source, "scanner");
    assert_eq!(e.duration_ms, Some(5234));
    assert_eq!(e.received_at, now());
    assert_eq!(e.id.get_version_num(), 7);
}

#[test]
fn time_defaults_to_the_receive_time() {
    let e = parse(json!({"actor": "system", "type": "auth.logged_in"}))
        .unwrap()
        .event;
    assert_eq!(e.time, now());
}

#[test]
fn a_time_more_than_five_minutes_ahead_is_rejected() {
    assert_eq!(
        fields(json!({"actor": "a", "type": "auth.logged_in", "time": "2026-11-27T10:05:01Z"})),
        ["time"]
    );
    assert!(parse(json!({"actor": "a", "type": "auth.logged_in", "time": "2026-11-27T10:05:00Z"})).is_ok());
}

#[test]
fn a_missing_template_param_is_named() {
    assert_eq!(
        fields(json!({"actor": "a", "type": "auth.login_failed"})),
        ["params.username"]
    );
}

#[test]
fn extra_params_are_kept() {
    let e = parse(json!({"actor": "a", "type": "auth.logged_in", "params": {"ip": "10.0.0.1"}}))
        .unwrap()
        .event;
    assert_eq!(e.params.to_map()["ip"], "10.0.0.1");
}

#[test]
fn typed_params_must_have_their_type() {
    let errs = fields(json!({"actor": "a", "type": "sca.analysis_started",
        "params": {"project": "p", "sequence": "12", "run_id": "not-a-uuid"}}));
    assert_eq!(errs, ["params.sequence", "params.run_id"]);
}

#[test]
fn an_unknown_type_is_rejected_and_a_custom_type_needs_a_message() {
    assert_eq!(fields(json!({"actor": "a", "type": "auth.nope"})), ["type"]);
    assert_eq!(fields(json!({"actor": "a", "type": "custom.deploy"})), ["message"]);
    let e = parse(json!({"actor": "a", "type": "custom.deploy", "message": "Deployed v2"}))
        .unwrap()
        .event;
    assert_eq!((e.category, e.message.as_str()), (Category::Custom, "Deployed v2"));
    assert_eq!(
        fields(json!({"actor": "a", "type": "custom.", "message": "m"})),
        ["type"]
    );
}

#[test]
fn clients_cannot_send_audit_events() {
    let input =
        json!({"actor": "a", "type": "audit.export_requested", "params": {"export_id": "x", "filters": "none"}});
    assert_eq!(fields(input), ["type"]);
}

#[test]
fn the_service_records_its_own_events() {
    let mut params = Map::new();
    params.insert("export_id".into(), json!("e1"));
    params.insert("filters".into(), json!("actor=alice"));
    let e = NewEvent::service_record(catalog::EXPORT_REQUESTED, "admin", params, now())
        .unwrap()
        .event;
    assert_eq!(
        e.message,
        "Export e1 of the audit log requested with filters: actor=alice"
    );
    assert_eq!(
        (e.category, e.source.as_str(), e.actor.as_str()),
        (Category::Audit, "audit-log", "admin")
    );
}

#[test]
fn a_message_is_not_accepted_for_catalog_types() {
    assert_eq!(
        fields(json!({"actor": "a", "type": "auth.logged_in", "message": "hi"})),
        ["message"]
    );
}

#[test]
fn an_actor_longer_than_256_characters_is_rejected() {
    assert_eq!(
        fields(json!({"actor": "é".repeat(257), "type": "auth.logged_in"})),
        ["actor"]
    );
    assert!(parse(json!({"actor": "é".repeat(256), "type": "auth.logged_in"})).is_ok());
    assert_eq!(fields(json!({"actor": "", "type": "auth.logged_in"})), ["actor"]);
}

#[test]
fn control_characters_are_rejected_but_tab_is_allowed() {
    assert_eq!(fields(json!({"actor": "a\u{0}b", "type": "auth.logged_in"})), ["actor"]);
    assert_eq!(
        fields(json!({"actor": "a", "type": "auth.login_failed", "params": {"username": "x\ny"}})),
        ["params.username", "message"]
    );
    assert!(parse(json!({"actor": "a\tb", "type": "auth.logged_in"})).is_ok());
}

#[test]
fn invisible_characters_in_an_actor_are_rejected() {
    for c in [
        '\u{200B}',
        '\u{200C}',
        '\u{200D}',
        '\u{00AD}',
        '\u{2060}',
        '\u{FEFF}',
        '\u{200E}',
        '\u{200F}',
        '\u{061C}',
        '\u{2028}',
        '\u{2029}',
        '\u{E0041}',
        '\u{180E}',
        '\u{3164}',
        '\u{FE0F}',
        '\u{034F}',
    ] {
        let actor = format!("ad{c}min");
        let errors = parse(json!({"actor": actor, "type": "auth.logged_in"})).unwrap_err();
        assert_eq!(errors[0].field, "actor", "U+{:04X}", c as u32);
        assert!(errors[0].message.contains("invisible"), "U+{:04X}", c as u32);
    }
}

#[test]
fn an_actor_must_be_nfc_and_lookalikes_from_other_scripts_are_names() {
    let decomposed = "Jose\u{0301}";
    assert_eq!(
        fields(json!({"actor": decomposed, "type": "auth.logged_in"})),
        ["actor"]
    );
    assert!(parse(json!({"actor": "José", "type": "auth.logged_in"})).is_ok());
    assert!(
        parse(json!({"actor": "ѕуѕtеm", "type": "auth.logged_in"})).is_ok(),
        "Cyrillic"
    );
    assert!(parse(json!({"actor": "иван.петров", "type": "auth.logged_in"})).is_ok());
}

#[test]
fn a_message_longer_than_4096_characters_is_rejected() {
    let long = "x".repeat(4097);
    assert_eq!(
        fields(json!({"actor": "a", "type": "custom.x", "message": long})),
        ["message"]
    );
}

#[test]
fn too_many_or_too_long_params_are_rejected() {
    let many: Map<String, Value> = (0..33).map(|i| (format!("p{i}"), json!(i))).collect();
    assert_eq!(
        fields(json!({"actor": "a", "type": "auth.logged_in", "params": many})),
        ["params"]
    );
    let long = "x".repeat(1025);
    assert_eq!(
        fields(json!({"actor": "a", "type": "auth.logged_in", "params": {"k": long}})),
        ["params.k"]
    );
}

#[test]
fn unknown_fields_and_wrong_types_are_named() {
    assert_eq!(
        fields(json!({"actor": 5, "type": "auth.logged_in", "acter": "x"})),
        ["acter", "actor"]
    );
    assert_eq!(
        fields(json!({"actor": "a", "type": "auth.logged_in", "duration_ms": -1})),
        ["duration_ms"]
    );
    assert_eq!(
        fields(json!({"actor": "a", "type": "auth.logged_in", "id": "x"})),
        ["id"]
    );
}

#[test]
fn a_retry_has_the_same_fingerprint_and_a_changed_event_does_not() {
    let a = json!({"id": RUN, "actor": "a", "type": "auth.logged_in"});
    let later = NewEvent::parse(&a, "", now() + Duration::seconds(3), "s").unwrap();
    assert_eq!(parse(a.clone()).unwrap().fingerprint, later.fingerprint);
    let changed = json!({"id": RUN, "actor": "b", "type": "auth.logged_in"});
    assert_ne!(parse(a).unwrap().fingerprint, parse(changed).unwrap().fingerprint);
}

#[test]
fn the_stored_event_round_trips_through_json() {
    let e = parse(json!({"actor": "a", "type": "auth.logged_in"})).unwrap().event;
    let text = serde_json::to_string(&e).unwrap();
    assert!(text.contains("\"time\":\"2026-11-27T10:00:00.000000Z\""));
    assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), e);
}
