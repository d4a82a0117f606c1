//! The command line as clap types, and nothing else: commands turn these
//! raw arguments into validated configuration.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Recommends REST, gRPC or Kafka for each service-to-service flow, explains
/// why, and scaffolds a Rust workspace that builds and passes its own tests.
#[derive(Debug, Parser)]
#[command(name = "commsadvise", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One recommendation per flow, with its reasons, risks and conflicts.
    Recommend(RecommendArgs),
    /// Writes a Rust workspace (axum, tonic, rdkafka) for the flows.
    Scaffold(ScaffoldArgs),
    /// A questionnaire that builds a flows.yaml, step by step.
    #[command(alias = "ask")]
    Interactive(InteractiveArgs),
    /// Lists the rules, or explains one.
    Rules(RulesArgs),
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, clap::Args)]
pub struct RulesOption {
    /// Extra rule file or folder (repeatable); a rule with a built-in id replaces it.
    #[arg(long = "rules", value_name = "FILE_OR_DIR")]
    pub rules: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct RecommendArgs {
    /// The flows file (flows.yaml v1).
    #[arg(value_name = "FLOWS.yaml")]
    pub flows: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub rules: RulesOption,
}

#[derive(Debug, clap::Args)]
pub struct ScaffoldArgs {
    /// The flows file; the built-in orders example when left out.
    #[arg(value_name = "FLOWS.yaml")]
    pub flows: Option<PathBuf>,
    /// The folder to write the workspace into.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Write into a non-empty folder, replacing files there.
    #[arg(long)]
    pub force: bool,
    /// Print what would be written, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub rules: RulesOption,
}

#[derive(Debug, clap::Args)]
pub struct InteractiveArgs {
    /// Start from an existing flows file, to add, edit or remove flows.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    #[command(flatten)]
    pub rules: RulesOption,
}

#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    /// A rule id to explain; all rules are listed when left out.
    pub id: Option<String>,
    #[command(flatten)]
    pub rules: RulesOption,
}
