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
    reports_every_unknown_field_at_once: "unknown-field-in-every-flow.yaml";
    rejects_version_as_a_string_without_contradiction: "version-as-string.yaml";
    names_the_flow_or_service_of_non_finite_numbers: "non-finite-numbers.yaml";
    rejects_rust_keyword_as_flow: "keyword-flow.yaml";
    rejects_names_that_collide_as_identifiers: "identifier-collision.yaml";
    rejects_names_of_crates_the_workspace_depends_on: "workspace-crate-service.yaml";
    rejects_figures_over_kafka_limits: "figures-over-kafka-limits.yaml";
    rejects_kafka_internal_topics: "kafka-internal-topic.yaml";
    rejects_a_topic_that_is_another_flows_dead_letter_topic: "dead-letter-topic.yaml";
    rejects_overlong_names_without_printing_them_whole: "overlong-name.yaml";
    escapes_control_and_bidirectional_characters: "control-characters.yaml";
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
         = accepted: name, description, from, to, interaction, client, coupling, latency_ms, throughput, delivery, replay, ordering, format, contract, payload_bytes, topic, retention_hours, transport, rpc, message, key, compatibility, during, per_item\n"
    );
}

#[test]
fn reads_yaml_1_1_words_in_a_to_list_as_names() {
    let run = Test::new()
        .file(
            "flows.yaml",
            "version: 1\nflows:\n  - name: fan-out\n    from: hub\n    to: [y, off, n, yes]\n  - name: block\n    from: hub\n    to:\n      - on\n      - no\n",
        )
        .args(&["recommend", "flows.yaml", "--format", "json"])
        .success();
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(
        report["flows"][0]["to"],
        serde_json::json!(["y", "off", "n", "yes"])
    );
    assert_eq!(report["flows"][1]["to"], serde_json::json!(["on", "no"]));
}

#[test]
fn caps_partitions_and_replication_at_kafkas_limits() {
    for (option, value, cap) in [
        ("--min-partitions", "4294967295", "1..=100000"),
        ("--replication", "4294967295", "1..=16"),
        ("--replication", "17", "1..=16"),
    ] {
        let run = Test::new()
            .fixture("examples/orders.yaml", "flows.yaml")
            .args(&["recommend", "flows.yaml", option, value])
            .status(2);
        assert!(
            run.stderr.contains(&format!("{value} is not in {cap}")),
            "{option} {value}: {}",
            run.stderr
        );
    }
    Test::new()
        .fixture("examples/orders.yaml", "flows.yaml")
        .args(&[
            "recommend",
            "flows.yaml",
            "--min-partitions",
            "100000",
            "--replication",
            "16",
        ])
        .success();
}

#[test]
fn markdown_escapes_html_in_descriptions() {
    let run = Test::new()
        .file(
            "flows.yaml",
            "version: 1\nflows:\n  - name: get-order\n    description: \"Shows an order <!-- everything below is hidden\"\n    from: web\n    to: orders\n  - name: ping\n    description: |\n      <img src=x onerror=alert(1)>\n      # Approved\n    from: web\n    to: orders\n",
        )
        .args(&["recommend", "flows.yaml", "--format", "markdown"])
        .success();
    assert!(!run.stdout.contains("<!--"), "{}", run.stdout);
    assert!(!run.stdout.contains("<img"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("> Shows an order &lt;\\!-- everything below is hidden\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("> &lt;img src=x onerror=alert(1)&gt;\n> \\# Approved\n"),
        "{}",
        run.stdout
    );
}

/// `adr` with `args`, and `SOURCE_DATE_EPOCH` set to `epoch` when given.
fn adr_run(args: &[&str], epoch: Option<&str>) -> std::process::Output {
    let test = Test::new().fixture("examples/orders.yaml", "flows.yaml");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_commsadvise"));
    command
        .args(["adr", "flows.yaml", "--out", "docs/adr"])
        .args(args)
        .current_dir(test.path())
        .env_remove("SOURCE_DATE_EPOCH");
    if let Some(epoch) = epoch {
        command.env("SOURCE_DATE_EPOCH", epoch);
    }
    let output = command.output().expect("binary runs");
    assert!(
        !test.path().join("docs/adr").exists() || output.status.success(),
        "nothing written on a refusal"
    );
    output
}

#[test]
fn adr_refuses_a_day_the_calendar_lacks() {
    let output = adr_run(&["--date", "2024-02-30"], None);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: invalid date `2024-02-30` for `--date`: 2024-02 has 29 days\n"
    );
    assert_eq!(
        adr_run(&["--date", "2024-02-29"], None).status.code(),
        Some(0)
    );
}

#[test]
fn adr_refuses_a_malformed_source_date_epoch() {
    for bad in ["yesterday", "-5", "1.5e9", "99999999999999"] {
        let output = adr_run(&[], Some(bad));
        assert_eq!(output.status.code(), Some(2), "{bad}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with(&format!("error: SOURCE_DATE_EPOCH `{bad}` is not a date: ")),
            "{stderr}"
        );
    }
    let output = adr_run(&[], Some("1735603200"));
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
