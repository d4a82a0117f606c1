//! Retrying without making an outage worse, for every service's clients and
//! consumers: exponential backoff with jitter between retries, so that many
//! clients retrying at once spread out instead of hitting a recovering
//! dependency in lock-step, and a retry throttle, so that a dependency that
//! is down is not sent `max_attempts` times the usual load (a retry storm).

use std::{
    hash::{BuildHasher as _, RandomState},
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

/// Delays that double from `initial` up to `max`, each randomised between
/// half and all of its nominal value ("equal jitter").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Nominal delay before the first retry.
    pub initial: Duration,
    /// Largest nominal delay.
    pub max: Duration,
}

impl Backoff {
    /// The delay before retry number `retry` (0 for the first retry).
    pub fn delay(&self, retry: u32) -> Duration {
        let nominal = self
            .initial
            .saturating_mul(2_u32.saturating_pow(retry))
            .min(self.max);
        let half = nominal / 2;
        half + random_up_to(nominal.saturating_sub(half))
    }
}

/// The size of a [`RetryThrottle`]'s bucket, as gRFC A6 defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    /// Tokens in a full bucket; retries stop at half of them.
    pub max_tokens: u32,
    /// Thousandths of a token given back by each success (100 = 0.1): about
    /// the share of calls that may be retried while failures are sparse.
    pub token_ratio_milli: u32,
}

/// Client-side retry throttling (gRFC A6, "Retry Throttling"): one bucket of
/// tokens shared by every call of a client. Each attempt that fails in a way
/// worth retrying takes a token; each success gives back a fraction of one;
/// retries are allowed only while more than half of the tokens are left.
///
/// Under sustained failure the bucket drains after a handful of failures and
/// every call then makes a single attempt: a dependency that is down sees
/// about as many attempts as there are calls, not `max_attempts` times as
/// many (a retry storm). Once calls succeed again, the bucket refills.
#[derive(Debug)]
pub struct RetryThrottle {
    /// Thousandths of a token (as are the other two), to add fractions
    /// without floating point.
    tokens: AtomicU32,
    max: u32,
    ratio: u32,
}

impl RetryThrottle {
    /// A full bucket of `throttle.max_tokens` tokens.
    pub fn new(throttle: Throttle) -> Self {
        let max = throttle.max_tokens.saturating_mul(1000);
        Self {
            tokens: AtomicU32::new(max),
            max,
            ratio: throttle.token_ratio_milli,
        }
    }

    /// Records a failed attempt that could be retried, and says whether
    /// retrying it is allowed.
    pub fn failure_may_retry(&self) -> bool {
        let before = self
            .tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_sub(1000))
            })
            .unwrap_or_else(|t| t);
        before.saturating_sub(1000) > self.max / 2
    }

    /// Records a successful call.
    pub fn success(&self) {
        let _ = self
            .tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_add(self.ratio).min(self.max))
            });
    }

    /// The tokens left, in thousandths.
    pub fn tokens_milli(&self) -> u32 {
        self.tokens.load(Ordering::Relaxed)
    }
}

/// A random duration in `0..=limit`. `RandomState` is seeded randomly per
/// instance, which is plenty for jitter and needs no extra dependency.
fn random_up_to(limit: Duration) -> Duration {
    let limit_nanos = u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX);
    if limit_nanos == 0 {
        return Duration::ZERO;
    }
    let random = RandomState::new().hash_one(limit_nanos);
    Duration::from_nanos(random % limit_nanos.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use std::{collections::HashSet, time::Duration};

    use super::{Backoff, RetryThrottle, Throttle};

    const THROTTLE: Throttle = Throttle {
        max_tokens: 10,
        token_ratio_milli: 100,
    };

    #[test]
    fn retries_stop_once_half_the_tokens_are_spent() {
        let throttle = RetryThrottle::new(THROTTLE);
        // 10 -> 9, 8, 7, 6: retries allowed; 6 -> 5: not above half.
        for _ in 0..4 {
            assert!(throttle.failure_may_retry());
        }
        assert!(!throttle.failure_may_retry());
        // Further failures empty the bucket, never below zero.
        for _ in 0..20 {
            assert!(!throttle.failure_may_retry());
        }
        assert_eq!(throttle.tokens_milli(), 0);
    }

    #[test]
    fn successes_refill_the_bucket_up_to_its_size() {
        let throttle = RetryThrottle::new(THROTTLE);
        for _ in 0..10 {
            throttle.failure_may_retry();
        }
        // 0 + 61 x 0.1 = 6.1 tokens: one failure leaves 5.1, above half.
        for _ in 0..61 {
            throttle.success();
        }
        assert!(throttle.failure_may_retry());
        for _ in 0..1000 {
            throttle.success();
        }
        assert_eq!(throttle.tokens_milli(), 10_000);
    }

    const BACKOFF: Backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(1),
    };

    #[test]
    fn delays_double_within_half_and_all_of_the_nominal_delay() {
        for (retry, nominal_ms) in [(0, 100), (1, 200), (2, 400), (3, 800)] {
            let nominal = Duration::from_millis(nominal_ms);
            for _ in 0..50 {
                let delay = BACKOFF.delay(retry);
                assert!(
                    delay >= nominal / 2 && delay <= nominal,
                    "{retry}: {delay:?}"
                );
            }
        }
    }

    #[test]
    fn delays_are_capped_at_max_even_for_huge_retry_counts() {
        for retry in [4, 10, 40, u32::MAX] {
            assert!(BACKOFF.delay(retry) <= BACKOFF.max);
        }
    }

    #[test]
    fn delays_are_jittered() {
        let distinct: HashSet<Duration> = (0..20).map(|_| BACKOFF.delay(3)).collect();
        assert!(distinct.len() > 1, "{distinct:?}");
    }
}
