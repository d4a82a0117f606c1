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
//! Topics are created with the admin API. The producer is
{%- if service.kafka.idempotent %} idempotent and acks=all
{%- if service.kafka.transactional %}, and transactional for exactly-once flows{% endif %}
{%- else %} transactional (exactly-once) and acks=all{% endif %}:
//! its sends resolve only once the broker has acknowledged the record
{%- if service.kafka.transactional %} (and the
//! transaction committed){% endif %}. Every record carries the flow's name in
//! the `flow` header.
{%- endif %}
{%- if service.consumes %}
//!
//! - An offset is stored only once its record was handled (or dead-lettered);
//!   librdkafka auto-commits stored offsets every 5 s and on close, so a crash
//!   replays at most the records handled since the last commit: at-least-once.
{%- if service.kafka.read_committed %}
//! - Records of aborted transactions are never seen (`read_committed`): an
//!   exactly-once flow's events reach the handler only once committed.
{%- endif %}
//! - A retryable handler error is retried [`MAX_ATTEMPTS`] times in all with
//!   jittered exponential backoff; then, or at once for an error that retrying
//!   cannot fix (such as an undecodable payload), the record goes to
//!   `<topic>.dlt` with headers naming the error and the source
//!   topic/partition/offset, and consumption continues.
//! - If the dead-letter topic cannot be written, consumption stops with an
//!   error rather than skip the record: it is redelivered after a restart.
{%- endif %}

use std::{
    sync::{Mutex, PoisonError},
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
    error::{KafkaError, RDKafkaErrorCode},
{%- if service.consumes %}
    message::{BorrowedMessage, Header, {% if shared %}Headers as _, {% endif %}OwnedHeaders},
{%- else %}
    message::{Header, OwnedHeaders},
{%- endif %}
{%- if service.produces %}
    producer::{FutureProducer, FutureRecord{% if service.kafka.transactional %}, Producer as _{% endif %}, future_producer::Delivery},
{%- else %}
    producer::{FutureProducer, FutureRecord},
{%- endif %}
    util::Timeout,
};
{%- if service.consumes %}
use tokio_util::sync::CancellationToken;
{%- endif %}
use tracing::{debug, info, warn};
{%- if service.consumes %}

use crate::{error::HandlerError, handlers, retry::Backoff};
{%- endif %}
{%- if service.produces %}

/// How long a record may wait for the broker's acknowledgement (librdkafka's
/// `message.timeout.ms`, retries included).
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
{%- endif %}
{%- if service.kafka.transactional %}
/// How long initialising, committing or aborting a transaction may take.
pub const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(10);
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
    /// Idempotent producer of the {% if service.kafka.transactional %}other {% endif %}flows.
    producer: FutureProducer<KafkaContext>,
{%- endif %}
{%- if service.kafka.transactional %}
    /// Transactional producer of the exactly-once flows.
    transactional: FutureProducer<KafkaContext>,
    /// Whether transactions were initialised; held during a transaction,
    /// since a producer runs one transaction at a time.
    transactions: tokio::sync::Mutex<bool>,
{%- endif %}
    delivery_timeout: Duration,
}

impl Publisher {
    /// A publisher with the default [`DELIVERY_TIMEOUT`]. Connecting is lazy:
    /// this succeeds with no broker running.
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

    fn with_options(
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
            // At-least-once without duplicates from producer retries.
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set(
                "message.timeout.ms",
                delivery_timeout.as_millis().to_string(),
            );
        Ok(Self {
{%- if service.kafka.idempotent %}
            producer: config.create_with_context(KafkaContext::default())?,
{%- endif %}
{%- if service.kafka.transactional and service.kafka.idempotent %}
            transactional: config
                .clone()
                .set("transactional.id", transactional_id)
                .create_with_context(KafkaContext::default())?,
{%- elif service.kafka.transactional %}
            transactional: config
                .set("transactional.id", transactional_id)
                .create_with_context(KafkaContext::default())?,
            transactions: tokio::sync::Mutex::new(false),
{%- endif %}
            delivery_timeout,
        })
    }
{%- for t in service.produces %}

    /// Flow `{{ t.flow }}`: sends `event` to `{{ t.topic }}`
{%- if t.exactly_once %} in a transaction{% endif %}, keyed by its
    /// {{ names.id_words }}, and resolves once the broker has acknowledged it
{%- if t.exactly_once %} and the transaction
    /// committed{% endif %}.
    pub async fn publish_{{ t.flow_ident }}(
        &self,
        event: &{{ t.flow_ident }}::Event,
    ) -> Result<Delivery, KafkaError> {
        let payload = {{ t.flow_ident }}::encode(event);
        let key = event.{{ contract.id_field.name }}.as_str();
{%- if t.exactly_once %}
        let record = event_record({{ t.flow_ident }}::FLOW, {{ t.flow_ident }}::TOPIC, key, &payload);
        self.send_in_transaction(record).await
{%- else %}
        let record = event_record({{ t.flow_ident }}::FLOW, {{ t.flow_ident }}::TOPIC, key, &payload);
        self.send(record).await
{%- endif %}
    }
{%- endfor %}
{%- if service.kafka.idempotent %}

    async fn send(&self, record: FutureRecord<'_, str, [u8]>) -> Result<Delivery, KafkaError> {
        let (topic, key) = (record.topic, record.key.unwrap_or_default());
        let delivery = self
            .producer
            .send(record, Timeout::After(self.delivery_timeout))
            .await
            .map_err(|(err, _message)| err)?;
        debug!(
            %topic, %key,
            partition = delivery.partition,
            offset = delivery.offset,
            "event acknowledged"
        );
        Ok(delivery)
    }
{%- endif %}
{%- if service.kafka.transactional %}

    /// Sends `record` in a transaction of its own: the record is visible to
    /// `read_committed` consumers once the transaction commits, and never if
    /// it aborts.
    async fn send_in_transaction(
        &self,
        record: FutureRecord<'_, str, [u8]>,
    ) -> Result<Delivery, KafkaError> {
        let (topic, key) = (record.topic, record.key.unwrap_or_default());
        let mut initialised = self.transactions.lock().await;
        if !*initialised {
            let producer = self.transactional.clone();
            blocking(move || producer.init_transactions(TRANSACTION_TIMEOUT)).await?;
            *initialised = true;
        }
        self.transactional.begin_transaction()?;
        let sent = self
            .transactional
            .send(record, Timeout::After(self.delivery_timeout))
            .await
            .map_err(|(err, _message)| err);
        let producer = self.transactional.clone();
        let outcome = match sent {
            Ok(delivery) => blocking(move || producer.commit_transaction(TRANSACTION_TIMEOUT))
                .await
                .map(|()| delivery),
            Err(err) => Err(err),
        };
        if let Err(err) = &outcome {
            warn!(%topic, %key, %err, "transaction failed, aborting it");
            let producer = self.transactional.clone();
            let aborted = blocking(move || producer.abort_transaction(TRANSACTION_TIMEOUT)).await;
            if let Err(abort) = aborted {
                warn!(%topic, %key, %abort, "cannot abort the transaction");
            }
        } else if let Ok(delivery) = &outcome {
            debug!(
                %topic, %key,
                partition = delivery.partition,
                offset = delivery.offset,
                "event committed"
            );
        }
        outcome
    }
{%- endif %}
}
{%- if service.kafka.transactional %}

/// Runs a blocking librdkafka transaction call off the async worker threads.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, KafkaError> + Send + 'static,
) -> Result<T, KafkaError> {
    tokio::task::spawn_blocking(call)
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
    let consumer: StreamConsumer<KafkaContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", GROUP_ID)
        .set("client.id", GROUP_ID)
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
    // Closing polls librdkafka until the final commit is done: keep that
    // blocking work off the async worker threads.
    tokio::task::spawn_blocking(move || drop(consumer))
        .await
        .context("closing the consumer panicked")?;
    Ok(())
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
