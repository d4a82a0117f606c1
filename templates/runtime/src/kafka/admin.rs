{#- scaffold
when: uses.kafka
-#}
//! Topic creation with the admin API: many clusters do not auto-create
//! topics, and auto-creation would not use the partition counts the
//! recommendation sized.

use std::time::Duration;

use rdkafka::{
    ClientConfig,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    error::{KafkaError, RDKafkaErrorCode},
};
use tracing::{debug, info, warn};

use super::{KafkaContext, dead_letter_topic};

/// How long topic creation may take.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);

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
    let admin: AdminClient<KafkaContext> = ClientConfig::new()
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
