//! `commsadvise completions SHELL`: a completion script generated from the
//! clap definitions, so completions can never drift from the commands,
//! flags and values the binary accepts.

use clap::CommandFactory as _;

use crate::cli::{Cli, CompletionsArgs};
use crate::commands::{Failure, print};

pub fn run(args: &CompletionsArgs) -> Result<(), Failure> {
    print(&script(args.shell))
}

/// The completion script for `shell`.
pub fn script(shell: clap_complete::Shell) -> String {
    let mut command = Cli::command();
    let name = command.get_name().to_owned();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, name, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum as _;

    #[test]
    fn every_shell_gets_a_script_naming_every_command() {
        for shell in clap_complete::Shell::value_variants() {
            let script = script(*shell);
            for command in Cli::command().get_subcommands() {
                assert!(
                    script.contains(command.get_name()),
                    "{shell}: no `{}` in\n{script}",
                    command.get_name()
                );
            }
        }
    }
}
