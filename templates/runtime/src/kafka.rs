{#- scaffold
when: uses.kafka
-#}
//! The Kafka plumbing of every service, written once: the producer
//! (idempotent, or transactional for exactly-once flows), the consumer with
//! stored offsets, retries with backoff and a dead-letter topic, topic
//! creation, and librdkafka's error callbacks routed to `tracing`.
//!
//! Nothing here knows a flow: a service's own `kafka.rs` describes each of
//! its records as an [`EventRecord`] (topic, key, encoded payload) and
//! decodes what its consumer receives in its [`Dispatch`]. The wire
//! conventions shared by producers and consumers are the headers below.

mod admin;
mod client;
mod consumer;
mod offsets;
mod producer;
mod record;
mod security;

pub use admin::{ADMIN_TIMEOUT, BrokerProbe, ensure_topics};
pub use client::{KafkaContext, UNREACHABLE_LOG_INTERVAL, UnreachableWarnings, is_unreachable};
pub use consumer::{
    BoxFuture, CONCURRENCY, ConsumerSettings, DEAD_LETTER_TIMEOUT, Deduplication, Dispatch,
    HEADER_ATTEMPTS, HEADER_ERROR, HEADER_SOURCE_OFFSET, HEADER_SOURCE_PARTITION,
    HEADER_SOURCE_TOPIC, HandlingError, MAX_ATTEMPTS, MAX_IN_FLIGHT, RETRY_BACKOFF, Received,
    SESSION_TIMEOUT, consume,
};
pub use offsets::REVOKE_TIMEOUT;
pub use producer::{
    COMMIT_ATTEMPTS, COMPRESSION, COMPRESSIONS, DELIVERY_TIMEOUT, EventRecord, LINGER,
    PendingDelivery, ProducerSettings, Publisher, TRANSACTION_TIMEOUT,
};
pub use rdkafka::{error::KafkaError, producer::future_producer::Delivery};
pub use security::{MECHANISMS, PROTOCOLS, Security, VARS as SECURITY_VARS, install};

/// Header naming the flow of a record, so that flows sharing a topic can be
/// told apart by their consumers.
pub const FLOW_HEADER: &str = "flow";

/// Header naming the encoding of a record's value (`application/json` or
/// `application/x-protobuf`), so that a reader needs no out-of-band schema
/// registry to know how to decode it.
pub const CONTENT_TYPE_HEADER: &str = "content-type";

/// Header naming one event for its consumers, whichever copy of it they
/// read: the events the transactional outbox relays carry it, and a
/// consumer that keeps the ids it handled drops a copy of one it already
/// handled.
pub const EVENT_ID_HEADER: &str = "event-id";

/// Suffix of the dead-letter topic that receives a consumer's poison messages.
pub const DEAD_LETTER_SUFFIX: &str = ".dlt";

/// The dead-letter topic of `topic` (`order-events` -> `order-events.dlt`).
pub fn dead_letter_topic(topic: &str) -> String {
    format!("{topic}{DEAD_LETTER_SUFFIX}")
}

/// A handler's error is retried when retrying may help, dead-lettered at
/// once when it cannot.
impl HandlingError for crate::HandlerError {
    fn is_retryable(&self) -> bool {
        crate::HandlerError::is_retryable(self)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dead_letter_topic_appends_the_suffix() {
        assert_eq!(super::dead_letter_topic("order-events"), "order-events.dlt");
    }
}
