//! The stored event and the ingest input, and the validation that turns one into the other
//! ("parse, don't validate": a [`NewEvent`] is valid by construction).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::catalog::{self, Category, EventType, ParamKind};
use crate::template::{self, RenderError};
use crate::time;

/// Limits of SPEC §2.2. Over-limit input is rejected, never truncated.
pub mod limits {
    /// Largest request body, in bytes.
    pub const MAX_BODY_BYTES: usize = 1024 * 1024;
    /// Most events in one request.
    pub const MAX_BATCH: usize = 500;
    /// Longest actor, in characters.
    pub const MAX_ACTOR_CHARS: usize = 256;
    /// Longest rendered message, in characters.
    pub const MAX_MESSAGE_CHARS: usize = 4096;
    /// Most parameters of one event.
    pub const MAX_PARAMS: usize = 32;
    /// Longest parameter value (its text in a message), in characters.
    pub const MAX_PARAM_VALUE_CHARS: usize = 1024;
    /// Longest parameter name, in characters.
    pub const MAX_PARAM_NAME_CHARS: usize = 64;
    /// Longest `custom.` type code, in characters.
    pub const MAX_TYPE_CHARS: usize = 64;
    /// How far ahead of the receive time an event's `time` may be.
    pub const MAX_CLOCK_SKEW_SECS: i64 = 300;
    /// Largest `duration_ms`: 2^53 - 1, so every client (JavaScript included) reads it exactly.
    pub const MAX_DURATION_MS: u64 = (1 << 53) - 1;
}

/// An event as stored and as every read returns it (SPEC §2.1). Written as JSON through
/// [`EventView`], its one shape.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Event {
    pub id: Uuid,
    #[serde(with = "time::rfc3339")]
    pub time: DateTime<Utc>,
    pub actor: String,
    #[serde(with = "category_code")]
    pub category: Category,
    #[serde(rename = "type")]
    pub event_type: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    pub params: Params,
    pub source: String,
    #[serde(with = "time::rfc3339")]
    pub received_at: DateTime<Utc>,
}

/// An event's fields borrowed from wherever they are kept (an [`Event`], a store's row): what
/// every read writes as JSON. A store that writes a page straight from its rows fills one per
/// row instead of building events; [`Event`] is written through it, so both have one shape.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct EventView<'a> {
    pub id: Uuid,
    #[serde(with = "time::rfc3339")]
    pub time: DateTime<Utc>,
    pub actor: &'a str,
    #[serde(with = "category_code")]
    pub category: Category,
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    pub params: &'a serde_json::value::RawValue,
    pub source: &'a str,
    #[serde(with = "time::rfc3339")]
    pub received_at: DateTime<Utc>,
}

impl EventView<'_> {
    pub fn to_event(&self) -> Event {
        Event {
            id: self.id,
            time: self.time,
            actor: self.actor.to_owned(),
            category: self.category,
            event_type: self.event_type.to_owned(),
            message: self.message.to_owned(),
            duration_ms: self.duration_ms,
            params: Params(self.params.to_owned()),
            source: self.source.to_owned(),
            received_at: self.received_at,
        }
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.view().serialize(s)
    }
}

/// An event's params: a JSON object kept as its canonical text (keys in order, as serde_json
/// writes a [`Map`]), which is what the stores keep. A read hands the stored text on, checked to
/// be one JSON object, instead of parsing it into values only to write them out again.
#[derive(Debug, Clone)]
pub struct Params(Box<serde_json::value::RawValue>);

impl Params {
    pub fn from_map(map: &Map<String, Value>) -> Self {
        Params(serde_json::value::to_raw_value(map).expect("a JSON map always serializes"))
    }

    /// Text a store kept, if it is one JSON object (checked without building values).
    pub fn from_stored(text: String) -> Option<Self> {
        let raw = serde_json::value::RawValue::from_string(text).ok()?;
        raw.get().starts_with('{').then_some(Params(raw))
    }

    /// [`Params::from_stored`], borrowed: the text as a JSON value if it is one JSON object.
    pub fn check(text: &str) -> Option<&serde_json::value::RawValue> {
        let raw: &serde_json::value::RawValue = serde_json::from_str(text).ok()?;
        raw.get().starts_with('{').then_some(raw)
    }

    /// The canonical text, as stores keep it.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    pub fn into_string(self) -> String {
        Box::<str>::from(self.0).into_string()
    }

    pub fn to_map(&self) -> Map<String, Value> {
        serde_json::from_str(self.as_str()).expect("params hold a JSON object")
    }
}

impl PartialEq for Params {
    /// The same object, however its text is spaced.
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str() || self.to_map() == other.to_map()
    }
}

impl Serialize for Params {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Params {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Map::deserialize(d).map(|map| Params::from_map(&map))
    }
}

impl Event {
    pub fn view(&self) -> EventView<'_> {
        EventView {
            id: self.id,
            time: self.time,
            actor: &self.actor,
            category: self.category,
            event_type: &self.event_type,
            message: &self.message,
            duration_ms: self.duration_ms,
            params: &self.params.0,
            source: &self.source,
            received_at: self.received_at,
        }
    }

    /// The sort key `<time>#<id>` shared by the stores.
    pub fn time_id(&self) -> String {
        time::time_id(&self.time, &self.id)
    }
}

/// A validated event ready to store, with the fingerprint of what the client sent: a retry of the
/// same event (same id, same content) has the same fingerprint, a different event under a reused
/// id does not.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event: Event,
    pub fingerprint: String,
}

/// One problem with the input, named by its JSON path (`events[3].params.project`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

const INPUT_FIELDS: [&str; 7] = ["id", "time", "actor", "type", "params", "message", "duration_ms"];

impl NewEvent {
    /// Validates one ingest object (SPEC §2.2). `path` prefixes the field names of the errors
    /// (`events[3]`, or empty for a single event); `now` is the receive time; `source` the name
    /// of the sending API key.
    pub fn parse(input: &Value, path: &str, now: DateTime<Utc>, source: &str) -> Result<NewEvent, Vec<FieldError>> {
        let field = |name: &str| {
            if path.is_empty() {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            }
        };
        let mut errors = Vec::new();
        let Some(obj) = input.as_object() else {
            let name = if path.is_empty() {
                "body".to_owned()
            } else {
                path.to_owned()
            };
            return Err(vec![FieldError::new(name, "must be a JSON object")]);
        };
        for key in obj.keys().filter(|k| !INPUT_FIELDS.contains(&k.as_str())) {
            errors.push(FieldError::new(
                field(key),
                format!("unknown field; allowed fields are {}", INPUT_FIELDS.join(", ")),
            ));
        }

        let id = match obj.get("id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => match Uuid::parse_str(s) {
                Ok(id) if !id.is_nil() => Some(id),
                Ok(_) => {
                    errors.push(FieldError::new(field("id"), "must not be the nil UUID"));
                    None
                }
                Err(_) => {
                    errors.push(FieldError::new(field("id"), "must be a UUID"));
                    None
                }
            },
            Some(_) => {
                errors.push(FieldError::new(field("id"), "must be a UUID string"));
                None
            }
        };

        let supplied_time = match obj.get("time") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => match time::parse_instant(s) {
                Some(t) if !time::in_range(&t) => {
                    errors.push(FieldError::new(field("time"), time::RANGE_MESSAGE));
                    None
                }
                Some(t) if t > now + Duration::seconds(limits::MAX_CLOCK_SKEW_SECS) => {
                    errors.push(FieldError::new(
                        field("time"),
                        "is more than 5 minutes ahead of the server's clock",
                    ));
                    None
                }
                Some(t) => Some(t),
                None => {
                    errors.push(FieldError::new(
                        field("time"),
                        "must be an RFC 3339 date-time such as 2026-11-27T10:15:30Z",
                    ));
                    None
                }
            },
            Some(_) => {
                errors.push(FieldError::new(field("time"), "must be an RFC 3339 date-time string"));
                None
            }
        };

        let actor = match obj.get("actor") {
            Some(Value::String(s)) => {
                let chars = s.chars().count();
                if chars == 0 || chars > limits::MAX_ACTOR_CHARS {
                    errors.push(FieldError::new(
                        field("actor"),
                        format!("must be 1 to {} characters long", limits::MAX_ACTOR_CHARS),
                    ));
                } else if let Some(problem) = name_problem(s) {
                    errors.push(FieldError::new(field("actor"), problem));
                }
                Some(s.as_str())
            }
            None | Some(Value::Null) => {
                errors.push(FieldError::new(field("actor"), "is required (a username, or `system`)"));
                None
            }
            Some(_) => {
                errors.push(FieldError::new(field("actor"), "must be a string"));
                None
            }
        };

        let duration_ms = match obj.get("duration_ms") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(d) if d <= limits::MAX_DURATION_MS => Some(d),
                _ => {
                    errors.push(FieldError::new(
                        field("duration_ms"),
                        format!("must be an integer from 0 to {}", limits::MAX_DURATION_MS),
                    ));
                    None
                }
            },
            Some(_) => {
                errors.push(FieldError::new(field("duration_ms"), "must be a non-negative integer"));
                None
            }
        };

        let params = match obj.get("params") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => {
                errors.push(FieldError::new(field("params"), "must be an object"));
                Map::new()
            }
        };
        check_params(&params, &field("params"), &mut errors);

        let client_message = match obj.get("message") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                errors.push(FieldError::new(field("message"), "must be a string"));
                None
            }
        };

        let typed = match obj.get("type") {
            Some(Value::String(code)) => check_type(code, &params, client_message, &field, &mut errors),
            None | Some(Value::Null) => {
                errors.push(FieldError::new(field("type"), "is required; see GET /catalog"));
                None
            }
            Some(_) => {
                errors.push(FieldError::new(field("type"), "must be a string"));
                None
            }
        };

        if let Some((_, _, message)) = &typed {
            if message.chars().count() > limits::MAX_MESSAGE_CHARS {
                errors.push(FieldError::new(
                    field("message"),
                    format!("the message is longer than {} characters", limits::MAX_MESSAGE_CHARS),
                ));
            } else if has_control(message) {
                errors.push(FieldError::new(field("message"), CONTROL_MESSAGE));
            }
        }

        let (Some(actor), Some((category, code, message))) = (actor, typed) else {
            return Err(errors);
        };
        if !errors.is_empty() {
            return Err(errors);
        }

        let params = Params::from_map(&params);
        let fingerprint = content_fingerprint(supplied_time, actor, &code, &message, &params, duration_ms);
        let received_at = time::truncate_micros(now);
        Ok(NewEvent {
            event: Event {
                id: id.unwrap_or_else(Uuid::now_v7),
                time: supplied_time.unwrap_or(received_at),
                actor: actor.to_owned(),
                category,
                event_type: code,
                message,
                duration_ms,
                params,
                source: source.to_owned(),
                received_at,
            },
            fingerprint,
        })
    }
}

impl NewEvent {
    /// An event the service records about its own use (one of [`catalog::SERVICE_TYPES`]),
    /// attributed to `actor` (the token's name), with the service as its `source`.
    pub fn service_record(
        event_type: &EventType,
        actor: &str,
        params: Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<NewEvent, RenderError> {
        let message = event_type.render(&params)?;
        let now = time::truncate_micros(now);
        let params = Params::from_map(&params);
        let fingerprint = content_fingerprint(Some(now), actor, event_type.code, &message, &params, None);
        let event = Event {
            id: Uuid::now_v7(),
            time: now,
            actor: actor.to_owned(),
            category: event_type.category,
            event_type: event_type.code.to_owned(),
            message,
            duration_ms: None,
            params,
            source: SERVICE_SOURCE.to_owned(),
            received_at: now,
        };
        Ok(NewEvent { event, fingerprint })
    }
}

/// The `source` of the events the service records itself.
pub const SERVICE_SOURCE: &str = "audit-log";

/// Checks the type code and renders the message: `(category, code, message)`.
fn check_type(
    code: &str,
    params: &Map<String, Value>,
    client_message: Option<&str>,
    field: &dyn Fn(&str) -> String,
    errors: &mut Vec<FieldError>,
) -> Option<(Category, String, String)> {
    if code.starts_with("custom.") {
        if !catalog::is_custom_code(code) || code.len() > limits::MAX_TYPE_CHARS {
            errors.push(FieldError::new(
                field("type"),
                format!(
                    "a custom type is `custom.` followed by lower-case letters, digits, `_`, `.` or `-`, at most {} characters in all",
                    limits::MAX_TYPE_CHARS
                ),
            ));
            return None;
        }
        let Some(message) = client_message else {
            errors.push(FieldError::new(field("message"), "is required for `custom.` types"));
            return None;
        };
        if message.is_empty() {
            errors.push(FieldError::new(field("message"), "must not be empty"));
            return None;
        }
        return Some((Category::Custom, code.to_owned(), message.to_owned()));
    }

    if code.starts_with("audit.") {
        errors.push(FieldError::new(
            field("type"),
            "`audit.` events are recorded by the service itself and cannot be sent",
        ));
        return None;
    }
    let Some(event_type) = catalog::find(code) else {
        errors.push(FieldError::new(
            field("type"),
            format!("unknown event type `{code}`; see GET /catalog, or use a `custom.` type"),
        ));
        return None;
    };
    if client_message.is_some() {
        errors.push(FieldError::new(
            field("message"),
            "is rendered from the catalog template; send it only with `custom.` types",
        ));
    }
    check_param_kinds(event_type, params, &field("params"), errors);
    match event_type.render(params) {
        Ok(message) => Some((event_type.category, code.to_owned(), message)),
        Err(RenderError::MissingParam(name)) => {
            errors.push(FieldError::new(
                format!("{}.{name}", field("params")),
                format!("is required by the template of `{code}`"),
            ));
            None
        }
        // Already reported by check_params.
        Err(RenderError::Unrenderable(_)) => None,
    }
}

fn check_params(params: &Map<String, Value>, path: &str, errors: &mut Vec<FieldError>) {
    if params.len() > limits::MAX_PARAMS {
        errors.push(FieldError::new(
            path,
            format!("must have at most {} entries", limits::MAX_PARAMS),
        ));
    }
    for (name, value) in params {
        let field = format!("{path}.{name}");
        let name_ok = !name.is_empty()
            && name.chars().count() <= limits::MAX_PARAM_NAME_CHARS
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !name_ok {
            errors.push(FieldError::new(
                field,
                format!(
                    "a parameter name is 1 to {} ASCII letters, digits or `_`",
                    limits::MAX_PARAM_NAME_CHARS
                ),
            ));
            continue;
        }
        match template::value_text(value) {
            None => errors.push(FieldError::new(
                field,
                "must be a string, number, boolean or list of those (not null, not an object)",
            )),
            Some(text) if text.chars().count() > limits::MAX_PARAM_VALUE_CHARS => errors.push(FieldError::new(
                field,
                format!("must be at most {} characters", limits::MAX_PARAM_VALUE_CHARS),
            )),
            Some(text) if has_control(&text) => errors.push(FieldError::new(field, CONTROL_MESSAGE)),
            Some(_) => {}
        }
    }
}

fn check_param_kinds(event_type: &EventType, params: &Map<String, Value>, path: &str, errors: &mut Vec<FieldError>) {
    for name in event_type.params() {
        let Some(value) = params.get(name) else {
            continue;
        };
        let ok = match event_type.param_kind(name) {
            ParamKind::Text => true,
            ParamKind::Integer => value.as_u64().is_some(),
            ParamKind::Uuid => value.as_str().is_some_and(|s| Uuid::parse_str(s).is_ok()),
            ParamKind::List => value.as_array().is_some_and(|items| items.iter().all(Value::is_string)),
        };
        if !ok {
            let expected = match event_type.param_kind(name) {
                ParamKind::Text => "text",
                ParamKind::Integer => "a non-negative integer",
                ParamKind::Uuid => "a UUID string",
                ParamKind::List => "a list of strings",
            };
            errors.push(FieldError::new(format!("{path}.{name}"), format!("must be {expected}")));
        }
    }
}

pub(crate) const CONTROL_MESSAGE: &str =
    "must not contain control characters or bidirectional embedding, override or isolate characters";

/// Control characters other than tab (C0, DEL and C1), and the bidirectional embeddings,
/// overrides and isolates (U+202A–U+202E, U+2066–U+2069), which make text display other than it
/// reads ("Trojan Source"): an actor shown as `admin` that is not `admin`.
pub(crate) fn has_control(s: &str) -> bool {
    s.chars().any(|c| {
        (c.is_control() && c != '\t')
            || ('\u{202A}'..='\u{202E}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    })
}

/// What a client is told about an invisible character in a name.
pub(crate) const INVISIBLE_MESSAGE: &str = "must not contain invisible characters (zero-width spaces and joiners, soft hyphens, word joiners, byte order marks, directional marks, line or paragraph separators, tag characters or other format characters): they make one name look like another";
/// What a client is told about a name that is not in Unicode NFC.
pub(crate) const NFC_MESSAGE: &str =
    "must be in Unicode normalization form C (NFC): the same name in other forms would look alike and not match";

/// Characters that show as nothing, or as nearly nothing, so that a name holding them looks like
/// one without (`ad\u{200B}min` shows as `admin`): every character of General Category Cf
/// (format), the line and paragraph separators (Zl, Zp), and the rest of Unicode's
/// Default_Ignorable_Code_Point (Hangul fillers, variation selectors, the combining grapheme
/// joiner), as of Unicode 16. Letters from other scripts that look like Latin ones (Cyrillic
/// `ѕуѕtеm`) are not here: they are real names, and show as what they are in a font that tells
/// scripts apart.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD                  // soft hyphen
        | 0x034F                // combining grapheme joiner
        | 0x0600..=0x0605       // Arabic number signs
        | 0x061C                // Arabic letter mark
        | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2
        | 0x115F..=0x1160       // Hangul fillers
        | 0x17B4..=0x17B5       // Khmer inherent vowels
        | 0x180B..=0x180F       // Mongolian variation selectors and vowel separator
        | 0x200B..=0x200F       // zero-width space, non-joiner, joiner; LRM, RLM
        | 0x2028..=0x202E       // line and paragraph separators; bidirectional embeddings and overrides
        | 0x2060..=0x206F       // word joiner, invisible operators, isolates, deprecated format characters
        | 0x3164 | 0xFFA0       // Hangul fillers
        | 0xFE00..=0xFE0F       // variation selectors
        | 0xFEFF                // zero-width no-break space, byte order mark
        | 0xFFF0..=0xFFFB       // interlinear annotation characters (and reserved ignorables)
        | 0x110BD | 0x110CD     // Kaithi number signs
        | 0x13430..=0x1343F     // Egyptian hieroglyph format controls
        | 0x1BCA0..=0x1BCA3     // shorthand format controls
        | 0x1D173..=0x1D17A     // musical symbol format controls
        | 0xE0000..=0xE0FFF     // tag characters, variation selectors supplement
    )
}

/// Why `name` (an actor, or an `actor` filter) cannot be taken, if it cannot: control or
/// bidirectional characters, invisible characters, or a form other than NFC. One name has one
/// spelling, so what shows alike is alike.
pub(crate) fn name_problem(name: &str) -> Option<&'static str> {
    if has_control(name) {
        Some(CONTROL_MESSAGE)
    } else if name.chars().any(is_invisible) {
        Some(INVISIBLE_MESSAGE)
    } else if !icu_normalizer::ComposingNormalizerBorrowed::new_nfc().is_normalized(name) {
        Some(NFC_MESSAGE)
    } else {
        None
    }
}

/// What identifies an event's content: a retry of the same event has the same fingerprint. `time`
/// counts only when the client sent it.
fn content_fingerprint(
    time: Option<DateTime<Utc>>,
    actor: &str,
    code: &str,
    message: &str,
    params: &Params,
    duration_ms: Option<u64>,
) -> String {
    let time = time.map(|t| time::format(&t)).unwrap_or_default();
    let duration = duration_ms.map(|d| d.to_string()).unwrap_or_default();
    let mut hasher = Sha256::new();
    for part in [time.as_str(), actor, code, message, params.as_str(), duration.as_str()] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hex_prefix(&hasher.finalize())
}

fn hex_prefix(digest: &[u8]) -> String {
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

mod category_code {
    use super::*;

    pub fn serialize<S: Serializer>(c: &Category, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(c.code())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Category, D::Error> {
        let text = String::deserialize(d)?;
        Category::parse(&text).ok_or_else(|| serde::de::Error::custom("unknown category"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        time::parse_instant("2026-11-27T10:00:00Z").unwrap()
    }

    fn parse(v: Value) -> Result<NewEvent, Vec<FieldError>> {
        NewEvent::parse(&v, "", now(), "scanner")
    }

    fn fields(v: Value) -> Vec<String> {
        parse(v).unwrap_err().into_iter().map(|e| e.field).collect()
    }

    const RUN: &str = "5f0c3c1e-8d2a-4c1b-9a51-0e7b7a0f6a11";

    #[test]
    fn a_catalog_event_gets_its_message_category_and_source() {
        let e = parse(json!({
            "time": "2026-11-27T09:15:30.123456Z", "actor": "alice", "type": "sca.analysis_finished",
            "params": {"project": "payments", "sequence": 12, "run_id": RUN}, "duration_ms": 5234
        }))
        .unwrap()
        .event;
        assert_eq!(e.message, format!("[SCA][payments][12/{RUN}] Analysis finished"));
        assert_eq!(e.category, Category::Sca);
        assert_eq!(e.source, "scanner");
        assert_eq!(e.duration_ms, Some(5234));
        assert_eq!(e.received_at, now());
        assert_eq!(e.id.get_version_num(), 7);
    }

    #[test]
    fn time_defaults_to_the_receive_time() {
        let e = parse(json!({"actor": "system", "type": "auth.logged_in"}))
            .unwrap()
            .event;
        assert_eq!(e.time, now());
    }

    #[test]
    fn a_time_more_than_five_minutes_ahead_is_rejected() {
        assert_eq!(
            fields(json!({"actor": "a", "type": "auth.logged_in", "time": "2026-11-27T10:05:01Z"})),
            ["time"]
        );
        assert!(parse(json!({"actor": "a", "type": "auth.logged_in", "time": "2026-11-27T10:05:00Z"})).is_ok());
    }

    #[test]
    fn a_missing_template_param_is_named() {
        assert_eq!(
            fields(json!({"actor": "a", "type": "auth.login_failed"})),
            ["params.username"]
        );
    }

    #[test]
    fn extra_params_are_kept() {
        let e = parse(json!({"actor": "a", "type": "auth.logged_in", "params": {"ip": "10.0.0.1"}}))
            .unwrap()
            .event;
        assert_eq!(e.params.to_map()["ip"], "10.0.0.1");
    }

    #[test]
    fn typed_params_must_have_their_type() {
        let errs = fields(json!({"actor": "a", "type": "sca.analysis_started",
            "params": {"project": "p", "sequence": "12", "run_id": "not-a-uuid"}}));
        assert_eq!(errs, ["params.sequence", "params.run_id"]);
    }

    #[test]
    fn an_unknown_type_is_rejected_and_a_custom_type_needs_a_message() {
        assert_eq!(fields(json!({"actor": "a", "type": "auth.nope"})), ["type"]);
        assert_eq!(fields(json!({"actor": "a", "type": "custom.deploy"})), ["message"]);
        let e = parse(json!({"actor": "a", "type": "custom.deploy", "message": "Deployed v2"}))
            .unwrap()
            .event;
        assert_eq!((e.category, e.message.as_str()), (Category::Custom, "Deployed v2"));
        assert_eq!(
            fields(json!({"actor": "a", "type": "custom.", "message": "m"})),
            ["type"]
        );
    }

    #[test]
    fn clients_cannot_send_audit_events() {
        let input =
            json!({"actor": "a", "type": "audit.export_requested", "params": {"export_id": "x", "filters": "none"}});
        assert_eq!(fields(input), ["type"]);
    }

    #[test]
    fn the_service_records_its_own_events() {
        let mut params = Map::new();
        params.insert("export_id".into(), json!("e1"));
        params.insert("filters".into(), json!("actor=alice"));
        let e = NewEvent::service_record(catalog::EXPORT_REQUESTED, "admin", params, now())
            .unwrap()
            .event;
        assert_eq!(
            e.message,
            "Export e1 of the audit log requested with filters: actor=alice"
        );
        assert_eq!(
            (e.category, e.source.as_str(), e.actor.as_str()),
            (Category::Audit, "audit-log", "admin")
        );
    }

    #[test]
    fn a_message_is_not_accepted_for_catalog_types() {
        assert_eq!(
            fields(json!({"actor": "a", "type": "auth.logged_in", "message": "hi"})),
            ["message"]
        );
    }

    #[test]
    fn an_actor_longer_than_256_characters_is_rejected() {
        assert_eq!(
            fields(json!({"actor": "é".repeat(257), "type": "auth.logged_in"})),
            ["actor"]
        );
        assert!(parse(json!({"actor": "é".repeat(256), "type": "auth.logged_in"})).is_ok());
        assert_eq!(fields(json!({"actor": "", "type": "auth.logged_in"})), ["actor"]);
    }

    #[test]
    fn control_characters_are_rejected_but_tab_is_allowed() {
        assert_eq!(fields(json!({"actor": "a\u{0}b", "type": "auth.logged_in"})), ["actor"]);
        assert_eq!(
            fields(json!({"actor": "a", "type": "auth.login_failed", "params": {"username": "x\ny"}})),
            ["params.username", "message"]
        );
        assert!(parse(json!({"actor": "a\tb", "type": "auth.logged_in"})).is_ok());
    }

    #[test]
    fn invisible_characters_in_an_actor_are_rejected() {
        for c in [
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{00AD}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{200E}',
            '\u{200F}',
            '\u{061C}',
            '\u{2028}',
            '\u{2029}',
            '\u{E0041}',
            '\u{180E}',
            '\u{3164}',
            '\u{FE0F}',
            '\u{034F}',
        ] {
            let actor = format!("ad{c}min");
            let errors = parse(json!({"actor": actor, "type": "auth.logged_in"})).unwrap_err();
            assert_eq!(errors[0].field, "actor", "U+{:04X}", c as u32);
            assert!(errors[0].message.contains("invisible"), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn an_actor_must_be_nfc_and_lookalikes_from_other_scripts_are_names() {
        let decomposed = "Jose\u{0301}";
        assert_eq!(
            fields(json!({"actor": decomposed, "type": "auth.logged_in"})),
            ["actor"]
        );
        assert!(parse(json!({"actor": "José", "type": "auth.logged_in"})).is_ok());
        assert!(
            parse(json!({"actor": "ѕуѕtеm", "type": "auth.logged_in"})).is_ok(),
            "Cyrillic"
        );
        assert!(parse(json!({"actor": "иван.петров", "type": "auth.logged_in"})).is_ok());
    }

    #[test]
    fn a_message_longer_than_4096_characters_is_rejected() {
        let long = "x".repeat(4097);
        assert_eq!(
            fields(json!({"actor": "a", "type": "custom.x", "message": long})),
            ["message"]
        );
    }

    #[test]
    fn too_many_or_too_long_params_are_rejected() {
        let many: Map<String, Value> = (0..33).map(|i| (format!("p{i}"), json!(i))).collect();
        assert_eq!(
            fields(json!({"actor": "a", "type": "auth.logged_in", "params": many})),
            ["params"]
        );
        let long = "x".repeat(1025);
        assert_eq!(
            fields(json!({"actor": "a", "type": "auth.logged_in", "params": {"k": long}})),
            ["params.k"]
        );
    }

    #[test]
    fn unknown_fields_and_wrong_types_are_named() {
        assert_eq!(
            fields(json!({"actor": 5, "type": "auth.logged_in", "acter": "x"})),
            ["acter", "actor"]
        );
        assert_eq!(
            fields(json!({"actor": "a", "type": "auth.logged_in", "duration_ms": -1})),
            ["duration_ms"]
        );
        assert_eq!(
            fields(json!({"actor": "a", "type": "auth.logged_in", "id": "x"})),
            ["id"]
        );
    }

    #[test]
    fn a_retry_has_the_same_fingerprint_and_a_changed_event_does_not() {
        let a = json!({"id": RUN, "actor": "a", "type": "auth.logged_in"});
        let later = NewEvent::parse(&a, "", now() + Duration::seconds(3), "s").unwrap();
        assert_eq!(parse(a.clone()).unwrap().fingerprint, later.fingerprint);
        let changed = json!({"id": RUN, "actor": "b", "type": "auth.logged_in"});
        assert_ne!(parse(a).unwrap().fingerprint, parse(changed).unwrap().fingerprint);
    }

    #[test]
    fn the_stored_event_round_trips_through_json() {
        let e = parse(json!({"actor": "a", "type": "auth.logged_in"})).unwrap().event;
        let text = serde_json::to_string(&e).unwrap();
        assert!(text.contains("\"time\":\"2026-11-27T10:00:00.000000Z\""));
        assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), e);
    }
}
