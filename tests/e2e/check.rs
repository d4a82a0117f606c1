//! `commsadvise check`: exit codes, `--fail-on`, and the three output
//! formats, GitHub annotations pointing at the flow's line.

use serde_json::Value;

use crate::common::Test;

const PINNED_CONFLICT: &str = "version: 1\nflows:\n  - name: get-order\n    from: storefront\n    to: orders\n    client: browser\n\n  - name: audit-trail\n    description: Every change, replayable\n    from: orders\n    to: audit\n    replay: true\n    transport: rest\n";

#[test]
fn passes_the_orders_example() {
    let run = Test::new()
        .fixture("examples/orders.yaml", "flows.yaml")
        .args(&["check", "flows.yaml"])
        .success();
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn fails_when_a_pinned_transport_breaks_a_requirement() {
    let run = Test::new()
        .file("flows.yaml", PINNED_CONFLICT)
        .args(&["check", "flows.yaml"])
        .status(1);
    assert!(
        run.stdout
            .contains("FAIL error[edge-outbox-to-kafka] flows.yaml:13:"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stderr,
        "error: check failed: 1 problem at or above `error` (pinned conflicts always count)\n"
    );
}

#[test]
fn a_pinned_conflict_fails_even_with_the_loosest_threshold() {
    Test::new()
        .file("flows.yaml", PINNED_CONFLICT)
        .args(&["check", "flows.yaml", "--fail-on", "error"])
        .status(1);
}

#[test]
fn warnings_fail_only_when_asked() {
    let fixture = "tests/fixtures/findings/single-point-of-failure-fires.yaml";
    let passed = Test::new()
        .fixture(fixture, "flows.yaml")
        .args(&["check", "flows.yaml"])
        .success();
    assert!(
        passed
            .stdout
            .contains("note warning[single-point-of-failure]"),
        "{}",
        passed.stdout
    );
    Test::new()
        .fixture(fixture, "flows.yaml")
        .args(&["check", "flows.yaml", "--fail-on", "warning"])
        .status(1);
    Test::new()
        .fixture(fixture, "flows.yaml")
        .args(&["check", "flows.yaml", "--fail-on", "info"])
        .status(1);
}

#[test]
fn errors_fail_by_default() {
    Test::new()
        .fixture(
            "tests/fixtures/findings/sync-cycle-fires.yaml",
            "flows.yaml",
        )
        .args(&["check", "flows.yaml"])
        .status(1);
}

#[test]
fn github_annotations_point_at_each_flow() {
    let run = Test::new()
        .fixture("examples/marketplace.yaml", "flows.yaml")
        .args(&["check", "flows.yaml", "--format", "github"])
        .status(1);
    insta::assert_snapshot!(run.stdout);
    for line in run.stdout.lines().filter(|l| l.starts_with("::")) {
        assert!(line.contains(" file=flows.yaml,line="), "{line}");
        assert!(!line.contains('\n'));
    }
}

#[test]
fn github_annotation_of_a_pinned_conflict_points_at_the_pin() {
    let run = Test::new()
        .file("flows.yaml", PINNED_CONFLICT)
        .args(&["check", "flows.yaml", "--format", "github"])
        .status(1);
    let first = run.stdout.lines().next().unwrap();
    assert!(
        first.starts_with(
            "::error file=flows.yaml,line=13,col=16,title=commsadvise edge-outbox-to-kafka::"
        ),
        "{first}"
    );
}

#[test]
fn json_output_lists_problems_with_positions() {
    let run = Test::new()
        .fixture("examples/marketplace.yaml", "flows.yaml")
        .args(&[
            "check",
            "flows.yaml",
            "--format",
            "json",
            "--fail-on",
            "warning",
        ])
        .status(1);
    let report: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(report["passed"], false);
    assert_eq!(report["fail_on"], "warning");
    assert_eq!(report["failing"], 7);
    let first = &report["problems"][0];
    assert_eq!(first["source"], "finding");
    assert_eq!(first["file"], "flows.yaml");
    assert!(first["line"].as_u64().unwrap() > 1);
}

#[test]
fn bad_input_is_exit_code_two() {
    let run = Test::new()
        .fixture("tests/fixtures/errors/unknown-field.yaml", "flows.yaml")
        .args(&["check", "flows.yaml"])
        .status(2);
    assert!(
        run.stderr.starts_with("error: unknown field `latency`"),
        "{}",
        run.stderr
    );
}
