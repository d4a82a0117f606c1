//! The system as a Graphviz DOT graph, for `dot -Tsvg` and the many tools
//! that read DOT.

use std::fmt::Write as _;

use crate::engine::evaluate::Report;
use crate::error::escape_controls;
use crate::render::diagram::{Diagram, color};
use crate::spec::model::FlowsFile;

pub fn render(file: &FlowsFile, report: &Report) -> String {
    let diagram = Diagram::of(file, report);
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quoted(&report.system));
    out.push_str("  rankdir=LR;\n");
    out.push_str("  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=10];\n");
    for service in &diagram.services {
        let _ = writeln!(out, "  {};", quoted(service));
    }
    for edge in &diagram.edges {
        let c = color(edge.transport);
        let style = if edge.synchronous() {
            "solid"
        } else {
            "dashed"
        };
        let _ = writeln!(
            out,
            "  {} -> {} [label={}, color=\"{c}\", fontcolor=\"{c}\", style={style}];",
            quoted(edge.from),
            quoted(edge.to),
            quoted(&format!("{}\\n{}", edge.flow, edge.transport)),
        );
    }
    out.push_str("}\n");
    out
}

/// A DOT double-quoted string; `\n` sequences the caller wrote stay line
/// breaks, control and bidirectional characters are escaped
/// ([`escape_controls`]).
fn quoted(text: &str) -> String {
    format!("\"{}\"", escape_controls(text).replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_text_keeps_line_breaks_and_escapes_control_characters() {
        assert_eq!(quoted("a\\nrest"), "\"a\\nrest\"");
        assert_eq!(
            quoted("say \"hi\"\u{1b}[2J\u{202e}"),
            "\"say \\\"hi\\\"\\u{1b}[2J\\u{202e}\""
        );
    }
}
