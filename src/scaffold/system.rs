//! What the workspace's whole-system test exercises (`system-test/`): every
//! service started in one process, a request or an event entering at the
//! edge, and the handlers downstream that must then see it, with its id.
//!
//! The edge is the services without handlers of their own (the storefront,
//! the partner's shop): what they call and publish is what enters the system.
//! The flows that services with handlers call or produce are sent too,
//! through those services' own clients and publishers, as their handlers
//! would: every flow of the workspace is then crossed once. Working out
//! which handler serves each call, which event that handler's example
//! announces and who consumes it is a join over the services' contexts; it
//! is done here, once, so that the template only walks lists.

use serde::Serialize;

use crate::scaffold::context::{
    CallContext, ServiceContext, ServiceRef, TopicContext, server_span,
};
use crate::spec::model::Transport;

/// The ids the test sends, one per entry so that each entry's downstream
/// work is told apart: digits, so they parse into a key field of any scalar
/// type (`sample` parses the id when the key is not text).
const FIRST_ID: u32 = 7001;

/// The entries of the system test: the edge services' first, then the
/// others', each in the order flows.yaml declares the services.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SystemTest {
    /// Every flow called, through its caller's own clients: the edge
    /// services' first.
    pub calls: Vec<EdgeCall>,
    /// Every event flow, published through its producer's own publisher.
    pub publishes: Vec<EdgePublish>,
    /// The edge services whose start-up task calls a flow: the test also
    /// checks that call got its answer.
    pub tasks: Vec<EdgeTask>,
    /// The events every consumer must then have handled: those the callees'
    /// example handlers announce, then those published, in that order.
    pub handled: Vec<Handled>,
    /// Whether anything above is checked in the services' logs.
    pub reads_logs: bool,
}

/// An event that every consumer of its flow must have handled.
#[derive(Debug, Clone, Serialize)]
pub struct Handled {
    /// The comment above its check: how the event came about.
    pub why: String,
    pub announcement: Announcement,
}

/// One flow called by a service, on one of its targets.
#[derive(Debug, Clone, Serialize)]
pub struct EdgeCall {
    pub caller: ServiceRef,
    /// The caller is an edge service; otherwise the test calls as the
    /// caller's handlers would.
    pub edge: bool,
    pub flow: String,
    /// `crate::rest_clients` or `crate::grpc_clients`, as the caller's crate
    /// names it from outside: `storefront::rest_clients`.
    pub clients: String,
    pub streaming: bool,
    pub call: CallContext,
    /// The id the request carries (its id field; a request without one is
    /// sent as its default).
    pub id: String,
    /// The event the callee's example handler announces, keyed by the
    /// request's id when the request has one.
    pub announces: Option<Announcement>,
    /// For a unary call at the edge whose callee's example announces an
    /// event or calls on: the servers' spans its trace must reach (the
    /// callee's, then the one its example calls), besides the consumers of
    /// `announces`.
    pub traced: Vec<String>,
}

/// An event flow, as its producer publishes it.
#[derive(Debug, Clone, Serialize)]
pub struct EdgePublish {
    pub producer: ServiceRef,
    /// The producer is an edge service.
    pub edge: bool,
    pub id: String,
    pub announcement: Announcement,
}

/// An event that must reach every consumer, and the id its key carries.
#[derive(Debug, Clone, Serialize)]
pub struct Announcement {
    pub flow: String,
    /// Its `contract::events` module.
    pub module: String,
    /// The id the event's `sample` is built from: the entry's id, or the
    /// fixed sample key when the handler's request has no id to key it by.
    pub sample_id: String,
    /// The consuming services, by crate: their consumer group is their
    /// name (`kafka::GROUP_ID`).
    pub consumers: Vec<ServiceRef>,
}

/// An edge service whose example task calls its first flow at start-up.
#[derive(Debug, Clone, Serialize)]
pub struct EdgeTask {
    pub service: ServiceRef,
    /// What the task logs once answered: `orders answered get-order`, or
    /// `… opened …` for a stream.
    pub logs: String,
}

/// The system test's entries for `services` (the generated ones, in order).
pub fn system_test(services: &[ServiceContext]) -> SystemTest {
    let mut test = SystemTest::default();
    let mut ids = FIRST_ID..;
    let edge_first = services
        .iter()
        .filter(|s| !s.handles)
        .chain(services.iter().filter(|s| s.handles));
    for service in edge_first {
        let edge = !service.handles;
        let caller = ServiceRef {
            name: service.name.clone(),
            ident: service.ident.clone(),
        };
        for called in &service.called_flows {
            let clients = match called.transport {
                Transport::Rest => "rest_clients",
                _ => "grpc_clients",
            };
            for call in &called.calls {
                let id = ids.next().unwrap_or(FIRST_ID).to_string();
                let announces = if called.streaming {
                    None
                } else {
                    announced_by(services, call, &id)
                };
                let traced = if edge && !called.streaming {
                    traced(services, call, called.transport, announces.is_some())
                } else {
                    Vec::new()
                };
                test.calls.push(EdgeCall {
                    caller: caller.clone(),
                    edge,
                    flow: called.flow.clone(),
                    clients: format!("{}::{clients}", service.ident),
                    streaming: called.streaming,
                    call: call.clone(),
                    id,
                    announces,
                    traced,
                });
            }
        }
        if edge
            && let Some(first) = service.called_flows.first()
            && let Some(call) = first.calls.first()
        {
            let verb = if first.streaming {
                "opened"
            } else {
                "answered"
            };
            test.tasks.push(EdgeTask {
                service: caller.clone(),
                logs: format!("{} {verb} {}", call.target, first.flow),
            });
        }
        for topic in &service.produces {
            let id = ids.next().unwrap_or(FIRST_ID).to_string();
            test.publishes.push(EdgePublish {
                producer: caller.clone(),
                edge,
                announcement: announcement(services, topic, id.clone()),
                id,
            });
        }
    }
    let announced = test.calls.iter().filter_map(|call| {
        let a = call.announces.as_ref()?;
        Some(Handled {
            why: format!(
                "{} announced {} for {}: every consumer handled it.",
                call.call.target, a.flow, call.flow
            ),
            announcement: a.clone(),
        })
    });
    let published = test.publishes.iter().map(|p| Handled {
        why: format!(
            "Every consumer of {} handled the event {} published.",
            p.announcement.flow, p.producer.name
        ),
        announcement: p.announcement.clone(),
    });
    let handled: Vec<Handled> = announced.chain(published).collect();
    let relayed: Vec<Handled> = handled
        .iter()
        .flat_map(|h| relayed_by(services, &h.announcement))
        .collect();
    test.handled = handled
        .into_iter()
        .chain(relayed)
        .filter(|h| !h.announcement.consumers.is_empty())
        .collect();
    test.reads_logs = !test.tasks.is_empty()
        || !test.handled.is_empty()
        || test.calls.iter().any(|c| !c.traced.is_empty());
    test
}

/// The event the example handler serving `call` announces, if any: the
/// first event its service produces (see the unary handler template).
fn announced_by(services: &[ServiceContext], call: &CallContext, id: &str) -> Option<Announcement> {
    let callee = services.iter().find(|s| s.name == call.target)?;
    let topic = callee.produces.first()?;
    let handler = callee
        .api
        .handlers
        .iter()
        .find(|h| h.kind == "unary" && h.rpc == call.rpc.full_name)?;
    let sample_id = match &handler.id_field {
        Some(_) => id.to_owned(),
        None => topic.event.sample_key.to_owned(),
    };
    Some(announcement(services, topic, sample_id))
}

/// The servers' spans the trace of `call` (over `transport`) must reach:
/// the callee's, then that of the call its example handler makes; none
/// when the example neither `announces` an event nor calls on (the
/// callee's own tests cover one span).
fn traced(
    services: &[ServiceContext],
    call: &CallContext,
    transport: Transport,
    announces: bool,
) -> Vec<String> {
    let onward = services
        .iter()
        .find(|s| s.name == call.target)
        .and_then(|callee| {
            let handlers = &callee.api.handlers;
            let handler = handlers.iter().find(|h| h.rpc == call.rpc.full_name)?;
            handler.call.as_ref().map(|c| c.span.clone())
        });
    if !announces && onward.is_none() {
        return Vec::new();
    }
    server_span(services, call, transport)
        .into_iter()
        .chain(onward)
        .collect()
}

/// The events the consumers of `handled` that consume and produce
/// exactly-once events relay: their example handler announces their first
/// exactly-once event, keyed like the event it handled (see the event
/// handler template).
fn relayed_by(services: &[ServiceContext], handled: &Announcement) -> Vec<Handled> {
    handled
        .consumers
        .iter()
        .filter_map(|consumer| {
            let service = services.iter().find(|s| s.name == consumer.name)?;
            if !service.kafka.consume_produce {
                return None;
            }
            let topic = service.produces.iter().find(|t| t.exactly_once)?;
            Some(Handled {
                why: format!(
                    "{} relayed {} as {}: every consumer handled it.",
                    service.name, handled.flow, topic.flow
                ),
                announcement: announcement(services, topic, handled.sample_id.clone()),
            })
        })
        .collect()
}

fn announcement(
    services: &[ServiceContext],
    topic: &TopicContext,
    sample_id: String,
) -> Announcement {
    Announcement {
        flow: topic.flow.clone(),
        module: topic.flow_ident.clone(),
        sample_id,
        consumers: services
            .iter()
            .filter(|s| s.consumes.iter().any(|t| t.flow == topic.flow))
            .map(|s| ServiceRef {
                name: s.name.clone(),
                ident: s.ident.clone(),
            })
            .collect(),
    }
}
