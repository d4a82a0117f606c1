//! `single-point-of-failure`: services so many others call synchronously
//! that their outage is everyone's.

use std::collections::BTreeSet;

use super::{Check, Finding, Placed, Severity, System, first, quoted_list};

/// A service this many other services call synchronously is a single point
/// of failure.
pub const SPOF_CALLERS: usize = 3;
/// A caller that calls a service once per item of a list weighs this many
/// callers: a page lists several items, so it makes at least as many calls
/// per request as that many callers would.
pub const PER_ITEM_WEIGHT: usize = 3;

pub(super) const CHECK: Check = Check {
    id: "single-point-of-failure",
    severity: Severity::Warning,
    when: || {
        format!(
            "distinct services calling one service synchronously weigh {SPOF_CALLERS} or more, a caller that calls once per item of a list (`per_item: true`) weighing {PER_ITEM_WEIGHT}"
        )
    },
    why: "When such a service is slow or down, every caller is too; its bad deploy is everyone's outage. A service called for every product on a page is on that page's path as many times as products are shown.",
    example: "`storefront`, `checkout` and `admin` all call `orders` with REST; or `catalog` calls `pricing` once per product it lists.",
    fix: "Redundancy with health checks, timeouts and circuit breakers in the callers, or event-fed copies of the data callers read.",
    run,
};

/// Finds services that [`SPOF_CALLERS`] or more other services call
/// synchronously, each distinct caller counted once, and a caller that calls
/// once per item of a list counted [`PER_ITEM_WEIGHT`] times: what matters
/// is the calls each request makes.
fn run(system: &System) -> Vec<Placed> {
    let System { graph, .. } = system;
    let mut callers: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); graph.names.len()];
    let mut per_item: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); graph.names.len()];
    let mut flows: Vec<Vec<usize>> = vec![Vec::new(); graph.names.len()];
    for (from, hops) in graph.out.iter().enumerate() {
        for hop in hops {
            callers[hop.to].insert(from);
            if graph.per_item[hop.flow] {
                per_item[hop.to].insert(from);
            }
            flows[hop.to].push(hop.flow);
        }
    }
    let mut out = Vec::new();
    for (v, set) in callers.iter().enumerate() {
        let weight = set.len() + per_item[v].len() * (PER_ITEM_WEIGHT - 1);
        if weight < SPOF_CALLERS {
            continue;
        }
        let names = quoted_list(set.iter().map(|&c| graph.names[c]));
        let mut involved = flows[v].clone();
        involved.sort_unstable();
        involved.dedup();
        let service = graph.names[v];
        let plural = if set.len() == 1 { "" } else { "s" };
        let per_item_note = if per_item[v].is_empty() {
            String::new()
        } else {
            let verb = if per_item[v].len() == 1 {
                "calls"
            } else {
                "call"
            };
            format!(
                "; {} {verb} it once per item of a list, so one request calls it many times",
                quoted_list(per_item[v].iter().map(|&c| graph.names[c]))
            )
        };
        out.push((first(involved.first().copied()), Finding {
            id: CHECK.id,
            severity: CHECK.severity,
            text: format!(
                "`{service}` is called synchronously by {} service{plural} ({names}){per_item_note}: when it is slow or down, so are they.",
                set.len(),
            ),
            flows: involved.iter().map(|&f| graph.flows[f].0.to_owned()).collect(),
            services: std::iter::once(service.to_owned())
                .chain(set.iter().map(|&c| graph.names[c].to_owned()))
                .collect(),
            fix: format!(
                "Run several instances of `{service}` behind health checks, give its callers timeouts and circuit breakers with a fallback, or let them keep a copy of the data they read, fed by its events on Kafka, so they stop calling it on the hot path."
            ),
        }));
    }
    out
}
