//! `POST /exports` and `GET /exports/{id}`. The export itself runs outside the request, started
//! through the [`crate::ExportLauncher`].

use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use chrono::Utc;
use event_model::{EventFilter, FieldError};
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
    let mut body =
        serde_json::to_value(&job).map_err(|e| ApiError::Unexpected(audit_storage::StoreError::unavailable(e)))?;
    if let Some(obj) = body.as_object_mut() {
        obj.remove("requested_by");
        if job.status == ExportStatus::Succeeded {
            let link = state.objects.download_link(&job.object_key(), &job.file_name()).await?;
            obj.insert("download_url".into(), json!(link.url));
            obj.insert("expires_at".into(), json!(event_model::time::format(&link.expires_at)));
        }
    }
    Ok(Json(body).into_response())
}
