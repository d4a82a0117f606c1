//! `commsadvise recommend FLOWS.yaml`: the report in the chosen format.

use crate::cli::{Format, RecommendArgs};
use crate::commands::{Failure, color, load_flows, load_rules, print};
use crate::engine::recommend;
use crate::render;

pub fn run(args: &RecommendArgs) -> Result<(), Failure> {
    let rules = load_rules(&args.rules)?;
    let flows = load_flows(&args.flows)?;
    let report = recommend(&flows, &rules);
    let text = match args.format {
        Format::Text => render::text::render(&flows, &report, color()),
        Format::Json => render::json::render(&report),
        Format::Markdown => render::markdown::render(&flows, &report),
    };
    print(&text)
}
