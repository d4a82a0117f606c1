//! Every flow and service name the loader accepts yields a generated
//! workspace that passes `cargo check` (SPEC §2: accepted means it builds).
//! Ignored by default (it compiles a workspace); `.ci/run` runs it with the
//! other `generated` tests.

use std::fmt::Write as _;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::common::{Test, forget_generated, generated_cargo};

/// Names near the edges of the rule: digits, dashes, keywords, reserved
/// words, crate names, and separators that vanish in type names.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}",
        "[a-z0-9_-]{1,8}",
        "[a-z]{1,3}[0-9]{1,2}(-[a-z0-9]{1,3}){0,2}",
        "[a-z]{1,3}(-[0-9]{1,2}){1,2}",
        Just("async".to_owned()),
        Just("r#type".to_owned()),
        Just("type".to_owned()),
        Just("self-service".to_owned()),
        Just("order-events".to_owned()),
        Just("a1".to_owned()),
        Just("a-1".to_owned()),
        Just("tokio-x".to_owned()),
        Just("tokio-stream".to_owned()),
        Just("handlers".to_owned()),
    ]
}

/// A flows file where each service produces a Kafka flow to a sink and
/// is called by it over REST or gRPC, so every kind of identifier the
/// scaffold derives from a name (crates, modules, consts, client types,
/// command-line variants) is written.
fn flows_yaml(services: &[String], flows: &[String]) -> String {
    let mut yaml = String::from("version: 1\nsystem: names\nflows:\n");
    for (i, (service, flow)) in services.iter().zip(flows.iter().cycle()).enumerate() {
        let call = if i % 2 == 0 {
            "client: browser"
        } else {
            "latency_ms: 5\n    contract: strict"
        };
        let _ = write!(
            yaml,
            "  - name: {flow}-{i}\n    from: {service}\n    to: sink\n    interaction: event\n    coupling: loose\n  - name: call-{i}\n    from: sink\n    to: {service}\n    {call}\n"
        );
    }
    for (i, flow) in flows.iter().enumerate() {
        let _ = write!(
            yaml,
            "  - name: {flow}\n    from: sink\n    to: hub-{i}\n    interaction: event\n    coupling: loose\n"
        );
    }
    // Flows named like services where the names do not meet in the
    // generated code: a Kafka flow to another receiver, and a REST flow to
    // the service itself.
    let first = &services[0];
    let _ = write!(
        yaml,
        "  - name: {first}\n    from: sink\n    to: hub-x\n    interaction: event\n    coupling: loose\n  - name: {first}-called\n    from: sink\n    to: {first}\n    transport: rest\n"
    );
    yaml
}

#[test]
#[ignore = "compiles a generated workspace; run by .ci/run"]
fn generated_workspace_accepts_every_valid_name() {
    let _one = crate::common::one_generated_build_at_a_time();
    let mut runner = TestRunner::new(Config {
        // More with COMMSADVISE_NAME_CASES, for a longer search.
        cases: std::env::var("COMMSADVISE_NAME_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(3),
        failure_persistence: None,
        ..Config::default()
    });
    let names = (
        proptest::collection::vec(name(), 1..8),
        proptest::collection::vec(name(), 1..8),
    );
    runner
        .run(&names, |(services, flows)| {
            let mut services: Vec<String> = services
                .into_iter()
                .filter(|n| commsadvise::spec::names::check_service(n).is_ok() && n != "sink")
                .collect();
            services.sort();
            services.dedup();
            let mut flows: Vec<String> = flows
                .into_iter()
                .filter(|n| commsadvise::spec::names::check_flow(n).is_ok())
                .collect();
            flows.sort();
            flows.dedup();
            if services.is_empty() || flows.is_empty() {
                return Ok(());
            }
            let yaml = flows_yaml(&services, &flows);
            // What the loader refuses (names that collide as identifiers)
            // is not this test's concern: only what it accepts must build.
            prop_assume!(commsadvise::spec::load_str("flows.yaml", &yaml).is_ok());
            let test = Test::new().file("flows.yaml", &yaml);
            Test::new_in(&test)
                .args(&["scaffold", "flows.yaml", "--out", "ws"])
                .success();
            let ws = test.path().join("ws");
            let status = generated_cargo(&ws, &["check", "--all-targets", "--quiet"])
                .status()
                .expect("cargo runs");
            forget_generated(&ws);
            prop_assert!(status.success(), "cargo check failed for:\n{yaml}");
            Ok(())
        })
        .expect("every accepted name builds");
}
