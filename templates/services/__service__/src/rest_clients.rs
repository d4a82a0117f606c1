{#- scaffold
when: service.calls_rest
-#}
//! Typed clients of the REST APIs {{ service.name }} calls, one per service, with a
//! method per rpc called:
{%- for f in service.called_flows | filter(attribute="transport", value="rest") %}
//! flow `{{ f.flow }}` ({{ f.explain }}, {{ f.deadline_ms }} ms deadline){% if loop.last %}.{% else %};{% endif %}
{%- endfor %}
//!
//! Requests and answers are the contract's messages in the proto3 JSON
//! mapping; putting them on their routes, deadlines, retries and the retry
//! throttle are `runtime::http_client`'s.

use std::time::Duration;

use runtime::{
    client_policy::{CallPolicy, InvalidDeadline},
    http_client::{self, HttpClient, HttpError, Route{% if service.called_flows | filter(attribute="transport", value="rest") | filter(attribute="streaming", value=true) | length > 0 %}, SseStream{% endif %}},
    retry::Backoff,
    tls::Tls,
};
{%- for f in service.called_flows | filter(attribute="transport", value="rest") %}

/// Policy of flow `{{ f.flow }}`: {% if f.latency_ms %}its {{ f.deadline_ms }} ms latency budget{% else %}a {{ f.deadline_ms }} ms default deadline{% endif %} per attempt.
pub const {{ f.flow_shouty }}_POLICY: CallPolicy = CallPolicy {
    flow: "{{ f.flow }}",
    deadline_var: "{{ f.deadline_env }}",
    deadline: {{ f.deadline_rust }},
    max_attempts: 3,
    backoff: Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(1),
    },
    keyed: {{ f.keyed }},
};
{%- endfor %}
{%- for target in service.rest_targets %}
{% include "_partials/client_policies.rs" %}
/// Client of the {{ target.name }} REST API. Cheap to clone; clones share one
/// connection pool and one retry throttle.
#[derive(Debug, Clone)]
pub struct {{ target.client }} {
    http: HttpClient,
    policies: {{ target.policies }},
}

impl {{ target.client }} {
{%- for m in target.methods %}
    /// The route of `{{ m.rpc.full_name }}`.
    pub const {{ m.rpc.route_const }}: Route = Route {
        method: "{{ m.rpc.route.method }}",
        path: "{{ m.rpc.route.path }}",
{%- if m.rpc.route.vars | length == 1 %}
{%- set v = m.rpc.route.vars[0] %}
        vars: &[http_client::PathVar {
            field: "{{ v.field }}",
            json: "{{ v.json }}",
            default: "{{ v.default }}",
        }],
{%- elif m.rpc.route.vars %}
        vars: &[
{%- for v in m.rpc.route.vars %}
            http_client::PathVar {
                field: "{{ v.field }}",
                json: "{{ v.json }}",
                default: "{{ v.default }}",
            },
{%- endfor %}
        ],
{%- else %}
        vars: &[],
{%- endif %}
        body: http_client::{{ m.rpc.route.body }},
    };
{% endfor %}
    /// A client of the API at `base_url` (`http://host:port`, or `https://`
    /// with `tls`).
{%- set line = "    pub fn new(base_url: &str, policies: " ~ target.policies ~ ", tls: &Tls) -> Result<Self, HttpError> {" %}
{%- if line | length <= 100 %}
{{ line }}
{%- else %}
    pub fn new(
        base_url: &str,
        policies: {{ target.policies }},
        tls: &Tls,
    ) -> Result<Self, HttpError> {
{%- endif %}
        Ok(Self {
            http: HttpClient::new(base_url, tls)?,
            policies,
        })
    }

    /// The retry throttle's tokens left, in thousandths.
    pub fn retry_tokens_milli(&self) -> u32 {
        self.http.retry_tokens_milli()
    }
{%- include "_partials/sample_requests.rs" %}
{%- for m in target.methods %}

    /// `{{ m.rpc.full_name }}`: `{{ m.rpc.route.method }} {{ m.rpc.route.path }}` (flow `{{ m.flow }}`).
{%- if m.rpc.streaming %}
    pub async fn {{ m.rpc.method }}(
        &self,
        request: &{{ m.rpc.request }},
    ) -> Result<SseStream<{{ m.rpc.response }}>, HttpError> {
        let policy = &self.policies.{{ m.rpc.method }};
        let route = &Self::{{ m.rpc.route_const }};
        self.http.stream(policy, route, request).await
    }
{%- else %}
    pub async fn {{ m.rpc.method }}(
        &self,
        request: &{{ m.rpc.request }},
    ) -> Result<{{ m.rpc.response }}, HttpError> {
        let policy = &self.policies.{{ m.rpc.method }};
        let route = &Self::{{ m.rpc.route_const }};
        self.http.unary(policy, route, request).await
    }
{%- endif %}
{%- endfor %}
}
{%- endfor %}
