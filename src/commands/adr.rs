//! `commsadvise adr FLOWS.yaml --out docs/adr`: one MADR decision record
//! per flow. New records never replace an existing file; a superseded
//! record is rewritten (its status line only) through a temporary file and
//! a rename, so a crash leaves either the old record or the new one.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cli::AdrArgs;
use crate::commands::{Failure, load_flows, load_rules, print, read_input, sizing};
use crate::engine::recommend_with;
use crate::error::{Diagnostic, Error};
use crate::render::adr::{self, Plan};

pub fn run(args: &AdrArgs) -> Result<(), Failure> {
    let rules = load_rules(&args.rules)?;
    let flows = load_flows(&args.flows)?;
    let report = recommend_with(&flows, &rules, &sizing(&args.sizing));
    let date = match &args.date {
        Some(date) => checked_date(date)?,
        None => adr::date(now()?),
    };
    let existing = read_records(&args.out)?;
    let plan = adr::plan(&existing, &flows, &report, &date);
    if !args.dry_run {
        apply(&plan, &args.out)?;
    }
    print(&summary(&plan, &args.out, args.dry_run))
}

/// The day records are dated: `SOURCE_DATE_EPOCH` when set (reproducible
/// builds and tests), the clock otherwise. A malformed `SOURCE_DATE_EPOCH`
/// is refused, as its specification asks, rather than silently replaced
/// by today.
fn now() -> Result<i64, Error> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) if !value.is_empty() => adr::epoch(&value).map_err(|why| {
            Error::Usage(format!(
                "SOURCE_DATE_EPOCH `{value}` is not a date: {why}; unset it or give seconds since 1970-01-01, such as 1735603200"
            ))
        }),
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(clock()),
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::Usage(
            "SOURCE_DATE_EPOCH is not a date: it is not valid text; unset it or give seconds since 1970-01-01".to_owned(),
        )),
    }
}

fn clock() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `--date` as given, if it is a day of the calendar (`2024-02-30` is not).
fn checked_date(date: &str) -> Result<String, Error> {
    adr::check_date(date)
        .map(|()| date.to_owned())
        .map_err(|why| Error::Usage(format!("invalid date `{date}` for `--date`: {why}")))
}

/// Every Markdown file directly in `dir`, by name; none when it is missing.
///
/// Each is read as any input is ([`read_input`]): a regular file, bounded.
/// A FIFO named `*.md` would block the run and a device would never end,
/// and skipping them silently could hand out a number one of them holds,
/// so they are refused, naming the file, as is a record over the size
/// limit. Only folders named `*.md` are passed over: they are not records.
fn read_records(dir: &Path) -> Result<Vec<(String, String)>, Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
            return Err(Diagnostic::new(
                format!("`{}` is a file, not a folder", dir.display()),
                dir.display().to_string(),
            )
            .note("name the folder of decision records with `--out`")
            .into());
        }
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let markdown = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("md"));
        if !markdown || path.is_dir() {
            continue;
        }
        let bytes = read_input(&path).map_err(|e| match e {
            Error::Input(diagnostics) => Error::Input(
                diagnostics
                    .into_iter()
                    .map(|d| d.note(RECORDS_NOTE))
                    .collect(),
            ),
            other => other,
        })?;
        // A record that is not UTF-8 is not one of ours; keep it in the
        // list so its number is still taken.
        out.push((name, String::from_utf8(bytes).unwrap_or_default()));
    }
    out.sort();
    Ok(out)
}

/// Why a file in `--out` is read at all, for the errors of reading it.
const RECORDS_NOTE: &str = "`adr` reads every `*.md` file in `--out` as a decision record (to number new ones); move anything else out of that folder";

fn apply(plan: &Plan, dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for (name, text) in &plan.create {
        create_new(&dir.join(name), text)?;
    }
    for (name, text, _) in &plan.supersede {
        replace(&dir.join(name), text)?;
    }
    Ok(())
}

/// A temporary file next to `path`, written and flushed to disk.
fn temporary(path: &Path, text: &str) -> Result<PathBuf, Error> {
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| Error::io(&tmp, e))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(&tmp, e)
        })?;
    Ok(tmp)
}

/// Writes `path` whole or not at all, refusing to replace anything there:
/// a hard link fails when the name is taken, where a rename would not.
fn create_new(path: &Path, text: &str) -> Result<(), Error> {
    let tmp = temporary(path, text)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(Diagnostic::new(
            format!("refusing to overwrite `{}`", path.display()),
            path.display().to_string(),
        )
        .note("another record took this name while commsadvise ran; run it again")
        .into()),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Replaces `path` atomically with `text`.
fn replace(path: &Path, text: &str) -> Result<(), Error> {
    let tmp = temporary(path, text)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

fn summary(plan: &Plan, dir: &Path, dry_run: bool) -> String {
    let mut out = String::new();
    let (created, superseded) = if dry_run {
        ("would create", "would supersede")
    } else {
        ("created", "superseded")
    };
    let at = |name: &str| dir.join(name).display().to_string();
    for (name, _) in &plan.create {
        let _ = writeln!(out, "{created} {}", at(name));
    }
    for (name, _, by) in &plan.supersede {
        let _ = writeln!(out, "{superseded} {} (by {by})", at(name));
    }
    for name in &plan.unchanged {
        let _ = writeln!(out, "unchanged {}", at(name));
    }
    for name in &plan.orphaned {
        let _ = writeln!(
            out,
            "left as is {}: its flow is no longer in flows.yaml (mark it deprecated if the flow is gone)",
            at(name)
        );
    }
    out
}
