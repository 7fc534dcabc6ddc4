//! The handlers, one module per resource, and the helpers they share for reading bodies.

mod events;
mod exports;
mod meta;
mod numbers;

use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use bytes::Bytes;
use serde_json::Value;

use crate::AppState;
use crate::error::ApiError;

/// Which routes a router serves: all of them (the local server), or those of one Lambda
/// function (API Gateway sends each route to one function).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    All,
    /// `POST /events`.
    Ingest,
    /// `GET /events`, `GET /events/{id}`, `GET /catalog`, `GET /openapi.json`.
    Query,
    /// `POST /exports`, `GET /exports/{id}`.
    Export,
}

pub(crate) fn of(surface: Surface) -> Router<AppState> {
    let serves = |s: Surface| surface == Surface::All || surface == s;
    let mut router = Router::new().route("/health", get(meta::health));
    if serves(Surface::Query) {
        router = router
            .route("/openapi.json", get(meta::openapi))
            .route("/catalog", get(meta::catalog));
    }
    router = router.merge(events::routes(serves(Surface::Ingest), serves(Surface::Query)));
    if serves(Surface::Export) {
        router = router.merge(exports::routes());
    }
    router
        .fallback(meta::not_found)
        .method_not_allowed_fallback(meta::method_not_allowed)
}

/// Reads a JSON body: checks the content type, maps an over-limit body to 413 and malformed
/// JSON to 400. `None` for an empty body, which some routes accept.
pub(crate) fn json_body(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Option<Value>, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(format!(
                "the body is larger than {} bytes",
                event_model::limits::MAX_BODY_BYTES
            ))
        } else {
            ApiError::MalformedBody("the body could not be read".into())
        }
    })?;
    if body.is_empty() {
        return Ok(None);
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
        .unwrap_or(false);
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let Strict(value) = serde_json::from_slice::<Strict>(&body)
        .map_err(|e| ApiError::MalformedBody(format!("the body is not valid JSON: {e}")))?;
    if numbers::has_double(&value)
        && let Some(number) = numbers::first_inexact(&body)
    {
        return Err(ApiError::Validation(vec![event_model::FieldError::new(
            "body",
            format!(
                "the number {number} cannot be kept exactly (beyond a 64-bit integer or a double's precision); send it as a string"
            ),
        )]));
    }
    Ok(Some(value))
}

/// A JSON value whose objects have no repeated key: `{"actor": "a", "actor": "b"}` is refused,
/// because parsers disagree on which one wins (serde_json keeps the last, others the first), and
/// an audit record must not mean one thing to the sender and another to us.
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format!("duplicate key `{key}`")));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}
