//! The embedded templates and the tera instance that renders them.
//!
//! `templates/` mirrors the generated tree: `templates/services/__service__/
//! src/main.rs` produces `services/orders/src/main.rs` for each service. A
//! template may open with a front matter comment that tera itself drops:
//!
//! ```text
//! {#- scaffold
//! when: service.serves_rest
//! owner: user
//! -#}
//! ```
//!
//! `when` decides whether the file exists; `owner: user` marks a file the
//! user is expected to edit, which regeneration never replaces. Each `when`
//! is compiled once, as a template of its own, since it is tested for every
//! file planned.

use tera::{Tera, Value};

use crate::error::Error;
use crate::scaffold::contract::{pascal, snake};

/// Every template, by path relative to the repository, in sorted order.
pub const BUILTIN: &[(&str, &str)] = &include!(concat!(env!("OUT_DIR"), "/builtin_templates.rs"));

/// The folder segment replaced by each service's name.
pub const SERVICE_SEGMENT: &str = "__service__";

/// The file name segment replaced by each handler's module
/// (`handlers/__handler__.rs` → `handlers/get_order.rs`): a per-service
/// template rendered once per handler, with `handler` in its context.
pub const HANDLER_SEGMENT: &str = "__handler__";

/// Who owns a generated file after it is written.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Owner {
    /// Plumbing: regenerated freely while the user has not changed it.
    Generated,
    /// Logic the user edits: written once, never replaced.
    User,
}

/// Ends the tera name of a template's compiled `when` test.
const WHEN_SUFFIX: &str = "#when";

/// A template with its front matter read.
#[derive(Debug, Clone)]
pub struct Template {
    /// Path under `templates/`, which is also the tera name.
    pub name: String,
    /// The path it produces: the name without a `.tera` suffix. Manifests
    /// are stored as `Cargo.toml.tera`, since `cargo package` leaves out any
    /// folder holding a `Cargo.toml`, and the templates must ship.
    pub output: String,
    pub when: Option<String>,
    pub owner: Owner,
    pub per_service: bool,
    /// Rendered once per handler of the service ([`HANDLER_SEGMENT`]).
    pub per_handler: bool,
}

/// Builds the tera instance with every template and the case filters,
/// registered once.
pub fn engine() -> Result<(Tera, Vec<Template>), Error> {
    let mut tera = Tera::default();
    tera.autoescape_on(Vec::new());
    let mut templates = Vec::new();
    let mut raw = Vec::new();
    for (path, text) in BUILTIN {
        let name = path.strip_prefix("templates/").unwrap_or(path).to_owned();
        let (when, owner) =
            front_matter(text).map_err(|e| Error::Internal(format!("template `{name}`: {e}")))?;
        if let Some(when) = &when {
            raw.push((
                format!("{name}{WHEN_SUFFIX}"),
                format!("{{% if {when} %}}yes{{% endif %}}"),
            ));
        }
        raw.push((name.clone(), body(text).to_owned()));
        templates.push(Template {
            per_service: name.contains(SERVICE_SEGMENT),
            per_handler: name.contains(HANDLER_SEGMENT),
            output: name.strip_suffix(".tera").unwrap_or(&name).to_owned(),
            name,
            when,
            owner,
        });
    }
    tera.add_raw_templates(raw)
        .map_err(|e| Error::Internal(format!("templates do not parse: {}", chain(&e))))?;
    register_case(&mut tera, "snake", snake);
    register_case(&mut tera, "pascal", pascal);
    register_case(&mut tera, "kebab", |s| snake(s).replace('_', "-"));
    register_case(&mut tera, "shouty", |s| snake(s).to_ascii_uppercase());
    Ok((tera, templates))
}

/// Renders `template` with `context`, or `None` when its `when` does not hold
/// there. `path` is the file it produces, for messages.
pub fn render(
    tera: &Tera,
    template: &Template,
    path: &str,
    context: &tera::Context,
) -> Result<Option<String>, Error> {
    if let Some(when) = &template.when {
        let holds = tera
            .render(&format!("{}{WHEN_SUFFIX}", template.name), context)
            .map_err(|e| {
                Error::Internal(format!(
                    "template `{}`: `when: {when}`: {}",
                    template.name,
                    chain(&e)
                ))
            })?;
        if holds != "yes" {
            return Ok(None);
        }
    }
    tera.render(&template.name, context).map(Some).map_err(|e| {
        Error::Internal(format!(
            "template `{}` for `{path}`: {}",
            template.name,
            chain(&e)
        ))
    })
}

fn register_case(tera: &mut Tera, name: &str, convert: fn(&str) -> String) {
    tera.register_filter(
        name,
        move |value: &Value, _: &std::collections::HashMap<String, Value>| {
            let text = value
                .as_str()
                .ok_or_else(|| tera::Error::msg("case filters take a string"))?;
            Ok(Value::String(convert(text)))
        },
    );
}

/// The template without its front matter and the line break that ends it:
/// tera keeps the whitespace after a comment, which would start every such
/// file with an empty line.
fn body(text: &str) -> &str {
    match text.strip_prefix("{#- scaffold\n") {
        Some(rest) => rest.find("-#}").map_or(text, |end| {
            let after = &rest[end + "-#}".len()..];
            after.strip_prefix('\n').unwrap_or(after)
        }),
        None => text,
    }
}

/// Reads `when:` and `owner:` from a leading `{#- scaffold … -#}` comment.
fn front_matter(text: &str) -> Result<(Option<String>, Owner), String> {
    let Some(rest) = text.strip_prefix("{#- scaffold\n") else {
        return Ok((None, Owner::Generated));
    };
    let end = rest
        .find("-#}")
        .ok_or("front matter is not closed with -#}")?;
    let mut when = None;
    let mut owner = Owner::Generated;
    for line in rest[..end].lines().filter(|l| !l.trim().is_empty()) {
        match line.split_once(':').map(|(k, v)| (k.trim(), v.trim())) {
            Some(("when", v)) => when = Some(v.to_owned()),
            Some(("owner", "user")) => owner = Owner::User,
            Some(("owner", "generated")) => owner = Owner::Generated,
            _ => return Err(format!("unknown front matter line `{line}`")),
        }
    }
    Ok((when, owner))
}

/// A tera error with its causes, which is where tera puts the useful part.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_front_matter() {
        let (when, owner) =
            front_matter("{#- scaffold\nwhen: service.serves_rest\nowner: user\n-#}\nbody")
                .unwrap();
        assert_eq!(when.as_deref(), Some("service.serves_rest"));
        assert_eq!(owner, Owner::User);
    }

    #[test]
    fn front_matter_and_its_line_break_are_not_rendered() {
        assert_eq!(
            body("{#- scaffold\nowner: user\n-#}\n//! doc\n"),
            "//! doc\n"
        );
        assert_eq!(body("//! no front matter\n"), "//! no front matter\n");
    }

    #[test]
    fn rejects_unknown_front_matter() {
        assert!(front_matter("{#- scaffold\ncolour: red\n-#}\n").is_err());
    }

    #[test]
    fn every_template_parses() {
        engine().expect("templates parse");
    }
}
