//! The picture every diagram format draws: services as nodes, one edge per
//! flow and receiver, coloured by transport, dashed when asynchronous.
//! Mermaid, DOT and SVG differ only in syntax, so they share this model and
//! cannot disagree about what the system looks like.

use crate::engine::evaluate::Report;
use crate::spec::model::{FlowsFile, Transport};

/// One arrow: a flow to one of its receivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge<'a> {
    pub flow: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub transport: Transport,
}

impl Edge<'_> {
    /// Whether the sender waits for the receiver: drawn solid.
    pub fn synchronous(&self) -> bool {
        self.transport.is_synchronous()
    }

    /// The edge's label: the flow and its transport.
    pub fn label(&self) -> String {
        format!("{} ({})", self.flow, self.transport)
    }
}

/// The nodes and edges of a report.
pub struct Diagram<'a> {
    /// Every service, sorted, including declared ones no flow names.
    pub services: Vec<&'a str>,
    /// Edges in file order, receivers in `to` order.
    pub edges: Vec<Edge<'a>>,
}

impl<'a> Diagram<'a> {
    pub fn of(file: &'a FlowsFile, report: &'a Report) -> Diagram<'a> {
        let services = file.services.keys().map(String::as_str).collect();
        let edges = report
            .flows
            .iter()
            .flat_map(|rec| {
                rec.to.iter().map(|to| Edge {
                    flow: &rec.name,
                    from: &rec.from,
                    to,
                    transport: rec.transport,
                })
            })
            .collect();
        Diagram { services, edges }
    }

    /// The position of `service` in [`Self::services`].
    pub fn index(&self, service: &str) -> Option<usize> {
        self.services.binary_search(&service).ok()
    }

    /// The transports drawn, in the documented order (rest, grpc, kafka),
    /// for legends.
    pub fn transports(&self) -> Vec<Transport> {
        Transport::ALL
            .iter()
            .copied()
            .filter(|t| self.edges.iter().any(|e| e.transport == *t))
            .collect()
    }
}

/// The colour of a transport in every diagram (the transport table's).
pub fn color(transport: Transport) -> &'static str {
    transport.profile().colour
}

/// The colour's name, for legends in plain text.
pub fn color_name(transport: Transport) -> &'static str {
    transport.profile().colour_name
}

/// How the legend describes a transport's line.
pub fn line_style(transport: Transport) -> &'static str {
    if transport.is_synchronous() {
        "solid: the caller waits"
    } else {
        "dashed: asynchronous"
    }
}
