//! Rules as data: every built-in rule fires on its own examples and stays
//! quiet on the others; `rules ID` explains each; broken rule files are
//! refused with clear errors.

use crate::common::Test;

/// One test per built-in rule, checking its own fire/quiet examples through
/// the library, plus a snapshot of `commsadvise rules ID`.
macro_rules! rule_tests {
    ($($test:ident: $id:literal;)*) => {
        $(
            #[test]
            fn $test() {
                let rules = commsadvise::engine::RuleSet::builtin().expect("built-in rules load");
                let rule = rules.get($id).expect("rule exists");
                assert!(!rule.fires.is_empty(), "{} needs an example where it fires", $id);
                if rule.when != commsadvise::engine::rule::Condition::Always {
                    assert!(!rule.quiet.is_empty(), "{} needs an example where it stays quiet", $id);
                }
                for (i, facts) in rule.fires.iter().enumerate() {
                    assert!(rule.when.holds(facts), "{} must fire on example {i}", $id);
                }
                for (i, facts) in rule.quiet.iter().enumerate() {
                    assert!(!rule.when.holds(facts), "{} must stay quiet on example {i}", $id);
                }
                let run = Test::new().args(&["rules", $id]).success();
                insta::assert_snapshot!(run.stdout);
            }
        )*

        #[test]
        fn every_built_in_rule_has_a_test() {
            let tested = [$($id),*];
            let rules = commsadvise::engine::RuleSet::builtin().unwrap();
            let ids: Vec<&str> = rules.all().iter().map(|r| &*r.id).collect();
            let mut sorted = tested.to_vec();
            sorted.sort_unstable();
            assert_eq!(ids, sorted, "add the new rule to rule_tests!");
        }
    };
}

rule_tests! {
    at_least_once_delivery: "at-least-once-delivery";
    backlog_is_observable: "backlog-is-observable";
    binary_wire: "binary-wire";
    broker_hop_latency: "broker-hop-latency";
    browser_cannot_consume_kafka: "browser-cannot-consume-kafka";
    browser_client: "browser-client";
    event_driven: "event-driven";
    exactly_once_needs_transactions: "exactly-once-needs-transactions";
    exposed_api_stays_rest: "exposed-api-stays-rest";
    fan_out: "fan-out";
    grpc_at_least_once_needs_retries: "grpc-at-least-once-needs-retries";
    grpc_binary_debugging: "grpc-binary-debugging";
    grpc_breaking_proto_changes: "grpc-breaking-proto-changes";
    grpc_for_outside_clients: "grpc-for-outside-clients";
    grpc_in_browsers: "grpc-in-browsers";
    grpc_large_messages: "grpc-large-messages";
    grpc_retry_storm: "grpc-retry-storm";
    grpc_web_cannot_stream_from_a_browser: "grpc-web-cannot-stream-from-a-browser";
    high_throughput_internal_calls: "high-throughput-internal-calls";
    high_volume_events: "high-volume-events";
    human_readable_wire: "human-readable-wire";
    internal_low_latency: "internal-low-latency";
    kafka_consumer_lag: "kafka-consumer-lag";
    kafka_duplicates_need_idempotent_consumers: "kafka-duplicates-need-idempotent-consumers";
    kafka_exactly_once_transactions: "kafka-exactly-once-transactions";
    kafka_large_messages: "kafka-large-messages";
    kafka_partition_tuning: "kafka-partition-tuning";
    kafka_poison_messages: "kafka-poison-messages";
    kafka_request_reply: "kafka-request-reply";
    kafka_schema_evolution: "kafka-schema-evolution";
    kafka_total_order: "kafka-total-order";
    large_payloads: "large-payloads";
    loose_coupling_needs_a_broker: "loose-coupling-needs-a-broker";
    loose_coupling_of_a_waiting_caller: "loose-coupling-of-a-waiting-caller";
    mobile_apps_cannot_reach_the_broker: "mobile-apps-cannot-reach-the-broker";
    mobile_client: "mobile-client";
    per_key_ordering: "per-key-ordering";
    public_api: "public-api";
    public_clients_cannot_reach_the_broker: "public-clients-cannot-reach-the-broker";
    read_with_fallback_on_grpc: "read-with-fallback-on-grpc";
    read_with_fallback_on_rest: "read-with-fallback-on-rest";
    replay_needs_a_log: "replay-needs-a-log";
    request_response: "request-response";
    rest_at_least_once_needs_retries: "rest-at-least-once-needs-retries";
    rest_n_plus_one: "rest-n-plus-one";
    rest_retry_storm: "rest-retry-storm";
    rest_streaming_over_http: "rest-streaming-over-http";
    rest_sync_fan_out: "rest-sync-fan-out";
    rest_versioning_chaos: "rest-versioning-chaos";
    streaming: "streaming";
    strict_contract: "strict-contract";
    strict_contract_in_browsers: "strict-contract-in-browsers";
    team_prefers_grpc: "team-prefers-grpc";
    team_prefers_rest: "team-prefers-rest";
    waiting_caller_needs_a_direct_answer: "waiting-caller-needs-a-direct-answer";
}

#[test]
fn every_criterion_has_a_rule() {
    let rules = commsadvise::engine::RuleSet::builtin().unwrap();
    for criterion in commsadvise::engine::rule::Criterion::ALL {
        assert!(
            rules.all().iter().any(|r| r.criterion == *criterion),
            "no rule for {criterion}"
        );
    }
}

/// One snapshot per system check of `commsadvise rules ID`.
macro_rules! check_tests {
    ($($test:ident: $id:literal;)*) => {
        $(
            #[test]
            fn $test() {
                let run = Test::new().args(&["rules", $id]).success();
                insta::assert_snapshot!(run.stdout);
            }
        )*

        #[test]
        fn every_system_check_has_a_test() {
            let tested = [$($id),*];
            let ids: Vec<&str> = commsadvise::engine::system::CHECKS.iter().map(|c| c.id).collect();
            assert_eq!(ids, tested, "add the new check to check_tests!");
        }
    };
}

check_tests! {
    explains_the_sync_cycle_check: "sync-cycle";
    explains_the_latency_budget_check: "latency-budget";
    explains_the_long_sync_chain_check: "long-sync-chain";
    explains_the_chain_availability_check: "chain-availability";
    explains_the_request_availability_check: "request-availability";
    explains_the_single_point_of_failure_check: "single-point-of-failure";
    explains_the_n_plus_one_check: "n-plus-one";
    explains_the_sync_fan_out_check: "sync-fan-out";
    explains_the_self_call_check: "self-call";
}

#[test]
fn a_team_rule_named_like_a_system_check_is_refused_not_explained() {
    let run = Test::new()
        .file("r.yaml", scoring("sync-cycle", "1"))
        .args(&["rules", "sync-cycle", "--rules", "r.yaml"])
        .status(2);
    assert!(
        run.stderr
            .contains("error: rule id `sync-cycle` is the id of a system check"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn lists_every_rule() {
    let run = Test::new().args(&["rules"]).success();
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn unknown_rule_id_suggests_a_near_one() {
    let run = Test::new().args(&["rules", "browser-clients"]).status(2);
    assert!(
        run.stderr.contains("did you mean `browser-client`?"),
        "{}",
        run.stderr
    );
}

macro_rules! rule_error_cases {
    ($($test:ident: $fixture:literal;)*) => {$(
        #[test]
        fn $test() {
            let run = Test::new()
                .fixture("examples/orders.yaml", "flows.yaml")
                .fixture(concat!("tests/fixtures/rule-errors/", $fixture), $fixture)
                .args(&["recommend", "flows.yaml", "--rules", $fixture])
                .status(2);
            insta::assert_snapshot!(run.stderr);
        }
    )*};
}

rule_error_cases! {
    rejects_unknown_criterion: "unknown-criterion.yaml";
    rejects_unknown_condition_field: "unknown-condition-field.yaml";
    rejects_unknown_condition_value: "unknown-condition-value.yaml";
    rejects_two_effects_in_one_rule: "two-effects.yaml";
    rejects_unknown_operator: "unknown-operator.yaml";
    rejects_unknown_rule_field: "unknown-rule-field.yaml";
    rejects_unknown_effect_transport: "unknown-effect-transport.yaml";
    reports_every_problem_of_a_rule_file_at_once: "many-errors.yaml";
    rejects_examples_that_contradict_when: "example-contradicts-when.yaml";
    rejects_scores_that_are_huge_infinite_or_not_a_number: "score-out-of-range.yaml";
    tells_an_empty_rule_file_what_a_rule_holds: "empty.yaml";
    tells_a_comment_only_rule_file_what_a_rule_holds: "comment-only.yaml";
    tells_a_rule_file_with_two_documents_to_split_them: "two-documents.yaml";
    rejects_a_require_that_is_not_a_transport_or_a_list: "require-not-a-transport.yaml";
    rejects_a_rule_with_the_id_of_a_system_check: "id-of-a-system-check.yaml";
}

#[test]
fn rejects_duplicate_ids_across_user_files() {
    let rule = "id: mine\ncriterion: Use Cases\neffect: { score: { rest: 1 } }\ntext: x\n";
    let run = Test::new()
        .fixture("examples/orders.yaml", "flows.yaml")
        .file("r/a.yaml", rule)
        .file("r/b.yaml", rule)
        .args(&["recommend", "flows.yaml", "--rules", "r"])
        .status(2);
    insta::assert_snapshot!(run.stderr);
}

/// A rule that scores `rest` with `score`.
fn scoring(id: &str, score: &str) -> String {
    format!("id: {id}\ncriterion: Use Cases\neffect: {{ score: {{ rest: {score} }} }}\ntext: x\n")
}

// Issue 17: two rules of 1e308 each summed to infinity in every flow.
#[test]
fn rejects_scores_that_would_sum_to_infinity() {
    let run = Test::new()
        .fixture("examples/orders.yaml", "flows.yaml")
        .file("r/a.yaml", scoring("big-a", "1e308"))
        .file("r/b.yaml", scoring("big-b", "1e308"))
        .args(&["recommend", "flows.yaml", "--rules", "r"])
        .status(2);
    assert_eq!(
        run.stderr
            .matches("is not a number from -1000 to 1000")
            .count(),
        2,
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("in rule `big-a`") && run.stderr.contains("in rule `big-b`"));
}

#[test]
fn reports_the_problems_of_every_rule_file_together() {
    let run = Test::new()
        .fixture("examples/orders.yaml", "flows.yaml")
        .fixture(
            "tests/fixtures/rule-errors/unknown-criterion.yaml",
            "r/a.yaml",
        )
        .fixture(
            "tests/fixtures/rule-errors/unknown-operator.yaml",
            "r/b.yaml",
        )
        .args(&["recommend", "flows.yaml", "--rules", "r"])
        .status(2);
    assert!(run.stderr.contains("--> r/a.yaml:2:12"), "{}", run.stderr);
    assert!(run.stderr.contains("--> r/b.yaml:3:23"), "{}", run.stderr);
}

// Issue 17: a 70,000-character id made `rules` panic ("Formatting argument
// out of range", exit 101) on the width of its table column.
#[test]
fn rejects_a_70000_character_rule_id() {
    let run = listing_with_id(&format!("a{}", "b".repeat(69_999))).status(2);
    insta::assert_snapshot!(run.stderr);
}

/// `commsadvise rules` with one user rule of the given id.
fn listing_with_id(id: &str) -> Test {
    Test::new()
        .file("long.yaml", scoring(id, "1"))
        .args(&["rules", "--rules", "long.yaml"])
}

#[test]
fn lists_a_rule_with_the_longest_id_allowed() {
    let id = format!("a{}", "b".repeat(63));
    let run = listing_with_id(&id).success();
    let row = run
        .stdout
        .lines()
        .find(|l| l.starts_with(&id))
        .expect("listed");
    assert!(row.starts_with(&format!("{id}  Use Cases")), "{row}");
}

/// The ids `commsadvise rules --rules r` lists that are not built in.
fn user_ids(test: &Test) -> Vec<String> {
    let run = test.run();
    assert_eq!(run.status, 0, "{}", run.stderr);
    run.stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|id| id.starts_with("mine-"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn reads_rule_files_with_upper_case_extensions() {
    let test = Test::new()
        .file("r/a.YAML", scoring("mine-a", "1"))
        .file("r/b.Yml", scoring("mine-b", "1"))
        .file("r/c.yaml", scoring("mine-c", "1"))
        .file("r/notes.txt", "not a rule")
        .args(&["rules", "--rules", "r"]);
    assert_eq!(user_ids(&test), ["mine-a", "mine-b", "mine-c"]);
}

#[cfg(unix)]
mod links {
    use std::os::unix::fs::symlink;

    use super::{scoring, user_ids};
    use crate::common::Test;

    /// `commsadvise rules --rules r` with one rule file in `r/`.
    fn own_rule_folder() -> Test {
        Test::new()
            .file("r/own.yaml", scoring("mine-own", "1"))
            .args(&["rules", "--rules", "r"])
    }

    #[test]
    fn follows_links_to_rule_files_and_folders() {
        let test = own_rule_folder()
            .file("elsewhere/linked.yaml", scoring("mine-linked", "1"))
            .file("shared/in-folder.yaml", scoring("mine-in-folder", "1"));
        symlink(
            "../elsewhere/linked.yaml",
            test.path().join("r/linked.yaml"),
        )
        .unwrap();
        symlink("../shared", test.path().join("r/shared")).unwrap();
        // The same file twice, through a link beside it: read once, not a duplicate id.
        symlink("own.yaml", test.path().join("r/z-own-again.yaml")).unwrap();
        assert_eq!(
            user_ids(&test),
            ["mine-in-folder", "mine-linked", "mine-own"]
        );
    }

    #[test]
    fn reports_a_dangling_link_to_a_rule_file() {
        let test = own_rule_folder();
        symlink("missing.yaml", test.path().join("r/gone.yaml")).unwrap();
        // A dangling link that is not named like a rule file is not one.
        symlink("missing", test.path().join("r/README")).unwrap();
        let run = test.status(2);
        insta::assert_snapshot!(run.stderr);
    }

    #[test]
    fn reports_a_link_loop_in_a_rules_folder() {
        let test = own_rule_folder();
        symlink("..", test.path().join("r/up")).unwrap();
        let run = test.status(2);
        assert!(
            run.stderr
                .contains("error: `r/up/r/up` links back to `r/up`, a folder above it"),
            "{}",
            run.stderr
        );
    }

    #[test]
    fn refuses_a_fifo_named_like_a_rule_file() {
        let test = own_rule_folder();
        let made = std::process::Command::new("mkfifo")
            .arg(test.path().join("r/pipe.yaml"))
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
        let run = test.status(2);
        assert!(
            run.stderr
                .contains("error: `r/pipe.yaml` is not a regular file"),
            "{}",
            run.stderr
        );
    }
}

// Issue 17: one flow to 1,400 services with long names made the route
// column 70,000 characters wide and `recommend` panicked (exit 101).
#[test]
fn recommends_a_flow_to_1400_services_with_a_narrow_table() {
    let to: Vec<String> = (0..1400)
        .map(|i| format!("receiving-service-number-{i:0>23}"))
        .collect();
    let flows = format!(
        "version: 1\nflows:\n  - name: broadcast\n    from: hub\n    interaction: event\n    to: [{}]\n",
        to.join(", ")
    );
    let run = Test::new()
        .file("flows.yaml", flows)
        .args(&["recommend", "flows.yaml"])
        .success();
    let row = run
        .stdout
        .lines()
        .find(|l| l.starts_with("broadcast "))
        .expect("a table row");
    assert!(row.contains("hub -> 1400 services"), "{row}");
    assert!(row.len() < 200, "{row}");
}

// A team's rule text reaches the terminal through `rules ID` too: escaped,
// as in every report (review of issue 17, item 6).
#[test]
fn explaining_a_rule_escapes_control_and_bidirectional_characters() {
    let run = Test::new()
        .file("r/hostile.yaml", crate::recommend::HOSTILE_RULE)
        .args(&["rules", "hostile", "--rules", "r"])
        .success();
    assert!(!run.stdout.contains('\u{1b}'), "{}", run.stdout);
    assert!(!run.stdout.contains('\u{202e}'), "{}", run.stdout);
    assert!(
        run.stdout.contains("Clears \\u{1b}[2J the"),
        "{}",
        run.stdout
    );
}
