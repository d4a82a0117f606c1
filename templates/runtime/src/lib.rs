//! What every service of the `{{ system }}` system does the same way, written once:
//! a fix here lands in every service. Each service keeps only its own flows.
//!
//! - [`HandlerError`]: what a handler returns, mapped to an HTTP status
//!   (feature `rest`), a gRPC code (feature `grpc`) or a consumer's retry
//!   decision;
{%- if uses.rest or uses.grpc_server %}
//! - [`auth`]: the team's authentication hook, as a tower layer (REST) and a
//!   tonic interceptor (gRPC);
//! - [`budget`]: the server's time budget of each served rpc;
{%- endif %}
//! - [`shutdown`]: SIGTERM / Ctrl-C and the bounded drain of running tasks;
//! - [`stream`]: the [`Sink`] a streaming handler sends its items into;
//! - [`health`]: `/livez` and `/readyz`, the readiness checks of the
//!   service's dependencies (feature `health`);
{%- if uses.rest %}
//! - [`guard`]: the one service in front of a REST server's router: route
//!   labels, metrics, spans, body limit, authentication, CORS, JSON errors
//!   (feature `rest`);
//! - [`rest`]: a REST request read into its protobuf message (feature `rest`);
{%- endif %}
{%- if uses.rest_client or uses.grpc_client %}
//! - [`client_policy`]: a called flow's deadline and retries, and the retry
//!   throttle shared by the calls to one service;
{%- endif %}
{%- if uses.grpc_client %}
//! - [`grpc_client`]: gRPC channels, deadlines and retries of `UNAVAILABLE`
//!   (feature `grpc-client`);
{%- endif %}
{%- if uses.rest_client %}
//! - [`http_client`]: calls on an rpc's HTTP route in proto3 JSON, and
//!   Server-Sent Events streams (feature `http-client`);
{%- endif %}
{%- if uses.kafka %}
//! - [`kafka`]: the Kafka producer, the consumer with retries and dead
//!   letters, topic creation (feature `kafka`);
{%- endif %}
{%- if uses.store %}
//! - [`store`]: the service's database, `SQLite` or `PostgreSQL` (feature
//!   `store`);
{%- endif %}
{%- if uses.idempotency %}
//! - [`idempotency`]: idempotency keys on REST routes and gRPC methods, a
//!   retried request answered from the database (feature `idempotency`);
{%- endif %}
{%- if uses.outbox %}
//! - [`outbox`]: the transactional outbox and its relay to Kafka, and the
//!   ids of handled events that drop the copies (feature `outbox`);
{%- endif %}
//! - [`retry`]: jittered exponential backoff and the retry throttle;
{%- if uses.tls or uses.kafka %}
//! - [`setting`]: a setting from the environment that cannot be used;
{%- endif %}
//! - [`telemetry`]: the service's metrics, served to Prometheus at
//!   `/metrics`, and its logs, text or JSON lines (feature `telemetry`);
//! - [`trace`]: spans exported over OTLP and the W3C trace context carried
//!   on every call and event, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set{% if uses.tls %};{% else %}.{% endif %}
{%- if uses.tls %}
//! - [`tls`]: TLS of the servers and of `https://` calls, mutual when
//!   `TLS_CLIENT_CA` is set (rustls).
{%- endif %}
//!
//! Nothing here depends on a flow.
{% if uses.rest or uses.grpc_server %}
#[cfg(any(feature = "rest", feature = "grpc"))]
pub mod auth;
#[cfg(any(feature = "rest", feature = "grpc"))]
pub mod budget;
{%- endif %}
{%- if uses.rest_client or uses.grpc_client %}
pub mod client_policy;
{%- endif %}
pub mod error;
{%- if uses.grpc_client %}
#[cfg(feature = "grpc-client")]
pub mod grpc_client;
{%- endif %}
{%- if uses.rest %}
#[cfg(feature = "rest")]
pub mod guard;
{%- endif %}
#[cfg(feature = "health")]
pub mod health;
{%- if uses.rest_client %}
#[cfg(feature = "http-client")]
pub mod http_client;
{%- endif %}
{%- if uses.idempotency %}
#[cfg(feature = "idempotency")]
pub mod idempotency;
{%- endif %}
{%- if uses.kafka %}
#[cfg(feature = "kafka")]
pub mod kafka;
{%- endif %}
{%- if uses.outbox %}
#[cfg(feature = "outbox")]
pub mod outbox;
{%- endif %}
{%- if uses.rest %}
#[cfg(feature = "rest")]
pub mod rest;
{%- endif %}
pub mod retry;
{%- if uses.tls or uses.kafka %}
pub mod setting;
{%- endif %}
pub mod shutdown;
{%- if uses.store %}
#[cfg(feature = "store")]
pub mod store;
{%- endif %}
pub mod stream;
pub mod telemetry;
{%- if uses.tls %}
pub mod tls;
{%- endif %}
pub mod trace;

pub use error::HandlerError;
pub use stream::Sink;
