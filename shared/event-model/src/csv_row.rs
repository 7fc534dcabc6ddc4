//! The CSV form of the journal (SPEC §3.4): RFC 4180 quoting (by the `csv` crate), a fixed
//! header, and cells that a spreadsheet would run as a formula defused with a leading `'`.

use std::io::Write;

use crate::event::Event;
use crate::time;

/// The header row.
pub const HEADER: [&str; 7] = ["time", "actor", "category", "type", "message", "duration_ms", "id"];

/// Writes the header, then one row per event.
pub struct CsvWriter<W: Write> {
    inner: csv::Writer<W>,
}

impl<W: Write> CsvWriter<W> {
    /// Starts a CSV document on `writer` by writing the header.
    pub fn new(writer: W) -> csv::Result<Self> {
        let mut this = Self::continuing(writer);
        this.inner.write_record(HEADER)?;
        Ok(this)
    }

    /// Writes more rows of a document whose header was already written (an export written in
    /// chunks starts each chunk this way).
    pub fn continuing(writer: W) -> Self {
        Self {
            inner: csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(writer),
        }
    }

    pub fn write(&mut self, event: &Event) -> csv::Result<()> {
        self.write_row(&CsvRow {
            time: event.time,
            actor: &event.actor,
            category: event.category.code(),
            event_type: &event.event_type,
            message: &event.message,
            duration_ms: event.duration_ms,
            id: event.id,
        })
    }

    /// Writes one row from borrowed columns (stores that read rows without building an
    /// [`Event`] use this).
    pub fn write_row(&mut self, row: &CsvRow<'_>) -> csv::Result<()> {
        let time = time::format(&row.time);
        let duration = row.duration_ms.map(|d| d.to_string()).unwrap_or_default();
        let mut id = uuid::Uuid::encode_buffer();
        let id = row.id.hyphenated().encode_lower(&mut id);
        self.inner.write_record([
            time.as_str(),
            &defuse(row.actor),
            row.category,
            &defuse(row.event_type),
            &defuse(row.message),
            &duration,
            id,
        ])
    }

    /// Flushes the rows written so far and gives the writer back.
    pub fn into_inner(self) -> std::io::Result<W> {
        self.inner.into_inner().map_err(|e| e.into_error())
    }
}

/// The columns of one CSV row, borrowed from wherever the event is.
#[derive(Debug, Clone, Copy)]
pub struct CsvRow<'a> {
    pub time: chrono::DateTime<chrono::Utc>,
    pub actor: &'a str,
    pub category: &'a str,
    pub event_type: &'a str,
    pub message: &'a str,
    pub duration_ms: Option<u64>,
    pub id: uuid::Uuid,
}

/// Prefixes `'` to a cell a spreadsheet would read as a formula (OWASP's CSV injection advice).
pub fn defuse(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewEvent;
    use serde_json::json;

    fn event(actor: &str, message: &str) -> Event {
        let now = time::parse_instant("2026-11-27T10:00:00Z").unwrap();
        NewEvent::parse(
            &json!({"id": "01936f0e-6c1a-7d2b-9a4e-3f1c2b7d9e10", "actor": actor, "type": "custom.x", "message": message, "duration_ms": 7}),
            "",
            now,
            "s",
        )
        .unwrap()
        .event
    }

    fn csv_of(events: &[Event]) -> String {
        let mut w = CsvWriter::new(Vec::new()).unwrap();
        for e in events {
            w.write(e).unwrap();
        }
        String::from_utf8(w.into_inner().unwrap()).unwrap()
    }

    #[test]
    fn the_header_comes_first_and_rows_end_in_crlf() {
        assert_eq!(csv_of(&[]), "time,actor,category,type,message,duration_ms,id\r\n");
        assert_eq!(
            csv_of(&[event("alice", "Hello")]),
            "time,actor,category,type,message,duration_ms,id\r\n2026-11-27T10:00:00.000000Z,alice,custom,custom.x,Hello,7,01936f0e-6c1a-7d2b-9a4e-3f1c2b7d9e10\r\n"
        );
    }

    #[test]
    fn a_document_written_in_chunks_equals_one_written_at_once() {
        let events = [event("a", "one"), event("b", "two, \"quoted\"")];
        let mut first = CsvWriter::new(Vec::new()).unwrap();
        first.write(&events[0]).unwrap();
        let mut rest = CsvWriter::continuing(first.into_inner().unwrap());
        rest.write(&events[1]).unwrap();
        assert_eq!(String::from_utf8(rest.into_inner().unwrap()).unwrap(), csv_of(&events));
    }

    #[test]
    fn quotes_and_commas_are_quoted_per_rfc_4180() {
        let out = csv_of(&[event("a", "Policy \"x\", skipped")]);
        assert!(out.contains(",\"Policy \"\"x\"\", skipped\","), "{out}");
    }

    #[test]
    fn formula_cells_are_defused() {
        for start in ["=", "+", "-", "@", "\t"] {
            let message = format!("{start}cmd|' /C calc'!A0");
            let out = csv_of(&[event("a", &message)]);
            let mut reader = csv::Reader::from_reader(out.as_bytes());
            let row = reader.records().next().unwrap().unwrap();
            assert_eq!(&row[4], format!("'{message}"));
        }
        let out = csv_of(&[event("=HYPERLINK(\"x\")", "ok")]);
        let row = csv::Reader::from_reader(out.as_bytes())
            .records()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(&row[1], "'=HYPERLINK(\"x\")");
        assert_eq!(defuse("plain"), "plain");
    }
}
