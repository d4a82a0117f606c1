//! The one serializable context every template is rendered with: the
//! system, its services and what each one serves, calls, produces and
//! consumes, derived from the recommendations.
//!
//! Templates stay simple by finding here, ready-made, everything that would
//! take logic to compute in tera: deduplicated targets and topics, type
//! names, environment variable names and the one-line summaries that doc
//! comments and the README repeat. Everything is in a stable order (services
//! by name, flows in file order), so the same flows give the same bytes.
//!
//! A per-service file is rendered with its service and [`Shared`] only, so
//! each service's part here holds what that service takes part in, and is
//! built from the flows naming it, never from a pass over every flow: the
//! scaffold stays linear in the number of services and flows.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::contract::Binding;
use crate::contract::{BoundContract, FlowBinding};
use crate::engine::evaluate::{Recommendation, Report};
use crate::scaffold::api::{Api, ProtoService, rust_path, to_snake};
use crate::scaffold::called::{Callees, RpcCall};
use crate::scaffold::contract::{Contract, pascal, snake};
use crate::scaffold::deploy::{self, Deployment};
use crate::scaffold::served::{
    ExampleCall, GrpcCall, RestRoute, ServedApi, duration_rust, keyed, served,
};
use crate::spec::model::{Client, Delivery, Flow, FlowsFile, Format, Interaction, Transport};

/// The documented defaults (docs/scaffold.md): the article's ports.
pub const HTTP_PORT: u16 = 5000;
pub const GRPC_PORT: u16 = 50051;
pub const KAFKA_BROKERS: &str = "localhost:9092";

pub use crate::scaffold::api::{SAMPLE_EVENT_ID, SAMPLE_ID, SAMPLE_STATUS};

#[derive(Debug, Clone, Serialize)]
pub struct Context {
    pub system: String,
    pub tool_version: &'static str,
    /// The bound contract's Rust names (SPEC §7): what the workspace is
    /// built around.
    pub api: Api,
    /// The seed's single-method view. Transitional: the templates not yet
    /// following [`Api`] read it, and the workspace compiles its
    /// `proto/order.proto` for them ([`Context::legacy_proto`]).
    pub contract: Contract,
    /// Whether `proto/order.proto` is written beside a contract that is not
    /// the seed, for the templates still reading `contract` (transitional).
    pub legacy_proto: bool,
    /// Names and sample payloads derived from the contract.
    pub names: ContractNames,
    /// Which transports any service uses: decides workspace dependencies.
    pub uses: Uses,
    /// Services that take part in at least one flow, by name.
    pub services: Vec<ServiceContext>,
    /// Services declared in flows.yaml that no flow names: not generated.
    pub idle_services: Vec<String>,
    /// Every Kafka flow, in file order: one module each in `contract::events`.
    pub topics: Vec<TopicContext>,
    /// Services whose producers feed other services' consumer tests: they
    /// are workspace dependencies.
    pub producer_crates: Vec<ServiceRef>,
    pub flows: Vec<FlowContext>,
    pub http_port: u16,
    pub grpc_port: u16,
    /// `METRICS_ADDR`'s port in a container.
    pub metrics_port: u16,
    pub kafka_brokers: &'static str,
}

/// What a per-service template may read besides `service`: the values of the
/// workspace whose size does not grow with the number of services or flows.
#[derive(Debug, Serialize)]
pub struct Shared<'a> {
    pub system: &'a str,
    pub tool_version: &'static str,
    pub contract: &'a Contract,
    pub names: &'a ContractNames,
    pub uses: Uses,
    pub http_port: u16,
    pub grpc_port: u16,
    pub kafka_brokers: &'static str,
}

impl Context {
    /// The context of per-service files, besides `service` itself.
    pub fn shared(&self) -> Shared<'_> {
        Shared {
            system: &self.system,
            tool_version: self.tool_version,
            contract: &self.contract,
            names: &self.names,
            uses: self.uses,
            http_port: self.http_port,
            grpc_port: self.grpc_port,
            kafka_brokers: self.kafka_brokers,
        }
    }
}

/// Names the templates would otherwise have to build from the contract.
#[derive(Debug, Clone, Serialize)]
pub struct ContractNames {
    /// The generated gRPC client module: `order_service_client`.
    pub client_module: String,
    /// The fully qualified gRPC service: `orders.OrderService`.
    pub grpc_service: String,
    /// The id in prose: `order id`.
    pub id_words: String,
    /// The id as a command-line placeholder: `order-id`.
    pub id_arg: String,
    /// Whether the response has fields besides the id and the status, which
    /// the sample handlers leave at their default.
    pub response_has_more: bool,
    /// The sample id and event key (`12345`, `order-12345`).
    pub sample_id: &'static str,
    pub sample_event_id: &'static str,
    pub sample_status: &'static str,
    /// The proto3 JSON of the sample response for `sample_id`:
    /// `{"orderId":"12345","status":"CREATED"}`.
    pub sample_json: String,
    /// The same for `sample_event_id`: the Kafka payload.
    pub sample_event_json: String,
}

/// What the workspace as a whole needs: the workspace dependencies follow.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent yes/no questions the templates ask; an enum or a set would only move them into tera expressions"
)]
pub struct Uses {
    /// Some service serves REST (axum, tower-http).
    pub rest: bool,
    /// Some service serves or calls gRPC (tonic).
    pub grpc: bool,
    /// Some service serves gRPC (tonic-health, tonic-reflection).
    pub grpc_server: bool,
    /// Some service calls another over gRPC (the runtime's gRPC client).
    pub grpc_client: bool,
    pub kafka: bool,
    /// Some service calls another over REST (needs an HTTP client).
    pub rest_client: bool,
    /// Some Kafka flow is exactly-once (transactional producer).
    pub transactions: bool,
    /// Some service consumes and produces exactly-once events: handles
    /// what it consumes in transactions (see [`KafkaUse::consume_produce`]).
    pub consume_produce: bool,
    /// Some service has a database (sqlx): idempotency records, an outbox,
    /// handled event ids.
    pub store: bool,
    /// Some service has a transactional outbox, or consumes the events of
    /// one (`runtime::outbox`).
    pub outbox: bool,
    /// Some service serves a flow with idempotency keys (`runtime::idempotency`).
    pub idempotency: bool,
    /// Some service calls a flow with an idempotency key (uuid).
    pub keyed_calls: bool,
    /// Some service serves REST or gRPC, or calls another service: TLS
    /// (rustls) for its servers and clients (`runtime::tls`).
    pub tls: bool,
}

#[derive(Debug, Clone, Serialize)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent yes/no questions the templates ask of a service"
)]
pub struct ServiceContext {
    /// Crate, binary and folder name: `order-history`.
    pub name: String,
    /// Rust identifier: `order_history`.
    pub ident: String,
    /// Prefix of its types in other crates: `OrderHistory` (`OrderHistoryClient`).
    pub pascal: String,
    pub description: Option<String>,
    /// What it does, in one sentence, for doc comments and the README.
    pub summary: String,
    pub serves_rest: bool,
    pub serves_grpc: bool,
    /// Whether it has handlers: it serves a flow (REST, gRPC) or consumes
    /// one. Every service runs `serve`; one without handlers runs its
    /// team-owned tasks (`src/tasks.rs`) instead.
    pub handles: bool,
    /// Flows served over REST.
    pub rest_flows: Vec<ServedFlow>,
    /// Flows served over gRPC.
    pub grpc_flows: Vec<ServedFlow>,
    /// The REST flows it serves to a browser (`client: browser`): its API
    /// answers CORS for the origins `CORS_ALLOWED_ORIGINS` names.
    pub browser_flows: Vec<String>,
    /// Kafka flows this service produces.
    pub produces: Vec<TopicContext>,
    /// Kafka flows this service consumes.
    pub consumes: Vec<TopicContext>,
    /// The consumed topics, each with the flows it carries to this service.
    pub consumed_topics: Vec<ConsumedTopic>,
    /// Every topic the service creates when missing (produced or consumed),
    /// once each, named by the `contract::events` module holding its sizing.
    pub topics: Vec<TopicRef>,
    /// Which kinds of Kafka clients the service needs.
    pub kafka: KafkaUse,
    /// REST flows this service calls, one per (flow, target).
    pub calls_rest: Vec<CallContext>,
    /// gRPC flows this service calls, one per (flow, target).
    pub calls_grpc: Vec<CallContext>,
    /// The distinct services called over REST: one client type each.
    pub rest_targets: Vec<TargetContext>,
    /// The distinct services called over gRPC: one client type each.
    pub grpc_targets: Vec<TargetContext>,
    /// Every flow this service calls, once each, with its targets: the
    /// `call` command's flows.
    pub called_flows: Vec<CalledFlow>,
    /// Other services whose producers feed this one's consumer tests
    /// (dev-dependencies).
    pub producers: Vec<ServiceRef>,
    /// What running it with no command does: `serve REST and gRPC`.
    pub serve_text: String,
    /// Its handlers, gRPC services and REST routes, from the bound contract.
    pub api: ServedApi,
    /// Where the routes and methods it serves take idempotency keys.
    pub keys: KeptKeys,
    /// Its handlers that change state announce its first produced event
    /// through the transactional outbox, relayed to Kafka (see
    /// [`keep_outbox`]).
    pub outbox: bool,
    /// The REST route of a handler writing to the outbox, which its outbox
    /// test calls; else [`ServiceContext::outbox_grpc`].
    pub outbox_route: Option<RestRoute>,
    /// The gRPC method of a handler writing to the outbox, when none has a
    /// REST route.
    pub outbox_grpc: Option<GrpcCall>,
    /// It consumes an event flow some service announces through an outbox,
    /// and keeps the ids of the events it handled to drop the copies.
    pub dedupe: bool,
    /// It has a database (`DATABASE_URL`): for idempotency keys, an outbox
    /// or the ids of handled events.
    pub store: bool,
    /// The environment variables it reads, in `--help` order.
    pub env: Vec<EnvVar>,
    /// The same, as aligned lines for `--help`.
    pub usage_env: String,
    /// Its ports and environment in the deployment files.
    pub deployment: Deployment,
}

/// Where a service takes idempotency keys, keeping its answers in its
/// database (`DATABASE_URL`).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct KeptKeys {
    /// On some REST route it serves.
    pub rest: bool,
    /// On some gRPC method it serves.
    pub grpc: bool,
    /// On either: the service has a database.
    pub any: bool,
}

/// A flow the service calls, with every service it calls for it.
#[derive(Debug, Clone, Serialize)]
pub struct CalledFlow {
    pub flow: String,
    pub flow_pascal: String,
    /// `GET_ORDER`: prefix of the flow's constants.
    pub flow_shouty: String,
    /// `rest` or `grpc`.
    pub transport: Transport,
    /// What `call` does, for `--help`.
    pub explain: String,
    /// A server stream: `call` prints each message as it comes.
    pub streaming: bool,
    /// The flow's latency budget, when flows.yaml gives one.
    pub latency_ms: Option<u64>,
    /// Each call carries an idempotency key (see [`keyed`]); not a stream.
    pub keyed: bool,
    /// The deadline of one attempt: the flow's `latency_ms`, else the
    /// transport's default.
    pub deadline_ms: u64,
    /// The variable overriding it: `GET_ORDER_DEADLINE_MS`.
    pub deadline_env: String,
    /// The deadline as Rust: `Duration::from_millis(200)`, `from_secs(1)`.
    pub deadline_rust: String,
    /// One per service called (a stream: its sender), with the rpc each
    /// serves the flow with.
    pub calls: Vec<CallContext>,
}

/// An environment variable a service reads.
#[derive(Debug, Clone, Serialize)]
pub struct EnvVar {
    pub name: String,
    pub purpose: String,
    pub default: String,
}

/// A flow as its receiving side sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ServedFlow {
    pub flow: String,
    pub from: String,
    pub latency_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceRef {
    pub name: String,
    pub ident: String,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent yes/no questions the templates ask of a service's Kafka clients"
)]
pub struct KafkaUse {
    /// Produces an at-most-once or at-least-once flow: idempotent producer.
    pub idempotent: bool,
    /// Produces an exactly-once flow: transactional producer.
    pub transactional: bool,
    /// Consumes an exactly-once flow: `isolation.level=read_committed`.
    pub read_committed: bool,
    /// Consumes, and produces an exactly-once flow: each event consumed is
    /// handled in a transaction of the publisher, which commits the events
    /// its handler publishes with its offset.
    pub consume_produce: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TopicContext {
    pub flow: String,
    pub flow_ident: String,
    /// `OrderCreated`: the flow's variant in command-line enums.
    pub flow_pascal: String,
    pub topic: String,
    pub partitions: u32,
    /// The replication the recommendation sized for production.
    pub replication: u32,
    pub exactly_once: bool,
    /// Announced through its producer's transactional outbox: every record
    /// carries an event id, and its consumers drop copies.
    pub outbox: bool,
    /// `at-least-once`, `exactly-once`, …
    pub delivery: String,
    pub replay: bool,
    /// Producing service.
    pub from: String,
    pub from_ident: String,
    /// The consuming services: `analytics and shipping`.
    pub to_text: String,
    pub description: Option<String>,
    /// What the flow's records carry.
    pub event: EventPayload,
}

/// The message an event flow's records carry, and how: the names
/// `contract::events::<flow>` needs.
#[derive(Debug, Clone, Serialize)]
pub struct EventPayload {
    /// The message as a Rust path in the contract crate: `orders::OrderResponse`.
    pub message: String,
    /// Its full proto name: `orders.OrderResponse`.
    pub message_proto: String,
    /// The Rust field keying the records: `order_id`.
    pub key_field: String,
    /// Its proto name, as flows.yaml's `key:` names it.
    pub key_proto: String,
    /// How the key field becomes the record's text key and back: `string`,
    /// `bytes` or `parsed` (a number or a bool, rendered with `to_string`).
    pub key_kind: &'static str,
    /// The Rust name of a `string status` field, which samples set to
    /// "CREATED", as the seed's handler answers.
    pub status_field: Option<String>,
    /// The message has fields besides the key and the status, which samples
    /// leave at their default.
    pub has_more: bool,
    /// `format: binary`: protobuf bytes; else the proto3 JSON mapping.
    pub binary: bool,
    /// The `content-type` header: `application/json` or `application/x-protobuf`.
    pub content_type: &'static str,
    /// The id the generated tests key samples with: `order-12345`, or `42`
    /// for a key field that is a number, `true` for a bool.
    pub sample_key: &'static str,
    /// The record value of `sample(sample_key)` for a text key (what the
    /// proto3 JSON mapping writes: default-valued fields left out).
    pub sample_json: Option<String>,
}

/// A topic a consumer subscribes to, with the flows it carries.
#[derive(Debug, Clone, Serialize)]
pub struct ConsumedTopic {
    pub topic: String,
    /// The `contract::events` module of the first flow: its `TOPIC` constant.
    pub module: String,
    /// More than one consumed flow shares the topic: dispatch by the flow header.
    pub shared: bool,
    pub flows: Vec<TopicContext>,
}

/// A topic to create, named by the `contract::events` module of its first flow.
#[derive(Debug, Clone, Serialize)]
pub struct TopicRef {
    pub topic: String,
    pub module: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CallContext {
    pub flow: String,
    pub flow_ident: String,
    /// `GetOrder`: the flow's variant in command-line enums.
    pub flow_pascal: String,
    /// `GET_ORDER`: prefix of the flow's constants.
    pub flow_shouty: String,
    /// The service called.
    pub target: String,
    pub target_ident: String,
    /// The client type: `OrdersClient`.
    pub client: String,
    /// Its policies type: `OrdersPolicies`.
    pub policies: String,
    /// Env var holding the callee's address: `ORDERS_HTTP_URL`.
    pub env: String,
    /// The config field holding it: `orders_http_url`.
    pub field: String,
    pub latency_ms: Option<u64>,
    pub throughput: Option<u64>,
    /// The deadline of one attempt (see [`CalledFlow`]) and its variable.
    pub deadline_ms: u64,
    pub deadline_env: String,
    pub deadline_rust: String,
    /// The rpc the target serves the flow with.
    pub rpc: RpcCall,
    /// Its field of the service's `Outbound` (`state.out.get_order`): the
    /// flow's name, followed by the target's when the flow calls several.
    pub out_field: String,
}

/// A service called over one transport, once however many flows call it.
#[derive(Debug, Clone, Serialize)]
pub struct TargetContext {
    pub name: String,
    pub ident: String,
    /// The client type: `OrdersClient`.
    pub client: String,
    /// Its policies type: `OrdersPolicies`.
    pub policies: String,
    /// `ORDERS_HTTP_URL`.
    pub env: String,
    /// `orders_http_url`.
    pub field: String,
    /// `http://localhost:5000`.
    pub default_url: String,
    /// The rpcs called on it, once each (the first flow's policy applies
    /// when several flows bind one rpc).
    pub methods: Vec<CallContext>,
    /// The first unary and the first server-streaming rpc of `methods`: the
    /// client tests call them on a stub.
    pub unary: Option<CallContext>,
    pub stream: Option<CallContext>,
}

/// A row of the generated README's decision table.
#[derive(Debug, Clone, Serialize)]
pub struct FlowContext {
    pub name: String,
    pub from: String,
    pub to: Vec<String>,
    pub transport: Transport,
    pub pinned: bool,
    pub description: Option<String>,
    /// What carries it: "`GET /orders/{id}`", "topic `order-events`, …".
    pub carrier: String,
    /// The top reasons, one line each.
    pub reasons: Vec<String>,
    pub risks: Vec<String>,
    pub conflicts: Vec<String>,
}

pub fn build(
    flows: &FlowsFile,
    report: &Report,
    contract: &Contract,
    bound: &BoundContract,
) -> Context {
    let recs: Vec<(&Recommendation, &Flow)> = report.flows.iter().zip(&flows.flows).collect();
    let bindings: BTreeMap<&str, &FlowBinding> =
        bound.flows.iter().map(|b| (b.flow.as_str(), b)).collect();
    let topics = kafka_topics(&recs, contract, bound, &bindings);
    // The seed's order.proto joins another contract only when a topic
    // carries its message (an rpc of no usable request sent over Kafka).
    let legacy_proto = !bound.files.iter().any(|f| f == &contract.file)
        && topics
            .values()
            .any(|t| t.event.message_proto.starts_with("orders."));
    let mut api = crate::scaffold::api::api(bound);
    if legacy_proto {
        api.with_legacy_seed();
    }
    let proto_services: BTreeMap<&str, &ProtoService> = api
        .services
        .iter()
        .map(|s| (s.full_name.as_str(), s))
        .collect();
    let callees = Callees {
        pool: &bound.pool,
        bindings: &bindings,
        services: &proto_services,
    };
    let by_service = flows_by_service(&flows.flows);
    let mut uses = Uses::default();
    let mut idle_services = Vec::new();
    let mut services = Vec::new();
    for (name, declared) in &flows.services {
        let description = declared.description.as_deref().map(one_line);
        let own = by_service.get(name.as_str()).map_or(&[][..], Vec::as_slice);
        let mut service = service(name, description, own, &recs, &topics, &callees);
        service.api = served(name, own, &recs, bound, &bindings, &proto_services);
        keep_keys(&mut service);
        // After `api`: the budgets of the rpcs it serves are variables too.
        service.env = env(&service);
        service.usage_env = usage_env(&service.env);
        if !(service.handles
            || !service.produces.is_empty()
            || !service.calls_rest.is_empty()
            || !service.calls_grpc.is_empty())
        {
            idle_services.push(name.clone());
            continue;
        }
        uses.rest |= service.serves_rest;
        uses.grpc |= service.serves_grpc || !service.calls_grpc.is_empty();
        uses.grpc_server |= service.serves_grpc;
        uses.grpc_client |= !service.calls_grpc.is_empty();
        uses.kafka |= !service.produces.is_empty() || !service.consumes.is_empty();
        uses.rest_client |= !service.calls_rest.is_empty();
        uses.transactions |= service.kafka.transactional;
        uses.consume_produce |= service.kafka.consume_produce;
        uses.keyed_calls |= service.called_flows.iter().any(|f| f.keyed);
        uses.tls |= service.serves_rest
            || service.serves_grpc
            || !service.calls_rest.is_empty()
            || !service.calls_grpc.is_empty();
        services.push(service);
    }
    let outboxed: Vec<String> = services.iter_mut().filter_map(keep_outbox).collect();
    for service in &mut services {
        keep_store(service, &outboxed);
        uses.store |= service.store;
        uses.idempotency |= service.keys.any;
        uses.outbox |= service.outbox || service.dedupe;
        // Last: from the whole environment table.
        service.deployment = deployment(service);
    }
    publish_ports(&mut services);
    keep_chains(&mut services);
    let flows_context = recs
        .iter()
        .enumerate()
        .map(|(i, (rec, flow))| flow_context(rec, flow, contract, topics.get(&i)))
        .collect();
    let mut producer_crates: Vec<ServiceRef> = services
        .iter()
        .flat_map(|s| s.producers.iter().cloned())
        .collect();
    producer_crates.sort_by(|a, b| a.name.cmp(&b.name));
    producer_crates.dedup_by(|a, b| a.name == b.name);
    Context {
        system: flows.system.clone(),
        tool_version: env!("CARGO_PKG_VERSION"),
        names: names(contract),
        legacy_proto,
        api,
        contract: contract.clone(),
        uses,
        services,
        idle_services,
        topics: topics.into_values().collect(),
        producer_crates,
        flows: flows_context,
        http_port: HTTP_PORT,
        grpc_port: GRPC_PORT,
        metrics_port: deploy::METRICS_PORT,
        kafka_brokers: KAFKA_BROKERS,
    }
}

fn names(contract: &Contract) -> ContractNames {
    let id_words = contract.id_field.name.replace('_', " ");
    let status = contract.status_field.as_ref().map(|f| f.name.as_str());
    let sample = |id: &str| {
        let fields: serde_json::Map<String, serde_json::Value> = contract
            .response
            .fields
            .iter()
            .map(|field| {
                let value = if field.name == contract.id_field.name {
                    id.into()
                } else if Some(field.name.as_str()) == status {
                    SAMPLE_STATUS.into()
                } else {
                    default_json(&field.kind)
                };
                (field.json_name.clone(), value)
            })
            .collect();
        serde_json::Value::Object(fields).to_string()
    };
    ContractNames {
        client_module: format!("{}_client", snake(&contract.service.name)),
        grpc_service: format!("{}.{}", contract.package, contract.service.proto_name),
        id_arg: id_words.replace(' ', "-"),
        id_words,
        response_has_more: contract.response.fields.len() > 1 + usize::from(status.is_some()),
        sample_id: SAMPLE_ID,
        sample_event_id: SAMPLE_EVENT_ID,
        sample_status: SAMPLE_STATUS,
        sample_json: sample(SAMPLE_ID),
        sample_event_json: sample(SAMPLE_EVENT_ID),
    }
}

/// What serde writes for a prost field left at its default.
fn default_json(kind: &str) -> serde_json::Value {
    match kind {
        "string" | "bytes" => "".into(),
        "bool" => false.into(),
        "message" => serde_json::Value::Null,
        "double" | "float" => 0.0.into(),
        _ => 0.into(),
    }
}

/// Every Kafka flow by name, in file order (a `BTreeMap` keyed by position).
/// Flows sharing a topic get the largest partition count among them, since
/// the topic is created once.
pub(crate) fn kafka_topics(
    recs: &[(&Recommendation, &Flow)],
    contract: &Contract,
    bound: &BoundContract,
    bindings: &BTreeMap<&str, &FlowBinding>,
) -> BTreeMap<usize, TopicContext> {
    let mut topics: BTreeMap<usize, TopicContext> = recs
        .iter()
        .enumerate()
        .filter(|(_, (rec, _))| rec.transport == Transport::Kafka)
        .map(|(i, (rec, flow))| {
            let binding = bindings.get(flow.name.as_str()).map(|b| &b.binding);
            let event = event_payload(contract, bound, binding, flow.format == Format::Binary);
            (i, topic(rec, flow, event))
        })
        .collect();
    let mut widest: BTreeMap<String, u32> = BTreeMap::new();
    for t in topics.values() {
        let p = widest.entry(t.topic.clone()).or_default();
        *p = (*p).max(t.partitions);
    }
    for t in topics.values_mut() {
        t.partitions = widest[&t.topic];
    }
    topics
}

/// The positions of the flows each service sends or receives, in file order,
/// once each: one pass over the flows instead of one per service.
fn flows_by_service(flows: &[Flow]) -> BTreeMap<&str, Vec<usize>> {
    let mut by_service: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, flow) in flows.iter().enumerate() {
        for name in std::iter::once(&flow.from).chain(&flow.to) {
            let own = by_service.entry(name.as_str()).or_default();
            if own.last() != Some(&i) {
                own.push(i);
            }
        }
    }
    by_service
}

/// One service's part of the context. `own` lists the positions of the flows
/// naming it (see [`flows_by_service`]).
fn service(
    name: &str,
    description: Option<String>,
    own: &[usize],
    recs: &[(&Recommendation, &Flow)],
    topics: &BTreeMap<usize, TopicContext>,
    callees: &Callees,
) -> ServiceContext {
    let mut s = ServiceContext {
        name: name.to_owned(),
        ident: snake(name),
        pascal: pascal(name),
        description,
        summary: String::new(),
        serves_rest: false,
        serves_grpc: false,
        handles: false,
        rest_flows: Vec::new(),
        grpc_flows: Vec::new(),
        browser_flows: Vec::new(),
        produces: Vec::new(),
        consumes: Vec::new(),
        consumed_topics: Vec::new(),
        topics: Vec::new(),
        kafka: KafkaUse::default(),
        calls_rest: Vec::new(),
        calls_grpc: Vec::new(),
        rest_targets: Vec::new(),
        grpc_targets: Vec::new(),
        called_flows: Vec::new(),
        producers: Vec::new(),
        api: ServedApi::default(),
        keys: KeptKeys::default(),
        outbox: false,
        outbox_route: None,
        outbox_grpc: None,
        dedupe: false,
        store: false,
        serve_text: String::new(),
        env: Vec::new(),
        usage_env: String::new(),
        deployment: Deployment::default(),
    };
    for &i in own {
        let (rec, flow) = recs[i];
        let (receives, sends) = sides(flow, rec.transport, name);
        let served = || ServedFlow {
            flow: flow.name.clone(),
            from: flow.from.clone(),
            latency_ms: flow.latency_ms,
        };
        match rec.transport {
            Transport::Rest => {
                if receives {
                    s.rest_flows.push(served());
                    if flow.client == Client::Browser {
                        s.browser_flows.push(flow.name.clone());
                    }
                }
                if sends {
                    let called = called_flow(flow, Transport::Rest, keyed(rec), callees);
                    s.calls_rest.extend(called.calls.iter().cloned());
                    s.called_flows.push(called);
                }
            }
            Transport::Grpc => {
                if receives {
                    s.grpc_flows.push(served());
                }
                if sends {
                    let called = called_flow(flow, Transport::Grpc, keyed(rec), callees);
                    s.calls_grpc.extend(called.calls.iter().cloned());
                    s.called_flows.push(called);
                }
            }
            Transport::Kafka => {
                let topic = &topics[&i];
                if sends {
                    s.produces.push(topic.clone());
                }
                if receives {
                    s.consumes.push(topic.clone());
                }
            }
        }
    }
    s.serves_rest = !s.rest_flows.is_empty();
    s.serves_grpc = !s.grpc_flows.is_empty();
    s.handles = s.serves_rest || s.serves_grpc || !s.consumes.is_empty();
    s.rest_targets = targets(&s.called_flows, Transport::Rest, HTTP_PORT);
    s.grpc_targets = targets(&s.called_flows, Transport::Grpc, GRPC_PORT);
    s.kafka = KafkaUse {
        idempotent: s.produces.iter().any(|t| !t.exactly_once),
        transactional: s.produces.iter().any(|t| t.exactly_once),
        read_committed: s.consumes.iter().any(|t| t.exactly_once),
        consume_produce: !s.consumes.is_empty() && s.produces.iter().any(|t| t.exactly_once),
    };
    group_kafka(&mut s);
    s.summary = summary(&s);
    s.serve_text = serve_text(&s);
    s
}

/// Sets where `s` takes idempotency keys, from the routes and methods it
/// serves.
fn keep_keys(s: &mut ServiceContext) {
    let rest = s.api.rest_routes.iter().any(|r| r.keyed_flow.is_some());
    let grpc = s
        .api
        .grpc_services
        .iter()
        .any(|g| !g.keyed_methods.is_empty());
    s.keys = KeptKeys {
        rest,
        grpc,
        any: rest || grpc,
    };
}

/// Decides whether `s` announces its first produced event (the one its
/// example handlers announce) through the transactional outbox, and returns
/// that event flow when it does. It does when it serves a call that changes
/// state (see `Handler::changes_state`) and that event must arrive
/// (`delivery` at-least-once or exactly-once) or the report resolves a flow
/// it serves with
/// [`EDGE_OUTBOX`](crate::scaffold::served::EDGE_OUTBOX): publishing after the commit would lose the event in a
/// crash between the two. Those handlers' examples write the event on their
/// transaction; the others keep publishing directly.
fn keep_outbox(s: &mut ServiceContext) -> Option<String> {
    let event = s.produces.first_mut()?;
    let named = s.api.handlers.iter().any(|h| h.outbox_named);
    let reliable = event.delivery != Delivery::AtMostOnce.to_string();
    let changing = s.api.handlers.iter().any(|h| h.changes_state);
    if !(changing && (reliable || named)) {
        return None;
    }
    event.outbox = true;
    for handler in &mut s.api.handlers {
        handler.outbox = handler.changes_state;
    }
    s.outbox = true;
    let module = s.api.handlers.iter().find(|h| h.outbox).map(|h| &h.module);
    s.outbox_route = s
        .api
        .rest_routes
        .iter()
        .find(|r| r.kind == "unary" && Some(&r.handler) == module)
        .cloned();
    if s.outbox_route.is_none() {
        s.outbox_grpc = s
            .api
            .grpc_calls
            .iter()
            .find(|c| c.method.handler.as_ref() == module)
            .cloned();
    }
    Some(event.flow.clone())
}

/// Gives the example of every handler of a service that changes state
/// (unary, with an id in its request) the service's first unary call of
/// another service whose request has an id too, made with the handler's:
/// the path a request takes through the services it depends on, which the
/// system test follows in one trace. One hop only: a callee that would call
/// on in turn gets no such call from its caller's examples, so a cycle of
/// calls (or a service calling itself) never makes examples call each
/// other without end.
fn keep_chains(services: &mut [ServiceContext]) {
    let calls: Vec<Option<ExampleCall>> =
        services.iter().map(|s| example_call(s, services)).collect();
    let calling: BTreeSet<String> = services
        .iter()
        .zip(&calls)
        .filter(|(_, call)| call.is_some())
        .map(|(s, _)| s.name.clone())
        .collect();
    for (service, call) in services.iter_mut().zip(calls) {
        let Some(call) = call else { continue };
        if call.target == service.name || calling.contains(&call.target) {
            continue;
        }
        for handler in &mut service.api.handlers {
            if handler.kind == "unary" && handler.changes_state && handler.id_field.is_some() {
                handler.call = Some(call.clone());
            }
        }
    }
}

/// The first unary call `s` makes whose request has an id field, with the
/// name of the callee's server span (`runtime::trace`).
fn example_call(s: &ServiceContext, services: &[ServiceContext]) -> Option<ExampleCall> {
    let (flow, call) = s
        .called_flows
        .iter()
        .filter(|f| !f.streaming)
        .flat_map(|f| f.calls.iter().map(move |c| (f, c)))
        .find(|(_, c)| c.rpc.id_field.is_some())?;
    let clients = match flow.transport {
        Transport::Rest => "rest_clients",
        _ => "grpc_clients",
    };
    let span = server_span(services, call, flow.transport)?;
    Some(ExampleCall {
        flow: call.flow.clone(),
        target: call.target.clone(),
        clients: clients.to_owned(),
        client: call.client.clone(),
        method: call.rpc.method.clone(),
        sample: format!("{}_request", call.rpc.method.trim_start_matches("r#")),
        out_field: call.out_field.clone(),
        span,
    })
}

/// The name of the span the callee of `call` (made over `transport`) serves
/// it in (`runtime::trace`): `POST /v1/orders` (the method and axum's route
/// template) or `shop.v1.OrderService/GetOrder`.
pub(crate) fn server_span(
    services: &[ServiceContext],
    call: &CallContext,
    transport: Transport,
) -> Option<String> {
    if transport != Transport::Rest {
        return Some(call.rpc.full_name.clone());
    }
    let callee = services.iter().find(|t| t.name == call.target)?;
    let api = &callee.api;
    let handler = api.handlers.iter().find(|h| h.rpc == call.rpc.full_name)?;
    let route = api
        .rest_routes
        .iter()
        .find(|r| r.handler == handler.module && r.path == call.rpc.route.path)?;
    Some(format!("{} {}", route.verb, route.axum_path))
}

/// Marks the consumers of the `outboxed` event flows, decides whether `s`
/// has a database, and adds `DATABASE_URL` to its environment when it does.
fn keep_store(s: &mut ServiceContext, outboxed: &[String]) {
    for event in s.consumes.iter_mut().chain(&mut s.produces) {
        event.outbox = outboxed.contains(&event.flow);
    }
    for topic in &mut s.consumed_topics {
        for event in &mut topic.flows {
            event.outbox = outboxed.contains(&event.flow);
        }
    }
    s.dedupe = s.consumes.iter().any(|t| t.outbox);
    s.store = s.keys.any || s.outbox || s.dedupe;
    if !s.store {
        return;
    }
    let kept: Vec<&str> = [
        (s.keys.any, "idempotency records"),
        (s.outbox, "outbox"),
        (s.dedupe, "handled event ids"),
    ]
    .into_iter()
    .filter_map(|(kept, what)| kept.then_some(what))
    .collect();
    // After the listen addresses, before Kafka and the callees.
    let at = s
        .env
        .iter()
        .position(|v| !v.name.ends_with("_ADDR"))
        .unwrap_or(s.env.len());
    s.env.insert(
        at,
        EnvVar {
            name: "DATABASE_URL".to_owned(),
            purpose: format!("{} (or postgres://)", kept.join(", ")),
            default: default_database_url(&s.name),
        },
    );
    s.usage_env = usage_env(&s.env);
}

/// Where `s` listens and what it reads in a container ([`deploy`]).
fn deployment(s: &ServiceContext) -> Deployment {
    let peers = s
        .rest_targets
        .iter()
        .map(|t| (t.env.as_str(), t.name.as_str(), false))
        .chain(
            s.grpc_targets
                .iter()
                .map(|t| (t.env.as_str(), t.name.as_str(), true)),
        )
        .collect();
    deploy::deployment(&deploy::Facts {
        name: &s.name,
        ident: &s.ident,
        store: s.store,
        serves_grpc: s.serves_grpc,
        http_port: HTTP_PORT,
        grpc_port: GRPC_PORT,
        env: s
            .env
            .iter()
            .map(|v| (v.name.as_str(), v.purpose.as_str(), v.default.as_str()))
            .collect(),
        peers,
    })
}

/// Numbers the host ports compose publishes for the services that serve
/// REST or gRPC, in name order from the documented defaults up: the first
/// gets 5000 and 50051, as with `cargo run`. The others need no port on the
/// host: compose probes them inside their containers.
fn publish_ports(services: &mut [ServiceContext]) {
    let (mut http, mut grpc) = (HTTP_PORT, GRPC_PORT);
    for s in services
        .iter_mut()
        .filter(|s| s.serves_rest || s.serves_grpc)
    {
        s.deployment.host_http_port = Some(http);
        http += 1;
        if s.serves_grpc {
            s.deployment.host_grpc_port = Some(grpc);
            grpc += 1;
        }
    }
}

/// The default `DATABASE_URL` of `service`: a `SQLite` file in its data
/// folder, relative to where it runs.
pub fn default_database_url(service: &str) -> String {
    format!("sqlite://data/{service}.db")
}

/// `env` as aligned lines for `--help`.
fn usage_env(env: &[EnvVar]) -> String {
    // The Kafka security settings beside the protocol would double the
    // table's width: `--help` names them as a group, the README lists them.
    let env: Vec<&EnvVar> = env
        .iter()
        .filter(|v| !(v.name.starts_with("KAFKA_SASL_") || v.name.starts_with("KAFKA_SSL_")))
        .collect();
    // In characters, as `format!` pads.
    let width = |text: &str| text.chars().count();
    let name_width = env.iter().map(|v| width(&v.name)).max().unwrap_or(0);
    let purpose_width = env.iter().map(|v| width(&v.purpose)).max().unwrap_or(0);
    env.iter()
        .map(|v| {
            format!(
                "  {:name_width$}  {:purpose_width$}  (default {})",
                v.name, v.purpose, v.default
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The deadline of a REST call without a `latency_ms`.
const REST_DEADLINE_MS: u64 = 1000;
/// The deadline of a gRPC call without a `latency_ms`.
const GRPC_DEADLINE_MS: u64 = 200;

/// Whether `name` serves `flow` and whether it calls (or produces) it. A
/// stream over REST or gRPC is served by its sender (SPEC §7).
fn sides(flow: &Flow, transport: Transport, name: &str) -> (bool, bool) {
    let to = flow.to.iter().any(|t| t == name);
    let from = flow.from == name;
    if flow.interaction == Interaction::Stream && transport != Transport::Kafka {
        (from, to)
    } else {
        (to, from)
    }
}

fn called_flow(flow: &Flow, transport: Transport, keyed: bool, callees: &Callees) -> CalledFlow {
    let (suffix, default_deadline) = match transport {
        Transport::Grpc => ("GRPC_URL", GRPC_DEADLINE_MS),
        _ => ("HTTP_URL", REST_DEADLINE_MS),
    };
    let shouty = snake(&flow.name).to_ascii_uppercase();
    let deadline_ms = flow.latency_ms.unwrap_or(default_deadline);
    let deadline_env = format!("{shouty}_DEADLINE_MS");
    let deadline_rust = duration_rust(deadline_ms);
    let mut calls = calls(flow, suffix, deadline_ms, &deadline_env, callees);
    let several = calls.len() > 1;
    for call in &mut calls {
        call.deadline_rust.clone_from(&deadline_rust);
        call.out_field = if several {
            format!("{}_{}", call.flow_ident, call.target_ident)
        } else {
            call.flow_ident.clone()
        };
    }
    let explain: Vec<String> = calls
        .iter()
        .map(|c| match transport {
            Transport::Grpc => format!("`{}` on {}", c.rpc.full_name, c.target),
            _ => format!(
                "`{} {}` on {}",
                c.rpc.route.method, c.rpc.route.path, c.target
            ),
        })
        .collect();
    CalledFlow {
        flow: flow.name.clone(),
        flow_pascal: pascal(&flow.name),
        flow_shouty: shouty,
        transport,
        explain: and_list(&explain),
        streaming: calls.iter().any(|c| c.rpc.streaming),
        latency_ms: flow.latency_ms,
        // A stream's answer is not stored: its calls carry no key.
        keyed: keyed && !calls.iter().any(|c| c.rpc.streaming),
        deadline_ms,
        deadline_env,
        deadline_rust,
        calls,
    }
}

/// Groups the consumed flows by topic, lists the producers feeding this
/// service's consumer tests, and the topics it creates (once each).
fn group_kafka(s: &mut ServiceContext) {
    // Position of each topic in `consumed_topics`, and the producers already
    // listed: a service consuming many flows stays linear in them.
    let mut consumed_at: BTreeMap<&str, usize> = BTreeMap::new();
    let mut producers: BTreeSet<&str> = BTreeSet::new();
    for t in &s.consumes {
        if let Some(&at) = consumed_at.get(t.topic.as_str()) {
            let consumed = &mut s.consumed_topics[at];
            consumed.shared = true;
            consumed.flows.push(t.clone());
        } else {
            consumed_at.insert(&t.topic, s.consumed_topics.len());
            s.consumed_topics.push(ConsumedTopic {
                topic: t.topic.clone(),
                module: t.flow_ident.clone(),
                shared: false,
                flows: vec![t.clone()],
            });
        }
        if t.from != s.name && producers.insert(&t.from) {
            s.producers.push(ServiceRef {
                name: t.from.clone(),
                ident: t.from_ident.clone(),
            });
        }
    }
    s.producers.sort_by(|a, b| a.name.cmp(&b.name));
    let mut created: BTreeSet<&str> = BTreeSet::new();
    for t in s.produces.iter().chain(&s.consumes) {
        if created.insert(&t.topic) {
            s.topics.push(TopicRef {
                topic: t.topic.clone(),
                module: t.flow_ident.clone(),
            });
        }
    }
}

/// `serve REST and gRPC`, `consume order-events (group analytics) and
/// answer /livez and /readyz`, `run its tasks and answer /livez and /readyz`, …
fn serve_text(s: &ServiceContext) -> String {
    let mut serve = Vec::new();
    if s.serves_rest {
        serve.push("REST".to_owned());
    }
    if s.serves_grpc {
        serve.push("gRPC".to_owned());
    }
    let mut parts = Vec::new();
    if !serve.is_empty() {
        parts.push(format!("serve {}", and_list(&serve)));
    }
    if !s.consumed_topics.is_empty() {
        let topics: Vec<String> = s.consumed_topics.iter().map(|t| t.topic.clone()).collect();
        parts.push(format!("consume {} (group {})", and_list(&topics), s.name));
    }
    if !s.handles {
        parts.push("run its tasks".to_owned());
    }
    // The REST API answers its probes itself; any other service listens on
    // HTTP_ADDR for them alone.
    if !s.serves_rest {
        parts.push("answer /livez and /readyz".to_owned());
    }
    and_list(&parts)
}

/// One row of a service's environment table.
fn var(name: &str, purpose: &str, default: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        purpose: purpose.to_owned(),
        default: default.to_owned(),
    }
}

fn env(s: &ServiceContext) -> Vec<EnvVar> {
    let mut vars = Vec::new();
    // A service without a REST API listens for its probes alone, on any free
    // port unless told: several of them then run side by side on one
    // machine; a deployment, whose probes need a fixed port, sets it.
    if s.serves_rest {
        vars.push(var(
            "HTTP_ADDR",
            "REST listen address",
            &format!("0.0.0.0:{HTTP_PORT}"),
        ));
    } else {
        vars.push(var(
            "HTTP_ADDR",
            "/livez and /readyz listen address",
            "0.0.0.0:0",
        ));
    }
    if !s.browser_flows.is_empty() {
        vars.push(var(
            "CORS_ALLOWED_ORIGINS",
            "web origins allowed to call, comma-separated, or *",
            "unset: none",
        ));
    }
    if s.serves_grpc {
        vars.push(var(
            "GRPC_ADDR",
            "gRPC listen address",
            &format!("0.0.0.0:{GRPC_PORT}"),
        ));
    }
    if !s.produces.is_empty() || !s.consumes.is_empty() {
        vars.push(var("KAFKA_BROKERS", "Kafka bootstrap list", KAFKA_BROKERS));
        vars.push(var(
            "KAFKA_REPLICATION",
            "replication of created topics",
            "1",
        ));
    }
    if !s.produces.is_empty() || !s.consumes.is_empty() {
        vars.extend(KAFKA_SECURITY_VARS.iter().map(|(n, p, d)| var(n, p, d)));
    }
    if !s.consumes.is_empty() {
        vars.push(var(
            "KAFKA_CONSUMER_CONCURRENCY",
            "events handled at once (lanes by key)",
            "16",
        ));
    }
    if !s.produces.is_empty() {
        vars.push(var("KAFKA_LINGER_MS", "batching delay of events, ms", "5"));
        vars.push(var("KAFKA_COMPRESSION", "codec of event batches", "lz4"));
    }
    if s.kafka.transactional {
        vars.push(var(
            "KAFKA_TRANSACTIONAL_ID",
            "exactly-once producer id",
            &format!("{}-<host name>", s.name),
        ));
    }
    for t in &s.rest_targets {
        vars.push(var(
            &t.env,
            &format!("base URL of the {} REST API", t.name),
            &t.default_url,
        ));
    }
    for t in &s.grpc_targets {
        vars.push(var(
            &t.env,
            &format!("URL of the {} gRPC server", t.name),
            &t.default_url,
        ));
    }
    for f in &s.called_flows {
        vars.push(var(
            &f.deadline_env,
            &format!("deadline of a {} call, ms", f.flow),
            &f.deadline_ms.to_string(),
        ));
    }
    for h in &s.api.handlers {
        if let Some(ms) = h.budget_ms {
            let method = h.rpc.rsplit('/').next().unwrap_or(&h.rpc);
            vars.push(var(
                &h.budget_env,
                &format!("server budget of {method}, ms"),
                &ms.to_string(),
            ));
        }
    }
    vars.extend(tls_env(s));
    vars.extend(TELEMETRY_VARS.iter().map(|(n, p, d)| var(n, p, d)));
    vars
}

/// The TLS variables of a service that serves or calls (`runtime::tls`).
fn tls_env(s: &ServiceContext) -> Vec<EnvVar> {
    let mut vars = Vec::new();
    let serves = s.serves_rest || s.serves_grpc;
    let calls = !s.calls_rest.is_empty() || !s.calls_grpc.is_empty();
    if serves || calls {
        let cert = match (serves, calls) {
            (true, true) => "PEM certificate chain: TLS served, shown to peers",
            (true, false) => "PEM certificate chain: TLS served",
            _ => "PEM certificate chain shown to https:// peers",
        };
        vars.push(var("TLS_CERT", cert, "unset: plaintext"));
        vars.push(var("TLS_KEY", "PEM private key of TLS_CERT", "unset"));
    }
    if serves {
        vars.push(var(
            "TLS_CLIENT_CA",
            "PEM CAs of callers (mutual TLS)",
            "unset: no client certificate",
        ));
    }
    if calls {
        vars.push(var(
            "TLS_CA",
            "PEM CAs trusted for https:// peers",
            "unset: Mozilla's roots",
        ));
    }
    vars
}

/// How every Kafka client connects (`runtime::kafka::Security`): name,
/// purpose, default.
const KAFKA_SECURITY_VARS: [(&str, &str, &str); 9] = [
    (
        "KAFKA_SECURITY_PROTOCOL",
        "ssl or sasl_ssl, with KAFKA_SASL_*, KAFKA_SSL_*",
        "plaintext",
    ),
    (
        "KAFKA_SASL_MECHANISM",
        "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
        "unset",
    ),
    ("KAFKA_SASL_USERNAME", "SASL user", "unset"),
    ("KAFKA_SASL_PASSWORD", "SASL password", "unset"),
    (
        "KAFKA_SSL_CA_LOCATION",
        "PEM CAs of the brokers",
        "unset: the system's CA bundle",
    ),
    (
        "KAFKA_SSL_CERTIFICATE_LOCATION",
        "PEM client certificate (mutual TLS)",
        "unset",
    ),
    (
        "KAFKA_SSL_KEY_LOCATION",
        "PEM key of that certificate",
        "unset",
    ),
    ("KAFKA_SSL_KEY_PASSWORD", "password of that key", "unset"),
    (
        "KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM",
        "https (check the broker's name) or none",
        "https",
    ),
];

/// What every service reads for its metrics, logs and traces, last in its
/// `--help`: name, purpose, default.
const TELEMETRY_VARS: [(&str, &str, &str); 4] = [
    (
        "METRICS_ADDR",
        "/metrics listen address",
        "unset: on HTTP_ADDR",
    ),
    ("LOG_FORMAT", "log lines: text or json", "text"),
    (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTLP/gRPC collector of the traces",
        "unset: no traces",
    ),
    ("RUST_LOG", "log filter", "info"),
];

/// "serves flow `get-order` over REST, …, and consumes flow `x` from Kafka".
fn summary(s: &ServiceContext) -> String {
    let flows = |names: Vec<&str>| {
        let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        let noun = if quoted.len() == 1 { "flow" } else { "flows" };
        format!("{noun} {}", and_list(&quoted))
    };
    let unique = |calls: &[CallContext]| -> Vec<String> {
        let mut seen = BTreeSet::new();
        calls
            .iter()
            .filter(|c| seen.insert(c.flow.as_str()))
            .map(|c| c.flow.clone())
            .collect()
    };
    let mut parts = Vec::new();
    if s.serves_rest {
        let names = s.rest_flows.iter().map(|f| f.flow.as_str()).collect();
        parts.push(format!("serves {} over REST", flows(names)));
    }
    if s.serves_grpc {
        let names = s.grpc_flows.iter().map(|f| f.flow.as_str()).collect();
        parts.push(format!("serves {} over gRPC", flows(names)));
    }
    if !s.calls_rest.is_empty() {
        let names = unique(&s.calls_rest);
        parts.push(format!(
            "calls {} over REST",
            flows(names.iter().map(String::as_str).collect())
        ));
    }
    if !s.calls_grpc.is_empty() {
        let names = unique(&s.calls_grpc);
        parts.push(format!(
            "calls {} over gRPC",
            flows(names.iter().map(String::as_str).collect())
        ));
    }
    if !s.produces.is_empty() {
        let names = s.produces.iter().map(|t| t.flow.as_str()).collect();
        parts.push(format!("produces {} to Kafka", flows(names)));
    }
    if !s.consumes.is_empty() {
        let names = s.consumes.iter().map(|t| t.flow.as_str()).collect();
        parts.push(format!(
            "consumes {} from Kafka (consumer group `{}`)",
            flows(names),
            s.name
        ));
    }
    and_list(&parts)
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// One call per service the flow goes to (a stream's one sender, since its
/// receivers open it), with the rpc each serves it with; a service the
/// contract binds no rpc to is left out.
fn calls(
    flow: &Flow,
    suffix: &str,
    deadline_ms: u64,
    deadline_env: &str,
    callees: &Callees,
) -> Vec<CallContext> {
    let targets = if flow.interaction == Interaction::Stream {
        std::slice::from_ref(&flow.from)
    } else {
        flow.to.as_slice()
    };
    targets
        .iter()
        .filter_map(|target| {
            Some(CallContext {
                rpc: callees.rpc(&flow.name, target)?,
                flow: flow.name.clone(),
                flow_ident: snake(&flow.name),
                flow_pascal: pascal(&flow.name),
                flow_shouty: snake(&flow.name).to_ascii_uppercase(),
                target: target.clone(),
                target_ident: snake(target),
                client: format!("{}Client", pascal(target)),
                policies: format!("{}Policies", pascal(target)),
                env: format!("{}_{suffix}", snake(target).to_ascii_uppercase()),
                field: format!("{}_{}", snake(target), suffix.to_ascii_lowercase()),
                latency_ms: flow.latency_ms,
                throughput: flow.throughput,
                deadline_ms,
                deadline_env: deadline_env.to_owned(),
                deadline_rust: String::new(),
                out_field: String::new(),
            })
        })
        .collect()
}

/// The services called over `transport`, each with the rpcs called on it
/// (once each, in file order).
fn targets(called: &[CalledFlow], transport: Transport, port: u16) -> Vec<TargetContext> {
    let mut at: BTreeMap<&str, usize> = BTreeMap::new();
    let mut targets: Vec<TargetContext> = Vec::new();
    for flow in called.iter().filter(|f| f.transport == transport) {
        for call in &flow.calls {
            let i = *at.entry(call.target.as_str()).or_insert_with(|| {
                targets.push(TargetContext {
                    name: call.target.clone(),
                    ident: call.target_ident.clone(),
                    client: call.client.clone(),
                    policies: call.policies.clone(),
                    env: call.env.clone(),
                    field: call.field.clone(),
                    default_url: format!("http://localhost:{port}"),
                    methods: Vec::new(),
                    unary: None,
                    stream: None,
                });
                targets.len() - 1
            });
            let target = &mut targets[i];
            if !target
                .methods
                .iter()
                .any(|m| m.rpc.method == call.rpc.method)
            {
                target.methods.push(call.clone());
                let first = if call.rpc.streaming {
                    &mut target.stream
                } else {
                    &mut target.unary
                };
                first.get_or_insert_with(|| call.clone());
            }
        }
    }
    targets.sort_by(|a, b| a.name.cmp(&b.name));
    targets
}

fn topic(rec: &Recommendation, flow: &Flow, event: EventPayload) -> TopicContext {
    let sizing = rec
        .kafka
        .clone()
        .unwrap_or_else(|| crate::engine::evaluate::size_topic(flow));
    TopicContext {
        flow: flow.name.clone(),
        flow_ident: snake(&flow.name),
        flow_pascal: pascal(&flow.name),
        topic: sizing.topic,
        partitions: sizing.partitions,
        replication: sizing.replication,
        exactly_once: flow.delivery == Delivery::ExactlyOnce,
        outbox: false,
        delivery: flow.delivery.to_string(),
        replay: flow.replay,
        from: flow.from.clone(),
        from_ident: snake(&flow.from),
        to_text: and_list(&flow.to),
        description: flow.description.as_deref().map(one_line),
        event,
    }
}

/// The message a Kafka flow carries, with the field keying its records: an
/// event's bound message and key; a request-response flow's rpc request,
/// keyed by its first id field (or its first scalar field).
fn event_message(
    bound: &BoundContract,
    binding: &Binding,
) -> Option<(
    prost_reflect::MessageDescriptor,
    prost_reflect::FieldDescriptor,
)> {
    match binding {
        Binding::Message { message, key } => {
            let message = bound.pool.get_message_by_name(message)?;
            let key = message.get_field_by_name(key)?;
            Some((message, key))
        }
        // A request-response flow sent over Kafka carries its rpc's request,
        // keyed by its first id field (or its first scalar field).
        Binding::Rpc { served } => {
            let (service, method) = served.first()?.rpc.split_once('/')?;
            let message = bound
                .pool
                .get_service_by_name(service)?
                .methods()
                .find(|m| m.name() == method)?
                .input();
            let scalar = |f: &prost_reflect::FieldDescriptor| {
                !f.is_list() && !f.is_map() && !matches!(f.kind(), prost_reflect::Kind::Message(_))
            };
            let key = message
                .fields()
                .find(|f| scalar(f) && f.name().ends_with("_id"))
                .or_else(|| message.fields().find(|f| scalar(f)))?;
            Some((message, key))
        }
    }
}

/// How an event flow's records carry the message its binding names, keyed
/// by the bound field. A flow the recommendation sends over Kafka without
/// being an event (it binds an rpc) carries the rpc's request, keyed by its
/// first id field; the seed's response only when that request has no scalar
/// field to key it.
fn event_payload(
    contract: &Contract,
    bound: &BoundContract,
    binding: Option<&Binding>,
    binary: bool,
) -> EventPayload {
    let bound_message = binding.and_then(|b| event_message(bound, b));
    let (message, message_proto, fields, key): (String, String, Vec<EventField>, String) =
        if let Some((message, key)) = bound_message {
            let fields = message
                .fields()
                .map(|f| EventField {
                    name: f.name().to_owned(),
                    json_name: f.json_name().to_owned(),
                    kind: scalar_kind(&f),
                })
                .collect();
            (
                rust_path(&message),
                message.full_name().to_owned(),
                fields,
                key.name().to_owned(),
            )
        } else {
            let fields = contract
                .response
                .fields
                .iter()
                .map(|f| EventField {
                    name: f.name.clone(),
                    json_name: f.json_name.clone(),
                    kind: f.kind.clone(),
                })
                .collect();
            (
                format!("{}::{}", contract.package, contract.response.name),
                format!("{}.{}", contract.package, contract.response.proto_name),
                fields,
                contract.id_field.name.clone(),
            )
        };
    let key_kind = fields
        .iter()
        .find(|f| f.name == key)
        .map_or("string", |f| f.kind.as_str());
    let status = fields
        .iter()
        .find(|f| f.name == "status" && f.kind == "string" && f.name != key);
    // In field order, as pbjson writes them; default values are left out.
    let sample: Vec<String> = fields
        .iter()
        .filter_map(|field| {
            let value = if field.name == key {
                SAMPLE_EVENT_ID
            } else if status.is_some_and(|s| s.name == field.name) {
                SAMPLE_STATUS
            } else {
                return None;
            };
            Some(format!(
                "{}:{}",
                serde_json::Value::from(field.json_name.as_str()),
                serde_json::Value::from(value)
            ))
        })
        .collect();
    EventPayload {
        message,
        message_proto,
        key_field: to_snake(&key),
        key_kind: match key_kind {
            "string" => "string",
            "bytes" => "bytes",
            _ => "parsed",
        },
        sample_key: match key_kind {
            "string" | "bytes" => SAMPLE_EVENT_ID,
            "bool" => "true",
            _ => "42",
        },
        sample_json: (key_kind == "string").then(|| format!("{{{}}}", sample.join(","))),
        status_field: status.map(|s| to_snake(&s.name)),
        has_more: fields.len() > 1 + usize::from(status.is_some()),
        key_proto: key,
        binary,
        content_type: if binary {
            "application/x-protobuf"
        } else {
            "application/json"
        },
    }
}

/// A field of an event's message, as [`event_payload`] needs it.
struct EventField {
    name: String,
    json_name: String,
    /// `string`, `bytes`, `bool`, a number kind, or `message` / `enum`.
    kind: String,
}

/// The proto type of `field` as the seed contract's `Field::kind` names it.
fn scalar_kind(field: &prost_reflect::FieldDescriptor) -> String {
    use prost_reflect::Kind;
    if field.is_list() || field.is_map() {
        return "repeated".to_owned();
    }
    match field.kind() {
        Kind::String => "string",
        Kind::Bytes => "bytes",
        Kind::Bool => "bool",
        Kind::Message(_) => "message",
        Kind::Enum(_) => "enum",
        _ => "number",
    }
    .to_owned()
}

/// A row of the README's table. `topic` is the flow's own topic, for a Kafka
/// flow.
fn flow_context(
    rec: &Recommendation,
    flow: &Flow,
    contract: &Contract,
    topic: Option<&TopicContext>,
) -> FlowContext {
    let carrier = match rec.transport {
        Transport::Rest => format!("`GET /{}/{{id}}`", contract.resource),
        Transport::Grpc => format!(
            "`{}.{}/{}`",
            contract.package, contract.service.proto_name, contract.method.proto_name
        ),
        Transport::Kafka => {
            let t = topic.expect("every Kafka flow has a topic");
            format!(
                "topic `{}`, key = {}, {} partitions",
                t.topic,
                contract.id_field.name.replace('_', " "),
                t.partitions
            )
        }
    };
    FlowContext {
        name: rec.name.clone(),
        from: rec.from.clone(),
        to: rec.to.clone(),
        transport: rec.transport,
        pinned: rec.pinned,
        description: flow.description.as_deref().map(one_line),
        carrier,
        reasons: rec
            .reasons
            .iter()
            .take(3)
            .map(|r| format!("{} ({}): {}", r.rule, r.criterion, first_sentence(&r.text)))
            .collect(),
        risks: rec
            .risks
            .iter()
            .map(|r| format!("{}: {}", r.id, first_sentence(&r.text)))
            .collect(),
        conflicts: rec
            .conflicts
            .iter()
            .map(|c| format!("{}: {}", c.id, c.text))
            .collect(),
    }
}

/// A description on one line, so that it fits in a `///` comment or a table
/// cell whatever YAML block style it was written in.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn first_sentence(text: &str) -> String {
    match text.find(". ") {
        Some(i) => text[..=i].to_owned(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{and_list, flows_by_service};

    #[test]
    fn flows_by_service_lists_each_flow_once_per_service_in_file_order() {
        let flows = crate::spec::load_str(
            "flows.ordersml",
            "version: 1\nsystem: s\nflows:\n\
             - name: a\n  from: web\n  to: [orders, billing]\n\
             - name: b\n  from: orders\n  to: web\n\
             - name: c\n  from: billing\n  to: audit\n",
        )
        .expect("valid flows");
        let by_service = flows_by_service(&flows.flows);
        let own = |name: &str| by_service.get(name).cloned().unwrap_or_default();
        assert_eq!(own("web"), [0, 1]);
        assert_eq!(own("orders"), [0, 1]);
        assert_eq!(own("billing"), [0, 2]);
        assert_eq!(own("audit"), [2]);
        assert_eq!(own("idle"), Vec::<usize>::new());
    }

    /// The calls the example handlers of `service` make, by handler.
    fn example_calls(context: &super::Context, service: &str) -> Vec<(String, Option<String>)> {
        let s = context.services.iter().find(|s| s.name == service).unwrap();
        let calls = s.api.handlers.iter();
        calls
            .map(|h| (h.module.clone(), h.call.as_ref().map(|c| c.flow.clone())))
            .collect()
    }

    #[test]
    fn examples_call_one_hop_on_and_never_round_a_cycle() {
        let flow = |name: &str, from: &str, to: &str| {
            format!(
                "  - name: {name}\n    description: x\n    from: {from}\n    to: {to}\n    \
                 latency_ms: 10\n    contract: strict\n"
            )
        };
        // book-trip (edge → trips) calls on: trips' example asks hotels.
        let chain = format!(
            "version: 1\nsystem: travel\nflows:\n{}{}",
            flow("book-trip", "web", "trips"),
            flow("reserve-room", "trips", "hotels")
        );
        let context = crate::scaffold::prepared(&chain);
        let trips = example_calls(&context, "trips");
        assert!(
            trips
                .iter()
                .any(|(_, call)| call.as_deref() == Some("reserve-room")),
            "{trips:?}"
        );
        assert!(
            example_calls(&context, "hotels")
                .iter()
                .all(|(_, c)| c.is_none())
        );
        // ask-b and ask-a call each other: neither example calls.
        let cycle = format!(
            "version: 1\nsystem: loop\nflows:\n{}{}",
            flow("ask-b", "alpha", "beta"),
            flow("ask-a", "beta", "alpha")
        );
        let context = crate::scaffold::prepared(&cycle);
        for service in ["alpha", "beta"] {
            let calls = example_calls(&context, service);
            assert!(
                calls.iter().all(|(_, c)| c.is_none()),
                "{service}: {calls:?}"
            );
        }
    }

    #[test]
    fn and_list_joins_like_prose() {
        let words = |w: &[&str]| w.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(and_list(&words(&[])), "");
        assert_eq!(and_list(&words(&["a"])), "a");
        assert_eq!(and_list(&words(&["a", "b"])), "a and b");
        assert_eq!(and_list(&words(&["a", "b", "c"])), "a, b and c");
    }
}
