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
    per_key_ordering: "per-key-ordering";
    public_api: "public-api";
    public_clients_cannot_reach_the_broker: "public-clients-cannot-reach-the-broker";
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
