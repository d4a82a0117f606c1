//! commsadvise: recommends REST, gRPC or Kafka for each service-to-service
//! flow described in flows.yaml, explains why, and scaffolds a Rust workspace
//! around one protobuf contract.
//!
//! Data flows one way: `cli` → `commands` → `spec` (model, validation) →
//! `engine` (rules, evaluation) → `render` or `scaffold`. Only `commands`
//! touches the terminal or the filesystem.

pub mod cli;
pub mod commands;
pub mod contract;
pub mod engine;
pub mod error;
mod keywords;
pub mod questionnaire;
pub mod render;
pub mod scaffold;
pub mod spec;
pub mod yaml;

use std::ffi::OsString;
use std::io::Write as _;

use clap::Parser as _;

pub use error::{Diagnostic, Error};

/// Runs the command line and returns the process exit code (docs/commands.md).
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match commands::dispatch(cli.command) {
        Ok(()) | Err(commands::Failure::BrokenPipe) => 0,
        Err(commands::Failure::Error(e)) => {
            let _ = write!(std::io::stderr(), "{e}");
            e.exit_code()
        }
    }
}
