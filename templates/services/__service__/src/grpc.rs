{#- scaffold
when: service.serves_grpc
-#}
//! gRPC server of the `{{ service.name }}` service (
{%- for f in service.grpc_flows %}flow `{{ f.flow }}`, called by {{ f.from }}{% if not loop.last %}; {% endif %}{% endfor -%}
):
//! `{{ names.grpc_service }}` plus the standard health service
//! (`grpc.health.v1.Health`, `NOT_SERVING` while draining) and server reflection
//! (so `grpcurl` works without the .proto file), with a per-call timeout,
//! message size limits and graceful shutdown.

use contract::{
    ids::validate_id,
    {{ contract.package }}::{
        {{ [contract.request.name, contract.response.name] | unique | sort | join(sep=", ") }},
        {{ contract.service.module }}::{ {{- contract.service.name }}, {{ contract.service.name }}Server},
    },
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{
    Code, Request, Response, Status,
    codegen::{Context, Poll, Service, http},
    server::NamedService,
    transport::{Server, server::TcpIncoming},
};
use tonic_health::ServingStatus;
use tracing::{error, info};

use crate::{
    config::{self, GRPC_MAX_MESSAGE_BYTES, GRPC_REQUEST_TIMEOUT},
    handlers,
};

/// How often an idle HTTP/2 connection is pinged, to notice dead peers.
const HTTP2_KEEPALIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// `{{ names.grpc_service }}`, backed by [`handlers`].
#[derive(Debug, Default, Clone, Copy)]
pub struct {{ contract.service.name }}Impl;

#[tonic::async_trait]
impl {{ contract.service.name }} for {{ contract.service.name }}Impl {
    async fn {{ contract.method.name }}(
        &self,
        request: Request<{{ contract.request.name }}>,
    ) -> Result<Response<{{ contract.response.name }}>, Status> {
        let request = request.into_inner();
        validate_id(&request.{{ contract.id_field.name }}).map_err(|e| Status::invalid_argument(e.to_string()))?;
        config::debug_handler_pause().await;
        let response = handlers::{{ contract.method.name }}(request).await?;
        Ok(Response::new(response))
    }
}

/// The full name of the served service, as health checks and reflection know it.
pub const SERVICE_NAME: &str = "{{ names.grpc_service }}";

/// Serves gRPC on `listener` until `shutdown` is cancelled: health turns
/// `NOT_SERVING`, the listener closes, and in-flight calls finish (the caller
/// bounds that wait).
pub async fn serve(listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    serve_with(listener, shutdown, {{ contract.service.name }}Impl).await
}

/// [`serve`] with another implementation of `{{ names.grpc_service }}` behind the
/// same limits, timeout, health and reflection: tests use it to observe what
/// the server does to a handler.
pub async fn serve_with<S: {{ contract.service.name }}>(
    listener: TcpListener,
    shutdown: CancellationToken,
    service: S,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status(SERVICE_NAME, ServingStatus::Serving)
        .await;

    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(contract::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    // Older grpcurl and grpcui releases only speak v1alpha.
    let reflection_v1alpha = reflection().build_v1alpha()?;

    let service = ResourceExhaustedOverLimit(
        {{ contract.service.name }}Server::new(service)
            .max_decoding_message_size(GRPC_MAX_MESSAGE_BYTES)
            .max_encoding_message_size(GRPC_MAX_MESSAGE_BYTES),
    );

    let draining = async move {
        shutdown.cancelled().await;
        for service in ["", SERVICE_NAME] {
            health
                .set_service_status(service, ServingStatus::NotServing)
                .await;
        }
        info!("gRPC server draining");
    };

    info!(%addr, "gRPC server listening");
    Server::builder()
        .timeout(GRPC_REQUEST_TIMEOUT)
        .http2_keepalive_interval(Some(HTTP2_KEEPALIVE_INTERVAL))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(service)
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            draining,
        )
        .await?;
    info!("gRPC server stopped");
    Ok(())
}

/// Answers `RESOURCE_EXHAUSTED` to a request message over the size limit, as
/// the gRPC status code specification (and grpc-go, grpc-java, grpc-core)
/// do; tonic itself answers `OUT_OF_RANGE`.
#[derive(Debug, Clone)]
pub struct ResourceExhaustedOverLimit<S>(pub S);

impl<S: NamedService> NamedService for ResourceExhaustedOverLimit<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for ResourceExhaustedOverLimit<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let response = self.0.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            // A message tonic refused to decode is answered at once, with the
            // status in the response headers.
            if let Some(status) = Status::from_header_map(response.headers())
                && status.code() == Code::OutOfRange
                && status.message().contains("message length too large")
            {
                let exhausted = Status::resource_exhausted(status.message());
                if exhausted.add_header(response.headers_mut()).is_err() {
                    error!("cannot rewrite the status of an oversized message");
                }
            }
            Ok(response)
        })
    }
}
