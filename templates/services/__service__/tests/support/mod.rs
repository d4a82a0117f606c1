{#- scaffold
when: service.consumes
-#}
{%- set modules = ["dead_letter_topic"] -%}
{%- for t in service.consumes %}{% set_global modules = modules | concat(with=t.flow_ident) %}{% endfor -%}
{%- set modules = modules | unique | sort -%}
//! What the consumer's fault tests share: a mock cluster with the consumed
//! topics, a scripted handler, and readers of offsets and dead letters.
#![allow(dead_code)] // Each test file uses its own subset.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use contract::events::{ {{- modules | join(sep=", ") -}} };
use rdkafka::{
    ClientConfig, Message as _, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer as _},
    message::Headers as _,
    mocking::MockCluster,
    producer::DefaultProducerContext,
};
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use {{ service.ident }}::{
    error::HandlerError,
    kafka::{self, EventHandler},
};

/// How long a test waits for the mock cluster before failing.
pub const WAIT: Duration = Duration::from_secs(30);

pub type Cluster = MockCluster<'static, DefaultProducerContext>;

/// A mock cluster with every consumed topic and its dead-letter topic, of one
/// partition each, so that events arrive in the order they were published
/// whatever their keys (the mock has no `CreateTopics` API, so
/// `kafka::ensure_topics` cannot create them).
pub fn cluster() -> Cluster {
    let cluster = MockCluster::new(1).unwrap();
    for topic in kafka::SUBSCRIBED {
        cluster.create_topic(topic, 1, 1).unwrap();
        cluster
            .create_topic(&dead_letter_topic(topic), 1, 1)
            .unwrap();
    }
    cluster
}

/// An event a handler saw: its flow and its {{ names.id_words }}.
pub type Seen = (&'static str, String);

/// What a [`Scripted`] handler does with an event, by its {{ names.id_words }}.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// Events whose {{ names.id_words }} starts with this prefix fail with a
    /// retryable error, every time.
    pub fail_prefix: Option<String>,
    /// The {{ names.id_words }} of an event that is handled (reported on
    /// `handled`), after which the handler never returns, as if the process
    /// died right there.
    pub hang_after: Option<String>,
}

/// A handler that reports every event it handled, records the time of every
/// attempt, and follows a [`Script`].
pub struct Scripted {
    pub script: Script,
    pub handled: mpsc::UnboundedSender<Seen>,
    pub attempts: Arc<Mutex<HashMap<String, Vec<Instant>>>>,
}

impl Scripted {
    async fn handle(&self, flow: &'static str, id: String) -> Result<(), HandlerError> {
        self.attempts
            .lock()
            .unwrap()
            .entry(id.clone())
            .or_default()
            .push(Instant::now());
        if let Some(prefix) = &self.script.fail_prefix
            && id.starts_with(prefix.as_str())
        {
            return Err(HandlerError::Unavailable("warehouse is down".into()));
        }
        let hang = self.script.hang_after.as_ref() == Some(&id);
        self.handled.send((flow, id)).unwrap();
        if hang {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

impl EventHandler for Scripted {
{%- for t in service.consumes %}
{%- if not loop.first %}
{% endif %}
    async fn {{ t.flow_ident }}(&self, event: {{ t.flow_ident }}::Event) -> Result<(), HandlerError> {
        self.handle({{ t.flow_ident }}::FLOW, event.{{ contract.id_field.name }}).await
    }
{%- endfor %}
}

/// A consumer running [`kafka::consume`] on a spawned task.
pub struct Running {
    pub shutdown: CancellationToken,
    pub task: JoinHandle<anyhow::Result<()>>,
    pub handled: mpsc::UnboundedReceiver<Seen>,
    pub attempts: Arc<Mutex<HashMap<String, Vec<Instant>>>>,
}

/// Starts the service's consumer on `brokers` with a [`Scripted`] handler.
pub fn start(brokers: &str, script: Script) -> Running {
    let (sender, receiver) = mpsc::unbounded_channel();
    let attempts = Arc::new(Mutex::new(HashMap::new()));
    let scripted = Scripted {
        script,
        handled: sender,
        attempts: attempts.clone(),
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn({
        let (brokers, shutdown) = (brokers.to_owned(), shutdown.clone());
        async move { kafka::consume(&brokers, scripted, shutdown).await }
    });
    Running {
        shutdown,
        task,
        handled: receiver,
        attempts,
    }
}

impl Running {
    /// The {{ names.id_words }}s of the next `count` events handled.
    pub async fn next(&mut self, count: usize) -> Vec<String> {
        let mut seen = Vec::new();
        while seen.len() < count {
            let (_, id) = tokio::time::timeout(WAIT, self.handled.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!("only {} of {count} events handled: {seen:?}", seen.len())
                })
                .expect("the consumer stopped");
            seen.push(id);
        }
        seen
    }

    /// Whatever else gets handled within `quiet`.
    pub async fn more_within(&mut self, quiet: Duration) -> Vec<String> {
        let mut seen = Vec::new();
        while let Ok(Some((_, id))) = tokio::time::timeout(quiet, self.handled.recv()).await {
            seen.push(id);
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

/// The offset the service's consumer group committed for partition 0 of
/// `topic`.
pub async fn committed_offset(brokers: &str, topic: &str) -> Offset {
    let (brokers, topic) = (brokers.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let reader: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", kafka::GROUP_ID)
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

/// A dead-lettered record: key, payload and headers.
pub type DeadLetter = (String, String, HashMap<String, String>);

/// Every record of the dead-letter topic of `topic`, read to its end.
pub async fn dead_letters(brokers: &str, topic: &str) -> Vec<DeadLetter> {
    let (brokers, topic) = (brokers.to_owned(), dead_letter_topic(topic));
    tokio::task::spawn_blocking(move || {
        let reader: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", "dead-letter-reader")
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
            assert!(Instant::now() < deadline, "dead letters not read in time");
            let Some(message) = reader.poll(Duration::from_millis(100)) else {
                continue;
            };
            let message = message.unwrap();
            let headers = message
                .headers()
                .map(|headers| {
                    headers
                        .iter()
                        .map(|h| (h.key.to_owned(), text(h.value)))
                        .collect()
                })
                .unwrap_or_default();
            letters.push((text(message.key()), text(message.payload()), headers));
        }
        letters
    })
    .await
    .unwrap()
}
