//! System checks: what the chosen transports add up to across the whole
//! graph of services, which no single flow's recommendation can see.
//!
//! The seed article warns that synchronous calls "make failures contagious";
//! most incidents come from how calls compose, not from one call. Each check
//! is a pure function over the graph whose nodes are services and whose
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
//!
//! The checks are a registry, like the rules: one file per check, each
//! declaring a [`Check`] (its id, severity, documentation and function),
//! and [`CHECKS`] lists them. `commsadvise rules` lists and explains them
//! from it, and a test holds the table of docs/output.md to it. A new check
//! is one file and one line in [`CHECKS`].

use std::fmt::Write as _;

use serde::Serialize;

use crate::keywords::keywords;
use crate::spec::model::{FlowsFile, Transport};

mod graph;

mod chain_availability;
mod latency_budget;
mod long_sync_chain;
mod n_plus_one;
mod request_availability;
mod self_call;
mod single_point_of_failure;
mod sync_cycle;
mod sync_fan_out;

use graph::{Chains, Graph, Request};

pub use chain_availability::AVAILABILITY_TARGET;
pub use long_sync_chain::MAX_SYNC_HOPS;
pub use request_availability::MIN_TARGETS;
pub use single_point_of_failure::{PER_ITEM_WEIGHT, SPOF_CALLERS};
pub use sync_fan_out::FAN_OUT;

keywords! {
    /// How much a finding matters; `check --fail-on` compares against it.
    Severity { Info = "info", Warning = "warning", Error = "error" }
}

/// One system check: what it is called, how much it matters, what a reader
/// of `commsadvise rules ID` learns about it, and the function that runs it.
#[derive(Debug)]
pub struct Check {
    /// Stable identifier: `sync-cycle`, `long-sync-chain`, …
    pub id: &'static str,
    pub severity: Severity,
    /// When it fires, in one line (the table of docs/output.md): a
    /// function, so that a threshold in the text is the constant the check
    /// compares with, never a copy of it.
    when: fn() -> String,
    /// Why it matters.
    pub why: &'static str,
    /// A system where it fires.
    pub example: &'static str,
    /// The way out, in general; each finding says it for its own flows.
    pub fix: &'static str,
    /// The findings over one system, each with where its first flow sits.
    run: fn(&System) -> Vec<Placed>,
}

impl Check {
    /// When it fires, in one line (the table of docs/output.md).
    pub fn fires_when(&self) -> String {
        (self.when)()
    }
}

/// Every system check, in the order of the table of docs/output.md: most
/// severe first.
pub const CHECKS: &[&Check] = &[
    &sync_cycle::CHECK,
    &latency_budget::CHECK,
    &long_sync_chain::CHECK,
    &chain_availability::CHECK,
    &request_availability::CHECK,
    &single_point_of_failure::CHECK,
    &n_plus_one::CHECK,
    &sync_fan_out::CHECK,
    &self_call::CHECK,
];

/// The check called `id`.
pub fn check(id: &str) -> Option<&'static Check> {
    CHECKS.iter().copied().find(|c| c.id == id)
}

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

/// What every check reads, built once per report.
struct System<'a> {
    graph: Graph<'a>,
    chains: Chains,
    requests: Vec<Request>,
}

/// Every system check over `file` with `transports` (the transport of each
/// flow, in file order): most severe first, then by id, then by where the
/// first flow involved sits in the file.
pub fn findings(file: &FlowsFile, transports: &[Transport]) -> Vec<Finding> {
    let graph = Graph::new(file, transports);
    let chains = Chains::of(&graph);
    let requests = Request::all(&graph);
    let system = System {
        graph,
        chains,
        requests,
    };
    let mut out: Vec<Placed> = CHECKS.iter().flat_map(|c| (c.run)(&system)).collect();
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
mod tests;
