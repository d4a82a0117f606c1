{#- scaffold
when: false
-#}
{%- set first = service.produces[0] -%}
{%- set modules = [] -%}
{%- for t in service.produces %}{% set_global modules = modules | concat(with=t.flow_ident) %}{% endfor -%}
{%- set modules = modules | unique | sort -%}
//! The Kafka producer of `{{ service.name }}` (library and `{{ service.name }} publish` command)
//! against librdkafka's in-process mock cluster: no broker needed.
//!
//! The mock cluster does not implement the `CreateTopics` admin API, so tests
//! create topics through the mock's own API and check that
//! [`kafka::ensure_topics`] fails cleanly (in bounded time) against it.

use std::{process::Command, time::Duration};

{% if modules | length == 1 -%}
use contract::events::{{ modules[0] }};
{%- else -%}
use contract::events::{ {{- modules | join(sep=", ") -}} };
{%- endif %}
use rdkafka::{
    ClientConfig, Message,
    consumer::{Consumer, StreamConsumer},
    mocking::MockCluster,
};

use {{ service.ident }}::{handlers, kafka};

/// How long a test waits for the mock cluster before failing.
const WAIT: Duration = Duration::from_secs(30);

/// The first record of `topic`, as `(key, value, partition, offset)`.
async fn first_record(brokers: &str, topic: &str) -> (String, String, i32, i64) {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "{{ service.name }}-test-reader")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let message = tokio::time::timeout(WAIT, consumer.recv())
        .await
        .expect("a record within the wait")
        .unwrap();
    let text =
        |bytes: Option<&[u8]>| String::from_utf8(bytes.unwrap_or_default().to_vec()).unwrap();
    (
        text(message.key()),
        text(message.payload()),
        message.partition(),
        message.offset(),
    )
}

{% for t in service.produces %}#[tokio::test]
async fn publishes_{{ t.flow_ident }}_keyed_by_the_{{ contract.id_field.name }}() {
    let cluster = MockCluster::new(1).unwrap();
    cluster
        .create_topic({{ t.flow_ident }}::TOPIC, {{ t.flow_ident }}::PARTITIONS, 1)
        .unwrap();
    let brokers = cluster.bootstrap_servers();

    let publisher = kafka::Publisher::new(&brokers).unwrap();
    let delivery = publisher
        .publish_{{ t.flow_ident }}(&handlers::sample_{{ t.flow_ident }}("{{ names.sample_event_id }}"))
        .await
        .unwrap();

    let (key, value, partition, offset) = first_record(&brokers, {{ t.flow_ident }}::TOPIC).await;
    assert_eq!(key, "{{ names.sample_event_id }}");
    assert_eq!(value, r#"{{ names.sample_event_json }}"#);
    assert_eq!((partition, offset), (delivery.partition, delivery.offset));
}

{% endfor %}#[tokio::test]
async fn ensure_topics_fails_within_the_admin_timeout_when_topics_cannot_be_created() {
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let started = std::time::Instant::now();
    let result = kafka::ensure_topics(&brokers, 1).await;
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
    let publisher =
        kafka::Publisher::with_delivery_timeout("127.0.0.1:1", Duration::from_secs(1)).unwrap();
    let result = tokio::time::timeout(
        WAIT,
        publisher.publish_{{ first.flow_ident }}(&handlers::sample_{{ first.flow_ident }}("order-1")),
    )
    .await
    .expect("the send gives up by itself");
    assert!(result.is_err(), "{result:?}");
}

#[tokio::test]
async fn publish_command_exits_0_once_the_broker_acknowledged() {
    let cluster = MockCluster::new(1).unwrap();
    cluster
        .create_topic({{ first.flow_ident }}::TOPIC, {{ first.flow_ident }}::PARTITIONS, 1)
        .unwrap();
    let brokers = cluster.bootstrap_servers();
    let output = tokio::task::spawn_blocking({
        let brokers = brokers.clone();
        move || {
            Command::new(env!("CARGO_BIN_EXE_{{ service.name }}"))
                .args(["publish", "{{ first.flow }}", "{{ names.sample_event_id }}"])
                .env("KAFKA_BROKERS", brokers)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "status {:?}, stderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.starts_with("published {{ first.flow }} key={{ names.sample_event_id }} topic={{ first.topic }}"),
        "{stdout}"
    );

    let (key, value, _, _) = first_record(&brokers, {{ first.flow_ident }}::TOPIC).await;
    assert_eq!(key, "{{ names.sample_event_id }}");
    assert_eq!(value, r#"{{ names.sample_event_json }}"#);
}

#[test]
fn publish_command_refuses_a_malformed_id_with_exit_2() {
    let output = Command::new(env!("CARGO_BIN_EXE_{{ service.name }}"))
        .args(["publish", "{{ first.flow }}", "not an id"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not JSON nor a valid id"));
}
