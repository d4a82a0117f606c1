{#- scaffold
when: uses.rest_client or uses.grpc_client
-#}
//! What every client of another service shares, whatever its transport: the
//! policy of a flow's calls (deadline, retries, retry throttle) and the retry
//! loop that applies it. The REST ([`crate::http_client`]) and gRPC
//! ([`crate::grpc_client`]) clients only say which failures may be retried.

use std::{
    fmt,
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use tracing::{Instrument as _, warn};

use crate::{
    retry::{Backoff, RetryThrottle, Throttle},
    telemetry,
};

/// Budget of establishing a connection to another service.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// The retry throttle of each client (one bucket per called service):
/// gRFC A6's example. Under sustained failure, at most about 5 retries in
/// all before they stop; then one retry per 10 successes at most.
pub const THROTTLE: Throttle = Throttle {
    max_tokens: 10,
    token_ratio_milli: 100,
};

/// The header (gRPC metadata) carrying a call's idempotency key.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

{% if uses.keyed_calls %}/// A fresh idempotency key: a random (version 4) UUID.
pub fn idempotency_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

{% endif %}/// Deadline and retries of one flow's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallPolicy {
    /// The flow, as flows.yaml names it: for the logs.
    pub flow: &'static str,
    /// The environment variable overriding `deadline`, in milliseconds.
    pub deadline_var: &'static str,
    /// Budget of one attempt, from sending to the last byte of the answer;
    /// for a stream, of opening it (its first answer).
    pub deadline: Duration,
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
    /// Delays between attempts.
    pub backoff: Backoff,
    /// Whether each call carries an idempotency key, the same for all its
    /// attempts: the callee then applies a retried request once, so a
    /// request that is not idempotent (a `POST`) may be retried too.
    pub keyed: bool,
}

impl CallPolicy {
    /// This policy with the deadline read from `deadline_var` when `lookup`
    /// finds it set (a whole number of milliseconds, at least 1), so an
    /// operator can loosen or tighten a flow's deadline without rebuilding.
    pub fn with_deadline_from(
        self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, InvalidDeadline> {
        let var = self.deadline_var;
        let Some(raw) = lookup(var).filter(|v| !v.trim().is_empty()) else {
            return Ok(self);
        };
        match raw.trim().parse::<u64>() {
            Ok(ms) if ms >= 1 => Ok(Self {
                deadline: Duration::from_millis(ms),
                ..self
            }),
            _ => Err(InvalidDeadline { var, value: raw }),
        }
    }
}

/// A deadline override that is not a whole number of milliseconds ≥ 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidDeadline {
    /// The environment variable.
    pub var: &'static str,
    /// Its value.
    pub value: String,
}

impl fmt::Display for InvalidDeadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {}: `{}` is not a whole number of milliseconds (at least 1)",
            self.var, self.value
        )
    }
}

impl std::error::Error for InvalidDeadline {}

/// Applies a [`CallPolicy`]: retries the failures worth retrying with
/// jittered exponential backoff, within the attempts allowed and while the
/// retry throttle lets it. Cheap to clone; clones share one throttle.
#[derive(Debug, Clone)]
pub struct Retrier {
    throttle: Arc<RetryThrottle>,
}

impl Retrier {
    /// A retrier with a full throttle bucket.
    pub fn new(throttle: Throttle) -> Self {
        Self {
            throttle: Arc::new(RetryThrottle::new(throttle)),
        }
    }

    /// The retry throttle's tokens left, in thousandths.
    pub fn tokens_milli(&self) -> u32 {
        self.throttle.tokens_milli()
    }

    /// Runs `attempt` until it succeeds, fails in a way `retryable` refuses,
    /// runs out of the attempts `policy` allows, or the throttle stops
    /// retries; all of it within the call's client span when the service
    /// traces ([`crate::trace::client`]), whose context each attempt sends.
    pub async fn run<T, E, F, Fut>(
        &self,
        policy: &CallPolicy,
        retryable: impl Fn(&E) -> bool,
        attempt: F,
    ) -> Result<T, E>
    where
        E: fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let span = crate::trace::client(policy.flow);
        let result = self
            .attempts(policy, retryable, attempt)
            .instrument(span.clone())
            .await;
        if result.is_err() {
            crate::trace::failed(&span);
        }
        result
    }

    async fn attempts<T, E, F, Fut>(
        &self,
        policy: &CallPolicy,
        retryable: impl Fn(&E) -> bool,
        mut attempt: F,
    ) -> Result<T, E>
    where
        E: fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let started = Instant::now();
        let mut number = 1;
        loop {
            match attempt().await {
                Ok(answer) => {
                    self.throttle.success();
                    telemetry::outbound_call(policy.flow, true, started);
                    return Ok(answer);
                }
                Err(err) if retryable(&err) => {
                    let may_retry = self.throttle.failure_may_retry();
                    if number >= policy.max_attempts {
                        telemetry::outbound_call(policy.flow, false, started);
                        return Err(err);
                    }
                    if !may_retry {
                        warn!(
                            flow = policy.flow, attempt = number, %err,
                            "call failed; not retried: too many recent failures (retry throttle)"
                        );
                        telemetry::outbound_call(policy.flow, false, started);
                        return Err(err);
                    }
                    telemetry::outbound_retry(policy.flow);
                    let delay = policy.backoff.delay(number - 1);
                    warn!(
                        flow = policy.flow, attempt = number, %err, ?delay,
                        "call failed, retrying"
                    );
                    tokio::time::sleep(delay).await;
                    number += 1;
                }
                Err(err) => {
                    telemetry::outbound_call(policy.flow, false, started);
                    return Err(err);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        collections::HashMap,
        sync::atomic::{AtomicU32, Ordering},
        time::Duration,
    };

    use super::{CallPolicy, Retrier, THROTTLE};
    use crate::retry::Backoff;

    const POLICY: CallPolicy = CallPolicy {
        flow: "x",
        deadline_var: "X_DEADLINE_MS",
        deadline: Duration::from_millis(100),
        max_attempts: 3,
        backoff: Backoff {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(2),
        },
        keyed: false,
    };

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |var| map.get(var).cloned()
    }

    #[test]
    fn the_deadline_is_overridden_by_its_variable() {
        let policy = POLICY
            .with_deadline_from(env(&[("X_DEADLINE_MS", " 250 ")]))
            .unwrap();
        assert_eq!(policy.deadline, Duration::from_millis(250));
        let unset = POLICY.with_deadline_from(env(&[])).unwrap();
        assert_eq!(unset, POLICY);
    }

    #[test]
    fn rejects_a_deadline_that_is_not_a_positive_number_of_milliseconds() {
        for bad in ["0", "-5", "1.5", "soon"] {
            let err = POLICY
                .with_deadline_from(env(&[("X_DEADLINE_MS", bad)]))
                .unwrap_err();
            assert_eq!(err.var, "X_DEADLINE_MS");
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[tokio::test]
    async fn retries_what_may_be_retried_up_to_max_attempts() {
        let retrier = Retrier::new(THROTTLE);
        let attempts = AtomicU32::new(0);
        let result: Result<(), String> = retrier
            .run(
                &POLICY,
                |_| true,
                || async {
                    attempts.fetch_add(1, Ordering::SeqCst);
                    Err("down".to_owned())
                },
            )
            .await;
        assert_eq!(result.unwrap_err(), "down");
        assert_eq!(attempts.load(Ordering::SeqCst), POLICY.max_attempts);
    }

    #[tokio::test]
    async fn returns_other_failures_at_once() {
        let retrier = Retrier::new(THROTTLE);
        let attempts = AtomicU32::new(0);
        let result: Result<(), String> = retrier
            .run(
                &POLICY,
                |_| false,
                || async {
                    attempts.fetch_add(1, Ordering::SeqCst);
                    Err("bad request".to_owned())
                },
            )
            .await;
        assert!(result.is_err());
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
        assert_eq!(retrier.tokens_milli(), 10_000, "no token taken");
    }

    #[tokio::test]
    async fn stops_retrying_once_the_throttle_is_drained_and_clones_share_it() {
        let retrier = Retrier::new(THROTTLE);
        let clone = retrier.clone();
        let attempts = AtomicU32::new(0);
        for _ in 0..10 {
            let _: Result<(), String> = clone
                .run(
                    &POLICY,
                    |_| true,
                    || async {
                        attempts.fetch_add(1, Ordering::SeqCst);
                        Err("down".to_owned())
                    },
                )
                .await;
        }
        assert_eq!(retrier.tokens_milli(), 0);
        // Retries while more than half the tokens are left (call 1: 3
        // attempts, 10 -> 7 tokens; call 2: 2 attempts, -> 5), then one
        // attempt per call.
        assert_eq!(attempts.load(Ordering::SeqCst), 10 + 3);
    }
}
