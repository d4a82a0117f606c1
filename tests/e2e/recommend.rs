//! `recommend` on the examples: the public example cases (docs/rules.md), every
//! format snapshotted, determinism and metamorphic checks; the judgement
//! fixtures (tests/fixtures/judgement/, one where each principle fires and
//! one where it stays quiet) and direction probes over many flows.

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
    let reason = report["flows"][0]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "browser-client")
        .expect("the team's rule is a reason");
    assert_eq!(
        reason["text"],
        "Our browsers all go through a grpc-web proxy."
    );
    assert_eq!(report["flows"][0]["via"], "grpc-web or JSON transcoding");
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
    // and the waiting caller's exclusion of Kafka, with rules that never fire.
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
        .file("r/d.yaml", silent("waiting-caller-needs-a-direct-answer"))
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

// ---- Judgement: one fixture per principle where it fires, one where it
// stays quiet (issue 12).

/// Each flow of a judgement fixture: (name, transport, conflict ids).
fn verdicts(fixture: &str) -> Vec<(String, String, Vec<String>)> {
    json(&format!("tests/fixtures/judgement/{fixture}.yaml"))["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let conflicts = f["conflicts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned())
                .collect();
            (
                f["name"].as_str().unwrap().to_owned(),
                f["transport"].as_str().unwrap().to_owned(),
                conflicts,
            )
        })
        .collect()
}

fn expect(rows: &[(&str, &str, &[&str])]) -> Vec<(String, String, Vec<String>)> {
    rows.iter()
        .map(|(n, t, c)| {
            (
                (*n).to_owned(),
                (*t).to_owned(),
                c.iter().map(|s| (*s).to_owned()).collect(),
            )
        })
        .collect()
}

#[test]
fn a_waiting_caller_keeps_a_direct_transport_and_gets_the_bridging_pattern() {
    assert_eq!(
        verdicts("waiting-caller-fires"),
        expect(&[
            ("place-order", "rest", &["edge-outbox-to-kafka"]),
            ("charge-card", "grpc", &["idempotency-keys"]),
            ("book-shipment", "rest", &["async-request-reply"]),
            ("quote-stream", "grpc", &["edge-outbox-to-kafka"]),
            ("reserve-everywhere", "rest", &["edge-outbox-to-kafka"]),
        ])
    );
}

#[test]
fn nobody_waiting_leaves_the_same_needs_to_kafka_without_a_conflict() {
    assert_eq!(
        verdicts("waiting-caller-quiet"),
        expect(&[
            ("order-placed", "kafka", &[]),
            ("card-charged", "kafka", &[]),
            ("shipment-requested", "kafka", &[]),
            ("quote-history", "kafka", &[]),
        ])
    );
}

#[test]
fn an_outside_party_never_reaches_the_broker_and_gets_the_edge_pattern() {
    assert_eq!(
        verdicts("public-edge-fires"),
        expect(&[
            (
                "partner-stock-update",
                "rest",
                &["public-edge-and-webhooks"]
            ),
            (
                "partner-order-feed",
                "rest",
                &["edge-outbox-to-kafka", "public-edge-and-webhooks"]
            ),
            ("partner-payment", "rest", &["idempotency-keys"]),
        ])
    );
    let report = json("tests/fixtures/judgement/public-edge-fires.yaml");
    let edge = &report["flows"][0]["conflicts"][0];
    assert_eq!(edge["kind"], "displaced");
    let text = edge["text"].as_str().unwrap();
    assert!(
        text.contains("webhooks") && text.contains("signed"),
        "{text}"
    );
}

#[test]
fn an_inside_event_and_a_plain_partner_call_need_no_edge_pattern() {
    assert_eq!(
        verdicts("public-edge-quiet"),
        expect(&[
            ("stock-update", "kafka", &[]),
            ("partner-reads-order", "rest", &[]),
        ])
    );
}

#[test]
fn a_browser_never_gets_native_grpc() {
    assert_eq!(
        verdicts("browser-grpc-fires"),
        expect(&[
            ("upload-telemetry", "rest", &["rest-with-sse-or-websocket"]),
            ("typed-telemetry", "rest", &["rest-with-sse-or-websocket"]),
            ("show-basket", "grpc", &[]),
            ("live-prices", "grpc", &["rest-with-sse-or-websocket"]),
        ])
    );
    let report = json("tests/fixtures/judgement/browser-grpc-fires.yaml");
    let flows = report["flows"].as_array().unwrap();
    // A pinned gRPC call from a browser is named for what it is.
    assert_eq!(flows[2]["via"], "grpc-web or JSON transcoding");
    assert!(flows[0].get("via").is_none());
    // A pinned gRPC stream from a browser cannot work: grpc-web has no
    // client streaming.
    assert_eq!(flows[3]["conflicts"][0]["kind"], "ruled-out");
}

#[test]
fn inside_the_network_the_same_stream_is_native_grpc() {
    assert_eq!(
        verdicts("browser-grpc-quiet"),
        expect(&[
            ("upload-telemetry", "grpc", &[]),
            ("show-basket", "rest", &[]),
        ])
    );
    let report = json("tests/fixtures/judgement/browser-grpc-quiet.yaml");
    assert!(report["flows"][0].get("via").is_none());
}

fn risk_ids(flow: &Value) -> Vec<&str> {
    flow["risks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect()
}

#[test]
fn risks_fit_the_declared_delivery_and_a_one_point_win_is_a_close_call() {
    let report = json("tests/fixtures/judgement/risks-fit-fires.yaml");
    let flows = report["flows"].as_array().unwrap();
    assert!(risk_ids(&flows[0]).contains(&"kafka-duplicates-need-idempotent-consumers"));
    assert_eq!(flows[1]["close_call"], true);
    assert_eq!(flows[1]["margin"], 1.0);
    for flow in flows {
        for risk in flow["risks"].as_array().unwrap() {
            assert!(!risk["when"].as_str().unwrap().is_empty(), "{risk}");
        }
    }
    // Every format says so, next to the flip.
    let run = |format: &str| {
        Test::new()
            .fixture(
                "tests/fixtures/judgement/risks-fit-fires.yaml",
                "flows.yaml",
            )
            .args(&["recommend", "flows.yaml", "--format", format])
            .success()
            .stdout
    };
    let text = run("text");
    assert!(
        text.contains("close call: won by +1 over rest; would be rest if client were browser"),
        "{text}"
    );
    let markdown = run("markdown");
    assert!(
        markdown.contains("- **Close call:** won by +1 over rest.\n"),
        "{markdown}"
    );
    assert!(
        markdown.contains("- would be rest if contract were flexible\n"),
        "{markdown}"
    );
    assert!(markdown.contains("+1 over rest, close call"), "{markdown}");
    let html = run("html");
    assert!(html.contains("+1 over rest, close call"), "{html}");
    assert!(
        html.contains("close call: won by +1 over rest; would be rest if"),
        "{html}"
    );
}

#[test]
fn an_at_most_once_event_is_not_warned_about_duplicates_and_a_wide_win_is_no_close_call() {
    let report = json("tests/fixtures/judgement/risks-fit-quiet.yaml");
    let flows = report["flows"].as_array().unwrap();
    assert_eq!(flows[0]["transport"], "kafka");
    assert!(!risk_ids(&flows[0]).contains(&"kafka-duplicates-need-idempotent-consumers"));
    assert_eq!(flows[1]["close_call"], false);
    let text = Test::new()
        .fixture(
            "tests/fixtures/judgement/risks-fit-quiet.yaml",
            "flows.yaml",
        )
        .args(&["recommend", "flows.yaml"])
        .success()
        .stdout;
    assert!(!text.contains("close call"), "{text}");
}

/// The ids of a flow's risks.
fn fallback_risks(flow: &Value) -> Vec<String> {
    flow["risks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .filter(|id| id.starts_with("read-with-fallback-"))
        .collect()
}

#[test]
fn a_loose_read_with_a_deadline_stays_synchronous_with_the_fallback_pattern() {
    assert_eq!(
        verdicts("read-fallback-fires"),
        expect(&[
            ("get-ads", "rest", &[]),
            ("get-recommendations", "grpc", &[]),
            ("page-banner", "rest", &[]),
        ])
    );
    let report = json("tests/fixtures/judgement/read-fallback-fires.yaml");
    let risks: Vec<Vec<String>> = report["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(fallback_risks)
        .collect();
    assert_eq!(
        risks,
        [
            vec!["read-with-fallback-on-rest"],
            vec!["read-with-fallback-on-grpc"],
            vec!["read-with-fallback-on-rest"],
        ]
    );
}

#[test]
fn a_loose_command_gets_async_request_reply_and_a_loose_event_a_broker() {
    assert_eq!(
        verdicts("read-fallback-quiet"),
        expect(&[
            ("book-shipment", "rest", &["async-request-reply"]),
            ("send-invoice", "rest", &["async-request-reply"]),
            ("order-placed", "kafka", &[]),
        ])
    );
    let report = json("tests/fixtures/judgement/read-fallback-quiet.yaml");
    for flow in report["flows"].as_array().unwrap() {
        assert!(fallback_risks(flow).is_empty(), "{}", flow["name"]);
    }
}

/// The rules behind a flow's reasons, in the report's order.
fn reason_rules(flow: &Value) -> Vec<&str> {
    flow["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap())
        .collect()
}

#[test]
fn a_stated_team_default_settles_plain_internal_calls_and_yields_to_figures() {
    let report = json("tests/fixtures/judgement/team-preference-fires.yaml");
    assert_eq!(
        transports(&report),
        [
            ("get-cart", "grpc"),
            ("list-products", "rest"),
            ("app-cart", "grpc"),
            ("debug-order", "rest"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let flows = report["flows"].as_array().unwrap();
    // The policy is the first reason where it decides.
    assert_eq!(reason_rules(&flows[0])[0], "team-prefers-grpc");
    // An API outsiders also use outweighs it.
    assert_eq!(reason_rules(&flows[1])[0], "exposed-api-stays-rest");
    assert_eq!(flows[1]["close_call"], false);
    assert_eq!(reason_rules(&flows[2])[0], "mobile-client");
    assert!(reason_rules(&flows[3]).contains(&"team-prefers-grpc"));
    let without_policy = flows[0]["flips"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == "prefer")
        .expect("a flip on the policy");
    assert_eq!(without_policy["value"], "none");
    assert_eq!(without_policy["transport"], "rest");
}

#[test]
fn without_a_stated_default_a_plain_internal_call_is_a_close_call_for_rest() {
    let report = json("tests/fixtures/judgement/team-preference-quiet.yaml");
    let flows = report["flows"].as_array().unwrap();
    assert_eq!(flows[0]["transport"], "rest");
    assert_eq!(flows[0]["close_call"], true);
    for flow in flows {
        assert!(
            !reason_rules(flow)
                .iter()
                .any(|r| r.starts_with("team-prefers-")),
            "{}",
            flow["name"]
        );
    }
}

macro_rules! snapshot_judgement {
    ($($test:ident: $fixture:literal;)*) => {$(
        #[test]
        fn $test() {
            let run = Test::new()
                .fixture(concat!("tests/fixtures/judgement/", $fixture, ".yaml"), "flows.yaml")
                .args(&["recommend", "flows.yaml"])
                .success();
            insta::assert_snapshot!(run.stdout);
        }
    )*};
}

snapshot_judgement! {
    waiting_caller_text: "waiting-caller-fires";
    public_edge_text: "public-edge-fires";
    browser_grpc_text: "browser-grpc-fires";
    risks_fit_text: "risks-fit-fires";
    read_fallback_text: "read-fallback-fires";
    team_preference_text: "team-preference-fires";
}

#[test]
fn a_team_rule_requiring_kafka_on_a_waiting_call_becomes_a_conflict_with_a_pattern() {
    let rule = "id: audit-everything\ncriterion: Failure Recovery\nwhen: { contract: strict }\neffect: { require: kafka }\ntext: Our auditors read every typed message from Kafka.\n";
    let run = Test::new()
        .file(
            "flows.yaml",
            "version: 1\nflows:\n  - name: a\n    from: caller\n    to: callee\n    contract: strict\n",
        )
        .file("team/audit.yaml", rule)
        .args(&["recommend", "flows.yaml", "--format", "json", "--rules", "team"])
        .success();
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let flow = &report["flows"][0];
    assert_ne!(flow["transport"], "kafka");
    // The team's rule has no resolution of its own: the waiting caller's
    // pattern stands in for it.
    assert_eq!(flow["conflicts"][0]["id"], "edge-outbox-to-kafka");
    assert_eq!(
        flow["conflicts"][0]["rules"],
        serde_json::json!(["audit-everything", "waiting-caller-needs-a-direct-answer"])
    );
}

#[test]
fn a_browser_on_a_kafka_only_organisation_is_a_conflict_that_fails_check() {
    let flows = "version: 1\ntransports: [kafka]\nflows:\n  - name: track-click\n    from: web\n    to: analytics\n    client: browser\n    interaction: event\n";
    let run = Test::new()
        .file("flows.yaml", flows)
        .args(&["recommend", "flows.yaml", "--format", "json"])
        .success();
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let conflict = &report["flows"][0]["conflicts"][0];
    assert_eq!(conflict["id"], "http-edge-to-kafka");
    assert_eq!(conflict["kind"], "ruled-out");
    let check = Test::new()
        .file("flows.yaml", flows)
        .args(&["check", "flows.yaml"])
        .run();
    assert_eq!(check.status, 1, "{}{}", check.stdout, check.stderr);
    assert!(
        check.stdout.contains("http-edge-to-kafka"),
        "{}",
        check.stdout
    );
    assert!(
        check
            .stdout
            .contains("transports ruled out for a flow always count"),
        "{}",
        check.stdout
    );
}

// ---- Direction probes: one change to many flows always moves the answer
// the same way.

/// The report for one flow given as `key: value` lines.
fn one_flow(fields: &[String]) -> commsadvise::engine::Recommendation {
    use commsadvise::engine::{RuleSet, recommend};
    let mut yaml =
        "version: 1\nflows:\n  - name: probe\n    from: caller\n    to: [callee]\n".to_owned();
    for f in fields {
        yaml.push_str("    ");
        yaml.push_str(f);
        yaml.push('\n');
    }
    let file = commsadvise::spec::load_str("probe.yaml", &yaml).expect("probe loads");
    let rules = RuleSet::builtin().expect("built-in rules");
    recommend(&file, &rules).flows.remove(0)
}

/// `fields` with `field` (a `key: value` line) set, replacing its old value.
fn with(fields: &[String], field: &str) -> Vec<String> {
    let key = field.split(':').next().unwrap_or(field);
    let mut out: Vec<String> = fields
        .iter()
        .filter(|f| f.split(':').next() != Some(key))
        .cloned()
        .collect();
    out.push(field.to_owned());
    out
}

/// Every combination of a few values of the fields that move the scores.
fn bases(interaction: &str, clients: &[&str]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for client in clients {
        for latency in ["", "latency_ms: 5", "latency_ms: 40", "latency_ms: 500"] {
            for throughput in ["", "throughput: 50000"] {
                for extra in [
                    "",
                    "contract: strict",
                    "format: binary",
                    "format: json",
                    "ordering: per-key",
                    "delivery: at-least-once",
                    "payload_bytes: 2000000",
                ] {
                    let mut fields = vec![
                        format!("interaction: {interaction}"),
                        format!("client: {client}"),
                    ];
                    fields.extend(
                        [latency, throughput, extra]
                            .into_iter()
                            .filter(|f| !f.is_empty())
                            .map(str::to_owned),
                    );
                    out.push(fields);
                }
            }
        }
    }
    out
}

#[test]
fn a_request_response_flow_is_never_kafka_by_scores_or_by_a_kafka_only_need() {
    use commsadvise::spec::model::Transport;
    for base in bases(
        "request-response",
        &["internal", "browser", "public", "mobile"],
    ) {
        assert_ne!(one_flow(&base).transport, Transport::Kafka, "{base:?}");
        for need in ["replay: true", "delivery: exactly-once", "coupling: loose"] {
            let changed = with(&base, need);
            let rec = one_flow(&changed);
            assert_ne!(rec.transport, Transport::Kafka, "{changed:?}");
            // A loose read with a budget that may miss its answer renders
            // without it: a risk naming the fallback pattern, no conflict.
            let read = need == "coupling: loose"
                && changed.iter().any(|f| f.starts_with("latency_ms"))
                && !changed.iter().any(|f| f.starts_with("delivery"));
            if read {
                assert!(
                    rec.risks
                        .iter()
                        .any(|r| r.id.starts_with("read-with-fallback-on-")),
                    "a fallback risk for {changed:?}"
                );
            } else {
                assert!(!rec.conflicts.is_empty(), "a conflict for {changed:?}");
            }
        }
    }
}

#[test]
fn adding_a_public_client_to_an_event_flow_excludes_kafka_and_reports_the_edge() {
    use commsadvise::spec::model::Transport;
    for base in bases("event", &["internal"]) {
        for need in [
            "interaction: event",
            "replay: true",
            "coupling: loose",
            "delivery: exactly-once",
        ] {
            let inside = with(&base, need);
            if one_flow(&inside).transport != Transport::Kafka {
                continue;
            }
            let outside = with(&inside, "client: public");
            let rec = one_flow(&outside);
            assert_ne!(rec.transport, Transport::Kafka, "{outside:?}");
            assert!(
                rec.conflicts
                    .iter()
                    .any(|c| c.id == "public-edge-and-webhooks"),
                "{outside:?}: {:?}",
                rec.conflicts
            );
        }
    }
}

#[test]
fn adding_a_strict_contract_to_a_browser_stream_never_yields_grpc() {
    use commsadvise::spec::model::Transport;
    for base in bases("stream", &["browser"]) {
        for fields in [base.clone(), with(&base, "contract: strict")] {
            let rec = one_flow(&fields);
            assert_ne!(rec.transport, Transport::Grpc, "{fields:?}");
            assert_ne!(rec.transport, Transport::Kafka, "{fields:?}");
        }
    }
}

/// A flow whose description holds an escape sequence (red text) and a
/// right-to-left override.
pub const HOSTILE_FLOWS: &str = "version: 1\nflows:\n  - name: a\n    description: \"x\\e[31mRED\\u202Egnp.exe\"\n    from: b\n    to: c\n";

/// A user rule, firing on every flow, whose text clears the screen and
/// holds a right-to-left override.
pub const HOSTILE_RULE: &str = "id: hostile\ncriterion: Use Cases\neffect: { score: { rest: 1 } }\ntext: \"Clears \\e[2J the \\u202E screen.\"\n";

// Review item 5: `description: "x\e[31mRED\u202egnp.exe"` reached the
// terminal as an escape sequence and a right-to-left override (`cat -v`
// showed ^[[31m); so did the text of a user's rule.
#[test]
fn control_and_bidirectional_characters_never_reach_a_report() {
    let test = Test::new()
        .file("flows.yaml", HOSTILE_FLOWS)
        .file("r/hostile.yaml", HOSTILE_RULE);
    for format in ["text", "markdown", "html", "mermaid", "dot"] {
        let run = Test::new_in(&test)
            .args(&[
                "recommend",
                "flows.yaml",
                "--rules",
                "r",
                "--format",
                format,
            ])
            .success();
        let bytes = run.stdout.as_bytes();
        assert!(
            !bytes.contains(&0x1b) && !run.stdout.contains('\u{202e}'),
            "{format}: {:?}",
            run.stdout
        );
        if format != "mermaid" && format != "dot" {
            // Shown, escaped, not dropped.
            assert!(run.stdout.contains("u{1b}"), "{format}: {}", run.stdout);
            assert!(run.stdout.contains("u{202e}"), "{format}: {}", run.stdout);
        }
    }
}
