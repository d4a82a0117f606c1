//! `n-plus-one`: synchronous calls made once per item of a list.

use super::{Check, Finding, Placed, Severity, System, first, quoted_list};

pub(super) const CHECK: Check = Check {
    id: "n-plus-one",
    severity: Severity::Warning,
    when: || "a synchronous flow is made once per item of a list (`per_item: true`)".to_owned(),
    why: "A list of N items becomes N+1 calls: load on the service below grows with the length of every list, and the request waits on all of them.",
    example: "`catalog` serves `list-products` and calls `pricing` for each product on the page.",
    fix: "Bulk endpoints, batching, caching, or a read model fed by events.",
    run,
};

/// Finds synchronous flows made once per item of a list (`per_item: true`),
/// one finding per flow.
fn run(system: &System) -> Vec<Placed> {
    let System { graph, .. } = system;
    let mut out = Vec::new();
    for (v, hops) in graph.out.iter().enumerate() {
        for receivers in hops.chunk_by(|a, b| a.flow == b.flow) {
            let flow = receivers[0].flow;
            if !graph.per_item[flow] {
                continue;
            }
            let service = graph.names[v];
            let name = graph.flows[flow].0;
            let called = quoted_list(receivers.iter().map(|h| graph.names[h.to]));
            let serving = graph.during[flow].map_or(String::new(), |r| {
                format!(" while serving `{}`", graph.flows[r].0)
            });
            let mut flows: Vec<usize> = graph.during[flow].into_iter().collect();
            flows.push(flow);
            out.push((first(flows.iter().copied()), Finding {
                id: CHECK.id,
                severity: CHECK.severity,
                text: format!(
                    "`{service}` calls {called} once per item of a list (`{name}`){serving}: a list of N items becomes N+1 synchronous calls, so load grows with every list and the request waits on all of them."
                ),
                flows: flows.iter().map(|&f| graph.flows[f].0.to_owned()).collect(),
                services: std::iter::once(service.to_owned())
                    .chain(receivers.iter().map(|h| graph.names[h.to].to_owned()))
                    .collect(),
                fix: format!(
                    "Let `{service}` ask once for the whole list: a bulk or batch endpoint, a cache, or a read model fed by the other services' events on Kafka."
                ),
            }));
        }
    }
    out
}
