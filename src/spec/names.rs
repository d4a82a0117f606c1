//! The naming rule for flows, services and systems, and the names that would
//! break the generated workspace: Rust keywords, names cargo or Windows
//! reserve, and names that collide once turned into identifiers.
//!
//! Identifiers come from the scaffold's own conversions ([`snake`],
//! [`pascal`]), so a name accepted here is a name the scaffold can write.

use crate::scaffold::contract::{pascal, snake};

/// Longest accepted name; crate and folder names stay readable.
pub const MAX_NAME: usize = 48;

/// Rust keywords (strict, reserved and 2018+ edition ones), lowercase only
/// since names are lowercase.
const RUST_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "union", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Names a generated crate cannot take: cargo's reserved target folders and
/// built-in crates, Windows device names, and the workspace's own crates
/// (third-party crates are in [`WORKSPACE_CRATES`]).
const RESERVED: &[&str] = &[
    "deps",
    "build",
    "examples",
    "incremental",
    "target",
    "debug",
    "release",
    "doc",
    "test",
    "std",
    "core",
    "alloc",
    "proc-macro",
    "proc_macro",
    "con",
    "prn",
    "aux",
    "nul",
    "com1",
    "com2",
    "com3",
    "com4",
    "com5",
    "com6",
    "com7",
    "com8",
    "com9",
    "lpt1",
    "lpt2",
    "lpt3",
    "lpt4",
    "lpt5",
    "lpt6",
    "lpt7",
    "lpt8",
    "lpt9",
    "contract",
    "runtime",
    "services",
    "proto",
    "system-test",
];

/// Lowercase names the generated code binds at module level (`use` and
/// `mod` items of the templates). A flow's `contract::events` module is
/// imported beside them, and a service's crate is named beside them in
/// tests, so a flow or service of one of these names would be ambiguous
/// there. A test keeps this list a superset of what the templates bind.
const GENERATED_NAMES: &[&str] = &[
    "app",
    "auth",
    "budgets",
    "cli",
    "client_policy",
    "cluster",
    "committed_offset",
    "config",
    "dead_letter_topic",
    "dead_letters",
    "db",
    "debug",
    "decode",
    "drain",
    "encode",
    "env",
    "error",
    "error_message",
    "error_response",
    "events",
    "extract",
    "fmt",
    "fs",
    "get",
    "grpc",
    "grpc_client",
    "grpc_clients",
    "guard",
    "handlers",
    "header",
    "health",
    "http_client",
    "http_request",
    "idempotency",
    "ids",
    "info",
    "io",
    "is_unreachable",
    "json",
    "json_error_body",
    "kafka",
    "kept_alive",
    "pbjson",
    "pbjson_build",
    "pbjson_types",
    "mpsc",
    "outbound",
    "outbox",
    "rest",
    "rest_clients",
    "retry",
    "route_label",
    "routing",
    "runtime",
    "serve_router",
    "shutdown",
    "start",
    "state",
    "stream",
    "support",
    "tasks",
    "tests",
    "trace",
    "validate_id",
    "warn",
    "with_layers",
    "within",
];

/// Every package a generated workspace depends on, directly or not, one a
/// line (see the file's header). A service of the same name would write a
/// second key into `[workspace.dependencies]` or clash as a crate name; a
/// flow of the same name would shadow the crate where its module is used.
const WORKSPACE_CRATES: &str = include_str!("workspace-crates.txt");

/// The package names of [`WORKSPACE_CRATES`].
fn workspace_crates() -> impl Iterator<Item = &'static str> {
    WORKSPACE_CRATES
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// The workspace crate that `ident` would clash with: crate names compare
/// with '-' and '_' alike, as Rust sees them.
fn workspace_crate(ident: &str) -> Option<&'static str> {
    workspace_crates().find(|c| c.len() == ident.len() && identifier(c) == ident)
}

/// Why `name` breaks the name rule (docs/flows-yaml.md, Names), if it does.
pub fn check(name: &str) -> Result<(), String> {
    // Length first: a name of thousands of characters needs no other reason.
    if name.len() > MAX_NAME {
        return Err(format!(
            "it is {} characters long; names have at most {MAX_NAME}",
            name.chars().count()
        ));
    }
    let mut chars = name.chars();
    match chars.next() {
        None => return Err("it is empty".into()),
        Some(c) if !c.is_ascii_lowercase() => {
            return Err("it must start with a lowercase ASCII letter".into());
        }
        _ => {}
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "`{}` is not allowed; use lowercase ASCII letters, digits and '-'",
            bad.escape_default()
        ));
    }
    if name.ends_with('-') || name.contains("--") {
        return Err("'-' must separate words: no trailing or doubled '-'".into());
    }
    Ok(())
}

/// Why a name cannot become the identifiers the scaffold derives from it,
/// whatever it names: a Rust keyword, a crate of the workspace, or a name
/// the generated code already binds.
fn check_identifier(name: &str, what: &str) -> Result<(), String> {
    let ident = identifier(name);
    if RUST_KEYWORDS.contains(&ident.as_str()) {
        return Err(format!(
            "`{ident}` is a Rust keyword and cannot name a {what}"
        ));
    }
    if let Some(krate) = workspace_crate(&ident) {
        return Err(format!(
            "the generated workspace depends on the crate `{krate}`, which a {what} of this name would clash with"
        ));
    }
    if GENERATED_NAMES.contains(&ident.as_str()) {
        return Err(format!(
            "the generated code already uses `{ident}`, which a {what} of this name would clash with"
        ));
    }
    Ok(())
}

/// Why a flow name cannot become a `contract::events` module, its consts
/// and functions, and a command-line variant, if it cannot.
pub fn check_flow(name: &str) -> Result<(), String> {
    check(name)?;
    check_identifier(name, "flow's module")?;
    // A flow's event message is named after it, and the serde code pbjson
    // generates for every message names its type parameters `D` and `V`,
    // which a message of that name would clash with.
    if PBJSON_TYPE_PARAMETERS.contains(&identifier(name).as_str()) {
        return Err(format!(
            "the generated serde code names a type parameter `{}`, which a flow's message of this name would clash with",
            name.to_ascii_uppercase()
        ));
    }
    Ok(())
}

/// The type parameters of pbjson's generated `Deserialize` code, lowercase.
const PBJSON_TYPE_PARAMETERS: &[&str] = &["d", "v"];

/// Why a service name cannot become a crate and an identifier, if it cannot.
pub fn check_service(name: &str) -> Result<(), String> {
    check(name)?;
    if RESERVED.contains(&name) {
        return Err(format!(
            "`{name}` is reserved (by cargo, Windows or the generated workspace)"
        ));
    }
    check_identifier(name, "service's crate")
}

/// The Rust identifier for a name: `order-events` → `order_events`; the
/// scaffold's own conversion, so that what is checked is what is written.
pub fn identifier(name: &str) -> String {
    snake(name)
}

/// The type-name stem the scaffold derives from a name: `order-events` →
/// `OrderEvents` (`OrderEventsClient`, the `OrderEvents` variant). It drops
/// '-', so `order1` and `order-1` share one.
pub fn type_name(name: &str) -> String {
    pascal(name)
}

/// Why `topic` is not a valid Kafka topic name, if it is not.
pub fn check_topic(topic: &str) -> Result<(), String> {
    if topic.is_empty() || topic.len() > 200 {
        return Err("a topic name has 1 to 200 characters".into());
    }
    if topic == "." || topic == ".." {
        return Err("`.` and `..` are not topic names".into());
    }
    if topic.starts_with("__") {
        return Err(
            "names starting with `__` belong to Kafka's internal topics (`__consumer_offsets`, `__transaction_state`)"
                .into(),
        );
    }
    if let Some(bad) = topic
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "`{}` is not allowed; use ASCII letters, digits, '.', '_' and '-'",
            bad.escape_default()
        ));
    }
    Ok(())
}

/// The dead-letter topic the generated consumers write a flow's poison
/// messages to (`DEAD_LETTER_SUFFIX` in the generated `runtime::kafka`).
pub fn dead_letter_topic(topic: &str) -> String {
    format!("{topic}.dlt")
}

/// Kafka treats '.' and '_' alike in metric names, so such topics collide.
pub fn topic_key(topic: &str) -> String {
    topic.replace('.', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_kebab_names() {
        assert!(check("order-created2").is_ok());
    }

    #[test]
    fn rejects_names_outside_the_rule() {
        for bad in [
            "", "Orders", "1orders", "or_ders", "orders-", "a--b", "../x", "a/b",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rejects_keywords_and_reserved_crate_names() {
        for bad in [
            "async", "try", "self", "type", "con", "nul", "com1", "deps", "build", "target",
            "contract", "runtime", "tokio", "tonic",
        ] {
            assert!(check_service(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rejects_flows_named_as_pbjsons_type_parameters() {
        for bad in ["d", "v"] {
            let err = check_flow(bad).unwrap_err();
            assert!(err.contains("type parameter"), "{bad}: {err}");
        }
        assert!(check_flow("dv").is_ok());
    }

    #[test]
    fn rejects_bad_topics() {
        assert!(check_topic("order-events").is_ok());
        assert!(check_topic("..").is_err());
        assert!(check_topic("a b").is_err());
        assert!(check_topic("__consumer_offsets").is_err());
        assert!(check_topic("__transaction_state").is_err());
        assert!(check_topic("_single-underscore").is_ok());
    }

    #[test]
    fn rejects_flows_whose_module_would_be_a_keyword_or_a_bound_name() {
        for bad in [
            "type",
            "self",
            "super",
            "crate",
            "mod",
            "gen",
            "tokio",
            "config",
            "dead-letter-topic",
        ] {
            assert!(check_flow(bad).is_err(), "{bad}");
        }
        for good in ["order-created", "get-order", "order1", "deps", "con"] {
            assert_eq!(check_flow(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn rejects_services_named_after_crates_the_workspace_depends_on() {
        for bad in [
            "tokio-stream",
            "pin-project-lite",
            "serde-json",
            "serde-core",
            "h2",
            "syn",
        ] {
            let why = check_service(bad).expect_err(bad);
            assert!(why.contains("depends on the crate"), "{bad}: {why}");
        }
    }

    #[test]
    fn type_names_are_the_scaffolds_and_drop_dashes() {
        assert_eq!(type_name("order-1"), type_name("order1"));
        assert_eq!(type_name("svc-1"), "Svc1");
        assert_eq!(identifier("order-events"), "order_events");
        assert_ne!(identifier("order-1"), identifier("order1"));
    }

    #[test]
    fn says_how_long_an_overlong_name_is() {
        let why = check(&"a".repeat(70_000)).expect_err("too long");
        assert_eq!(why, "it is 70000 characters long; names have at most 48");
    }

    /// The embedded crate list is the package list of the bench's lock file,
    /// which `service_benchmark_baseline_has_the_generated_dependencies`
    /// keeps equal to a generated workspace's.
    #[test]
    fn the_workspace_crates_are_those_of_the_generated_lock_file() {
        let lock = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/benches/services/bare/Cargo.lock"
        ))
        .expect("lock file");
        let mut locked: Vec<&str> = lock
            .lines()
            .filter_map(|l| l.strip_prefix("name = \""))
            .filter_map(|l| l.strip_suffix('"'))
            // The bench's own crates, which a generated workspace lacks.
            .filter(|n| !matches!(*n, "bare" | "bare-stream" | "streamload" | "alldeps"))
            .collect();
        locked.sort_unstable();
        locked.dedup();
        let listed: Vec<&str> = workspace_crates().collect();
        assert_eq!(
            listed, locked,
            "regenerate src/spec/workspace-crates.txt from benches/services/bare/Cargo.lock"
        );
    }

    /// The names the templates bind with `use` (the last segment of each
    /// path, or its `as` name) and `mod`, read from the templates' text.
    /// The `runtime` crate is left out: it knows no flow or service, so
    /// nothing it binds is ever beside their names.
    fn names_bound_by_templates() -> std::collections::BTreeSet<String> {
        let mut bound = std::collections::BTreeSet::new();
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        let runtime = std::path::Path::new(root).join("runtime");
        for entry in walkdir::WalkDir::new(root) {
            let entry = entry.expect("template");
            if entry.path().starts_with(&runtime) {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            let text = without_tera(&text);
            for statement in text.split(';') {
                let mut offset = 0;
                for line in statement.split_inclusive('\n') {
                    let start = offset;
                    offset += line.len();
                    let trimmed = line.trim_start();
                    let item = trimmed.strip_prefix("pub ").unwrap_or(trimmed);
                    if item.starts_with("use ") {
                        let skip = start + (line.len() - item.len()) + 4;
                        bound.extend(use_bindings(&statement[skip..]));
                        break;
                    }
                    if let Some(rest) = item.strip_prefix("mod ") {
                        let name: String = rest
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        if name == name.to_ascii_lowercase() {
                            bound.insert(name);
                        }
                    }
                }
            }
        }
        bound
    }

    /// Template text without Tera tags; an expression stands as `X`.
    fn without_tera(text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find(['{', '"']) {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            let (close, stand_in) = if tail.starts_with("{{") {
                ("}}", "X")
            } else if tail.starts_with("{%") {
                ("%}", "")
            } else if tail.starts_with("{#") {
                ("#}", "")
            } else if tail.starts_with('"') {
                ("\"", "\"\"")
            } else {
                out.push('{');
                rest = &tail[1..];
                continue;
            };
            let end = tail[1..]
                .find(close)
                .map_or(tail.len(), |e| e + 1 + close.len());
            out.push_str(stand_in);
            rest = &tail[end..];
        }
        out.push_str(rest);
        out
    }

    /// The lowercase names a `use` tree binds.
    fn use_bindings(tree: &str) -> Vec<String> {
        let tokens: Vec<&str> = tree
            .split_inclusive(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .flat_map(|t| {
                let (word, sep) = t.split_at(
                    t.trim_end_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .len(),
                );
                [word, sep.trim()]
            })
            .filter(|t| !t.is_empty())
            .collect();
        let mut out = Vec::new();
        for (i, token) in tokens.iter().enumerate() {
            let is_word = token.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
            let next = tokens.get(i + 1).copied();
            let path = next == Some(":") || next == Some("as");
            let keyword = matches!(*token, "self" | "crate" | "super" | "as" | "_");
            if is_word && !path && !keyword && *token == token.to_ascii_lowercase() {
                out.push((*token).to_owned());
            }
        }
        out
    }

    #[test]
    fn refuses_every_name_the_templates_bind() {
        for name in names_bound_by_templates() {
            let ident = name.as_str();
            assert!(
                GENERATED_NAMES.contains(&ident) || workspace_crate(ident).is_some(),
                "the templates bind `{name}`: add it to GENERATED_NAMES"
            );
        }
        assert!(names_bound_by_templates().contains("handlers"));
    }

    proptest::proptest! {
        /// Whatever is accepted becomes a valid crate name and Rust
        /// identifier that is not a keyword: the generated workspace can
        /// always use it.
        #[test]
        fn accepted_names_are_valid_crates_and_identifiers(name in "[a-z0-9_./-]{0,12}|async|type|con|deps|tokio") {
            if check_service(&name).is_ok() && check_flow(&name).is_ok() {
                let ident = identifier(&name);
                proptest::prop_assert!(ident.chars().next().is_some_and(|c| c.is_ascii_lowercase()));
                proptest::prop_assert!(ident.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
                proptest::prop_assert!(!RUST_KEYWORDS.contains(&ident.as_str()));
                proptest::prop_assert!(!RESERVED.contains(&name.as_str()));
                proptest::prop_assert!(!name.contains(['/', '.', '_']));
            }
        }
    }
}
