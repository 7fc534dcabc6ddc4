//! `POST /events`, `GET /events`, `GET /events/{id}`, `GET /counts`, `GET /actors`.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use event_model::{EventFilter, FieldError, NewEvent, catalog, limits};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::json_body;
use crate::AppState;
use crate::auth::{Ingestor, Reader};
use crate::error::ApiError;
use audit_storage::AppendOutcome;

#[derive(Serialize)]
struct IngestResult {
    index: usize,
    id: Uuid,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
}

/// Validates every event first: one invalid event rejects the whole request with 400 and
/// nothing is stored. Valid events are appended; each gets its own outcome.
#[tracing::instrument(skip_all, fields(source = %caller.0.name))]
pub(super) async fn ingest(
    caller: Ingestor,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = json_body(&headers, body)?.ok_or_else(|| ApiError::MalformedBody("the body is empty".into()))?;
    let (inputs, batch) = envelope(&body)?;
    let now = state.clock.now();
    let mut events = Vec::with_capacity(inputs.len());
    let mut errors = Vec::new();
    for (index, input) in inputs.iter().enumerate() {
        let path = if batch {
            format!("events[{index}]")
        } else {
            String::new()
        };
        match NewEvent::parse(input, &path, now, &caller.0.name) {
            Ok(event) => events.push(event),
            Err(e) => errors.extend(e),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }

    let ids: Vec<Uuid> = events.iter().map(|e| e.event.id).collect();
    let outcomes = state.events.append(events).await;
    let (mut accepted, mut duplicates, mut rejected, mut failed) = (0, 0, 0, 0);
    let results: Vec<IngestResult> = outcomes
        .into_iter()
        .zip(ids)
        .enumerate()
        .map(|(index, (outcome, id))| {
            let (status, error) = match outcome {
                AppendOutcome::Created => {
                    accepted += 1;
                    ("created", None)
                }
                AppendOutcome::Duplicate => {
                    duplicates += 1;
                    ("duplicate", None)
                }
                AppendOutcome::Conflict => {
                    rejected += 1;
                    (
                        "rejected",
                        Some("conflict: an event with this id and different content is already stored"),
                    )
                }
                AppendOutcome::Failed(e) => {
                    tracing::error!(error = %e, %id, "an event could not be stored");
                    failed += 1;
                    ("failed", Some("the event could not be stored; retry it"))
                }
            };
            IngestResult {
                index,
                id,
                status,
                error,
            }
        })
        .collect();
    let status = if failed > 0 && accepted + duplicates == 0 {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let body = json!({"accepted": accepted, "duplicates": duplicates, "rejected": rejected, "results": results});
    let mut response = (status, Json(body)).into_response();
    if failed > 0 {
        // Some events are to be sent again: say when.
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(crate::error::RETRY_AFTER_BUSY_SECS),
        );
    }
    Ok(response)
}

/// Splits the body into its events: one event object, or `{"events": [...]}`.
fn envelope(body: &Value) -> Result<(&[Value], bool), ApiError> {
    let Some(obj) = body.as_object() else {
        return Err(ApiError::MalformedBody(
            "the body must be one event object or {\"events\": [...]}".into(),
        ));
    };
    let Some(events) = obj.get("events") else {
        return Ok((std::slice::from_ref(body), false));
    };
    if obj.len() > 1 {
        let extra = obj.keys().find(|k| *k != "events").cloned().unwrap_or_default();
        return Err(ApiError::Validation(vec![FieldError::new(
            extra,
            "unknown field; a batch is {\"events\": [...]} and nothing else",
        )]));
    }
    let Some(events) = events.as_array() else {
        return Err(ApiError::Validation(vec![FieldError::new(
            "events",
            "must be a list of event objects",
        )]));
    };
    if events.is_empty() {
        return Err(ApiError::Validation(vec![FieldError::new(
            "events",
            "must hold at least one event",
        )]));
    }
    if events.len() > limits::MAX_BATCH {
        return Err(ApiError::TooLarge(format!(
            "a batch holds at most {} events; this one holds {}",
            limits::MAX_BATCH,
            events.len()
        )));
    }
    Ok((events, true))
}

/// One page of events under the query's filters, with `next_cursor` and a `Link` header.
#[tracing::instrument(skip_all)]
pub(super) async fn list(
    reader: Reader,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = super::query_pairs(query.as_deref())?;
    let (filter, page) = EventFilter::from_query(&pairs).map_err(ApiError::Validation)?;
    let after = page
        .cursor
        .as_deref()
        .map(|c| state.cursor_key.decode(&filter, c))
        .transpose()
        .map_err(|_| ApiError::InvalidCursor)?;
    // The page body `{"events": [...], "next_cursor": ...}`: the array is written by the store
    // straight from its rows, into a buffer sized for the page.
    let mut body = Vec::with_capacity(512 + page.limit as usize * 640);
    body.extend_from_slice(br#"{"events":"#);
    let read = state
        .events
        .json_page(&filter, page.limit as usize, after.as_deref(), body);
    // A search's first page records it (see `RecordSearches`), while the page is read; without
    // its record there is no answer, as for an export.
    let (result, recorded) = if after.is_none() && state.record_searches.covers(&reader.0) {
        let mut params = serde_json::Map::new();
        params.insert("filters".into(), filter.describe().into());
        tokio::join!(
            read,
            super::record(&state, catalog::JOURNAL_SEARCHED, &reader.0, params)
        )
    } else {
        (read.await, Ok(()))
    };
    if let Err(e) = recorded {
        tracing::error!(error = %e, "could not record a search");
        return Err(ApiError::Unavailable);
    }
    let result = match result {
        Err(audit_storage::StoreError::InvalidPosition) => return Err(ApiError::InvalidCursor),
        other => other?,
    };
    let next_cursor = result.next.as_deref().map(|p| state.cursor_key.encode(&filter, p));
    let mut body = result.json;
    // How far the pages up to this one have looked (a short page of a search has a cursor).
    let through = result
        .next
        .as_deref()
        .and_then(|p| state.events.searched_through(&filter, p))
        .map(|t| event_model::time::format(&t));
    body.extend_from_slice(br#","next_cursor":"#);
    serde_json::to_writer(&mut body, &next_cursor)
        .map_err(|e| ApiError::Unexpected(audit_storage::StoreError::Corrupt(e.to_string())))?;
    body.extend_from_slice(br#","searched_through":"#);
    serde_json::to_writer(&mut body, &through)
        .map_err(|e| ApiError::Unexpected(audit_storage::StoreError::Corrupt(e.to_string())))?;
    body.push(b'}');
    let mut response = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(cursor) = &next_cursor {
        let mut next: Vec<(&str, &str)> = pairs
            .iter()
            .filter(|(k, _)| k != "cursor")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        next.push(("cursor", cursor));
        let query = serde_urlencoded::to_string(&next).unwrap_or_default();
        let link = format!("<{}?{query}>; rel=\"next\"", uri.path());
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    Ok(response)
}

pub(super) async fn get_one(
    _reader: Reader,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = event_id(&id)?;
    match state.events.get(id).await? {
        Some(event) => Ok(Json(event).into_response()),
        None => Err(ApiError::NotFound(format!("no event with id {id}"))),
    }
}

/// The `{id}` of an event's route, as a UUID.
pub(super) fn event_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::Validation(vec![FieldError::new("id", "must be a UUID")]))
}

/// Suggestions per `GET /actors` request: 10 unless `limit` says (at most 50).
const ACTORS_LIMIT: (usize, usize) = (10, 50);

/// Usernames for suggestions as a filter is typed: `GET /actors?prefix=al` →
/// `{"actors": ["alice", "Alicia"]}`, those that start with `prefix` whatever its case (folded as
/// `q` is), sorted, from the index of actors each store keeps. The `actor` filter itself stays
/// exact.
pub(super) async fn actors(
    _reader: Reader,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let pairs = super::query_pairs(query.as_deref())?;
    let (mut prefix, mut limit, mut errors) = (None, ACTORS_LIMIT.0, Vec::new());
    for (key, value) in &pairs {
        match key.as_str() {
            "prefix" => prefix = Some(value.as_str()),
            "limit" => match super::limit_param(value, ACTORS_LIMIT.1) {
                Ok(n) => limit = n,
                Err(e) => errors.push(e),
            },
            _ => errors.push(FieldError::new(
                key.as_str(),
                "unknown parameter; allowed are prefix, limit",
            )),
        }
    }
    match prefix {
        None | Some("") => errors.push(FieldError::new("prefix", "is required: the start of a username")),
        Some(p) if p.chars().count() > event_model::filter::MAX_FILTER_CHARS => errors.push(FieldError::new(
            "prefix",
            format!("must be at most {} characters", event_model::filter::MAX_FILTER_CHARS),
        )),
        Some(p) if p.chars().any(char::is_control) => {
            errors.push(FieldError::new("prefix", "must not hold control characters"))
        }
        Some(_) => {}
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let actors = state.events.actors(prefix.unwrap_or_default(), limit).await?;
    Ok(Json(json!({ "actors": actors })))
}

/// How many events match the filters of `GET /events` (without `limit`, `cursor`), and a
/// histogram of them: `bucket=hour` or `day` (UTC; the default) over the filters' period, or from
/// the first event to now. `{"total": 1234, "exact": true, "bucket": "day", "buckets":
/// [{"start": "…", "count": 12}, …]}`; `exact: false` makes `total` a lower bound (the store
/// stopped counting: "more than"). `counted_through`, when the store answered from counts it
/// keeps (DynamoDB): the end of the last period they hold.
pub(super) async fn counts(
    _reader: Reader,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let pairs = super::query_pairs(query.as_deref())?;
    let mut errors = Vec::new();
    let mut bucket = audit_storage::Bucket::Day;
    let mut filters = Vec::new();
    for (key, value) in pairs {
        match key.as_str() {
            "bucket" => match value.as_str() {
                "hour" => bucket = audit_storage::Bucket::Hour,
                "day" => bucket = audit_storage::Bucket::Day,
                _ => errors.push(FieldError::new("bucket", "must be `hour` or `day`")),
            },
            "limit" | "cursor" => errors.push(FieldError::new(key.as_str(), "is not a parameter of GET /counts")),
            _ => filters.push((key, value)),
        }
    }
    let filter = match EventFilter::from_query(&filters) {
        Ok((filter, _)) => Some(filter),
        Err(more) => {
            errors.extend(more);
            None
        }
    };
    if let Some(filter) = &filter
        && let Some(from) = filter.from
    {
        let to = filter.to.unwrap_or_else(|| state.clock.now());
        let buckets = (to - from).num_microseconds().unwrap_or(i64::MAX) / bucket.micros();
        if buckets >= audit_storage::Counts::MAX_BUCKETS as i64 {
            errors.push(FieldError::new(
                "bucket",
                format!(
                    "the period holds more than {} buckets of this size; use bucket=day or a shorter period",
                    audit_storage::Counts::MAX_BUCKETS
                ),
            ));
        }
    }
    let Some(filter) = filter.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let counts = state.events.counts(&filter, bucket).await?;
    let size = chrono::Duration::microseconds(bucket.micros());
    let buckets: Vec<Value> = counts
        .buckets
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"start": event_model::time::format(&(counts.start + size * i as i32)), "count": n}))
        .collect();
    let mut body = json!({
        "total": counts.total,
        "exact": counts.exact,
        "bucket": counts.bucket,
        "buckets": buckets,
    });
    if let Some(through) = counts.counted_through {
        body["counted_through"] = json!(event_model::time::format(&through));
    }
    Ok(Json(body))
}
