//! `commsadvise interactive` (alias `ask`): the questionnaire on a terminal,
//! then writing flows.yaml and, if wanted, scaffolding the workspace.
//!
//! The questions and their logic live in [`crate::questionnaire`]; this
//! module only supplies the terminal (dialoguer, on stderr, so stdout stays
//! what `scaffold` prints) and the filesystem.
//!
//! Failure modes, on purpose:
//! - Without a terminal on stdin and stderr (CI, a pipe) it refuses at once
//!   with exit code 2 and says how to work without one; it never waits.
//! - Ctrl-C: dialoguer's terminal layer re-raises SIGINT, so the process
//!   ends as any interrupted command does (status 130 in a shell). Where
//!   SIGINT is ignored, the prompt returns an error instead, reported as
//!   "interrupted" with exit code 2. Either way nothing is half-written:
//!   nothing is written before the last questions, and flows.yaml is
//!   written to a temporary file in the same folder, then renamed.

use std::fs;
use std::io::{self, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use dialoguer::console::Term;
use dialoguer::theme::{ColorfulTheme, SimpleTheme, Theme};
use dialoguer::{Confirm, Input, MultiSelect, Select};

use crate::cli::InteractiveArgs;
use crate::commands::scaffold::scaffold_file;
use crate::commands::{Failure, load_flows, load_rules};
use crate::engine::recommend;
use crate::error::Error;
use crate::questionnaire::{Interrupted, Prompter, Question, Questionnaire};
use crate::render;
use crate::spec::FlowsFile;
use crate::spec::write::to_yaml;

pub fn run(args: &InteractiveArgs) -> Result<(), Failure> {
    require_terminal()?;
    let rules = load_rules(&args.rules)?;
    let start = args.from.as_deref().map(load_flows).transpose()?;
    let color = color();
    let mut terminal = Terminal::new(color);

    terminal.show(
        "commsadvise interactive: describe how your services talk, one flow at a time.\n\
         Each question has an answer pre-selected: press Enter to keep it.\n\
         Nothing is written until the end; Ctrl-C stops at any point.\n",
    );
    let questionnaire = match (start, &args.from) {
        (Some(file), Some(path)) => {
            let report = recommend(&file, &rules);
            terminal.show(&format!(
                "\nLoaded {}: {} flows.\n\n{}\n",
                path.display(),
                file.flows.len(),
                render::text::summary(&report, color)
            ));
            Questionnaire::from_file(file, &rules)
        }
        _ => Questionnaire::new(&rules),
    };
    let file = questionnaire
        .run(&mut terminal)
        .map_err(|_| terminal.stopped(None))?;

    let report = recommend(&file, &rules);
    terminal.show(&format!("\n{}\n", render::text::summary(&report, color)));

    let Some(path) =
        write(&mut terminal, &file, args.from.as_deref()).map_err(|_| terminal.stopped(None))??
    else {
        terminal.show("  nothing was written.\n");
        return Ok(());
    };
    let out = ask_scaffold(&mut terminal, &file).map_err(|_| terminal.stopped(Some(&path)))?;
    if let Some(out) = out {
        scaffold_file(
            Some(&path),
            &out,
            false,
            false,
            &args.rules,
            &crate::engine::sizing::Sizing::default(),
        )?;
    }
    Ok(())
}

/// Refuses to start without a terminal to ask on, saying how to go on
/// without one.
fn require_terminal() -> Result<(), Error> {
    let missing = match (io::stdin().is_terminal(), io::stderr().is_terminal()) {
        (true, true) => return Ok(()),
        (false, _) => "stdin",
        (true, false) => "stderr",
    };
    Err(Error::Usage(format!(
        "`commsadvise interactive` asks questions on a terminal, but {missing} is not one\n  \
         = without a terminal, write flows.yaml by hand and run `commsadvise recommend FILE`\n  \
         = start from examples/orders.yaml; docs/flows-yaml.md describes every field"
    )))
}

/// Colour on the terminal the questions go to, unless `NO_COLOR` is set.
fn color() -> bool {
    io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Offers to write the file; returns where it went, or `None` if declined.
fn write(
    p: &mut Terminal,
    file: &FlowsFile,
    from: Option<&Path>,
) -> Result<Result<Option<PathBuf>, Error>, Interrupted> {
    let wanted = p.confirm(
        &Question::new(
            "Write these flows to a file now?",
            "It is ordinary flows.yaml: read it, edit it, commit it, and run `commsadvise recommend` on it.",
        ),
        true,
    )?;
    if !wanted {
        return Ok(Ok(None));
    }
    let default = from.map_or_else(|| "flows.yaml".to_owned(), |p| p.display().to_string());
    let question = Question::new(
        "Where should it go?",
        "A path relative to this folder; an existing file is replaced only if you say so.",
    );
    let path = loop {
        let answer = p.text(&question, Some(&default))?;
        let path = PathBuf::from(answer.trim());
        if let Err(why) = check_target(&path) {
            p.show(&format!("  x {why}; try again"));
            continue;
        }
        if path.exists() {
            let replace = p.confirm(
                &Question::new(
                    format!("`{}` exists. Replace it?", path.display()),
                    "Its current contents are lost; answer no to choose another path.",
                ),
                false,
            )?;
            if !replace {
                continue;
            }
        }
        break path;
    };
    if let Err(e) = write_atomically(&path, &to_yaml(file)) {
        return Ok(Err(e));
    }
    p.show(&format!(
        "  wrote {} ({} flows); the full report: commsadvise recommend {}\n",
        path.display(),
        file.flows.len(),
        path.display()
    ));
    Ok(Ok(Some(path)))
}

/// Why `path` cannot receive the file, if it cannot.
fn check_target(path: &Path) -> Result<(), String> {
    if path.as_os_str().is_empty() {
        return Err("name a file".to_owned());
    }
    if path.is_dir() {
        return Err(format!("`{}` is a folder; name a file", path.display()));
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent.filter(|p| !p.is_dir()) {
        return Err(format!("the folder `{}` does not exist", parent.display()));
    }
    Ok(())
}

/// Writes `text` to a temporary file beside `path`, then renames it into
/// place, so an interruption leaves the old file or the new one, never half.
fn write_atomically(path: &Path, text: &str) -> Result<(), Error> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or_else(|| "flows.yaml".into(), |n| n.to_string_lossy());
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| fs::rename(&temp, path));
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map_err(|e| Error::io(path, e))
}

/// Offers to scaffold; returns the folder to scaffold into, if wanted.
fn ask_scaffold(p: &mut Terminal, file: &FlowsFile) -> Result<Option<PathBuf>, Interrupted> {
    let wanted = p.confirm(
        &Question::new(
            "Scaffold a Rust workspace for these flows now?",
            "axum for REST, tonic for gRPC, rdkafka for Kafka, around one protobuf contract; the same as `commsadvise scaffold`.",
        ),
        false,
    )?;
    if !wanted {
        return Ok(None);
    }
    let question = Question::new(
        "Into which folder?",
        "A new or empty folder, or one commsadvise generated before.",
    );
    loop {
        let answer = p.text(&question, Some(&file.system))?;
        let out = answer.trim();
        if !out.is_empty() {
            return Ok(Some(PathBuf::from(out)));
        }
        p.show("  x name a folder; try again");
    }
}

/// The questionnaire's prompter on a real terminal: dialoguer on stderr,
/// each question preceded by its hint.
struct Terminal {
    term: Term,
    theme: Box<dyn Theme>,
    color: bool,
    /// Why the last prompt failed, for the message on the way out.
    cause: Option<io::Error>,
}

impl Terminal {
    fn new(color: bool) -> Terminal {
        let theme: Box<dyn Theme> = if color {
            Box::new(ColorfulTheme::default())
        } else {
            Box::new(SimpleTheme)
        };
        Terminal {
            term: Term::stderr(),
            theme,
            color,
            cause: None,
        }
    }

    fn hint(&self, question: &Question) {
        let line = if self.color {
            format!("\x1b[2m  {}\x1b[0m", question.hint)
        } else {
            format!("  {}", question.hint)
        };
        let _ = self.term.write_line(&line);
    }

    fn stop(&mut self, e: dialoguer::Error) -> Interrupted {
        let dialoguer::Error::IO(e) = e;
        self.cause = Some(e);
        Interrupted
    }

    /// The error to exit with after the person stopped answering.
    fn stopped(&mut self, written: Option<&Path>) -> Error {
        let _ = self.term.show_cursor();
        let what = match written {
            Some(path) => format!("{} was written, nothing else", path.display()),
            None => "nothing was written".to_owned(),
        };
        match self.cause.take() {
            Some(e) if e.kind() != io::ErrorKind::Interrupted => {
                Error::Usage(format!("the questionnaire stopped ({e}); {what}"))
            }
            _ => Error::Usage(format!("interrupted; {what}")),
        }
    }
}

impl Prompter for Terminal {
    fn text(&mut self, question: &Question, default: Option<&str>) -> Result<String, Interrupted> {
        self.hint(question);
        let mut input = Input::<String>::with_theme(&*self.theme)
            .with_prompt(&question.text)
            .allow_empty(true);
        if let Some(default) = default {
            input = input.default(default.to_owned());
        }
        let answer = input.interact_text_on(&self.term);
        answer.map_err(|e| self.stop(e))
    }

    fn select(
        &mut self,
        question: &Question,
        options: &[&str],
        default: usize,
    ) -> Result<usize, Interrupted> {
        self.hint(question);
        let answer = Select::with_theme(&*self.theme)
            .with_prompt(&question.text)
            .items(options)
            .default(default)
            .interact_on(&self.term);
        answer.map_err(|e| self.stop(e))
    }

    fn confirm(&mut self, question: &Question, default: bool) -> Result<bool, Interrupted> {
        self.hint(question);
        let answer = Confirm::with_theme(&*self.theme)
            .with_prompt(&question.text)
            .default(default)
            .interact_on(&self.term);
        answer.map_err(|e| self.stop(e))
    }

    fn multi_select(
        &mut self,
        question: &Question,
        options: &[&str],
        checked: &[bool],
    ) -> Result<Vec<usize>, Interrupted> {
        self.hint(question);
        let answer = MultiSelect::with_theme(&*self.theme)
            .with_prompt(&question.text)
            .items_checked(options.iter().zip(checked.iter().copied()))
            .interact_on(&self.term);
        answer.map_err(|e| self.stop(e))
    }

    fn show(&mut self, text: &str) {
        let _ = self.term.write_str(text);
        if !text.ends_with('\n') {
            let _ = self.term.write_line("");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_atomically_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("flows.yaml");
        fs::write(&path, "old").expect("seed");
        write_atomically(&path, "version: 1\n").expect("written");
        assert_eq!(fs::read_to_string(&path).expect("read"), "version: 1\n");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["flows.yaml"]);
    }

    #[test]
    fn refuses_a_folder_or_a_missing_parent_as_target() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(
            check_target(dir.path())
                .unwrap_err()
                .contains("is a folder")
        );
        let missing = dir.path().join("nope/flows.yaml");
        assert!(
            check_target(&missing)
                .unwrap_err()
                .contains("does not exist")
        );
        assert!(check_target(&dir.path().join("flows.yaml")).is_ok());
        assert!(check_target(Path::new("flows.yaml")).is_ok());
    }
}
