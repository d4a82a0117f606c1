{#- scaffold
when: service.runs
owner: user
-#}
{%- set serves = service.serves_rest or service.serves_grpc -%}
{%- set handles = serves or service.consumes -%}
//! The business logic of the `{{ service.name }}` service: the only file meant to be
{%- if serves %}
//! edited. The generated plumbing ({% if service.serves_rest %}REST{% endif %}{% if service.serves_rest and service.serves_grpc %}, {% endif %}{% if service.serves_grpc %}gRPC{% endif %}{% if service.produces or service.consumes %}, Kafka{% endif %}) validates input and calls
//! these functions; they never see a transport.
{%- else %}
//! edited. The generated consumer decodes each record, calls these functions,
//! retries the retryable errors and dead-letters the rest.
{%- endif %}
{%- if handles %}
//!
//! Handlers are `async` so they can await a database or another service.
{%- endif %}
{%- if service.consumes %}
//! Delivery is at-least-once: a handler may see the same event twice (after a
//! crash or a rebalance), so make it idempotent, e.g. keyed by {{ names.id_words }}.
{%- endif %}
{%- if handles %}
#![allow(clippy::unused_async)]
{%- endif %}
{%- set events = [] -%}
{%- for t in service.consumes %}{% set_global events = events | concat(with=t.flow_ident) %}{% endfor -%}
{%- set events = events | unique | sort %}
{% if serves and events | length == 1 %}
use contract::{
    events::{{ events[0] }},
    {{ contract.package }}::{ {{- [contract.request.name, contract.response.name] | unique | sort | join(sep=", ") -}} },
};
{%- elif serves and events %}
use contract::{
    events::{ {{- events | join(sep=", ") -}} },
    {{ contract.package }}::{ {{- [contract.request.name, contract.response.name] | unique | sort | join(sep=", ") -}} },
};
{%- elif serves %}
use contract::{{ contract.package }}::{ {{- [contract.request.name, contract.response.name] | unique | sort | join(sep=", ") -}} };
{%- elif events | length == 1 %}
use contract::events::{{ events[0] }};
{%- elif events %}
use contract::events::{ {{- events | join(sep=", ") -}} };
{%- endif %}
{%- if service.consumes %}
use tracing::debug;
{%- endif %}
{%- if handles %}

use crate::error::HandlerError;
{%- endif %}
{%- if serves %}

/// `{{ contract.service.proto_name }}/{{ contract.method.proto_name }}`: serves
{%- for f in service.rest_flows %} flow `{{ f.flow }}` (REST `GET /{{ contract.resource }}/{id}`){% if not loop.last or service.grpc_flows %} and{% endif %}{% endfor %}
{%- for f in service.grpc_flows %} flow `{{ f.flow }}` (gRPC){% if not loop.last %} and{% endif %}{% endfor %}.
/// `request.{{ contract.id_field.name }}` is already validated.
pub async fn {{ contract.method.name }}(request: {{ contract.request.name }}) -> Result<{{ contract.response.name }}, HandlerError> {
    Ok({{ contract.response.name }} {
        {{ contract.id_field.name }}: request.{{ contract.id_field.name }},
{%- if contract.status_field %}
        {{ contract.status_field.name }}: "{{ names.sample_status }}".to_owned(),
{%- endif %}
{%- if names.response_has_more %}
        ..Default::default()
{%- endif %}
    })
}
{%- endif %}
{%- for t in service.consumes %}

/// Flow `{{ t.flow }}`: {{ t.from }} to {{ t.to_text }}, from topic `{{ t.topic }}`.
pub async fn handle_{{ t.flow_ident }}(event: {{ t.flow_ident }}::Event) -> Result<(), HandlerError> {
    debug!(
        key = %{{ t.flow_ident }}::key(&event),
        flow = "{{ t.flow }}",
        "{{ service.name }} handled the event"
    );
    Ok(())
}
{%- endfor %}
