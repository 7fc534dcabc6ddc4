//! Any text in the CSV's text cells: a CSV reader reads back exactly the (defused) cells, and no
//! cell starts like a formula.
#![no_main]

use chrono::{TimeZone, Utc};
use event_model::csv_row::{CsvRow, CsvWriter, defuse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\u{1f}');
    let (actor, message, event_type) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let row = CsvRow {
        time: Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap(),
        actor,
        category: "custom",
        event_type,
        message,
        duration_ms: None,
        id: uuid::Uuid::nil(),
        received_at: "2026-11-27T10:00:01.000000Z",
        source: "svc",
    };
    let mut writer = CsvWriter::new(Vec::new()).unwrap();
    writer.write_row(&row).unwrap();
    let bytes = writer.into_inner().unwrap();
    let mut reader = csv::Reader::from_reader(&bytes[..]);
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 1);
    let cells: Vec<&str> = records[0].iter().collect();
    assert_eq!(cells[1], defuse(actor));
    assert_eq!(cells[3], defuse(event_type));
    assert_eq!(cells[4], defuse(message));
    for cell in cells {
        assert!(!matches!(cell.chars().next(), Some('=' | '+' | '-' | '@' | '\t' | '\r')));
        // Nor in a spreadsheet that splits lines at `;`.
        for piece in cell.split(';').skip(1) {
            assert!(!matches!(piece.chars().next(), Some('=' | '+' | '-' | '@' | '\t' | '\r')));
        }
    }
});
