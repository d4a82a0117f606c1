{#- scaffold
when: uses.kafka
-#}
//! The runtime's producer under broker faults, against librdkafka's
//! in-process mock cluster: retriable errors injected into produce requests,
//! the broker going down and coming back, and a broker down for longer than
//! the delivery timeout.
//!
//! Each scenario queues a stream of events (several per key, pipelined:
//! nobody waits for an acknowledgement before queuing the next event), then
//! reads the whole topic back and checks that every event the producer
//! reported as acknowledged is in the topic at the offset it was acknowledged
//! with, exactly once, in order per key, and that every other event was
//! reported to the caller as failed. Each scenario prints its counts
//! (`cargo test -- --nocapture` shows them).
#![cfg(feature = "kafka")]

mod support;

use std::{
    collections::{HashMap, HashSet},
    fmt,
    time::Duration,
};

use rdkafka::{
    ClientConfig, Message as _, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer as _},
    mocking::MockCluster,
    producer::{DefaultProducerContext, future_producer::Delivery},
    types::{RDKafkaApiKey, RDKafkaRespErr},
};

use runtime::kafka::{PendingDelivery, ProducerSettings, Publisher};
use support::{TOPIC, WAIT, payload, publisher, record};

/// Partitions of the topic.
const PARTITIONS: i32 = 3;
/// Distinct keys of a stream.
const KEYS: u32 = 20;

type Cluster = MockCluster<'static, DefaultProducerContext>;

fn cluster() -> Cluster {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(TOPIC, PARTITIONS, 1).unwrap();
    cluster
}

/// The key of event number `n` of a stream: `k-{n % KEYS}`.
fn key(n: u32) -> String {
    format!("k-{}", n % KEYS)
}

/// What the producer reported for each event of a stream, in the order the
/// events were queued: its key and its acknowledgement, if any.
#[derive(Default)]
struct Outcomes {
    sent: Vec<(String, Option<Delivery>)>,
}

impl Outcomes {
    /// Queues the events `range` one after another, without waiting.
    async fn queue(
        &mut self,
        publisher: &Publisher,
        range: std::ops::Range<u32>,
    ) -> Vec<(String, PendingDelivery)> {
        let mut pending = Vec::new();
        for n in range {
            let (key, payload) = (key(n), payload(&key(n)));
            let delivery = publisher
                .queue(record(&key, &payload, false))
                .await
                .unwrap();
            pending.push((key, delivery));
        }
        pending
    }

    /// Waits for every acknowledgement (or failure) of `pending`.
    async fn settle(&mut self, pending: Vec<(String, PendingDelivery)>) {
        for (key, delivery) in pending {
            let acked = tokio::time::timeout(WAIT * 2, delivery)
                .await
                .expect("every send resolves by itself (delivery timeout)")
                .ok();
            self.sent.push((key, acked));
        }
    }
}

/// Every record of `topic`, read from the beginning up to the high
/// watermarks: `(partition, offset) -> key`.
fn read_topic(brokers: &str, topic: &str) -> HashMap<(i32, i64), String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "fault-test-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    let mut remaining = HashMap::new();
    for partition in 0..PARTITIONS {
        let (_low, high) = consumer.fetch_watermarks(topic, partition, WAIT).unwrap();
        if high > 0 {
            remaining.insert(partition, high);
        }
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut records = HashMap::new();
    let deadline = std::time::Instant::now() + WAIT;
    while !remaining.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "topic not read to its end in time: {remaining:?}"
        );
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.unwrap();
        let (partition, offset) = (message.partition(), message.offset());
        let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
        records.insert((partition, offset), key);
        if remaining
            .get(&partition)
            .is_some_and(|&high| offset + 1 >= high)
        {
            remaining.remove(&partition);
        }
    }
    records
}

/// The counts of one scenario.
#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    sent: usize,
    acked: usize,
    failed: usize,
    consumed: usize,
    /// Acknowledged events missing from the offset they were acknowledged at.
    lost: usize,
    /// Records that no acknowledgement accounts for: duplicates, or failed
    /// sends written anyway (allowed: a failure means "not known to be
    /// written"; it does not happen in these scenarios).
    duplicated: usize,
    /// Acknowledged events of one key at offsets not increasing in the
    /// order they were queued.
    out_of_order: usize,
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent={} acked={} failed={} consumed={} lost={} duplicated={} out_of_order={}",
            self.sent,
            self.acked,
            self.failed,
            self.consumed,
            self.lost,
            self.duplicated,
            self.out_of_order
        )
    }
}

/// Key prefix of the probes of [`wait_until_delivering`], left out of the counts.
const PROBE: &str = "probe-";

/// Compares what the producer reported with what the topic holds.
async fn read_and_count(brokers: &str, outcomes: &Outcomes) -> Counts {
    let brokers = brokers.to_owned();
    let mut records = tokio::task::spawn_blocking(move || read_topic(&brokers, TOPIC))
        .await
        .unwrap();
    records.retain(|_, key| !key.starts_with(PROBE));
    let mut counts = Counts {
        consumed: records.len(),
        ..Counts::default()
    };
    let mut accounted = HashSet::new();
    let mut last: HashMap<&str, (i32, i64)> = HashMap::new();
    for (key, delivery) in &outcomes.sent {
        counts.sent += 1;
        let Some(delivery) = delivery else {
            counts.failed += 1;
            continue;
        };
        counts.acked += 1;
        let at = (delivery.partition, delivery.offset);
        if records.get(&at) == Some(key) {
            accounted.insert(at);
        } else {
            counts.lost += 1;
        }
        if last
            .insert(key.as_str(), at)
            .is_some_and(|before| before.0 != at.0 || before.1 >= at.1)
        {
            counts.out_of_order += 1;
        }
    }
    counts.duplicated = records.len() - accounted.len();
    counts
}

/// Sends probe events (each with a key of its own) until one is
/// acknowledged: after an outage librdkafka reconnects with a growing
/// backoff, so the first sends after the broker is back may still time out.
async fn wait_until_delivering(publisher: &Publisher) {
    for attempt in 0..30 {
        let probe = format!("{PROBE}{attempt}");
        let payload = payload(&probe);
        if publisher
            .publish(record(&probe, &payload, false))
            .await
            .is_ok()
        {
            return;
        }
    }
    panic!("the producer did not recover after the broker came back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retriable_produce_errors_neither_lose_duplicate_nor_reorder_acknowledged_events() {
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();
    let publisher = publisher(&brokers);
    let mut outcomes = Outcomes::default();
    let mut pending = Vec::new();
    // Three waves of 100 events; before each, the next produce requests are
    // made to fail with retriable errors, or to drop the connection.
    for wave in 0..3 {
        cluster.request_errors(
            RDKafkaApiKey::Produce,
            &[
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                RDKafkaRespErr::RD_KAFKA_RESP_ERR__TRANSPORT,
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                RDKafkaRespErr::RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
                RDKafkaRespErr::RD_KAFKA_RESP_ERR__TRANSPORT,
            ],
        );
        pending.extend(
            outcomes
                .queue(&publisher, wave * 100..(wave + 1) * 100)
                .await,
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    outcomes.settle(pending).await;

    let counts = read_and_count(&brokers, &outcomes).await;
    println!("producer, retriable produce errors: {counts}");
    assert_eq!(
        counts,
        Counts {
            sent: 300,
            acked: 300,
            consumed: 300,
            ..Counts::default()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_down_then_up_within_the_delivery_timeout_loses_and_duplicates_nothing() {
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();
    // librdkafka reconnects with a backoff growing up to
    // `reconnect.backoff.max.ms` (10 s): after a 2 s outage, sending may
    // resume up to about 10 s later. A 30 s delivery timeout covers that, so
    // every event must be acknowledged.
    let publisher = Publisher::new(
        &ProducerSettings::new(&brokers, "runtime-test").delivery_timeout(Duration::from_secs(30)),
    )
    .unwrap();
    let mut outcomes = Outcomes::default();
    // A stream of 300 events, queued in batches of 10 every 10 ms; the broker
    // goes down a third of the way through (dropping every connection, with
    // requests in flight) and comes back 2 s later.
    let mut pending = Vec::new();
    for batch in 0..30 {
        if batch == 10 {
            cluster.broker_down(-1).unwrap();
        }
        if batch == 20 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            cluster.broker_up(-1).unwrap();
        }
        pending.extend(
            outcomes
                .queue(&publisher, batch * 10..(batch + 1) * 10)
                .await,
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    outcomes.settle(pending).await;

    let counts = read_and_count(&brokers, &outcomes).await;
    println!("producer, broker down 2 s mid-stream: {counts}");
    assert_eq!(
        counts,
        Counts {
            sent: 300,
            acked: 300,
            consumed: 300,
            ..Counts::default()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_that_outlive_the_delivery_timeout_are_reported_as_failed() {
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();
    let publisher = Publisher::new(
        &ProducerSettings::new(&brokers, "runtime-test")
            .delivery_timeout(Duration::from_millis(1500)),
    )
    .unwrap();
    let mut outcomes = Outcomes::default();
    // 100 events while the broker is up, 100 while it is down for longer
    // than the delivery timeout, 100 once it is back and the producer has
    // reconnected.
    let first = outcomes.queue(&publisher, 0..100).await;
    outcomes.settle(first).await;
    cluster.broker_down(-1).unwrap();
    let during = outcomes.queue(&publisher, 100..200).await;
    outcomes.settle(during).await;
    cluster.broker_up(-1).unwrap();
    wait_until_delivering(&publisher).await;
    let after = outcomes.queue(&publisher, 200..300).await;
    outcomes.settle(after).await;

    let counts = read_and_count(&brokers, &outcomes).await;
    println!("producer, broker down past the delivery timeout: {counts}");
    assert_eq!(
        counts,
        Counts {
            sent: 300,
            acked: 200,
            failed: 100,
            consumed: 200,
            ..Counts::default()
        }
    );
    let failed: Vec<bool> = outcomes.sent.iter().map(|(_, d)| d.is_none()).collect();
    assert!(
        failed[100..200].iter().all(|&f| f) && !failed[..100].iter().any(|&f| f),
        "exactly the events sent while the broker was down failed"
    );
}
