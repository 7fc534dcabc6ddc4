//! The stored event and the ingest input, and the validation that turns one into the other
//! ("parse, don't validate": a [`NewEvent`] is valid by construction).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::catalog::{Category, EventType};
use crate::template::RenderError;
use crate::time;

mod checks;
mod params;

pub use checks::is_invisible;
pub(crate) use checks::{CONTROL_MESSAGE, INVISIBLE_MESSAGE, has_control, name_problem};
use checks::{check_params, check_type};
pub use params::Params;

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
    /// An event the service records about its own use (one of [`crate::catalog::SERVICE_TYPES`]),
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

/// The actor of what no person did (the product's analysis steps; the service's own alarms).
pub const SYSTEM_ACTOR: &str = "system";

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
mod tests;
