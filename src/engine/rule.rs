//! One rule: the serde shape of a `rules/*.yaml` file, and the checked,
//! compiled form the engine evaluates.
//!
//! Loading is two steps (as in ast-grep): serde parses the file into
//! [`RawRule`], which mirrors it exactly, then [`compile`] refuses unknown
//! criteria, fields, operators and values, and builds a [`Rule`].

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value as Json;

use crate::engine::facts::{Facts, Field, Kind, Value};
use crate::error::{Diagnostic, did_you_mean};
use crate::keywords::keywords;
use crate::spec::model::{Pos, Transport};

keywords! {
    /// The nine criteria of the seed article's comparison table (SPEC §3).
    /// Every rule belongs to exactly one.
    Criterion {
        Coupling = "Coupling",
        Communication = "Communication",
        DataFormat = "Data Format",
        Scalability = "Scalability",
        DeliveryGuarantees = "Delivery Guarantees",
        UseCases = "Use Cases",
        MonitoringTracing = "Monitoring/Tracing",
        FailureRecovery = "Failure Recovery",
        EdgeCases = "Edge Cases",
    }
}

/// A rule file exactly as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// Unique id: lowercase letters, digits and '-'. A user rule with the id
    /// of a built-in one replaces it.
    pub id: String,
    /// One of the nine criteria of SPEC §3.
    pub criterion: String,
    /// The condition over the flow's fields; omitted means "always".
    #[serde(default)]
    pub when: Option<Json>,
    /// What the rule does when its condition holds.
    pub effect: RawEffect,
    /// The sentence users read in a report.
    pub text: String,
    /// Where the reasoning comes from.
    #[serde(default)]
    pub source: Option<String>,
    /// For `require` and `exclude`: the pattern that resolves the conflict
    /// when the chosen transport cannot honour this rule.
    #[serde(default)]
    pub resolution: Option<RawResolution>,
    /// Partial flows on which the condition must hold, and must not.
    #[serde(default)]
    pub examples: Option<RawExamples>,
}

/// Exactly one of the four effects.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEffect {
    /// Points added to (or, negative, taken from) each transport.
    #[serde(default)]
    pub score: Option<BTreeMap<String, f64>>,
    /// Only this transport meets the requirement.
    #[serde(default)]
    pub require: Option<String>,
    /// This transport cannot serve the flow.
    #[serde(default)]
    pub exclude: Option<String>,
    /// A pitfall reported when this transport is the one chosen.
    #[serde(default)]
    pub risk: Option<String>,
}

/// A named pattern that resolves a conflict.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RawResolution {
    pub id: String,
    pub text: String,
    /// For an `exclude` rule: the pattern bridges this kind of caller to the
    /// excluded transport (an HTTP edge in front of the broker), so it is
    /// reported whenever the flow's requirements or scores point at that
    /// transport, beside the requirement's own pattern.
    #[serde(default)]
    pub bridge: bool,
}

/// The rule's own test cases.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExamples {
    #[serde(default)]
    pub fires: Vec<Json>,
    #[serde(default)]
    pub quiet: Vec<Json>,
}

/// A comparison operator on numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Lte,
    Gt,
    Gte,
}

/// A compiled condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Always,
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    Eq(Field, Value),
    In(Field, Vec<Value>),
    /// A number comparison; false when the flow leaves the number out.
    Compare(Field, Cmp, u64),
    /// Whether an optional number is given.
    Set(Field, bool),
}

impl Condition {
    pub fn holds(&self, facts: &Facts) -> bool {
        match self {
            Condition::Always => true,
            Condition::All(all) => all.iter().all(|c| c.holds(facts)),
            Condition::Any(any) => any.iter().any(|c| c.holds(facts)),
            Condition::Not(inner) => !inner.holds(facts),
            Condition::Eq(field, value) => facts.get(*field) == *value,
            Condition::In(field, values) => values.contains(&facts.get(*field)),
            Condition::Compare(field, cmp, bound) => match facts.get(*field) {
                Value::Number(Some(n)) => match cmp {
                    Cmp::Lt => n < *bound,
                    Cmp::Lte => n <= *bound,
                    Cmp::Gt => n > *bound,
                    Cmp::Gte => n >= *bound,
                },
                _ => false,
            },
            Condition::Set(field, expected) => {
                matches!(facts.get(*field), Value::Number(Some(_))) == *expected
            }
        }
    }

    /// Every field the condition reads, so the engine knows which rules a
    /// change of one field can affect.
    pub fn fields(&self, out: &mut Vec<Field>) {
        match self {
            Condition::Always => {}
            Condition::All(cs) | Condition::Any(cs) => cs.iter().for_each(|c| c.fields(out)),
            Condition::Not(c) => c.fields(out),
            Condition::Eq(f, _)
            | Condition::In(f, _)
            | Condition::Compare(f, _, _)
            | Condition::Set(f, _) => {
                out.push(*f);
            }
        }
    }

    /// The numbers a condition compares a field against: the only places
    /// where a change of that number can change the outcome.
    pub fn thresholds(&self, out: &mut Vec<(Field, Cmp, u64)>) {
        match self {
            Condition::All(cs) | Condition::Any(cs) => cs.iter().for_each(|c| c.thresholds(out)),
            Condition::Not(c) => c.thresholds(out),
            Condition::Compare(f, cmp, n) => out.push((*f, *cmp, *n)),
            _ => {}
        }
    }

    /// The condition in the rules' own YAML syntax, for `commsadvise rules ID`.
    pub fn describe(&self) -> String {
        fn value(field: Field, v: Value) -> String {
            crate::engine::facts::display_value(field, v)
        }
        match self {
            Condition::Always => "always".to_owned(),
            Condition::All(cs) => format!("all of ({})", join(cs)),
            Condition::Any(cs) => format!("any of ({})", join(cs)),
            Condition::Not(c) => format!("not ({})", c.describe()),
            Condition::Eq(f, v) => format!("{} = {}", f.name(), value(*f, *v)),
            Condition::In(f, vs) => format!(
                "{} in [{}]",
                f.name(),
                vs.iter()
                    .map(|v| value(*f, *v))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Condition::Compare(f, cmp, n) => {
                let op = match cmp {
                    Cmp::Lt => "<",
                    Cmp::Lte => "<=",
                    Cmp::Gt => ">",
                    Cmp::Gte => ">=",
                };
                format!("{} {op} {n}", f.name())
            }
            Condition::Set(f, true) => format!("{} is set", f.name()),
            Condition::Set(f, false) => format!("{} is not set", f.name()),
        }
    }
}

fn join(cs: &[Condition]) -> String {
    cs.iter()
        .map(Condition::describe)
        .collect::<Vec<_>>()
        .join("; ")
}

/// What a rule does when its condition holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Points per transport, indexed like [`Transport::ALL`].
    Score([f64; 3]),
    Require(Transport),
    Exclude(Transport),
    Risk(Transport),
}

impl Effect {
    /// The transport the effect is about: the most favoured for a score.
    pub fn transport(&self) -> Transport {
        match self {
            Effect::Score(points) => {
                let mut best = 0;
                for i in 1..3 {
                    if points[i] > points[best] {
                        best = i;
                    }
                }
                Transport::ALL[best]
            }
            Effect::Require(t) | Effect::Exclude(t) | Effect::Risk(t) => *t,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Effect::Score(_) => "score",
            Effect::Require(_) => "require",
            Effect::Exclude(_) => "exclude",
            Effect::Risk(_) => "risk",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Effect::Score(points) => Transport::ALL
                .iter()
                .zip(points)
                .filter(|(_, p)| **p != 0.0)
                .map(|(t, p)| format!("{t} {p:+}"))
                .collect::<Vec<_>>()
                .join(", "),
            Effect::Require(t) => format!("require {t}"),
            Effect::Exclude(t) => format!("exclude {t}"),
            Effect::Risk(t) => format!("risk when {t} is chosen"),
        }
    }
}

/// A checked rule, ready to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub id: Arc<str>,
    pub criterion: Criterion,
    pub when: Condition,
    pub effect: Effect,
    /// [`Effect::describe`], computed once: every report shows it.
    pub effect_text: Arc<str>,
    /// Shared, since every flow the rule fires for quotes it.
    pub text: Arc<str>,
    pub source: Option<String>,
    pub resolution: Option<RawResolution>,
    pub fires: Vec<Facts>,
    pub quiet: Vec<Facts>,
    /// The file the rule came from (`rules/x.yaml` for a built-in one).
    pub origin: String,
}

/// Where a rule's problems are reported: its file, text and id.
struct Context<'a> {
    file: &'a str,
    text: &'a str,
    id: &'a str,
}

impl Context<'_> {
    /// A diagnostic pointing at the first `key:` in the file, since conditions
    /// are read as plain values that no longer carry their position.
    fn error(&self, message: impl std::fmt::Display, key: &str) -> Diagnostic {
        let d = Diagnostic::new(format!("{message} in rule `{}`", self.id), self.file);
        match locate_key(self.text, key) {
            Some(pos) => d.at(self.text, pos, key.chars().count().max(1)),
            None => d,
        }
    }
}

/// The position of the first `key:` (or `key` as a list item or value) in `text`.
pub fn locate_key(text: &str, key: &str) -> Option<Pos> {
    if key.is_empty() {
        return None;
    }
    for (n, line) in text.lines().enumerate() {
        let code = line.split(" #").next().unwrap_or(line);
        let mut from = 0;
        while let Some(found) = code[from..].find(key) {
            let start = from + found;
            let end = start + key.len();
            let before = code[..start].chars().next_back();
            let after = code[end..].chars().next();
            let boundary =
                |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-'));
            if boundary(before) && boundary(after) {
                return Some(Pos {
                    line: n + 1,
                    column: code[..start].chars().count() + 1,
                });
            }
            from = end;
        }
    }
    None
}

/// Checks a raw rule and compiles it.
pub fn compile(raw: RawRule, file: &str, text: &str) -> Result<Rule, Diagnostic> {
    let cx = Context {
        file,
        text,
        id: &raw.id,
    };
    check_id(&raw.id)
        .map_err(|why| cx.error(format!("invalid id `{}`: {why}", raw.id), &raw.id))?;
    let criterion = Criterion::parse(&raw.criterion).ok_or_else(|| {
        cx.error(
            format!("unknown criterion `{}`", raw.criterion),
            &raw.criterion,
        )
        .suggest(&raw.criterion, Criterion::NAMES)
        .accepted(Criterion::NAMES)
    })?;
    let when = match &raw.when {
        None => Condition::Always,
        Some(json) => condition(json, &cx, "when")?,
    };
    let effect = effect(&raw.effect, &cx)?;
    if raw.resolution.is_some() && !matches!(effect, Effect::Require(_) | Effect::Exclude(_)) {
        return Err(cx
            .error("`resolution` is only for `require` and `exclude` effects", "resolution")
            .note("a resolution names the pattern that resolves a conflict; scores and risks cannot conflict"));
    }
    if raw.text.trim().is_empty() {
        return Err(cx
            .error("empty `text`", "text")
            .note("the text is what users read in the report"));
    }
    let examples = raw.examples.unwrap_or_default();
    let fires = examples
        .fires
        .iter()
        .map(|e| example(e, &cx))
        .collect::<Result<Vec<_>, _>>()?;
    let quiet = examples
        .quiet
        .iter()
        .map(|e| example(e, &cx))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Rule {
        id: raw.id.into(),
        criterion,
        when,
        effect_text: effect.describe().into(),
        effect,
        text: raw.text.trim().into(),
        source: raw.source,
        resolution: raw.resolution,
        fires,
        quiet,
        origin: file.to_owned(),
    })
}

fn check_id(id: &str) -> Result<(), &'static str> {
    let mut chars = id.chars();
    match chars.next() {
        None => Err("it is empty"),
        Some(c) if !c.is_ascii_lowercase() => Err("it must start with a lowercase letter"),
        _ if chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') => Ok(()),
        _ => Err("use lowercase ASCII letters, digits and '-'"),
    }
}

const OPERATORS: &[&str] = &["eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte", "set"];
const COMBINATORS: &[&str] = &["all", "any", "not"];

fn condition(json: &Json, cx: &Context<'_>, key: &str) -> Result<Condition, Diagnostic> {
    let Json::Object(map) = json else {
        return Err(cx
            .error(
                format!("`{key}` must be a mapping of fields to values"),
                key,
            )
            .note("example: when: { client: browser, latency_ms: { lt: 50 } }"));
    };
    let mut parts = Vec::with_capacity(map.len());
    for (name, value) in map {
        parts.push(match name.as_str() {
            "all" | "any" => {
                let Json::Array(items) = value else {
                    return Err(cx.error(format!("`{name}` takes a list of conditions"), name));
                };
                let inner = items
                    .iter()
                    .map(|i| condition(i, cx, name))
                    .collect::<Result<Vec<_>, _>>()?;
                if name == "all" {
                    Condition::All(inner)
                } else {
                    Condition::Any(inner)
                }
            }
            "not" => Condition::Not(Box::new(condition(value, cx, name)?)),
            field => {
                let Some(field) = Field::parse(field) else {
                    let mut accepted = Field::names();
                    accepted.extend_from_slice(COMBINATORS);
                    return Err(cx
                        .error(format!("unknown field `{name}` in a condition"), name)
                        .suggest(name, &accepted)
                        .accepted(&accepted));
                };
                test(field, value, cx)?
            }
        });
    }
    Ok(if parts.len() == 1 {
        parts.remove(0)
    } else {
        Condition::All(parts)
    })
}

fn test(field: Field, json: &Json, cx: &Context<'_>) -> Result<Condition, Diagnostic> {
    let Json::Object(ops) = json else {
        return Ok(Condition::Eq(field, literal(field, json, cx)?));
    };
    let mut parts = Vec::new();
    for (op, arg) in ops {
        parts.push(match op.as_str() {
            "eq" => Condition::Eq(field, literal(field, arg, cx)?),
            "ne" => Condition::Not(Box::new(Condition::Eq(field, literal(field, arg, cx)?))),
            "in" | "not_in" => {
                let Json::Array(items) = arg else {
                    return Err(cx.error(format!("`{op}` takes a list of values"), op));
                };
                let values = items
                    .iter()
                    .map(|i| literal(field, i, cx))
                    .collect::<Result<Vec<_>, _>>()?;
                let cond = Condition::In(field, values);
                if op == "in" {
                    cond
                } else {
                    Condition::Not(Box::new(cond))
                }
            }
            "lt" | "lte" | "gt" | "gte" => {
                if field.kind() != Kind::Number {
                    return Err(cx.error(
                        format!(
                            "`{op}` compares numbers, but `{}` is not a number",
                            field.name()
                        ),
                        op,
                    ));
                }
                let Some(bound) = arg.as_u64() else {
                    return Err(cx.error(format!("`{op}` takes a whole number, got `{arg}`"), op));
                };
                let cmp = match op.as_str() {
                    "lt" => Cmp::Lt,
                    "lte" => Cmp::Lte,
                    "gt" => Cmp::Gt,
                    _ => Cmp::Gte,
                };
                Condition::Compare(field, cmp, bound)
            }
            "set" => {
                let Some(expected) = arg.as_bool() else {
                    return Err(cx.error("`set` takes true or false", op));
                };
                Condition::Set(field, expected)
            }
            other => {
                return Err(cx
                    .error(
                        format!("unknown operator `{other}` for `{}`", field.name()),
                        other,
                    )
                    .suggest(other, OPERATORS)
                    .accepted(OPERATORS));
            }
        });
    }
    Ok(if parts.len() == 1 {
        parts.remove(0)
    } else {
        Condition::All(parts)
    })
}

fn literal(field: Field, json: &Json, cx: &Context<'_>) -> Result<Value, Diagnostic> {
    match (field.kind(), json) {
        (Kind::Keyword(names), Json::String(s)) => {
            let i = names.iter().position(|n| n == s).ok_or_else(|| {
                cx.error(format!("unknown value `{s}` for `{}`", field.name()), s)
                    .suggest(s, names)
                    .accepted(names)
            })?;
            Ok(Value::Keyword(u8::try_from(i).unwrap_or(u8::MAX)))
        }
        (Kind::Number, Json::Number(n)) if n.as_u64().is_some() => Ok(Value::Number(n.as_u64())),
        (Kind::Bool, Json::Bool(b)) => Ok(Value::Bool(*b)),
        (kind, other) => {
            let expected = match kind {
                Kind::Keyword(names) => format!("one of {}", names.join(", ")),
                Kind::Number => "a whole number".to_owned(),
                Kind::Bool => "true or false".to_owned(),
            };
            Err(cx.error(
                format!("`{}` takes {expected}, got `{other}`", field.name()),
                field.name(),
            ))
        }
    }
}

fn transport(name: &str, cx: &Context<'_>) -> Result<Transport, Diagnostic> {
    Transport::parse(name).ok_or_else(|| {
        cx.error(format!("unknown transport `{name}`"), name)
            .suggest(name, Transport::NAMES)
            .accepted(Transport::NAMES)
    })
}

fn effect(raw: &RawEffect, cx: &Context<'_>) -> Result<Effect, Diagnostic> {
    let given = [
        raw.score.is_some(),
        raw.require.is_some(),
        raw.exclude.is_some(),
        raw.risk.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(cx
            .error(
                "`effect` must have exactly one of `score`, `require`, `exclude`, `risk`",
                "effect",
            )
            .note("split a rule that does two things into two rules, one criterion each"));
    }
    if let Some(score) = &raw.score {
        let mut points = [0.0; 3];
        for (name, p) in score {
            let t = transport(name, cx)?;
            if !p.is_finite() {
                return Err(cx.error(format!("score for `{name}` must be a finite number"), name));
            }
            points[Transport::ALL.iter().position(|x| *x == t).unwrap_or(0)] = *p;
        }
        return Ok(Effect::Score(points));
    }
    if let Some(t) = &raw.require {
        return Ok(Effect::Require(transport(t, cx)?));
    }
    if let Some(t) = &raw.exclude {
        return Ok(Effect::Exclude(transport(t, cx)?));
    }
    Ok(Effect::Risk(transport(
        raw.risk.as_deref().unwrap_or_default(),
        cx,
    )?))
}

/// A rule example is a partial flow written like an equality condition:
/// `{ client: browser, receivers: 2 }`; unset fields keep their defaults.
fn example(json: &Json, cx: &Context<'_>) -> Result<Facts, Diagnostic> {
    let Json::Object(map) = json else {
        return Err(cx.error(
            "each example must be a mapping of flow fields to values",
            "examples",
        ));
    };
    let mut facts = Facts::defaults();
    for (name, value) in map {
        let field = Field::parse(name).ok_or_else(|| {
            cx.error(format!("unknown field `{name}` in an example"), name)
                .suggest(name, &Field::names())
                .accepted(&Field::names())
        })?;
        facts.set(field, literal(field, value, cx)?);
    }
    Ok(facts)
}

/// Suggests a near id, for `commsadvise rules ID` with a typo.
pub fn suggest_id<'a>(given: &str, ids: &[&'a str]) -> Option<&'a str> {
    did_you_mean(given, ids)
}
