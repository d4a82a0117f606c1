//! Every service name the loader accepts yields a generated workspace that
//! passes `cargo check`. Ignored by default (it compiles a workspace);
//! `.ci/run` runs it with the other `generated` tests.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::common::Test;

fn target_dir() -> PathBuf {
    std::env::var_os("COMMSADVISE_GENERATED_TARGET")
        .map_or_else(|| crate::common::repo("target/generated"), PathBuf::from)
}

/// Names near the edges of the rule: digits, dashes, keywords, reserved words.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}",
        "[a-z0-9_-]{1,8}",
        Just("async".to_owned()),
        Just("r#type".to_owned()),
        Just("self-service".to_owned()),
        Just("order-events".to_owned()),
        Just("a1".to_owned()),
        Just("tokio-x".to_owned()),
    ]
}

#[test]
#[ignore = "compiles a generated workspace; run by .ci/run"]
fn generated_workspace_accepts_every_valid_name() {
    let mut runner = TestRunner::new(Config {
        cases: 3,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(name(), 1..10), |names| {
            let mut accepted: Vec<String> = names
                .into_iter()
                .filter(|n| commsadvise::spec::names::check_service(n).is_ok() && n != "sink")
                .collect();
            accepted.sort();
            accepted.dedup();
            if accepted.is_empty() {
                return Ok(());
            }
            let mut yaml = String::from("version: 1\nsystem: names\nflows:\n");
            for (i, n) in accepted.iter().enumerate() {
                let shape = if i % 2 == 0 { "client: browser" } else { "interaction: event\n    coupling: loose" };
                let _ = write!(yaml, "  - name: flow-{i}\n    from: {n}\n    to: sink\n    {shape}\n  - name: back-{i}\n    from: sink\n    to: {n}\n    {shape}\n");
            }
            let test = Test::new().file("flows.yaml", &yaml);
            Test::new_in(&test).args(&["scaffold", "flows.yaml", "--out", "ws"]).success();
            let status = Command::new("cargo")
                .args(["check", "--all-targets", "--quiet"])
                .current_dir(test.path().join("ws"))
                .env("CARGO_TARGET_DIR", target_dir())
                .status()
                .expect("cargo runs");
            prop_assert!(status.success(), "cargo check failed for names {accepted:?}");
            Ok(())
        })
        .expect("every accepted name builds");
}
