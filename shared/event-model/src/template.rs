//! Rendering a catalog template with an event's parameters.
//!
//! Placeholders are `{name}` with `name` made of lower-case ASCII letters, digits and `_`; any
//! other brace is literal text. Values render as the product did: strings as they are, numbers
//! in decimal, lists joined with `, `, with the per-type [`Transform`] applied.

use serde_json::{Map, Value};

/// How a parameter's value is turned into text inside a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    /// The value as given.
    Plain,
    /// Lower-cased (the product's `{status.lower()}`).
    Lower,
    /// A list of strings joined with `, ` (the product's `', '.join(...)`).
    JoinComma,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("parameter `{0}` is required by the template")]
    MissingParam(String),
    #[error("parameter `{0}` cannot be shown in a message (objects are not allowed)")]
    Unrenderable(String),
}

/// The placeholder names of `template`, in order, repeats included.
pub fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    segments(template).filter_map(|s| match s {
        Segment::Param(name) => Some(name),
        Segment::Text(_) => None,
    })
}

/// Renders `template` with `params`, each parameter through its `transform` (the catalog's
/// `EventType::render` is the way in).
pub fn render(
    template: &str,
    transform: impl Fn(&str) -> Transform,
    params: &Map<String, Value>,
) -> Result<String, RenderError> {
    let mut out = String::with_capacity(template.len() + 32);
    for segment in segments(template) {
        match segment {
            Segment::Text(text) => out.push_str(text),
            Segment::Param(name) => {
                let value = params
                    .get(name)
                    .filter(|v| !v.is_null())
                    .ok_or_else(|| RenderError::MissingParam(name.to_owned()))?;
                let text = value_text(value).ok_or_else(|| RenderError::Unrenderable(name.to_owned()))?;
                match transform(name) {
                    Transform::Lower => out.push_str(&text.to_lowercase()),
                    Transform::Plain | Transform::JoinComma => out.push_str(&text),
                }
            }
        }
    }
    Ok(out)
}

/// The text of a parameter value inside a message: `None` for objects and nested lists.
pub fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => {
            let parts: Option<Vec<String>> = items
                .iter()
                .map(|v| if v.is_array() { None } else { value_text(v) })
                .collect();
            parts.map(|p| p.join(", "))
        }
        Value::Null | Value::Object(_) => None,
    }
}

enum Segment<'a> {
    Text(&'a str),
    Param(&'a str),
}

fn segments(template: &str) -> impl Iterator<Item = Segment<'_>> {
    let mut rest = template;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut search_from = 0;
        while let Some(open) = rest[search_from..].find('{').map(|i| i + search_from) {
            if let Some(len) = rest[open + 1..].find('}') {
                let name = &rest[open + 1..open + 1 + len];
                if is_param_name(name) {
                    if open > 0 {
                        let text = &rest[..open];
                        rest = &rest[open..];
                        return Some(Segment::Text(text));
                    }
                    rest = &rest[len + 2..];
                    return Some(Segment::Param(name));
                }
            }
            search_from = open + 1;
        }
        let text = rest;
        rest = "";
        Some(Segment::Text(text))
    })
}

fn is_param_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::find;
    use serde_json::json;

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_status_is_rendered_lower_case() {
        let t = find("license.key_problem").unwrap();
        let msg = t.render(&params(json!({"status": "EXPIRED"}))).unwrap();
        assert_eq!(msg, "Problem with activation key: expired");
    }

    #[test]
    fn a_list_of_servers_is_joined_with_a_comma() {
        let t = find("ldap.mapping_apply_failed").unwrap();
        let msg = t
            .render(&params(json!({"message": "Oops.", "servers": ["ldap1", "ldap2"]})))
            .unwrap();
        assert_eq!(
            msg,
            "Oops. While processing, failed to apply some of rules related to following LDAP servers: ldap1, ldap2. Check server logs."
        );
    }

    #[test]
    fn numbers_render_in_decimal() {
        let t = find("sca.overall_run_started").unwrap();
        assert_eq!(
            t.render(&params(json!({"count": 12}))).unwrap(),
            "Overall SCA run started for 12 project(s)"
        );
    }

    #[test]
    fn a_missing_param_is_named() {
        let t = find("auth.login_failed").unwrap();
        assert_eq!(t.render(&Map::new()), Err(RenderError::MissingParam("username".into())));
        assert_eq!(
            t.render(&params(json!({"username": null}))),
            Err(RenderError::MissingParam("username".into()))
        );
    }

    #[test]
    fn an_object_value_cannot_be_rendered() {
        let t = find("auth.login_failed").unwrap();
        assert_eq!(
            t.render(&params(json!({"username": {"a": 1}}))),
            Err(RenderError::Unrenderable("username".into()))
        );
    }

    #[test]
    fn braces_that_are_not_placeholders_stay_literal() {
        let names: Vec<&str> = placeholders("a {b} {C} {} {d").collect();
        assert_eq!(names, ["b"]);
    }
}
