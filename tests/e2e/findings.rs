//! System findings through the binary: one fixture per finding where it
//! fires and one where it stays quiet, each snapshotted as `recommend`
//! prints it, and the JSON shape under the top-level `findings` key.

use serde_json::Value;

use crate::common::Test;

fn report(fixture: &str) -> Value {
    let run = Test::new()
        .fixture(fixture, "flows.yaml")
        .args(&["recommend", "flows.yaml", "--format", "json"])
        .success();
    serde_json::from_str(&run.stdout).expect("valid JSON")
}

fn ids(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .expect("a findings array")
        .iter()
        .map(|f| f["id"].as_str().expect("id").to_owned())
        .collect()
}

/// The findings section of the text report.
fn findings_text(fixture: &str) -> String {
    let run = Test::new()
        .fixture(fixture, "flows.yaml")
        .args(&["recommend", "flows.yaml"])
        .success();
    let at = run
        .stdout
        .find("\nsystem findings")
        .expect("a findings section");
    run.stdout[at + 1..].to_owned()
}

macro_rules! finding_cases {
    ($($fires:ident, $quiet:ident: $id:literal $([also $($also:literal),*])?;)*) => {$(
        #[test]
        fn $fires() {
            let fixture = concat!("tests/fixtures/findings/", $id, "-fires.yaml");
            let expected: Vec<&str> = vec![$id $($(, $also)*)?];
            assert_eq!(ids(&report(fixture)), expected);
            insta::assert_snapshot!(findings_text(fixture));
        }

        #[test]
        fn $quiet() {
            let fixture = concat!("tests/fixtures/findings/", $id, "-quiet.yaml");
            assert_eq!(ids(&report(fixture)), Vec::<String>::new());
            insta::assert_snapshot!(findings_text(fixture));
        }
    )*};
}

finding_cases! {
    sync_cycle_fires_on_services_calling_each_other, sync_cycle_stays_quiet_when_the_call_back_is_an_event_or_a_webhook: "sync-cycle";
    long_sync_chain_fires_past_three_hops, long_sync_chain_stays_quiet_when_a_broker_cuts_it: "long-sync-chain";
    latency_budget_fires_when_the_chain_below_uses_it_up, latency_budget_stays_quiet_with_time_left: "latency-budget";
    chain_availability_fires_below_the_target, chain_availability_stays_quiet_above_it: "chain-availability";
    single_point_of_failure_fires_at_three_sync_callers, single_point_of_failure_stays_quiet_with_two: "single-point-of-failure";
    n_plus_one_fires_on_a_call_made_once_per_item, n_plus_one_stays_quiet_with_one_bulk_call_per_request: "n-plus-one" [also "single-point-of-failure"];
    sync_fan_out_fires_when_one_request_waits_on_three, sync_fan_out_stays_quiet_across_different_endpoints: "sync-fan-out";
    request_availability_fires_on_everything_one_request_waits_on, request_availability_stays_quiet_when_the_calls_serve_different_requests: "request-availability";
    self_call_fires_on_a_service_forwarding_to_itself, self_call_stays_quiet_through_kafka: "self-call";
}

#[test]
fn the_marketplace_example_shows_most_findings() {
    let report = report("examples/marketplace.yaml");
    let mut found = ids(&report);
    found.sort();
    assert_eq!(
        found,
        [
            "chain-availability",
            "latency-budget",
            "long-sync-chain",
            "n-plus-one",
            "single-point-of-failure",
            "single-point-of-failure",
            "sync-cycle",
            "sync-fan-out"
        ]
    );
}

#[test]
fn json_findings_name_severity_flows_and_fix() {
    let report = report("examples/marketplace.yaml");
    for finding in report["findings"].as_array().unwrap() {
        for key in ["id", "severity", "text", "flows", "services", "fix"] {
            assert!(finding.get(key).is_some(), "finding lacks {key}: {finding}");
        }
        assert!(["info", "warning", "error"].contains(&finding["severity"].as_str().unwrap()));
        assert!(!finding["flows"].as_array().unwrap().is_empty());
    }
    // Most severe first.
    assert_eq!(report["findings"][0]["severity"], "error");
    let last = report["findings"].as_array().unwrap().last().unwrap();
    assert_eq!(last["severity"], "info");
}

#[test]
fn the_spec_examples_have_no_findings() {
    for example in ["examples/orders.yaml", "examples/spec-cases.yaml"] {
        assert_eq!(ids(&report(example)), Vec::<String>::new(), "{example}");
    }
}

#[test]
fn kafka_sizing_counts_instances_and_sizes_the_disk() {
    let report = report("examples/marketplace.yaml");
    let placed = report["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "order-placed")
        .expect("order-placed");
    let kafka = &placed["kafka"];
    assert_eq!(kafka["topic"], "order-placed");
    assert_eq!(kafka["partitions"], 6, "shipping runs 6 instances");
    assert_eq!(kafka["replication"], 3);
    assert_eq!(kafka["retention_hours"], 72);
    // 2000/s × 1024 B × 72 h × 3 replicas × 1.5 headroom
    assert_eq!(kafka["disk_bytes"], 2_000u64 * 1024 * 72 * 3600 * 3 * 3 / 2);
    assert!(kafka["warning"].as_str().unwrap().contains("re-maps keys"));
}

#[test]
fn sizing_flags_override_the_defaults() {
    let run = Test::new()
        .file(
            "flows.yaml",
            "version: 1\nflows:\n  - name: ticks\n    from: feed\n    to: desk\n    interaction: event\n    throughput: 20000\n    transport: kafka\n",
        )
        .args(&[
            "recommend",
            "flows.yaml",
            "--format",
            "json",
            "--consumer-rate",
            "500",
            "--replication",
            "2",
        ])
        .success();
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let kafka = &report["flows"][0]["kafka"];
    assert_eq!(kafka["partitions"], 40, "20,000/s at 500/s per consumer");
    assert_eq!(kafka["replication"], 2);
}

#[test]
fn rejects_a_during_that_names_no_inbound_flow_with_a_suggestion() {
    let run = Test::new()
        .file(
            "flows.yaml",
            "version: 1\nflows:\n  - name: catalog-page\n    from: storefront\n    to: catalog\n  - name: price-item\n    from: catalog\n    to: pricing\n    during: catalog-pgae\n    per_item: true\n",
        )
        .args(&["recommend", "flows.yaml"])
        .status(2);
    assert_eq!(
        run.stderr,
        "error: `during: catalog-pgae` in flow `price-item` names no inbound flow of `catalog`\n --> flows.yaml:9:13\n  |\n9 |     during: catalog-pgae\n  |             ^^^^^^^^^^^^ did you mean `catalog-page`?\n  = accepted: catalog-page (the flows whose `to` names `catalog`)\n"
    );
}

#[test]
fn rejects_a_during_that_names_a_flow_the_caller_does_not_receive() {
    let run = Test::new()
        .file(
            "flows.yaml",
            "version: 1\nflows:\n  - name: catalog-page\n    from: storefront\n    to: catalog\n  - name: price-item\n    from: catalog\n    to: pricing\n    during: price-item\n",
        )
        .args(&["recommend", "flows.yaml"])
        .status(2);
    assert!(
        run.stderr.contains("names no inbound flow of `catalog`"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
}

#[test]
fn rejects_a_team_default_that_is_not_a_synchronous_transport() {
    let run = Test::new()
        .file(
            "flows.yaml",
            "version: 1\nprefer:\n  internal: kafka\nflows:\n  - name: a\n    from: b\n    to: c\n",
        )
        .args(&["recommend", "flows.yaml"])
        .status(2);
    assert!(
        run.stderr
            .contains("error: unknown `prefer: internal` transport `kafka`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("= accepted: rest, grpc"),
        "{}",
        run.stderr
    );
}
