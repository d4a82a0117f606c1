//! The tool's own layout: no two source files depend on each other, even
//! round a loop. A file cycle means two concepts were not separated (issue
//! 16: `engine/evaluate` and `engine/findings`, `render/html` and
//! `render/svg`); the fix is a third module both depend on, or a narrower
//! seam, and this test keeps it from coming back.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::repo;

/// Every module of `src/` (a file), by path: `render::html`, `engine::system`
/// (for `engine/system/mod.rs`), and the empty path for `lib.rs`.
fn modules() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let root = repo("src");
    let mut folders = vec![root.clone()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("src/ reads") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let mut parts: Vec<String> = path
                .strip_prefix(&root)
                .expect("under src/")
                .with_extension("")
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            let text = std::fs::read_to_string(&path).expect("a source file reads");
            out.insert(parts.join("::"), text);
        }
    }
    out
}

/// The paths a file's `use crate::…;` items name, outside its tests:
/// `use crate::render::{decided, svg};` names `render::decided` and
/// `render::svg`.
fn used_paths(text: &str) -> Vec<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or(text);
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use crate::") {
        let after = &rest[at + "use crate::".len()..];
        let Some(end) = after.find(';') else { break };
        let item = after[..end]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        rest = &after[end..];
        let (prefix, group) = match item.split_once('{') {
            Some((prefix, group)) => (prefix, group.strip_suffix('}').unwrap_or(group)),
            None => ("", item.as_str()),
        };
        // The group's items, split at its own commas, not those of a
        // nested group.
        let mut depth = 0;
        let mut start = 0;
        let mut items = Vec::new();
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(&group[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        items.push(&group[start..]);
        for item in items {
            // `a as b` names `a`; a nested group names its parent module.
            let item = item.split(" as ").next().unwrap_or(item);
            let item = item.split('{').next().unwrap_or(item).trim();
            let path = format!("{prefix}{item}").replace(' ', "");
            let path = path.trim_end_matches("::");
            if !item.is_empty() {
                out.push(path.to_owned());
            }
        }
    }
    out
}

/// The module a path names or names an item of: the longest prefix that
/// is a module.
fn module_of<'a>(path: &str, modules: &'a BTreeMap<String, String>) -> Option<&'a str> {
    let mut parts: Vec<&str> = path.split("::").collect();
    while !parts.is_empty() {
        if let Some((name, _)) = modules.get_key_value(&parts.join("::")) {
            return Some(name);
        }
        parts.pop();
    }
    None
}

/// The cycles among `edges`, each as its modules, sorted (Tarjan).
fn cycles(edges: &BTreeMap<&str, BTreeSet<&str>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<&'a str, BTreeSet<&'a str>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            for &w in &self.edges[v] {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.stack.contains(&w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut members = Vec::new();
                while let Some(w) = self.stack.pop() {
                    members.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if members.len() > 1 {
                    members.sort();
                    self.found.push(members);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for &v in edges.keys() {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    walk.found
}

#[test]
fn no_two_source_files_depend_on_each_other() {
    let modules = modules();
    assert!(modules.contains_key("engine::system"), "src/ was read");
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, text) in &modules {
        let targets = edges.entry(name).or_default();
        for path in used_paths(text) {
            if let Some(target) = module_of(&path, &modules)
                && target != name
            {
                targets.insert(target);
            }
        }
    }
    assert_eq!(
        cycles(&edges),
        Vec::<Vec<String>>::new(),
        "these files import each other, round a loop; move what they share into a module of its own"
    );
}

#[test]
fn the_cycle_check_reads_grouped_and_renamed_imports() {
    let text = "use crate::render::{decided, svg};\nuse crate::render::escape::html as escape;\npub use crate::engine::{\n    system::{Finding, Severity},\n    RuleSet,\n};\n#[cfg(test)]\nmod tests { use crate::x::y; }\n";
    assert_eq!(
        used_paths(text),
        [
            "render::decided",
            "render::svg",
            "render::escape::html",
            "engine::system",
            "engine::RuleSet",
        ]
    );
}

#[test]
fn the_cycle_check_finds_a_loop_of_three_files() {
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    edges.insert("a", BTreeSet::from(["b"]));
    edges.insert("b", BTreeSet::from(["c"]));
    edges.insert("c", BTreeSet::from(["a"]));
    edges.insert("d", BTreeSet::from(["a"]));
    assert_eq!(cycles(&edges), [["a", "b", "c"]]);
}
