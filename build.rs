//! Embeds `rules/` and `templates/` in the binary, walked in sorted order, so
//! an installed commsadvise needs no files beside it and adding a rule or a
//! template is only a matter of adding its file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn embed(root: &Path, folder: &str, keep: fn(&Path) -> bool, out_name: &str) {
    println!("cargo:rerun-if-changed={folder}");
    let mut found = Vec::new();
    files(&root.join(folder), &mut found);
    let mut code = String::from("[\n");
    for path in found.iter().filter(|p| keep(p)) {
        let relative = path
            .strip_prefix(root)
            .expect("inside the crate")
            .to_string_lossy()
            .replace('\\', "/");
        let _ = writeln!(
            code,
            "    ({relative:?}, include_str!({:?})),",
            path.display().to_string()
        );
    }
    code.push(']');
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join(out_name);
    fs::write(out, code).expect("OUT_DIR is writable");
}

fn main() {
    let root =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    embed(
        &root,
        "rules",
        |p| p.extension().is_some_and(|e| e == "yaml"),
        "builtin_rules.rs",
    );
    embed(&root, "templates", |_| true, "builtin_templates.rs");
}
