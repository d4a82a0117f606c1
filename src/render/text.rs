//! The default report for a terminal: a table, then each flow's reasons,
//! risks and conflicts. Colour is optional and decided by the caller.
//!
//! The report goes to a terminal, so text from flows.yaml or a rule file
//! reaches it only through [`escape_controls`]: a description holding an
//! escape sequence must not recolour or clear the screen, nor a
//! bidirectional override reorder what the reader sees. The colours are
//! the report's own, added after escaping.

use std::fmt::Write as _;

use crate::engine::evaluate::{KafkaSizing, Recommendation, Report};
use crate::engine::system::Severity;
use crate::error::escape_controls;
use crate::render::{decided, disk_line, flip_line, margin, requirements, scores, topic_line};
use crate::spec::model::{FlowsFile, Transport};

const WIDTH: usize = 100;

/// The widest a table column grows. Without a cap one flow to a thousand
/// services pushes every other column off the screen and, past 65,535
/// characters, overflows the formatter's width (a panic). A longer route is
/// shortened in the table; each flow's section below shows it in full.
const COLUMN_MAX: usize = 60;

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
        self.paint(t.profile().terminal_colour, t.as_str())
    }
}

pub fn render(file: &FlowsFile, report: &Report, color: bool) -> String {
    let style = Style { color };
    let mut out = String::new();
    summary_into(&mut out, report, &style);
    let route = |r: &Recommendation| format!("{} -> {}", r.from, r.to.join(", "));
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
            // Line by line, so that each line of a long description keeps
            // the indent; whatever else it holds is escaped.
            for line in d.lines() {
                let _ = writeln!(out, "  {}", escape_controls(line));
            }
        }
        let needs = requirements(flow);
        if !needs.is_empty() {
            let list: Vec<String> = needs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            wrap(&mut out, "  needs: ", &list.join(", "));
        }
        let _ = writeln!(out, "  scores: {}", scores(rec));
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

/// The head of the report: the system's name and the table of flows, one
/// a row (what `interactive` shows before and after the questions).
pub fn summary(report: &Report, color: bool) -> String {
    let mut out = String::new();
    summary_into(&mut out, report, &Style { color });
    out
}

fn summary_into(out: &mut String, report: &Report, style: &Style) {
    let count = report.flows.len();
    let _ = writeln!(
        out,
        "{}: {count} flow{}\n",
        style.paint("1", &escape_controls(&report.system)),
        if count == 1 { "" } else { "s" }
    );

    let name_w = report
        .flows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, COLUMN_MAX);
    let route_w = report
        .flows
        .iter()
        .map(|r| table_route(r).chars().count())
        .max()
        .unwrap_or(9)
        .clamp(9, COLUMN_MAX);
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
            table_route(rec),
            style.transport(rec.transport),
            decided(rec),
            margin(rec)
        );
    }
}

/// A flow's route as the table shows it: in full when it fits in
/// [`COLUMN_MAX`], else the receivers that fit and how many are left out
/// (`hub -> a, b, +1298 more`), or only their number (`hub -> 1300 services`).
fn table_route(r: &Recommendation) -> String {
    let mut shown = format!("{} ->", r.from);
    let full = shown.chars().count() + r.to.iter().map(|t| t.chars().count() + 2).sum::<usize>();
    if full <= COLUMN_MAX + 1 {
        return format!("{shown} {}", r.to.join(", "));
    }
    let mut separator = " ";
    for (i, to) in r.to.iter().enumerate() {
        let left_out = format!("+{} more", r.to.len() - i);
        // Room for this receiver and the count of those after it.
        let needed = separator.len() + to.chars().count() + 2 + left_out.len();
        if shown.chars().count() + needed > COLUMN_MAX {
            return if i == 0 {
                format!("{shown} {} services", r.to.len())
            } else {
                format!("{shown}{separator}{left_out}")
            };
        }
        shown.push_str(separator);
        shown.push_str(to);
        separator = ", ";
    }
    shown
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
/// `text` is the user's or a rule's and is escaped; `prefix` is ours and may
/// be coloured.
fn wrap(out: &mut String, prefix: &str, text: &str) {
    let indent = " ".repeat(visible_len(prefix));
    let mut line = prefix.to_owned();
    let mut len = visible_len(prefix);
    let mut first = true;
    for word in text.split_whitespace() {
        let word = escape_controls(word);
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
        line.push_str(&word);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The text report of a flows file, with the built-in rules.
    fn report_of(yaml: &str) -> String {
        let file = crate::spec::load_str("flows.yaml", yaml).expect("valid flows");
        let rules = crate::engine::RuleSet::builtin().expect("built-in rules load");
        let report = crate::engine::recommend(&file, &rules);
        render(&file, &report, false)
    }

    #[test]
    fn the_summary_is_the_head_of_the_report() {
        let file = crate::spec::load_str(
            "flows.yaml",
            "version: 1\nsystem: shop\nflows:\n  - name: get-order\n    from: a\n    to: b\n",
        )
        .expect("valid flows");
        let rules = crate::engine::RuleSet::builtin().expect("built-in rules load");
        let report = crate::engine::recommend(&file, &rules);
        let summary = summary(&report, false);
        assert!(summary.starts_with("shop: 1 flow\n\nFLOW"), "{summary}");
        assert_eq!(summary.lines().count(), 4, "{summary}");
        assert!(render(&file, &report, false).starts_with(&summary));
        assert!(!summary.contains("reasons:"), "{summary}");
    }

    /// A flow from `hub` to `n` services whose names are `width` characters.
    fn broadcast(n: usize, width: usize) -> String {
        let names: Vec<String> = (0..n)
            .map(|i| format!("s{i:0>w$}", w = width - 1))
            .collect();
        format!(
            "version: 1\nflows:\n  - name: broadcast\n    from: hub\n    interaction: event\n    to: [{}]\n",
            names.join(", ")
        )
    }

    fn table_row(report: &str) -> &str {
        report
            .lines()
            .find(|l| l.starts_with("broadcast "))
            .expect("a table row")
    }

    // Issue 17: 1,400 receivers of 48 characters made the route column
    // 70,000 characters wide, past the formatter's limit of 65,535 (a panic).
    #[test]
    fn a_flow_to_1400_long_named_services_keeps_the_table_narrow() {
        let report = report_of(&broadcast(1400, 48));
        let row = table_row(&report);
        assert!(row.starts_with("broadcast  hub -> 1400 services "), "{row}");
        assert!(
            row.chars().count() <= 4 + 2 + COLUMN_MAX + 2 + 9 + 2 + 24 + 2 + 20,
            "{row}"
        );
        // The flow's own section still names every receiver.
        assert!(report.contains(&format!("s{:0>47}", 1399)));
    }

    #[test]
    fn a_long_route_shows_the_receivers_that_fit_and_counts_the_rest() {
        let report = report_of(&broadcast(40, 4));
        let row = table_row(&report);
        assert!(row.contains("hub -> s000, s001, "), "{row}");
        let route = &row[row.find("hub ->").unwrap()..row.find(" more").unwrap() + 5];
        assert!(route.chars().count() <= COLUMN_MAX, "{route}");
        let shown = route.matches(", s").count() + 1;
        assert!(route.ends_with(&format!("+{} more", 40 - shown)), "{route}");
    }

    // Review item 5: a description or rule text printed raw could recolour,
    // clear or reorder the terminal.
    #[test]
    fn user_text_reaches_the_terminal_escaped() {
        let yaml = "version: 1\nflows:\n  - name: a\n    from: x\n    to: y\n    description: \"x\\e[31mRED\\u202Egnp.exe\\r\\nsecond line\"\n";
        let file = crate::spec::load_str("flows.yaml", yaml).expect("valid flows");
        let rules = crate::engine::RuleSet::builtin().expect("built-in rules load");
        let mut report = crate::engine::recommend(&file, &rules);
        // A user rule's text, as `--rules` would bring it.
        let mut reasons = report.flows[0].reasons.to_vec();
        reasons[0].text = "fires \u{1b}]0;owned\u{7} \u{2066}here".into();
        report.flows[0].reasons = reasons.into();
        for color in [false, true] {
            let shown = render(&file, &report, color);
            assert!(
                !shown.contains(['\u{202e}', '\u{2066}', '\u{7}', '\r']),
                "{shown:?}"
            );
            assert!(
                shown.contains("  x\\u{1b}[31mRED\\u{202e}gnp.exe\n  second line\n"),
                "{shown}"
            );
            assert!(shown.contains("fires \\u{1b}]0;owned\\u{7}"), "{shown}");
            assert!(shown.contains("\\u{2066}here"), "{shown}");
            if !color {
                assert!(!shown.contains('\u{1b}'), "{shown:?}");
            }
        }
    }

    #[test]
    fn a_route_that_fits_is_shown_whole() {
        let report = report_of(&broadcast(3, 4));
        assert!(table_row(&report).contains("hub -> s000, s001, s002 "));
    }
}
