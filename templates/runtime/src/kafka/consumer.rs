{#- scaffold
when: uses.kafka
-#}
//! The consumer every service handles its events with.
//!
//! - An offset is stored only once its record was handled (or dead-lettered);
//!   librdkafka auto-commits stored offsets every 5 s, on close and before a
//!   partition is revoked, so a crash replays at most the records handled
//!   since the last commit: at-least-once.
//! - Partitions are assigned cooperative-sticky: when a replica joins or
//!   leaves, only the partitions that move pause, not the whole group.
//! - With `read_committed` (a service consuming an exactly-once flow),
//!   records of aborted transactions are never seen: an exactly-once flow's
//!   events reach the handler only once committed. Handling itself stays
//!   at-least-once (a crash between handling and committing the offset
//!   handles the record again), so handlers of exactly-once flows must be
//!   idempotent too: Kafka's exactly-once covers what is written to Kafka,
//!   not a handler's side effects elsewhere.
//! - A retryable handler error is retried [`MAX_ATTEMPTS`] times in all with
//!   jittered exponential backoff; then, or at once for an error that retrying
//!   cannot fix (such as an undecodable payload), the record goes to
//!   `<topic>.dlt` with headers naming the error and the source
//!   topic/partition/offset, and consumption continues.
//! - If the dead-letter topic cannot be written, consumption stops with an
//!   error rather than skip the record: it is redelivered after a restart.
//! - A record carrying an [`EVENT_ID_HEADER`] (the events the transactional
//!   outbox relays) is skipped when the [`Dispatch`] keeps the ids it handled
//!   ([`Deduplication`]) and has handled that id: the relay sends an event
//!   again when it stopped between the broker's acknowledgement and deleting
//!   the row, and those copies reach the handler once.
//! - The consumer is closed (final commit, leaving the group) off the async
//!   worker threads however consumption ends; one that stops without leaving
//!   (a crash) holds its partitions for [`SESSION_TIMEOUT`].

use std::{fmt, pin::Pin, time::Duration};

use anyhow::Context as _;
use rdkafka::{
    ClientConfig, Message as _,
    consumer::{Consumer as _, StreamConsumer},
    message::{BorrowedMessage, Header, Headers as _, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
    util::Timeout,
};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{
    CONTENT_TYPE_HEADER, EVENT_ID_HEADER, FLOW_HEADER, KafkaContext, UnreachableWarnings,
    dead_letter_topic, is_unreachable,
};
use crate::retry::Backoff;

/// Attempts at handling one record (the first try included) before it is
/// dead-lettered.
pub const MAX_ATTEMPTS: u32 = 3;
/// Delays between attempts.
pub const RETRY_BACKOFF: Backoff = Backoff {
    initial: Duration::from_millis(200),
    max: Duration::from_secs(5),
};
/// How long the group waits for a consumer that stopped without leaving it
/// (a crash, a network partition) before handing its partitions to another
/// member: the pause a crash causes. librdkafka's default is 45 s.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(10);
/// How long writing to a dead-letter topic may take.
pub const DEAD_LETTER_TIMEOUT: Duration = Duration::from_secs(10);

/// Header naming why a record was dead-lettered.
pub const HEADER_ERROR: &str = "dlt-error";
/// Header naming the topic a dead-lettered record came from.
pub const HEADER_SOURCE_TOPIC: &str = "dlt-source-topic";
/// Header naming the partition a dead-lettered record came from.
pub const HEADER_SOURCE_PARTITION: &str = "dlt-source-partition";
/// Header naming the offset a dead-lettered record had.
pub const HEADER_SOURCE_OFFSET: &str = "dlt-source-offset";
/// Header counting the attempts made before dead-lettering.
pub const HEADER_ATTEMPTS: &str = "dlt-attempts";

/// How a consumer is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerSettings {
    /// Kafka bootstrap servers, comma-separated `host:port`.
    pub brokers: String,
    /// The consumer group (and client id): one per service, so every
    /// service sees every event.
    pub group_id: String,
    /// The topics to subscribe to; each has a dead-letter topic.
    pub topics: Vec<String>,
    /// Only events of committed transactions (`isolation.level`).
    pub read_committed: bool,
    /// Attempts at handling one record before it is dead-lettered.
    pub max_attempts: u32,
    /// Delays between attempts.
    pub backoff: Backoff,
    /// librdkafka's `session.timeout.ms`.
    pub session_timeout: Duration,
    /// How long writing to a dead-letter topic may take.
    pub dead_letter_timeout: Duration,
}

impl ConsumerSettings {
    /// Group `group_id` subscribed to `topics`, with the defaults above.
    pub fn new(brokers: &str, group_id: &str, topics: &[&str]) -> Self {
        Self {
            brokers: brokers.to_owned(),
            group_id: group_id.to_owned(),
            topics: topics.iter().map(|&t| t.to_owned()).collect(),
            read_committed: false,
            max_attempts: MAX_ATTEMPTS,
            backoff: RETRY_BACKOFF,
            session_timeout: SESSION_TIMEOUT,
            dead_letter_timeout: DEAD_LETTER_TIMEOUT,
        }
    }

    /// These settings reading only committed transactions (`true`) or not.
    #[must_use]
    pub fn read_committed(mut self, read_committed: bool) -> Self {
        self.read_committed = read_committed;
        self
    }
}

/// A record received, as a [`Dispatch`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    /// The record's key (empty when it has none).
    pub key: &'a [u8],
    /// The [`FLOW_HEADER`] header, telling apart flows sharing a topic.
    pub flow: Option<&'a str>,
    /// The [`CONTENT_TYPE_HEADER`] header.
    pub content_type: Option<&'a str>,
    /// The [`EVENT_ID_HEADER`] header: the same for every copy of an event.
    pub event_id: Option<&'a str>,
    /// The record's value (empty when it has none).
    pub payload: &'a [u8],
}

/// A boxed future, so that [`Deduplication`] can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The ids of the events a consumer group handled, kept where a crash does
/// not lose them (`runtime::outbox::HandledEvents` keeps them in the
/// service's database).
pub trait Deduplication: Send + Sync {
    /// Whether `group` handled event `event_id` already.
    fn handled_before<'a>(
        &'a self,
        group: &'a str,
        event_id: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<bool>>;

    /// Records that `group` handled event `event_id`.
    fn remember<'a>(
        &'a self,
        group: &'a str,
        event_id: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<()>>;
}

/// What the consumer needs to know of a handler's error: whether to retry.
pub trait HandlingError: fmt::Display {
    /// Whether handling the same record again may succeed.
    fn is_retryable(&self) -> bool;
}

/// Decodes a service's records and calls the handler of their flow.
pub trait Dispatch: Send + Sync {
    /// The handlers' error.
    type Error: HandlingError + Send;

    /// Handles one record. An error that is not retryable (an undecodable
    /// payload, a flow without handler) dead-letters it at once.
    fn dispatch(
        &self,
        record: Received<'_>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Where the ids of the handled events are kept, if they are: a record
    /// whose [`EVENT_ID_HEADER`] is among them is skipped. By default none
    /// are, and every copy of an event is handled.
    fn deduplication(&self) -> Option<&dyn Deduplication> {
        None
    }
}

/// Consumes `settings.topics` with `dispatch` until `shutdown` is cancelled
/// (the record in hand is finished first), then commits the stored offsets
/// and leaves the group.
pub async fn consume<D: Dispatch>(
    settings: &ConsumerSettings,
    dispatch: &D,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let group = settings.group_id.as_str();
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.brokers)
        .set("group.id", group)
        .set("client.id", group)
        .set(
            "session.timeout.ms",
            settings.session_timeout.as_millis().to_string(),
        )
        // A rebalance moves only the partitions that change hands; the
        // others keep being consumed meanwhile (KIP-429).
        .set("partition.assignment.strategy", "cooperative-sticky")
        // A new group starts from the oldest retained event (replay).
        .set("auto.offset.reset", "earliest")
        // Commit in the background, but only offsets we stored after handling.
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false");
    if settings.read_committed {
        // Exactly-once flows: only events of committed transactions.
        config.set("isolation.level", "read_committed");
    }
    let consumer: ClosingConsumer = config
        .create_with_context(KafkaContext::default())
        .map(|consumer| ClosingConsumer(Some(consumer)))
        .context("cannot create the Kafka consumer")?;
    let dead_letters: FutureProducer<KafkaContext> = ClientConfig::new()
        .set("bootstrap.servers", &settings.brokers)
        .set("client.id", format!("{group}-dead-letters"))
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set(
            "message.timeout.ms",
            settings.dead_letter_timeout.as_millis().to_string(),
        )
        .create_with_context(KafkaContext::default())
        .context("cannot create the dead-letter producer")?;

    let topics: Vec<&str> = settings.topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .context("cannot subscribe to the topics")?;
    info!(%group, ?topics, brokers = %settings.brokers, "consuming");
    let unreachable = UnreachableWarnings::default();
    let process = Process {
        settings,
        dispatch,
        dead_letters: &dead_letters,
        shutdown: &shutdown,
    };

    loop {
        let received = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            received = consumer.recv() => received,
        };
        let message = match received {
            Ok(message) => message,
            Err(err) => {
                // Broker down, topic missing, rebalance hiccups: librdkafka
                // recovers by itself, so report and keep polling.
                if is_unreachable(&err) {
                    unreachable.report(&err, "consumer");
                } else {
                    warn!(%err, "Kafka consumer error");
                }
                continue;
            }
        };
        match process.one(&message).await? {
            Processed::Done => consumer
                .store_offset_from_message(&message)
                .context("cannot store the consumed offset")?,
            Processed::Interrupted => break,
        }
    }

    info!("consumer stopping: committing stored offsets and leaving the group");
    consumer.close().await
}

/// The consumer, closed off the async worker threads however [`consume`]
/// ends: returning, failing, or its task being aborted. Closing polls
/// librdkafka until the final offset commit and the group leave are done;
/// on an async worker thread that wait can stall, and a consumer that never
/// leaves its group holds its partitions until its session times out.
struct ClosingConsumer(Option<StreamConsumer<KafkaContext>>);

impl ClosingConsumer {
    /// Closes the consumer and waits until it is closed.
    async fn close(mut self) -> anyhow::Result<()> {
        let consumer = self.0.take();
        tokio::task::spawn_blocking(move || drop(consumer))
            .await
            .context("closing the consumer panicked")
    }
}

impl std::ops::Deref for ClosingConsumer {
    type Target = StreamConsumer<KafkaContext>;

    fn deref(&self) -> &Self::Target {
        self.0
            .as_ref()
            .expect("the consumer is only taken when closing")
    }
}

impl Drop for ClosingConsumer {
    fn drop(&mut self) {
        if let Some(consumer) = self.0.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => drop(runtime.spawn_blocking(move || drop(consumer))),
                Err(_) => drop(consumer),
            }
        }
    }
}

/// What became of one record.
enum Processed {
    /// Handled or dead-lettered: its offset may be stored.
    Done,
    /// Shutdown arrived between retries: the record will be redelivered.
    Interrupted,
}

/// What handling one record needs.
struct Process<'a, D> {
    settings: &'a ConsumerSettings,
    dispatch: &'a D,
    dead_letters: &'a FutureProducer<KafkaContext>,
    shutdown: &'a CancellationToken,
}

impl<D: Dispatch> Process<'_, D> {
    /// Handles `message` with its retries, or dead-letters it.
    async fn one(&self, message: &BorrowedMessage<'_>) -> anyhow::Result<Processed> {
        let (topic, partition, offset) = (message.topic(), message.partition(), message.offset());
        let record = Received {
            topic,
            partition,
            offset,
            key: message.key().unwrap_or_default(),
            flow: header(message, FLOW_HEADER),
            content_type: header(message, CONTENT_TYPE_HEADER),
            event_id: header(message, EVENT_ID_HEADER),
            payload: message.payload().unwrap_or_default(),
        };
        let key = String::from_utf8_lossy(record.key);
        let group = self.settings.group_id.as_str();
        let seen = record.event_id.zip(self.dispatch.deduplication());
        if let Some((event_id, handled)) = seen {
            match self
                .persist(|| handled.handled_before(group, event_id))
                .await
            {
                None => return Ok(Processed::Interrupted),
                Some(true) => {
                    info!(
                        %group, %topic, %key, partition, offset, %event_id,
                        "copy of a handled event skipped"
                    );
                    return Ok(Processed::Done);
                }
                Some(false) => {}
            }
        }
        let mut attempt = 1;
        let outcome = loop {
            match self.dispatch.dispatch(record).await {
                Ok(()) => break Ok(()),
                Err(err) if err.is_retryable() && attempt < self.settings.max_attempts => {
                    let delay = self.settings.backoff.delay(attempt - 1);
                    warn!(
                        %topic, %key, partition, offset, attempt, %err, ?delay,
                        "handler failed, retrying"
                    );
                    tokio::select! {
                        () = self.shutdown.cancelled() => return Ok(Processed::Interrupted),
                        () = tokio::time::sleep(delay) => {}
                    }
                    attempt += 1;
                }
                Err(err) => break Err(err),
            }
        };
        match outcome {
            // The group names the service: several services in one process
            // (the workspace's system test) are told apart by it.
            Ok(()) => {
                info!(%group, %topic, %key, partition, offset, "event handled");
                if let Some((event_id, handled)) = seen
                    && self
                        .persist(|| handled.remember(group, event_id))
                        .await
                        .is_none()
                {
                    // Not remembered: the record is redelivered after the
                    // restart, and handled again (at-least-once).
                    return Ok(Processed::Interrupted);
                }
            }
            Err(err) => {
                let dead_letter_topic = self.dead_letter(message, &err, attempt).await?;
                warn!(
                    group = %self.settings.group_id, %topic, %key, partition, offset,
                    attempts = attempt, %err, %dead_letter_topic,
                    "event dead-lettered"
                );
            }
        }
        Ok(Processed::Done)
    }

    /// Runs `operation` until it succeeds, with [`RETRY_BACKOFF`]-style
    /// pauses between failures (the database is down, say); `None` once
    /// shutdown arrives first.
    async fn persist<'a, T>(
        &self,
        operation: impl Fn() -> BoxFuture<'a, anyhow::Result<T>>,
    ) -> Option<T> {
        let mut failures = 0;
        loop {
            match operation().await {
                Ok(value) => return Some(value),
                Err(err) => {
                    let delay = self.settings.backoff.delay(failures);
                    warn!(%err, ?delay, "cannot reach the record of handled events, trying again");
                    failures += 1;
                    tokio::select! {
                        () = self.shutdown.cancelled() => return None,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }

    /// Copies `message` (key, payload, headers) to its dead-letter topic with
    /// headers saying why and where from; returns the dead-letter topic once
    /// acknowledged.
    async fn dead_letter(
        &self,
        message: &BorrowedMessage<'_>,
        err: &impl fmt::Display,
        attempts: u32,
    ) -> anyhow::Result<String> {
        let dead_letter_topic = dead_letter_topic(message.topic());
        let mut headers = OwnedHeaders::new();
        for name in [FLOW_HEADER, CONTENT_TYPE_HEADER] {
            if let Some(value) = header(message, name) {
                headers = headers.insert(Header {
                    key: name,
                    value: Some(value),
                });
            }
        }
        let headers = headers
            .insert(Header {
                key: HEADER_ERROR,
                value: Some(err.to_string().as_str()),
            })
            .insert(Header {
                key: HEADER_SOURCE_TOPIC,
                value: Some(message.topic()),
            })
            .insert(Header {
                key: HEADER_SOURCE_PARTITION,
                value: Some(message.partition().to_string().as_str()),
            })
            .insert(Header {
                key: HEADER_SOURCE_OFFSET,
                value: Some(message.offset().to_string().as_str()),
            })
            .insert(Header {
                key: HEADER_ATTEMPTS,
                value: Some(attempts.to_string().as_str()),
            });
        let mut record = FutureRecord::<[u8], [u8]>::to(&dead_letter_topic).headers(headers);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(payload) = message.payload() {
            record = record.payload(payload);
        }
        self.dead_letters
            .send(record, Timeout::After(self.settings.dead_letter_timeout))
            .await
            .map_err(|(err, _record)| err)
            .with_context(|| {
                format!(
                    "cannot write to dead-letter topic {dead_letter_topic} (source {}/{}/{})",
                    message.topic(),
                    message.partition(),
                    message.offset()
                )
            })?;
        Ok(dead_letter_topic)
    }
}

/// The text of `message`'s header `name`, if any.
fn header<'a>(message: &'a BorrowedMessage<'_>, name: &str) -> Option<&'a str> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|header| header.key == name)
        .and_then(|header| header.value)
        .and_then(|value| std::str::from_utf8(value).ok())
}
