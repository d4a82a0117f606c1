{#- scaffold
when: service.calls_rest
-#}
{%- set call = service.calls_rest[0] -%}
//! The REST caller of {{ service.name }} against a local stub of the {{ call.target }} API on a
//! real socket: answers, retries, timeouts, give-ups and the retry throttle.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use axum::{Router, extract::Path, http::StatusCode, routing::get};
use contract::{{ contract.package }}::{{ contract.response.name }};
use runtime::retry::Backoff;
use tokio::net::TcpListener;

use {{ service.ident }}::rest_clients::{CallPolicy, ClientError, {{ call.client }}};

/// Quick retries and a short timeout, so the tests run fast.
const POLICY: CallPolicy = CallPolicy {
    timeout: Duration::from_millis(300),
    connect_timeout: Duration::from_millis(300),
    max_attempts: 3,
    backoff: Backoff {
        initial: Duration::from_millis(5),
        max: Duration::from_millis(20),
    },
    throttle: {{ service.ident }}::rest_clients::{{ call.flow_shouty }}_POLICY.throttle,
};

/// One scripted answer of the stub: status, delay before answering.
type Step = (StatusCode, Duration);

const OK: Step = (StatusCode::OK, Duration::ZERO);
const UNAVAILABLE: Step = (StatusCode::SERVICE_UNAVAILABLE, Duration::ZERO);

/// A stub {{ call.target }} API that answers the n-th request with `script[n]` (the
/// last step repeats), and counts the requests.
async fn stub(script: Vec<Step>) -> (String, Arc<AtomicU32>) {
    let hits = Arc::new(AtomicU32::new(0));
    let counter = hits.clone();
    let app = Router::new().route(
        "/{{ contract.resource }}/{id}",
        get(move |Path(id): Path<String>| {
            let n = counter.fetch_add(1, Ordering::SeqCst) as usize;
            let (status, delay) = script[n.min(script.len() - 1)];
            async move {
                tokio::time::sleep(delay).await;
                let body = if status.is_success() {
                    serde_json::to_string(&{{ contract.response.name }} {
                        {{ contract.id_field.name }}: id,
{%- if contract.status_field %}
                        {{ contract.status_field.name }}: "{{ names.sample_status }}".into(),
{%- endif %}
{%- if names.response_has_more %}
                        ..Default::default()
{%- endif %}
                    })
                    .unwrap()
                } else {
                    let error = format!("scripted {}", status.as_u16());
                    serde_json::json!({ "error": error }).to_string()
                };
                (status, [("content-type", "application/json")], body)
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, hits)
}

#[tokio::test]
async fn {{ contract.method.name }}_returns_the_answer() {
    let (url, hits) = stub(vec![OK]).await;
    let answer = {{ call.client }}::new(&url, POLICY)
        .unwrap()
        .{{ contract.method.name }}("{{ names.sample_id }}")
        .await
        .unwrap();
    assert_eq!(answer.{{ contract.id_field.name }}, "{{ names.sample_id }}");
{%- if contract.status_field %}
    assert_eq!(answer.{{ contract.status_field.name }}, "{{ names.sample_status }}");
{%- endif %}
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn retries_503_until_the_api_answers() {
    let (url, hits) = stub(vec![UNAVAILABLE, UNAVAILABLE, OK]).await;
    let answer = {{ call.client }}::new(&url, POLICY)
        .unwrap()
        .{{ contract.method.name }}("{{ names.sample_id }}")
        .await
        .unwrap();
    assert_eq!(answer.{{ contract.id_field.name }}, "{{ names.sample_id }}");
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn gives_up_after_max_attempts() {
    let (url, hits) = stub(vec![UNAVAILABLE]).await;
    let err = {{ call.client }}::new(&url, POLICY)
        .unwrap()
        .{{ contract.method.name }}("{{ names.sample_id }}")
        .await
        .unwrap_err();
    let ClientError::Status { status, message } = err else {
        panic!("expected an error status, got {err:?}");
    };
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(message, "scripted 503");
    assert_eq!(hits.load(Ordering::SeqCst), POLICY.max_attempts);
}

#[tokio::test]
async fn does_not_retry_a_404() {
    let (url, hits) = stub(vec![(StatusCode::NOT_FOUND, Duration::ZERO), OK]).await;
    let err = {{ call.client }}::new(&url, POLICY)
        .unwrap()
        .{{ contract.method.name }}("{{ names.sample_id }}")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Status {
                status: StatusCode::NOT_FOUND,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn retries_an_attempt_that_timed_out() {
    let (url, hits) = stub(vec![(StatusCode::OK, Duration::from_secs(2)), OK]).await;
    let answer = {{ call.client }}::new(&url, POLICY)
        .unwrap()
        .{{ contract.method.name }}("{{ names.sample_id }}")
        .await
        .unwrap();
    assert_eq!(answer.{{ contract.id_field.name }}, "{{ names.sample_id }}");
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn retries_refused_connections_then_reports_them() {
    // Bind then drop a listener: the port is free, connections get refused.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let started = std::time::Instant::now();
    let err = {{ call.client }}::new(&url, POLICY)
        .unwrap()
        .{{ contract.method.name }}("{{ names.sample_id }}")
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
    // Two backoff delays of at least initial/2 each separate the three attempts.
    assert!(
        started.elapsed() >= POLICY.backoff.initial,
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn refuses_a_malformed_id_without_calling() {
    let (url, hits) = stub(vec![OK]).await;
    let err = {{ call.client }}::new(&url, POLICY)
        .unwrap()
        .{{ contract.method.name }}("12/34")
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::InvalidId(_)), "{err:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn retries_stop_under_sustained_failure() {
    const CALLS: u32 = 100;
    let (url, hits) = stub(vec![UNAVAILABLE]).await;
    let client = {{ call.client }}::new(&url, POLICY).unwrap();
    for _ in 0..CALLS {
        client.{{ contract.method.name }}("{{ names.sample_id }}").await.unwrap_err();
    }
    let attempts = hits.load(Ordering::SeqCst);
    // gRFC A6 bound: attempts <= calls x (1 + token ratio).
    let bound = CALLS + CALLS * POLICY.throttle.token_ratio_milli / 1000;
    println!(
        "rest client, {{ call.target }} always 503: calls={CALLS} attempts={attempts} bound={bound} (without the throttle: {})",
        CALLS * POLICY.max_attempts
    );
    // A few retries while the bucket drains, then one attempt per call.
    assert!(attempts > CALLS, "some calls were retried at first");
    assert!(attempts <= bound, "{attempts} attempts for {CALLS} calls");
}

#[tokio::test]
async fn retries_resume_once_calls_succeed_again() {
    // 20 failing requests drain the bucket, 100 successes refill it.
    let mut script = vec![UNAVAILABLE; 20];
    script.extend(vec![OK; 100]);
    script.push(UNAVAILABLE);
    let (url, hits) = stub(script).await;
    let client = {{ call.client }}::new(&url, POLICY).unwrap();
    while hits.load(Ordering::SeqCst) < 20 {
        client.{{ contract.method.name }}("{{ names.sample_id }}").await.unwrap_err();
    }
    assert_eq!(client.retry_tokens_milli(), 0);
    for _ in 0..100 {
        client.{{ contract.method.name }}("{{ names.sample_id }}").await.unwrap();
    }
    assert_eq!(client.retry_tokens_milli(), 10_000);
    // The bucket is full again: a failing call gets all its attempts.
    let before = hits.load(Ordering::SeqCst);
    client.{{ contract.method.name }}("{{ names.sample_id }}").await.unwrap_err();
    assert_eq!(hits.load(Ordering::SeqCst) - before, POLICY.max_attempts);
}
