{%- set serves = service.serves_rest or service.serves_grpc -%}
{%- set calls = service.called_flows | length > 0 -%}
{%- set calls_stream = service.called_flows | filter(attribute="streaming", value=true) | length > 0 -%}
{%- if serves and not service.consumes %}{% set tasks = "servers" %}{% elif service.handles %}{% set tasks = "tasks" %}{% else %}{% set tasks = "running" %}{% endif -%}
//! What the `{{ service.name }}` binary does for each command: wiring of
//! configuration, {% if serves %}servers{% if service.produces or service.consumes %}, Kafka{% endif %}{% elif service.consumes %}the Kafka consumer{% else %}the team's tasks{% endif %}, `/livez` and `/readyz`{% if calls %}, clients{% endif %} and shutdown. `main.rs`
//! only calls [`run`].

use std::{process::ExitCode, sync::Arc};

use anyhow::Context as _;
{%- set imports = [] %}
{%- if calls %}{% set_global imports = imports | concat(with="client_policy::InvalidDeadline") %}{% endif %}
{%- set_global imports = imports | concat(with="health::Checks") %}
{%- if service.produces or service.consumes %}{% set_global imports = imports | concat(with="kafka::BrokerProbe") %}{% endif %}
{%- if serves %}{% set_global imports = imports | concat(with="tls::ServerSocket") %}{% endif %}
{%- if imports | length == 1 %}
use runtime::{{ imports.0 }};
{%- elif imports | join(sep=", ") | length <= 84 %}
use runtime::{{ "{" }}{{ imports | join(sep=", ") }}};
{%- else %}
use runtime::{
    {{ imports | join(sep=", ") }},
};
{%- endif %}
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::{
{%- if serves %}
    auth,
{%- endif %}
    cli::{self, {% if calls %}CalledFlow, {% endif %}Command{% if calls or service.produces %}, Input{% endif %}{% if service.produces %}, ProducedFlow{% endif %}},
    config::{Config, DRAIN_TIMEOUT},
    {%- set modules = [] -%}
    {%- if service.serves_grpc %}{% set_global modules = modules | concat(with="grpc") %}{% endif -%}
    {%- if service.produces or service.consumes %}{% set_global modules = modules | concat(with="kafka") %}{% endif -%}
    {%- if calls %}{% set_global modules = modules | concat(with="outbound::Outbound") %}{% endif -%}
    {%- if service.serves_rest %}{% set_global modules = modules | concat(with="rest") %}{% endif -%}
    {%- set_global modules = modules | concat(with="state::State") -%}
    {%- if not service.handles %}{% set_global modules = modules | concat(with="tasks") %}{% endif -%}
    {%- set simple = [] %}
    {%- for m in modules %}
    {%- if m is containing("::") %}
    {%- if simple %}
    {{ simple | join(sep=", ") }},
    {%- set_global simple = [] %}
    {%- endif %}
    {{ m }},
    {%- else %}
    {%- set_global simple = simple | concat(with=m) %}
    {%- endif %}
    {%- endfor %}
    {%- if simple %}
    {{ simple | join(sep=", ") }},
    {%- endif %}
};

/// Runs the command line `args` (program name excluded) and says how the
/// process should exit: 0 on success, 1 on failure, 2 on a usage or
/// configuration error.
pub async fn run(args: impl IntoIterator<Item = String>) -> ExitCode {
    let command = match cli::parse(args) {
        Ok(command) => command,
        Err(err) => {
            // Help and version to stdout with 0, usage errors to stderr with 2.
            let _ = err.print();
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
        }
    };
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            // A health check's 2 is reserved by Docker: a probe fails with 1.
            let usage = if matches!(command, Command::Probe { .. }) {
                1
            } else {
                2
            };
            return ExitCode::from(usage);
        }
    };
    // A probe only asks the running service: it exports no spans.
    let traced = !matches!(command, Command::Probe { .. });
    let otlp = config.otlp_endpoint.clone().filter(|_| traced);
    let otlp = otlp.map(|endpoint| runtime::trace::Otlp {
        endpoint,
        service: env!("CARGO_PKG_NAME"),
    });
    runtime::telemetry::init_logs(config.log_format, otlp.as_ref());
{%- if service.produces or service.consumes %}
    // Every Kafka client connects as KAFKA_SECURITY_PROTOCOL and the
    // KAFKA_SASL_* and KAFKA_SSL_* variables say (a probe makes none).
    if traced {
        runtime::kafka::install(config.kafka_security.clone());
    }
{%- endif %}
    let result = match command {
        Command::Serve => serve(&config).await,
{%- if service.serves_rest %}
        Command::Probe { probe } => {
            // Over TLS when the REST server serves it.
            let tls = config.tls.probe_client();
            runtime::health::ask(config.http_addr, probe.path(), tls).await
        }
{%- elif uses.rest %}
        Command::Probe { probe } => {
            runtime::health::ask(config.http_addr, probe.path(), None).await
        }
{%- else %}
        Command::Probe { probe } => runtime::health::ask(config.http_addr, probe.path()).await,
{%- endif %}
{%- if calls %}
{%- if calls_stream %}
        Command::Call { flow, input, max } => call(&config, flow, &input, max).await,
{%- else %}
        Command::Call { flow, input } => call(&config, flow, &input).await,
{%- endif %}
{%- endif %}
{%- if service.produces %}
        Command::Publish { flow, input } => publish(&config, flow, &input).await,
{%- endif %}
    };
    // The spans still buffered go out before the process ends.
    runtime::trace::shutdown().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
{%- if calls %}
        Err(err) if err.is::<BadInput>() || err.is::<InvalidDeadline>() => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
{%- endif %}
{%- if service.produces %}
        Err(err) if err.is::<kafka::InvalidInput>() => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
{%- endif %}
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

{% if serves and service.consumes -%}
/// Serves {% if service.serves_rest and service.serves_grpc %}REST and gRPC{% elif service.serves_rest %}REST{% else %}gRPC{% endif %} and consumes on spawned tasks until SIGTERM / Ctrl-C (or
/// until one of them fails), then drains them within [`DRAIN_TIMEOUT`].
{%- elif serves -%}
/// Serves {% if service.serves_rest and service.serves_grpc %}REST and gRPC{% elif service.serves_rest %}REST{% else %}gRPC and the probes{% endif %} on spawned tasks until SIGTERM / Ctrl-C (or until one
/// of them fails), then drains {% if service.serves_rest and not service.serves_grpc %}it{% else %}both{% endif %} within [`DRAIN_TIMEOUT`].
{%- elif service.consumes -%}
/// Consumes and answers its probes on spawned tasks until SIGTERM / Ctrl-C
/// (or until one of them fails), then lets the event in hand finish within
/// [`DRAIN_TIMEOUT`].
{%- else -%}
/// Runs the team's tasks ([`tasks::run`]) and answers its probes on spawned
/// tasks until SIGTERM / Ctrl-C (or until one of them fails), then lets the
/// tasks finish within [`DRAIN_TIMEOUT`].
{%- endif %}
pub async fn serve(config: &Config) -> anyhow::Result<()> {
    // Bind first, so a taken port fails the start-up rather than a task.
    let listeners = Listeners::bind(config).await?;
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        runtime::shutdown::signal().await;
        info!("shutdown signal received, draining for at most {DRAIN_TIMEOUT:?}");
        on_signal.cancel();
    });
    run_until(config, listeners, shutdown).await
}

/// The sockets the service listens on. They are bound before anything
/// starts, so that a taken port fails the start-up, and so that a test can
/// bind ephemeral ports and hand their addresses to the callers first.
#[derive(Debug)]
pub struct Listeners {
    /// {% if service.serves_rest %}The REST server's{% else %}The probes'{% endif %} socket (`HTTP_ADDR`).
    pub http: TcpListener,
    /// `/metrics`' own socket (`METRICS_ADDR`), if set; else `/metrics` is
    /// served on `http`.
    pub metrics: Option<TcpListener>,
{%- if service.serves_grpc %}
    /// The gRPC server's socket (`GRPC_ADDR`).
    pub grpc: TcpListener,
{%- endif %}
}

impl Listeners {
    /// Binds `HTTP_ADDR`{% if service.serves_grpc %}, `GRPC_ADDR`{% endif %} and `METRICS_ADDR` as configured.
    pub async fn bind(config: &Config) -> anyhow::Result<Listeners> {
        let http = TcpListener::bind(config.http_addr)
            .await
            .with_context(|| format!("cannot listen on HTTP_ADDR={}", config.http_addr))?;
        let metrics = match config.metrics_addr {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on METRICS_ADDR={addr}"))?,
            ),
            None => None,
        };
{%- if service.serves_grpc %}
        let grpc = TcpListener::bind(config.grpc_addr)
            .await
            .with_context(|| format!("cannot listen on GRPC_ADDR={}", config.grpc_addr))?;
        Ok(Listeners {
            http,
            metrics,
            grpc,
        })
{%- else %}
        Ok(Listeners { http, metrics })
{%- endif %}
    }
}

/// Runs the service on `listeners` until `shutdown` is cancelled (or one of
/// its tasks stops on its own), then drains within [`DRAIN_TIMEOUT`]. [`serve`]
/// cancels on SIGTERM / Ctrl-C; the workspace's system test runs every
/// service in one process this way.
pub async fn run_until(
    config: &Config,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // Whatever way this returns, a start-up error included, what it spawned
    // stops (the caller's token is left alone).
    let shutdown = shutdown.child_token();
    let _stop_on_return = shutdown.clone().drop_guard();
{%- if service.serves_grpc %}
    let Listeners {
        http,
        metrics,
        grpc,
    } = listeners;
{%- else %}
    let Listeners { http, metrics } = listeners;
{%- endif %}
    // The metrics recorder first, so that nothing recorded is lost.
    runtime::telemetry::handle();
    let state = Arc::new(
        State::new(config)
            .await
            .context("cannot build the service's state")?,
    );
{%- if service.store %}
    // The database's tables, made now: a database out of reach fails the
    // start-up rather than the first request.
    state.out.db.ready().await.with_context(|| {
        let url = runtime::store::redacted(&config.database_url);
        format!("cannot open DATABASE_URL={url}")
    })?;
{%- endif %}
    let health = readiness(config, &state)?.spawn(shutdown.clone());
    let mut {{ tasks }} = JoinSet::new();
    // `/metrics` on its own listener, else beside the probes.
    let health = match metrics {
        Some(listener) => {
            let token = shutdown.clone();
            {{ tasks }}.spawn(async move {
                runtime::telemetry::serve(listener, token)
                    .await
                    .context("/metrics server failed")
            });
            health
        }
        None => health.with_metrics(),
    };
{%- if serves %}
    if auth::ACCEPTS_EVERY_CALLER {
        warn!("every caller is accepted: write `authenticate` in src/auth.rs to check them");
    }
{%- endif %}
{%- if serves %}
    let timeouts = config.timeouts;
{%- endif %}
{%- if service.serves_rest %}
    let serving = Arc::clone(&state);
{%- if service.keys.rest %}
    let records = state.out.db.clone();
{%- endif %}
    let probes = health.clone();
    let http = ServerSocket::new(http, config.tls.rest_server());
{%- if service.browser_flows %}
    if config.cors_allowed_origins.is_empty() {
        info!("CORS_ALLOWED_ORIGINS is unset: browsers on other origins cannot call the API");
    }
    let cors = runtime::rest::cors(&config.cors_allowed_origins);
{%- endif %}
    {{ tasks }}.spawn(async move {
        let authenticate = auth::authenticate;
        rest::serve(http, serving, timeouts, {% if service.keys.rest %}records, {% endif %}probes, authenticate{% if service.browser_flows %}, cors{% endif %})
            .await
            .context("REST server failed")
    });
{%- else %}
    let probes = health.clone();
    {{ tasks }}.spawn(async move {
        runtime::health::serve(http, probes)
            .await
            .context("/livez and /readyz server failed")
    });
{%- endif %}
{%- if service.serves_grpc %}
    let serving = Arc::clone(&state);
{%- if service.keys.grpc %}
    let records = state.out.db.clone();
{%- endif %}
    let probes = health.clone();
    let grpc = ServerSocket::new(grpc, config.tls.grpc_server());
    {{ tasks }}.spawn(async move {
        let authenticate = auth::authenticate;
        grpc::serve(grpc, serving, timeouts, {% if service.keys.grpc %}records, {% endif %}probes, authenticate)
            .await
            .context("gRPC server failed")
    });
{%- endif %}
{%- if service.outbox %}
    // Publishes what the handlers commit to the outbox.
    let relay = state.out.outbox.relay(config);
    let relay = relay.context("cannot create the outbox relay's producer")?;
    let token = shutdown.clone();
    {{ tasks }}.spawn(async move {
        relay.run(token).await;
        Ok(())
    });
{%- endif %}
{%- if not service.handles %}
    let token = shutdown.clone();
    let running_state = Arc::clone(&state);
    {{ tasks }}.spawn(async move {
        tasks::run(running_state, token)
            .await
            .context("a task failed")
    });
{%- endif %}
{%- if service.consumes %}
    let (brokers, replication) = (config.kafka_brokers.clone(), config.kafka_replication);
    let lanes = config.kafka_concurrency;
    let token = shutdown.clone();
    let handlers = kafka::Handlers::new(Arc::clone(&state));
    {{ tasks }}.spawn(async move {
        // Create the topics first when we can: a consumer subscribed to a
        // missing topic only notices it at the next metadata refresh.
        if let Err(err) = kafka::ensure_topics(&brokers, replication).await {
            warn!(%brokers, %err, "cannot create Kafka topics now; consuming anyway");
        }
        kafka::consume(&brokers, lanes, handlers, token).await
    });
{%- elif service.produces %}

    // Topics are created in the background: the service runs even while no
    // broker is reachable.
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
        () = shutdown.cancelled() => {}
        Some(joined) = {{ tasks }}.join_next() => {
            warn!("a {% if serves and not service.consumes %}server{% else %}task{% endif %} stopped on its own, shutting the others down");
            {{ tasks }}.spawn(async move { joined? });
        }
    }
    shutdown.cancel();
    runtime::shutdown::drain({{ tasks }}, DRAIN_TIMEOUT).await
}
{%- set kafka = service.produces or service.consumes %}

/// What `/readyz` and gRPC health wait for: {% if kafka and service.store and serves %}the database; the Kafka brokers are
/// watched (`degraded` while they do not answer, still ready: the API works
/// without them{% if service.outbox %} and events wait in the outbox{% endif %}){% elif kafka and service.store %}the Kafka brokers and the database{% elif kafka and serves %}nothing: the Kafka brokers are watched (`degraded`
/// while they do not answer, still ready: the API works without them){% elif kafka %}the Kafka brokers{% elif service.store %}the database{% else %}no dependency (no broker, no database){% endif %}.
///
/// One task checks them every few seconds (`runtime::health`), never the
/// probes themselves.
pub fn readiness({% if not kafka %}_{% endif %}config: &Config, {% if not service.store %}_{% endif %}state: &State) -> anyhow::Result<Checks> {
    let checks = Checks::new();
{%- if kafka %}
    // A metadata request for one of the service's own topics: cheap on a
    // cluster of many.
    let (topic, _) = kafka::TOPICS[0];
    let client_id = format!("{}-health", kafka::CLIENT_ID);
    let broker = BrokerProbe::new(&config.kafka_brokers, &client_id, topic)
        .context("cannot create the Kafka readiness probe")?;
    let checks = checks.{% if serves %}watching{% else %}with{% endif %}("kafka", move || {
        let broker = broker.clone();
        async move { broker.check().await }
    });
{%- endif %}
{%- if service.store %}
    let db = state.out.db.clone();
    let checks = checks.with("database", move || {
        let db = db.clone();
        async move { db.ping().await.map_err(|err| err.to_string()) }
    });
{%- endif %}
    Ok(checks)
}
{%- if calls %}

/// A `call` argument that is not a request of the flow: a usage error (exit
/// 2), like an [`InvalidDeadline`]; nothing was sent.
#[derive(Debug)]
struct BadInput(String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// The request of a `call`: the argument's proto3 JSON, or a request with
/// its id field set to the argument (`sample`, when the request has one).
fn request_from<T: serde::de::DeserializeOwned>(
    flow: CalledFlow,
    input: &Input,
    sample: Option<fn(&str) -> T>,
) -> Result<T, BadInput> {
    match (input, sample) {
        (Input::Json(json), _) => serde_json::from_str(json).map_err(|err| {
            BadInput(format!(
                "`{json}` is not a request of flow {} in proto3 JSON: {err}",
                flow.name()
            ))
        }),
        (Input::Id(id), Some(sample)) => Ok(sample(id)),
        (Input::Id(id), None) => Err(BadInput(format!(
            "flow {}'s request has no id field to put `{id}` in: give the request as JSON",
            flow.name()
        ))),
    }
}

/// `{{ service.name }} call <flow> <id-or-json>`: calls the flow once on each service it goes
/// to (with its retries) and prints each answer in proto3 JSON, one line
/// per service{% if calls_stream %}; a stream prints each message on a line of its own until
/// it ends, `max` messages came, or Ctrl-C{% endif %}.
{%- if calls_stream %}
pub async fn call(
    config: &Config,
    flow: CalledFlow,
    input: &Input,
    max: Option<u64>,
) -> anyhow::Result<()> {
{%- else %}
pub async fn call(config: &Config, flow: CalledFlow, input: &Input) -> anyhow::Result<()> {
{%- endif %}
    let out = Outbound::new(config).await?;
    match flow {
{%- for f in service.called_flows %}
        CalledFlow::{{ f.flow_pascal }} => {
{%- for c in f.calls %}
{%- set module = "crate::rest_clients" %}{% if f.transport != "rest" %}{% set module = "crate::grpc_clients" %}{% endif %}
{%- if c.rpc.id_field %}
            let sample = {{ module }}::{{ c.client }}::{{ c.rpc.method | trim_start_matches(pat="r#") }}_request;
            let request = request_from(flow, input, Some(sample))?;
{%- else %}
            let request = request_from(flow, input, None)?;
{%- endif %}
            let url = &config.{{ c.field }};
            let failed = || format!("{{ f.flow }} failed ({{ c.env }}={url})");
{%- if f.streaming %}
            let client = &out.{{ c.out_field }};
            let stream = client.{{ c.rpc.method }}(&request).await;
            let mut stream = stream.with_context(failed)?;
            let mut received = 0;
            while max.is_none_or(|max| received < max) {
                let Some(message) = stream.next().await else {
                    break;
                };
                println!("{}", serde_json::to_string(&message.with_context(failed)?)?);
                received += 1;
            }
{%- else %}
            let client = &out.{{ c.out_field }};
            let answer = client.{{ c.rpc.method }}(&request).await;
            let answer = answer.with_context(failed)?;
            println!("{}", serde_json::to_string(&answer)?);
{%- endif %}
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
pub async fn publish(config: &Config, flow: ProducedFlow, input: &Input) -> anyhow::Result<()> {
    let published = kafka::publish(config, flow.name(), input.as_str()).await?;
    println!("{published}");
    Ok(())
}
{%- endif %}
