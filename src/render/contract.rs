//! `commsadvise contract`: the contract as the user adopts or checks it.
//!
//! A seed or derived contract prints as its .proto text, ready to be saved
//! and named under `proto:`; a team's contract, which the team already
//! has, prints as a table of what each flow binds to.

use std::fmt::Write as _;

use serde_json::json;

use crate::contract::{Binding, BoundContract, Origin};
use crate::spec::model::FlowsFile;

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
                    let http = s.http.as_ref().map_or_else(String::new, |h| {
                        let body = h
                            .body
                            .as_ref()
                            .map_or_else(String::new, |b| format!(" (body: {b})"));
                        format!("{} {}{body}", h.method, h.path)
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
