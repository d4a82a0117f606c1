{#- scaffold
when: service.calls_rest
-#}
{%- import "_partials/format.rs" as format -%}
{%- set target = service.rest_targets[0] -%}
{%- if target.unary %}{% set_global m = target.unary %}{% else %}{% set_global m = target.stream %}{% endif -%}
{%- set s = target.stream -%}
{%- set idempotent = m.rpc.route.idempotent -%}
{%- set routed = [] -%}
{%- for t in service.rest_targets %}{% for x in t.methods %}{% if x.rpc.route.sample_path %}{% set_global routed = routed | concat(with=x.flow) %}{% endif %}{% endfor %}{% endfor -%}
//! The REST client of {{ service.name }} against a local stub of the {{ target.name }} API on a
//! real socket: {% if target.unary %}answers, retries, deadlines, give-ups and the retry throttle
//! of `{{ m.rpc.full_name }}` (flow `{{ m.flow }}`){% endif %}{% if target.unary and s %}; {% endif %}{% if s %}the Server-Sent Events of
//! `{{ s.rpc.full_name }}` (flow `{{ s.flow }}`){% endif %}.
{% if target.unary %}
use std::{
    sync::{
        Arc,{% if routed %} Mutex,{% endif %}
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};
{% if routed %}
use axum::{
    Router,
    http::{Method, StatusCode, Uri},
};
{%- else %}
use axum::{Router, http::StatusCode};
{%- endif %}
use runtime::{client_policy::CallPolicy, http_client::HttpError, retry::Backoff, tls::Tls};
use tokio::net::TcpListener;
{%- else %}
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    http::{Method, Uri},
};
use runtime::{client_policy::CallPolicy, retry::Backoff, tls::Tls};
use tokio::net::TcpListener;
{%- endif %}

use {{ service.ident }}::rest_clients::{ {%- if routed %}self, {% endif %}{{ target.client }}, {{ target.policies }}};

/// Quick retries and a short deadline, so the tests run fast.
const POLICY: CallPolicy = CallPolicy {
    flow: "{{ m.flow }}",
    deadline_var: "{{ m.deadline_env }}",
    deadline: Duration::from_millis(300),
    max_attempts: 3,
    backoff: Backoff {
        initial: Duration::from_millis(5),
        max: Duration::from_millis(20),
    },
    keyed: false,
};

/// A client of the stub with [`POLICY`].
fn client(url: &str) -> {{ target.client }} {
    let policies = {{ target.policies }}::all(POLICY);
    {{ target.client }}::new(url, policies, &Tls::default()).unwrap()
}

{%- for r in [m, s] %}{% if r %}{% if loop.first or r.rpc.method != m.rpc.method %}

/// The request of `{{ r.rpc.full_name }}` the tests send.
fn {% if r.rpc.streaming %}stream_request{% else %}request{% endif %}() -> {{ r.rpc.request }} {
{%- if r.rpc.id_field %}
    // The client's sample: the id, and any other path variable, set.
    {{ target.client }}::{{ r.rpc.method | trim_start_matches(pat="r#") }}_request("{{ names.sample_id }}")
{%- else %}
    {{ r.rpc.request }}::default()
{%- endif %}
}
{%- endif %}{% endif %}{% endfor %}
{%- if routed %}

/// A stub that answers every request with an empty message (`{}`, or three
/// such events when `events`), and records each request's verb and path.
async fn recording_stub(events: bool) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = Router::new().fallback(move |method: Method, uri: Uri| {
        log.lock().unwrap().push(format!("{method} {}", uri.path()));
        async move {
            if events {
                let body = "data: {}\n\n".repeat(3);
                ([("content-type", "text/event-stream")], body)
            } else {
                ([("content-type", "application/json")], "{}".to_owned())
            }
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}
{%- endif %}
{%- for t in service.rest_targets %}{% for x in t.methods %}{% if x.rpc.route.sample_path %}

/// Flow `{{ x.flow }}`: `{{ x.rpc.full_name }}` on {{ t.name }}.
#[tokio::test]
async fn {{ t.ident }}_{{ x.rpc.method | trim_start_matches(pat="r#") }}_is_sent_on_its_route() {
    let (url, seen) = recording_stub({{ x.rpc.streaming }}).await;
    let policies = rest_clients::{{ t.policies }}::all(POLICY);
    let tls = Tls::default();
{{ format::let(indent="    ", head="let client =", value="rest_clients::" ~ t.client ~ "::new(&url, policies, &tls).unwrap();") }}
{%- if x.rpc.id_field %}
    let request = rest_clients::{{ t.client }}::{{ x.rpc.method | trim_start_matches(pat="r#") }}_request("{{ names.sample_id }}");
{%- else %}
    let request = {{ x.rpc.request }}::default();
{%- endif %}
{%- if x.rpc.streaming %}
    let mut stream = client.{{ x.rpc.method }}(&request).await.unwrap();
    let mut received = 0;
    while let Some(message) = stream.next().await {
        message.unwrap();
        received += 1;
    }
    assert_eq!(received, 3);
{%- else %}
    client.{{ x.rpc.method }}(&request).await.unwrap();
{%- endif %}
    let expected = "{{ x.rpc.route.method }} {{ x.rpc.route.sample_path }}";
    assert_eq!(seen.lock().unwrap().as_slice(), [expected]);
}
{%- endif %}{% endfor %}{% endfor %}
{%- if s %}

/// A stub answering every request with three Server-Sent Events, each a
/// `{{ s.rpc.response }}`, then ending the stream.
async fn event_stub() -> String {
    let item = {{ s.rpc.response }}::default();
    let item = serde_json::to_string(&item).unwrap();
    let body = format!("data: {item}\n\n").repeat(3);
    let app = Router::new().fallback(move || {
        let body = body.clone();
        async move { ([("content-type", "text/event-stream")], body) }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn {{ s.rpc.method | trim_start_matches(pat="r#") }}_reads_every_event_then_ends() {
    let url = event_stub().await;
    let client = client(&url);
    let mut stream = client.{{ s.rpc.method }}(&stream_request()).await.unwrap();
    let mut received = 0;
    let expected = {{ s.rpc.response }}::default();
    while let Some(message) = stream.next().await {
        assert_eq!(message.unwrap(), expected);
        received += 1;
    }
    assert_eq!(received, 3);
}
{%- endif %}
{%- if target.unary %}

/// One scripted answer of the stub: status, delay before answering.
type Step = (StatusCode, Duration);

const OK: Step = (StatusCode::OK, Duration::ZERO);
/// Retried whatever the verb: the server says it did not handle the request.
const TOO_MANY: Step = (StatusCode::TOO_MANY_REQUESTS, Duration::ZERO);
const UNAVAILABLE: Step = (StatusCode::SERVICE_UNAVAILABLE, Duration::ZERO);

/// A stub {{ target.name }} API that answers the n-th request with `script[n]` (the
/// last step repeats) whatever its route, and counts the requests.
async fn stub(script: Vec<Step>) -> (String, Arc<AtomicU32>) {
    let hits = Arc::new(AtomicU32::new(0));
    let counter = hits.clone();
    let answer = {{ m.rpc.response }}::default();
    let ok = serde_json::to_string(&answer).unwrap();
    let app = Router::new().fallback(move || {
        let ok = ok.clone();
        let n = counter.fetch_add(1, Ordering::SeqCst) as usize;
        let (status, delay) = script[n.min(script.len() - 1)];
        async move {
            tokio::time::sleep(delay).await;
            let body = if status.is_success() {
                ok.clone()
            } else {
                let error = format!("scripted {}", status.as_u16());
                serde_json::json!({ "error": error }).to_string()
            };
            (status, [("content-type", "application/json")], body)
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, hits)
}

#[test]
fn each_deadline_is_the_flow_s_budget_unless_its_variable_overrides_it() {
    let policies = {{ target.policies }}::default();
{%- for m in target.methods %}
    let deadline = {{ m.deadline_rust }};
    assert_eq!(policies.{{ m.rpc.method }}.deadline, deadline);
{%- endfor %}
    let overridden = {{ target.policies }}::from_lookup(|var| {
        (var == "{{ m.deadline_env }}").then(|| "1500".to_owned())
    })
    .unwrap();
    let deadline = Duration::from_millis(1500);
    assert_eq!(overridden.{{ m.rpc.method }}.deadline, deadline);
    assert!({{ target.policies }}::from_lookup(|_| Some("soon".to_owned())).is_err());
}

#[tokio::test]
async fn decodes_the_answer() {
    let (url, hits) = stub(vec![OK]).await;
    let client = client(&url);
    let answer = client.{{ m.rpc.method }}(&request()).await.unwrap();
    let expected = {{ m.rpc.response }}::default();
    assert_eq!(answer, expected);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn retries_429_until_the_api_answers() {
    let (url, hits) = stub(vec![TOO_MANY, TOO_MANY, OK]).await;
    let client = client(&url);
    client.{{ m.rpc.method }}(&request()).await.unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn gives_up_after_max_attempts() {
    let (url, hits) = stub(vec![TOO_MANY]).await;
    let client = client(&url);
    let err = client.{{ m.rpc.method }}(&request()).await.unwrap_err();
    let HttpError::Status { status, message } = err else {
        panic!("expected an error status, got {err:?}");
    };
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(message, "scripted 429");
    assert_eq!(hits.load(Ordering::SeqCst), POLICY.max_attempts);
}
{%- if idempotent %}

#[tokio::test]
async fn retries_503_of_an_idempotent_{{ m.rpc.route.method | lower }}() {
    let (url, hits) = stub(vec![UNAVAILABLE, UNAVAILABLE, OK]).await;
    let client = client(&url);
    client.{{ m.rpc.method }}(&request()).await.unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn retries_an_attempt_that_missed_its_deadline() {
    let (url, hits) = stub(vec![(StatusCode::OK, Duration::from_secs(2)), OK]).await;
    let client = client(&url);
    client.{{ m.rpc.method }}(&request()).await.unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}
{%- else %}

#[tokio::test]
async fn does_not_retry_a_503_of_a_{{ m.rpc.route.method | lower }}_that_may_have_been_handled() {
    let (url, hits) = stub(vec![UNAVAILABLE, OK]).await;
    let client = client(&url);
    let err = client.{{ m.rpc.method }}(&request()).await.unwrap_err();
    assert!(matches!(err, HttpError::Status { .. }), "{err:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_{{ m.rpc.route.method | lower }}_past_its_deadline_fails_and_is_not_retried() {
    let (url, hits) = stub(vec![(StatusCode::OK, Duration::from_secs(2)), OK]).await;
    let client = client(&url);
    let err = client.{{ m.rpc.method }}(&request()).await.unwrap_err();
    assert!(matches!(err, HttpError::DeadlineExceeded(_)), "{err:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}
{%- endif %}

#[tokio::test]
async fn does_not_retry_a_404() {
    let (url, hits) = stub(vec![(StatusCode::NOT_FOUND, Duration::ZERO), OK]).await;
    let client = client(&url);
    let err = client.{{ m.rpc.method }}(&request()).await.unwrap_err();
    assert!(
        matches!(
            err,
            HttpError::Status {
                status: StatusCode::NOT_FOUND,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn retries_refused_connections_then_reports_them() {
    // Bind then drop a listener: the port is free, connections get refused.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let started = std::time::Instant::now();
    let client = client(&url);
    let err = client.{{ m.rpc.method }}(&request()).await.unwrap_err();
    assert!(matches!(err, HttpError::Transport(_)), "{err:?}");
    // Two backoff delays of at least initial/2 each separate the three attempts.
    assert!(
        started.elapsed() >= POLICY.backoff.initial,
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn retries_stop_under_sustained_failure() {
    const CALLS: u32 = 100;
    let (url, hits) = stub(vec![TOO_MANY]).await;
    let client = client(&url);
    for _ in 0..CALLS {
        client.{{ m.rpc.method }}(&request()).await.unwrap_err();
    }
    let attempts = hits.load(Ordering::SeqCst);
    // gRFC A6 bound: attempts <= calls x (1 + token ratio).
    let bound = CALLS + CALLS * runtime::client_policy::THROTTLE.token_ratio_milli / 1000;
    println!(
        "rest client, {{ target.name }} always 429: calls={CALLS} attempts={attempts} bound={bound} (without the throttle: {})",
        CALLS * POLICY.max_attempts
    );
    // A few retries while the bucket drains, then one attempt per call.
    assert!(attempts > CALLS, "some calls were retried at first");
    assert!(attempts <= bound, "{attempts} attempts for {CALLS} calls");
}

#[tokio::test]
async fn retries_resume_once_calls_succeed_again() {
    // 20 failing requests drain the bucket, 100 successes refill it.
    let mut script = vec![TOO_MANY; 20];
    script.extend(vec![OK; 100]);
    script.push(TOO_MANY);
    let (url, hits) = stub(script).await;
    let client = client(&url);
    while hits.load(Ordering::SeqCst) < 20 {
        client.{{ m.rpc.method }}(&request()).await.unwrap_err();
    }
    assert_eq!(client.retry_tokens_milli(), 0);
    for _ in 0..100 {
        client.{{ m.rpc.method }}(&request()).await.unwrap();
    }
    assert_eq!(client.retry_tokens_milli(), 10_000);
    // The bucket is full again: a failing call gets all its attempts.
    let before = hits.load(Ordering::SeqCst);
    client.{{ m.rpc.method }}(&request()).await.unwrap_err();
    assert_eq!(hits.load(Ordering::SeqCst) - before, POLICY.max_attempts);
}
{%- endif %}
