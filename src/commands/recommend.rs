//! `commsadvise recommend FLOWS.yaml`: the report in the chosen format.

use crate::cli::{Format, RecommendArgs};
use crate::commands::{Failure, color, load_flows, load_rules, print, sizing};
use crate::engine::recommend_with;
use crate::render;

pub fn run(args: &RecommendArgs) -> Result<(), Failure> {
    let rules = load_rules(&args.rules)?;
    let flows = load_flows(&args.flows)?;
    let report = recommend_with(&flows, &rules, &sizing(&args.sizing));
    let text = match args.format {
        Format::Text => render::text::render(&flows, &report, color()),
        Format::Json => render::json::render(&report),
        Format::Markdown => render::markdown::render(&flows, &report),
        Format::Mermaid => render::mermaid::render(&flows, &report),
        Format::Dot => render::dot::render(&flows, &report),
        Format::Html => render::html::render(&flows, &report),
    };
    print(&text)
}
