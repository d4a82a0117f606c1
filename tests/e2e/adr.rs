//! `commsadvise adr`: MADR records written once, superseded instead of
//! rewritten, never overwriting a file it did not plan to change.

use std::path::Path;

use crate::common::Test;
use crate::recommend::{HOSTILE_FLOWS, HOSTILE_RULE};

fn adr(test: Test) -> Test {
    test.args(&[
        "adr",
        "flows.yaml",
        "--out",
        "docs/adr",
        "--date",
        "2025-01-02",
    ])
}

fn records(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("docs/adr"))
        .expect("the records folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join("docs/adr").join(name)).expect("record")
}

#[test]
fn writes_one_madr_record_per_flow() {
    let test = adr(Test::new().fixture("examples/orders.yaml", "flows.yaml"));
    let run = test.success();
    assert_eq!(
        records(test.path()),
        [
            "0001-use-rest-for-get-order.md",
            "0002-use-grpc-for-lookup-order.md",
            "0003-use-kafka-for-order-created.md"
        ]
    );
    insta::assert_snapshot!("adr_first_run_output", run.stdout);
    insta::assert_snapshot!(
        "adr_rest_record",
        read(test.path(), "0001-use-rest-for-get-order.md")
    );
    insta::assert_snapshot!(
        "adr_kafka_record",
        read(test.path(), "0003-use-kafka-for-order-created.md")
    );
}

#[test]
fn a_second_run_leaves_unchanged_decisions_alone() {
    let test = adr(Test::new().fixture("examples/orders.yaml", "flows.yaml"));
    test.success();
    let before: Vec<String> = records(test.path())
        .iter()
        .map(|n| read(test.path(), n))
        .collect();
    let second = test.success();
    assert_eq!(
        second.stdout,
        "unchanged docs/adr/0001-use-rest-for-get-order.md\nunchanged docs/adr/0002-use-grpc-for-lookup-order.md\nunchanged docs/adr/0003-use-kafka-for-order-created.md\n"
    );
    let after: Vec<String> = records(test.path())
        .iter()
        .map(|n| read(test.path(), n))
        .collect();
    assert_eq!(before, after);
}

#[test]
fn a_changed_flow_supersedes_its_record_with_a_new_one() {
    let test = adr(Test::new().fixture("examples/orders.yaml", "flows.yaml"));
    test.success();
    let old = read(test.path(), "0002-use-grpc-for-lookup-order.md");
    let orders = std::fs::read_to_string(crate::common::repo("examples/orders.yaml")).unwrap();
    let changed = orders.replace(
        "    throughput: 5000\n",
        "    throughput: 5000\n    interaction: event\n    coupling: loose\n",
    );
    std::fs::write(test.path().join("flows.yaml"), changed).unwrap();
    let second = test.success();
    insta::assert_snapshot!("adr_supersede_output", second.stdout);
    let names = records(test.path());
    assert_eq!(names.len(), 4, "{names:?}");
    let superseded = read(test.path(), "0002-use-grpc-for-lookup-order.md");
    assert_eq!(
        superseded.replace("status: \"superseded by ADR-0004\"", "status: accepted"),
        old,
        "only the status line of the old record changes"
    );
    let new = read(test.path(), &names[3]);
    assert!(
        names[3].starts_with("0004-use-kafka-for-lookup-order"),
        "{names:?}"
    );
    assert!(new.contains("status: accepted") && new.contains("Supersedes ADR-0002."));
}

#[test]
fn hand_written_records_are_kept_and_numbered_around() {
    let mine = "# 1. Record architecture decisions\n\nWe keep ADRs.\n";
    let test = adr(Test::new()
        .fixture("examples/orders.yaml", "flows.yaml")
        .file("docs/adr/0001-record-architecture-decisions.md", mine));
    test.success();
    assert_eq!(
        read(test.path(), "0001-record-architecture-decisions.md"),
        mine
    );
    assert!(records(test.path()).contains(&"0002-use-rest-for-get-order.md".to_owned()));
}

#[test]
fn dry_run_writes_nothing() {
    let test = Test::new()
        .fixture("examples/orders.yaml", "flows.yaml")
        .args(&["adr", "flows.yaml", "--out", "docs/adr", "--dry-run"]);
    let run = test.success();
    assert!(
        run.stdout
            .starts_with("would create docs/adr/0001-use-rest-for-get-order.md\n"),
        "{}",
        run.stdout
    );
    assert!(!test.path().join("docs").exists());
}

#[test]
fn refuses_an_out_path_that_is_a_file() {
    let test = Test::new()
        .fixture("examples/orders.yaml", "flows.yaml")
        .file("docs/adr", "not a folder")
        .args(&["adr", "flows.yaml", "--out", "docs/adr"]);
    let run = test.status(2);
    assert!(
        run.stderr
            .starts_with("error: `docs/adr` is a file, not a folder"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(test.path().join("docs/adr")).unwrap(),
        "not a folder"
    );
}

#[test]
fn leaves_no_temporary_files_behind() {
    let test = adr(Test::new().fixture("examples/orders.yaml", "flows.yaml"));
    test.success();
    assert!(
        records(test.path()).iter().all(|n| !n.starts_with('.')),
        "{:?}",
        records(test.path())
    );
}

/// `adr` into `docs/adr`, which holds `name` made by `make`.
fn with_odd_record(name: &str, make: impl FnOnce(&Path)) -> Test {
    let test = Test::new().fixture("examples/orders.yaml", "flows.yaml");
    std::fs::create_dir_all(test.path().join("docs/adr")).unwrap();
    make(&test.path().join("docs/adr").join(name));
    adr(test)
}

// Review item 6: a FIFO or device named `*.md` in `--out` was skipped
// silently; now each is refused at once, naming it (reading a FIFO would
// block forever, a device never end).
#[cfg(unix)]
#[test]
fn refuses_a_fifo_or_device_named_like_a_record() {
    fn fifo(path: &Path) {
        let made = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
    }
    fn device(path: &Path) {
        std::os::unix::fs::symlink("/dev/zero", path).unwrap();
    }
    for (make, kind) in [
        (fifo as fn(&Path), "a FIFO (named pipe)"),
        (device, "a device"),
    ] {
        let test = with_odd_record("0009-notes.md", make);
        let run = test.status(2);
        assert!(
            run.stderr.starts_with(&format!(
                "error: `docs/adr/0009-notes.md` is {kind}, not a regular file"
            )),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains("= `adr` reads every `*.md` file in `--out` as a decision record"),
            "{}",
            run.stderr
        );
        assert_eq!(records(test.path()), ["0009-notes.md"], "nothing written");
    }
}

// Review item 6: a 3 GB `*.md` was read whole, even by `--dry-run`.
#[test]
fn refuses_a_record_over_the_size_limit_naming_it() {
    let test = with_odd_record("0009-notes.md", |path| {
        // Sparse: 33 MiB of length, no blocks written.
        std::fs::File::create(path)
            .and_then(|f| f.set_len(33 * 1024 * 1024))
            .unwrap();
    });
    let run = test.args(&["--dry-run"]).status(2);
    assert!(
        run.stderr.starts_with(&format!(
            "error: `docs/adr/0009-notes.md` is {} bytes, over the limit of {} bytes",
            33 * 1024 * 1024,
            32 * 1024 * 1024
        )),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
}

#[test]
fn passes_over_a_folder_named_like_a_record() {
    let test = with_odd_record("0009-drafts.md", |path| {
        std::fs::create_dir(path).unwrap();
    });
    test.success();
    // Not a record, so it takes no number either.
    assert!(
        records(test.path()).contains(&"0001-use-rest-for-get-order.md".to_owned()),
        "{:?}",
        records(test.path())
    );
}

// Review item 5: an escape sequence or a bidirectional override in a
// description or a rule's text went into the record as it was written.
#[test]
fn records_carry_no_control_or_bidirectional_characters() {
    let test = adr(Test::new()
        .file("flows.yaml", HOSTILE_FLOWS)
        .file("r/hostile.yaml", HOSTILE_RULE))
    .args(&["--rules", "r"]);
    test.success();
    let record = read(test.path(), "0001-use-rest-for-a.md");
    assert!(!record.contains(['\u{1b}', '\u{202e}']), "{record:?}");
    assert!(record.contains("u{1b}\\[31mRED"), "{record}");
    assert!(
        record.contains("Clears \\u{1b}[2J the \\u{202e} screen"),
        "{record}"
    );
}
