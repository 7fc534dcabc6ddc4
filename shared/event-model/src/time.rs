//! The one text form of instants used everywhere: RFC 3339, UTC, exactly six fractional digits
//! (`2026-11-27T10:15:30.123456Z`). Fixed width, so the text sorts like the instant.

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, TimeZone, Timelike, Utc};

/// Formats `t` as fixed-width RFC 3339 with microseconds.
pub fn format(t: &DateTime<Utc>) -> String {
    match formatted(t) {
        Formatted::Chrono(text) => text,
        digits => digits.as_str().to_owned(),
    }
}

/// [`format`]'s text, made on the stack digit by digit (reads and exports write two instants
/// per event; chrono's general formatter, with an allocation each, was a visible share of a
/// page's CPU). A year outside 0000–9999 or a leap second, which no instant the service accepts
/// has, is left to chrono.
pub fn formatted(t: &DateTime<Utc>) -> Formatted {
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999);
    let micros = t.nanosecond() / 1_000;
    let Some(year) = year.filter(|_| micros < 1_000_000) else {
        return Formatted::Chrono(t.to_rfc3339_opts(SecondsFormat::Micros, true));
    };
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    for (range, value) in [
        (0..4, year),
        (5..7, t.month()),
        (8..10, t.day()),
        (11..13, t.hour()),
        (14..16, t.minute()),
        (17..19, t.second()),
        (20..26, micros),
    ] {
        let mut value = value;
        for digit in text[range].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    Formatted::Digits(text)
}

/// An instant's text (see [`formatted`]).
pub enum Formatted {
    Digits([u8; 27]),
    Chrono(String),
}

impl Formatted {
    pub fn as_str(&self) -> &str {
        match self {
            Formatted::Digits(text) => std::str::from_utf8(text).expect("ASCII digits and separators"),
            Formatted::Chrono(text) => text,
        }
    }
}

/// Whether `text` has the shape of [`format`]'s output (`2026-11-27T10:15:30.123456Z`): a cheap
/// check for text a store wrote with it, where parsing every row would cost more than the row.
pub fn is_fixed_width(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 27
        && b[4] == b'-'
        && b[10] == b'T'
        && b[19] == b'.'
        && b[26] == b'Z'
        && b.iter()
            .enumerate()
            .all(|(i, c)| matches!(i, 4 | 7 | 10 | 13 | 16 | 19 | 26) || c.is_ascii_digit())
}

/// Drops anything finer than a microsecond, the precision events are stored with.
pub fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = t.nanosecond() / 1_000 * 1_000;
    t.with_nanosecond(nanos).unwrap_or(t)
}

/// The sort key shared by the stores: `<time>#<id>` (the fixed-width instant, `#`, the
/// hyphenated lower-case UUID), ordered by time then id — as text too, so the stores' keys and
/// page positions are this text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeId {
    pub time: DateTime<Utc>,
    pub id: uuid::Uuid,
}

impl TimeId {
    pub fn new(time: DateTime<Utc>, id: uuid::Uuid) -> Self {
        TimeId { time, id }
    }

    /// Reads the text form back; `None` for anything else (a fixed-width instant is required).
    pub fn parse(text: &str) -> Option<TimeId> {
        let (time, id) = text.split_once('#')?;
        // Exactly the text `Display` writes: a fixed-width instant, a hyphenated UUID.
        if !is_fixed_width(time) || id.len() != 36 {
            return None;
        }
        Some(TimeId {
            time: parse_instant(time)?,
            id: uuid::Uuid::try_parse(id).ok()?,
        })
    }
}

impl std::fmt::Display for TimeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", formatted(&self.time).as_str(), self.id.hyphenated())
    }
}

/// [`TimeId`]'s text for `t` and `id`.
pub fn time_id(t: &DateTime<Utc>, id: &uuid::Uuid) -> String {
    TimeId::new(*t, *id).to_string()
}

/// Parses an RFC 3339 instant (any offset) into UTC, truncated to microseconds. Text in the
/// fixed-width form (every stored instant) is read digit by digit.
pub fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    if is_fixed_width(text) {
        let b = text.as_bytes();
        let number = |range: std::ops::Range<usize>| b[range].iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
        let second = number(17..19);
        // A leap second (`:60`) is left to chrono, which reads it its own way.
        if second < 60 {
            return NaiveDate::from_ymd_opt(number(0..4) as i32, number(5..7), number(8..10))?
                .and_hms_micro_opt(number(11..13), number(14..16), second, number(20..26))
                .map(|t| t.and_utc());
        }
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| truncate_micros(t.with_timezone(&Utc)))
}

/// Parses `YYYY-MM-DD` strictly (four-digit year, two-digit month and day).
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    let shaped = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shaped {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// Midnight UTC at the start of `date`.
pub fn start_of(date: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight exists"))
}

/// The earliest instant an event may carry: the Unix epoch. Earlier dates are almost surely a
/// client bug (a zeroed clock), and the fixed-width text form needs a four-digit year anyway.
pub fn earliest() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH
}

/// The latest instant anything may name (the last microsecond of year 9999): the fixed-width text
/// form has a four-digit year, and every store reads back what it wrote only within that range.
pub fn latest() -> DateTime<Utc> {
    start_of(NaiveDate::from_ymd_opt(9999, 12, 31).expect("valid date")) + chrono::Duration::days(1)
        - chrono::Duration::microseconds(1)
}

/// Whether `t` is within [`earliest`]..=[`latest`], the range every instant the service accepts
/// (an event's `time`, a filter's `from` and `to`) must be in.
pub fn in_range(t: &DateTime<Utc>) -> bool {
    (earliest()..=latest()).contains(t)
}

/// What a client is told when an instant is out of [`in_range`].
pub const RANGE_MESSAGE: &str = "must be from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z (a date-only `to` ends at the next midnight, so 9999-12-30 at the latest)";

/// `#[serde(with = "event_model::time::rfc3339")]`: an instant in the fixed-width form.
pub mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(super::formatted(t).as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_instant(&text).ok_or_else(|| serde::de::Error::custom("not an RFC 3339 instant"))
    }
}

/// `#[serde(with = "event_model::time::rfc3339_opt")]`: an optional instant in the fixed-width form.
pub mod rfc3339_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::rfc3339::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| super::parse_instant(&t).ok_or_else(|| serde::de::Error::custom("not an RFC 3339 instant")))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_format_with_six_fractional_digits_in_utc() {
        let t = parse_instant("2026-11-27T12:15:30.1+02:00").unwrap();
        assert_eq!(format(&t), "2026-11-27T10:15:30.100000Z");
    }

    #[test]
    fn nanoseconds_are_truncated_to_microseconds() {
        let t = parse_instant("2026-11-27T10:15:30.123456789Z").unwrap();
        assert_eq!(format(&t), "2026-11-27T10:15:30.123456Z");
    }

    #[test]
    fn every_instant_in_range_formats_and_parses_back() {
        for t in [earliest(), latest()] {
            assert!(in_range(&t));
            assert_eq!(parse_instant(&format(&t)), Some(t));
        }
        let past_the_end = latest() + chrono::Duration::microseconds(1);
        assert!(!in_range(&past_the_end));
        assert_eq!(parse_instant(&format(&past_the_end)), None, "why the range ends there");
        assert!(!in_range(&(earliest() - chrono::Duration::microseconds(1))));
    }

    #[test]
    fn the_digit_by_digit_form_is_chronos_form() {
        // Instants spread over the whole range (a prime step in microseconds), both ends, and
        // the years before 1970 and after 9999 that only chrono can write.
        let (first, last) = (earliest().timestamp_micros(), latest().timestamp_micros());
        let step = (last - first) / 100_003;
        let mut instants: Vec<DateTime<Utc>> = (0..100_003)
            .map(|i| DateTime::from_timestamp_micros(first + i * step + i % 1_000_000).unwrap())
            .collect();
        instants.extend([
            earliest(),
            latest(),
            DateTime::from_timestamp_micros(-86_400_000_000 * 800_000).unwrap(),
        ]);
        instants.push(latest() + chrono::Duration::days(400));
        for t in instants {
            let chrono_text = t.to_rfc3339_opts(SecondsFormat::Micros, true);
            assert_eq!(format(&t), chrono_text);
            assert_eq!(
                parse_instant(&chrono_text),
                DateTime::parse_from_rfc3339(&chrono_text)
                    .ok()
                    .map(|p| p.with_timezone(&Utc)),
                "{chrono_text}"
            );
        }
        for (text, expected) in [
            ("2026-02-30T00:00:00.000000Z", None),
            ("2026-13-01T00:00:00.000000Z", None),
            ("2026-01-01T24:00:00.000000Z", None),
            (
                "2026-12-31T23:59:60.000000Z",
                DateTime::parse_from_rfc3339("2026-12-31T23:59:60Z").ok(),
            ),
        ] {
            assert_eq!(
                parse_instant(text),
                expected.map(|t| truncate_micros(t.with_timezone(&Utc))),
                "{text}"
            );
        }
    }

    #[test]
    fn a_time_id_reads_back_and_sorts_as_its_text() {
        let id = uuid::Uuid::parse_str("01936f0e-6c1a-7d2b-9a4e-3f1c2b7d9e10").unwrap();
        let t = parse_instant("2026-11-27T10:15:30.123456Z").unwrap();
        let key = TimeId::new(t, id);
        assert_eq!(
            key.to_string(),
            "2026-11-27T10:15:30.123456Z#01936f0e-6c1a-7d2b-9a4e-3f1c2b7d9e10"
        );
        assert_eq!(TimeId::parse(&key.to_string()), Some(key));
        let later = TimeId::new(t + chrono::Duration::microseconds(1), uuid::Uuid::nil());
        assert!(later > key && later.to_string() > key.to_string());
        for bad in [
            "",
            "2026-11-27T10:15:30Z#01936f0e-6c1a-7d2b-9a4e-3f1c2b7d9e10",
            "2026-11-27T10:15:30.123456Z",
            "2026-11-27T10:15:30.123456Z#nope",
            "2026-11-27T10:15:30.123456+00:00#01936f0e-6c1a-7d2b-9a4e-3f1c2b7d9e10",
        ] {
            assert_eq!(TimeId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_fixed_width_shape_is_what_format_writes() {
        assert!(is_fixed_width(&format(&latest())));
        assert!(is_fixed_width(&format(&earliest())));
        for bad in [
            "",
            "yesterday",
            "2026-11-27T10:15:30Z",
            "2026-11-27T10:15:30.123456+00:00",
            "2026-11-27X10:15:30.123456Z",
        ] {
            assert!(!is_fixed_width(bad), "{bad}");
        }
    }

    #[test]
    fn a_date_must_have_the_exact_shape() {
        assert!(parse_date("2026-11-27").is_some());
        assert!(parse_date("2026-1-27").is_none());
        assert!(parse_date("2026-02-30").is_none());
        assert!(parse_date("+2026-11-2").is_none());
    }
}
