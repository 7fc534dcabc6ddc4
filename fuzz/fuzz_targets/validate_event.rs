//! Any bytes as an ingest body: JSON parsing, then validation and rendering of each event.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let now = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
    let events = match value.get("events").and_then(|e| e.as_array()) {
        Some(list) => list.clone(),
        None => vec![value],
    };
    for (i, input) in events.iter().enumerate() {
        if let Ok(new) = event_model::NewEvent::parse(input, &format!("events[{i}]"), now, "fuzz") {
            let e = &new.event;
            assert!(!e.actor.is_empty());
            assert!(e.actor.chars().count() <= event_model::limits::MAX_ACTOR_CHARS);
            assert!(e.message.chars().count() <= event_model::limits::MAX_MESSAGE_CHARS);
            assert!(!e.message.chars().any(|c| c.is_control() && c != '\t'));
        }
    }
});
