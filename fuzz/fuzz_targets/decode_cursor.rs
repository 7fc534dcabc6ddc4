//! Any text as a cursor: only the cursors the key made decode, and only with their own filter.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let key = event_model::CursorKey::new(b"a fuzzing key of thirty-two bytes!");
    let filter = event_model::EventFilter::default();
    // What decodes is exactly what the key made (forging one needs the HMAC key).
    if let Ok(position) = key.decode(&filter, text) {
        assert_eq!(key.encode(&filter, &position), text);
    }
    // Every cursor the key makes decodes to its position, up to the longest cursor accepted.
    let made = key.encode(&filter, text);
    if made.len() <= event_model::cursor::MAX_CURSOR_CHARS {
        assert_eq!(key.decode(&filter, &made).unwrap(), text);
    } else {
        assert!(key.decode(&filter, &made).is_err());
    }
});
