//! `self-call`: a service that calls its own other instances
//! synchronously.

use super::{Check, Finding, Placed, Severity, System};

pub(super) const CHECK: Check = Check {
    id: "self-call",
    severity: Severity::Info,
    when: || {
        "a service calls itself synchronously: not a cycle, a call to its own other instances (forwarding)".to_owned()
    },
    why: "Not a cycle between services: a call to the service's own other instances (forwarding to the owner of a shard or a session). Each such call holds a request slot on one instance while it waits on another, so under load instances can exhaust each other, and a request forwarded again can circle.",
    example: "`cart` forwards a request to the instance that owns the cart.",
    fix: "Forward at most once (a hop header), a deadline shorter than the caller's, and capacity kept apart for forwarded calls.",
    run,
};

/// Reports synchronous flows from a service to itself.
fn run(system: &System) -> Vec<Placed> {
    let System { graph, .. } = system;
    graph
        .self_calls
        .iter()
        .map(|&(v, flow)| {
            let service = graph.names[v];
            let name = graph.flows[flow].0;
            (flow, Finding {
                id: CHECK.id,
                severity: CHECK.severity,
                text: format!(
                    "`{service}` calls itself synchronously (`{name}`): not a cycle between services but a call to its own other instances; each holds a request slot while it waits on another, so under load they can exhaust each other."
                ),
                flows: vec![name.to_owned()],
                services: vec![service.to_owned()],
                fix: format!(
                    "Let `{service}` forward a request at most once (a hop header the receiver checks), with a deadline shorter than the caller's, and keep capacity apart for forwarded calls so they never queue behind the calls waiting on them."
                ),
            })
        })
        .collect()
}
