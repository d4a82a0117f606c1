{#- scaffold
when: service.consumes and service.consumes[0].event.key_kind != "parsed"
-#}
{%- set c = service.consumes[0] -%}
//! The real `{{ service.name }}` binary killed with SIGKILL mid-stream, against
//! librdkafka's in-process mock cluster fed by {{ c.from }}'s real producer: every
//! event is handled at least once after a restart. The consumer's other
//! faults (stopped before storing an offset, poison events, an unwritable
//! dead-letter topic) are the runtime's to test (`runtime/tests`), once for
//! every service. The scenario prints its counts (`cargo test -- --nocapture`
//! shows them).

use std::{
    collections::BTreeSet,
    io::{BufRead as _, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use contract::events::{{ c.flow_ident }};
use rdkafka::{mocking::MockCluster, producer::DefaultProducerContext};
use runtime::kafka::dead_letter_topic;

/// How long the test waits for the binary before failing.
const WAIT: Duration = Duration::from_secs(30);

/// A mock cluster with every topic the consumer subscribes to and its
/// dead-letter topic, of one partition each.
fn cluster() -> MockCluster<'static, DefaultProducerContext> {
    let cluster = MockCluster::new(1).unwrap();
    for topic in {{ service.ident }}::kafka::SUBSCRIBED {
        cluster.create_topic(topic, 1, 1).unwrap();
        cluster
            .create_topic(&dead_letter_topic(topic), 1, 1)
            .unwrap();
    }
    cluster
}

/// Publishes one `{{ c.flow }}` event per key through {{ c.from }}'s real producer,
/// in this order.
async fn publish(brokers: &str, keys: &[String]) {
    let publisher = {{ c.from_ident }}::kafka::Publisher::new(brokers).unwrap();
    let wire = &{{ c.flow_ident }}::WIRE;
    for key in keys {
        let event = (wire.sample)(key);
        publisher.publish(wire, &event).await.unwrap();
    }
}

/// `e-{n}` for each `n` of `range`.
fn ids(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|n| format!("e-{n}")).collect()
}

/// Runs the `{{ service.name }}` binary; sends the key of each of its "event handled"
/// log lines to `handled`.
fn spawn_binary(brokers: &str, handled: mpsc::Sender<String>) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_{{ service.name }}"))
{%- if service.store %}
        // An in-memory database: nothing written beside the workspace.
        .env("DATABASE_URL", "sqlite::memory:")
{%- endif %}
        .env("KAFKA_BROKERS", brokers)
        // Any free ports: the test does not probe them.
        .env("HTTP_ADDR", "127.0.0.1:0")
{%- if service.serves_grpc %}
        .env("GRPC_ADDR", "127.0.0.1:0")
{%- endif %}
        .env("RUST_LOG", "info")
        .env({{ service.ident }}::config::DEBUG_HANDLER_DELAY_MS_VAR, "50")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("event handled")
                && let Some(key) = line.split_whitespace().find_map(|w| w.strip_prefix("key="))
            {
                let _ = handled.send(key.to_owned());
            }
        }
    });
    child
}

/// Receives handled keys until `done` says so; panics after [`WAIT`].
fn receive_until(
    handled: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    done: impl Fn(&[String]) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    while !done(seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        match handled.recv_timeout(left) {
            Ok(key) => seen.push(key),
            Err(err) => panic!("{err}: handled only {seen:?}"),
        }
    }
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "needs a debug build, whose binary honours DEBUG_HANDLER_DELAY_MS"
)]
fn the_binary_killed_mid_stream_handles_every_event_at_least_once_after_a_restart() {
    const EVENTS: u32 = 40;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();
    let keys = ids(0..EVENTS);
    runtime.block_on(publish(&brokers, &keys));

    // First run: SIGKILL once a third of the events are handled, with no
    // chance to commit anything.
    let (sender, handled) = mpsc::channel();
    let mut first = spawn_binary(&brokers, sender);
    let mut before = Vec::new();
    receive_until(&handled, &mut before, |seen| seen.len() >= keys.len() / 3);
    first.kill().unwrap();
    first.wait().unwrap();
    while let Ok(key) = handled.try_recv() {
        before.push(key);
    }

    // Second run: every event is handled by one run or the other.
    let (sender, handled) = mpsc::channel();
    let mut second = spawn_binary(&brokers, sender);
    let mut after = Vec::new();
    receive_until(&handled, &mut after, |seen| {
        keys.iter().all(|k| before.contains(k) || seen.contains(k))
    });
    // SIGTERM: the consumer commits and leaves, exiting 0.
    let status = Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = second.wait().unwrap();

    let union: BTreeSet<&String> = before.iter().chain(&after).collect();
    let redelivered = before.iter().filter(|k| after.contains(k)).count();
    println!(
        "consumer binary, SIGKILL mid-stream: sent={EVENTS} handled_before_kill={} handled_after_restart={} redelivered={redelivered} skipped={}",
        before.len(),
        after.len(),
        keys.len() - union.len()
    );
    assert_eq!(union.len(), keys.len(), "no event skipped");
    assert!(exit.success(), "{exit:?}");
}
