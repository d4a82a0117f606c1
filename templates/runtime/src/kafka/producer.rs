{#- scaffold
when: uses.kafka
-#}
//! The producer every service sends its events with.
//!
//! - At-most-once and at-least-once flows: an idempotent, acks=all producer.
//!   A send resolves only once the broker has acknowledged the record, or
//!   fails with the reason (for instance no acknowledgement within the
//!   delivery timeout); a failed send is never silently dropped. Idempotence
//!   makes librdkafka's own retries (broker restarts, lost responses) write
//!   each record once and in order, so events queued one after another for
//!   one key arrive in order. A send that failed may still have been written
//!   (the broker may have appended it before the connection broke): resending
//!   it is at-least-once.
//! - Exactly-once flows: a transactional producer (`transactional.id` from
//!   `KAFKA_TRANSACTIONAL_ID`). Each event is sent in a transaction of its
//!   own, committed before the send resolves; on any failure the transaction
//!   is aborted and the send fails. `read_committed` consumers see a
//!   committed event once and never see an aborted one.
//! - Consume-produce: while a consumer handles a record in a [`Transaction`]
//!   of this publisher (see `consumer`), the exactly-once events the handler
//!   publishes through it join that transaction instead, which also commits
//!   the record's offset: the events and the record's consumption commit
//!   together, or neither does. Only the handler's own task joins it (a
//!   task-local): an event published from a task the handler spawned waits
//!   for the transaction to end, so a handler must not wait for such a task.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use rdkafka::{
    ClientConfig, Offset, TopicPartitionList,
    consumer::ConsumerGroupMetadata,
    error::{KafkaError, RDKafkaError, RDKafkaErrorCode},
    message::{Header, OwnedHeaders},
    producer::{
        FutureProducer, FutureRecord, Producer as _,
        future_producer::{Delivery, DeliveryFuture, OwnedDeliveryResult},
    },
};
use tracing::{Instrument as _, debug, info, warn};

use super::{CONTENT_TYPE_HEADER, EVENT_ID_HEADER, FLOW_HEADER, KafkaContext};
use crate::{
    telemetry,
    trace::{self, TRACEPARENT},
};

/// How long a record may wait for the broker's acknowledgement (librdkafka's
/// `message.timeout.ms`, retries included).
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long initialising, committing or aborting a transaction may take.
pub const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts at committing a transaction whose commit failed with a
/// retriable error (a timeout, for instance), before the send is reported as
/// failed; the commit is then tried again before the next transaction, so the
/// event may still be committed: its outcome is unknown to the caller.
pub const COMMIT_ATTEMPTS: u32 = 3;
/// How long the producer waits for more records to fill a batch before
/// sending it (`linger.ms`): librdkafka's own default since 1.9, and the Java
/// client's since Kafka 4.0 (KIP-1030). Batches are what make a producer
/// fast; a few milliseconds is what an event costs in latency for them.
pub const LINGER: Duration = Duration::from_millis(5);
/// The codec of record batches (`compression.type`). lz4 is the cheapest on
/// CPU of the codecs that shrink JSON well, on either side (brokers store
/// batches as sent); gzip and snappy are built in too. zstd compresses more
/// but needs rdkafka's `zstd` feature.
pub const COMPRESSION: &str = "lz4";
/// The codecs [`ProducerSettings::batching`] accepts: those of the librdkafka
/// this workspace builds.
pub const COMPRESSIONS: &[&str] = &["none", "gzip", "snappy", "lz4"];
/// Pause before trying again to queue a record while librdkafka's local
/// queue is full.
const QUEUE_FULL_PAUSE: Duration = Duration::from_millis(50);

/// One event, encoded and ready to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRecord<'a> {
    /// The flow's name in flows.yaml, sent in the [`FLOW_HEADER`] header.
    pub flow: &'a str,
    /// The topic the flow writes to.
    pub topic: &'a str,
    /// The record's key: events with one key stay in order.
    pub key: &'a str,
    /// The encoded event.
    pub payload: &'a [u8],
    /// The payload's encoding, sent in the [`CONTENT_TYPE_HEADER`] header.
    pub content_type: &'a str,
    /// Sent in a transaction of its own (an exactly-once flow), rather than
    /// by the idempotent producer.
    pub exactly_once: bool,
    /// The W3C trace context to send in the [`TRACEPARENT`] header: that
    /// of the request that wrote an outbox row. `None`: the current span's,
    /// when the service traces ([`crate::trace`]).
    pub traceparent: Option<&'a str>,
}

impl<'a> EventRecord<'a> {
    fn to_record(self) -> FutureRecord<'a, str, [u8]> {
        FutureRecord::to(self.topic)
            .key(self.key)
            .payload(self.payload)
            .headers(self.headers())
    }

    /// The record, with an [`EVENT_ID_HEADER`] naming it to the consumers
    /// that drop copies of an event.
    fn to_identified_record(self, event_id: &str) -> FutureRecord<'a, str, [u8]> {
        let headers = self.headers().insert(Header {
            key: EVENT_ID_HEADER,
            value: Some(event_id),
        });
        FutureRecord::to(self.topic)
            .key(self.key)
            .payload(self.payload)
            .headers(headers)
    }

    fn headers(self) -> OwnedHeaders {
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: FLOW_HEADER,
                value: Some(self.flow),
            })
            .insert(Header {
                key: CONTENT_TYPE_HEADER,
                value: Some(self.content_type),
            });
        let current = match self.traceparent {
            Some(_) => None,
            None => trace::traceparent(),
        };
        match self.traceparent.or(current.as_deref()) {
            Some(context) => headers.insert(Header {
                key: TRACEPARENT,
                value: Some(context),
            }),
            None => headers,
        }
    }
}

/// How a [`Publisher`] is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerSettings {
    /// Kafka bootstrap servers, comma-separated `host:port`.
    pub brokers: String,
    /// Names the producer in the broker's logs: the service's name.
    pub client_id: String,
    /// How long a send may wait for the broker's acknowledgement; zero
    /// waits as long as it takes (the outbox relay's producer, whose records
    /// wait in the database meanwhile).
    pub delivery_timeout: Duration,
    /// Whether at-most-once / at-least-once events are sent: creates the
    /// idempotent producer.
    pub idempotent: bool,
    /// The `transactional.id` of exactly-once events; `None` when the service
    /// sends none. Each running instance needs its own.
    pub transactional_id: Option<String>,
    /// How long a batch waits for more records (`linger.ms`).
    pub linger: Duration,
    /// The codec of record batches (`compression.type`), one of [`COMPRESSIONS`].
    pub compression: &'static str,
}

impl ProducerSettings {
    /// Idempotent sends only, with the default [`DELIVERY_TIMEOUT`].
    pub fn new(brokers: &str, client_id: &str) -> Self {
        Self {
            brokers: brokers.to_owned(),
            client_id: client_id.to_owned(),
            delivery_timeout: DELIVERY_TIMEOUT,
            idempotent: true,
            transactional_id: None,
            linger: LINGER,
            compression: COMPRESSION,
        }
    }

    /// These settings with batches waiting up to `linger` for more records
    /// and compressed with `compression` (one of [`COMPRESSIONS`]).
    #[must_use]
    pub fn batching(mut self, linger: Duration, compression: &'static str) -> Self {
        self.linger = linger;
        self.compression = compression;
        self
    }

    /// These settings with sends failing after `timeout` without an ack.
    #[must_use]
    pub fn delivery_timeout(mut self, timeout: Duration) -> Self {
        self.delivery_timeout = timeout;
        self
    }

    /// These settings with exactly-once events sent in transactions of
    /// `transactional_id`.
    #[must_use]
    pub fn transactional_id(mut self, transactional_id: &str) -> Self {
        self.transactional_id = Some(transactional_id.to_owned());
        self
    }

    /// These settings with (`true`) or without the idempotent producer.
    #[must_use]
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }
}

/// Sends a service's events; cheap to share (`&self`) between tasks.
pub struct Publisher {
    /// Idempotent producer of the at-least-once and at-most-once flows.
    producer: Option<FutureProducer<KafkaContext>>,
    /// Settings of the transactional producer of the exactly-once flows.
    transactional_config: Option<ClientConfig>,
    /// The transactional producer, created on first use; held during a
    /// transaction, since a producer runs one transaction at a time.
    transactions: tokio::sync::Mutex<Transactions>,
    /// How long queuing may wait while librdkafka's local queue is full.
    delivery_timeout: Duration,
}

impl Publisher {
    /// A publisher as `settings` say. Connecting is lazy: this succeeds with
    /// no broker running.
    pub fn new(settings: &ProducerSettings) -> Result<Self, KafkaError> {
        let mut config = super::security::client_config();
        config
            .set("bootstrap.servers", &settings.brokers)
            .set("client.id", &settings.client_id)
            // No duplicates from librdkafka's own retries.
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set(
                "message.timeout.ms",
                settings.delivery_timeout.as_millis().to_string(),
            )
            .set("linger.ms", settings.linger.as_millis().to_string())
            .set("compression.type", settings.compression);
        let producer = if settings.idempotent {
            Some(config.create_with_context(KafkaContext::default())?)
        } else {
            None
        };
        let transactional_config = settings.transactional_id.as_ref().map(|id| {
            let mut config = config.clone();
            config.set("transactional.id", id);
            config
        });
        Ok(Self {
            producer,
            transactional_config,
            transactions: tokio::sync::Mutex::new(Transactions::default()),
            delivery_timeout: settings.delivery_timeout,
        })
    }

    /// How long a send waits for the broker's acknowledgement.
    pub fn delivery_timeout(&self) -> Duration {
        self.delivery_timeout
    }

    /// Sends `event` and resolves once the broker has acknowledged it (or,
    /// for an exactly-once event, once its transaction is committed; on
    /// failure the transaction is aborted, so `read_committed` consumers
    /// never see it).
    pub async fn publish(&self, event: EventRecord<'_>) -> Result<Delivery, KafkaError> {
        let span = trace::producer(event.topic, event.flow);
        let published = self.send_event(event).instrument(span.clone()).await;
        if published.is_err() {
            trace::failed(&span);
        }
        published
    }

    async fn send_event(&self, event: EventRecord<'_>) -> Result<Delivery, KafkaError> {
        let delivery = if event.exactly_once {
            // Counted once acknowledged: one that joined a consumer's
            // transaction may still be aborted with it.
            let sent = match self.joined() {
                Some(producer) => send(&producer, event.to_record()).await,
                None => self.send_in_transaction(event).await,
            };
            telemetry::produced(event.topic, sent.is_ok());
            sent?
        } else {
            // Counted by its `PendingDelivery`.
            self.queue(event).await?.await?
        };
        debug!(
            flow = %event.flow,
            topic = %event.topic,
            key = %event.key,
            partition = delivery.partition,
            offset = delivery.offset,
            "event acknowledged"
        );
        Ok(delivery)
    }

    /// Pipelined sending of an at-most-once or at-least-once event: queues
    /// `event` and returns once it is queued; the returned
    /// [`PendingDelivery`] resolves with the broker's acknowledgement or the
    /// reason there was none. Events queued one after another keep their
    /// order within a key, so a stream of events need not wait for each
    /// acknowledgement in turn. Waits (at most the delivery timeout) while
    /// librdkafka's local queue is full.
    pub async fn queue(&self, event: EventRecord<'_>) -> Result<PendingDelivery, KafkaError> {
        self.queue_record(event.to_record()).await
    }

    /// [`Publisher::queue`], with an [`EVENT_ID_HEADER`] naming the event,
    /// so that consumers can drop a copy of it (the outbox relay sends one
    /// when it stopped between the broker's acknowledgement and deleting
    /// the row).
    pub async fn queue_identified(
        &self,
        event: EventRecord<'_>,
        event_id: &str,
    ) -> Result<PendingDelivery, KafkaError> {
        self.queue_record(event.to_identified_record(event_id))
            .await
    }

    async fn queue_record(
        &self,
        mut record: FutureRecord<'_, str, [u8]>,
    ) -> Result<PendingDelivery, KafkaError> {
        let Some(producer) = &self.producer else {
            return Err(KafkaError::ClientCreation(
                "this publisher has no idempotent producer (`ProducerSettings::idempotent`)".into(),
            ));
        };
        let started = Instant::now();
        let unbounded = self.delivery_timeout.is_zero();
        let topic = record.topic.to_owned();
        loop {
            match producer.send_result(record) {
                Ok(delivery) => return Ok(PendingDelivery { delivery, topic }),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned))
                    if unbounded || started.elapsed() < self.delivery_timeout =>
                {
                    record = returned;
                    tokio::time::sleep(QUEUE_FULL_PAUSE).await;
                }
                Err((err, _record)) => {
                    telemetry::produced(&topic, false);
                    return Err(err);
                }
            }
        }
    }

    /// Whether this publisher sends exactly-once events, in transactions.
    pub fn is_transactional(&self) -> bool {
        self.transactional_config.is_some()
    }

    /// The producer of the [`Transaction`] of this publisher the current
    /// task runs in, if it runs in one.
    fn joined(&self) -> Option<FutureProducer<KafkaContext>> {
        let this = std::ptr::from_ref(self) as usize;
        JOINED
            .try_with(|joined| (joined.publisher == this).then(|| joined.producer.clone()))
            .ok()
            .flatten()
    }

    /// The transactional producer's settings.
    fn transactional_config(&self) -> Result<&ClientConfig, KafkaError> {
        self.transactional_config.as_ref().ok_or_else(|| {
            KafkaError::ClientCreation(
                "this publisher has no transactional id (`ProducerSettings::transactional_id`)"
                    .into(),
            )
        })
    }

    /// Begins a transaction, which holds the transactional producer until it
    /// is committed or aborted (dropped, it is aborted before the next one
    /// begins): what a consumer handles a record in, see [`Transaction`].
    /// `None` if `stop` comes while another transaction holds the producer;
    /// once it is this one's turn, getting the producer ready (a call to
    /// librdkafka off the async threads) is never cut short, which would
    /// leave its state unknown.
    pub(super) async fn begin(
        &self,
        stop: &tokio_util::sync::CancellationToken,
    ) -> Option<Result<Transaction<'_>, KafkaError>> {
        let config = match self.transactional_config() {
            Ok(config) => config,
            Err(err) => return Some(Err(err)),
        };
        let transactions = tokio::select! {
            biased;
            () = stop.cancelled() => return None,
            transactions = self.transactions.lock() => transactions,
        };
        Some(self.begin_locked(config, transactions).await)
    }

    /// [`Publisher::begin`] once the producer is this transaction's.
    async fn begin_locked<'a>(
        &'a self,
        config: &ClientConfig,
        mut transactions: tokio::sync::MutexGuard<'a, Transactions>,
    ) -> Result<Transaction<'a>, KafkaError> {
        let producer = transactions.ready(config).await?;
        if let Err(err) = producer.begin_transaction() {
            transactions.check(Err(err.clone()))?;
            return Err(err);
        }
        Ok(Transaction {
            publisher: self,
            transactions,
            producer,
            open: true,
        })
    }

    /// Sends `event` in a transaction of its own and commits it; aborts it
    /// on any failure. Transactions of one publisher run one at a time.
    async fn send_in_transaction(&self, event: EventRecord<'_>) -> Result<Delivery, KafkaError> {
        let config = self.transactional_config()?;
        let mut transactions = self.transactions.lock().await;
        let mut attempt = 1;
        loop {
            let producer = transactions.ready(config).await?;
            let (sent, commit_failed) = match send_and_commit(&producer, event.to_record()).await {
                Ok(delivery) => return Ok(delivery),
                Err(failure) => failure,
            };
            warn!(topic = %event.topic, err = %sent, "transaction failed");
            transactions.recover(&producer, &sent, commit_failed).await;
            // librdkafka may raise the error of a record that failed in the
            // previous transaction late, purging this one's record from its
            // queue: never sent, so sending it again cannot duplicate it.
            if attempt < 2 && sent.rdkafka_error_code() == Some(RDKafkaErrorCode::PurgeQueue) {
                attempt += 1;
                continue;
            }
            return Err(sent);
        }
    }
}

/// What librdkafka reported about one record: its acknowledgement, or why
/// there was none.
fn delivered<Canceled>(
    report: Result<OwnedDeliveryResult, Canceled>,
) -> Result<Delivery, KafkaError> {
    match report {
        Ok(Ok(delivery)) => Ok(delivery),
        Ok(Err((err, _message))) => Err(err),
        // The producer was dropped before librdkafka reported on the record.
        Err(_canceled) => Err(KafkaError::Canceled),
    }
}

/// An event queued by the idempotent producer: resolves with the broker's
/// acknowledgement, or the reason there was none (the event may then still
/// have been written; sending it again is at-least-once).
#[must_use = "a queued event's delivery must be awaited to know whether it was sent"]
pub struct PendingDelivery {
    delivery: DeliveryFuture,
    /// The record's topic, counting its delivery in `/metrics`.
    topic: String,
}

impl Future for PendingDelivery {
    type Output = Result<Delivery, KafkaError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let delivered = std::task::ready!(Pin::new(&mut self.delivery).poll(cx).map(delivered));
        telemetry::produced(&self.topic, delivered.is_ok());
        Poll::Ready(delivered)
    }
}

/// Queues `record` on `producer` and waits for librdkafka's report on it.
async fn send(
    producer: &FutureProducer<KafkaContext>,
    record: FutureRecord<'_, str, [u8]>,
) -> Result<Delivery, KafkaError> {
    match producer.send_result(record) {
        Ok(delivery) => delivered(delivery.await),
        Err((err, _record)) => Err(err),
    }
}

/// Begins a transaction on `producer`, sends `record` in it and commits it.
/// On failure, says whether the commit was what failed.
async fn send_and_commit(
    producer: &FutureProducer<KafkaContext>,
    record: FutureRecord<'_, str, [u8]>,
) -> Result<Delivery, (KafkaError, bool)> {
    producer.begin_transaction().map_err(|err| (err, false))?;
    let delivery = send(producer, record).await.map_err(|err| (err, false))?;
    commit(producer).await.map_err(|err| (err, true))?;
    Ok(delivery)
}

/// Commits the open transaction of `producer`, committing again (at most
/// [`COMMIT_ATTEMPTS`] times in all) while the error says that may succeed.
async fn commit(producer: &FutureProducer<KafkaContext>) -> Result<(), KafkaError> {
    let mut attempt = 1;
    loop {
        match blocking(producer, |p| p.commit_transaction(TRANSACTION_TIMEOUT)).await {
            Err(err)
                if attempt < COMMIT_ATTEMPTS
                    && transaction_error(&err).is_some_and(RDKafkaError::is_retriable) =>
            {
                warn!(%err, attempt, "commit failed, committing again");
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// The transactional producer and what it still has to do before the next
/// transaction can begin.
#[derive(Default)]
struct Transactions {
    /// Created on first use, dropped after a fatal error (for instance when
    /// another instance with the same `transactional.id` fenced it off).
    producer: Option<FutureProducer<KafkaContext>>,
    /// Whether `init_transactions` succeeded.
    initialised: bool,
    /// A transaction that a failed call left open, to finish first.
    unfinished: Option<Finish>,
}

/// How to finish a transaction left open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finish {
    /// Its commit failed with a retriable error: commit again.
    Commit,
    /// It must be aborted.
    Abort,
}

impl Transactions {
    /// The producer, created, initialised and with no transaction open.
    async fn ready(
        &mut self,
        config: &ClientConfig,
    ) -> Result<FutureProducer<KafkaContext>, KafkaError> {
        let producer = if let Some(producer) = &self.producer {
            producer.clone()
        } else {
            let producer: FutureProducer<KafkaContext> =
                config.create_with_context(KafkaContext::default())?;
            self.producer = Some(producer.clone());
            producer
        };
        if !self.initialised {
            let initialised =
                blocking(&producer, |p| p.init_transactions(TRANSACTION_TIMEOUT)).await;
            self.check(initialised)?;
            self.initialised = true;
        }
        if let Some(finish) = self.unfinished {
            let finished = blocking(&producer, move |p| match finish {
                Finish::Commit => p.commit_transaction(TRANSACTION_TIMEOUT),
                Finish::Abort => p.abort_transaction(TRANSACTION_TIMEOUT),
            })
            .await;
            if finish == Finish::Commit
                && let Err(err) = &finished
                && !transaction_error(err)
                    .is_some_and(|txn| txn.is_retriable() && !txn.txn_requires_abort())
            {
                // The commit can no longer succeed: abort it next time.
                self.unfinished = Some(Finish::Abort);
            }
            self.check(finished)?;
            info!(?finish, "finished the transaction a failed call left open");
            self.unfinished = None;
        }
        Ok(producer)
    }

    /// After the transaction of `producer` failed with `err`: aborts it, or
    /// remembers how to finish it, or drops a producer that cannot go on.
    async fn recover(
        &mut self,
        producer: &FutureProducer<KafkaContext>,
        err: &KafkaError,
        commit_failed: bool,
    ) {
        let txn = transaction_error(err);
        if txn.is_some_and(RDKafkaError::is_fatal) {
            self.reset();
        } else if commit_failed && txn.is_some_and(|txn| !txn.txn_requires_abort()) {
            // A retriable commit error: the commit may still succeed.
            self.unfinished = Some(Finish::Commit);
        } else {
            // Not begun, not acknowledged, or not committable: abort.
            self.unfinished = Some(Finish::Abort);
            self.abort_now(producer).await;
        }
    }

    async fn abort_now(&mut self, producer: &FutureProducer<KafkaContext>) {
        let aborted = blocking(producer, |p| p.abort_transaction(TRANSACTION_TIMEOUT)).await;
        match self.check(aborted) {
            Ok(()) => self.unfinished = None,
            Err(err) => warn!(%err, "cannot abort the transaction now; will retry first thing"),
        }
    }

    /// Passes `result` on, dropping the producer on a fatal error.
    fn check(&mut self, result: Result<(), KafkaError>) -> Result<(), KafkaError> {
        if let Err(err) = &result
            && transaction_error(err).is_some_and(RDKafkaError::is_fatal)
        {
            tracing::error!(%err, "fatal transactional producer error: starting a new producer");
            self.reset();
        }
        result
    }

    fn reset(&mut self) {
        if let Some(producer) = self.producer.take() {
            // Destroying a producer waits for librdkafka: not on this thread.
            tokio::task::spawn_blocking(move || drop(producer));
        }
        self.initialised = false;
        self.unfinished = None;
    }
}

tokio::task_local! {
    /// The [`Transaction`] the current task handles a record in: the
    /// exactly-once events its publisher sends join it.
    static JOINED: Joined;
}

/// What joining a [`Transaction`] takes: whose it is, and its producer.
struct Joined {
    /// The address of the [`Publisher`] whose transaction it is.
    publisher: usize,
    producer: FutureProducer<KafkaContext>,
}

/// Pause between attempts at a commit whose outcome is not known yet.
const COMMIT_PAUSE: Duration = Duration::from_millis(500);

/// A transaction of a [`Publisher`] in which a consumer handles one record:
/// the exactly-once events the handler publishes join it
/// ([`Transaction::run`]), and [`Transaction::commit`] commits them with the
/// record's offset. It holds the publisher's transactional producer, so
/// other transactions of the publisher wait for it to end.
pub(super) struct Transaction<'a> {
    publisher: &'a Publisher,
    transactions: tokio::sync::MutexGuard<'a, Transactions>,
    producer: FutureProducer<KafkaContext>,
    /// Not committed nor aborted yet: dropped like this, it is aborted
    /// before the next transaction begins.
    open: bool,
}

/// Why a consumer's [`Transaction`] committed nothing.
#[derive(Debug)]
pub(super) enum NotCommitted {
    /// It was aborted (or its producer had to be replaced, which aborts it):
    /// the record is to be handled again.
    Aborted(KafkaError),
    /// Shutdown came while its commit's outcome was unknown; the commit is
    /// tried again before the publisher's next transaction, and the broker
    /// settles it if the process ends first.
    Interrupted,
}

impl Transaction<'_> {
    /// Runs `handling` (the handler of a record) with the exactly-once events
    /// it publishes through this transaction's publisher joining it.
    pub(super) async fn run<F: Future>(&self, handling: F) -> F::Output {
        let joined = Joined {
            publisher: std::ptr::from_ref(self.publisher) as usize,
            producer: self.producer.clone(),
        };
        JOINED.scope(joined, handling).await
    }

    /// The transactional producer, to send a record in this transaction.
    pub(super) fn producer(&self) -> &FutureProducer<KafkaContext> {
        &self.producer
    }

    /// Commits the records sent in this transaction with the consumer
    /// group's `offsets` (each `(topic, partition, offset)` the next record
    /// to consume), `group` being the consumer's current group metadata, so
    /// that a member fenced by a rebalance cannot commit. A commit whose
    /// outcome is unknown (a timeout) is tried again until it is known, or
    /// until `stop`.
    pub(super) async fn commit(
        mut self,
        offsets: &[(&str, i32, i64)],
        group: ConsumerGroupMetadata,
        stop: &tokio_util::sync::CancellationToken,
    ) -> Result<(), NotCommitted> {
        let mut list = TopicPartitionList::new();
        for &(topic, partition, offset) in offsets {
            if let Err(err) = list.add_partition_offset(topic, partition, Offset::Offset(offset)) {
                self.abort().await;
                return Err(NotCommitted::Aborted(err));
            }
        }
        let sent = blocking(&self.producer, move |p| {
            p.send_offsets_to_transaction(&list, &group, TRANSACTION_TIMEOUT)
        })
        .await;
        if let Err(err) = sent {
            warn!(%err, "cannot add the consumed offsets to the transaction: aborting it");
            self.open = false;
            self.transactions.recover(&self.producer, &err, false).await;
            return Err(NotCommitted::Aborted(err));
        }
        loop {
            let err = match blocking(&self.producer, |p| {
                p.commit_transaction(TRANSACTION_TIMEOUT)
            })
            .await
            {
                Ok(()) => {
                    self.open = false;
                    return Ok(());
                }
                Err(err) => err,
            };
            let txn = transaction_error(&err);
            let unknown = txn.is_some_and(|txn| {
                txn.is_retriable() && !txn.txn_requires_abort() && !txn.is_fatal()
            });
            if !unknown {
                warn!(%err, "the transaction cannot commit: aborting it");
                self.open = false;
                // Aborted (or its producer replaced if the error is fatal),
                // never left to commit later: the record is handled again.
                self.transactions.recover(&self.producer, &err, false).await;
                return Err(NotCommitted::Aborted(err));
            }
            warn!(%err, "commit failed, committing again");
            tokio::select! {
                () = stop.cancelled() => {
                    self.open = false;
                    self.transactions.unfinished = Some(Finish::Commit);
                    return Err(NotCommitted::Interrupted);
                }
                () = tokio::time::sleep(COMMIT_PAUSE) => {}
            }
        }
    }

    /// Aborts the transaction: nothing sent in it is ever seen by a
    /// `read_committed` consumer.
    pub(super) async fn abort(mut self) {
        self.open = false;
        self.transactions.unfinished = Some(Finish::Abort);
        let producer = self.producer.clone();
        self.transactions.abort_now(&producer).await;
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if self.open {
            // Its task was cancelled: abort it before the next one begins.
            self.transactions.unfinished = Some(Finish::Abort);
        }
    }
}

fn transaction_error(err: &KafkaError) -> Option<&RDKafkaError> {
    match err {
        KafkaError::Transaction(txn) => Some(txn),
        _ => None,
    }
}

/// Runs a blocking librdkafka transaction call on `producer` off the async
/// worker threads.
async fn blocking(
    producer: &FutureProducer<KafkaContext>,
    call: impl FnOnce(&FutureProducer<KafkaContext>) -> Result<(), KafkaError> + Send + 'static,
) -> Result<(), KafkaError> {
    let producer = producer.clone();
    tokio::task::spawn_blocking(move || call(&producer))
        .await
        .expect("a Kafka transaction call panicked")
}
