//! The CI gate behind `commsadvise check`: which problems a report holds
//! and whether they fail the build.
//!
//! A pinned transport that breaks a hard requirement of its flow always
//! fails: the team chose it, and the choice contradicts what the flow says
//! it needs. So does a transport a rule rules out for the flow that was
//! chosen only because `transports` left nothing else (a browser and
//! `transports: [kafka]`): the flow cannot work as described. System
//! findings fail at or above the severity the team asks for. Other conflicts
//! of unpinned flows are the rules' own best effort and are reported by
//! `recommend`, not gated, and so are patterns that bridge a favourite
//! transport an exclusion took away.

use crate::engine::evaluate::{ConflictKind, Report};
use crate::engine::system::Severity;

/// Where a problem comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A conflict on a flow that pins its transport.
    PinnedConflict,
    /// An unpinned flow whose only allowed transport is ruled out for it.
    RuledOut,
    /// A system finding.
    Finding,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::PinnedConflict => "pinned-conflict",
            Source::RuledOut => "ruled-out-transport",
            Source::Finding => "finding",
        }
    }
}

/// One thing `check` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem<'a> {
    pub source: Source,
    pub id: &'a str,
    pub severity: Severity,
    pub text: &'a str,
    /// How to resolve it (findings carry one; a conflict's is in its text).
    pub fix: Option<&'a str>,
    /// The flows involved; the first one is where annotations point.
    pub flows: Vec<&'a str>,
    /// Whether this problem alone fails the check.
    pub failing: bool,
}

/// The verdict on a report.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate<'a> {
    pub fail_on: Severity,
    /// Conflicts that fail (pinned, or a ruled-out transport) in file order,
    /// then findings, most severe first.
    pub problems: Vec<Problem<'a>>,
}

impl Gate<'_> {
    pub fn failing(&self) -> usize {
        self.problems.iter().filter(|p| p.failing).count()
    }

    pub fn passed(&self) -> bool {
        self.failing() == 0
    }
}

/// Gates `report`: pinned conflicts always fail, findings at or above `fail_on`.
pub fn gate(report: &Report, fail_on: Severity) -> Gate<'_> {
    let mut problems = Vec::new();
    for rec in &report.flows {
        for conflict in rec.conflicts.iter() {
            let source = match (rec.pinned, conflict.kind) {
                (_, ConflictKind::Displaced) | (false, ConflictKind::Unmet) => continue,
                (true, _) => Source::PinnedConflict,
                (false, ConflictKind::RuledOut) => Source::RuledOut,
            };
            problems.push(Problem {
                source,
                id: &conflict.id,
                severity: Severity::Error,
                text: &conflict.text,
                fix: None,
                flows: vec![&rec.name],
                failing: true,
            });
        }
    }
    for finding in &report.findings {
        problems.push(Problem {
            source: Source::Finding,
            id: finding.id,
            severity: finding.severity,
            text: &finding.text,
            fix: Some(&finding.fix),
            flows: finding.flows.iter().map(String::as_str).collect(),
            failing: finding.severity >= fail_on,
        });
    }
    Gate { fail_on, problems }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{RuleSet, recommend};
    use crate::spec::load_str;

    fn report(yaml: &str) -> Report {
        let file = load_str("flows.yaml", yaml).expect("fixture loads");
        recommend(&file, &RuleSet::builtin().expect("built-in rules"))
    }

    #[test]
    fn a_pin_that_breaks_a_requirement_fails_whatever_the_threshold() {
        let r = report(
            "version: 1\nflows:\n  - name: audit\n    from: orders\n    to: audit\n    replay: true\n    transport: rest\n",
        );
        let gate = gate(&r, Severity::Error);
        assert!(!gate.passed());
        assert_eq!(gate.problems[0].source, Source::PinnedConflict);
        assert_eq!(gate.problems[0].flows, ["audit"]);
    }

    #[test]
    fn the_same_requirement_unpinned_passes() {
        let r = report(
            "version: 1\nflows:\n  - name: submit\n    from: web\n    to: orders\n    client: browser\n    replay: true\n",
        );
        assert!(
            !r.flows[0].conflicts.is_empty(),
            "the rules report a conflict"
        );
        assert!(gate(&r, Severity::Info).passed());
    }

    #[test]
    fn a_transport_ruled_out_for_the_flow_fails_even_unpinned() {
        let r = report(
            "version: 1\ntransports: [kafka]\nflows:\n  - name: page\n    from: web\n    to: orders\n    client: browser\n    interaction: event\n",
        );
        let gate = gate(&r, Severity::Error);
        assert!(!gate.passed());
        assert_eq!(gate.problems[0].source, Source::RuledOut);
        assert_eq!(gate.problems[0].flows, ["page"]);
    }

    #[test]
    fn a_pin_that_only_bridges_a_displaced_favourite_passes() {
        // The scores favour Kafka for an event, a public caller rules it
        // out: the report shows the edge pattern, and pinning REST is fine.
        let r = report(
            "version: 1\nflows:\n  - name: notify\n    from: partner\n    to: orders\n    client: public\n    interaction: event\n    transport: rest\n",
        );
        assert_eq!(r.flows[0].conflicts[0].kind, ConflictKind::Displaced);
        assert!(gate(&r, Severity::Info).passed());
    }

    #[test]
    fn findings_fail_at_or_above_the_threshold() {
        let r = report(
            "version: 1\nflows:\n  - name: ask\n    from: a\n    to: b\n    transport: rest\n  - name: answer\n    from: b\n    to: a\n    transport: grpc\n",
        );
        assert_eq!(r.findings[0].severity, Severity::Error);
        assert!(!gate(&r, Severity::Error).passed());
        assert!(!gate(&r, Severity::Info).passed());
    }
}
