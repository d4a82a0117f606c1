//! Safe regeneration: what to do with each file, decided from the new plan,
//! the files on disk and the manifest of the previous run. Pure: the caller
//! gathers the disk state and carries out the steps.
//!
//! The rules: a file the user never touched is updated; one the user changed
//! is left alone and, when the generator has something new for it, the new
//! version is offered beside it once; files of removed flows go only if
//! untouched, even with `--force`; user-owned files are written once.
//!
//! The manifest is committed with the workspace, so a cloned repository can
//! carry a crafted one: [`parse_manifest`] treats it as untrusted input and
//! refuses any entry that is not a plain relative path the generator could
//! have written, before a single path of it is joined to `--out`.
//!
//! A run records the files it is about to rename into place (`staged`)
//! before the first rename, so a run killed part way is finished by the next
//! one: a file holding either its previous generated contents or the staged
//! ones is known to be commsadvise's, and anything else is the user's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Diagnostic;
use crate::scaffold::ScaffoldPlan;
use crate::scaffold::templates::{BUILTIN, Owner};
use crate::spec::model::Pos;

/// Where the manifest lives inside the output folder.
pub const MANIFEST: &str = ".commsadvise/manifest.json";

/// The folder of commsadvise's own bookkeeping inside the output folder.
pub const BOOKKEEPING: &str = ".commsadvise";

/// Suffix of the new version written beside a file the user changed.
pub const NEW_SUFFIX: &str = ".commsadvise-new";

/// The manifest format this version reads and writes.
pub const MANIFEST_VERSION: u32 = 1;

/// What a scaffold run wrote, for the next run to compare against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    /// The flows file's hash, or `builtin:orders`.
    pub flows: String,
    /// Each generated file and the contents commsadvise last wrote there.
    pub files: BTreeMap<String, Record>,
    /// Files a run was renaming into place when it stopped: each may hold
    /// its `files` contents or these. Empty once a run completes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub staged: BTreeMap<String, Record>,
    /// The hash of the version last offered beside a file the user changed
    /// (`FILE.commsadvise-new`), so the same offer is not written twice.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub offered: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub sha256: String,
    pub owner: Owner,
}

/// What happens to one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// New file.
    Create,
    /// Generated before, untouched since, new contents.
    Update,
    /// Same contents already there.
    Unchanged,
    /// A user-owned file that exists, or a generated one the user changed
    /// while the generator has nothing new for it: never replaced.
    Keep,
    /// The user changed (or owns) a file the plan would change: the new
    /// version goes to `FILE.commsadvise-new`.
    Conflict,
    /// A conflict whose new version was already offered by an earlier run:
    /// reported, and the `FILE.commsadvise-new` is not written again.
    StillConflict,
    /// `--force`: replaced although the user changed it.
    Overwrite,
    /// Generated before for a flow or service that is gone, untouched: removed.
    Delete,
    /// Generated before for something that is gone, but the user changed it:
    /// kept, with or without `--force`.
    Orphan,
}

impl Action {
    pub fn verb(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Unchanged => "unchanged",
            Action::Keep => "keep",
            // The dry run adds "already offered" after the path.
            Action::Conflict | Action::StillConflict => "conflict",
            Action::Overwrite => "overwrite",
            Action::Delete => "delete",
            Action::Orphan => "orphan",
        }
    }

    /// Whether the step writes or removes anything.
    pub fn changes_disk(self) -> bool {
        matches!(
            self,
            Action::Create | Action::Update | Action::Conflict | Action::Overwrite | Action::Delete
        )
    }
}

/// One path and what to do with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub path: String,
    pub action: Action,
    /// What to write (to `path`, or beside it for a conflict).
    pub contents: Option<String>,
    pub owner: Owner,
    /// What commsadvise last wrote at the path, when the file there is still
    /// that (or there is no file): the record kept when the step leaves the
    /// file alone.
    pub previous: Option<Record>,
}

pub fn sha256(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Why a manifest entry is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsafe {
    Empty,
    Absolute,
    Parent,
    Current,
    EmptySegment,
    Backslash,
    Control,
    Prefix,
    Reserved,
    NotGenerated,
}

impl Unsafe {
    pub fn reason(self) -> &'static str {
        match self {
            Unsafe::Empty => "is empty",
            Unsafe::Absolute => "is an absolute path",
            Unsafe::Parent => "climbs out of --out with `..`",
            Unsafe::Current => "has a `.` segment",
            Unsafe::EmptySegment => "has an empty segment (`//`, or a `/` at the end)",
            Unsafe::Backslash => "contains a backslash",
            Unsafe::Control => "contains a NUL or another control character",
            Unsafe::Prefix => "contains `:` (a drive or stream prefix)",
            Unsafe::Reserved => {
                "names commsadvise's own bookkeeping (`.commsadvise/` or a `.commsadvise-new` file)"
            }
            Unsafe::NotGenerated => "is not a path commsadvise generates",
        }
    }
}

/// Checks that a manifest entry is a plain relative path, '/'-separated,
/// that the generator could have written. The generator's own planned paths
/// pass the same test when they are planned (`scaffold::plan`).
pub fn check_entry(path: &str) -> Result<(), Unsafe> {
    if path.is_empty() {
        return Err(Unsafe::Empty);
    }
    if path.starts_with('/') {
        return Err(Unsafe::Absolute);
    }
    if path.chars().any(char::is_control) {
        return Err(Unsafe::Control);
    }
    if path.contains('\\') {
        return Err(Unsafe::Backslash);
    }
    if path.contains(':') {
        return Err(Unsafe::Prefix);
    }
    for segment in path.split('/') {
        match segment {
            "" => return Err(Unsafe::EmptySegment),
            "." => return Err(Unsafe::Current),
            ".." => return Err(Unsafe::Parent),
            _ => {}
        }
    }
    if path.split('/').next() == Some(BOOKKEEPING) || path.ends_with(NEW_SUFFIX) {
        return Err(Unsafe::Reserved);
    }
    if generated_shape(path) {
        Ok(())
    } else {
        Err(Unsafe::NotGenerated)
    }
}

/// Whether `path` is a file a template writes at the top of the workspace,
/// or lies in one of the folders the generator writes (`services/`,
/// `contract/`, `proto/`) with no hidden segment. Folders rather than exact
/// files, so a manifest written before a template was removed still reads.
fn generated_shape(path: &str) -> bool {
    let outputs = BUILTIN
        .iter()
        .map(|(name, _)| name.strip_prefix("templates/").unwrap_or(name))
        .filter(|name| !name.starts_with('_'))
        .map(|name| name.strip_suffix(".tera").unwrap_or(name));
    let mut roots = vec!["proto"];
    for output in outputs {
        match output.split_once('/') {
            None if output == path => return true,
            None => {}
            Some((root, _)) => roots.push(root),
        }
    }
    if path == crate::scaffold::apidocs::ASYNCAPI_PATH {
        return true;
    }
    match path.split_once('/') {
        Some((root, rest)) => {
            roots.contains(&root) && !rest.split('/').any(|segment| segment.starts_with('.'))
        }
        None => false,
    }
}

fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Reads a manifest's text as untrusted input: well-formed JSON, a known
/// version, hashes that are hashes, and only entries [`check_entry`]
/// accepts. `file` is the manifest as shown to the user.
pub fn parse_manifest(file: &str, text: &str) -> Result<Manifest, Diagnostic> {
    let restore = restore_note(file);
    let manifest: Manifest = serde_json::from_str(text).map_err(|e| {
        let d = Diagnostic::new(format!("the manifest `{file}` is unreadable: {e}"), file);
        let d = if e.line() > 0 {
            d.at(
                text,
                Pos {
                    line: e.line(),
                    column: e.column().max(1),
                },
                1,
            )
        } else {
            d
        };
        d.note(restore.clone())
    })?;
    if manifest.version != MANIFEST_VERSION {
        return Err(Diagnostic::new(
            format!(
                "the manifest `{file}` has version {}; this commsadvise reads version {MANIFEST_VERSION}",
                manifest.version
            ),
            file,
        )
        .at(text, locate(text, "version"), "version".len() + 2)
        .note("it was written by another version of commsadvise; use that version")
        .note(restore));
    }
    let entries = manifest
        .files
        .iter()
        .chain(&manifest.staged)
        .map(|(path, record)| (path, Some(&record.sha256)))
        .chain(
            manifest
                .offered
                .iter()
                .map(|(path, hash)| (path, Some(hash))),
        );
    for (path, hash) in entries {
        if let Err(why) = check_entry(path) {
            return Err(entry_error(file, text, path, why.reason(), &restore));
        }
        if let Some(hash) = hash.filter(|h| !is_sha256(h)) {
            return Err(Diagnostic::new(
                format!(
                    "the manifest entry `{}` has the hash `{}`, which is not a SHA-256 in hex",
                    escape(path),
                    escape(hash)
                ),
                file,
            )
            .at(text, locate(text, hash), escape(hash).chars().count() + 2)
            .note(restore.clone()));
        }
    }
    Ok(manifest)
}

/// A refused manifest entry, pointing at it in the manifest.
pub fn entry_error(file: &str, text: &str, path: &str, why: &str, restore: &str) -> Diagnostic {
    let shown = escape(path);
    Diagnostic::new(
        format!("the manifest entry `{shown}` {why}; refusing to touch it"),
        file,
    )
    .at(text, locate(text, path), shown.chars().count() + 2)
    .note(format!("{restore}, or remove the entry"))
}

/// The note of every refused manifest entry.
pub fn restore_note(file: &str) -> String {
    format!(
        "the manifest records what commsadvise generated, and nothing was written; restore `{file}` from version control (`git checkout -- {file}`)"
    )
}

/// A path as shown in a message: unsafe characters escaped, so a crafted
/// entry cannot rewrite the terminal. The same escaping as every message
/// and report (`error::escape_controls`), under the name callers here know.
pub use crate::error::escape_controls as escape;

/// Where `key` first appears as a JSON string in `text` (line 1 when it
/// cannot be found, for example when the crafted file escapes it oddly).
fn locate(text: &str, key: &str) -> Pos {
    let quoted = serde_json::to_string(key).unwrap_or_default();
    let offset = text.find(&quoted).unwrap_or(0);
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    Pos { line, column }
}

/// What commsadvise last wrote at `path`: the staged record when the file
/// there holds it (the interrupted run renamed it), else the completed one.
fn previous(old: Option<&Manifest>, path: &str, disk: Option<&String>) -> Option<Record> {
    let old = old?;
    if let (Some(staged), Some(disk)) = (old.staged.get(path), disk)
        && staged.sha256 == *disk
    {
        return Some(staged.clone());
    }
    old.files.get(path).cloned()
}

/// Decides every step. `on_disk` maps each path of the plan and of the old
/// manifest to the hash of the file there, if one exists.
pub fn reconcile(
    plan: &ScaffoldPlan,
    on_disk: &BTreeMap<String, String>,
    old: Option<&Manifest>,
    force: bool,
) -> Vec<Step> {
    let mut steps = Vec::new();
    for file in &plan.files {
        let new_hash = sha256(file.contents.as_bytes());
        let disk = on_disk.get(&file.path);
        let previous = previous(old, &file.path, disk);
        let offered = old.and_then(|m| m.offered.get(&file.path));
        let action = match disk {
            None => Action::Create,
            Some(disk) if *disk == new_hash => Action::Unchanged,
            Some(_) if force => Action::Overwrite,
            Some(_) if file.owner == Owner::User => Action::Keep,
            Some(disk) if previous.as_ref().is_some_and(|r| r.sha256 == *disk) => Action::Update,
            Some(_) if offered == Some(&new_hash) => Action::StillConflict,
            Some(_) => Action::Conflict,
        };
        steps.push(Step {
            path: file.path.clone(),
            action,
            contents: Some(file.contents.clone()),
            owner: file.owner,
            previous,
        });
    }
    if let Some(old) = old {
        let planned: std::collections::BTreeSet<&str> =
            plan.files.iter().map(|f| f.path.as_str()).collect();
        let gone: std::collections::BTreeSet<&String> = old
            .files
            .keys()
            .chain(old.staged.keys())
            .filter(|path| !planned.contains(path.as_str()))
            .collect();
        for path in gone {
            let Some(disk) = on_disk.get(path) else {
                continue;
            };
            let previous = previous(Some(old), path, Some(disk));
            let owner = previous
                .as_ref()
                .or_else(|| old.staged.get(path))
                .map_or(Owner::Generated, |r| r.owner);
            // Never `--force`: a file the user changed is theirs once the
            // generator no longer plans it.
            let action = if previous.as_ref().is_some_and(|r| r.sha256 == *disk) {
                Action::Delete
            } else {
                Action::Orphan
            };
            steps.push(Step {
                path: path.clone(),
                action,
                contents: None,
                owner,
                previous,
            });
        }
    }
    steps.sort_by(|a, b| a.path.cmp(&b.path));
    steps
}

/// The manifest after the steps are carried out: what is now generated and
/// under which hash. Conflicted and kept files keep their previous record,
/// so the next run still sees the user's change as a change; conflicts
/// record what was offered beside them.
pub fn next_manifest(steps: &[Step], flows: &str) -> Manifest {
    let mut manifest = empty(flows);
    for step in steps {
        let record = match step.action {
            Action::Create | Action::Update | Action::Unchanged | Action::Overwrite => {
                written(step)
            }
            Action::Keep | Action::Conflict | Action::StillConflict | Action::Orphan => {
                step.previous.clone()
            }
            Action::Delete => None,
        };
        if let Some(record) = record {
            manifest.files.insert(step.path.clone(), record);
        }
        if matches!(step.action, Action::Conflict | Action::StillConflict)
            && let Some(contents) = &step.contents
        {
            manifest
                .offered
                .insert(step.path.clone(), sha256(contents.as_bytes()));
        }
    }
    manifest
}

/// The manifest written before the first rename: every file as it was,
/// plus what each rename will put there, so a run killed part way is
/// resumed by the next one (a file holding either is commsadvise's).
pub fn staged_manifest(steps: &[Step], old: Option<&Manifest>, flows: &str) -> Manifest {
    let mut manifest = empty(flows);
    for step in steps {
        let record = match step.action {
            Action::Unchanged => written(step),
            _ => step.previous.clone(),
        };
        if let Some(record) = record {
            manifest.files.insert(step.path.clone(), record);
        }
        if matches!(
            step.action,
            Action::Create | Action::Update | Action::Overwrite
        ) && let Some(record) = written(step)
        {
            manifest.staged.insert(step.path.clone(), record);
        }
        // The previous offer only: until its rename, the new one is not offered.
        if matches!(step.action, Action::Conflict | Action::StillConflict)
            && let Some(hash) = old.and_then(|m| m.offered.get(&step.path))
        {
            manifest.offered.insert(step.path.clone(), hash.clone());
        }
    }
    manifest
}

fn empty(flows: &str) -> Manifest {
    Manifest {
        version: MANIFEST_VERSION,
        flows: flows.to_owned(),
        files: BTreeMap::new(),
        staged: BTreeMap::new(),
        offered: BTreeMap::new(),
    }
}

/// The record of a step's new contents.
fn written(step: &Step) -> Option<Record> {
    step.contents.as_ref().map(|c| Record {
        sha256: sha256(c.as_bytes()),
        owner: step.owner,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scaffold::PlannedFile;

    fn plan(files: &[(&str, &str, Owner)]) -> ScaffoldPlan {
        ScaffoldPlan {
            files: files
                .iter()
                .map(|(p, c, o)| PlannedFile {
                    path: (*p).to_owned(),
                    contents: (*c).to_owned(),
                    owner: *o,
                })
                .collect(),
        }
    }

    fn records(files: &[(&str, &str, Owner)]) -> BTreeMap<String, Record> {
        files
            .iter()
            .map(|(p, c, o)| {
                (
                    (*p).to_owned(),
                    Record {
                        sha256: sha256(c.as_bytes()),
                        owner: *o,
                    },
                )
            })
            .collect()
    }

    fn manifest(files: &[(&str, &str, Owner)]) -> Manifest {
        Manifest {
            files: records(files),
            ..empty("x")
        }
    }

    fn disk(files: &[(&str, &str)]) -> BTreeMap<String, String> {
        files
            .iter()
            .map(|(p, c)| ((*p).to_owned(), sha256(c.as_bytes())))
            .collect()
    }

    fn actions(steps: &[Step]) -> Vec<(&str, Action)> {
        steps.iter().map(|s| (s.path.as_str(), s.action)).collect()
    }

    #[test]
    fn untouched_files_are_updated_and_edited_ones_conflict() {
        let old = manifest(&[
            ("a.rs", "old a", Owner::Generated),
            ("b.rs", "old b", Owner::Generated),
        ]);
        let disk = disk(&[("a.rs", "old a"), ("b.rs", "edited b")]);
        let new = plan(&[
            ("a.rs", "new a", Owner::Generated),
            ("b.rs", "new b", Owner::Generated),
        ]);
        let steps = reconcile(&new, &disk, Some(&old), false);
        assert_eq!(
            actions(&steps),
            [("a.rs", Action::Update), ("b.rs", Action::Conflict)]
        );
    }

    #[test]
    fn user_owned_files_are_never_replaced() {
        let disk = disk(&[("h.rs", "mine")]);
        let new = plan(&[("h.rs", "template", Owner::User)]);
        let old = manifest(&[("h.rs", "mine", Owner::User)]);
        assert_eq!(
            actions(&reconcile(&new, &disk, Some(&old), false)),
            [("h.rs", Action::Keep)]
        );
    }

    #[test]
    fn removed_files_go_only_when_untouched() {
        let old = manifest(&[
            ("gone.rs", "g", Owner::Generated),
            ("kept.rs", "k", Owner::Generated),
        ]);
        let disk = disk(&[("gone.rs", "g"), ("kept.rs", "edited")]);
        let steps = reconcile(&plan(&[]), &disk, Some(&old), false);
        assert_eq!(
            actions(&steps),
            [("gone.rs", Action::Delete), ("kept.rs", Action::Orphan)]
        );
    }

    #[test]
    fn force_never_deletes_an_edited_file_of_something_removed() {
        let old = manifest(&[("h.rs", "template", Owner::User)]);
        let disk = disk(&[("h.rs", "my logic")]);
        let steps = reconcile(&plan(&[]), &disk, Some(&old), true);
        assert_eq!(actions(&steps), [("h.rs", Action::Orphan)]);
    }

    #[test]
    fn same_contents_are_left_unchanged() {
        let disk = disk(&[("a.rs", "a")]);
        assert_eq!(
            actions(&reconcile(
                &plan(&[("a.rs", "a", Owner::Generated)]),
                &disk,
                None,
                false
            )),
            [("a.rs", Action::Unchanged)]
        );
    }

    #[test]
    fn force_overwrites_edits() {
        let disk = disk(&[("a.rs", "edited")]);
        assert_eq!(
            actions(&reconcile(
                &plan(&[("a.rs", "a", Owner::User)]),
                &disk,
                None,
                true
            )),
            [("a.rs", Action::Overwrite)]
        );
    }

    #[test]
    fn a_conflicted_file_stays_a_change_in_the_next_manifest() {
        let old = manifest(&[("b.rs", "old b", Owner::Generated)]);
        let disk = disk(&[("b.rs", "edited b")]);
        let steps = reconcile(
            &plan(&[("b.rs", "new b", Owner::Generated)]),
            &disk,
            Some(&old),
            false,
        );
        let next = next_manifest(&steps, "x");
        assert_eq!(next.files["b.rs"].sha256, sha256(b"old b"));
        assert_eq!(next.offered["b.rs"], sha256(b"new b"));
    }

    #[test]
    fn a_conflict_already_offered_is_not_offered_again_until_the_version_changes() {
        let mut old = manifest(&[("b.rs", "old b", Owner::Generated)]);
        old.offered.insert("b.rs".into(), sha256(b"new b"));
        let disk = disk(&[("b.rs", "edited b")]);
        let same = reconcile(
            &plan(&[("b.rs", "new b", Owner::Generated)]),
            &disk,
            Some(&old),
            false,
        );
        assert_eq!(actions(&same), [("b.rs", Action::StillConflict)]);
        assert_eq!(next_manifest(&same, "x").offered, old.offered);
        let newer = reconcile(
            &plan(&[("b.rs", "newer b", Owner::Generated)]),
            &disk,
            Some(&old),
            false,
        );
        assert_eq!(actions(&newer), [("b.rs", Action::Conflict)]);
    }

    #[test]
    fn an_interrupted_run_is_resumed_from_its_staged_records() {
        // The run was renaming: a.rs got its new contents, b.rs did not yet,
        // c.rs (a create) did not happen, and the user wrote d.rs meanwhile.
        let old = manifest(&[
            ("a.rs", "old a", Owner::Generated),
            ("b.rs", "old b", Owner::Generated),
        ]);
        let steps = reconcile(
            &plan(&[
                ("a.rs", "new a", Owner::Generated),
                ("b.rs", "new b", Owner::Generated),
                ("c.rs", "c", Owner::Generated),
                ("d.rs", "d", Owner::Generated),
            ]),
            &disk(&[("a.rs", "old a"), ("b.rs", "old b")]),
            Some(&old),
            false,
        );
        let staged = staged_manifest(&steps, Some(&old), "x");
        assert_eq!(staged.files, old.files, "nothing is recorded as done yet");
        assert_eq!(staged.staged.len(), 4);

        let resumed = reconcile(
            &plan(&[
                ("a.rs", "new a", Owner::Generated),
                ("b.rs", "newest b", Owner::Generated),
                ("c.rs", "c", Owner::Generated),
                ("d.rs", "d", Owner::Generated),
            ]),
            &disk(&[
                ("a.rs", "new a"),
                ("b.rs", "old b"),
                ("d.rs", "the user's d"),
            ]),
            Some(&staged),
            false,
        );
        assert_eq!(
            actions(&resumed),
            [
                ("a.rs", Action::Unchanged),
                ("b.rs", Action::Update),
                ("c.rs", Action::Create),
                ("d.rs", Action::Conflict),
            ]
        );
        let done = next_manifest(&resumed, "x");
        assert!(done.staged.is_empty());
        assert_eq!(done.files["b.rs"].sha256, sha256(b"newest b"));
    }

    #[test]
    fn a_staged_file_of_something_since_removed_is_deleted_when_untouched() {
        let mut old = manifest(&[]);
        old.staged = records(&[
            ("gone.rs", "g", Owner::Generated),
            ("mine.rs", "m", Owner::User),
        ]);
        let steps = reconcile(
            &plan(&[]),
            &disk(&[("gone.rs", "g"), ("mine.rs", "edited")]),
            Some(&old),
            false,
        );
        assert_eq!(
            actions(&steps),
            [("gone.rs", Action::Delete), ("mine.rs", Action::Orphan)]
        );
    }

    #[test]
    fn generated_paths_are_accepted() {
        for path in [
            "Cargo.toml",
            "README.md",
            ".gitignore",
            "docker-compose.yml",
            "proto/order.proto",
            "contract/build.rs",
            "services/orders/src/main.rs",
            "services/orders/src/retry_old.rs",
        ] {
            assert_eq!(check_entry(path), Ok(()), "{path}");
        }
    }

    #[test]
    fn unsafe_entries_are_refused_with_their_reason() {
        for (path, why) in [
            ("", Unsafe::Empty),
            ("/etc/passwd", Unsafe::Absolute),
            ("../victim.txt", Unsafe::Parent),
            ("services/../../victim.txt", Unsafe::Parent),
            ("services/./x.rs", Unsafe::Current),
            ("services//x.rs", Unsafe::EmptySegment),
            ("services/x/", Unsafe::EmptySegment),
            ("services\\x.rs", Unsafe::Backslash),
            ("services/x\0.rs", Unsafe::Control),
            ("C:/x", Unsafe::Prefix),
            ("C:x", Unsafe::Prefix),
            ("services/x.rs:stream", Unsafe::Prefix),
            (".commsadvise/manifest.json", Unsafe::Reserved),
            ("README.md.commsadvise-new", Unsafe::Reserved),
            (".git/HEAD", Unsafe::NotGenerated),
            ("notes.txt", Unsafe::NotGenerated),
            ("src/main.rs", Unsafe::NotGenerated),
            ("services/orders/.env", Unsafe::NotGenerated),
        ] {
            assert_eq!(check_entry(path), Err(why), "{path:?}");
        }
    }

    #[test]
    fn a_refused_entry_points_at_its_line_in_the_manifest() {
        let text = "{\n  \"version\": 1,\n  \"flows\": \"x\",\n  \"files\": {\n    \"../victim.txt\": {\n      \"sha256\": \"00\",\n      \"owner\": \"generated\"\n    }\n  }\n}\n";
        let d = parse_manifest("out/.commsadvise/manifest.json", text).unwrap_err();
        assert_eq!(d.pos, Some(Pos { line: 5, column: 5 }));
        assert!(
            d.message.contains("`../victim.txt` climbs out of --out"),
            "{}",
            d.message
        );
        assert!(
            d.notes[0].contains("restore `out/.commsadvise/manifest.json` from version control")
        );
    }

    #[test]
    fn manifests_of_other_versions_and_bad_hashes_are_refused() {
        let other = parse_manifest(
            "m.json",
            "{\"version\": 2, \"flows\": \"x\", \"files\": {}}",
        )
        .unwrap_err();
        assert!(other.message.contains("has version 2"), "{}", other.message);
        let bad = parse_manifest(
            "m.json",
            "{\"version\": 1, \"flows\": \"x\", \"files\": {\"README.md\": {\"sha256\": \"zz\", \"owner\": \"generated\"}}}",
        )
        .unwrap_err();
        assert!(bad.message.contains("not a SHA-256"), "{}", bad.message);
    }

    #[test]
    fn entries_of_every_map_are_checked() {
        for (map, other) in [("files", "staged"), ("staged", "files")] {
            let text = format!(
                "{{\"version\": 1, \"flows\": \"x\", \"{other}\": {{}}, \"{map}\": {{\"/etc/passwd\": {{\"sha256\": \"{}\", \"owner\": \"user\"}}}}}}",
                sha256(b"")
            );
            let d = parse_manifest("m.json", &text).unwrap_err();
            assert!(
                d.message.contains("is an absolute path"),
                "{map}: {}",
                d.message
            );
        }
        let offered = format!(
            "{{\"version\": 1, \"flows\": \"x\", \"files\": {{}}, \"offered\": {{\"../x\": \"{}\"}}}}",
            sha256(b"")
        );
        let d = parse_manifest("m.json", &offered).unwrap_err();
        assert!(d.message.contains("climbs out"), "{}", d.message);
    }

    #[test]
    fn control_characters_in_entries_are_escaped_when_shown() {
        assert_eq!(escape("a\u{1b}[2Jb\u{202e}c"), "a\\u{1b}[2Jb\\u{202e}c");
        assert_eq!(escape("café"), "café");
        // Invisible characters a terminal shows as nothing at all.
        assert_eq!(
            escape("a\u{200b}b\u{2060}c\u{feff}d\u{61c}"),
            "a\\u{200b}b\\u{2060}c\\u{feff}d\\u{61c}"
        );
    }
}
