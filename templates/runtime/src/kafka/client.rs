{#- scaffold
when: uses.kafka
-#}
//! What every Kafka client of a service shares: librdkafka's error callbacks
//! routed to `tracing`, with the "brokers unreachable" noise rate-limited.

use std::{
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use rdkafka::{
    client::ClientContext,
    consumer::ConsumerContext,
    error::{KafkaError, RDKafkaErrorCode},
};
use tracing::{debug, warn};

/// How often "brokers unreachable" is logged at warn level; the repeats in
/// between go to debug level.
pub const UNREACHABLE_LOG_INTERVAL: Duration = Duration::from_secs(30);

/// Whether `error` only says that no broker can be reached right now, which
/// librdkafka reports several times a second while it keeps reconnecting.
pub fn is_unreachable(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown)
    )
}

/// Lets one "brokers unreachable" warning through per
/// [`UNREACHABLE_LOG_INTERVAL`]; the repeats go to debug level.
#[derive(Debug, Default)]
pub struct UnreachableWarnings {
    last: Mutex<Option<Instant>>,
}

impl UnreachableWarnings {
    /// Logs an "unreachable" `error`, as a warning at most once per interval.
    pub fn report(&self, error: &KafkaError, reason: &str) {
        if self.warn_now() {
            warn!(%error, reason, "Kafka brokers unreachable, retrying");
        } else {
            debug!(%error, reason, "Kafka brokers still unreachable");
        }
    }

    fn warn_now(&self) -> bool {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|at| at.elapsed() < UNREACHABLE_LOG_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

/// Routes librdkafka's error callbacks to `tracing`, with the "brokers
/// unreachable" noise rate-limited.
#[derive(Debug, Default)]
pub struct KafkaContext {
    unreachable: UnreachableWarnings,
}

impl ClientContext for KafkaContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if is_unreachable(&error) {
            self.unreachable.report(&error, reason);
        } else {
            tracing::error!(%error, reason, "Kafka client error");
        }
    }
}

impl ConsumerContext for KafkaContext {}

#[cfg(test)]
mod tests {
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};

    use super::{UnreachableWarnings, is_unreachable};

    #[test]
    fn unreachable_brokers_are_warned_about_once_per_interval() {
        let warnings = UnreachableWarnings::default();
        assert!(warnings.warn_now());
        assert!(!warnings.warn_now());
        assert!(!warnings.warn_now());
    }

    #[test]
    fn only_transport_failures_count_as_unreachable() {
        let global = KafkaError::Global;
        assert!(is_unreachable(&global(RDKafkaErrorCode::AllBrokersDown)));
        assert!(is_unreachable(&global(
            RDKafkaErrorCode::BrokerTransportFailure
        )));
        assert!(!is_unreachable(&global(
            RDKafkaErrorCode::TopicAuthorizationFailed
        )));
    }
}
