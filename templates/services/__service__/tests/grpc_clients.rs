{#- scaffold
when: service.calls_grpc
-#}
{%- import "_partials/format.rs" as format -%}
{%- set target = service.grpc_targets[0] -%}
{%- if target.unary %}{% set_global m = target.unary %}{% else %}{% set_global m = target.stream %}{% endif -%}
{%- set svc = m.rpc.service -%}
{%- set s = target.stream -%}
{%- set_global scripted_stream = false -%}
{%- set_global stream_method = "" -%}
{%- set_global sized = false -%}
{%- if target.unary %}{% if m.rpc.response_string_field %}{% set_global sized = true %}{% endif %}{% endif -%}
{%- if s %}{% if s.rpc.service.full_name == svc.full_name %}{% set_global scripted_stream = true %}{% set_global stream_method = s.rpc.method %}{% endif %}{% endif -%}
//! The gRPC client of {{ service.name }} against a local stub of the {{ target.name }} server on
//! a real socket ({{ svc.full_name }}): answers, deadlines, retries of `UNAVAILABLE`
//! only, the retry throttle under sustained failure{% if sized %}, the message size limit{% endif %}{% if scripted_stream %}
//! and a server stream{% endif %}.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::Duration,
};

use {{ m.rpc.server_trait }};
use {{ svc.server }};
use runtime::{client_policy::CallPolicy, retry::Backoff, tls::Tls};
use tokio::net::TcpListener;
use tonic::{Code, Request, Response, Status, transport::Server};

use {{ service.ident }}::grpc_clients::{self, {{ target.client }}, {{ target.policies }}};

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
    {{ target.client }}::connect_lazy(url, policies, &Tls::default()).unwrap()
}

{%- if target.unary %}

/// The request of `{{ m.rpc.full_name }}` the tests send{% if m.rpc.id_field %}:
/// what `call {{ m.flow }} {{ names.sample_id }}` sends{% endif %}.
fn request() -> {{ m.rpc.request }} {
{%- if m.rpc.id_field %}
    {{ target.client }}::{{ m.rpc.method | trim_start_matches(pat="r#") }}_request("{{ names.sample_id }}")
{%- else %}
    {{ m.rpc.request }}::default()
{%- endif %}
}
{%- endif %}
{%- if scripted_stream %}

/// The request of `{{ s.rpc.full_name }}` the tests send{% if s.rpc.id_field %}:
/// what `call {{ s.flow }} {{ names.sample_id }}` sends{% endif %}.
fn stream_request() -> {{ s.rpc.request }} {
{%- if s.rpc.id_field %}
    {{ target.client }}::{{ s.rpc.method | trim_start_matches(pat="r#") }}_request("{{ names.sample_id }}")
{%- else %}
    {{ s.rpc.request }}::default()
{%- endif %}
}
{%- endif %}

/// One scripted answer of the stub: `Ok` to answer, or a failure code; and a
/// delay before answering.
type Step = (Result<(), Code>, Duration);

/// What a stubbed server-streaming rpc answers.
#[allow(dead_code, reason = "used only where a stubbed service streams")]
type Streamed<T> = Result<Response<tonic::codegen::BoxStream<T>>, Status>;

const OK: Step = (Ok(()), Duration::ZERO);
const UNAVAILABLE: Step = (Err(Code::Unavailable), Duration::ZERO);

/// A stub `{{ svc.full_name }}`: answers the n-th call with `script[n]` (the
/// last step repeats; none means `OK`), or `UNAVAILABLE` while `down` is set;
/// counts the calls and records the `grpc-timeout` each one carried.{% if sized %} Its
/// answers' `{{ m.rpc.response_string_field }}` is `size` bytes long.{% endif %}
#[derive(Default)]
struct Stub {
    script: Vec<Step>,
    down: Arc<AtomicBool>,
    calls: Arc<AtomicU32>,
    deadlines: Arc<Mutex<Vec<Option<String>>>>,
{%- if sized %}
    size: usize,
{%- endif %}
}

impl Stub {
    /// Records a call and plays its step.
    async fn answer<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) as usize;
        let deadline = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.deadlines.lock().unwrap().push(deadline);
        if self.down.load(Ordering::SeqCst) {
            return Err(Status::unavailable("down"));
        }
        let last = self.script.len().saturating_sub(1);
        let (answer, delay) = self.script.get(n.min(last)).copied().unwrap_or(OK);
        tokio::time::sleep(delay).await;
        answer.map_err(|code| Status::new(code, "scripted"))
    }
}

#[tonic::async_trait]
impl {{ svc.trait_name }} for Stub {
{%- for x in svc.methods %}

{%- if x.server_streaming and x.name == stream_method %}
    async fn {{ x.name }}(
        &self,
        request: Request<{{ x.request.rust }}>,
    ) -> Streamed<{{ x.response.rust }}> {
        self.answer(&request).await?;
        let item = {{ x.response.rust }}::default();
        let items = (0..3).map(move |_| Ok(item.clone()));
        let stream = tonic::codegen::tokio_stream::iter(items);
        Ok(Response::new(Box::pin(stream)))
    }
{%- elif x.server_streaming %}
    async fn {{ x.name }}(
        &self,
        _request: Request<{{ x.request.rust }}>,
    ) -> Streamed<{{ x.response.rust }}> {
        Err(Status::unimplemented("not called by these tests"))
    }
{%- elif x.name == m.rpc.method %}
    async fn {{ x.name }}(
        &self,
        request: Request<{{ x.request.rust }}>,
    ) -> Result<Response<{{ x.response.rust }}>, Status> {
        self.answer(&request).await?;
{%- if m.rpc.response_string_field %}
        let answer = {{ x.response.rust }} {
            {{ m.rpc.response_string_field }}: "1".repeat(self.size),
{%- if m.rpc.response_has_more %}
            ..Default::default()
{%- endif %}
        };
        Ok(Response::new(answer))
{%- else %}
        Ok(Response::new({{ x.response.rust }}::default()))
{%- endif %}
    }
{%- else %}
    async fn {{ x.name }}(
        &self,
        _request: Request<{{ x.request.rust }}>,
    ) -> Result<Response<{{ x.response.rust }}>, Status> {
        Err(Status::unimplemented("not called by these tests"))
    }
{%- endif %}
{%- endfor %}
}

/// A running [`Stub`] and its controls.
struct Running {
    url: String,
    down: Arc<AtomicBool>,
    calls: Arc<AtomicU32>,
    deadlines: Arc<Mutex<Vec<Option<String>>>>,
}

async fn start(stub: Stub) -> Running {
    let (down, calls, deadlines) = (
        stub.down.clone(),
        stub.calls.clone(),
        stub.deadlines.clone(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        Server::builder()
            .add_service({{ svc.trait_name }}Server::new(stub))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    Running {
        url,
        down,
        calls,
        deadlines,
    }
}

/// A stub playing `script`, with its URL and call counter.
async fn stub(script: Vec<Step>) -> (String, Arc<AtomicU32>) {
    let running = start(Stub {
        script,
        ..Stub::default()
    })
    .await;
    (running.url, running.calls)
}

{%- set_global stubbed = [] %}
{%- for t in service.grpc_targets %}{% for x in t.methods %}
{%- if x.rpc.service.full_name in stubbed %}{% else %}
{%- set_global stubbed = stubbed | concat(with=x.rpc.service.full_name) %}
{%- set v = x.rpc.service %}

/// `{{ v.full_name }}` answering every rpc with an empty message (a stream:
/// three).
struct {{ v.trait_name }}Defaults;

impl {{ v.trait_name }}Defaults {
    /// Serves it on a free port of 127.0.0.1; its URL.
    async fn start() -> String {
        use {{ v.server }} as Served;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let service = Served::new(Self);
        tokio::spawn(
            Server::builder()
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        url
    }
}

use {{ x.rpc.server_trait }} as {{ v.trait_name }}Rpcs;

#[tonic::async_trait]
impl {{ v.trait_name }}Rpcs for {{ v.trait_name }}Defaults {
{%- for y in v.methods %}
    async fn {{ y.name }}(
        &self,
        _request: Request<{{ y.request.rust }}>,
{%- if y.server_streaming %}
    ) -> Streamed<{{ y.response.rust }}> {
        let item = {{ y.response.rust }}::default();
        let items = (0..3).map(move |_| Ok(item.clone()));
        let stream = tonic::codegen::tokio_stream::iter(items);
        Ok(Response::new(Box::pin(stream)))
{%- else %}
    ) -> Result<Response<{{ y.response.rust }}>, Status> {
        let answer = {{ y.response.rust }}::default();
        Ok(Response::new(answer))
{%- endif %}
    }
{%- endfor %}
}
{%- endif %}{% endfor %}{% endfor %}
{%- for t in service.grpc_targets %}{% for x in t.methods %}

/// Flow `{{ x.flow }}`: `{{ x.rpc.full_name }}` on {{ t.name }}.
#[tokio::test]
async fn {{ t.ident }}_{{ x.rpc.method | trim_start_matches(pat="r#") }}_is_answered() {
    let url = {{ x.rpc.service.trait_name }}Defaults::start().await;
    let policies = grpc_clients::{{ t.policies }}::all(POLICY);
    let tls = Tls::default();
{{ format::let(indent="    ", head="let client =", value="grpc_clients::" ~ t.client ~ "::connect_lazy(&url, policies, &tls).unwrap();") }}
{%- if x.rpc.id_field %}
    let request = grpc_clients::{{ t.client }}::{{ x.rpc.method | trim_start_matches(pat="r#") }}_request("{{ names.sample_id }}");
{%- else %}
    let request = {{ x.rpc.request }}::default();
{%- endif %}
    let expected = {{ x.rpc.response }}::default();
{%- if x.rpc.streaming %}
    let mut stream = client.{{ x.rpc.method }}(&request).await.unwrap();
    let mut received = 0;
    while let Some(message) = stream.next().await {
        assert_eq!(message.unwrap(), expected);
        received += 1;
    }
    assert_eq!(received, 3);
{%- else %}
    let answer = client.{{ x.rpc.method }}(&request).await.unwrap();
    assert_eq!(answer, expected);
{%- endif %}
}
{%- endfor %}{% endfor %}

#[test]
fn each_deadline_is_the_flow_s_budget_unless_its_variable_overrides_it() {
    let policies = {{ target.policies }}::default();
{%- for x in target.methods %}
    let deadline = {{ x.deadline_rust }};
    assert_eq!(policies.{{ x.rpc.method }}.deadline, deadline);
{%- endfor %}
    let overridden = {{ target.policies }}::from_lookup(|var| {
        (var == "{{ m.deadline_env }}").then(|| "1500".to_owned())
    })
    .unwrap();
    let deadline = Duration::from_millis(1500);
    assert_eq!(overridden.{{ m.rpc.method }}.deadline, deadline);
    assert!({{ target.policies }}::from_lookup(|_| Some("soon".to_owned())).is_err());
}
{%- if scripted_stream %}

#[tokio::test]
async fn {{ s.rpc.method }}_streams_every_message_then_ends() {
    let (url, calls) = stub(vec![OK]).await;
    let client = client(&url);
    let mut stream = client.{{ s.rpc.method }}(&stream_request()).await.unwrap();
    let mut received = 0;
    let expected = {{ s.rpc.response }}::default();
    while let Some(message) = stream.next().await {
        assert_eq!(message.unwrap(), expected);
        received += 1;
    }
    assert_eq!(received, 3);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn opening_{{ s.rpc.method | trim_start_matches(pat="r#") }}_retries_unavailable_and_bounds_only_the_opening() {
    let stub = start(Stub {
        script: vec![UNAVAILABLE, OK],
        ..Stub::default()
    })
    .await;
    let client = client(&stub.url);
    let mut stream = client.{{ s.rpc.method }}(&stream_request()).await.unwrap();
    assert!(stream.next().await.is_some());
    assert_eq!(stub.calls.load(Ordering::SeqCst), 2);
    // The deadline bounds opening the stream, not its length: no grpc-timeout.
    assert!(stub.deadlines.lock().unwrap().iter().all(Option::is_none));
    stub.down.store(true, Ordering::SeqCst);
    let err = client.{{ s.rpc.method }}(&stream_request()).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::Unavailable), "{err}");
}
{%- endif %}
{%- if target.unary %}

#[tokio::test]
async fn {{ m.rpc.method }}_returns_the_answer() {
    let (url, calls) = stub(vec![OK]).await;
    let client = client(&url);
    client.{{ m.rpc.method }}(&request()).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn retries_unavailable_until_the_server_answers() {
    let (url, calls) = stub(vec![UNAVAILABLE, UNAVAILABLE, OK]).await;
    let client = client(&url);
    client.{{ m.rpc.method }}(&request()).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn gives_up_on_unavailable_after_max_attempts() {
    let (url, calls) = stub(vec![UNAVAILABLE]).await;
    let client = client(&url);
    let err = client.{{ m.rpc.method }}(&request()).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::Unavailable), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), POLICY.max_attempts);
}

#[tokio::test]
async fn does_not_retry_other_codes() {
    for code in [Code::NotFound, Code::InvalidArgument, Code::Internal] {
        let (url, calls) = stub(vec![(Err(code), Duration::ZERO), OK]).await;
        let client = client(&url);
        let err = client.{{ m.rpc.method }}(&request()).await.unwrap_err();
        assert_eq!(err.code(), Some(code), "{err}");
        assert_eq!(calls.load(Ordering::SeqCst), 1, "{code:?}");
    }
}

#[tokio::test]
async fn a_call_past_its_deadline_fails_with_deadline_exceeded_and_is_not_retried() {
    let (url, calls) = stub(vec![(Ok(()), Duration::from_secs(3))]).await;
    let started = std::time::Instant::now();
    let client = client(&url);
    let err = client.{{ m.rpc.method }}(&request()).await.unwrap_err();
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
    let client = client(&url);
    let err = client.{{ m.rpc.method }}(&request()).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::Unavailable), "{err}");
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
    let stub = start(Stub::default()).await;
    stub.down.store(true, Ordering::SeqCst);
    let client = client(&stub.url);
    for _ in 0..CALLS {
        let err = client.{{ m.rpc.method }}(&request()).await.unwrap_err();
        assert_eq!(err.code(), Some(Code::Unavailable), "{err}");
    }
    let attempts = stub.calls.load(Ordering::SeqCst);
    // gRFC A6 bound: attempts <= calls x (1 + token ratio).
    let bound = CALLS + CALLS * runtime::client_policy::THROTTLE.token_ratio_milli / 1000;
    println!(
        "grpc client, {{ target.name }} always UNAVAILABLE: calls={CALLS} attempts={attempts} bound={bound} (without the throttle: {})",
        CALLS * POLICY.max_attempts
    );
    // A few retries while the bucket drains, then one attempt per call.
    assert!(attempts > CALLS, "some calls were retried at first");
    assert!(attempts <= bound, "{attempts} attempts for {CALLS} calls");
}

#[tokio::test]
async fn retries_resume_once_calls_succeed_again() {
    let stub = start(Stub::default()).await;
    let client = client(&stub.url);
    stub.down.store(true, Ordering::SeqCst);
    for _ in 0..20 {
        client.{{ m.rpc.method }}(&request()).await.unwrap_err();
    }
    assert_eq!(client.retry_tokens_milli(), 0);
    stub.down.store(false, Ordering::SeqCst);
    for _ in 0..100 {
        client.{{ m.rpc.method }}(&request()).await.unwrap();
    }
    // The bucket is full again: a failing call gets all its attempts.
    stub.down.store(true, Ordering::SeqCst);
    let before = stub.calls.load(Ordering::SeqCst);
    client.{{ m.rpc.method }}(&request()).await.unwrap_err();
    assert_eq!(
        stub.calls.load(Ordering::SeqCst) - before,
        POLICY.max_attempts
    );
}

#[tokio::test]
async fn every_attempt_sends_its_deadline_to_the_server() {
    let stub = start(Stub::default()).await;
    stub.down.store(true, Ordering::SeqCst);
    let client = client(&stub.url);
    client.{{ m.rpc.method }}(&request()).await.unwrap_err();
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

{%- if m.rpc.response_string_field %}

#[tokio::test]
async fn an_answer_over_the_size_limit_is_resource_exhausted_and_not_retried() {
    let stub = start(Stub {
        size: runtime::grpc_client::MAX_MESSAGE_BYTES + 1,
        ..Stub::default()
    })
    .await;
    let client = client(&stub.url);
    let err = client.{{ m.rpc.method }}(&request()).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::ResourceExhausted), "{err}");
    assert_eq!(stub.calls.load(Ordering::SeqCst), 1);
}
{%- endif %}
{%- endif %}
