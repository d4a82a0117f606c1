{%- import "_partials/format.rs" as format -%}
{%- set kafka = service.produces or service.consumes -%}
{#- The default DATABASE_URL, as the environment table gives it (one source). -#}
{%- set database = service.env | filter(attribute="name", value="DATABASE_URL") | first -%}
{%- set serves = service.serves_rest or service.serves_grpc -%}
{%- set targets = service.rest_targets | concat(with=service.grpc_targets) -%}
{%- set tls = serves or targets -%}
{%- set budgeted = service.api.handlers | filter(attribute="budget_ms") -%}
//! Runtime configuration from the environment (with the defaults the README
//! documents), plus the fixed limits and timeouts of this service.
use std::{fmt, net::SocketAddr, time::Duration};

use runtime::telemetry::LogFormat;

/// Environment variable holding the {% if service.serves_rest %}REST{% else %}`/livez` and `/readyz`{% endif %} listen address.
pub const HTTP_ADDR_VAR: &str = "HTTP_ADDR";
{%- if service.serves_rest %}
/// Default REST listen address.
pub const HTTP_ADDR_DEFAULT: &str = "0.0.0.0:{{ http_port }}";
{%- else %}
/// Default `/livez` and `/readyz` listen address: any free port (logged at start-up), so
/// that services without a REST API run side by side on one machine; set
/// `HTTP_ADDR` where a probe needs a fixed port.
pub const HTTP_ADDR_DEFAULT: &str = "0.0.0.0:0";
{%- endif %}
/// Environment variable holding where `/metrics` listens; unset, it is
/// served beside the probes on `HTTP_ADDR`.
pub const METRICS_ADDR_VAR: &str = "METRICS_ADDR";
{%- if service.browser_flows %}
/// Environment variable holding the web origins allowed to call the REST API
/// from a browser ({% for f in service.browser_flows %}`{{ f }}`{% if not loop.last %}, {% endif %}{% endfor %}), comma-separated, or `*`; unset, none is.
pub const CORS_ALLOWED_ORIGINS_VAR: &str = "CORS_ALLOWED_ORIGINS";
{%- endif %}
/// Environment variable choosing the log format: `text` (the default) or
/// `json`, one object per line.
pub const LOG_FORMAT_VAR: &str = "LOG_FORMAT";
/// Environment variable holding the OTLP/gRPC collector the spans are
/// exported to (`runtime::trace`); unset, the service does not trace.
pub const OTEL_EXPORTER_OTLP_ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// Environment variable naming the OTLP protocol: only `grpc` is built in.
pub const OTEL_EXPORTER_OTLP_PROTOCOL_VAR: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
{%- if service.serves_grpc %}
/// Environment variable holding the gRPC listen address.
pub const GRPC_ADDR_VAR: &str = "GRPC_ADDR";
/// Default gRPC listen address.
pub const GRPC_ADDR_DEFAULT: &str = "0.0.0.0:{{ grpc_port }}";
{%- endif %}
{%- if service.store %}
{%- set kept = [] %}
{%- if service.keys.any %}{% set_global kept = kept | concat(with="idempotency records") %}{% endif %}
{%- if service.outbox %}{% set_global kept = kept | concat(with="outbox") %}{% endif %}
{%- if service.dedupe %}{% set_global kept = kept | concat(with="handled event ids") %}{% endif %}
/// Environment variable holding the URL of the service's database, where it
/// keeps its {{ kept | join(sep=", ") }}: `sqlite://…` or `postgres://…`.
pub const DATABASE_URL_VAR: &str = "DATABASE_URL";
/// Default database: a `SQLite` file in the `data` folder where the service
/// runs, created at start-up. Replicas need a shared `PostgreSQL` instead.
pub const DATABASE_URL_DEFAULT: &str = "{{ database.default }}";
{%- endif %}
{%- if kafka %}
/// Environment variable holding the Kafka bootstrap servers.
pub const KAFKA_BROKERS_VAR: &str = "KAFKA_BROKERS";
/// Default Kafka bootstrap servers.
pub const KAFKA_BROKERS_DEFAULT: &str = "{{ kafka_brokers }}";
/// Environment variable holding the replication factor of the topics this
/// service creates.
pub const KAFKA_REPLICATION_VAR: &str = "KAFKA_REPLICATION";
/// Default replication factor: 1 suits the single-node development broker;
/// set `KAFKA_REPLICATION` (3 is recommended) on a production cluster.
pub const KAFKA_REPLICATION_DEFAULT: i32 = 1;
{%- endif %}
{%- if service.consumes %}
/// Environment variable holding how many events are handled at once, in
/// lanes by key (default [`runtime::kafka::CONCURRENCY`]; 1 handles them one
/// at a time, in partition order).
pub const KAFKA_CONSUMER_CONCURRENCY_VAR: &str = "KAFKA_CONSUMER_CONCURRENCY";
{%- endif %}
{%- if service.produces %}
/// Environment variable holding how long a batch of events waits for more
/// before it is sent, in milliseconds (`linger.ms`, default
/// [`runtime::kafka::LINGER`]).
pub const KAFKA_LINGER_MS_VAR: &str = "KAFKA_LINGER_MS";
/// Environment variable holding the codec of event batches: one of
/// [`runtime::kafka::COMPRESSIONS`] (default [`runtime::kafka::COMPRESSION`]).
pub const KAFKA_COMPRESSION_VAR: &str = "KAFKA_COMPRESSION";
{%- endif %}
{%- if service.kafka.transactional %}
/// Environment variable holding the producer's `transactional.id`.
pub const KAFKA_TRANSACTIONAL_ID_VAR: &str = "KAFKA_TRANSACTIONAL_ID";
/// The default `transactional.id` is this, a dash and the host's name
/// (`HOSTNAME`, else `/etc/hostname`): replicas on different hosts (pods,
/// containers) never fence each other off, while an instance restarted on
/// the same host fences its predecessor and aborts its open transaction at
/// once. Two instances on one host need `KAFKA_TRANSACTIONAL_ID` each.
pub const KAFKA_TRANSACTIONAL_ID_DEFAULT: &str = "{{ service.name }}";
{%- endif %}
{%- for target in targets %}
/// Environment variable holding the URL of {{ target.name }}
{%- if target.env is ending_with("HTTP_URL") %}' REST API{% else %}' gRPC server{% endif %}.
pub const {{ target.env }}_VAR: &str = "{{ target.env }}";
/// Default URL of {{ target.name }}
{%- if target.env is ending_with("HTTP_URL") %}' REST API{% else %}' gRPC server{% endif %}.
pub const {{ target.env }}_DEFAULT: &str = "{{ target.default_url }}";
{%- endfor %}
{%- if service.serves_rest %}

/// Largest REST request body accepted; larger ones get 413.
pub const HTTP_BODY_LIMIT_BYTES: usize = 64 * 1024;
{%- endif %}
{%- if service.serves_grpc %}
{%- if not service.serves_rest %}
{% endif %}
/// Largest gRPC message decoded or encoded.
pub const GRPC_MAX_MESSAGE_BYTES: usize = 64 * 1024;
{%- endif %}
{%- for h in budgeted %}
/// Server budget of `{{ h.rpc }}` ({{ h.budget_from | join(sep="; ") }}):
/// past it, a REST request is answered 503 and a gRPC call `DEADLINE_EXCEEDED`.
pub const {{ h.budget_const }}: Duration = {{ h.budget_rust }};
/// Environment variable overriding [`{{ h.budget_const }}`], in milliseconds.
pub const {{ h.budget_const }}_VAR: &str = "{{ h.budget_env }}";
{%- endfor %}
{%- if not serves %}
{% endif %}
/// How long {% if serves %}in-flight requests{% elif service.handles %}the event being handled{% else %}the tasks{% endif %} may take to finish after SIGTERM / Ctrl-C.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs({{ service.deployment.drain_secs }});
{%- if service.handles %}
/// Environment variable read by debug builds only: delays every handler by
/// this many milliseconds, to rehearse timeouts, crashes and shutdowns in the
/// middle of the work against the real binary (the fault tests use it).
/// Release builds ignore it.
pub const DEBUG_HANDLER_DELAY_MS_VAR: &str = "DEBUG_HANDLER_DELAY_MS";
{%- endif %}
{%- if serves %}

/// The server's budget of each served rpc: the most generous `latency_ms` of
/// the flows it serves (1 s for a flow without one), overridable from the
/// environment. A caller's shorter gRPC deadline still wins. Streams have
/// none: they last as long as their caller listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
{%- if budgeted %}
pub struct Timeouts {
{%- for h in budgeted %}
    /// `{{ h.rpc }}`: [`{{ h.budget_const }}`].
    pub {{ h.module }}: Duration,
{%- endfor %}
}

impl Timeouts {
    /// Every budget set to `every`, for tests that check answers rather
    /// than latency (a debug build on a busy machine misses the budgets).
    pub fn all(every: Duration) -> Timeouts {
{%- set fields = [] %}
{%- for h in budgeted %}{% set_global fields = fields | concat(with=h.module ~ ": every") %}{% endfor %}
{{ format::fields(indent="        ", head="Timeouts", fields=fields, tail="") }}
    }
}

impl Default for Timeouts {
    /// The budgets of the flows.
    fn default() -> Self {
{%- set fields = [] %}
{%- for h in budgeted %}{% set_global fields = fields | concat(with=h.module ~ ": " ~ h.budget_const) %}{% endfor %}
{{ format::fields(indent="        ", head="Timeouts", fields=fields, tail="") }}
    }
}
{%- else %}
pub struct Timeouts;

impl Timeouts {
    /// Every budget set to `every` (this service serves streams only).
    pub fn all(_every: Duration) -> Timeouts {
        Timeouts
    }
}

impl Default for Timeouts {
    /// The budgets of the flows (this service serves streams only).
    fn default() -> Self {
        Timeouts
    }
}
{%- endif %}
{%- endif %}

/// The service's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where the {% if service.serves_rest %}REST server{% else %}`/livez` and `/readyz` probes{% endif %} listen{% if service.serves_rest %}s{% endif %}.
    pub http_addr: SocketAddr,
    /// Where `/metrics` listens (`None`: beside the probes).
    pub metrics_addr: Option<SocketAddr>,
    /// How the logs are written.
    pub log_format: LogFormat,
    /// The OTLP/gRPC collector the spans go to (`None`: no tracing).
    pub otlp_endpoint: Option<String>,
{%- if tls %}
    /// TLS (`TLS_CERT`, `TLS_KEY`, `TLS_CLIENT_CA`, `TLS_CA`; `runtime::tls`)
    /// of {% if serves %}the {% if service.serves_rest %}REST{% endif %}{% if service.serves_rest and service.serves_grpc %} and {% endif %}{% if service.serves_grpc %}gRPC{% endif %} server{% if service.serves_rest and service.serves_grpc %}s{% endif %}{% if targets %} and of {% endif %}{% endif %}{% if targets %}`https://` calls{% endif %}.
    pub tls: runtime::tls::Tls,
{%- endif %}
{%- if service.browser_flows %}
    /// The web origins allowed to call from a browser (`*`: any).
    pub cors_allowed_origins: Vec<String>,
{%- endif %}
{%- if service.serves_grpc %}
    /// Where the gRPC server listens.
    pub grpc_addr: SocketAddr,
{%- endif %}
{%- if service.store %}
    /// The service's database: `sqlite://…` or `postgres://…`.
    pub database_url: String,
{%- endif %}
{%- if kafka %}
    /// Kafka bootstrap servers, comma-separated `host:port`.
    pub kafka_brokers: String,
    /// Replication factor of the topics this service creates.
    pub kafka_replication: i32,
    /// How the Kafka clients connect: plaintext, TLS or SASL
    /// (`KAFKA_SECURITY_PROTOCOL`…; `runtime::kafka::Security`).
    pub kafka_security: runtime::kafka::Security,
{%- endif %}
{%- if service.consumes %}
    /// How many events are handled at once.
    pub kafka_concurrency: usize,
{%- endif %}
{%- if service.produces %}
    /// How long a batch of events waits for more before it is sent.
    pub kafka_linger: Duration,
    /// The codec of event batches.
    pub kafka_compression: &'static str,
{%- endif %}
{%- if service.kafka.transactional %}
    /// `transactional.id` of the exactly-once producer.
    pub kafka_transactional_id: String,
{%- endif %}
{%- if serves %}
    /// The server's budget of each served rpc.
    pub timeouts: Timeouts,
{%- endif %}
{%- for target in targets %}
    /// URL of {{ target.name }}
{%- if target.env is ending_with("HTTP_URL") %}' REST API, without a trailing slash{% else %}' gRPC server, `http://host:port`{% endif %}.
    pub {{ target.field }}: String,
{%- endfor %}
}

/// An environment variable with a value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable's name.
    pub var: &'static str,
    /// Why its value was refused.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.var, self.reason)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let value = |var: &str, default: &str| {
            lookup(var)
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let addr = |var: &'static str, default: &str| {
            let raw = value(var, default);
            raw.trim().parse::<SocketAddr>().map_err(|e| ConfigError {
                var,
                reason: format!("`{raw}` is not an ip:port address ({e})"),
            })
        };
        Ok(Self {
            http_addr: addr(HTTP_ADDR_VAR, HTTP_ADDR_DEFAULT)?,
            metrics_addr: match lookup(METRICS_ADDR_VAR).filter(|v| !v.trim().is_empty()) {
                Some(raw) => Some(addr(METRICS_ADDR_VAR, &raw)?),
                None => None,
            },
            log_format: log_format(lookup(LOG_FORMAT_VAR))?,
            otlp_endpoint: otlp_endpoint(&lookup)?,
{%- if tls %}
            tls: runtime::tls::Tls::from_lookup(&lookup).map_err(|err| ConfigError {
                var: err.var,
                reason: err.reason,
            })?,
{%- endif %}
{%- if service.browser_flows %}
            cors_allowed_origins: runtime::rest::origins(&value(CORS_ALLOWED_ORIGINS_VAR, ""))
                .map_err(|err| ConfigError {
                    var: CORS_ALLOWED_ORIGINS_VAR,
                    reason: err.0,
                })?,
{%- endif %}
{%- if service.serves_grpc %}
            grpc_addr: addr(GRPC_ADDR_VAR, GRPC_ADDR_DEFAULT)?,
{%- endif %}
{%- if service.store %}
            database_url: database_url(&value(DATABASE_URL_VAR, DATABASE_URL_DEFAULT))?,
{%- endif %}
{%- if kafka %}
            kafka_brokers: value(KAFKA_BROKERS_VAR, KAFKA_BROKERS_DEFAULT),
            kafka_replication: replication(lookup(KAFKA_REPLICATION_VAR))?,
            kafka_security: runtime::kafka::Security::from_lookup(&lookup).map_err(|err| {
                ConfigError {
                    var: err.var,
                    reason: err.reason,
                }
            })?,
{%- endif %}
{%- if service.consumes %}
            kafka_concurrency: concurrency(lookup(KAFKA_CONSUMER_CONCURRENCY_VAR))?,
{%- endif %}
{%- if service.produces %}
            kafka_linger: linger(lookup(KAFKA_LINGER_MS_VAR))?,
            kafka_compression: compression(lookup(KAFKA_COMPRESSION_VAR))?,
{%- endif %}
{%- if service.kafka.transactional %}
            kafka_transactional_id: value(
                KAFKA_TRANSACTIONAL_ID_VAR,
                &default_transactional_id(lookup("HOSTNAME")),
            ),
{%- endif %}
{%- if budgeted %}
            timeouts: Timeouts {
{%- for h in budgeted %}
{%- set args = "&lookup, " ~ h.budget_const ~ "_VAR, " ~ h.budget_const %}
{%- set line = "                " ~ h.module ~ ": budget(" ~ args ~ ")?," %}
{%- if args | length <= 60 and line | length <= 100 %}
                {{ h.module }}: budget(&lookup, {{ h.budget_const }}_VAR, {{ h.budget_const }})?,
{%- else %}
                {{ h.module }}: budget(
                    &lookup,
                    {{ h.budget_const }}_VAR,
                    {{ h.budget_const }},
                )?,
{%- endif %}
{%- endfor %}
            },
{%- elif serves %}
            timeouts: Timeouts,
{%- endif %}
{%- for target in targets %}
            {{ target.field }}: http_url(
                {{ target.env }}_VAR,
                &value({{ target.env }}_VAR, {{ target.env }}_DEFAULT),
            )?,
{%- endfor %}
        })
    }
}
{%- if service.handles %}

/// The delay of [`DEBUG_HANDLER_DELAY_MS_VAR`], read once; always `None` in
/// release builds.
pub fn debug_handler_delay() -> Option<Duration> {
    #[cfg(debug_assertions)]
    {
        static DELAY: std::sync::OnceLock<Option<Duration>> = std::sync::OnceLock::new();
        *DELAY.get_or_init(|| {
            let delay = std::env::var(DEBUG_HANDLER_DELAY_MS_VAR)
                .ok()?
                .trim()
                .parse()
                .ok()
                .map(Duration::from_millis)?;
            tracing::warn!(
                ?delay,
                "{DEBUG_HANDLER_DELAY_MS_VAR} slows every handler down"
            );
            Some(delay)
        })
    }
    #[cfg(not(debug_assertions))]
    {
        None
    }
}

/// Sleeps for [`debug_handler_delay`], if any: the plumbing calls it before
/// each handler.
pub async fn debug_handler_pause() {
    if let Some(delay) = debug_handler_delay() {
        tokio::time::sleep(delay).await;
    }
}
{%- endif %}
{%- if service.store %}

/// A database URL this service can open: `SQLite` or `PostgreSQL`.
fn database_url(raw: &str) -> Result<String, ConfigError> {
    let url = raw.trim().to_owned();
    if runtime::store::backend_of(&url).is_some() {
        Ok(url)
    } else {
        Err(ConfigError {
            var: DATABASE_URL_VAR,
            reason: format!(
                "`{raw}` is neither sqlite://path/to/file.db nor postgres://user:password@host/database"
            ),
        })
    }
}
{%- endif %}
{%- if kafka %}

/// A replication factor: a positive integer, [`KAFKA_REPLICATION_DEFAULT`] when unset.
fn replication(raw: Option<String>) -> Result<i32, ConfigError> {
    let Some(raw) = raw.filter(|v| !v.trim().is_empty()) else {
        return Ok(KAFKA_REPLICATION_DEFAULT);
    };
    match raw.trim().parse::<i32>() {
        Ok(factor) if factor >= 1 => Ok(factor),
        _ => Err(ConfigError {
            var: KAFKA_REPLICATION_VAR,
            reason: format!("`{raw}` is not a positive integer"),
        }),
    }
}
{%- endif %}
{%- if budgeted %}

/// A server budget from `var`: whole milliseconds ≥ 1, `default` when unset.
fn budget(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let Some(raw) = lookup(var).filter(|v| !v.trim().is_empty()) else {
        return Ok(default);
    };
    match raw.trim().parse::<u64>() {
        Ok(ms) if ms >= 1 => Ok(Duration::from_millis(ms)),
        _ => Err(ConfigError {
            var,
            reason: format!("`{raw}` is not a whole number of milliseconds ≥ 1"),
        }),
    }
}
{%- endif %}
{%- if service.consumes %}

/// A number of lanes from 1 to 1024, [`runtime::kafka::CONCURRENCY`] when
/// unset.
fn concurrency(raw: Option<String>) -> Result<usize, ConfigError> {
    let Some(raw) = raw.filter(|v| !v.trim().is_empty()) else {
        return Ok(runtime::kafka::CONCURRENCY);
    };
    match raw.trim().parse::<usize>() {
        Ok(lanes @ 1..=1024) => Ok(lanes),
        _ => Err(ConfigError {
            var: KAFKA_CONSUMER_CONCURRENCY_VAR,
            reason: format!("`{raw}` is not a number from 1 to 1024"),
        }),
    }
}
{%- endif %}
{%- if service.produces %}

/// A `linger.ms`: whole milliseconds up to librdkafka's 900000,
/// [`runtime::kafka::LINGER`] when unset.
fn linger(raw: Option<String>) -> Result<Duration, ConfigError> {
    let Some(raw) = raw.filter(|v| !v.trim().is_empty()) else {
        return Ok(runtime::kafka::LINGER);
    };
    match raw.trim().parse::<u64>() {
        Ok(ms) if ms <= 900_000 => Ok(Duration::from_millis(ms)),
        _ => Err(ConfigError {
            var: KAFKA_LINGER_MS_VAR,
            reason: format!("`{raw}` is not a number of milliseconds from 0 to 900000"),
        }),
    }
}

/// A codec of [`runtime::kafka::COMPRESSIONS`], [`runtime::kafka::COMPRESSION`]
/// when unset.
fn compression(raw: Option<String>) -> Result<&'static str, ConfigError> {
    let Some(raw) = raw.filter(|v| !v.trim().is_empty()) else {
        return Ok(runtime::kafka::COMPRESSION);
    };
    let wanted = raw.trim().to_ascii_lowercase();
    runtime::kafka::COMPRESSIONS
        .iter()
        .find(|codec| **codec == wanted)
        .copied()
        .ok_or_else(|| ConfigError {
            var: KAFKA_COMPRESSION_VAR,
            reason: format!(
                "`{raw}` is not one of {}",
                runtime::kafka::COMPRESSIONS.join(", ")
            ),
        })
}
{%- endif %}
{%- if service.kafka.transactional %}

/// [`KAFKA_TRANSACTIONAL_ID_DEFAULT`], a dash and the host's name: `hostname`
/// (the `HOSTNAME` variable), else `/etc/hostname`, else `localhost`.
fn default_transactional_id(hostname: Option<String>) -> String {
    let host = hostname
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|host| host.trim().to_owned())
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{KAFKA_TRANSACTIONAL_ID_DEFAULT}-{host}")
}
{%- endif %}
{%- if targets %}

/// Accepts `http://host[:port][/prefix]`, and `https://` (TLS: `TLS_CA`'s
/// roots, else Mozilla's; see `runtime::tls`).
fn http_url(var: &'static str, raw: &str) -> Result<String, ConfigError> {
    let url = raw.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(rest) if !rest.is_empty() => Ok(url.to_owned()),
        _ => Err(ConfigError {
            var,
            reason: format!("`{raw}` is not an http:// or https:// URL (http://host:port)"),
        }),
    }
}
{%- endif %}

/// The collector of `OTEL_EXPORTER_OTLP_ENDPOINT`, if set (see
/// [`runtime::trace::otlp_endpoint`]).
/// The protocol is checked only then: a platform may set it for every pod.
fn otlp_endpoint(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<String>, ConfigError> {
    let endpoint = lookup(OTEL_EXPORTER_OTLP_ENDPOINT_VAR);
    let endpoint = runtime::trace::otlp_endpoint(endpoint.as_deref());
    let endpoint = endpoint.map_err(|reason| ConfigError {
        var: OTEL_EXPORTER_OTLP_ENDPOINT_VAR,
        reason,
    })?;
    if endpoint.is_some() {
        let protocol = lookup(OTEL_EXPORTER_OTLP_PROTOCOL_VAR);
        let checked = runtime::trace::otlp_protocol(protocol.as_deref());
        checked.map_err(|reason| ConfigError {
            var: OTEL_EXPORTER_OTLP_PROTOCOL_VAR,
            reason,
        })?;
    }
    Ok(endpoint)
}

/// A format of [`LogFormat::NAMES`], text when unset.
fn log_format(raw: Option<String>) -> Result<LogFormat, ConfigError> {
    let Some(raw) = raw.filter(|v| !v.trim().is_empty()) else {
        return Ok(LogFormat::Text);
    };
    LogFormat::parse(&raw).ok_or_else(|| ConfigError {
        var: LOG_FORMAT_VAR,
        reason: format!("`{raw}` is not one of {}", LogFormat::NAMES.join(", ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let config = Config::from_lookup(|_| None).unwrap();
        assert_eq!(config.http_addr.to_string(), "0.0.0.0:{% if service.serves_rest %}{{ http_port }}{% else %}0{% endif %}");
        assert_eq!(config.metrics_addr, None);
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.otlp_endpoint, None);
{%- if service.browser_flows %}
        assert!(config.cors_allowed_origins.is_empty());
{%- endif %}
{%- if service.serves_grpc %}
        assert_eq!(config.grpc_addr.to_string(), "0.0.0.0:{{ grpc_port }}");
{%- endif %}
{%- if service.store %}
        assert_eq!(config.database_url, "{{ database.default }}");
{%- endif %}
{%- if kafka %}
        assert_eq!(config.kafka_brokers, "{{ kafka_brokers }}");
        assert_eq!(config.kafka_replication, 1);
        assert_eq!(config.kafka_security.protocol(), "plaintext");
{%- endif %}
{%- if service.consumes %}
        assert_eq!(config.kafka_concurrency, runtime::kafka::CONCURRENCY);
{%- endif %}
{%- if service.produces %}
        assert_eq!(config.kafka_linger, runtime::kafka::LINGER);
        assert_eq!(config.kafka_compression, "lz4");
{%- endif %}
{%- if service.kafka.transactional %}
        // The host's name: replicas on other hosts get ids of their own.
        assert!(
            config.kafka_transactional_id.starts_with("{{ service.name }}-"),
            "{}",
            config.kafka_transactional_id
        );
{%- endif %}
{%- for target in targets %}
        assert_eq!(config.{{ target.field }}, "{{ target.default_url }}");
{%- endfor %}
{%- if budgeted %}
        assert_eq!(config.timeouts, Timeouts::default());
{%- endif %}
    }

{% if service.store %}    #[test]
    fn refuses_a_database_it_cannot_open() {
        let mysql = |var: &str| (var == DATABASE_URL_VAR).then(|| "mysql://db/x".to_owned());
        let err = Config::from_lookup(mysql).unwrap_err();
        assert_eq!(err.var, DATABASE_URL_VAR);
        let postgres = Config::from_lookup(|var| {
            (var == DATABASE_URL_VAR).then(|| "postgres://app@db/{{ service.ident }}".into())
        });
        assert!(postgres.is_ok());
    }

{% endif %}    #[test]
    fn environment_overrides_the_defaults() {
        let config = Config::from_lookup(|var| {
            Some(
                match var {
                    HTTP_ADDR_VAR => "127.0.0.1:8080",
                    METRICS_ADDR_VAR => "127.0.0.1:9464",
                    LOG_FORMAT_VAR => "JSON",
                    OTEL_EXPORTER_OTLP_ENDPOINT_VAR => "http://collector:4317/",
{%- if service.browser_flows %}
                    CORS_ALLOWED_ORIGINS_VAR => "https://shop.example.com",
{%- endif %}
{%- if service.serves_grpc %}
                    GRPC_ADDR_VAR => "127.0.0.1:9090",
{%- endif %}
{%- if kafka %}
                    KAFKA_BROKERS_VAR => "kafka:9092",
                    KAFKA_REPLICATION_VAR => "3",
{%- endif %}
{%- if service.consumes %}
                    KAFKA_CONSUMER_CONCURRENCY_VAR => "4",
{%- endif %}
{%- if service.produces %}
                    KAFKA_LINGER_MS_VAR => "20",
                    KAFKA_COMPRESSION_VAR => "GZIP",
{%- endif %}
{%- if service.kafka.transactional %}
                    KAFKA_TRANSACTIONAL_ID_VAR => "{{ service.name }}-2",
{%- endif %}
{%- for target in targets %}
                    {{ target.env }}_VAR => "http://{{ target.name }}:8080/",
{%- endfor %}
{%- for h in budgeted %}
                    {{ h.budget_const }}_VAR => "{{ 250 + loop.index0 }}",
{%- endfor %}
                    _ => return None,
                }
                .to_owned(),
            )
        })
        .unwrap();
        assert_eq!(config.http_addr.to_string(), "127.0.0.1:8080");
        let metrics = config.metrics_addr.map(|addr| addr.to_string());
        assert_eq!(metrics.as_deref(), Some("127.0.0.1:9464"));
        assert_eq!(config.log_format, LogFormat::Json);
        let otlp = config.otlp_endpoint.as_deref();
        assert_eq!(otlp, Some("http://collector:4317"));
{%- if service.browser_flows %}
        assert_eq!(config.cors_allowed_origins, ["https://shop.example.com"]);
{%- endif %}
{%- if service.serves_grpc %}
        assert_eq!(config.grpc_addr.to_string(), "127.0.0.1:9090");
{%- endif %}
{%- if kafka %}
        assert_eq!(config.kafka_brokers, "kafka:9092");
        assert_eq!(config.kafka_replication, 3);
{%- endif %}
{%- if service.consumes %}
        assert_eq!(config.kafka_concurrency, 4);
{%- endif %}
{%- if service.produces %}
        assert_eq!(config.kafka_linger, Duration::from_millis(20));
        assert_eq!(config.kafka_compression, "gzip");
{%- endif %}
{%- if service.kafka.transactional %}
        assert_eq!(config.kafka_transactional_id, "{{ service.name }}-2");
{%- endif %}
{%- for target in targets %}
        // Trailing slashes are dropped.
        assert_eq!(config.{{ target.field }}, "http://{{ target.name }}:8080");
{%- endfor %}
{%- for h in budgeted %}
{%- set ms = 250 + loop.index0 %}
{%- set field = "config.timeouts." ~ h.module %}
{%- set expected = "Duration::from_millis(" ~ ms ~ ")" %}
{{ format::args(indent="        ", head="assert_eq!", args=[field, expected], tail=";") }}
{%- endfor %}
    }

    #[test]
    fn names_the_variable_with_a_bad_address() {
        {%- if service.serves_rest or not service.serves_grpc %}{% set var = "HTTP_ADDR" %}{% else %}{% set var = "GRPC_ADDR" %}{% endif %}
        let lookup = |var: &str| (var == {{ var }}_VAR).then(|| "localhost".to_owned());
        let err = Config::from_lookup(lookup).unwrap_err();
        assert_eq!(err.var, {{ var }}_VAR);
        assert!(
            err.to_string()
                .starts_with("invalid {{ var }}: `localhost`"),
            "{err}"
        );
    }

    #[test]
    fn refuses_a_bad_metrics_address_log_format_or_collector{% if service.browser_flows %}_or_origin{% endif %}() {
        let metrics = |var: &str| (var == METRICS_ADDR_VAR).then(|| ":9464".to_owned());
        let err = Config::from_lookup(metrics).unwrap_err();
        assert_eq!(err.var, METRICS_ADDR_VAR);
        let logs = |var: &str| (var == LOG_FORMAT_VAR).then(|| "logfmt".to_owned());
        let err = Config::from_lookup(logs).unwrap_err();
        let expected = "invalid LOG_FORMAT: `logfmt` is not one of text, json";
        assert_eq!(err.to_string(), expected);
        let otlp = |var: &str| {
            (var == OTEL_EXPORTER_OTLP_ENDPOINT_VAR).then(|| "collector:4317".to_owned())
        };
        let err = Config::from_lookup(otlp).unwrap_err();
        assert_eq!(err.var, OTEL_EXPORTER_OTLP_ENDPOINT_VAR);
        let http = |var: &str| match var {
            OTEL_EXPORTER_OTLP_PROTOCOL_VAR => Some("http/protobuf".to_owned()),
            OTEL_EXPORTER_OTLP_ENDPOINT_VAR => Some("http://collector:4318".to_owned()),
            _ => None,
        };
        let err = Config::from_lookup(http).unwrap_err();
        assert_eq!(err.var, OTEL_EXPORTER_OTLP_PROTOCOL_VAR);
        // Without an endpoint nothing is exported: the protocol is not read.
        let untraced = |var: &str| {
            (var == OTEL_EXPORTER_OTLP_PROTOCOL_VAR).then(|| "http/protobuf".to_owned())
        };
        assert!(Config::from_lookup(untraced).is_ok());
{%- if service.browser_flows %}
        let cors = |var: &str| (var == CORS_ALLOWED_ORIGINS_VAR).then(|| "shop.example".to_owned());
        let err = Config::from_lookup(cors).unwrap_err();
        assert_eq!(err.var, CORS_ALLOWED_ORIGINS_VAR);
{%- endif %}
    }
{%- if kafka %}

    #[test]
    fn refuses_a_replication_factor_that_is_not_positive() {
        for raw in ["0", "-1", "three"] {
            let lookup = |var: &str| (var == KAFKA_REPLICATION_VAR).then(|| raw.to_owned());
            let err = Config::from_lookup(lookup).unwrap_err();
            assert_eq!(err.var, KAFKA_REPLICATION_VAR, "{raw}");
        }
    }
{%- endif %}
{%- if service.consumes %}

    #[test]
    fn refuses_a_concurrency_out_of_range() {
        for raw in ["0", "1025", "-2", "many"] {
            let lookup =
                |var: &str| (var == KAFKA_CONSUMER_CONCURRENCY_VAR).then(|| raw.to_owned());
            let err = Config::from_lookup(lookup).unwrap_err();
            assert_eq!(err.var, KAFKA_CONSUMER_CONCURRENCY_VAR, "{raw}");
        }
    }
{%- endif %}
{%- if service.produces %}

    #[test]
    fn refuses_a_linger_or_a_codec_librdkafka_would_not_take() {
        for (var, raw) in [
            (KAFKA_LINGER_MS_VAR, "-1"),
            (KAFKA_LINGER_MS_VAR, "900001"),
            (KAFKA_LINGER_MS_VAR, "5ms"),
            (KAFKA_COMPRESSION_VAR, "zstd"),
            (KAFKA_COMPRESSION_VAR, "brotli"),
        ] {
            let lookup = |name: &str| (name == var).then(|| raw.to_owned());
            let err = Config::from_lookup(lookup).unwrap_err();
            assert_eq!(err.var, var, "{raw}");
        }
    }
{%- endif %}
{%- if budgeted %}
{%- set h = budgeted | first %}

    #[test]
    fn refuses_a_budget_that_is_not_a_positive_number_of_milliseconds() {
        for raw in ["0", "-5", "1s", "0.5"] {
{{ format::let(indent="            ", head="let lookup =", value="|var: &str| (var == " ~ h.budget_const ~ "_VAR).then(|| raw.to_owned());") }}
            let err = Config::from_lookup(lookup).unwrap_err();
            assert_eq!(err.var, {{ h.budget_const }}_VAR, "{raw}");
        }
    }
{%- endif %}
{%- if service.kafka.transactional %}

    #[test]
    fn the_transactional_id_is_the_service_and_the_host_by_default() {
        let lookup = |var: &str| (var == "HOSTNAME").then(|| "pod-7".to_owned());
        let config = Config::from_lookup(lookup).unwrap();
        assert_eq!(config.kafka_transactional_id, "{{ service.name }}-pod-7");
    }
{%- endif %}
{%- for target in targets %}

    #[test]
    fn refuses_what_is_not_an_http_url_in_{{ target.env | lower }}() {
{%- set raws = ['"' ~ target.name ~ ':5000"', '"ftp://' ~ target.name ~ '"', '"http://"', '"https://"'] %}
{{ format::array(indent="        ", head="for raw in ", items=raws, tail=" {") }}
            let lookup = |var: &str| (var == {{ target.env }}_VAR).then(|| raw.to_owned());
            let err = Config::from_lookup(lookup).unwrap_err();
            assert_eq!(err.var, {{ target.env }}_VAR, "{raw}");
        }
    }
{%- endfor %}
{%- if targets %}

    #[test]
    fn accepts_https_peers() {
        let url = "https://{{ targets.0.name }}.internal:8443";
        let lookup = |var: &str| (var == {{ targets.0.env }}_VAR).then(|| url.to_owned());
        let config = Config::from_lookup(lookup).unwrap();
        assert_eq!(config.{{ targets.0.field }}, url);
    }
{%- endif %}
{%- if tls %}

    #[test]
    fn refuses_a_certificate_without_its_key() {
        let lookup = |var: &str| (var == "TLS_CERT").then(|| "cert.pem".to_owned());
        let err = Config::from_lookup(lookup).unwrap_err();
        assert_eq!(err.var, "TLS_KEY");
        assert!(err.reason.contains("give both"), "{}", err.reason);
    }

    #[test]
    fn refuses_a_certificate_file_that_is_not_there() {
        let lookup = |var: &str| match var {
            "TLS_CERT" => Some("/nonexistent/cert.pem".to_owned()),
            "TLS_KEY" => Some("/nonexistent/key.pem".to_owned()),
            _ => None,
        };
        let err = Config::from_lookup(lookup).unwrap_err();
        assert_eq!(err.var, "TLS_CERT");
        let reason = &err.reason;
        assert!(reason.contains("/nonexistent/cert.pem"), "{reason}");
    }
{%- endif %}
}
