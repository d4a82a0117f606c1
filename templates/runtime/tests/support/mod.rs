{#- scaffold
when: uses.kafka
-#}
//! What the Kafka tests of the runtime share: a mock cluster, records of a
//! test flow sent through the real [`Publisher`], a scripted [`Dispatch`]
//! running in the real consumer, and readers of offsets and dead letters.
#![allow(dead_code)] // Each test file uses its own subset.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rdkafka::{
    ClientConfig, Message, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer as _},
    message::Headers as _,
    mocking::MockCluster,
    producer::{DefaultProducerContext, FutureProducer, FutureRecord},
};
use runtime::kafka::{
    ConsumerSettings, Dispatch, EventRecord, HandlingError, ProducerSettings, Publisher, Received,
    consume, dead_letter_topic,
};
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;

/// How long a test waits for the mock cluster before failing.
pub const WAIT: Duration = Duration::from_secs(30);
/// The topic of the test flow.
pub const TOPIC: &str = "test-events";
/// The test flow, named in every record's `flow` header.
pub const FLOW: &str = "test-event";
/// The test flow's encoding: `id=<id>`.
pub const CONTENT_TYPE: &str = "text/plain";
/// The consumer group of the tests' consumer.
pub const GROUP: &str = "runtime-test";

pub type Cluster = MockCluster<'static, DefaultProducerContext>;

/// A mock cluster with [`TOPIC`] and its dead-letter topic, of `partitions`
/// partitions (the mock has no `CreateTopics` API, so `ensure_topics` cannot
/// create them).
pub fn cluster_with(partitions: i32) -> Cluster {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(TOPIC, partitions, 1).unwrap();
    cluster
        .create_topic(&dead_letter_topic(TOPIC), 1, 1)
        .unwrap();
    cluster
}

/// [`cluster_with`] one partition, so that events arrive in the order they
/// were published whatever their keys.
pub fn cluster() -> Cluster {
    cluster_with(1)
}

/// The payload of the test event of `id`.
pub fn payload(id: &str) -> Vec<u8> {
    format!("id={id}").into_bytes()
}

/// The record of the test event keyed `key` with `payload`.
pub fn record<'a>(key: &'a str, payload: &'a [u8], exactly_once: bool) -> EventRecord<'a> {
    EventRecord {
        flow: FLOW,
        topic: TOPIC,
        key,
        payload,
        content_type: CONTENT_TYPE,
        exactly_once,
        traceparent: None,
    }
}

/// An idempotent publisher on `brokers`.
pub fn publisher(brokers: &str) -> Publisher {
    Publisher::new(&ProducerSettings::new(brokers, "runtime-test")).unwrap()
}

/// Publishes one test event per id through the real publisher, in this
/// order; returns the offset of the last one.
pub async fn publish(brokers: &str, ids: &[String]) -> i64 {
    let publisher = publisher(brokers);
    let mut last = 0;
    for id in ids {
        let payload = payload(id);
        last = publisher
            .publish(record(id, &payload, false))
            .await
            .unwrap()
            .offset;
    }
    last
}

/// Writes a record that is not a test event (no flow header, no `id=`).
pub async fn publish_garbage(brokers: &str) -> i64 {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    producer
        .send(
            FutureRecord::to(TOPIC).key("garbage-1").payload("not json"),
            WAIT,
        )
        .await
        .unwrap()
        .offset
}

/// `e-{n}` for each `n` of `range`.
pub fn ids(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|n| format!("e-{n}")).collect()
}

/// A handler's error in these tests.
#[derive(Debug)]
pub struct TestError {
    pub retryable: bool,
    pub message: String,
}

impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl HandlingError for TestError {
    fn is_retryable(&self) -> bool {
        self.retryable
    }
}

/// What a [`Scripted`] dispatch does with an event, by its id.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// Events whose id starts with this prefix fail with a retryable error,
    /// every time.
    pub fail_prefix: Option<String>,
    /// The id of an event that is handled (reported on `handled`), after
    /// which the handler never returns, as if the process died right there.
    pub hang_after: Option<String>,
}

/// A dispatch that decodes test events, reports every event it handled with
/// its headers, records the time of every attempt, and follows a [`Script`].
pub struct Scripted {
    pub script: Script,
    pub handled: mpsc::UnboundedSender<Handled>,
    pub attempts: Arc<Mutex<HashMap<String, Vec<Instant>>>>,
}

/// An event a [`Scripted`] dispatch handled: its id, key and content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    pub id: String,
    pub key: String,
    pub content_type: Option<String>,
}

impl Dispatch for Scripted {
    type Error = TestError;

    async fn dispatch(&self, record: Received<'_>) -> Result<(), TestError> {
        let permanent = |message: String| TestError {
            retryable: false,
            message,
        };
        if record.flow != Some(FLOW) {
            return Err(permanent(format!("no handler for flow {:?}", record.flow)));
        }
        let id = std::str::from_utf8(record.payload)
            .ok()
            .and_then(|text| text.strip_prefix("id="))
            .ok_or_else(|| permanent("payload is not a test event".into()))?
            .to_owned();
        self.attempts
            .lock()
            .unwrap()
            .entry(id.clone())
            .or_default()
            .push(Instant::now());
        if let Some(prefix) = &self.script.fail_prefix
            && id.starts_with(prefix.as_str())
        {
            return Err(TestError {
                retryable: true,
                message: "unavailable: warehouse is down".into(),
            });
        }
        let hang = self.script.hang_after.as_ref() == Some(&id);
        self.handled
            .send(Handled {
                id,
                key: String::from_utf8_lossy(record.key).into_owned(),
                content_type: record.content_type.map(str::to_owned),
            })
            .unwrap();
        if hang {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

/// A consumer running [`consume`] on a spawned task.
pub struct Running {
    pub shutdown: CancellationToken,
    pub task: JoinHandle<anyhow::Result<()>>,
    pub handled: mpsc::UnboundedReceiver<Handled>,
    pub attempts: Arc<Mutex<HashMap<String, Vec<Instant>>>>,
}

/// The settings of the tests' consumer: group [`GROUP`] on [`TOPIC`].
pub fn settings(brokers: &str) -> ConsumerSettings {
    ConsumerSettings::new(brokers, GROUP, &[TOPIC])
}

/// Starts a consumer on `brokers` with a [`Scripted`] dispatch.
pub fn start(brokers: &str, script: Script) -> Running {
    start_with(settings(brokers), script)
}

/// Starts a consumer with `settings` and a [`Scripted`] dispatch.
pub fn start_with(settings: ConsumerSettings, script: Script) -> Running {
    let (sender, receiver) = mpsc::unbounded_channel();
    let attempts = Arc::new(Mutex::new(HashMap::new()));
    let scripted = Scripted {
        script,
        handled: sender,
        attempts: attempts.clone(),
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { consume(&settings, scripted, shutdown).await }
    });
    Running {
        shutdown,
        task,
        handled: receiver,
        attempts,
    }
}

impl Running {
    /// The next `count` events handled.
    pub async fn next_handled(&mut self, count: usize) -> Vec<Handled> {
        let mut seen = Vec::new();
        while seen.len() < count {
            let handled = tokio::time::timeout(WAIT, self.handled.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!("only {} of {count} events handled: {seen:?}", seen.len())
                })
                .expect("the consumer stopped");
            seen.push(handled);
        }
        seen
    }

    /// The ids of the next `count` events handled.
    pub async fn next(&mut self, count: usize) -> Vec<String> {
        let handled = self.next_handled(count).await;
        handled.into_iter().map(|h| h.id).collect()
    }

    /// Whatever else gets handled within `quiet`.
    pub async fn more_within(&mut self, quiet: Duration) -> Vec<String> {
        let mut seen = Vec::new();
        while let Ok(Some(handled)) = tokio::time::timeout(quiet, self.handled.recv()).await {
            seen.push(handled.id);
        }
        seen
    }

    /// Shuts the consumer down and returns how it ended.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the consumer stops")
            .unwrap()
    }
}

/// The offset [`GROUP`] committed for partition 0 of `topic`.
pub async fn committed_offset(brokers: &str, topic: &str) -> Offset {
    let (brokers, topic) = (brokers.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let reader: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", GROUP)
            .create()
            .unwrap();
        let mut partitions = TopicPartitionList::new();
        partitions.add_partition(&topic, 0);
        reader
            .committed_offsets(partitions, WAIT)
            .unwrap()
            .elements()[0]
            .offset()
    })
    .await
    .unwrap()
}

/// The headers of `message`, by name, their values as text.
pub fn headers(message: &impl Message) -> HashMap<String, String> {
    let text =
        |bytes: Option<&[u8]>| String::from_utf8_lossy(bytes.unwrap_or_default()).into_owned();
    message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|h| (h.key.to_owned(), text(h.value)))
                .collect()
        })
        .unwrap_or_default()
}

/// A dead-lettered record: key, payload and headers.
pub type DeadLetter = (String, String, HashMap<String, String>);

/// Every record of the dead-letter topic of `topic`, read to its end.
pub async fn dead_letters(brokers: &str, topic: &str) -> Vec<DeadLetter> {
    records(brokers, &dead_letter_topic(topic)).await
}

/// Every record of partition 0 of `topic`, read to its end: key, payload
/// and headers.
pub async fn records(brokers: &str, topic: &str) -> Vec<DeadLetter> {
    let (brokers, topic) = (brokers.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let reader: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", "test-reader")
            .create()
            .unwrap();
        let (_, high) = reader.fetch_watermarks(&topic, 0, WAIT).unwrap();
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(&topic, 0, Offset::Beginning)
            .unwrap();
        reader.assign(&assignment).unwrap();
        let text =
            |bytes: Option<&[u8]>| String::from_utf8_lossy(bytes.unwrap_or_default()).into_owned();
        let deadline = Instant::now() + WAIT;
        let mut letters = Vec::new();
        while i64::try_from(letters.len()).unwrap() < high {
            assert!(Instant::now() < deadline, "{topic} not read in time");
            let Some(message) = reader.poll(Duration::from_millis(100)) else {
                continue;
            };
            let message = message.unwrap();
            let headers = headers(&message);
            letters.push((text(message.key()), text(message.payload()), headers));
        }
        letters
    })
    .await
    .unwrap()
}

/// The records of the dead-letter topic of `topic`, once there are `count`.
pub async fn await_dead_letters(brokers: &str, topic: &str, count: usize) -> Vec<DeadLetter> {
    let deadline = Instant::now() + WAIT;
    loop {
        let letters = dead_letters(brokers, topic).await;
        if letters.len() >= count {
            return letters;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {count} records dead-lettered",
            letters.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
