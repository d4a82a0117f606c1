//! Broken inputs: each gets a clear, stable error (snapshotted verbatim),
//! exit code 2, and no panic.

use crate::common::Test;

macro_rules! error_cases {
    ($($test:ident: $fixture:literal;)*) => {$(
        #[test]
        fn $test() {
            let run = Test::new()
                .fixture(concat!("tests/fixtures/errors/", $fixture), $fixture)
                .args(&["recommend", $fixture])
                .status(2);
            assert!(run.stdout.is_empty(), "nothing on stdout: {}", run.stdout);
            assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
            insta::assert_snapshot!(run.stderr);
        }
    )*};
}

error_cases! {
    rejects_unknown_field: "unknown-field.yaml";
    rejects_unknown_transport: "unknown-transport.yaml";
    rejects_unknown_interaction: "unknown-interaction.yaml";
    rejects_duplicate_keys: "duplicate-key.yaml";
    rejects_duplicate_flow_names: "duplicate-flow-name.yaml";
    rejects_empty_to: "empty-to.yaml";
    rejects_names_outside_the_rule: "bad-flow-name.yaml";
    rejects_version_2: "version-2.yaml";
    rejects_missing_version: "missing-version.yaml";
    rejects_pin_outside_transports: "pinned-outside-transports.yaml";
    rejects_near_miss_of_a_declared_service: "unknown-service.yaml";
    rejects_empty_file: "empty-file.yaml";
    rejects_comment_only_file: "comment-only.yaml";
    rejects_a_list_at_the_top: "list-not-map.yaml";
    rejects_alias_bombs: "alias-bomb.yaml";
    rejects_deep_nesting: "deep-nesting.yaml";
    rejects_tab_indentation: "tab-indent.yaml";
    rejects_missing_from: "missing-from.yaml";
    rejects_rust_keyword_as_service: "keyword-service.yaml";
    rejects_negative_numbers: "negative-latency.yaml";
    rejects_two_documents: "two-documents.yaml";
    rejects_unknown_top_level_key: "unknown-top-level-key.yaml";
    rejects_bad_topic: "bad-topic.yaml";
    rejects_path_as_service_name: "path-in-service.yaml";
    rejects_non_boolean_replay: "bad-bool.yaml";
    rejects_topics_that_collide: "colliding-topics.yaml";
    reports_every_error_at_once: "two-errors.yaml";
    rejects_duplicate_receivers: "duplicate-receiver.yaml";
}

#[test]
fn rejects_invalid_utf8_with_its_position() {
    let run = Test::new()
        .file("flows.yaml", b"version: 1\nflows:\n  - name: caf\xe9\n")
        .args(&["recommend", "flows.yaml"])
        .status(2);
    insta::assert_snapshot!(run.stderr);
}

#[test]
fn rejects_a_file_over_the_size_cap() {
    let big = format!("version: 1\n#{}\n", "x".repeat(33 * 1024 * 1024));
    let run = Test::new()
        .file("flows.yaml", big)
        .args(&["recommend", "flows.yaml"])
        .status(2);
    assert!(run.stderr.contains("over the limit"), "{}", run.stderr);
}

#[test]
fn missing_file_is_an_input_error() {
    let run = Test::new().args(&["recommend", "nope.yaml"]).status(2);
    insta::assert_snapshot!(run.stderr);
}

#[test]
fn unknown_format_is_a_usage_error() {
    let run = Test::new()
        .fixture("examples/orders.yaml", "flows.yaml")
        .args(&["recommend", "flows.yaml", "--format", "yaml"])
        .status(2);
    assert!(
        run.stderr.contains("possible values: text, json, markdown"),
        "{}",
        run.stderr
    );
}

#[test]
fn shows_the_source_line_and_caret_verbatim() {
    let run = Test::new()
        .fixture("tests/fixtures/errors/unknown-field.yaml", "flows.yaml")
        .args(&["recommend", "flows.yaml"])
        .status(2);
    assert_eq!(
        run.stderr,
        "error: unknown field `latency` in flow `get-order`\n \
         --> flows.yaml:7:5\n  |\n7 |     latency: 5\n  |     ^^^^^^^ did you mean `latency_ms`?\n  \
         = accepted: name, description, from, to, interaction, client, coupling, latency_ms, throughput, delivery, replay, ordering, format, contract, payload_bytes, topic, retention_hours, transport, rpc, message, key, during, per_item\n"
    );
}
