{#- scaffold
when: not service.serves_rest
-#}
{#- Only a service without handlers runs tasks, whose example calls its first
    called flow at start-up. -#}
{%- if service.handles %}{% set first = false %}{% else %}{% set first = service.called_flows | first %}{% endif -%}
{%- if first %}{% set c = first.calls | first %}{% endif -%}
{%- set targets = service.rest_targets | concat(with=service.grpc_targets) -%}
{%- set kafka = service.produces or service.consumes -%}
//! The real `{{ service.name }}` binary running `serve`: it answers `/livez` and
//! `/readyz` on `HTTP_ADDR` ({% if kafka and service.serves_grpc %}ready, Kafka degraded, while no broker answers{% elif kafka %}not ready while no broker answers{% else %}ready: it has no broker to wait for{% endif %}), its
//! `probe` command reads them, `/metrics` answers on `METRICS_ADDR`, and it exits 0
//! on SIGTERM{% if first %}; its example task calls {{ c.target }} through `state.out`{% endif %}.

#![cfg(unix)]

use std::{
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpListener, TcpStream},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use {{ service.ident }}::config::DRAIN_TIMEOUT;

/// How long the test waits for the binary to start or to connect.
const WAIT: Duration = Duration::from_secs(30);
{% include "_partials/process.rs" %}
/// `GET path` on `addr` once something listens there: the whole answer.
fn get(addr: SocketAddr, path: &str, child: &mut Child) -> String {
    let deadline = Instant::now() + WAIT;
    let mut stream = loop {
        match TcpStream::connect(addr) {
            Ok(stream) => break stream,
            Err(err) => {
                if let Some(status) = child.try_wait().unwrap() {
                    panic!("the service exited early: {status}");
                }
                assert!(Instant::now() < deadline, "{addr}: {err}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// `GET /readyz` on `addr` once the first readiness checks are done.
fn readyz(addr: SocketAddr, child: &mut Child) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let answer = get(addr, "/readyz", child);
        if !answer.ends_with(r#"{"status":"starting"}"#) || Instant::now() > deadline {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The exit status of `{{ service.name }} probe which` against `HTTP_ADDR=addr`.
fn probe(addr: SocketAddr, which: &str) -> ExitStatus {
    Command::new(env!("CARGO_BIN_EXE_{{ service.name }}"))
        .args(["probe", which])
        .env("HTTP_ADDR", addr.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
}
{%- if first %}

/// Whether something connects to `listener` within [`WAIT`].
fn connected(listener: &TcpListener) -> bool {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if listener.accept().is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}
{%- endif %}

#[test]
fn serve_answers_its_probes_and_metrics_{% if first %}calls_from_its_task_{% endif %}and_exits_0_on_sigterm() {
    let (http, metrics) = (free_port(), free_port());
{%- if first %}
    // Stands in for {{ c.target }}: the example task's call connects to it.
    let callee = TcpListener::bind("127.0.0.1:0").unwrap();
    let callee_url = format!("http://{}", callee.local_addr().unwrap());
{%- endif %}
    let mut child = Command::new(env!("CARGO_BIN_EXE_{{ service.name }}"))
{%- if service.store %}
        // An in-memory database: nothing written beside the workspace.
        .env("DATABASE_URL", "sqlite::memory:")
{%- endif %}
        .env("HTTP_ADDR", http.to_string())
        .env("METRICS_ADDR", metrics.to_string())
{%- if service.serves_grpc %}
        .env("GRPC_ADDR", "127.0.0.1:0")
{%- endif %}
{%- if service.produces or service.consumes %}
        // Nothing listens there: Kafka is not needed to answer /livez.
        .env("KAFKA_BROKERS", "127.0.0.1:1")
{%- endif %}
{%- for t in targets %}
{%- if first and t.env == c.env %}
        .env("{{ t.env }}", &callee_url)
{%- else %}
        .env("{{ t.env }}", "http://127.0.0.1:1")
{%- endif %}
{%- endfor %}
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let logs = capture_stderr(&mut child);

    let live = get(http, "/livez", &mut child);
    let scraped = get(metrics, "/metrics", &mut child);
    let ready = readyz(http, &mut child);
    let probed = (probe(http, "livez"), probe(http, "readyz"));
{%- if first %}
    let task_called = connected(&callee);
{%- endif %}
    // Stopped before any assertion, so a failure leaves no process behind.
    sigterm(&child);
    let status = exit_status(&mut child, Instant::now() + DRAIN_TIMEOUT);
    let stderr = logs.join().unwrap();

    assert!(live.starts_with("HTTP/1.1 200"), "{live}");
    assert!(live.ends_with(r#"{"status":"alive"}"#), "{live}");
    // On METRICS_ADDR, in Prometheus' text format.
    let (head, text) = scraped.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    runtime::telemetry::promtool_accepts(text).unwrap();
{%- if kafka and service.serves_grpc %}
    // No broker: its API works without one, so ready, with Kafka degraded.
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(ready.contains(r#""degraded":{"kafka":"#), "{ready}");
    assert_eq!((probed.0.code(), probed.1.code()), (Some(0), Some(0)));
{%- elif kafka %}
    // No broker: alive, not ready, and the answer says which dependency.
    assert!(ready.starts_with("HTTP/1.1 503"), "{ready}");
    assert!(ready.contains(r#""failed":{"kafka":"#), "{ready}");
    assert_eq!((probed.0.code(), probed.1.code()), (Some(0), Some(1)));
{%- else %}
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(ready.ends_with(r#"{"status":"ready"}"#), "{ready}");
    assert_eq!((probed.0.code(), probed.1.code()), (Some(0), Some(0)));
{%- endif %}
{%- if first %}
    assert!(task_called, "no call to {{ c.target }}: {stderr}");
{%- endif %}
    assert!(status.success(), "{status}: {stderr}");
}
