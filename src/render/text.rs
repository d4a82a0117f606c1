//! The default report for a terminal: a table, then each flow's reasons,
//! risks and conflicts. Colour is optional and decided by the caller.

use std::fmt::Write as _;

use crate::engine::evaluate::{KafkaSizing, Recommendation, Report};
use crate::engine::findings::Severity;
use crate::render::{decided, disk_line, flip_line, margin, requirements, topic_line};
use crate::spec::model::{FlowsFile, Transport};

const WIDTH: usize = 100;

struct Style {
    color: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn transport(&self, t: Transport) -> String {
        let code = match t {
            Transport::Rest => "32",
            Transport::Grpc => "34",
            Transport::Kafka => "35",
        };
        self.paint(code, t.as_str())
    }
}

pub fn render(file: &FlowsFile, report: &Report, color: bool) -> String {
    let style = Style { color };
    let mut out = String::new();
    let count = report.flows.len();
    let _ = writeln!(
        out,
        "{}: {count} flow{}\n",
        style.paint("1", &report.system),
        if count == 1 { "" } else { "s" }
    );

    let route = |r: &Recommendation| format!("{} -> {}", r.from, r.to.join(", "));
    let name_w = report
        .flows
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let route_w = report
        .flows
        .iter()
        .map(|r| route(r).len())
        .max()
        .unwrap_or(9)
        .max(9);
    let _ = writeln!(
        out,
        "{:name_w$}  {:route_w$}  {:9}  {:24}  MARGIN",
        "FLOW", "FROM -> TO", "TRANSPORT", "DECIDED BY"
    );
    for rec in &report.flows {
        let t = rec.transport.as_str();
        let pad = " ".repeat(9usize.saturating_sub(t.len()));
        let _ = writeln!(
            out,
            "{:name_w$}  {:route_w$}  {}{pad}  {:24}  {}",
            rec.name,
            route(rec),
            style.transport(rec.transport),
            decided(rec),
            margin(rec)
        );
    }

    for (rec, flow) in report.flows.iter().zip(&file.flows) {
        let via = rec.via.map(|v| format!(" via {v}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "\n{} {}{via} ({})",
            style.paint("1", &format!("{}:", rec.name)),
            style.transport(rec.transport),
            route(rec)
        );
        if let Some(d) = &flow.description {
            let _ = writeln!(out, "  {d}");
        }
        let needs = requirements(flow);
        if !needs.is_empty() {
            let list: Vec<String> = needs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            wrap(&mut out, "  needs: ", &list.join(", "));
        }
        let _ = writeln!(
            out,
            "  scores: rest {:+}, grpc {:+}, kafka {:+}",
            rec.scores.rest, rec.scores.grpc, rec.scores.kafka
        );
        let _ = writeln!(out, "  reasons:");
        for r in rec.reasons.iter() {
            wrap(
                &mut out,
                "    + ",
                &format!("[{}] {} ({}): {}", r.criterion, r.rule, r.effect, r.text),
            );
        }
        if !rec.risks.is_empty() {
            let _ = writeln!(out, "  risks:");
            for r in rec.risks.iter() {
                wrap(
                    &mut out,
                    &format!("    {} ", style.paint("33", "!")),
                    &format!("{} [{}]: {}", r.id, r.criterion, r.text),
                );
            }
        }
        if !rec.conflicts.is_empty() {
            let _ = writeln!(out, "  conflicts:");
            for c in rec.conflicts.iter() {
                wrap(
                    &mut out,
                    &format!("    {} ", style.paint("31", "x")),
                    &format!("{}: {}", c.id, c.text),
                );
            }
        }
        tail(&mut out, rec, &style);
    }
    findings(&mut out, report, &style);
    out
}

/// What closes a flow's section: how close the call was, and the topic.
fn tail(out: &mut String, rec: &Recommendation, style: &Style) {
    if let Some(line) = flip_line(rec) {
        wrap(out, "  ", &line);
    }
    if let Some(k) = &rec.kafka {
        kafka(out, k, style);
    }
}

fn kafka(out: &mut String, k: &KafkaSizing, style: &Style) {
    let _ = writeln!(out, "  kafka:");
    wrap(out, "    ", &topic_line(k));
    wrap(out, "    ", &disk_line(k));
    wrap(out, &format!("    {} ", style.paint("33", "!")), k.warning);
}

fn findings(out: &mut String, report: &Report, style: &Style) {
    if report.findings.is_empty() {
        let _ = writeln!(out, "\nsystem findings: none");
        return;
    }
    let _ = writeln!(
        out,
        "\n{}",
        style.paint("1", &format!("system findings: {}", report.findings.len()))
    );
    for f in &report.findings {
        let (code, mark) = match f.severity {
            Severity::Error => ("31", "x"),
            Severity::Warning => ("33", "!"),
            Severity::Info => ("36", "i"),
        };
        wrap(
            out,
            &format!("  {} ", style.paint(code, mark)),
            &format!("{} [{}]: {}", f.id, f.severity, f.text),
        );
        wrap(out, "    flows: ", &f.flows.join(", "));
        wrap(out, "    fix: ", &f.fix);
    }
}

/// Writes `text` after `prefix`, wrapped at [`WIDTH`] with a hanging indent.
fn wrap(out: &mut String, prefix: &str, text: &str) {
    let indent = " ".repeat(visible_len(prefix));
    let mut line = prefix.to_owned();
    let mut len = visible_len(prefix);
    let mut first = true;
    for word in text.split_whitespace() {
        if !first && len + 1 + word.len() > WIDTH {
            out.push_str(&line);
            out.push('\n');
            line.clone_from(&indent);
            len = indent.len();
            first = true;
        }
        if !first {
            line.push(' ');
            len += 1;
        }
        line.push_str(word);
        len += word.chars().count();
        first = false;
    }
    out.push_str(&line);
    out.push('\n');
}

/// Length without ANSI escapes.
fn visible_len(s: &str) -> usize {
    let mut len = 0;
    let mut escape = false;
    for c in s.chars() {
        match (escape, c) {
            (false, '\x1b') => escape = true,
            (true, 'm') => escape = false,
            (true, _) => {}
            (false, _) => len += 1,
        }
    }
    len
}
