//! Issue 11 item 2: adding, renaming or removing a flow and scaffolding
//! again never leaves a workspace that fails to build because of a file the
//! team owns. Each handler is a file of its own, created when missing, left
//! alone when present; `handlers/mod.rs` (generated) lists the current ones,
//! so a handler whose flow is gone is no longer compiled, and the scaffold
//! reports its file as orphaned.
//!
//! Ignored by default like the other generated-workspace tests (it builds a
//! workspace); `.ci/run` runs it with `--ignored generated`.

use std::fs;

use crate::common::{Test, forget_generated, generated_cargo};

/// Two REST flows served by `orders`, one consumed event.
const BEFORE: &str = "version: 1
system: shop
flows:
  - name: get-order
    from: web
    to: orders
    client: browser
  - name: cancel-order
    from: web
    to: orders
    client: browser
  - name: order-created
    from: orders
    to: shipping
    interaction: event
    coupling: loose
";

/// `cancel-order` removed; a gRPC request-response flow, a stream and a
/// second event added.
const AFTER: &str = "version: 1
system: shop
flows:
  - name: get-order
    from: web
    to: orders
    client: browser
  - name: lookup-order
    from: checkout
    to: orders
    transport: grpc
  - name: track-order
    from: orders
    to: web
    interaction: stream
    transport: grpc
  - name: order-created
    from: orders
    to: shipping
    interaction: event
    coupling: loose
  - name: order-shipped
    from: shipping
    to: orders
    interaction: event
    coupling: loose
";

/// `cargo build` and `cargo test` pass in the generated workspace `ws`,
/// whose own crates then leave the shared target.
fn builds_and_passes_its_tests(ws: &std::path::Path) {
    for step in [&["build"][..], &["test"]] {
        let output = generated_cargo(ws, step).output().expect("cargo runs");
        assert!(
            output.status.success(),
            "`cargo {}` failed in {}\n--- stdout\n{}\n--- stderr\n{}",
            step.join(" "),
            ws.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    forget_generated(ws);
}

/// The team's edit of a handler: a status of their own.
fn edit(path: &std::path::Path) -> String {
    let text = fs::read_to_string(path).expect("the handler file exists");
    assert!(text.contains("\"CREATED\""), "{text}");
    let edited = text.replace("\"CREATED\"", "\"SHIPPED\"");
    fs::write(path, &edited).expect("the handler file is writable");
    edited
}

#[test]
#[ignore = "builds and tests a generated workspace (minutes); run by .ci/run with --ignored"]
fn generated_handlers_survive_adding_and_removing_flows() {
    let _one = crate::common::one_generated_build_at_a_time();
    let test = Test::new().file("flows.yaml", BEFORE);
    Test::new_in(&test)
        .args(&["scaffold", "flows.yaml", "--out", "ws"])
        .success();
    let ws = test.path().join("ws");
    let handlers = ws.join("services/orders/src/handlers");
    let get_order = edit(&handlers.join("get_order.rs"));
    let cancel_order = edit(&handlers.join("cancel_order.rs"));

    fs::write(test.path().join("flows.yaml"), AFTER).unwrap();
    let run = Test::new_in(&test)
        .args(&["scaffold", "flows.yaml", "--out", "ws"])
        .success();

    // The edits are intact; the removed flow's handler is kept, reported,
    // and no longer compiled.
    assert_eq!(
        fs::read_to_string(handlers.join("get_order.rs")).unwrap(),
        get_order
    );
    assert_eq!(
        fs::read_to_string(handlers.join("cancel_order.rs")).unwrap(),
        cancel_order
    );
    assert!(
        run.stdout
            .contains("orphaned: services/orders/src/handlers/cancel_order.rs"),
        "{}",
        run.stdout
    );
    let listed = fs::read_to_string(handlers.join("mod.rs")).unwrap();
    assert!(!listed.contains("cancel_order"), "{listed}");
    // A handler for each new flow, of its kind.
    for (file, signature) in [
        ("lookup_order.rs", "request: Request) -> Result<Response"),
        ("track_order.rs", "sink: Sink<Item>"),
        ("order_shipped.rs", "event: Event"),
    ] {
        let handler = fs::read_to_string(handlers.join(file)).unwrap();
        assert!(handler.contains(signature), "{file}: {handler}");
        assert!(listed.contains(&format!("pub mod {}", &file[..file.len() - 3])));
    }

    builds_and_passes_its_tests(&ws);
}

/// The team-proto example, as a team keeps it in its repository.
const TEAM: &[&str] = &[
    "flows.yaml",
    "proto/logistics/v1/logistics.proto",
    "proto/logistics/v1/types.proto",
];

/// Changes that keep every deployed caller and consumer working (issue 14):
/// a field added to a REST answer, to a gRPC stream item and to the Kafka
/// event, an enum value added, and an rpc that no flow binds yet, on a
/// service whose gRPC server the workspace already implements.
const COMPATIBLE: &[(&str, &str, &str)] = &[
    (
        "proto/logistics/v1/logistics.proto",
        "  google.protobuf.Timestamp booked_at = 6;\n}",
        "  google.protobuf.Timestamp booked_at = 6;\n  string carrier = 7;\n}",
    ),
    (
        "proto/logistics/v1/logistics.proto",
        "  rpc WatchShipment(WatchShipmentRequest) returns (stream WatchShipmentResponse);\n",
        "  rpc WatchShipment(WatchShipmentRequest) returns (stream WatchShipmentResponse);\n\n  \
         // Not bound to a flow yet.\n  \
         rpc CancelShipment(CancelShipmentRequest) returns (CancelShipmentResponse);\n",
    ),
    (
        "proto/logistics/v1/logistics.proto",
        "message WatchShipmentRequest {",
        "message CancelShipmentRequest {\n  string shipment_id = 1;\n}\n\n\
         message CancelShipmentResponse {\n  string shipment_id = 1;\n  ShipmentStatus status = 2;\n}\n\n\
         message WatchShipmentRequest {",
    ),
    (
        "proto/logistics/v1/types.proto",
        "  google.protobuf.Timestamp dispatched_at = 5;\n}",
        "  google.protobuf.Timestamp dispatched_at = 5;\n  string tracking_url = 6;\n}",
    ),
    (
        "proto/logistics/v1/types.proto",
        "  SHIPMENT_STATUS_DELIVERED = 4;\n",
        "  SHIPMENT_STATUS_DELIVERED = 4;\n  SHIPMENT_STATUS_RETURNED = 5;\n",
    ),
];

#[test]
#[ignore = "builds and tests a generated workspace (minutes); run by .ci/run with --ignored"]
fn generated_workspace_builds_after_a_compatible_contract_change() {
    let _one = crate::common::one_generated_build_at_a_time();
    let mut test = Test::new();
    for file in TEAM {
        test = test
            .fixture(&format!("examples/team/{file}"), file)
            .fixture(
                &format!("examples/team/{file}"),
                &format!("deployed/{file}"),
            );
    }
    Test::new_in(&test)
        .args(&["scaffold", "flows.yaml", "--out", "ws"])
        .success();
    let ws = test.path().join("ws");
    let handler = ws.join("services/shipments/src/handlers/get_shipment.rs");
    let owned = fs::read_to_string(&handler).unwrap();

    for (file, old, new) in COMPATIBLE {
        let path = test.path().join(file);
        let proto = fs::read_to_string(&path).unwrap();
        assert_eq!(proto.matches(old).count(), 1, "{file}: {old}");
        fs::write(&path, proto.replacen(old, new, 1)).unwrap();
    }
    // The guard agrees the change is compatible for every flow's transport...
    let check = Test::new_in(&test)
        .args(&[
            "contract",
            "check",
            "flows.yaml",
            "--against",
            "deployed/proto",
        ])
        .success();
    assert!(
        check.stdout.contains("no breaking change"),
        "{}",
        check.stdout
    );
    // ...the scaffold follows it without touching the team's handlers...
    Test::new_in(&test)
        .args(&["scaffold", "flows.yaml", "--out", "ws"])
        .success();
    assert_eq!(fs::read_to_string(&handler).unwrap(), owned);
    let contract = fs::read_to_string(ws.join("proto/logistics/v1/types.proto")).unwrap();
    assert!(contract.contains("tracking_url"), "{contract}");

    // ...and the workspace still builds and passes its own tests.
    builds_and_passes_its_tests(&ws);
}
