//! Bearer-token authentication (SPEC §3.6). The service knows tokens only by their SHA-256; a
//! presented token is hashed and compared with every configured hash in constant time, and no
//! token or hash is ever logged.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::ApiError;
pub use crate::role::Role;

/// A configured token: its name (the events' `source`, the exports' requester), role and hash.
#[derive(Clone)]
pub struct TokenEntry {
    pub name: String,
    pub role: Role,
    hash: [u8; 32],
}

impl std::fmt::Debug for TokenEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenEntry")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("token entry {index} is not `name:role:sha256hex` ({reason})")]
pub struct TokenConfigError {
    pub index: usize,
    pub reason: &'static str,
}

/// The configured tokens.
#[derive(Debug, Clone, Default)]
pub struct TokenSet {
    entries: Vec<TokenEntry>,
}

impl TokenSet {
    /// Parses comma- or newline-separated `name:role:sha256hex` entries (the `AUDIT_TOKENS`
    /// format). Errors name the entry by position, never by content.
    pub fn parse(config: &str) -> Result<TokenSet, TokenConfigError> {
        let mut entries = Vec::new();
        for (index, entry) in config
            .split([',', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let err = |reason| TokenConfigError {
                index: index + 1,
                reason,
            };
            let mut parts = entry.split(':');
            let (Some(name), Some(role), Some(hash), None) = (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(err("expected three `:`-separated parts"));
            };
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b)) {
                return Err(err("the name must be letters, digits, `-`, `_`, `.` or `@`"));
            }
            let role = match role {
                "ingest" => Role::Ingest,
                "read" => Role::Read,
                _ => return Err(err("the role must be `ingest` or `read`")),
            };
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(hash, &mut bytes).map_err(|_| err("the hash must be 64 hex digits"))?;
            entries.push(TokenEntry {
                name: name.to_owned(),
                role,
                hash: bytes,
            });
        }
        Ok(TokenSet { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry of `token`, comparing its hash with every entry in constant time.
    pub fn find(&self, token: &str) -> Option<&TokenEntry> {
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for entry in &self.entries {
            if bool::from(entry.hash.ct_eq(&presented)) {
                found = Some(entry);
            }
        }
        found
    }
}

/// Where the token entries come from when they can change while the service runs: the local
/// server's tokens file, the Lambda functions' secret. Returns the `name:role:sha256hex` text.
#[async_trait::async_trait]
pub trait TokenSource: Send + Sync {
    async fn load(&self) -> anyhow::Result<String>;
}

/// The configured tokens as they are now. With a [`TokenSource`], they are read again when a
/// request comes and the last reading is older than `every` (or at once after
/// [`Tokens::check_now`]): a token taken out of the source stops working within `every` of the
/// change, the others go on, with no restart. A source that cannot be read or parsed leaves the
/// tokens as they were (logged, tried again after `every`): a bad edit never locks everyone out.
#[derive(Clone)]
pub struct Tokens {
    inner: Arc<TokensInner>,
}

struct TokensInner {
    current: std::sync::RwLock<(Arc<TokenSet>, Option<String>)>,
    source: Option<Box<dyn TokenSource>>,
    every: std::time::Duration,
    next_check: std::sync::Mutex<std::time::Instant>,
    reading: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("every", &self.inner.every)
            .finish_non_exhaustive()
    }
}

impl Default for Tokens {
    fn default() -> Self {
        Tokens::fixed(TokenSet::default())
    }
}

impl Tokens {
    /// Tokens that never change.
    pub fn fixed(set: TokenSet) -> Tokens {
        Tokens::with_source(set, None, None, std::time::Duration::MAX)
    }

    /// `set` (read from `source` as `text`), read again from `source` at most every `every`.
    pub fn reloaded(set: TokenSet, text: String, source: Box<dyn TokenSource>, every: std::time::Duration) -> Tokens {
        Tokens::with_source(set, Some(text), Some(source), every)
    }

    fn with_source(
        set: TokenSet,
        text: Option<String>,
        source: Option<Box<dyn TokenSource>>,
        every: std::time::Duration,
    ) -> Tokens {
        let next = std::time::Instant::now().checked_add(every);
        Tokens {
            inner: Arc::new(TokensInner {
                current: std::sync::RwLock::new((Arc::new(set), text)),
                source,
                every,
                next_check: std::sync::Mutex::new(next.unwrap_or_else(far_future)),
                reading: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The tokens now, read again first if the last reading is due.
    pub async fn current(&self) -> Arc<TokenSet> {
        let due = self.inner.source.is_some()
            && *self.inner.next_check.lock().unwrap_or_else(|e| e.into_inner()) <= std::time::Instant::now();
        if due {
            self.read_again().await;
        }
        self.inner.current.read().unwrap_or_else(|e| e.into_inner()).0.clone()
    }

    /// Makes the next request read the source again (the local server's SIGHUP).
    pub fn check_now(&self) {
        *self.inner.next_check.lock().unwrap_or_else(|e| e.into_inner()) = std::time::Instant::now();
    }

    /// Reads the source (one reader at a time; the others wait for its answer).
    async fn read_again(&self) {
        let Some(source) = &self.inner.source else { return };
        let _one = self.inner.reading.lock().await;
        let now = std::time::Instant::now();
        {
            let mut next = self.inner.next_check.lock().unwrap_or_else(|e| e.into_inner());
            if *next > now {
                return; // another request has just read it
            }
            *next = now.checked_add(self.inner.every).unwrap_or_else(far_future);
        }
        let text = match source.load().await {
            Ok(text) => text,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "the tokens could not be read again; the ones read before stay in force");
                return;
            }
        };
        if self
            .inner
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .as_deref()
            == Some(text.as_str())
        {
            return;
        }
        match TokenSet::parse(&text) {
            Ok(set) => {
                tracing::info!(tokens = set.entries.len(), "the tokens changed: now in force");
                *self.inner.current.write().unwrap_or_else(|e| e.into_inner()) = (Arc::new(set), Some(text));
            }
            Err(e) => {
                tracing::error!(error = %e, "the changed tokens cannot be read; the ones read before stay in force");
            }
        }
    }
}

fn far_future() -> std::time::Instant {
    std::time::Instant::now() + std::time::Duration::from_secs(100 * 365 * 86_400)
}

/// The hex SHA-256 of a token, as configured in `AUDIT_TOKENS`.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name, or how the person's token names them (`email`, `preferred_username`).
    pub name: String,
    pub role: Role,
    /// The person's `sub` at the issuer; `None` for a service token.
    pub subject: Option<String>,
}

/// A caller the API gateway authenticated itself with AWS Signature Version 4 (the template's
/// `IngestAuthorization: iam`): its ARN, which becomes the events' `source`. Only an entry point
/// puts one in a request (the ingest function, from API Gateway's request context); no header a
/// client sends can make one.
#[derive(Debug, Clone)]
pub struct SignedCaller(pub String);

async fn authenticate(parts: &Parts, state: &AppState, needed: Role) -> Result<Caller, ApiError> {
    if let Some(SignedCaller(arn)) = parts.extensions.get::<SignedCaller>() {
        // Only for ingest: SigV4 is what POST /events is given, never the read routes.
        if needed != Role::Ingest {
            return Err(ApiError::Forbidden(needed));
        }
        return Ok(Caller {
            name: arn.clone(),
            role: Role::Ingest,
            subject: None,
        });
    }
    let header = parts.headers.get(AUTHORIZATION).ok_or(ApiError::MissingToken)?;
    let value = header.to_str().map_err(|_| ApiError::BadToken)?;
    let (scheme, token) = value.split_once(' ').ok_or(ApiError::BadToken)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ApiError::BadToken);
    }
    // A JWT (three dot-separated parts; a service token has no dot) is a person's access token,
    // of role `read`, rate-limited by who they are (`sub`); a service token by its name.
    let caller = match &state.jwt {
        Some(verifier) if token.bytes().filter(|&b| b == b'.').count() == 2 => {
            use crate::jwt::Rejected;
            let person = verifier.verify(token).await.map_err(|e| match e {
                Rejected::Invalid(why) => ApiError::InvalidJwt(why),
                Rejected::NoRole => ApiError::NoReadRole,
                Rejected::KeysUnavailable => ApiError::KeysUnavailable,
            })?;
            Caller {
                name: person.display,
                role: Role::Read,
                subject: Some(person.sub),
            }
        }
        _ => {
            let tokens = state.tokens.current().await;
            let entry = tokens.find(token).ok_or(ApiError::BadToken)?;
            Caller {
                name: entry.name.clone(),
                role: entry.role,
                subject: None,
            }
        }
    };
    if caller.role != needed {
        return Err(ApiError::Forbidden(needed));
    }
    if let Some(limits) = &state.limits {
        let key = caller.subject.as_deref().unwrap_or(&caller.name);
        limits.check(key).map_err(ApiError::RateLimited)?;
    }
    Ok(caller)
}

/// A caller holding an `ingest` token.
pub struct Ingestor(pub Caller);

/// A caller holding a `read` token.
pub struct Reader(pub Caller);

impl FromRequestParts<AppState> for Ingestor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate(parts, state, Role::Ingest).await.map(Ingestor)
    }
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate(parts, state, Role::Read).await.map(Reader)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_found_by_their_hash() {
        let config = format!("svc:ingest:{},admin:read:{}", hash_token("t1"), hash_token("t2"));
        let set = TokenSet::parse(&config).unwrap();
        assert_eq!(
            set.find("t1").map(|e| (e.name.as_str(), e.role)),
            Some(("svc", Role::Ingest))
        );
        assert_eq!(set.find("t2").map(|e| e.role), Some(Role::Read));
        assert!(set.find("t3").is_none());
    }

    #[test]
    fn a_bad_entry_is_named_by_position_not_content() {
        let err = TokenSet::parse("a:read:00,b:write:zz").unwrap_err();
        assert_eq!(err.index, 1);
        assert!(!err.to_string().contains("00"));
        assert_eq!(
            TokenSet::parse(&format!("a:admin:{}", hash_token("x")))
                .unwrap_err()
                .index,
            1
        );
        assert!(TokenSet::parse("").unwrap().is_empty());
    }

    /// A source whose text a test sets (`None`: it cannot be read).
    struct Edited(std::sync::Mutex<Option<String>>);

    #[async_trait::async_trait]
    impl TokenSource for Arc<Edited> {
        async fn load(&self) -> anyhow::Result<String> {
            self.0
                .lock()
                .unwrap()
                .clone()
                .ok_or_else(|| anyhow::anyhow!("unreadable"))
        }
    }

    #[tokio::test]
    async fn tokens_follow_their_source_and_a_bad_reading_keeps_the_last_good_one() {
        let one = format!("svc:ingest:{}", hash_token("t1"));
        let source = Arc::new(Edited(std::sync::Mutex::new(Some(one.clone()))));
        let set = |text: &str| TokenSet::parse(text).unwrap();
        let every = std::time::Duration::from_millis(50);
        let tokens = Tokens::reloaded(set(&one), one.clone(), Box::new(source.clone()), every);
        let found = async |token: &str| tokens.current().await.find(token).is_some();
        assert!(found("t1").await);
        *source.0.lock().unwrap() = Some(format!("admin:read:{}", hash_token("t2")));
        assert!(found("t1").await, "not read again before `every`");
        tokio::time::sleep(every).await;
        assert!(!found("t1").await && found("t2").await, "read again after `every`");
        for bad in [Some("admin:read:zz".to_owned()), None] {
            *source.0.lock().unwrap() = bad;
            tokio::time::sleep(every).await;
            assert!(found("t2").await, "a bad reading keeps the last good tokens");
        }
        *source.0.lock().unwrap() = Some(one.clone());
        tokens.check_now();
        assert!(found("t1").await, "check_now reads at once");
        let fixed = Tokens::fixed(set(&one));
        assert!(fixed.current().await.find("t1").is_some());
    }

    #[test]
    fn debug_output_never_shows_a_hash() {
        let set = TokenSet::parse(&format!("svc:ingest:{}", hash_token("t1"))).unwrap();
        assert!(!format!("{set:?}").contains(&hash_token("t1")[..16]));
    }
}
