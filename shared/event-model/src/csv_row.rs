//! The CSV form of the journal (SPEC §3.4): RFC 4180 quoting (by the `csv` crate), a fixed
//! header, and cells that a spreadsheet would run as a formula defused with a `'` (see
//! [`defuse`]). The seed's seven columns come first; `received_at` and `source` follow, so a
//! backdated `time` (sent by a client) or a row from an unexpected sender can be told apart.

use std::io::Write;

use crate::event::Event;
use crate::time;

/// The header row.
pub const HEADER: [&str; 9] = [
    "time",
    "actor",
    "category",
    "type",
    "message",
    "duration_ms",
    "id",
    "received_at",
    "source",
];

/// The UTF-8 byte order mark: Excel reads a CSV file as UTF-8 only when it starts with one
/// (without it, `иван.петров` shows as mojibake in the local code page).
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

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
        let received_at = time::format(&event.received_at);
        self.write_row(&CsvRow {
            time: event.time,
            actor: &event.actor,
            category: event.category.code(),
            event_type: &event.event_type,
            message: &event.message,
            duration_ms: event.duration_ms,
            id: event.id,
            received_at: &received_at,
            source: &event.source,
        })
    }

    /// Writes one row from borrowed columns (stores that read rows without building an
    /// [`Event`] use this).
    pub fn write_row(&mut self, row: &CsvRow<'_>) -> csv::Result<()> {
        let time = time::formatted(&row.time);
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
            row.received_at,
            &defuse(row.source),
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
    /// In the fixed-width text form (`time::format`), as the stores keep it: copied as it is.
    pub received_at: &'a str,
    pub source: &'a str,
}

/// Whether a spreadsheet may take text starting with `c` as a formula: `=`, `+`, `-`, `@`, tab
/// and CR (OWASP's list), and their fullwidth and small forms (`＝＋－＠`, `﹦﹢﹣﹫`), which
/// spreadsheets in East Asian locales read as the ASCII ones.
fn starts_formula(c: char) -> bool {
    matches!(
        c,
        '=' | '+' | '-' | '@' | '\t' | '\r' | '＝' | '＋' | '－' | '＠' | '﹦' | '﹢' | '﹣' | '﹫'
    )
}

/// Defuses a cell a spreadsheet could run as a formula, with a `'` (which spreadsheets read as
/// "text follows" and do not show):
/// - before a cell that starts like a formula (OWASP's CSV injection advice);
/// - after every `;` that is followed by a formula start. Spreadsheets whose list separator is
///   `;` (Excel and LibreOffice in most of continental Europe) open a CSV by splitting each line
///   at every `;`, and honour quotes only at the start of a piece, so `ok;=1+1;x` inside one
///   quoted cell would become three cells, the middle one a formula. `;'=1+1` stays text there.
pub fn defuse(cell: &str) -> std::borrow::Cow<'_, str> {
    let leading = cell.chars().next().is_some_and(starts_formula);
    // Most cells hold no `;` at all: one fast search decides (an export defuses every text cell).
    let after_semicolon = cell.contains(';')
        && cell
            .char_indices()
            .any(|(i, c)| c == ';' && cell[i + 1..].chars().next().is_some_and(starts_formula));
    if !leading && !after_semicolon {
        return cell.into();
    }
    let mut out = String::with_capacity(cell.len() + 2);
    if leading {
        out.push('\'');
    }
    let mut chars = cell.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == ';' && chars.peek().copied().is_some_and(starts_formula) {
            out.push('\'');
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewEvent;
    use serde_json::json;

    fn event(actor: &str, message: &str) -> Event {
        let now = time::parse_instant("2026-11-27T10:00:00Z").unwrap();
        NewEvent::parse(
            &json!({"id": "01936f0e-6c1a-7d2b-9a4e-3f1c2b7d9e10", "time": "2026-11-27T09:00:00Z", "actor": actor, "type": "custom.x", "message": message, "duration_ms": 7}),
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

    const HEADER_LINE: &str = "time,actor,category,type,message,duration_ms,id,received_at,source\r\n";

    #[test]
    fn the_header_comes_first_and_rows_end_in_crlf() {
        assert_eq!(csv_of(&[]), HEADER_LINE);
        assert_eq!(
            csv_of(&[event("alice", "Hello")]),
            format!(
                "{HEADER_LINE}2026-11-27T09:00:00.000000Z,alice,custom,custom.x,Hello,7,01936f0e-6c1a-7d2b-9a4e-3f1c2b7d9e10,2026-11-27T10:00:00.000000Z,s\r\n"
            ),
            "a backdated time shows beside when it was received, and who sent it"
        );
    }

    #[test]
    fn fullwidth_and_small_formula_starts_are_defused_like_ascii_ones() {
        for start in ["＝", "＋", "－", "＠", "﹦", "﹢", "﹣", "﹫"] {
            assert_eq!(defuse(&format!("{start}1+1")), format!("'{start}1+1"));
        }
    }

    #[test]
    fn a_semicolon_cannot_start_a_formula_in_a_spreadsheet_that_splits_on_it() {
        let out = csv_of(&[event("a", "ok;=1+1;x")]);
        let row = out.lines().nth(1).unwrap();
        assert_eq!(
            row,
            "2026-11-27T09:00:00.000000Z,a,custom,custom.x,ok;'=1+1;x,7,01936f0e-6c1a-7d2b-9a4e-3f1c2b7d9e10,2026-11-27T10:00:00.000000Z,s"
        );
        // Split as a `;` spreadsheet does: no piece starts a formula.
        for piece in row.split(';') {
            assert!(
                !piece.chars().next().is_some_and(starts_formula),
                "{piece:?} in {row:?}"
            );
        }
        assert_eq!(defuse("a;b; =c"), "a;b; =c", "a space before `=` is text already");
        assert_eq!(defuse("=a;@b"), "'=a;'@b");
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
