//! `commsadvise contract` and the binding of flows to a contract (SPEC §7):
//! the derived contract of every example, a team's two-file proto with an
//! import, HTTP annotations and a timestamp, and one fixture per error,
//! each snapshotted verbatim with exit code 2 and nothing written. Then the
//! .proto files as untrusted input (a pull request controls them): links,
//! FIFOs, devices and include folders outside the flows folder, refused by
//! every command that reads them; and the old side of `--against git:REV`
//! read from flows.yaml as it was then.

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
    refuses_an_absolute_proto_path_folder: "absolute-proto-path.yaml";
    refuses_a_proto_path_folder_outside_the_folder_of_flows_yaml: "proto-path-outside-the-folder.yaml";
    refuses_a_rest_route_naming_a_field_the_request_lacks: "route-unknown-field.yaml";
    refuses_two_rest_routes_of_a_service_matching_the_same_requests: "route-clash.yaml";
}

/// AIP's `GetShelf` and `GetBook` share the `name` variable and are told apart
/// by its pattern: both bind, and `scaffold` refuses a route clash as
/// `contract` does, writing nothing.
#[test]
fn binds_aip_routes_told_apart_by_their_patterns() {
    let run = with_fixtures()
        .args(&["contract", "aip-routes.yaml"])
        .success();
    assert!(
        run.stdout.contains("GET /v1/{name=shelves/*}\n")
            && run.stdout.contains("GET /v1/{name=shelves/*/books/*}\n"),
        "{}",
        run.stdout
    );
    let test = with_fixtures().args(&["scaffold", "route-clash.yaml", "--out", "out"]);
    let refused = test.status(2);
    assert!(
        refused.stderr.contains("matches the same requests as"),
        "{}",
        refused.stderr
    );
    assert!(!test.path().join("out").exists(), "nothing written");
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
    if let Some(found) = crate::common::tool("BUF", "buf") {
        return Some(found);
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

// ---- .proto files are untrusted input (review items 1 and 7) ---------------

/// flows.yaml naming `a.proto`, which imports `b.proto`: the import a test
/// replaces with a link, a FIFO or a device.
const IMPORTER: &str = "version: 1\nsystem: s\nproto: a.proto\nflows:\n  - name: get-a\n    from: x\n    to: y\n    rpc: s.v1.S/Get\n";
const A_PROTO: &str = "syntax = \"proto3\";\npackage s.v1;\nimport \"b.proto\";\nservice S { rpc Get(A) returns (A); }\nmessage A { string id = 1; }\n";
const B_PROTO: &str = "syntax = \"proto3\";\npackage s.v1;\nmessage B { string id = 1; }\n";

/// What nothing may ever print: the text of the file a link points at.
const SECRET: &str = "hunter2-secret-token";

/// Runs the binary in `test`'s folder under coreutils' `timeout`: a run
/// still reading a FIFO after 20 seconds is killed (exit 124).
#[cfg(unix)]
fn within(test: &Test, args: &[&str], env: &[(&str, &str)]) -> crate::common::Run {
    let out = Command::new("timeout")
        .arg("20")
        .arg(env!("CARGO_BIN_EXE_commsadvise"))
        .args(args)
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .current_dir(test.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("timeout runs");
    let run = crate::common::Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_ne!(
        run.status,
        124,
        "`{}` hung:\n{}",
        args.join(" "),
        run.stderr
    );
    run
}

/// Commits everything in `test`'s folder as the deployed state.
fn commit_all(test: &Test, message: &str) {
    let out = Command::new("sh")
        .arg("-c")
        .arg("git init -q 2>/dev/null; git add -A && git -c user.name=t -c user.email=t@example.com commit -qm \"$0\"")
        .arg(message)
        .current_dir(test.path())
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every command that reads the contract: each must refuse the import.
const READERS: &[&[&str]] = &[
    &["contract", "flows.yaml"],
    &["scaffold", "flows.yaml", "--out", "out", "--dry-run"],
    &["check", "flows.yaml", "--against", "git:HEAD"],
    &["contract", "check", "flows.yaml", "--against", "git:HEAD"],
];

/// A repository whose `b.proto` is replaced, after the commit, by what
/// `make` puts there.
#[cfg(unix)]
fn importer_with(make: impl FnOnce(&Path)) -> Test {
    let test = Test::new()
        .file("flows.yaml", IMPORTER)
        .file("a.proto", A_PROTO)
        .file("b.proto", B_PROTO);
    commit_all(&test, "deployed");
    let b = test.path().join("b.proto");
    std::fs::remove_file(&b).expect("remove");
    make(&b);
    test
}

/// Asserts that every reader refuses the import of `b.proto`, at the
/// `import` line of a.proto, with `why`.
#[cfg(unix)]
fn assert_import_refused(test: &Test, why: &str, env: &[(&str, &str)]) {
    for args in READERS {
        let run = within(test, args, env);
        assert_eq!(run.status, 2, "{args:?}\n{}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.starts_with(&format!(
                "error: `a.proto` does not compile: an import is refused: {why}\n --> a.proto:3:1\n"
            )),
            "{args:?}\n{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("never through a symbolic link"),
            "{}",
            run.stderr
        );
        for leaked in [SECRET, "MY_SECRET_TOKEN"] {
            assert!(
                !run.stdout.contains(leaked) && !run.stderr.contains(leaked),
                "{args:?} printed the linked file:\n{}{}",
                run.stdout,
                run.stderr
            );
        }
    }
    assert!(!test.path().join("out").exists(), "nothing written");
}

#[cfg(unix)]
#[test]
fn an_import_through_a_symbolic_link_is_refused_and_its_target_never_printed() {
    let outside = tempfile::tempdir().expect("temp dir");
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, format!("{SECRET}\n")).expect("write");
    let test = importer_with(|b| std::os::unix::fs::symlink(&secret, b).expect("link"));
    assert_import_refused(&test, "`b.proto` is a symbolic link", &[]);

    // The review's repro: the environment of the process itself.
    let test = importer_with(|b| {
        std::os::unix::fs::symlink("/proc/self/environ", b).expect("link");
    });
    assert_import_refused(
        &test,
        "`b.proto` is a symbolic link",
        &[("MY_SECRET_TOKEN", SECRET)],
    );
}

#[cfg(unix)]
#[test]
fn an_imported_fifo_is_refused_at_once_by_every_reader() {
    let test = importer_with(|b| {
        let status = Command::new("mkfifo").arg(b).status().expect("mkfifo");
        assert!(status.success());
    });
    assert_import_refused(
        &test,
        "`b.proto` is a FIFO (named pipe), not a regular file",
        &[],
    );
}

#[cfg(unix)]
#[test]
fn an_import_linked_to_dev_zero_is_refused_without_reading_it() {
    let test = importer_with(|b| std::os::unix::fs::symlink("/dev/zero", b).expect("link"));
    assert_import_refused(&test, "`b.proto` is a symbolic link", &[]);
}

/// The same import in a folder the user names to `--against`: the folder
/// is theirs, the files in it are read as under a `proto_path` folder.
#[cfg(unix)]
#[test]
fn a_fifo_or_device_as_the_old_contract_is_refused_at_once_and_named_for_what_it_is() {
    let test = Test::new()
        .file("flows.yaml", IMPORTER)
        .file("a.proto", A_PROTO)
        .file("b.proto", B_PROTO)
        .file("old/a.proto", A_PROTO);
    let status = Command::new("mkfifo")
        .arg(test.path().join("old/b.proto"))
        .arg(test.path().join("pipe"))
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let check = |against: &str| {
        within(
            &test,
            &["contract", "check", "flows.yaml", "--against", against],
            &[],
        )
    };
    let run = check("old");
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("`old/b.proto` is a FIFO (named pipe)"),
        "{}",
        run.stderr
    );
    for (against, kind) in [("pipe", "a FIFO (named pipe)"), ("/dev/zero", "a device")] {
        let run = check(against);
        assert_eq!(run.status, 2, "{}", run.stderr);
        assert_eq!(
            run.stderr,
            format!(
                "error: `--against {against}`: it is {kind}, not a .proto file or a folder of them\n"
            )
        );
    }
    // Without the import, its error says where the deployed contract's
    // imports are looked up: not in `proto_path`.
    std::fs::remove_file(test.path().join("old/b.proto")).expect("remove");
    let run = check("old/a.proto");
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("import 'b.proto' not found")
            && run
                .stderr
                .contains("imports of the deployed contract are looked up in `old`"),
        "{}",
        run.stderr
    );
}

#[cfg(unix)]
#[test]
fn a_proto_entry_that_is_a_fifo_is_named_for_what_it_is() {
    let test = Test::new()
        .file("flows.yaml", IMPORTER)
        .file("b.proto", B_PROTO);
    let status = Command::new("mkfifo")
        .arg(test.path().join("a.proto"))
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let run = within(&test, &["contract", "flows.yaml"], &[]);
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(
        run.stderr.starts_with(
            "error: `a.proto` is a FIFO (named pipe), not a regular file\n --> flows.yaml:3:8\n"
        ),
        "{}",
        run.stderr
    );
}

#[cfg(unix)]
#[test]
fn a_proto_path_folder_linked_outside_the_folder_of_flows_yaml_is_refused() {
    let outside = tempfile::tempdir().expect("temp dir");
    std::fs::write(outside.path().join("b.proto"), B_PROTO).expect("write");
    let test = Test::new()
        .file(
            "svc/flows.yaml",
            IMPORTER.replace("proto: a.proto", "proto: a.proto\nproto_path: [., shared]"),
        )
        .file("svc/a.proto", A_PROTO);
    std::os::unix::fs::symlink(outside.path(), test.path().join("svc/shared")).expect("link");
    let run = test.args(&["contract", "svc/flows.yaml"]).status(2);
    assert!(
        run.stderr.starts_with(
            "error: `proto_path` folder `svc/shared` leads outside the repository of flows.yaml (or its folder, outside a repository), to `"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(" --> svc/flows.yaml:4:17\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_proto_path_folder_at_the_top_of_the_repository_is_accepted() {
    // A monorepo: flows.yaml under docs/, the shared .proto files at the top.
    let test = Test::new()
        .file(
            "docs/arch/flows.yaml",
            IMPORTER.replace(
                "proto: a.proto",
                "proto: ../../proto/a.proto\nproto_path: [../../proto]",
            ),
        )
        .file("proto/a.proto", A_PROTO)
        .file("proto/b.proto", B_PROTO);
    std::fs::create_dir(test.path().join(".git")).expect(".git");
    test.args(&["contract", "docs/arch/flows.yaml"]).success();
}

#[test]
fn a_long_line_in_a_proto_error_is_cut_around_the_caret() {
    let long = format!(
        "syntax = \"proto3\";\npackage s.v1;\nmessage B {{ string id = 1; }} oops /* {} */\n",
        "x".repeat(100_000)
    );
    let test = Test::new()
        .file("flows.yaml", IMPORTER)
        .file("a.proto", A_PROTO)
        .file("b.proto", long);
    let run = test.args(&["contract", "flows.yaml"]).status(2);
    assert!(
        run.stderr.len() < 2_000,
        "{} bytes:\n{}",
        run.stderr.len(),
        run.stderr
    );
}

// ---- `--against git:REV` reads the contract flows.yaml named then ------------

const GIT_FLOWS: &str = "version: 1\nsystem: s\nproto: [proto/a.proto]\nproto_path: [proto]\nflows:\n  - name: get-a\n    from: x\n    to: y\n    client: browser\n    rpc: s.v1.S/Get\n";
const GIT_A: &str = "syntax = \"proto3\";\npackage s.v1;\nservice S { rpc Get(A) returns (A); }\nmessage A { string id = 1; }\n";

/// A repository with one proto file, committed.
fn deployed() -> Test {
    let test = Test::new()
        .file("flows.yaml", GIT_FLOWS)
        .file("proto/a.proto", GIT_A);
    commit_all(&test, "deployed");
    test
}

#[test]
fn a_proto_file_added_since_the_revision_is_not_a_break() {
    let test = deployed();
    let test = test
        .file("proto/c.proto", B_PROTO.replace("message B", "message C"))
        .file(
            "flows.yaml",
            GIT_FLOWS.replace("[proto/a.proto]", "[proto/a.proto, proto/c.proto]"),
        );
    for args in [
        &["contract", "check", "flows.yaml", "--against", "git:HEAD"][..],
        &["check", "flows.yaml", "--against", "git:HEAD"],
    ] {
        let run = Test::new_in(&test).args(args).success();
        assert!(
            run.stdout.contains("contract check passed"),
            "{}",
            run.stdout
        );
    }
}

#[test]
fn a_renamed_proto_file_is_compared_by_what_it_declares() {
    let test = deployed();
    std::fs::rename(
        test.path().join("proto/a.proto"),
        test.path().join("proto/moved.proto"),
    )
    .expect("rename");
    let test = test.file(
        "flows.yaml",
        GIT_FLOWS.replace("proto/a.proto", "proto/moved.proto"),
    );
    let run = Test::new_in(&test)
        .args(&["contract", "check", "flows.yaml", "--against", "git:HEAD"])
        .success();
    assert!(
        run.stdout.contains("contract check passed"),
        "{}",
        run.stdout
    );

    // Renamed and changed: the change is found, the old side shown at
    // its old name.
    let test = test.file(
        "proto/moved.proto",
        GIT_A.replace("string id = 1", "string key = 1"),
    );
    let run = Test::new_in(&test)
        .args(&["contract", "check", "flows.yaml", "--against", "git:HEAD"])
        .status(1);
    assert!(
        run.stdout.contains("error[json-field-renamed]"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(" --> HEAD:proto/a.proto:4:13"),
        "{}",
        run.stdout
    );
}

// ---- `check --against`: one verdict (review item 3) ---------------------------

#[test]
fn check_against_a_breaking_change_fails_as_a_whole_in_every_format() {
    let test = deployed();
    // Still one id field, so SPEC §7's default route (`GET /as/{…}`)
    // matches the same requests: the one break is the JSON key.
    let test = test.file(
        "proto/a.proto",
        GIT_A.replace("string id = 1", "string a_id = 1"),
    );
    let check = |format: &str| {
        Test::new_in(&test)
            .args(&[
                "check",
                "flows.yaml",
                "--against",
                "git:HEAD",
                "--format",
                format,
            ])
            .status(1)
    };
    let verdict = "check failed: no pinned conflicts and no findings at or above `error`; contract check failed: 1 breaking change against `git:HEAD` (flows: get-a)";
    let plain = check("text");
    assert!(!plain.stdout.contains("check passed"), "{}", plain.stdout);
    assert_eq!(
        plain.stdout.lines().last(),
        Some(verdict),
        "{}",
        plain.stdout
    );
    assert_eq!(plain.stderr, format!("error: {verdict}\n"));
    let github = check("github");
    assert!(!github.stdout.contains("check passed"), "{}", github.stdout);
    assert!(
        github
            .stdout
            .starts_with("::error file=proto/a.proto,line=4,col=13,"),
        "{}",
        github.stdout
    );
    assert_eq!(github.stdout.lines().last(), Some(verdict));
    let json: serde_json::Value = serde_json::from_str(&check("json").stdout).expect("JSON");
    assert_eq!(json["passed"], false);
    assert_eq!(json["failing"], 0, "the decisions themselves pass");
    assert_eq!(json["contract"]["passed"], false);

    // Without the break, one verdict that says both passed.
    let test = test.file("proto/a.proto", GIT_A);
    let run = Test::new_in(&test)
        .args(&["check", "flows.yaml", "--against", "git:HEAD"])
        .success();
    assert_eq!(
        run.stdout.lines().last(),
        Some(
            "check passed: no pinned conflicts and no findings at or above `error`; contract check passed: no breaking change against `git:HEAD` for the 1 flow"
        )
    );
}
