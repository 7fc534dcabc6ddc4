//! The HTTP surface of the audit log, built once and mounted by every entry point (each Lambda
//! function and the local server).
//!
//! - [`ROUTES`]: the one route table (method, path, Lambda function, access); [`router`] and
//!   [`router_of`] are built from it, with request ids, body limits and problem+json errors.
//! - [`AppState`]: what handlers share; the export side ([`Exports`]) only where exports are
//!   served, and the [`Clock`] handlers read the time from.
//! - [`auth`]: bearer tokens known by their SHA-256, roles `ingest` and `read`.
//! - [`error`]: the one mapping from failures to HTTP statuses.
//! - [`export`]: the export worker that turns a job into a CSV object, outside any request.
//! - [`integrity`]: proofs of one event and the seal's state, where an archive is kept.
//! - `routes`: the handlers, one module per resource.

pub mod auth;
pub mod error;
pub mod export;
pub mod integrity;
#[cfg(feature = "jwt")]
pub mod jwks;
pub mod jwt;
mod openapi;
mod role;
pub mod routes;

use std::sync::Arc;

use audit_storage::{EventStore, ExportJobStore, ExportObjects};
use axum::Router;
use axum::http::HeaderName;
use event_model::CursorKey;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use auth::{Role, SignedCaller, TokenSet, TokenSource, Tokens, hash_token};
pub use error::ApiError;
pub use export::{ExportLauncher, ExportWorker};
pub use integrity::Integrity;
pub use routes::{Access, ROUTES, Route, Surface};

/// What the handlers share: the events, the export side where exports are served, the token
/// set and the cursor key.
#[derive(Clone)]
pub struct AppState {
    pub events: Arc<dyn EventStore>,
    /// The export jobs, files and launcher; `None` for a router that serves no export route
    /// (the ingest and query functions), whose export routes are then not mounted.
    pub exports: Option<Exports>,
    /// Proofs and the seal's state, where the store keeps a sealed archive; `None` elsewhere,
    /// where the integrity routes answer 404.
    pub integrity: Option<Arc<dyn Integrity>>,
    pub tokens: Tokens,
    /// People's OpenID Connect access tokens, when an issuer is configured (role `read`).
    pub jwt: Option<Arc<dyn jwt::AccessTokens>>,
    pub cursor_key: CursorKey,
    /// Where handlers read the time (receive times, export requests, leases checked on status).
    pub clock: Arc<dyn Clock>,
    /// Requests per token, when this entry point limits them (the local server; on AWS, API
    /// Gateway's throttling does).
    pub limits: Option<Arc<dyn RateLimit>>,
    /// Whose searches the journal records.
    pub record_searches: RecordSearches,
}

/// Whose searches of the journal are recorded in it, as `audit.journal_searched` (once per
/// search: the first page of `GET /events`, not the pages after it): `AUDIT_RECORD_SEARCHES`.
/// People's by default: "who looked at the log" is asked of people, and a service that reads
/// with a token (a SIEM forwarder polling every minute) would bury those records under its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RecordSearches {
    /// Searches by people (their OpenID Connect tokens).
    #[default]
    People,
    /// Searches by people and by read tokens.
    Everyone,
    /// None.
    Nobody,
}

impl std::str::FromStr for RecordSearches {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "people" => Ok(RecordSearches::People),
            "everyone" => Ok(RecordSearches::Everyone),
            "none" => Ok(RecordSearches::Nobody),
            other => Err(format!("`{other}` is not `people`, `everyone` or `none`")),
        }
    }
}

impl RecordSearches {
    /// Whether a search by `caller` is recorded.
    pub fn covers(self, caller: &auth::Caller) -> bool {
        match self {
            RecordSearches::People => caller.subject.is_some(),
            RecordSearches::Everyone => true,
            RecordSearches::Nobody => false,
        }
    }
}

/// The time as handlers see it: the system clock in the servers, a pinned one in tests (the
/// model already takes `now` as a parameter everywhere).
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    fn now(&self) -> chrono::DateTime<chrono::Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
    }
}

/// What the export routes need besides the events.
#[derive(Clone)]
pub struct Exports {
    pub jobs: Arc<dyn ExportJobStore>,
    pub objects: Arc<dyn ExportObjects>,
    pub launcher: Arc<dyn ExportLauncher>,
}

/// A limit on how often one caller (a token's name) may call.
pub trait RateLimit: Send + Sync + 'static {
    /// `Err(wait)` when `caller` has used up its requests for now and may call again after `wait`.
    fn check(&self, caller: &str) -> Result<(), std::time::Duration>;
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every route of the API over `state`, with the common layers ([`layers`]).
pub fn router(state: AppState) -> Router {
    layers(routes(state))
}

/// The routes of `surface` (one Lambda function's share, or all) with the common layers.
pub fn router_of(surface: Surface, state: AppState) -> Router {
    layers(routes::of(surface, &state).with_state(state))
}

/// Every route of the API over `state`, without layers: for an entry point that adds routes of
/// its own (the local server's download route) before calling [`layers`].
pub fn routes(state: AppState) -> Router {
    routes::of(Surface::All, &state).with_state(state)
}

/// The layers every route gets: each request gets an `x-request-id` (kept if the caller sent a
/// safe one, see [`is_safe_request_id`]) that is echoed in the response and recorded in the
/// request's log span.
pub fn layers(router: Router) -> Router {
    router
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                let id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(axum::middleware::map_request(drop_unsafe_request_id))
}

/// Longest request id kept from a caller.
const MAX_REQUEST_ID: usize = 128;

/// Whether a caller's request id may go into the logs as it is: 1 to 128 ASCII letters, digits,
/// `-`, `_`, `.` or `:` (UUIDs, ULIDs, W3C trace ids and AWS request ids all fit). Anything else
/// could forge log lines or fields, so it is replaced by a new id.
pub fn is_safe_request_id(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID).contains(&id.len()) && id.iter().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
}

/// Removes a request id that is not [`is_safe_request_id`], or that was sent more than once, so a
/// new one is made for the request.
async fn drop_unsafe_request_id(mut request: axum::extract::Request) -> axum::extract::Request {
    let mut ids = request.headers().get_all(&REQUEST_ID).iter();
    let keep = match (ids.next(), ids.next()) {
        (Some(id), None) => is_safe_request_id(id.as_bytes()),
        (None, _) => true,
        (Some(_), Some(_)) => false,
    };
    if !keep {
        request.headers_mut().remove(&REQUEST_ID);
    }
    request
}
