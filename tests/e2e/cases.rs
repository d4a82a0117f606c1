//! The two cases issue 11 adds beside the built-in example: the team-proto
//! case (examples/team/, a logistics team's own contract in two .proto
//! files) and the derived case (examples/payments.yaml). Checked without
//! snapshots, so that editing a case's wording does not churn them: both
//! pass `check` and `contract`, each still covers what it exists to cover
//! (the generated-workspace tests and tests/broker/team-e2e.sh rely on its
//! routes, rpcs, stream, key and consumers), and the team's files pass
//! `buf lint`. The acceptance script, which runs only in CI against a
//! generated workspace, is held here to valid bash and to the names the
//! team case declares.

use std::process::Command;

use serde_json::Value;

use crate::common::{Test, repo};
use crate::contract::{buf, copy};

/// A test folder holding examples/team/ under `team/`.
fn team() -> Test {
    copy(Test::new(), &repo("examples/team"), "team/")
}

/// A test folder holding examples/payments.yaml.
fn payments() -> Test {
    Test::new().fixture("examples/payments.yaml", "payments.yaml")
}

/// Runs `args` in `test`'s folder, which must succeed, and parses stdout.
fn json(test: &Test, args: &[&str]) -> Value {
    let run = Test::new_in(test).args(args).success();
    serde_json::from_str(&run.stdout).expect("JSON on stdout")
}

/// The entry of `flow` in a `contract` or `recommend` JSON report.
fn flow<'a>(report: &'a Value, key: &str, flow: &str) -> &'a Value {
    report["flows"]
        .as_array()
        .expect("flows")
        .iter()
        .find(|f| f[key] == flow)
        .unwrap_or_else(|| panic!("no flow `{flow}` in {report:#}"))
}

/// The first field ending in `_id` of `message` in a .proto text: the key
/// an event flow gets when it names none (SPEC §7).
fn first_id_field(proto: &str, message: &str) -> Option<String> {
    let body = proto.split(&format!("message {message} {{")).nth(1)?;
    let body = &body[..body.find('}')?];
    body.lines()
        .map(str::trim)
        .filter(|line| !line.starts_with("//"))
        .filter_map(|line| line.split('=').next()?.split_whitespace().last())
        .find(|name| name.ends_with("_id"))
        .map(str::to_owned)
}

/// The short name of `<package>.<Message>`.
fn short(message: &Value) -> &str {
    let full = message.as_str().expect("message name");
    full.rsplit('.').next().unwrap_or(full)
}

#[test]
fn the_team_case_passes_check() {
    let run = team().args(&["check", "team/flows.yaml"]).success();
    assert!(run.stdout.starts_with("check passed"), "{}", run.stdout);
}

#[test]
fn the_payments_case_passes_check() {
    let run = payments().args(&["check", "payments.yaml"]).success();
    assert!(run.stdout.starts_with("check passed"), "{}", run.stdout);
}

#[test]
fn the_team_case_binds_every_flow_to_its_own_two_proto_files() {
    let test = team();
    let printed = Test::new_in(&test)
        .args(&["contract", "team/flows.yaml"])
        .success();
    assert!(
        printed
            .stdout
            .starts_with("The team's contract of `logistics`"),
        "{}",
        printed.stdout
    );

    let contract = json(&test, &["contract", "team/flows.yaml", "--format", "json"]);
    assert_eq!(contract["origin"], "team");
    assert_eq!(
        contract["files"],
        serde_json::json!(["logistics/v1/logistics.proto", "logistics/v1/types.proto"])
    );
    let served = |name: &str| flow(&contract, "flow", name)["served"][0].clone();

    let get = served("get-shipment");
    assert_eq!(get["rpc"], "logistics.v1.ShipmentService/GetShipment");
    assert_eq!(get["service"], "shipments");
    assert_eq!(
        get["http"],
        serde_json::json!({"method": "GET", "path": "/v1/shipments/{shipment_id}"}),
        "a GET with a path variable"
    );

    let create = served("create-shipment");
    assert_eq!(
        create["http"],
        serde_json::json!({
            "method": "POST",
            "path": "/v1/warehouses/{warehouse_code}/shipments",
            "body": "*"
        }),
        "a POST with `body: \"*\"`"
    );

    let reserve = served("reserve-stock");
    assert_eq!(reserve["rpc"], "logistics.v1.InventoryService/ReserveStock");
    assert_eq!(reserve["service"], "inventory");
    // Not pinned, so listed with the route it would have over REST: no
    // annotation, so the default one (docs/contract.md).
    assert_eq!(
        reserve["http"],
        serde_json::json!({
            "method": "POST",
            "path": "/logistics.v1.InventoryService/ReserveStock",
            "body": "*"
        }),
        "{reserve}"
    );

    assert_eq!(
        flow(&contract, "flow", "shipment-tracking")["interaction"],
        "stream"
    );
    assert_eq!(
        served("shipment-tracking")["rpc"],
        "logistics.v1.ShipmentService/WatchShipment"
    );
}

#[test]
fn the_team_proto_is_two_files_one_importing_the_other_with_a_timestamp() {
    let read = |file: &str| {
        std::fs::read_to_string(repo(&format!("examples/team/proto/logistics/v1/{file}")))
            .expect("team proto")
    };
    let (services, shared) = (read("logistics.proto"), read("types.proto"));
    assert!(services.contains("import \"logistics/v1/types.proto\";"));
    assert!(services.contains("import \"google/api/annotations.proto\";"));
    assert!(services.contains("returns (stream WatchShipmentResponse)"));
    assert!(!shared.contains("service "), "shared messages only");
    assert!(shared.contains("google.protobuf.Timestamp dispatched_at"));
}

#[test]
fn the_team_event_is_keyed_by_a_field_that_is_not_an_id() {
    let test = team();
    let contract = json(&test, &["contract", "team/flows.yaml", "--format", "json"]);
    let event = flow(&contract, "flow", "shipment-dispatched");
    assert_eq!(event["interaction"], "event");
    assert_eq!(event["message"], "logistics.v1.ShipmentDispatched");
    assert_eq!(event["key"], "warehouse_code");
    let types = std::fs::read_to_string(repo("examples/team/proto/logistics/v1/types.proto"))
        .expect("types.proto");
    assert_eq!(
        first_id_field(&types, short(&event["message"])).as_deref(),
        Some("shipment_id"),
        "the default key would have been another field"
    );
}

#[test]
fn the_team_case_mixes_rest_grpc_a_stream_and_a_topic_with_two_consumers() {
    let report = json(
        &team(),
        &["recommend", "team/flows.yaml", "--format", "json"],
    );
    for (name, transport) in [
        ("get-shipment", "rest"),
        ("create-shipment", "rest"),
        ("reserve-stock", "grpc"),
        ("shipment-tracking", "grpc"),
        ("shipment-dispatched", "kafka"),
    ] {
        let entry = flow(&report, "name", name);
        assert_eq!(entry["transport"], transport, "{name}: {entry:#}");
    }
    assert_eq!(
        flow(&report, "name", "shipment-dispatched")["to"],
        serde_json::json!(["billing", "notifications"])
    );
}

#[test]
fn the_payments_case_derives_a_stream_a_fan_out_and_an_event_keyed_by_another_field() {
    let test = payments();
    let printed = Test::new_in(&test)
        .args(&["contract", "payments.yaml"])
        .success();
    assert!(
        printed.stdout.contains("package payments;"),
        "{}",
        printed.stdout
    );

    let contract = json(&test, &["contract", "payments.yaml", "--format", "json"]);
    assert_eq!(contract["origin"], "derived");
    let flows = contract["flows"].as_array().expect("flows");
    assert!(
        flows.iter().any(|f| f["interaction"] == "stream"),
        "a stream flow: {contract:#}"
    );
    let proto = contract["proto"].as_str().expect("the derived .proto");
    let keyed_by_another_field = flows
        .iter()
        .filter(|f| f["interaction"] == "event")
        .any(|f| {
            let first = first_id_field(proto, short(&f["message"]));
            f["key"].as_str().is_some() && f["key"].as_str() != first.as_deref()
        });
    assert!(
        keyed_by_another_field,
        "an event keyed by a field other than its first id:\n{proto}"
    );

    let report = json(&test, &["recommend", "payments.yaml", "--format", "json"]);
    let fans_out = report["flows"]
        .as_array()
        .expect("flows")
        .iter()
        .any(|f| f["to"].as_array().is_some_and(|to| to.len() >= 2));
    assert!(fans_out, "a flow with two or more receivers: {report:#}");
}

/// buf.yaml for the team's files: STANDARD, no exception. commsadvise has
/// `google/api/annotations.proto` and `http.proto` built in; buf gets them
/// as a second module, not linted (googleapis' `google.api` has no version
/// suffix), as a team's buf.yaml would get them from its `deps`.
const TEAM_BUF_YAML: &str = "version: v2\nmodules:\n  - path: proto\n  - path: vendor\nlint:\n  use: [STANDARD]\n  ignore: [vendor]\n";

#[test]
fn the_team_proto_passes_buf_lint() {
    let Some(buf) = buf() else { return };
    let test = copy(Test::new(), &repo("examples/team/proto"), "proto/")
        .fixture(
            "src/contract/google/api/annotations.proto",
            "vendor/google/api/annotations.proto",
        )
        .fixture(
            "src/contract/google/api/http.proto",
            "vendor/google/api/http.proto",
        )
        .file("buf.yaml", TEAM_BUF_YAML);
    let output = Command::new(&buf)
        .arg("lint")
        .current_dir(test.path())
        .output()
        .expect("buf runs");
    assert!(
        output.status.success(),
        "buf lint\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The lowerCamelCase JSON name proto3 gives a field.
fn json_name(field: &str) -> String {
    let mut parts = field.split('_');
    let first = parts.next().unwrap_or_default().to_owned();
    parts.fold(first, |name, part| {
        let mut chars = part.chars();
        let head = chars.next().map(|c| c.to_ascii_uppercase());
        format!(
            "{name}{}{}",
            head.map(String::from).unwrap_or_default(),
            chars.as_str()
        )
    })
}

/// What tests/broker/team-e2e.sh calls.
fn acceptance_script() -> String {
    std::fs::read_to_string(repo("tests/broker/team-e2e.sh")).expect("the acceptance script")
}

/// The script runs only in CI's acceptance step, against a generated
/// workspace: a route, rpc, topic, key or service renamed in the team case
/// without it is caught here, on every `cargo test`.
#[test]
fn the_acceptance_script_calls_what_the_team_case_declares() {
    let script = acceptance_script();
    let test = team();
    let contract = json(&test, &["contract", "team/flows.yaml", "--format", "json"]);
    let services = script
        .lines()
        .find(|line| line.starts_with("SERVICES=("))
        .expect("the script's SERVICES");
    // The transport each flow goes over: a flow not pinned is listed with
    // its REST route whatever the recommendation says.
    let recommended = json(&test, &["recommend", "team/flows.yaml", "--format", "json"]);
    let rest = |flow: &str| {
        recommended["flows"]
            .as_array()
            .expect("flows")
            .iter()
            .any(|f| f["name"] == flow && f["transport"] == "rest")
    };
    for entry in contract["flows"].as_array().expect("flows") {
        let over_rest = rest(entry["flow"].as_str().expect("flow"));
        for served in entry["served"].as_array().into_iter().flatten() {
            let service = served["service"].as_str().expect("service");
            assert!(services.contains(service), "{service} in {services}");
            if let Some(path) = served["http"]["path"].as_str().filter(|_| over_rest) {
                // The literal parts of the route; the variables are filled in.
                for literal in path.split(['{', '}']).step_by(2).filter(|l| !l.is_empty()) {
                    assert!(script.contains(literal), "route {path}: no `{literal}`");
                }
            } else {
                let rpc = served["rpc"].as_str().expect("rpc");
                let (service, method) = rpc.split_once('/').expect("Service/Method");
                let call = format!("\"{service}\", \"{method}\"");
                assert!(script.contains(&call), "rpc {rpc}: no `{call}`");
            }
        }
        if let Some(key) = entry["key"].as_str() {
            let flow = entry["flow"].as_str().expect("flow");
            assert!(script.contains(&format!("publish {flow} ")), "{flow}");
            let value = script
                .lines()
                .find_map(|line| line.strip_prefix("KEY="))
                .expect("the script's KEY");
            let field = format!("\"{}\":\"{value}\"", json_name(key));
            assert!(
                script.contains(&field),
                "the event's key {key}: no `{field}`"
            );
        }
    }
    let flows = std::fs::read_to_string(repo("examples/team/flows.yaml")).expect("flows.yaml");
    let topic = script
        .lines()
        .find_map(|line| line.strip_prefix("TOPIC="))
        .expect("the script's TOPIC");
    assert!(
        flows.contains(&format!("topic: {topic}\n")),
        "topic {topic}"
    );
    let report = json(&test, &["recommend", "team/flows.yaml", "--format", "json"]);
    let consumers = &flow(&report, "name", "shipment-dispatched")["to"];
    for consumer in consumers.as_array().expect("to") {
        let consumer = consumer.as_str().expect("name");
        assert!(services.contains(consumer), "{consumer} in {services}");
    }
}

#[test]
fn the_acceptance_script_is_valid_bash() {
    let output = Command::new("bash")
        .arg("-n")
        .arg(repo("tests/broker/team-e2e.sh"))
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
