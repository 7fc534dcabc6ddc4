//! `GET /integrity`, `GET /events/{id}/proof`.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::auth::Reader;
use crate::error::ApiError;

pub(super) async fn status(_reader: Reader, State(state): State<AppState>) -> Result<Response, ApiError> {
    let integrity = served(&state)?;
    Ok(Json(integrity.status().await?).into_response())
}

pub(super) async fn proof(
    _reader: Reader,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let integrity = served(&state)?;
    let id = super::events::event_id(&id)?;
    Ok(Json(integrity.proof(id).await?).into_response())
}

fn served(state: &AppState) -> Result<&dyn crate::Integrity, ApiError> {
    state.integrity.as_deref().ok_or_else(|| {
        ApiError::NotFound("this deployment keeps no sealed archive, so it has no integrity record to show".into())
    })
}
