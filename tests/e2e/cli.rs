//! What the command line offers beyond its commands: shell completions
//! loaded into a real bash, and manual pages.

use std::process::Command;

use crate::common::Test;

/// Every command, as a user types it.
const COMMANDS: &[&str] = &[
    "recommend",
    "scaffold",
    "interactive",
    "rules",
    "check",
    "adr",
    "schema",
    "completions",
    "man",
    "contract",
];

/// What bash's completion offers for `words`, the last being the word
/// under the cursor, with the script `commsadvise completions bash` printed
/// loaded as a user's ~/.bashrc would load it.
fn bash_completes(words: &[&str]) -> Vec<String> {
    let test = Test::new().args(&["completions", "bash"]);
    let script = test.success().stdout;
    std::fs::write(test.path().join("commsadvise.bash"), script).expect("write script");
    // bash calls the completion function with the command, the current word
    // and the previous one, after setting COMP_WORDS and COMP_CWORD.
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let current = words.len() - 1;
    let previous = if current == 0 { "" } else { words[current - 1] };
    let driver = format!(
        "source ./commsadvise.bash\n\
         COMP_WORDS=({words})\n\
         COMP_CWORD={current}\n\
         COMP_LINE='{line}'\n\
         COMP_POINT=${{#COMP_LINE}}\n\
         _commsadvise commsadvise '{cur}' '{previous}'\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        words = quoted.join(" "),
        line = words.join(" "),
        cur = words[current],
    );
    let output = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &driver])
        .current_dir(test.path())
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "bash failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_a_subcommand() {
    assert_eq!(bash_completes(&["commsadvise", "rec"]), ["recommend"]);
}

#[test]
fn bash_offers_every_command_on_an_empty_word() {
    let offered = bash_completes(&["commsadvise", ""]);
    for command in COMMANDS {
        assert!(
            offered.iter().any(|o| o == command),
            "{command} not offered: {offered:?}"
        );
    }
}

#[test]
fn bash_completes_the_values_of_an_option() {
    assert_eq!(
        bash_completes(&["commsadvise", "recommend", "flows.yaml", "--format", ""]),
        ["text", "json", "markdown", "mermaid", "dot", "html"]
    );
    assert_eq!(
        bash_completes(&["commsadvise", "completions", "p"]),
        ["powershell"]
    );
}

#[test]
fn completions_exist_for_every_shell_clap_supports() {
    for (shell, marker) in [
        ("bash", "complete -F _commsadvise"),
        ("zsh", "#compdef commsadvise"),
        ("fish", "complete -c commsadvise"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "set edit:completion:arg-completer[commsadvise]"),
    ] {
        let run = Test::new().args(&["completions", shell]).success();
        assert!(
            run.stdout.contains(marker),
            "{shell}: no {marker:?} in\n{}",
            run.stdout
        );
    }
}

#[test]
fn rejects_an_unknown_shell() {
    let run = Test::new().args(&["completions", "tcsh"]).status(2);
    assert!(
        run.stderr.contains("invalid value 'tcsh'"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
}

#[test]
fn man_prints_a_page_that_names_every_command() {
    let page = Test::new().args(&["man"]).success().stdout;
    let title = page
        .lines()
        .find(|l| l.starts_with(".TH "))
        .expect("a .TH line");
    assert!(title.starts_with(".TH commsadvise 1 "), "{title}");
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH SUBCOMMANDS",
        ".SH \"EXIT STATUS\"",
    ] {
        assert!(page.contains(section), "no {section} in\n{page}");
    }
    for command in COMMANDS {
        let reference = format!("commsadvise\\-{command}(1)");
        assert!(page.contains(&reference), "no {reference} in\n{page}");
    }
}

#[test]
fn man_prints_the_page_of_one_command() {
    let page = Test::new().args(&["man", "scaffold"]).success().stdout;
    assert!(page.contains(".TH commsadvise-scaffold 1 "), "{page}");
    for option in ["\\-\\-out", "\\-\\-dry\\-run", "\\-\\-force", "\\-\\-rules"] {
        assert!(page.contains(option), "no {option} in\n{page}");
    }
}

#[test]
fn man_refuses_an_unknown_command_and_lists_the_real_ones() {
    let run = Test::new().args(&["man", "recomend"]).status(2);
    assert!(
        run.stderr
            .contains("no command `recomend`; the commands are recommend, scaffold,"),
        "{}",
        run.stderr
    );
}
