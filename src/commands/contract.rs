//! `commsadvise contract [FLOWS.yaml]`: the protobuf contract and what each
//! flow binds to; and [`resolve`], the one way every command gets them.
//!
//! This is where the team's .proto files are found on disk: `proto:`
//! entries and `proto_path:` folders are relative to flows.yaml, and protox
//! reads the files through include-folder resolvers built here. Everything
//! after that — compiling, deriving, binding — is `crate::contract`, pure.

use std::path::{Path, PathBuf};

use protox::file::{ChainFileResolver, IncludeFileResolver};

use crate::cli::{ContractArgs, ContractFormat};
use crate::commands::scaffold::ORDERS_EXAMPLE;
use crate::commands::{Failure, load_flows, print, read_input};
use crate::contract::{self, BoundContract, Problem, Site};
use crate::error::Error;
use crate::spec::FlowsFile;

pub fn run(args: &ContractArgs) -> Result<(), Failure> {
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
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut resolver = ChainFileResolver::new();
    for folder in &folders {
        resolver.add(IncludeFileResolver::new(folder.clone()));
    }
    let shown = |name: &str| {
        folders
            .iter()
            .map(|f| f.join(name))
            .find(|p| p.is_file())
            .map_or_else(|| name.to_owned(), |p| p.display().to_string())
    };
    contract::team(flows, resolver, names, &shown)
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
