{#- scaffold
when: service.calls_rest or service.calls_grpc or service.consumes
-#}
//! Exponential backoff with jitter between retries, so that many clients
//! retrying at once spread out instead of hitting a recovering dependency in
//! lock-step (a retry storm).

use std::{
    hash::{BuildHasher as _, RandomState},
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

    use super::Backoff;

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
