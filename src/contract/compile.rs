//! Compiling .proto files with protox, and protox's errors as diagnostics.
//!
//! protox reads files through a [`FileResolver`]; this module never builds
//! one that touches the disk. `commands` chains the team's include folders
//! in front of [`builtin`], which answers the imports every contract may
//! use without shipping them: the well-known types (`google/protobuf/…`,
//! from protox) and `google/api/annotations.proto` + `google/api/http.proto`
//! (the HTTP annotations of the grpc-gateway / Google API transcoding
//! convention), embedded here as data, verbatim from googleapis/googleapis
//! at commit f8291d2b89f0017ab078a4c7378069bae5686f6f, under their Apache
//! 2.0 license header.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use miette::{Diagnostic as _, SourceSpan};
use prost_reflect::DescriptorPool;
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

use crate::contract::{Problem, Site};
use crate::spec::model::Pos;

/// The embedded googleapis files, by import name.
const GOOGLE_API: &[(&str, &str)] = &[
    (
        "google/api/annotations.proto",
        include_str!("google/api/annotations.proto"),
    ),
    (
        "google/api/http.proto",
        include_str!("google/api/http.proto"),
    ),
];

/// Answers the imports that are built in: `google/api/annotations.proto`
/// and `google/api/http.proto`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GoogleApiResolver;

impl FileResolver for GoogleApiResolver {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match GOOGLE_API.iter().find(|(file, _)| *file == name) {
            Some((file, text)) => File::from_source(file, text),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

/// The text of a built-in googleapis file, by import name: the scaffold
/// writes it beside a contract that imports it.
pub fn builtin_text(name: &str) -> Option<&'static str> {
    GOOGLE_API
        .iter()
        .find(|(file, _)| *file == name)
        .map(|(_, text)| *text)
}

/// One .proto file held in memory: the derived and the seed contract.
#[derive(Debug, Clone)]
pub struct InMemory {
    pub name: String,
    pub text: String,
}

impl FileResolver for InMemory {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        if name == self.name {
            File::from_source(name, &self.text)
        } else {
            Err(protox::Error::file_not_found(name))
        }
    }
}

/// The text of every file a resolver opened, by import name: what
/// `contract check` shows the lines of its findings from.
pub type Texts = Arc<Mutex<BTreeMap<String, String>>>;

/// Wraps a resolver and keeps the text of every file it opens in `texts`.
pub struct Recording<R> {
    pub inner: R,
    pub texts: Texts,
}

impl<R: FileResolver> FileResolver for Recording<R> {
    fn resolve_path(&self, path: &Path) -> Option<String> {
        self.inner.resolve_path(path)
    }

    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        let file = self.inner.open_file(name)?;
        if let (Some(text), Ok(mut texts)) = (file.source(), self.texts.lock()) {
            texts.insert(name.to_owned(), text.to_owned());
        }
        Ok(file)
    }
}

/// Why a resolver over the user's files would not read a file it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// What the file is: "`proto/env.proto` is a symbolic link …".
    pub why: String,
    /// What to do about it.
    pub note: String,
}

/// The refusal of the file a resolver was last asked for, if it refused
/// it. The resolver answers a refused file as not found, the one error
/// protox points at the `import` line; [`compile`] then reads why here.
/// Compiling stops at the first file that fails, so the last file asked
/// for is the one the error is about.
pub type Refusal = Arc<Mutex<Option<Refused>>>;

/// How a compile's files are shown to the user.
pub struct Sources<'a> {
    /// The path the user knows a file by, from its import name.
    pub shown: &'a dyn Fn(&str) -> String,
    /// Where imports are looked up: said when one is not found.
    pub lookup: &'a str,
    /// Filled in by the resolver when it refuses a file.
    pub refusal: Refusal,
}

impl Sources<'_> {
    /// Files held in memory, shown by their import names.
    pub fn in_memory() -> Sources<'static> {
        Sources {
            shown: &|n| n.to_owned(),
            lookup: BUILT_IN,
            refusal: Refusal::default(),
        }
    }
}

/// The imports that need no file, said of every file not found.
pub const BUILT_IN: &str = "`google/protobuf/*.proto`, `google/api/annotations.proto` and `google/api/http.proto` are built in";

/// Longest stretch of a source line kept past the caret: the line is
/// shown cut around the caret anyway, and a file of one long line (a
/// binary, or a file of secrets) is not copied into the error whole.
const LINE_KEPT: usize = 240;

/// The imports every contract gets without a file of its own.
pub fn builtin() -> ChainFileResolver {
    let mut chain = ChainFileResolver::new();
    chain.add(GoogleFileResolver::new());
    chain.add(GoogleApiResolver);
    chain
}

/// Compiles the files named `names` (as imports name them, relative to an
/// include folder) and everything they import.
///
/// `shown` turns a file's import name into the path the user knows it by,
/// for error messages.
pub fn compile(
    resolver: impl FileResolver + 'static,
    names: &[String],
    shown: &dyn Fn(&str) -> String,
) -> Result<DescriptorPool, Problem> {
    let sources = Sources {
        shown,
        ..Sources::in_memory()
    };
    compile_with(resolver, names, &sources)
}

/// [`compile`], with `sources` saying how each file is shown and why a
/// file was refused.
pub fn compile_with(
    resolver: impl FileResolver + 'static,
    names: &[String],
    sources: &Sources,
) -> Result<DescriptorPool, Problem> {
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_imports(true);
    compiler.include_source_info(true);
    for name in names {
        compiler
            .open_file(name)
            .map_err(|e| problem(&e, name, sources))?;
    }
    Ok(compiler.descriptor_pool())
}

/// protox's error, pointed at the .proto file, line and column it names.
fn problem(error: &protox::Error, opened: &str, sources: &Sources) -> Problem {
    let file = error.file().unwrap_or(opened);
    let path = (sources.shown)(file);
    let mut message = error.to_string();
    if error.is_file_not_found() && message.contains("not in any include path") {
        message = format!("file '{file}' not found");
    }
    let refused = if error.is_file_not_found() {
        sources.refusal.lock().ok().and_then(|r| r.clone())
    } else {
        None
    };
    if let Some(refused) = &refused {
        message = format!("an import is refused: {}", refused.why);
    }
    let mut p = Problem::new(Site::Proto, format!("`{path}` does not compile: {message}"));
    if let Some(help) = error.help() {
        p.notes.push(help.to_string());
    }
    match refused {
        Some(refused) => p.notes.push(refused.note),
        None if error.is_file_not_found() => p.notes.push(sources.lookup.to_owned()),
        None => {}
    }
    let label = error.labels().and_then(|mut labels| labels.next());
    let (Some(label), Some(source)) = (label, error.source_code()) else {
        p.site = Site::ProtoFile { path, at: None };
        return p;
    };
    // The whole file: a zero-width span with unlimited context lines.
    let whole = source
        .read_span(&SourceSpan::new(0.into(), 0), usize::MAX, usize::MAX)
        .ok()
        .and_then(|c| String::from_utf8(c.data().to_vec()).ok())
        .unwrap_or_default();
    let offset = label.offset().min(whole.len());
    let before = whole.get(..offset).unwrap_or_default();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let pos = Pos {
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
    };
    let width = whole
        .get(offset..offset + label.len())
        .map_or(1, |s| s.chars().count().max(1));
    let line: String = whole[line_start..]
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(pos.column + width + LINE_KEPT)
        .collect();
    p.label = label.label().map(str::to_owned);
    p.width = width;
    p.site = Site::ProtoFile {
        path,
        at: Some((pos, line)),
    };
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_one(name: &str, text: &str) -> Result<DescriptorPool, Problem> {
        let mut chain = ChainFileResolver::new();
        chain.add(InMemory {
            name: name.to_owned(),
            text: text.to_owned(),
        });
        chain.add(builtin());
        compile(chain, &[name.to_owned()], &|n| format!("proto/{n}"))
    }

    #[test]
    fn compiles_http_annotations_and_timestamps_without_files() {
        let text = r#"syntax = "proto3";
package billing.v1;
import "google/api/annotations.proto";
import "google/protobuf/timestamp.proto";
service InvoiceService {
  rpc GetInvoice(GetInvoiceRequest) returns (Invoice) {
    option (google.api.http) = { get: "/v1/invoices/{invoice_id}" };
  }
}
message GetInvoiceRequest { string invoice_id = 1; }
message Invoice { string invoice_id = 1; google.protobuf.Timestamp issued_at = 2; }
"#;
        let pool = compile_one("billing.proto", text).expect("compiles");
        assert!(
            pool.get_service_by_name("billing.v1.InvoiceService")
                .is_some()
        );
        assert!(pool.get_extension_by_name("google.api.http").is_some());
    }

    #[test]
    fn points_a_syntax_error_at_its_line_and_column() {
        let text = "syntax = \"proto3\";\npackage a;\nmessage A {\n  string id = 1\n}\n";
        let p = compile_one("a.proto", text).expect_err("refused");
        let Site::ProtoFile { path, at } = &p.site else {
            panic!("{p:?}")
        };
        assert_eq!(path, "proto/a.proto");
        let (pos, line) = at.as_ref().expect("placed");
        assert_eq!(pos.line, 5, "{}", p.message);
        assert_eq!(line, "}");
        assert!(
            p.message
                .starts_with("`proto/a.proto` does not compile: expected ';'"),
            "{}",
            p.message
        );
    }

    #[test]
    fn keeps_a_bounded_stretch_of_a_long_line() {
        let text = format!(
            "syntax = \"proto3\";\npackage a;\nmessage A {{}} oops /* {} */\n",
            "x".repeat(100_000)
        );
        let p = compile_one("a.proto", &text).expect_err("refused");
        let Site::ProtoFile {
            at: Some((pos, line)),
            ..
        } = &p.site
        else {
            panic!("{p:?}")
        };
        assert_eq!((pos.line, pos.column), (3, 14), "{}", p.message);
        assert!(line.starts_with("message A {} oops /* xxx"), "{line}");
        assert!(line.chars().count() <= pos.column + p.width + LINE_KEPT);
    }
}
