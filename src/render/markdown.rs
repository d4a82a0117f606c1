//! The Markdown report: a decision table, the Mermaid diagram (GitHub draws
//! it), the system findings and a section per flow, fit for a pull request.
//!
//! A report is pasted where others read it, so text from flows.yaml or a
//! rule file never reaches it as HTML: a `<!--` in a description would hide
//! the rest of a pull-request comment, and a tag or image would inject
//! content. Nor does it carry control or bidirectional characters, which
//! reorder or hide text in a reader's view. Names need nothing: the loader
//! allows only `[a-z0-9-]`.

use std::fmt::Write as _;

use crate::engine::evaluate::Report;
use crate::render::diagram::{Diagram, color_name};
use crate::render::escape::{markdown_inert as inert, markdown_no_html as no_html};
use crate::render::{
    decided, disk_line, margin, mermaid, requirements, scores, topic_line, transport_label,
};
use crate::spec::model::FlowsFile;

pub fn render(file: &FlowsFile, report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Communication decisions: {}\n", report.system);
    let _ = writeln!(
        out,
        "| Flow | From → To | Transport | Decided by | Margin | Conflicts |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for rec in &report.flows {
        let _ = writeln!(
            out,
            "| [{}](#{}) | {} → {} | **{}** | {} | {} | {} |",
            rec.name,
            rec.name,
            rec.from,
            rec.to.join(", "),
            rec.transport,
            decided(rec),
            margin(rec),
            rec.conflicts.len()
        );
    }
    system(&mut out, file, report);
    for (rec, flow) in report.flows.iter().zip(&file.flows) {
        let _ = writeln!(out, "\n## {}\n", rec.name);
        let _ = writeln!(
            out,
            "**{}** from `{}` to {}.",
            transport_label(rec),
            rec.from,
            code_list(&rec.to)
        );
        if let Some(d) = &flow.description {
            let _ = writeln!(out, "\n{}", quote_block(d));
        }
        let needs = requirements(flow);
        if !needs.is_empty() {
            let list: Vec<String> = needs.iter().map(|(k, v)| format!("`{k}: {v}`")).collect();
            let _ = writeln!(out, "\nRequirements: {}.", list.join(", "));
        }
        let _ = writeln!(
            out,
            "\nScores: {}. Decided by {}; margin {}.",
            scores(rec),
            decided(rec),
            margin(rec)
        );
        let _ = writeln!(out, "\n### Why\n");
        for r in rec.reasons.iter() {
            let _ = writeln!(
                out,
                "- **{}** (`{}`: {}): {}",
                r.criterion,
                r.rule,
                r.effect,
                no_html(&r.text)
            );
        }
        if !rec.risks.is_empty() {
            let _ = writeln!(out, "\n### Risks\n");
            for r in rec.risks.iter() {
                let _ = writeln!(
                    out,
                    "- **{}** (`{}`): {}",
                    r.criterion,
                    r.id,
                    no_html(&r.text)
                );
            }
        }
        if !rec.conflicts.is_empty() {
            let _ = writeln!(out, "\n### Conflicts\n");
            for c in rec.conflicts.iter() {
                let _ = writeln!(out, "- **{}**: {}", c.id, no_html(&c.text));
            }
        }
        if !rec.flips.is_empty() || rec.close_call {
            let _ = writeln!(out, "\n### What would change it\n");
            if let (true, Some(m), Some(r)) = (rec.close_call, rec.margin, rec.runner_up) {
                let _ = writeln!(out, "- **Close call:** won by {m:+} over {r}.");
            }
            for f in rec.flips.iter() {
                let _ = writeln!(out, "- {}", f.sentence());
            }
        }
        if let Some(k) = &rec.kafka {
            let _ = writeln!(out, "\n### Kafka topic\n");
            let _ = writeln!(out, "- {}", topic_line(k));
            let _ = writeln!(out, "- {}", disk_line(k));
            let _ = writeln!(out, "- **Warning:** {}", k.warning);
        }
    }
    out
}

/// The Mermaid diagram and the system findings.
fn system(out: &mut String, file: &FlowsFile, report: &Report) {
    let _ = writeln!(out, "\n## Diagram\n");
    let _ = writeln!(out, "```mermaid\n{}```", mermaid::render(file, report));
    let legend: Vec<String> = Diagram::of(file, report)
        .transports()
        .into_iter()
        .map(|t| format!("{t} {}", color_name(t)))
        .collect();
    if !legend.is_empty() {
        let _ = writeln!(
            out,
            "\nSolid arrows are synchronous (the caller waits), dotted ones asynchronous; {}.",
            legend.join(", ")
        );
    }
    let _ = writeln!(out, "\n## System findings\n");
    if report.findings.is_empty() {
        let _ = writeln!(out, "None.");
    }
    for f in &report.findings {
        let _ = writeln!(
            out,
            "- **{}** `{}`: {} Flows: {}. **Fix:** {}",
            f.severity,
            f.id,
            no_html(&f.text),
            code_list(&f.flows),
            no_html(&f.fix)
        );
    }
}

fn code_list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A description as a block quote, every line of it, so that a line break
/// cannot end the quote and start a heading or list of its own.
fn quote_block(text: &str) -> String {
    let lines: Vec<String> = text
        .lines()
        .map(|line| format!("> {}", inert(line)).trim_end().to_owned())
        .collect();
    if lines.is_empty() {
        return ">".to_owned();
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_description_cannot_hide_or_inject_content() {
        let shown = quote_block(
            "Shows <!-- the rest is hidden\n# Heading ![x](https://t.example/p.png) & <b>bold</b>",
        );
        assert_eq!(
            shown,
            "> Shows &lt;\\!-- the rest is hidden\n> \\# Heading \\!\\[x\\](https://t.example/p.png) &amp; &lt;b&gt;bold&lt;/b&gt;"
        );
        assert!(!shown.contains('<'));
    }

    #[test]
    fn a_quoted_description_carries_no_escape_sequence() {
        let shown = quote_block("x\u{1b}[31mRED\u{202e}gnp.exe");
        assert!(!shown.contains(['\u{1b}', '\u{202e}']), "{shown:?}");
    }
}
