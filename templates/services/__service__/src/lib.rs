//! The `{{ service.name }}` service: {{ service.summary }}.
{%- if service.description %}
//!
//! {{ service.description }}
{%- endif %}
//!
{%- if service.runs %}
//! Everything lives in this library so that the integration tests (and other
//! services' tests) drive the same code the binary runs. The files of
//! [`handlers`] (one per served rpc and consumed event) and [`state`] are yours
//! to edit; the other modules are generated plumbing.
{%- elif service.produces %}
//! Everything lives in this library so that the integration tests (and other
//! services' tests) drive the same code the binary runs. [`state`] is yours
//! to edit; the other modules are generated plumbing: a producer that serves
//! nothing has no handlers.
{%- else %}
//! Everything lives in this library so that the integration tests drive the
//! same code the binary runs. All modules are generated plumbing: a caller
//! has no handlers of its own.
{%- endif %}

pub mod app;
pub mod cli;
pub mod config;
{%- if service.runs %}
pub mod error;
{%- endif %}
{%- if service.serves_grpc %}
pub mod grpc;
{%- endif %}
{%- if service.calls_grpc %}
pub mod grpc_clients;
{%- endif %}
{%- if service.runs %}
pub mod handlers;
{%- endif %}
{%- if service.produces or service.consumes %}
pub mod kafka;
{%- endif %}
{%- if service.serves_rest %}
pub mod rest;
{%- endif %}
{%- if service.calls_rest %}
pub mod rest_clients;
{%- endif %}
{%- if service.runs or service.produces %}
pub mod state;
{%- endif %}
