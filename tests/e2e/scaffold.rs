//! `commsadvise scaffold`: snapshots of the generated tree (one listing plus
//! one snapshot per file, for the orders example and a REST-only, a gRPC-only
//! and a Kafka-only flows file), and the command's behaviour through the real
//! binary: the built-in example, refusing a non-empty `--out`, `--dry-run`,
//! determinism, and user edits surviving a rerun.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use commsadvise::engine::{RuleSet, recommend};
use commsadvise::scaffold::contract::{self, ORDER_PROTO};
use commsadvise::scaffold::{self, ScaffoldPlan};

use crate::common::{Test, repo};

/// The cases snapshotted here and built by `generated.rs`: a name and the
/// flows file, relative to the repository.
pub const CASES: &[(&str, &str)] = &[
    ("orders", "examples/orders.yaml"),
    ("rest_only", "tests/fixtures/scaffold/rest-only.yaml"),
    ("grpc_only", "tests/fixtures/scaffold/grpc-only.yaml"),
    ("kafka_only", "tests/fixtures/scaffold/kafka-only.yaml"),
    // A derived contract in another domain: a stream, an event keyed by a
    // field other than the first id, a fan-out (SPEC §7).
    ("payments", "examples/payments.yaml"),
    // The team's own two .proto files: google.api.http routes, a Timestamp,
    // a server stream, an event keyed by a non-id field.
    ("team", "examples/team/flows.yaml"),
];

/// The plan for a flows file of the repository, through the library.
fn plan(flows_path: &str) -> ScaffoldPlan {
    let text = fs::read_to_string(repo(flows_path)).expect("the flows file exists");
    let flows = commsadvise::spec::load_str(flows_path, &text).expect("the flows file is valid");
    let report = recommend(&flows, &RuleSet::builtin().expect("built-in rules load"));
    let contract = contract::load("order.proto", ORDER_PROTO).expect("the seed contract loads");
    let path = repo(flows_path);
    let bound = commsadvise::commands::contract::resolve(&path, &flows).expect("the flows bind");
    let protos = commsadvise::commands::contract::proto_files(Some(&path), &flows, &bound)
        .expect("the contract files read");
    scaffold::plan(&flows, &report, &contract, &bound, &protos).expect("the plan renders")
}

/// One listing snapshot (paths and owners), then one snapshot per file.
fn snapshot_tree(case: &str) {
    let (_, flows) = CASES
        .iter()
        .find(|(name, _)| *name == case)
        .expect("a known case");
    let plan = plan(flows);
    let mut listing = String::new();
    for file in &plan.files {
        let _ = writeln!(listing, "{:<9} {}", format!("{:?}", file.owner), file.path);
    }
    insta::assert_snapshot!(format!("{case}__listing"), listing);
    for file in &plan.files {
        let name = format!("{case}__{}", file.path.replace(['/', '.', '-'], "_"));
        insta::assert_snapshot!(name, file.contents);
    }
}

#[test]
fn orders_example_tree() {
    snapshot_tree("orders");
}

#[test]
fn rest_only_tree() {
    snapshot_tree("rest_only");
}

#[test]
fn grpc_only_tree() {
    snapshot_tree("grpc_only");
}

#[test]
fn kafka_only_tree() {
    snapshot_tree("kafka_only");
}

#[test]
fn payments_tree() {
    snapshot_tree("payments");
}

#[test]
fn team_tree() {
    snapshot_tree("team");
}

#[test]
fn only_handlers_tasks_the_state_and_the_auth_hook_are_user_owned() {
    for (case, flows) in CASES {
        for file in plan(flows).files {
            let user = file.owner == scaffold::templates::Owner::User;
            let handler = file.path.contains("/src/handlers/") && !file.path.ends_with("/mod.rs");
            let team_file = file.path.starts_with("services/")
                && ["/src/state.rs", "/src/tasks.rs", "/src/auth.rs"]
                    .iter()
                    .any(|own| file.path.ends_with(own));
            assert_eq!(user, handler || team_file, "{case}: {}", file.path);
        }
    }
}

#[test]
fn every_planned_path_is_one_the_manifest_check_accepts_back() {
    // The next run refuses a manifest entry that is not a plain relative
    // path the generator could write; the generator's own must all pass.
    for (case, flows) in CASES {
        for file in plan(flows).files {
            assert_eq!(
                scaffold::sync::check_entry(&file.path),
                Ok(()),
                "{case}: {}",
                file.path
            );
        }
    }
}

/// Every file under `dir` by relative path, with its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.expect("readable tree");
        if entry.file_type().is_file() {
            let relative = entry.path().strip_prefix(dir).expect("inside the tree");
            let bytes = fs::read(entry.path()).expect("readable file");
            files.insert(relative.to_string_lossy().replace('\\', "/"), bytes);
        }
    }
    files
}

#[test]
fn scaffold_without_a_flows_file_writes_the_orders_workspace() {
    let test = Test::new().args(&["scaffold", "--out", "ws"]);
    test.success();
    let files = tree(&test.path().join("ws"));
    assert_eq!(files["proto/order.proto"], ORDER_PROTO.as_bytes());
    for path in [
        "Cargo.toml",
        "contract/build.rs",
        "docker-compose.yml",
        "services/orders/src/main.rs",
        "services/storefront/src/rest_clients.rs",
        "services/checkout/src/grpc_clients.rs",
        "services/analytics/src/kafka.rs",
        "services/shipping/tests/kafka.rs",
    ] {
        assert!(
            files.contains_key(path),
            "{path} missing from {:?}",
            files.keys()
        );
    }
    // The built-in example keeps the seed's contract (SPEC §7), where
    // `examples/orders.yaml` as a file gets the derived one.
    let (flows, bound) = commsadvise::commands::contract::builtin().expect("the seed binds");
    let report = recommend(&flows, &RuleSet::builtin().expect("built-in rules load"));
    let contract = contract::load("order.proto", ORDER_PROTO).expect("the seed contract loads");
    let protos = commsadvise::commands::contract::proto_files(None, &flows, &bound)
        .expect("the seed's file");
    let planned =
        scaffold::plan(&flows, &report, &contract, &bound, &protos).expect("the plan renders");
    let written = files
        .keys()
        .filter(|path| !path.starts_with(".commsadvise/"))
        .count();
    assert_eq!(written, planned.files.len(), "{:?}", files.keys());
    for file in &planned.files {
        assert_eq!(files[&file.path], file.contents.as_bytes(), "{}", file.path);
    }
}

#[test]
fn refuses_a_non_empty_out_and_writes_nothing() {
    let test = Test::new()
        .file("ws/notes.txt", "mine\n")
        .args(&["scaffold", "--out", "ws"]);
    let before = tree(test.path());
    let run = test.status(2);
    assert!(run.stderr.contains("is not empty"), "{}", run.stderr);
    assert_eq!(tree(test.path()), before);
}

#[test]
fn dry_run_writes_nothing() {
    let test = Test::new().args(&["scaffold", "--out", "ws", "--dry-run"]);
    let run = test.success();
    assert!(
        run.stdout.starts_with("dry run: nothing written"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("services/orders/src/main.rs"),
        "{}",
        run.stdout
    );
    assert!(!test.path().join("ws").exists());
}

#[test]
fn the_same_flows_give_byte_identical_trees() {
    let scaffold = || {
        let test = Test::new()
            .fixture("tests/fixtures/scaffold/kafka-only.yaml", "flows.yaml")
            .args(&["scaffold", "flows.yaml", "--out", "ws"]);
        test.success();
        tree(&test.path().join("ws"))
    };
    let (first, second) = (scaffold(), scaffold());
    assert!(first.len() > 10, "{:?}", first.keys());
    assert_eq!(first, second);
}

#[test]
fn rerunning_keeps_the_edited_handlers() {
    let test = Test::new().args(&["scaffold", "--out", "ws"]);
    test.success();
    let handlers = test
        .path()
        .join("ws/services/orders/src/handlers/get_order.rs");
    let edited = fs::read_to_string(&handlers)
        .unwrap()
        .replace("\"CREATED\"", "\"SHIPPED\"");
    fs::write(&handlers, &edited).unwrap();
    test.success();
    assert_eq!(fs::read_to_string(&handlers).unwrap(), edited);
    assert!(edited.contains("SHIPPED"));
}

/// The third-party dependency lines of a workspace manifest, in order.
fn third_party_dependencies(manifest: &str) -> Vec<&str> {
    let start = manifest
        .find("\nanyhow = ")
        .expect("the manifest lists anyhow first among third-party crates");
    manifest[start..]
        .lines()
        .take_while(|line| !line.starts_with('['))
        .filter(|line| line.contains(" = ") && !line.starts_with('#'))
        .collect()
}

#[test]
fn service_benchmark_baseline_has_the_generated_dependencies() {
    // benches/services/bare is the floor the generated services are measured
    // against; with other dependency versions or features the ratio would
    // compare different builds.
    let plan = plan("examples/orders.yaml");
    let generated = &plan
        .files
        .iter()
        .find(|file| file.path == "Cargo.toml")
        .expect("a workspace manifest")
        .contents;
    let bare = fs::read_to_string(repo("benches/services/bare/Cargo.toml")).unwrap();
    assert_eq!(
        third_party_dependencies(&bare),
        third_party_dependencies(generated)
    );
}

#[test]
fn an_event_topic_carries_its_bound_message_keyed_by_its_key_field() {
    let flows = "version: 1\nsystem: payments\nflows:\n  - name: payment-captured\n    from: payments\n    to: [ledger]\n    interaction: event\n    coupling: loose\n    delivery: at-least-once\n    key: account_id\n    format: binary\n  - name: refund-issued\n    from: payments\n    to: [ledger]\n    interaction: event\n    coupling: loose\n    delivery: at-least-once\n";
    let test =
        Test::new()
            .file("flows.yaml", flows)
            .args(&["scaffold", "flows.yaml", "--out", "ws"]);
    test.success();
    let events = fs::read_to_string(test.path().join("ws/contract/src/events.rs")).unwrap();
    let module = |flow: &str| {
        let start = events
            .find(&format!("pub mod {flow} {{"))
            .expect("the flow's module");
        events[start..].split("\n}\n").next().unwrap().to_owned()
    };
    let captured = module("payment_captured");
    for expected in [
        "pub type Event = crate::payments::PaymentCaptured;",
        "pub const KEY_FIELD: &str = \"account_id\";",
        "event.account_id.clone()",
        "pub const CONTENT_TYPE: &str = \"application/x-protobuf\";",
        "prost::Message::encode_to_vec(event)",
    ] {
        assert!(captured.contains(expected), "{expected} in\n{captured}");
    }
    let refunded = module("refund_issued");
    for expected in [
        "pub type Event = crate::payments::RefundIssued;",
        "pub const CONTENT_TYPE: &str = \"application/json\";",
        "serde_json::to_vec(event)",
    ] {
        assert!(refunded.contains(expected), "{expected} in\n{refunded}");
    }
}

/// An event binds to a message, which only a topic carries: one that REST
/// or gRPC would carry is refused at its flow, before anything is written.
#[test]
fn scaffold_refuses_an_event_pinned_off_kafka_and_writes_nothing() {
    let test = Test::new().file(
        "flows.yaml",
        "version: 1\nsystem: hooks\nflows:\n  - name: invoice-paid\n    from: billing\n    to: crm\n    interaction: event\n    transport: rest\n",
    );
    let run = Test::new_in(&test)
        .args(&["scaffold", "flows.yaml", "--out", "ws"])
        .status(2);
    assert_eq!(
        run.stderr,
        "error: flow `invoice-paid` is an event carried by REST (its `transport: rest` pin); the scaffold generates events on Kafka only
 --> flows.yaml:8:16
  |
8 |     transport: rest
  |                ^^^^ carried by REST
  = nothing was written; an event binds to a message, which a topic carries: let Kafka carry it (remove the pin), or make it `interaction: request-response` bound to an rpc the receiver serves (a webhook is a POST to the receiver)
"
    );
    assert!(!test.path().join("ws").exists());
}

#[test]
fn scaffold_refuses_an_event_when_transports_leave_no_kafka() {
    let test = Test::new().file(
        "flows.yaml",
        "version: 1\nsystem: hooks\ntransports: [rest, grpc]\nflows:\n  - name: invoice-paid\n    from: billing\n    to: crm\n    interaction: event\n",
    );
    let run = Test::new_in(&test)
        .args(&["scaffold", "flows.yaml", "--out", "ws"])
        .status(2);
    assert!(
        run.stderr.starts_with("error: flow `invoice-paid` is an event carried by REST (`transports:`, which leaves it no Kafka)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(" --> flows.yaml:5:5\n"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("add `kafka` to `transports:`"),
        "{}",
        run.stderr
    );
    assert!(!test.path().join("ws").exists());
}

/// The files `commsadvise scaffold` writes for `flows`, by path.
fn scaffolded(flows: &str) -> BTreeMap<String, String> {
    let folder = Test::new().file("flows.yaml", flows);
    Test::new_in(&folder)
        .args(&["scaffold", "flows.yaml", "--out", "ws"])
        .status(0);
    let root = folder.path().join("ws");
    walkdir::WalkDir::new(&root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let path = e.path().strip_prefix(&root).unwrap();
            let text = fs::read_to_string(e.path()).unwrap_or_default();
            (path.to_string_lossy().replace('\\', "/"), text)
        })
        .collect()
}

#[test]
fn a_call_that_changes_state_announces_a_reliable_event_through_the_outbox() {
    let files = scaffolded(
        "version: 1\nsystem: shop\nflows:\n\
         - name: place-order\n  from: web\n  to: orders\n\
         - name: order-placed\n  from: orders\n  to: shipping\n  interaction: event\n  coupling: loose\n  delivery: at-least-once\n\
         - name: get-item\n  from: web\n  to: catalog\n\
         - name: item-viewed\n  from: catalog\n  to: shipping\n  interaction: event\n  coupling: loose\n  delivery: at-least-once\n\
         - name: set-price\n  from: web\n  to: pricing\n\
         - name: price-set\n  from: pricing\n  to: shipping\n  interaction: event\n  coupling: loose\n",
    );
    let has = |path: &str, text: &str| files.get(path).is_some_and(|f| f.contains(text));
    // orders changes state and its event must arrive: the outbox.
    assert!(has(
        "services/orders/src/handlers/place_order.rs",
        "state.out.outbox.add(&mut tx, wire, &event)"
    ));
    assert!(files.contains_key("services/orders/tests/outbox.rs"));
    assert!(has("services/orders/src/app.rs", "relay.run(token)"));
    // catalog only reads; pricing's event is at-most-once: published directly.
    for (service, handler) in [("catalog", "get_item"), ("pricing", "set_price")] {
        let path = format!("services/{service}/src/handlers/{handler}.rs");
        assert!(has(&path, "publisher.publish(&event)"), "{path}");
        assert!(!files.contains_key(&format!("services/{service}/tests/outbox.rs")));
    }
    // shipping consumes an outbox's events: it drops their copies by id.
    assert!(has("services/shipping/src/kafka.rs", "Some(&self.handled)"));
    assert!(has("services/shipping/src/cli.rs", "DATABASE_URL"));
}

#[test]
fn the_reports_edge_outbox_resolution_brings_the_outbox_to_an_at_most_once_event() {
    // A browser's call whose flow must be replayed: the report resolves it
    // with REST at the edge plus a transactional outbox to Kafka.
    let files = scaffolded(
        "version: 1\nsystem: shop\nflows:\n\
         - name: place-order\n  from: web\n  to: orders\n  client: browser\n  replay: true\n  transport: rest\n\
         - name: order-placed\n  from: orders\n  to: shipping\n  interaction: event\n  coupling: loose\n",
    );
    assert!(files.contains_key("services/orders/tests/outbox.rs"));
    assert!(
        files["services/orders/src/handlers/place_order.rs"]
            .contains("through the transactional outbox")
    );
}
