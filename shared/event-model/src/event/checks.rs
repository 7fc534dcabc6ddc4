//! The checks of one ingest object's parts: its type (and message), its params, and the names
//! (no control, invisible or un-normalized characters).

use serde_json::{Map, Value};
use uuid::Uuid;

use super::{FieldError, limits};
use crate::catalog::{self, Category, EventType, ParamKind};
use crate::template::{self, RenderError};

/// Checks the type code and renders the message: `(category, code, message)`.
pub(super) fn check_type(
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

pub(super) fn check_params(params: &Map<String, Value>, path: &str, errors: &mut Vec<FieldError>) {
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
