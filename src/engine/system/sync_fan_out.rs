//! `sync-fan-out`: one request that waits on many services.

use super::{Check, Finding, Placed, Severity, System, first, quoted_list};

/// One request that waits on this many services synchronously is a fan-out
/// worth knowing about.
pub const FAN_OUT: usize = 3;

pub(super) const CHECK: Check = Check {
    id: "sync-fan-out",
    severity: Severity::Info,
    when: || format!("one request waits on synchronous calls to {FAN_OUT} or more services"),
    why: "The request waits on all of them: its latency is at least the slowest one's (their sum if made in sequence), and each one's outage or slow deploy is its own. Often fine, so worth knowing, not failing.",
    example: "`checkout` serves `place-order` and calls `cart`, `payments` and `shipping`.",
    fix: "Parallel calls under one deadline, fallbacks for what the answer can do without, work after the answer moved onto Kafka.",
    run,
};

/// Finds requests during which the service that serves them calls
/// [`FAN_OUT`] or more other services synchronously.
fn run(system: &System) -> Vec<Placed> {
    let System {
        graph, requests, ..
    } = system;
    requests
        .iter()
        .filter(|r| r.targets().len() >= FAN_OUT)
        .map(|r| {
            let targets = r.targets();
            let flows = r.flows();
            (first(flows.iter().copied()), Finding {
                id: CHECK.id,
                severity: CHECK.severity,
                text: format!(
                    "One request to {} waits on synchronous calls to {} services ({}): it is as slow as the slowest of them (their sum, made in sequence) and fails when any of them does.",
                    r.named(graph),
                    targets.len(),
                    quoted_list(targets.iter().map(|&t| graph.names[t]))
                ),
                flows: flows.iter().map(|&f| graph.flows[f].0.to_owned()).collect(),
                services: std::iter::once(graph.names[r.service].to_owned())
                    .chain(targets.iter().map(|&t| graph.names[t].to_owned()))
                    .collect(),
                fix: "Make the calls in parallel under one deadline, give the ones the answer can do without a fallback (a cached or default answer), and move work that can happen after the answer onto Kafka.".to_owned(),
            })
        })
        .collect()
}
