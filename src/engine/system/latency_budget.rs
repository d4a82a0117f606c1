//! `latency-budget`: flows whose `latency_ms` budget the synchronous
//! chain below them already uses up.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::graph::{Chains, Graph};
use super::{Check, Finding, Placed, Severity, System, first};

pub(super) const CHECK: Check = Check {
    id: "latency-budget",
    severity: Severity::Error,
    when: || {
        "the slowest synchronous chain below a flow exceeds its `latency_ms` (hops without a figure count 0)".to_owned()
    },
    why: "A caller cannot answer faster than the calls it waits on; a budget the chain below already uses up leaves nothing for the work itself, and the p99 of a chain is worse than the sum of p99s.",
    example: "`get-order` (200 ms) reaches `orders`, which calls `pricing` (150 ms), which calls `tax` (100 ms): 250 ms below a 200 ms budget.",
    fix: "Parallel calls, caching, moving work off the request path, or a budget the chain can meet.",
    run,
};

/// For each synchronous flow with a `latency_ms` budget, adds up the
/// `latency_ms` of the synchronous hops its receiver makes before it can
/// answer (the slowest chain below it), and reports the flow when that sum
/// reaches its budget. Hops without `latency_ms` count as 0, so the sum is a
/// lower bound.
fn run(system: &System) -> Vec<Placed> {
    let System { graph, chains, .. } = system;
    let mut out = Vec::new();
    // Many flows reach the same service, and the chain below a service is
    // the same whoever calls it: its walk and wording are built once per
    // service, not once per flow.
    let mut below_of: HashMap<usize, ChainBelow> = HashMap::new();
    for (v, hops) in graph.out.iter().enumerate() {
        // Hops are in file order, so a flow's receivers sit together; each
        // flow is judged once, at its slowest receiver.
        for receivers in hops.chunk_by(|a, b| a.flow == b.flow) {
            let Some(budget) = graph.budget[receivers[0].flow] else {
                continue;
            };
            let Some(&worst) = receivers
                .iter()
                .max_by_key(|h| (chains.slowest[h.to].0, std::cmp::Reverse(h.to)))
            else {
                continue;
            };
            let below = chains.slowest[worst.to].0;
            if below == 0 || below < budget {
                continue;
            }
            let chain = below_of
                .entry(worst.to)
                .or_insert_with(|| ChainBelow::of(graph, chains, worst.to));
            let name = graph.flows[worst.flow].0;
            let mut flows = Vec::with_capacity(1 + chain.flows.len());
            flows.push(name.to_owned());
            flows.extend(chain.flows.iter().cloned());
            let mut services = Vec::with_capacity(1 + chain.services.len());
            services.push(graph.names[v].to_owned());
            services.extend(chain.services.iter().cloned());
            out.push((worst.flow.min(chain.first), Finding {
                id: CHECK.id,
                severity: CHECK.severity,
                text: format!(
                    "`{name}` has a {budget} ms budget, but the synchronous hops it waits on already add up to {below} ms: {} via {}.",
                    chain.route, chain.steps
                ),
                flows,
                services,
                fix: format!(
                    "Call the downstream services in parallel or cache their answers, move work off the request path (an event on Kafka), or give `{name}` a budget the chain can meet."
                ),
            }));
        }
    }
    out
}

/// The slowest synchronous chain below one service, worded for
/// `latency-budget` findings.
struct ChainBelow {
    /// `a` → `b` → `c`, from the service down.
    route: String,
    /// `pricing (150 ms), tax (100 ms)`.
    steps: String,
    /// The flows of the chain.
    flows: Vec<String>,
    /// The service and those the chain reaches.
    services: Vec<String>,
    /// The first of the chain's flows in file order.
    first: usize,
}

impl ChainBelow {
    fn of(graph: &Graph, chains: &Chains, service: usize) -> ChainBelow {
        let chain = Chains::follow(service, &chains.slowest);
        let mut steps = String::new();
        for (i, h) in chain.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let _ = write!(
                steps,
                "{sep}{} ({} ms)",
                graph.flows[h.flow].0, graph.latency[h.flow]
            );
        }
        ChainBelow {
            route: graph.route(service, &chain),
            steps,
            flows: chain.iter().map(|h| graph.flow(*h)).collect(),
            services: graph.services(service, &chain),
            first: first(chain.iter().map(|h| h.flow)),
        }
    }
}
