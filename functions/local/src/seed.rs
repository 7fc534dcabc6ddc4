//! Realistic events for trying the service and for benchmarks: every catalog type (and a few
//! custom ones), many users plus `system`, spread over a span of days, with parameters of the
//! right kinds. Each event goes through the same validation as ingest, so seeded data is data
//! the API could have accepted.

use chrono::{DateTime, Duration, Utc};
use event_model::catalog::{CATALOG, ParamKind};
use event_model::{NewEvent, time};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// What to generate.
#[derive(Debug, Clone)]
pub struct SeedPlan {
    pub events: usize,
    /// Events spread over the `days` days before `until`.
    pub days: u32,
    pub until: DateTime<Utc>,
    /// The RNG seed: the same plan gives the same events (ids included).
    pub seed: u64,
}

const USERS: &[&str] = &[
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "sybil",
    "trent",
    "victor",
    "walter",
    "yusuf",
    "zoë",
    "łukasz",
    "søren",
    "ana.silva",
    "j.müller",
    "k.tanaka",
    "m.rossi",
    "p.novak",
    "s.kowalski",
    "t.nguyen",
];
const PROJECTS: &[&str] = &[
    "payments",
    "checkout",
    "ledger",
    "identity",
    "search",
    "catalog",
    "shipping",
    "billing",
    "notifications",
    "analytics",
    "gateway",
    "inventory",
    "pricing",
    "reports",
    "mobile-app",
    "web-portal",
    "data-lake",
    "etl",
];
const REASONS: &[&str] = &[
    "timeout",
    "connection refused",
    "repository not found",
    "permission denied",
    "license limit reached",
    "invalid manifest",
    "TLS handshake failed",
];
const CUSTOM: &[(&str, &str)] = &[
    ("custom.deploy", "Deployed release to production"),
    ("custom.backup", "Nightly backup completed"),
    ("custom.config_changed", "Configuration changed by administrator"),
];

/// Generates the plan's events, in batches of at most `batch` (already validated). Like a real
/// journal, they come in time order with a little jitter (a few events' worth), oldest first.
pub fn generate(plan: &SeedPlan, batch: usize, mut sink: impl FnMut(Vec<NewEvent>)) {
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let span_us = i64::from(plan.days.max(1)) * 86_400_000_000;
    let step_us = (span_us / plan.events.max(1) as i64).max(1);
    let mut buf = Vec::with_capacity(batch);
    for k in 0..plan.events as i64 {
        let jitter = rng.random_range(0..step_us * 4);
        let offset = (span_us - k * step_us - jitter).clamp(1, span_us);
        let at = plan.until - Duration::microseconds(offset);
        let input = random_input(&mut rng, at);
        let event = NewEvent::parse(&input, "", plan.until, "seed").expect("seeded events are valid");
        buf.push(event);
        if buf.len() == batch {
            sink(std::mem::replace(&mut buf, Vec::with_capacity(batch)));
        }
    }
    if !buf.is_empty() {
        sink(buf);
    }
}

/// One random ingest object at time `at`.
pub fn random_input(rng: &mut StdRng, at: DateTime<Utc>) -> Value {
    let actor = if rng.random_bool(0.3) {
        "system"
    } else {
        USERS.choose(rng).expect("users")
    };
    let mut id_bytes = [0u8; 16];
    rng.fill(&mut id_bytes);
    let id = uuid::Builder::from_random_bytes(id_bytes).into_uuid();
    if rng.random_bool(0.02) {
        let (code, message) = CUSTOM.choose(rng).expect("custom types");
        return json!({"id": id, "time": time::format(&at), "actor": actor, "type": code, "message": message});
    }
    let event_type = CATALOG.choose(rng).expect("catalog");
    let mut params = Map::new();
    for name in event_type.params() {
        params.insert(name.to_owned(), param_value(rng, name, event_type.param_kind(name)));
    }
    let mut input =
        json!({"id": id, "time": time::format(&at), "actor": actor, "type": event_type.code, "params": params});
    if matches!(event_type.category.code(), "sca" | "tqi" | "secrets" | "container") && rng.random_bool(0.7) {
        input["duration_ms"] = json!(rng.random_range(50..600_000));
    }
    input
}

fn param_value(rng: &mut StdRng, name: &str, kind: ParamKind) -> Value {
    match kind {
        ParamKind::Integer => json!(rng.random_range(1..500)),
        ParamKind::Uuid => json!(Uuid::from_u128(rng.random()).to_string()),
        ParamKind::List => json!(["ldap-eu.example.com", "ldap-us.example.com"][..rng.random_range(1..=2)]),
        ParamKind::Text => {
            let project = *PROJECTS.choose(rng).expect("projects");
            let text = match name {
                "project" | "analysis_object" => project.to_owned(),
                "repository" | "repo_name" => format!("git@git.example.com:acme/{project}.git"),
                "username" => USERS.choose(rng).expect("users").to_string(),
                "primary_email" => format!("{}@example.com", USERS.choose(rng).expect("users")),
                "status" => ["EXPIRED", "INVALID", "REVOKED"]
                    .choose(rng)
                    .expect("statuses")
                    .to_string(),
                "instance" => format!("<Project: {project}>"),
                "reason" => REASONS.choose(rng).expect("reasons").to_string(),
                "policy_ignore" => format!("ignore-{}", rng.random_range(1..60)),
                "policy" | "policy_name" => format!("No critical vulnerabilities in {project}"),
                "container_image" => format!(
                    "registry.example.com/{project}:{}.{}",
                    rng.random_range(1..9),
                    rng.random_range(0..20)
                ),
                "dependency" => format!("openssl@3.0.{}", rng.random_range(1..15)),
                "container_registry" => "registry.example.com".to_owned(),
                "message" => "LDAP sync finished with errors.".to_owned(),
                other => format!("{other}-{}", rng.random_range(1..100)),
            };
            json!(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeding_is_deterministic_and_covers_the_catalog() {
        let plan = SeedPlan {
            events: 3_000,
            days: 10,
            until: Utc::now(),
            seed: 7,
        };
        let mut first = Vec::new();
        generate(&plan, 500, |b| first.extend(b));
        let mut second = Vec::new();
        generate(&plan, 500, |b| second.extend(b));
        assert_eq!(first.len(), 3_000);
        assert!(first.iter().zip(&second).all(|(a, b)| a.event.id == b.event.id));
        let types: std::collections::HashSet<&str> = first.iter().map(|e| e.event.event_type.as_str()).collect();
        assert!(CATALOG.iter().all(|t| types.contains(t.code)));
        assert!(first.iter().any(|e| e.event.actor == "system"));
        let oldest = first.iter().map(|e| e.event.time).min().unwrap();
        assert!(plan.until - oldest > Duration::days(9));
    }
}
