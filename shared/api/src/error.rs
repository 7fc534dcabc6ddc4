//! Errors at the HTTP edge, rendered as RFC 9457 `application/problem+json`. Status codes are
//! chosen here and nowhere else; a 500 carries an opaque body and its cause goes to the log.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use event_model::FieldError;
use serde::Serialize;

use crate::role::Role;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a bearer token is required")]
    MissingToken,
    #[error("the bearer token is not valid")]
    BadToken,
    #[error("this route needs a token of role `{0}`")]
    Forbidden(Role),
    #[error("the access token is not valid: {0}")]
    InvalidJwt(&'static str),
    #[error("the access token does not carry the role that reads the audit log")]
    NoReadRole,
    #[error(
        "the identity provider's keys cannot be fetched, so access tokens cannot be checked now; service tokens still work"
    )]
    KeysUnavailable,
    #[error("{}", FieldErrors(.0))]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    MalformedBody(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("the body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("{0}")]
    NotFound(String),
    #[error("this method is not allowed on this route")]
    MethodNotAllowed,
    #[error("{0}")]
    NotSealedYet(String),
    #[error("the cursor is malformed, was tampered with, or was made for other filters")]
    InvalidCursor,
    #[error("{0}")]
    LinkRefused(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("this token has sent too many requests; retry after {} s", retry_after_secs(.0))]
    RateLimited(std::time::Duration),
    #[error("the request took longer than the server allows; send it again, faster")]
    RequestTimeout,
    #[error("the store is unavailable; retry later")]
    Unavailable,
    #[error("the store is busy; retry after the time in Retry-After")]
    StoreBusy,
    #[error("{0}")]
    InsufficientStorage(String),
    #[error(transparent)]
    Unexpected(audit_storage::StoreError),
}

/// The one conversion of a store's failure for clients: a busy store (throttling, 5xx, timeouts)
/// is 503 with `Retry-After`; anything else is an opaque 500 whose cause is logged.
impl From<audit_storage::StoreError> for ApiError {
    fn from(e: audit_storage::StoreError) -> Self {
        match e {
            audit_storage::StoreError::Busy(_) => {
                tracing::warn!(error = %e, source = ?std::error::Error::source(&e), "the store is busy");
                ApiError::StoreBusy
            }
            other => ApiError::Unexpected(other),
        }
    }
}

/// Seconds a client is asked to wait before retrying a 503.
pub const RETRY_AFTER_BUSY_SECS: u64 = 1;

impl std::fmt::Display for FieldErrors<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.field, e.message)?;
        }
        Ok(())
    }
}

struct FieldErrors<'a>(&'a [FieldError]);

/// Whole seconds to wait, rounded up (`Retry-After` takes seconds), at least 1.
fn retry_after_secs(wait: &std::time::Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
}

/// Field errors reported at most, so a hostile batch cannot make a huge error body.
const MAX_REPORTED_ERRORS: usize = 50;

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::MissingToken | ApiError::BadToken | ApiError::InvalidJwt(_) => {
                (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized")
            }
            ApiError::Forbidden(_) | ApiError::NoReadRole => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            ApiError::KeysUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "keys-unavailable",
                "Service unavailable",
            ),
            ApiError::Validation(_) => (StatusCode::BAD_REQUEST, "validation-error", "Invalid request"),
            ApiError::MalformedBody(_) => (StatusCode::BAD_REQUEST, "malformed-body", "Malformed request body"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too-large", "Request too large"),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            ApiError::NotSealedYet(_) => (StatusCode::CONFLICT, "not-sealed-yet", "Not sealed yet"),
            ApiError::InvalidCursor => (StatusCode::BAD_REQUEST, "invalid-cursor", "Invalid cursor"),
            ApiError::LinkRefused(_) => (StatusCode::FORBIDDEN, "link-refused", "Download link refused"),
            ApiError::RequestTimeout => (StatusCode::REQUEST_TIMEOUT, "request-timeout", "Request timeout"),
            ApiError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "too-many-requests", "Too many requests"),
            ApiError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate-limited", "Too many requests"),
            ApiError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Service unavailable"),
            ApiError::StoreBusy => (StatusCode::SERVICE_UNAVAILABLE, "store-busy", "Service unavailable"),
            ApiError::InsufficientStorage(_) => (
                StatusCode::INSUFFICIENT_STORAGE,
                "insufficient-storage",
                "Insufficient storage",
            ),
            ApiError::Unexpected(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug, title) = self.parts();
        let errors = match &self {
            ApiError::Validation(errors) => Some(&errors[..errors.len().min(MAX_REPORTED_ERRORS)]),
            _ => None,
        };
        let detail = match &self {
            ApiError::Validation(errors) => FieldErrors(&errors[..errors.len().min(3)]).to_string(),
            ApiError::Unexpected(cause) => {
                tracing::error!(error = %cause, source = ?std::error::Error::source(cause), "internal error");
                "an internal error occurred; it has been logged".to_owned()
            }
            other => other.to_string(),
        };
        let body = Problem {
            kind: format!("urn:audit-log:problem:{slug}"),
            title,
            status: status.as_u16(),
            detail,
            errors,
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let ApiError::RateLimited(wait) = &self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs(wait)));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_BUSY_SECS));
        }
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750: why an access token was refused (its reason is one of ours, never the token).
            let challenge = match &self {
                ApiError::BadToken => HeaderValue::from_static(r#"Bearer error="invalid_token""#),
                ApiError::InvalidJwt(why) => {
                    HeaderValue::from_str(&format!(r#"Bearer error="invalid_token", error_description="{why}""#))
                        .unwrap_or(HeaderValue::from_static(r#"Bearer error="invalid_token""#))
                }
                _ => HeaderValue::from_static("Bearer"),
            };
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}
