//! The local server's per-token request limit: a token bucket per token name (governor's GCRA),
//! so a flood from one token is answered 429 with `Retry-After` and never starves another
//! token's requests. On AWS, API Gateway's throttling plays this part (the template's
//! parameters).

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Requests per second and burst of one token.
pub struct TokenRateLimit {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl TokenRateLimit {
    /// `per_second` requests a second on average, up to `burst` at once, for each token.
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        TokenRateLimit {
            limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            clock: DefaultClock::default(),
        }
    }
}

impl audit_api::RateLimit for TokenRateLimit {
    fn check(&self, caller: &str) -> Result<(), Duration> {
        // The set of keys is the configured token names: it cannot grow without bound.
        self.limiter
            .check_key(&caller.to_owned())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_api::RateLimit;

    #[test]
    fn a_token_over_its_burst_waits_and_another_token_does_not() {
        let limit = TokenRateLimit::new(NonZeroU32::new(1).unwrap(), NonZeroU32::new(3).unwrap());
        for _ in 0..3 {
            assert!(limit.check("flood").is_ok());
        }
        let wait = limit.check("flood").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limit.check("other").is_ok());
    }
}
