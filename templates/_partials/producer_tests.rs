{#- scaffold
when: false
-#}
{%- set first = service.produces[0] -%}
{%- set modules = [] -%}
{%- for t in service.produces %}{% set_global modules = modules | concat(with=t.flow_ident) %}{% endfor -%}
{%- set modules = modules | unique | sort -%}
//! The Kafka producer of `{{ service.name }}` (library and `{{ service.name }} publish` command)
//! against librdkafka's in-process mock cluster: no broker needed. Each flow's
//! event goes out keyed by its key field, encoded as the flow says, with its
//! `flow` and `content-type` headers. How the producer behaves under faults
//! is the runtime's to test (`runtime/tests`), once for every service.

use std::{collections::HashMap, process::Command, time::Duration};

{% if modules | length == 1 -%}
use contract::events::{{ modules[0] }};
{%- else -%}
use contract::events::{ {{- modules | join(sep=", ") -}} };
{%- endif %}
use rdkafka::{
    ClientConfig, Message,
    consumer::{Consumer, StreamConsumer},
    message::Headers as _,
    mocking::MockCluster,
};
use runtime::kafka::{CONTENT_TYPE_HEADER, FLOW_HEADER};

use {{ service.ident }}::{config::Config, kafka};

/// How long a test waits for the mock cluster before failing.
const WAIT: Duration = Duration::from_secs(30);

/// A record read back: key, value, headers, partition and offset.
struct Record {
    key: String,
    value: Vec<u8>,
    headers: HashMap<String, String>,
    partition: i32,
    offset: i64,
}

/// The first record of `topic`.
async fn first_record(brokers: &str, topic: &str) -> Record {
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
        |bytes: Option<&[u8]>| String::from_utf8_lossy(bytes.unwrap_or_default()).into_owned();
    let headers = message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|h| (h.key.to_owned(), text(h.value)))
                .collect()
        })
        .unwrap_or_default();
    Record {
        key: text(message.key()),
        value: message.payload().unwrap_or_default().to_vec(),
        headers,
        partition: message.partition(),
        offset: message.offset(),
    }
}

/// A mock cluster with the topics of this service.
fn cluster() -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
    let cluster = MockCluster::new(1).unwrap();
    for &(topic, partitions) in kafka::TOPICS {
        cluster.create_topic(topic, partitions, 1).unwrap();
    }
    cluster
}

/// The service's configuration, with `brokers`.
fn config(brokers: &str) -> Config {
    Config::from_lookup(|var| (var == "KAFKA_BROKERS").then(|| brokers.to_owned())).unwrap()
}

{% for t in service.produces %}#[tokio::test]
async fn publishes_{{ t.flow_ident }}_keyed_by_its_{{ t.event.key_proto | snake }}_with_its_headers() {
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();

    let publisher = kafka::Publisher::new(&brokers).unwrap();
    let wire = &{{ t.flow_ident }}::WIRE;
    let event = (wire.sample)("{{ t.event.sample_key }}");
    let delivery = publisher.publish(wire, &event).await.unwrap();

    let record = first_record(&brokers, wire.topic).await;
    assert_eq!(record.key, "{{ t.event.sample_key }}");
    assert_eq!((wire.decode)(&record.value).unwrap(), event);
{%- if t.event.sample_json and not t.event.binary %}
{%- if t.event.sample_json | length <= 40 %}
    assert_eq!(record.value, br#"{{ t.event.sample_json }}"#);
{%- else %}
    assert_eq!(
        record.value,
        br#"{{ t.event.sample_json }}"#
    );
{%- endif %}
{%- endif %}
    assert_eq!(record.headers[FLOW_HEADER], wire.flow);
    assert_eq!(record.headers[CONTENT_TYPE_HEADER], wire.content_type);
    assert_eq!(
        (record.partition, record.offset),
        (delivery.partition, delivery.offset)
    );
}

{% endfor %}#[tokio::test]
async fn publish_sends_the_message_given_in_proto3_json() {
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();
    let wire = &{{ first.flow_ident }}::WIRE;
    let event = (wire.sample)("{{ first.event.sample_key }}");
    let json = serde_json::to_string(&event).unwrap();

    let published = kafka::publish(&config(&brokers), wire.flow, &json)
        .await
        .unwrap();

    assert_eq!(published.key, "{{ first.event.sample_key }}");
    let record = first_record(&brokers, wire.topic).await;
    assert_eq!((wire.decode)(&record.value).unwrap(), event);
    assert_eq!(
        (record.partition, record.offset),
        (published.partition, published.offset)
    );
}

#[tokio::test]
async fn publish_refuses_an_unknown_flow_and_malformed_input() {
    let config = config("127.0.0.1:1");
    for (flow, input) in [
        ("no-such-flow", "e-1"),
        ({{ first.flow_ident }}::FLOW, "not an id"),
        ({{ first.flow_ident }}::FLOW, "{not json"),
    ] {
        let err = kafka::publish(&config, flow, input).await.unwrap_err();
        assert!(err.is::<kafka::InvalidInput>(), "{flow} {input}: {err:#}");
    }
}

#[tokio::test]
async fn publish_command_exits_0_once_the_broker_acknowledged() {
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();
    let output = tokio::task::spawn_blocking({
        let brokers = brokers.clone();
        move || {
            Command::new(env!("CARGO_BIN_EXE_{{ service.name }}"))
                .args(["publish", "{{ first.flow }}", "{{ first.event.sample_key }}"])
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
        stdout.starts_with("published {{ first.flow }} key={{ first.event.sample_key }} topic={{ first.topic }}"),
        "{stdout}"
    );

    let wire = &{{ first.flow_ident }}::WIRE;
    let record = first_record(&brokers, wire.topic).await;
    assert_eq!(record.key, "{{ first.event.sample_key }}");
    let event = (wire.decode)(&record.value).unwrap();
    assert_eq!(event, (wire.sample)("{{ first.event.sample_key }}"));
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
