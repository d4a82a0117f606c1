{#- scaffold
when: service.calls_grpc
-#}
{%- set grpc_flows = service.called_flows | filter(attribute="transport", value="grpc") %}
{%- set streams = grpc_flows | filter(attribute="streaming", value=true) | length > 0 -%}
{%- set_global client_paths = [] -%}
{%- for target in service.grpc_targets %}{% for m in target.methods %}{% set_global client_paths = client_paths | concat(with=m.rpc.grpc_client) %}{% endfor %}{% endfor -%}
//! Typed clients of the gRPC services {{ service.name }} calls, one per service, with a
//! method per rpc called:
{%- for f in grpc_flows %}
//! flow `{{ f.flow }}` ({{ f.explain }}, {{ f.deadline_ms }} ms deadline){% if loop.last %}.{% else %};{% endif %}
{%- endfor %}
//!
//! Requests and answers are the contract's messages; channels, deadlines,
//! retries and the retry throttle are `runtime::grpc_client`'s.

use std::time::Duration;

{% for path in client_paths | unique | sort %}use {{ path }};
{% endfor -%}
use runtime::{
    client_policy::{CallPolicy, InvalidDeadline},
    grpc_client::{GrpcClient, GrpcError{% if streams %}, GrpcStream{% endif %}, MAX_MESSAGE_BYTES},
    retry::Backoff,
    tls::Tls,
};
{%- for f in grpc_flows %}

/// Policy of flow `{{ f.flow }}`: {% if f.latency_ms %}its {{ f.deadline_ms }} ms latency budget{% else %}a {{ f.deadline_ms }} ms default deadline{% endif %} per attempt{% if f.streaming %} (to open the stream){% endif %}.
pub const {{ f.flow_shouty }}_POLICY: CallPolicy = CallPolicy {
    flow: "{{ f.flow }}",
    deadline_var: "{{ f.deadline_env }}",
    deadline: {{ f.deadline_rust }},
    max_attempts: 3,
    backoff: Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
    },
    keyed: {{ f.keyed }},
};
{%- endfor %}
{%- for target in service.grpc_targets %}
{% include "_partials/client_policies.rs" %}
/// Client of the {{ target.name }} gRPC server. Cheap to clone; clones share one
/// HTTP/2 connection and one retry throttle.
#[derive(Debug, Clone)]
pub struct {{ target.client }} {
    grpc: GrpcClient,
    policies: {{ target.policies }},
}

impl {{ target.client }} {
    /// A client of the server at `url` (`http://host:port`, or `https://`
    /// with `tls`). It connects on the first call, and reconnects by itself
    /// after failures.
{%- set line = "    pub fn connect_lazy(url: &str, policies: " ~ target.policies ~ ", tls: &Tls) -> Result<Self, GrpcError> {" %}
{%- if line | length <= 100 %}
{{ line }}
{%- else %}
    pub fn connect_lazy(
        url: &str,
        policies: {{ target.policies }},
        tls: &Tls,
    ) -> Result<Self, GrpcError> {
{%- endif %}
        Ok(Self {
            grpc: GrpcClient::connect_lazy(url, tls)?,
            policies,
        })
    }

    /// The retry throttle's tokens left, in thousandths.
    pub fn retry_tokens_milli(&self) -> u32 {
        self.grpc.retry_tokens_milli()
    }
{%- include "_partials/sample_requests.rs" %}
{%- for m in target.methods %}

    /// `{{ m.rpc.full_name }}` (flow `{{ m.flow }}`).
    pub async fn {{ m.rpc.method }}(
        &self,
        request: &{{ m.rpc.request }},
{%- if m.rpc.streaming %}
    ) -> Result<GrpcStream<{{ m.rpc.response }}>, GrpcError> {
        let policy = &self.policies.{{ m.rpc.method }};
        self.grpc
            .server_stream(policy, request, |channel, request| async move {
{%- else %}
    ) -> Result<{{ m.rpc.response }}, GrpcError> {
        let policy = &self.policies.{{ m.rpc.method }};
        self.grpc
            .unary(policy, request, |channel, request| async move {
{%- endif %}
                {{ m.rpc.service.trait_name }}Client::new(channel)
                    .max_decoding_message_size(MAX_MESSAGE_BYTES)
                    .max_encoding_message_size(MAX_MESSAGE_BYTES)
                    .{{ m.rpc.method }}(request)
                    .await
            })
            .await
    }
{%- endfor %}
}
{%- endfor %}
