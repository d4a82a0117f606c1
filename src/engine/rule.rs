//! One rule: the serde shape of a `rules/*.yaml` file, and the checked,
//! compiled form the engine evaluates.
//!
//! Loading is two steps (as in ast-grep): serde parses the file into
//! [`RawRule`], which mirrors it exactly, then [`compile`] refuses unknown
//! criteria, fields, operators and values, and builds a [`Rule`]. The
//! second step goes on after a problem, so a file's problems are reported
//! together.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value as Json;
use serde_saphyr::Spanned;

use crate::engine::facts::{Facts, Field, Kind, Value};
use crate::error::{Diagnostic, did_you_mean};
use crate::keywords::keywords;
use crate::spec::model::{Pos, Transport};
use crate::spec::transport::{PerTransport, TransportSet};

keywords! {
    /// The nine criteria of the seed article's comparison table
    /// (docs/rules.md).
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
    /// One of the nine criteria of docs/rules.md.
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
    /// Points added to (or, negative, taken from) each transport, each at
    /// most [`MAX_SCORE`] either way. Read as any value, so that `1e309`,
    /// `.nan` or a word gets a message naming the rule and the transport.
    #[serde(default)]
    pub score: Option<BTreeMap<String, Spanned<Json>>>,
    /// Only this transport, or one of this list of transports, meets the
    /// requirement: `require: kafka`, `require: [grpc, kafka]`. Read as any
    /// value, so that a number or a mapping gets a message naming the rule
    /// and the key rather than serde's "did not match any variant".
    #[serde(default)]
    pub require: Option<Json>,
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

/// The rule's own test cases, checked against `when` when the rule loads.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExamples {
    /// Partial flows on which the condition must hold.
    #[serde(default)]
    pub fires: Vec<Spanned<Json>>,
    /// Partial flows on which the condition must not hold.
    #[serde(default)]
    pub quiet: Vec<Spanned<Json>>,
}

/// The longest rule or resolution id: ids head table columns and every
/// reason in a report, so a longer one is a mistake, not a name.
pub const MAX_ID: usize = 64;

/// The most points one rule gives or takes per transport. The built-in rules
/// use at most 4; the bound keeps every total finite (`1e308` in two rules
/// would sum to infinity) and one user rule from silencing all the others.
pub const MAX_SCORE: f64 = 1000.0;

/// The most problems reported for one rule file. Past it the rest is noise,
/// and placing each one would cost another scan of the file.
const MAX_PROBLEMS: usize = 20;

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
    /// Points per transport.
    Score(PerTransport<f64>),
    /// Only these transports meet the requirement (one, most often).
    Require(TransportSet),
    Exclude(Transport),
    Risk(Transport),
}

impl Effect {
    /// The transport the effect is about: the most favoured for a score.
    pub fn transport(&self) -> Transport {
        match self {
            Effect::Score(points) => {
                let mut best = Transport::ALL[0];
                for (t, p) in points.iter() {
                    if *p > points[best] {
                        best = t;
                    }
                }
                best
            }
            // The first required, in the table's order (the simplest).
            Effect::Require(ts) => ts.iter().next().unwrap_or(Transport::ALL[0]),
            Effect::Exclude(t) | Effect::Risk(t) => *t,
        }
    }

    /// Whether the effect requires a set of transports that holds `t`.
    pub fn requires(&self, t: Transport) -> bool {
        matches!(self, Effect::Require(ts) if ts.contains(t))
    }

    /// Whether the effect decides rather than weighs: a requirement or an
    /// exclusion.
    pub fn is_hard(&self) -> bool {
        matches!(self, Effect::Require(_) | Effect::Exclude(_))
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
            Effect::Score(points) => points
                .iter()
                .filter(|(_, p)| **p != 0.0)
                .map(|(t, p)| format!("{t} {p:+}"))
                .collect::<Vec<_>>()
                .join(", "),
            Effect::Require(ts) => format!("require {}", ts.either()),
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

/// Where a rule's problems are reported (its file, text and id), and the
/// problems found so far.
struct Context<'a> {
    file: &'a str,
    text: &'a str,
    /// The id as messages show it: cut when it is too long to read.
    id: String,
    /// Every problem found: checking goes on after one, so that a file's
    /// problems are reported together (up to [`MAX_PROBLEMS`]).
    problems: RefCell<Vec<Diagnostic>>,
    /// How many problems were found past [`MAX_PROBLEMS`].
    more: Cell<usize>,
    /// The line where the example being checked starts: its problems are
    /// placed at or after it, not at the same word in `when`.
    example_line: Cell<usize>,
}

impl Context<'_> {
    /// A diagnostic pointing at the first `key:` in the file (at or after the
    /// example being checked), since conditions are read as plain values that
    /// no longer carry their position.
    fn error(&self, message: impl std::fmt::Display, key: &str) -> Diagnostic {
        let d = Diagnostic::new(format!("{message} in rule `{}`", self.id), self.file);
        if self.full() {
            // Not shown: only counted.
            return d;
        }
        let found = locate_key_from(self.text, key, self.example_line.get())
            .or_else(|| locate_key(self.text, key));
        match found {
            Some(pos) => d.at(self.text, pos, key.chars().count().max(1)),
            None => d,
        }
    }

    fn full(&self) -> bool {
        self.problems.borrow().len() >= MAX_PROBLEMS
    }

    /// Records a problem and goes on checking; `problem` is only built when
    /// it will be shown.
    fn record(&self, problem: impl FnOnce() -> Diagnostic) {
        if self.full() {
            self.more.set(self.more.get() + 1);
        } else {
            let problem = problem();
            self.problems.borrow_mut().push(problem);
        }
    }

    /// Records a problem. `None` tells the caller that this part of the rule
    /// did not compile; the problem says why.
    fn refuse<T>(&self, problem: Diagnostic) -> Option<T> {
        self.record(|| problem);
        None
    }

    /// The problems found, in file order, with a last line counting those
    /// not shown.
    fn into_problems(self) -> Vec<Diagnostic> {
        let mut problems = self.problems.into_inner();
        // Problems that could not be placed go last.
        problems.sort_by_key(|d| d.pos.map_or((usize::MAX, 0), |p| (p.line, p.column)));
        let more = self.more.get();
        if more > 0 {
            problems.push(
                Diagnostic::new(
                    format!("{more} more problems in rule `{}` not shown", self.id),
                    self.file,
                )
                .note("fix the problems above and run again"),
            );
        }
        problems
    }
}

/// Checks every item, going on after a failure so that each one's problems
/// are recorded; `None` when any failed.
fn each<T, U>(
    items: impl IntoIterator<Item = T>,
    check: impl FnMut(T) -> Option<U>,
) -> Option<Vec<U>> {
    let checked: Vec<Option<U>> = items.into_iter().map(check).collect();
    checked.into_iter().collect()
}

/// `text` cut to `max` characters, with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max).collect();
    cut.push('…');
    cut
}

/// The position of the first `key:` (or `key` as a list item or value) in `text`.
pub fn locate_key(text: &str, key: &str) -> Option<Pos> {
    locate_key_from(text, key, 1)
}

/// [`locate_key`] from line `first` (1-based) on.
fn locate_key_from(text: &str, key: &str, first: usize) -> Option<Pos> {
    if key.is_empty() {
        return None;
    }
    for (n, line) in text.lines().enumerate().skip(first.saturating_sub(1)) {
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

/// Checks a raw rule and compiles it, or returns every problem found, in
/// file order.
pub fn compile(raw: RawRule, file: &str, text: &str) -> Result<Rule, Vec<Diagnostic>> {
    let cx = Context {
        file,
        text,
        id: shorten(&raw.id, MAX_ID),
        problems: RefCell::new(Vec::new()),
        more: Cell::new(0),
        example_line: Cell::new(1),
    };
    if let Err(why) = check_id(&raw.id) {
        let d = Diagnostic::new(format!("invalid rule id `{}`: {why}", cx.id), file);
        let d = match locate_key(text, &raw.id) {
            Some(pos) => d.at(text, pos, raw.id.chars().count()),
            None => d,
        };
        cx.record(|| {
            d.note("an id is lowercase ASCII letters, digits and '-', such as `replay-needs-a-log`")
        });
    }
    let criterion = Criterion::parse(&raw.criterion).or_else(|| {
        cx.refuse(
            cx.error(
                format!("unknown criterion `{}`", raw.criterion),
                &raw.criterion,
            )
            .suggest(&raw.criterion, Criterion::NAMES)
            .accepted(Criterion::NAMES),
        )
    });
    let when = match &raw.when {
        None => Some(Condition::Always),
        Some(json) => condition(json, &cx, "when"),
    };
    let effect = effect(&raw.effect, &cx);
    if let Some(resolution) = &raw.resolution {
        if effect
            .as_ref()
            .is_some_and(|e| !matches!(e, Effect::Require(_) | Effect::Exclude(_)))
        {
            cx.record(|| cx
                .error("`resolution` is only for `require` and `exclude` effects", "resolution")
                .note("a resolution names the pattern that resolves a conflict; scores and risks cannot conflict"));
        }
        if resolution.id.chars().count() > MAX_ID {
            cx.record(|| {
                cx.error(
                    format!(
                        "resolution id `{}` is longer than {MAX_ID} characters",
                        shorten(&resolution.id, MAX_ID)
                    ),
                    &resolution.id,
                )
                .note("a resolution id names a pattern in a few words")
            });
        }
    }
    if raw.text.trim().is_empty() {
        cx.record(|| {
            cx.error("empty `text`", "text")
                .note("the text is what users read in the report")
        });
    }
    let examples = raw.examples.unwrap_or_default();
    let fires = each(&examples.fires, |e| example(e, &cx));
    let quiet = each(&examples.quiet, |e| example(e, &cx));
    if let (Some(when), Some(fires), Some(quiet)) = (&when, &fires, &quiet) {
        let fires = examples.fires.iter().zip(fires).map(|(e, f)| (e, f, true));
        let quiet = examples.quiet.iter().zip(quiet).map(|(e, f)| (e, f, false));
        for (written, facts, fire) in fires.chain(quiet) {
            if when.holds(facts) != fire {
                cx.record(|| contradiction(written, fire, when, &cx));
            }
        }
    }
    let problems = cx.into_problems();
    let (Some(criterion), Some(when), Some(effect), Some(fires), Some(quiet), true) =
        (criterion, when, effect, fires, quiet, problems.is_empty())
    else {
        return Err(problems);
    };
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

fn check_id(id: &str) -> Result<(), String> {
    let mut chars = id.chars();
    let length = id.chars().count();
    match chars.next() {
        None => Err("it is empty".to_owned()),
        Some(c) if !c.is_ascii_lowercase() => {
            Err("it must start with a lowercase letter".to_owned())
        }
        _ if length > MAX_ID => Err(format!(
            "it is {length} characters long, over the limit of {MAX_ID}"
        )),
        _ if chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') => Ok(()),
        _ => Err("use lowercase ASCII letters, digits and '-'".to_owned()),
    }
}

/// An example whose outcome is not the one it is filed under: the rule's
/// condition and its own test case disagree.
fn contradiction(
    written: &Spanned<Json>,
    fire: bool,
    when: &Condition,
    cx: &Context<'_>,
) -> Diagnostic {
    let (list, outcome) = if fire {
        ("fires", "does not match")
    } else {
        ("quiet", "matches")
    };
    let fields = match &written.value {
        Json::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                Json::String(s) => format!("{k}: {s}"),
                other => format!("{k}: {other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    };
    let shown = if fields.is_empty() {
        "{}".to_owned()
    } else {
        format!("{{ {} }}", shorten(&fields, 80))
    };
    let message = format!("example `{shown}` under `{list}` {outcome} `when`");
    let d = Diagnostic::new(format!("{message} in rule `{}`", cx.id), cx.file);
    let at = crate::yaml::pos(written.referenced);
    let width = example_width(cx.text, at);
    d.at(cx.text, at, width).note(format!(
        "`when` is: {}; fix the example or the condition",
        shorten(&when.describe(), 200)
    ))
}

/// How many columns the example starting at `at` covers on its line: a flow
/// mapping `{ … }` up to its closing brace, else the rest of the line.
fn example_width(text: &str, at: Pos) -> usize {
    let line = text.lines().nth(at.line.saturating_sub(1)).unwrap_or("");
    let rest: Vec<char> = line.chars().skip(at.column.saturating_sub(1)).collect();
    if rest.first() == Some(&'{') {
        let mut depth = 0usize;
        for (i, c) in rest.iter().enumerate() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return i + 1;
                    }
                }
                _ => {}
            }
        }
    }
    let shown: String = rest.iter().collect();
    shown
        .split(" #")
        .next()
        .unwrap_or("")
        .trim_end()
        .chars()
        .count()
        .max(1)
}

const OPERATORS: &[&str] = &["eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte", "set"];
const COMBINATORS: &[&str] = &["all", "any", "not"];

fn condition(json: &Json, cx: &Context<'_>, key: &str) -> Option<Condition> {
    let Json::Object(map) = json else {
        return cx.refuse(
            cx.error(
                format!("`{key}` must be a mapping of fields to values"),
                key,
            )
            .note("example: when: { client: browser, latency_ms: { lt: 50 } }"),
        );
    };
    let mut parts = each(map, |(name, value)| match name.as_str() {
        "all" | "any" => {
            let Json::Array(items) = value else {
                return cx.refuse(cx.error(format!("`{name}` takes a list of conditions"), name));
            };
            let inner = each(items, |i| condition(i, cx, name))?;
            Some(if name == "all" {
                Condition::All(inner)
            } else {
                Condition::Any(inner)
            })
        }
        "not" => Some(Condition::Not(Box::new(condition(value, cx, name)?))),
        field => {
            let Some(field) = Field::parse(field) else {
                let mut accepted = Field::names();
                accepted.extend_from_slice(COMBINATORS);
                return cx.refuse(
                    cx.error(format!("unknown field `{name}` in a condition"), name)
                        .suggest(name, &accepted)
                        .accepted(&accepted),
                );
            };
            test(field, value, cx)
        }
    })?;
    Some(if parts.len() == 1 {
        parts.remove(0)
    } else {
        Condition::All(parts)
    })
}

fn test(field: Field, json: &Json, cx: &Context<'_>) -> Option<Condition> {
    let Json::Object(ops) = json else {
        return Some(Condition::Eq(field, literal(field, json, cx)?));
    };
    let mut parts = each(ops, |(op, arg)| {
        Some(match op.as_str() {
            "eq" => Condition::Eq(field, literal(field, arg, cx)?),
            "ne" => Condition::Not(Box::new(Condition::Eq(field, literal(field, arg, cx)?))),
            "in" | "not_in" => {
                let Json::Array(items) = arg else {
                    return cx.refuse(cx.error(format!("`{op}` takes a list of values"), op));
                };
                let values = each(items, |i| literal(field, i, cx))?;
                let cond = Condition::In(field, values);
                if op == "in" {
                    cond
                } else {
                    Condition::Not(Box::new(cond))
                }
            }
            "lt" | "lte" | "gt" | "gte" => {
                if field.kind() != Kind::Number {
                    return cx.refuse(cx.error(
                        format!(
                            "`{op}` compares numbers, but `{}` is not a number",
                            field.name()
                        ),
                        op,
                    ));
                }
                let Some(bound) = arg.as_u64() else {
                    return cx
                        .refuse(cx.error(format!("`{op}` takes a whole number, got `{arg}`"), op));
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
                    return cx.refuse(cx.error("`set` takes true or false", op));
                };
                Condition::Set(field, expected)
            }
            other => {
                return cx.refuse(
                    cx.error(
                        format!("unknown operator `{other}` for `{}`", field.name()),
                        other,
                    )
                    .suggest(other, OPERATORS)
                    .accepted(OPERATORS),
                );
            }
        })
    })?;
    Some(if parts.len() == 1 {
        parts.remove(0)
    } else {
        Condition::All(parts)
    })
}

fn literal(field: Field, json: &Json, cx: &Context<'_>) -> Option<Value> {
    match (field.kind(), json) {
        (Kind::Keyword(names), Json::String(s)) => {
            let Some(i) = names.iter().position(|n| n == s) else {
                return cx.refuse(
                    cx.error(format!("unknown value `{s}` for `{}`", field.name()), s)
                        .suggest(s, names)
                        .accepted(names),
                );
            };
            Some(Value::Keyword(u8::try_from(i).unwrap_or(u8::MAX)))
        }
        (Kind::Number, Json::Number(n)) if n.as_u64().is_some() => Some(Value::Number(n.as_u64())),
        (Kind::Bool, Json::Bool(b)) => Some(Value::Bool(*b)),
        (kind, other) => {
            let expected = match kind {
                Kind::Keyword(names) => format!("one of {}", names.join(", ")),
                Kind::Number => "a whole number".to_owned(),
                Kind::Bool => "true or false".to_owned(),
            };
            cx.refuse(cx.error(
                format!("`{}` takes {expected}, got `{other}`", field.name()),
                field.name(),
            ))
        }
    }
}

fn transport(name: &str, cx: &Context<'_>) -> Option<Transport> {
    Transport::parse(name).or_else(|| {
        cx.refuse(
            cx.error(format!("unknown transport `{name}`"), name)
                .suggest(name, Transport::NAMES)
                .accepted(Transport::NAMES),
        )
    })
}

fn effect(raw: &RawEffect, cx: &Context<'_>) -> Option<Effect> {
    let given = [
        raw.score.is_some(),
        raw.require.is_some(),
        raw.exclude.is_some(),
        raw.risk.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return cx.refuse(
            cx.error(
                "`effect` must have exactly one of `score`, `require`, `exclude`, `risk`",
                "effect",
            )
            .note("split a rule that does two things into two rules, one criterion each"),
        );
    }
    if let Some(score) = &raw.score {
        let mut points = PerTransport([0.0; _]);
        let given = each(score, |(name, p)| {
            let t = transport(name, cx);
            // `!(… <= …)` refuses NaN too.
            let Some(value) = p.value.as_f64().filter(|v| v.abs() <= MAX_SCORE) else {
                cx.record(|| {
                    let at = crate::yaml::pos(p.referenced);
                    let written = match &p.value {
                        Json::Array(_) | Json::Object(_) => p.value.to_string(),
                        _ => crate::yaml::scalar_at(cx.text, at),
                    };
                    Diagnostic::new(
                        format!(
                            "score `{}` for `{name}` is not a number from -{MAX_SCORE} to {MAX_SCORE} in rule `{}`",
                            shorten(&written, 40),
                            cx.id
                        ),
                        cx.file,
                    )
                    .at(cx.text, at, written.chars().count())
                    .note("the built-in rules use -4 to 4; the bound keeps every total finite")
                });
                return None;
            };
            Some((t?, value))
        })?;
        for (t, p) in given {
            points[t] = p;
        }
        return Some(Effect::Score(points));
    }
    if let Some(required) = &raw.require {
        // One transport, or a list of them.
        let names: Option<Vec<&str>> = match required {
            Json::String(name) => Some(vec![name.as_str()]),
            Json::Array(items) => items.iter().map(Json::as_str).collect(),
            _ => None,
        };
        let Some(names) = names else {
            return cx.refuse(
                cx.error(
                    format!(
                        "`require` must name a transport or a list of transports (not `{}`)",
                        shorten(&required.to_string(), 40)
                    ),
                    "require",
                )
                .note("write `require: kafka` or `require: [rest, grpc]`")
                .accepted(Transport::NAMES),
            );
        };
        if names.is_empty() {
            return cx.refuse(
                cx.error("`require` lists no transport", "require")
                    .accepted(Transport::NAMES),
            );
        }
        let set = each(&names, |name| transport(name, cx))?;
        return Some(Effect::Require(set.into_iter().collect()));
    }
    if let Some(t) = &raw.exclude {
        return Some(Effect::Exclude(transport(t, cx)?));
    }
    Some(Effect::Risk(transport(
        raw.risk.as_deref().unwrap_or_default(),
        cx,
    )?))
}

/// A rule example is a partial flow written like an equality condition:
/// `{ client: browser, receivers: 2 }`; unset fields keep their defaults.
fn example(json: &Spanned<Json>, cx: &Context<'_>) -> Option<Facts> {
    let at = crate::yaml::pos(json.referenced);
    let Json::Object(map) = &json.value else {
        cx.record(|| {
            Diagnostic::new(
                format!(
                    "each example must be a mapping of flow fields to values in rule `{}`",
                    cx.id
                ),
                cx.file,
            )
            .at(cx.text, at, example_width(cx.text, at))
        });
        return None;
    };
    let mut facts = Facts::defaults();
    cx.example_line.set(at.line);
    let set = each(map, |(name, value)| {
        let Some(field) = Field::parse(name) else {
            return cx.refuse(
                cx.error(format!("unknown field `{name}` in an example"), name)
                    .suggest(name, &Field::names())
                    .accepted(&Field::names()),
            );
        };
        Some((field, literal(field, value, cx)?))
    });
    cx.example_line.set(1);
    for (field, value) in set? {
        facts.set(field, value);
    }
    Some(facts)
}

/// Suggests a near id, for `commsadvise rules ID` with a typo.
pub fn suggest_id<'a>(given: &str, ids: &[&'a str]) -> Option<&'a str> {
    did_you_mean(given, ids)
}

#[cfg(test)]
mod tests {
    use crate::engine::registry::parse;

    /// A rule file with `id`, a criterion and `text` around the given lines.
    fn rule(id: &str, rest: &str) -> String {
        format!("id: {id}\ncriterion: Use Cases\n{rest}\ntext: x\n")
    }

    fn messages(text: &str) -> Vec<String> {
        match parse("r.yaml", text) {
            Ok(_) => Vec::new(),
            Err(problems) => problems.into_iter().map(|d| d.message).collect(),
        }
    }

    /// The message of the one problem `text` has.
    fn only_problem(text: &str) -> String {
        let mut found = messages(text);
        assert_eq!(found.len(), 1, "{text}\n{found:#?}");
        found.remove(0)
    }

    #[test]
    fn reports_every_problem_of_a_rule_in_file_order() {
        let text = "id: my-rule\ncriterion: Latency\nwhen: { clinet: browser, latency_ms: { below: 5 } }\neffect: { score: { kafak: 1 } }\ntext: ' '\n";
        let found = messages(text);
        assert_eq!(found.len(), 5, "{found:#?}");
        assert!(found[0].starts_with("unknown criterion"));
        assert!(found[1].starts_with("unknown field `clinet`"));
        assert!(found[2].starts_with("unknown operator `below`"));
        assert!(found[3].starts_with("unknown transport `kafak`"));
        assert!(found[4].starts_with("empty `text`"));
    }

    #[test]
    fn refuses_a_require_that_is_neither_a_transport_nor_a_list_naming_the_rule() {
        for (value, shown) in [
            ("5", "5"),
            ("{ a: 1 }", "{\"a\":1}"),
            ("[rest, 2]", "[\"rest\",2]"),
        ] {
            let text = rule("bad-require", &format!("effect: {{ require: {value} }}"));
            assert_eq!(
                only_problem(&text),
                format!(
                    "`require` must name a transport or a list of transports (not `{shown}`) in rule `bad-require`"
                ),
                "{value}"
            );
        }
    }

    #[test]
    fn require_takes_one_transport_or_a_list() {
        use crate::spec::model::Transport;
        let one = parse("r.yaml", &rule("one", "effect: { require: kafka }")).expect("loads");
        assert_eq!(one.effect_text.as_ref(), "require kafka");
        let list = parse(
            "r.yaml",
            &rule("list", "effect: { require: [kafka, grpc] }"),
        )
        .expect("loads");
        assert_eq!(list.effect_text.as_ref(), "require grpc or kafka");
        assert!(list.effect.requires(Transport::Kafka) && !list.effect.requires(Transport::Rest));
        assert_eq!(
            only_problem(&rule("bad", "effect: { require: [kafka, nats] }")),
            "unknown transport `nats` in rule `bad`"
        );
        assert_eq!(
            only_problem(&rule("empty", "effect: { require: [] }")),
            "`require` lists no transport in rule `empty`"
        );
    }

    #[test]
    fn bounds_the_length_of_an_id() {
        let longest = format!("a{}", "b".repeat(super::MAX_ID - 1));
        assert!(messages(&rule(&longest, "effect: { score: { rest: 1 } }")).is_empty());
        let found = only_problem(&rule(
            &format!("{longest}b"),
            "effect: { score: { rest: 1 } }",
        ));
        assert!(
            found.contains("65 characters long, over the limit of 64"),
            "{found}"
        );
    }

    #[test]
    fn bounds_the_length_of_a_resolution_id() {
        let text = rule(
            "mine",
            &format!(
                "effect: {{ require: kafka }}\nresolution: {{ id: {}, text: x }}",
                "r".repeat(65)
            ),
        );
        assert!(only_problem(&text).contains("longer than 64 characters"));
    }

    #[test]
    fn accepts_scores_up_to_the_bound_and_refuses_beyond_it() {
        assert!(
            messages(&rule(
                "mine",
                "effect: { score: { rest: 1000, grpc: -1000, kafka: 0.5 } }"
            ))
            .is_empty()
        );
        for score in [
            "1000.5", "-1e308", "1e309", ".inf", "-.inf", ".nan", "high", "[1]", "~",
        ] {
            let found = only_problem(&rule(
                "mine",
                &format!("effect: {{ score: {{ rest: {score} }} }}"),
            ));
            assert!(
                found.contains("for `rest` is not a number from -1000 to 1000 in rule `mine`"),
                "{score}: {found}"
            );
        }
    }

    #[test]
    fn refuses_examples_that_contradict_the_condition() {
        let text = rule(
            "mine",
            "when: { client: browser }\neffect: { score: { rest: 1 } }\nexamples:\n  fires: [{ client: browser }, { client: internal }]\n  quiet: [{ client: browser, receivers: 2 }]",
        );
        let found = messages(&text);
        assert_eq!(
            found,
            [
                "example `{ client: internal }` under `fires` does not match `when` in rule `mine`",
                "example `{ client: browser, receivers: 2 }` under `quiet` matches `when` in rule `mine`",
            ]
        );
    }

    #[test]
    fn shows_at_most_twenty_problems_and_counts_the_rest() {
        let many = vec!["{ clinet: browser }"; 1000].join(", ");
        let found = messages(&rule(
            "mine",
            &format!("when: {{ any: [{many}] }}\neffect: {{ score: {{ rest: 1 }} }}"),
        ));
        assert_eq!(found.len(), super::MAX_PROBLEMS + 1);
        assert_eq!(
            found[super::MAX_PROBLEMS],
            "980 more problems in rule `mine` not shown"
        );
    }

    #[test]
    fn places_a_problem_in_an_example_at_the_example() {
        let text = rule(
            "mine",
            "when: { latency_ms: { lt: 50 } }\neffect: { score: { rest: 1 } }\nexamples:\n  fires: [{ latency_ms: 5 }]\n  quiet:\n    - { latency_ms: fast }",
        );
        let problems = parse("r.yaml", &text).expect_err("refused");
        assert_eq!(problems.len(), 1);
        let at = problems[0].pos.expect("placed");
        // Not at `latency_ms` in `when` (line 3), where the search used to stop.
        assert_eq!((at.line, at.column), (8, 9));
    }

    #[test]
    fn accepts_examples_that_agree_with_the_condition() {
        let text = rule(
            "mine",
            "when: { latency_ms: { lt: 50 } }\neffect: { score: { grpc: 1 } }\nexamples:\n  fires: [{ latency_ms: 10 }]\n  quiet: [{ latency_ms: 50 }, {}]",
        );
        assert!(messages(&text).is_empty());
    }
}
