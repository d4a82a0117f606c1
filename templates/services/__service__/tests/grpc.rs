{#- scaffold
when: service.serves_grpc
-#}
{%- import "_partials/format.rs" as format -%}
//! The gRPC server of `{{ service.name }}` on a real socket, driven by the generated
//! clients: a call on every rpc it serves, health checks and reflection, the message
//! size limit, and deadlines cancelling handlers.

{%- set slow = service.api.grpc_calls | filter(attribute="method.server_streaming", value=false) | first %}
{%- if slow %}
use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use runtime::{
    auth::{Authenticate, HeaderMap, Unauthenticated},
    health::Health,
};
use tokio::{net::TcpListener, sync::mpsc, task::JoinHandle};
use tokio_stream::StreamExt as _;
use tokio_util::sync::CancellationToken;
use tonic::{
    Code, Request, Response, Status,
    service::Routes,
    transport::{Channel, Endpoint},
};
{%- else %}
use std::{net::SocketAddr, sync::Arc, time::Duration};

use runtime::{auth::Authenticate, health::Health};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_stream::StreamExt as _;
use tokio_util::sync::CancellationToken;
use tonic::{
    Code,
    service::Routes,
    transport::{Channel, Endpoint},
};
{%- endif %}
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

use {{ service.ident }}::{
    config::{Config, GRPC_MAX_MESSAGE_BYTES, Timeouts},
    grpc::{self, SERVICE_NAMES},
    state::State,
};
{%- if slow %}

use {{ slow.server_trait }} as Served;
{%- endif %}

/// The budget of every method: the tests here check answers, not latency
/// budgets, which a debug build on a busy machine misses (the deadline tests
/// below set their own).
const BUDGET: Duration = Duration::from_secs(5);

struct Server {
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
    channel: Channel,
}

/// The service's state{% if service.produces %}, producing to nothing (no broker listens on port 1):
/// the events the example handlers announce go nowhere{% endif %}{% if service.store %}; its database in memory{% endif %}.
async fn state() -> Arc<State> {
{%- if service.store %}
    let config = Config::from_lookup(|var| match var {
{%- if service.produces %}
        "KAFKA_BROKERS" => Some("127.0.0.1:1".to_owned()),
{%- endif %}
        // In memory: each test starts with an empty database.
        "DATABASE_URL" => Some("sqlite::memory:".to_owned()),
        _ => None,
    })
    .unwrap();
{%- elif service.produces %}
    let lookup = |var: &str| (var == "KAFKA_BROKERS").then(|| "127.0.0.1:1".to_owned());
    let config = Config::from_lookup(lookup).unwrap();
{%- else %}
    let config = Config::from_lookup(|_| None).unwrap();
{%- endif %}
    Arc::new(State::new(&config).await.unwrap())
}

async fn start() -> Server {
    // Not the team's hook: these tests send no credentials, and must keep
    // passing once `src/auth.rs` checks real ones.
    start_checked(runtime::auth::accept_all).await
}

/// The real services behind the authentication hook `authenticate`.
async fn start_checked(authenticate: Authenticate) -> Server {
    let shutdown = CancellationToken::new();
{%- if service.keys.grpc %}
    let state = state().await;
    let routes = grpc::services(&state, &state.out.db, &shutdown, authenticate);
{%- else %}
    let routes = grpc::services(&state().await, &shutdown, authenticate);
{%- endif %}
    start_with(routes, SERVICE_NAMES, BUDGET, shutdown).await
}

/// The real server (budgets, health, reflection) around `routes`, every
/// method's budget at `budget`.
async fn start_with(
    routes: Routes,
    names: &'static [&'static str],
    budget: Duration,
    shutdown: CancellationToken,
) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let budgets = grpc::budgets(Timeouts::all(budget));
    // No dependencies to wait for: gRPC health is `SERVING` from the start.
    let health = Health::without_checks(shutdown.clone());
    let serving = grpc::serve_routes(listener, health, routes, names, budgets);
    let task = tokio::spawn(serving);
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    Server {
        shutdown,
        task,
        channel,
    }
}
{%- for c in service.api.grpc_calls %}

/// `{{ c.service }}/{{ c.method.proto_name }}`{% if c.method.server_streaming %}: a stream of items, until the client goes away{% endif %}.
#[tokio::test]
async fn {{ c.service | replace(from=".", to="_") | snake }}_{{ c.method.name | replace(from="r#", to="") }}_answers() {
    let server = start().await;
    let channel = server.channel.clone();
{{ format::let(indent="    ", head="let mut client =", value=c.client ~ "::new(channel);") }}
{{ format::let(indent="    ", head="let request =", value=c.method.request ~ "::default();") }}
{%- if c.method.server_streaming %}
{{ format::chain(indent="    ", head="let mut items = ", receiver="client", calls=["." ~ c.method.name ~ "(request)", ".await", ".unwrap()", ".into_inner()"], tail=";") }}
    for _ in 0..2 {
        items.next().await.expect("an item").unwrap();
    }
    // Dropping the stream goes away: the handler's next send fails.
{%- else %}
{{ format::chain(indent="    ", head="", receiver="client", calls=["." ~ c.method.name ~ "(request)", ".await", ".unwrap()"], tail=";") }}
{%- endif %}
}
{%- endfor %}

{%- set c = service.api.grpc_calls | filter(attribute="method.server_streaming", value=false) | first %}
{%- if c %}

/// A hook that wants `authorization: Bearer let-me-in`.
fn bearer(headers: &HeaderMap) -> Result<(), Unauthenticated> {
    match headers.get("authorization").map(|v| v.to_str()) {
        Some(Ok("Bearer let-me-in")) => Ok(()),
        _ => Err(Unauthenticated("no valid bearer token".into())),
    }
}

/// The authentication hook sees every call's metadata: `UNAUTHENTICATED`
/// without the token, the handler's answer with it; health needs none.
#[tokio::test]
async fn the_auth_hook_refuses_a_call_with_unauthenticated_and_lets_a_valid_one_in() {
    let server = start_checked(bearer).await;
    let channel = server.channel.clone();
{{ format::let(indent="    ", head="let mut client =", value=c.client ~ "::new(channel);") }}
{{ format::let(indent="    ", head="let request =", value=c.method.request ~ "::default();") }}
{{ format::chain(indent="    ", head="let refused = ", receiver="client", calls=["." ~ c.method.name ~ "(request)", ".await", ".unwrap_err()"], tail=";") }}
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(refused.message(), "no valid bearer token");

{{ format::let(indent="    ", head="let mut request =", value="tonic::Request::new(" ~ c.method.request ~ "::default());") }}
    let token = "Bearer let-me-in".parse().unwrap();
    request.metadata_mut().insert("authorization", token);
{{ format::chain(indent="    ", head="", receiver="client", calls=["." ~ c.method.name ~ "(request)", ".await", ".unwrap()"], tail=";") }}

    let mut health = HealthClient::new(server.channel.clone());
    let check = HealthCheckRequest {
        service: String::new(),
    };
    assert!(health.check(check).await.is_ok());
}
{%- endif %}
{%- for c in service.api.grpc_calls | filter(attribute="method.keyed_flow") %}

/// `{{ c.service }}/{{ c.method.proto_name }}` (flow `{{ c.method.keyed_flow }}`) takes an
/// `idempotency-key`: a call sent again with its key gets the first answer from the
/// records, without running the handler again.
#[tokio::test]
async fn {{ c.service | replace(from=".", to="_") | snake }}_{{ c.method.name | replace(from="r#", to="") }}_answers_a_repeated_key_from_the_records() {
    let server = start().await;
    let channel = server.channel.clone();
{{ format::let(indent="    ", head="let mut client =", value=c.client ~ "::new(channel);") }}
    let mut replayed = Vec::new();
    for _ in 0..2 {
{{ format::let(indent="        ", head="let mut request =", value="Request::new(" ~ c.method.request ~ "::default());") }}
        let key = "key-1".parse().unwrap();
        request.metadata_mut().insert("idempotency-key", key);
{{ format::chain(indent="        ", head="let response = ", receiver="client", calls=["." ~ c.method.name ~ "(request)", ".await", ".unwrap()"], tail=";") }}
        replayed.push(response.metadata().contains_key("idempotent-replayed"));
    }
    assert_eq!(replayed, [false, true]);
}
{%- endfor %}

#[tokio::test]
async fn health_reports_serving_then_not_serving_while_draining() {
    let server = start().await;
    let mut health = HealthClient::new(server.channel.clone());
    for service in std::iter::once("").chain(SERVICE_NAMES.iter().copied()) {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }

    let mut watch = health
        .watch(HealthCheckRequest {
            service: SERVICE_NAMES[0].into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.next().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);

    server.shutdown.cancel();
    let next = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("status change within 5 s")
        .unwrap()
        .unwrap();
    assert_eq!(next.status, ServingStatus::NotServing as i32);

    // The open stream is the only in-flight call: once it is gone the server
    // finishes draining.
    drop(watch);
    drop(health);
    drop(server.channel);
    tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("server drained within 5 s")
        .unwrap()
        .unwrap();
}

/// Every call is counted by service, method and code, errors included.
#[tokio::test]
async fn calls_are_counted_by_service_method_and_code() {
    let server = start().await;
    let mut health = HealthClient::new(server.channel.clone());
    let known = HealthCheckRequest::default();
    assert!(health.check(known).await.is_ok());
    let unknown = HealthCheckRequest {
        service: "no.such.Service".to_owned(),
    };
    let refused = health.check(unknown).await.unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);
    let text = runtime::telemetry::render();
    let labels = r#"{service="grpc.health.v1.Health",method="Check",code="OK"}"#;
    let ok = format!("rpc_server_call_duration_seconds_count{labels}");
    assert!(text.contains(&ok), "{text}");
    let not_found = r#"method="Check",code="NOT_FOUND"}"#;
    assert!(text.contains(not_found), "{text}");
}

#[tokio::test]
async fn reflection_lists_the_served_services() {
    let server = start().await;
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(server.channel.clone())
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer: {response:?}");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    for name in SERVICE_NAMES {
        assert!(names.contains(name), "{names:?}");
    }
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
}

{%- set big = service.api.grpc_calls | filter(attribute="method.string_field") | first %}
{%- if big %}
#[tokio::test]
async fn a_message_over_the_size_limit_is_resource_exhausted() {
    let server = start().await;
    let channel = server.channel.clone();
{{ format::let(indent="    ", head="let mut client =", value=big.client ~ "::new(channel);") }}
    let request = {{ big.method.request }} {
        {{ big.method.string_field }}: "9".repeat(GRPC_MAX_MESSAGE_BYTES + 1),
{%- if big.method.more_fields %}
        ..Default::default()
{%- endif %}
    };
{{ format::chain(indent="    ", head="let status = ", receiver="client", calls=["." ~ big.method.name ~ "(request)", ".await", ".unwrap_err()"], tail=";") }}
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
}
{%- endif %}
{%- set slow = service.api.grpc_calls | filter(attribute="method.server_streaming", value=false) | first %}
{%- if slow %}

/// What [`Slow`]'s handler reports.
#[derive(Debug)]
enum Seen {
    /// The handler started; the `grpc-timeout` it received, if any.
    Started(Option<String>),
    /// The handler's future was dropped before it finished.
    Cancelled(Instant),
}

/// Reports its future being dropped before it finished.
struct CancelGuard {
    seen: mpsc::UnboundedSender<Seen>,
    finished: bool,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.seen.send(Seen::Cancelled(Instant::now()));
        }
    }
}

/// `{{ slow.service }}/{{ slow.method.proto_name }}` taking 5 s, unless it is cancelled.
struct Slow {
    seen: mpsc::UnboundedSender<Seen>,
}

#[tonic::async_trait]
impl Served for Slow {
{%- if slow.method.one_line %}
    async fn {{ slow.method.name }}(&self, request: Request<{{ slow.method.request }}>) -> Result<Response<{{ slow.method.response }}>, Status> {
{%- else %}
    async fn {{ slow.method.name }}(
        &self,
        request: Request<{{ slow.method.request }}>,
    ) -> Result<Response<{{ slow.method.response }}>, Status> {
{%- endif %}
        let deadline = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.seen.send(Seen::Started(deadline)).unwrap();
        let mut guard = CancelGuard {
            seen: self.seen.clone(),
            finished: false,
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        guard.finished = true;
{{ format::let(indent="        ", head="let response =", value=slow.method.response ~ "::default();") }}
        Ok(Response::new(response))
    }
}

/// Calls [`Slow`] with `deadline` (if any), every method's budget at
/// `budget`; returns the status the client got, the `grpc-timeout` the
/// handler saw, and how long after the call began the handler was cancelled.
async fn call_slow(
    deadline: Option<Duration>,
    budget: Duration,
) -> (Status, Option<String>, Duration) {
    const NAMES: &[&str] = &["{{ slow.service }}"];
    let (seen, mut events) = mpsc::unbounded_channel();
    let slow = Slow { seen };
{{ format::let(indent="    ", head="let service =", value=slow.server ~ "::new(slow);") }}
    let routes = Routes::new(service);
    let server = start_with(routes, NAMES, budget, CancellationToken::new()).await;
{{ format::let(indent="    ", head="let mut request =", value="Request::new(" ~ slow.method.request ~ "::default());") }}
    if let Some(deadline) = deadline {
        request.set_timeout(deadline);
    }
    let started = Instant::now();
    let channel = server.channel.clone();
{{ format::let(indent="    ", head="let mut client =", value=slow.client ~ "::new(channel);") }}
{{ format::chain(indent="    ", head="let status = ", receiver="client", calls=["." ~ slow.method.name ~ "(request)", ".await", ".unwrap_err()"], tail=";") }}
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("the handler reports within 5 s")
            .unwrap()
    };
    let Seen::Started(header) = next().await else {
        panic!("the handler did not start");
    };
    let Seen::Cancelled(at) = next().await else {
        panic!("the handler was not cancelled");
    };
    (status, header, at - started)
}

#[tokio::test]
async fn the_client_deadline_reaches_the_server_and_cancels_the_handler() {
    let (deadline, budget) = (Duration::from_millis(100), Duration::from_secs(1));
    let (status, header, cancelled_after) = call_slow(Some(deadline), budget).await;
    assert!(
        matches!(status.code(), Code::Cancelled | Code::DeadlineExceeded),
        "{status:?}"
    );
    assert!(
        header.is_some(),
        "no grpc-timeout header reached the handler"
    );
    // Cancelled at the client's deadline, well before the server's budget.
    assert!(
        cancelled_after >= deadline && cancelled_after < budget,
        "handler cancelled after {cancelled_after:?}"
    );
}

#[tokio::test]
async fn without_a_client_deadline_the_methods_budget_cancels_the_handler() {
    let budget = Duration::from_millis(300);
    let (status, header, cancelled_after) = call_slow(None, budget).await;
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert_eq!(
        status.message(),
        "the call took longer than its 300 ms budget"
    );
    assert_eq!(header, None);
    assert!(
        cancelled_after >= budget && cancelled_after < budget * 5,
        "handler cancelled after {cancelled_after:?}"
    );
}
{%- endif %}
