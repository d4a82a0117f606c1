//! One module per subcommand. Only these touch the terminal, the filesystem
//! or prompts; everything they call is pure.

pub mod adr;
pub mod check;
pub mod completions;
pub mod contract;
pub mod files;
pub mod interactive;
pub mod man;
pub mod recommend;
pub mod rules;
pub mod scaffold;
pub mod schema;

use std::io::{self, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use crate::cli::{Command, RulesOption, SizingOptions};
use crate::engine::{RuleSet, Sizing};
use crate::error::{Diagnostic, Error};
use crate::spec::FlowsFile;
use crate::spec::model::SourceMap;

/// Why a command stopped early.
#[derive(Debug)]
pub enum Failure {
    /// Stdout was closed (`commsadvise … | head`): not an error.
    BrokenPipe,
    Error(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Error(e)
    }
}

impl From<Diagnostic> for Failure {
    fn from(d: Diagnostic) -> Failure {
        Failure::Error(d.into())
    }
}

pub fn dispatch(command: Command) -> Result<(), Failure> {
    match command {
        Command::Recommend(args) => recommend::run(&args),
        Command::Scaffold(args) => scaffold::run(&args),
        Command::Interactive(args) => interactive::run(&args),
        Command::Rules(args) => rules::run(&args),
        Command::Check(args) => check::run(&args),
        Command::Adr(args) => adr::run(&args),
        Command::Schema(args) => schema::run(&args),
        Command::Completions(args) => completions::run(&args),
        Command::Man(args) => man::run(&args),
        Command::Contract(args) => contract::run(&args),
    }
}

/// Writes to stdout, treating a closed pipe as a normal end.
pub fn print(text: &str) -> Result<(), Failure> {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(Failure::BrokenPipe),
        Err(e) => Err(Error::io("<stdout>", e).into()),
    }
}

/// Whether to colour output: only on a terminal, never with `NO_COLOR`.
pub fn color() -> bool {
    io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Reads a file the user named; a missing or unreadable one is an input
/// error. A symbolic link is followed: the user named it (see [`files`]).
pub fn read_input(path: &Path) -> Result<Vec<u8>, Error> {
    let shown = path.display().to_string();
    let cap = crate::yaml::MAX_BYTES;
    match files::read_bounded(path, files::Links::Follow, cap as u64) {
        Ok(bytes) => Ok(bytes),
        Err(files::Unread::Io(e)) => {
            let hint = match e.kind() {
                io::ErrorKind::NotFound => "check the path; it is relative to the current folder",
                io::ErrorKind::IsADirectory => "name a file, not a folder",
                _ => "check the file's permissions",
            };
            Err(Diagnostic::new(
                format!("cannot read `{shown}`: {}", plain(&e)),
                shown.clone(),
            )
            .note(hint)
            .into())
        }
        Err(files::Unread::NotRegular(meta)) => Err(Diagnostic::new(
            format!("`{shown}` is {}, not a regular file", file_kind(&meta)),
            shown.clone(),
        )
        .note(if meta.is_dir() {
            "name a file, not a folder"
        } else {
            "commsadvise reads flows and rules from regular files only; save the input to a file first"
        })
        .into()),
        Err(files::Unread::TooLarge(size)) => Err(Diagnostic::new(
            format!("`{shown}` is {size} bytes, over the limit of {cap} bytes"),
            shown.clone(),
        )
        .note("split the system into several flows files")
        .into()),
    }
}

/// What kind of file `meta` describes, for messages: "a folder", "a FIFO
/// (named pipe)", "a device", …
pub fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    let kind = meta.file_type();
    if kind.is_dir() {
        return "a folder";
    }
    if kind.is_symlink() {
        return "a symbolic link";
    }
    if kind.is_file() {
        return "a regular file";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    "a special file"
}

/// An `io::Error`'s message without the "(os error N)" tail.
pub(crate) fn plain(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// Loads and validates a flows file.
pub fn load_flows(path: &Path) -> Result<FlowsFile, Error> {
    let bytes = read_input(path)?;
    crate::spec::load(&path.display().to_string(), &bytes)
}

/// Loads and validates a flows file, keeping where each flow sits in it.
pub fn load_flows_mapped(path: &Path) -> Result<(FlowsFile, SourceMap), Error> {
    let bytes = read_input(path)?;
    crate::spec::load::load_mapped(&path.display().to_string(), &bytes)
}

/// The sizing figures from the command line.
pub fn sizing(options: &SizingOptions) -> Sizing {
    Sizing {
        partition_rate: options.partition_rate,
        consumer_rate: options.consumer_rate,
        min_partitions: options.min_partitions,
        replication: options.replication,
    }
}

/// The built-in rules plus the user's `--rules` files and folders.
///
/// Folders are walked in sorted order for files ending in `.yaml` or `.yml`
/// in any case (`R.YAML` too). Symbolic links are followed, to files and to
/// folders; one file reached twice is read once. Nothing that looks like a
/// rule file is skipped silently: a dangling link, a link loop, a folder
/// that cannot be read, or a rule-named FIFO or device is an error. Every
/// problem of every file is reported at once.
pub fn load_rules(option: &RulesOption) -> Result<RuleSet, Error> {
    let mut problems: Vec<Diagnostic> = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    for path in &option.rules {
        if path.is_dir() {
            let before = files.len() + problems.len();
            walk_rules(path, &mut files, &mut problems);
            if files.len() + problems.len() == before {
                problems.push(
                    Diagnostic::new(
                        format!("no rule files in `{}`", path.display()),
                        path.display().to_string(),
                    )
                    .note("rule files end in .yaml or .yml"),
                );
            }
        } else {
            files.push(path.clone());
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut extra = Vec::with_capacity(files.len());
    for file in files {
        // Canonical paths, so a link beside its target does not define the
        // rule twice; a path that cannot be resolved fails on reading below.
        if !seen.insert(std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone())) {
            continue;
        }
        let name = file.display().to_string();
        let read = read_input(&file).and_then(|bytes| {
            crate::yaml::text(&name, &bytes)
                .map(str::to_owned)
                .map_err(Error::from)
        });
        match read {
            Ok(text) => extra.push((name, text)),
            Err(Error::Input(mut found)) => problems.append(&mut found),
            Err(other) => return Err(other),
        }
    }
    match RuleSet::load(&extra) {
        Ok(rules) if problems.is_empty() => Ok(rules),
        Ok(_) => Err(Error::Input(problems)),
        Err(Error::Input(mut found)) => {
            problems.append(&mut found);
            Err(Error::Input(problems))
        }
        Err(other) => Err(other),
    }
}

/// Whether a file name ends in `.yaml` or `.yml`, in any case.
fn is_rule_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

/// Adds the rule files under `folder` to `files`, in sorted order, and what
/// could not be walked to `problems`.
fn walk_rules(folder: &Path, files: &mut Vec<PathBuf>, problems: &mut Vec<Diagnostic>) {
    let walk = walkdir::WalkDir::new(folder)
        .follow_links(true)
        .sort_by_file_name();
    for entry in walk {
        match entry {
            Ok(entry) if entry.file_type().is_dir() || !is_rule_file(entry.path()) => {}
            Ok(entry) if entry.file_type().is_file() => files.push(entry.into_path()),
            Ok(entry) => {
                let shown = entry.path().display().to_string();
                problems.push(
                    Diagnostic::new(format!("`{shown}` is not a regular file"), shown)
                        .note("a rule file must be a plain file (not a FIFO, socket or device)"),
                );
            }
            Err(e) => {
                let Some(path) = e.path() else { continue };
                let shown = path.display().to_string();
                let dangling = path.is_symlink() && !path.exists();
                if let Some(ancestor) = e.loop_ancestor() {
                    let above = ancestor.display();
                    problems.push(
                        Diagnostic::new(
                            format!("`{shown}` links back to `{above}`, a folder above it"),
                            shown,
                        )
                        .note("symbolic links in a rules folder are followed; remove the loop"),
                    );
                } else if dangling && is_rule_file(path) {
                    let target = std::fs::read_link(path)
                        .map(|t| t.display().to_string())
                        .unwrap_or_default();
                    problems.push(
                        Diagnostic::new(
                            format!("`{shown}` is a link to `{target}`, which does not exist"),
                            shown,
                        )
                        .note("fix or remove the link"),
                    );
                } else if !dangling {
                    let why = e.io_error().map_or_else(|| e.to_string(), plain);
                    problems.push(
                        Diagnostic::new(format!("cannot read `{shown}`: {why}"), shown)
                            .note("check the folder's permissions"),
                    );
                }
            }
        }
    }
}
