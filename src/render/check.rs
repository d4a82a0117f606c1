//! What `commsadvise check` prints: the problems of a [`Gate`] as text, as
//! JSON, or as GitHub workflow commands that annotate flows.yaml in a pull
//! request, each at the line of the flow involved. With `--against`, the
//! contract check's report follows, and the one verdict covers both: a
//! step that fails on the contract never reads "check passed".

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::engine::gate::{Gate, Problem, Source};
use crate::engine::system::Severity;
use crate::render::contract::{
    Evolution, check_annotations, check_summary, check_text, check_value,
};
use crate::render::escape::{data, property};
use crate::spec::model::{Pos, SourceMap};

/// Where a problem points in flows.yaml: the pin of a pinned conflict, the
/// first flow of a finding.
fn position(problem: &Problem, map: &SourceMap) -> Option<Pos> {
    let flow = problem.flows.first()?;
    match problem.source {
        Source::PinnedConflict => map.pin(flow),
        Source::RuledOut | Source::Finding => map.flow(flow),
    }
}

/// Whether the decisions and, when it ran, the contract check passed.
pub fn passed(gate: &Gate, contract: Option<&Evolution>) -> bool {
    gate.passed() && contract.is_none_or(|e| e.findings.is_empty())
}

/// The one-line verdict: the decisions', then the contract check's.
pub fn summary(gate: &Gate, contract: Option<&Evolution>) -> String {
    let verdict = if passed(gate, contract) {
        "passed"
    } else {
        "failed"
    };
    match contract {
        Some(e) => format!("check {verdict}: {}; {}", decisions(gate), check_summary(e)),
        None => format!("check {verdict}: {}", decisions(gate)),
    }
}

/// What the decisions' part of the verdict says.
fn decisions(gate: &Gate) -> String {
    let failing = gate.failing();
    let total = gate.problems.len();
    if failing == 0 {
        let below = match total {
            0 => String::new(),
            1 => "; 1 finding below it".to_owned(),
            n => format!("; {n} findings below it"),
        };
        format!(
            "no pinned conflicts and no findings at or above `{}`{below}",
            gate.fail_on
        )
    } else {
        let always = if gate.problems.iter().any(|p| p.source == Source::RuledOut) {
            "pinned conflicts and transports ruled out for a flow always count"
        } else {
            "pinned conflicts always count"
        };
        format!(
            "{failing} problem{} at or above `{}` ({always})",
            if failing == 1 { "" } else { "s" },
            gate.fail_on
        )
    }
}

/// The problems, the contract check's findings, then the verdict.
pub fn text(gate: &Gate, file: &str, map: &SourceMap, contract: Option<&Evolution>) -> String {
    let mut out = String::new();
    for p in &gate.problems {
        let at =
            position(p, map).map_or_else(|| file.to_owned(), |pos| format!("{file}:{}", pos.line));
        let mark = if p.failing { "FAIL" } else { "note" };
        let _ = writeln!(out, "{mark} {}[{}] {at}: {}", p.severity, p.id, p.text);
        let _ = writeln!(out, "  flows: {}", p.flows.join(", "));
        if let Some(fix) = p.fix {
            let _ = writeln!(out, "  fix: {fix}");
        }
    }
    if let Some(e) = contract {
        out.push_str(&check_text(e));
    }
    let _ = writeln!(out, "{}", summary(gate, contract));
    out
}

/// The JSON report: `passed` is the one verdict, `contract` the contract
/// check's own report when it ran.
pub fn json(gate: &Gate, file: &str, map: &SourceMap, contract: Option<&Evolution>) -> String {
    let mut value = json_value(gate, file, map, contract);
    if let Some(e) = contract {
        value["contract"] = check_value(e);
    }
    let mut out = serde_json::to_string_pretty(&value).unwrap_or_default();
    out.push('\n');
    out
}

fn json_value(gate: &Gate, file: &str, map: &SourceMap, contract: Option<&Evolution>) -> Value {
    let problems: Vec<Value> = gate
        .problems
        .iter()
        .map(|p| {
            let pos = position(p, map);
            json!({
                "source": p.source.as_str(),
                "id": p.id,
                "severity": p.severity,
                "failing": p.failing,
                "flows": p.flows,
                "file": file,
                "line": pos.map(|p| p.line),
                "column": pos.map(|p| p.column),
                "text": p.text,
                "fix": p.fix,
            })
        })
        .collect();
    json!({
        "version": 1,
        "fail_on": gate.fail_on,
        "passed": passed(gate, contract),
        "failing": gate.failing(),
        "problems": problems,
    })
}

/// GitHub workflow commands: `::error file=…,line=…,title=…::message`, one
/// per problem. Failing problems are errors; the others keep their own
/// level, so a warning below `--fail-on` still shows on the pull request.
/// The contract check's annotations follow, then the verdict.
pub fn github(gate: &Gate, file: &str, map: &SourceMap, contract: Option<&Evolution>) -> String {
    let mut out = String::new();
    for p in &gate.problems {
        let level = match (p.failing, p.severity) {
            (true, _) | (false, Severity::Error) => "error",
            (false, Severity::Warning) => "warning",
            (false, Severity::Info) => "notice",
        };
        let mut props = format!("file={}", property(file));
        if let Some(pos) = position(p, map) {
            let _ = write!(props, ",line={},col={}", pos.line, pos.column);
        }
        let _ = write!(
            props,
            ",title={}",
            property(&format!("commsadvise {}", p.id))
        );
        let mut message = format!("{} (flows: {})", p.text, p.flows.join(", "));
        if let Some(fix) = p.fix {
            let _ = write!(message, "\nFix: {fix}");
        }
        let _ = writeln!(out, "::{level} {props}::{}", data(&message));
    }
    if let Some(e) = contract {
        out.push_str(&check_annotations(e));
    }
    let _ = writeln!(out, "{}", summary(gate, contract));
    out
}
