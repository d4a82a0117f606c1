//! The one way commsadvise reads YAML: size cap, parser budgets, and every
//! parser error turned into a [`Diagnostic`] that points at the source.
//!
//! serde-saphyr (pure Rust, maintained) gives locations, rejects duplicate
//! keys and meters aliases and depth; this module sets those limits once so
//! that flows files and rule files get the same protection. Its errors are
//! typed down to the parser's own ([`ScanError`], re-exported by
//! serde-saphyr), so every hint here is chosen by the kind of error, never
//! by the words of its message.

use serde::de::DeserializeOwned;
use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::granit_parser::{ErrorKind, ScanError};
use serde_saphyr::{Error as YamlError, ExternalMessageSource, Location};

use crate::error::Diagnostic;
use crate::spec::model::Pos;

/// Files larger than this are refused before parsing: generous for a real
/// system (100,000 flows fit), small enough to parse in well under a second.
pub const MAX_BYTES: usize = 32 * 1024 * 1024;

/// Nesting deeper than this is refused; flows.yaml needs four levels.
pub const MAX_DEPTH: usize = 32;

/// Alias expansion beyond this many events is refused (alias bombs).
pub const MAX_ALIAS_EVENTS: usize = 100_000;

fn options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    // `.inf`, `.nan` and `1e309` reach an untyped field as text, so that the
    // validator says which field of which flow or service holds them (a
    // typed number field still refuses them, with its own message).
    options.non_finite_float_policy = serde_saphyr::NonFiniteFloatPolicy::AsString;
    if let Some(budget) = options.budget.as_mut() {
        budget.max_depth = MAX_DEPTH;
        budget.flow_nesting_limit = MAX_DEPTH;
        budget.max_events = 20_000_000;
        budget.max_nodes = 10_000_000;
        budget.max_aliases = 10_000;
        budget.max_documents = 1;
        budget.max_total_scalar_bytes = MAX_BYTES;
    }
    options.alias_limits.max_total_replayed_events = MAX_ALIAS_EVENTS;
    options.alias_limits.max_replay_stack_depth = MAX_DEPTH;
    options
}

/// What a file holds, so that a hint about its shape fits it: an empty rule
/// file must not be told what a flows file starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Flows,
    Rule,
}

impl FileKind {
    /// What the file should hold, for an empty one.
    fn empty_hint(self) -> &'static str {
        match self {
            FileKind::Flows => {
                "a flows file starts with `version: 1` and lists `flows:`; see examples/orders.yaml"
            }
            FileKind::Rule => {
                "a rule file holds one rule: `id`, `criterion`, `when`, `effect` and `text`; `commsadvise rules ID` shows one"
            }
        }
    }

    /// How to fix a file with several YAML documents.
    fn one_document_hint(self) -> &'static str {
        match self {
            FileKind::Flows => "put every flow in one document, under one `flows:` list",
            FileKind::Rule => "put each rule in a file of its own",
        }
    }

    /// How to fix a file over the nesting or alias budget.
    fn shallow_hint(self) -> &'static str {
        match self {
            FileKind::Flows => {
                "flows files are small, shallow mappings; remove the nesting or aliases"
            }
            FileKind::Rule => {
                "rule files are small, shallow mappings; remove the nesting or aliases"
            }
        }
    }
}

/// Checks size and encoding, so the parser only ever sees bounded UTF-8.
pub fn text<'a>(file: &str, bytes: &'a [u8]) -> Result<&'a str, Diagnostic> {
    if bytes.len() > MAX_BYTES {
        return Err(Diagnostic::new(
            format!(
                "`{file}` is {} bytes, over the limit of {MAX_BYTES} bytes",
                bytes.len()
            ),
            file,
        )
        .note("split the system into several flows files"));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        let line = valid.split(|b| *b == b'\n').count();
        let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&valid[line_start..])
            .chars()
            .count()
            + 1;
        Diagnostic::new(format!("`{file}` is not valid UTF-8"), file)
            .at(&String::from_utf8_lossy(bytes), Pos { line, column }, 1)
            .note("save the file as UTF-8")
    })
}

/// Parses a flows file's `text` into `T`, with limits, mapping errors to diagnostics.
pub fn parse<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, Diagnostic> {
    parse_as(FileKind::Flows, file, text)
}

/// [`parse`] for a file of the given kind.
pub fn parse_as<T: DeserializeOwned>(
    kind: FileKind,
    file: &str,
    text: &str,
) -> Result<T, Diagnostic> {
    parse_failing(kind, file, text).map_err(|f| f.diagnostic)
}

/// Why a file did not parse: the diagnostic to show, and the kind of
/// problem, for callers that add context to it (which flow or service it
/// is in) without reading the diagnostic's wording back.
#[derive(Debug)]
pub struct Failure {
    pub diagnostic: Diagnostic,
    pub cause: Cause,
}

/// The kind of parse problem a caller may decide on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// A key the mapping's type does not take; `expected` are the keys it
    /// does, which say which mapping it was.
    UnknownField { expected: Vec<&'static str> },
    /// Anything else: syntax, types, limits.
    Other,
}

/// [`parse_as`], saying what kind of problem stopped it.
pub fn parse_failing<T: DeserializeOwned>(
    kind: FileKind,
    file: &str,
    text: &str,
) -> Result<T, Failure> {
    let other = |diagnostic| Failure {
        diagnostic,
        cause: Cause::Other,
    };
    if text.len() > MAX_BYTES {
        return Err(other(
            self::text(file, text.as_bytes())
                .err()
                .unwrap_or_else(|| Diagnostic::new("file too large", file)),
        ));
    }
    if text
        .trim()
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Err(other(
            Diagnostic::new(format!("`{file}` is empty"), file).note(kind.empty_hint()),
        ));
    }
    let mut options = options();
    if kind == FileKind::Rule {
        // A rule's scores are read as any value and checked by the rule
        // compiler, which names the rule and the transport: `.inf` or
        // `1e309` must reach it as text, not stop the parser.
        options.non_finite_float_policy = serde_saphyr::NonFiniteFloatPolicy::AsString;
    }
    serde_saphyr::from_str_with_options(text, options).map_err(|e| Failure {
        diagnostic: diagnostic(&e, file, text, kind),
        cause: match innermost(&e) {
            YamlError::SerdeUnknownField { expected, .. } => Cause::UnknownField {
                expected: expected.clone(),
            },
            _ => Cause::Other,
        },
    })
}

/// The innermost error, past snippet and alias wrappers.
fn innermost(mut error: &YamlError) -> &YamlError {
    while let YamlError::WithSnippet { error: inner, .. }
    | YamlError::AliasError { error: inner, .. } = error
    {
        error = inner;
    }
    error
}

pub fn pos(location: Location) -> Pos {
    Pos {
        line: usize::try_from(location.line())
            .unwrap_or(usize::MAX)
            .max(1),
        column: usize::try_from(location.column())
            .unwrap_or(usize::MAX)
            .max(1),
    }
}

/// The key written on `line` just before `column`: `    latency_ms: fast` → `latency_ms`.
pub fn key_before(text: &str, at: Pos) -> Option<String> {
    let line = text.lines().nth(at.line.checked_sub(1)?)?;
    let head: String = line.chars().take(at.column.saturating_sub(1)).collect();
    let head = head.trim_end().strip_suffix(':')?;
    let key = head.trim_start().trim_start_matches("- ").trim();
    (!key.is_empty()).then(|| key.trim_matches(['"', '\'']).to_owned())
}

fn diagnostic(error: &YamlError, file: &str, text: &str, kind: FileKind) -> Diagnostic {
    let inner = innermost(error);
    // Alias errors are reported where the alias is used.
    let location = error.location().or_else(|| inner.location());
    let at = location.map(pos);
    let point = |d: Diagnostic, width: usize| match at {
        Some(p) => d.at(text, p, width),
        None => d,
    };
    match inner {
        YamlError::SerdeUnknownField { field, expected, .. } => {
            let d = Diagnostic::new(format!("unknown field `{field}`"), file);
            point(d, field.chars().count()).suggest(field, expected).accepted(expected)
        }
        YamlError::DuplicateMappingKey { key, .. } => {
            let key = key.clone().unwrap_or_default();
            let d = Diagnostic::new(format!("duplicate key `{key}`"), file);
            let first = at.and_then(|p| first_key_before(text, &key, p));
            let d = point(d, key.chars().count());
            match first {
                Some(line) => d.note(format!("`{key}` is first set on line {line}; keep one of them")),
                None => d.note("keep one of them"),
            }
        }
        YamlError::SerdeMissingField { field, .. } => point(
            Diagnostic::new(format!("missing field `{field}`"), file),
            1,
        ),
        YamlError::Budget { breach, .. } => {
            let what = match breach {
                BudgetBreach::Depth { .. } => format!("nesting deeper than {MAX_DEPTH} levels"),
                BudgetBreach::Aliases { .. } | BudgetBreach::Anchors { .. } | BudgetBreach::Nodes { .. } | BudgetBreach::Events { .. } => {
                    "too many YAML nodes or aliases (an alias bomb?)".to_owned()
                }
                BudgetBreach::Documents { .. } => {
                    return point(Diagnostic::new(format!("`{file}` holds more than one YAML document"), file), 3)
                        .note(kind.one_document_hint());
                }
                other => format!("a parser limit was exceeded ({other:?})"),
            };
            point(Diagnostic::new(format!("`{file}` is refused: {what}"), file), 1)
                .note(kind.shallow_hint())
        }
        YamlError::InvalidScalar { .. }
        | YamlError::SerdeInvalidType { .. }
        | YamlError::SerdeInvalidValue { .. }
        | YamlError::InvalidBooleanStrict { .. } => {
            let key = at.and_then(|p| key_before(text, p));
            let written = at.map(|p| scalar_at(text, p)).unwrap_or_default();
            let expected = key.as_deref().and_then(expectation);
            match (key, expected) {
                (Some(key), Some(expected)) => point(
                    Diagnostic::new(format!("invalid value `{written}` for `{key}`"), file),
                    written.chars().count(),
                )
                .accepted(&[expected]),
                (Some(key), None) => point(
                    Diagnostic::new(format!("invalid value for `{key}`: {}", strip_location(&inner.to_string())), file),
                    written.chars().count(),
                ),
                _ => point(Diagnostic::new(strip_location(&inner.to_string()), file), 1),
            }
        }
        YamlError::AliasReplayLimitExceeded { .. }
        | YamlError::AliasExpansionLimitExceeded { .. }
        | YamlError::AliasReplayStackDepthExceeded { .. }
        | YamlError::AliasReplayCounterOverflow { .. } => point(
            Diagnostic::new(format!("`{file}` is refused: aliases expand to more than {MAX_ALIAS_EVENTS} nodes (an alias bomb?)"), file),
            1,
        )
        .note("use aliases for small shared defaults only"),
        YamlError::MultipleDocuments { .. } => point(
            Diagnostic::new(format!("`{file}` holds more than one YAML document"), file),
            3,
        )
        .note(kind.one_document_hint()),
        YamlError::Eof { .. } => {
            Diagnostic::new(format!("`{file}` is empty"), file).note(kind.empty_hint())
        }
        _ => {
            let message = strip_location(&inner.to_string());
            let d = point(Diagnostic::new(format!("`{file}` is not valid YAML: {message}"), file), 1);
            match scan_error(inner).map(ScanError::kind) {
                Some(ErrorKind::RecursionLimitExceeded) => {
                    d.note(format!("nesting deeper than {MAX_DEPTH} levels is refused"))
                }
                Some(
                    ErrorKind::TabNotAllowed
                    | ErrorKind::TabInBlockIndentation
                    | ErrorKind::TabInIndentation
                    | ErrorKind::TabAtBlockScalarStart
                    | ErrorKind::TabInPlainScalar,
                ) => d.note("indent with spaces: YAML does not allow tabs for indentation"),
                _ => d,
            }
        }
    }
}

/// The parser's own error behind `error`, whose kind says what went wrong
/// without reading its message: serde-saphyr passes it on, with the
/// parser crate, for exactly this.
fn scan_error(error: &YamlError) -> Option<&ScanError> {
    match error {
        YamlError::ExternalMessage { source, .. } => match source.as_ref() {
            ExternalMessageSource::Parser(scan) => Some(scan),
            _ => None,
        },
        _ => None,
    }
}

/// What a typed flows.yaml key accepts, for type errors.
fn expectation(key: &str) -> Option<&'static str> {
    match key {
        "latency_ms" | "throughput" | "payload_bytes" => Some("a whole number, at least 1"),
        "replay" => Some("true or false"),
        "version" => Some("1"),
        "name" | "from" | "system" | "topic" | "description" | "interaction" | "client"
        | "coupling" | "delivery" | "ordering" | "format" | "contract" | "transport" => {
            Some("a plain string")
        }
        _ => None,
    }
}

/// The plain scalar written at `at`, up to a comment, comma or bracket.
pub fn scalar_at(text: &str, at: Pos) -> String {
    let line = text
        .lines()
        .nth(at.line.saturating_sub(1))
        .unwrap_or_default();
    let rest: String = line.chars().skip(at.column.saturating_sub(1)).collect();
    let rest = rest.split(" #").next().unwrap_or_default();
    rest.split([',', ']', '}'])
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Drops the parser's own " at line X, column Y" suffix: the diagnostic says it.
fn strip_location(message: &str) -> String {
    let message = message.lines().next().unwrap_or(message);
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The line where `key:` first appears before `at` with the same indentation.
fn first_key_before(text: &str, key: &str, at: Pos) -> Option<usize> {
    let indent = at.column.saturating_sub(1);
    text.lines()
        .take(at.line.saturating_sub(1))
        .enumerate()
        .find_map(|(i, line)| {
            let rest = line.get(indent..)?;
            let before = &line[..indent];
            let starts =
                before.trim_start_matches(' ').trim_end().is_empty() || before.trim() == "-";
            (starts
                && rest
                    .strip_prefix(key)
                    .is_some_and(|r| r.trim_start().starts_with(':')))
            .then_some(i + 1)
        })
}
