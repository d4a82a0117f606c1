//! Reports as text, JSON, Markdown, diagrams (Mermaid, DOT, SVG in HTML),
//! decision records and CI output. Pure functions from a report to a
//! string; the caller decides where it goes and whether colour is wanted.

pub mod adr;
pub mod check;
pub mod contract;
pub mod diagram;
pub mod dot;
pub mod escape;
pub mod html;
pub mod json;
pub mod markdown;
pub mod mermaid;
pub mod svg;
pub mod text;

use crate::engine::evaluate::{KafkaSizing, Recommendation};
use crate::engine::facts::{Facts, Field, display_value};
use crate::spec::load::FLOW_KEYS;
use crate::spec::model::Flow;

/// The flow's requirements that differ from the defaults, as `key: value`
/// pairs: what a reader needs to see to judge the recommendation. They are
/// the facts the rules read that are keys of a flow, then the topic's
/// retention and the pinned transport.
pub fn requirements(flow: &Flow) -> Vec<(&'static str, String)> {
    let facts = Facts::of(flow);
    let defaults = Facts::defaults();
    let mut out: Vec<(&'static str, String)> = Field::ALL
        .iter()
        .filter(|f| FLOW_KEYS.contains(&f.name()))
        .filter(|f| facts.get(**f) != defaults.get(**f))
        .map(|f| (f.name(), display_value(*f, facts.get(*f))))
        .collect();
    if let Some(h) = flow.retention_hours {
        out.push(("retention_hours", h.to_string()));
    }
    if let Some(t) = flow.transport {
        out.push(("transport", t.to_string()));
    }
    out
}

/// How the decision was reached, in a few words.
pub fn decided(rec: &Recommendation) -> String {
    use crate::engine::evaluate::Decision;
    match rec.decided_by {
        Decision::Pinned if rec.rules_choice == rec.transport => "pinned".to_owned(),
        Decision::Pinned => format!("pinned (rules: {})", rec.rules_choice),
        Decision::Requirement => "requirement".to_owned(),
        Decision::Score => "score".to_owned(),
    }
}

/// Every transport's score, signed: `rest +2, grpc -1, kafka +0`.
pub fn scores(rec: &Recommendation) -> String {
    rec.scores
        .iter()
        .map(|(t, p)| format!("{t} {p:+}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The margin, signed, or `-` when hard rules decided; a close call says so.
pub fn margin(rec: &Recommendation) -> String {
    match (rec.margin, rec.runner_up) {
        (Some(m), Some(r)) if rec.close_call => format!("{m:+} over {r}, close call"),
        (Some(m), Some(r)) => format!("{m:+} over {r}"),
        _ => "-".to_owned(),
    }
}

/// The line beside the nearest flip: "close call: won by +1 over rest;
/// would be rest if contract were flexible" when scores decided by one point
/// or less, else "nearest flip: …" for the first flip, if any.
pub fn flip_line(rec: &Recommendation) -> Option<String> {
    // For a close call, the flip that hands it to the runner-up.
    let flip = rec
        .flips
        .iter()
        .find(|f| rec.close_call && Some(f.transport) == rec.runner_up)
        .or(rec.flips.first())
        .map(crate::engine::evaluate::Flip::sentence);
    match (rec.close_call, rec.margin, rec.runner_up, flip) {
        (true, Some(m), Some(r), Some(f)) => {
            Some(format!("close call: won by {m:+} over {r}; {f}"))
        }
        (true, Some(m), Some(r), None) => Some(format!("close call: won by {m:+} over {r}")),
        (_, _, _, Some(f)) => Some(format!("nearest flip: {f}")),
        _ => None,
    }
}

/// The chosen transport, with how it reaches the caller when that is not
/// its native protocol: `grpc (via grpc-web or JSON transcoding)`.
pub fn transport_label(rec: &Recommendation) -> String {
    match rec.via {
        Some(via) => format!("{} (via {via})", rec.transport),
        None => rec.transport.to_string(),
    }
}

/// One line on a Kafka topic: name, partitions and why, replication.
pub fn topic_line(k: &KafkaSizing) -> String {
    format!(
        "topic `{}`: {} partition{} ({}), replication {}",
        k.topic,
        k.partitions,
        if k.partitions == 1 { "" } else { "s" },
        k.basis,
        k.replication
    )
}

/// One line on a Kafka topic's retention and disk.
pub fn disk_line(k: &KafkaSizing) -> String {
    format!("retention {} h; disk: {}", k.retention_hours, k.disk_basis)
}
