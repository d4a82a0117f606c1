{%- import "_partials/format.rs" as format -%}
{%- set called = service.called_flows | length > 0 -%}
//! What `{{ service.name }}` sends to other services, built once from the configuration:
{%- if called %}
//! a typed client per flow it calls, with the flow's deadline and retries{% if service.produces %};{% else %}.{% endif %}
{%- endif %}
{%- if service.produces %}
//! a typed publisher per event flow it produces.
{%- endif %}
{%- if service.store %}
//! and its database (`DATABASE_URL`){% if service.outbox %} with the transactional outbox{% endif %}.
{%- endif %}
{%- if not called and not service.produces and not service.store %}
//! nothing yet, as it neither calls another service nor produces an event.
{%- endif %}
//!
//! [`crate::state::State`] holds one as `state.out`, so every handler and
//! task reaches them; the `call` and `publish` commands use the same ones.
//! Generated, and replaced when the flows change: the team-owned `state.rs`
//! only holds it, so adding or removing a flow changes this type, not that
//! file.
{%- set items = ["config::Config"] %}
{%- if service.calls_grpc %}{% set_global items = items | concat(with="grpc_clients") %}{% endif %}
{%- if service.outbox %}{% set_global items = items | concat(with="kafka::{FlowPublisher, Outbox, Publisher}") %}
{%- elif service.produces %}{% set_global items = items | concat(with="kafka::{FlowPublisher, Publisher}") %}{% endif %}
{%- set fields = called or service.produces or service.store %}
{%- if service.calls_rest %}{% set_global items = items | concat(with="rest_clients") %}{% endif %}
{%- if service.produces %}

use std::sync::Arc;
{%- endif %}
{%- if service.produces or service.store %}
{# blank line #}
{%- if service.produces %}
use contract::events;
{%- endif %}
{%- if service.store %}
use runtime::store::Store;
{%- endif %}
{%- endif %}
{# blank line #}
{%- if items | length == 1 %}
use crate::config::Config;
{%- elif service.produces %}
use crate::{
{%- for item in items %}
    {{ item }},
{%- endfor %}
};
{%- else %}
use crate::{ {{- items | join(sep=", ") -}} };
{%- endif %}

/// The service's clients and publishers: one field per flow it calls
/// (`state.out.<flow>.<rpc>(&request)`) and per event flow it produces
/// (`state.out.<flow>.publish(&event)`){% if service.store %}, and its database{% endif %}.
#[derive(Debug, Clone)]
{%- if not fields %}
pub struct Outbound {}
{%- else %}
pub struct Outbound {
{%- for f in service.called_flows %}
{%- for c in f.calls %}
    /// Flow `{{ f.flow }}` to {{ c.target }} over {% if f.transport == "rest" %}REST{% else %}gRPC{% endif %}, {{ c.deadline_ms }} ms per attempt
    /// (`{{ c.deadline_env }}`).
    pub {{ c.out_field }}: {% if f.transport == "rest" %}rest_clients{% else %}grpc_clients{% endif %}::{{ c.client }},
{%- endfor %}
{%- endfor %}
{%- for t in service.produces %}
    /// Flow `{{ t.flow }}` to topic `{{ t.topic }}` ({{ t.delivery }}).
    pub {{ t.flow_ident }}: FlowPublisher<events::{{ t.flow_ident }}::Event>,
{%- endfor %}
{%- if service.outbox %}
    /// The transactional outbox, for the events announcing a state change:
    /// `state.out.outbox.add(&mut tx, &WIRE, &event)` on the transaction of
    /// the change (`state.out.outbox.begin()`), then
    /// `state.out.outbox.commit(tx)`; the relay publishes them.
    pub outbox: Outbox,
{%- endif %}
{%- if service.store %}
    /// The database (`DATABASE_URL`): {% if service.keys.any %}idempotency records, {% endif %}{% if service.outbox %}the outbox, {% endif %}{% if service.dedupe %}the ids of handled events, {% endif %}and
    /// your own tables (`state.out.db.pool()`). Connected on first use; the
    /// service's start-up makes its tables.
    pub db: Store,
{%- endif %}
}
{%- endif %}

impl Outbound {
    /// The clients and publishers of the running service, each call
    /// deadline overridden by its variable in the environment
{%- if service.store and called and service.produces %}
    /// (`<FLOW>_DEADLINE_MS`). Nothing connects yet: the clients, the
    /// producer and the database connect on first use, so the service starts
    /// while the services it calls and the brokers are down.
{%- elif service.store and called %}
    /// (`<FLOW>_DEADLINE_MS`). Nothing connects yet: the clients and the
    /// database connect on first use, so the service starts while the
    /// services it calls are down.
{%- elif service.store and service.produces %}
    /// (`<FLOW>_DEADLINE_MS`). Nothing connects yet: the producer and the
    /// database connect on first use, so the service starts while the
    /// brokers are down.
{%- elif service.store %}
    /// (`<FLOW>_DEADLINE_MS`). Nothing connects yet: the database connects
    /// on first use.
{%- else %}
    /// (`<FLOW>_DEADLINE_MS`). Nothing connects yet: clients and the
    /// producer connect on first use, so the service starts while the
    /// services it calls{% if service.produces %} and the brokers{% endif %} are down.
{%- endif %}
    #[allow(clippy::unused_async)]
    pub async fn new(config: &Config) -> anyhow::Result<Self> {
        Self::from_lookup(config, |var| std::env::var(var).ok())
    }

    /// The same, with the deadline variables read through `lookup`.
    pub fn from_lookup(
        {% if fields %}config{% else %}_config{% endif %}: &Config,
        {% if called %}lookup{% else %}_lookup{% endif %}: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
{%- for t in service.rest_targets %}
        let policies = rest_clients::{{ t.policies }}::from_lookup(&lookup)?;
        let url = &config.{{ t.field }};
{{ format::let(indent="        ", head="let " ~ t.ident ~ "_rest =", value="rest_clients::" ~ t.client ~ "::new(url, policies, &config.tls)?;") }}
{%- endfor %}
{%- for t in service.grpc_targets %}
        let policies = grpc_clients::{{ t.policies }}::from_lookup(&lookup)?;
        let url = &config.{{ t.field }};
{{ format::let(indent="        ", head="let " ~ t.ident ~ "_grpc =", value="grpc_clients::" ~ t.client ~ "::connect_lazy(url, policies, &config.tls)?;") }}
{%- endfor %}
{%- if service.produces %}
        let publisher = Arc::new(Publisher::from_config(config)?);
{%- endif %}
{%- if service.store %}
        let db = Store::open(&config.database_url)?;
{%- endif %}
{%- if not fields %}
        Ok(Self {})
{%- elif not called and not service.produces %}
        Ok(Self { db })
{%- else %}
        Ok(Self {
{%- for f in service.called_flows %}
{%- for c in f.calls %}
            {{ c.out_field }}: {{ c.target_ident }}_{% if f.transport == "rest" %}rest{% else %}grpc{% endif %}.clone(),
{%- endfor %}
{%- endfor %}
{%- for t in service.produces %}
{%- set line = "            " ~ t.flow_ident ~ ": FlowPublisher::new(&publisher, &events::" ~ t.flow_ident ~ "::WIRE)," %}
{%- if line | length <= 100 %}
{{ line }}
{%- else %}
            {{ t.flow_ident }}: FlowPublisher::new(
                &publisher,
                &events::{{ t.flow_ident }}::WIRE,
            ),
{%- endif %}
{%- endfor %}
{%- if service.outbox %}
            outbox: Outbox::new(&db),
{%- endif %}
{%- if service.store %}
            db,
{%- endif %}
        })
{%- endif %}
    }
}
