//! The decision procedure: a pure function from a flows file and a rule set
//! to one [`Recommendation`] per flow.
//!
//! Hard rules decide first (an `exclude` is a physical impossibility, a
//! `require` is something only one transport offers); scores pick among what
//! is left; ties go to the simpler transport (REST, then gRPC, then Kafka),
//! following the article's "start with REST". Requirements that nothing left
//! can meet become conflicts, each with the pattern that resolves it; so does
//! a transport the flow's needs point at but an exclusion takes away (a
//! waiting caller, a browser or an outside party that cannot use it), since
//! the flow still needs what that transport would have given.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;

use crate::engine::facts::{Facts, Field, Kind, Value, display_value};
use crate::engine::registry::RuleSet;
use crate::engine::rule::{Cmp, Criterion, Effect, RawResolution, Rule};
use crate::engine::sizing::size_topic_in;
pub use crate::engine::sizing::{
    CONSUMER_RATE, KafkaSizing, MIN_PARTITIONS, PARTITION_RATE, REPLICATION, Sizing, size_topic,
};
use crate::engine::system::{Finding, findings};
use crate::spec::model::{Client, Flow, FlowsFile, Service, Transport};
use crate::spec::transport::{PerTransport, TransportSet};

/// A decision won by this many points or fewer is reported as a close call.
pub const CLOSE_CALL: f64 = 1.0;

/// The whole answer for one flows file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub version: u32,
    pub system: String,
    pub flows: Vec<Recommendation>,
    /// What the chosen transports add up to across the system: long or
    /// cyclic synchronous chains, unmet budgets, weak points.
    pub findings: Vec<Finding>,
}

/// How the choice was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// The flow pins its transport.
    Pinned,
    /// Hard rules (require / exclude, and `transports`) left one candidate.
    Requirement,
    /// The highest score among the candidates.
    Score,
}

/// The recommendation for one flow (docs/output.md, "Each flow").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub name: String,
    pub from: String,
    pub to: Vec<String>,
    pub transport: Transport,
    pub pinned: bool,
    /// What the rules pick, which differs from `transport` only when pinned.
    pub rules_choice: Transport,
    pub decided_by: Decision,
    pub scores: Scores,
    /// The best other transport that was a candidate, when scores decided.
    pub runner_up: Option<Transport>,
    /// Score of the choice minus the runner-up's: how close the call was.
    pub margin: Option<f64>,
    /// Scores decided, and by [`CLOSE_CALL`] point or less: a change of one
    /// need could tip it (`flips` says which).
    pub close_call: bool,
    /// How the chosen transport reaches this caller when it is not the
    /// transport's native protocol: gRPC for a browser goes through grpc-web
    /// or JSON transcoding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<&'static str>,
    /// Single-field changes that would change the rules' choice.
    ///
    /// These four are shared (`Arc`), not copied, between flows of the same
    /// facts and pin, which reach the same verdict (see [`recommend_with`]).
    pub flips: Arc<[Flip]>,
    pub reasons: Arc<[Reason]>,
    pub risks: Arc<[Risk]>,
    pub conflicts: Arc<[Conflict]>,
    /// Topic sizing, when Kafka carries the flow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka: Option<KafkaSizing>,
}

/// The total score of each transport; in JSON, a map from each
/// transport's name to its score.
pub type Scores = PerTransport<f64>;

/// A rule that fired for the flow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    pub rule: Arc<str>,
    pub criterion: Criterion,
    pub transport: Transport,
    /// What the rule did: `rest +3, grpc -2`, `require kafka`, `exclude kafka`.
    pub effect: Arc<str>,
    /// Whether the rule required or excluded [`Self::transport`] rather
    /// than scored it: what readers of a report decide on, so they need not
    /// read it back out of `effect`.
    #[serde(skip)]
    pub hard: bool,
    /// The points the rule gave the chosen transport (0 for hard rules).
    pub points: f64,
    pub text: Arc<str>,
}

/// A pitfall of the chosen transport that applies to this flow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Risk {
    pub id: Arc<str>,
    pub criterion: Criterion,
    pub text: Arc<str>,
    /// The condition on the flow under which the risk applies, in the rules'
    /// own syntax (`delivery = at-least-once`, or `always` for every flow
    /// the transport carries).
    pub when: String,
}

/// A requirement the chosen transport cannot meet, and how to resolve it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conflict {
    pub id: String,
    pub kind: ConflictKind,
    pub text: String,
    /// The rules whose requirements clash.
    pub rules: Vec<String>,
}

/// What clashes in a [`Conflict`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConflictKind {
    /// A requirement the chosen transport does not meet: a rule rules the
    /// required transport out, `transports` leaves it out, or the flow pins
    /// another one.
    Unmet,
    /// The chosen transport is one a rule rules out for this flow; only the
    /// pin or `transports` left it. The flow cannot work as chosen.
    RuledOut,
    /// A rule rules out the transport the flow's scores favour, or the one an
    /// internal caller would get (a bridging exclusion: a browser, an outside
    /// party); the resolution is how to get what it would have given.
    Displaced,
}

/// "would be grpc if client were internal".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flip {
    pub field: &'static str,
    pub value: String,
    pub transport: Transport,
}

impl Flip {
    pub fn sentence(&self) -> String {
        format!(
            "would be {} if {} were {}",
            self.transport, self.field, self.value
        )
    }
}

/// Recommends a transport for every flow of `file`, with Kafka topics sized
/// by the documented defaults.
pub fn recommend(file: &FlowsFile, rules: &RuleSet) -> Report {
    recommend_with(file, rules, &Sizing::default())
}

/// [`recommend`] with the team's own sizing figures.
pub fn recommend_with(file: &FlowsFile, rules: &RuleSet, sizing: &Sizing) -> Report {
    let allowed: TransportSet = file.transports.iter().copied().collect();
    // What the rules conclude depends only on a flow's facts and its pin, and
    // large systems repeat the same few shapes of flow many times: each
    // distinct one is evaluated once, and later flows of the same shape copy
    // the verdict of the first (the index into `flows`).
    let mut first_of: HashMap<(Facts, Option<Transport>), usize> = HashMap::new();
    let mut flows: Vec<Recommendation> = Vec::with_capacity(file.flows.len());
    for flow in &file.flows {
        let facts = Facts::in_file(flow, file);
        let recommendation = match first_of.entry((facts, flow.transport)) {
            Entry::Occupied(first) => {
                same_verdict(&flows[*first.get()], flow, &file.services, sizing)
            }
            Entry::Vacant(slot) => {
                slot.insert(flows.len());
                recommend_flow(flow, &facts, allowed, rules, &file.services, sizing)
            }
        };
        flows.push(recommendation);
    }
    let transports: Vec<Transport> = flows.iter().map(|r| r.transport).collect();
    let findings = findings(file, &transports);
    Report {
        version: 1,
        system: file.system.clone(),
        flows,
        findings,
    }
}

/// The outcome of the hard rules and the scores, before pinning.
struct Choice {
    pick: Transport,
    points: Scores,
    candidates: TransportSet,
    /// The transports fired rules exclude, and those they require.
    excluded: TransportSet,
    required: TransportSet,
}

/// Picks a transport from the deciding rules that fired.
fn choose(fired: &[bool], allowed: TransportSet, rules: &[Rule]) -> Choice {
    let mut tally = Tally::EMPTY;
    for (rule, _) in rules.iter().zip(fired).filter(|(_, f)| **f) {
        tally.add(&rule.effect);
    }
    tally.decide(allowed)
}

/// The sum of what fired rules did: points, and the hard constraints.
#[derive(Debug, Clone, Copy)]
struct Tally {
    points: Scores,
    excluded: TransportSet,
    required: TransportSet,
}

impl Tally {
    const EMPTY: Tally = Tally {
        points: PerTransport([0.0; _]),
        excluded: TransportSet::EMPTY,
        required: TransportSet::ALL,
    };

    fn add(&mut self, effect: &Effect) {
        match effect {
            Effect::Score(p) => {
                for (total, add) in self.points.0.iter_mut().zip(&p.0) {
                    *total += add;
                }
            }
            Effect::Exclude(t) => self.excluded.insert(*t),
            Effect::Require(ts) => self.required = self.required.and(*ts),
            Effect::Risk(_) => {}
        }
    }

    fn decide(&self, allowed: TransportSet) -> Choice {
        let mut candidates = allowed.without(self.excluded);
        if candidates.is_empty() {
            candidates = allowed;
        }
        if !candidates.and(self.required).is_empty() {
            candidates = candidates.and(self.required);
        }
        let pick = best(candidates, &self.points, None).unwrap_or(Transport::Rest);
        Choice {
            pick,
            points: self.points,
            candidates,
            excluded: self.excluded,
            required: self.required,
        }
    }
}

/// The highest-scoring transport in `candidates` other than `except`; ties go
/// to the earlier (simpler) transport.
fn best(candidates: TransportSet, points: &Scores, except: Option<Transport>) -> Option<Transport> {
    let mut best: Option<Transport> = None;
    for t in candidates.iter() {
        if Some(t) == except {
            continue;
        }
        if best.is_none_or(|b| points[t] > points[b]) {
            best = Some(t);
        }
    }
    best
}

/// The recommendation for `flow`, whose facts and pin are those of `like`:
/// the same verdict, with the flow's own names and topic sizing.
fn same_verdict(
    like: &Recommendation,
    flow: &Flow,
    services: &BTreeMap<String, Service>,
    sizing: &Sizing,
) -> Recommendation {
    Recommendation {
        name: flow.name.clone(),
        from: flow.from.clone(),
        to: flow.to.clone(),
        transport: like.transport,
        pinned: like.pinned,
        rules_choice: like.rules_choice,
        decided_by: like.decided_by,
        scores: like.scores,
        runner_up: like.runner_up,
        margin: like.margin,
        close_call: like.close_call,
        via: like.via,
        flips: Arc::clone(&like.flips),
        reasons: Arc::clone(&like.reasons),
        risks: Arc::clone(&like.risks),
        conflicts: Arc::clone(&like.conflicts),
        kafka: (like.transport == Transport::Kafka).then(|| size_topic_in(flow, services, sizing)),
    }
}

fn recommend_flow(
    flow: &Flow,
    facts: &Facts,
    allowed: TransportSet,
    rules: &RuleSet,
    services: &BTreeMap<String, Service>,
    sizing: &Sizing,
) -> Recommendation {
    let facts = *facts;
    let deciding = rules.deciding();
    let fired: Vec<bool> = deciding.iter().map(|r| r.when.holds(&facts)).collect();
    let Choice {
        pick: choice,
        points,
        candidates,
        excluded,
        required,
    } = choose(&fired, allowed, deciding);
    let transport = flow.transport.unwrap_or(choice);
    let pinned = flow.transport.is_some();

    let runner_up = best(candidates, &points, Some(choice));
    let decided_by = if pinned {
        Decision::Pinned
    } else if runner_up.is_none() {
        Decision::Requirement
    } else {
        Decision::Score
    };
    let margin = match (decided_by, runner_up) {
        (Decision::Score, Some(r)) => Some(points[choice] - points[r]),
        _ => None,
    };

    let fired_rules: Vec<&Rule> = deciding
        .iter()
        .zip(&fired)
        .filter(|(_, f)| **f)
        .map(|(r, _)| r)
        .collect();
    let reasons = reasons(&fired_rules, transport, &points);
    let unmet = Unmet {
        chosen: transport,
        pinned,
        allowed,
        displaced: displaced_favourite(allowed, excluded, required, &points, choice, transport),
        inside: fired_rules
            .iter()
            .any(|r| r.resolution.as_ref().is_some_and(|x| x.bridge))
            .then(|| from_inside(&facts, allowed, deciding)),
        points,
    };
    let conflicts = conflicts(&fired_rules, &unmet);
    let risks = rules
        .risks()
        .iter()
        .filter(|r| r.effect == Effect::Risk(transport) && r.when.holds(&facts))
        .map(|r| Risk {
            id: r.id.clone(),
            criterion: r.criterion,
            text: r.text.clone(),
            when: r.when.describe(),
        })
        .collect();

    Recommendation {
        name: flow.name.clone(),
        from: flow.from.clone(),
        to: flow.to.clone(),
        transport,
        pinned,
        rules_choice: choice,
        decided_by,
        scores: points,
        runner_up: if decided_by == Decision::Score {
            runner_up
        } else {
            None
        },
        margin,
        close_call: margin.is_some_and(|m| m <= CLOSE_CALL),
        via: (transport == Transport::Grpc && facts.client == Client::Browser)
            .then_some("grpc-web or JSON transcoding"),
        flips: flips(&facts, &fired, allowed, rules, choice).into(),
        reasons: reasons.into(),
        risks,
        conflicts: conflicts.into(),
        kafka: (transport == Transport::Kafka).then(|| size_topic_in(flow, services, sizing)),
    }
}

/// Every deciding rule that fired, so the top reasons explain the choice:
/// hard rules that decided it first (requirements, and exclusions of a
/// transport that scored at least as well as the choice), then scores by
/// the points they gave the chosen transport, then exclusions of transports
/// that would have lost anyway.
fn reasons(fired: &[&Rule], chosen: Transport, points: &Scores) -> Vec<Reason> {
    let required = |t: Transport| fired.iter().any(|r| r.effect.requires(t));
    let rank = |effect: &Effect| -> u8 {
        match effect {
            Effect::Require(_) => 0,
            Effect::Exclude(t) if points[*t] >= points[chosen] || required(*t) => 0,
            Effect::Exclude(_) => 2,
            Effect::Score(_) | Effect::Risk(_) => 1,
        }
    };
    let mut ranked: Vec<(u8, Reason)> = fired
        .iter()
        .map(|rule| {
            let reason = Reason {
                rule: rule.id.clone(),
                criterion: rule.criterion,
                // A requirement met by the chosen transport is about it: a
                // `require: [rest, grpc]` that chose grpc says grpc.
                transport: if rule.effect.requires(chosen) {
                    chosen
                } else {
                    rule.effect.transport()
                },
                effect: Arc::clone(&rule.effect_text),
                hard: rule.effect.is_hard(),
                points: match &rule.effect {
                    Effect::Score(p) => p[chosen],
                    _ => 0.0,
                },
                text: rule.text.clone(),
            };
            (rank(&rule.effect), reason)
        })
        .collect();
    ranked.sort_by(|(ra, a), (rb, b)| {
        ra.cmp(rb)
            .then(b.points.abs().total_cmp(&a.points.abs()))
            .then_with(|| a.rule.cmp(&b.rule))
    });
    let mut reasons: Vec<Reason> = ranked.into_iter().map(|(_, r)| r).collect();
    if reasons.is_empty() {
        // User rules can replace every built-in one that would fire; a
        // report must still say why it chose what it chose (docs/output.md).
        reasons.push(Reason {
            rule: "no-rule-fired".into(),
            criterion: Criterion::UseCases,
            transport: chosen,
            effect: "none".into(),
            hard: false,
            points: 0.0,
            text: format!(
                "No rule fired for this flow, so the simplest allowed transport was chosen ({chosen}): start with REST, then gRPC, then Kafka."
            )
            .into(),
        });
    }
    reasons
}

/// What [`conflicts`] judges the fired rules against.
struct Unmet {
    chosen: Transport,
    pinned: bool,
    allowed: TransportSet,
    /// The transport the scores favour (or tie with the choice), or the
    /// requirements point at, when a rule rules it out for this flow and the
    /// flow does not carry it either.
    displaced: Option<Transport>,
    /// What the rules would choose for the same flow from an internal
    /// caller, when a bridging exclusion fired.
    inside: Option<Transport>,
    points: Scores,
}

/// Hard requirements that the chosen transport does not honour, an excluded
/// transport that was chosen all the same, and a favourite that an
/// exclusion took away.
fn conflicts(fired: &[&Rule], unmet: &Unmet) -> Vec<Conflict> {
    let chosen = unmet.chosen;
    // The fired rules that exclude one of `ts`, in order of `ts`.
    let excluders = |ts: TransportSet| -> Vec<&Rule> {
        ts.iter()
            .flat_map(|t| {
                fired
                    .iter()
                    .copied()
                    .filter(move |r| r.effect == Effect::Exclude(t))
            })
            .collect()
    };
    let mut out: Vec<Conflict> = Vec::new();
    for rule in fired {
        let (kind, why) = match rule.effect {
            Effect::Require(ts) if !ts.contains(chosen) => {
                let why = if unmet.pinned {
                    format!("the flow pins `transport: {chosen}`")
                } else if unmet.allowed.and(ts).is_empty() {
                    format!("{} is not in `transports`", ts.either())
                } else if let Some(x) = excluders(unmet.allowed.and(ts)).first() {
                    format!(
                        "rule `{}` rules {} out: {}",
                        x.id,
                        x.effect.transport(),
                        x.text.trim_end_matches('.')
                    )
                } else {
                    "another requirement points elsewhere".to_owned()
                };
                (ConflictKind::Unmet, why)
            }
            Effect::Exclude(t) if t == chosen => {
                let why = if unmet.pinned {
                    format!("the flow pins `transport: {chosen}`")
                } else {
                    format!("no allowed transport other than {t} is left")
                };
                (ConflictKind::RuledOut, why)
            }
            _ => continue,
        };
        // A requirement without a pattern of its own (a team's rule, say)
        // takes the one of the rule that ruled its transport out: that rule
        // knows how this kind of caller gets what the requirement asks.
        let resolution = rule.resolution.as_ref().or_else(|| match rule.effect {
            Effect::Require(ts) => excluders(ts).iter().find_map(|x| x.resolution.as_ref()),
            _ => None,
        });
        let (id, fix) = resolved(resolution, &rule.id);
        let text = format!(
            "`{}` ({}) cannot be met with {chosen}: {why}. Resolution: {fix}",
            rule.id,
            rule.effect.describe()
        );
        let mut involved = vec![rule.id.to_string()];
        if let Effect::Require(ts) = rule.effect {
            involved.extend(excluders(ts).iter().map(|x| x.id.to_string()));
        }
        add(&mut out, (id, kind, text), involved);
    }
    displaced(fired, unmet, &mut out);
    out
}

/// What the rules choose for the same flow from an internal caller.
fn from_inside(facts: &Facts, allowed: TransportSet, deciding: &[Rule]) -> Transport {
    let mut inside = *facts;
    inside.client = Client::Internal;
    let fired: Vec<bool> = deciding.iter().map(|r| r.when.holds(&inside)).collect();
    choose(&fired, allowed, deciding).pick
}

/// The allowed transport a rule excluded although the flow's requirements
/// point at it or its score is at least the choice's, and that the flow does
/// not carry anyway (a pin can still choose it); the best scoring if several.
fn displaced_favourite(
    allowed: TransportSet,
    excluded: TransportSet,
    required: TransportSet,
    points: &Scores,
    choice: Transport,
    transport: Transport,
) -> Option<Transport> {
    let lost = |t: &Transport| {
        let t = *t;
        t != transport && (required == TransportSet::of(t) || points[t] >= points[choice])
    };
    best(
        allowed.and(excluded).iter().filter(lost).collect(),
        points,
        None,
    )
}

/// Patterns for transports an exclusion took away from this flow:
///
/// - a bridge (an HTTP edge in front of the broker, a browser stream over
///   SSE) whenever the same flow from an internal caller would use the
///   transport its rule excludes: the bridge is how this caller gets it;
/// - otherwise, for the transport the scores favour (or tie with the
///   choice), the first excluding rule's pattern, unless a requirement's
///   conflict already says what the flow misses.
fn displaced(fired: &[&Rule], unmet: &Unmet, out: &mut Vec<Conflict>) {
    let chosen = unmet.chosen;
    let points = |x: Transport| unmet.points[x];
    let mut bridged = TransportSet::EMPTY;
    for rule in fired {
        let Effect::Exclude(t) = rule.effect else {
            continue;
        };
        if t == chosen
            || unmet.inside != Some(t)
            || !rule.resolution.as_ref().is_some_and(|r| r.bridge)
        {
            continue;
        }
        bridged.insert(t);
        let need = format!("From an internal caller this flow would be {t}");
        add(out, displacement(rule, &need), vec![rule.id.to_string()]);
    }
    let Some(t) = unmet.displaced else {
        return;
    };
    if bridged.contains(t) || fired.iter().any(|r| r.effect.requires(t)) {
        return;
    }
    let rulers: Vec<&Rule> = fired
        .iter()
        .copied()
        .filter(|r| r.effect == Effect::Exclude(t))
        .collect();
    if let Some(ruler) = rulers
        .iter()
        .find(|r| r.resolution.is_some())
        .or(rulers.first())
    {
        let need = format!(
            "The flow's scores favour {t} ({t} {:+} against {chosen} {:+})",
            points(t),
            points(chosen)
        );
        let involved = rulers.iter().map(|r| r.id.to_string()).collect();
        add(out, displacement(ruler, &need), involved);
    }
}

/// The conflict of an exclusion that took away what the flow needs.
fn displacement(ruler: &Rule, need: &str) -> (String, ConflictKind, String) {
    let (id, fix) = resolved(ruler.resolution.as_ref(), &ruler.id);
    let text = format!(
        "{need}, but `{}` ({}) rules it out: {}. Resolution: {fix}",
        ruler.id,
        ruler.effect.describe(),
        ruler.text.trim_end_matches('.')
    );
    (id, ConflictKind::Displaced, text)
}

/// A resolution's id and text, or a generic one named after the rule.
fn resolved(resolution: Option<&RawResolution>, rule: &str) -> (String, String) {
    match resolution {
        Some(r) => (r.id.clone(), r.text.trim().to_owned()),
        None => (
            rule.to_owned(),
            "Revisit the requirement or the transport.".to_owned(),
        ),
    }
}

/// Adds a conflict, or merges its rules into the one with the same
/// resolution: one pattern resolves them all. A ruled-out transport is the
/// gravest kind, and stays visible after a merge.
fn add(out: &mut Vec<Conflict>, conflict: (String, ConflictKind, String), rules: Vec<String>) {
    let (id, kind, text) = conflict;
    match out.iter_mut().find(|c| c.id == id) {
        Some(existing) => {
            for r in rules {
                if !existing.rules.contains(&r) {
                    existing.rules.push(r);
                }
            }
            if kind == ConflictKind::RuledOut {
                existing.kind = kind;
            }
        }
        None => out.push(Conflict {
            id,
            kind,
            text,
            rules,
        }),
    }
}

/// For each field, the nearest value that changes the rules' choice.
/// Only the rules that read the changed field are evaluated again: the
/// others keep their outcome, so each "what if" costs a handful of checks.
fn flips(
    facts: &Facts,
    fired: &[bool],
    allowed: TransportSet,
    rules: &RuleSet,
    current: Transport,
) -> Vec<Flip> {
    let deciding = rules.deciding();
    let mut out = Vec::new();
    for &field in Field::ALL {
        let dependents = rules.dependents(field);
        if dependents.is_empty() {
            continue;
        }
        let mut base = Tally::EMPTY;
        for (i, rule) in deciding.iter().enumerate() {
            if fired[i] && dependents.binary_search(&i).is_err() {
                base.add(&rule.effect);
            }
        }
        for value in alternatives(facts, field, rules) {
            let mut changed = *facts;
            changed.set(field, value);
            let mut tally = base;
            for &i in dependents {
                if deciding[i].when.holds(&changed) {
                    tally.add(&deciding[i].effect);
                }
            }
            let other = tally.decide(allowed).pick;
            if other != current {
                out.push(Flip {
                    field: field.name(),
                    value: display_value(field, value),
                    transport: other,
                });
                break;
            }
        }
    }
    out
}

/// The values worth trying for `field`, nearest to the current one first.
fn alternatives(facts: &Facts, field: Field, rules: &RuleSet) -> Vec<Value> {
    let current = facts.get(field);
    match field.kind() {
        Kind::Keyword(names) => (0..names.len())
            .filter_map(|i| u8::try_from(i).ok())
            .map(Value::Keyword)
            .filter(|v| *v != current)
            .collect(),
        Kind::Bool => vec![Value::Bool(!matches!(current, Value::Bool(true)))],
        Kind::Number => {
            let Value::Number(now) = current else {
                return Vec::new();
            };
            let mut values: Vec<u64> = rules
                .thresholds(field)
                .iter()
                .map(|(cmp, n)| match cmp {
                    // The first value on the other side of the threshold.
                    Cmp::Lt | Cmp::Gte => {
                        if now.is_some_and(|v| v < *n) {
                            *n
                        } else {
                            n.saturating_sub(1)
                        }
                    }
                    Cmp::Lte | Cmp::Gt => {
                        if now.is_some_and(|v| v <= *n) {
                            n + 1
                        } else {
                            *n
                        }
                    }
                })
                .filter(|v| Some(*v) != now && (field != Field::Receivers || *v >= 1))
                .collect();
            let distance = |v: u64| now.map_or(v, |n| n.abs_diff(v));
            values.sort_by_key(|v| (distance(*v), *v));
            values.dedup();
            let mut out: Vec<Value> = values.into_iter().map(|v| Value::Number(Some(v))).collect();
            if now.is_some() && field != Field::Receivers {
                out.push(Value::Number(None));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::load_str;

    fn one(flow: &str) -> Recommendation {
        let to = if flow.contains("    to:") {
            ""
        } else {
            "    to: b\n"
        };
        let yaml = format!("version: 1\nflows:\n  - name: f\n    from: a\n{to}{flow}");
        let file = load_str("flows.yaml", &yaml).expect("fixture loads");
        recommend(&file, &RuleSet::builtin().expect("built-in rules"))
            .flows
            .remove(0)
    }

    #[test]
    fn a_require_list_reason_names_the_chosen_transport_it_holds() {
        let rule = "id: needs-sync\ncriterion: Communication\nwhen: { interaction: request-response }\neffect: { require: [rest, grpc] }\ntext: The caller waits.\n";
        let rules = RuleSet::load(&[("r.yaml".to_owned(), rule.to_owned())]).expect("loads");
        let yaml = "version: 1\nflows:\n  - name: f\n    from: a\n    to: b\n    client: internal\n    latency_ms: 5\n    throughput: 50000\n";
        let file = load_str("flows.yaml", yaml).expect("fixture loads");
        let rec = recommend(&file, &rules).flows.remove(0);
        assert_eq!(rec.transport, Transport::Grpc);
        let reason = rec
            .reasons
            .iter()
            .find(|r| &*r.rule == "needs-sync")
            .expect("the rule fired");
        assert_eq!(reason.transport, Transport::Grpc);
        assert_eq!(&*reason.effect, "require rest or grpc");
    }

    #[test]
    fn a_replay_need_on_a_waiting_call_is_an_unmet_requirement_not_kafka() {
        let rec = one("    replay: true\n");
        assert_ne!(rec.transport, Transport::Kafka);
        assert_eq!(rec.conflicts[0].kind, ConflictKind::Unmet);
        assert_eq!(rec.conflicts[0].id, "edge-outbox-to-kafka");
    }

    #[test]
    fn a_pinned_broker_for_a_waiting_caller_is_ruled_out() {
        let rec = one("    transport: kafka\n");
        assert_eq!(rec.transport, Transport::Kafka);
        assert_eq!(rec.conflicts.len(), 1);
        assert_eq!(rec.conflicts[0].kind, ConflictKind::RuledOut);
    }

    #[test]
    fn scores_that_favour_an_excluded_transport_report_its_pattern() {
        // Two receivers, in order, none lost: the scores favour Kafka, but
        // the caller waits for the answer.
        let rec = one("    to: [b, c]\n    delivery: at-least-once\n    ordering: per-key\n");
        assert_eq!(rec.transport, Transport::Rest);
        assert_eq!(rec.conflicts[0].kind, ConflictKind::Displaced);
        assert!(
            rec.conflicts[0]
                .text
                .starts_with("The flow's scores favour kafka"),
            "{}",
            rec.conflicts[0].text
        );
    }

    #[test]
    fn a_one_point_win_is_a_close_call_and_a_two_point_one_is_not() {
        let close = one("    contract: strict\n");
        assert_eq!(close.margin, Some(1.0));
        assert!(close.close_call);
        let clear = one("    contract: strict\n    latency_ms: 5\n");
        assert!(clear.margin.is_some_and(|m| m > CLOSE_CALL));
        assert!(!clear.close_call);
    }

    #[test]
    fn a_requirement_of_several_transports_leaves_the_best_scoring_of_them() {
        let rules = RuleSet::load(&[(
            "sync.yaml".to_owned(),
            "id: needs-a-direct-line\ncriterion: Communication\neffect: { require: [rest, grpc] }\ntext: x\n".to_owned(),
        )])
        .expect("rules load");
        let yaml =
            "version: 1\nflows:\n  - name: f\n    from: a\n    to: b\n    interaction: event\n";
        let file = load_str("flows.yaml", yaml).expect("fixture loads");
        let without = recommend(&file, &RuleSet::builtin().expect("built-in rules"));
        assert_eq!(without.flows[0].transport, Transport::Kafka);
        let rec = recommend(&file, &rules).flows.remove(0);
        assert!(rec.transport.is_synchronous(), "{:?}", rec.transport);
        assert_eq!(rec.decided_by, Decision::Score);
        assert!(
            rec.reasons
                .iter()
                .any(|r| &*r.effect == "require rest or grpc")
        );
    }

    #[test]
    fn an_exclusion_that_decided_nothing_comes_after_the_scores() {
        let rec = one("    client: browser\n");
        assert_eq!(&*rec.reasons[0].rule, "browser-client");
        let last = rec.reasons.last().expect("reasons");
        assert_eq!(&*last.effect, "exclude kafka");
    }
}
