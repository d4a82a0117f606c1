{#- scaffold
when: service.runs or service.produces
-#}
//! The handlers of the `{{ service.name }}` service: one module per served rpc and per
//! consumed event flow, each in a file of its own that is yours to edit (created when
//! missing, never replaced). This list is generated: a handler whose flow is gone
//! leaves it, so the build never breaks on it, and `scaffold` reports the file as
//! orphaned.
{%- for h in service.api.handlers | sort(attribute="file") %}
{%- if loop.first %}
{% endif %}
pub mod {{ h.module }};
{%- endfor %}
{%- if service.consumes or service.produces %}

// Transitional: the Kafka glue still carries the seed's `OrderResponse` on every
// topic; these go once it carries each flow's own message.
{%- if service.consumes %}

use tracing::debug;

use crate::error::HandlerError;
{%- endif %}
{%- for t in service.consumes %}
{%- set sig = "pub async fn handle_" ~ t.flow_ident ~ "(event: contract::events::" ~ t.flow_ident ~ "::Event) -> Result<(), HandlerError> {" %}

/// Flow `{{ t.flow }}`: {{ t.from }} to {{ t.to_text }}, from topic `{{ t.topic }}`.
#[allow(clippy::unused_async)]
{%- if sig | length <= 100 %}
{{ sig }}
{%- else %}
pub async fn handle_{{ t.flow_ident }}(
    event: contract::events::{{ t.flow_ident }}::Event,
) -> Result<(), HandlerError> {
{%- endif %}
    debug!(
        {{ contract.id_field.name }} = %event.{{ contract.id_field.name }},
        flow = "{{ t.flow }}",
        "{{ service.name }} handled the event"
    );
    Ok(())
}
{%- endfor %}
{%- for t in service.produces %}

/// The event that `{{ service.name }} publish {{ t.flow }} <{{ names.id_arg }}>` sends.
pub fn sample_{{ t.flow_ident }}({{ contract.id_field.name }}: &str) -> contract::events::{{ t.flow_ident }}::Event {
    contract::events::{{ t.flow_ident }}::Event {
        {{ contract.id_field.name }}: {{ contract.id_field.name }}.to_owned(),
{%- if contract.status_field %}
        {{ contract.status_field.name }}: "{{ names.sample_status }}".to_owned(),
{%- endif %}
{%- if names.response_has_more %}
        ..Default::default()
{%- endif %}
    }
}
{%- endfor %}
{%- endif %}
