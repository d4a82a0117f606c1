//! `commsadvise contract`: the contract as the user adopts or checks it.
//!
//! A seed or derived contract prints as its .proto text, ready to be saved
//! and named under `proto:`; a team's contract, which the team already
//! has, prints as a table of what each flow binds to.
//!
//! `contract check` prints its findings here: each breaking change as a
//! diagnostic at the new .proto line, with the old line below it, as JSON,
//! or as GitHub annotations of the new .proto files.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::contract::evolution::{Declaration, Finding};
use crate::contract::{Binding, BoundContract, Origin};
use crate::error::Diagnostic;
use crate::render::escape::{data, property};
use crate::spec::model::FlowsFile;

/// The .proto files one side of a check read: by import name, the path the
/// user knows the file by and its text.
#[derive(Debug, Clone, Default)]
pub struct Shown {
    pub files: BTreeMap<String, (String, String)>,
}

impl Shown {
    /// The path shown for an import name.
    pub fn path(&self, name: &str) -> String {
        self.files
            .get(name)
            .map_or_else(|| name.to_owned(), |(path, _)| path.clone())
    }
}

/// What `contract check` found, with the files to show lines from.
#[derive(Debug, Clone)]
pub struct Evolution {
    /// `--against` as given.
    pub against: String,
    /// How many flows were checked.
    pub flows: usize,
    pub findings: Vec<Finding>,
    pub old: Shown,
    pub new: Shown,
}

/// A declaration as a diagnostic pointing at its line, in the caret format
/// of every other error.
pub fn placed(message: String, shown: &Shown, d: &Declaration) -> Diagnostic {
    let diagnostic = Diagnostic::new(message, shown.path(&d.file));
    let Some(pos) = d.pos() else {
        return diagnostic;
    };
    let line = shown
        .files
        .get(&d.file)
        .and_then(|(_, text)| text.lines().nth(pos.line.saturating_sub(1)));
    // A declaration spanning lines is underlined to the end of its first.
    let width = if d.width > 0 {
        d.width
    } else {
        line.map_or(1, |l| {
            l.trim_end().chars().count().saturating_sub(pos.column - 1)
        })
    };
    diagnostic.at_line(line, pos, width)
}

fn flows_list(f: &Finding) -> String {
    let shown: Vec<String> = f
        .flows
        .iter()
        .map(|(flow, transport)| format!("{flow} ({transport})"))
        .collect();
    shown.join(", ")
}

/// The one-line verdict.
pub fn check_summary(e: &Evolution) -> String {
    match e.findings.len() {
        0 => format!(
            "contract check passed: no breaking change against `{}` for the {} flow{}",
            e.against,
            e.flows,
            if e.flows == 1 { "" } else { "s" }
        ),
        n => {
            let mut broken: Vec<&str> = e
                .findings
                .iter()
                .flat_map(|f| f.flows.iter().map(|(flow, _)| flow.as_str()))
                .collect();
            broken.sort_unstable();
            broken.dedup();
            format!(
                "contract check failed: {n} breaking change{} against `{}` (flows: {})",
                if n == 1 { "" } else { "s" },
                e.against,
                broken.join(", ")
            )
        }
    }
}

/// Each finding at its new line, the old line below it, then the verdict.
pub fn check_text(e: &Evolution) -> String {
    let mut out = String::new();
    for f in &e.findings {
        // Where it is now; where it was, when nothing of it is left.
        let mut d = match (&f.new, &f.old) {
            (Some(new), _) => placed(f.message.clone(), &e.new, new),
            (None, Some(old)) => placed(f.message.clone(), &e.old, old),
            (None, None) => Diagnostic::new(f.message.clone(), e.against.clone()),
        };
        d = d.note(format!("breaks: {}", flows_list(f)));
        if let Some(new) = &f.new {
            d = d.note(format!("new: `{}`", new.text));
        }
        let shown = d.to_string();
        let shown = shown
            .strip_prefix("error: ")
            .map_or(shown.clone(), |rest| format!("error[{}]: {rest}", f.rule));
        out.push_str(&shown);
        if let (Some(old), Some(_)) = (&f.old, &f.new) {
            let was = placed(format!("was `{}`", old.text), &e.old, old).to_string();
            let _ = write!(out, "{}", was.replacen("error: ", "note: ", 1));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "{}", check_summary(e));
    out
}

fn declaration_json(shown: &Shown, d: Option<&Declaration>) -> Value {
    d.map_or(Value::Null, |d| {
        json!({
            "declaration": d.text,
            "file": shown.path(&d.file),
            "line": d.line,
            "column": d.column,
        })
    })
}

fn finding_json(e: &Evolution, f: &Finding) -> Value {
    json!({
        "rule": f.rule,
        "message": f.message,
        "flows": f.flows.iter().map(|(flow, transport)| json!({"flow": flow, "transport": transport})).collect::<Vec<_>>(),
        "old": declaration_json(&e.old, f.old.as_ref()),
        "new": declaration_json(&e.new, f.new.as_ref()),
    })
}

/// The findings as a JSON value, for `check --against` to embed.
pub fn check_value(e: &Evolution) -> Value {
    json!({
        "against": e.against,
        "passed": e.findings.is_empty(),
        "breaking": e.findings.len(),
        "findings": e.findings.iter().map(|f| finding_json(e, f)).collect::<Vec<_>>(),
    })
}

pub fn check_json(e: &Evolution) -> String {
    let mut value = check_value(e);
    value["version"] = json!(1);
    let mut out = serde_json::to_string_pretty(&value).unwrap_or_default();
    out.push('\n');
    out
}

/// GitHub workflow commands, one `::error` per finding at its new .proto
/// line (the old one when the element is gone), without the verdict.
pub fn check_annotations(e: &Evolution) -> String {
    let mut out = String::new();
    for f in &e.findings {
        let (shown, at) = match (&f.new, &f.old) {
            (Some(new), _) => (&e.new, new),
            (None, Some(old)) => (&e.old, old),
            (None, None) => continue,
        };
        let mut props = format!("file={}", property(&shown.path(&at.file)));
        if let Some(pos) = at.pos() {
            let _ = write!(props, ",line={},col={}", pos.line, pos.column);
        }
        let _ = write!(
            props,
            ",title={}",
            property(&format!("commsadvise {}", f.rule))
        );
        let mut message = format!("{} (breaks: {})", f.message, flows_list(f));
        if let Some(old) = &f.old {
            let _ = write!(message, "\nWas: {}", old.text);
        }
        let _ = writeln!(out, "::error {props}::{}", data(&message));
    }
    out
}

pub fn check_github(e: &Evolution) -> String {
    let mut out = check_annotations(e);
    let _ = writeln!(out, "{}", check_summary(e));
    out
}

/// The text output.
pub fn text(flows: &FlowsFile, bound: &BoundContract) -> String {
    if let (Origin::Seed | Origin::Derived, Some(text)) = (bound.origin, &bound.text) {
        return text.clone();
    }
    let mut rows: Vec<[String; 5]> = vec![[
        "flow".into(),
        "interaction".into(),
        "binds to".into(),
        "served by / key".into(),
        "http".into(),
    ]];
    for binding in &bound.flows {
        let interaction = binding.interaction.to_string();
        match &binding.binding {
            Binding::Rpc { served } => {
                for (i, s) in served.iter().enumerate() {
                    let (flow, interaction) = if i == 0 {
                        (binding.flow.clone(), interaction.clone())
                    } else {
                        (String::new(), String::new())
                    };
                    // The primary route, then each additional binding.
                    let http = s.http.as_ref().map_or_else(String::new, |h| {
                        h.routes()
                            .map(|r| {
                                let parts: Vec<String> = [
                                    r.body.as_ref().map(|b| format!("body: {b}")),
                                    r.response_body.as_ref().map(|b| format!("response: {b}")),
                                ]
                                .into_iter()
                                .flatten()
                                .collect();
                                let body = if parts.is_empty() {
                                    String::new()
                                } else {
                                    format!(" ({})", parts.join(", "))
                                };
                                format!("{} {}{body}", r.method, r.path)
                            })
                            .collect::<Vec<_>>()
                            .join(", also ")
                    });
                    rows.push([
                        flow,
                        interaction,
                        s.rpc.clone(),
                        format!("served by {}", s.service),
                        http,
                    ]);
                }
            }
            Binding::Message { message, key } => rows.push([
                binding.flow.clone(),
                interaction,
                message.clone(),
                format!("keyed by {key}"),
                String::new(),
            ]),
        }
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!(
        "The team's contract of `{}`: {}\n\n",
        flows.system,
        bound.files.join(", ")
    );
    for row in &rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[c]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The JSON output: origin, files, the .proto text when commsadvise
/// made it, and every flow's binding.
pub fn json(bound: &BoundContract) -> String {
    let mut value = json!({
        "origin": bound.origin,
        "files": bound.files,
        "flows": bound.flows,
    });
    if let Some(text) = &bound.text {
        value["proto"] = json!(text);
    }
    let mut out = serde_json::to_string_pretty(&value).unwrap_or_default();
    out.push('\n');
    out
}
