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
    Request, Response, Status,
    transport::{Server, server::TcpIncoming},
};
use tonic_health::ServingStatus;
use tracing::{error, info};

use crate::{
    config::{GRPC_MAX_MESSAGE_BYTES, GRPC_REQUEST_TIMEOUT},
    error::HandlerError,
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
        let response = handlers::{{ contract.method.name }}(request).await?;
        Ok(Response::new(response))
    }
}

impl From<HandlerError> for Status {
    fn from(err: HandlerError) -> Self {
        match err {
            HandlerError::InvalidArgument(m) => Status::invalid_argument(m),
            HandlerError::NotFound(m) => Status::not_found(m),
            HandlerError::Unavailable(m) => Status::unavailable(m),
            HandlerError::Internal(detail) => {
                error!(%detail, "handler failed");
                Status::internal("internal error")
            }
        }
    }
}

/// The full name of the served service, as health checks and reflection know it.
pub const SERVICE_NAME: &str = "{{ names.grpc_service }}";

/// Serves gRPC on `listener` until `shutdown` is cancelled: health turns
/// `NOT_SERVING`, the listener closes, and in-flight calls finish (the caller
/// bounds that wait).
pub async fn serve(listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
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

    let service = {{ contract.service.name }}Server::new({{ contract.service.name }}Impl)
        .max_decoding_message_size(GRPC_MAX_MESSAGE_BYTES)
        .max_encoding_message_size(GRPC_MAX_MESSAGE_BYTES);

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
