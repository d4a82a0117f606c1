//! `commsadvise contract check` (and `check --against`): the corpus of
//! old/new .proto pairs under tests/fixtures/evolution/, measured against
//! `buf breaking` with each of its rule sets; one case per rule where it
//! fires and one where it stays quiet; the git-revision path in a
//! temporary repository; exit codes and formats.
//!
//! Every case runs with the same four flows (tests/fixtures/evolution/
//! flows.yaml, unless the case has its own): one rpc on REST and on gRPC,
//! one message on a JSON and on a binary Kafka topic. So each case says
//! what commsadvise reports per transport, next to what buf reports per
//! rule set; the agreement table in docs/contract.md is that, verbatim,
//! with the reason for every disagreement.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::common::{Test, repo};
use crate::contract::{buf, copy};

/// The flows of the corpus, in the order of the table's columns: gRPC and
/// binary Kafka are measured against buf's `WIRE` set, REST and JSON Kafka
/// against `WIRE_JSON`.
const FLOWS: [(&str, &str); 4] = [
    ("get-item-grpc", "WIRE"),
    ("item-binary", "WIRE"),
    ("get-item-rest", "WIRE_JSON"),
    ("item-json", "WIRE_JSON"),
];

/// buf's rule sets, in the order of the table's columns.
const SETS: [&str; 4] = ["FILE", "PACKAGE", "WIRE_JSON", "WIRE"];

/// What commsadvise reports per flow: the rules, by flow name.
type Rules = BTreeMap<String, Vec<String>>;

/// One case's outcome: its name, buf's verdict per rule set (when buf is
/// installed), and commsadvise's rules per flow.
type Outcome = (String, Option<[bool; 4]>, Rules);

fn corpus() -> Vec<String> {
    let mut cases: Vec<String> = std::fs::read_dir(repo("tests/fixtures/evolution"))
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    cases.sort();
    cases
}

/// `contract check FLOWS --against OLD`, the command every test here runs.
trait CheckAgainst {
    fn check_against(self, flows: &str, against: &str) -> Test;
}

impl CheckAgainst for Test {
    fn check_against(self, flows: &str, against: &str) -> Test {
        self.args(&["contract", "check", flows, "--against", against])
    }
}

/// A folder with the case's `old/`, `new/` and `flows.yaml`.
fn case(name: &str) -> Test {
    let dir = repo("tests/fixtures/evolution").join(name);
    let flows = if dir.join("flows.yaml").is_file() {
        dir.join("flows.yaml")
    } else {
        repo("tests/fixtures/evolution/flows.yaml")
    };
    let test = copy(Test::new(), &dir, "").file("flows.yaml", std::fs::read(flows).expect("flows"));
    if dir.join("old").is_dir() {
        test
    } else {
        test.file("old/evo.proto", base(name))
    }
}

/// Asserts that `out` holds `text`, showing `out` when not.
fn says(out: &str, text: &str) {
    assert!(out.contains(text), "{out}");
}

/// The old side of every case without an `old/` of its own: the proto2
/// one for `proto2-` cases.
fn base(name: &str) -> Vec<u8> {
    let file = if name.starts_with("proto2-") {
        "base-proto2.proto"
    } else {
        "base.proto"
    };
    std::fs::read(repo("tests/fixtures/evolution").join(file)).expect("base")
}

/// The rules commsadvise reports for each flow of a case.
fn ours(name: &str) -> Rules {
    let run = case(name)
        .check_against("flows.yaml", "old")
        .args(&["--format", "json"])
        .run();
    assert!(
        run.status == 0 || run.status == 1,
        "{name}: exit {}\n{}",
        run.status,
        run.stderr
    );
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(json["passed"], run.status == 0, "{name}");
    let mut rules: Rules = BTreeMap::new();
    for finding in json["findings"].as_array().expect("findings") {
        let rule = finding["rule"].as_str().expect("rule").to_owned();
        for flow in finding["flows"].as_array().expect("flows") {
            let list = rules
                .entry(flow["flow"].as_str().expect("flow").to_owned())
                .or_default();
            if !list.contains(&rule) {
                list.push(rule.clone());
            }
        }
    }
    rules
}

/// Whether `buf breaking` with rule set `set` reports a break for a case.
fn buf_breaks(buf: &str, name: &str, set: &str) -> bool {
    let dir = tempfile::tempdir().expect("temp dir");
    for side in ["old", "new"] {
        let test_dir = dir.path().join(side);
        let from = repo("tests/fixtures/evolution").join(name).join(side);
        if from.is_dir() {
            copy_dir(&from, &test_dir);
        } else {
            std::fs::create_dir_all(&test_dir).expect("mkdir");
            std::fs::write(test_dir.join("evo.proto"), base(name)).expect("base");
        }
        // buf has the well-known types built in, not googleapis.
        copy_dir(&repo("src/contract/google"), &test_dir.join("google"));
    }
    let config = format!(r#"{{"version":"v2","breaking":{{"use":["{set}"]}}}}"#);
    let out = Command::new(buf)
        .args(["breaking", "--against", "../old", "--config", &config])
        .current_dir(dir.path().join("new"))
        .output()
        .expect("buf runs");
    match out.status.code() {
        Some(0) => false,
        Some(100) => true,
        other => panic!(
            "{name}: buf {set} exit {other:?}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let path = entry.expect("entry").path();
        let target = to.join(path.file_name().expect("name"));
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy");
        }
    }
}

/// One row of the agreement table, without its reason.
fn cells(buf: Option<&[bool; 4]>, ours: &Rules) -> Vec<String> {
    let mut cells: Vec<String> = match buf {
        Some(buf) => buf
            .iter()
            .map(|b| if *b { "breaks" } else { "ok" }.to_owned())
            .collect(),
        None => Vec::new(),
    };
    for (flow, _) in FLOWS {
        cells.push(ours.get(flow).map_or_else(
            || "ok".to_owned(),
            |rules| {
                rules
                    .iter()
                    .map(|r| format!("`{r}`"))
                    .collect::<Vec<_>>()
                    .join(" ")
            },
        ));
    }
    cells
}

/// The table in docs/contract.md: case → (cells, reason).
fn documented() -> BTreeMap<String, (Vec<String>, String)> {
    let doc = std::fs::read_to_string(repo("docs/contract.md")).expect("docs");
    let start = doc.find("<!-- agreement:start -->").expect("table start");
    let end = doc.find("<!-- agreement:end -->").expect("table end");
    doc[start..end]
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let parts: Vec<String> = l
                .trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_owned())
                .collect();
            let name = parts[0].trim_matches('`').to_owned();
            let reason = parts.last().cloned().unwrap_or_default();
            (name, (parts[1..parts.len() - 1].to_vec(), reason))
        })
        .collect()
}

/// Whether `flow` uses the element a case changes, by the case's name:
/// `method-`, `service-` and `http-` cases change the rpc, which only the
/// request-response flows use; `unused-` cases change what no flow uses;
/// on a `compat-none-` topic the message is not checked, by request.
fn uses(case: &str, flow: &str) -> bool {
    let event = flow.starts_with("item-");
    if case.starts_with("unused-") || (case.starts_with("compat-none-") && event) {
        return false;
    }
    !(event
        && ["method-", "service-", "http-"]
            .iter()
            .any(|p| case.starts_with(p)))
}

/// Whether a row's verdicts differ between buf and commsadvise: a buf set
/// against the transports it anchors, or buf's FILE set (generated code)
/// against a contract that breaks no flow.
fn disagrees(buf: [bool; 4], ours: &Rules) -> bool {
    let breaks = |flow: &str| ours.contains_key(flow);
    let wire = |set: &str| buf[SETS.iter().position(|s| *s == set).expect("set")];
    FLOWS.iter().any(|(flow, set)| wire(set) != breaks(flow)) || (buf[0] && ours.is_empty())
}

/// The anchor: wherever buf reports a break with the rule set matching a
/// transport, commsadvise reports one for the flow on that transport
/// (except for elements no flow uses, and topics whose compatibility is
/// `none`); every disagreement has its reason in docs/contract.md, whose
/// table this is, verbatim.
#[test]
fn agrees_with_buf_breaking_wherever_buf_reports_a_break() {
    let cases = corpus();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let buf = buf();
    let results: Vec<Outcome> = std::thread::scope(|scope| {
        let chunks: Vec<Vec<String>> = cases
            .chunks(cases.len().div_ceil(4))
            .map(<[String]>::to_vec)
            .collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let buf = buf.clone();
                scope.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|name| {
                            let verdicts = buf
                                .as_deref()
                                .map(|buf| SETS.map(|set| buf_breaks(buf, &name, set)));
                            let ours = ours(&name);
                            (name, verdicts, ours)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    });
    let table = documented();
    let mut stale = Vec::new();
    let mut missed = Vec::new();
    let mut unexplained = Vec::new();
    let mut expected = String::new();
    for (name, verdicts, ours) in &results {
        let (row, reason) = table.get(name).cloned().unwrap_or_default();
        let computed = cells(verdicts.as_ref(), ours);
        let shown = if verdicts.is_some() {
            &row[..]
        } else {
            row.get(4..).unwrap_or_default()
        };
        if shown != computed.as_slice() {
            stale.push(name.clone());
        }
        if let Some(buf) = verdicts {
            for (flow, set) in FLOWS {
                let broke = buf[SETS.iter().position(|s| *s == set).expect("set")];
                if broke && uses(name, flow) && !ours.contains_key(flow) {
                    missed.push(format!("{name}: buf {set} breaks, {flow} passes"));
                }
            }
            if disagrees(*buf, ours) && reason.is_empty() {
                unexplained.push(name.clone());
            }
            let _ = std::fmt::Write::write_fmt(
                &mut expected,
                format_args!("| `{name}` | {} | {reason} |\n", computed.join(" | ")),
            );
        }
    }
    assert!(
        missed.is_empty()
            && unexplained.is_empty()
            && stale.is_empty()
            && table.len() == results.len(),
        "missed: {missed:#?}\ndisagreements without a reason: {unexplained:?}\nstale rows: {stale:?}\ncomputed table:\n{expected}"
    );
}

/// Each rule's corpus case where it fires, and one where it stays quiet;
/// a rule that guards several kinds of change has a line for each.
const FIRES_AND_QUIET: &[(&str, &str, &str)] = &[
    ("package-changed", "package-changed", "go-package-changed"),
    ("service-deleted", "service-deleted", "rpc-added"),
    ("method-deleted", "method-deleted", "rpc-added"),
    (
        "method-request-changed",
        "method-request-changed",
        "method-request-field-deleted",
    ),
    (
        "method-response-changed",
        "method-response-changed",
        "field-added",
    ),
    (
        "method-streaming-changed",
        "method-server-streaming-changed",
        "http-binding-added",
    ),
    ("message-deleted", "message-deleted", "message-added"),
    ("field-deleted", "field-deleted", "field-deleted-reserved"),
    (
        "field-number-changed",
        "field-number-changed",
        "field-reordered",
    ),
    (
        "field-type-changed",
        "field-type-int64-to-sint64",
        "field-optional-added",
    ),
    (
        "field-type-changed",
        "proto2-group-to-message",
        "proto2-group-field-added",
    ),
    (
        "field-cardinality-changed",
        "field-cardinality-single-to-repeated",
        "field-optional-removed",
    ),
    (
        "field-cardinality-changed",
        "proto2-required-to-optional",
        "proto2-group-field-added",
    ),
    (
        "field-cardinality-changed",
        "proto2-optional-to-required",
        "proto2-group-field-added",
    ),
    ("field-oneof-changed", "field-oneof-moved-in", "field-added"),
    (
        "required-field-changed",
        "proto2-required-field-added",
        "proto2-group-field-added",
    ),
    (
        "required-field-changed",
        "proto2-required-field-deleted-reserved",
        "field-deleted-reserved",
    ),
    (
        "enum-value-deleted",
        "enum-value-deleted",
        "enum-value-deleted-reserved",
    ),
    (
        "json-field-renamed",
        "field-renamed",
        "field-json-name-explicit-same",
    ),
    (
        "json-name-changed",
        "field-json-name-changed",
        "field-json-name-explicit-same",
    ),
    (
        "json-enum-value-renamed",
        "enum-value-renamed",
        "enum-value-alias-added",
    ),
    (
        "http-route-changed",
        "http-path-changed",
        "http-binding-added",
    ),
    (
        "http-route-changed",
        "http-additional-binding-removed",
        "http-bindings-swapped",
    ),
    (
        "http-route-changed",
        "http-additional-binding-changed",
        "http-binding-added",
    ),
    (
        "kafka-json-unknown-field",
        "field-added-forward-json",
        "field-added",
    ),
    (
        "kafka-json-unknown-enum-value",
        "enum-value-added-forward-json",
        "enum-value-added",
    ),
    (
        "kafka-key-changed",
        "kafka-key-changed",
        "kafka-key-other-id-field-added",
    ),
];

#[test]
fn every_rule_fires_on_its_case_and_stays_quiet_on_another() {
    let rules: Vec<&str> = commsadvise::contract::evolution::RULES
        .iter()
        .map(|(id, _)| *id)
        .collect();
    let mut listed: Vec<&str> = FIRES_AND_QUIET.iter().map(|(rule, _, _)| *rule).collect();
    listed.dedup();
    assert_eq!(listed, rules, "every rule, in order");
    for (rule, fires, quiet) in FIRES_AND_QUIET {
        let fired = ours(fires);
        assert!(
            fired.values().flatten().any(|r| r == rule),
            "{rule} does not fire on {fires}: {fired:?}"
        );
        let stayed = ours(quiet);
        assert!(
            !stayed.values().flatten().any(|r| r == rule),
            "{rule} fires on {quiet}: {stayed:?}"
        );
    }
}

#[test]
fn a_rename_breaks_the_json_flows_and_not_the_binary_ones() {
    let rules = ours("field-renamed");
    assert_eq!(
        rules.keys().map(String::as_str).collect::<Vec<_>>(),
        ["get-item-rest", "item-json"]
    );
}

macro_rules! snapshot_cases {
    ($($test:ident: $case:literal, $status:literal;)*) => {$(
        #[test]
        fn $test() {
            let run = case($case)
                .check_against("flows.yaml", "old")
                .status($status);
            insta::assert_snapshot!(run.stdout);
        }
    )*};
}

snapshot_cases! {
    shows_a_json_rename_at_the_new_and_the_old_line: "field-renamed", 1;
    shows_a_deleted_field_at_its_message_and_its_old_line: "field-deleted", 1;
    shows_a_changed_rest_route: "http-path-changed", 1;
    shows_a_removed_additional_rest_route: "http-additional-binding-removed", 1;
    shows_a_field_that_stopped_being_required: "proto2-required-to-optional", 1;
    shows_a_group_that_became_a_message_field: "proto2-group-to-message", 1;
    shows_a_re_keyed_topic: "kafka-key-changed", 1;
    shows_a_package_move_once_per_element: "package-changed", 1;
    shows_a_reserved_enum_value_still_in_a_json_topic: "enum-value-deleted-reserved", 1;
    shows_a_field_old_json_consumers_do_not_know: "field-added-forward-json", 1;
    shows_a_unary_rpc_that_became_streaming: "method-server-streaming-changed", 1;
    shows_a_deleted_service_and_no_binding_error: "service-deleted", 1;
    passes_a_comment_change: "comment-changed", 0;
}

#[test]
fn reports_as_json_and_as_github_annotations_on_the_new_proto() {
    let json = case("field-deleted")
        .check_against("flows.yaml", "old")
        .args(&["--format", "json"])
        .status(1);
    insta::assert_snapshot!(json.stdout);
    let github = case("field-renamed")
        .check_against("flows.yaml", "old")
        .args(&["--format", "github"])
        .status(1);
    insta::assert_snapshot!(github.stdout);
}

#[test]
fn takes_a_single_old_proto_file() {
    let run = case("field-renamed")
        .check_against("flows.yaml", "old/evo.proto")
        .status(1);
    says(&run.stdout, "error[json-field-renamed]");
}

#[test]
fn refuses_an_old_contract_that_does_not_exist_or_compile() {
    let missing = case("comment-changed")
        .check_against("flows.yaml", "nowhere")
        .status(2);
    says(&missing.stderr, "no such file or folder");
    let broken = case("comment-changed")
        .file("old/evo.proto", "syntax = \"proto3\";\nmessage {\n")
        .check_against("flows.yaml", "old")
        .status(2);
    says(&broken.stderr, "old/evo.proto:2:9");
    assert!(broken.stdout.is_empty());
}

#[test]
fn a_new_contract_that_no_longer_binds_is_bad_input_when_nothing_breaks() {
    // The old contract lacks the rpc too: no break to report, yet the
    // flows bind to nothing.
    let old = std::fs::read_to_string(repo(
        "tests/fixtures/evolution/service-deleted/new/evo.proto",
    ))
    .expect("fixture");
    let run = case("service-deleted")
        .file("old/evo.proto", old)
        .check_against("flows.yaml", "old")
        .status(2);
    says(&run.stderr, "unknown service");
}

#[test]
fn check_against_gates_the_decisions_and_the_contract_in_one_step() {
    let broken = case("field-renamed")
        .args(&["check", "flows.yaml", "--against", "old"])
        .status(1);
    says(&broken.stdout, "error[json-field-renamed]");
    says(&broken.stderr, "contract check failed");
    let json = case("field-renamed")
        .args(&[
            "check",
            "flows.yaml",
            "--against",
            "old",
            "--format",
            "json",
        ])
        .status(1);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(value["contract"]["passed"], false);
    assert_eq!(
        value["contract"]["findings"][0]["rule"],
        "json-field-renamed"
    );
    let github = case("field-renamed")
        .args(&[
            "check",
            "flows.yaml",
            "--against",
            "old",
            "--format",
            "github",
        ])
        .status(1);
    says(
        &github.stdout,
        "::error file=new/evo.proto,line=24,col=3,title=commsadvise json-field-renamed::",
    );
    let fine = case("comment-changed")
        .args(&["check", "flows.yaml", "--against", "old"])
        .run();
    says(&fine.stdout, "contract check passed");
}

#[test]
fn the_bare_contract_command_still_prints_the_contract() {
    let run = case("comment-changed")
        .args(&["contract", "flows.yaml"])
        .success();
    says(&run.stdout, "evo.v1.ItemService/GetItem");
    let seed = Test::new().args(&["contract"]).success();
    says(&seed.stdout, "service OrderService");
}

#[test]
fn the_contract_listing_shows_every_binding_primary_first() {
    let text = case("http-binding-added")
        .args(&["contract", "flows.yaml"])
        .success();
    says(
        &text.stdout,
        "GET /v1/items/{item_id}, also GET /v1/products/{item_id}",
    );
    let json = case("http-binding-added")
        .args(&["contract", "flows.yaml", "--format", "json"])
        .success();
    let value: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    let http = &value["flows"][0]["served"][0]["http"];
    assert_eq!(http["path"], "/v1/items/{item_id}", "{http}");
    assert_eq!(
        http["additional_bindings"],
        serde_json::json!([{"method": "GET", "path": "/v1/products/{item_id}"}])
    );
    // Without additional bindings the key is absent, as before.
    let plain = case("comment-changed")
        .args(&["contract", "flows.yaml", "--format", "json"])
        .success();
    let value: serde_json::Value = serde_json::from_str(&plain.stdout).expect("JSON");
    assert!(
        value["flows"][0]["served"][0]["http"]
            .get("additional_bindings")
            .is_none()
    );
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `--against git:<rev>` reads the same files at the revision with the git
/// CLI, from a flows.yaml in a subfolder, and leaves the work tree alone.
#[test]
fn checks_against_a_git_revision_without_touching_the_work_tree() {
    let corpus = repo("tests/fixtures/evolution/field-renamed");
    let flows = std::fs::read_to_string(repo("tests/fixtures/evolution/flows.yaml"))
        .expect("flows")
        .replace("new/evo.proto", "proto/evo.proto")
        .replace("[new]", "[proto]");
    let test = Test::new()
        .file("svc/flows.yaml", &flows)
        .fixture("tests/fixtures/evolution/base.proto", "svc/proto/evo.proto");
    let dir = test.path().to_owned();
    git(&dir, &["init", "-q"]);
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "deployed"]);
    let new = std::fs::read_to_string(corpus.join("new/evo.proto")).expect("new");
    std::fs::write(dir.join("svc/proto/evo.proto"), &new).expect("edit");

    let run = Test::new_in(&test)
        .check_against("svc/flows.yaml", "git:HEAD")
        .status(1);
    says(&run.stdout, "error[json-field-renamed]");
    says(&run.stdout, " --> HEAD:svc/proto/evo.proto:24:3");
    assert_eq!(
        std::fs::read_to_string(dir.join("svc/proto/evo.proto")).expect("read"),
        new,
        "the work tree keeps the new file"
    );

    let bad = Test::new_in(&test)
        .check_against("svc/flows.yaml", "git:no-such-branch")
        .status(2);
    says(&bad.stderr, "is not a revision");

    git(&dir, &["commit", "-q", "-am", "renamed"]);
    let run = Test::new_in(&test)
        .check_against("svc/flows.yaml", "git:HEAD")
        .success();
    says(&run.stdout, "contract check passed");
    let run = Test::new_in(&test)
        .check_against("svc/flows.yaml", "git:HEAD~1")
        .status(1);
    says(&run.stdout, " --> HEAD~1:svc/proto/evo.proto:24:3");
}

/// Without `proto:`, the old contract is the one derived from flows.yaml
/// as it was at the revision.
#[test]
fn checks_a_derived_contract_against_the_flows_file_at_a_revision() {
    let flows =
        "version: 1\nsystem: shop\nflows:\n  - name: get-order\n    from: web\n    to: orders\n";
    let test = Test::new().file("flows.yaml", flows);
    let dir = test.path().to_owned();
    git(&dir, &["init", "-q"]);
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "deployed"]);
    let run = Test::new_in(&test)
        .check_against("flows.yaml", "git:HEAD")
        .success();
    says(&run.stdout, "contract check passed");
    // The flow now reaches another service: its rpc moves there.
    std::fs::write(
        dir.join("flows.yaml"),
        flows.replace("to: orders", "to: billing"),
    )
    .expect("edit");
    let run = Test::new_in(&test)
        .check_against("flows.yaml", "git:HEAD")
        .status(1);
    says(&run.stdout, "error[service-deleted]");
}
