//! Health, catalog, the OpenAPI document and the problem+json fallbacks.

use axum::Json;
use axum::http::Uri;
use axum::response::IntoResponse;
use event_model::{Category, catalog};
use serde_json::{Value, json};

use crate::auth::Reader;
use crate::error::ApiError;

pub(crate) async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub(crate) async fn openapi() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        crate::openapi::DOCUMENT,
    )
}

/// The catalog for UIs and clients: categories with their labels, types, templates, each type's
/// outcome (success, failure or info) and the parameters each template needs (with their kinds).
pub(crate) async fn catalog(_reader: Reader) -> Json<Value> {
    let categories: Vec<Value> = Category::ALL
        .into_iter()
        .map(|category| {
            let types: Vec<Value> = catalog::of_category(category)
                .map(|t| {
                    let params: Vec<Value> = t
                        .params()
                        .into_iter()
                        .map(|p| json!({"name": p, "kind": t.param_kind(p)}))
                        .collect();
                    json!({"type": t.code, "template": t.template, "description": t.description,
                           "outcome": t.outcome(), "params": params})
                })
                .collect();
            json!({"code": category.code(), "label": category.label(), "types": types})
        })
        .collect();
    Json(json!({"types": catalog::all_types().count(), "categories": categories}))
}

pub(crate) async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
