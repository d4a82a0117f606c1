{#- scaffold
when: service.api.first_rest or service.api.grpc_calls | filter(attribute="method.server_streaming", value=false) | length > 0
-#}
{%- import "_partials/format.rs" as format -%}
{%- set probe = service.api.grpc_calls | filter(attribute="method.server_streaming", value=false) | first -%}
{#- The handler of the request kept in flight: a REST route's, else the probe's. -#}
{%- if service.api.first_rest %}{% set in_flight_module = service.api.first_rest.handler %}{% else %}{% set in_flight_module = probe.method.handler %}{% endif -%}
{%- set in_flight = service.api.handlers | filter(attribute="module", value=in_flight_module) | first -%}

//! The real `{{ service.name }}` binary receiving SIGTERM while a request is in
//! flight: that request completes,
{%- if service.serves_grpc %} gRPC health turns `NOT_SERVING`,{% endif %} new connections
//! are refused, and the process exits 0 well within its drain deadline. And
//! the same binary with handlers slower than their budgets, lowered from the
//! environment: the caller is answered at the budget.
//!
//! The handlers answer at once, so the binary is run with
//! `DEBUG_HANDLER_DELAY_MS` (honoured by debug builds only) to keep a request
//! in flight.

#![cfg(unix)]
{# blank line #}
{%- if service.serves_grpc and (service.produces or service.consumes) %}
use rdkafka::mocking::MockCluster;
{%- endif %}
use std::{
    io::Read as _,
    net::{SocketAddr, TcpListener, TcpStream},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};
{%- if service.serves_grpc %}
use tokio_stream::StreamExt as _;
{%- if probe %}
use tonic::{Code, transport::Endpoint};
{%- else %}
use tonic::transport::Endpoint;
{%- endif %}
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
{%- endif %}

use {{ service.ident }}::config::{DEBUG_HANDLER_DELAY_MS_VAR, DRAIN_TIMEOUT};

/// How long the handler of every request takes.
const HANDLER_DELAY: Duration = Duration::from_millis(800);
/// The budget of the request kept in flight, in milliseconds: well over
/// [`HANDLER_DELAY`].
const IN_FLIGHT_BUDGET_MS: &str = "4000";
/// The budget of the handlers called in the budget test, in milliseconds:
/// well under [`HANDLER_DELAY`].
const LOW_BUDGET_MS: &str = "100";
{% include "_partials/process.rs" %}
fn wait_until_listening(addr: SocketAddr, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(addr).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the service exited early: {status}");
        }
        assert!(Instant::now() < deadline, "nothing listens on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `addr` refuses connections within a second while `child` still runs:
/// the listener is closed as draining starts, which a loaded machine may
/// take a moment to run, and not only once the process has exited.
fn assert_refused(addr: SocketAddr, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while TcpStream::connect(addr).is_ok() {
        assert!(
            Instant::now() < deadline,
            "{addr} still accepts connections while draining"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "{addr} refused connections only once the process had exited"
    );
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "needs a debug build, whose binary honours DEBUG_HANDLER_DELAY_MS"
)]
fn sigterm_finishes_the_request_in_flight_refuses_new_connections_and_exits_in_time() {
{%- if service.serves_grpc and (service.produces or service.consumes) %}
    let brokers = MockCluster::new(1).unwrap();
{%- endif %}
    let http = free_port();
{%- if service.serves_grpc %}
    let grpc = free_port();
{%- endif %}
    let mut child = Command::new(env!("CARGO_BIN_EXE_{{ service.name }}"))
{%- if service.store %}
        // An in-memory database: nothing written beside the workspace.
        .env("DATABASE_URL", "sqlite::memory:")
{%- endif %}
        .env("HTTP_ADDR", http.to_string())
{%- if service.serves_grpc %}
        .env("GRPC_ADDR", grpc.to_string())
{%- endif %}
{%- if service.serves_grpc and (service.produces or service.consumes) %}
        // gRPC health is `SERVING` once the broker answers: librdkafka's mock
        // cluster, listening on loopback in this process.
        .env("KAFKA_BROKERS", brokers.bootstrap_servers())
{%- elif service.produces or service.consumes %}
        // Nothing listens there: Kafka is not needed to serve.
        .env("KAFKA_BROKERS", "127.0.0.1:1")
{%- endif %}
        .env(
            DEBUG_HANDLER_DELAY_MS_VAR,
            HANDLER_DELAY.as_millis().to_string(),
        )
{%- set var = service.ident ~ "::config::" ~ in_flight.budget_const ~ "_VAR" %}
{%- set args = var ~ ", IN_FLIGHT_BUDGET_MS" %}
{%- if args | length <= 60 %}
        .env({{ var }}, IN_FLIGHT_BUDGET_MS)
{%- else %}
        .env(
            {{ var }},
            IN_FLIGHT_BUDGET_MS,
        )
{%- endif %}
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let logs = capture_stderr(&mut child);
    wait_until_listening(http, &mut child);
{%- if service.serves_grpc %}
    wait_until_listening(grpc, &mut child);
{%- endif %}

    let runtime = tokio::runtime::Runtime::new().unwrap();
{%- if service.serves_grpc %}
    let {% if service.api.first_rest %}mut health{% else %}(channel, mut health){% endif %} = runtime.block_on(async {
        let channel = Endpoint::from_shared(format!("http://{grpc}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        // A health watch opened before the signal sees the status change.
        let mut health = HealthClient::new({% if service.api.first_rest %}channel{% else %}channel.clone(){% endif %})
            .watch(HealthCheckRequest {
                service: {{ service.ident }}::grpc::SERVICE_NAMES[0].into(),
            })
            .await
            .unwrap()
            .into_inner();
        // `SERVING` once the first readiness checks pass.
        let serving = async {
            while let Some(now) = health.next().await {
                if now.unwrap().status == ServingStatus::Serving as i32 {
                    return;
                }
            }
            panic!("the health watch ended");
        };
        tokio::time::timeout(Duration::from_secs(10), serving)
            .await
            .expect("SERVING within 10 s");
        {% if service.api.first_rest %}health{% else %}(channel, health){% endif %}
    });
{%- endif %}
{%- if service.api.first_rest %}
{%- set r = service.api.first_rest %}
    let url = format!("http://{http}{{ r.sample_path }}");
    let in_flight = runtime.spawn(async move {
        let response = reqwest::Client::new()
            .request(reqwest::Method::{{ r.verb }}, url)
{%- if r.sample_body %}
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body("{{ r.sample_body }}")
{%- endif %}
            .send()
            .await?;
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        response.text().await
    });
{%- else %}
{{ format::let(indent="    ", head="let mut client =", value=probe.client ~ "::new(channel);") }}
    let in_flight = runtime.spawn(async move {
{{ format::let(indent="        ", head="let request =", value=probe.method.request ~ "::default();") }}
{{ format::chain(indent="        ", head="", receiver="client", calls=["." ~ probe.method.name ~ "(request)", ".await", '.map(|_| "answered")'], tail="") }}
    });
{%- endif %}
    std::thread::sleep(HANDLER_DELAY / 4);

    sigterm(&child);
    let signalled = Instant::now();
{%- if service.serves_grpc %}
    runtime.block_on(async {
        let next = tokio::time::timeout(Duration::from_secs(5), health.next())
            .await
            .expect("health changes within 5 s")
            .unwrap()
            .unwrap();
        assert_eq!(next.status, ServingStatus::NotServing as i32);
    });
{%- endif %}

    // Draining: the listeners are closed, the request in flight is not.
    assert_refused(http, &mut child);
{%- if service.serves_grpc %}
    assert_refused(grpc, &mut child);
{%- endif %}
    let answer = runtime
        .block_on(in_flight)
        .unwrap()
        .expect("the request in flight is answered");
{%- if service.api.first_rest %}
    assert!(answer.starts_with('{'), "{answer}");
{%- else %}
    assert_eq!(answer, "answered");
{%- endif %}
{%- if service.serves_grpc %}
    // The open health watch was the last call in flight on gRPC.
    drop(health);
{%- endif %}

    let status = exit_status(&mut child, signalled + DRAIN_TIMEOUT);
    let exited_after = signalled.elapsed();
    let stderr = logs.join().unwrap();
    println!(
        "SIGTERM with a request in flight: answered=1 refused_while_draining={} exit={status} after={exited_after:?}",
        {% if service.serves_grpc %}2{% else %}1{% endif %}
    );
    assert!(status.success(), "{status}: {stderr}");
    assert!(exited_after < DRAIN_TIMEOUT, "{exited_after:?}");
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "needs a debug build, whose binary honours DEBUG_HANDLER_DELAY_MS"
)]
fn a_request_past_its_budget_is_answered_at_the_budget() {
    let http = free_port();
{%- if service.serves_grpc %}
    let grpc = free_port();
{%- endif %}
    let mut child = Command::new(env!("CARGO_BIN_EXE_{{ service.name }}"))
{%- if service.store %}
        .env("DATABASE_URL", "sqlite::memory:")
{%- endif %}
        .env("HTTP_ADDR", http.to_string())
{%- if service.serves_grpc %}
        .env("GRPC_ADDR", grpc.to_string())
{%- endif %}
{%- if service.produces or service.consumes %}
        .env("KAFKA_BROKERS", "127.0.0.1:1")
{%- endif %}
        // The timeouts are logged at warn level, asserted below.
        .env("RUST_LOG", "info")
        .env(
            DEBUG_HANDLER_DELAY_MS_VAR,
            HANDLER_DELAY.as_millis().to_string(),
        )
{%- set lowered = [] %}
{%- set rest_const = "" %}
{%- if service.api.first_rest %}
{%- set rh = service.api.handlers | filter(attribute="module", value=service.api.first_rest.handler) | first %}
{%- set_global rest_const = rh.budget_const %}
{%- set_global lowered = lowered | concat(with=rh.budget_const) %}
{%- endif %}
{%- if probe %}
{%- set gh = service.api.handlers | filter(attribute="module", value=probe.method.handler) | first %}
{%- if gh.budget_const != rest_const %}
{%- set_global lowered = lowered | concat(with=gh.budget_const) %}
{%- endif %}
{%- endif %}
{%- for c in lowered %}
{{ format::args(indent="        ", head=".env", args=[service.ident ~ "::config::" ~ c ~ "_VAR", "LOW_BUDGET_MS"], tail="") }}
{%- endfor %}
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let logs = capture_stderr(&mut child);
    wait_until_listening(http, &mut child);
{%- if service.serves_grpc %}
    wait_until_listening(grpc, &mut child);
{%- endif %}
    let runtime = tokio::runtime::Runtime::new().unwrap();
{%- if service.api.first_rest %}
{%- set r = service.api.first_rest %}

    let url = format!("http://{http}{{ r.sample_path }}");
    let started = Instant::now();
    let (status, body) = runtime.block_on(async {
        let response = reqwest::Client::new()
            .request(reqwest::Method::{{ r.verb }}, url)
{%- if r.sample_body %}
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body("{{ r.sample_body }}")
{%- endif %}
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    });
    let answered_after = started.elapsed();
    assert_eq!(status, reqwest::StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(
        body,
        {% raw %}r#"{"error":"request took longer than its 100 ms budget"}"#{% endraw %}
    );
    assert!(answered_after < HANDLER_DELAY, "{answered_after:?}");
{%- endif %}
{%- if probe %}

    let channel = runtime.block_on(async {
        Endpoint::from_shared(format!("http://{grpc}"))
            .unwrap()
            .connect()
            .await
            .unwrap()
    });
{{ format::let(indent="    ", head="let mut client =", value=probe.client ~ "::new(channel);") }}
{{ format::let(indent="    ", head="let request =", value=probe.method.request ~ "::default();") }}
    let started = Instant::now();
{{ format::chain(indent="    ", head="let status = ", receiver="runtime", calls=[".block_on(client." ~ probe.method.name ~ "(request))", ".unwrap_err()"], tail=";") }}
    let answered_after = started.elapsed();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert_eq!(
        status.message(),
        "the call took longer than its 100 ms budget"
    );
    assert!(answered_after < HANDLER_DELAY, "{answered_after:?}");
{%- endif %}

    sigterm(&child);
    let status = exit_status(&mut child, Instant::now() + DRAIN_TIMEOUT);
    let stderr = logs.join().unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("timed out"), "{stderr}");
}
