//! Bearer-token authentication (SPEC §3.6). The service knows tokens only by their SHA-256; a
//! presented token is hashed and compared with every configured hash in constant time, and no
//! token or hash is ever logged.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
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

/// The hex SHA-256 of a token, as configured in `AUDIT_TOKENS`.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

fn authenticate(parts: &Parts, state: &AppState, needed: Role) -> Result<Caller, ApiError> {
    let header = parts.headers.get(AUTHORIZATION).ok_or(ApiError::MissingToken)?;
    let value = header.to_str().map_err(|_| ApiError::BadToken)?;
    let (scheme, token) = value.split_once(' ').ok_or(ApiError::BadToken)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ApiError::BadToken);
    }
    let entry = state.tokens.find(token).ok_or(ApiError::BadToken)?;
    if entry.role != needed {
        return Err(ApiError::Forbidden(needed));
    }
    if let Some(limits) = &state.limits {
        limits.check(&entry.name).map_err(ApiError::RateLimited)?;
    }
    Ok(Caller {
        name: entry.name.clone(),
        role: entry.role,
    })
}

/// A caller holding an `ingest` token.
pub struct Ingestor(pub Caller);

/// A caller holding a `read` token.
pub struct Reader(pub Caller);

impl FromRequestParts<AppState> for Ingestor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate(parts, state, Role::Ingest).map(Ingestor)
    }
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate(parts, state, Role::Read).map(Reader)
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

    #[test]
    fn debug_output_never_shows_a_hash() {
        let set = TokenSet::parse(&format!("svc:ingest:{}", hash_token("t1"))).unwrap();
        assert!(!format!("{set:?}").contains(&hash_token("t1")[..16]));
    }
}
