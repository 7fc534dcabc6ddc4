//! Every catalog type rendered with the product document's own placeholder expressions as
//! parameter values reproduces the document's event line byte for byte.
//!
//! `fixtures/seed_event_lines.txt` holds the document's event table rows ("text description"),
//! copied verbatim from `shared/seed/000_726162c270b37c52.txt`.

use event_model::catalog::CATALOG;
use serde_json::{Map, Value, json};

/// The expression the product document shows in place of `param` for `code`.
fn seed_expression(code: &str, param: &str) -> Value {
    let sca_run = matches!(
        code,
        "sca.analysis_started" | "sca.analysis_finished" | "sca.analysis_failed"
    );
    let text = match (param, code) {
        ("status", _) => "{status.lower()}",
        ("username", _) => "{username}",
        ("instance", _) => "{instance!r}",
        ("project", _) if sca_run => "{analysis_run.project.name}",
        ("project", c) if c.starts_with("sca.") || c.starts_with("tqi.") => "{project.name}",
        ("project", _) => "{project}",
        ("sequence", _) => "{analysis_run.sequence}",
        ("run_id", c) if c.starts_with("sca.") => "{analysis_run.pk}",
        ("run_id", _) => "{run_id}",
        ("repository", _) => "{repository.name}",
        ("reason", "sca.analysis_not_started") => "{err.message}",
        ("reason", "policy.skipped") => "{err!r}",
        ("reason", _) => "{err}",
        ("count", _) => "{len(projects)}",
        ("primary_email", _) => "{primary_email}",
        ("policy_ignore", _) => "{policy_ignore}",
        ("policy", _) => "{policy_alert.policy}",
        ("policy_name", _) => "{policy.name}",
        ("policy_id", _) => "{policy.pk}",
        ("analysis_object", _) => "{analysis_run.analysis_object}",
        ("container_image", _) => "{container_image}",
        ("dependency", _) => "{dep_name_and_version}",
        ("container_registry", _) => "{container_registry}",
        ("message", _) => "{message}",
        ("servers", _) => return json!(["{', '.join(ldap_servers_mapping_failed_for)}"]),
        ("task_id", _) => "{task.id}",
        ("repo_name", _) => "{project.repo_name}",
        (other, code) => panic!("no seed expression for {code}.{other}"),
    };
    Value::String(text.to_owned())
}

#[test]
fn every_type_renders_the_seed_text_byte_for_byte() {
    let fixture = include_str!("fixtures/seed_event_lines.txt");
    let lines: Vec<&str> = fixture.lines().collect();
    assert_eq!(lines.len(), CATALOG.len(), "the seed lists one line per catalog type");

    for (event_type, line) in CATALOG.iter().zip(&lines) {
        let params: Map<String, Value> = event_type
            .params()
            .into_iter()
            .map(|p| (p.to_owned(), seed_expression(event_type.code, p)))
            .collect();
        let message = event_type.render(&params).unwrap();
        assert_eq!(
            format!("{message} {}", event_type.description),
            *line,
            "type {} does not reproduce the seed",
            event_type.code
        );
    }
}
