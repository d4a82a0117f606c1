//! `commsadvise interactive` in a pseudo-terminal, and without one.
//!
//! The pty tests answer only after the question they answer has appeared,
//! and every wait is bounded (a generous [`WAIT`] per step, after which the
//! child is killed), so a slow machine makes them slower, never flaky, and
//! a regression that stops the questionnaire fails instead of hanging.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use expectrl::process::unix::WaitStatus;
use expectrl::session::OsSession;
use expectrl::{ControlCode, Eof, Expect as _, Regex};

use crate::common::{Test, repo};

/// The longest wait for any one thing the binary should print.
const WAIT: Duration = Duration::from_secs(30);

/// The binary on a pseudo-terminal, with everything it printed so far.
struct Pty {
    session: OsSession,
    seen: Vec<u8>,
}

impl Pty {
    /// The binary with `args`, run in `dir`.
    fn spawn(dir: &Path, args: &[&str]) -> Pty {
        let mut command = Command::new(env!("CARGO_BIN_EXE_commsadvise"));
        command.args(args).current_dir(dir);
        Pty::run(command)
    }

    fn run(mut command: Command) -> Pty {
        command.env("NO_COLOR", "1").env("TERM", "xterm");
        let mut session = OsSession::spawn(command).expect("spawn on a pty");
        session.set_expect_timeout(Some(WAIT));
        // Wide enough that no question wraps.
        session
            .get_process_mut()
            .set_window_size(200, 50)
            .expect("window size");
        Pty {
            session,
            seen: Vec::new(),
        }
    }

    /// Waits for `text`, then types `keys`.
    fn answer(&mut self, text: &str, keys: &str) {
        self.expect(text);
        self.session.send(keys).expect("send keys");
    }

    fn expect(&mut self, text: &str) {
        match self.session.expect(text) {
            Ok(found) => self.seen.extend_from_slice(found.as_bytes()),
            Err(e) => {
                // Whatever arrived after the last match explains the failure.
                if let Ok(rest) = self.session.check(Regex("(?s).+")) {
                    self.seen.extend_from_slice(rest.as_bytes());
                }
                panic!(
                    "waiting for {text:?}: {e}\n--- the terminal showed\n{}",
                    self.screen()
                );
            }
        }
    }

    /// Everything printed, without terminal control sequences.
    fn screen(&self) -> String {
        let text = String::from_utf8_lossy(&self.seen);
        let mut out = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\x1b' => {
                    if chars.peek() == Some(&'[') {
                        chars.next();
                        for c in chars.by_ref() {
                            if c.is_ascii_alphabetic() || c == '~' {
                                break;
                            }
                        }
                    }
                }
                '\r' => {}
                c => out.push(c),
            }
        }
        out
    }

    /// Waits for the binary to end, and returns how it ended.
    fn end(&mut self) -> WaitStatus {
        self.read_to_end();
        let deadline = Instant::now() + WAIT;
        loop {
            let status = self.session.get_process().status().expect("status");
            if status != WaitStatus::StillAlive {
                return status;
            }
            assert!(Instant::now() < deadline, "the binary did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Reads what the binary prints until it closes the terminal.
    fn read_to_end(&mut self) {
        match self.session.expect(Eof) {
            Ok(found) => self.seen.extend_from_slice(found.as_bytes()),
            // Linux reports a closed pty as an I/O error rather than EOF.
            Err(expectrl::Error::IO(_)) => {}
            Err(e) => panic!(
                "waiting for the end: {e}\n--- the terminal showed\n{}",
                self.screen()
            ),
        }
    }
}

fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        _ => None,
    }
}

/// Files left in `dir`, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A browser reads an order, 200 ms.
fn answer_get_order(pty: &mut Pty) {
    pty.answer("What is the flow called?", "get-order\r");
    pty.answer(
        "Describe it in one sentence",
        "Storefront shows an order: fast\r",
    );
    pty.answer("Which service calls or sends? (its name)", "storefront\r");
    pty.answer("Which service receives it?", "orders\r");
    pty.answer("How do the two sides talk?", "\r");
    pty.answer("Who calls this: a browser", "jj\r");
    pty.expect("Who calls this: a browser, a public client, or another internal service?: browser");
    pty.answer("Must the sender keep working", "\r");
    pty.answer("What is the p99 latency budget", "200\r");
    pty.answer("What is the peak rate", "\r");
    pty.answer("If something fails", "\r");
    pty.answer("Must consumers be able to re-read past messages?", "\r");
    pty.answer("Must messages be handled in the order", "\r");
    pty.answer("Must the payload stay human-readable", "\r");
    pty.answer("Do both sides need a typed, versioned contract?", "\r");
    pty.answer("What is a typical message size", "\r");
    pty.answer("Which Kafka topic carries it", "\r");
    pty.answer("Pin a transport for this flow?", "\r");
    // REST: the browser waits on `orders`, so its availability counts.
    pty.answer("How much of the time does `orders` answer?", "99.95%\r");
    pty.expect("=> get-order: rest (storefront -> orders)");
}

/// An order-created event to analytics and shipping, loose, replayable.
fn answer_order_created(pty: &mut Pty) {
    pty.answer("What is the flow called?", "order-created\r");
    pty.answer("Describe it in one sentence", "\r");
    pty.answer("Which service calls or sends?", "\r");
    pty.expect("Which service calls or sends?: orders");
    pty.answer("Which services receive it?", "j \r");
    pty.answer(
        "What are the new receiving services called?",
        "analytics, shipping\r",
    );
    pty.answer("How do the two sides talk?", "j\r");
    pty.expect("How do the two sides talk?: event");
    pty.answer("Who calls this", "\r");
    pty.answer("Must the sender keep working", "y");
    pty.answer("What is the p99 latency budget", "\r");
    pty.answer("What is the peak rate", "\r");
    pty.answer("If something fails", "j\r");
    pty.expect("arrive exactly once?: at-least-once");
    pty.answer("Must consumers be able to re-read past messages?", "y");
    pty.answer("Must messages be handled in the order", "\r");
    pty.answer("Must the payload stay human-readable", "\r");
    pty.answer("Do both sides need a typed, versioned contract?", "\r");
    pty.answer("What is a typical message size", "\r");
    pty.answer("Which Kafka topic carries it", "order-events\r");
    pty.answer("Pin a transport for this flow?", "\r");
    // Kafka: how long the topic keeps messages, and each consumer's copies.
    pty.answer(
        "How many hours must Kafka keep the messages of `order-created`?",
        "72\r",
    );
    pty.answer("How many copies of `analytics` consume in parallel?", "\r");
    pty.answer("How many copies of `shipping` consume in parallel?", "4\r");
    pty.expect("=> order-created: kafka (orders -> analytics, shipping)");
    pty.expect("kafka: topic `order-events`, 4 partitions, replication 3, kept 72 h");
}

#[test]
fn answers_two_flows_then_writes_flows_yaml_and_scaffolds() {
    let test = Test::new();
    let mut pty = Pty::spawn(test.path(), &["interactive"]);
    pty.answer("What is the system called?", "shop\r");
    pty.answer("Which transports can your organisation run?", "\r");

    answer_get_order(&mut pty);
    pty.answer("What next?", "\r");
    answer_order_created(&mut pty);
    pty.answer("What next?", "k\r");

    pty.expect("FLOW");
    pty.answer("Write these flows to a file now?", "\r");
    pty.answer("Where should it go?", "\r");
    pty.expect("wrote flows.yaml (2 flows)");
    pty.answer("Scaffold a Rust workspace for these flows now?", "y");
    pty.answer("Into which folder?", "\r");
    pty.expect("scaffolded `shop` in shop");
    let status = pty.end();
    assert_eq!(exit_code(status), Some(0), "{status:?}\n{}", pty.screen());

    let screen = pty.screen();
    for shown in [
        // Each question comes with why it matters.
        "Browsers and outside partners need plain HTTP and JSON",
        "Only a log-based broker (Kafka) keeps messages",
        "their availabilities multiply",
        "Each copy reads its own partitions",
        // Each flow's recommendation comes with its reasons.
        "   why:\n     + [",
        // The table at the end.
        "get-order      storefront -> orders",
    ] {
        assert!(screen.contains(shown), "{shown:?} not shown in\n{screen}");
    }

    let written = std::fs::read_to_string(test.path().join("flows.yaml")).expect("flows.yaml");
    assert_eq!(
        written,
        "version: 1\n\
         system: shop\n\
         services:\n  \
         orders:\n    \
           availability: 0.9995\n  \
         shipping:\n    \
           instances: 4\n\
         flows:\n  \
         - name: get-order\n    \
           description: \"Storefront shows an order: fast\"\n    \
           from: storefront\n    \
           to: orders\n    \
           client: browser\n    \
           latency_ms: 200\n  \
         - name: order-created\n    \
           from: orders\n    \
           to: [analytics, shipping]\n    \
           interaction: event\n    \
           coupling: loose\n    \
           delivery: at-least-once\n    \
           replay: true\n    \
           topic: order-events\n    \
           retention_hours: 72\n"
    );
    assert_eq!(files(test.path()), ["flows.yaml", "shop"]);
    // The same scaffold as `commsadvise scaffold flows.yaml --out shop`.
    assert!(
        test.path()
            .join("shop/.commsadvise/manifest.json")
            .is_file()
    );

    // What `recommend` says about the written file is what was shown.
    let report = Test::new()
        .file("flows.yaml", &written)
        .args(&["recommend", "flows.yaml"])
        .success();
    assert!(
        report
            .stdout
            .contains("get-order: rest (storefront -> orders)"),
        "{}",
        report.stdout
    );
    assert!(
        report
            .stdout
            .contains("order-created: kafka (orders -> analytics, shipping)"),
        "{}",
        report.stdout
    );
}

/// `ask --from orders.yaml` on a copy of the example, past the system's
/// name and transports (Enter keeps both), at the menu.
fn edit_the_orders_example(test: &Test) -> Pty {
    let mut pty = Pty::spawn(test.path(), &["ask", "--from", "orders.yaml"]);
    pty.expect("Loaded orders.yaml: 3 flows.");
    pty.answer("What is the system called?", "\r");
    pty.answer("Which transports can your organisation run?", "\r");
    pty
}

/// From the menu: done, write over orders.yaml, no scaffold, exit 0.
fn replace_orders_yaml(pty: &mut Pty, flows: usize) {
    pty.answer("What next?", "k\r");
    pty.answer("Write these flows to a file now?", "\r");
    pty.answer("Where should it go?", "\r");
    pty.answer("`orders.yaml` exists. Replace it?", "y");
    pty.expect(&format!("wrote orders.yaml ({flows} flows)"));
    pty.answer("Scaffold a Rust workspace for these flows now?", "\r");
    let status = pty.end();
    assert_eq!(exit_code(status), Some(0), "{status:?}\n{}", pty.screen());
}

#[test]
fn from_an_existing_file_removes_a_flow_and_replaces_the_file() {
    let test = Test::new().fixture("examples/orders.yaml", "orders.yaml");
    let mut pty = edit_the_orders_example(&test);
    pty.answer("What next?", "jj\r");
    pty.expect("What next?: remove a flow");
    pty.answer("Which flow do you want to remove?", "j\r");
    pty.answer("Remove `lookup-order`?", "y");
    pty.expect("removed `lookup-order`");
    replace_orders_yaml(&mut pty, 2);

    let example = std::fs::read_to_string(repo("examples/orders.yaml")).expect("example");
    let lookup = example
        .find("  - name: lookup-order")
        .expect("example has lookup-order");
    let created = example
        .find("  - name: order-created")
        .expect("example has order-created");
    let expected = format!("{}{}", &example[..lookup], &example[created..]);
    let written = std::fs::read_to_string(test.path().join("orders.yaml")).expect("written");
    assert_eq!(written, expected);
    assert_eq!(files(test.path()), ["orders.yaml"]);
}

#[test]
fn changes_a_services_instances_from_the_menu() {
    let test = Test::new().fixture("examples/orders.yaml", "orders.yaml");
    let mut pty = edit_the_orders_example(&test);
    pty.answer("What next?", "jjj\r");
    pty.expect("What next?: change a service");
    pty.answer("Which service do you want to change?", "jjj\r");
    pty.expect("Which service do you want to change?: shipping");
    pty.answer("How much of the time does `shipping` answer?", "\r");
    pty.answer("How many copies of `shipping` consume in parallel?", "6\r");
    pty.expect("changed `shipping`");
    replace_orders_yaml(&mut pty, 3);

    let example = std::fs::read_to_string(repo("examples/orders.yaml")).expect("example");
    let expected = example.replacen(
        "flows:\n",
        "services:\n  shipping:\n    instances: 6\nflows:\n",
        1,
    );
    let written = std::fs::read_to_string(test.path().join("orders.yaml")).expect("written");
    assert_eq!(written, expected);
    // The topic shipping reads is sized for its six consumers.
    let report = Test::new()
        .file("flows.yaml", &written)
        .args(&["recommend", "flows.yaml", "--format", "json"])
        .success();
    assert!(
        report.stdout.contains("\"partitions\": 6"),
        "{}",
        report.stdout
    );
}

#[test]
fn ctrl_c_mid_questionnaire_writes_nothing() {
    let test = Test::new();
    let mut pty = Pty::spawn(test.path(), &["interactive"]);
    pty.answer("What is the system called?", "shop\r");
    pty.answer("Which transports can your organisation run?", "\r");
    pty.answer("What is the flow called?", "get-order\r");
    pty.answer("Describe it in one sentence", "\r");
    pty.answer("Which service calls or sends?", "storefront\r");
    pty.answer("Which service receives it?", "orders\r");
    pty.answer("How do the two sides talk?", "\r");
    pty.expect("Who calls this");
    pty.session.send(ControlCode::EndOfText).expect("send ^C");
    let status = pty.end();
    // SIGINT ends the process; where SIGINT is ignored, the prompt fails
    // and the command reports the interruption with exit code 2.
    let interrupted = matches!(
        status,
        WaitStatus::Signaled(_, expectrl::process::unix::Signal::SIGINT, _)
    ) || exit_code(status) == Some(2);
    assert!(interrupted, "{status:?}\n{}", pty.screen());
    assert_eq!(files(test.path()), Vec::<String>::new(), "nothing written");
}

#[test]
fn ctrl_c_where_sigint_is_ignored_exits_2_and_says_nothing_was_written() {
    let test = Test::new();
    // `trap "" INT` is inherited through exec: the binary then sees ^C as an
    // error from the prompt instead of being ended by the signal.
    let script = format!(
        "trap '' INT; exec '{}' interactive",
        env!("CARGO_BIN_EXE_commsadvise")
    );
    let mut command = Command::new("sh");
    command.args(["-c", &script]).current_dir(test.path());
    let mut pty = Pty::run(command);
    pty.answer("What is the system called?", "shop\r");
    pty.expect("Which transports can your organisation run?");
    // A ^C that arrives between two key reads is consumed by the terminal
    // as an (ignored) signal, so send it until the prompt sees one.
    let deadline = Instant::now() + WAIT;
    let status = loop {
        let status = pty.session.get_process().status().expect("status");
        if status != WaitStatus::StillAlive {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "^C did not stop the questionnaire"
        );
        // The binary may end between the check and the send.
        let _ = pty.session.send(ControlCode::EndOfText);
        std::thread::sleep(Duration::from_millis(100));
    };
    pty.read_to_end();
    assert_eq!(exit_code(status), Some(2), "{status:?}\n{}", pty.screen());
    assert!(
        pty.screen()
            .contains("error: interrupted; nothing was written"),
        "{}",
        pty.screen()
    );
    assert_eq!(files(test.path()), Vec::<String>::new(), "nothing written");
}

/// Runs the binary with `stdin`, failing if it is still running after [`WAIT`].
fn run_bounded(dir: &Path, args: &[&str], stdin: Stdio) -> (Option<i32>, String, Duration) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_commsadvise"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .expect("piped")
                .read_to_string(&mut stderr)
                .expect("read stderr");
            return (status.code(), stderr, start.elapsed());
        }
        if start.elapsed() > WAIT {
            let _ = child.kill();
            panic!(
                "`commsadvise {}` waited for input without a terminal",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn without_a_terminal_exits_2_at_once_and_says_what_to_do_instead() {
    let test = Test::new();
    let (code, stderr, took) = run_bounded(test.path(), &["interactive"], Stdio::null());
    assert_eq!(code, Some(2), "{stderr}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(
        stderr,
        "error: `commsadvise interactive` asks questions on a terminal, but stdin is not one\n  \
         = without a terminal, write flows.yaml by hand and run `commsadvise recommend FILE`\n  \
         = start from examples/orders.yaml; docs/flows-yaml.md describes every field\n"
    );
    assert_eq!(files(test.path()), Vec::<String>::new());
}

#[test]
fn ask_on_a_pipe_exits_2_without_waiting_for_input() {
    let test = Test::new();
    // A pipe that never closes: reading it would block for ever.
    let (code, stderr, _) = run_bounded(test.path(), &["ask"], Stdio::piped());
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("commsadvise recommend FILE"), "{stderr}");
}

#[test]
fn refuses_when_stderr_is_not_a_terminal() {
    let test = Test::new();
    let mut command = Command::new(env!("CARGO_BIN_EXE_commsadvise"));
    command
        .arg("interactive")
        .current_dir(test.path())
        .stderr(Stdio::null());
    let mut pty = Pty::run(command);
    let status = pty.end();
    assert_eq!(exit_code(status), Some(2), "{status:?}");
}
