{#- scaffold
when: not service.handles
owner: user
-#}
{%- set first = service.called_flows | first -%}
//! What `{{ service.name }}` does while it runs: `serve` starts [`run`] beside the `/livez`
//! and `/readyz` probes and stops it on SIGTERM / Ctrl-C.
//!
//! Yours to edit: written once by `commsadvise scaffold`, never replaced. {{ service.name }} serves no
//! flow of its own, so this is where it {% if first %}calls other services{% else %}publishes its events{% endif %} from: a loop over a
//! queue, a timer, a batch job. Reach them through `state.out` (see `outbound.rs`).

use std::sync::Arc;
{%- if first %}
use std::time::Duration;
{%- endif %}

use tokio_util::sync::CancellationToken;
{%- if first %}
use tracing::{info, warn};
{%- else %}
use tracing::info;
{%- endif %}

use crate::state::State;
{%- if first %}

/// How long the example waits before asking a callee that did not answer again.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
{%- endif %}

/// Runs until `shutdown` is cancelled, then returns within the drain timeout.
{%- if first %}
{%- set c = first.calls | first %}
/// The example calls flow `{{ first.flow }}` until it gets an answer, to show the chain
/// working, and waits: replace it with the service's own work.
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
    let client = &state.out.{{ c.out_field }};
    // At start-up {{ c.target }} may not be up yet: ask again every second until it
    // answers or the service stops.
    loop {
        match client.{{ c.rpc.method }}(&request).await {
{%- if first.streaming %}
            Ok(_stream) => {
                info!("{{ c.target }} opened {{ first.flow }}");
                break;
            }
{%- else %}
            Ok(answer) => {
                info!(?answer, "{{ c.target }} answered {{ first.flow }}");
                break;
            }
{%- endif %}
            Err(err) => {
                warn!(%err, "{{ c.target }} did not answer {{ first.flow }}; asking again");
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(RETRY_PAUSE) => {}
        }
    }
{%- endif %}
    shutdown.cancelled().await;
    info!("{{ service.name }}'s tasks stopped");
    Ok(())
}
