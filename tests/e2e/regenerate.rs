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
use std::path::PathBuf;
use std::process::Command;

use crate::common::{Test, repo};

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

    let target = std::env::var_os("COMMSADVISE_GENERATED_TARGET")
        .map_or_else(|| repo("target/generated"), PathBuf::from);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    for step in [&["build"][..], &["test"]] {
        let output = Command::new(&cargo)
            .args(step)
            .current_dir(&ws)
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("RUSTFLAGS")
            .output()
            .expect("cargo runs");
        assert!(
            output.status.success(),
            "`cargo {}` failed in {}\n--- stdout\n{}\n--- stderr\n{}",
            step.join(" "),
            ws.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
