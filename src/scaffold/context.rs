//! The one serializable context every template is rendered with: the
//! system, its services and what each one serves, calls, produces and
//! consumes, derived from the recommendations.

use serde::Serialize;

use crate::engine::evaluate::{Recommendation, Report};
use crate::scaffold::contract::{Contract, snake};
use crate::spec::model::{Delivery, FlowsFile, Transport};

/// The SPEC §6 defaults: the article's ports.
pub const HTTP_PORT: u16 = 5000;
pub const GRPC_PORT: u16 = 50051;
pub const KAFKA_BROKERS: &str = "localhost:9092";

#[derive(Debug, Clone, Serialize)]
pub struct Context {
    pub system: String,
    pub tool_version: &'static str,
    pub contract: Contract,
    /// Which transports any service uses: decides workspace dependencies.
    pub uses: Uses,
    pub services: Vec<ServiceContext>,
    pub flows: Vec<FlowContext>,
    pub http_port: u16,
    pub grpc_port: u16,
    pub kafka_brokers: &'static str,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Uses {
    pub rest: bool,
    pub grpc: bool,
    pub kafka: bool,
    /// Some service calls another over REST (needs an HTTP client).
    pub rest_client: bool,
    /// Some Kafka flow is exactly-once (transactional producer).
    pub transactions: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceContext {
    /// Crate, binary and folder name: `orders`.
    pub name: String,
    /// Rust identifier: `orders`.
    pub ident: String,
    pub description: Option<String>,
    pub serves_rest: bool,
    pub serves_grpc: bool,
    /// Kafka flows this service produces.
    pub produces: Vec<TopicContext>,
    /// Kafka flows this service consumes.
    pub consumes: Vec<TopicContext>,
    /// REST flows this service calls.
    pub calls_rest: Vec<CallContext>,
    /// gRPC flows this service calls.
    pub calls_grpc: Vec<CallContext>,
    /// Whether the service runs anything when started without arguments.
    pub runs: bool,
    /// Whether any test needs the Kafka mock cluster.
    pub uses_kafka: bool,
    /// Whether the service needs an HTTP server (REST or only `/healthz`).
    pub needs_http: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TopicContext {
    pub flow: String,
    pub flow_ident: String,
    pub topic: String,
    pub partitions: u32,
    pub replication: u32,
    pub exactly_once: bool,
    /// Producing service.
    pub from: String,
    /// Consuming services.
    pub to: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CallContext {
    pub flow: String,
    pub flow_ident: String,
    /// The service called.
    pub target: String,
    pub target_ident: String,
    /// Env var holding the callee's address: `ORDERS_HTTP_URL`.
    pub env: String,
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
    /// The top reasons, one line each.
    pub reasons: Vec<String>,
    pub risks: Vec<String>,
    pub conflicts: Vec<String>,
}

pub fn build(flows: &FlowsFile, report: &Report, contract: &Contract) -> Context {
    let mut uses = Uses::default();
    let recs: Vec<(&Recommendation, &crate::spec::model::Flow)> =
        report.flows.iter().zip(&flows.flows).collect();
    let services = flows
        .services
        .iter()
        .map(|(name, service)| {
            let mut s = ServiceContext {
                name: name.clone(),
                ident: snake(name),
                description: service.description.clone(),
                serves_rest: false,
                serves_grpc: false,
                produces: Vec::new(),
                consumes: Vec::new(),
                calls_rest: Vec::new(),
                calls_grpc: Vec::new(),
                runs: false,
                uses_kafka: false,
                needs_http: false,
            };
            for (rec, flow) in &recs {
                let receives = flow.to.contains(name);
                let sends = flow.from == *name;
                match rec.transport {
                    Transport::Rest => {
                        s.serves_rest |= receives;
                        if sends {
                            s.calls_rest
                                .extend(flow.to.iter().map(|t| call(flow, t, "HTTP_URL")));
                        }
                    }
                    Transport::Grpc => {
                        s.serves_grpc |= receives;
                        if sends {
                            s.calls_grpc
                                .extend(flow.to.iter().map(|t| call(flow, t, "GRPC_URL")));
                        }
                    }
                    Transport::Kafka => {
                        let topic = topic(rec, flow);
                        if sends {
                            s.produces.push(topic.clone());
                        }
                        if receives {
                            s.consumes.push(topic);
                        }
                    }
                }
            }
            s.runs = s.serves_rest || s.serves_grpc || !s.consumes.is_empty();
            s.uses_kafka = !s.produces.is_empty() || !s.consumes.is_empty();
            s.needs_http = s.serves_rest;
            uses.rest |= s.serves_rest;
            uses.grpc |= s.serves_grpc || !s.calls_grpc.is_empty();
            uses.kafka |= s.uses_kafka;
            uses.rest_client |= !s.calls_rest.is_empty();
            uses.transactions |= s.produces.iter().any(|t| t.exactly_once);
            s
        })
        .collect();
    let flows_context = recs
        .iter()
        .map(|(rec, flow)| FlowContext {
            name: rec.name.clone(),
            from: rec.from.clone(),
            to: rec.to.clone(),
            transport: rec.transport,
            pinned: rec.pinned,
            description: flow.description.clone(),
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
        })
        .collect();
    Context {
        system: flows.system.clone(),
        tool_version: env!("CARGO_PKG_VERSION"),
        contract: contract.clone(),
        uses,
        services,
        flows: flows_context,
        http_port: HTTP_PORT,
        grpc_port: GRPC_PORT,
        kafka_brokers: KAFKA_BROKERS,
    }
}

fn call(flow: &crate::spec::model::Flow, target: &str, suffix: &str) -> CallContext {
    CallContext {
        flow: flow.name.clone(),
        flow_ident: snake(&flow.name),
        target: target.to_owned(),
        target_ident: snake(target),
        env: format!("{}_{suffix}", snake(target).to_ascii_uppercase()),
    }
}

fn topic(rec: &Recommendation, flow: &crate::spec::model::Flow) -> TopicContext {
    let sizing = rec
        .kafka
        .clone()
        .unwrap_or_else(|| crate::engine::evaluate::size_topic(flow));
    TopicContext {
        flow: flow.name.clone(),
        flow_ident: snake(&flow.name),
        topic: sizing.topic,
        partitions: sizing.partitions,
        replication: sizing.replication,
        exactly_once: flow.delivery == Delivery::ExactlyOnce,
        from: flow.from.clone(),
        to: flow.to.clone(),
    }
}

fn first_sentence(text: &str) -> String {
    match text.find(". ") {
        Some(i) => text[..=i].to_owned(),
        None => text.to_owned(),
    }
}
