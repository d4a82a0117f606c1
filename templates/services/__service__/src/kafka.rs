{#- scaffold
when: service.produces or service.consumes
-#}
{%- set shared = service.consumed_topics | filter(attribute="shared", value=true) | length > 0 -%}
{%- set modules = [] -%}
{%- for t in service.topics | concat(with=service.produces) | concat(with=service.consumes) %}{% set_global modules = modules | concat(with=t.module | default(value=t.flow_ident)) %}{% endfor -%}
{%- set modules = modules | concat(with="Wire") -%}
{%- set modules = modules | unique | sort -%}
//! The Kafka flows of the `{{ service.name }}` service:
{%- if service.produces %}
//! it produces
{%- for t in service.produces %} `{{ t.flow }}` (topic `{{ t.topic }}`, read by {{ t.to_text }}){% if not loop.last %},{% endif %}{% endfor %}
{%- endif %}
{%- if service.produces and service.consumes %}
//! and
{%- endif %}
{%- if service.consumes %}
//! {% if not service.produces %}it {% endif %}consumes
{%- for t in service.consumes %} `{{ t.flow }}` (topic `{{ t.topic }}`){% if not loop.last %},{% endif %}{% endfor %} in
//! consumer group `{{ service.name }}`
{%- endif %}.
//!
//! Only this service's flows are here. The plumbing (the idempotent{% if service.kafka.transactional %} and
//! transactional{% endif %} producer, the consumer with stored offsets, retries with
//! backoff, dead-letter topics, topic creation) is `runtime::kafka`, the same
//! in every service, whose documentation says what each guarantee is; each
//! flow's topic, message, key and encoding are `contract::events`.
{%- if service.kafka.read_committed %}
//!
//! This service consumes an exactly-once flow, so its consumer reads only
//! committed transactions; handling stays at-least-once (a crash between
//! handling and committing the offset handles the record again), so those
//! handlers must be idempotent too.
{%- endif %}
{% if service.produces %}
use std::{fmt, sync::Arc, time::Duration};
{# blank line #}
{%- else %}
use std::sync::Arc;
{# blank line #}
{%- endif %}
{%- if modules | length == 1 %}
use contract::events::{{ modules[0] }};
{%- else %}
use contract::events::{ {{- modules | join(sep=", ") -}} };
{%- endif %}
{%- if service.outbox and service.dedupe %}
use runtime::{
    kafka::{self, KafkaError},
    outbox::{self, HandledEvents},
    store::Store,
};
{%- elif service.outbox %}
use runtime::{
    kafka::{self, KafkaError},
    outbox,
    store::Store,
};
{%- elif service.dedupe %}
use runtime::{
    kafka::{self, KafkaError},
    outbox::HandledEvents,
};
{%- else %}
use runtime::kafka::{self, KafkaError};
{%- endif %}
{%- if service.outbox %}
use sqlx::{Any, Transaction};
{%- endif %}
{%- if service.consumes %}
use tokio_util::sync::CancellationToken;
{%- endif %}
{%- if service.produces %}
use tracing::warn;
{%- endif %}
{% if service.produces and service.consumes %}
use crate::{
    config::{self, Config},
    error::HandlerError,
    handlers,
    outbound::Outbound,
    state::State,
};
{%- elif service.kafka.transactional %}
use crate::{
    config::{self, Config},
    outbound::Outbound,
};
{%- elif service.produces %}
use crate::{config::Config, outbound::Outbound};
{%- else %}
use crate::{config, error::HandlerError, handlers, state::State};
{%- endif %}

/// Names this service's Kafka clients in the brokers' logs.
pub const CLIENT_ID: &str = "{{ service.name }}";

/// The topics this service creates when missing, `(name, partitions)`: the
/// ones it {% if service.produces and service.consumes %}produces to or consumes{% elif service.produces %}produces to{% else %}consumes{% endif %}.
pub const TOPICS: &[(&str, i32)] = &[
    // Partition counts as the recommendation sized them (contract::events).
{%- for t in service.topics %}
    ({{ t.module }}::TOPIC, {{ t.module }}::PARTITIONS),
{%- endfor %}
];
{%- if service.consumes %}

/// The consumer group: one per service, so every service sees every event.
pub const GROUP_ID: &str = "{{ service.name }}";

/// The topics the consumer subscribes to; each also gets a dead-letter topic.
pub const SUBSCRIBED: &[&str] = &[
    // One per consumed topic, whatever the number of flows it carries.
{%- for t in service.consumed_topics %}
    {{ t.module }}::TOPIC,
{%- endfor %}
];
{%- endif %}

/// Creates the topics of [`TOPICS`]{% if service.consumes %}, and the dead-letter topics of
/// [`SUBSCRIBED`],{% endif %} that do not exist yet, with `replication` replicas
/// (`KAFKA_REPLICATION`).
pub async fn ensure_topics(brokers: &str, replication: i32) -> Result<(), KafkaError> {
    let admin = format!("{CLIENT_ID}-admin");
    kafka::ensure_topics(brokers, &admin, TOPICS, {% if service.consumes %}SUBSCRIBED{% else %}&[]{% endif %}, replication).await
}
{%- if service.produces %}

/// The flows this service produces, by their name in flows.yaml.
pub const PRODUCED: &[&str] = &[
    // One per produced flow, as `publish <flow>` names it.
{%- for t in service.produces %}
    {{ t.flow_ident }}::FLOW,
{%- endfor %}
];

/// How this service's publisher is set up: {% if service.kafka.idempotent %}an idempotent producer{% endif %}{% if service.kafka.idempotent and service.kafka.transactional %}, and {% endif %}{% if service.kafka.transactional %}a
/// transactional one for the exactly-once flows ({% for t in service.produces | filter(attribute="exactly_once", value=true) %}`{{ t.flow }}`{% if not loop.last %}, {% endif %}{% endfor %}) with
/// `transactional_id` (`KAFKA_TRANSACTIONAL_ID`: each running instance
/// needs its own){% endif %}.
pub fn producer_settings(brokers: &str{% if service.kafka.transactional %}, transactional_id: &str{% endif %}) -> kafka::ProducerSettings {
    kafka::ProducerSettings::new(brokers, CLIENT_ID)
{%- if not service.kafka.idempotent %}
        .idempotent(false)
{%- endif %}
{%- if service.kafka.transactional %}
        .transactional_id(transactional_id)
{%- endif %}
}

/// The producer settings of the running service: [`producer_settings`] with
/// the brokers{% if service.kafka.transactional %}, the transactional id{% endif %} and the batching of `config`.
fn configured_settings(config: &Config) -> kafka::ProducerSettings {
{%- if service.kafka.transactional %}
    producer_settings(&config.kafka_brokers, &config.kafka_transactional_id)
        .batching(config.kafka_linger, config.kafka_compression)
{%- else %}
    producer_settings(&config.kafka_brokers).batching(config.kafka_linger, config.kafka_compression)
{%- endif %}
}

/// Sends this service's events, typed by each flow's message:
/// `publisher.publish(&{{ service.produces[0].flow_ident }}::WIRE, &event)`. Cheap to share (`&self`)
/// between tasks.
pub struct Publisher(kafka::Publisher);

impl Publisher {
    /// A publisher with the default settings{% if service.kafka.transactional %} and `transactional.id`{% endif %}.
    /// Connecting is lazy: this succeeds with no broker running.
    pub fn new(brokers: &str) -> Result<Self, KafkaError> {
{%- if service.kafka.transactional %}
        let transactional_id = config::KAFKA_TRANSACTIONAL_ID_DEFAULT;
        Self::with_settings(&producer_settings(brokers, transactional_id))
{%- else %}
        Self::with_settings(&producer_settings(brokers))
{%- endif %}
    }

    /// The publisher of the running service: the default settings with the
    /// brokers{% if service.kafka.transactional %} and the transactional id{% endif %} of `config`.
    pub fn from_config(config: &Config) -> Result<Self, KafkaError> {
        Self::with_settings(&configured_settings(config))
    }

    /// A publisher as `settings` say (for instance another delivery timeout).
    pub fn with_settings(settings: &kafka::ProducerSettings) -> Result<Self, KafkaError> {
        kafka::Publisher::new(settings).map(Self)
    }

    /// How long a send waits for the broker's acknowledgement.
    pub fn delivery_timeout(&self) -> Duration {
        self.0.delivery_timeout()
    }

    /// Sends `event` of the flow `wire` describes to its topic, keyed by its
    /// key field, and resolves once the broker has acknowledged it (an
    /// exactly-once flow: once its transaction is committed; on failure it is
    /// aborted, so `read_committed` consumers never see it).
    pub async fn publish<E>(
        &self,
        wire: &Wire<E>,
        event: &E,
    ) -> Result<kafka::Delivery, KafkaError> {
        let (key, payload) = ((wire.key)(event), (wire.encode)(event));
        self.0.publish(record(wire, &key, &payload)).await
    }

    /// Pipelined sending of an event of an at-least-once or at-most-once
    /// flow: returns once `event` is queued; the [`kafka::PendingDelivery`]
    /// resolves with the broker's acknowledgement. Events queued one after
    /// another keep their order within a key.
    pub async fn queue<E>(
        &self,
        wire: &Wire<E>,
        event: &E,
    ) -> Result<kafka::PendingDelivery, KafkaError> {
        let (key, payload) = ((wire.key)(event), (wire.encode)(event));
        self.0.queue(record(wire, &key, &payload)).await
    }
}

/// The publisher of one flow, typed by its event: what handlers and tasks
/// reach as `state.out.<flow>` (see [`crate::outbound`]). Clones share one
/// producer.
pub struct FlowPublisher<E: 'static> {
    publisher: Arc<Publisher>,
    wire: &'static Wire<E>,
}

impl<E: 'static> FlowPublisher<E> {
    /// The publisher of the flow `wire` describes, sending through `publisher`.
    pub fn new(publisher: &Arc<Publisher>, wire: &'static Wire<E>) -> Self {
        Self {
            publisher: Arc::clone(publisher),
            wire,
        }
    }

    /// The flow's topic, key, encoding and sample.
    pub fn wire(&self) -> &'static Wire<E> {
        self.wire
    }

    /// The service's publisher, which every flow's publisher shares.
    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    /// How long a send waits for the broker's acknowledgement.
    pub fn delivery_timeout(&self) -> Duration {
        self.publisher.delivery_timeout()
    }

    /// Sends `event` to the flow's topic, keyed by its key field, with the
    /// `flow` and `content-type` headers, and resolves once the broker has
    /// acknowledged it (see [`Publisher::publish`]).
    pub async fn publish(&self, event: &E) -> Result<kafka::Delivery, KafkaError> {
        self.publisher.publish(self.wire, event).await
    }
{%- if service.kafka.idempotent %}

    /// Pipelined sending of an event of an at-least-once or at-most-once
    /// flow (see [`Publisher::queue`]).
    pub async fn queue(&self, event: &E) -> Result<kafka::PendingDelivery, KafkaError> {
        self.publisher.queue(self.wire, event).await
    }
{%- endif %}
}

impl<E: 'static> Clone for FlowPublisher<E> {
    fn clone(&self) -> Self {
        Self::new(&self.publisher, self.wire)
    }
}

impl<E: 'static> fmt::Debug for FlowPublisher<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlowPublisher")
            .field("flow", &self.wire.flow)
            .field("topic", &self.wire.topic)
            .finish_non_exhaustive()
    }
}

{% if service.outbox -%}
/// The service's transactional outbox ([`runtime::outbox`]): an event added on
/// a handler's transaction is published by the relay once that transaction
/// commits, and never if it rolls back.
#[derive(Debug, Clone)]
pub struct Outbox(outbox::Outbox);

impl Outbox {
    /// The outbox kept in `db`.
    pub fn new(db: &Store) -> Self {
        Self(outbox::Outbox::new(db))
    }

    /// Begins a transaction for a state change and the events announcing it.
    pub async fn begin(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        self.0.begin().await
    }

    /// Adds `event`, of the flow `wire` describes, on `tx`; returns the
    /// event id every copy of it carries.
    pub async fn add<E>(
        &self,
        tx: &mut Transaction<'_, Any>,
        wire: &Wire<E>,
        event: &E,
    ) -> Result<String, sqlx::Error> {
        let (key, payload) = ((wire.key)(event), (wire.encode)(event));
        self.0.add(tx, record(wire, &key, &payload)).await
    }

    /// Commits `tx` and wakes the relay.
    pub async fn commit(&self, tx: Transaction<'_, Any>) -> Result<(), sqlx::Error> {
        self.0.commit(tx).await
    }

    /// How many events wait for the relay.
    pub async fn backlog(&self) -> Result<i64, sqlx::Error> {
        self.0.backlog().await
    }

    /// The relay of this outbox, with the service's producer settings.
    pub fn relay(&self, config: &Config) -> Result<outbox::Relay, KafkaError> {
        self.0.relay(&configured_settings(config))
    }
}

{% endif -%}
/// The record of an event of the flow `wire` describes, keyed `key`,
/// encoded as `payload`.
fn record<'a, E>(wire: &Wire<E>, key: &'a str, payload: &'a [u8]) -> kafka::EventRecord<'a> {
    kafka::EventRecord {
        flow: wire.flow,
        topic: wire.topic,
        key,
        payload,
        content_type: wire.content_type,
        exactly_once: wire.exactly_once,
        traceparent: None,
    }
}

/// An argument of `publish` that names no flow of this service or is neither
/// an id nor the flow's message in proto3 JSON: a usage error (exit 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidInput(pub String);

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidInput {}

/// One event `publish` sent, and where the broker wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub flow: &'static str,
    pub key: String,
    pub topic: &'static str,
    pub partition: i32,
    pub offset: i64,
}

impl fmt::Display for Published {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "published {} key={} topic={} partition={} offset={}",
            self.flow, self.key, self.topic, self.partition, self.offset
        )
    }
}

/// `{{ service.name }} publish <flow> <id-or-json>`: sends one event of `flow` (its name
/// in flows.yaml), made from `input` (the message in proto3 JSON when it
/// starts with `{`, else the flow's sample keyed by that id), once the topics
/// exist, through the service's [`Outbound`] (the publishers its handlers
/// use); returns once the broker has acknowledged it. An unusable `flow` or
/// `input` is an [`InvalidInput`] error.
pub async fn publish(config: &Config, flow: &str, input: &str) -> anyhow::Result<Published> {
    let out = Outbound::new(config).await?;
    match flow {
{%- for t in service.produces %}
{%- set arm = "        " ~ t.flow_ident ~ "::FLOW => send(config, &out." ~ t.flow_ident ~ ", input).await," %}
{%- if arm | length <= 100 %}
{{ arm }}
{%- else %}
        {{ t.flow_ident }}::FLOW => {
            send(config, &out.{{ t.flow_ident }}, input).await
        }
{%- endif %}
{%- endfor %}
        other => Err(InvalidInput(format!(
            "unknown flow `{other}` to publish (this service publishes {})",
            PRODUCED.join(", ")
        ))
        .into()),
    }
}

/// [`publish`] once the flow is known.
async fn send<E>(
    config: &Config,
    publisher: &FlowPublisher<E>,
    input: &str,
) -> anyhow::Result<Published> {
    let wire = publisher.wire();
    let event = (wire.from_input)(input).map_err(InvalidInput)?;
    let key = (wire.key)(&event);
    let brokers = &config.kafka_brokers;
    if let Err(err) = ensure_topics(brokers, config.kafka_replication).await {
        warn!(%brokers, %err, "cannot create the topics; trying to publish anyway");
    }
    // KafkaError repeats its code as its source: report its text once.
    let delivery = publisher.publish(&event).await.map_err(|err| {
        anyhow::anyhow!(
            "{} event `{key}` was not acknowledged by KAFKA_BROKERS={brokers} within {:?}: {err}",
            wire.flow,
            publisher.delivery_timeout()
        )
    })?;
    Ok(Published {
        flow: wire.flow,
        key,
        topic: wire.topic,
        partition: delivery.partition,
        offset: delivery.offset,
    })
}
{%- endif %}
{%- if service.consumes %}

/// What the consumer does with each event, one method per consumed flow.
/// [`Handlers`] wires in `handlers.rs`; tests can wrap or replace it.
pub trait EventHandler: Send + Sync + 'static {
{%- for t in service.consumes %}
{%- if not loop.first %}
{% endif %}
    /// Flow `{{ t.flow }}` (topic `{{ t.topic }}`).
{%- set line = "    fn " ~ t.flow_ident ~ "(&self, event: " ~ t.flow_ident ~ "::Event) -> impl Future<Output = Result<(), HandlerError>> + Send;" %}
{%- if line | length <= 100 %}
{{ line }}
{%- else %}
    fn {{ t.flow_ident }}(
        &self,
        event: {{ t.flow_ident }}::Event,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
{%- endif %}
{%- endfor %}
{%- if service.dedupe %}

    /// Where the ids of the handled events are kept, so that the copies of
    /// an event an outbox relayed twice are skipped; `None` handles them all.
    fn handled_events(&self) -> Option<&HandledEvents> {
        None
    }
{%- endif %}
{%- if service.kafka.consume_produce %}

    /// The publisher of the exactly-once events the handlers send. Each
    /// event consumed is then handled in one of its transactions, which
    /// commits the exactly-once events its handler published together with
    /// the consumed event's offset, or neither: a crash or a failed handler
    /// never leaves an event published for an event that will be handled
    /// again. `None` handles events without transactions, their offsets
    /// committed once handled. No default: a handler wrapping another
    /// passes it on, or says it does not.
    fn transactions(&self) -> Option<&Publisher>;
{%- endif %}
}

/// The service's handlers (`handlers/`), with the [`State`] they share.
#[derive(Debug, Clone)]
pub struct Handlers {
    state: Arc<State>,
{%- if service.dedupe %}
    /// The ids of the events handled, in the service's database.
    handled: HandledEvents,
{%- endif %}
}

impl Handlers {
    /// Handlers sharing `state`, built once at start-up.
    pub fn new(state: Arc<State>) -> Handlers {
{%- if service.dedupe %}
        let handled = HandledEvents::new(&state.out.db);
        Handlers { state, handled }
{%- else %}
        Handlers { state }
{%- endif %}
    }
}

impl EventHandler for Handlers {
{%- for t in service.consumes %}
{%- set module = service.api.handlers | filter(attribute="kind", value="event") | filter(attribute="flows.0", value=t.flow) | map(attribute="module") | first %}
{%- if not loop.first %}
{% endif %}
{%- set line = "    fn " ~ t.flow_ident ~ "(&self, event: " ~ t.flow_ident ~ "::Event) -> impl Future<Output = Result<(), HandlerError>> + Send {" %}
{%- if line | length <= 100 %}
{{ line }}
{%- else %}
    fn {{ t.flow_ident }}(
        &self,
        event: {{ t.flow_ident }}::Event,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
{%- endif %}
        handlers::{{ module }}::handle(&self.state, event)
    }
{%- endfor %}
{%- if service.dedupe %}

    fn handled_events(&self) -> Option<&HandledEvents> {
        Some(&self.handled)
    }
{%- endif %}
{%- if service.kafka.consume_produce %}
{%- set txn = service.produces | filter(attribute="exactly_once", value=true) | first %}

    fn transactions(&self) -> Option<&Publisher> {
        // Every flow's publisher shares the service's one producer.
        Some(self.state.out.{{ txn.flow_ident }}.publisher())
    }
{%- endif %}
}

/// How this service's consumer is set up{% if service.kafka.read_committed %}: reading only committed
/// transactions, as its exactly-once flows need{% endif %}, with `lanes` handling
/// events at once.
pub fn consumer_settings(brokers: &str, lanes: usize) -> kafka::ConsumerSettings {
{%- if service.kafka.read_committed %}
    kafka::ConsumerSettings::new(brokers, GROUP_ID, SUBSCRIBED)
        .read_committed(true)
        .concurrency(lanes)
{%- else %}
    kafka::ConsumerSettings::new(brokers, GROUP_ID, SUBSCRIBED).concurrency(lanes)
{%- endif %}
}
{% if service.kafka.consume_produce %}
/// Consumes [`SUBSCRIBED`] with `handler` until `shutdown` is cancelled (the
/// events in hand are finished first), then leaves the group. With the
/// handler's [`EventHandler::transactions`], each event is handled in a
/// transaction that commits its offset with the exactly-once events its
/// handler published, one at a time, in partition order; without, events of
/// one key are handled in order, `lanes` at once
/// ([`config::KAFKA_CONSUMER_CONCURRENCY_VAR`]), and their offsets committed
/// once handled.
{%- else %}
/// Consumes [`SUBSCRIBED`] with `handler` until `shutdown` is cancelled (the
/// events in hand are finished first), then commits the stored offsets and
/// leaves the group. Events of one key are handled in order, `lanes` at once
/// ([`config::KAFKA_CONSUMER_CONCURRENCY_VAR`]).
{%- endif %}
pub async fn consume<H: EventHandler + 'static>(
    brokers: &str,
    lanes: usize,
    handler: H,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let settings = consumer_settings(brokers, lanes);
    kafka::consume(&settings, Dispatcher(handler), shutdown).await
}

/// Decodes each record by its topic{% if shared %} (and its `flow` header, on a topic
/// several consumed flows share){% endif %} and calls the handler of its flow.
pub struct Dispatcher<H>(pub H);

impl<H: EventHandler> kafka::Dispatch for Dispatcher<H> {
    type Error = HandlerError;

    async fn dispatch(&self, record: kafka::Received<'_>) -> Result<(), HandlerError> {
        config::debug_handler_pause().await;
        match record.topic {
{%- for c in service.consumed_topics %}
{%- if c.shared %}
            {{ c.module }}::TOPIC => match record.flow {
{%- for t in c.flows %}
                Some({{ t.flow_ident }}::FLOW) => {
                    let event = decode(record, &{{ t.flow_ident }}::WIRE)?;
                    self.0.{{ t.flow_ident }}(event).await
                }
{%- endfor %}
                other => Err(HandlerError::InvalidArgument(format!(
                    "no handler for flow {other:?} on topic `{}`",
                    record.topic
                ))),
            },
{%- else %}
{%- set t = c.flows[0] %}
            {{ t.flow_ident }}::TOPIC => {
                let event = decode(record, &{{ t.flow_ident }}::WIRE)?;
                self.0.{{ t.flow_ident }}(event).await
            }
{%- endif %}
{%- endfor %}
            other => Err(HandlerError::InvalidArgument(format!(
                "no handler for topic `{other}`"
            ))),
        }
    }
{%- if service.dedupe %}

    fn deduplication(&self) -> Option<&dyn kafka::Deduplication> {
        self.0
            .handled_events()
            .map(|handled| handled as &dyn kafka::Deduplication)
    }
{%- endif %}
{%- if service.kafka.consume_produce %}

    fn transactions(&self) -> Option<&kafka::Publisher> {
        self.0.transactions().map(|publisher| &publisher.0)
    }
{%- endif %}
}

/// The event of the flow `wire` describes in `record`. A payload that is not
/// one (or says it is in another encoding) is an error retrying cannot fix:
/// the record is dead-lettered at once.
fn decode<E>(record: kafka::Received<'_>, wire: &Wire<E>) -> Result<E, HandlerError> {
    let flow = wire.flow;
    if let Some(other) = record.content_type.filter(|&c| c != wire.content_type) {
        return Err(HandlerError::InvalidArgument(format!(
            "flow {flow} is {}, not {other}",
            wire.content_type
        )));
    }
    (wire.decode)(record.payload).map_err(|err| {
        HandlerError::InvalidArgument(format!("payload is not an event of flow {flow}: {err}"))
    })
}
{%- endif %}
