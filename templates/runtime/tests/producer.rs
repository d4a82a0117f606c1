{#- scaffold
when: uses.kafka
-#}
//! The runtime's producer against librdkafka's in-process mock cluster: what
//! a record carries, and how sends fail. The mock cluster does not implement
//! the `CreateTopics` admin API, so tests create topics through the mock's
//! own API and check that [`kafka::ensure_topics`] fails cleanly (in bounded
//! time) against it.
#![cfg(feature = "kafka")]

mod support;

use std::{collections::HashMap, time::Duration};

use rdkafka::{
    ClientConfig, Message as _,
    consumer::{Consumer as _, StreamConsumer},
};
use runtime::kafka::{self, ProducerSettings, Publisher};
use support::{CONTENT_TYPE, FLOW, TOPIC, WAIT, cluster_with, headers, payload, publisher, record};

/// The first record of `topic`: key, value, headers, partition, offset.
async fn first_record(
    brokers: &str,
    topic: &str,
) -> (String, String, HashMap<String, String>, i32, i64) {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "runtime-test-reader")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let message = tokio::time::timeout(WAIT, consumer.recv())
        .await
        .expect("a record within the wait")
        .unwrap();
    let text =
        |bytes: Option<&[u8]>| String::from_utf8_lossy(bytes.unwrap_or_default()).into_owned();
    let headers = headers(&message);
    (
        text(message.key()),
        text(message.payload()),
        headers,
        message.partition(),
        message.offset(),
    )
}

#[tokio::test]
async fn publishes_the_key_payload_and_the_flow_and_content_type_headers() {
    let cluster = cluster_with(3);
    let brokers = cluster.bootstrap_servers();
    let payload = payload("order-1");
    let delivery = publisher(&brokers)
        .publish(record("order-1", &payload, false))
        .await
        .unwrap();

    let (key, value, headers, partition, offset) = first_record(&brokers, TOPIC).await;
    assert_eq!((key.as_str(), value.as_str()), ("order-1", "id=order-1"));
    assert_eq!(headers[kafka::FLOW_HEADER], FLOW);
    assert_eq!(headers[kafka::CONTENT_TYPE_HEADER], CONTENT_TYPE);
    assert_eq!((partition, offset), (delivery.partition, delivery.offset));
}

#[tokio::test]
async fn a_publisher_sends_only_the_kinds_of_events_it_was_set_up_for() {
    let cluster = cluster_with(1);
    let brokers = cluster.bootstrap_servers();
    let payload = payload("e-1");
    let idempotent_only = publisher(&brokers);
    let refused = idempotent_only.publish(record("e-1", &payload, true)).await;
    assert!(
        refused.is_err_and(|err| err.to_string().contains("no transactional id")),
        "an exactly-once event needs a transactional id"
    );
    let transactional_only = Publisher::new(
        &ProducerSettings::new(&brokers, "runtime-test")
            .idempotent(false)
            .transactional_id("runtime-test-tx"),
    )
    .unwrap();
    let refused = transactional_only
        .queue(record("e-1", &payload, false))
        .await;
    assert!(
        refused.is_err_and(|err| err.to_string().contains("no idempotent producer")),
        "an at-least-once event needs the idempotent producer"
    );
}

#[tokio::test]
async fn ensure_topics_fails_within_the_admin_timeout_when_topics_cannot_be_created() {
    let cluster = cluster_with(1);
    let brokers = cluster.bootstrap_servers();
    let started = std::time::Instant::now();
    let result =
        kafka::ensure_topics(&brokers, "runtime-test-admin", &[("new-topic", 3)], &[], 1).await;
    assert!(result.is_err(), "the mock cluster has no CreateTopics API");
    assert!(
        started.elapsed() < kafka::ADMIN_TIMEOUT * 3,
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn publishing_without_a_reachable_broker_fails_at_the_delivery_timeout() {
    // Port 1 on loopback: nothing listens there, connections are refused.
    let publisher = Publisher::new(
        &ProducerSettings::new("127.0.0.1:1", "runtime-test")
            .delivery_timeout(Duration::from_secs(1)),
    )
    .unwrap();
    let payload = payload("e-1");
    let result = tokio::time::timeout(WAIT, publisher.publish(record("e-1", &payload, false)))
        .await
        .expect("the send gives up by itself");
    assert!(result.is_err(), "{result:?}");
}
