{#- scaffold
when: uses.kafka
-#}
//! Topic creation with the admin API: many clusters do not auto-create
//! topics, and auto-creation would not use the partition counts the
//! recommendation sized.

use std::{sync::Arc, time::Duration};

use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    error::{KafkaError, RDKafkaErrorCode},
};
use tracing::{debug, info, warn};

use super::{KafkaContext, dead_letter_topic};

/// How long topic creation may take.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`BrokerProbe::check`] waits for the metadata: less than a
/// readiness check's whole budget, so the check reports the broker's error
/// rather than its own timeout.
pub const METADATA_TIMEOUT: Duration = Duration::from_millis(1500);

#[cfg(feature = "health")]
const _: () = assert!(METADATA_TIMEOUT.as_millis() < crate::health::CHECK_TIMEOUT.as_millis());

/// Whether the cluster answers: a metadata request for one topic, the
/// readiness check of a service that produces or consumes. One client,
/// made once, whose connection stays open between checks.
#[derive(Clone)]
pub struct BrokerProbe {
    admin: Arc<AdminClient<KafkaContext>>,
    topic: Arc<str>,
}

impl std::fmt::Debug for BrokerProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerProbe")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl BrokerProbe {
    /// A probe of `brokers` asking for `topic`'s metadata (one of the
    /// service's own: cheap on a cluster of many topics); `client_id` names
    /// it in the broker's logs.
    pub fn new(brokers: &str, client_id: &str, topic: &str) -> Result<BrokerProbe, KafkaError> {
        let admin: AdminClient<KafkaContext> = super::security::client_config()
            .set("bootstrap.servers", brokers)
            .set("client.id", client_id)
            // librdkafka's producer-type handles ask the broker to create a
            // topic they request metadata for; this one must never create
            // one with the broker's default partitions.
            .set("allow.auto.create.topics", "false")
            .create_with_context(KafkaContext::default())?;
        Ok(BrokerProbe {
            admin: Arc::new(admin),
            topic: topic.into(),
        })
    }

    /// `Ok` when a broker answered the metadata request within
    /// [`METADATA_TIMEOUT`]. A missing topic still counts as an answer: the
    /// service creates its topics itself.
    pub async fn check(&self) -> Result<(), String> {
        let (admin, topic) = (Arc::clone(&self.admin), Arc::clone(&self.topic));
        // librdkafka's metadata call blocks its thread.
        tokio::task::spawn_blocking(move || {
            admin
                .inner()
                .fetch_metadata(Some(&topic), METADATA_TIMEOUT)
                .map(drop)
                .map_err(|err| format!("no metadata from the brokers: {err}"))
        })
        .await
        .map_err(|err| err.to_string())?
    }
}

/// Creates every topic of `topics` (`(name, partitions)`), and a dead-letter
/// topic for each topic of `subscribed` (as many partitions as its source),
/// that does not exist yet, with `replication` replicas (`KAFKA_REPLICATION`).
/// `client_id` names the admin client in the broker's logs.
pub async fn ensure_topics(
    brokers: &str,
    client_id: &str,
    topics: &[(&str, i32)],
    subscribed: &[&str],
    replication: i32,
) -> Result<(), KafkaError> {
    let admin: AdminClient<KafkaContext> = super::security::client_config()
        .set("bootstrap.servers", brokers)
        .set("client.id", client_id)
        .create_with_context(KafkaContext::default())?;
    let partitions_of = |topic: &str| {
        topics
            .iter()
            .find(|&&(name, _)| name == topic)
            .map_or(1, |&(_, partitions)| partitions)
    };
    let dead_letters: Vec<(String, i32)> = subscribed
        .iter()
        .map(|&topic| (dead_letter_topic(topic), partitions_of(topic)))
        .collect();
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .copied()
        .chain(
            dead_letters
                .iter()
                .map(|(name, partitions)| (name.as_str(), *partitions)),
        )
        .map(|(name, partitions)| {
            NewTopic::new(name, partitions, TopicReplication::Fixed(replication))
        })
        .collect();
    let options = AdminOptions::new()
        .request_timeout(Some(ADMIN_TIMEOUT))
        .operation_timeout(Some(ADMIN_TIMEOUT));
    for result in admin.create_topics(&new_topics, &options).await? {
        match result {
            Ok(topic) => info!(%topic, "created Kafka topic"),
            Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => {
                debug!(%topic, "Kafka topic already exists");
            }
            Err((topic, code)) => {
                warn!(%topic, error = %code, "could not create Kafka topic");
                return Err(KafkaError::AdminOp(code));
            }
        }
    }
    Ok(())
}
