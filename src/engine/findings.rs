//! System checks: what the chosen transports add up to across the whole
//! graph of services, which no single flow's recommendation can see.
//!
//! The seed article warns that synchronous calls "make failures contagious";
//! most incidents come from how calls compose, not from one call. Each check
//! below is a pure function over the graph whose nodes are services and whose
//! edges are flows carried by a synchronous transport (REST or gRPC: the
//! caller waits). Kafka flows are asynchronous and break chains; so does an
//! `event` carried over HTTP (a webhook): the sender hands it over and moves
//! on, it does not wait on the receiver's work. A flow from a service to
//! itself is a call to its own other instances, not an edge of the graph
//! (`self-call`).
//!
//! A flow may say which inbound request its caller makes it while serving
//! (`during`) and whether it is made once per item of a list (`per_item`):
//! that is the real call shape, what one request costs. Calls that say
//! nothing belong to the caller's only inbound synchronous request when it
//! has exactly one, and to no known request otherwise: calls made from
//! different endpoints never add up.
//!
//! Chains are measured on the graph with the edges inside a cycle left out
//! (cycles get their own finding), which makes it acyclic, so every chain
//! figure is one linear pass in topological order, whatever the system's
//! size.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use serde::Serialize;

use crate::engine::evaluate::Recommendation;
use crate::keywords::keywords;
use crate::spec::model::{FlowsFile, Interaction, Service};

keywords! {
    /// How much a finding matters; `check --fail-on` compares against it.
    Severity { Info = "info", Warning = "warning", Error = "error" }
}

/// Synchronous chains deeper than this many hops are reported: past three,
/// latency and failure odds compound faster than teams expect.
pub const MAX_SYNC_HOPS: usize = 3;
/// A synchronous chain should be up at least this fraction of the time
/// (99.5%, about 3.6 hours of downtime a month).
pub const AVAILABILITY_TARGET: f64 = 0.995;
/// A service this many other services call synchronously is a single point
/// of failure.
pub const SPOF_CALLERS: usize = 3;
/// One request that waits on this many services synchronously is a fan-out
/// worth knowing about.
pub const FAN_OUT: usize = 3;
/// A caller that calls a service once per item of a list weighs this many
/// callers for `single-point-of-failure`: a page lists several items, so it
/// makes at least as many calls per request as that many callers would.
pub const PER_ITEM_WEIGHT: usize = 3;

/// One system-level problem, with the flows involved and the way out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Stable identifier: `sync-cycle`, `long-sync-chain`, …
    pub id: &'static str,
    pub severity: Severity,
    /// What is wrong, with the figures that show it.
    pub text: String,
    /// The flows involved, in the order the problem runs through them.
    pub flows: Vec<String>,
    /// The services involved, in the same order.
    pub services: Vec<String>,
    /// How to resolve it.
    pub fix: String,
}

/// Every system check over `file` with the transports of `recommendations`
/// (one per flow, in file order): most severe first, then by id, then by
/// where the first flow involved sits in the file.
pub fn findings(file: &FlowsFile, recommendations: &[Recommendation]) -> Vec<Finding> {
    let graph = Graph::new(file, recommendations);
    let chains = Chains::of(&graph);
    let mut out = Vec::new();
    out.extend(sync_cycles(&graph, &chains));
    out.extend(long_sync_chains(&graph, &chains));
    out.extend(latency_budgets(&graph, &chains));
    out.extend(chain_availability(&graph, &chains));
    out.extend(single_points_of_failure(&graph));
    out.extend(n_plus_one(&graph));
    let requests = Request::all(&graph);
    out.extend(fan_outs(&graph, &requests));
    out.extend(request_availability(&graph, &chains, &requests));
    out.extend(self_calls(&graph));
    // Each check knows the flows (as indices) behind its findings, so the
    // position of the first one costs nothing here; looking the names up
    // again would hash every flow of every finding. (Flow names are unique,
    // so the index of a name is the index of its flow.) A stable sort keeps
    // each check's own order among equals.
    out.sort_by_key(|(first, f)| (std::cmp::Reverse(f.severity), f.id, *first));
    out.into_iter().map(|(_, f)| f).collect()
}

/// A finding and the index (in the file) of the first flow it involves,
/// `usize::MAX` when none: what findings are ordered by, after severity
/// and id.
type Placed = (usize, Finding);

/// The first of `flows` in file order.
fn first(flows: impl IntoIterator<Item = usize>) -> usize {
    flows.into_iter().min().unwrap_or(usize::MAX)
}

/// One synchronous hop: flow `flow` (index into the file) from a service to
/// service `to` (index into [`Graph::names`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hop {
    flow: usize,
    to: usize,
}

/// Services as numbers, and the synchronous flows between them.
struct Graph<'a> {
    /// Service names, sorted.
    names: Vec<&'a str>,
    availability: Vec<f64>,
    /// Synchronous hops out of each service, in file order.
    out: Vec<Vec<Hop>>,
    /// For each flow: its name, its interaction, and whether it is synchronous.
    flows: Vec<(&'a str, Interaction, bool)>,
    /// Per flow, its `latency_ms` (0 when not given).
    latency: Vec<u64>,
    /// Per flow, its budget when given.
    budget: Vec<Option<u64>>,
    /// Per flow, whether it is made once per item of a list.
    per_item: Vec<bool>,
    /// Per flow, the inbound flow (index) it is made while serving.
    during: Vec<Option<usize>>,
    /// Synchronous flows from a service to itself: (service, flow).
    self_calls: Vec<(usize, usize)>,
}

impl<'a> Graph<'a> {
    fn new(file: &'a FlowsFile, recommendations: &[Recommendation]) -> Graph<'a> {
        let names: Vec<&str> = file.services.keys().map(String::as_str).collect();
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let availability = file.services.values().map(Service::availability).collect();
        let mut out = vec![Vec::new(); names.len()];
        let mut flows = Vec::with_capacity(file.flows.len());
        let mut self_calls = Vec::new();
        for (i, (flow, rec)) in file.flows.iter().zip(recommendations).enumerate() {
            // A webhook (an event over HTTP) is handed over, not waited on.
            let sync = rec.transport.is_synchronous() && flow.interaction != Interaction::Event;
            flows.push((flow.name.as_str(), flow.interaction, sync));
            let Some(&from) = index.get(flow.from.as_str()) else {
                continue;
            };
            if !sync {
                continue;
            }
            for to in &flow.to {
                match index.get(to.as_str()) {
                    Some(&to) if to == from => self_calls.push((from, i)),
                    Some(&to) => out[from].push(Hop { flow: i, to }),
                    None => {}
                }
            }
        }
        let during = if file.flows.iter().any(|f| f.during.is_some()) {
            let by_name: HashMap<&str, usize> = file
                .flows
                .iter()
                .enumerate()
                .map(|(i, f)| (f.name.as_str(), i))
                .collect();
            file.flows
                .iter()
                .map(|f| f.during.as_deref().and_then(|d| by_name.get(d).copied()))
                .collect()
        } else {
            vec![None; file.flows.len()]
        };
        Graph {
            names,
            availability,
            out,
            flows,
            latency: file
                .flows
                .iter()
                .map(|f| f.latency_ms.unwrap_or(0))
                .collect(),
            budget: file.flows.iter().map(|f| f.latency_ms).collect(),
            per_item: file.flows.iter().map(|f| f.per_item).collect(),
            during,
            self_calls,
        }
    }

    fn flow(&self, hop: Hop) -> String {
        self.flows[hop.flow].0.to_owned()
    }

    /// `a` → `b` → `c` for a chain starting at `start`.
    fn route(&self, start: usize, hops: &[Hop]) -> String {
        let mut out = format!("`{}`", self.names[start]);
        for hop in hops {
            let _ = write!(out, " → `{}`", self.names[hop.to]);
        }
        out
    }

    fn services(&self, start: usize, hops: &[Hop]) -> Vec<String> {
        std::iter::once(start)
            .chain(hops.iter().map(|h| h.to))
            .map(|i| self.names[i].to_owned())
            .collect()
    }
}

/// Strongly connected components and the longest, slowest and least
/// available chain below each service, on the acyclic part of the graph.
struct Chains {
    /// The component of each service; a hop to a lower number leaves its
    /// component (Tarjan numbers components sinks first).
    component: Vec<usize>,
    /// Whether some hop inside the graph reaches each service from another
    /// component: services without one start chains.
    reached: Vec<bool>,
    /// Most hops below each service, and the hop that starts that chain.
    depth: Vec<(usize, Option<Hop>)>,
    /// Largest sum of `latency_ms` below each service, and its first hop.
    slowest: Vec<(u64, Option<Hop>)>,
    /// Lowest product of availabilities below each service, and its first hop.
    weakest: Vec<(f64, Option<Hop>)>,
}

impl Chains {
    fn of(graph: &Graph) -> Chains {
        let n = graph.names.len();
        let component = components(&graph.out);
        let crosses = |from: usize, hop: &Hop| component[from] != component[hop.to];
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&v| component[v]);
        let mut reached = vec![false; n];
        let mut depth = vec![(0, None); n];
        let mut slowest = vec![(0, None); n];
        let mut weakest = vec![(1.0, None); n];
        for &v in &order {
            for hop in graph.out[v].iter().filter(|h| crosses(v, h)) {
                reached[hop.to] = true;
                let d = 1 + depth[hop.to].0;
                if d > depth[v].0 {
                    depth[v] = (d, Some(*hop));
                }
                let l = graph.latency[hop.flow] + slowest[hop.to].0;
                if l > slowest[v].0 {
                    slowest[v] = (l, Some(*hop));
                }
                let a = graph.availability[hop.to] * weakest[hop.to].0;
                if a < weakest[v].0 {
                    weakest[v] = (a, Some(*hop));
                }
            }
        }
        Chains {
            component,
            reached,
            depth,
            slowest,
            weakest,
        }
    }

    /// The hops of a chain, following `next` from `start`.
    fn follow<T>(start: usize, next: &[(T, Option<Hop>)]) -> Vec<Hop> {
        let mut hops = Vec::new();
        let mut at = start;
        while let Some(hop) = next[at].1 {
            hops.push(hop);
            at = hop.to;
        }
        hops
    }

    /// Services where chains start: nothing outside their cycle calls them.
    fn starts(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.reached.len()).filter(|&v| !self.reached[v])
    }
}

/// Tarjan's strongly connected components, iteratively (a deep chain must
/// not overflow the stack); components are numbered sinks first.
fn components(out: &[Vec<Hop>]) -> Vec<usize> {
    const UNSEEN: usize = usize::MAX;
    let n = out.len();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut component = vec![UNSEEN; n];
    let mut next_index = 0;
    let mut next_component = 0;
    let mut calls: Vec<(usize, usize)> = Vec::new();
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        index[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root] = true;
        calls.push((root, 0));
        while let Some(&(v, edge)) = calls.last() {
            if let Some(hop) = out[v].get(edge) {
                if let Some(top) = calls.last_mut() {
                    top.1 += 1;
                }
                let w = hop.to;
                if index[w] == UNSEEN {
                    index[w] = next_index;
                    low[w] = next_index;
                    next_index += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    calls.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component[w] = next_component;
                    if w == v {
                        break;
                    }
                }
                next_component += 1;
            }
        }
    }
    component
}

/// `sync-cycle` (error).
///
/// **What it does.** Finds services that call each other synchronously,
/// directly or round a loop.
///
/// **Why.** Services in a synchronous cycle cannot be deployed, scaled or
/// survive an outage on their own: they are one system split over the
/// network, a distributed monolith. A slow member slows the whole loop, and
/// retries can circle it.
///
/// **Example.** `orders` calls `billing` with REST, and `billing` calls
/// `orders` back with gRPC.
///
/// **Fix.** Turn one hop of the loop into an event, or merge the services.
fn sync_cycles(graph: &Graph, chains: &Chains) -> Vec<Placed> {
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
            id: "sync-cycle",
            severity: Severity::Error,
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

/// `long-sync-chain` (warning).
///
/// **What it does.** Finds chains of more than [`MAX_SYNC_HOPS`]
/// synchronous hops, from a service nothing calls synchronously.
///
/// **Why.** The first caller waits on every hop: latencies add up, the
/// chain is only up when every service on it is, and a retry at each level
/// multiplies load downstream (retry storms).
///
/// **Example.** `web` → `gateway` → `orders` → `stock` → `warehouse`, all REST.
///
/// **Fix.** Make a hop asynchronous, or give the upstream service the data
/// it needs so it stops asking down the chain.
fn long_sync_chains(graph: &Graph, chains: &Chains) -> Vec<Placed> {
    chains
        .starts()
        .filter(|&v| chains.depth[v].0 > MAX_SYNC_HOPS)
        .map(|v| {
            let hops = Chains::follow(v, &chains.depth);
            (first(hops.iter().map(|h| h.flow)), Finding {
                id: "long-sync-chain",
                severity: Severity::Warning,
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

/// `latency-budget` (error).
///
/// **What it does.** For each synchronous flow with a `latency_ms` budget,
/// adds up the `latency_ms` of the synchronous hops its receiver makes
/// before it can answer (the slowest chain below it), and reports the flow
/// when that sum reaches its budget. Hops without `latency_ms` count as 0,
/// so the sum is a lower bound.
///
/// **Why.** A caller cannot answer faster than the calls it waits on; a
/// budget the chain below already uses up leaves nothing for the work
/// itself, and the p99 of a chain is worse than the sum of p99s.
///
/// **Example.** `get-order` (200 ms) reaches `orders`, which calls `pricing`
/// (150 ms), which calls `tax` (100 ms): 250 ms below a 200 ms budget.
///
/// **Fix.** Parallel calls, caching, moving work off the request path, or a
/// budget the chain can meet.
fn latency_budgets(graph: &Graph, chains: &Chains) -> Vec<Placed> {
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
                id: "latency-budget",
                severity: Severity::Error,
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

/// `chain-availability` (warning).
///
/// **What it does.** Multiplies the availability of every service a
/// synchronous chain calls (from `services:` → `availability`, default
/// 0.999) and reports chains below [`AVAILABILITY_TARGET`].
///
/// **Why.** A synchronous caller is up only when everything it waits on is
/// up: 0.999 × 0.99 is 0.989, about eight hours down a month, whatever the
/// caller's own uptime.
///
/// **Example.** `checkout` → `cart` → `legacy-stock` with
/// `legacy-stock: { availability: 0.99 }`.
///
/// **Fix.** Decouple the weakest hop or give callers a fallback.
fn chain_availability(graph: &Graph, chains: &Chains) -> Vec<Placed> {
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
                id: "chain-availability",
                severity: Severity::Warning,
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

/// `single-point-of-failure` (warning).
///
/// **What it does.** Finds services that [`SPOF_CALLERS`] or more other
/// services call synchronously, each distinct caller counted once, and a
/// caller that calls once per item of a list counted [`PER_ITEM_WEIGHT`]
/// times: what matters is the calls each request makes.
///
/// **Why.** When such a service is slow or down, every caller is too; its
/// bad deploy is everyone's outage. A service called for every product on
/// a page is on that page's path as many times as products are shown.
///
/// **Example.** `storefront`, `checkout` and `admin` all call `orders` with
/// REST; or `catalog` calls `pricing` once per product it lists.
///
/// **Fix.** Redundancy with health checks, timeouts and circuit breakers in
/// the callers, or event-fed copies of the data callers read.
fn single_points_of_failure(graph: &Graph) -> Vec<Placed> {
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
            id: "single-point-of-failure",
            severity: Severity::Warning,
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

/// `n-plus-one` (warning).
///
/// **What it does.** Finds synchronous flows made once per item of a list
/// (`per_item: true`), one finding per flow.
///
/// **Why.** A list of N items becomes N+1 calls: load on the service below
/// grows with the length of every list, and the request waits on all of
/// them.
///
/// **Example.** `catalog` serves `list-products` and calls `pricing` for
/// each product on the page.
///
/// **Fix.** Bulk endpoints, batching, caching, or a read model fed by events.
fn n_plus_one(graph: &Graph) -> Vec<Placed> {
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
                id: "n-plus-one",
                severity: Severity::Warning,
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

/// One inbound synchronous request a service serves, and the synchronous
/// calls it makes while serving it.
struct Request {
    service: usize,
    /// The inbound request-response flow.
    flow: usize,
    /// The calls made while serving it, in file order.
    calls: Vec<Hop>,
}

impl Request {
    /// Every request with the calls made while serving it: those whose
    /// `during` names it, and, when it is the service's only inbound
    /// synchronous request, those that name none.
    fn all(graph: &Graph) -> Vec<Request> {
        // A flow names each receiver once, so each (flow, receiver) pair
        // is one hop: no inbound request is listed twice.
        let mut inbound: Vec<Vec<usize>> = vec![Vec::new(); graph.names.len()];
        for hops in &graph.out {
            for hop in hops {
                if graph.flows[hop.flow].1 == Interaction::RequestResponse {
                    inbound[hop.to].push(hop.flow);
                }
            }
        }
        let mut out = Vec::new();
        for (v, requests) in inbound.iter().enumerate() {
            if requests.is_empty() {
                continue;
            }
            // One pass over the service's calls, bucketed by the request
            // they name, so a busy service costs its calls plus its
            // requests, not their product.
            let mut during: HashMap<usize, Vec<Hop>> = HashMap::new();
            let mut unnamed = Vec::new();
            for hop in &graph.out[v] {
                match graph.during[hop.flow] {
                    Some(r) => during.entry(r).or_default().push(*hop),
                    None => unnamed.push(*hop),
                }
            }
            let only = requests.len() == 1;
            for &flow in requests {
                let mut calls = during.remove(&flow).unwrap_or_default();
                if only {
                    calls.extend(unnamed.iter().copied());
                    calls.sort_by_key(|h| h.flow);
                }
                if !calls.is_empty() {
                    out.push(Request {
                        service: v,
                        flow,
                        calls,
                    });
                }
            }
        }
        out
    }

    /// The distinct services the request waits on, sorted.
    fn targets(&self) -> BTreeSet<usize> {
        self.calls.iter().map(|h| h.to).collect()
    }

    /// The request, then its calls, as flow indices in file order.
    fn flows(&self) -> Vec<usize> {
        let mut calls: Vec<usize> = self.calls.iter().map(|h| h.flow).collect();
        calls.dedup();
        std::iter::once(self.flow).chain(calls).collect()
    }

    /// `` `catalog` (`catalog-page`) ``.
    fn named(&self, graph: &Graph) -> String {
        format!(
            "`{}` (`{}`)",
            graph.names[self.service], graph.flows[self.flow].0
        )
    }
}

/// `sync-fan-out` (info).
///
/// **What it does.** Finds requests during which the service that serves
/// them calls [`FAN_OUT`] or more other services synchronously.
///
/// **Why.** The request waits on all of them: its latency is at least the
/// slowest one's (their sum if made in sequence), and each one's outage or
/// slow deploy is its own. Often fine, so worth knowing, not failing.
///
/// **Example.** `checkout` serves `place-order` and calls `cart`,
/// `payments` and `shipping`.
///
/// **Fix.** Parallel calls under one deadline, fallbacks for what the
/// answer can do without, work after the answer moved onto Kafka.
fn fan_outs(graph: &Graph, requests: &[Request]) -> Vec<Placed> {
    requests
        .iter()
        .filter(|r| r.targets().len() >= FAN_OUT)
        .map(|r| {
            let targets = r.targets();
            let flows = r.flows();
            (first(flows.iter().copied()), Finding {
                id: "sync-fan-out",
                severity: Severity::Info,
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

/// `request-availability` (warning).
///
/// **What it does.** For a request during which its service waits on two
/// or more services, multiplies the availability of each of them and of
/// the weakest synchronous chain below each, and reports requests below
/// [`AVAILABILITY_TARGET`] although each of those alone is above it (a
/// weak one alone is a `chain-availability` finding).
///
/// **Why.** An orchestrator that waits on several services in one request
/// is up only when all of them are, not only the weakest chain: six calls
/// at 99.9% each leave 99.4%.
///
/// **Example.** `checkout` serves `place-order` and calls `cart`,
/// `currency`, `payments`, `shipping`, `email` and `products`.
///
/// **Fix.** Fallbacks for the calls the answer can do without, work after
/// the answer moved onto Kafka, real figures under `services:`.
fn request_availability(graph: &Graph, chains: &Chains, requests: &[Request]) -> Vec<Placed> {
    let mut out = Vec::new();
    for r in requests {
        let targets = r.targets();
        if targets.len() < 2 {
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
            id: "request-availability",
            severity: Severity::Warning,
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

/// `self-call` (info).
///
/// **What it does.** Reports synchronous flows from a service to itself.
///
/// **Why.** Not a cycle between services: a call to the service's own
/// other instances (forwarding to the owner of a shard or a session). Each
/// such call holds a request slot on one instance while it waits on
/// another, so under load instances can exhaust each other, and a request
/// forwarded again can circle.
///
/// **Example.** `cart` forwards a request to the instance that owns the
/// cart.
///
/// **Fix.** Forward at most once (a hop header), a deadline shorter than
/// the caller's, and capacity kept apart for forwarded calls.
fn self_calls(graph: &Graph) -> Vec<Placed> {
    graph
        .self_calls
        .iter()
        .map(|&(v, flow)| {
            let service = graph.names[v];
            let name = graph.flows[flow].0;
            (flow, Finding {
                id: "self-call",
                severity: Severity::Info,
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

/// `` `a`, `b`, `c` ``.
fn quoted_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, name) in names.enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(out, "{sep}`{name}`");
    }
    out
}

/// `0.999` → `99.9%`: at most three decimals, trailing zeros dropped.
fn percent(fraction: f64) -> String {
    let text = format!("{:.3}", fraction * 100.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

/// The downtime a month (30 days) that an availability allows.
fn downtime(availability: f64) -> String {
    // Whole minutes, rounded: the figure is an order of magnitude.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let minutes = ((1.0 - availability).max(0.0) * 30.0 * 24.0 * 60.0).round() as u64;
    if minutes < 120 {
        format!("{minutes} min")
    } else {
        format!("{} h", (minutes + 30) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{RuleSet, recommend};
    use crate::spec::load_str;

    /// The findings of a file whose flows all pin their transport, so that
    /// the rules cannot change what the test is about.
    fn findings_of(yaml: &str) -> Vec<Finding> {
        let file = load_str("flows.yaml", yaml).expect("fixture loads");
        recommend(&file, &RuleSet::builtin().expect("built-in rules")).findings
    }

    fn ids(findings: &[Finding]) -> Vec<&'static str> {
        findings.iter().map(|f| f.id).collect()
    }

    fn flow(name: &str, from: &str, to: &str, extra: &str) -> String {
        format!("  - name: {name}\n    from: {from}\n    to: {to}\n    transport: rest\n{extra}")
    }

    #[test]
    fn a_two_service_loop_is_a_cycle() {
        let yaml = format!(
            "version: 1\nflows:\n{}{}",
            flow("ask", "a", "b", ""),
            flow("answer", "b", "a", "")
        );
        let found = findings_of(&yaml);
        assert_eq!(ids(&found), ["sync-cycle"]);
        assert_eq!(found[0].flows, ["ask", "answer"]);
        assert!(
            found[0].text.starts_with("`a` → `b` → `a` is a cycle"),
            "{}",
            found[0].text
        );
    }

    #[test]
    fn a_loop_through_kafka_is_no_cycle() {
        let yaml = format!(
            "version: 1\nflows:\n{}  - name: answer\n    from: b\n    to: a\n    transport: kafka\n",
            flow("ask", "a", "b", "")
        );
        assert!(findings_of(&yaml).is_empty());
    }

    #[test]
    fn a_service_calling_itself_is_a_self_call_not_a_cycle() {
        let yaml = format!("version: 1\nflows:\n{}", flow("forward", "a", "a", ""));
        let found = findings_of(&yaml);
        assert_eq!(ids(&found), ["self-call"]);
        assert_eq!(found[0].severity, Severity::Info);
        assert!(found[0].text.contains("not a cycle"), "{}", found[0].text);
    }

    #[test]
    fn a_webhook_back_is_not_a_waiting_hop() {
        // b announces an event to a over HTTP: a hand-over, not a wait.
        let yaml = format!(
            "version: 1\nflows:\n{}{}",
            flow("ask", "a", "b", ""),
            flow("notify", "b", "a", "    interaction: event\n")
        );
        assert!(findings_of(&yaml).is_empty());
    }

    #[test]
    fn calls_from_different_endpoints_are_no_fan_out() {
        // b serves two requests, and each makes its own calls.
        let yaml = format!(
            "version: 1\nflows:\n{}{}{}{}{}",
            flow("one", "a", "b", ""),
            flow("two", "a", "b", ""),
            flow("c1", "b", "c", "    during: one\n"),
            flow("d1", "b", "d", "    during: one\n"),
            flow("e2", "b", "e", "    during: two\n")
        );
        assert!(findings_of(&yaml).is_empty());
    }

    #[test]
    fn one_request_calling_three_services_is_a_fan_out_not_n_plus_one() {
        let yaml = format!(
            "version: 1\nflows:\n{}{}{}{}",
            flow("page", "a", "b", ""),
            flow("c1", "b", "c", ""),
            flow("d1", "b", "d", ""),
            flow("e1", "b", "e", "")
        );
        let found = findings_of(&yaml);
        assert_eq!(ids(&found), ["sync-fan-out"]);
        assert_eq!(found[0].severity, Severity::Info);
        assert_eq!(found[0].flows, ["page", "c1", "d1", "e1"]);
    }

    #[test]
    fn a_per_item_call_is_n_plus_one_and_weighs_as_three_callers() {
        let yaml = format!(
            "version: 1\nflows:\n{}{}",
            flow("list", "a", "b", ""),
            flow("price", "b", "c", "    during: list\n    per_item: true\n")
        );
        let found = findings_of(&yaml);
        assert_eq!(ids(&found), ["n-plus-one", "single-point-of-failure"]);
        assert_eq!(found[0].flows, ["list", "price"]);
        assert!(
            found[0].text.contains("while serving `list`"),
            "{}",
            found[0].text
        );
        assert!(found[1].text.contains("once per item"), "{}", found[1].text);
    }

    #[test]
    fn an_orchestrator_gets_the_availability_of_everything_it_waits_on() {
        // Six calls at the default 99.9% in one request: 99.4%.
        let mut yaml = format!(
            "version: 1\nflows:\n{}",
            flow("place", "web", "checkout", "")
        );
        for s in ["s1", "s2", "s3", "s4", "s5", "s6"] {
            yaml.push_str(&flow(&format!("call-{s}"), "checkout", s, ""));
        }
        let found = findings_of(&yaml);
        assert_eq!(ids(&found), ["request-availability", "sync-fan-out"]);
        assert!(found[0].text.contains("= 99.401%"), "{}", found[0].text);
        // Five stay above the 99.5% target.
        let five = yaml.replace(&flow("call-s6", "checkout", "s6", ""), "");
        assert_eq!(ids(&findings_of(&five)), ["sync-fan-out"]);
    }

    #[test]
    fn chains_are_measured_past_a_cycle() {
        // a ⇄ b, then b → c → d → e → f: the cycle and a four-hop chain.
        let yaml = format!(
            "version: 1\nflows:\n{}{}{}{}{}{}",
            flow("ab", "a", "b", ""),
            flow("ba", "b", "a", ""),
            flow("bc", "b", "c", ""),
            flow("cd", "c", "d", ""),
            flow("de", "d", "e", ""),
            flow("ef", "e", "f", "")
        );
        let found = findings_of(&yaml);
        assert_eq!(ids(&found), ["sync-cycle", "long-sync-chain"]);
        assert_eq!(found[1].flows, ["bc", "cd", "de", "ef"]);
    }

    #[test]
    fn a_deep_chain_does_not_overflow_the_stack() {
        let mut yaml = String::from("version: 1\nflows:\n");
        for i in 0..20_000 {
            yaml.push_str(&flow(
                &format!("f{i}"),
                &format!("s{i}"),
                &format!("s{}", i + 1),
                "",
            ));
        }
        let found = findings_of(&yaml);
        let chain = found
            .iter()
            .find(|f| f.id == "long-sync-chain")
            .expect("long chain");
        assert_eq!(chain.flows.len(), 20_000);
    }

    #[test]
    fn percentages_and_downtime_read_naturally() {
        assert_eq!(percent(0.999), "99.9%");
        assert_eq!(percent(0.99), "99%");
        assert_eq!(percent(0.999 * 0.99), "98.901%");
        assert_eq!(downtime(0.999), "43 min");
        assert_eq!(downtime(0.989), "8 h");
    }

    #[test]
    fn severities_order_from_info_to_error() {
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Error);
    }
}
