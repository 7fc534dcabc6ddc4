//! `POST /exports`, `GET /exports` and `GET /exports/{id}`. The export itself runs outside the
//! request, started through the [`crate::ExportLauncher`].

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use event_model::{EventFilter, FieldError, catalog};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::json_body;
use crate::auth::{Caller, Reader};
use crate::error::ApiError;
use crate::{AppState, Exports};
use audit_storage::{ExportFormat, ExportJob, ExportStatus, PENDING_LEASE, StoreError};

/// Exports one token may have pending or running at once.
const MAX_UNFINISHED_PER_TOKEN: usize = 3;

/// An export request is a handful of filters.
pub(super) const MAX_EXPORT_BODY: usize = 16 * 1024;

/// Records the journal's own record of the request, then a pending job, then launches the job.
/// An empty body exports the whole journal.
#[tracing::instrument(skip_all, fields(requested_by = %caller.0.name))]
pub(super) async fn create(
    caller: Reader,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let exports = exports_of(&state)?;
    let (filters, bom, format) = match json_body(&headers, body)? {
        None => (EventFilter::default(), true, ExportFormat::Csv),
        Some(mut body) => {
            let bom = take_bom(&mut body)?;
            let format = take_format(&mut body)?;
            (
                EventFilter::from_json(&body).map_err(ApiError::Validation)?,
                bom,
                format,
            )
        }
    };
    if !exports.objects.has_room().await? {
        return Err(ApiError::InsufficientStorage(
            "the export folder is over its size budget; wait for old exports to expire or ask the operator to raise the budget".into(),
        ));
    }
    let now = state.clock.now();
    let job = ExportJob {
        bom: bom && format == ExportFormat::Csv,
        format,
        ..ExportJob::new(filters, &caller.0.name, now)
    };
    // The cap is a slot claimed atomically (a conditional write), so concurrent requests never
    // get past it together; it is taken before anything else so a refused request leaves no trace.
    let claimed = exports
        .jobs
        .claim_slot(
            &job.requested_by,
            job.id,
            MAX_UNFINISHED_PER_TOKEN,
            now,
            now + PENDING_LEASE,
        )
        .await?;
    if !claimed {
        return Err(ApiError::TooManyRequests(format!(
            "this token already has {MAX_UNFINISHED_PER_TOKEN} exports pending or running; wait for one to finish"
        )));
    }
    if let Err(e) = start(&state, exports, &job, &caller.0).await {
        if let Err(release) = exports.jobs.release_slot(&job.requested_by, job.id).await {
            tracing::warn!(error = %release, job = %job.id, "could not free the export slot of a request that failed");
        }
        return Err(e);
    }
    let status_url = format!("/exports/{}", job.id);
    let body = json!({"id": job.id, "status": job.status, "status_url": status_url});
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, status_url)], Json(body)).into_response())
}

/// The export side of `state` (the export routes are mounted only where there is one).
fn exports_of(state: &AppState) -> Result<&Exports, ApiError> {
    state
        .exports
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("exports are not served here".into()))
}

/// Takes the `bom` option out of an export body (the rest are filters): whether the file starts
/// with the UTF-8 byte order mark. On by default: an export is mostly opened in a spreadsheet,
/// and Excel reads a CSV as UTF-8 only with it (`иван.петров` shows garbled without). Programs
/// that do not want it send `"bom": false`.
fn take_bom(body: &mut serde_json::Value) -> Result<bool, ApiError> {
    let Some(value) = body.as_object_mut().and_then(|o| o.remove("bom")) else {
        return Ok(true);
    };
    value
        .as_bool()
        .ok_or_else(|| ApiError::Validation(vec![FieldError::new("bom", "must be true or false")]))
}

/// Takes the `format` option out of an export body: `csv` (the default) or `ndjson`.
fn take_format(body: &mut serde_json::Value) -> Result<ExportFormat, ApiError> {
    let Some(value) = body.as_object_mut().and_then(|o| o.remove("format")) else {
        return Ok(ExportFormat::Csv);
    };
    match value.as_str() {
        Some("csv") => Ok(ExportFormat::Csv),
        Some("ndjson") => Ok(ExportFormat::Ndjson),
        _ => Err(ApiError::Validation(vec![FieldError::new(
            "format",
            "must be `csv` or `ndjson`",
        )])),
    }
}

/// Records the request in the journal, creates the job and launches it.
async fn start(state: &AppState, exports: &Exports, job: &ExportJob, caller: &Caller) -> Result<(), ApiError> {
    // The journal records who exported what before the job exists, so nobody pulls the log out
    // unseen: if that record cannot be stored, there is no job. (On AWS, creating the job is
    // what starts it.)
    let mut params = serde_json::Map::new();
    params.insert("export_id".into(), json!(job.id));
    params.insert("filters".into(), json!(job.filters.describe()));
    if let Err(e) = super::record(state, catalog::EXPORT_REQUESTED, caller, params).await {
        tracing::error!(error = %e, job = %job.id, "could not record an export request");
        return Err(ApiError::Unavailable);
    }
    exports.jobs.create_job(job).await?;
    if let Err(e) = exports.launcher.launch(job.id).await {
        tracing::error!(error = %e, job = %job.id, "could not start an export");
        let mut failed = job.clone();
        failed.fail("the export could not be started; try again", state.clock.now());
        exports.jobs.update_job(&failed).await?;
        return Err(ApiError::Unavailable);
    }
    Ok(())
}

/// The job's state; once it succeeded, a fresh download link valid for the link lifetime.
pub(super) async fn status(
    _reader: Reader,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let exports = exports_of(&state)?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::Validation(vec![FieldError::new("id", "must be a UUID")]))?;
    let job = exports
        .jobs
        .get_job(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no export with id {id}")))?;
    let job = crate::export::settle_dead_worker(exports.jobs.as_ref(), job, state.clock.now()).await?;
    Ok(Json(view(exports, &job).await?).into_response())
}

/// Exports a caller may list at once.
const RECENT_EXPORTS: (usize, usize) = (20, 50);

/// The caller's own recent exports (by its token's name, or the person's), newest first, each as
/// `GET /exports/{id}` shows it (a fresh link for each finished file): `{"exports": [...]}`.
pub(super) async fn list(
    caller: Reader,
    State(state): State<AppState>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<Response, ApiError> {
    let exports = exports_of(&state)?;
    let pairs = super::query_pairs(query.as_deref())?;
    let mut limit = RECENT_EXPORTS.0;
    for (key, value) in &pairs {
        match key.as_str() {
            "limit" => {
                limit = super::limit_param(value, RECENT_EXPORTS.1).map_err(|e| ApiError::Validation(vec![e]))?
            }
            _ => {
                return Err(ApiError::Validation(vec![FieldError::new(
                    key.as_str(),
                    "unknown parameter; allowed is limit",
                )]));
            }
        }
    }
    let mut listed = Vec::new();
    for job in exports.jobs.recent_jobs(&caller.0.name, limit).await? {
        let job = crate::export::settle_dead_worker(exports.jobs.as_ref(), job, state.clock.now()).await?;
        listed.push(serde_json::to_value(view(exports, &job).await?).map_err(|e| StoreError::Corrupt(e.to_string()))?);
    }
    Ok(Json(json!({ "exports": listed })).into_response())
}

/// A job as the API shows it, with a fresh download link once it succeeded.
async fn view<'a>(exports: &Exports, job: &'a ExportJob) -> Result<JobView<'a>, ApiError> {
    let link = match job.status {
        ExportStatus::Succeeded => Some(
            exports
                .objects
                .download_link(&job.object_key(), &job.file_name())
                .await?,
        ),
        _ => None,
    };
    Ok(JobView {
        id: job.id,
        status: job.status,
        filters: &job.filters,
        format: job.format,
        rows: job.rows,
        bytes: job.bytes,
        bom: job.bom,
        created_at: job.created_at,
        finished_at: job.finished_at,
        download_url: link.as_ref().map(|l| l.url.clone()),
        expires_at: link.as_ref().map(|l| l.expires_at),
        error: job.error.as_deref(),
    })
}

/// `GET /exports/{id}`'s body (SPEC §3.4).
#[derive(Serialize)]
struct JobView<'a> {
    id: Uuid,
    status: ExportStatus,
    filters: &'a EventFilter,
    format: ExportFormat,
    rows: u64,
    bytes: u64,
    bom: bool,
    #[serde(with = "event_model::time::rfc3339")]
    created_at: DateTime<Utc>,
    #[serde(with = "event_model::time::rfc3339_opt", skip_serializing_if = "Option::is_none")]
    finished_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    download_url: Option<String>,
    #[serde(with = "event_model::time::rfc3339_opt", skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}
