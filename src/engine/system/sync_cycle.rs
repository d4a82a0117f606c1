//! `sync-cycle`: services that call each other synchronously, directly or
//! round a loop.

use std::collections::HashMap;

use super::graph::{Graph, Hop};
use super::{Check, Finding, Placed, Severity, System, first};

pub(super) const CHECK: Check = Check {
    id: "sync-cycle",
    severity: Severity::Error,
    when: || {
        "synchronous calls between two or more services form a cycle (a distributed monolith)"
            .to_owned()
    },
    why: "Services in a synchronous cycle cannot be deployed, scaled or survive an outage on their own: they are one system split over the network, a distributed monolith. A slow member slows the whole loop, and retries can circle it.",
    example: "`orders` calls `billing` with REST, and `billing` calls `orders` back with gRPC.",
    fix: "Turn one hop of the loop into an event, or merge the services.",
    run,
};

/// Each strongly connected component of two or more services is one cycle.
fn run(system: &System) -> Vec<Placed> {
    let System { graph, chains, .. } = system;
    let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
    for (v, c) in chains.component.iter().enumerate() {
        members.entry(*c).or_default().push(v);
    }
    let mut out = Vec::new();
    // Self-calls are not in the graph (`self-call`): a cycle needs two
    // services.
    let mut cycles: Vec<Vec<usize>> = members.into_values().filter(|m| m.len() > 1).collect();
    cycles.sort();
    for nodes in cycles {
        let component = chains.component[nodes[0]];
        let inside = |hop: &Hop| chains.component[hop.to] == component;
        let start = nodes[0];
        let hops = cycle_through(graph, start, &inside);
        let mut flows: Vec<usize> = nodes
            .iter()
            .flat_map(|&v| graph.out[v].iter().filter(|h| inside(h)).map(|h| h.flow))
            .collect();
        flows.sort_unstable();
        flows.dedup();
        out.push((first(flows.first().copied()), Finding {
            id: CHECK.id,
            severity: CHECK.severity,
            text: format!(
                "{} is a cycle of synchronous calls: these services wait on each other, so none can be deployed, scaled or survive an outage on its own (a distributed monolith).",
                graph.route(start, &hops)
            ),
            flows: flows.iter().map(|&f| graph.flows[f].0.to_owned()).collect(),
            services: nodes.iter().map(|&v| graph.names[v].to_owned()).collect(),
            fix: "Break the cycle: make one of its hops an event on Kafka, so the call back becomes a message nobody waits for; or merge the services if they cannot work apart.".to_owned(),
        }));
    }
    out
}

/// The shortest loop of hops from `start` back to it, inside one component.
fn cycle_through(graph: &Graph, start: usize, inside: &dyn Fn(&Hop) -> bool) -> Vec<Hop> {
    let mut came_by: HashMap<usize, (usize, Hop)> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for hop in graph.out[v].iter().filter(|h| inside(h)) {
            if hop.to == start {
                let mut hops = vec![*hop];
                let mut at = v;
                while at != start {
                    let (prev, h) = came_by[&at];
                    hops.push(h);
                    at = prev;
                }
                hops.reverse();
                return hops;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = came_by.entry(hop.to) {
                e.insert((v, *hop));
                queue.push_back(hop.to);
            }
        }
    }
    Vec::new()
}
