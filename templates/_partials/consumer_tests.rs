{#- scaffold
when: false
-#}
{%- set first = service.consumes[0] -%}
{%- set modules = [] -%}
{%- for t in service.consumes %}{% set_global modules = modules | concat(with=t.flow_ident) %}{% endfor -%}
{%- set cp = service.kafka.consume_produce -%}
{%- if cp %}{% set relayed = service.produces | filter(attribute="exactly_once", value=true) | first %}{% set_global modules = modules | concat(with=relayed.flow_ident) %}{% endif -%}
{%- set modules = modules | unique | sort -%}
//! The `{{ service.name }}` consumer against librdkafka's in-process mock cluster, fed
//! by the real producer{% if service.producers | length > 1 %}s{% endif %} ({{ service.consumes | map(attribute="from") | unique | join(sep=", ") }}): no broker needed.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

{% if modules | length == 1 -%}
use contract::events::{{ modules[0] }};
{%- else -%}
use contract::events::{ {{- modules | join(sep=", ") -}} };
{%- endif %}
use rdkafka::{
    ClientConfig, Message as _, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer as _, StreamConsumer},
    message::Headers as _,
    mocking::MockCluster,
    producer::{FutureProducer, FutureRecord},
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use runtime::kafka::{
    CONCURRENCY, HEADER_ATTEMPTS, HEADER_ERROR, HEADER_SOURCE_OFFSET, HEADER_SOURCE_PARTITION,
    HEADER_SOURCE_TOPIC, MAX_ATTEMPTS, dead_letter_topic,
};

use {{ service.ident }}::{
    config::Config,
    error::HandlerError,
    kafka::{self, EventHandler, Handlers},
    state::State,
};

/// How long a test waits for the mock cluster before failing.
const WAIT: Duration = Duration::from_secs(30);

/// A mock cluster with the consumed topics and their dead-letter topics.
fn cluster() -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
    let cluster = MockCluster::new(1).unwrap();
    for &(topic, partitions) in kafka::TOPICS {
        cluster.create_topic(topic, partitions, 1).unwrap();
    }
    for topic in kafka::SUBSCRIBED {
        cluster
            .create_topic(&dead_letter_topic(topic), 1, 1)
            .unwrap();
    }
    cluster
}
{% for t in service.consumes %}
/// Publishes one `{{ t.flow }}` event through {{ t.from }}'s real producer.
async fn publish_{{ t.flow_ident }}(brokers: &str, key: &str) -> (i32, i64) {
    let publisher = {{ t.from_ident }}::kafka::Publisher::new(brokers).unwrap();
    let wire = &{{ t.flow_ident }}::WIRE;
    let delivery = publisher.publish(wire, &(wire.sample)(key)).await.unwrap();
    (delivery.partition, delivery.offset)
}
{% endfor %}
/// Runs the real handlers, then reports each event they accepted: its flow
/// and its encoding.
struct Recording {
    handlers: Handlers,
    handled: mpsc::UnboundedSender<(&'static str, Vec<u8>)>,
}

impl Recording {
{%- if cp %}
    /// The service's handlers with the state it builds at start-up, its
    /// publisher on `brokers`.
    async fn new(
        brokers: &str,
        handled: mpsc::UnboundedSender<(&'static str, Vec<u8>)>,
    ) -> Recording {
        let brokers = |var: &str| (var == "KAFKA_BROKERS").then(|| brokers.to_owned());
        let config = Config::from_lookup(brokers).expect("the default configuration");
{%- else %}
    /// The service's handlers with the state it builds at start-up.
    async fn new(handled: mpsc::UnboundedSender<(&'static str, Vec<u8>)>) -> Recording {
        let config = Config::from_env().expect("the default configuration");
{%- endif %}
        let state = State::new(&config).await.expect("the service's state");
        Recording {
            handlers: Handlers::new(Arc::new(state)),
            handled,
        }
    }
}

impl EventHandler for Recording {
{%- for t in service.consumes %}
{%- if not loop.first %}
{% endif %}
{%- set line = "    async fn " ~ t.flow_ident ~ "(&self, event: " ~ t.flow_ident ~ "::Event) -> Result<(), HandlerError> {" %}
{%- if line | length <= 100 %}
{{ line }}
{%- else %}
    async fn {{ t.flow_ident }}(
        &self,
        event: {{ t.flow_ident }}::Event,
    ) -> Result<(), HandlerError> {
{%- endif %}
        let flow = {{ t.flow_ident }}::FLOW;
        let encoded = {{ t.flow_ident }}::encode(&event);
        self.handlers.{{ t.flow_ident }}(event).await?;
        self.handled.send((flow, encoded)).unwrap();
        Ok(())
    }
{%- endfor %}
{%- if cp %}

    fn transactions(&self) -> Option<&kafka::Publisher> {
        self.handlers.transactions()
    }
{%- endif %}
}
{%- if cp %}

/// The first record of `topic`: its key and payload.
async fn first_record(brokers: &str, topic: &str) -> (String, Vec<u8>) {
    let reader: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "test-reader")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    reader.subscribe(&[topic]).unwrap();
    let message = tokio::time::timeout(WAIT, reader.recv())
        .await
        .expect("a record within the wait")
        .unwrap();
    let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
    (key, message.payload().unwrap_or_default().to_vec())
}
{%- endif %}

{% for t in service.consumes %}#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
{%- if cp %}
async fn handles_{{ t.flow_ident }}_from_{{ t.from_ident }}_in_a_transaction_with_what_it_announces() {
{%- else %}
async fn handles_{{ t.flow_ident }}_from_{{ t.from_ident }}_and_commits_its_offset() {
{%- endif %}
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();
    let (partition, offset) = publish_{{ t.flow_ident }}(&brokers, "{{ t.event.sample_key }}").await;

{%- if not cp %}
    // The process's metrics recorder, installed before consuming.
    let metrics = runtime::telemetry::handle();
{%- endif %}
    let (handled, mut events) = mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    let consumer = tokio::spawn({
        let (brokers, shutdown) = (brokers.clone(), shutdown.clone());
        async move {
{%- if cp %}
            let recording = Recording::new(&brokers, handled).await;
{%- else %}
            let recording = Recording::new(handled).await;
{%- endif %}
            kafka::consume(&brokers, CONCURRENCY, recording, shutdown).await
        }
    });

    let (flow, event) = tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("the event within the wait")
        .unwrap();
    assert_eq!(flow, {{ t.flow_ident }}::FLOW);
    assert_eq!(
        {{ t.flow_ident }}::decode(&event).unwrap(),
        {{ t.flow_ident }}::sample("{{ t.event.sample_key }}")
    );

{%- if cp %}

    // The example handler's announcement, committed in the event's
    // transaction.
    let (key, payload) = first_record(&brokers, {{ relayed.flow_ident }}::TOPIC).await;
    assert_eq!(key, "{{ t.event.sample_key }}");
    assert_eq!(
        {{ relayed.flow_ident }}::decode(&payload).unwrap(),
        {{ relayed.flow_ident }}::sample("{{ t.event.sample_key }}")
    );
{%- endif %}
{%- if not cp %}

    // Counted, and its partition's lag reported from librdkafka's
    // statistics (every few seconds) once its offset is stored.
    let (group, topic) = (kafka::GROUP_ID, {{ t.flow_ident }}::TOPIC);
    let series = |name: &str, last: String| {
        format!(
            r#"{name}{}group="{group}",topic="{topic}",{last}{}"#,
            '{', '}'
        )
    };
    let counted = series(
        "kafka_consumed_records_total",
        r#"outcome="handled""#.into(),
    );
    let lag = series(
        "kafka_consumer_lag_records",
        format!(r#"partition="{partition}""#),
    ) + " 0";
    let deadline = tokio::time::Instant::now() + WAIT;
    let text = loop {
        let text = metrics.render();
        if text.contains(&lag) || tokio::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(text.contains(&counted), "{counted} in {text}");
    assert!(text.contains(&lag), "{lag} in {text}");
{%- endif %}

    shutdown.cancel();
    tokio::time::timeout(WAIT, consumer)
        .await
        .expect("the consumer stops")
        .unwrap()
        .unwrap();

{%- if cp %}

    // The event's offset went with the transaction, not the consumer's
    // commits: librdkafka's mock cluster accepts a transaction's offsets
    // without keeping them (a real broker shows them committed), so none is
    // committed here, where an offset stored after handling would be.
{%- else %}

    // Closing committed the offset stored after the handler succeeded.
{%- endif %}
    let committed = tokio::task::spawn_blocking(move || {
        let reader: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", kafka::GROUP_ID)
            .create()
            .unwrap();
        let mut partitions = TopicPartitionList::new();
        partitions.add_partition({{ t.flow_ident }}::TOPIC, partition);
        let committed = reader.committed_offsets(partitions, WAIT).unwrap();
        committed.elements()[0].offset()
    })
    .await
    .unwrap();
{%- if cp %}
    assert_eq!(
        committed,
        Offset::Invalid,
        "offset {offset} was auto-committed"
    );
{%- else %}
    assert_eq!(committed, Offset::Offset(offset + 1));
{%- endif %}
}

{% endfor -%}
{%- if first.event.key_kind != "parsed" -%}
/// Fails every event whose key starts with `poison`, records the keys of the
/// others.
struct FailsOnPoison {
    attempts: Arc<Mutex<HashMap<String, u32>>>,
    handled: mpsc::UnboundedSender<String>,
}

impl FailsOnPoison {
    fn handle(&self, key: String) -> Result<(), HandlerError> {
        *self
            .attempts
            .lock()
            .unwrap()
            .entry(key.clone())
            .or_default() += 1;
        if key.starts_with("poison") {
            return Err(HandlerError::Unavailable("warehouse is down".into()));
        }
        self.handled.send(key).unwrap();
        Ok(())
    }
}

impl EventHandler for FailsOnPoison {
{%- for t in service.consumes %}
{%- if not loop.first %}
{% endif %}
{%- set line = "    async fn " ~ t.flow_ident ~ "(&self, event: " ~ t.flow_ident ~ "::Event) -> Result<(), HandlerError> {" %}
{%- if line | length <= 100 %}
{{ line }}
{%- else %}
    async fn {{ t.flow_ident }}(
        &self,
        event: {{ t.flow_ident }}::Event,
    ) -> Result<(), HandlerError> {
{%- endif %}
        self.handle({{ t.flow_ident }}::key(&event))
    }
{%- endfor %}
{%- if cp %}

    fn transactions(&self) -> Option<&kafka::Publisher> {
        // Dead letters and offsets committed without transactions: the
        // handler publishes nothing.
        None
    }
{%- endif %}
}

/// The dead-lettered records as `(key, payload, headers)`, in arrival order.
async fn dead_letters(
    brokers: &str,
    count: usize,
) -> Vec<(String, Vec<u8>, HashMap<String, String>)> {
    let reader: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "dead-letter-reader")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    reader
        .subscribe(&[dead_letter_topic({{ first.flow_ident }}::TOPIC).as_str()])
        .unwrap();
    let text =
        |bytes: Option<&[u8]>| String::from_utf8_lossy(bytes.unwrap_or_default()).into_owned();
    let mut records = Vec::new();
    while records.len() < count {
        let message = tokio::time::timeout(WAIT, reader.recv())
            .await
            .expect("a dead letter within the wait")
            .unwrap();
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| (h.key.to_owned(), text(h.value)))
                    .collect()
            })
            .unwrap_or_default();
        records.push((
            text(message.key()),
            message.payload().unwrap_or_default().to_vec(),
            headers,
        ));
    }
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_what_fails_and_keeps_consuming() {
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();

    // A handler failure, retried then dead-lettered.
    let (poison_partition, poison_offset) = publish_{{ first.flow_ident }}(&brokers, "poison-1").await;
    // A payload no handler can read, dead-lettered at once.
    let garbage: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    garbage
        .send(
            FutureRecord::to({{ first.flow_ident }}::TOPIC)
                .key("garbage-1")
                .payload("not json"),
            WAIT,
        )
        .await
        .unwrap();
    // A good event after both, which must still be handled.
    publish_{{ first.flow_ident }}(&brokers, "{{ first.event.sample_key }}").await;

    let attempts = Arc::new(Mutex::new(HashMap::new()));
    let (handled, mut events) = mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    let consumer = tokio::spawn({
        let failing = FailsOnPoison {
            attempts: attempts.clone(),
            handled,
        };
        let (brokers, shutdown) = (brokers.clone(), shutdown.clone());
        async move { kafka::consume(&brokers, CONCURRENCY, failing, shutdown).await }
    });

    let key = tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("the good event is handled")
        .unwrap();
    assert_eq!(key, "{{ first.event.sample_key }}");

    let mut letters = dead_letters(&brokers, 2).await;
    letters.sort_by(|a, b| a.0.cmp(&b.0));
    let [
        (garbage_key, garbage_payload, garbage_headers),
        (poison_key, poison_payload, poison_headers),
    ] = letters.as_slice()
    else {
        panic!("expected two dead letters, got {letters:?}");
    };

    assert_eq!(poison_key, "poison-1");
    let wire = &{{ first.flow_ident }}::WIRE;
    let poison = (wire.decode)(poison_payload).unwrap();
    assert_eq!(poison, (wire.sample)("poison-1"));
    assert_eq!(poison_headers[HEADER_SOURCE_TOPIC], wire.topic);
    assert_eq!(
        poison_headers[HEADER_SOURCE_PARTITION],
        poison_partition.to_string()
    );
    assert_eq!(
        poison_headers[HEADER_SOURCE_OFFSET],
        poison_offset.to_string()
    );
    assert_eq!(
        poison_headers[HEADER_ERROR],
        "unavailable: warehouse is down"
    );
    assert_eq!(poison_headers[HEADER_ATTEMPTS], MAX_ATTEMPTS.to_string());
    assert_eq!(attempts.lock().unwrap()["poison-1"], MAX_ATTEMPTS);

    assert_eq!(garbage_key, "garbage-1");
    assert_eq!(garbage_payload, b"not json");
{%- set first_topic = service.consumed_topics | filter(attribute="topic", value=first.topic) | first %}
{%- if first_topic.shared %}
    // Flows share the topic: a record without a `flow` header has no handler.
    assert!(
        garbage_headers[HEADER_ERROR].contains("no handler for flow None"),
        "{garbage_headers:?}"
    );
{%- else %}
    assert!(
        garbage_headers[HEADER_ERROR].contains("not an event of flow {{ first.flow }}"),
        "{garbage_headers:?}"
    );
{%- endif %}
    assert_eq!(garbage_headers[HEADER_ATTEMPTS], "1");
    assert!(!attempts.lock().unwrap().contains_key("garbage-1"));

    shutdown.cancel();
    tokio::time::timeout(WAIT, consumer)
        .await
        .expect("the consumer stops")
        .unwrap()
        .unwrap();
}
{%- endif %}
