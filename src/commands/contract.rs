//! `commsadvise contract [FLOWS.yaml]`: the protobuf contract and what each
//! flow binds to; and [`resolve`], the one way every command gets them.
//!
//! This is where the team's .proto files are found on disk: `proto:`
//! entries and `proto_path:` folders are relative to flows.yaml, and protox
//! reads the files through include-folder resolvers built here. Everything
//! after that — compiling, deriving, binding — is `crate::contract`, pure.
//!
//! The .proto files come with the repository, so a pull request controls
//! them: an include folder must be inside the folder of flows.yaml (also
//! once links are resolved), an import must be a plain relative path, and
//! each file is read as [`crate::commands::files`] reads what the user does
//! not name on the command line: only a regular file, reached without a
//! symbolic link, at most the size cap. A refused file is an error at the
//! `import` line that names it.
//!
//! `contract check` reads the deployed contract here too: a .proto file, a
//! folder of them, or the same files at a git revision, read with the git
//! CLI (`git ls-tree`, then `git cat-file`) so the work tree is never
//! touched, under the same rules (a link stored in git is refused, a blob
//! over the cap is not read). At a revision, the files are the ones
//! flows.yaml named then: a file added, renamed or moved since is compared
//! by what it declares, not by its name.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use prost_reflect::DescriptorPool;
use protox::file::{File, FileResolver};

use crate::cli::{CheckFormat, ContractArgs, ContractCheckArgs, ContractCommand, ContractFormat};
use crate::commands::files::{Blocked, Links, Unread, read_bounded, walk};
use crate::commands::{Failure, file_kind, load_flows, load_rules, plain, print, read_input};
use crate::contract::compile::{BUILT_IN, Recording, Refusal, Refused, Sources, Texts};
use crate::contract::evolution::{self, Finding};
use crate::contract::{self, BoundContract, Problem, Site};
use crate::engine::{RuleSet, recommend};
use crate::error::Error;
use crate::render::contract::{Evolution, Shown};
use crate::spec::FlowsFile;
use crate::spec::model::SourceMap;

pub fn run(args: &ContractArgs) -> Result<(), Failure> {
    if let Some(ContractCommand::Check(check)) = &args.command {
        return run_check(check);
    }
    let (flows, bound) = match &args.flows {
        Some(path) => {
            let flows = load_flows(path)?;
            let bound = resolve(path, &flows)?;
            (flows, bound)
        }
        None => builtin()?,
    };
    let out = match args.format {
        ContractFormat::Text => crate::render::contract::text(&flows, &bound),
        ContractFormat::Json => crate::render::contract::json(&bound),
    };
    print(&out)
}

/// The built-in example: the seed article's orders system (docs/scaffold.md).
pub const ORDERS_EXAMPLE: &str = include_str!("../../examples/orders.yaml");

/// The built-in example and its contract: the seed's order.proto (SPEC §6).
pub fn builtin() -> Result<(FlowsFile, BoundContract), Error> {
    let file = "examples/orders.yaml";
    let flows = crate::spec::load_str(file, ORDERS_EXAMPLE)?;
    let bound = contract::seed(&flows)
        .map_err(|problems| report(&problems, file, ORDERS_EXAMPLE.as_bytes()))?;
    Ok((flows, bound))
}

/// The contract of the flows file at `path` (already loaded as `flows`):
/// the team's .proto files when it names them, else the derived one.
pub fn resolve(path: &Path, flows: &FlowsFile) -> Result<BoundContract, Error> {
    let result = if flows.proto.is_empty() {
        contract::derived(flows)
    } else {
        team(path, flows)
    };
    result.map_err(|problems| match read_input(path) {
        Ok(bytes) => report(&problems, &path.display().to_string(), &bytes),
        Err(e) => e,
    })
}

/// The text of every .proto file of `bound` that the generated workspace
/// compiles, by import name: the seed's or the derived contract's one
/// file, or each team file (the imported ones too) read again from its
/// include folder, under the same rules as the compile; plus any built-in
/// googleapis file a contract imports, which the workspace's protox does
/// not have. The well-known types need no file.
pub fn proto_files(
    path: Option<&Path>,
    flows: &FlowsFile,
    bound: &BoundContract,
) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    if let (Some(text), Some(file)) = (&bound.text, bound.files.first()) {
        out.push((file.clone(), text.clone()));
    }
    let team = match (path, bound.origin) {
        (Some(path), contract::Origin::Team) => {
            let (folders, _) = locate(path, flows).map_err(|problems| {
                read_input(path).map_or_else(
                    |e| e,
                    |bytes| report(&problems, &path.display().to_string(), &bytes),
                )
            })?;
            Some(ProtoFolders::new(&folders))
        }
        _ => None,
    };
    for file in bound.pool.files() {
        let name = file.name();
        if name.starts_with("google/protobuf/") || out.iter().any(|(n, _)| n == name) {
            continue;
        }
        let text = match &team {
            Some(resolver) => resolver
                .open_file(name)
                .ok()
                .and_then(|f| f.source().map(str::to_owned)),
            None => None,
        };
        match text.or_else(|| crate::contract::compile::builtin_text(name).map(str::to_owned)) {
            Some(text) => out.push((name.to_owned(), text)),
            None => {
                return Err(Error::Internal(format!(
                    "the contract file `{name}` cannot be read again"
                )));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Problems as diagnostics against flows.yaml, whose positions are only
/// read now that something is wrong.
fn report(problems: &[Problem], file: &str, bytes: &[u8]) -> Error {
    let text = String::from_utf8_lossy(bytes);
    match crate::spec::load::load_str_mapped(file, &text) {
        Ok((_, map)) => contract::input_error(problems, file, &text, &map),
        Err(e) => e,
    }
}

/// Finds the `proto:` files under the `proto_path:` folders and binds.
fn team(path: &Path, flows: &FlowsFile) -> Result<BoundContract, Vec<Problem>> {
    let (folders, names) = locate(path, flows)?;
    let resolver = ProtoFolders::new(&folders);
    let show = shown_under(&folders);
    let lookup = proto_path_lookup();
    let sources = resolver.sources(&show, &lookup);
    contract::team(flows, resolver, names, &sources)
}

/// Where the new side's imports are looked up, said when one is missing.
fn proto_path_lookup() -> String {
    format!(
        "imports are looked up in the `proto_path` folders (default: the folder of flows.yaml); {BUILT_IN}"
    )
}

/// Reads .proto files by import name from include folders, as protoc's
/// `-I` does, but only regular files reached without a symbolic link, at
/// most the size cap each (see [`crate::commands::files`]). A refused file
/// is answered as not found, so protox points the error at the `import`
/// line, and [`Refusal`] says why.
#[derive(Clone)]
struct ProtoFolders {
    folders: Vec<PathBuf>,
    refusal: Refusal,
}

impl ProtoFolders {
    fn new(folders: &[PathBuf]) -> ProtoFolders {
        ProtoFolders {
            folders: folders.to_vec(),
            refusal: Refusal::default(),
        }
    }

    /// How the files this resolver opens are shown in errors.
    fn sources<'a>(&self, shown: &'a dyn Fn(&str) -> String, lookup: &'a str) -> Sources<'a> {
        Sources {
            shown,
            lookup,
            refusal: self.refusal.clone(),
        }
    }

    /// The text of `name` under `folder`; `None` when it is not there.
    fn read(folder: &Path, name: &str) -> Result<Option<String>, Refused> {
        let path = folder.join(name);
        let shown = path.display().to_string();
        match walk(here(folder), name) {
            Ok(None) | Err(Blocked::NotFolder(..)) => return Ok(None),
            Err(Blocked::Symlink(at)) => {
                // As written: `env.proto`, not `./env.proto`.
                let at = at
                    .strip_prefix(here(folder))
                    .map_or(at.clone(), |rel| folder.join(rel));
                return Err(refused(format!("`{}` is a symbolic link", at.display())));
            }
            Ok(Some(_)) => {}
        }
        let cap = crate::yaml::MAX_BYTES as u64;
        let bytes = match read_bounded(&path, Links::Refuse, cap) {
            Ok(bytes) => bytes,
            Err(Unread::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(Unread::Io(e)) => return Err(refused(format!("cannot read `{shown}`: {e}"))),
            Err(Unread::NotRegular(meta)) => {
                return Err(refused(format!(
                    "`{shown}` is {}, not a regular file",
                    file_kind(&meta)
                )));
            }
            Err(Unread::TooLarge(size)) => {
                return Err(refused(format!(
                    "`{shown}` is {size} bytes, over the limit of {cap} bytes"
                )));
            }
        };
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| refused(format!("`{shown}` is not UTF-8 text")))
    }
}

/// Why a .proto file was not read, with what to do.
fn refused(why: String) -> Refused {
    Refused {
        why,
        note: "commsadvise reads .proto files only as regular files inside the include folders, never through a symbolic link; copy the file there".to_owned(),
    }
}

/// Answers "not found" after noting why `refused` was not read.
fn refuse(refusal: &Refusal, name: &str, refused: Refused) -> protox::Error {
    if let Ok(mut last) = refusal.lock() {
        *last = Some(refused);
    }
    protox::Error::file_not_found(name)
}

/// Whether an import name is a plain relative path: no `..`, `.`, empty
/// segment, or root, so it cannot leave its include folder.
fn is_plain(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('\\')
        && name
            .split('/')
            .all(|segment| !matches!(segment, "" | "." | ".."))
}

/// The refusal of a name that is not a plain relative path.
fn not_plain(name: &str) -> Refused {
    Refused {
        why: format!("the import `{name}` is not a plain relative path"),
        note: "imports name a file by its path inside an include folder, without `..`, `.` or a leading `/`".to_owned(),
    }
}

impl FileResolver for ProtoFolders {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        open_first(&self.refusal, name, &self.folders, |folder| {
            Self::read(folder, name)
        })
    }
}

/// Opens `name` from the first of `folders` where `read` finds it; a
/// refusal is noted in `refusal` and answered as not found.
fn open_first<T>(
    refusal: &Refusal,
    name: &str,
    folders: &[T],
    read: impl Fn(&T) -> Result<Option<String>, Refused>,
) -> Result<File, protox::Error> {
    if let Ok(mut last) = refusal.lock() {
        *last = None;
    }
    if !is_plain(name) {
        return Err(refuse(refusal, name, not_plain(name)));
    }
    for folder in folders {
        match read(folder) {
            Ok(Some(text)) => return File::from_source(name, &text),
            Ok(None) => {}
            Err(why) => return Err(refuse(refusal, name, why)),
        }
    }
    Err(protox::Error::file_not_found(name))
}

/// An import name as the path of the file under the first folder that has it.
fn shown_under(folders: &[PathBuf]) -> impl Fn(&str) -> String + use<> {
    let folders = folders.to_vec();
    move |name: &str| {
        folders
            .iter()
            .map(|f| f.join(name))
            .find(|p| std::fs::symlink_metadata(p).is_ok())
            .map_or_else(|| name.to_owned(), |p| p.display().to_string())
    }
}

/// The `proto_path:` folders (as written, relative to the current folder)
/// and the import name of each `proto:` file.
///
/// A folder must be inside the repository that holds flows.yaml (the
/// nearest folder above it with a `.git`), or inside the folder of
/// flows.yaml when it is in none, also once symbolic links are resolved:
/// flows.yaml comes with the repository, and an include folder of `/` would
/// let an import read any file on the machine. A monorepo's shared `proto/`
/// at the top (`proto_path: [../../proto]`) is inside.
fn locate(path: &Path, flows: &FlowsFile) -> Result<(Vec<PathBuf>, Vec<String>), Vec<Problem>> {
    // Kept as written (`proto/x.proto`, not `./proto/x.proto`): error
    // messages show these paths.
    let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let folders: Vec<PathBuf> = if flows.proto_path.is_empty() {
        vec![base.clone()]
    } else {
        flows.proto_path.iter().map(|f| base.join(f)).collect()
    };
    let mut problems = Vec::new();
    let mut names = Vec::new();
    let real_base = std::fs::canonicalize(here(&base))
        .ok()
        .map(|folder| repository_root(&folder).unwrap_or(folder));
    for (i, folder) in folders.iter().enumerate() {
        let entry = flows.proto_path.get(i).map_or("", String::as_str);
        problems.extend(folder_problem(i, entry, folder, real_base.as_deref()));
    }
    for (i, entry) in flows.proto.iter().enumerate() {
        let file = base.join(entry);
        if let Some(problem) = file_problem(i, &file) {
            problems.push(problem);
            continue;
        }
        if let Some(name) = folders.iter().find_map(|folder| name_under(&file, folder)) {
            names.push(name);
            continue;
        }
        let shown: Vec<String> = folders
            .iter()
            .map(|f| format!("`{}`", f.display()))
            .collect();
        problems.push(
            Problem::new(
                Site::ProtoEntry(i),
                format!("`{entry}` is not inside a `proto_path` folder"),
            )
            .note(format!(
                "imports name a file by its path inside an include folder; `proto_path` folders: {}",
                shown.join(", ")
            )),
        );
    }
    if problems.is_empty() {
        Ok((folders, names))
    } else {
        Err(problems)
    }
}

/// What is wrong with the `i`th `proto_path` folder, `entry` as written
/// and `folder` joined to flows.yaml's own; `real_base` is that folder's
/// real path.
fn folder_problem(
    i: usize,
    entry: &str,
    folder: &Path,
    real_base: Option<&Path>,
) -> Option<Problem> {
    let outside = |why: String| {
        Problem::new(Site::ProtoPathEntry(i), why).note(
            "`proto_path` folders are relative to flows.yaml and inside its repository (or its folder, outside a repository); copy shared .proto files there",
        )
    };
    if Path::new(entry).has_root() || Path::new(entry).is_absolute() {
        return Some(outside(format!(
            "`proto_path` folder `{entry}` is absolute"
        )));
    }
    if !here(folder).is_dir() {
        // The default folder, flows.yaml's own, always exists.
        return Some(
            Problem::new(
                Site::ProtoPathEntry(i),
                format!("`proto_path` folder `{}` does not exist", folder.display()),
            )
            .note("`proto_path` folders are relative to flows.yaml"),
        );
    }
    let real = std::fs::canonicalize(here(folder)).ok()?;
    if real_base.is_some_and(|base| !real.starts_with(base)) {
        if climbs_out(entry) {
            // Climbing with `..` says it all; the real path would only
            // show where this machine keeps the folder.
            return Some(outside(format!(
                "`proto_path` folder `{entry}` is outside the repository of flows.yaml (or its folder, outside a repository)"
            )));
        }
        return Some(outside(format!(
            "`proto_path` folder `{}` leads outside the repository of flows.yaml (or its folder, outside a repository), to `{}`",
            folder.display(),
            real.display()
        )));
    }
    None
}

/// What is wrong with the `i`th `proto:` file, when it is not a regular
/// file (looked at without opening it: a FIFO would block).
fn file_problem(i: usize, file: &Path) -> Option<Problem> {
    match std::fs::metadata(file) {
        Ok(meta) if meta.is_file() => None,
        Ok(meta) => Some(
            Problem::new(
                Site::ProtoEntry(i),
                format!(
                    "`{}` is {}, not a regular file",
                    file.display(),
                    file_kind(&meta)
                ),
            )
            .note("`proto` names .proto files, relative to flows.yaml"),
        ),
        Err(e) => {
            let why = if e.kind() == std::io::ErrorKind::NotFound {
                "no such file".to_owned()
            } else {
                plain(&e)
            };
            Some(
                Problem::new(
                    Site::ProtoEntry(i),
                    format!("cannot read `{}`: {why}", file.display()),
                )
                .note("`proto` paths are relative to flows.yaml"),
            )
        }
    }
}

/// Whether a relative path climbs above its starting folder with `..`.
fn climbs_out(rel: &str) -> bool {
    let mut depth = 0usize;
    for part in Path::new(rel).components() {
        match part {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return true,
            },
            Component::RootDir | Component::Prefix(_) => return true,
        }
    }
    false
}

/// The nearest folder at or above `folder` (already canonical) that holds
/// a `.git` entry: the repository's top, as `git rev-parse --show-toplevel`
/// would say, without running git.
fn repository_root(folder: &Path) -> Option<PathBuf> {
    folder
        .ancestors()
        .find(|dir| std::fs::symlink_metadata(dir.join(".git")).is_ok())
        .map(Path::to_path_buf)
}

/// `path`, or `.` for the empty path of a file in the current folder.
fn here(path: &Path) -> &Path {
    if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    }
}

/// The import name of `file` inside `folder` (`proto/billing/v1/a.proto`
/// in `proto` → `billing/v1/a.proto`), comparing real paths.
fn name_under(file: &Path, folder: &Path) -> Option<String> {
    let file = std::fs::canonicalize(file).ok()?;
    let folder = std::fs::canonicalize(here(folder)).ok()?;
    let inside = file.strip_prefix(&folder).ok()?;
    let parts: Option<Vec<&str>> = inside
        .components()
        .map(|c| c.as_os_str().to_str())
        .collect();
    Some(parts?.join("/"))
}

fn run_check(args: &ContractCheckArgs) -> Result<(), Failure> {
    let rules = load_rules(&args.rules)?;
    let flows = load_flows(&args.flows)?;
    let checked = evolution_check(&args.flows, &flows, &args.against, &rules)?;
    let out = match args.format {
        CheckFormat::Text => crate::render::contract::check_text(&checked),
        CheckFormat::Json => crate::render::contract::check_json(&checked),
        CheckFormat::Github => crate::render::contract::check_github(&checked),
    };
    print(&out)?;
    if checked.findings.is_empty() {
        Ok(())
    } else {
        // Exit code 1, as `check`: the findings are on stdout.
        Err(Error::Gate(crate::render::contract::check_summary(&checked)).into())
    }
}

/// The breaking changes from the contract `against` names to the flows
/// file's own (`contract check`, `check --against`). The new contract must
/// still bind every flow, which is checked once no change breaks: a flow
/// bound to a deleted rpc is reported as the deletion it is.
pub fn evolution_check(
    path: &Path,
    flows: &FlowsFile,
    against: &str,
    rules: &RuleSet,
) -> Result<Evolution, Error> {
    let (new_pool, new_shown) = new_side(path, flows)?;
    let (old_pool, old_shown, previous) = old_side(path, flows, against)?;
    let report = recommend(flows, rules);
    let usages = evolution::usages(flows, &report);
    let findings: Vec<Finding> =
        evolution::compare(flows, previous.as_ref(), &usages, &old_pool, &new_pool);
    if findings.is_empty() {
        resolve(path, flows)?;
    }
    Ok(Evolution {
        against: against.to_owned(),
        flows: flows.flows.len(),
        findings,
        old: old_shown,
        new: new_shown,
    })
}

/// The texts a resolver recorded, each with the path the user knows it by.
fn shown(texts: &Texts, show: &dyn Fn(&str) -> String) -> Shown {
    let texts = texts.lock().map(|t| t.clone()).unwrap_or_default();
    Shown {
        files: texts
            .into_iter()
            .map(|(name, text)| {
                let path = show(&name);
                (name, (path, text))
            })
            .collect(),
    }
}

/// The flows file's own contract, compiled without binding the flows.
fn new_side(path: &Path, flows: &FlowsFile) -> Result<(DescriptorPool, Shown), Error> {
    let file = path.display().to_string();
    let fail = |problems: &[Problem]| match read_input(path) {
        Ok(bytes) => report(problems, &file, &bytes),
        Err(e) => e,
    };
    if flows.proto.is_empty() {
        return derived_side(flows).map_err(|p| fail(&p));
    }
    let (folders, names) = locate(path, flows).map_err(|p| fail(&p))?;
    let lookup = proto_path_lookup();
    let (pool, shown) = compile_recorded(
        ProtoFolders::new(&folders),
        &names,
        &shown_under(&folders),
        &lookup,
    )
    .map_err(|p| fail(&[p]))?;
    Ok((pool, shown))
}

/// A resolver that knows why it refused a file: the two sides' disk and
/// git resolvers.
trait Refusing: FileResolver + Clone + 'static {
    fn refusal(&self) -> Refusal;
}

impl Refusing for ProtoFolders {
    fn refusal(&self) -> Refusal {
        self.refusal.clone()
    }
}

impl Refusing for GitResolver {
    fn refusal(&self) -> Refusal {
        self.refusal.clone()
    }
}

/// Compiles `names` through `resolver`, keeping the text of every file
/// read, each shown by the path the user knows it by.
fn compile_recorded(
    resolver: impl Refusing,
    names: &[String],
    show: &dyn Fn(&str) -> String,
    lookup: &str,
) -> Result<(DescriptorPool, Shown), Problem> {
    let texts = Texts::default();
    let sources = Sources {
        shown: show,
        lookup,
        refusal: resolver.refusal(),
    };
    let recording = Recording {
        inner: resolver,
        texts: texts.clone(),
    };
    let pool = contract::compile_team(recording, names, &sources)?;
    Ok((pool, shown(&texts, show)))
}

/// The contract derived from `flows`, with its one file's text.
fn derived_side(flows: &FlowsFile) -> Result<(DescriptorPool, Shown), Vec<Problem>> {
    let bound = contract::derived(flows)?;
    let mut files = BTreeMap::new();
    if let (Some(name), Some(text)) = (bound.files.first(), &bound.text) {
        files.insert(name.clone(), (format!("{name} (derived)"), text.clone()));
    }
    Ok((bound.pool, Shown { files }))
}

/// The deployed contract `against` names, and flows.yaml as it was then
/// when a revision tells.
///
/// A file or folder named here is the user's own choice, so a link to it
/// is followed; the files under the folder are read as under a
/// `proto_path` folder, without following links.
fn old_side(
    path: &Path,
    flows: &FlowsFile,
    against: &str,
) -> Result<(DescriptorPool, Shown, Option<FlowsFile>), Error> {
    if let Some(rev) = against.strip_prefix("git:") {
        return git_side(path, flows, rev);
    }
    let usage = |why: String| Error::Usage(format!("`--against {against}`: {why}"));
    let given = PathBuf::from(against);
    let meta = std::fs::metadata(&given).map_err(|e| {
        usage(if e.kind() == std::io::ErrorKind::NotFound {
            "no such file or folder; give the deployed contract as a .proto file, a folder of them, or git:<rev>".to_owned()
        } else {
            format!("cannot read it: {}", plain(&e))
        })
    })?;
    let (folder, names) = if meta.is_dir() {
        (given.clone(), protos_under(&given).map_err(usage)?)
    } else if meta.is_file() {
        // The file itself, where it really is: its imports are beside it.
        let real = if given.is_symlink() {
            std::fs::canonicalize(&given).unwrap_or_else(|_| given.clone())
        } else {
            given.clone()
        };
        let name = real
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        (
            real.parent().unwrap_or(Path::new("")).to_path_buf(),
            vec![name],
        )
    } else {
        return Err(usage(format!(
            "it is {}, not a .proto file or a folder of them",
            file_kind(&meta)
        )));
    };
    if names.is_empty() {
        return Err(usage("the folder holds no .proto file".to_owned()));
    }
    let folders = vec![folder];
    let lookup = format!(
        "imports of the deployed contract are looked up in `{}`; {BUILT_IN}",
        here(&folders[0]).display()
    );
    let (pool, shown) = compile_recorded(
        ProtoFolders::new(&folders),
        &names,
        &shown_under(&folders),
        &lookup,
    )
    .map_err(|p| Error::Input(vec![p.diagnostic(against, "", &SourceMap::default())]))?;
    Ok((pool, shown, None))
}

/// Every .proto file under `folder`, by its path inside it. Links are not
/// followed, and a .proto name that is not a regular file is an error
/// rather than skipped.
fn protos_under(folder: &Path) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for entry in walkdir::WalkDir::new(folder).sort_by_file_name() {
        let entry = entry.map_err(|e| e.to_string())?;
        if entry.path().extension().is_none_or(|x| x != "proto") || entry.file_type().is_dir() {
            continue;
        }
        if !entry.file_type().is_file() {
            let kind = entry
                .metadata()
                .map_or("not a regular file", |m| file_kind(&m));
            return Err(format!(
                "`{}` is {kind}; commsadvise reads .proto files only as regular files, never through a symbolic link",
                entry.path().display()
            ));
        }
        let inside = entry.path().strip_prefix(folder).unwrap_or(entry.path());
        let parts: Option<Vec<&str>> = inside
            .components()
            .map(|c| c.as_os_str().to_str())
            .collect();
        if let Some(parts) = parts {
            names.push(parts.join("/"));
        }
    }
    Ok(names)
}

/// Runs git in `dir`; its stdout, or what it printed on stderr.
fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(here(dir))
        .args(args)
        // Paths are paths, not patterns.
        .env("GIT_LITERAL_PATHSPECS", "1")
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// The text of the file at `path` (repository-relative) at revision
/// `rev`: `None` when there is no file there. As on disk, only a regular
/// file (not a link, a folder or a submodule) is read, and at most the
/// size cap: `git ls-tree` tells both before the blob is read.
fn git_file(root: &Path, rev: &str, path: &str) -> Result<Option<String>, Refused> {
    let Ok(listed) = git(root, &["ls-tree", "-z", "-l", rev, "--", path]) else {
        return Ok(None);
    };
    // `<mode> <type> <object> <size>\t<path>\0`, one entry for a path.
    let Some((fields, _)) = listed.split('\0').next().and_then(|e| e.split_once('\t')) else {
        return Ok(None);
    };
    let fields: Vec<&str> = fields.split_whitespace().collect();
    let shown = format!("{rev}:{path}");
    let [mode, kind, object, size] = fields[..] else {
        return Ok(None);
    };
    match (mode, kind) {
        ("120000", _) => return Err(refused(format!("`{shown}` is a symbolic link"))),
        ("100644" | "100755", "blob") => {}
        // A folder or a submodule: no file by that name.
        _ => return Ok(None),
    }
    let cap = crate::yaml::MAX_BYTES;
    if size.parse::<usize>().is_ok_and(|n| n > cap) {
        return Err(refused(format!(
            "`{shown}` is {size} bytes, over the limit of {cap} bytes"
        )));
    }
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["cat-file", "blob", object])
        .output()
        .map_err(|e| refused(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Ok(None);
    }
    String::from_utf8(out.stdout)
        .map(Some)
        .map_err(|_| refused(format!("`{shown}` is not UTF-8 text")))
}

/// Reads files at a revision from git, looking each import name up under
/// the `proto_path` folders as they were then.
#[derive(Clone)]
struct GitResolver {
    root: PathBuf,
    rev: String,
    /// The folders, relative to the repository's top level (`""` for it).
    prefixes: Vec<String>,
    refusal: Refusal,
}

impl GitResolver {
    fn path(prefix: &str, name: &str) -> String {
        if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}/{name}")
        }
    }

    /// Whether some folder has a file `name` at the revision.
    fn has(&self, name: &str) -> bool {
        self.prefixes.iter().any(|p| {
            !matches!(
                git_file(&self.root, &self.rev, &Self::path(p, name)),
                Ok(None)
            )
        })
    }
}

impl FileResolver for GitResolver {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        open_first(&self.refusal, name, &self.prefixes, |prefix| {
            git_file(&self.root, &self.rev, &Self::path(prefix, name))
        })
    }
}

/// The repository-relative path of `path`, with `/` separators.
fn in_repo(root: &Path, path: &Path) -> Option<String> {
    name_under(path, root).or_else(|| {
        let folder = std::fs::canonicalize(here(path)).ok()?;
        let root = std::fs::canonicalize(root).ok()?;
        (folder == root).then(String::new)
    })
}

/// `rel`, relative to the repository folder `dir` (`""` for the top), as
/// a repository-relative path; `None` when it is absolute or leaves the
/// repository.
fn repo_path(dir: &str, rel: &str) -> Option<String> {
    if Path::new(rel).has_root() {
        return None;
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
    for segment in rel.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            segment => parts.push(segment),
        }
    }
    Some(parts.join("/"))
}

/// The include folders (repository-relative) and the import names of the
/// `proto:` files of `old`, the flows file as it was at the revision, in
/// the repository folder `dir`. Entries outside every folder are left out:
/// the past cannot be fixed.
fn at_revision(dir: &str, old: &FlowsFile) -> Result<(Vec<String>, Vec<String>), String> {
    let prefixes: Vec<String> = if old.proto_path.is_empty() {
        vec![dir.to_owned()]
    } else {
        old.proto_path
            .iter()
            .map(|f| {
                repo_path(dir, f).ok_or_else(|| {
                    format!("its `proto_path` folder `{f}` was outside the repository")
                })
            })
            .collect::<Result<_, _>>()?
    };
    let names = old
        .proto
        .iter()
        .filter_map(|entry| {
            let file = repo_path(dir, entry)?;
            prefixes.iter().find_map(|p| {
                if p.is_empty() {
                    Some(file.clone())
                } else {
                    file.strip_prefix(&format!("{p}/")).map(str::to_owned)
                }
            })
        })
        .collect();
    Ok((prefixes, names))
}

/// The same contract at revision `rev`, as flows.yaml named it then: the
/// `proto:` files under the `proto_path:` folders of that day, or the
/// contract derived from flows.yaml as it was. When flows.yaml did not
/// exist or load then, today's `proto:` files are read at the revision,
/// leaving out those added since.
fn git_side(
    path: &Path,
    flows: &FlowsFile,
    rev: &str,
) -> Result<(DescriptorPool, Shown, Option<FlowsFile>), Error> {
    let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let usage = |why: String| Error::Usage(format!("`--against git:{rev}`: {why}"));
    let root = PathBuf::from(
        git(&base, &["rev-parse", "--show-toplevel"])
            .map_err(usage)?
            .trim(),
    );
    git(
        &root,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    )
    .map_err(|_| usage(format!("`{rev}` is not a revision of {}", root.display())))?;
    let file = in_repo(&root, path)
        .ok_or_else(|| usage(format!("`{}` is not inside the repository", path.display())))?;
    let shown_file = format!("{rev}:{file}");
    let before = git_file(&root, rev, &file).map_err(|r| usage(r.why))?;
    // The flows as deployed, when they still load: their bindings are
    // checked too, and their `proto:` names the old files.
    let previous = before
        .as_ref()
        .and_then(|text| crate::spec::load_str(&shown_file, text).ok());
    let derived = previous
        .as_ref()
        .map_or(flows.proto.is_empty(), |old| old.proto.is_empty());
    if derived {
        let text = before.ok_or_else(|| usage(format!("`{file}` does not exist at `{rev}`")))?;
        let old = crate::spec::load_str(&shown_file, &text)?;
        let (pool, shown) = derived_side(&old)
            .map_err(|p| contract::input_error(&p, &shown_file, &text, &SourceMap::default()))?;
        return Ok((pool, shown, Some(old)));
    }
    let (prefixes, names) = if let Some(old) = &previous {
        let dir = file.rsplit_once('/').map_or("", |(dir, _)| dir);
        at_revision(dir, old).map_err(usage)?
    } else {
        let (folders, names) = locate(path, flows).map_err(|p| match read_input(path) {
            Ok(bytes) => report(&p, &path.display().to_string(), &bytes),
            Err(e) => e,
        })?;
        let prefixes = folders
            .iter()
            .map(|f| {
                in_repo(&root, f)
                    .ok_or_else(|| usage(format!("`{}` is not inside the repository", f.display())))
            })
            .collect::<Result<_, _>>()?;
        (prefixes, names)
    };
    let resolver = GitResolver {
        root,
        rev: rev.to_owned(),
        prefixes,
        refusal: Refusal::default(),
    };
    // A file added since did not exist then: nothing of it was deployed.
    let names: Vec<String> = names.into_iter().filter(|n| resolver.has(n)).collect();
    if names.is_empty() {
        return Err(usage(format!(
            "none of the `proto` files of `{file}` exists at `{rev}`"
        )));
    }
    let lookup = resolver.clone();
    let show = move |name: &str| {
        lookup
            .prefixes
            .iter()
            .map(|p| GitResolver::path(p, name))
            .find(|p| git_file(&lookup.root, &lookup.rev, p).is_ok_and(|t| t.is_some()))
            .map_or_else(
                || format!("{}:{name}", lookup.rev),
                |p| format!("{}:{p}", lookup.rev),
            )
    };
    let note = format!(
        "imports are looked up in the `proto_path` folders of `{file}` at `{rev}`; {BUILT_IN}"
    );
    let (pool, shown) = compile_recorded(resolver, &names, &show, &note).map_err(|p| {
        Error::Input(vec![p.diagnostic(
            &format!("git:{rev}"),
            "",
            &SourceMap::default(),
        )])
    })?;
    Ok((pool, shown, previous))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_name_is_a_plain_relative_path() {
        for name in ["a.proto", "billing/v1/a.proto", "a..b.proto"] {
            assert!(is_plain(name), "{name}");
        }
        for name in [
            "",
            "/etc/passwd",
            "../a.proto",
            "a/../../b.proto",
            "./a.proto",
            "a//b.proto",
            "a\\b.proto",
        ] {
            assert!(!is_plain(name), "{name}");
        }
    }

    #[test]
    fn a_proto_path_climbs_out_only_above_its_start() {
        for rel in ["proto", ".", "", "proto/../include", "./proto"] {
            assert!(!climbs_out(rel), "{rel}");
        }
        for rel in ["..", "../proto", "proto/../..", "/", "/etc"] {
            assert!(climbs_out(rel), "{rel}");
        }
    }

    #[test]
    fn the_repository_root_is_the_nearest_folder_with_a_git_entry() {
        let top = tempfile::tempdir().expect("temp dir");
        let top = std::fs::canonicalize(top.path()).expect("canonical");
        let deep = top.join("docs/architecture");
        std::fs::create_dir_all(&deep).expect("folders");
        assert_eq!(repository_root(&deep), None);
        std::fs::write(top.join(".git"), "gitdir: elsewhere\n").expect(".git file");
        assert_eq!(repository_root(&deep), Some(top.clone()));
        std::fs::create_dir(deep.join(".git")).expect(".git folder");
        assert_eq!(repository_root(&deep), Some(deep));
    }

    #[test]
    fn paths_at_a_revision_are_resolved_inside_the_repository() {
        assert_eq!(
            repo_path("svc", "proto/a.proto").as_deref(),
            Some("svc/proto/a.proto")
        );
        assert_eq!(
            repo_path("svc", "./proto/../a.proto").as_deref(),
            Some("svc/a.proto")
        );
        assert_eq!(repo_path("", "proto").as_deref(), Some("proto"));
        assert_eq!(repo_path("svc", "..").as_deref(), Some(""));
        assert_eq!(repo_path("svc", "../.."), None);
        assert_eq!(repo_path("svc", "/etc"), None);
    }

    #[test]
    fn the_old_proto_files_are_the_ones_flows_yaml_named_then() {
        let old = crate::spec::load_str(
            "flows.yaml",
            "version: 1\nsystem: s\nproto: [proto/v1/a.proto, elsewhere/b.proto]\nproto_path: [proto]\nflows:\n  - name: get-a\n    from: x\n    to: y\n    rpc: s.v1.S/Get\n",
        )
        .expect("loads");
        assert_eq!(
            at_revision("svc", &old),
            Ok((vec!["svc/proto".to_owned()], vec!["v1/a.proto".to_owned()]))
        );
    }
}
