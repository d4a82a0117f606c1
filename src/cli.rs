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
    /// CI gate: fails on pinned transports that break a requirement, and on
    /// system findings at or above a severity.
    Check(CheckArgs),
    /// Writes one architecture decision record (MADR) per flow.
    Adr(AdrArgs),
    /// Prints the JSON Schema of flows.yaml, for editors.
    Schema(SchemaArgs),
    /// Prints a shell completion script.
    Completions(CompletionsArgs),
    /// Prints a manual page (roff), of commsadvise or of one command.
    Man(ManArgs),
    /// Prints the protobuf contract: the one derived from the flows, or how
    /// each flow binds to the team's own .proto files; `contract check`
    /// fails on changes that break deployed callers and consumers.
    Contract(ContractArgs),
}

/// `contract` output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ContractFormat {
    /// The derived .proto text, or a table of the team contract's bindings.
    Text,
    /// The contract's origin, files and every flow's binding.
    Json,
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ContractArgs {
    #[command(subcommand)]
    pub command: Option<ContractCommand>,
    /// The flows file; the built-in orders example when left out.
    #[arg(value_name = "FLOWS.yaml")]
    pub flows: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ContractFormat::Text)]
    pub format: ContractFormat,
}

#[derive(Debug, Subcommand)]
pub enum ContractCommand {
    /// Fails on contract changes that break deployed callers and
    /// consumers, judged per flow by the transport that carries it.
    Check(ContractCheckArgs),
}

#[derive(Debug, clap::Args)]
pub struct ContractCheckArgs {
    /// The flows file (flows.yaml v1) of the new contract.
    #[arg(value_name = "FLOWS.yaml")]
    pub flows: PathBuf,
    /// The deployed contract: a .proto file, a folder of them, or
    /// `git:<rev>` for the same files at a revision of this repository.
    #[arg(long, value_name = "OLD")]
    pub against: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    #[command(flatten)]
    pub rules: RulesOption,
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
    /// A Mermaid flowchart of services and flows.
    Mermaid,
    /// A Graphviz DOT graph of services and flows.
    Dot,
    /// One self-contained page: diagram, decisions and findings.
    Html,
}

/// `check` output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
    /// GitHub workflow commands that annotate flows.yaml in a pull request.
    Github,
}

/// The severities `--fail-on` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Info,
    Warning,
    Error,
}

/// Figures Kafka topics are sized with.
#[derive(Debug, Clone, clap::Args)]
pub struct SizingOptions {
    /// Messages per second one partition takes from producers.
    #[arg(long, value_name = "MSG/S", default_value_t = crate::engine::sizing::PARTITION_RATE, value_parser = clap::value_parser!(u64).range(1..))]
    pub partition_rate: u64,
    /// Messages per second one consumer instance handles.
    #[arg(long, value_name = "MSG/S", default_value_t = crate::engine::sizing::CONSUMER_RATE, value_parser = clap::value_parser!(u64).range(1..))]
    pub consumer_rate: u64,
    /// The fewest partitions a topic gets.
    #[arg(long, value_name = "N", default_value_t = crate::engine::sizing::MIN_PARTITIONS, value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::engine::sizing::MAX_PARTITIONS)))]
    pub min_partitions: u32,
    /// Replicas per partition.
    #[arg(long, value_name = "N", default_value_t = crate::engine::sizing::REPLICATION, value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::engine::sizing::MAX_REPLICATION)))]
    pub replication: u32,
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
    #[command(flatten)]
    pub sizing: SizingOptions,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The flows file (flows.yaml v1).
    #[arg(value_name = "FLOWS.yaml")]
    pub flows: PathBuf,
    /// Fail on system findings of this severity or worse.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    /// Also check the contract against the deployed one (as `contract
    /// check`): a .proto file, a folder of them, or `git:<rev>`.
    #[arg(long, value_name = "OLD")]
    pub against: Option<String>,
    #[command(flatten)]
    pub rules: RulesOption,
}

#[derive(Debug, clap::Args)]
pub struct AdrArgs {
    /// The flows file (flows.yaml v1).
    #[arg(value_name = "FLOWS.yaml")]
    pub flows: PathBuf,
    /// The folder of decision records; created when missing.
    #[arg(long, value_name = "DIR", default_value = "docs/adr")]
    pub out: PathBuf,
    /// Print what would change, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The date new records carry (YYYY-MM-DD); default: `SOURCE_DATE_EPOCH`
    /// when set, else today (UTC).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    pub date: Option<String>,
    #[command(flatten)]
    pub rules: RulesOption,
    #[command(flatten)]
    pub sizing: SizingOptions,
}

/// Accepts `YYYY-MM-DD` with a plausible month and day.
fn parse_date(text: &str) -> Result<String, String> {
    let parts: Vec<&str> = text.split('-').collect();
    let ok = matches!(parts.as_slice(), [y, m, d]
        if y.len() == 4 && m.len() == 2 && d.len() == 2
            && [y, m, d].iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()))
            && (1..=12).contains(&m.parse::<u32>().unwrap_or(0))
            && (1..=31).contains(&d.parse::<u32>().unwrap_or(0)));
    if ok {
        Ok(text.to_owned())
    } else {
        Err("expected a date such as 2025-01-31".to_owned())
    }
}

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {}

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
    #[command(flatten)]
    pub sizing: SizingOptions,
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

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete in; load the script from its startup file,
    /// e.g. `source <(commsadvise completions bash)` in ~/.bashrc.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// The command whose page to print (`recommend`, `scaffold`, …); the
    /// page of commsadvise itself when left out.
    #[arg(value_name = "COMMAND", value_parser = command_name)]
    pub command: Option<String>,
}

/// Accepts the name or alias of a command, and returns its name.
fn command_name(text: &str) -> Result<String, String> {
    let cli = <Cli as clap::CommandFactory>::command();
    if let Some(command) = cli.find_subcommand(text) {
        return Ok(command.get_name().to_owned());
    }
    let names: Vec<&str> = cli.get_subcommands().map(clap::Command::get_name).collect();
    Err(format!(
        "no command `{text}`; the commands are {}",
        names.join(", ")
    ))
}
