//! The system as a Mermaid flowchart: renders in GitHub Markdown, so the
//! Markdown report embeds it. Labels are names, which the loader limits to
//! `[a-z0-9-]`; they are escaped all the same ([`escape_controls`]), so no
//! later change to the names can bring a control character into a document.

use std::fmt::Write as _;

use crate::engine::evaluate::Report;
use crate::error::escape_controls;
use crate::render::diagram::{Diagram, color};
use crate::spec::model::FlowsFile;

/// The flowchart alone, without a fence.
pub fn render(file: &FlowsFile, report: &Report) -> String {
    let diagram = Diagram::of(file, report);
    let mut out = String::from("flowchart LR\n");
    // Ids are positions, not names: Mermaid reserves words such as `end`,
    // and a name with '-' could read as part of an arrow.
    for (i, service) in diagram.services.iter().enumerate() {
        let _ = writeln!(out, "  s{i}[\"{}\"]", escape_controls(service));
    }
    for edge in &diagram.edges {
        let (Some(from), Some(to)) = (diagram.index(edge.from), diagram.index(edge.to)) else {
            continue;
        };
        let arrow = if edge.synchronous() { "-->" } else { "-.->" };
        let _ = writeln!(
            out,
            "  s{from} {arrow}|\"{}\"| s{to}",
            escape_controls(&edge.label())
        );
    }
    for (i, edge) in diagram.edges.iter().enumerate() {
        let c = color(edge.transport);
        let _ = writeln!(out, "  linkStyle {i} stroke:{c},stroke-width:2px,color:{c}");
    }
    out
}
