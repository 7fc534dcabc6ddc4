//! The issuer's keys over HTTP(S): from the configured `jwks_uri`, or from the one its OpenID
//! discovery document names (`<issuer>/.well-known/openid-configuration`, whose `issuer` must be
//! the configured one). One hyper + rustls (ring) client, the stack the AWS SDK already links,
//! so a Lambda function that checks people's tokens adds no second HTTP stack.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, bail};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::jwt::JwksSource;

/// How long one fetch may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest document read (a JWKS is a few KB).
const MAX_BYTES: usize = 1 << 20;

/// The JWKS of `issuer`, at `jwks_url` or where its discovery document says.
pub struct HttpJwks {
    issuer: String,
    jwks_url: Mutex<Option<String>>,
    /// Made at the first fetch (reading the system's root certificates takes milliseconds a cold
    /// start need not spend when no person's token comes).
    client: OnceLock<Result<HttpsClient, String>>,
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<bytes::Bytes>>;

fn https_client() -> anyhow::Result<HttpsClient> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
        .context("the system's root certificates")?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

impl HttpJwks {
    /// The keys of `issuer`, at `jwks_url` when given, else at its discovery document's
    /// `jwks_uri` (read at the first fetch). Both must be `https://`, or `http://` on a loopback
    /// host (a provider run locally): keys fetched in the clear could be anyone's.
    pub fn new(issuer: &str, jwks_url: Option<&str>) -> anyhow::Result<HttpJwks> {
        check_url(issuer).context("the issuer")?;
        if let Some(url) = jwks_url {
            check_url(url).context("the JWKS URL")?;
        }
        Ok(HttpJwks {
            issuer: issuer.to_owned(),
            jwks_url: Mutex::new(jwks_url.map(str::to_owned)),
            client: OnceLock::new(),
        })
    }

    async fn get(&self, url: &str) -> anyhow::Result<String> {
        let uri: hyper::Uri = url.parse().with_context(|| format!("{url} is not a URL"))?;
        let client = self
            .client
            .get_or_init(|| https_client().map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let response = tokio::time::timeout(TIMEOUT, client.get(uri))
            .await
            .with_context(|| format!("{url} did not answer within {TIMEOUT:?}"))?
            .with_context(|| format!("fetching {url}"))?;
        if !response.status().is_success() {
            bail!("{url} answered {}", response.status());
        }
        let body = tokio::time::timeout(TIMEOUT, Limited::new(response.into_body(), MAX_BYTES).collect())
            .await
            .with_context(|| format!("{url} did not answer within {TIMEOUT:?}"))?
            .map_err(|e| anyhow::anyhow!("reading {url}: {e}"))?
            .to_bytes();
        String::from_utf8(body.to_vec()).with_context(|| format!("{url} did not answer UTF-8"))
    }

    /// The issuer's discovery document (`<issuer>/.well-known/openid-configuration`), which
    /// must name the same issuer.
    pub async fn discovery(&self) -> anyhow::Result<serde_json::Value> {
        let url = format!("{}/.well-known/openid-configuration", self.issuer.trim_end_matches('/'));
        let document: serde_json::Value =
            serde_json::from_str(&self.get(&url).await?).with_context(|| format!("{url} is not JSON"))?;
        if document["issuer"].as_str() != Some(self.issuer.as_str()) {
            bail!("{url} names another issuer: {}", document["issuer"]);
        }
        Ok(document)
    }

    /// `jwks_uri` of the issuer's discovery document.
    async fn discover(&self) -> anyhow::Result<String> {
        let document = self.discovery().await?;
        let jwks = document["jwks_uri"]
            .as_str()
            .with_context(|| format!("the discovery document of {} names no jwks_uri", self.issuer))?;
        check_url(jwks).context("the discovery document's jwks_uri")?;
        Ok(jwks.to_owned())
    }
}

#[async_trait::async_trait]
impl JwksSource for HttpJwks {
    async fn fetch(&self) -> anyhow::Result<String> {
        let known = self.jwks_url.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let url = match known {
            Some(url) => url,
            None => {
                let url = self.discover().await?;
                *self.jwks_url.lock().unwrap_or_else(|e| e.into_inner()) = Some(url.clone());
                url
            }
        };
        self.get(&url).await
    }
}

/// `https://…`, or `http://` to a loopback host.
fn check_url(url: &str) -> anyhow::Result<()> {
    let uri: hyper::Uri = url.parse().with_context(|| format!("{url} is not a URL"))?;
    let loopback = matches!(uri.host(), Some("127.0.0.1" | "localhost" | "[::1]" | "::1"));
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if loopback => Ok(()),
        _ => bail!("{url} must be https:// (http:// only on a loopback host)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fetched_over_https_or_from_a_loopback_host_only() {
        for good in [
            "https://id.example.com",
            "http://127.0.0.1:9000/x",
            "http://localhost:3000",
        ] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for bad in [
            "http://id.example.com",
            "ftp://127.0.0.1/",
            "id.example.com",
            "http://127.0.0.2.evil.test/",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
