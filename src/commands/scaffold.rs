//! `commsadvise scaffold [FLOWS.yaml] --out DIR`: plans the workspace, then
//! writes it safely.
//!
//! Safety, in order: every path stays inside `--out` and no symbolic link
//! on the way is followed; only regular files are read, and at most the size
//! cap of each; the manifest of the previous run is untrusted input (a
//! cloned repository carries it), so each of its entries is checked before
//! use; one run at a time holds `.commsadvise/lock` (an OS lock, released
//! even when the run is killed); a non-empty folder that commsadvise did not
//! generate is refused without `--force`; files are reconciled against the
//! manifest (user edits are never overwritten, edited files of removed
//! services are never deleted); new contents are staged in a temporary
//! folder inside `--out`, the manifest records them before the first
//! rename, and each is renamed into place, so an interrupted run leaves each
//! file old or new, never truncated, and the next run finishes it.
//!
//! Test hook: `COMMSADVISE_TEST_CRASH_AFTER=N` stops the process, as a kill
//! would (no clean-up, no final manifest), after the first N renames of a
//! run. The end-to-end tests use it to interrupt a run at a known point.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::cli::{RulesOption, ScaffoldArgs};
use crate::commands::contract::ORDERS_EXAMPLE;
use crate::commands::files::{Blocked, Links, Unread, read_bounded, walk};
use crate::commands::{Failure, file_kind, load_rules, print};
use crate::error::{Diagnostic, Error};
use crate::scaffold::contract::{self, ORDER_PROTO};
use crate::scaffold::sync::{self, Action, BOOKKEEPING, MANIFEST, Manifest, NEW_SUFFIX, Step};
use crate::scaffold::templates::Owner;
use crate::scaffold::{ScaffoldPlan, plan};

/// The folder inside `--out` where a run stages its files.
const STAGING: &str = ".commsadvise/staging";

/// The file a writing run holds an OS lock on.
const LOCK: &str = ".commsadvise/lock";

/// Where the manifest is written before it is renamed over the old one.
const MANIFEST_TEMP: &str = ".commsadvise/manifest.json.tmp";

/// Keeps the lock and the staging folder out of version control; the
/// manifest itself is meant to be committed.
const BOOKKEEPING_IGNORE: &str = ".commsadvise/.gitignore";

/// The hash recorded for a file over the size cap: never equal to a real
/// SHA-256, so such a file always counts as changed by the user.
const OVERSIZED: &str = "over-the-size-limit";

/// See the module documentation.
const CRASH_HOOK: &str = "COMMSADVISE_TEST_CRASH_AFTER";

pub fn run(args: &ScaffoldArgs) -> Result<(), Failure> {
    scaffold_file(
        args.flows.as_deref(),
        &args.out,
        args.force,
        args.dry_run,
        &args.rules,
        &crate::commands::sizing(&args.sizing),
    )
}

/// Scaffolds the workspace for the flows file at `flows_path` (the built-in
/// example when `None`) into `out`: `scaffold` and `interactive` share it.
pub fn scaffold_file(
    flows_path: Option<&Path>,
    out: &Path,
    force: bool,
    dry_run: bool,
    rules: &RulesOption,
    sizing: &crate::engine::sizing::Sizing,
) -> Result<(), Failure> {
    let rules = load_rules(rules)?;
    let (flows, flows_id, bytes) = match flows_path {
        Some(path) => {
            // Read once: the hash recorded is the hash of what was planned.
            let bytes = crate::commands::read_input(path)?;
            (
                crate::spec::load(&path.display().to_string(), &bytes)?,
                sync::sha256(&bytes),
                bytes,
            )
        }
        None => (
            crate::spec::load_str("examples/orders.yaml", ORDERS_EXAMPLE)?,
            "builtin:orders".to_owned(),
            ORDERS_EXAMPLE.as_bytes().to_vec(),
        ),
    };
    // Every flow's binding is checked before anything is planned, so a
    // wrong `rpc:`, `message:` or `key:` writes nothing.
    let bound = match flows_path {
        Some(path) => crate::commands::contract::resolve(path, &flows)?,
        None => crate::commands::contract::builtin()?.1,
    };
    let protos = crate::commands::contract::proto_files(flows_path, &flows, &bound)?;
    let report = crate::engine::recommend_with(&flows, &rules, sizing);
    let file = flows_path.map_or_else(
        || "examples/orders.yaml".to_owned(),
        |p| p.display().to_string(),
    );
    refuse_events_off_kafka(&file, &bytes, &flows, &report)?;
    let contract = contract::load("order.proto", ORDER_PROTO)?;
    let plan = plan(&flows, &report, &contract, &bound, &protos)?;

    check_out(out, &plan)?;
    // Refused before the lock file is created, so a refusal writes nothing.
    // Emptiness first: a run writes its manifest before any file, so a
    // folder seen non-empty already shows that manifest to the next read.
    if !force && !dry_run && is_non_empty(out)? && read_manifest(out)?.is_none() {
        return Err(not_generated(out).into());
    }
    let _lock = lock(out, !dry_run)?;
    let old = read_manifest(out)?;
    if old.is_none() && !force && is_non_empty(out)? {
        return Err(not_generated(out).into());
    }
    let on_disk = hashes(out, &plan, old.as_ref())?;
    let steps = sync::reconcile(&plan, &on_disk, old.as_ref(), force);
    check_beside(out, &steps)?;

    if dry_run {
        return print(&self::dry_run(&steps, out));
    }
    apply(out, &steps, old.as_ref(), &flows_id)?;
    let resumed = old.as_ref().is_some_and(|m| !m.staged.is_empty());
    print(&summary(&steps, out, &flows.system, resumed))
}

/// An event binds to a message (SPEC §7), which the scaffold carries on a
/// Kafka topic; an event that REST or gRPC carries (pinned, or the only
/// transport `transports:` leaves) has no rpc or route to generate, so it is
/// refused at its flow, before anything is written, instead of producing a
/// workspace that cannot serve it.
fn refuse_events_off_kafka(
    file: &str,
    bytes: &[u8],
    flows: &crate::spec::model::FlowsFile,
    report: &crate::engine::evaluate::Report,
) -> Result<(), Error> {
    use crate::spec::model::{Interaction, Transport};
    let Some((flow, rec)) = flows.flows.iter().zip(&report.flows).find(|(flow, rec)| {
        flow.interaction == Interaction::Event && rec.transport != Transport::Kafka
    }) else {
        return Ok(());
    };
    let carrier = rec.transport.title();
    let (why, fix) = if rec.pinned {
        (
            format!("its `transport: {}` pin", rec.transport.as_str()),
            "let Kafka carry it (remove the pin)",
        )
    } else {
        (
            "`transports:`, which leaves it no Kafka".to_owned(),
            "let Kafka carry it (add `kafka` to `transports:`)",
        )
    };
    let mut d = Diagnostic::new(
        format!(
            "flow `{}` is an event carried by {carrier} ({why}); the scaffold generates events on Kafka only",
            flow.name
        ),
        file.to_owned(),
    )
    .note(format!(
        "nothing was written; an event binds to a message, which a topic carries: {fix}, or make it `interaction: request-response` bound to an rpc the receiver serves (a webhook is a POST to the receiver)"
    ));
    if let Ok(text) = std::str::from_utf8(bytes)
        && let Ok((_, map)) = crate::spec::load::load_str_mapped(file, text)
        && let Some(pos) = map.pin(&flow.name)
    {
        let width = if rec.pinned {
            rec.transport.as_str().len()
        } else {
            4
        };
        d = d
            .at(text, pos, width)
            .label(format!("carried by {carrier}"));
    }
    Err(d.into())
}

fn not_generated(out: &Path) -> Diagnostic {
    Diagnostic::new(
        format!(
            "`{}` is not empty and was not generated by commsadvise",
            out.display()
        ),
        out.display().to_string(),
    )
    .note("nothing was written; choose an empty folder, or pass --force to write into it (files there may be replaced)")
}

/// Why `blocked` stops a path inside `--out`.
fn describe(blocked: &Blocked) -> String {
    match blocked {
        Blocked::Symlink(at) => {
            let target = fs::read_link(at)
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            format!(
                "`{}` inside --out is a symbolic link (to `{target}`)",
                at.display()
            )
        }
        Blocked::NotFolder(at, kind) => {
            format!("`{}` is {kind}, where a folder is needed", at.display())
        }
    }
}

/// Refuses an `--out` that is not a folder, symbolic links on any planned
/// or bookkeeping path, and anything but a regular file at a planned path
/// (a FIFO would block, a folder would stop the run half way).
fn check_out(out: &Path, plan: &ScaffoldPlan) -> Result<(), Error> {
    let shown = out.display().to_string();
    let refuse = |message: String, note: &str| -> Error {
        Diagnostic::new(message, shown.clone())
            .note(format!("nothing was written; {note}"))
            .into()
    };
    match fs::metadata(out) {
        Ok(meta) if meta.is_file() => {
            return Err(Diagnostic::new(
                format!("`{shown}` is a file, not a folder"),
                shown.clone(),
            )
            .note("name a folder for --out")
            .into());
        }
        Ok(meta) if !meta.is_dir() => {
            return Err(refuse(
                format!("`{shown}` is {}, not a folder", file_kind(&meta)),
                "name a folder for --out",
            ));
        }
        Ok(_) | Err(_) => {}
    }
    // Each must be a regular file where it exists (a FIFO at the lock would
    // block its opening); the staging folder is removed whatever it is.
    let bookkeeping = [MANIFEST, LOCK, MANIFEST_TEMP, BOOKKEEPING_IGNORE];
    let planned = plan.files.iter().map(|f| f.path.as_str());
    for (path, must_be_file) in planned
        .chain(bookkeeping)
        .map(|p| (p, true))
        .chain([(STAGING, false)])
    {
        match walk(out, path) {
            Err(blocked @ Blocked::Symlink(_)) => {
                return Err(refuse(
                    describe(&blocked),
                    "commsadvise never writes through symbolic links. Remove the link or choose another folder",
                ));
            }
            Err(blocked) => {
                return Err(refuse(
                    describe(&blocked),
                    &format!(
                        "commsadvise plans `{path}` there. Move it away or choose another folder"
                    ),
                ));
            }
            Ok(Some(meta)) if must_be_file && !meta.is_file() => {
                return Err(refuse(
                    format!(
                        "`{}` is {}, where commsadvise plans a file",
                        out.join(path).display(),
                        file_kind(&meta)
                    ),
                    "commsadvise reads and writes only regular files. Move it away or choose another folder",
                ));
            }
            Ok(_) => {}
        }
    }
    Ok(())
}

/// Refuses a folder where a conflict's new version goes beside the file.
fn check_beside(out: &Path, steps: &[Step]) -> Result<(), Error> {
    for step in steps.iter().filter(|s| s.action == Action::Conflict) {
        let beside = out.join(format!("{}{NEW_SUFFIX}", step.path));
        if let Ok(meta) = fs::symlink_metadata(&beside)
            && meta.is_dir()
        {
            return Err(Diagnostic::new(
                format!(
                    "`{}` is a folder, where commsadvise offers the new version of `{}`",
                    beside.display(),
                    step.path
                ),
                out.display().to_string(),
            )
            .note("nothing was written; move the folder away")
            .into());
        }
    }
    Ok(())
}

/// Whether `out` holds anything besides commsadvise's own bookkeeping (a
/// run killed before its first rename leaves only that).
fn is_non_empty(out: &Path) -> Result<bool, Error> {
    match fs::read_dir(out) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry.map_err(|e| Error::io(out, e))?;
                if entry.file_name() != BOOKKEEPING {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(out, e)),
    }
}

/// Takes the OS lock on `.commsadvise/lock`: exclusive for a run that
/// writes (creating the file), shared for a dry run (only if the file
/// exists, so a dry run creates nothing). A second run is refused at once
/// rather than waiting: two runs on one folder are a mistake to report.
fn lock(out: &Path, exclusive: bool) -> Result<Option<fs::File>, Error> {
    let path = out.join(LOCK);
    let file = if exclusive {
        let folder = out.join(BOOKKEEPING);
        fs::create_dir_all(&folder).map_err(|e| Error::io(&folder, e))?;
        if let Err(e) = write_new(
            &out.join(BOOKKEEPING_IGNORE),
            b"# commsadvise's working files; the manifest beside them is meant to be committed.\n/lock\n/staging/\n/*.tmp\n",
            false,
        ) {
            // Another run wrote it first: the lock below decides.
            if !matches!(&e, Error::Io { source, .. } if source.kind() == io::ErrorKind::AlreadyExists) {
                return Err(e);
            }
        }
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?
    } else {
        match fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        }
    };
    let taken = if exclusive {
        file.try_lock()
    } else {
        file.try_lock_shared()
    };
    match taken {
        Ok(()) => Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => Err(Diagnostic::new(
            format!(
                "another `commsadvise scaffold` is writing to `{}`",
                out.display()
            ),
            path.display().to_string(),
        )
        .note("nothing was written; wait for that run to finish, then run again (its lock is released when it exits, even if it is killed)")
        .into()),
        Err(fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
    }
}

/// What [`read_regular`] found.
enum Found {
    Nothing,
    Contents(Vec<u8>),
    /// A regular file over the size cap, left unread.
    TooLarge,
}

/// A regular file's contents, read without following a symbolic link at
/// the last segment (the caller has walked the folders), at most the size
/// cap.
fn read_regular(path: &Path) -> Result<Found, Error> {
    match read_bounded(path, Links::Refuse, crate::yaml::MAX_BYTES as u64) {
        Ok(bytes) => Ok(Found::Contents(bytes)),
        Err(Unread::TooLarge(_)) => Ok(Found::TooLarge),
        Err(Unread::Io(e)) if e.kind() == io::ErrorKind::NotFound => Ok(Found::Nothing),
        Err(Unread::Io(e)) => Err(Error::io(path, e)),
        Err(Unread::NotRegular(meta)) => Err(Diagnostic::new(
            format!(
                "`{}` is {}, not a regular file",
                path.display(),
                file_kind(&meta)
            ),
            path.display().to_string(),
        )
        .note(
            "nothing was written; commsadvise reads only regular files inside --out. Move it away",
        )
        .into()),
    }
}

/// The previous run's manifest, checked as untrusted input: its text by
/// [`sync::parse_manifest`], then each entry on disk, where none may lead
/// through a symbolic link or name anything but a regular file.
fn read_manifest(out: &Path) -> Result<Option<Manifest>, Error> {
    let path = out.join(MANIFEST);
    let shown = path.display().to_string();
    let bytes = match read_regular(&path)? {
        Found::Nothing => return Ok(None),
        Found::Contents(bytes) => bytes,
        Found::TooLarge => {
            return Err(Diagnostic::new(
                format!(
                    "the manifest `{shown}` is over the limit of {} bytes",
                    crate::yaml::MAX_BYTES
                ),
                shown.clone(),
            )
            .note(sync::restore_note(&shown))
            .into());
        }
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Diagnostic::new(
            format!("the manifest `{shown}` is not UTF-8"),
            shown.clone(),
        )
        .note(sync::restore_note(&shown))
    })?;
    let manifest = sync::parse_manifest(&shown, text)?;
    for entry in manifest.files.keys().chain(manifest.staged.keys()) {
        let why = match walk(out, entry) {
            Err(Blocked::Symlink(at)) => format!(
                "resolves through the symbolic link `{}`",
                sync::escape(&at.display().to_string())
            ),
            Ok(Some(meta)) if !meta.is_file() => {
                format!("names {}, not a regular file", file_kind(&meta))
            }
            // Missing, or a file where a folder would be: there is nothing
            // there to hash or delete.
            Ok(_) | Err(Blocked::NotFolder(..)) => continue,
        };
        return Err(
            sync::entry_error(&shown, text, entry, &why, &sync::restore_note(&shown)).into(),
        );
    }
    Ok(Some(manifest))
}

/// The hash of every file the plan or the old manifest names, where one
/// exists. Every path was walked before (planned ones by [`check_out`],
/// the manifest's by [`read_manifest`]).
fn hashes(
    out: &Path,
    plan: &ScaffoldPlan,
    old: Option<&Manifest>,
) -> Result<BTreeMap<String, String>, Error> {
    let mut paths: Vec<&str> = plan.files.iter().map(|f| f.path.as_str()).collect();
    if let Some(old) = old {
        paths.extend(
            old.files
                .keys()
                .chain(old.staged.keys())
                .map(String::as_str),
        );
    }
    let mut found = BTreeMap::new();
    for path in paths {
        if found.contains_key(path) {
            continue;
        }
        let full = out.join(path);
        match read_regular(&full)? {
            Found::Contents(bytes) => {
                found.insert(path.to_owned(), sync::sha256(&bytes));
            }
            Found::TooLarge => {
                found.insert(path.to_owned(), OVERSIZED.to_owned());
            }
            Found::Nothing => {}
        }
    }
    Ok(found)
}

/// Stages every new file, records them in the manifest, renames each into
/// place, deletes what goes, and writes the final manifest.
fn apply(out: &Path, steps: &[Step], old: Option<&Manifest>, flows_id: &str) -> Result<(), Error> {
    let staging = out.join(STAGING);
    remove_staging(&staging)?;
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let Some(contents) = &step.contents else {
            continue;
        };
        let target = match step.action {
            Action::Create | Action::Update | Action::Overwrite => out.join(&step.path),
            Action::Conflict => out.join(format!("{}{NEW_SUFFIX}", step.path)),
            _ => continue,
        };
        let temp = staging.join(i.to_string());
        fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
        write_new(&temp, contents.as_bytes(), true)?;
        staged.push((temp, target));
    }
    if !staged.is_empty() {
        flush_staged(&staging, staged.iter().map(|(temp, _)| temp.as_path()))?;
        write_manifest(out, &sync::staged_manifest(steps, old, flows_id))?;
    }
    let crash_after = std::env::var(CRASH_HOOK)
        .ok()
        .and_then(|n| n.parse::<usize>().ok());
    for (renamed, (temp, target)) in staged.iter().enumerate() {
        if crash_after == Some(renamed) {
            crash();
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        fs::rename(temp, target).map_err(|e| Error::io(target, e))?;
    }
    if crash_after == Some(staged.len()) {
        crash();
    }
    for step in steps.iter().filter(|s| s.action == Action::Delete) {
        let path = out.join(&step.path);
        // Only a regular file, never what a link points at.
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => {
                fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
                remove_empty_parents(out, &step.path);
            }
            Ok(_) | Err(_) => {}
        }
    }
    remove_staging(&staging)?;
    write_manifest(out, &sync::next_manifest(steps, flows_id))
}

/// Ends the process as a kill would: no clean-up, no final manifest.
fn crash() -> ! {
    eprintln!("{CRASH_HOOK}: stopping here");
    std::process::exit(137)
}

fn remove_staging(staging: &Path) -> Result<(), Error> {
    match fs::symlink_metadata(staging) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(staging).map_err(|e| Error::io(staging, e)),
        Ok(_) => fs::remove_file(staging).map_err(|e| Error::io(staging, e)),
        Err(_) => Ok(()),
    }
}

/// Writes a new file, refusing to follow or reuse whatever is at `path`:
/// `replace` removes an old file (or link) there first.
fn write_new(path: &Path, bytes: &[u8], replace: bool) -> Result<(), Error> {
    use std::io::Write as _;
    if replace {
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    file.write_all(bytes).map_err(|e| Error::io(path, e))
}

/// Makes every staged file durable before any is renamed into place, so a
/// crash after a rename never leaves an empty or torn file behind it. On
/// Linux one `syncfs` of the staging folder's filesystem does it: fsyncing
/// each file costs one disk flush per file (about 5 ms each here), which
/// was four fifths of scaffolding a 300-service workspace.
#[cfg(target_os = "linux")]
fn flush_staged<'a>(staging: &Path, _: impl Iterator<Item = &'a Path>) -> Result<(), Error> {
    let folder = fs::File::open(staging).map_err(|e| Error::io(staging, e))?;
    rustix::fs::syncfs(&folder).map_err(|e| Error::io(staging, e.into()))
}

/// Elsewhere there is no `syncfs`: each staged file is flushed on its own.
#[cfg(not(target_os = "linux"))]
fn flush_staged<'a>(_: &Path, files: impl Iterator<Item = &'a Path>) -> Result<(), Error> {
    for path in files {
        fs::File::open(path)
            .and_then(|file| file.sync_all())
            .map_err(|e| Error::io(path, e))?;
    }
    Ok(())
}

/// Removes folders left empty by deleting `rel`, deepest first, strictly
/// inside `out`: built from the entry's own segments, so it never reaches
/// `out` or anything above it.
fn remove_empty_parents(out: &Path, rel: &str) {
    let mut segments: Vec<&str> = rel.split('/').collect();
    segments.pop();
    while !segments.is_empty() {
        if fs::remove_dir(out.join(segments.join("/"))).is_err() {
            break;
        }
        segments.pop();
    }
}

fn write_manifest(out: &Path, manifest: &Manifest) -> Result<(), Error> {
    let path = out.join(MANIFEST);
    let temp = out.join(MANIFEST_TEMP);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let mut json =
        serde_json::to_string_pretty(manifest).map_err(|e| Error::Internal(e.to_string()))?;
    json.push('\n');
    write_new(&temp, json.as_bytes(), true)?;
    fs::rename(&temp, &path).map_err(|e| Error::io(&path, e))
}

fn dry_run(steps: &[Step], out: &Path) -> String {
    let mut text = format!("dry run: nothing written to {}\n", out.display());
    for step in steps {
        let _ = write!(text, "  {:9}  {}", step.action.verb(), step.path);
        if step.action == Action::StillConflict {
            let _ = write!(
                text,
                " (its new version was already offered as {}{NEW_SUFFIX})",
                step.path
            );
        }
        text.push('\n');
    }
    text
}

fn summary(steps: &[Step], out: &Path, system: &str, resumed: bool) -> String {
    let count = |a: Action| steps.iter().filter(|s| s.action == a).count();
    let mut text = String::new();
    if resumed {
        text.push_str("finished the run that was interrupted before\n");
    }
    let _ = writeln!(
        text,
        "scaffolded `{system}` in {}: {} created, {} updated, {} unchanged, {} kept, {} deleted, {} conflicts",
        out.display(),
        count(Action::Create),
        count(Action::Update) + count(Action::Overwrite),
        count(Action::Unchanged),
        count(Action::Keep) + count(Action::Orphan),
        count(Action::Delete),
        count(Action::Conflict) + count(Action::StillConflict),
    );
    for step in steps {
        let path = &step.path;
        let line = match step.action {
            Action::Conflict => format!(
                "conflict: {path} was changed by you; the new version is {path}{NEW_SUFFIX}"
            ),
            Action::StillConflict => format!(
                "still in conflict: {path} was changed by you; its new version was already offered as {path}{NEW_SUFFIX}"
            ),
            Action::Orphan if step.owner == Owner::User => format!(
                "orphaned: {path} is yours, but its flow or service is gone: no longer compiled, kept"
            ),
            Action::Orphan => {
                format!("kept: {path} is no longer generated, but you changed it")
            }
            Action::Delete => format!("deleted: {path} (no longer generated, unchanged)"),
            _ => continue,
        };
        let _ = writeln!(text, "  {line}");
    }
    if count(Action::Create) > 0 && steps.iter().all(|s| s.action == Action::Create) {
        let _ = writeln!(
            text,
            "next: cd {} && cargo build && cargo test",
            out.display()
        );
    }
    text
}
