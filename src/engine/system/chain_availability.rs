//! `chain-availability`: synchronous chains less available than the
//! target, since a caller is up only when everything it waits on is.

use super::graph::Chains;
use super::{Check, Finding, Placed, Severity, System, downtime, first, percent};

/// A synchronous chain should be up at least this fraction of the time
/// (99.5%, about 3.6 hours of downtime a month).
pub const AVAILABILITY_TARGET: f64 = 0.995;

pub(super) const CHECK: Check = Check {
    id: "chain-availability",
    severity: Severity::Warning,
    when: || {
        format!(
            "the product of the called services' `availability` along a chain is below {}",
            percent(AVAILABILITY_TARGET)
        )
    },
    why: "A synchronous caller is up only when everything it waits on is up: 0.999 × 0.99 is 0.989, about eight hours down a month, whatever the caller's own uptime.",
    example: "`checkout` → `cart` → `legacy-stock` with `legacy-stock: { availability: 0.99 }`.",
    fix: "Decouple the weakest hop or give callers a fallback.",
    run,
};

/// Multiplies the availability of every service a synchronous chain calls
/// (from `services:` → `availability`, default 0.999) and reports chains
/// below [`AVAILABILITY_TARGET`].
fn run(system: &System) -> Vec<Placed> {
    let System { graph, chains, .. } = system;
    chains
        .starts()
        .filter(|&v| chains.weakest[v].1.is_some() && chains.weakest[v].0 < AVAILABILITY_TARGET)
        .map(|v| {
            let (product, _) = chains.weakest[v];
            let hops = Chains::follow(v, &chains.weakest);
            let factors: Vec<String> = hops
                .iter()
                .map(|h| percent(graph.availability[h.to]))
                .collect();
            let figure = if factors.len() == 1 {
                percent(product)
            } else {
                format!("{} = {}", factors.join(" × "), percent(product))
            };
            (first(hops.iter().map(|h| h.flow)), Finding {
                id: CHECK.id,
                severity: CHECK.severity,
                text: format!(
                    "{} is up only when every service it calls is: {figure}, below the {} target (about {} down a month).",
                    graph.route(v, &hops),
                    percent(AVAILABILITY_TARGET),
                    downtime(product)
                ),
                flows: hops.iter().map(|h| graph.flow(*h)).collect(),
                services: graph.services(v, &hops),
                fix: "Make the weakest hop asynchronous, or give its callers a fallback for when it is down (timeouts, a circuit breaker, a cached answer); declare real figures under `services:` with `availability:`.".to_owned(),
            })
        })
        .collect()
}
