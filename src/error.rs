//! Typed errors with exit codes, and the one rendering of a user-facing
//! diagnostic (`error: …`, ` --> file:line:col`, source line, caret).
//!
//! Wording here is part of the interface: tests assert it verbatim.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::path::PathBuf;

use crate::spec::model::Pos;

/// Longest source line shown in full; longer ones are cut around the caret.
const SHOWN: usize = 120;

/// Longest `quoted` text shown in full in a message; a name of thousands
/// of characters is cut, since the caret already points at it.
const QUOTED: usize = 80;

/// Characters a terminal or a document must not receive as they are from
/// the user's input: control characters (escape sequences can rewrite the
/// screen) and the invisible and bidirectional formatting characters that
/// reorder or hide text (CVE-2021-42574, "Trojan Source").
///
/// The one definition: error messages ([`printable`]), every report
/// renderer and the scaffold's messages about manifest entries all escape
/// through [`escape_controls`], so none of them lets through what another
/// would catch.
pub fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// `text` with every [`unsafe_char`] (controls, invisible and bidirectional
/// formatting characters alike) written as its escape (`\u{1b}`,
/// `\u{202e}`, `\n`), so that it shows what was written and does nothing
/// else. Borrowed when there is nothing to escape, the common case.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A message made safe to print: unsafe characters written as escapes
/// ([`escape_controls`]), and `quoted` spans longer than [`QUOTED`] cut short.
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, part) in text.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        let quoted = i % 2 == 1;
        let count = part.chars().count();
        match part.char_indices().nth(QUOTED / 2) {
            Some((cut, _)) if quoted && count > QUOTED => {
                out.push_str(&escape_controls(&part[..cut]));
                let _ = write!(out, "…({count} characters)");
            }
            _ => out.push_str(&escape_controls(part)),
        }
    }
    out
}

/// One problem in something the user wrote, pointing at where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What happened, in one line: "unknown field `latency` in flow `get-order`".
    pub message: String,
    /// The file as the user named it.
    pub file: String,
    /// Where, when known.
    pub pos: Option<Pos>,
    /// The line at `pos`, for the caret display.
    pub source_line: Option<String>,
    /// How many columns the caret covers.
    pub width: usize,
    /// Text after the caret: usually a did-you-mean.
    pub label: Option<String>,
    /// `= …` lines: what is accepted, how to fix it.
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>, file: impl Into<String>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            file: file.into(),
            pos: None,
            source_line: None,
            width: 1,
            label: None,
            notes: Vec::new(),
        }
    }

    /// Points the diagnostic at `pos` in `source`, underlining `width` columns.
    #[must_use]
    pub fn at(self, source: &str, pos: Pos, width: usize) -> Diagnostic {
        let line = source.lines().nth(pos.line.saturating_sub(1));
        self.at_line(line, pos, width)
    }

    /// [`Self::at`] for a caller that already has the line at `pos`.
    #[must_use]
    pub fn at_line(mut self, line: Option<&str>, pos: Pos, width: usize) -> Diagnostic {
        self.pos = Some(pos);
        self.source_line = line.map(|l| l.trim_end_matches('\r').to_owned());
        self.width = width.max(1);
        self
    }

    /// The source line as shown, and the caret's column in it: lines longer
    /// than [`SHOWN`] are cut to a window around the caret.
    fn shown(line: &str, column: usize) -> (String, usize) {
        // One character for one, so that the caret stays in its column.
        let chars: Vec<char> = line
            .chars()
            .map(|c| match c {
                '\t' => ' ',
                c if unsafe_char(c) => '\u{FFFD}',
                c => c,
            })
            .collect();
        if chars.len() <= SHOWN {
            return (chars.into_iter().collect(), column);
        }
        let start = column
            .saturating_sub(SHOWN / 2)
            .min(chars.len().saturating_sub(SHOWN));
        let end = (start + SHOWN).min(chars.len());
        let mut shown = String::new();
        let mut caret = column - start;
        if start > 0 {
            shown.push_str("...");
            caret += 3;
        }
        shown.extend(&chars[start..end]);
        if end < chars.len() {
            shown.push_str("...");
        }
        (shown, caret)
    }

    #[must_use]
    pub fn label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }

    #[must_use]
    pub fn note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    /// Adds "did you mean `x`?" as the label when a near miss exists.
    #[must_use]
    pub fn suggest(self, given: &str, candidates: &[&str]) -> Diagnostic {
        match did_you_mean(given, candidates) {
            Some(best) => self.label(format!("did you mean `{best}`?")),
            None => self,
        }
    }

    /// Adds the `= accepted: …` note.
    #[must_use]
    pub fn accepted(self, candidates: &[&str]) -> Diagnostic {
        self.note(format!("accepted: {}", candidates.join(", ")))
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", printable(&self.message))?;
        let Some(pos) = self.pos else {
            writeln!(f, " --> {}", printable(&self.file))?;
            for note in &self.notes {
                writeln!(f, "  = {}", printable(note))?;
            }
            return Ok(());
        };
        let number = pos.line.to_string();
        let pad = " ".repeat(number.len());
        writeln!(
            f,
            "{pad}--> {}:{}:{}",
            printable(&self.file),
            pos.line,
            pos.column
        )?;
        if let Some(line) = &self.source_line {
            let (shown, column) = Diagnostic::shown(line, pos.column);
            writeln!(f, "{pad} |")?;
            writeln!(f, "{number} | {shown}")?;
            let mut caret = String::new();
            // Columns count characters, so multi-byte text keeps the caret aligned.
            let _ = write!(
                caret,
                "{pad} | {}{}",
                " ".repeat(column.saturating_sub(1)),
                "^".repeat(self.width.min(SHOWN))
            );
            if let Some(label) = &self.label {
                let _ = write!(caret, " {}", printable(label));
            }
            writeln!(f, "{caret}")?;
        } else if let Some(label) = &self.label {
            writeln!(f, "{pad} = {}", printable(label))?;
        }
        for note in &self.notes {
            writeln!(f, "{pad} = {}", printable(note))?;
        }
        Ok(())
    }
}

/// Everything that can go wrong, each with its exit code (docs/commands.md).
#[derive(Debug)]
pub enum Error {
    /// The user's input is wrong: bad YAML, unknown field, unsafe name,
    /// refused overwrite. Exit code 2.
    Input(Vec<Diagnostic>),
    /// A usage problem with no file behind it (for example no terminal for
    /// `interactive`). Exit code 2.
    Usage(String),
    /// Reading or writing failed for reasons outside the input. Exit code 1.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `check` found problems at or above the threshold: the report is on
    /// stdout, this is the one-line verdict. Exit code 1.
    Gate(String),
    /// Anything else, such as an embedded template that fails to render.
    /// Exit code 1.
    Internal(String),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) | Error::Usage(_) => 2,
            Error::Io { .. } | Error::Gate(_) | Error::Internal(_) => 1,
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<Diagnostic> for Error {
    fn from(diagnostic: Diagnostic) -> Error {
        Error::Input(vec![diagnostic])
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Input(diagnostics) => {
                for (i, d) in diagnostics.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "{d}")?;
                }
                Ok(())
            }
            Error::Usage(message) | Error::Gate(message) | Error::Internal(message) => {
                // These may hold several lines on purpose; each is made safe.
                let lines: Vec<String> = message.split('\n').map(printable).collect();
                writeln!(f, "error: {}", lines.join("\n"))
            }
            Error::Io { path, source } => {
                let path = path.display().to_string();
                writeln!(
                    f,
                    "error: cannot access `{}`: {source}",
                    escape_controls(&path)
                )
            }
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The closest candidate to `given`, if it is close enough to be a typo.
pub fn did_you_mean<'a>(given: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let given_lower = given.to_ascii_lowercase();
    let limit = (given.chars().count() / 3).max(1);
    candidates
        .iter()
        .filter_map(|&candidate| {
            let distance = edit_distance(&given_lower, candidate);
            let prefix = given_lower.len() >= 3
                && (candidate.starts_with(&given_lower) || given_lower.starts_with(candidate));
            if distance <= limit || prefix {
                Some((distance, candidate))
            } else {
                None
            }
        })
        .min()
        .map(|(_, candidate)| candidate)
}

/// Optimal string alignment distance: Levenshtein plus adjacent
/// transpositions, since `kafak` for `kafka` is the commonest typo.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_transposed_keyword() {
        assert_eq!(
            did_you_mean("kafak", &["rest", "grpc", "kafka"]),
            Some("kafka")
        );
    }

    #[test]
    fn suggests_field_from_prefix() {
        assert_eq!(
            did_you_mean("latency", &["latency_ms", "throughput"]),
            Some("latency_ms")
        );
    }

    #[test]
    fn does_not_suggest_unrelated_words() {
        assert_eq!(did_you_mean("colour", &["rest", "grpc", "kafka"]), None);
    }

    #[test]
    fn escapes_control_and_bidirectional_characters_in_messages() {
        let source = "version: 1\nflows:\n  - name: \"a\u{202e}b\\x1b[2J\"\n";
        let d = Diagnostic::new("invalid flow name `a\u{202e}b\u{1b}[2J`", "flows.yaml")
            .at(
                source,
                Pos {
                    line: 3,
                    column: 11,
                },
                4,
            )
            .label("did you mean `a\u{2066}`?")
            .note("a\nnote");
        let shown = d.to_string();
        assert!(
            shown.starts_with("error: invalid flow name `a\\u{202e}b\\u{1b}[2J`\n"),
            "{shown}"
        );
        assert!(shown.contains("did you mean `a\\u{2066}`?"), "{shown}");
        assert!(shown.contains("= a\\nnote"), "{shown}");
        assert!(
            !shown.chars().any(|c| unsafe_char(c) && c != '\n'),
            "{shown:?}"
        );
    }

    #[test]
    fn escapes_every_unsafe_character_and_nothing_else() {
        for c in [
            '\u{0}', '\u{1b}', '\r', '\n', '\t', '\u{7f}', '\u{9b}', '\u{061c}', '\u{200b}',
            '\u{200f}', '\u{2028}', '\u{2029}', '\u{202a}', '\u{202e}', '\u{2060}', '\u{2066}',
            '\u{2069}', '\u{feff}',
        ] {
            let shown = escape_controls(&format!("a{c}b")).into_owned();
            assert!(!shown.contains(c), "{c:?} shown as {shown:?}");
            assert_eq!(shown, format!("a{}b", c.escape_default()));
        }
        assert_eq!(escape_controls("x\u{1b}[31mRED"), "x\\u{1b}[31mRED");
        for plain in ["café → 東京", "a-b_c.d `x`", ""] {
            assert!(matches!(escape_controls(plain), Cow::Borrowed(p) if p == plain));
        }
    }

    #[test]
    fn escapes_control_characters_in_a_path_that_cannot_be_read() {
        let e = Error::io(
            "adr/\u{1b}[2J.md",
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        );
        let shown = e.to_string();
        assert!(shown.contains("`adr/\\u{1b}[2J.md`"), "{shown}");
        assert!(!shown.contains('\u{1b}'), "{shown:?}");
    }

    #[test]
    fn cuts_a_very_long_quoted_name() {
        let name = "a".repeat(70_000);
        let shown =
            Diagnostic::new(format!("invalid flow name `{name}`: too long"), "f").to_string();
        assert!(
            shown.starts_with(&format!(
                "error: invalid flow name `{}…(70000 characters)`: too long",
                "a".repeat(40)
            )),
            "{shown}"
        );
        assert!(shown.len() < 200);
    }

    #[test]
    fn renders_source_line_with_caret() {
        let source = "version: 1\nflows:\n  - name: a\n    latency: 5\n";
        let d = Diagnostic::new("unknown field `latency` in flow `a`", "flows.yaml")
            .at(source, Pos { line: 4, column: 5 }, 7)
            .label("did you mean `latency_ms`?")
            .note("accepted: name, latency_ms");
        assert_eq!(
            d.to_string(),
            "error: unknown field `latency` in flow `a`\n \
             --> flows.yaml:4:5\n  |\n4 |     latency: 5\n  |     ^^^^^^^ did you mean `latency_ms`?\n  = accepted: name, latency_ms\n"
        );
    }
}
