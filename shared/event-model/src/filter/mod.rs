//! The filters of `GET /events` and `POST /exports` (SPEC §3.2): parsed once from the query
//! string or the export body into an [`EventFilter`], the one form every store answers. About
//! 450 lines, kept together: the parsing of both forms, the canonical form that signs cursors,
//! the categories a filter lets through, what it matches and how `q` folds case are one rule.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::{self, Category, Outcome};
use crate::event::FieldError;
use crate::time;

/// Page size bounds of `limit`.
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;
/// Longest `q` and `actor` filter, in characters.
pub const MAX_FILTER_CHARS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Newest first (the default).
    #[default]
    Desc,
    Asc,
}

/// A parsed, valid filter. All parts are combined with AND; empty lists mean "any".
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EventFilter {
    /// Inclusive lower bound.
    #[serde(default, with = "time::rfc3339_opt", skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound.
    #[serde(default, with = "time::rfc3339_opt", skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Case-insensitive substring of message or actor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Sorted by code, without repeats (the canonical form signs cursors).
    #[serde(default, rename = "category", skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<Category>,
    #[serde(default, rename = "type", skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    /// Every actor but this one (`not_actor`): "hide this username".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_actor: Option<String>,
    /// Types left out (`not_type`), sorted, without repeats.
    #[serde(default, rename = "not_type", skip_serializing_if = "Vec::is_empty")]
    pub not_types: Vec<String>,
    /// Only types of this outcome in the catalog (`failure`, `success`, `info`; a custom type's is
    /// `info`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(default)]
    pub order: Order,
}

/// Which event types a filter lets through: the `type` list, narrowed by `outcome`, less
/// `not_type` — the one answer every store turns into its condition on the type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Types {
    /// Any type.
    Any,
    /// One of these (never empty), sorted.
    OneOf(Vec<String>),
    /// Any type but these (never empty), sorted.
    NoneOf(Vec<String>),
    /// No type: the filters contradict each other, so nothing matches.
    Nothing,
}

/// A page request of `GET /events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageParams {
    pub limit: u32,
    pub cursor: Option<String>,
}

impl EventFilter {
    /// Parses the query string pairs of `GET /events`. Unknown and repeated parameters are
    /// rejected so that a typo (`user=alice`) never silently widens a search.
    pub fn from_query(pairs: &[(String, String)]) -> Result<(EventFilter, PageParams), Vec<FieldError>> {
        let mut raw = RawFilter::default();
        let mut limit = None;
        let mut cursor = None;
        let mut errors = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for (key, value) in pairs {
            if seen.contains(&key.as_str()) {
                errors.push(FieldError::new(
                    key.as_str(),
                    "is given more than once; use a comma-separated list",
                ));
                continue;
            }
            seen.push(key);
            let value = Some(value.clone()).filter(|v| !v.is_empty());
            match key.as_str() {
                "limit" => limit = value,
                "cursor" => cursor = value,
                _ => {
                    if !raw.set(key, value.map(Value::String)) {
                        errors.push(FieldError::new(
                            key.as_str(),
                            "unknown parameter; allowed are from, to, actor, not_actor, q, category, type, not_type, outcome, order, limit, cursor",
                        ));
                    }
                }
            }
        }
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(text) => match text.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    errors.push(FieldError::new(
                        "limit",
                        format!("must be an integer from 1 to {MAX_LIMIT}"),
                    ));
                    DEFAULT_LIMIT
                }
            },
        };
        match raw.parse() {
            Ok(filter) if errors.is_empty() => Ok((filter, PageParams { limit, cursor })),
            Ok(_) => Err(errors),
            Err(more) => {
                errors.extend(more);
                Err(errors)
            }
        }
    }

    /// Parses the JSON body of `POST /exports`: the filters of `GET /events`, where `category`
    /// and `type` may also be JSON lists.
    pub fn from_json(body: &Value) -> Result<EventFilter, Vec<FieldError>> {
        let Some(obj) = body.as_object() else {
            return Err(vec![FieldError::new("body", "must be a JSON object of filters")]);
        };
        let mut raw = RawFilter::default();
        let mut errors = Vec::new();
        for (key, value) in obj {
            let value = Some(value.clone()).filter(|v| !v.is_null() && v.as_str() != Some(""));
            if !raw.set(key, value) {
                errors.push(FieldError::new(
                    key.as_str(),
                    "unknown filter; allowed are from, to, actor, not_actor, q, category, type, not_type, outcome, order",
                ));
            }
        }
        match raw.parse() {
            Ok(filter) if errors.is_empty() => Ok(filter),
            Ok(_) => Err(errors),
            Err(more) => {
                errors.extend(more);
                Err(errors)
            }
        }
    }

    /// A canonical text of the filter: equal filters give equal text, so a cursor can be bound
    /// to the filter it was made for.
    pub fn canonical(&self) -> String {
        serde_json::to_string(self).expect("a filter serializes")
    }

    /// The filter in words, for the record of who exported what: `actor=alice, from=…` in a
    /// fixed order, or `none (the whole journal)`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(from) = &self.from {
            parts.push(format!("from={}", time::format(from)));
        }
        if let Some(to) = &self.to {
            parts.push(format!("to={}", time::format(to)));
        }
        if let Some(actor) = &self.actor {
            parts.push(format!("actor={actor}"));
        }
        if let Some(actor) = &self.not_actor {
            parts.push(format!("not_actor={actor}"));
        }
        if let Some(q) = &self.q {
            parts.push(format!("q={q}"));
        }
        if !self.categories.is_empty() {
            let codes: Vec<&str> = self.categories.iter().map(|c| c.code()).collect();
            parts.push(format!("category={}", codes.join(",")));
        }
        if !self.types.is_empty() {
            parts.push(format!("type={}", self.types.join(",")));
        }
        if !self.not_types.is_empty() {
            parts.push(format!("not_type={}", self.not_types.join(",")));
        }
        if let Some(outcome) = self.outcome {
            parts.push(format!("outcome={}", outcome.code()));
        }
        if parts.is_empty() {
            return "none (the whole journal)".to_owned();
        }
        parts.join(", ")
    }

    /// The categories an event must be in: the `category` filter, narrowed by the categories of
    /// the types the filter lets through (a type implies its category), so stores can use a
    /// category index for a type filter.
    pub fn effective_categories(&self) -> Categories {
        let mut of_types: Vec<Category> = match self.effective_types() {
            Types::OneOf(types) => types.iter().map(|t| type_category(t)).collect(),
            Types::Nothing => return Categories::None,
            Types::Any | Types::NoneOf(_) => Vec::new(),
        };
        of_types.sort_by_key(|c| c.code());
        of_types.dedup();
        match (self.categories.is_empty(), of_types.is_empty()) {
            (true, true) => Categories::Any,
            (false, true) => Categories::OneOf(self.categories.clone()),
            (true, false) => Categories::OneOf(of_types),
            (false, false) => {
                of_types.retain(|c| self.categories.contains(c));
                if of_types.is_empty() {
                    Categories::None
                } else {
                    Categories::OneOf(of_types)
                }
            }
        }
    }

    /// The types an event may have (see [`Types`]): `outcome=failure` or `success` is the list of
    /// the catalog's types with that outcome; `info` is every type but those (custom types
    /// included).
    pub fn effective_types(&self) -> Types {
        let mut one_of: Option<Vec<String>> = (!self.types.is_empty()).then(|| self.types.clone());
        let mut none_of = self.not_types.clone();
        match self.outcome {
            None => {}
            Some(Outcome::Info) => none_of.extend(
                catalog::all_types()
                    .filter(|t| t.outcome() != Outcome::Info)
                    .map(|t| t.code.to_owned()),
            ),
            Some(outcome) => {
                let of_outcome = |t: &String| catalog::find(t).is_some_and(|t| t.outcome() == outcome);
                one_of = Some(match one_of {
                    Some(types) => types.into_iter().filter(of_outcome).collect(),
                    None => catalog::all_types()
                        .filter(|t| t.outcome() == outcome)
                        .map(|t| t.code.to_owned())
                        .collect(),
                });
            }
        }
        none_of.sort();
        none_of.dedup();
        match one_of {
            Some(mut types) => {
                types.retain(|t| !none_of.contains(t));
                types.sort();
                if types.is_empty() {
                    Types::Nothing
                } else {
                    Types::OneOf(types)
                }
            }
            None if none_of.is_empty() => Types::Any,
            None => Types::NoneOf(none_of),
        }
    }

    /// Whether an event of type `ty` in `category` passes the `category`, `type`, `outcome` and
    /// `not_type` parts: [`EventFilter::effective_types`] asked of one type, without building
    /// the lists (stores ask it of every row they check).
    pub fn allows_kind(&self, category: Category, ty: &str) -> bool {
        let outcome_of = || catalog::find(ty).map_or(Outcome::Info, |t| t.outcome());
        (self.categories.is_empty() || self.categories.contains(&category))
            && (self.types.is_empty() || self.types.iter().any(|t| t == ty))
            && !self.not_types.iter().any(|t| t == ty)
            && self.outcome.is_none_or(|outcome| outcome_of() == outcome)
    }

    /// Whether `event` passes this filter (used by tests and by stores that filter after reading).
    pub fn matches(&self, event: &crate::Event) -> bool {
        self.from.is_none_or(|f| event.time >= f)
            && self.to.is_none_or(|t| event.time < t)
            && self.actor.as_ref().is_none_or(|a| &event.actor == a)
            && self.not_actor.as_ref().is_none_or(|a| &event.actor != a)
            && self.allows_kind(event.category, &event.event_type)
            && self
                .q
                .as_ref()
                .is_none_or(|q| contains_folded(&event.message, q) || contains_folded(&event.actor, q))
    }
}

/// Which categories a filter lets through (see [`EventFilter::effective_categories`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Categories {
    /// Any category: no `category` or `type` filter.
    Any,
    /// One of these (never empty), sorted by code.
    OneOf(Vec<Category>),
    /// None: the `category` and `type` filters contradict each other, so nothing matches.
    None,
}

/// Case-insensitive substring test, folding case for every script (not only ASCII): what `q`
/// means. Every store matches `q` through [`fold`], so an indexed answer and a scanned answer are
/// the same.
pub fn contains_folded(haystack: &str, needle: &str) -> bool {
    occurs_folded(&fold(needle), haystack, &mut String::new())
}

/// Whether `folded_needle` (already [`fold`]ed) occurs in `haystack` once folded; `scratch` holds
/// the folded haystack, so a caller testing many rows folds each into the same buffer instead of
/// allocating a copy per row.
pub fn occurs_folded(folded_needle: &str, haystack: &str, scratch: &mut String) -> bool {
    scratch.clear();
    fold_into(haystack, scratch);
    scratch.contains(folded_needle)
}

/// The one case folding of the service, used wherever `q` is matched (the scan, the SQLite
/// trigram index, DynamoDB's `search` attribute): each character lower-cased on its own with
/// Rust's Unicode tables, and the Greek final sigma `ς` taken as `σ`. Character by character,
/// not word by word, so `ΟΔΟΣ` (folded `οδοσ`) is found in `ΟΔΟΣΑ` (folded `οδοσα`), which
/// context-sensitive lower-casing (`οδος`) would miss.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    fold_into(text, &mut out);
    out
}

/// [`fold`], appended to `out`.
fn fold_into(text: &str, out: &mut String) {
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        for lower in c.to_lowercase() {
            out.push(if lower == 'ς' { 'σ' } else { lower });
        }
    }
}

fn type_category(code: &str) -> Category {
    catalog::find(code).map(|t| t.category).unwrap_or(Category::Custom)
}

#[derive(Default)]
struct RawFilter {
    from: Option<Value>,
    to: Option<Value>,
    actor: Option<Value>,
    not_actor: Option<Value>,
    q: Option<Value>,
    category: Option<Value>,
    types: Option<Value>,
    not_types: Option<Value>,
    outcome: Option<Value>,
    order: Option<Value>,
}

impl RawFilter {
    fn set(&mut self, key: &str, value: Option<Value>) -> bool {
        let slot = match key {
            "from" => &mut self.from,
            "to" => &mut self.to,
            "actor" => &mut self.actor,
            "not_actor" => &mut self.not_actor,
            "q" => &mut self.q,
            "category" => &mut self.category,
            "type" => &mut self.types,
            "not_type" => &mut self.not_types,
            "outcome" => &mut self.outcome,
            "order" => &mut self.order,
            _ => return false,
        };
        *slot = value;
        true
    }

    fn parse(self) -> Result<EventFilter, Vec<FieldError>> {
        let mut errors = Vec::new();
        let to_is_date = self
            .to
            .as_ref()
            .and_then(Value::as_str)
            .is_some_and(|t| time::parse_date(t).is_some());
        let from = bound(self.from, "from", false, &mut errors);
        let to = bound(self.to, "to", true, &mut errors);
        // A date-only `to` ends at the next midnight, so `from` equal to that is the day after.
        if let (Some(f), Some(t)) = (from, to)
            && (f > t || (f == t && to_is_date))
        {
            errors.push(FieldError::new("from", "must not be after `to`"));
        }
        let actor = text(self.actor, "actor", &mut errors);
        let not_actor = text(self.not_actor, "not_actor", &mut errors);
        let q = text(self.q, "q", &mut errors);
        let mut categories = Vec::new();
        for c in list(self.category, "category", &mut errors) {
            match Category::parse(&c) {
                Some(category) => categories.push(category),
                None => errors.push(FieldError::new(
                    "category",
                    format!("unknown category `{c}`; see GET /catalog"),
                )),
            }
        }
        let mut types = type_list(self.types, "type", &mut errors);
        let mut not_types = type_list(self.not_types, "not_type", &mut errors);
        let outcome = match self.outcome.as_ref().map(|v| v.as_str()) {
            None => None,
            Some(Some("success")) => Some(Outcome::Success),
            Some(Some("failure")) => Some(Outcome::Failure),
            Some(Some("info")) => Some(Outcome::Info),
            Some(_) => {
                errors.push(FieldError::new("outcome", "must be `success`, `failure` or `info`"));
                None
            }
        };
        categories.sort_by_key(|c| c.code());
        categories.dedup();
        types.sort();
        types.dedup();
        not_types.sort();
        not_types.dedup();
        let order = match self.order.as_ref().map(|v| v.as_str()) {
            None => Order::Desc,
            Some(Some("desc")) => Order::Desc,
            Some(Some("asc")) => Order::Asc,
            Some(_) => {
                errors.push(FieldError::new("order", "must be `asc` or `desc`"));
                Order::Desc
            }
        };
        if errors.is_empty() {
            Ok(EventFilter {
                from,
                to,
                actor,
                q,
                categories,
                types,
                not_actor,
                not_types,
                outcome,
                order,
            })
        } else {
            Err(errors)
        }
    }
}

/// Parses a time bound: RFC 3339, or `YYYY-MM-DD` meaning the start of that day for `from` and
/// the end of that day for `to` (so `to=2026-11-27` includes all of the 27th).
fn bound(value: Option<Value>, name: &str, end_of_day: bool, errors: &mut Vec<FieldError>) -> Option<DateTime<Utc>> {
    let value = value?;
    let parsed = value.as_str().and_then(|s| {
        time::parse_instant(s).or_else(|| {
            time::parse_date(s).map(|d| {
                let start = time::start_of(d);
                if end_of_day { start + Duration::days(1) } else { start }
            })
        })
    });
    match parsed {
        Some(t) if time::in_range(&t) => Some(t),
        Some(_) => {
            errors.push(FieldError::new(name, time::RANGE_MESSAGE));
            None
        }
        None => {
            errors.push(FieldError::new(
                name,
                "must be an RFC 3339 date-time (2026-11-27T10:15:30Z) or a date (2026-11-27)",
            ));
            None
        }
    }
}

/// A text filter (`actor` or `q`). `actor` is held to the rules of actors (no invisible
/// characters, NFC); `q` may not hold invisible characters either (it could never be told apart
/// from the same text without them), nor control characters.
fn text(value: Option<Value>, name: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let value = value?;
    let problem = |s: &str| {
        if name.ends_with("actor") {
            crate::event::name_problem(s)
        } else if s.chars().any(char::is_control) || crate::event::has_control(s) {
            Some(crate::event::CONTROL_MESSAGE)
        } else if s.chars().any(crate::event::is_invisible) {
            Some(crate::event::INVISIBLE_MESSAGE)
        } else {
            None
        }
    };
    match value.as_str() {
        Some(s) if s.chars().count() > MAX_FILTER_CHARS => {
            errors.push(FieldError::new(
                name,
                format!("must be at most {MAX_FILTER_CHARS} characters"),
            ));
            None
        }
        Some(s) => match problem(s) {
            Some(message) => {
                errors.push(FieldError::new(name, message));
                None
            }
            None => Some(s.to_owned()),
        },
        None => {
            errors.push(FieldError::new(name, "must be a string"));
            None
        }
    }
}

/// A list of event types (`type`, `not_type`): each a catalog type or a custom one.
fn type_list(value: Option<Value>, name: &str, errors: &mut Vec<FieldError>) -> Vec<String> {
    let types = list(value, name, errors);
    for t in &types {
        if catalog::find(t).is_none() && !catalog::is_custom_code(t) {
            errors.push(FieldError::new(
                name,
                format!("unknown event type `{t}`; see GET /catalog"),
            ));
        }
    }
    types
}

fn list(value: Option<Value>, name: &str, errors: &mut Vec<FieldError>) -> Vec<String> {
    let items: Vec<String> = match value {
        None => return Vec::new(),
        Some(Value::String(s)) => s.split(',').map(|p| p.trim().to_owned()).collect(),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(|v| v.as_str())
            .map(|s| s.trim().to_owned())
            .collect(),
        Some(_) => {
            errors.push(FieldError::new(name, "must be a string or a list of strings"));
            return Vec::new();
        }
    };
    if items.iter().any(String::is_empty) || items.len() > 64 {
        errors.push(FieldError::new(
            name,
            "must be 1 to 64 comma-separated values, none empty",
        ));
        return Vec::new();
    }
    items
}

#[cfg(test)]
mod tests;
