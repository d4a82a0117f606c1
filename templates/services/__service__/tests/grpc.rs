{#- scaffold
when: service.serves_grpc
-#}
//! The gRPC server of `{{ service.name }}` on a real socket, driven by the generated
//! client: `{{ names.grpc_service }}`, health checks and reflection.

use std::{net::SocketAddr, time::Duration};

use contract::{{ contract.package }}::{ {{- contract.request.name }}, {{ names.client_module }}::{{ contract.service.name }}Client};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_stream::StreamExt as _;
use tokio_util::sync::CancellationToken;
use tonic::{
    Code,
    transport::{Channel, Endpoint},
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

use {{ service.ident }}::grpc::{self, SERVICE_NAME};

struct Server {
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
    channel: Channel,
}

async fn start() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(grpc::serve(listener, shutdown.clone()));
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
