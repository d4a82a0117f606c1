{#- scaffold
when: not service.handles
owner: user
-#}
{%- set first = service.called_flows | first -%}
//! What `{{ service.name }}` does while it runs: `serve` starts [`run`] beside the `/healthz`
//! endpoint and stops it on SIGTERM / Ctrl-C.
//!
//! Yours to edit: written once by `commsadvise scaffold`, never replaced. {{ service.name }} serves no
//! flow of its own, so this is where it {% if first %}calls other services{% else %}publishes its events{% endif %} from: a loop over a
//! queue, a timer, a batch job. Reach them through `state.out` (see `outbound.rs`).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
{%- if first %}
use tracing::{info, warn};
{%- else %}
use tracing::info;
{%- endif %}

use crate::state::State;

/// Runs until `shutdown` is cancelled, then returns within the drain timeout.
{%- if first %}
{%- set c = first.calls | first %}
/// The example calls flow `{{ first.flow }}` once, to show the chain working, and waits:
/// replace it with the service's own work.
{%- else %}
/// The example only waits: publish with
/// `state.out.{{ service.produces[0].flow_ident }}.publish(&event).await`.
{%- endif %}
pub async fn run({% if first %}state{% else %}_state{% endif %}: Arc<State>, shutdown: CancellationToken) -> anyhow::Result<()> {
{%- if first %}
{%- if c.rpc.id_field %}
    let request = {% if first.transport == "rest" %}crate::rest_clients{% else %}crate::grpc_clients{% endif %}::{{ c.client }}::{{ c.rpc.method | trim_start_matches(pat="r#") }}_request("{{ names.sample_id }}");
{%- else %}
    let request = {{ c.rpc.request }}::default();
{%- endif %}
{%- if first.streaming %}
    let client = &state.out.{{ c.out_field }};
    match client.{{ c.rpc.method }}(&request).await {
        Ok(_stream) => info!("{{ c.target }} opened {{ first.flow }}"),
        Err(err) => warn!(%err, "{{ c.target }} did not answer {{ first.flow }}"),
    }
{%- else %}
    let client = &state.out.{{ c.out_field }};
    match client.{{ c.rpc.method }}(&request).await {
        Ok(answer) => info!(?answer, "{{ c.target }} answered {{ first.flow }}"),
        Err(err) => warn!(%err, "{{ c.target }} did not answer {{ first.flow }}"),
    }
{%- endif %}
{%- endif %}
    shutdown.cancelled().await;
    info!("{{ service.name }}'s tasks stopped");
    Ok(())
}
