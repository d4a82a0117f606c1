//! The JSON report (docs/output.md): the report's own serde shape, so keys can be
//! added but never drift from the types.

use crate::engine::evaluate::Report;

pub fn render(report: &Report) -> String {
    let mut out =
        serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    out.push('\n');
    out
}
