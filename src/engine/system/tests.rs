//! The system checks on small graphs: where each fires, and where it
//! stays quiet.

use super::*;
use crate::engine::{RuleSet, recommend};
use crate::spec::load_str;

/// The findings of a file whose flows all pin their transport, so that
/// the rules cannot change what the test is about.
fn findings_of(yaml: &str) -> Vec<Finding> {
    let file = load_str("flows.yaml", yaml).expect("fixture loads");
    recommend(&file, &RuleSet::builtin().expect("built-in rules")).findings
}

fn ids(findings: &[Finding]) -> Vec<&'static str> {
    findings.iter().map(|f| f.id).collect()
}

fn flow(name: &str, from: &str, to: &str, extra: &str) -> String {
    format!("  - name: {name}\n    from: {from}\n    to: {to}\n    transport: rest\n{extra}")
}

#[test]
fn a_two_service_loop_is_a_cycle() {
    let yaml = format!(
        "version: 1\nflows:\n{}{}",
        flow("ask", "a", "b", ""),
        flow("answer", "b", "a", "")
    );
    let found = findings_of(&yaml);
    assert_eq!(ids(&found), ["sync-cycle"]);
    assert_eq!(found[0].flows, ["ask", "answer"]);
    assert!(
        found[0].text.starts_with("`a` → `b` → `a` is a cycle"),
        "{}",
        found[0].text
    );
}

#[test]
fn a_loop_through_kafka_is_no_cycle() {
    let yaml = format!(
        "version: 1\nflows:\n{}  - name: answer\n    from: b\n    to: a\n    transport: kafka\n",
        flow("ask", "a", "b", "")
    );
    assert!(findings_of(&yaml).is_empty());
}

#[test]
fn a_service_calling_itself_is_a_self_call_not_a_cycle() {
    let yaml = format!("version: 1\nflows:\n{}", flow("forward", "a", "a", ""));
    let found = findings_of(&yaml);
    assert_eq!(ids(&found), ["self-call"]);
    assert_eq!(found[0].severity, Severity::Info);
    assert!(found[0].text.contains("not a cycle"), "{}", found[0].text);
}

#[test]
fn a_webhook_back_is_not_a_waiting_hop() {
    // b announces an event to a over HTTP: a hand-over, not a wait.
    let yaml = format!(
        "version: 1\nflows:\n{}{}",
        flow("ask", "a", "b", ""),
        flow("notify", "b", "a", "    interaction: event\n")
    );
    assert!(findings_of(&yaml).is_empty());
}

#[test]
fn calls_from_different_endpoints_are_no_fan_out() {
    // b serves two requests, and each makes its own calls.
    let yaml = format!(
        "version: 1\nflows:\n{}{}{}{}{}",
        flow("one", "a", "b", ""),
        flow("two", "a", "b", ""),
        flow("c1", "b", "c", "    during: one\n"),
        flow("d1", "b", "d", "    during: one\n"),
        flow("e2", "b", "e", "    during: two\n")
    );
    assert!(findings_of(&yaml).is_empty());
}

#[test]
fn one_request_calling_three_services_is_a_fan_out_not_n_plus_one() {
    let yaml = format!(
        "version: 1\nflows:\n{}{}{}{}",
        flow("page", "a", "b", ""),
        flow("c1", "b", "c", ""),
        flow("d1", "b", "d", ""),
        flow("e1", "b", "e", "")
    );
    let found = findings_of(&yaml);
    assert_eq!(ids(&found), ["sync-fan-out"]);
    assert_eq!(found[0].severity, Severity::Info);
    assert_eq!(found[0].flows, ["page", "c1", "d1", "e1"]);
}

#[test]
fn a_per_item_call_is_n_plus_one_and_weighs_as_three_callers() {
    let yaml = format!(
        "version: 1\nflows:\n{}{}",
        flow("list", "a", "b", ""),
        flow("price", "b", "c", "    during: list\n    per_item: true\n")
    );
    let found = findings_of(&yaml);
    assert_eq!(ids(&found), ["n-plus-one", "single-point-of-failure"]);
    assert_eq!(found[0].flows, ["list", "price"]);
    assert!(
        found[0].text.contains("while serving `list`"),
        "{}",
        found[0].text
    );
    assert!(found[1].text.contains("once per item"), "{}", found[1].text);
}

#[test]
fn an_orchestrator_gets_the_availability_of_everything_it_waits_on() {
    // Six calls at the default 99.9% in one request: 99.4%.
    let mut yaml = format!(
        "version: 1\nflows:\n{}",
        flow("place", "web", "checkout", "")
    );
    for s in ["s1", "s2", "s3", "s4", "s5", "s6"] {
        yaml.push_str(&flow(&format!("call-{s}"), "checkout", s, ""));
    }
    let found = findings_of(&yaml);
    assert_eq!(ids(&found), ["request-availability", "sync-fan-out"]);
    assert!(found[0].text.contains("= 99.401%"), "{}", found[0].text);
    // Five stay above the 99.5% target.
    let five = yaml.replace(&flow("call-s6", "checkout", "s6", ""), "");
    assert_eq!(ids(&findings_of(&five)), ["sync-fan-out"]);
}

#[test]
fn chains_are_measured_past_a_cycle() {
    // a ⇄ b, then b → c → d → e → f: the cycle and a four-hop chain.
    let yaml = format!(
        "version: 1\nflows:\n{}{}{}{}{}{}",
        flow("ab", "a", "b", ""),
        flow("ba", "b", "a", ""),
        flow("bc", "b", "c", ""),
        flow("cd", "c", "d", ""),
        flow("de", "d", "e", ""),
        flow("ef", "e", "f", "")
    );
    let found = findings_of(&yaml);
    assert_eq!(ids(&found), ["sync-cycle", "long-sync-chain"]);
    assert_eq!(found[1].flows, ["bc", "cd", "de", "ef"]);
}

#[test]
fn a_deep_chain_does_not_overflow_the_stack() {
    let mut yaml = String::from("version: 1\nflows:\n");
    for i in 0..20_000 {
        yaml.push_str(&flow(
            &format!("f{i}"),
            &format!("s{i}"),
            &format!("s{}", i + 1),
            "",
        ));
    }
    let found = findings_of(&yaml);
    let chain = found
        .iter()
        .find(|f| f.id == "long-sync-chain")
        .expect("long chain");
    assert_eq!(chain.flows.len(), 20_000);
}

#[test]
fn percentages_and_downtime_read_naturally() {
    assert_eq!(percent(0.999), "99.9%");
    assert_eq!(percent(0.99), "99%");
    assert_eq!(percent(0.999 * 0.99), "98.901%");
    assert_eq!(downtime(0.999), "43 min");
    assert_eq!(downtime(0.989), "8 h");
}

#[test]
fn severities_order_from_info_to_error() {
    assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Error);
}

/// Each threshold a check's one-line description states is the constant
/// the check compares with, so the text cannot drift from the code.
#[test]
fn the_checks_descriptions_state_their_constants() {
    let when = |id: &str| check(id).expect("a check").fires_when();
    assert!(when("long-sync-chain").contains(&format!("longer than {MAX_SYNC_HOPS} hops")));
    let target = percent(AVAILABILITY_TARGET);
    assert!(when("chain-availability").ends_with(&format!("below {target}")));
    assert!(when("request-availability").starts_with(&format!(
        "one request waits on {MIN_TARGETS} or more services"
    )));
    assert!(when("request-availability").contains(&format!("below {target},")));
    assert!(when("single-point-of-failure").contains(&format!("weigh {SPOF_CALLERS} or more")));
    assert!(when("single-point-of-failure").ends_with(&format!("weighing {PER_ITEM_WEIGHT}")));
    assert!(when("sync-fan-out").contains(&format!("calls to {FAN_OUT} or more services")));
}
