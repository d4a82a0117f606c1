//! `commsadvise man [COMMAND]`: manual pages in roff, generated from the
//! clap definitions like `--help`, so they say exactly what the binary
//! accepts.
//!
//! One page per command, as git and cargo do: `commsadvise(1)` lists the
//! commands as `commsadvise-recommend(1)` and so on, and `commsadvise man
//! recommend` prints that page. The main page adds what clap does not know:
//! the exit status and where the reference lives.

use clap::CommandFactory as _;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};

use crate::cli::{Cli, ManArgs};
use crate::commands::{Failure, print};
use crate::error::Error;

pub fn run(args: &ManArgs) -> Result<(), Failure> {
    print(&page(args.command.as_deref())?)
}

/// The roff page of `command`, or of commsadvise itself.
pub fn page(command: Option<&str>) -> Result<String, Error> {
    // Built, so each command knows its full name (`commsadvise-recommend`);
    // no `help` command, which has no page of its own.
    let mut cli = Cli::command().disable_help_subcommand(true);
    cli.build();
    let target = match command {
        None => cli.clone(),
        Some(name) => cli
            .find_subcommand(name)
            .cloned()
            .ok_or_else(|| Error::Usage(format!("no command `{name}`")))?,
    };
    // Every page names the program and its version in the footer; clap
    // would name a command page after the command alone.
    let source = format!(
        "{} {}",
        cli.get_name(),
        cli.get_version().unwrap_or_default()
    );
    let mut out = Vec::new();
    let rendered = Man::new(target).source(source).render(&mut out);
    rendered.map_err(|e| Error::Internal(format!("rendering the manual page: {e}")))?;
    if command.is_none() {
        main_page_tail()
            .to_writer(&mut out)
            .map_err(|e| Error::Internal(format!("rendering the manual page: {e}")))?;
    }
    String::from_utf8(out).map_err(|e| Error::Internal(e.to_string()))
}

/// EXIT STATUS and SEE ALSO, for the main page.
fn main_page_tail() -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in [
        (
            "0",
            "Success (a closed standard output, as in `| head`, is not an error).",
        ),
        (
            "1",
            "Anything else: an I/O failure, an internal error, or `check` finding problems.",
        ),
        (
            "2",
            "The input is wrong: bad YAML, unknown field or value, unknown service, unsafe name, refused overwrite, no terminal for `interactive`. Nothing is written.",
        ),
    ] {
        roff.control("TP", []);
        roff.text([bold(code)]);
        roff.text([roman(meaning)]);
    }
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman(
        "The reference of flows.yaml, rules and the JSON report is in docs/ of the source repository: flows-yaml.md, rules.md, output.md, contract.md.",
    )]);
    roff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_main_page_names_every_command() {
        let page = page(None).expect("rendered");
        assert!(page.contains(".TH commsadvise 1 "), "{page}");
        for command in Cli::command().get_subcommands() {
            let name = format!("commsadvise\\-{}(1)", command.get_name());
            assert!(page.contains(&name), "no {name} in\n{page}");
        }
        assert!(page.contains(".SH \"EXIT STATUS\""), "{page}");
    }

    #[test]
    fn a_command_has_its_own_page_with_its_options() {
        let page = page(Some("recommend")).expect("rendered");
        assert!(
            page_title(&page).starts_with(".TH commsadvise-recommend 1  \"commsadvise "),
            "{page}"
        );
        assert!(page.contains("\\-\\-format"), "{page}");
        assert!(!page.contains("EXIT STATUS"), "{page}");
        // An alias finds the command it stands for.
        let (ask, interactive) = (page_of("ask"), page_of("interactive"));
        assert_eq!(page_title(&ask), page_title(&interactive));
    }

    fn page_of(name: &str) -> String {
        page(Some(name)).expect("rendered")
    }

    fn page_title(page: &str) -> &str {
        page.lines()
            .find(|l| l.starts_with(".TH "))
            .expect("a .TH line")
    }
}
