//! OpenID Connect access tokens (JWTs) of people, beside the services' bearer tokens: a token
//! from the configured issuer, signed by one of its keys (its JWKS, fetched and cached), for the
//! configured audience, within its validity (with [`LEEWAY_SECS`] of clock skew), and carrying
//! the configured role claim, names the person who reads.
//!
//! Only asymmetric algorithms are accepted ([`ALLOWED`]): never `none`, and never an HMAC
//! algorithm, so a public key can never serve as an HMAC secret. A key must be a public RSA or
//! EC key of the JWKS whose `kid` the token names; an unknown `kid` makes the JWKS be fetched
//! again, at most once per [`REFETCH_EVERY`] (a key rotation at the issuer is picked up at its
//! first token; a stream of made-up `kid`s costs one fetch per interval).

#[cfg(feature = "jwt")]
pub use verifier::*;

/// What checks people's access tokens: [`JwtVerifier`] (the `jwt` feature, which a function
/// that takes no person's token leaves off, and so links none of it).
#[async_trait::async_trait]
pub trait AccessTokens: Send + Sync {
    async fn verify(&self, token: &str) -> Result<Person, Rejected>;
}

/// Who may sign in, and what makes them a reader.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// `iss`, exactly.
    pub issuer: String,
    /// One of `aud`.
    pub audience: String,
    /// The claim that carries the role (a string or an array of strings), e.g. `groups`.
    pub role_claim: String,
    /// The value of that claim that makes the person a reader.
    pub read_value: String,
}

/// The claim that carries the role by default (`AUDIT_OIDC_ROLE_CLAIM`).
pub const DEFAULT_ROLE_CLAIM: &str = "groups";
/// The value of that claim that makes a person a reader by default (`AUDIT_OIDC_READ_VALUE`).
pub const DEFAULT_READ_VALUE: &str = "audit-readers";

impl JwtSettings {
    /// The issuer whose people's access tokens are accepted and, when configured, where its keys
    /// are, as `AUDIT_OIDC_ISSUER`, `AUDIT_OIDC_AUDIENCE`, `AUDIT_OIDC_ROLE_CLAIM`,
    /// `AUDIT_OIDC_READ_VALUE` and `AUDIT_OIDC_JWKS_URL` say through `vars` (the environment in
    /// the Lambda functions; a flag, else the environment, in the local server): the one reading
    /// of them. `None` without an issuer; an issuer without an audience is an error naming it.
    pub fn from_vars(vars: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Option<(JwtSettings, Option<String>)>> {
        let value = |name: &str| vars(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let Some(issuer) = value("AUDIT_OIDC_ISSUER") else {
            return Ok(None);
        };
        let audience = value("AUDIT_OIDC_AUDIENCE")
            .ok_or_else(|| anyhow::anyhow!("AUDIT_OIDC_AUDIENCE is required with AUDIT_OIDC_ISSUER"))?;
        let settings = JwtSettings {
            issuer,
            audience,
            role_claim: value("AUDIT_OIDC_ROLE_CLAIM").unwrap_or_else(|| DEFAULT_ROLE_CLAIM.to_owned()),
            read_value: value("AUDIT_OIDC_READ_VALUE").unwrap_or_else(|| DEFAULT_READ_VALUE.to_owned()),
        };
        Ok(Some((settings, value("AUDIT_OIDC_JWKS_URL"))))
    }
}

/// Where the issuer's keys are read from (its `jwks_uri`).
#[async_trait::async_trait]
pub trait JwksSource: Send + Sync {
    /// The JWKS document.
    async fn fetch(&self) -> anyhow::Result<String>;
}

/// Why a token was not accepted: said in `WWW-Authenticate` (never with the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// Not a valid token of this issuer for this service (401): the reason.
    Invalid(&'static str),
    /// Valid, but without the role claim's value (403).
    NoRole,
    /// The issuer's keys could not be fetched, so the token cannot be checked (503).
    KeysUnavailable,
}

/// The person a token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// `sub`: who they are to the issuer.
    pub sub: String,
    /// `email`, else `preferred_username`, else `sub`: how the journal names them.
    pub display: String,
}

#[cfg(feature = "jwt")]
mod verifier {
    use std::sync::{Mutex, RwLock};
    use std::time::{Duration, Instant};

    use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};

    use super::{AccessTokens, JwksSource, JwtSettings, Person, Rejected};

    /// The algorithms a token may be signed with.
    pub const ALLOWED: [Algorithm; 4] = [Algorithm::RS256, Algorithm::ES256, Algorithm::PS256, Algorithm::ES384];
    /// Clock skew allowed on `exp` and `nbf`.
    pub const LEEWAY_SECS: u64 = 60;
    /// Least time between two fetches of the JWKS for an unknown `kid`.
    pub const REFETCH_EVERY: Duration = Duration::from_secs(30);

    pub struct JwtVerifier {
        settings: JwtSettings,
        source: Box<dyn JwksSource>,
        keys: RwLock<Option<JwkSet>>,
        last_fetch: Mutex<Option<Instant>>,
        refetch_every: Duration,
        fetching: tokio::sync::Mutex<()>,
    }

    impl JwtVerifier {
        pub fn new(settings: JwtSettings, source: Box<dyn JwksSource>) -> JwtVerifier {
            JwtVerifier {
                settings,
                source,
                keys: RwLock::new(None),
                last_fetch: Mutex::new(None),
                refetch_every: REFETCH_EVERY,
                fetching: tokio::sync::Mutex::new(()),
            }
        }

        /// The least time between two fetches for an unknown `kid` ([`REFETCH_EVERY`] by default).
        pub fn refetching_every(mut self, every: Duration) -> JwtVerifier {
            self.refetch_every = every;
            self
        }

        /// Checks `token` and returns the person it names.
        pub async fn verify(&self, token: &str) -> Result<Person, Rejected> {
            let header = jsonwebtoken::decode_header(token).map_err(|_| Rejected::Invalid("the token is not a JWT"))?;
            if !ALLOWED.contains(&header.alg) {
                return Err(Rejected::Invalid("the token's algorithm is not accepted"));
            }
            let kid = header.kid.ok_or(Rejected::Invalid("the token names no key (kid)"))?;
            let jwk = self
                .key(&kid)
                .await?
                .ok_or(Rejected::Invalid("the token's key (kid) is not one of the issuer's"))?;
            let key = decoding_key(&jwk, header.alg)?;
            let mut validation = Validation::new(header.alg);
            validation.set_issuer(&[&self.settings.issuer]);
            validation.set_audience(&[&self.settings.audience]);
            validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            validation.validate_nbf = true;
            validation.leeway = LEEWAY_SECS;
            let claims = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(token, &key, &validation)
                .map_err(|e| Rejected::Invalid(reason(e.kind())))?
                .claims;
            let has_role = match claims.get(&self.settings.role_claim) {
                Some(serde_json::Value::String(v)) => v == &self.settings.read_value,
                Some(serde_json::Value::Array(values)) => {
                    values.iter().any(|v| v.as_str() == Some(&self.settings.read_value))
                }
                _ => false,
            };
            if !has_role {
                return Err(Rejected::NoRole);
            }
            let text = |name: &str| claims.get(name).and_then(|v| v.as_str()).filter(|s| !s.is_empty());
            let sub = text("sub")
                .ok_or(Rejected::Invalid("the token has no subject"))?
                .to_owned();
            let display = text("email")
                .or_else(|| text("preferred_username"))
                .unwrap_or(&sub)
                .to_owned();
            Ok(Person { sub, display })
        }

        /// The issuer's key `kid`: from the cached JWKS, or fetched again (see [`REFETCH_EVERY`]).
        async fn key(&self, kid: &str) -> Result<Option<Jwk>, Rejected> {
            if let Some(jwk) = self.cached(kid) {
                return Ok(Some(jwk));
            }
            let _one = self.fetching.lock().await;
            if let Some(jwk) = self.cached(kid) {
                return Ok(Some(jwk)); // fetched while this request waited
            }
            let have_keys = self.keys.read().unwrap_or_else(|e| e.into_inner()).is_some();
            {
                let mut last = self.last_fetch.lock().unwrap_or_else(|e| e.into_inner());
                if have_keys && last.is_some_and(|t| t.elapsed() < self.refetch_every) {
                    return Ok(None);
                }
                *last = Some(Instant::now());
            }
            let fetched = self
                .source
                .fetch()
                .await
                .and_then(|text| Ok(serde_json::from_str::<JwkSet>(&text)?));
            match fetched {
                Ok(set) => {
                    let jwk = set.find(kid).cloned();
                    *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Some(set);
                    Ok(jwk)
                }
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "the issuer's keys (JWKS) could not be fetched");
                    Err(Rejected::KeysUnavailable)
                }
            }
        }

        fn cached(&self, kid: &str) -> Option<Jwk> {
            self.keys
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .and_then(|set| set.find(kid).cloned())
        }
    }

    /// The public key of `jwk` for `alg`: an RSA key for RS/PS, an EC key for ES; the JWK's own
    /// `alg`, if it says one, must be the token's. Nothing else (an `oct` secret above all).
    fn decoding_key(jwk: &Jwk, alg: Algorithm) -> Result<DecodingKey, Rejected> {
        let fits = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => matches!(alg, Algorithm::RS256 | Algorithm::PS256),
            AlgorithmParameters::EllipticCurve(_) => matches!(alg, Algorithm::ES256 | Algorithm::ES384),
            _ => false,
        };
        let declared = jwk
            .common
            .key_algorithm
            .and_then(|a| a.to_string().parse::<Algorithm>().ok());
        if !fits || declared.is_some_and(|d| d != alg) {
            return Err(Rejected::Invalid("the token's algorithm does not fit its key"));
        }
        DecodingKey::from_jwk(jwk).map_err(|_| Rejected::Invalid("the issuer's key cannot be used"))
    }

    /// What a failed check says (RFC 6750 `error_description`), never the token.
    fn reason(kind: &jsonwebtoken::errors::ErrorKind) -> &'static str {
        use jsonwebtoken::errors::ErrorKind as K;
        match kind {
            K::ExpiredSignature => "the token has expired",
            K::ImmatureSignature => "the token is not valid yet",
            K::InvalidIssuer => "the token is from another issuer",
            K::InvalidAudience => "the token is for another audience",
            K::InvalidSignature => "the token's signature does not hold",
            K::InvalidAlgorithm => "the token's algorithm does not fit its key",
            K::MissingRequiredClaim(_) => "the token lacks a required claim (exp, iss, aud, sub)",
            _ => "the token cannot be read",
        }
    }

    #[async_trait::async_trait]
    impl AccessTokens for JwtVerifier {
        async fn verify(&self, token: &str) -> Result<Person, Rejected> {
            JwtVerifier::verify(self, token).await
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
        use jsonwebtoken::{EncodingKey, Header};
        use p256::pkcs8::EncodePrivateKey;
        use serde_json::{Value, json};

        const ISSUER: &str = "https://id.example.test";
        const AUDIENCE: &str = "audit-log";

        /// A P-256 key: its signing key for tokens and its JWK (`kid`).
        struct Key {
            signing: EncodingKey,
            jwk: Value,
            point: Vec<u8>,
        }

        fn key(seed: u8, kid: &str) -> Key {
            let secret = p256::SecretKey::from_slice(&[seed; 32]).unwrap();
            let der = secret.to_pkcs8_der().unwrap();
            let point = secret.public_key().to_sec1_bytes().to_vec(); // 0x04 ‖ x ‖ y
            let jwk = json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
                         "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65])});
            Key {
                signing: EncodingKey::from_ec_der(der.as_bytes()),
                jwk,
                point,
            }
        }

        /// The JWKS a test serves (`None`: down) and how many times it was fetched.
        type Served = Arc<Mutex<(Option<Value>, u32)>>;

        /// A JWKS that a test changes, or takes down, counting fetches.
        struct Jwks(Served);

        #[async_trait::async_trait]
        impl JwksSource for Jwks {
            async fn fetch(&self) -> anyhow::Result<String> {
                let mut state = self.0.lock().unwrap();
                state.1 += 1;
                state
                    .0
                    .as_ref()
                    .map(|v| v.to_string())
                    .ok_or_else(|| anyhow::anyhow!("connection refused"))
            }
        }

        use std::sync::Arc;

        fn verifier(keys: Option<Value>) -> (JwtVerifier, Served) {
            let state = Arc::new(Mutex::new((keys, 0)));
            let settings = JwtSettings {
                issuer: ISSUER.into(),
                audience: AUDIENCE.into(),
                role_claim: "groups".into(),
                read_value: "audit-readers".into(),
            };
            let verifier =
                JwtVerifier::new(settings, Box::new(Jwks(state.clone()))).refetching_every(Duration::from_millis(800));
            (verifier, state)
        }

        fn claims(changes: Value) -> Value {
            let now = chrono::Utc::now().timestamp();
            let mut c = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "u-123", "email": "ada@example.test",
                           "groups": ["staff", "audit-readers"], "iat": now, "exp": now + 600});
            for (k, v) in changes.as_object().unwrap() {
                if v.is_null() {
                    c.as_object_mut().unwrap().remove(k);
                } else {
                    c[k] = v.clone();
                }
            }
            c
        }

        fn sign(key: &Key, kid: &str, claims: &Value) -> String {
            let mut header = Header::new(Algorithm::ES256);
            header.kid = Some(kid.into());
            jsonwebtoken::encode(&header, claims, &key.signing).unwrap()
        }

        /// A token with `header` and `claims` as JSON, signed with `signature` bytes.
        fn raw(header: &Value, claims: &Value, signature: &[u8]) -> String {
            format!(
                "{}.{}.{}",
                B64.encode(header.to_string()),
                B64.encode(claims.to_string()),
                B64.encode(signature)
            )
        }

        #[tokio::test]
        async fn a_valid_token_names_its_person_and_every_bad_one_is_refused_with_its_reason() {
            let k1 = key(7, "k1");
            let (v, _) = verifier(Some(json!({"keys": [k1.jwk]})));
            let now = chrono::Utc::now().timestamp();
            let good = v.verify(&sign(&k1, "k1", &claims(json!({})))).await;
            assert_eq!(
                good,
                Ok(Person {
                    sub: "u-123".into(),
                    display: "ada@example.test".into()
                })
            );
            let invalid = |why: &'static str| Err::<Person, _>(Rejected::Invalid(why));
            let cases: Vec<(&str, String, Result<Person, Rejected>)> = vec![
                (
                    "wrong issuer",
                    sign(&k1, "k1", &claims(json!({"iss": "https://evil.test"}))),
                    invalid("the token is from another issuer"),
                ),
                (
                    "wrong audience",
                    sign(&k1, "k1", &claims(json!({"aud": "other"}))),
                    invalid("the token is for another audience"),
                ),
                (
                    "expired",
                    sign(&k1, "k1", &claims(json!({"exp": now - 120}))),
                    invalid("the token has expired"),
                ),
                (
                    "expired within the skew",
                    sign(&k1, "k1", &claims(json!({"exp": now - 30}))),
                    good.clone(),
                ),
                (
                    "not yet valid",
                    sign(&k1, "k1", &claims(json!({"nbf": now + 300}))),
                    invalid("the token is not valid yet"),
                ),
                (
                    "no exp",
                    sign(&k1, "k1", &claims(json!({"exp": null}))),
                    invalid("the token lacks a required claim (exp, iss, aud, sub)"),
                ),
                (
                    "missing role claim",
                    sign(&k1, "k1", &claims(json!({"groups": ["staff"]}))),
                    Err(Rejected::NoRole),
                ),
                (
                    "alg none",
                    raw(&json!({"alg": "none", "kid": "k1"}), &claims(json!({})), b""),
                    invalid("the token is not a JWT"),
                ),
                (
                    "HS256 with the public key as its secret",
                    {
                        let header = Header {
                            kid: Some("k1".into()),
                            ..Header::new(Algorithm::HS256)
                        };
                        jsonwebtoken::encode(&header, &claims(json!({})), &EncodingKey::from_secret(&k1.point)).unwrap()
                    },
                    invalid("the token's algorithm is not accepted"),
                ),
                (
                    "unknown kid",
                    sign(&key(9, "k9"), "k9", &claims(json!({}))),
                    invalid("the token's key (kid) is not one of the issuer's"),
                ),
                (
                    "tampered payload",
                    {
                        let token = sign(&k1, "k1", &claims(json!({})));
                        let parts: Vec<&str> = token.split('.').collect();
                        let more = B64.encode(claims(json!({"sub": "someone-else"})).to_string());
                        format!("{}.{more}.{}", parts[0], parts[2])
                    },
                    invalid("the token's signature does not hold"),
                ),
                (
                    "signed by another key under k1",
                    sign(&key(8, "k1"), "k1", &claims(json!({}))),
                    invalid("the token's signature does not hold"),
                ),
                ("not a JWT", "abc".into(), invalid("the token is not a JWT")),
            ];
            for (what, token, want) in cases {
                assert_eq!(v.verify(&token).await, want, "{what}");
            }
        }

        #[tokio::test]
        async fn the_keys_are_fetched_once_again_for_an_unknown_kid_and_a_jwks_down_is_unavailable() {
            let (k1, k2) = (key(7, "k1"), key(8, "k2"));
            let (v, state) = verifier(None);
            assert_eq!(
                v.verify(&sign(&k1, "k1", &claims(json!({})))).await,
                Err(Rejected::KeysUnavailable)
            );
            state.lock().unwrap().0 = Some(json!({"keys": [k1.jwk]}));
            assert!(
                v.verify(&sign(&k1, "k1", &claims(json!({})))).await.is_ok(),
                "fetched once it is up"
            );
            // The issuer rotates to k2: its first token (once the interval has passed since the last
            // fetch) makes the JWKS be fetched again.
            state.lock().unwrap().0 = Some(json!({"keys": [k1.jwk, k2.jwk]}));
            tokio::time::sleep(Duration::from_millis(850)).await;
            let fetches = state.lock().unwrap().1;
            assert!(v.verify(&sign(&k2, "k2", &claims(json!({})))).await.is_ok());
            assert_eq!(state.lock().unwrap().1, fetches + 1);
            // Made-up kids within REFETCH_EVERY: no more fetches.
            for n in 0..5 {
                let kid = format!("made-up-{n}");
                let token = sign(&key(10 + n, &kid), &kid, &claims(json!({})));
                assert!(matches!(v.verify(&token).await, Err(Rejected::Invalid(_))));
            }
            assert_eq!(state.lock().unwrap().1, fetches + 1, "at most one fetch per interval");
            // An EC key may not be used as an HMAC secret, nor an `oct` key at all.
            let (v, _) = verifier(Some(
                json!({"keys": [{"kty": "oct", "kid": "s", "k": B64.encode(b"secret"), "alg": "HS256"}]}),
            ));
            let header = Header {
                kid: Some("s".into()),
                ..Header::new(Algorithm::HS256)
            };
            let token =
                jsonwebtoken::encode(&header, &claims(json!({})), &EncodingKey::from_secret(b"secret")).unwrap();
            assert_eq!(
                v.verify(&token).await,
                Err(Rejected::Invalid("the token's algorithm is not accepted"))
            );
        }
    }
}
