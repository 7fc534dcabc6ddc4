//! `GET /downloads/{key}`: serves an export file through its signed, expiring link (the local
//! stand-in for an S3 presigned GET). No bearer token: the link's signature is the credential.

use audit_api::ApiError;
use audit_store_sqlite::FileExports;
use audit_store_sqlite::files::LinkError;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use serde::Deserialize;
use tokio_util::io::ReaderStream;

#[derive(Deserialize)]
struct LinkParams {
    filename: String,
    expires: i64,
    signature: String,
}

pub fn router(files: FileExports) -> Router {
    Router::new()
        .route("/downloads/{*key}", get(download))
        .with_state(files)
}

async fn download(
    State(files): State<FileExports>,
    Path(key): Path<String>,
    params: Result<Query<LinkParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Ok(Query(params)) = params else {
        return Err(ApiError::LinkRefused(
            "the link is incomplete: filename, expires and signature are required".into(),
        ));
    };
    files
        .signer()
        .verify(&key, &params.filename, params.expires, &params.signature, Utc::now())
        .map_err(|e| {
            ApiError::LinkRefused(match e {
                LinkError::BadSignature => "the link's signature does not match; it was altered or is not ours".into(),
                LinkError::Expired => "the link has expired; ask GET /exports/{id} for a fresh one".into(),
            })
        })?;
    let path = files
        .path_of(&key)
        .ok_or_else(|| ApiError::NotFound("no such export file".into()))?;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| ApiError::NotFound("no such export file".into()))?;
    let length = file.metadata().await.map(|m| m.len()).ok();
    let disposition = format!("attachment; filename=\"{}\"", params.filename.replace(['"', '\\'], "_"));
    let mut response = Body::from_stream(ReaderStream::with_capacity(file, 256 * 1024)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(audit_storage::ExportFormat::of_key(&key).content_type()),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Some(length) = length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(response)
}
