//! Property tests of the pure entry points hostile input reaches: event validation and
//! rendering, filter parsing, cursors, and CSV rows.

use chrono::{TimeZone, Utc};
use event_model::csv_row::{CsvRow, CsvWriter};
use event_model::{CATALOG, CursorKey, EventFilter, NewEvent};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Any JSON, a few levels deep, with the strings hostile clients send.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,10}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Ingest objects close to valid: real and custom types, odd actors, params of every kind.
fn near_valid_event() -> impl Strategy<Value = Value> {
    let types: Vec<&'static str> = CATALOG.iter().map(|t| t.code).collect();
    (
        prop::sample::select(types).prop_union(prop::sample::select(vec![
            "custom.x",
            "custom.y.z",
            "audit.export_requested",
            "nope",
        ])),
        ".{0,300}",
        prop::collection::btree_map("[a-z_]{1,12}", any_json(), 0..6),
        prop::option::of(".{0,50}"),
        prop::option::of(any::<i64>()),
    )
        .prop_map(|(t, actor, params, message, duration)| {
            let mut e = json!({"type": t, "actor": actor, "params": params.into_iter().collect::<Map<_, _>>()});
            if let Some(m) = message {
                e["message"] = json!(m);
            }
            if let Some(d) = duration {
                e["duration_ms"] = json!(d);
            }
            e
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn validation_never_panics_and_what_it_accepts_is_clean(input in prop_oneof![any_json(), near_valid_event()]) {
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
        match NewEvent::parse(&input, "", now, "svc") {
            Ok(new) => {
                let e = &new.event;
                prop_assert!(!e.actor.is_empty() && e.actor.chars().count() <= event_model::limits::MAX_ACTOR_CHARS);
                prop_assert!(e.message.chars().count() <= event_model::limits::MAX_MESSAGE_CHARS);
                prop_assert!(!e.message.chars().any(|c| c.is_control() && c != '\t'));
                prop_assert!(!e.event_type.starts_with("audit."));
                prop_assert!(e.duration_ms.is_none_or(|d| d <= event_model::limits::MAX_DURATION_MS));
                // The same input is the same event: same fingerprint.
                let again = NewEvent::parse(&input, "", now, "svc").unwrap();
                prop_assert_eq!(again.fingerprint, new.fingerprint);
            }
            Err(errors) => prop_assert!(!errors.is_empty()),
        }
    }

    #[test]
    fn a_rendered_message_holds_every_param_value(values in prop::collection::vec("[^{}\\p{Cc}]{1,20}", 8)) {
        for t in CATALOG.iter() {
            let params: Map<String, Value> = t.params().iter().zip(values.iter().cycle()).map(|(p, v)| (p.to_string(), json!(v))).collect();
            if let Ok(message) = t.render(&params) {
                for p in t.params() {
                    let text = event_model::template::value_text(&params[p]).unwrap();
                    let shown = match t.transform(p) {
                        event_model::catalog::Transform::Lower => text.to_lowercase(),
                        _ => text,
                    };
                    prop_assert!(message.contains(&shown), "{} lacks {}", message, shown);
                }
            }
        }
    }

    #[test]
    fn filter_parsing_never_panics_and_round_trips(pairs in prop::collection::vec((prop::sample::select(vec!["from", "to", "actor", "q", "category", "type", "order", "limit", "cursor", "user"]), ".{0,30}"), 0..6)) {
        let pairs: Vec<(String, String)> = pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        if let Ok((filter, page)) = EventFilter::from_query(&pairs) {
            prop_assert!((1..=500).contains(&page.limit));
            let back = EventFilter::from_json(&serde_json::to_value(&filter).unwrap()).unwrap();
            prop_assert_eq!(back, filter);
        }
    }

    #[test]
    fn cursors_round_trip_and_refuse_other_filters_and_tampering(actor in "[a-z]{1,8}", other in "[a-z]{1,8}", position in ".{1,60}", flip in any::<prop::sample::Index>()) {
        let key = CursorKey::new(b"a key of at least thirty-two bytes!!");
        let filter = EventFilter { actor: Some(actor.clone()), ..EventFilter::default() };
        let cursor = key.encode(&filter, &position);
        prop_assert_eq!(key.decode(&filter, &cursor).unwrap(), position.clone());
        if other != actor {
            let elsewhere = EventFilter { actor: Some(other), ..EventFilter::default() };
            prop_assert!(key.decode(&elsewhere, &cursor).is_err());
        }
        let mut bytes = cursor.clone().into_bytes();
        let i = flip.index(bytes.len());
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        if tampered != cursor {
            prop_assert!(key.decode(&filter, &tampered).is_err());
        }
    }

    #[test]
    fn csv_cells_read_back_exactly_and_never_run_as_formulas(actor in ".{1,40}", message in ".{0,80}", event_type in "[a-z.]{1,20}") {
        let time = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
        let id = uuid::Uuid::new_v4();
        let row = CsvRow { time, actor: &actor, category: "custom", event_type: &event_type, message: &message, duration_ms: Some(5), id, received_at: "2026-11-27T10:00:01.000000Z", source: "svc" };
        let mut writer = CsvWriter::new(Vec::new()).unwrap();
        writer.write_row(&row).unwrap();
        let bytes = writer.into_inner().unwrap();
        let mut reader = csv::Reader::from_reader(&bytes[..]);
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        prop_assert_eq!(records.len(), 1);
        let cells: Vec<&str> = records[0].iter().collect();
        let defused = |s: &str| event_model::csv_row::defuse(s).into_owned();
        prop_assert_eq!(cells[1], defused(&actor));
        prop_assert_eq!(cells[4], defused(&message));
        prop_assert_eq!(cells[3], defused(&event_type));
        for cell in &cells {
            prop_assert!(!matches!(cell.chars().next(), Some('=' | '+' | '-' | '@' | '\t' | '\r')), "{:?}", cell);
            // Nor in a spreadsheet that splits lines at `;`.
            for piece in cell.split(';').skip(1) {
                prop_assert!(!matches!(piece.chars().next(), Some('=' | '+' | '-' | '@' | '\t' | '\r')), "{:?}", cell);
            }
        }
    }
}
