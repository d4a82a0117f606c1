{%- set serves = service.serves_rest or service.serves_grpc -%}
{%- set calls = service.called_flows | length > 0 -%}
{%- if serves and service.consumes %}{% set tasks = "tasks" %}{% elif serves %}{% set tasks = "servers" %}{% else %}{% set tasks = "consumers" %}{% endif -%}
//! What the `{{ service.name }}` binary does for each command: wiring of
{%- if service.runs %}
//! configuration, {% if serves %}servers{% if service.produces or service.consumes %}, Kafka{% endif %}{% else %}the Kafka consumer{% endif %}{% if calls %}, clients{% endif %} and shutdown. `main.rs` only calls [`run`].
{%- else %}
//! configuration{% if calls %} and clients{% endif %}{% if service.produces %}{% if calls %} and{% else %} and{% endif %} the Kafka producer{% endif %}. `main.rs` only calls [`run`].
{%- endif %}

use std::{io::IsTerminal as _, process::ExitCode};
{% if serves or calls %}
use anyhow::Context as _;
{%- endif %}
{%- if serves %}
use tokio::{net::TcpListener, task::JoinSet};
{%- elif service.runs %}
use tokio::task::JoinSet;
{%- endif %}
{%- if service.runs %}
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
{%- endif %}
use tracing_subscriber::EnvFilter;

use crate::{
    cli::{self, {% if calls %}CalledFlow, {% endif %}CliError, Command{% if service.produces %}, ProducedFlow{% endif %}},
    config::{% if service.runs %}{Config, DRAIN_TIMEOUT}{% else %}Config{% endif %},
    {% set modules = [] -%}
    {%- if service.serves_grpc %}{% set_global modules = modules | concat(with="grpc") %}{% endif -%}
    {%- if service.calls_grpc %}{% set_global modules = modules | concat(with="grpc_clients") %}{% endif -%}
    {%- if service.produces or service.consumes %}{% set_global modules = modules | concat(with="kafka") %}{% endif -%}
    {%- if service.serves_rest %}{% set_global modules = modules | concat(with="rest") %}{% endif -%}
    {%- if service.calls_rest %}{% set_global modules = modules | concat(with="rest_clients") %}{% endif -%}
    {{ modules | join(sep=", ") }},
};

/// Runs the command line `args` (program name excluded) and says how the
/// process should exit: 0 on success, 1 on failure, 2 on a usage or
/// configuration error.
pub async fn run(args: impl IntoIterator<Item = String>) -> ExitCode {
    let command = match cli::parse(args) {
        Ok(command) => command,
        Err(CliError::Help) => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("error: {err}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    init_tracing();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let result = match command {
{%- if service.runs %}
        Command::Serve => serve(&config).await,
{%- endif %}
{%- if calls %}
        Command::Call { flow, id } => call(&config, flow, &id).await,
{%- endif %}
{%- if service.produces %}
        Command::Publish { flow, id } => publish(&config, flow, &id).await,
{%- endif %}
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
{%- if service.produces %}
        Err(err) if err.is::<kafka::InvalidInput>() => {
            eprintln!("error: {err:#}\n\n{}", cli::USAGE);
            ExitCode::from(2)
        }
{%- endif %}
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

{% if service.produces or service.consumes -%}
/// Logs to stderr, filtered by `RUST_LOG` (default `info`); librdkafka's logs
/// arrive through the `log` bridge.
{%- else -%}
/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
{%- endif %}
fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
{%- if service.runs %}

{% if serves and service.consumes -%}
/// Serves {% if service.serves_rest and service.serves_grpc %}REST and gRPC{% elif service.serves_rest %}REST{% else %}gRPC{% endif %} and consumes on spawned tasks until SIGTERM / Ctrl-C (or
/// until one of them fails), then drains them within [`DRAIN_TIMEOUT`].
{%- elif serves -%}
/// Serves {% if service.serves_rest and service.serves_grpc %}REST and gRPC{% elif service.serves_rest %}REST{% else %}gRPC{% endif %} on spawned tasks until SIGTERM / Ctrl-C (or until one
/// of them fails), then drains {% if service.serves_rest and service.serves_grpc %}both{% else %}it{% endif %} within [`DRAIN_TIMEOUT`].
{%- else -%}
/// Consumes on a spawned task until SIGTERM / Ctrl-C (or until the consumer
/// fails), then lets the event in hand finish within [`DRAIN_TIMEOUT`].
{%- endif %}
pub async fn serve(config: &Config) -> anyhow::Result<()> {
{%- if serves %}
    // Bind first, so a taken port fails the start-up rather than a task.
{%- endif %}
{%- if service.serves_rest %}
    let http = TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("cannot listen on HTTP_ADDR={}", config.http_addr))?;
{%- endif %}
{%- if service.serves_grpc %}
    let grpc = TcpListener::bind(config.grpc_addr)
        .await
        .with_context(|| format!("cannot listen on GRPC_ADDR={}", config.grpc_addr))?;
{%- endif %}
{%- if serves %}
{# blank line #}
{%- endif %}
    let shutdown = CancellationToken::new();
    let mut {{ tasks }} = JoinSet::new();
{%- if service.serves_rest %}
    let token = shutdown.clone();
    {{ tasks }}.spawn(async move { rest::serve(http, token).await.context("REST server failed") });
{%- endif %}
{%- if service.serves_grpc %}
    let token = shutdown.clone();
    {{ tasks }}.spawn(async move { grpc::serve(grpc, token).await.context("gRPC server failed") });
{%- endif %}
{%- if service.consumes %}
    let (brokers, replication) = (config.kafka_brokers.clone(), config.kafka_replication);
    let token = shutdown.clone();
    {{ tasks }}.spawn(async move {
        // Create the topics first when we can: a consumer subscribed to a
        // missing topic only notices it at the next metadata refresh.
        if let Err(err) = kafka::ensure_topics(&brokers, replication).await {
            warn!(%brokers, %err, "cannot create Kafka topics now; consuming anyway");
        }
        kafka::consume(&brokers, kafka::Handlers, token).await
    });
{%- elif service.produces %}

    // Topics are created in the background: {% if service.serves_rest and service.serves_grpc %}REST and gRPC serve{% elif service.serves_rest %}REST serves{% else %}gRPC serves{% endif %} even while
    // no broker is reachable.
    let (brokers, replication) = (config.kafka_brokers.clone(), config.kafka_replication);
    tokio::spawn(async move {
        match kafka::ensure_topics(&brokers, replication).await {
            Ok(()) => info!(%brokers, "Kafka topics ready"),
            Err(err) => warn!(
                %brokers, %err,
                "cannot create Kafka topics now; producing may fail until a broker is reachable"
            ),
        }
    });
{%- endif %}

    tokio::select! {
        () = runtime::shutdown::signal() => {
            info!("shutdown signal received, draining for at most {DRAIN_TIMEOUT:?}");
        }
        Some(joined) = {{ tasks }}.join_next() => {
{%- if serves %}
            warn!("a {% if service.consumes %}task{% else %}server{% endif %} stopped on its own, shutting the others down");
{%- else %}
            warn!("the consumer stopped on its own");
{%- endif %}
            {{ tasks }}.spawn(async move { joined? });
        }
    }
    shutdown.cancel();
    runtime::shutdown::drain({{ tasks }}, DRAIN_TIMEOUT).await
}
{%- endif %}
{%- if calls %}

/// `{{ service.name }} call <flow> <id>`: calls the flow once (with its retries) and
/// prints the answer{% if service.called_flows | filter(attribute="calls") %}{% endif %} as JSON on stdout, one line per called service.
pub async fn call(config: &Config, flow: CalledFlow, id: &str) -> anyhow::Result<()> {
    match flow {
{%- for f in service.called_flows %}
        CalledFlow::{{ f.flow_pascal }} => {
{%- for c in f.calls %}
{%- if f.transport == "rest" %}
            let client = rest_clients::{{ c.client }}::new(
                &config.{{ c.field }},
                rest_clients::{{ c.flow_shouty }}_POLICY,
            )?;
{%- else %}
            let client = grpc_clients::{{ c.client }}::connect_lazy(
                &config.{{ c.field }},
                grpc_clients::{{ c.flow_shouty }}_POLICY,
            )?;
{%- endif %}
            let answer = client.{{ contract.method.name }}(id).await.with_context(|| {
                format!(
                    "{{ f.flow }} `{id}` failed ({{ c.env }}={})",
                    config.{{ c.field }}
                )
            })?;
            println!("{}", serde_json::to_string(&answer)?);
{%- endfor %}
        }
{%- endfor %}
    }
    Ok(())
}
{%- endif %}
{%- if service.produces %}

/// `{{ service.name }} publish <flow> <id-or-json>`: sends one event (see
/// [`kafka::publish`]) and prints where the broker wrote it.
pub async fn publish(config: &Config, flow: ProducedFlow, input: &str) -> anyhow::Result<()> {
    let published = kafka::publish(config, flow.name(), input).await?;
    println!("{published}");
    Ok(())
}
{%- endif %}
