{#- scaffold
when: service.handles
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
