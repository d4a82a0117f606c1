{%- set called = service.called_flows | length > 0 -%}
//! What `{{ service.name }}` sends to other services, built once from the configuration:
{%- if called %}
//! a typed client per flow it calls, with the flow's deadline and retries{% if service.produces %};{% else %}.{% endif %}
{%- endif %}
{%- if service.produces %}
//! a typed publisher per event flow it produces.
{%- endif %}
{%- if not called and not service.produces %}
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
{%- if service.produces %}{% set_global items = items | concat(with="kafka::{FlowPublisher, Publisher}") %}{% endif %}
{%- if service.calls_rest %}{% set_global items = items | concat(with="rest_clients") %}{% endif %}
{%- if service.produces %}

use std::sync::Arc;

use contract::events;
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
/// (`state.out.<flow>.publish(&event)`).
#[derive(Debug, Clone)]
{%- if not called and not service.produces %}
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
}
{%- endif %}

impl Outbound {
    /// The clients and publishers of the running service, each call
    /// deadline overridden by its variable in the environment
    /// (`<FLOW>_DEADLINE_MS`). Nothing connects yet: clients and the
    /// producer connect on first use, so the service starts while the
    /// services it calls{% if service.produces %} and the brokers{% endif %} are down.
    #[allow(clippy::unused_async)]
    pub async fn new(config: &Config) -> anyhow::Result<Self> {
        Self::from_lookup(config, |var| std::env::var(var).ok())
    }

    /// The same, with the deadline variables read through `lookup`.
    pub fn from_lookup(
        {% if called or service.produces %}config{% else %}_config{% endif %}: &Config,
        {% if called %}lookup{% else %}_lookup{% endif %}: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
{%- for t in service.rest_targets %}
        let policies = rest_clients::{{ t.policies }}::from_lookup(&lookup)?;
        let url = &config.{{ t.field }};
        let {{ t.ident }}_rest = rest_clients::{{ t.client }}::new(url, policies)?;
{%- endfor %}
{%- for t in service.grpc_targets %}
        let policies = grpc_clients::{{ t.policies }}::from_lookup(&lookup)?;
        let url = &config.{{ t.field }};
        let {{ t.ident }}_grpc = grpc_clients::{{ t.client }}::connect_lazy(url, policies)?;
{%- endfor %}
{%- if service.produces %}
        let publisher = Arc::new(Publisher::from_config(config)?);
{%- endif %}
{%- if not called and not service.produces %}
        Ok(Self {})
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
        })
{%- endif %}
    }
}
