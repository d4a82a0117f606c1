//! What every service of the `{{ system }}` system shares and no flow changes,
//! written once: a fix lands here for all of them, and each service keeps
//! only its own flows' code.
//!
{%- if uses.rest_client or uses.grpc_client %}
//! - [`client_policy`]: a flow's call policy (deadline, retries, retry throttle);
{%- endif %}
{%- if uses.grpc_client %}
//! - [`grpc_client`]: gRPC channels, deadlines and retries of `UNAVAILABLE`;
{%- endif %}
{%- if uses.rest_client %}
//! - [`http_client`]: REST calls on an rpc's HTTP route, and Server-Sent
//!   Events streams;
{%- endif %}
//! - [`retry`]: jittered exponential backoff and the retry throttle.
{% if uses.rest_client or uses.grpc_client %}
pub mod client_policy;
{%- endif %}
{%- if uses.grpc_client %}
pub mod grpc_client;
{%- endif %}
{%- if uses.rest_client %}
pub mod http_client;
{%- endif %}
pub mod retry;
