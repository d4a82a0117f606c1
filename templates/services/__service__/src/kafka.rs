{#- scaffold
when: service.produces or service.consumes
-#}
{%- set shared = service.consumed_topics | filter(attribute="shared", value=true) | length > 0 -%}
{%- set modules = [] -%}
{%- for t in service.produces | concat(with=service.consumes) %}{% set_global modules = modules | concat(with=t.flow_ident) %}{% endfor -%}
{%- if service.consumes %}{% set modules = modules | concat(with="dead_letter_topic") %}{% endif -%}
{%- if shared or service.produces %}{% set modules = modules | concat(with="FLOW_HEADER") %}{% endif -%}
{%- set modules = modules | unique | sort -%}
{%- if service.produces and service.consumes -%}
//! Kafka clients of the `{{ service.name }}` service: the producer of
{%- for t in service.produces %} flow `{{ t.flow }}` (topic `{{ t.topic }}`){% if not loop.last %},{% endif %}{% endfor %}
//! and the consumer of
{%- for t in service.consumes %} flow `{{ t.flow }}` (topic `{{ t.topic }}`){% if not loop.last %},{% endif %}{% endfor %},
//! in consumer group `{{ service.name }}`.
{%- elif service.produces -%}
//! Kafka producer of the `{{ service.name }}` service (
{%- for t in service.produces %}flow `{{ t.flow }}`, topic `{{ t.topic }}`, read by {{ t.to_text }}{% if not loop.last %}; {% endif %}{% endfor -%}
).
{%- else -%}
//! Kafka consumer of the `{{ service.name }}` service:
{%- for t in service.consumes %} flow `{{ t.flow }}` from topic `{{ t.topic }}`{% if not loop.last %},{% endif %}{% endfor %},
//! in consumer group `{{ service.name }}`.
{%- endif %}
{%- if service.produces %}
//!
//! Topics are created with the admin API. Every record carries the flow's
//! name in the `flow` header.
{%- if service.kafka.idempotent %}
//!
//! - {% for t in service.produces | filter(attribute="exactly_once", value=false) %}`{{ t.flow }}`{% if not loop.last %}, {% endif %}{% endfor %}: an idempotent, acks=all producer. A send resolves only
//!   once the broker has acknowledged the record, or fails with the reason
//!   (for instance no acknowledgement within [`DELIVERY_TIMEOUT`]); a failed
//!   send is never silently dropped. Idempotence makes librdkafka's own
//!   retries (broker restarts, lost responses) write each record once and in
//!   order, so events queued one after another for one key arrive in order.
//!   A send that failed may still have been written (the broker may have
//!   appended it before the connection broke): resending it is at-least-once.
{%- endif %}
{%- if service.kafka.transactional %}
//!
//! - {% for t in service.produces | filter(attribute="exactly_once", value=true) %}`{{ t.flow }}`{% if not loop.last %}, {% endif %}{% endfor %} (exactly-once): a transactional producer
//!   (`transactional.id` from `KAFKA_TRANSACTIONAL_ID`). Each event is sent in
//!   a transaction of its own, committed before the send resolves; on any
//!   failure the transaction is aborted and the send fails. `read_committed`
//!   consumers see a committed event once and never see an aborted one.
{%- endif %}
{%- endif %}
{%- if service.consumes %}
//!
//! - An offset is stored only once its record was handled (or dead-lettered);
//!   librdkafka auto-commits stored offsets every 5 s and on close, so a crash
//!   replays at most the records handled since the last commit: at-least-once.
{%- if service.kafka.read_committed %}
//! - Records of aborted transactions are never seen (`read_committed`): an
//!   exactly-once flow's events reach the handler only once committed.
//!   Handling itself stays at-least-once (a crash between handling and
//!   committing the offset handles the record again), so handlers of
//!   exactly-once flows must be idempotent too: Kafka's exactly-once covers
//!   what is written to Kafka, not a handler's side effects elsewhere.
{%- endif %}
//! - A retryable handler error is retried [`MAX_ATTEMPTS`] times in all with
//!   jittered exponential backoff; then, or at once for an error that retrying
//!   cannot fix (such as an undecodable payload), the record goes to
//!   `<topic>.dlt` with headers naming the error and the source
//!   topic/partition/offset, and consumption continues.
//! - If the dead-letter topic cannot be written, consumption stops with an
//!   error rather than skip the record: it is redelivered after a restart.
//! - The consumer is closed (final commit, leaving the group) off the async
//!   worker threads however consumption ends; one that stops without leaving
//!   (a crash) holds its partitions for [`SESSION_TIMEOUT`].
{%- endif %}

use std::{
{%- if service.kafka.idempotent %}
    pin::Pin,
{%- endif %}
    sync::{Mutex, PoisonError},
{%- if service.kafka.idempotent %}
    task::{Context, Poll},
{%- endif %}
    time::{Duration, Instant},
};
{% if service.consumes %}
use anyhow::Context as _;
{%- endif %}
use contract::events::{ {{- modules | join(sep=", ") -}} };
use rdkafka::{
{%- if service.consumes %}
    ClientConfig, Message as _,
{%- else %}
    ClientConfig,
{%- endif %}
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::ClientContext,
{%- if service.consumes %}
    consumer::{Consumer as _, ConsumerContext, StreamConsumer},
{%- endif %}
    error::{KafkaError, {% if service.kafka.transactional %}RDKafkaError, {% endif %}RDKafkaErrorCode},
{%- if service.consumes %}
    message::{BorrowedMessage, Header, {% if shared %}Headers as _, {% endif %}OwnedHeaders},
{%- else %}
    message::{Header, OwnedHeaders},
{%- endif %}
{%- if service.produces %}
    producer::{
        FutureProducer, FutureRecord,{% if service.kafka.transactional %} Producer as _,{% endif %}
        future_producer::{Delivery, {% if service.kafka.idempotent %}DeliveryFuture, {% endif %}OwnedDeliveryResult},
    },
{%- else %}
    producer::{FutureProducer, FutureRecord},
{%- endif %}
{%- if service.consumes %}
    util::Timeout,
{%- endif %}
};
{%- if service.consumes %}
use tokio_util::sync::CancellationToken;
{%- endif %}
use tracing::{debug, info, warn};
{%- if service.consumes %}

use crate::{config, error::HandlerError, handlers, retry::Backoff};
{%- endif %}
{%- if service.produces %}

/// How long a record may wait for the broker's acknowledgement (librdkafka's
/// `message.timeout.ms`, retries included).
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
{%- endif %}
{%- if service.kafka.transactional %}
/// How long initialising, committing or aborting a transaction may take.
pub const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts at committing a transaction whose commit failed with a
/// retriable error (a timeout, for instance), before the send is reported as
/// failed; the commit is then tried again before the next transaction, so the
/// event may still be committed: its outcome is unknown to the caller.
pub const COMMIT_ATTEMPTS: u32 = 3;
{%- endif %}
{%- if service.kafka.idempotent %}
/// Pause before trying again to queue a record while librdkafka's local
/// queue is full.
const QUEUE_FULL_PAUSE: Duration = Duration::from_millis(50);
{%- endif %}
/// How long topic creation may take.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);
{%- if service.consumes %}

/// The consumer group: one per service, so every service sees every event.
pub const GROUP_ID: &str = "{{ service.name }}";
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
{%- endif %}

/// The topics this service creates when missing, `(name, partitions)`: the
/// ones it {% if service.produces and service.consumes %}produces to or consumes{% elif service.produces %}produces to{% else %}consumes{% endif %}.
pub const TOPICS: &[(&str, i32)] = &[
    // Partition counts as the recommendation sized them (contract::events).
{%- for t in service.topics %}
    ({{ t.module }}::TOPIC, {{ t.module }}::PARTITIONS),
{%- endfor %}
];
{%- if service.consumes %}

/// The topics the consumer subscribes to; each also gets a dead-letter topic.
pub const SUBSCRIBED: &[&str] = &[
    // One per consumed topic, whatever the number of flows it carries.
{%- for t in service.consumed_topics %}
    {{ t.module }}::TOPIC,
{%- endfor %}
];

/// What the consumer does with each event, one method per consumed flow.
/// [`Handlers`] wires in `handlers.rs`; tests can wrap or replace it.
pub trait EventHandler: Send + Sync + 'static {
{%- for t in service.consumes %}
{%- if not loop.first %}
{% endif %}
    /// Flow `{{ t.flow }}` (topic `{{ t.topic }}`).
    fn {{ t.flow_ident }}(
        &self,
        event: {{ t.flow_ident }}::Event,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
{%- endfor %}
}

/// The service's handlers, from `handlers.rs`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Handlers;

impl EventHandler for Handlers {
{%- for t in service.consumes %}
{%- if not loop.first %}
{% endif %}
    fn {{ t.flow_ident }}(
        &self,
        event: {{ t.flow_ident }}::Event,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        handlers::handle_{{ t.flow_ident }}(event)
    }
{%- endfor %}
}
{%- endif %}

/// How often "brokers unreachable" is logged at warn level; the repeats in
/// between go to debug level.
pub const UNREACHABLE_LOG_INTERVAL: Duration = Duration::from_secs(30);

/// Whether `error` only says that no broker can be reached right now, which
/// librdkafka reports several times a second while it keeps reconnecting.
pub fn is_unreachable(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown)
    )
}

/// Lets one "brokers unreachable" warning through per
/// [`UNREACHABLE_LOG_INTERVAL`]; the repeats go to debug level.
#[derive(Debug, Default)]
pub struct UnreachableWarnings {
    last: Mutex<Option<Instant>>,
}

impl UnreachableWarnings {
    /// Logs an "unreachable" `error`, as a warning at most once per interval.
    pub fn report(&self, error: &KafkaError, reason: &str) {
        if self.warn_now() {
            warn!(%error, reason, "Kafka brokers unreachable, retrying");
        } else {
            debug!(%error, reason, "Kafka brokers still unreachable");
        }
    }

    fn warn_now(&self) -> bool {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|at| at.elapsed() < UNREACHABLE_LOG_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

/// Routes librdkafka's error callbacks to `tracing`, with the "brokers
/// unreachable" noise rate-limited.
#[derive(Debug, Default)]
pub struct KafkaContext {
    unreachable: UnreachableWarnings,
}

impl ClientContext for KafkaContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if is_unreachable(&error) {
            self.unreachable.report(&error, reason);
        } else {
            tracing::error!(%error, reason, "Kafka client error");
        }
    }
}
{%- if service.consumes %}

impl ConsumerContext for KafkaContext {}
{%- endif %}

/// Creates every topic of [`TOPICS`]{% if service.consumes %}, and the dead-letter topics of
/// [`SUBSCRIBED`],{% endif %} that does not exist yet, with `replication` replicas
/// (`KAFKA_REPLICATION`). Many clusters do not auto-create topics, and
/// auto-creation would not use our partition counts.
pub async fn ensure_topics(brokers: &str, replication: i32) -> Result<(), KafkaError> {
    let admin: AdminClient<KafkaContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("client.id", "{{ service.name }}-admin")
        .create_with_context(KafkaContext::default())?;
{%- if service.consumes %}
    let dead_letter_names: Vec<String> = SUBSCRIBED
        .iter()
        .map(|name| dead_letter_topic(name))
        .collect();
    let partitions_of = |topic: &str| {
        TOPICS
            .iter()
            .find(|&&(name, _)| name == topic)
            .map_or(1, |&(_, partitions)| partitions)
    };
    let new_topics: Vec<NewTopic<'_>> = TOPICS
        .iter()
        .map(|&(name, partitions)| {
            NewTopic::new(name, partitions, TopicReplication::Fixed(replication))
        })
        .chain(
            SUBSCRIBED
                .iter()
                .zip(&dead_letter_names)
                .map(|(name, dead_letters)| {
                    NewTopic::new(
                        dead_letters,
                        partitions_of(name),
                        TopicReplication::Fixed(replication),
                    )
                }),
        )
        .collect();
{%- else %}
    let new_topics: Vec<NewTopic<'_>> = TOPICS
        .iter()
        .map(|&(name, partitions)| {
            NewTopic::new(name, partitions, TopicReplication::Fixed(replication))
        })
        .collect();
{%- endif %}
    let options = AdminOptions::new()
        .request_timeout(Some(ADMIN_TIMEOUT))
        .operation_timeout(Some(ADMIN_TIMEOUT));
    for result in admin.create_topics(&new_topics, &options).await? {
        match result {
            Ok(topic) => info!(%topic, "created Kafka topic"),
            Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => {
                debug!(%topic, "Kafka topic already exists");
            }
            Err((topic, code)) => {
                warn!(%topic, error = %code, "could not create Kafka topic");
                return Err(KafkaError::AdminOp(code));
            }
        }
    }
    Ok(())
}
{%- if service.produces %}

/// The record of one event: keyed by the {{ names.id_words }} (so one {{ names.id_words | split(pat=" ") | first }}'s events stay in
/// order), with the flow's name in the [`FLOW_HEADER`] header.
fn event_record<'a>(
    flow: &'a str,
    topic: &'a str,
    key: &'a str,
    payload: &'a [u8],
) -> FutureRecord<'a, str, [u8]> {
    FutureRecord::to(topic)
        .key(key)
        .payload(payload)
        .headers(OwnedHeaders::new().insert(Header {
            key: FLOW_HEADER,
            value: Some(flow),
        }))
}

/// Sends this service's events; cheap to share (`&self`) between tasks.
pub struct Publisher {
{%- if service.kafka.idempotent %}
    /// Idempotent producer of the {% if service.kafka.transactional %}at-least-once and at-most-once {% endif %}flows.
    producer: FutureProducer<KafkaContext>,
{%- endif %}
{%- if service.kafka.transactional %}
    /// Settings of the transactional producer of the exactly-once flows.
    transactional_config: ClientConfig,
    /// The transactional producer, created on first use; held during a
    /// transaction, since a producer runs one transaction at a time.
    transactions: tokio::sync::Mutex<Transactions>,
{%- endif %}
{%- if service.kafka.idempotent %}
    /// How long queuing may wait while librdkafka's local queue is full.
    delivery_timeout: Duration,
{%- endif %}
}

impl Publisher {
    /// A publisher with the default [`DELIVERY_TIMEOUT`]{% if service.kafka.transactional %} and
    /// `transactional.id`{% endif %}. Connecting is lazy: this succeeds with
    /// no broker running.
    pub fn new(brokers: &str) -> Result<Self, KafkaError> {
        Self::with_delivery_timeout(brokers, DELIVERY_TIMEOUT)
    }
{%- if service.kafka.transactional %}

    /// A publisher whose exactly-once flows use `transactional_id`
    /// (`KAFKA_TRANSACTIONAL_ID`): each running instance needs its own.
    pub fn with_transactional_id(
        brokers: &str,
        transactional_id: &str,
    ) -> Result<Self, KafkaError> {
        Self::with_options(brokers, DELIVERY_TIMEOUT, transactional_id)
    }

    /// A publisher whose sends fail after `delivery_timeout` without an ack.
    pub fn with_delivery_timeout(
        brokers: &str,
        delivery_timeout: Duration,
    ) -> Result<Self, KafkaError> {
        Self::with_options(
            brokers,
            delivery_timeout,
            crate::config::KAFKA_TRANSACTIONAL_ID_DEFAULT,
        )
    }

    /// A publisher with both settings.
    pub fn with_options(
        brokers: &str,
        delivery_timeout: Duration,
        transactional_id: &str,
    ) -> Result<Self, KafkaError> {
{%- else %}

    /// A publisher whose sends fail after `delivery_timeout` without an ack.
    pub fn with_delivery_timeout(
        brokers: &str,
        delivery_timeout: Duration,
    ) -> Result<Self, KafkaError> {
{%- endif %}
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("client.id", "{{ service.name }}")
            // No duplicates from librdkafka's own retries.
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set(
                "message.timeout.ms",
                delivery_timeout.as_millis().to_string(),
            );
{%- if service.kafka.idempotent %}
        let producer = config.create_with_context(KafkaContext::default())?;
{%- endif %}
{%- if service.kafka.transactional %}
        config.set("transactional.id", transactional_id);
{%- endif %}
        Ok(Self {
{%- if service.kafka.idempotent %}
            producer,
{%- endif %}
{%- if service.kafka.transactional %}
            transactional_config: config,
            transactions: tokio::sync::Mutex::new(Transactions::default()),
{%- endif %}
{%- if service.kafka.idempotent %}
            delivery_timeout,
{%- endif %}
        })
    }
{%- for t in service.produces %}
{%- if t.exactly_once %}

    /// Flow `{{ t.flow }}` (exactly-once): sends `event` to `{{ t.topic }}` in a
    /// transaction of its own, keyed by its {{ names.id_words }}, and resolves once the
    /// transaction is committed. On failure the transaction is aborted, so
    /// `read_committed` consumers never see it.
    pub async fn publish_{{ t.flow_ident }}(
        &self,
        event: &{{ t.flow_ident }}::Event,
    ) -> Result<Delivery, KafkaError> {
        let payload = {{ t.flow_ident }}::encode(event);
        let key = event.{{ contract.id_field.name }}.as_str();
        let flow = ({{ t.flow_ident }}::FLOW, {{ t.flow_ident }}::TOPIC);
        self.send_in_transaction(|| event_record(flow.0, flow.1, key, &payload))
            .await
    }
{%- else %}

    /// Flow `{{ t.flow }}`: sends `event` to `{{ t.topic }}`, keyed by its
    /// {{ names.id_words }}, and resolves once the broker has acknowledged it.
    pub async fn publish_{{ t.flow_ident }}(
        &self,
        event: &{{ t.flow_ident }}::Event,
    ) -> Result<Delivery, KafkaError> {
        let delivery = self.queue_{{ t.flow_ident }}(event).await?.await?;
        debug!(
            topic = %{{ t.flow_ident }}::TOPIC,
            key = %event.{{ contract.id_field.name }},
            partition = delivery.partition,
            offset = delivery.offset,
            "event acknowledged"
        );
        Ok(delivery)
    }

    /// Flow `{{ t.flow }}`, pipelined: queues `event` and returns once it is
    /// queued; the returned [`PendingDelivery`] resolves with the broker's
    /// acknowledgement or the reason there was none. Events queued one after
    /// another keep their order within a key, so a stream of events need not
    /// wait for each acknowledgement in turn.
    pub async fn queue_{{ t.flow_ident }}(
        &self,
        event: &{{ t.flow_ident }}::Event,
    ) -> Result<PendingDelivery, KafkaError> {
        let payload = {{ t.flow_ident }}::encode(event);
        let key = event.{{ contract.id_field.name }}.as_str();
{%- if t.flow_ident | length <= 17 %}
        let record = event_record({{ t.flow_ident }}::FLOW, {{ t.flow_ident }}::TOPIC, key, &payload);
{%- else %}
        let record = event_record(
            {{ t.flow_ident }}::FLOW,
            {{ t.flow_ident }}::TOPIC,
            key,
            &payload,
        );
{%- endif %}
        self.queue(record).await
    }
{%- endif %}
{%- endfor %}
{%- if service.kafka.idempotent %}

    /// Queues `record` on the idempotent producer, waiting (at most the
    /// delivery timeout) while librdkafka's local queue is full.
    async fn queue(
        &self,
        mut record: FutureRecord<'_, str, [u8]>,
    ) -> Result<PendingDelivery, KafkaError> {
        let started = Instant::now();
        loop {
            match self.producer.send_result(record) {
                Ok(delivery) => return Ok(PendingDelivery(delivery)),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned))
                    if started.elapsed() < self.delivery_timeout =>
                {
                    record = returned;
                    tokio::time::sleep(QUEUE_FULL_PAUSE).await;
                }
                Err((err, _record)) => return Err(err),
            }
        }
    }
{%- endif %}
{%- if service.kafka.transactional %}

    /// Sends the record `record` makes in a transaction of its own and
    /// commits it; aborts it on any failure. Transactions of one publisher
    /// run one at a time.
    async fn send_in_transaction<'a>(
        &self,
        record: impl Fn() -> FutureRecord<'a, str, [u8]>,
    ) -> Result<Delivery, KafkaError> {
        let mut transactions = self.transactions.lock().await;
        let mut attempt = 1;
        loop {
            let producer = transactions.ready(&self.transactional_config).await?;
            let (sent, commit_failed) = match send_and_commit(&producer, record()).await {
                Ok(delivery) => {
                    debug!(
                        topic = %record().topic,
                        partition = delivery.partition,
                        offset = delivery.offset,
                        "event committed"
                    );
                    return Ok(delivery);
                }
                Err(failure) => failure,
            };
            warn!(topic = %record().topic, err = %sent, "transaction failed");
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
{%- endif %}
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
{%- if service.kafka.idempotent %}

/// An event queued by the idempotent producer: resolves with the broker's
/// acknowledgement, or the reason there was none (the event may then still
/// have been written; sending it again is at-least-once).
#[must_use = "a queued event's delivery must be awaited to know whether it was sent"]
pub struct PendingDelivery(DeliveryFuture);

impl Future for PendingDelivery {
    type Output = Result<Delivery, KafkaError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(delivered)
    }
}
{%- endif %}
{%- if service.kafka.transactional %}

/// Begins a transaction on `producer`, sends `record` in it and commits it.
/// On failure, says whether the commit was what failed.
async fn send_and_commit(
    producer: &FutureProducer<KafkaContext>,
    record: FutureRecord<'_, str, [u8]>,
) -> Result<Delivery, (KafkaError, bool)> {
    producer.begin_transaction().map_err(|err| (err, false))?;
    let delivery = match producer.send_result(record) {
        Ok(delivery) => delivered(delivery.await),
        Err((err, _record)) => Err(err),
    }
    .map_err(|err| (err, false))?;
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
{%- endif %}
{%- endif %}
{%- if service.consumes %}

/// Consumes [`SUBSCRIBED`] with `handler` until `shutdown` is cancelled (the
/// event in hand is finished first), then commits the stored offsets and
/// leaves the group.
pub async fn consume<H: EventHandler>(
    brokers: &str,
    handler: H,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let consumer: ClosingConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", GROUP_ID)
        .set("client.id", GROUP_ID)
        .set(
            "session.timeout.ms",
            SESSION_TIMEOUT.as_millis().to_string(),
        )
        // A new group starts from the oldest retained event (replay).
        .set("auto.offset.reset", "earliest")
{%- if service.kafka.read_committed %}
        // Exactly-once flows: only events of committed transactions.
        .set("isolation.level", "read_committed")
{%- endif %}
        // Commit in the background, but only offsets we stored after handling.
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false")
        .create_with_context(KafkaContext::default())
        .map(|consumer| ClosingConsumer(Some(consumer)))
        .context("cannot create the Kafka consumer")?;
    let dead_letters: FutureProducer<KafkaContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("client.id", format!("{GROUP_ID}-dead-letters"))
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set(
            "message.timeout.ms",
            DEAD_LETTER_TIMEOUT.as_millis().to_string(),
        )
        .create_with_context(KafkaContext::default())
        .context("cannot create the dead-letter producer")?;

    consumer
        .subscribe(SUBSCRIBED)
        .context("cannot subscribe to the topics")?;
    info!(group = %GROUP_ID, topics = ?SUBSCRIBED, %brokers, "consuming");
    let unreachable = UnreachableWarnings::default();

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
        match process(&message, &handler, &dead_letters, &shutdown).await? {
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

async fn process<H: EventHandler>(
    message: &BorrowedMessage<'_>,
    handler: &H,
    dead_letters: &FutureProducer<KafkaContext>,
    shutdown: &CancellationToken,
) -> anyhow::Result<Processed> {
    let (topic, partition, offset) = (message.topic(), message.partition(), message.offset());
    let key = String::from_utf8_lossy(message.key().unwrap_or_default());
    let mut attempt = 1;
    let outcome = loop {
        config::debug_handler_pause().await;
{%- if shared %}
        match dispatch(handler, topic, flow_of(message), message.payload()).await {
{%- else %}
        match dispatch(handler, topic, message.payload()).await {
{%- endif %}
            Ok(()) => break Ok(()),
            Err(err) if err.is_retryable() && attempt < MAX_ATTEMPTS => {
                let delay = RETRY_BACKOFF.delay(attempt - 1);
                warn!(
                    %topic, %key, partition, offset, attempt, %err, ?delay,
                    "handler failed, retrying"
                );
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(Processed::Interrupted),
                    () = tokio::time::sleep(delay) => {}
                }
                attempt += 1;
            }
            Err(err) => break Err(err),
        }
    };
    match outcome {
        Ok(()) => info!(%topic, %key, partition, offset, "event handled"),
        Err(err) => {
            let dead_letter_topic =
                send_to_dead_letters(dead_letters, message, &err, attempt).await?;
            warn!(
                %topic, %key, partition, offset, attempts = attempt, %err, %dead_letter_topic,
                "event dead-lettered"
            );
        }
    }
    Ok(Processed::Done)
}
{%- if shared %}

/// The flow named by the record's [`FLOW_HEADER`] header, if any.
fn flow_of<'a>(message: &'a BorrowedMessage<'_>) -> Option<&'a str> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|header| header.key == FLOW_HEADER)
        .and_then(|header| header.value)
        .and_then(|value| std::str::from_utf8(value).ok())
}
{%- endif %}

/// Decodes the record of `topic` and calls the handler of its flow
{%- if shared %}
/// (`flow`, from the record's header, tells apart the flows sharing a topic)
{%- endif %}.
async fn dispatch<H: EventHandler>(
    handler: &H,
    topic: &str,
{%- if shared %}
    flow: Option<&str>,
{%- endif %}
    payload: Option<&[u8]>,
) -> Result<(), HandlerError> {
    let payload = payload.unwrap_or_default();
    match topic {
{%- for c in service.consumed_topics %}
{%- if c.shared %}
        {{ c.module }}::TOPIC => match flow {
{%- for t in c.flows %}
            Some({{ t.flow_ident }}::FLOW) => match {{ t.flow_ident }}::decode(payload) {
                Ok(event) => handler.{{ t.flow_ident }}(event).await,
                Err(e) => Err(undecodable({{ t.flow_ident }}::FLOW, &e)),
            },
{%- endfor %}
            other => Err(HandlerError::InvalidArgument(format!(
                "no handler for flow {other:?} on topic `{topic}`"
            ))),
        },
{%- else %}
{%- set t = c.flows[0] %}
        {{ t.flow_ident }}::TOPIC => match {{ t.flow_ident }}::decode(payload) {
            Ok(event) => handler.{{ t.flow_ident }}(event).await,
            Err(e) => Err(undecodable({{ t.flow_ident }}::FLOW, &e)),
        },
{%- endif %}
{%- endfor %}
        other => Err(HandlerError::InvalidArgument(format!(
            "no handler for topic `{other}`"
        ))),
    }
}

/// The error for a payload that is not an event of `flow`: retrying cannot
/// fix it, so the record is dead-lettered at once.
fn undecodable(flow: &str, err: &impl std::fmt::Display) -> HandlerError {
    HandlerError::InvalidArgument(format!("payload is not an event of flow {flow}: {err}"))
}

/// Copies `message` (key, payload) to its dead-letter topic with headers
/// saying why and where from; returns the dead-letter topic once acknowledged.
async fn send_to_dead_letters(
    producer: &FutureProducer<KafkaContext>,
    message: &BorrowedMessage<'_>,
    err: &HandlerError,
    attempts: u32,
) -> anyhow::Result<String> {
    let dead_letter_topic = dead_letter_topic(message.topic());
    let headers = OwnedHeaders::new()
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
        .send(record, Timeout::After(DEAD_LETTER_TIMEOUT))
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
{%- endif %}

#[cfg(test)]
mod tests {
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};

    use super::{UnreachableWarnings, is_unreachable};

    #[test]
    fn unreachable_brokers_are_warned_about_once_per_interval() {
        let warnings = UnreachableWarnings::default();
        assert!(warnings.warn_now());
        assert!(!warnings.warn_now());
        assert!(!warnings.warn_now());
    }

    #[test]
    fn only_transport_failures_count_as_unreachable() {
        let global = KafkaError::Global;
        assert!(is_unreachable(&global(RDKafkaErrorCode::AllBrokersDown)));
        assert!(is_unreachable(&global(
            RDKafkaErrorCode::BrokerTransportFailure
        )));
        assert!(!is_unreachable(&global(
            RDKafkaErrorCode::TopicAuthorizationFailed
        )));
    }
}
