//! The canonical form of an event: the RFC 8785 JSON Canonicalization Scheme (JCS) of its JSON
//! (every field [`EventView`] writes, `received_at` and `source` included: keys sorted by UTF-16
//! code units, no whitespace, numbers as ECMAScript writes them, strings with the minimal
//! escapes). An archive file holds one canonical event per line, and an event's Merkle leaf is
//! the RFC 6962 leaf hash of those bytes, so anyone can recompute a leaf from the archive, from a
//! proof, or from the store, with any JCS implementation.

use event_model::EventView;

use crate::merkle::{Hash, leaf_hash};

/// The canonical bytes of an event.
pub fn canonical_event(event: &EventView<'_>) -> Vec<u8> {
    // Through a `Value`: the params are stored as JSON text (a `RawValue`), which JCS must
    // re-read to sort their keys and rewrite their numbers.
    let value = serde_json::to_value(event).expect("an event is JSON");
    canonical_value(&value)
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
