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
/// policy lets it talk to the issuer (its discovery document) and to the token endpoint the
/// discovery document names, which may be on another origin (Google's is).
pub fn router(sign_in: Option<&SignIn>) -> anyhow::Result<Router> {
    let (config, policy) = match sign_in {
        None => (CONFIG.to_owned(), Policy::fixed(&["'self'"])),
        Some(s) => {
            let oidc = serde_json::json!({"issuer": s.issuer, "clientId": s.client_id, "scopes": s.scopes});
            let config = format!(
                "window.AUDIT_CONFIG = {};\n",
                serde_json::json!({"apiUrl": "", "oidc": oidc})
            );
            (config, Policy::of_issuer(&s.issuer)?)
        }
    };
    let policy = Arc::new(policy);
    let serve = {
        let policy = policy.clone();
        move |content_type: &'static str, body: Bytes| {
            let policy = policy.clone();
            move || asset(content_type, body.clone(), policy.base.clone())
        }
    };
    let page = Bytes::from_static(INDEX.as_bytes());
    Ok(Router::new()
        .route(
            "/",
            get(move || {
                let (policy, page) = (policy.clone(), page.clone());
                async move { asset("text/html; charset=utf-8", page, policy.for_page().await).await }
            }),
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
        ))
}

/// The Content-Security-Policy of the page: `connect-src` its own origin, and with people's
/// sign-in the issuer's and, once its discovery document has been read, the token endpoint's.
struct Policy {
    /// Before (or without) the discovery document.
    base: HeaderValue,
    provider: Option<(audit_api::jwks::HttpJwks, String)>,
    resolved: tokio::sync::OnceCell<HeaderValue>,
}

impl Policy {
    fn fixed(connect: &[&str]) -> Policy {
        Policy {
            base: policy_value(connect),
            provider: None,
            resolved: tokio::sync::OnceCell::new(),
        }
    }

    fn of_issuer(issuer: &str) -> anyhow::Result<Policy> {
        let origin = origin(issuer).ok_or_else(|| anyhow::anyhow!("the issuer {issuer} is not a URL"))?;
        Ok(Policy {
            base: policy_value(&["'self'", &origin]),
            provider: Some((audit_api::jwks::HttpJwks::new(issuer, None)?, origin)),
            resolved: tokio::sync::OnceCell::new(),
        })
    }

    /// The page's policy: read once from the discovery document (at most 3 s; tried again at
    /// the next page load while the provider cannot be reached, the issuer's origin alone till then).
    async fn for_page(&self) -> HeaderValue {
        let Some((provider, issuer_origin)) = &self.provider else {
            return self.base.clone();
        };
        if let Some(resolved) = self.resolved.get() {
            return resolved.clone();
        }
        match tokio::time::timeout(std::time::Duration::from_secs(3), provider.discovery()).await {
            Ok(Ok(document)) => {
                let mut connect = vec!["'self'".to_owned(), issuer_origin.clone()];
                if let Some(token) = document["token_endpoint"].as_str().and_then(origin)
                    && !connect.contains(&token)
                {
                    connect.push(token);
                }
                let connect: Vec<&str> = connect.iter().map(String::as_str).collect();
                self.resolved
                    .get_or_init(|| async { policy_value(&connect) })
                    .await
                    .clone()
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %format!("{e:#}"), "the identity provider's discovery document could not be read");
                self.base.clone()
            }
            Err(_) => {
                tracing::warn!("the identity provider's discovery document did not come within 3 s");
                self.base.clone()
            }
        }
    }
}

/// `scheme://host[:port]` of an http(s) `url`, if its host and port are plain (letters, digits,
/// `.`, `-`, `:`, brackets): nothing from a discovery document can add to the policy but an origin.
fn origin(url: &str) -> Option<String> {
    let uri: axum::http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str().filter(|s| matches!(*s, "https" | "http"))?;
    let authority = uri.authority()?.as_str();
    let plain = authority
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    plain.then(|| format!("{scheme}://{authority}"))
}

fn policy_value(connect: &[&str]) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src {}; \
         img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        connect.join(" ")
    ))
    .expect("an origin is a header value")
}

async fn asset(content_type: &'static str, body: Bytes, policy: HeaderValue) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::CONTENT_SECURITY_POLICY, policy),
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

#[cfg(test)]
mod tests {
    use super::origin;

    #[test]
    fn only_a_plain_origin_goes_into_the_policy() {
        assert_eq!(
            origin("https://oauth2.googleapis.com/token").as_deref(),
            Some("https://oauth2.googleapis.com")
        );
        assert_eq!(
            origin("http://127.0.0.1:9000/x").as_deref(),
            Some("http://127.0.0.1:9000")
        );
        for bad in [
            "https://evil;script-src:443/",
            "https://u:p@id.example.com/",
            "javascript:alert(1)",
            "/token",
        ] {
            assert_eq!(origin(bad), None, "{bad}");
        }
    }
}
