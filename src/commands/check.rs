//! `commsadvise check FLOWS.yaml`: the CI gate. Prints every problem, then
//! exits 1 when a pinned transport breaks a requirement of its flow or a
//! system finding reaches `--fail-on`, and 0 otherwise. With `--against`
//! it also runs `contract check`, so one CI step gates both the decisions
//! and the contract; either failing fails the step.

use crate::cli::{CheckArgs, CheckFormat, FailOn};
use crate::commands::contract::evolution_check;
use crate::commands::{Failure, load_flows_mapped, load_rules, print};
use crate::engine::findings::Severity;
use crate::engine::gate::gate;
use crate::engine::recommend;
use crate::error::Error;
use crate::render::{check, contract};

pub fn run(args: &CheckArgs) -> Result<(), Failure> {
    let rules = load_rules(&args.rules)?;
    let (flows, map) = load_flows_mapped(&args.flows)?;
    let report = recommend(&flows, &rules);
    let fail_on = match args.fail_on {
        FailOn::Info => Severity::Info,
        FailOn::Warning => Severity::Warning,
        FailOn::Error => Severity::Error,
    };
    let verdict = gate(&report, fail_on);
    let evolution = match &args.against {
        Some(against) => Some(evolution_check(&args.flows, &flows, against, &rules)?),
        None => None,
    };
    let file = args.flows.display().to_string();
    let mut text = match args.format {
        CheckFormat::Text => check::text(&verdict, &file, &map),
        CheckFormat::Json => {
            let mut value = check::json_value(&verdict, &file, &map);
            if let Some(e) = &evolution {
                value["contract"] = contract::check_value(e);
            }
            let mut out = serde_json::to_string_pretty(&value).unwrap_or_default();
            out.push('\n');
            out
        }
        CheckFormat::Github => check::github(&verdict, &file, &map),
    };
    if let Some(e) = &evolution {
        match args.format {
            CheckFormat::Text => text.push_str(&contract::check_text(e)),
            CheckFormat::Json => {}
            CheckFormat::Github => {
                text.push_str(&contract::check_annotations(e));
                text.push_str(&contract::check_summary(e));
                text.push('\n');
            }
        }
    }
    print(&text)?;
    let mut failed = Vec::new();
    if !verdict.passed() {
        failed.push(check::summary(&verdict));
    }
    if let Some(e) = evolution.as_ref().filter(|e| !e.findings.is_empty()) {
        failed.push(contract::check_summary(e));
    }
    if failed.is_empty() {
        Ok(())
    } else {
        // Exit code 1 (docs/commands.md: "anything else"); the verdict is on stdout.
        Err(Error::Gate(failed.join("; ")).into())
    }
}
