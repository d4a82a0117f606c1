//! The graph the system checks read: services as numbers, the synchronous
//! hops between them, the chains below each service, and the requests each
//! service serves with the calls it makes while serving them. Built once
//! per report and shared by every check, so a check is only its judgement.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use crate::spec::model::{FlowsFile, Interaction, Service, Transport};

/// One synchronous hop: flow `flow` (index into the file) from a service to
/// service `to` (index into [`Graph::names`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Hop {
    pub(super) flow: usize,
    pub(super) to: usize,
}

/// Services as numbers, and the synchronous flows between them.
pub(super) struct Graph<'a> {
    /// Service names, sorted.
    pub(super) names: Vec<&'a str>,
    pub(super) availability: Vec<f64>,
    /// Synchronous hops out of each service, in file order.
    pub(super) out: Vec<Vec<Hop>>,
    /// For each flow: its name, its interaction, and whether it is synchronous.
    pub(super) flows: Vec<(&'a str, Interaction, bool)>,
    /// Per flow, its `latency_ms` (0 when not given).
    pub(super) latency: Vec<u64>,
    /// Per flow, its budget when given.
    pub(super) budget: Vec<Option<u64>>,
    /// Per flow, whether it is made once per item of a list.
    pub(super) per_item: Vec<bool>,
    /// Per flow, the inbound flow (index) it is made while serving.
    pub(super) during: Vec<Option<usize>>,
    /// Synchronous flows from a service to itself: (service, flow).
    pub(super) self_calls: Vec<(usize, usize)>,
}

impl<'a> Graph<'a> {
    /// The graph of `file` with `transports`, one per flow in file order.
    pub(super) fn new(file: &'a FlowsFile, transports: &[Transport]) -> Graph<'a> {
        let names: Vec<&str> = file.services.keys().map(String::as_str).collect();
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let availability = file.services.values().map(Service::availability).collect();
        let mut out = vec![Vec::new(); names.len()];
        let mut flows = Vec::with_capacity(file.flows.len());
        let mut self_calls = Vec::new();
        for (i, (flow, transport)) in file.flows.iter().zip(transports).enumerate() {
            // A webhook (an event over HTTP) is handed over, not waited on.
            let sync = transport.is_synchronous() && flow.interaction != Interaction::Event;
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

    pub(super) fn flow(&self, hop: Hop) -> String {
        self.flows[hop.flow].0.to_owned()
    }

    /// `a` → `b` → `c` for a chain starting at `start`.
    pub(super) fn route(&self, start: usize, hops: &[Hop]) -> String {
        let mut out = format!("`{}`", self.names[start]);
        for hop in hops {
            let _ = write!(out, " → `{}`", self.names[hop.to]);
        }
        out
    }

    pub(super) fn services(&self, start: usize, hops: &[Hop]) -> Vec<String> {
        std::iter::once(start)
            .chain(hops.iter().map(|h| h.to))
            .map(|i| self.names[i].to_owned())
            .collect()
    }
}

/// Strongly connected components and the longest, slowest and least
/// available chain below each service, on the acyclic part of the graph.
pub(super) struct Chains {
    /// The component of each service; a hop to a lower number leaves its
    /// component (Tarjan numbers components sinks first).
    pub(super) component: Vec<usize>,
    /// Whether some hop inside the graph reaches each service from another
    /// component: services without one start chains.
    pub(super) reached: Vec<bool>,
    /// Most hops below each service, and the hop that starts that chain.
    pub(super) depth: Vec<(usize, Option<Hop>)>,
    /// Largest sum of `latency_ms` below each service, and its first hop.
    pub(super) slowest: Vec<(u64, Option<Hop>)>,
    /// Lowest product of availabilities below each service, and its first hop.
    pub(super) weakest: Vec<(f64, Option<Hop>)>,
}

impl Chains {
    pub(super) fn of(graph: &Graph) -> Chains {
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
    pub(super) fn follow<T>(start: usize, next: &[(T, Option<Hop>)]) -> Vec<Hop> {
        let mut hops = Vec::new();
        let mut at = start;
        while let Some(hop) = next[at].1 {
            hops.push(hop);
            at = hop.to;
        }
        hops
    }

    /// Services where chains start: nothing outside their cycle calls them.
    pub(super) fn starts(&self) -> impl Iterator<Item = usize> + '_ {
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

/// One inbound synchronous request a service serves, and the synchronous
/// calls it makes while serving it.
pub(super) struct Request {
    pub(super) service: usize,
    /// The inbound request-response flow.
    pub(super) flow: usize,
    /// The calls made while serving it, in file order.
    pub(super) calls: Vec<Hop>,
}

impl Request {
    /// Every request with the calls made while serving it: those whose
    /// `during` names it, and, when it is the service's only inbound
    /// synchronous request, those that name none.
    pub(super) fn all(graph: &Graph) -> Vec<Request> {
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
    pub(super) fn targets(&self) -> BTreeSet<usize> {
        self.calls.iter().map(|h| h.to).collect()
    }

    /// The request, then its calls, as flow indices in file order.
    pub(super) fn flows(&self) -> Vec<usize> {
        let mut calls: Vec<usize> = self.calls.iter().map(|h| h.flow).collect();
        calls.dedup();
        std::iter::once(self.flow).chain(calls).collect()
    }

    /// `` `catalog` (`catalog-page`) ``.
    pub(super) fn named(&self, graph: &Graph) -> String {
        format!(
            "`{}` (`{}`)",
            graph.names[self.service], graph.flows[self.flow].0
        )
    }
}
