//! The whole `{{ system }}` system in one process, for tests: [`System::start`] runs every
//! service of the workspace as its binary runs it (`app::run_until`), on ephemeral ports of
//! 127.0.0.1{% if uses.kafka %} and against librdkafka's in-process mock cluster{% endif %}, each configured as its binary
//! would be from the environment, pointing at the others. [`Logs`] keeps what they log, so
//! that a test can tell which service handled what, and the spans they export (tracing is
//! on, as with `OTEL_EXPORTER_OTLP_ENDPOINT` set), so that it can follow one trace across
//! them.
//!
//! Generated plumbing, regenerated with the flows, like `tests/system.rs`, which sends
//! requests in at the edge and checks what reached each service: grow that one, or add
//! journeys of your own beside it.

use std::{
    collections::BTreeMap,
    fmt,
    net::SocketAddr,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use opentelemetry::trace::{SpanKind, TracerProvider as _};
use opentelemetry_sdk::{
    error::OTelSdkResult,
    trace::{SdkTracerProvider, SpanData, SpanExporter},
};
{%- if uses.kafka %}
use rdkafka::{mocking::MockCluster, producer::DefaultProducerContext};
{%- endif %}
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    task::JoinSet,
};
use tokio_util::sync::CancellationToken;
use tracing::{Event, Subscriber, field::Field, level_filters::LevelFilter};
use tracing_subscriber::{
    EnvFilter, Layer, layer::Context, layer::SubscriberExt as _, util::SubscriberInitExt as _,
};

/// How long [`Logs::wait_for`] waits for an event before giving up.
pub const WAIT: Duration = Duration::from_secs(30);

/// The deadline of each call the test makes itself, and the budget of every
/// rpc the services serve (`<RPC>_TIMEOUT_MS`), in milliseconds: the test
/// checks that calls reach their services, not their latency budgets, which
/// a debug build on a busy machine misses (the benches measure those).
pub const DEADLINE_MS: &str = "2000";

/// The deadline variables of the test's own clients (`Outbound::from_lookup`):
/// every `<FLOW>_DEADLINE_MS` is [`DEADLINE_MS`].
pub fn deadlines(var: &str) -> Option<String> {
    var.ends_with("_DEADLINE_MS")
        .then(|| DEADLINE_MS.to_owned())
}
{%- if uses.store %}

/// The database of every service that keeps one: in memory, fresh for each
/// system, and nothing written beside the workspace.
pub const MEMORY: &str = "sqlite::memory:";
{%- endif %}

/// The configuration of each service, as its binary would read it.
#[derive(Debug, Clone)]
pub struct Configs {
{%- for service in services %}
    pub {{ service.ident }}: {{ service.ident }}::config::Config,
{%- endfor %}
}

/// Every service running in this process.
pub struct System {
{%- if uses.kafka %}
    /// Kept alive while the services use it.
    _cluster: MockCluster<'static, DefaultProducerContext>,
    /// The mock cluster's bootstrap servers.
    pub brokers: String,
{%- endif %}
    pub configs: Configs,
    shutdown: CancellationToken,
    running: JoinSet<(&'static str, anyhow::Result<()>)>,
}

impl fmt::Debug for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("System")
            .field("configs", &self.configs)
            .finish_non_exhaustive()
    }
}

impl System {
    /// Starts every service. Their sockets are bound before any starts, so
    /// a call made as soon as this returns waits for its callee instead of
    /// failing; their start-up work (state, topics, consumer groups) goes on
    /// in the background.
    // One block per service and per topic: it grows with the system.
    #[allow(clippy::too_many_lines)]
    pub async fn start() -> anyhow::Result<System> {
{%- if uses.kafka %}
        let cluster = MockCluster::new(1).context("cannot start the mock cluster")?;
        let brokers = cluster.bootstrap_servers();
        // The topics every service creates at start-up, created here first so
        // that no consumer waits for a metadata refresh to see its topic.
        let mut topics = BTreeMap::new();
{%- for service in services %}
{%- if service.produces or service.consumes %}
        topics.extend(
            {{ service.ident }}::kafka::TOPICS
                .iter()
                .map(|&(topic, partitions)| (topic.to_owned(), partitions)),
        );
{%- endif %}
{%- if service.consumes %}
        topics.extend(
            {{ service.ident }}::kafka::SUBSCRIBED
                .iter()
                .map(|topic| (runtime::kafka::dead_letter_topic(topic), 1)),
        );
{%- endif %}
{%- endfor %}
        for (topic, partitions) in &topics {
            cluster
                .create_topic(topic, *partitions, 1)
                .with_context(|| format!("cannot create topic {topic}"))?;
        }
{# blank line #}
{%- endif %}
{%- for service in services %}
        let http_{{ service.ident }} = listen().await?;
{%- if service.serves_grpc %}
        let grpc_{{ service.ident }} = listen().await?;
{%- endif %}
{%- endfor %}
        let configs = Configs {
{%- for service in services %}
            {{ service.ident }}: {{ service.ident }}::config::Config::from_lookup(|var| match var {
                {{ service.ident }}::config::HTTP_ADDR_VAR => Some(addr(&http_{{ service.ident }})),
{%- if service.serves_grpc %}
                {{ service.ident }}::config::GRPC_ADDR_VAR => Some(addr(&grpc_{{ service.ident }})),
{%- endif %}
{%- if service.store %}
                {{ service.ident }}::config::DATABASE_URL_VAR => Some(MEMORY.to_owned()),
{%- endif %}
{%- if service.produces or service.consumes %}
                {{ service.ident }}::config::KAFKA_BROKERS_VAR => Some(brokers.clone()),
{%- endif %}
{%- for target in service.rest_targets %}
                {{ service.ident }}::config::{{ target.env }}_VAR => Some(url(&http_{{ target.ident }})),
{%- endfor %}
{%- for target in service.grpc_targets %}
                {{ service.ident }}::config::{{ target.env }}_VAR => Some(url(&grpc_{{ target.ident }})),
{%- endfor %}
{%- if service.serves_rest or service.serves_grpc %}
                budget if budget.ends_with("_TIMEOUT_MS") => Some(DEADLINE_MS.to_owned()),
{%- endif %}
                _ => None,
            })?,
{%- endfor %}
        };

        let shutdown = CancellationToken::new();
        let mut running = JoinSet::new();
{%- for service in services %}
        let http = http_{{ service.ident }};
{%- if service.serves_grpc %}
        let grpc = grpc_{{ service.ident }};
        let listeners = {{ service.ident }}::app::Listeners {
            http,
            metrics: None,
            grpc,
        };
{%- else %}
        let listeners = {{ service.ident }}::app::Listeners {
            http,
            metrics: None,
        };
{%- endif %}
        let (config, token) = (configs.{{ service.ident }}.clone(), shutdown.clone());
        running.spawn(async move {
            let result = {{ service.ident }}::app::run_until(&config, listeners, token).await;
            ("{{ service.name }}", result)
        });
{%- endfor %}
        Ok(System {
{%- if uses.kafka %}
            _cluster: cluster,
            brokers,
{%- endif %}
            configs,
            shutdown,
            running,
        })
    }

    /// Each service's `HTTP_ADDR` (its REST API or its probes), by name.
    pub fn http_addrs(&self) -> Vec<(&'static str, SocketAddr)> {
        vec![
{%- for service in services %}
            ("{{ service.name }}", self.configs.{{ service.ident }}.http_addr),
{%- endfor %}
        ]
    }

    /// Stops every service as SIGTERM stops its binary, and fails naming
    /// each one that did not stop cleanly (or had stopped on its own).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let mut failed = Vec::new();
        while let Some(joined) = self.running.join_next().await {
            let (name, result) = joined.context("a service panicked")?;
            if let Err(err) = result {
                failed.push(format!("{name}: {err:#}"));
            }
        }
        anyhow::ensure!(failed.is_empty(), "{}", failed.join("; "));
        Ok(())
    }
}

/// `GET path` on `addr`: the whole HTTP/1.1 answer.
pub async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    Ok(answer)
}

/// `GET /readyz` on `addr` until every dependency answers (200
/// `{"status":"ready"}`, nothing degraded), for at most 10 s: the last answer
/// (a service checks its dependencies every second until they answer).
pub async fn readyz(addr: SocketAddr) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = get(addr, "/readyz").await?;
        let ready = answer.starts_with("HTTP/1.1 200") && answer.ends_with(r#"{"status":"ready"}"#);
        if ready || Instant::now() > deadline {
            return Ok(answer);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A socket on an ephemeral port of 127.0.0.1.
async fn listen() -> anyhow::Result<TcpListener> {
    TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot bind 127.0.0.1:0")
}

/// `listener`'s address, as `HTTP_ADDR` / `GRPC_ADDR` take it.
fn addr(listener: &TcpListener) -> String {
    listener
        .local_addr()
        .map_or_else(|_| "127.0.0.1:0".to_owned(), |addr| addr.to_string())
}
{%- if uses.rest_client or uses.grpc_client %}

/// `listener`'s URL, as the callers' `*_URL` variables take it.
fn url(listener: &TcpListener) -> String {
    format!("http://{}", addr(listener))
}
{%- endif %}

/// One event logged by any service of the process.
#[derive(Debug, Clone)]
pub struct Logged {
    /// The module that logged it: `orders::handlers::get_order`.
    pub target: String,
    /// Its fields, `message` included, as text.
    pub fields: BTreeMap<String, String>,
}

impl Logged {
    /// The value of field `name`, as text.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// The event's message.
    pub fn message(&self) -> &str {
        self.field("message").unwrap_or_default()
    }
}

/// What the services of the process log at `info` and above, kept for the
/// test to look for, and the spans they export.
#[derive(Debug, Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<Logged>>>, Spans);

/// The spans exported in the process, in the order they ended: the system
/// test's OTLP collector.
#[derive(Debug, Clone, Default)]
pub struct Spans(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Spans {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut spans = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        spans.extend(batch);
        Ok(())
    }
}

impl Spans {
    fn all(&self) -> Vec<SpanData> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Logs {
    /// Keeps every event logged from now on in the process, and also shows
    /// them as text in the test's output (filtered by `RUST_LOG`, default
    /// `info`). The first call installs the process's subscriber; later calls
    /// return the same [`Logs`].
    pub fn capture() -> Logs {
        static LOGS: OnceLock<Logs> = OnceLock::new();
        LOGS.get_or_init(|| {
            let logs = Logs::default();
            let filter =
                EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
            let text = tracing_subscriber::fmt::layer().with_test_writer();
            // Exported as each span ends, as `runtime::trace::init` would
            // to a collector.
            let provider = SdkTracerProvider::builder()
                .with_simple_exporter(logs.1.clone())
                .build();
            let spans = tracing_opentelemetry::layer().with_tracer(provider.tracer("system-test"));
            let installed = tracing_subscriber::registry()
                .with(text.with_filter(filter))
                .with(logs.clone().with_filter(LevelFilter::INFO))
                .with(spans.with_filter(LevelFilter::INFO))
                .try_init();
            if installed.is_ok() {
                runtime::trace::enable();
            }
            logs
        })
        .clone()
    }

    /// Waits up to [`WAIT`] for an event that `wanted` accepts.
    pub async fn wait_for(&self, wanted: impl Fn(&Logged) -> bool) -> bool {
        let deadline = Instant::now() + WAIT;
        loop {
            if self.lock().iter().any(&wanted) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
{%- if uses.kafka %}

    /// Waits for consumer group `group` (a service: see its `kafka::GROUP_ID`) to
    /// have handled an event with record key `key`, and panics if it does not
    /// within [`WAIT`].
    pub async fn assert_handled(&self, group: &str, key: &str) {
        let handled = self
            .wait_for(|e| {
                e.message() == "event handled"
                    && e.field("group") == Some(group)
                    && e.field("key") == Some(key)
            })
            .await;
        assert!(handled, "{group} handled no event keyed {key}");
    }
{%- endif %}

    /// Waits for service `crate_name` (its crate, `order_history`) to have
    /// logged `message`, and panics if it does not within [`WAIT`].
    pub async fn assert_logged(&self, crate_name: &str, message: &str) {
        let prefix = format!("{crate_name}::");
        let logged = self
            .wait_for(|e| e.target.starts_with(&prefix) && e.message() == message)
            .await;
        assert!(logged, "{crate_name} did not log {message:?}");
    }

    /// Waits for one trace to lead from a call of `flow` made at the edge
    /// (its client span, a root: a flow called on several services, or also
    /// by a start-up task, has several) to every span named in `spans`
    /// (servers' spans: `POST /v1/orders`, `shop.v1.OrderService/GetOrder`)
    /// and to the handling of its event by every consumer group of
    /// `consumers` (`(topic, group)`), and panics if none does within
    /// [`WAIT`].
    pub async fn assert_traced(&self, flow: &str, spans: &[&str], consumers: &[(&str, &str)]) {
        let deadline = Instant::now() + WAIT;
        loop {
            let all = self.1.all();
            let roots = all.iter().filter(|s| {
                s.name == flow
                    && s.span_kind == SpanKind::Client
                    && s.parent_span_id == opentelemetry::trace::SpanId::INVALID
            });
            // What each root's trace misses; the closest one is reported.
            let mut closest: Option<(Vec<String>, Vec<String>)> = None;
            for root in roots {
                let trace_id = root.span_context.trace_id();
                let traced: Vec<&SpanData> = all
                    .iter()
                    .filter(|s| s.span_context.trace_id() == trace_id)
                    .collect();
                let missing = missing(&traced, spans, consumers);
                if missing.is_empty() {
                    return;
                }
                let closer = |(m, _): &(Vec<String>, Vec<String>)| missing.len() < m.len();
                if closest.as_ref().is_none_or(closer) {
                    let seen = traced.iter().map(|s| s.name.to_string()).collect();
                    closest = Some((missing, seen));
                }
            }
            if Instant::now() >= deadline {
                match closest {
                    Some((missing, seen)) => {
                        panic!("the trace of {flow} misses {missing:?} (its spans: {seen:?})")
                    }
                    None => panic!("no call of {flow} was traced"),
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Logged>> {
        // A test that panicked while holding it left whole entries behind.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The spans of `spans` and the consumers' spans of `consumers` that
/// `traced` (the spans of one trace) lacks.
fn missing(traced: &[&SpanData], spans: &[&str], consumers: &[(&str, &str)]) -> Vec<String> {
    let named = |name: &str| traced.iter().any(|s| s.name == name);
    let handled = |(topic, group): &(&str, &str)| {
        let name = format!("process {topic}");
        traced.iter().any(|s| {
            s.name == name
                && s.attributes.iter().any(|kv| {
                    kv.key.as_str() == "messaging.consumer.group.name"
                        && kv.value.as_str() == *group
                })
        })
    };
    spans
        .iter()
        .filter(|name| !named(name))
        .map(|name| (*name).to_owned())
        .chain(
            consumers
                .iter()
                .filter(|c| !handled(c))
                .map(|(topic, group)| format!("process {topic} by {group}")),
        )
        .collect()
}

impl<S: Subscriber> Layer<S> for Logs {
    fn on_event(&self, event: &Event<'_>, _context: Context<'_, S>) {
        let mut logged = Logged {
            target: event.metadata().target().to_owned(),
            fields: BTreeMap::new(),
        };
        event.record(&mut logged);
        self.lock().push(logged);
    }
}

impl tracing::field::Visit for Logged {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields
            .insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.fields
            .insert(field.name().to_owned(), format!("{value:?}"));
    }
}
