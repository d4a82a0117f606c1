//! `request-availability`: one request that waits on several services is
//! up only when all of them are.

use super::{
    AVAILABILITY_TARGET, Check, Finding, Placed, Severity, System, downtime, first, percent,
    quoted_list,
};

/// A request is reported only when it waits on at least this many
/// services: one alone is a `chain-availability` finding.
pub const MIN_TARGETS: usize = 2;

pub(super) const CHECK: Check = Check {
    id: "request-availability",
    severity: Severity::Warning,
    when: || {
        format!(
            "one request waits on {MIN_TARGETS} or more services whose combined availability (each with the weakest chain below it) is below {}, though each alone is above it",
            percent(AVAILABILITY_TARGET)
        )
    },
    why: "An orchestrator that waits on several services in one request is up only when all of them are, not only the weakest chain: six calls at 99.9% each leave 99.4%.",
    example: "`checkout` serves `place-order` and calls `cart`, `currency`, `payments`, `shipping`, `email` and `products`.",
    fix: "Fallbacks for the calls the answer can do without, work after the answer moved onto Kafka, real figures under `services:`.",
    run,
};

/// For a request during which its service waits on two or more services,
/// multiplies the availability of each of them and of the weakest
/// synchronous chain below each, and reports requests below
/// [`AVAILABILITY_TARGET`] although each of those alone is above it (a weak
/// one alone is a `chain-availability` finding).
fn run(system: &System) -> Vec<Placed> {
    let System {
        graph,
        chains,
        requests,
    } = system;
    let mut out = Vec::new();
    for r in requests {
        let targets = r.targets();
        if targets.len() < MIN_TARGETS {
            continue;
        }
        let each: Vec<f64> = targets
            .iter()
            .map(|&t| graph.availability[t] * chains.weakest[t].0)
            .collect();
        let product: f64 = each.iter().product();
        // A callee whose own chain is below the target already makes a
        // `chain-availability` finding; this one is about what only the
        // combination shows.
        if product >= AVAILABILITY_TARGET || each.iter().any(|&a| a < AVAILABILITY_TARGET) {
            continue;
        }
        let factors: Vec<String> = each.iter().map(|&a| percent(a)).collect();
        let flows = r.flows();
        out.push((first(flows.iter().copied()), Finding {
            id: CHECK.id,
            severity: CHECK.severity,
            text: format!(
                "One request to {} waits on {} services ({}), so it is up only when all of them are: {} = {}, below the {} target (about {} down a month).",
                r.named(graph),
                targets.len(),
                quoted_list(targets.iter().map(|&t| graph.names[t])),
                factors.join(" × "),
                percent(product),
                percent(AVAILABILITY_TARGET),
                downtime(product)
            ),
            flows: flows.iter().map(|&f| graph.flows[f].0.to_owned()).collect(),
            services: std::iter::once(graph.names[r.service].to_owned())
                .chain(targets.iter().map(|&t| graph.names[t].to_owned()))
                .collect(),
            fix: "Give the calls the answer can do without a fallback (a timeout, a circuit breaker, a cached or default answer) so their outage is not the request's, move work that can happen after the answer onto Kafka, and declare real figures under `services:` with `availability:`.".to_owned(),
        }));
    }
    out
}
