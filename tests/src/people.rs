//! An OpenID provider's side of people's access tokens, for tests of the API and the Lambda
//! functions (issue 17): the issuer's discovery document and JWKS over HTTP on a loopback port
//! (which a test can take down), tokens signed with its P-256 key, and the negative cases of
//! `tests/fixtures/jwt/*.json` (the claims changed, how the token is signed, the status and the
//! reason `WWW-Authenticate` gives). The browser test signs in through a real provider
//! (`oidc-provider`, in `tests/ui/oidc.mjs`).

use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::EncodePrivateKey;
use serde_json::{Value, json};

/// Where the test issuer's discovery document says its token endpoint is (another origin).
pub const TOKEN_ENDPOINT: &str = "https://tokens.example.test/token";

/// The audience the test issuer's tokens are for.
pub const AUDIENCE: &str = "audit-log";

/// The test issuer: its URL (`iss`), keys and whether they are served.
pub struct Issuer {
    pub url: String,
    /// The signing key and its `kid` (a rotation changes both).
    signing: Mutex<(p256::SecretKey, String)>,
    /// The public keys served.
    keys: Mutex<Vec<Value>>,
    jwks: Arc<Mutex<Option<Value>>>,
}

/// The public JWK of `secret` under `kid`.
fn public_jwk(secret: &p256::SecretKey, kid: &str) -> Value {
    let point = secret.public_key().to_sec1_bytes();
    json!({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
           "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65])})
}

impl Issuer {
    /// Serves `/.well-known/openid-configuration` and `/jwks` on a loopback port.
    pub async fn start() -> Issuer {
        let secret = p256::SecretKey::from_slice(&[5; 32]).unwrap();
        let jwk = public_jwk(&secret, "k1");
        let jwks = Arc::new(Mutex::new(Some(json!({"keys": [jwk.clone()]}))));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let served = jwks.clone();
        // Its token endpoint on another origin, as some providers have it (Google's).
        let discovery = json!({"issuer": url, "jwks_uri": format!("{url}/jwks"),
                               "token_endpoint": TOKEN_ENDPOINT})
        .to_string();
        let app = axum::Router::new()
            .route(
                "/jwks",
                axum::routing::get(move || {
                    let jwks = served.clone();
                    async move {
                        match jwks.lock().unwrap().clone() {
                            Some(v) => (axum::http::StatusCode::OK, v.to_string()),
                            None => (axum::http::StatusCode::SERVICE_UNAVAILABLE, String::new()),
                        }
                    }
                }),
            )
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(move || async move { discovery }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Issuer {
            url,
            signing: Mutex::new((secret, "k1".into())),
            keys: Mutex::new(vec![jwk]),
            jwks,
        }
    }

    /// Takes the keys down (503) or serves them again.
    pub fn keys_served(&self, served: bool) {
        *self.jwks.lock().unwrap() = served.then(|| json!({"keys": self.keys.lock().unwrap().clone()}));
    }

    /// A key rotation: tokens are signed from now on with a new key, `kid`, which the JWKS serves
    /// beside the old ones.
    pub fn rotate(&self, seed: u8, kid: &str) {
        let secret = p256::SecretKey::from_slice(&[seed; 32]).unwrap();
        self.keys.lock().unwrap().push(public_jwk(&secret, kid));
        *self.signing.lock().unwrap() = (secret, kid.to_owned());
        self.keys_served(true);
    }

    /// Serves `jwk` too (a key of another kind, whose tokens [`Issuer::token_signed`] makes).
    pub fn serve_key(&self, jwk: Value) {
        self.keys.lock().unwrap().push(jwk);
        self.keys_served(true);
    }

    /// A token with the claims of [`Issuer::claims`], signed by `key` under `header`.
    pub fn token_signed(&self, header: &Header, key: &EncodingKey, changes: &Value) -> String {
        jsonwebtoken::encode(header, &self.claims(changes), key).unwrap()
    }

    /// The claims of a good token for Ada, a reader, with `changes` applied.
    pub fn claims(&self, changes: &Value) -> Value {
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({"iss": self.url, "aud": AUDIENCE, "sub": "u-42", "email": "ada@example.test",
                                "groups": ["audit-readers"], "iat": now, "exp": now + 600});
        for (k, v) in changes.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    }

    /// A token signed by the issuer's key with the claims of [`Issuer::claims`].
    pub fn token(&self, changes: &Value) -> String {
        let (secret, kid) = self.signing.lock().unwrap().clone();
        let header = Header {
            kid: Some(kid),
            ..Header::new(Algorithm::ES256)
        };
        let key = EncodingKey::from_ec_der(secret.to_pkcs8_der().unwrap().as_bytes());
        jsonwebtoken::encode(&header, &self.claims(changes), &key).unwrap()
    }

    /// The negative cases of `tests/fixtures/jwt/*.json`, each as a token.
    pub fn cases(&self) -> Vec<Case> {
        let now = chrono::Utc::now().timestamp();
        let mut files: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/jwt"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(files.len() >= 9, "{files:?}");
        files
            .into_iter()
            .map(|file| {
                let case: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
                let what = format!("{} ({})", file.file_name().unwrap().to_string_lossy(), case["what"]);
                let mut changes = case["claims"].clone();
                for v in changes.as_object_mut().unwrap().values_mut() {
                    if let Some(offset) = v.as_str().and_then(|t| t.strip_prefix("NOW")) {
                        *v = json!(now + offset.parse::<i64>().unwrap());
                    }
                }
                let token = self.signed_as(case["sign"].as_str().unwrap(), &changes, &what);
                Case {
                    what,
                    claims: self.claims(&changes),
                    token,
                    status: case["status"].as_u64().unwrap() as u16,
                    reason: case["reason"].as_str().map(str::to_owned),
                }
            })
            .collect()
    }

    fn signed_as(&self, sign: &str, changes: &Value, what: &str) -> String {
        let good = self.token(changes);
        let payload = good.split('.').nth(1).unwrap().to_owned();
        let claims: Value = serde_json::from_slice(&B64.decode(&payload).unwrap()).unwrap();
        match sign {
            "issuer-key" => good,
            "none" => format!("{}.{payload}.", B64.encode(r#"{"alg":"none","kid":"k1"}"#)),
            "hs256-public-key" => {
                let header = Header {
                    kid: Some("k1".into()),
                    ..Header::new(Algorithm::HS256)
                };
                let point = self.signing.lock().unwrap().0.public_key().to_sec1_bytes();
                jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&point)).unwrap()
            }
            "unknown-key" => {
                let other = p256::SecretKey::from_slice(&[6; 32]).unwrap();
                let header = Header {
                    kid: Some("k-unknown".into()),
                    ..Header::new(Algorithm::ES256)
                };
                let key = EncodingKey::from_ec_der(other.to_pkcs8_der().unwrap().as_bytes());
                jsonwebtoken::encode(&header, &claims, &key).unwrap()
            }
            "tampered" => {
                let parts: Vec<&str> = good.split('.').collect();
                let mut claims = claims;
                claims["sub"] = json!("someone-else");
                format!("{}.{}.{}", parts[0], B64.encode(claims.to_string()), parts[2])
            }
            other => panic!("{what}: unknown sign {other}"),
        }
    }
}

/// A token the API must refuse.
pub struct Case {
    pub what: String,
    /// The claims it carries (what an authorizer would pass on, had it let the token through).
    pub claims: Value,
    pub token: String,
    pub status: u16,
    /// For a 401, what `WWW-Authenticate` says.
    pub reason: Option<String>,
}

impl Case {
    /// Holds an answer to the case: its status, and for a 401 its reason in `WWW-Authenticate`
    /// (`invalid_token`), never the token.
    pub fn check(&self, status: u16, www_authenticate: Option<&str>) {
        let what = &self.what;
        assert_eq!(status, self.status, "{what}");
        if let Some(reason) = &self.reason {
            let challenge = www_authenticate.unwrap_or_else(|| panic!("{what}: no WWW-Authenticate"));
            assert!(
                challenge.contains(reason.as_str()) && challenge.contains("invalid_token"),
                "{what}: {challenge}"
            );
            assert!(
                !challenge.contains(&self.token[..20.min(self.token.len())]),
                "{what}: the token is not echoed"
            );
        }
    }
}
