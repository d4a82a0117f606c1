//! The report as one self-contained HTML page: the diagram as inline SVG,
//! the decision table, the system findings and each flow's reasons. No
//! script, no external style sheet, font or image, and a content security
//! policy that forbids loading any, so the page can be attached to a ticket
//! or opened offline and shows the same thing.

use std::fmt::Write as _;

use crate::engine::evaluate::Report;
use crate::render::diagram::{Diagram, color, line_style};
use crate::render::escape::html as escape;
use crate::render::{decided, disk_line, flip_line, margin, requirements, scores, svg, topic_line};
use crate::spec::model::FlowsFile;

const STYLE: &str = "
body { font: 15px/1.5 system-ui, -apple-system, 'Segoe UI', sans-serif; color: #212121; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #e0e0e0; padding-bottom: .2rem; }
h3 { font-size: 1.05rem; margin: 1.5rem 0 .3rem; }
.figure svg { max-width: 100%; height: auto; }
.figure { overflow-x: auto; border: 1px solid #e0e0e0; border-radius: 8px; padding: .5rem; background: #fff; }
.legend { display: flex; gap: 1.5rem; flex-wrap: wrap; font-size: .9rem; color: #424242; }
.legend svg { vertical-align: middle; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #eeeeee; vertical-align: top; }
th { background: #f5f5f5; }
.t { border-radius: 4px; padding: 0 .4rem; font-weight: 600; color: #212121; }
.t-rest { background: #e8f5e9; } .t-grpc { background: #e3f2fd; } .t-kafka { background: #f3e5f5; }
.sev { border-radius: 4px; padding: 0 .4rem; font-size: .8rem; font-weight: 600; text-transform: uppercase; }
.sev-error { background: #ffebee; color: #b71c1c; } .sev-warning { background: #fff8e1; color: #8d6e00; } .sev-info { background: #eceff1; color: #37474f; }
.finding { margin: .6rem 0 1rem; }
.muted { color: #616161; }
code { background: #f5f5f5; border-radius: 3px; padding: 0 .2rem; }
";

pub fn render(file: &FlowsFile, report: &Report) -> String {
    let mut out = String::new();
    let system = escape(&report.system);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>Communication decisions: {system}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
    );
    let count = report.flows.len();
    let _ = writeln!(
        out,
        "<h1>Communication decisions: {system}</h1>\n<p class=\"muted\">{count} flow{}, {} service{}, {} system finding{}.</p>",
        plural(count),
        file.services.len(),
        plural(file.services.len()),
        report.findings.len(),
        plural(report.findings.len())
    );

    out.push_str("<section id=\"diagram\">\n<h2>Services and flows</h2>\n<div class=\"figure\">\n");
    out.push_str(&svg::render(file, report));
    out.push_str("</div>\n");
    legend(&mut out, &Diagram::of(file, report));
    out.push_str("</section>\n");

    decisions(&mut out, report);
    findings(&mut out, report);

    out.push_str("<section id=\"flows\">\n<h2>Flows</h2>\n");
    for (rec, flow) in report.flows.iter().zip(&file.flows) {
        let t = rec.transport;
        let _ = writeln!(
            out,
            "<h3 id=\"flow-{name}\">{name}: <span class=\"t t-{t}\">{t}</span>{via}</h3>",
            name = escape(&rec.name),
            via = rec.via.map(|v| format!(" via {v}")).unwrap_or_default()
        );
        if let Some(d) = &flow.description {
            let _ = writeln!(out, "<p>{}</p>", escape(d));
        }
        let needs = requirements(flow);
        if !needs.is_empty() {
            let list: Vec<String> = needs
                .iter()
                .map(|(k, v)| format!("<code>{k}: {}</code>", escape(v)))
                .collect();
            let _ = writeln!(out, "<p>Requirements: {}.</p>", list.join(", "));
        }
        let _ = writeln!(
            out,
            "<p class=\"muted\">Scores: {}. Decided by {}; margin {}.</p>",
            scores(rec),
            escape(&decided(rec)),
            escape(&margin(rec))
        );
        if let Some(line) = flip_line(rec).filter(|_| rec.close_call) {
            let _ = writeln!(out, "<p class=\"muted\">{}.</p>", escape(&line));
        }
        out.push_str("<ul>\n");
        for r in rec.reasons.iter() {
            let _ = writeln!(
                out,
                "<li><strong>{}</strong> (<code>{}</code>: {}): {}</li>",
                r.criterion,
                escape(&r.rule),
                escape(&r.effect),
                escape(&r.text)
            );
        }
        for r in rec.risks.iter() {
            let _ = writeln!(
                out,
                "<li><span class=\"sev sev-warning\">risk</span> <code>{}</code>: {}</li>",
                escape(&r.id),
                escape(&r.text)
            );
        }
        for c in rec.conflicts.iter() {
            let _ = writeln!(
                out,
                "<li><span class=\"sev sev-error\">conflict</span> <code>{}</code>: {}</li>",
                escape(&c.id),
                escape(&c.text)
            );
        }
        if let Some(k) = &rec.kafka {
            let _ = writeln!(
                out,
                "<li><strong>Kafka</strong>: {}; {}. {}</li>",
                escape(&topic_line(k)),
                escape(&disk_line(k)),
                escape(k.warning)
            );
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n</body>\n</html>\n");
    out
}

fn legend(out: &mut String, diagram: &Diagram) {
    out.push_str("<p class=\"legend\">\n");
    for t in diagram.transports() {
        let dash = if t.is_synchronous() {
            ""
        } else {
            " stroke-dasharray=\"6 4\""
        };
        let _ = writeln!(
            out,
            "<span><svg width=\"28\" height=\"8\" aria-hidden=\"true\"><line x1=\"0\" y1=\"4\" x2=\"28\" y2=\"4\" stroke=\"{}\" stroke-width=\"2\"{dash}/></svg> {t} ({})</span>",
            color(t),
            line_style(t)
        );
    }
    out.push_str("</p>\n");
}

fn decisions(out: &mut String, report: &Report) {
    out.push_str("<section id=\"decisions\">\n<h2>Decisions</h2>\n<table>\n<thead><tr><th>Flow</th><th>From → To</th><th>Transport</th><th>Decided by</th><th>Margin</th><th>Risks</th><th>Conflicts</th></tr></thead>\n<tbody>\n");
    for rec in &report.flows {
        let t = rec.transport;
        let _ = writeln!(
            out,
            "<tr><td><a href=\"#flow-{name}\">{name}</a></td><td>{} → {}</td><td><span class=\"t t-{t}\">{t}</span></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&rec.from),
            escape(&rec.to.join(", ")),
            escape(&decided(rec)),
            escape(&margin(rec)),
            rec.risks.len(),
            rec.conflicts.len(),
            name = escape(&rec.name),
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn findings(out: &mut String, report: &Report) {
    out.push_str("<section id=\"findings\">\n<h2>System findings</h2>\n");
    if report.findings.is_empty() {
        out.push_str("<p>None: no synchronous cycles, over-long chains, unmet latency budgets, weak chains, single points of failure or N+1 fan-outs.</p>\n");
    }
    for f in &report.findings {
        let _ = writeln!(
            out,
            "<div class=\"finding\"><span class=\"sev sev-{s}\">{s}</span> <code>{id}</code> {text}<br><span class=\"muted\">Flows: {flows}.</span><br>Fix: {fix}</div>",
            s = f.severity,
            id = f.id,
            text = escape(&f.text),
            flows = escape(&f.flows.join(", ")),
            fix = escape(&f.fix)
        );
    }
    out.push_str("</section>\n");
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
