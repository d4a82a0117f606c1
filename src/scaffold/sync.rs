//! Safe regeneration: what to do with each file, decided from the new plan,
//! the files on disk and the manifest of the previous run. Pure: the caller
//! gathers the disk state and carries out the steps.
//!
//! The rules: a file the user never touched is updated; one the user changed
//! is left alone and the new version is offered beside it; files of removed
//! flows go only if untouched; user-owned files are written once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::scaffold::ScaffoldPlan;
use crate::scaffold::templates::Owner;

/// Where the manifest lives inside the output folder.
pub const MANIFEST: &str = ".commsadvise/manifest.json";

/// Suffix of the new version written beside a file the user changed.
pub const NEW_SUFFIX: &str = ".commsadvise-new";

/// What a scaffold run wrote, for the next run to compare against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    /// The flows file's hash, or `builtin:orders`.
    pub flows: String,
    pub files: BTreeMap<String, Record>,
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
    /// A user-owned file that exists: never replaced.
    Keep,
    /// The user changed (or owns) a file the plan would change: the new
    /// version goes to `FILE.commsadvise-new`.
    Conflict,
    /// `--force`: replaced although the user changed it.
    Overwrite,
    /// Generated before for a flow or service that is gone, untouched: removed.
    Delete,
    /// Generated before for something that is gone, but the user changed it: kept.
    Orphan,
}

impl Action {
    pub fn verb(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Unchanged => "unchanged",
            Action::Keep => "keep",
            Action::Conflict => "conflict",
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
}

pub fn sha256(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Decides every step. `on_disk` maps each path of the plan and of the old
/// manifest to the hash of the file there, if one exists.
pub fn reconcile(
    plan: &ScaffoldPlan,
    on_disk: &BTreeMap<String, String>,
    old: Option<&Manifest>,
    force: bool,
) -> Vec<Step> {
    let previous = |path: &str| old.and_then(|m| m.files.get(path));
    let mut steps = Vec::new();
    for file in &plan.files {
        let new_hash = sha256(file.contents.as_bytes());
        let action = match on_disk.get(&file.path) {
            None => Action::Create,
            Some(disk) if *disk == new_hash => Action::Unchanged,
            Some(_) if force => Action::Overwrite,
            Some(_) if file.owner == crate::scaffold::templates::Owner::User => Action::Keep,
            Some(disk) => match previous(&file.path) {
                Some(record) if record.sha256 == *disk => Action::Update,
                _ => Action::Conflict,
            },
        };
        steps.push(Step {
            path: file.path.clone(),
            action,
            contents: Some(file.contents.clone()),
            owner: file.owner,
        });
    }
    if let Some(old) = old {
        for (path, record) in &old.files {
            if plan.files.iter().any(|f| f.path == *path) {
                continue;
            }
            let Some(disk) = on_disk.get(path) else {
                continue;
            };
            let action = if *disk == record.sha256 || force {
                Action::Delete
            } else {
                Action::Orphan
            };
            steps.push(Step {
                path: path.clone(),
                action,
                contents: None,
                owner: record.owner,
            });
        }
    }
    steps.sort_by(|a, b| a.path.cmp(&b.path));
    steps
}

/// The manifest after the steps are carried out: what is now generated and
/// under which hash. Conflicted and kept files keep their previous record,
/// so the next run still sees the user's change as a change.
pub fn next_manifest(steps: &[Step], old: Option<&Manifest>, flows: &str) -> Manifest {
    let mut files = BTreeMap::new();
    for step in steps {
        let record = match step.action {
            Action::Create | Action::Update | Action::Unchanged | Action::Overwrite => {
                step.contents.as_ref().map(|c| Record {
                    sha256: sha256(c.as_bytes()),
                    owner: step.owner,
                })
            }
            Action::Keep | Action::Conflict | Action::Orphan => {
                old.and_then(|m| m.files.get(&step.path)).cloned()
            }
            Action::Delete => None,
        };
        if let Some(record) = record {
            files.insert(step.path.clone(), record);
        }
    }
    Manifest {
        version: 1,
        flows: flows.to_owned(),
        files,
    }
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

    fn manifest(files: &[(&str, &str, Owner)]) -> Manifest {
        Manifest {
            version: 1,
            flows: "x".into(),
            files: files
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
                .collect(),
        }
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
        let disk = BTreeMap::from([
            ("a.rs".to_owned(), sha256(b"old a")),
            ("b.rs".to_owned(), sha256(b"edited b")),
        ]);
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
        let disk = BTreeMap::from([("h.rs".to_owned(), sha256(b"mine"))]);
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
        let disk = BTreeMap::from([
            ("gone.rs".to_owned(), sha256(b"g")),
            ("kept.rs".to_owned(), sha256(b"edited")),
        ]);
        let steps = reconcile(&plan(&[]), &disk, Some(&old), false);
        assert_eq!(
            actions(&steps),
            [("gone.rs", Action::Delete), ("kept.rs", Action::Orphan)]
        );
    }

    #[test]
    fn same_contents_are_left_unchanged() {
        let disk = BTreeMap::from([("a.rs".to_owned(), sha256(b"a"))]);
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
        let disk = BTreeMap::from([("a.rs".to_owned(), sha256(b"edited"))]);
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
        let disk = BTreeMap::from([("b.rs".to_owned(), sha256(b"edited b"))]);
        let steps = reconcile(
            &plan(&[("b.rs", "new b", Owner::Generated)]),
            &disk,
            Some(&old),
            false,
        );
        let next = next_manifest(&steps, Some(&old), "x");
        assert_eq!(next.files["b.rs"].sha256, sha256(b"old b"));
    }
}
