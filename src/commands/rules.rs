//! `commsadvise rules [ID]`: lists the rules in force and the system
//! checks, or explains one of them.

use std::fmt::Write as _;

use crate::cli::RulesArgs;
use crate::commands::{Failure, load_rules, print};
use crate::engine::RuleSet;
use crate::engine::rule::{MAX_ID, Rule, suggest_id};
use crate::engine::system::{self, CHECKS, Check};
use crate::error::Diagnostic;

pub fn run(args: &RulesArgs) -> Result<(), Failure> {
    let rules = load_rules(&args.rules)?;
    let Some(id) = &args.id else {
        return print(&list(&rules));
    };
    // A team's rule may take the id of a system check; the rule is what
    // the team asked about.
    if let Some(rule) = rules.get(id) {
        return print(&explain(rule));
    }
    let Some(check) = system::check(id) else {
        let all = rules.all();
        let ids: Vec<&str> = all
            .iter()
            .map(|r| &*r.id)
            .chain(CHECKS.iter().map(|c| c.id))
            .collect();
        let mut d = Diagnostic::new(format!("no rule `{id}`"), "<rules>")
            .note("`commsadvise rules` lists every rule and system check");
        if let Some(best) = suggest_id(id, &ids) {
            d = d.note(format!("did you mean `{best}`?"));
        }
        return Err(d.into());
    };
    print(&explain_check(check))
}

/// Every rule in force, one a line, then every system check, as
/// `commsadvise rules` shows them.
pub fn list(rules: &RuleSet) -> String {
    let all = rules.all();
    // Ids are bounded when loaded; the cap keeps the column (and the
    // formatter's width argument) bounded whatever the rule set holds.
    let width = all
        .iter()
        .map(|r| r.id.chars().count())
        .chain(CHECKS.iter().map(|c| c.id.len()))
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
    // The checks run over the whole graph once the rules have chosen, so
    // they come after the rules, apart.
    out.push('\n');
    for check in CHECKS {
        let _ = writeln!(
            out,
            "{:width$}  {:19}  {}",
            check.id,
            format!("system ({})", check.severity),
            check.fires_when()
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

/// Everything about one system check, as `commsadvise rules ID` shows it.
pub fn explain_check(check: &Check) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", check.id);
    let _ = writeln!(
        out,
        "  check:     {}, over the whole system once transports are chosen",
        check.severity
    );
    let _ = writeln!(out, "  when:      {}", check.fires_when());
    let _ = writeln!(out, "  why:       {}", check.why);
    let _ = writeln!(out, "  example:   {}", check.example);
    let _ = writeln!(out, "  fix:       {}", check.fix);
    out
}
