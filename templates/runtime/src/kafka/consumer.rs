{#- scaffold
when: uses.kafka
-#}
//! The consumer every service handles its events with.
//!
//! - Records are handled concurrently, in [`ConsumerSettings::concurrency`]
//!   lanes: a record goes to the lane of its key (a record without a key, to
//!   the lane of its event id, else of its partition), and a lane handles
//!   its records one at a time, in the order received, retries included. So
//!   the events of one key are handled in order, and a slow handler or a
//!   record waiting for its retry holds back only the keys of its lane, as
//!   long as its queue has room. One lane handles every record in partition
//!   order.
//! - A record whose lane is idle is handled inline, by the receiving loop
//!   itself: a handler that answers at once costs no hand-off to another
//!   task. If it has to wait, what it began goes on in its lane, so the loop
//!   never waits on a handler. A handler that computes for long without
//!   waiting (or blocks its thread) would hold the loop meanwhile, as it
//!   would hold a worker thread anyway: such work belongs in
//!   `tokio::task::spawn_blocking`, which also lets the next records go on.
//! - Each lane queues at most `max_in_flight / concurrency` records
//!   received and not yet handled (16 by default). When the lane of the next
//!   record is full, the consumer takes no more records from librdkafka
//!   until it has room (backpressure): a lane that falls behind slows the
//!   whole consumer down to its pace rather than pile records up in memory.
//!   librdkafka itself prefetches up to `queued.max.messages.kbytes` (64 MiB
//!   by default) meanwhile, and a consumer held back for longer than
//!   `max.poll.interval.ms` (5 minutes) leaves its group.
//! - An offset is stored only once its record, and every record before it on
//!   its partition, was handled (or dead-lettered); librdkafka auto-commits
//!   stored offsets every 5 s, on close and when a partition is revoked, so a
//!   crash replays at most the records since the last commit: at-least-once.
//!   With several lanes, the replay also covers records handled after the
//!   oldest one still in hand.
//! - Partitions are assigned cooperative-sticky: when a replica joins or
//!   leaves, only the partitions that move pause, not the whole group. Before
//!   a partition is handed over, the records of it already received (queued
//!   or in hand) are finished, for [`REVOKE_TIMEOUT`] at most, so that their
//!   offsets are committed with the revocation and the next owner does not
//!   handle them again.
//! - With `read_committed` (a service consuming an exactly-once flow),
//!   records of aborted transactions are never seen: an exactly-once flow's
//!   events reach the handler only once committed. Handling itself stays
//!   at-least-once (a crash between handling and committing the offset
//!   handles the record again), so handlers of exactly-once flows must be
//!   idempotent too: Kafka's exactly-once covers what is written to Kafka,
//!   not a handler's side effects elsewhere.
//! - Consume-produce: when the [`Dispatch`] names a transactional
//!   [`Publisher`] ([`Dispatch::transactions`]: a service that produces
//!   exactly-once events), each record is handled in a transaction of it.
//!   The exactly-once events the handler publishes join that transaction,
//!   which commits them together with the record's offset
//!   (`send_offsets_to_transaction`, with the group's metadata, so that a
//!   member a rebalance fenced off cannot commit): a crash or a failed
//!   handler aborts both, and the record is handled again with none of its
//!   events seen by `read_committed` readers. Its records then go to lanes by
//!   partition, not by key (a transaction commits the offset after its record,
//!   which is only right once every record before it was handled), their
//!   offsets are never stored for auto-commit, and the consumer reads only
//!   committed records and offsets (`read_committed`, so that a new owner of a
//!   partition waits for a transaction in progress on it). A producer runs
//!   one transaction at a time: such records are handled one at a time, whatever
//!   the number of lanes. A record dead-lettered commits its dead letter and
//!   its offset in one transaction, without the handler's events.
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
//!   the row, and those copies reach the handler once. Copies share their
//!   key, or their event id when they have no key, so they reach one lane,
//!   one after the other.
//! - The consumer is closed (final commit, leaving the group) off the async
//!   worker threads however consumption ends; one that stops without leaving
//!   (a crash) holds its partitions for [`SESSION_TIMEOUT`].

use std::{
    fmt,
    hash::{DefaultHasher, Hash as _, Hasher as _},
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::{
        Arc, Weak,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use rdkafka::{
    Message,
    consumer::{Consumer as _, ConsumerGroupMetadata, StreamConsumer},
    error::KafkaResult,
    message::{BorrowedMessage, Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
    util::Timeout,
};
use tokio::{sync::mpsc, task::JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument as _, debug, info, warn};

use super::{
    CONTENT_TYPE_HEADER, EVENT_ID_HEADER, FLOW_HEADER, KafkaContext, UnreachableWarnings,
    dead_letter_topic, is_unreachable,
    offsets::{GroupContext, Offsets},
    producer::{NotCommitted, Publisher, Transaction},
    record::Record,
};
use crate::{
    retry::Backoff,
    telemetry::{self, Consumed},
    trace::{self, TRACEPARENT, TRACESTATE},
};

/// Lanes handling records at once (see the module's notes): enough for
/// handlers waiting on I/O to overlap, few enough that a burst does not
/// flood what they call.
pub const CONCURRENCY: usize = 16;
/// How long the receiving loop takes records in one go (handling those of
/// idle lanes inline) before it looks at shutdown and its timer again.
const BURST_TIME: Duration = Duration::from_millis(2);
/// How often the offsets of the records finished are stored (librdkafka
/// commits the stored offsets every 5 s, on close and on revocation).
const STORE_INTERVAL: Duration = Duration::from_millis(100);
/// Records received and not yet handled, all lanes together: 16 per lane,
/// so a lane rarely waits for the next fetch while memory stays bounded.
pub const MAX_IN_FLIGHT: usize = 256;
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
    /// Lanes handling records at once; 1 handles every record in partition
    /// order.
    pub concurrency: usize,
    /// Records received and not yet handled, at most: each lane queues
    /// `max_in_flight / concurrency` of them.
    pub max_in_flight: usize,
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
            concurrency: CONCURRENCY,
            max_in_flight: MAX_IN_FLIGHT,
        }
    }

    /// These settings with `lanes` lanes (at least one), and at most 16
    /// records per lane received and not yet handled.
    #[must_use]
    pub fn concurrency(mut self, lanes: usize) -> Self {
        self.concurrency = lanes.max(1);
        self.max_in_flight = self.concurrency * (MAX_IN_FLIGHT / CONCURRENCY);
        self
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
    type Error: HandlingError + Send + Sync;

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

    /// The publisher whose exactly-once events the handlers send, when the
    /// records are to be handled in its transactions (see the module's
    /// notes): each record's offset then commits with the events its
    /// handler published. By default, and for a publisher without a
    /// transactional id, records are handled without transactions.
    fn transactions(&self) -> Option<&Publisher> {
        None
    }
}

/// Consumes `settings.topics` with `dispatch` until `shutdown` is cancelled
/// (the records in hand are finished first, the queued ones left for the
/// next start), then commits the stored offsets and leaves the group.
pub async fn consume<D: Dispatch + 'static>(
    settings: &ConsumerSettings,
    dispatch: D,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let transactional = dispatch
        .transactions()
        .is_some_and(Publisher::is_transactional);
    let offsets = Arc::new(Offsets::new(transactional));
    let (consumer, dead_letters) = clients(settings, transactional, &offsets)?;
    subscribe(&consumer, settings, transactional)?;
    // Stops the lanes at shutdown, and when one of them fails.
    let stop = shutdown.child_token();
    let (report, mut reports) = mpsc::unbounded_channel();
    let process = Arc::new(Process {
        settings: settings.clone(),
        dispatch,
        dead_letters,
        stop: stop.clone(),
        offsets: Arc::clone(&offsets),
        consumer: consumer.weak(),
        transactional,
        report,
    });
    let (queues, busy, mut lanes) = spawn_lanes(&process);
    let unreachable = UnreachableWarnings::default();
    let mut handout = Handout::new(&process, queues, busy);
    // Finished records are counted by the lanes, and their offsets stored
    // on a timer rather than one by one, which would wake this loop for
    // every record: one timer, reset when it fires, which costs nothing to
    // poll until then (a new `Interval::tick` future reads the clock).
    let store_due = tokio::time::sleep(STORE_INTERVAL);
    tokio::pin!(store_due);

    let mut outcome = loop {
        let full = handout.full_queue();
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break Ok(()),
            Some(err) = reports.recv() => break Err(err),
            () = &mut store_due => {
                store(&consumer, &offsets);
                store_due.as_mut().reset(tokio::time::Instant::now() + STORE_INTERVAL);
            }
            // A lane ends early only by failing, which it reported first,
            // or by panicking.
            Some(ended) = lanes.join_next() => break match ended {
                Ok(()) => Ok(()),
                Err(err) => Err(anyhow::Error::new(err).context("a consumer lane panicked")),
            },
            // Backpressure: nothing more is received until the lane has room.
            room = reserve(full.clone()), if full.is_some() => {
                let Some(room) = room else { break Ok(()) };
                handout.send_waiting(room);
            }
            received = consumer.recv(), if full.is_none() => {
                if handout.receive(received, &consumer, &unreachable).is_err() {
                    // A lane ended; why is read below.
                    break Ok(());
                }
            }
        }
    };

    info!("consumer stopping: finishing the events in hand, committing and leaving the group");
    stop.cancel();
    drop(handout);
    while let Some(ended) = lanes.join_next().await {
        if let (Ok(()), Err(err)) = (&outcome, ended) {
            outcome = Err(anyhow::Error::new(err).context("a consumer lane panicked"));
        }
    }
    offsets.lanes_ended();
    if let (Ok(()), Ok(err)) = (&outcome, reports.try_recv()) {
        outcome = Err(err);
    }
    store(&consumer, &offsets);
    drop(process);
    consumer.close().await?;
    outcome
}

/// Subscribes `consumer` to the topics of `settings`.
fn subscribe(
    consumer: &StreamConsumer<GroupContext>,
    settings: &ConsumerSettings,
    transactional: bool,
) -> anyhow::Result<()> {
    let topics: Vec<&str> = settings.topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .context("cannot subscribe to the topics")?;
    let group = settings.group_id.as_str();
    info!(
        %group, ?topics, brokers = %settings.brokers, lanes = settings.concurrency,
        transactional, "consuming"
    );
    Ok(())
}

/// The consumer of `settings`, counting its records in `offsets`, and the
/// producer of its dead letters; a `transactional` consumer commits its
/// offsets in transactions.
fn clients(
    settings: &ConsumerSettings,
    transactional: bool,
    offsets: &Arc<Offsets>,
) -> anyhow::Result<(ClosingConsumer, FutureProducer<KafkaContext>)> {
    let group = settings.group_id.as_str();
    let mut config = super::security::client_config();
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
        .set("enable.auto.offset.store", "false")
        // Lag per partition, for `/metrics` (`GroupContext::stats`).
        .set(
            "statistics.interval.ms",
            telemetry::STATISTICS_INTERVAL.as_millis().to_string(),
        );
    if settings.read_committed || transactional {
        // Exactly-once flows: only events of committed transactions. And
        // only committed offsets: the new owner of a partition waits for the
        // transaction in progress on it rather than start before its offset.
        config.set("isolation.level", "read_committed");
    }
    let context = GroupContext {
        kafka: KafkaContext::default(),
        offsets: Arc::clone(offsets),
        group: group.to_owned(),
    };
    let consumer: ClosingConsumer = config
        .create_with_context(context)
        .map(|consumer| ClosingConsumer(Some(Arc::new(consumer))))
        .context("cannot create the Kafka consumer")?;
    let dead_letters: FutureProducer<KafkaContext> = super::security::client_config()
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
    Ok((consumer, dead_letters))
}

/// The lanes of `process`: the queue of each, how busy each is, and their
/// tasks.
fn spawn_lanes<D: Dispatch + 'static>(
    process: &Arc<Process<D>>,
) -> (Vec<mpsc::Sender<Work>>, Vec<Arc<AtomicUsize>>, JoinSet<()>) {
    // A JoinSet: the lanes are aborted with it if this task is.
    let mut lanes = JoinSet::new();
    let mut queues = Vec::new();
    let mut busy = Vec::new();
    let settings = &process.settings;
    // Each lane's queue is bounded, so that a lane behind never holds more
    // than its share of the records in flight, and handing a partition over
    // waits for at most a queue's worth of records per lane.
    let queue_size = (settings.max_in_flight / settings.concurrency.max(1)).max(1);
    for _ in 0..settings.concurrency.max(1) {
        let (sender, receiver) = mpsc::channel(queue_size);
        let count = Arc::new(AtomicUsize::new(0));
        lanes.spawn(lane(Arc::clone(process), receiver, Arc::clone(&count)));
        queues.push(sender);
        busy.push(count);
    }
    (queues, busy, lanes)
}

/// Stores the offsets of the records finished since last time, for the
/// next commit.
fn store(consumer: &StreamConsumer<GroupContext>, offsets: &Offsets) {
    for (topic, partition, offset) in offsets.to_store() {
        // A partition revoked meanwhile had its offsets stored before the
        // revocation; this store, refused, is not needed.
        if let Err(err) = consumer.store_offset(&topic, partition, offset) {
            debug!(%topic, partition, offset, %err, "offset not stored");
        }
    }
}

/// The lane of `message` among `lanes`: the same for every record of a key;
/// for a record without a key, the same for every copy of its event (so
/// that copies are never handled at once, past the check for handled ids),
/// else for every record of its partition. Records handled in transactions
/// (`by_partition`) go by partition: each commits its partition's offset.
fn lane_of(message: &Record, lanes: usize, by_partition: bool) -> usize {
    let mut hasher = DefaultHasher::new();
    match (message.key(), message.header(EVENT_ID_HEADER)) {
        _ if by_partition => (message.topic(), message.partition()).hash(&mut hasher),
        (Some(key), _) if !key.is_empty() => key.hash(&mut hasher),
        // Keyless records land on any partition, copies of one event too.
        (_, Some(event_id)) => event_id.hash(&mut hasher),
        _ => (message.topic(), message.partition()).hash(&mut hasher),
    }
    let lanes = u64::try_from(lanes).unwrap_or(u64::MAX);
    usize::try_from(hasher.finish() % lanes).unwrap_or_default()
}

/// What a lane is handed: a record to handle, or one whose handling began
/// in the receiving loop and waits (its future finishes the record).
enum Work {
    Record(Queued),
    Started(Pin<Box<dyn Future<Output = bool> + Send>>),
}

/// Hands each record received to its lane, or handles it right here.
///
/// A record whose lane is idle (nothing queued, nothing in hand) is handled
/// inline: a handler that answers at once costs no hand-off, no wake-up of
/// another task and no record freed on another thread. One that has to
/// wait (its future is pending after the first poll) goes on in its lane,
/// which polls it from there, so the receiving loop never waits on a
/// handler. The records librdkafka has ready when the consumer wakes are
/// taken in one go (a burst), without going back to the loop's `select!`
/// between them.
///
/// When a record's lane is full, it waits here and nothing more is received
/// until the lane has room (backpressure). The consumer is polled (and a
/// revocation, which runs inside that poll, can happen) only when no record
/// waits here: every record received is then in its lane, finished, or
/// being handled inline, never held where a revocation could not wait for
/// it.
struct Handout<D> {
    process: Arc<Process<D>>,
    queues: Vec<mpsc::Sender<Work>>,
    /// Per lane, the work handed to it and not finished.
    busy: Vec<Arc<AtomicUsize>>,
    /// A record whose lane's queue is full, with its lane.
    waiting: Option<(usize, Work)>,
    /// Records taken at most per wake-up.
    burst: usize,
    /// The subscribed topics' names, shared by their records.
    topic_names: Vec<Arc<str>>,
    /// Lanes by partition, not by key (records handled in transactions).
    by_partition: bool,
}

impl<D: Dispatch + 'static> Handout<D> {
    fn new(
        process: &Arc<Process<D>>,
        queues: Vec<mpsc::Sender<Work>>,
        busy: Vec<Arc<AtomicUsize>>,
    ) -> Self {
        let settings = &process.settings;
        Self {
            process: Arc::clone(process),
            queues,
            busy,
            waiting: None,
            burst: settings.max_in_flight.max(1),
            // Shared by the records of each topic, rather than copied into
            // each.
            topic_names: settings
                .topics
                .iter()
                .map(|t| Arc::from(t.as_str()))
                .collect(),
            by_partition: process.transactional,
        }
    }

    /// The queue of the lane whose room is awaited before receiving more,
    /// if one is.
    fn full_queue(&self) -> Option<mpsc::Sender<Work>> {
        let (lane, _) = self.waiting.as_ref()?;
        Some(self.queues[*lane].clone())
    }

    /// Hands the waiting record over, in the `room` its lane made.
    fn send_waiting(&mut self, room: mpsc::OwnedPermit<Work>) {
        if let Some((lane, work)) = self.waiting.take() {
            self.busy[lane].fetch_add(1, Ordering::AcqRel);
            room.send(work);
        }
    }

    /// Takes `received` and the records ready after it (a burst at most,
    /// none once one waits for its lane). `Err` once a lane ended or
    /// consumption stops.
    fn receive<'c>(
        &mut self,
        mut received: KafkaResult<BorrowedMessage<'c>>,
        consumer: &'c StreamConsumer<GroupContext>,
        unreachable: &UnreachableWarnings,
    ) -> Result<(), Closed> {
        let mut ready = Context::from_waker(Waker::noop());
        let mut taken = 0;
        let started = Instant::now();
        loop {
            match received {
                Ok(message) => self.add(&message)?,
                // Broker down, topic missing, rebalance hiccups: librdkafka
                // recovers by itself, so report and keep polling.
                Err(err) if is_unreachable(&err) => unreachable.report(&err, "consumer"),
                Err(err) => warn!(%err, "Kafka consumer error"),
            }
            taken += 1;
            if taken >= self.burst || self.waiting.is_some() {
                return Ok(());
            }
            // Back to the loop's `select!` (shutdown, failed lanes, the
            // offsets' timer) at least every BURST_TIME; the clock is read
            // every 16 records only.
            if taken % 16 == 0 && started.elapsed() >= BURST_TIME {
                return Ok(());
            }
            // The next record if one is ready, without waiting for it.
            match std::pin::pin!(consumer.recv()).poll(&mut ready) {
                Poll::Ready(next) => received = next,
                Poll::Pending => return Ok(()),
            }
        }
    }

    /// Handles `message` inline if its lane is idle, else queues it to its
    /// lane (or keeps it waiting, if the lane is full).
    fn add(&mut self, message: &BorrowedMessage<'_>) -> Result<(), Closed> {
        let topic = self
            .topic_names
            .iter()
            .find(|name| ***name == *message.topic())
            .map_or_else(|| Arc::from(message.topic()), Arc::clone);
        let message = Record::copy(message, topic);
        let lane = lane_of(&message, self.queues.len(), self.by_partition);
        let (topic, partition, offset) = (message.topic(), message.partition(), message.offset());
        let epoch = self.process.offsets.received(topic, partition, offset);
        let queued = Queued { message, epoch };
        if self.process.stop.is_cancelled() {
            // Stopping (a lane failed): left for the next start.
            return Err(Closed);
        }
        if self.busy[lane].load(Ordering::Acquire) == 0 {
            return self.inline(lane, queued);
        }
        self.hand(lane, Work::Record(queued))
    }

    /// Handles `queued` here, or, if its handler has to wait, hands what it
    /// began to its lane (idle, so its queue has room).
    fn inline(&mut self, lane: usize, queued: Queued) -> Result<(), Closed> {
        let mut handling: Pin<Box<dyn Future<Output = bool> + Send>> =
            Box::pin(handle_owned(Arc::clone(&self.process), queued));
        // Polled once without a waker: if it waits, its lane polls it next,
        // which registers the lane's.
        let mut once = Context::from_waker(Waker::noop());
        let polled =
            std::panic::catch_unwind(AssertUnwindSafe(|| handling.as_mut().poll(&mut once)));
        match polled {
            Ok(Poll::Ready(true)) => Ok(()),
            // Consumption stops; why was reported.
            Ok(Poll::Ready(false)) => Err(Closed),
            Ok(Poll::Pending) => self.hand(lane, Work::Started(handling)),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|text| (*text).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                self.process
                    .fail(anyhow::anyhow!("a consumer handler panicked: {what}"));
                Err(Closed)
            }
        }
    }

    /// Queues `work` to `lane`, or keeps it waiting if the lane is full.
    fn hand(&mut self, lane: usize, work: Work) -> Result<(), Closed> {
        // Counted first, so that a lane never counts down work it was not
        // counted for.
        self.busy[lane].fetch_add(1, Ordering::AcqRel);
        match self.queues[lane].try_send(work) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(work)) => {
                self.busy[lane].fetch_sub(1, Ordering::AcqRel);
                self.waiting = Some((lane, work));
                Ok(())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Closed),
        }
    }
}

/// A lane ended (its queue is closed), or consumption stops.
struct Closed;

/// Room in `queue`, once it has some; `None` without a queue, or once its
/// lane ended.
async fn reserve(queue: Option<mpsc::Sender<Work>>) -> Option<mpsc::OwnedPermit<Work>> {
    queue?.reserve_owned().await.ok()
}

/// A record waiting in its lane.
struct Queued {
    message: Record,
    /// The epoch of its partition's assignment when it was received.
    epoch: u64,
}

/// Handles the work of one lane, one at a time, in the order queued,
/// counting each down in `busy` once done; stops once one stopped
/// consumption (its error reported).
async fn lane<D: Dispatch>(
    process: Arc<Process<D>>,
    mut queued: mpsc::Receiver<Work>,
    busy: Arc<AtomicUsize>,
) {
    while let Some(work) = queued.recv().await {
        let go_on = match work {
            Work::Record(queued) => handle(&process, queued).await,
            Work::Started(handling) => handling.await,
        };
        if !go_on {
            // Stays busy: no record of its keys is handled inline past the
            // one that stopped consumption.
            return;
        }
        busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// [`handle`], owning what it needs, for a record handled inline whose
/// handler may go on in its lane.
async fn handle_owned<D: Dispatch>(process: Arc<Process<D>>, queued: Queued) -> bool {
    handle(&process, queued).await
}

/// Handles one record and counts it finished; `false` once it stopped
/// consumption (its error reported).
async fn handle<D: Dispatch>(process: &Process<D>, Queued { message, epoch }: Queued) -> bool {
    let (topic, partition, offset) = (message.topic(), message.partition(), message.offset());
    // Stopping: the queued records are left for the next start. Revoked:
    // for the partition's next owner.
    if process.stop.is_cancelled() || !process.offsets.start(topic, partition, epoch) {
        return true;
    }
    let span = if trace::enabled() {
        let group = process.settings.group_id.as_str();
        let context = (message.header(TRACEPARENT), message.header(TRACESTATE));
        trace::consumer(topic, group, partition, offset, context)
    } else {
        tracing::Span::none()
    };
    let processed = process.one(&message, epoch).instrument(span).await;
    let handled = matches!(processed, Ok(Processed::Done));
    process
        .offsets
        .finish(topic, partition, epoch, offset, handled);
    if let Err(err) = processed {
        process.fail(err);
        return false;
    }
    true
}

/// The consumer, closed off the async worker threads however [`consume`]
/// ends: returning, failing, or its task being aborted. Closing polls
/// librdkafka until the final offset commit and the group leave are done;
/// on an async worker thread that wait can stall, and a consumer that never
/// leaves its group holds its partitions until its session times out.
struct ClosingConsumer(Option<Arc<StreamConsumer<GroupContext>>>);

impl ClosingConsumer {
    /// The consumer, for the lanes that ask for its group's metadata; it is
    /// gone once closed.
    fn weak(&self) -> Weak<StreamConsumer<GroupContext>> {
        self.0.as_ref().map_or_else(Weak::new, Arc::downgrade)
    }

    /// Closes the consumer and waits until it is closed.
    async fn close(mut self) -> anyhow::Result<()> {
        let consumer = self.0.take();
        tokio::task::spawn_blocking(move || drop(consumer))
            .await
            .context("closing the consumer panicked")
    }
}

impl std::ops::Deref for ClosingConsumer {
    type Target = StreamConsumer<GroupContext>;

    fn deref(&self) -> &Self::Target {
        self.0
            .as_deref()
            .expect("the consumer is only taken when closing")
    }
}

impl Drop for ClosingConsumer {
    fn drop(&mut self) {
        if let Some(consumer) = self.0.take() {
            // Not closed by `consume` (its task was aborted, or it returned
            // early): no lane is left to finish a pending record.
            consumer.context().offsets.lanes_ended();
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

/// How handling one record (its attempts, and dead-lettering) ended.
enum Outcome {
    Handled,
    DeadLettered {
        topic: String,
        attempts: u32,
        error: String,
    },
    /// Shutdown arrived first, or the record's partition was handed over.
    Interrupted,
}

/// What handling a record needs, shared by the lanes.
struct Process<D> {
    settings: ConsumerSettings,
    dispatch: D,
    dead_letters: FutureProducer<KafkaContext>,
    stop: CancellationToken,
    offsets: Arc<Offsets>,
    /// The consumer, for its group's metadata (transactions commit with it).
    consumer: Weak<StreamConsumer<GroupContext>>,
    /// Records are handled in transactions of `dispatch.transactions()`.
    transactional: bool,
    /// Where a lane reports the error that stops consumption.
    report: mpsc::UnboundedSender<anyhow::Error>,
}

/// The record `message` holds, as a [`Dispatch`] sees it.
fn received(message: &Record) -> Received<'_> {
    Received {
        topic: message.topic(),
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().unwrap_or_default(),
        flow: message.header(FLOW_HEADER),
        content_type: message.header(CONTENT_TYPE_HEADER),
        event_id: message.header(EVENT_ID_HEADER),
        payload: message.payload().unwrap_or_default(),
    }
}

impl<D> Process<D> {
    /// Waits `delay` before trying again; `false` once shutdown (or a
    /// failed lane) stops consumption first.
    async fn pause(&self, delay: Duration) -> bool {
        tokio::select! {
            () = self.stop.cancelled() => false,
            () = tokio::time::sleep(delay) => true,
        }
    }

    /// Consumption stops with `err`: no record is started any more, not even
    /// inline, and a partition handed over meanwhile waits for none of the
    /// lanes' records.
    fn fail(&self, err: anyhow::Error) {
        self.stop.cancel();
        self.offsets.lanes_ended();
        let _ = self.report.send(err);
    }
}

impl<D: Dispatch> Process<D> {
    /// Handles `message` (received in its partition's assignment `epoch`)
    /// with its retries, or dead-letters it.
    async fn one(&self, message: &Record, epoch: u64) -> anyhow::Result<Processed> {
        let record = received(message);
        let (topic, partition, offset) = (record.topic, record.partition, record.offset);
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
                    telemetry::consumed(group, topic, Consumed::SkippedCopy);
                    return Ok(Processed::Done);
                }
                Some(false) => {}
            }
        }
        let publisher = self.dispatch.transactions().filter(|_| self.transactional);
        let outcome = match publisher {
            Some(publisher) => {
                self.in_transactions(publisher, message, record, epoch)
                    .await?
            }
            None => self.attempts(message, record).await?,
        };
        match outcome {
            Outcome::Interrupted => return Ok(Processed::Interrupted),
            // The group names the service: several services in one process
            // (the workspace's system test) are told apart by it.
            Outcome::Handled => {
                info!(%group, %topic, %key, partition, offset, "event handled");
                telemetry::consumed(group, topic, Consumed::Handled);
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
            Outcome::DeadLettered {
                topic: dead_letter_topic,
                attempts,
                error,
            } => {
                warn!(
                    %group, %topic, %key, partition, offset, attempts, err = %error,
                    %dead_letter_topic, "event dead-lettered"
                );
                telemetry::consumed(group, topic, Consumed::DeadLettered);
                trace::failed(&tracing::Span::current());
            }
        }
        Ok(Processed::Done)
    }

    /// Handles `record` until it succeeds or has failed for good, then
    /// dead-letters it.
    async fn attempts(&self, message: &Record, record: Received<'_>) -> anyhow::Result<Outcome> {
        let mut attempt = 1;
        loop {
            let err = match self.dispatch.dispatch(record).await {
                Ok(()) => return Ok(Outcome::Handled),
                Err(err) => err,
            };
            match self.retry(record, &err, attempt).await {
                None => return Ok(Outcome::Interrupted),
                Some(true) => attempt += 1,
                Some(false) => {
                    let topic = self
                        .dead_letter(&self.dead_letters, message, &err, attempt)
                        .await?;
                    return Ok(Outcome::DeadLettered {
                        topic,
                        attempts: attempt,
                        error: err.to_string(),
                    });
                }
            }
        }
    }

    /// Handles `record` in transactions of `publisher`, each committing the
    /// record's offset with what was sent in it: the events of its handler,
    /// or its dead letter. A transaction aborted (its handler failed, or its
    /// commit did) is begun again, with none of its events ever seen.
    async fn in_transactions(
        &self,
        publisher: &Publisher,
        message: &Record,
        record: Received<'_>,
        epoch: u64,
    ) -> anyhow::Result<Outcome> {
        let (topic, partition, offset) = (record.topic, record.partition, record.offset);
        let next = [(topic, partition, offset + 1)];
        let mut attempt = 1;
        // The handler's error once retrying is over: only its dead letter is
        // left to commit.
        let mut given_up: Option<D::Error> = None;
        let mut aborted = 0;
        loop {
            // Stopping, or handed over meanwhile: its next owner handles it.
            if self.stop.is_cancelled() || !self.offsets.start(topic, partition, epoch) {
                return Ok(Outcome::Interrupted);
            }
            let Some(transaction) = self.begin(publisher).await else {
                return Ok(Outcome::Interrupted);
            };
            let outcome = if let Some(err) = &given_up {
                match self
                    .dead_letter(transaction.producer(), message, err, attempt)
                    .await
                {
                    Ok(dead_letter_topic) => Outcome::DeadLettered {
                        topic: dead_letter_topic,
                        attempts: attempt,
                        error: err.to_string(),
                    },
                    Err(failed) => {
                        transaction.abort().await;
                        return Err(failed);
                    }
                }
            } else {
                match transaction.run(self.dispatch.dispatch(record)).await {
                    Ok(()) => Outcome::Handled,
                    Err(err) => {
                        // The handler's events are never seen.
                        transaction.abort().await;
                        match self.retry(record, &err, attempt).await {
                            None => return Ok(Outcome::Interrupted),
                            Some(true) => attempt += 1,
                            Some(false) => given_up = Some(err),
                        }
                        continue;
                    }
                }
            };
            // The group's generation now: while the partition is still this
            // member's (checked next), no other member can own it in that
            // generation (a cooperative revocation waits for this record at
            // the new generation, which commits); once the revocation gave
            // up, the partition is the next owner's to handle, not this
            // one's to commit, and a later generation fences this commit
            // off at the broker.
            let group = self.group_metadata()?;
            if !self.offsets.start(topic, partition, epoch) {
                transaction.abort().await;
                return Ok(Outcome::Interrupted);
            }
            match transaction.commit(&next, group, &self.stop).await {
                Ok(()) => return Ok(outcome),
                Err(NotCommitted::Interrupted) => return Ok(Outcome::Interrupted),
                Err(NotCommitted::Aborted(err)) => {
                    let delay = self.settings.backoff.delay(aborted);
                    aborted += 1;
                    let again = if given_up.is_some() {
                        "dead-lettering the event again"
                    } else {
                        "handling the event again"
                    };
                    warn!(%topic, partition, offset, %err, ?delay, "transaction aborted, {again}");
                    if !self.pause(delay).await {
                        return Ok(Outcome::Interrupted);
                    }
                }
            }
        }
    }

    /// A transaction of `publisher`, once one can begin (the broker may be
    /// down, another lane may hold the producer); `None` once shutdown
    /// arrives first.
    async fn begin<'p>(&self, publisher: &'p Publisher) -> Option<Transaction<'p>> {
        let mut failures = 0;
        loop {
            match publisher.begin(&self.stop).await? {
                Ok(transaction) => return Some(transaction),
                Err(err) => {
                    let delay = self.settings.backoff.delay(failures);
                    warn!(%err, ?delay, "cannot begin a transaction, trying again");
                    failures += 1;
                    if !self.pause(delay).await {
                        return None;
                    }
                }
            }
        }
    }

    /// The consumer group's current metadata (generation and member), which
    /// a transaction's offsets commit with.
    fn group_metadata(&self) -> anyhow::Result<ConsumerGroupMetadata> {
        self.consumer
            .upgrade()
            .and_then(|consumer| consumer.group_metadata())
            .context("the consumer has no group metadata to commit offsets in a transaction with")
    }

    /// After attempt `attempt` at `record` failed with `err`: whether to try
    /// again (after the backoff, `true`) or to dead-letter it (`false`);
    /// `None` once shutdown arrives during the backoff.
    async fn retry(&self, record: Received<'_>, err: &D::Error, attempt: u32) -> Option<bool> {
        if !err.is_retryable() || attempt >= self.settings.max_attempts {
            return Some(false);
        }
        let delay = self.settings.backoff.delay(attempt - 1);
        let (topic, partition, offset) = (record.topic, record.partition, record.offset);
        let key = String::from_utf8_lossy(record.key);
        warn!(
            %topic, %key, partition, offset, attempt, %err, ?delay,
            "handler failed, retrying"
        );
        self.pause(delay).await.then_some(true)
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
                    if !self.pause(delay).await {
                        return None;
                    }
                }
            }
        }
    }

    /// Copies `message` (key, payload, headers) to its dead-letter topic with
    /// headers saying why and where from, through `producer` (the
    /// dead-letter producer, or a transaction's); returns the dead-letter
    /// topic once acknowledged.
    async fn dead_letter(
        &self,
        producer: &FutureProducer<KafkaContext>,
        message: &Record,
        err: &impl fmt::Display,
        attempts: u32,
    ) -> anyhow::Result<String> {
        let dead_letter_topic = dead_letter_topic(message.topic());
        let mut headers = OwnedHeaders::new();
        // The trace context too: the dead letter stays in its event's trace.
        for name in [FLOW_HEADER, CONTENT_TYPE_HEADER, TRACEPARENT, TRACESTATE] {
            if let Some(value) = message.header(name) {
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
        producer
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
