//! Signed page cursors. A cursor carries a store's position (opaque text the store made) and an
//! HMAC-SHA256 over that position *and the canonical filter*, so a client can neither forge a
//! position nor reuse a cursor with other filters.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::filter::EventFilter;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the MAC kept in a cursor: 128 bits is far beyond guessing and keeps URLs short.
const MAC_BYTES: usize = 16;
/// Longest cursor accepted, so a hostile one costs nothing to refuse.
pub const MAX_CURSOR_CHARS: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the cursor is malformed, was tampered with, or was made for other filters")]
pub struct InvalidCursor;

/// The secret that signs cursors. Keep it stable across restarts, or old cursors stop working.
#[derive(Clone)]
pub struct CursorKey(Vec<u8>);

impl CursorKey {
    pub fn new(secret: &[u8]) -> Self {
        Self(secret.to_vec())
    }

    /// Makes the cursor for `position` under `filter`.
    pub fn encode(&self, filter: &EventFilter, position: &str) -> String {
        let mac = self.mac(filter, position);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(position),
            URL_SAFE_NO_PAD.encode(&mac[..MAC_BYTES])
        )
    }

    /// Checks `cursor` against `filter` and returns the store position it carries.
    pub fn decode(&self, filter: &EventFilter, cursor: &str) -> Result<String, InvalidCursor> {
        if cursor.len() > MAX_CURSOR_CHARS {
            return Err(InvalidCursor);
        }
        let (position, mac) = cursor.split_once('.').ok_or(InvalidCursor)?;
        let position = URL_SAFE_NO_PAD.decode(position).map_err(|_| InvalidCursor)?;
        let position = String::from_utf8(position).map_err(|_| InvalidCursor)?;
        let mac = URL_SAFE_NO_PAD.decode(mac).map_err(|_| InvalidCursor)?;
        if mac.len() != MAC_BYTES {
            return Err(InvalidCursor);
        }
        self.hmac(filter, &position)
            .verify_truncated_left(&mac)
            .map_err(|_| InvalidCursor)?;
        Ok(position)
    }

    fn hmac(&self, filter: &EventFilter, position: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(b"audit-cursor-v1\0");
        mac.update(filter.canonical().as_bytes());
        mac.update(b"\0");
        mac.update(position.as_bytes());
        mac
    }

    fn mac(&self, filter: &EventFilter, position: &str) -> Vec<u8> {
        self.hmac(filter, position).finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::Order;

    fn key() -> CursorKey {
        CursorKey::new(b"test secret")
    }

    #[test]
    fn a_cursor_round_trips_under_the_same_filter() {
        let f = EventFilter::default();
        let c = key().encode(&f, "2026-11-27T10:15:30.123456Z#abc");
        assert_eq!(key().decode(&f, &c).unwrap(), "2026-11-27T10:15:30.123456Z#abc");
    }

    #[test]
    fn a_tampered_cursor_is_rejected() {
        let f = EventFilter::default();
        let c = key().encode(&f, "2026-11-27T10:15:30.123456Z#abc");
        let forged = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode("2030-01-01T00:00:00.000000Z#x"),
            c.split_once('.').unwrap().1
        );
        assert_eq!(key().decode(&f, &forged), Err(InvalidCursor));
        let mut flipped = c.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            key().decode(&f, &String::from_utf8(flipped).unwrap()),
            Err(InvalidCursor)
        );
        assert_eq!(key().decode(&f, "garbage"), Err(InvalidCursor));
        assert_eq!(key().decode(&f, &c[..c.len() - 3]), Err(InvalidCursor));
    }

    #[test]
    fn a_cursor_used_with_other_filters_is_rejected() {
        let f = EventFilter::default();
        let c = key().encode(&f, "p");
        let other = EventFilter {
            order: Order::Asc,
            ..EventFilter::default()
        };
        assert_eq!(key().decode(&other, &c), Err(InvalidCursor));
        assert_eq!(CursorKey::new(b"other key").decode(&f, &c), Err(InvalidCursor));
    }
}
