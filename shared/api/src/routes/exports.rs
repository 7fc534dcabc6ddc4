//! `POST /exports` and `GET /exports/{id}`. The export itself runs outside the request, started
//! through the [`crate::ExportLauncher`].

use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use event_model::{EventFilter, FieldError};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::json_body;
use crate::AppState;
use crate::auth::Reader;
use crate::error::ApiError;
use audit_storage::{ExportJob, ExportStatus};

/// An export request is a handful of filters.
const MAX_EXPORT_BODY: usize = 16 * 1024;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/exports", post(create).layer(DefaultBodyLimit::max(MAX_EXPORT_BODY)))
        .route("/exports/{id}", get(status))
}

/// Records a pending job and launches it. An empty body exports the whole journal.
#[tracing::instrument(skip_all, fields(requested_by = %caller.0.name))]
async fn create(
    caller: Reader,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let filters = match json_body(&headers, body)? {
        None => EventFilter::default(),
        Some(body) => EventFilter::from_json(&body).map_err(ApiError::Validation)?,
    };
    let job = ExportJob::new(filters, &caller.0.name, Utc::now());
    state.jobs.create_job(&job).await?;
    if let Err(e) = state.launcher.launch(job.id).await {
        tracing::error!(error = %e, job = %job.id, "could not launch an export");
        let mut failed = job.clone();
        failed.status = ExportStatus::Failed;
        failed.error = Some("the export could not be started; try again".into());
        failed.finished_at = Some(Utc::now());
        state.jobs.update_job(&failed).await?;
        return Err(ApiError::Unavailable);
    }
    let status_url = format!("/exports/{}", job.id);
    let body = json!({"id": job.id, "status": job.status, "status_url": status_url});
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, status_url)], Json(body)).into_response())
}

/// The job's state; once it succeeded, a fresh download link valid for the link lifetime.
async fn status(_reader: Reader, State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::Validation(vec![FieldError::new("id", "must be a UUID")]))?;
    let job = state
        .jobs
        .get_job(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no export with id {id}")))?;
    let link = match job.status {
        ExportStatus::Succeeded => Some(state.objects.download_link(&job.object_key(), &job.file_name()).await?),
        _ => None,
    };
    let body = JobView {
        id: job.id,
        status: job.status,
        filters: &job.filters,
        rows: job.rows,
        bytes: job.bytes,
        created_at: job.created_at,
        finished_at: job.finished_at,
        download_url: link.as_ref().map(|l| l.url.as_str()),
        expires_at: link.as_ref().map(|l| l.expires_at),
        error: job.error.as_deref(),
    };
    Ok(Json(body).into_response())
}

/// `GET /exports/{id}`'s body (SPEC §3.4).
#[derive(Serialize)]
struct JobView<'a> {
    id: Uuid,
    status: ExportStatus,
    filters: &'a EventFilter,
    rows: u64,
    bytes: u64,
    #[serde(with = "event_model::time::rfc3339")]
    created_at: DateTime<Utc>,
    #[serde(with = "event_model::time::rfc3339_opt", skip_serializing_if = "Option::is_none")]
    finished_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    download_url: Option<&'a str>,
    #[serde(with = "event_model::time::rfc3339_opt", skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}
