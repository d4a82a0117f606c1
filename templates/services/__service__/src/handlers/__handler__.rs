{#- scaffold
owner: user
-#}
{%- set h = handler -%}
{%- set e = h.example -%}
{%- set announce = h.kind == "unary" and service.produces | length > 0 -%}
{%- if announce %}{% set event = service.produces | first %}{% endif -%}
{%- set call = h.call -%}
{%- set background = announce and not h.outbox -%}
{%- set reads = e.reads_request or announce and h.id_field or call -%}
{%- set relays = h.kind == "event" and service.kafka.consume_produce -%}
{%- if relays %}{% set relayed = service.produces | filter(attribute="exactly_once", value=true) | first %}{% endif -%}
{%- if h.kind == "event" -%}
//! Flow `{{ h.flows[0] }}`: what `{{ service.name }}` does with each event it consumes.
{%- else -%}
//! `{{ h.rpc }}`: serves {{ h.flows_text }}.
{%- endif %}
//!
//! Yours to edit: written once by `commsadvise scaffold`, never replaced. The generated
//! plumbing decodes and checks the input and calls [`handle`]; it never sees a transport.
{%- if relays %}
//! Each event is handled in a transaction of the service's publisher: the
//! exactly-once events published here (`{{ relayed.flow }}`) commit with the
//! consumed event's offset, or neither does, so a crash or an error never
//! leaves them published for an event handled again. Other side effects
//! (a database, a call) are at-least-once: make them idempotent, e.g. keyed
//! by `{{ h.key }}`.
{%- elif h.kind == "event" %}
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
{%- elif background %}
use tracing::Instrument as _;
{%- endif %}

use crate::{error::HandlerError, state::State};
{%- if h.kind == "unary" %}

/// Answers one request. The example echoes the request's fields of the same name
/// and type{% if e.fields | filter(attribute="name", value="status") %}, with `status` "{{ "CREATED" }}"{% endif %}.
{%- if announce and h.outbox %}
/// It also announces flow `{{ event.flow }}` through the transactional outbox, with a sample
/// event keyed by {% if h.id_field %}the request's `{{ h.id_field }}`{% else %}a fixed id{% endif %}: replace it with the real one.
{%- elif announce %}
/// It also announces flow `{{ event.flow }}` through the injected publisher, with a sample
/// event keyed by {% if h.id_field %}the request's `{{ h.id_field }}`{% else %}a fixed id{% endif %}: replace it with the real one.
{%- endif %}
{%- if call %}
/// First it calls flow `{{ call.flow }}` on {{ call.target }} with the request's `{{ h.id_field }}`.
{%- endif %}
pub async fn handle({% if announce or call %}state{% else %}_state{% endif %}: &State, {% if reads %}request{% else %}_request{% endif %}: Request) -> Result<Response, HandlerError> {
{%- if call %}
    // The example goes on whatever the answer, so that the service also runs
    // alone; yours decides what a refusal means.
    let sample = crate::{{ call.clients }}::{{ call.client }}::{{ call.sample }};
    let asked = sample(&request.{{ h.id_field }});
    match state.out.{{ call.out_field }}.{{ call.method }}(&asked).await {
        Ok(answer) => {
            tracing::debug!(flow = "{{ call.flow }}", ?answer, "answered");
        }
        Err(err) => {
            tracing::warn!(flow = "{{ call.flow }}", %err, "failed; the example goes on");
        }
    }
{%- endif %}
{%- if announce and h.outbox %}
    let event = contract::events::{{ event.flow_ident }}::sample({% if h.id_field %}&request.{{ h.id_field }}{% else %}"{{ event.event.sample_key }}"{% endif %});
    // The state change and its announcement commit together, or neither
    // does; the outbox's relay publishes the event once committed.
    let mut tx = state.out.outbox.begin().await?;
    // Your state change goes here, on the same transaction:
    // sqlx::query("INSERT INTO …").bind(…).execute(&mut *tx).await?;
    let wire = &contract::events::{{ event.flow_ident }}::WIRE;
    state.out.outbox.add(&mut tx, wire, &event).await?;
    state.out.outbox.commit(tx).await?;
{%- elif announce %}
    let event = contract::events::{{ event.flow_ident }}::sample({% if h.id_field %}&request.{{ h.id_field }}{% else %}"{{ event.event.sample_key }}"{% endif %});
    // Sent in the background, so the answer does not wait for the broker. A
    // crash before the broker has it loses it: a transactional outbox makes
    // the announcement as durable as the state change.
    let publisher = state.out.{{ event.flow_ident }}.clone();
    let publish = async move {
        if let Err(err) = publisher.publish(&event).await {
            tracing::warn!(flow = "{{ event.flow }}", %err, "the event was not published");
        }
    };
    // In the request's trace, without keeping its span open until the broker
    // answers.
    let span = runtime::trace::detached("{{ event.flow }}");
    tokio::spawn(publish.instrument(span));
{%- endif %}
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
{%- elif relays %}

/// Handles one event of flow `{{ h.flows[0] }}`. The example logs it and announces
/// flow `{{ relayed.flow }}` with a sample event of the same key: replace it with the
/// real one. An error aborts the transaction: the event is handled again (a few
/// times, then dead-lettered), with none of what was published seen.
pub async fn handle(state: &State, event: Event) -> Result<(), HandlerError> {
    info!(flow = "{{ h.flows[0] }}", key = ?event.{{ h.key }}, "{{ service.name }} handled the event");
    let key = (contract::events::{{ h.module }}::WIRE.key)(&event);
    let announced = contract::events::{{ relayed.flow_ident }}::sample(&key);
    state.out.{{ relayed.flow_ident }}.publish(&announced).await?;
    Ok(())
}
{%- else %}

/// Handles one event of flow `{{ h.flows[0] }}`. The example logs it.
pub async fn handle(_state: &State, event: Event) -> Result<(), HandlerError> {
    info!(flow = "{{ h.flows[0] }}", key = ?event.{{ h.key }}, "{{ service.name }} handled the event");
    Ok(())
}
{%- endif %}
