//! `long-sync-chain`: chains of synchronous hops longer than a caller
//! should wait on.

use super::graph::Chains;
use super::{Check, Finding, Placed, Severity, System, first};

/// Synchronous chains deeper than this many hops are reported: past three,
/// latency and failure odds compound faster than teams expect.
pub const MAX_SYNC_HOPS: usize = 3;

pub(super) const CHECK: Check = Check {
    id: "long-sync-chain",
    severity: Severity::Warning,
    when: || format!("a synchronous chain is longer than {MAX_SYNC_HOPS} hops"),
    why: "The first caller waits on every hop: latencies add up, the chain is only up when every service on it is, and a retry at each level multiplies load downstream (retry storms).",
    example: "`web` → `gateway` → `orders` → `stock` → `warehouse`, all REST.",
    fix: "Make a hop asynchronous, or give the upstream service the data it needs so it stops asking down the chain.",
    run,
};

/// Chains of more than [`MAX_SYNC_HOPS`] hops, from a service nothing calls
/// synchronously.
fn run(system: &System) -> Vec<Placed> {
    let System { graph, chains, .. } = system;
    chains
        .starts()
        .filter(|&v| chains.depth[v].0 > MAX_SYNC_HOPS)
        .map(|v| {
            let hops = Chains::follow(v, &chains.depth);
            (first(hops.iter().map(|h| h.flow)), Finding {
                id: CHECK.id,
                severity: CHECK.severity,
                text: format!(
                    "{} is {} synchronous hops deep (more than {MAX_SYNC_HOPS}): `{}` waits on every one, so their latencies add up and a failure anywhere fails it.",
                    graph.route(v, &hops),
                    hops.len(),
                    graph.names[v]
                ),
                flows: hops.iter().map(|h| graph.flow(*h)).collect(),
                services: graph.services(v, &hops),
                fix: "Make a hop asynchronous (an event on Kafka, so the work downstream happens after the answer), or give the upstream service the data it needs (a cache, or a read model fed by events) so it stops asking down the chain.".to_owned(),
            })
        })
        .collect()
}
