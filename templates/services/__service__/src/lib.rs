//! The `{{ service.name }}` service: {{ service.summary }}.
{%- if service.description %}
//!
//! {{ service.description }}
{%- endif %}
//!
//! Everything lives in this library so that the integration tests (and other
//! services' tests) drive the same code the binary runs.
{%- if service.handles %} The files of
//! [`handlers`] (one per served rpc and consumed event){% if service.serves_rest or service.serves_grpc %}, [`state`] and [`auth`]{% else %} and [`state`]{% endif %} are
//! yours to edit; the other modules are generated plumbing.
{%- else %} [`state`] and
//! [`tasks`] (what `serve` runs) are yours to edit; the other modules are
//! generated plumbing.
{%- endif %}

pub mod app;
{%- if service.serves_rest or service.serves_grpc %}
pub mod auth;
{%- endif %}
pub mod cli;
pub mod config;
{%- if service.handles %}
pub mod error;
{%- endif %}
{%- if service.serves_grpc %}
pub mod grpc;
{%- endif %}
{%- if service.calls_grpc %}
pub mod grpc_clients;
{%- endif %}
{%- if service.handles %}
pub mod handlers;
{%- endif %}
{%- if service.produces or service.consumes %}
pub mod kafka;
{%- endif %}
pub mod outbound;
{%- if service.serves_rest %}
pub mod rest;
{%- endif %}
{%- if service.calls_rest %}
pub mod rest_clients;
{%- endif %}
pub mod state;
{%- if not service.handles %}
pub mod tasks;
{%- endif %}
