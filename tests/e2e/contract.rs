//! `commsadvise contract` and the binding of flows to a contract (SPEC §7):
//! the derived contract of every example, a team's two-file proto with an
//! import, HTTP annotations and a timestamp, and one fixture per error,
//! each snapshotted verbatim with exit code 2 and nothing written.

use std::path::Path;
use std::process::Command;

use crate::common::{Test, repo};

/// A test folder holding every file of tests/fixtures/contract/.
fn with_fixtures() -> Test {
    fixtures_under("")
}

/// [`with_fixtures`], with the files under the folder `prefix`.
fn fixtures_under(prefix: &str) -> Test {
    copy(Test::new(), &repo("tests/fixtures/contract"), prefix)
}

/// Copies every file under `from` into the test folder, under `prefix`.
pub(crate) fn copy(test: Test, from: &Path, prefix: &str) -> Test {
    let mut entries: Vec<_> = std::fs::read_dir(from)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    entries.into_iter().fold(test, |test, path| {
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        let to = format!("{prefix}{name}");
        if path.is_dir() {
            copy(test, &path, &format!("{to}/"))
        } else {
            test.file(&to, std::fs::read(&path).expect("fixture"))
        }
    })
}

macro_rules! error_cases {
    ($($test:ident: $fixture:literal;)*) => {$(
        #[test]
        fn $test() {
            let run = with_fixtures().args(&["contract", $fixture]).status(2);
            assert!(run.stdout.is_empty(), "nothing on stdout: {}", run.stdout);
            assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
            insta::assert_snapshot!(run.stderr);
        }
    )*};
}

error_cases! {
    rejects_an_unknown_rpc: "unknown-rpc.yaml";
    rejects_an_unknown_service: "unknown-service.yaml";
    rejects_an_unknown_message: "unknown-message.yaml";
    rejects_an_unknown_key_field: "unknown-key.yaml";
    rejects_a_stream_bound_to_a_unary_rpc: "stream-on-unary-rpc.yaml";
    rejects_a_request_response_flow_bound_to_a_streaming_rpc: "request-response-on-streaming-rpc.yaml";
    refuses_a_client_streaming_rpc: "client-streaming-rpc.yaml";
    rejects_an_rpc_on_an_event_flow: "rpc-on-event.yaml";
    rejects_a_message_on_a_request_response_flow: "message-on-request-response.yaml";
    rejects_a_key_field_that_is_not_a_scalar: "key-not-scalar.yaml";
    asks_for_a_key_when_the_message_has_no_id_field: "event-without-id-field.yaml";
    rejects_flows_that_disagree_on_who_serves_an_rpc: "servers-disagree.yaml";
    points_a_proto_that_does_not_compile_at_its_line: "broken-proto.yaml";
    points_a_missing_import_at_its_line: "missing-import.yaml";
    rejects_a_proto_file_that_does_not_exist: "missing-proto-file.yaml";
    rejects_a_proto_file_outside_the_proto_path: "outside-proto-path.yaml";
    rejects_an_rpc_that_is_not_package_service_method: "invalid-rpc-syntax.yaml";
    rejects_an_rpc_without_a_team_proto: "rpc-without-proto.yaml";
    rejects_a_flow_that_binds_to_nothing_in_the_team_proto: "unbound-flow.yaml";
    rejects_a_proto_entry_that_is_not_a_proto_file: "proto-not-a-proto-file.yaml";
    rejects_a_proto_path_without_proto: "proto-path-without-proto.yaml";
    rejects_a_proto_path_folder_that_does_not_exist: "missing-proto-path-folder.yaml";
}

#[test]
fn binds_a_two_file_team_proto_with_http_annotations_and_timestamps() {
    let run = with_fixtures().args(&["contract", "team.yaml"]).success();
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn lists_the_team_bindings_as_json() {
    let run = with_fixtures()
        .args(&["contract", "team.yaml", "--format", "json"])
        .success();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(json["origin"], "team");
    assert!(json.get("proto").is_none(), "the team's files are theirs");
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn finds_the_team_proto_relative_to_flows_yaml() {
    let run = fixtures_under("team/")
        .args(&["contract", "team/team.yaml"])
        .success();
    assert!(
        run.stdout.contains("billing.v1.InvoiceIssued"),
        "{}",
        run.stdout
    );
    let broken = fixtures_under("team/")
        .args(&["contract", "team/broken-proto.yaml"])
        .status(2);
    assert!(
        broken
            .stderr
            .contains(" --> team/proto/broken/broken.proto:7:1\n"),
        "{}",
        broken.stderr
    );
}

#[test]
fn scaffold_writes_nothing_when_a_binding_is_wrong() {
    let test = with_fixtures().args(&["scaffold", "unknown-rpc.yaml", "--out", "out"]);
    let run = test.status(2);
    assert!(run.stderr.contains("unknown rpc"), "{}", run.stderr);
    assert!(!test.path().join("out").exists(), "nothing written");
}

#[test]
fn prints_the_seed_contract_for_the_built_in_example() {
    let run = Test::new().args(&["contract"]).success();
    assert_eq!(run.stdout, commsadvise::scaffold::contract::ORDER_PROTO);
    let json = Test::new()
        .args(&["contract", "--format", "json"])
        .success();
    insta::assert_snapshot!(json.stdout);
}

macro_rules! derived_cases {
    ($($test:ident: $example:literal;)*) => {$(
        #[test]
        fn $test() {
            let run = Test::new()
                .fixture(concat!("examples/", $example), $example)
                .args(&["contract", $example])
                .success();
            insta::assert_snapshot!(run.stdout);
        }
    )*};
}

derived_cases! {
    derives_the_payments_contract: "payments.yaml";
    derives_the_orders_contract: "orders.yaml";
    derives_the_marketplace_contract: "marketplace.yaml";
    derives_the_spec_cases_contract: "spec-cases.yaml";
}

/// The buf CLI: `BUF`, else `buf` on the PATH. Without it the lint test
/// skips on a developer's machine, and fails in CI (`CI` set).
pub(crate) fn buf() -> Option<String> {
    let candidate = std::env::var("BUF").unwrap_or_else(|_| "buf".to_owned());
    let found = Command::new(&candidate)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(candidate);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but buf was not found (install @bufbuild/buf, or set BUF)"
    );
    eprintln!("buf not found: buf lint skipped");
    None
}

/// Every example's derived contract passes `buf lint` (STANDARD), except
/// `PACKAGE_VERSION_SUFFIX`: the SPEC fixes the package as the system name.
/// Saved as `<package>/<package>.proto`, as `contract` suggests, it meets
/// `PACKAGE_DIRECTORY_MATCH`.
#[test]
fn derived_contracts_pass_buf_lint() {
    let Some(buf) = buf() else { return };
    let mut linted = 0;
    for entry in std::fs::read_dir(repo("examples")).expect("examples/") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        let test = Test::new().fixture(&format!("examples/{name}"), "flows.yaml");
        let json = Test::new_in(&test)
            .args(&["contract", "flows.yaml", "--format", "json"])
            .success();
        let json: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
        let file = json["files"][0].as_str().expect("one file");
        let package = file.trim_end_matches(".proto");
        let test = test
            .file(
                &format!("module/{package}/{file}"),
                json["proto"].as_str().expect("text"),
            )
            .file(
                "module/buf.yaml",
                "version: v2\nlint:\n  use: [STANDARD]\n  except: [PACKAGE_VERSION_SUFFIX]\n",
            );
        let output = Command::new(&buf)
            .arg("lint")
            .current_dir(test.path().join("module"))
            .output()
            .expect("buf runs");
        assert!(
            output.status.success(),
            "{name}: buf lint\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        linted += 1;
    }
    assert!(linted >= 4, "every example linted");
}
