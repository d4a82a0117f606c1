//! `commsadvise check FLOWS.yaml`: the CI gate. Prints every problem, then
//! exits 1 when a pinned transport breaks a requirement of its flow or a
//! system finding reaches `--fail-on`, and 0 otherwise. With `--against`
//! it also runs `contract check`, so one CI step gates both the decisions
//! and the contract; either failing fails the step, and the one verdict
//! (the last line, the JSON's `passed`) says so.

use crate::cli::{CheckArgs, CheckFormat, FailOn};
use crate::commands::contract::evolution_check;
use crate::commands::{Failure, load_flows_mapped, load_rules, print};
use crate::engine::gate::gate;
use crate::engine::recommend;
use crate::engine::system::Severity;
use crate::error::Error;
use crate::render::check;

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
    let contract = evolution.as_ref();
    let file = args.flows.display().to_string();
    let text = match args.format {
        CheckFormat::Text => check::text(&verdict, &file, &map, contract),
        CheckFormat::Json => check::json(&verdict, &file, &map, contract),
        CheckFormat::Github => check::github(&verdict, &file, &map, contract),
    };
    print(&text)?;
    if check::passed(&verdict, contract) {
        Ok(())
    } else {
        // Exit code 1 (docs/commands.md: "anything else"); the verdict is on stdout.
        Err(Error::Gate(check::summary(&verdict, contract)).into())
    }
}
