//! The handlers, one module per resource, and the helpers they share for reading bodies.

mod events;
mod exports;
mod integrity;
mod meta;
mod numbers;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{MethodRouter, get, post};
use bytes::Bytes;
use serde_json::Value;

use crate::AppState;
use crate::auth::Role;
use crate::error::ApiError;

/// Which routes a router serves: all of them (the local server), or those of one Lambda
/// function (API Gateway sends each route to one function; [`ROUTES`] says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    All,
    Ingest,
    Query,
    Export,
    /// The seal's state and proofs: on AWS the archiver, which holds the archive and its key.
    Integrity,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    Needs(Role),
}

/// A route of the API: method, path (in the `{id}` form axum and API Gateway share), the Lambda
/// function that serves it, and who may call it.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub surface: Surface,
    pub access: Access,
    handler: fn() -> MethodRouter<AppState>,
}

impl Route {
    /// API Gateway's route key: `GET /events/{id}`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// Whether a request for `method` and `path` (no query) takes this route: each `{…}` of the
    /// route's path stands for one non-empty segment.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        let (ours, theirs) = (self.path.split('/'), path.split('/'));
        method == self.method
            && ours.clone().count() == theirs.clone().count()
            && ours
                .zip(theirs)
                .all(|(a, b)| a == b || (a.starts_with('{') && !b.is_empty()))
    }
}

/// Every route of the API, the one list: the routers are built from it; the tests' credential
/// matrix and Lambda route map, the template test (each function's HttpApi events) and the
/// OpenAPI test read it. The extractors (`Reader`, `Ingestor`) enforce `access`, and the
/// credential matrix checks that they agree with it.
pub static ROUTES: [Route; 13] = [
    Route {
        method: "POST",
        path: "/events",
        surface: Surface::Ingest,
        access: Access::Needs(Role::Ingest),
        handler: || post(events::ingest).layer(DefaultBodyLimit::max(event_model::limits::MAX_BODY_BYTES)),
    },
    Route {
        method: "GET",
        path: "/events",
        surface: Surface::Query,
        access: Access::Needs(Role::Read),
        handler: || get(events::list),
    },
    Route {
        method: "GET",
        path: "/events/{id}",
        surface: Surface::Query,
        access: Access::Needs(Role::Read),
        handler: || get(events::get_one),
    },
    Route {
        method: "GET",
        path: "/events/{id}/proof",
        surface: Surface::Integrity,
        access: Access::Needs(Role::Read),
        handler: || get(integrity::proof),
    },
    Route {
        method: "GET",
        path: "/integrity",
        surface: Surface::Integrity,
        access: Access::Needs(Role::Read),
        handler: || get(integrity::status),
    },
    Route {
        method: "GET",
        path: "/counts",
        surface: Surface::Query,
        access: Access::Needs(Role::Read),
        handler: || get(events::counts),
    },
    Route {
        method: "GET",
        path: "/actors",
        surface: Surface::Query,
        access: Access::Needs(Role::Read),
        handler: || get(events::actors),
    },
    Route {
        method: "GET",
        path: "/catalog",
        surface: Surface::Query,
        access: Access::Needs(Role::Read),
        handler: || get(meta::catalog),
    },
    Route {
        method: "GET",
        path: "/openapi.json",
        surface: Surface::Query,
        access: Access::Public,
        handler: || get(meta::openapi),
    },
    Route {
        method: "GET",
        path: "/health",
        surface: Surface::Query,
        access: Access::Public,
        handler: || get(meta::health),
    },
    Route {
        method: "POST",
        path: "/exports",
        surface: Surface::Export,
        access: Access::Needs(Role::Read),
        handler: || post(exports::create).layer(DefaultBodyLimit::max(exports::MAX_EXPORT_BODY)),
    },
    Route {
        method: "GET",
        path: "/exports",
        surface: Surface::Export,
        access: Access::Needs(Role::Read),
        handler: || get(exports::list),
    },
    Route {
        method: "GET",
        path: "/exports/{id}",
        surface: Surface::Export,
        access: Access::Needs(Role::Read),
        handler: || get(exports::status),
    },
];

/// The routes of `surface`; the export routes only where `state` has the export side.
pub(crate) fn of(surface: Surface, state: &AppState) -> Router<AppState> {
    ROUTES
        .iter()
        .filter(|route| surface == Surface::All || route.surface == surface)
        .filter(|route| route.surface != Surface::Export || state.exports.is_some())
        .fold(Router::new(), |router, route| {
            router.route(route.path, (route.handler)())
        })
        .fallback(meta::not_found)
        .method_not_allowed_fallback(meta::method_not_allowed)
}

/// The pairs of a query string (`None`: none), or 400 when it is malformed.
pub(crate) fn query_pairs(query: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(query.unwrap_or("")).map_err(|_| {
        ApiError::Validation(vec![event_model::FieldError::new(
            "query",
            "the query string is malformed",
        )])
    })
}

/// A `limit` parameter: an integer from 1 to `max`.
pub(crate) fn limit_param(value: &str, max: usize) -> Result<usize, event_model::FieldError> {
    match value.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(event_model::FieldError::new(
            "limit",
            format!("must be an integer from 1 to {max}"),
        )),
    }
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

/// Stores the journal's own record of what `caller` did (one of the service types): the person's
/// `sub` goes beside their name as the parameter `subject`, since an e-mail address or username
/// can change hands while `sub` does not.
async fn record(
    state: &AppState,
    event_type: &event_model::EventType,
    caller: &crate::auth::Caller,
    mut params: serde_json::Map<String, Value>,
) -> Result<(), audit_storage::StoreError> {
    use audit_storage::{AppendOutcome, StoreError};
    if let Some(subject) = &caller.subject {
        params.insert("subject".into(), Value::from(subject.as_str()));
    }
    let record = event_model::NewEvent::service_record(event_type, &caller.name, params, state.clock.now())
        .map_err(StoreError::unavailable)?;
    match state.events.append(vec![record]).await.pop() {
        Some(AppendOutcome::Created) => Ok(()),
        Some(AppendOutcome::Failed(e)) => Err(e),
        _ => Err(StoreError::Corrupt(format!(
            "the journal's {} record was not created",
            event_type.code
        ))),
    }
}
