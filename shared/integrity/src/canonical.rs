//! The canonical form of an event: the RFC 8785 JSON Canonicalization Scheme (JCS) of its JSON
//! (every field [`EventView`] writes, `received_at` and `source` included: keys sorted by UTF-16
//! code units, no whitespace, numbers as ECMAScript writes them, strings with the minimal
//! escapes). An archive file holds one canonical event per line, and an event's Merkle leaf is
//! the RFC 6962 leaf hash of those bytes, so anyone can recompute a leaf from the archive, from a
//! proof, or from the store, with any JCS implementation.

use event_model::EventView;

use crate::merkle::{Hash, leaf_hash};

/// The canonical bytes of an event, written field by field in JCS key order (only the params,
/// arbitrary JSON, go through a JCS serializer): the same bytes as [`canonical_value`] of the
/// event's JSON, which a test holds it to, at a fraction of the cost (archiving and `verify`
/// canonicalize every event).
pub fn canonical_event(event: &EventView<'_>) -> Vec<u8> {
    // Integers beyond 2^53 are written by JCS as the double nearest them: the general path.
    const EXACT: u64 = 1 << 53;
    if event.duration_ms.is_some_and(|d| d > EXACT) {
        return canonical_value(&serde_json::to_value(event).expect("an event is JSON"));
    }
    let params: serde_json::Value = serde_json::from_str(event.params.get()).expect("stored params are JSON");
    let mut out = Vec::with_capacity(192 + event.message.len() + event.params.get().len());
    write_event(&mut out, event, &canonical_value(&params));
    out
}

/// The event's JSON as [`canonical_event`] writes it, but with its params as the store
/// keeps them (no parse, no JCS). Cheap, and enough to check a stored event against an archived
/// line: if the two are the same bytes, both texts are the same JSON value, whose canonical form
/// is the line (an archive line is canonical) — the stored event is the archived one. If they
/// differ, the params may only be spelled otherwise (stores write JSON, not JCS: `2.0`, `1e21`):
/// compare [`canonical_event`] then. (The stored params must be one JSON object, as
/// `Params::check` holds them when a store reads them; otherwise no JSON text is this one.)
/// Written at the end of `out`: one buffer serves many events.
pub fn write_stored_form(out: &mut Vec<u8>, event: &EventView<'_>) {
    write_event(out, event, event.params.get().as_bytes());
}

fn write_event(out: &mut Vec<u8>, event: &EventView<'_>, params: &[u8]) {
    let string = |out: &mut Vec<u8>, text: &str| serde_json::to_writer(out, text).expect("writing to memory");
    out.extend_from_slice(br#"{"actor":"#);
    string(out, event.actor);
    out.extend_from_slice(br#","category":"#);
    string(out, event.category.code());
    if let Some(duration) = event.duration_ms {
        out.extend_from_slice(br#","duration_ms":"#);
        out.extend_from_slice(duration.to_string().as_bytes());
    }
    out.extend_from_slice(br#","id":""#);
    out.extend_from_slice(
        event
            .id
            .hyphenated()
            .encode_lower(&mut uuid::Uuid::encode_buffer())
            .as_bytes(),
    );
    out.extend_from_slice(br#"","message":"#);
    string(out, event.message);
    out.extend_from_slice(br#","params":"#);
    out.extend_from_slice(params);
    out.extend_from_slice(br#","received_at":""#);
    out.extend_from_slice(event_model::time::formatted(&event.received_at).as_str().as_bytes());
    out.extend_from_slice(br#"","source":"#);
    string(out, event.source);
    out.extend_from_slice(br#","time":""#);
    out.extend_from_slice(event_model::time::formatted(&event.time).as_str().as_bytes());
    out.extend_from_slice(br#"","type":"#);
    string(out, event.event_type);
    out.push(b'}');
}

/// The `id` of a canonical event line, without parsing it: the first `,"id":"` is the
/// top-level key (only `actor` and `category` come before it, and a string value cannot hold an
/// unescaped quote).
pub fn canonical_id(line: &[u8]) -> Option<&str> {
    const KEY: &[u8] = br#","id":""#;
    let at = memchr::memmem::find(line, KEY)? + KEY.len();
    let id = line.get(at..at + 36)?;
    (line.get(at + 36) == Some(&b'"')).then(|| std::str::from_utf8(id).ok())?
}

/// The canonical bytes of any JSON value (an event as a proof or an archive line carries it).
pub fn canonical_value(value: &serde_json::Value) -> Vec<u8> {
    serde_json_canonicalizer::to_vec(value).expect("a JSON value has string keys")
}

/// The Merkle leaf of an event.
pub fn event_leaf(event: &EventView<'_>) -> Hash {
    leaf_hash(&canonical_event(event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The general path: the event's JSON through the JCS serializer.
    fn reference(event: &EventView<'_>) -> Vec<u8> {
        canonical_value(&serde_json::to_value(event).unwrap())
    }

    fn any_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(serde_json::Value::from),
            ".*".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map("[a-zA-Z\\u{80}-\\u{10ffff}_]{0,6}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn the_direct_writer_is_the_jcs_of_the_events_json(
            actor in "\\PC{0,20}",
            message in ".{0,80}",
            source in "[ -~\\u{0}-\\u{1f}\\u{7f}-\\u{ff}]{0,12}",
            event_type in "[a-z_.]{1,20}",
            duration in prop::option::of(prop_oneof![0u64..1_000_000, any::<u64>()]),
            params in prop::collection::btree_map("[a-z\\u{e9}\\u{1f600}]{0,5}", any_json(), 0..5),
            id in any::<u128>(),
            micros in 0i64..4_102_444_800_000_000,
        ) {
            let params = serde_json::to_string(&params).unwrap();
            let params = serde_json::value::RawValue::from_string(params).unwrap();
            let time = chrono::DateTime::from_timestamp_micros(micros).unwrap();
            let view = EventView {
                id: uuid::Uuid::from_u128(id),
                time,
                actor: &actor,
                category: event_model::Category::Auth,
                event_type: &event_type,
                message: &message,
                duration_ms: duration,
                params: &params,
                source: &source,
                received_at: time + chrono::Duration::microseconds(micros % 1_000_000),
            };
            let line = canonical_event(&view);
            let params_canonical = canonical_value(&serde_json::from_str(params.get()).unwrap()) == params.get().as_bytes();
            if params_canonical && duration.is_none_or(|d| d <= 1 << 53) {
                let mut stored = Vec::new();
                write_stored_form(&mut stored, &view);
                prop_assert_eq!(&stored, &line, "canonical params: the stored form is the canonical one");
            }
            let id = view.id.to_string();
            prop_assert_eq!(canonical_id(&line), Some(id.as_str()));
            prop_assert_eq!(String::from_utf8(line).unwrap(), String::from_utf8(reference(&view)).unwrap());
        }
    }

    #[test]
    fn the_canonical_form_sorts_keys_drops_whitespace_and_rewrites_numbers() {
        let event: event_model::Event = serde_json::from_str(
            r#"{"id":"0193a5b2-7c4e-7d1a-9f00-0000000000aa","time":"2026-12-07T10:00:00.000001Z",
                "actor":"anna","category":"auth","type":"auth.login",
                "message":"Login \"anna\" é","params":{"z":1.50,"a":1e2,"m":[true,null]},
                "source":"sso","received_at":"2026-12-07T10:00:00.000002Z"}"#,
        )
        .unwrap();
        let text = String::from_utf8(canonical_event(&event.view())).unwrap();
        let mut stored = Vec::new();
        write_stored_form(&mut stored, &event.view());
        assert_ne!(
            stored,
            text.as_bytes(),
            "params spelled otherwise: not the canonical bytes, so verify compares the canonical form"
        );
        assert_eq!(
            canonical_id(text.as_bytes()),
            Some("0193a5b2-7c4e-7d1a-9f00-0000000000aa")
        );
        assert_eq!(
            text,
            r#"{"actor":"anna","category":"auth","id":"0193a5b2-7c4e-7d1a-9f00-0000000000aa","message":"Login \"anna\" é","params":{"a":100,"m":[true,null],"z":1.5},"received_at":"2026-12-07T10:00:00.000002Z","source":"sso","time":"2026-12-07T10:00:00.000001Z","type":"auth.login"}"#
        );
        let reparsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            canonical_value(&reparsed),
            text.as_bytes(),
            "canonical bytes are a fixed point"
        );
    }
}
