{#- scaffold
owner: user
-#}
{%- set h = handler -%}
{%- set e = h.example -%}
{%- if h.kind == "event" -%}
//! Flow `{{ h.flows[0] }}`: what `{{ service.name }}` does with each event it consumes.
{%- else -%}
//! `{{ h.rpc }}`: serves {{ h.flows_text }}.
{%- endif %}
//!
//! Yours to edit: written once by `commsadvise scaffold`, never replaced. The generated
//! plumbing decodes and checks the input and calls [`handle`]; it never sees a transport.
{%- if h.kind == "event" %}
//! Delivery is at-least-once: the same event may come twice (after a crash or a
//! rebalance), so make this idempotent, e.g. keyed by `{{ h.key }}`.
{%- elif h.kind == "stream" %}
//! Send each item into the [`Sink`]; `send` waits while the client is behind and fails
//! once it has gone away, which ends the stream.
{%- endif %}
{%- if h.kind != "stream" %}
#![allow(clippy::unused_async)]
{%- endif %}
{%- if h.kind == "stream" %}

use std::time::Duration;
{%- endif %}
{% for u in h.uses %}
use {{ u }};
{%- endfor %}
{%- if h.kind == "stream" %}
use runtime::Sink;
{%- endif %}
{%- if h.kind == "event" %}
use tracing::info;
{%- endif %}

use crate::{error::HandlerError, state::State};
{%- if h.kind == "unary" %}

/// Answers one request. The example echoes the request's fields of the same name
/// and type{% if e.fields | filter(attribute="name", value="status") %}, with `status` "{{ "CREATED" }}"{% endif %}.
pub async fn handle(_state: &State, {% if e.reads_request %}request{% else %}_request{% endif %}: Request) -> Result<Response, HandlerError> {
{%- if not e.fields %}
    Ok(Response::default())
{%- elif e.one_line %}
    Ok(Response { {% for f in e.fields %}{{ f.name }}: {{ f.value }}{% if not loop.last %}, {% endif %}{% endfor %} })
{%- else %}
    Ok(Response {
{%- for f in e.fields %}
        {{ f.name }}: {{ f.value }},
{%- endfor %}
{%- if e.rest_default %}
        ..Default::default()
{%- endif %}
    })
{%- endif %}
}
{%- elif h.kind == "stream" %}

/// Streams items until the client goes away. The example sends one every 100 ms,
/// built from the request like a unary answer.
pub async fn handle(
    _state: &State,
    {% if e.reads_request %}request{% else %}_request{% endif %}: Request,
    sink: Sink<Item>,
) -> Result<(), HandlerError> {
    let mut every = tokio::time::interval(Duration::from_millis(100));
    loop {
        every.tick().await;
{%- if not e.fields %}
        let item = Item::default();
{%- elif e.one_line %}
        let item = Item { {% for f in e.fields %}{{ f.name }}: {{ f.value_cloned }}{% if not loop.last %}, {% endif %}{% endfor %} };
{%- else %}
        let item = Item {
{%- for f in e.fields %}
            {{ f.name }}: {{ f.value_cloned }},
{%- endfor %}
{%- if e.rest_default %}
            ..Default::default()
{%- endif %}
        };
{%- endif %}
        if sink.send(item).await.is_err() {
            // The client went away.
            return Ok(());
        }
    }
}
{%- else %}

/// Handles one event of flow `{{ h.flows[0] }}`. The example logs it.
pub async fn handle(_state: &State, event: Event) -> Result<(), HandlerError> {
    info!(flow = "{{ h.flows[0] }}", key = ?event.{{ h.key }}, "{{ service.name }} handled the event");
    Ok(())
}
{%- endif %}
