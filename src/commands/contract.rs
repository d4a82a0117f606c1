//! `commsadvise contract [FLOWS.yaml]`: the protobuf contract and what each
//! flow binds to; and [`resolve`], the one way every command gets them.
//!
//! This is where the team's .proto files are found on disk: `proto:`
//! entries and `proto_path:` folders are relative to flows.yaml, and protox
//! reads the files through include-folder resolvers built here. Everything
//! after that — compiling, deriving, binding — is `crate::contract`, pure.
//!
//! `contract check` reads the deployed contract here too: a .proto file, a
//! folder of them, or the same files at a git revision, read with the git
//! CLI (`git show <rev>:<path>`) so the work tree is never touched.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use prost_reflect::DescriptorPool;
use protox::file::{ChainFileResolver, File, FileResolver, IncludeFileResolver};

use crate::cli::{CheckFormat, ContractArgs, ContractCheckArgs, ContractCommand, ContractFormat};
use crate::commands::scaffold::ORDERS_EXAMPLE;
use crate::commands::{Failure, load_flows, load_rules, print, read_input};
use crate::contract::compile::{Recording, Texts};
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
    contract::team(flows, include(&folders), names, &shown_under(&folders))
}

/// The `proto_path:` folders as resolvers, in order.
fn include(folders: &[PathBuf]) -> ChainFileResolver {
    let mut resolver = ChainFileResolver::new();
    for folder in folders {
        resolver.add(IncludeFileResolver::new(folder.clone()));
    }
    resolver
}

/// An import name as the path of the file under the first folder that has it.
fn shown_under(folders: &[PathBuf]) -> impl Fn(&str) -> String + use<> {
    let folders = folders.to_vec();
    move |name: &str| {
        folders
            .iter()
            .map(|f| f.join(name))
            .find(|p| p.is_file())
            .map_or_else(|| name.to_owned(), |p| p.display().to_string())
    }
}

/// The `proto_path:` folders (as written, relative to the current folder)
/// and the import name of each `proto:` file.
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
    for (i, folder) in folders.iter().enumerate() {
        if !here(folder).is_dir() {
            // The default folder, flows.yaml's own, always exists.
            problems.push(
                Problem::new(
                    Site::ProtoPathEntry(i),
                    format!("`proto_path` folder `{}` does not exist", folder.display()),
                )
                .note("`proto_path` folders are relative to flows.yaml"),
            );
        }
    }
    for (i, entry) in flows.proto.iter().enumerate() {
        let file = base.join(entry);
        if !file.is_file() {
            problems.push(
                Problem::new(
                    Site::ProtoEntry(i),
                    format!("cannot read `{}`: no such file", file.display()),
                )
                .note("`proto` paths are relative to flows.yaml"),
            );
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
    let texts = Texts::default();
    let show = shown_under(&folders);
    let resolver = Recording {
        inner: include(&folders),
        texts: texts.clone(),
    };
    let pool = contract::compile_team(resolver, &names, &show).map_err(|p| fail(&[p]))?;
    Ok((pool, shown(&texts, &show)))
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
fn old_side(
    path: &Path,
    flows: &FlowsFile,
    against: &str,
) -> Result<(DescriptorPool, Shown, Option<FlowsFile>), Error> {
    if let Some(rev) = against.strip_prefix("git:") {
        return git_side(path, flows, rev);
    }
    let given = PathBuf::from(against);
    let (folder, names) = if given.is_dir() {
        (given.clone(), protos_under(&given))
    } else if given.is_file() {
        let name = given
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        (
            given.parent().unwrap_or(Path::new("")).to_path_buf(),
            vec![name],
        )
    } else {
        return Err(Error::Usage(format!(
            "`--against {against}`: no such file or folder; give the deployed contract as a .proto file, a folder of them, or git:<rev>"
        )));
    };
    if names.is_empty() {
        return Err(Error::Usage(format!(
            "`--against {against}`: the folder holds no .proto file"
        )));
    }
    let folders = vec![folder];
    let texts = Texts::default();
    let show = shown_under(&folders);
    let resolver = Recording {
        inner: include(&folders),
        texts: texts.clone(),
    };
    let pool = contract::compile_team(resolver, &names, &show)
        .map_err(|p| Error::Input(vec![p.diagnostic(against, "", &SourceMap::default())]))?;
    Ok((pool, shown(&texts, &show), None))
}

/// Every .proto file under `folder`, by its path inside it.
fn protos_under(folder: &Path) -> Vec<String> {
    walkdir::WalkDir::new(folder)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "proto"))
        .filter_map(|e| name_under(e.path(), folder))
        .collect()
}

/// Runs git in `dir`; its stdout, or what it printed on stderr.
fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(here(dir))
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// Reads files at a revision with `git show <rev>:<path>`, looking each
/// import name up under the `proto_path` folders as they were then.
#[derive(Clone)]
struct GitResolver {
    root: PathBuf,
    rev: String,
    /// The folders, relative to the repository's top level (`""` for it).
    prefixes: Vec<String>,
}

impl GitResolver {
    fn spec(&self, prefix: &str, name: &str) -> String {
        if prefix.is_empty() {
            format!("{}:{name}", self.rev)
        } else {
            format!("{}:{prefix}/{name}", self.rev)
        }
    }
}

impl FileResolver for GitResolver {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        for prefix in &self.prefixes {
            if let Ok(text) = git(&self.root, &["show", &self.spec(prefix, name)]) {
                return File::from_source(name, &text);
            }
        }
        Err(protox::Error::file_not_found(name))
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

/// The same contract at revision `rev`: the `proto:` files under the
/// `proto_path:` folders, or, for a derived contract, the one derived from
/// flows.yaml as it was then.
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
    let before = git(&root, &["show", &shown_file]).ok();
    if flows.proto.is_empty() {
        let text = before.ok_or_else(|| usage(format!("`{file}` does not exist at `{rev}`")))?;
        let old = crate::spec::load_str(&shown_file, &text)?;
        let (pool, shown) = derived_side(&old)
            .map_err(|p| contract::input_error(&p, &shown_file, &text, &SourceMap::default()))?;
        return Ok((pool, shown, Some(old)));
    }
    // The flows as deployed, when they still load: their bindings are
    // checked too. A file that did not load then adds nothing.
    let previous = before.and_then(|text| crate::spec::load_str(&shown_file, &text).ok());
    let (folders, names) = locate(path, flows).map_err(|p| match read_input(path) {
        Ok(bytes) => report(&p, &path.display().to_string(), &bytes),
        Err(e) => e,
    })?;
    let prefixes: Vec<String> = folders
        .iter()
        .map(|f| {
            in_repo(&root, f)
                .ok_or_else(|| usage(format!("`{}` is not inside the repository", f.display())))
        })
        .collect::<Result<_, _>>()?;
    let resolver = GitResolver {
        root,
        rev: rev.to_owned(),
        prefixes,
    };
    let lookup = resolver.clone();
    let show = move |name: &str| {
        lookup
            .prefixes
            .iter()
            .map(|p| lookup.spec(p, name))
            .find(|spec| git(&lookup.root, &["cat-file", "-e", spec]).is_ok())
            .unwrap_or_else(|| format!("{}:{name}", lookup.rev))
    };
    let texts = Texts::default();
    let recording = Recording {
        inner: resolver,
        texts: texts.clone(),
    };
    let pool = contract::compile_team(recording, &names, &show).map_err(|p| {
        Error::Input(vec![p.diagnostic(
            &format!("git:{rev}"),
            "",
            &SourceMap::default(),
        )])
    })?;
    Ok((pool, shown(&texts, &show), previous))
}
