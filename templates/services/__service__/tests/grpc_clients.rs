{#- scaffold
when: service.calls_grpc
-#}
{%- set call = service.calls_grpc[0] -%}
//! The gRPC caller of {{ service.name }} against a local stub of the {{ call.target }} service on
//! a real socket: answers, deadlines, retries of `UNAVAILABLE` only, the retry
//! throttle under sustained failure, and the message size limit.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::Duration,
};

use contract::{{ contract.package }}::{
    {{ [contract.request.name, contract.response.name] | unique | sort | join(sep=", ") }},
    {{ contract.service.module }}::{ {{- contract.service.name }}, {{ contract.service.name }}Server},
};
use runtime::retry::Backoff;
use tokio::net::TcpListener;
use tonic::{Code, Request, Response, Status, transport::Server};

use {{ service.ident }}::grpc_clients::{CallPolicy, ClientError, {{ call.client }}};

/// Quick retries and a short deadline, so the tests run fast.
const POLICY: CallPolicy = CallPolicy {
    deadline: Duration::from_millis(300),
    connect_timeout: Duration::from_millis(300),
    max_attempts: 3,
    backoff: Backoff {
        initial: Duration::from_millis(5),
        max: Duration::from_millis(20),
    },
    throttle: {{ service.ident }}::grpc_clients::{{ call.flow_shouty }}_POLICY.throttle,
};

/// One scripted answer of the stub: `Ok` to answer the order, or a failure
/// code; and a delay before answering.
type Step = (Result<(), Code>, Duration);

const OK: Step = (Ok(()), Duration::ZERO);
const UNAVAILABLE: Step = (Err(Code::Unavailable), Duration::ZERO);

/// A stub `{{ names.grpc_service }}` answering the n-th call with `script[n]`
/// (the last step repeats), counting the calls.
struct Stub {
    script: Vec<Step>,
    calls: Arc<AtomicU32>,
}

#[tonic::async_trait]
impl {{ contract.service.name }} for Stub {
    async fn {{ contract.method.name }}(
        &self,
        request: Request<{{ contract.request.name }}>,
    ) -> Result<Response<{{ contract.response.name }}>, Status> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) as usize;
        let (answer, delay) = self.script[n.min(self.script.len() - 1)];
        tokio::time::sleep(delay).await;
        match answer {
            Ok(()) => Ok(Response::new({{ contract.response.name }} {
                {{ contract.id_field.name }}: request.into_inner().{{ contract.id_field.name }},
{%- if contract.status_field %}
                {{ contract.status_field.name }}: "{{ names.sample_status }}".into(),
{%- endif %}
{%- if names.response_has_more %}
                ..Default::default()
{%- endif %}
            })),
            Err(code) => Err(Status::new(code, "scripted")),
        }
    }
}

async fn stub(script: Vec<Step>) -> (String, Arc<AtomicU32>) {
    let calls = Arc::new(AtomicU32::new(0));
    let service = {{ contract.service.name }}Server::new(Stub {
        script,
        calls: calls.clone(),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    (url, calls)
}

#[tokio::test]
async fn {{ contract.method.name }}_returns_the_answer() {
    let (url, calls) = stub(vec![OK]).await;
    let answer = {{ call.client }}::connect_lazy(&url, POLICY)
        .unwrap()
        .{{ contract.method.name }}("{{ names.sample_id }}")
        .await
        .unwrap();
    assert_eq!(answer.{{ contract.id_field.name }}, "{{ names.sample_id }}");
{%- if contract.status_field %}
    assert_eq!(answer.{{ contract.status_field.name }}, "{{ names.sample_status }}");
{%- endif %}
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn retries_unavailable_until_the_server_answers() {
    let (url, calls) = stub(vec![UNAVAILABLE, UNAVAILABLE, OK]).await;
    let answer = {{ call.client }}::connect_lazy(&url, POLICY)
        .unwrap()
        .{{ contract.method.name }}("{{ names.sample_id }}")
        .await
        .unwrap();
    assert_eq!(answer.{{ contract.id_field.name }}, "{{ names.sample_id }}");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn gives_up_on_unavailable_after_max_attempts() {
    let (url, calls) = stub(vec![UNAVAILABLE]).await;
    let err = {{ call.client }}::connect_lazy(&url, POLICY)
        .unwrap()
        .{{ contract.method.name }}("{{ names.sample_id }}")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(Code::Unavailable), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), POLICY.max_attempts);
}

#[tokio::test]
async fn does_not_retry_other_codes() {
    for code in [Code::NotFound, Code::InvalidArgument, Code::Internal] {
        let (url, calls) = stub(vec![(Err(code), Duration::ZERO), OK]).await;
        let err = {{ call.client }}::connect_lazy(&url, POLICY)
            .unwrap()
            .{{ contract.method.name }}("{{ names.sample_id }}")
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(code), "{err}");
        assert_eq!(calls.load(Ordering::SeqCst), 1, "{code:?}");
    }
}

#[tokio::test]
async fn a_call_past_its_deadline_fails_with_deadline_exceeded_and_is_not_retried() {
    let (url, calls) = stub(vec![(Ok(()), Duration::from_secs(3))]).await;
    let started = std::time::Instant::now();
    let err = {{ call.client }}::connect_lazy(&url, POLICY)
        .unwrap()
        .{{ contract.method.name }}("{{ names.sample_id }}")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(Code::DeadlineExceeded), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn retries_when_nothing_listens_then_reports_unavailable() {
    // Bind then drop a listener: the port is free, connections get refused.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let started = std::time::Instant::now();
    let err = {{ call.client }}::connect_lazy(&url, POLICY)
        .unwrap()
        .{{ contract.method.name }}("{{ names.sample_id }}")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(Code::Unavailable), "{err}");
    // Two backoff delays of at least initial/2 each separate the three attempts.
    assert!(
        started.elapsed() >= POLICY.backoff.initial,
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn refuses_a_malformed_id_without_calling() {
    let (url, calls) = stub(vec![OK]).await;
    let err = {{ call.client }}::connect_lazy(&url, POLICY)
        .unwrap()
        .{{ contract.method.name }}("")
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::InvalidId(_)), "{err:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

/// A stub that fails with `UNAVAILABLE` while `down` is set, counts every
/// call, records the `grpc-timeout` each one carried, and answers with an id
/// `size` bytes long.
#[derive(Default)]
struct Switchable {
    down: Arc<AtomicBool>,
    calls: Arc<AtomicU32>,
    deadlines: Arc<Mutex<Vec<Option<String>>>>,
    size: usize,
}

#[tonic::async_trait]
impl {{ contract.service.name }} for Switchable {
    async fn {{ contract.method.name }}(
        &self,
        request: Request<{{ contract.request.name }}>,
    ) -> Result<Response<{{ contract.response.name }}>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let deadline = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.deadlines.lock().unwrap().push(deadline);
        if self.down.load(Ordering::SeqCst) {
            return Err(Status::unavailable("down"));
        }
        Ok(Response::new({{ contract.response.name }} {
            {{ contract.id_field.name }}: "1".repeat(self.size.max(1)),
{%- if contract.status_field %}
            {{ contract.status_field.name }}: "{{ names.sample_status }}".into(),
{%- endif %}
{%- if names.response_has_more %}
            ..Default::default()
{%- endif %}
        }))
    }
}

/// A running [`Switchable`] and its controls.
struct Switch {
    url: String,
    down: Arc<AtomicBool>,
    calls: Arc<AtomicU32>,
    deadlines: Arc<Mutex<Vec<Option<String>>>>,
}

async fn switchable(size: usize) -> Switch {
    let stub = Switchable {
        size,
        ..Switchable::default()
    };
    let (down, calls, deadlines) = (
        stub.down.clone(),
        stub.calls.clone(),
        stub.deadlines.clone(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        Server::builder()
            .add_service({{ contract.service.name }}Server::new(stub))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    Switch {
        url,
        down,
        calls,
        deadlines,
    }
}

#[tokio::test]
async fn retries_stop_under_sustained_failure() {
    const CALLS: u32 = 100;
    let stub = switchable(0).await;
    stub.down.store(true, Ordering::SeqCst);
    let client = {{ call.client }}::connect_lazy(&stub.url, POLICY).unwrap();
    for _ in 0..CALLS {
        let err = client.{{ contract.method.name }}("{{ names.sample_id }}").await.unwrap_err();
        assert_eq!(err.code(), Some(Code::Unavailable), "{err}");
    }
    let attempts = stub.calls.load(Ordering::SeqCst);
    // gRFC A6 bound: attempts <= calls x (1 + token ratio).
    let bound = CALLS + CALLS * POLICY.throttle.token_ratio_milli / 1000;
    println!(
        "grpc client, {{ call.target }} always UNAVAILABLE: calls={CALLS} attempts={attempts} bound={bound} (without the throttle: {})",
        CALLS * POLICY.max_attempts
    );
    // A few retries while the bucket drains, then one attempt per call.
    assert!(attempts > CALLS, "some calls were retried at first");
    assert!(attempts <= bound, "{attempts} attempts for {CALLS} calls");
}

#[tokio::test]
async fn retries_resume_once_calls_succeed_again() {
    let stub = switchable(0).await;
    let client = {{ call.client }}::connect_lazy(&stub.url, POLICY).unwrap();
    stub.down.store(true, Ordering::SeqCst);
    for _ in 0..20 {
        client.{{ contract.method.name }}("{{ names.sample_id }}").await.unwrap_err();
    }
    assert_eq!(client.retry_tokens_milli(), 0);
    stub.down.store(false, Ordering::SeqCst);
    for _ in 0..100 {
        client.{{ contract.method.name }}("{{ names.sample_id }}").await.unwrap();
    }
    // The bucket is full again: a failing call gets all its attempts.
    stub.down.store(true, Ordering::SeqCst);
    let before = stub.calls.load(Ordering::SeqCst);
    client.{{ contract.method.name }}("{{ names.sample_id }}").await.unwrap_err();
    assert_eq!(
        stub.calls.load(Ordering::SeqCst) - before,
        POLICY.max_attempts
    );
}

#[tokio::test]
async fn every_attempt_sends_its_deadline_to_the_server() {
    let stub = switchable(0).await;
    stub.down.store(true, Ordering::SeqCst);
    {{ call.client }}::connect_lazy(&stub.url, POLICY)
        .unwrap()
        .{{ contract.method.name }}("{{ names.sample_id }}")
        .await
        .unwrap_err();
    let deadlines = stub.deadlines.lock().unwrap().clone();
    assert_eq!(deadlines.len(), POLICY.max_attempts as usize);
    for deadline in deadlines {
        // `grpc-timeout` is a number and a unit: `300000u`, `300m`, ...
        let deadline = deadline.expect("a grpc-timeout header");
        let (value, unit) = deadline.split_at(deadline.len() - 1);
        let value: u64 = value.parse().unwrap();
        let sent = match unit {
            "n" => Duration::from_nanos(value),
            "u" => Duration::from_micros(value),
            "m" => Duration::from_millis(value),
            "S" => Duration::from_secs(value),
            other => panic!("unexpected grpc-timeout unit {other}"),
        };
        assert!(
            sent <= POLICY.deadline && sent > POLICY.deadline / 2,
            "{sent:?}"
        );
    }
}

#[tokio::test]
async fn an_answer_over_the_size_limit_is_resource_exhausted_and_not_retried() {
    let stub = switchable({{ service.ident }}::grpc_clients::MAX_MESSAGE_BYTES + 1).await;
    let err = {{ call.client }}::connect_lazy(&stub.url, POLICY)
        .unwrap()
        .{{ contract.method.name }}("{{ names.sample_id }}")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(Code::ResourceExhausted), "{err}");
    assert_eq!(stub.calls.load(Ordering::SeqCst), 1);
}
