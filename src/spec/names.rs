//! The naming rule for flows, services and systems, and the names that would
//! break the generated workspace: Rust keywords, names cargo or Windows
//! reserve, and names that collide once turned into identifiers.

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
/// built-in crates, Windows device names, and the workspace's own crates.
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
    "services",
    "proto",
    // Crates the generated workspace depends on: a package of the same name
    // would shadow them.
    "anyhow",
    "axum",
    "bytes",
    "futures",
    "http",
    "hyper",
    "prost",
    "prost-types",
    "protox",
    "rdkafka",
    "rdkafka-sys",
    "reqwest",
    "serde",
    "serde-json",
    "tokio",
    "tokio-util",
    "tonic",
    "tonic-health",
    "tonic-prost",
    "tonic-prost-build",
    "tonic-reflection",
    "tower",
    "tower-http",
    "tracing",
    "tracing-subscriber",
];

/// Why `name` breaks the name rule (docs/flows-yaml.md, Names), if it does.
pub fn check(name: &str) -> Result<(), String> {
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
    if name.len() > MAX_NAME {
        return Err(format!("it is longer than {MAX_NAME} characters"));
    }
    Ok(())
}

/// Why a service name cannot become a crate and an identifier, if it cannot.
pub fn check_service(name: &str) -> Result<(), String> {
    check(name)?;
    let ident = identifier(name);
    if RUST_KEYWORDS.contains(&name) || RUST_KEYWORDS.contains(&ident.as_str()) {
        return Err(format!(
            "`{name}` is a Rust keyword and cannot name a crate"
        ));
    }
    if RESERVED.contains(&name) {
        return Err(format!(
            "`{name}` is reserved (by cargo, Windows or the generated workspace)"
        ));
    }
    Ok(())
}

/// The Rust identifier for a name: `order-events` → `order_events`.
pub fn identifier(name: &str) -> String {
    name.replace('-', "_")
}

/// Why `topic` is not a valid Kafka topic name, if it is not.
pub fn check_topic(topic: &str) -> Result<(), String> {
    if topic.is_empty() || topic.len() > 200 {
        return Err("a topic name has 1 to 200 characters".into());
    }
    if topic == "." || topic == ".." {
        return Err("`.` and `..` are not topic names".into());
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
            "contract", "tokio", "tonic",
        ] {
            assert!(check_service(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rejects_bad_topics() {
        assert!(check_topic("order-events").is_ok());
        assert!(check_topic("..").is_err());
        assert!(check_topic("a b").is_err());
    }

    proptest::proptest! {
        /// Whatever is accepted becomes a valid crate name and Rust
        /// identifier that is not a keyword: the generated workspace can
        /// always use it.
        #[test]
        fn accepted_names_are_valid_crates_and_identifiers(name in "[a-z0-9_./-]{0,12}|async|type|con|deps|tokio") {
            if check_service(&name).is_ok() {
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
