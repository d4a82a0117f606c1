//! A fluent builder for running the real binary in a temporary folder:
//! input files, arguments, then expected stdout, stderr and exit code.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Test {
    dir: Dir,
    args: Vec<String>,
}

/// The folder a test runs in: its own, or one borrowed from an earlier step.
enum Dir {
    Owned(tempfile::TempDir),
    Borrowed(PathBuf),
}

/// What a run produced.
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Test {
    pub fn new() -> Test {
        Test {
            dir: Dir::Owned(tempfile::tempdir().expect("temp dir")),
            args: Vec::new(),
        }
    }

    /// Another run in the same folder as `other`, for multi-step scenarios.
    pub fn new_in(other: &Test) -> Test {
        Test {
            dir: Dir::Borrowed(other.path().to_owned()),
            args: Vec::new(),
        }
    }

    /// Writes `contents` to `path` inside the test folder.
    pub fn file(self, path: &str, contents: impl AsRef<[u8]>) -> Test {
        let full = self.path().join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(full, contents).expect("write input");
        self
    }

    /// Copies a file from the repository (examples/, tests/fixtures/).
    pub fn fixture(self, from: &str, to: &str) -> Test {
        let contents = std::fs::read(repo(from)).expect("fixture exists");
        self.file(to, contents)
    }

    pub fn args(mut self, args: &[&str]) -> Test {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    pub fn path(&self) -> &Path {
        match &self.dir {
            Dir::Owned(dir) => dir.path(),
            Dir::Borrowed(path) => path,
        }
    }

    pub fn run(&self) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_commsadvise"));
        cmd.args(&self.args)
            .current_dir(self.path())
            .env("NO_COLOR", "1");
        let Output {
            status,
            stdout,
            stderr,
        } = cmd.output().expect("binary runs");
        Run {
            status: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    /// Runs and asserts the exit code, returning the run for further checks.
    pub fn status(&self, expected: i32) -> Run {
        let run = self.run();
        assert_eq!(
            run.status, expected,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            run.stdout, run.stderr
        );
        run
    }

    /// Runs and asserts success.
    pub fn success(&self) -> Run {
        self.status(0)
    }
}

/// A path inside the repository.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// An external tool the tests check against: the program the environment
/// variable `env` names, else `name` on the PATH, when `--version` runs.
/// `None` lets the caller skip, or fail in CI.
pub fn tool(env: &str, name: &str) -> Option<String> {
    let candidate = std::env::var(env).unwrap_or_else(|_| name.to_owned());
    Command::new(&candidate)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        .then_some(candidate)
}

/// Says on stderr, past the harness's capture, that a check by an external
/// tool was skipped; in CI a missing tool is a failure instead.
pub fn skipped(what: &str, why: &str) {
    use std::io::Write as _;
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but {why} (.ci/run installs it)"
    );
    let _ = writeln!(std::io::stderr(), "SKIPPED {what}: {why}; NOT checked");
}

/// The one target directory every generated workspace builds into,
/// `COMMSADVISE_GENERATED_TARGET` (default `<repo>/target/generated`), so
/// that tokio, tonic, axum and librdkafka compile once for all cases.
pub fn generated_target() -> PathBuf {
    std::env::var_os("COMMSADVISE_GENERATED_TARGET")
        .map_or_else(|| repo("target/generated"), PathBuf::from)
}

/// `cargo <args>` inside a generated workspace, into the shared target.
///
/// No incremental caches and line tables only: the same code is built and
/// tested, but a case's artifacts shrink several times over, which is what
/// lets a CI disk hold every case (a full-debug run filled one).
pub fn generated_cargo(ws: &Path, args: &[&str]) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(args)
        .current_dir(ws)
        .env("CARGO_TARGET_DIR", generated_target())
        .env("CARGO_INCREMENTAL", "0")
        .env("CARGO_PROFILE_DEV_DEBUG", "line-tables-only")
        // The same for build scripts, or `check` and `build` would compile
        // the C libraries twice (the workspace's Cargo.toml says why).
        .env("CARGO_PROFILE_DEV_BUILD_OVERRIDE_DEBUG", "line-tables-only")
        .env_remove("RUSTFLAGS");
    command
}

/// Removes a generated workspace's own crates (its services, `contract`,
/// `runtime`) from the shared target once its case is done, keeping the
/// dependencies. Cases reuse crate names (`contract`, `orders`), so this
/// also keeps one case from ever picking up another's stale artifacts.
pub fn forget_generated(ws: &Path) {
    let Ok(metadata) =
        generated_cargo(ws, &["metadata", "--no-deps", "--format-version", "1"]).output()
    else {
        return;
    };
    let Ok(metadata) = serde_json::from_slice::<serde_json::Value>(&metadata.stdout) else {
        return;
    };
    let mut clean = vec!["clean".to_owned()];
    for package in metadata["packages"].as_array().into_iter().flatten() {
        if let Some(name) = package["name"].as_str() {
            clean.extend(["-p".to_owned(), name.to_owned()]);
        }
    }
    if clean.len() > 1 {
        let args: Vec<&str> = clean.iter().map(String::as_str).collect();
        // Best effort: a failed clean costs disk, not correctness.
        let _ = generated_cargo(ws, &args).output();
    }
}

/// Held by each test that builds a generated workspace. Workspaces share
/// the target directory and their binaries share names (`web`, `orders`),
/// so two building at once would run each other's binaries; `.ci/run`
/// passes `--test-threads 1`, and this keeps a plain `cargo test --
/// --ignored` as safe.
pub fn one_generated_build_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A failed test poisons the lock; the next one may still run.
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
