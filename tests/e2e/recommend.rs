//! `recommend` on the examples: the public example cases (docs/rules.md), every format
//! snapshotted, determinism and metamorphic checks.

use serde_json::Value;

use crate::common::Test;

fn json(example: &str) -> Value {
    let run = Test::new()
        .fixture(example, "flows.yaml")
        .args(&["recommend", "flows.yaml", "--format", "json"])
        .success();
    serde_json::from_str(&run.stdout).expect("valid JSON")
}

fn transports(report: &Value) -> Vec<(String, String)> {
    report["flows"]
        .as_array()
        .expect("flows")
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_owned(),
                f["transport"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn orders_example_uses_rest_grpc_and_kafka() {
    let report = json("examples/orders.yaml");
    assert_eq!(
        transports(&report),
        [
            ("get-order", "rest"),
            ("lookup-order", "grpc"),
            ("order-created", "kafka")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
}

#[test]
fn spec_cases_come_out_as_specified() {
    let text = std::fs::read_to_string(crate::common::repo("examples/spec-cases.yaml")).unwrap();
    // Each flow is preceded by a comment holding its expected transport.
    let expected: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("# "))
        .filter_map(|c| {
            ["rest", "grpc", "kafka"]
                .into_iter()
                .find(|t| c.starts_with(t))
                .map(str::to_owned)
        })
        .collect();
    let report = json("examples/spec-cases.yaml");
    let got: Vec<String> = transports(&report).into_iter().map(|(_, t)| t).collect();
    assert_eq!(got, expected);
    let last = &report["flows"][7];
    assert_eq!(last["name"], "browser-submits-order");
    let conflict = &last["conflicts"][0];
    assert_eq!(conflict["id"], "edge-outbox-to-kafka");
    let text = conflict["text"].as_str().unwrap();
    assert!(text.contains("outbox") && text.contains("Kafka"), "{text}");
}

#[test]
fn json_report_has_the_spec_keys() {
    let report = json("examples/orders.yaml");
    assert_eq!(report["version"], 1);
    for flow in report["flows"].as_array().unwrap() {
        for key in [
            "name",
            "from",
            "to",
            "transport",
            "pinned",
            "scores",
            "reasons",
            "risks",
            "conflicts",
        ] {
            assert!(flow.get(key).is_some(), "missing {key}");
        }
        assert!(
            !flow["reasons"].as_array().unwrap().is_empty(),
            "reasons are never empty"
        );
        for key in ["rule", "criterion", "transport", "text"] {
            assert!(flow["reasons"][0].get(key).is_some(), "reason lacks {key}");
        }
        for t in ["rest", "grpc", "kafka"] {
            assert!(flow["scores"][t].is_f64(), "score {t}");
        }
    }
    assert_eq!(report["flows"][0]["risks"][1]["id"], "rest-retry-storm");
}

macro_rules! snapshot_formats {
    ($($test:ident: $example:literal, $format:literal;)*) => {$(
        #[test]
        fn $test() {
            let run = Test::new()
                .fixture($example, "flows.yaml")
                .args(&["recommend", "flows.yaml", "--format", $format])
                .success();
            insta::assert_snapshot!(run.stdout);
        }
    )*};
}

snapshot_formats! {
    orders_text: "examples/orders.yaml", "text";
    orders_json: "examples/orders.yaml", "json";
    orders_markdown: "examples/orders.yaml", "markdown";
    spec_cases_text: "examples/spec-cases.yaml", "text";
    spec_cases_json: "examples/spec-cases.yaml", "json";
    spec_cases_markdown: "examples/spec-cases.yaml", "markdown";
}

#[test]
fn two_runs_give_the_same_bytes() {
    for format in ["text", "json", "markdown"] {
        let test = Test::new()
            .fixture("examples/spec-cases.yaml", "flows.yaml")
            .args(&["recommend", "flows.yaml", "--format", format]);
        assert_eq!(test.success().stdout, test.success().stdout, "{format}");
    }
}

#[test]
fn text_has_no_colour_when_no_color_is_set() {
    let run = Test::new()
        .fixture("examples/orders.yaml", "flows.yaml")
        .args(&["recommend", "flows.yaml"])
        .success();
    assert!(!run.stdout.contains('\x1b'));
}

fn transports_of(yaml: &str) -> Vec<(String, String)> {
    let run = Test::new()
        .file("flows.yaml", yaml)
        .args(&["recommend", "flows.yaml", "--format", "json"])
        .success();
    let mut t = transports(&serde_json::from_str(&run.stdout).unwrap());
    t.sort();
    t
}

#[test]
fn renaming_services_changes_no_transport() {
    let original =
        std::fs::read_to_string(crate::common::repo("examples/spec-cases.yaml")).unwrap();
    let renamed = original
        .replace("storefront", "web-shop")
        .replace("orders", "order-service")
        .replace("analytics", "bi")
        .replace("pricing", "prices");
    assert_eq!(transports_of(&original), transports_of(&renamed));
}

#[test]
fn reordering_flows_changes_no_transport() {
    let original =
        std::fs::read_to_string(crate::common::repo("examples/spec-cases.yaml")).unwrap();
    let (head, body) = original.split_at(original.find("flows:\n").unwrap() + 7);
    let mut flows: Vec<String> = body
        .split("\n\n")
        .map(|f| f.trim_end().to_owned())
        .collect();
    flows.reverse();
    let reordered = format!("{head}{}\n", flows.join("\n\n"));
    assert_eq!(transports_of(&original), transports_of(&reordered));
}

#[test]
fn adding_an_unrelated_flow_changes_no_transport() {
    let original =
        std::fs::read_to_string(crate::common::repo("examples/spec-cases.yaml")).unwrap();
    let extended = format!(
        "{original}\n  - name: unrelated\n    from: billing\n    to: mailer\n    interaction: event\n"
    );
    let mut before = transports_of(&original);
    let mut after = transports_of(&extended);
    after.retain(|(name, _)| name != "unrelated");
    before.sort();
    assert_eq!(before, after);
}

#[test]
fn pinned_transport_is_reported_with_the_rules_choice() {
    let run = Test::new()
        .file("flows.yaml", "version: 1\nflows:\n  - name: a\n    from: caller\n    to: callee\n    client: browser\n    transport: grpc\n")
        .args(&["recommend", "flows.yaml", "--format", "json"])
        .success();
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let flow = &report["flows"][0];
    assert_eq!(flow["transport"], "grpc");
    assert_eq!(flow["pinned"], true);
    assert_eq!(flow["rules_choice"], "rest");
    let risks: Vec<&str> = flow["risks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(risks.contains(&"grpc-in-browsers"), "{risks:?}");
}

#[test]
fn allowed_transports_are_honoured_with_a_conflict() {
    let run = Test::new()
        .file(
            "flows.yaml",
            "version: 1\ntransports: [rest, grpc]\nflows:\n  - name: ledger\n    from: payments\n    to: ledger\n    delivery: exactly-once\n",
        )
        .args(&["recommend", "flows.yaml", "--format", "json"])
        .success();
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let flow = &report["flows"][0];
    assert_ne!(flow["transport"], "kafka");
    assert_eq!(flow["conflicts"][0]["id"], "idempotency-keys");
}

#[test]
fn close_calls_name_the_field_that_would_flip_them() {
    let run = Test::new()
        .file("flows.yaml", "version: 1\nflows:\n  - name: a\n    from: caller\n    to: callee\n    contract: strict\n")
        .args(&["recommend", "flows.yaml", "--format", "json"])
        .success();
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let flow = &report["flows"][0];
    assert_eq!(flow["transport"], "grpc");
    assert_eq!(flow["margin"], 1.0);
    let flips = flow["flips"].as_array().unwrap();
    assert!(
        flips.iter().any(|f| f["field"] == "contract"
            && f["value"] == "flexible"
            && f["transport"] == "rest"),
        "{flips:?}"
    );
}

#[test]
fn user_rules_replace_built_in_ones_with_the_same_id() {
    let rule = "id: browser-client\ncriterion: Use Cases\nwhen: { client: browser }\neffect: { score: { grpc: 20 } }\ntext: Our browsers all go through a grpc-web proxy.\n";
    let run = Test::new()
        .fixture("examples/orders.yaml", "flows.yaml")
        .file("team-rules/browser.yaml", rule)
        .args(&[
            "recommend",
            "flows.yaml",
            "--format",
            "json",
            "--rules",
            "team-rules",
        ])
        .success();
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["flows"][0]["transport"], "grpc");
    assert_eq!(
        report["flows"][0]["reasons"][1]["text"],
        "Our browsers all go through a grpc-web proxy."
    );
}

#[test]
fn closed_stdout_is_not_an_error() {
    use std::process::{Command, Stdio};
    let test = Test::new().fixture("examples/spec-cases.yaml", "flows.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_commsadvise"))
        .args(["recommend", "flows.yaml", "--format", "markdown"])
        .current_dir(test.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn reasons_are_never_empty_even_when_user_rules_silence_every_built_in_one() {
    // Replace the three interaction rules, one of which fires for any flow,
    // with rules that never fire.
    let silent = |id: &str| {
        format!(
            "id: {id}\ncriterion: Communication\nwhen: {{ receivers: {{ gt: 1000 }} }}\neffect: {{ score: {{ rest: 1 }} }}\ntext: silenced\n"
        )
    };
    let run = Test::new()
        .file(
            "flows.yaml",
            "version: 1\nflows:\n  - name: a\n    from: caller\n    to: callee\n",
        )
        .file("r/a.yaml", silent("request-response"))
        .file("r/b.yaml", silent("event-driven"))
        .file("r/c.yaml", silent("streaming"))
        .args(&[
            "recommend",
            "flows.yaml",
            "--format",
            "json",
            "--rules",
            "r",
        ])
        .success();
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let reasons = report["flows"][0]["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert_eq!(reasons[0]["rule"], "no-rule-fired");
    assert_eq!(report["flows"][0]["transport"], "rest");
}

/// The engine evaluates each distinct shape of flow once and shares the
/// verdict; sharing must never change what a flow gets.
#[test]
fn a_flow_gets_the_same_recommendation_alone_as_among_flows_of_its_shape() {
    use commsadvise::engine::{RuleSet, recommend};

    let rules = RuleSet::builtin().expect("built-in rules");
    let shared = "version: 1
services:
  audit: { instances: 12 }
flows:
  - { name: a, from: orders, to: [billing], interaction: event, throughput: 500, payload_bytes: 1000 }
  - { name: b, from: orders, to: [audit], interaction: event, throughput: 500, payload_bytes: 1000, topic: audit-log, retention_hours: 24 }
  - { name: c, from: shop, to: [billing], interaction: event, throughput: 500, payload_bytes: 1000, transport: kafka }
";
    let mut files = vec![("shared.yaml".to_owned(), shared.to_owned())];
    for example in [
        "examples/orders.yaml",
        "examples/spec-cases.yaml",
        "examples/marketplace.yaml",
    ] {
        let text = std::fs::read_to_string(crate::common::repo(example)).unwrap();
        files.push((example.to_owned(), text));
    }
    for (name, text) in &files {
        let file = commsadvise::spec::load_str(name, text).expect("a valid file");
        let together = recommend(&file, &rules);
        for (i, flow) in file.flows.iter().enumerate() {
            let mut alone = file.clone();
            alone.flows = vec![flow.clone()];
            assert_eq!(
                recommend(&alone, &rules).flows[0],
                together.flows[i],
                "{name}: flow `{}`",
                flow.name
            );
        }
    }

    // Flows a and b share a shape, and so their reasons, but not their topic
    // sizing: b's receiver runs 12 instances and keeps a day of events.
    let file = commsadvise::spec::load_str("shared.yaml", shared).unwrap();
    let report = recommend(&file, &rules);
    let (a, b) = (&report.flows[0], &report.flows[1]);
    assert_eq!(a.reasons, b.reasons);
    let (ka, kb) = (a.kafka.as_ref().unwrap(), b.kafka.as_ref().unwrap());
    assert_eq!(kb.topic, "audit-log");
    assert_ne!(ka.topic, kb.topic);
    assert_eq!(kb.partitions, 12);
    assert!(ka.partitions < 12);
    assert_eq!(kb.retention_hours, 24);
    assert_ne!(ka.retention_hours, 24);
}
