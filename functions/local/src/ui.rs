//! The admin UI (the project's `ui/` folder, compiled into the binary): the journal page at `/`
//! and its three assets. No token: the page holds no data; it signs a person in with the
//! configured OpenID provider, or asks for a read token, and calls the API from the browser.
//!
//! The page gets a strict Content-Security-Policy (its own scripts, styles and API only, and the
//! identity provider's origin when people sign in), and no response sends a referrer, so neither
//! a filter in the URL nor a download link leaks elsewhere.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

const INDEX: &str = include_str!("../../../ui/index.html");
const SCRIPT: &str = include_str!("../../../ui/app.js");
const STYLE: &str = include_str!("../../../ui/app.css");
const CONFIG: &str = include_str!("../../../ui/config.js");

/// How the page signs people in (`window.AUDIT_CONFIG.oidc`): the issuer, the page's public
/// client id at it, and the scopes it asks for.
#[derive(Debug, Clone)]
pub struct SignIn {
    pub issuer: String,
    pub client_id: String,
    pub scopes: String,
}

/// The page's routes; with `sign_in`, its `config.js` tells it how people sign in, and its
/// policy lets it talk to the issuer.
pub fn router(sign_in: Option<&SignIn>) -> Router {
    let mut connect = "'self'".to_owned();
    let config = match sign_in {
        None => CONFIG.to_owned(),
        Some(s) => {
            // The issuer's origin: its discovery document and token endpoint are fetched by the page.
            if let Ok(uri) = s.issuer.parse::<axum::http::Uri>()
                && let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority())
            {
                connect = format!("'self' {scheme}://{authority}");
            }
            let oidc = serde_json::json!({"issuer": s.issuer, "clientId": s.client_id, "scopes": s.scopes});
            format!(
                "window.AUDIT_CONFIG = {};\n",
                serde_json::json!({"apiUrl": "", "oidc": oidc})
            )
        }
    };
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src {connect}; \
         img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    );
    let policy: Arc<HeaderValue> = Arc::new(HeaderValue::from_str(&policy).expect("a header value"));
    let serve = move |content_type: &'static str, body: Bytes| {
        let policy = policy.clone();
        move || asset(content_type, body.clone(), policy.clone())
    };
    Router::new()
        .route(
            "/",
            get(serve("text/html; charset=utf-8", Bytes::from_static(INDEX.as_bytes()))),
        )
        .route(
            "/app.js",
            get(serve(
                "text/javascript; charset=utf-8",
                Bytes::from_static(SCRIPT.as_bytes()),
            )),
        )
        .route(
            "/app.css",
            get(serve("text/css; charset=utf-8", Bytes::from_static(STYLE.as_bytes()))),
        )
        .route(
            "/config.js",
            get(serve("text/javascript; charset=utf-8", Bytes::from(config))),
        )
}

async fn asset(content_type: &'static str, body: Bytes, policy: Arc<HeaderValue>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::CONTENT_SECURITY_POLICY, (*policy).clone()),
            (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (
                HeaderName::from_static("x-frame-options"),
                HeaderValue::from_static("DENY"),
            ),
        ],
        body,
    )
}
