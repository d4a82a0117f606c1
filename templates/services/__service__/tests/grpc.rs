{#- scaffold
when: service.serves_grpc
-#}
//! The gRPC server of `{{ service.name }}` on a real socket, driven by the generated
//! client: `{{ names.grpc_service }}`, health checks and reflection, the message
//! size limit, and deadlines cancelling handlers.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use contract::{{ contract.package }}::{
    {{ [contract.request.name, contract.response.name] | unique | sort | join(sep=", ") }}, {{ names.client_module }}::{{ contract.service.name }}Client,
    {{ contract.service.module }}::{{ contract.service.name }},
};
use tokio::{net::TcpListener, sync::mpsc, task::JoinHandle};
use tokio_stream::StreamExt as _;
use tokio_util::sync::CancellationToken;
use tonic::{
    Code, Request, Response, Status,
    transport::{Channel, Endpoint},
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

use {{ service.ident }}::{
    config::{GRPC_MAX_MESSAGE_BYTES, GRPC_REQUEST_TIMEOUT},
    grpc::{self, SERVICE_NAME},
};

struct Server {
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
    channel: Channel,
}

async fn start() -> Server {
    start_with(grpc::{{ contract.service.name }}Impl).await
}

/// The real server (limits, timeout, health) around `service`.
async fn start_with<S: {{ contract.service.name }}>(service: S) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(grpc::serve_with(listener, shutdown.clone(), service));
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

#[tokio::test]
async fn {{ contract.method.name }}_answers_the_sample_response() {
    let server = start().await;
    let response = {{ contract.service.name }}Client::new(server.channel.clone())
        .{{ contract.method.name }}({{ contract.request.name }} {
            {{ contract.id_field.name }}: "{{ names.sample_id }}".into(),
{%- if contract.request.fields | length > 1 %}
            ..Default::default()
{%- endif %}
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.{{ contract.id_field.name }}, "{{ names.sample_id }}");
{%- if contract.status_field %}
    assert_eq!(response.{{ contract.status_field.name }}, "{{ names.sample_status }}");
{%- endif %}
}

#[tokio::test]
async fn malformed_ids_are_invalid_arguments() {
    let server = start().await;
    let status = {{ contract.service.name }}Client::new(server.channel.clone())
        .{{ contract.method.name }}({{ contract.request.name }} {
            {{ contract.id_field.name }}: String::new(),
{%- if contract.request.fields | length > 1 %}
            ..Default::default()
{%- endif %}
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn health_reports_serving_then_not_serving_while_draining() {
    let server = start().await;
    let mut health = HealthClient::new(server.channel.clone());
    for service in ["", SERVICE_NAME] {
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
            service: SERVICE_NAME.into(),
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

#[tokio::test]
async fn reflection_lists_the_served_service() {
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
    assert!(names.contains(&SERVICE_NAME), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
}

#[tokio::test]
async fn a_message_over_the_size_limit_is_resource_exhausted() {
    let server = start().await;
    let status = {{ contract.service.name }}Client::new(server.channel.clone())
        .{{ contract.method.name }}({{ contract.request.name }} {
            {{ contract.id_field.name }}: "9".repeat(GRPC_MAX_MESSAGE_BYTES + 1),
{%- if contract.request.fields | length > 1 %}
            ..Default::default()
{%- endif %}
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
}

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

/// A handler that takes 5 s, unless it is cancelled.
struct Slow {
    seen: mpsc::UnboundedSender<Seen>,
}

#[tonic::async_trait]
impl {{ contract.service.name }} for Slow {
    async fn {{ contract.method.name }}(
        &self,
        request: Request<{{ contract.request.name }}>,
    ) -> Result<Response<{{ contract.response.name }}>, Status> {
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
        Ok(Response::new({{ contract.response.name }}::default()))
    }
}

/// Calls [`Slow`] with `deadline` (if any); returns the status the client
/// got, the `grpc-timeout` the handler saw, and how long after the call began
/// the handler was cancelled.
async fn call_slow(deadline: Option<Duration>) -> (Status, Option<String>, Duration) {
    let (seen, mut events) = mpsc::unbounded_channel();
    let server = start_with(Slow { seen }).await;
    let mut request = Request::new({{ contract.request.name }} {
        {{ contract.id_field.name }}: "{{ names.sample_id }}".into(),
{%- if contract.request.fields | length > 1 %}
        ..Default::default()
{%- endif %}
    });
    if let Some(deadline) = deadline {
        request.set_timeout(deadline);
    }
    let started = Instant::now();
    let status = {{ contract.service.name }}Client::new(server.channel.clone())
        .{{ contract.method.name }}(request)
        .await
        .unwrap_err();
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
    let deadline = Duration::from_millis(100);
    let (status, header, cancelled_after) = call_slow(Some(deadline)).await;
    assert!(
        matches!(status.code(), Code::Cancelled | Code::DeadlineExceeded),
        "{status:?}"
    );
    assert!(
        header.is_some(),
        "no grpc-timeout header reached the handler"
    );
    // Cancelled at the client's deadline, well before the server's own.
    assert!(
        cancelled_after >= deadline && cancelled_after < GRPC_REQUEST_TIMEOUT,
        "handler cancelled after {cancelled_after:?}"
    );
}

#[tokio::test]
async fn without_a_client_deadline_the_server_timeout_cancels_the_handler() {
    let (status, header, cancelled_after) = call_slow(None).await;
    assert_eq!(status.code(), Code::Cancelled, "{status:?}");
    assert_eq!(header, None);
    assert!(
        cancelled_after >= GRPC_REQUEST_TIMEOUT && cancelled_after < GRPC_REQUEST_TIMEOUT * 3,
        "handler cancelled after {cancelled_after:?}"
    );
}
