//! `commsadvise rules [ID]`: lists the rules in force, or explains one.

use std::fmt::Write as _;

use crate::cli::RulesArgs;
use crate::commands::{Failure, load_rules, print};
use crate::engine::RuleSet;
use crate::engine::rule::{MAX_ID, Rule, suggest_id};
use crate::error::Diagnostic;

pub fn run(args: &RulesArgs) -> Result<(), Failure> {
    let rules = load_rules(&args.rules)?;
    let Some(id) = &args.id else {
        return print(&list(&rules));
    };
    let Some(rule) = rules.get(id) else {
        let ids: Vec<&str> = rules.all().iter().map(|r| &*r.id).collect();
        let mut d = Diagnostic::new(format!("no rule `{id}`"), "<rules>")
            .note("`commsadvise rules` lists every rule");
        if let Some(best) = suggest_id(id, &ids) {
            d = d.note(format!("did you mean `{best}`?"));
        }
        return Err(d.into());
    };
    print(&explain(rule))
}

/// Every rule in force, one a line, as `commsadvise rules` shows them.
pub fn list(rules: &RuleSet) -> String {
    let all = rules.all();
    // Ids are bounded when loaded; the cap keeps the column (and the
    // formatter's width argument) bounded whatever the rule set holds.
    let width = all
        .iter()
        .map(|r| r.id.chars().count())
        .max()
        .unwrap_or(2)
        .min(MAX_ID);
    let mut out = String::new();
    for rule in all {
        let _ = writeln!(
            out,
            "{:width$}  {:19}  {}",
            rule.id,
            rule.criterion.as_str(),
            rule.effect.describe()
        );
    }
    out
}

/// Everything about one rule, as `commsadvise rules ID` shows it. A team's
/// rule texts reach the terminal, so control and bidirectional characters
/// in them are escaped, as in every report.
pub fn explain(rule: &Rule) -> String {
    let safe = |text: &str| crate::error::escape_controls(text).into_owned();
    let mut out = String::new();
    let _ = writeln!(out, "{}", rule.id);
    let _ = writeln!(out, "  criterion: {}", rule.criterion);
    let _ = writeln!(out, "  when:      {}", rule.when.describe());
    let _ = writeln!(out, "  effect:    {}", rule.effect.describe());
    let _ = writeln!(out, "  text:      {}", safe(&rule.text));
    if let Some(r) = &rule.resolution {
        let _ = writeln!(out, "  resolves:  {}: {}", r.id, safe(r.text.trim()));
    }
    if let Some(s) = &rule.source {
        let _ = writeln!(out, "  source:    {}", safe(s));
    }
    let _ = writeln!(out, "  file:      {}", safe(&rule.origin));
    out
}
