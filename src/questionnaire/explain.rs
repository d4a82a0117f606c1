//! The short explanation shown after each flow: the engine's verdict with
//! its top reasons, risks and conflicts. The full report stays with
//! `commsadvise recommend`; this is what keeps a person answering questions
//! aware of what their answers are doing.

use std::fmt::Write as _;

use crate::engine::Recommendation;
use crate::render::{decided, flip_line};

/// Reasons shown per flow; the engine sorts the deciding ones first.
pub const TOP_REASONS: usize = 3;

pub fn recommendation(rec: &Recommendation) -> String {
    let mut out = format!(
        "=> {}: {} ({} -> {}), decided by {}\n",
        rec.name,
        rec.transport,
        rec.from,
        rec.to.join(", "),
        decided(rec)
    );
    out.push_str("   why:\n");
    for reason in rec.reasons.iter().take(TOP_REASONS) {
        let _ = writeln!(out, "     + [{}] {}", reason.criterion, reason.text);
    }
    let more = rec.reasons.len().saturating_sub(TOP_REASONS);
    if more > 0 {
        let _ = writeln!(
            out,
            "     ({more} more in the full report: commsadvise recommend)"
        );
    }
    if !rec.risks.is_empty() {
        out.push_str("   risks:\n");
        for risk in rec.risks.iter() {
            let _ = writeln!(out, "     ! {}: {}", risk.id, risk.text);
        }
    }
    if !rec.conflicts.is_empty() {
        out.push_str("   conflicts:\n");
        for conflict in rec.conflicts.iter() {
            let _ = writeln!(out, "     x {}: {}", conflict.id, conflict.text);
        }
    }
    if let Some(line) = flip_line(rec) {
        let _ = writeln!(out, "   {line}");
    }
    if let Some(kafka) = &rec.kafka {
        let _ = writeln!(
            out,
            "   kafka: topic `{}`, {} partitions, replication {}, kept {} h",
            kafka.topic, kafka.partitions, kafka.replication, kafka.retention_hours
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{RuleSet, recommend};
    use crate::spec::load_str;

    fn explained(flow: &str) -> String {
        let text = include_str!("../../examples/spec-cases.yaml");
        let file = load_str("spec-cases.yaml", text).expect("example loads");
        let report = recommend(&file, &RuleSet::builtin().expect("built-in rules"));
        let rec = report
            .flows
            .iter()
            .find(|r| r.name == flow)
            .expect("flow in the example");
        recommendation(rec)
    }

    #[test]
    fn names_the_transport_and_its_top_reasons() {
        let text = explained("browser-reads-order");
        assert!(
            text.starts_with("=> browser-reads-order: rest (storefront -> orders), decided by "),
            "{text}"
        );
        let reasons = text.lines().filter(|l| l.starts_with("     + [")).count();
        assert!((1..=TOP_REASONS).contains(&reasons), "{text}");
    }

    #[test]
    fn shows_the_conflict_and_its_resolution() {
        let text = explained("browser-submits-order");
        assert!(text.contains("   conflicts:\n     x "), "{text}");
        assert!(text.contains("Resolution:"), "{text}");
    }

    #[test]
    fn sizes_the_topic_when_kafka_carries_the_flow() {
        let text = explained("audit-trail");
        assert!(text.contains("=> audit-trail: kafka"), "{text}");
        assert!(text.contains("   kafka: topic `audit-trail`, "), "{text}");
    }
}
