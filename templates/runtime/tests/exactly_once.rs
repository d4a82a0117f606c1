{#- scaffold
when: uses.kafka
-#}
//! Exactly-once events end to end: the runtime's transactional producer and
//! its `read_committed` consumer.
//!
//! librdkafka's mock cluster runs transactions (`InitProducerId`,
//! `AddPartitionsToTxn`, `EndTxn`...) but does not implement their visibility:
//! its `EndTxn` writes no commit/abort marker, and its `Fetch` answers a last
//! stable offset equal to the high watermark with an empty list of aborted
//! transactions, whatever the isolation level (librdkafka 2.12,
//! `rdkafka_mock_handlers.c`). A `read_committed` consumer of the mock
//! therefore sees the records of aborted transactions. So the mock tests
//! below check the producer's side (commits under injected coordinator
//! errors, a failed transaction aborted and reported), and the test that an
//! aborted transaction is never seen needs a real broker that implements
//! transactions (the `docker-compose.yml` Kafka does):
//!
//! ```sh
//! KAFKA_TEST_BROKERS=localhost:9092 cargo test -p runtime --test exactly_once -- --ignored
//! ```
//!
//! Consume-produce: a handler's exactly-once events commit with the offset
//! of the record it handled. The mock accepts a transaction's offsets
//! (`TxnOffsetCommit`) without keeping them, so the mock test checks that
//! the offsets go with the transactions (a refused offset commit aborts the
//! transaction and the record is handled again; nothing is auto-committed);
//! the ignored test checks, on a real broker, that a failed handler's events
//! are never seen and every record yields its event once.
#![cfg(feature = "kafka")]

mod support;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use rdkafka::{
    ClientConfig, Offset,
    message::{Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord, Producer as _},
    types::{RDKafkaApiKey, RDKafkaRespErr},
};
use runtime::kafka::{
    self, ConsumerSettings, Dispatch, EventRecord, FLOW_HEADER, ProducerSettings, Publisher,
    Received, consume,
};
use support::{
    FLOW, Running, Script, TOPIC, TestError, WAIT, cluster, committed_offset, ids, payload, record,
    records, settings, start_with,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A publisher of exactly-once events only, with a `transactional.id` of
/// its own.
fn transactional_publisher(brokers: &str) -> Publisher {
    let settings = ProducerSettings::new(brokers, "runtime-test")
        .idempotent(false)
        .transactional_id("exactly-once-test");
    Publisher::new(&settings).unwrap()
}

/// Publishes the event of `id` through `publisher`, in a transaction.
async fn publish(publisher: &Publisher, id: &str) -> Result<(), rdkafka::error::KafkaError> {
    let payload = payload(id);
    publisher.publish(record(id, &payload, true)).await?;
    Ok(())
}

/// Starts a `read_committed` consumer.
fn start(brokers: &str, script: Script) -> Running {
    start_with(settings(brokers).read_committed(true), script)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_events_are_handled_once_despite_transaction_coordinator_errors() {
    const EVENTS: usize = 20;
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();
    // Errors librdkafka must retry through, on every step of a transaction.
    cluster.request_errors(
        RDKafkaApiKey::InitProducerId,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
        ],
    );
    cluster.request_errors(
        RDKafkaApiKey::AddPartitionsToTxn,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
        ],
    );
    cluster.request_errors(
        RDKafkaApiKey::EndTxn,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
        ],
    );
    let publisher = transactional_publisher(&brokers);
    let mut committed = Vec::new();
    for n in 0..EVENTS {
        let id = format!("e-{n}");
        publish(&publisher, &id).await.unwrap();
        committed.push(id);
    }

    let mut consumer = start(&brokers, Script::default());
    let mut handled = consumer.next(EVENTS).await;
    let extra = consumer.more_within(Duration::from_secs(1)).await;
    consumer.stop().await.unwrap();

    handled.sort();
    committed.sort();
    println!(
        "exactly-once, coordinator errors: sent={EVENTS} committed={} consumed={} lost=0 duplicated={}",
        committed.len(),
        handled.len(),
        extra.len()
    );
    assert_eq!(handled, committed);
    assert!(extra.is_empty(), "{extra:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_transaction_is_aborted_reported_to_the_caller_and_the_next_one_commits() {
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();
    let publisher = transactional_publisher(&brokers);
    publish(&publisher, "e-1").await.unwrap();
    // The broker refuses the next record: the transaction cannot commit.
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE],
    );
    let failed = publish(&publisher, "e-2").await;
    assert!(failed.is_err(), "{failed:?}");
    publish(&publisher, "e-3")
        .await
        .expect("the publisher recovers: the next transaction commits");

    let mut consumer = start(&brokers, Script::default());
    let mut handled = consumer.next(2).await;
    let extra = consumer.more_within(Duration::from_secs(1)).await;
    consumer.stop().await.unwrap();
    handled.sort();
    println!(
        "exactly-once, failed transaction: sent=3 committed=2 failed=1 consumed={} lost=0 duplicated=0",
        handled.len() + extra.len()
    );
    assert_eq!(handled, ["e-1", "e-3"]);
    assert!(extra.is_empty(), "{extra:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real broker (the mock shows aborted records): KAFKA_TEST_BROKERS=host:port cargo test --test exactly_once -- --ignored"]
async fn an_aborted_transaction_is_never_seen_by_the_read_committed_consumer() {
    let brokers = std::env::var("KAFKA_TEST_BROKERS").expect("KAFKA_TEST_BROKERS=host:port");
    kafka::ensure_topics(&brokers, "runtime-test-admin", &[(TOPIC, 1)], &[TOPIC], 1)
        .await
        .unwrap();
    let run = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("transactional.id", format!("exactly-once-test-{run}"))
        .create()
        .unwrap();
    let blocking = |call: fn(&FutureProducer) -> rdkafka::error::KafkaResult<()>| {
        let producer = producer.clone();
        tokio::task::spawn_blocking(move || call(&producer))
    };
    let send = |id: String| {
        let payload = payload(&id);
        let producer = producer.clone();
        async move {
            let headers = OwnedHeaders::new().insert(Header {
                key: FLOW_HEADER,
                value: Some(FLOW),
            });
            let record = FutureRecord::to(TOPIC)
                .key(&id)
                .payload(&payload)
                .headers(headers);
            producer
                .send(record, WAIT)
                .await
                .map_err(|(err, _)| err)
                .unwrap();
        }
    };
    blocking(|p| p.init_transactions(WAIT))
        .await
        .unwrap()
        .unwrap();
    // Written to the log and acknowledged, then aborted.
    producer.begin_transaction().unwrap();
    send(format!("aborted-{run}")).await;
    blocking(|p| p.abort_transaction(WAIT))
        .await
        .unwrap()
        .unwrap();
    producer.begin_transaction().unwrap();
    send(format!("committed-{run}")).await;
    blocking(|p| p.commit_transaction(WAIT))
        .await
        .unwrap()
        .unwrap();

    let mut consumer = start(&brokers, Script::default());
    let mut handled = Vec::new();
    while !handled.contains(&format!("committed-{run}")) {
        handled.extend(consumer.next(1).await);
    }
    handled.extend(consumer.more_within(Duration::from_secs(2)).await);
    consumer.stop().await.unwrap();
    let aborted_seen = handled
        .iter()
        .filter(|id| id.starts_with("aborted-"))
        .count();
    println!(
        "exactly-once, real broker: sent=2 committed=1 aborted=1 consumed_this_run={} aborted_seen={aborted_seen}",
        handled.iter().filter(|id| id.ends_with(&run)).count()
    );
    assert!(
        !handled.contains(&format!("aborted-{run}")),
        "the aborted record was handled: {handled:?}"
    );
}

/// The topic the [`Relaying`] handler publishes to.
const OUTPUT: &str = "test-output";

/// A handler that publishes, for each test event it handles, an exactly-once
/// event of the same id to [`OUTPUT`], through the transactional publisher
/// it hands the consumer; it fails once, after publishing, on the ids listed.
struct Relaying {
    publisher: Publisher,
    fail_once: Vec<String>,
    attempts: Arc<Mutex<HashMap<String, u32>>>,
    handled: mpsc::UnboundedSender<String>,
}

impl Dispatch for Relaying {
    type Error = TestError;

    async fn dispatch(&self, record: Received<'_>) -> Result<(), TestError> {
        let failed = |message: String| TestError {
            retryable: true,
            message,
        };
        let id = String::from_utf8_lossy(record.payload)
            .trim_start_matches("id=")
            .to_owned();
        let attempt = {
            let mut attempts = self.attempts.lock().unwrap();
            let attempt = attempts.entry(id.clone()).or_default();
            *attempt += 1;
            *attempt
        };
        let payload = payload(&id);
        let event = EventRecord {
            topic: OUTPUT,
            ..support::record(&id, &payload, true)
        };
        self.publisher
            .publish(event)
            .await
            .map_err(|err| failed(err.to_string()))?;
        if attempt == 1 && self.fail_once.contains(&id) {
            return Err(failed("failed after publishing".into()));
        }
        self.handled.send(id).unwrap();
        Ok(())
    }

    fn transactions(&self) -> Option<&Publisher> {
        Some(&self.publisher)
    }
}

/// A consumer of [`TOPIC`] on `brokers` relaying to [`OUTPUT`]: its
/// shutdown, task, the ids handled and the attempts per id.
struct Relay {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    handled: mpsc::UnboundedReceiver<String>,
    attempts: Arc<Mutex<HashMap<String, u32>>>,
}

impl Relay {
    /// A relaying consumer with `settings`, failing once on `fail_once`.
    fn start(settings: ConsumerSettings, brokers: &str, fail_once: &[&str]) -> Relay {
        let (sender, handled) = mpsc::unbounded_channel();
        let attempts = Arc::new(Mutex::new(HashMap::new()));
        let relaying = Relaying {
            publisher: transactional_publisher(brokers),
            fail_once: fail_once.iter().map(|&id| id.to_owned()).collect(),
            attempts: Arc::clone(&attempts),
            handled: sender,
        };
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { consume(&settings, relaying, shutdown).await }
        });
        Relay {
            shutdown,
            task,
            handled,
            attempts,
        }
    }

    /// Waits until every id of `ids` was handled.
    async fn handled(&mut self, ids: &[String]) {
        let mut left: Vec<&String> = ids.iter().collect();
        while !left.is_empty() {
            let id = tokio::time::timeout(WAIT, self.handled.recv())
                .await
                .unwrap_or_else(|_| panic!("not handled in time: {left:?}"))
                .expect("the consumer stopped");
            left.retain(|&left| *left != id);
        }
    }

    async fn stop(self) -> HashMap<String, u32> {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the consumer stops")
            .unwrap()
            .unwrap();
        Arc::try_unwrap(self.attempts)
            .unwrap()
            .into_inner()
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handlers_exactly_once_events_commit_with_the_offset_of_its_record() {
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();
    cluster.create_topic(OUTPUT, 1, 1).unwrap();
    let inputs = ids(0..10);
    support::publish(&brokers, &inputs).await;
    // The group's coordinator refuses the first record's offset: its
    // transaction is aborted, and the record handled again.
    cluster.request_errors(
        RDKafkaApiKey::TxnOffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION],
    );

    let mut relay = Relay::start(settings(&brokers), &brokers, &[]);
    relay.handled(&inputs).await;
    let attempts = relay.stop().await;

    let outputs = records(&brokers, OUTPUT).await;
    let mut relayed: Vec<String> = outputs.iter().map(|(key, _, _)| key.clone()).collect();
    relayed.sort();
    relayed.dedup();
    println!(
        "consume-produce: consumed={} relayed={} (the mock shows the aborted one too) attempts={attempts:?}",
        inputs.len(),
        outputs.len()
    );
    let mut expected = inputs.clone();
    expected.sort();
    assert_eq!(relayed, expected);
    assert_eq!(
        attempts["e-0"], 2,
        "the aborted transaction's record is handled again"
    );
    assert!(
        inputs[1..].iter().all(|id| attempts[id] == 1),
        "{attempts:?}"
    );
    // The offsets went with the transactions, which the mock accepts
    // without keeping: none was auto-committed beside them.
    assert_eq!(committed_offset(&brokers, TOPIC).await, Offset::Invalid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real broker (the mock shows aborted records): KAFKA_TEST_BROKERS=host:port cargo test --test exactly_once -- --ignored"]
async fn with_a_real_broker_each_record_yields_its_event_once_and_a_failed_handlers_never() {
    let brokers = std::env::var("KAFKA_TEST_BROKERS").expect("KAFKA_TEST_BROKERS=host:port");
    let topics = [(TOPIC, 1), (OUTPUT, 1)];
    kafka::ensure_topics(&brokers, "runtime-test-admin", &topics, &[TOPIC], 1)
        .await
        .unwrap();
    let run = std::process::id();
    let inputs: Vec<String> = (0..5).map(|n| format!("relay-{run}-{n}")).collect();
    support::publish(&brokers, &inputs).await;

    // A group of this run's own: earlier runs' offsets, or a test running
    // beside this one, do not move its start.
    let group = format!("relay-{run}");
    let settings = ConsumerSettings::new(&brokers, &group, &[TOPIC]);
    let mut relay = Relay::start(settings, &brokers, &[inputs[0].as_str()]);
    relay.handled(&inputs).await;
    relay.stop().await;

    let outputs = committed_records(&brokers, OUTPUT).await;
    for id in &inputs {
        let copies = outputs.iter().filter(|key| *key == id).count();
        assert_eq!(copies, 1, "{id} relayed {copies} times: {outputs:?}");
    }
}

/// The keys of the committed records of partition 0 of `topic`, read to its
/// end by a `read_committed` reader.
async fn committed_records(brokers: &str, topic: &str) -> Vec<String> {
    use rdkafka::{
        Message as _, TopicPartitionList,
        consumer::{BaseConsumer, Consumer as _},
    };
    let (brokers, topic) = (brokers.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let reader: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", "committed-reader")
            .set("isolation.level", "read_committed")
            .create()
            .unwrap();
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(&topic, 0, Offset::Beginning)
            .unwrap();
        reader.assign(&assignment).unwrap();
        let mut keys = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Some(message) = reader.poll(Duration::from_millis(100)) {
                let message = message.unwrap();
                keys.push(String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned());
            }
        }
        keys
    })
    .await
    .unwrap()
}
