{#- scaffold
when: service.serves_grpc
-#}
{%- import "_partials/format.rs" as format -%}
//! gRPC server of the `{{ service.name }}` service:
{%- for g in service.api.grpc_services %} `{{ g.full_name }}`{% if not loop.last %},{% endif %}{% endfor %}
//! (
{%- for f in service.grpc_flows %}flow `{{ f.flow }}`, called by {{ f.from }}{% if not loop.last %}; {% endif %}{% endfor -%}
), plus the standard
//! health service (`grpc.health.v1.Health`: `SERVING` while `/readyz` is 200, so
//! `NOT_SERVING` while a dependency it needs does not answer and while draining) and server
//! reflection (so `grpcurl` works without the .proto files), with each method's
//! time budget ([`crate::config::Timeouts`]), message size limits and graceful
//! shutdown.
//!
//! Each rpc a flow binds to calls its handler; the others answer `UNIMPLEMENTED`.
//! A server-streaming rpc runs its handler on its own task, sending into a bounded
//! channel: the client's pace holds it back, and its going away ends it.

use std::sync::Arc;
{% for u in service.api.grpc_uses %}
use {{ u }};
{%- endfor %}
{%- if service.keys.grpc %}
use runtime::{
    auth::Authenticate,
    budget::{Budgets, GrpcBudgetLayer},
    error::ResourceExhaustedOverLimit,
    health::Health,
    idempotency::{IdempotencyLayer, Idempotent},
    store::Store,
    telemetry::GrpcMetricsLayer,
    tls::{ServerSocket, kept_alive},
};
{%- else %}
use runtime::{
    auth::Authenticate,
    budget::{Budgets, GrpcBudgetLayer},
    error::ResourceExhaustedOverLimit,
    health::Health,
    telemetry::GrpcMetricsLayer,
    tls::{ServerSocket, kept_alive},
};
{%- endif %}
use tokio_util::sync::CancellationToken;
{%- if service.api.grpc_services | filter(attribute="streams", value=true) | length > 0 %}
use tonic::{
    Request, Response, Status,
    codegen::BoxStream,
    service::{Routes, interceptor::InterceptedService},
    transport::{Server, server::TcpIncoming},
};
{%- else %}
use tonic::{
    Request, Response, Status,
    service::{Routes, interceptor::InterceptedService},
    transport::{Server, server::TcpIncoming},
};
{%- endif %}
use tonic_health::ServingStatus;
use tracing::info;

use crate::{
    config::{GRPC_MAX_MESSAGE_BYTES, Timeouts},
    handlers,
    state::State,
};

{%- for g in service.api.grpc_services %}
{%- if g.keyed_methods %}

/// The methods of `{{ g.full_name }}` that take an `idempotency-key`, each
/// with its flow.
{%- if g.keyed_methods | length == 1 %}
const {{ g.trait_name | snake | upper }}_KEYED: &[(&str, &str)] = &[(
    "{{ g.keyed_methods.0.0 }}",
    "{{ g.keyed_methods.0.1 }}",
)];
{%- else %}
const {{ g.trait_name | snake | upper }}_KEYED: &[(&str, &str)] = &[
{%- for m in g.keyed_methods %}
    ("{{ m.0 }}", "{{ m.1 }}"),
{%- endfor %}
];
{%- endif %}
{%- endif %}
{%- endfor %}

/// The full names of the served services, as health checks and reflection know them.
{%- set names = service.api.grpc_services | map(attribute="full_name") %}
{%- if service.api.grpc_names_one_line %}
pub const SERVICE_NAMES: &[&str] = &[{% for n in names %}"{{ n }}"{% if not loop.last %}, {% endif %}{% endfor %}];
{%- else %}
pub const SERVICE_NAMES: &[&str] = &[
{%- for n in names %}
    "{{ n }}",
{%- endfor %}
];
{%- endif %}

/// The path of every method of the served services, the call metrics'
/// labels (`runtime::telemetry::GrpcMetricsLayer`: any other path is
/// `unknown`).
{%- set paths = [] %}
{%- for g in service.api.grpc_services %}{% for m in g.methods %}{% set_global paths = paths | concat(with="/" ~ g.full_name ~ "/" ~ m.proto_name) %}{% endfor %}{% endfor %}
{%- set joined = paths | join(sep='", "') %}
{%- set one = 'pub const METHOD_PATHS: &[&str] = &["' ~ joined ~ '"];' %}
{%- if one | length <= 100 and joined | length + 4 <= 60 %}
{{ one }}
{%- else %}
pub const METHOD_PATHS: &[&str] = &[
{%- for p in paths %}
    "{{ p }}",
{%- endfor %}
];
{%- endif %}
{%- for g in service.api.grpc_services %}

/// `{{ g.full_name }}`, backed by [`handlers`].
#[derive(Debug, Clone)]
pub struct {{ g.impl_name }} {
    state: Arc<State>,
{%- if g.streams %}
    shutdown: CancellationToken,
{%- endif %}
}

impl {{ g.impl_name }} {
{%- if g.streams %}
    /// Serves with `state`; open streams end when `shutdown` is cancelled.
    pub fn new(state: Arc<State>, shutdown: CancellationToken) -> Self {
        {{ g.impl_name }} { state, shutdown }
    }
{%- else %}
    /// Serves with `state` (no stream to end on `shutdown`).
    pub fn new(state: Arc<State>, _shutdown: CancellationToken) -> Self {
        {{ g.impl_name }} { state }
    }
{%- endif %}
}

#[tonic::async_trait]
impl {{ g.trait_name }} for {{ g.impl_name }} {
{%- for m in g.methods | filter(attribute="handler") %}
{%- if m.server_streaming %}{% set response = "BoxStream<" ~ m.response ~ ">" %}{% else %}{% set response = m.response %}{% endif %}
{%- if not loop.first %}
{% endif %}
{%- if m.one_line %}
    async fn {{ m.name }}(&self, request: Request<{{ m.request }}>) -> Result<Response<{{ response }}>, Status> {
{%- else %}
    async fn {{ m.name }}(
        &self,
        request: Request<{{ m.request }}>,
    ) -> Result<Response<{{ response }}>, Status> {
{%- endif %}
        let request = request.into_inner();
{%- if m.server_streaming %}
        let state = Arc::clone(&self.state);
        let items = runtime::stream::spawn(move |sink| async move {
            handlers::{{ m.handler }}::handle(&state, request, sink).await
        });
        let items = runtime::stream::grpc(items, self.shutdown.clone());
        Ok(Response::new(items))
{%- else %}
        crate::config::debug_handler_pause().await;
        let response = handlers::{{ m.handler }}::handle(&self.state, request).await?;
        Ok(Response::new(response))
{%- endif %}
    }
{%- endfor %}
}
{%- endfor %}

{% if service.keys.grpc -%}
/// Every served service behind `authenticate` (`UNAUTHENTICATED` when it
/// refuses) and the size limits, backed by `state`; `store` keeps the
/// idempotency records of the methods that take an `idempotency-key`
/// (`runtime::idempotency`).
pub fn services(
    state: &Arc<State>,
    store: &Store,
    shutdown: &CancellationToken,
    authenticate: Authenticate,
) -> Routes {
{%- else -%}
/// Every served service behind `authenticate` (`UNAUTHENTICATED` when it
/// refuses) and the size limits, backed by `state`.
pub fn services(
    state: &Arc<State>,
    shutdown: &CancellationToken,
    authenticate: Authenticate,
) -> Routes {
{%- endif %}
    let auth = runtime::auth::interceptor(authenticate);
    let mut routes = Routes::builder();
{%- for g in service.api.grpc_services %}
    let {{ g.trait_name | snake }} = {{ g.impl_name }}::new(Arc::clone(state), shutdown.clone());
    let {{ g.trait_name | snake }} = {{ g.server }}::new({{ g.trait_name | snake }})
        .max_decoding_message_size(GRPC_MAX_MESSAGE_BYTES)
        .max_encoding_message_size(GRPC_MAX_MESSAGE_BYTES);
{%- if g.keyed_methods %}
    let {{ g.trait_name | snake }} = ResourceExhaustedOverLimit({{ g.trait_name | snake }});
    let keyed = IdempotencyLayer::grpc(store, {{ g.trait_name | snake | upper }}_KEYED);
    let keyed = keyed.max_message(GRPC_MAX_MESSAGE_BYTES);
    let {{ g.trait_name | snake }} = Idempotent::new({{ g.trait_name | snake }}, keyed);
{%- else %}
{%- set n = g.trait_name | snake %}
{{ format::let(indent="    ", head="let " ~ n ~ " =", value="ResourceExhaustedOverLimit(" ~ n ~ ");") }}
{%- endif %}
{%- set n = g.trait_name | snake %}
    // Outermost: a refused call touches nothing else.
{{ format::let(indent="    ", head="let " ~ n ~ " =", value="InterceptedService::new(" ~ n ~ ", auth.clone());") }}
    routes.add_service({{ g.trait_name | snake }});
{%- endfor %}
    routes.routes()
}

/// Serves gRPC on `listener` until `health`'s shutdown: gRPC health turns
/// `NOT_SERVING`, the listener closes, and in-flight calls finish (the caller
/// bounds that wait). Until then, gRPC health follows `health`'s readiness,
/// and `authenticate` checks each call's metadata.
pub async fn serve(
    socket: ServerSocket,
    state: Arc<State>,
    timeouts: Timeouts,
{%- if service.keys.grpc %}
    store: Store,
{%- endif %}
    health: Health,
    authenticate: Authenticate,
) -> anyhow::Result<()> {
    let routes = services(&state, {% if service.keys.grpc %}&store, {% endif %}health.shutdown(), authenticate);
    let budgets = budgets(timeouts);
    serve_routes(socket, health, routes, SERVICE_NAMES, budgets).await
}
{%- set budgeted = [] %}
{%- for g in service.api.grpc_services %}
{%- for m in g.methods | filter(attribute="handler") %}
{%- if not m.server_streaming %}
{%- set h = service.api.handlers | filter(attribute="module", value=m.handler) | first %}
{%- set_global budgeted = budgeted | concat(with='"/' ~ g.full_name ~ "/" ~ m.proto_name ~ '"|timeouts.' ~ h.module) %}
{%- endif %}
{%- endfor %}
{%- endfor %}

/// The budget of each method serving a unary rpc, by its path (server streams
/// have none).
{%- if not budgeted %}
pub fn budgets(_timeouts: Timeouts) -> Budgets {
    Budgets::default()
}
{%- else %}
pub fn budgets(timeouts: Timeouts) -> Budgets {
    let mut budgets = Budgets::default();
{%- for pair in budgeted %}
{{ format::args(indent="    ", head="budgets.grpc", args=pair | split(pat="|"), tail=";") }}
{%- endfor %}
    budgets
}
{%- endif %}

/// [`serve`] with other services (`names`, as health checks and reflection
/// know them) within `budgets`, behind the same health and reflection: tests
/// use it to observe what the server does to a handler.
pub async fn serve_routes(
    socket: impl Into<ServerSocket>,
    health: Health,
    routes: Routes,
    names: &'static [&'static str],
    budgets: Budgets,
) -> anyhow::Result<()> {
    let ServerSocket { listener, tls } = socket.into();
    let addr = listener.local_addr()?;
    let (reporter, health_service) = tonic_health::server::health_reporter();
    // The whole server ("") and each service are as ready as `/readyz` says:
    // set before the server accepts, then changed by one task only.
    let set_all = move |reporter: tonic_health::server::HealthReporter, status| async move {
        for name in std::iter::once(&"").chain(names) {
            reporter.set_service_status(*name, status).await;
        }
    };
    let serving = |ready: bool| {
        if ready {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        }
    };
    let mut last = serving(health.readiness().is_ready());
    set_all(reporter.clone(), last).await;

    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(contract::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    // Older grpcurl and grpcui releases only speak v1alpha.
    let reflection_v1alpha = reflection().build_v1alpha()?;

    // Spawned once nothing can fail before the server runs.
    let mut changes = health.changes();
    let stop = health.shutdown().clone();
    let following = reporter.clone();
    let follower = tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                next = changes.changed() => if next.is_err() { break },
            }
            let now = serving(changes.borrow_and_update().is_ready());
            if now != last {
                set_all(following.clone(), now).await;
                last = now;
            }
        }
        last
    });

    let shutdown = health.shutdown().clone();
    let draining = async move {
        shutdown.cancelled().await;
        // The follower stops at the cancel: this is the last word, said
        // unless it is what watchers last heard.
        let last = follower.await.unwrap_or(ServingStatus::Serving);
        if last != ServingStatus::NotServing {
            set_all(reporter, ServingStatus::NotServing).await;
        }
        info!("gRPC server draining");
    };

    let server = Server::builder()
        .layer(GrpcMetricsLayer::new(METHOD_PATHS))
        .layer(GrpcBudgetLayer(budgets))
        .add_routes(routes)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    match tls {
        None => {
            info!(%addr, "gRPC server listening");
            let incoming = kept_alive(TcpIncoming::from(listener).with_nodelay(Some(true)));
            let serving = server.serve_with_incoming_shutdown(incoming, draining);
            serving.await?;
        }
        Some(tls) => {
            info!(%addr, "gRPC server listening over TLS");
            let incoming = tls.listen(listener)?;
            let serving = server.serve_with_incoming_shutdown(incoming, draining);
            serving.await?;
        }
    }
    info!("gRPC server stopped");
    Ok(())
}
