//! The generated workspaces build, lint clean and pass their own tests: the
//! top complaint about code generators is output that does not compile, and
//! this is where CI proves ours does (issue 3, item 7).
//!
//! Ignored by default (minutes of compiling); `.ci/run` runs them with
//! `cargo test --test e2e -- --ignored generated`. Every case shares one
//! target directory, `COMMSADVISE_GENERATED_TARGET` (default
//! `<repo>/target/generated`), so that the dependencies compile once; the
//! cases run one after the other in a single test, so they never fight over
//! that directory or the machine's cores. Timings go to stderr
//! (`-- --nocapture` shows them).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{forget_generated, generated_cargo, repo};
use crate::scaffold::CASES;

/// Cases compiled and linted but not run: shapes of contract that
/// [`CASES`] do not have, where the question is whether the generated code
/// compiles. The library fixture has AIP-style routes (a path variable
/// inside the body's message, `{name=shelves/*/books/*}`, additional
/// bindings, `/v1/books:search`), a REST stream, and two events sharing a
/// topic, one of them binary.
const LINT_ONLY: &[(&str, &str)] = &[("library", "tests/fixtures/apidocs/flows.yaml")];

/// What runs inside [`RUNTIME_TESTS_CASE`], in order: cheapest first.
const STEPS: &[&[&str]] = &[
    &["fmt", "--check"],
    &["build"],
    &["clippy", "--all-targets", "--", "-D", "warnings"],
    &["test"],
];

/// The case whose workspace runs the runtime crate's integration tests:
/// its runtime has every feature, so it has all of them. The runtime's
/// sources are the same in every workspace, only its features differ, so
/// the other cases build and lint it with theirs and run its unit tests,
/// and their services' tests all run; running the same broker, outbox and
/// idempotency tests again in each case would prove nothing more, and cost
/// minutes of CI.
const RUNTIME_TESTS_CASE: &str = "team";

/// What runs inside the other cases.
const OTHER_STEPS: &[&[&str]] = &[
    &["fmt", "--check"],
    &["build"],
    &["clippy", "--all-targets", "--", "-D", "warnings"],
    &["test", "--workspace", "--exclude", "runtime"],
    &["test", "-p", "runtime", "--lib"],
];

/// What runs inside a [`LINT_ONLY`] case.
const LINT_STEPS: &[&[&str]] = &[
    &["fmt", "--check"],
    &["clippy", "--all-targets", "--", "-D", "warnings"],
];

#[test]
#[ignore = "compiles seven generated workspaces (minutes); run by .ci/run with --ignored"]
fn generated_workspaces_build_lint_and_pass_their_tests() {
    let _one = crate::common::one_generated_build_at_a_time();
    // The team case keeps idempotency records: under .ci/run its store's
    // tests must run against PostgreSQL too, not skip it.
    if std::env::var_os("COMMSADVISE_REQUIRE_POSTGRES").is_some() {
        assert!(
            std::env::var("TEST_POSTGRES_URL").is_ok_and(|url| !url.is_empty()),
            "COMMSADVISE_REQUIRE_POSTGRES is set but TEST_POSTGRES_URL is not"
        );
    }
    // The generated tests that scrape /metrics check it with promtool only
    // when PROMTOOL names it: under CI it must.
    if std::env::var_os("PROMTOOL").is_none() {
        crate::common::skipped(
            "promtool check metrics in the generated tests",
            "PROMTOOL is not set",
        );
    }
    let cases = CASES
        .iter()
        .map(|(case, flows)| {
            let steps = if *case == RUNTIME_TESTS_CASE {
                STEPS
            } else {
                OTHER_STEPS
            };
            (*case, *flows, steps)
        })
        .chain(
            LINT_ONLY
                .iter()
                .map(|(case, flows)| (*case, *flows, LINT_STEPS)),
        );
    let mut timings: Vec<(&str, Vec<(String, Duration)>)> = Vec::new();
    for (case, flows, steps) in cases {
        let out = tempfile::tempdir().expect("temp dir");
        let ws = out.path().join(case);
        let scaffold = Command::new(env!("CARGO_BIN_EXE_commsadvise"))
            .arg("scaffold")
            .arg(repo(flows))
            .arg("--out")
            .arg(&ws)
            .output()
            .expect("commsadvise runs");
        assert!(
            scaffold.status.success(),
            "{case}: scaffold failed: {}",
            String::from_utf8_lossy(&scaffold.stderr)
        );
        let mut durations = Vec::new();
        for step in steps {
            let started = Instant::now();
            let output = generated_cargo(&ws, step).output().expect("cargo runs");
            let took = started.elapsed();
            eprintln!("{case}: cargo {} took {took:.1?}", step.join(" "));
            assert!(
                output.status.success(),
                "{case}: `cargo {}` failed in {}\n--- stdout\n{}\n--- stderr\n{}",
                step.join(" "),
                ws.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            durations.push((step[..step.len().min(2)].join(" "), took));
        }
        forget_generated(&ws);
        timings.push((case, durations));
    }
    eprintln!("generated workspaces:");
    for (case, durations) in &timings {
        let shown: Vec<String> = durations
            .iter()
            .map(|(step, d)| format!("{step} {:.1}s", d.as_secs_f64()))
            .collect();
        eprintln!("  {case:<10} {}", shown.join(" / "));
    }
}
