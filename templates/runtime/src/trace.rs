//! Traces across the services: `OpenTelemetry` spans through `tracing`
//! (tracing-opentelemetry), exported over OTLP/gRPC, and the W3C trace
//! context (`traceparent`, `tracestate`) carried on every hop, so one trace
//! follows a request from the REST call through the gRPC calls it makes to
//! the events it publishes and the consumers that handle them.
//!
//! On only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (see `init`). Off,
//! every function here is one relaxed load of a flag returning a disabled
//! span or nothing, so the instrumentation costs nothing measurable, and the
//! service neither reads nor sends trace context: a trace through a service
//! without an exporter starts again after it.
//!
//! | hop | span (`otel.kind`) | name | context |
//! |-----|--------------------|------|---------|
//! | REST request served | server | `GET /orders/{id}` (the route template) | read from the request's headers |
//! | gRPC call served | server | `shop.v1.OrderService/GetOrder` | read from the call's metadata |
//! | call of another service (REST or gRPC) | client | the flow (`lookup-order`), its retries included | written into the request's headers or metadata |
//! | event published (`Publisher::publish`) | producer | `send <topic>` | written into the record's headers |
//! | event handled | consumer | `process <topic>` | read from the record's headers |
//!
//! An event written to the transactional outbox keeps the `traceparent` of
//! the request that wrote it, in its row; the relay sends it in the record's
//! headers (with no span of its own), so the consumers' spans join the
//! request's trace although the relay publishes later, from a task of its
//! own. A dead letter keeps its event's context. The probes, `/metrics`,
//! gRPC health checks and reflection are not traced: every scrape would be
//! a trace of its own.
//!
//! Attribute names follow `OpenTelemetry`'s semantic conventions
//! (`http.route`, `rpc.method`, `messaging.destination.name`, …). Every span
//! made here also has a `trace_id` field: JSON logs print it on every line
//! written within the span (see [`crate::telemetry::init_logs`]).

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::{
    propagation::{Extractor, Injector, TextMapPropagator as _},
    trace::TraceContextExt as _,
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::{Span, field};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The W3C trace context header naming the trace and the calling span.
pub const TRACEPARENT: &str = "traceparent";
/// The W3C header carrying vendors' own trace state alongside.
pub const TRACESTATE: &str = "tracestate";

/// Whether spans are exported: set once `init`'s layer is installed.
static ON: AtomicBool = AtomicBool::new(false);

/// Whether this process traces: spans exported, trace context read and
/// sent.
#[inline]
pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Turns tracing on, once an `OpenTelemetry` layer is in the process's
/// subscriber (`init`'s, or a test's own with an in-memory exporter).
pub fn enable() {
    ON.store(true, Ordering::Relaxed);
}

/// The span of a REST request served on `route` (the route template, or
/// `unmatched`), child of the caller's span when the request carries one.
/// The probes and `/metrics` get none: every scrape would be a trace.
pub fn http_server(method: &http::Method, route: &'static str, headers: &http::HeaderMap) -> Span {
    if !enabled() {
        return Span::none();
    }
{%- if uses.rest %}
    #[cfg(feature = "rest")]
    if crate::telemetry::STANDARD_ROUTES.contains(&route) {
        return Span::none();
    }
{%- endif %}
    let span = tracing::info_span!(
        "http.server",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = field::Empty,
        http.request.method = %method,
        http.route = route,
        http.response.status_code = field::Empty,
        trace_id = field::Empty,
    );
    adopt(&span, &Headers(headers));
    span
}

/// Records the answer's `status` on a span of [`http_server`]: a 5xx is an
/// error of the server's, a 4xx the caller's (not the span's).
pub fn http_answered(span: &Span, status: http::StatusCode) {
    if span.is_disabled() {
        return;
    }
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
}

/// The span of a gRPC call served on `path` (`/package.Service/Method`, one
/// the server serves, else `None`), child of the caller's span when the
/// call's metadata carries one. Health checks and reflection get none.
pub fn grpc_server(path: Option<&'static str>, headers: &http::HeaderMap) -> Span {
    if !enabled() {
        return Span::none();
    }
{%- if uses.grpc_server %}
    #[cfg(feature = "grpc")]
    if path.is_some_and(|p| crate::telemetry::STANDARD_METHODS.contains(&p)) {
        return Span::none();
    }
{%- endif %}
    let known = path.and_then(|p| p.strip_prefix('/'));
    let (service, method) = known
        .and_then(|p| p.split_once('/'))
        .unwrap_or(("unknown", "unknown"));
    let span = tracing::info_span!(
        "rpc.server",
        otel.name = known.unwrap_or("unknown"),
        otel.kind = "server",
        otel.status_code = field::Empty,
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        rpc.grpc.status_code = field::Empty,
        trace_id = field::Empty,
    );
    adopt(&span, &Headers(headers));
    span
}

/// Records the call's `code` on a span of [`grpc_server`]; the codes that
/// are the server's fault (`OpenTelemetry`'s list) mark it as an error.
pub fn grpc_answered(span: &Span, code: i32) {
    if span.is_disabled() {
        return;
    }
    span.record("rpc.grpc.status_code", code);
    // UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE,
    // DATA_LOSS.
    if matches!(code, 2 | 4 | 12 | 13 | 14 | 15) {
        span.record("otel.status_code", "ERROR");
    }
}

/// The span of a call of another service on `flow`, all its attempts
/// included; the requests sent within it carry its context ([`inject`]).
pub fn client(flow: &'static str) -> Span {
    if !enabled() {
        return Span::none();
    }
    let span = tracing::info_span!(
        "call",
        otel.name = flow,
        otel.kind = "client",
        otel.status_code = field::Empty,
        flow = flow,
        trace_id = field::Empty,
    );
    record_trace_id(&span);
    span
}

/// The span of work a request starts without waiting for it (an event
/// published in the background, `flow`): in the request's trace, but not
/// its child in `tracing`, whose span would otherwise stay open, and its
/// duration grow, until that work ends.
pub fn detached(flow: &'static str) -> Span {
    if !enabled() {
        return Span::none();
    }
    let span = tracing::info_span!(
        parent: None,
        "background",
        otel.name = flow,
        flow = flow,
        trace_id = field::Empty,
    );
    let _ = span.set_parent(Span::current().context());
    record_trace_id(&span);
    span
}

/// Marks `span` as failed.
pub fn failed(span: &Span) {
    if !span.is_disabled() {
        span.record("otel.status_code", "ERROR");
    }
}

/// The span of an event published on `topic`; the record sent within it
/// carries its context ([`traceparent`]).
pub fn producer(topic: &str, flow: &str) -> Span {
    if !enabled() {
        return Span::none();
    }
    let span = tracing::info_span!(
        "send",
        otel.name = %format_args!("send {topic}"),
        otel.kind = "producer",
        otel.status_code = field::Empty,
        messaging.system = "kafka",
        messaging.operation.type = "send",
        messaging.destination.name = topic,
        flow = flow,
        trace_id = field::Empty,
    );
    record_trace_id(&span);
    span
}

/// The span of a record of `topic` handled by consumer group `group`,
/// child of the span that published it when its headers carry one.
pub fn consumer(
    topic: &str,
    group: &str,
    partition: i32,
    offset: i64,
    context: (Option<&str>, Option<&str>),
) -> Span {
    if !enabled() {
        return Span::none();
    }
    let span = tracing::info_span!(
        "process",
        otel.name = %format_args!("process {topic}"),
        otel.kind = "consumer",
        otel.status_code = field::Empty,
        messaging.system = "kafka",
        messaging.operation.type = "process",
        messaging.destination.name = topic,
        messaging.consumer.group.name = group,
        messaging.destination.partition.id = partition,
        messaging.kafka.offset = offset,
        trace_id = field::Empty,
    );
    let (parent, state) = context;
    adopt(&span, &Record(parent, state));
    span
}

/// Writes the current span's trace context into `headers` (an outgoing
/// HTTP request's, or a gRPC call's metadata).
pub fn inject(headers: &mut http::HeaderMap) {
    if !enabled() {
        return;
    }
    let context = Span::current().context();
    TraceContextPropagator::new().inject_context(&context, &mut HeadersMut(headers));
}

/// The current span's `traceparent`, for a record's headers or an outbox
/// row; `None` when tracing is off or no span is sampled.
pub fn traceparent() -> Option<String> {
    if !enabled() {
        return None;
    }
    let mut carrier = Carrier::default();
    TraceContextPropagator::new().inject_context(&Span::current().context(), &mut carrier);
    carrier.traceparent
}

/// Checks `OTEL_EXPORTER_OTLP_PROTOCOL`: unset or `grpc`, the one this
/// build exports with.
///
/// # Errors
///
/// Another protocol (`http/protobuf`, `http/json`), which would need
/// another exporter in the build.
pub fn otlp_protocol(raw: Option<&str>) -> Result<(), String> {
    match raw.map(str::trim) {
        None | Some("" | "grpc") => Ok(()),
        Some(other) => Err(format!(
            "`{other}` is not built in: spans are exported over OTLP/gRPC only (`grpc`, port 4317)"
        )),
    }
}

/// The collector of `OTEL_EXPORTER_OTLP_ENDPOINT` (`http://host:port`,
/// trailing slash dropped); `None` when unset or empty, which turns tracing
/// off.
///
/// # Errors
///
/// Not an `http://` URL with a host: `https://` needs tonic's TLS, which
/// this build leaves out (run the collector as a sidecar, or on the node).
pub fn otlp_endpoint(raw: Option<&str>) -> Result<Option<String>, String> {
    let Some(raw) = raw.map(str::trim).filter(|raw| !raw.is_empty()) else {
        return Ok(None);
    };
    let url = raw.trim_end_matches('/');
    match url.strip_prefix("http://") {
        Some(rest) if !rest.is_empty() && !rest.contains('/') => Ok(Some(url.to_owned())),
        _ => Err(format!(
            "`{raw}` is not an http://host:port URL of an OTLP/gRPC collector"
        )),
    }
}

/// Makes the context `carrier` holds (if any) the parent of `span`, and
/// records the trace's id on it.
fn adopt(span: &Span, carrier: &dyn Extractor) {
    let parent = TraceContextPropagator::new().extract(carrier);
    if parent.span().span_context().is_valid() {
        // Fails only when no `OpenTelemetry` layer is installed, in which
        // case there is no trace to join.
        let _ = span.set_parent(parent);
    }
    record_trace_id(span);
}

fn record_trace_id(span: &Span) {
    let context = span.context();
    let trace_id = context.span().span_context().trace_id();
    span.record("trace_id", field::display(trace_id));
}

/// Request headers (or gRPC metadata) to read a trace context from.
struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Request headers (or gRPC metadata) to write a trace context into.
struct HeadersMut<'a>(&'a mut http::HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        let name = http::HeaderName::from_bytes(key.as_bytes());
        let value = http::HeaderValue::try_from(value);
        if let (Ok(name), Ok(value)) = (name, value) {
            self.0.insert(name, value);
        }
    }
}

/// A record's `traceparent` and `tracestate` headers.
struct Record<'a>(Option<&'a str>, Option<&'a str>);

impl Extractor for Record<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            TRACEPARENT => self.0,
            TRACESTATE => self.1,
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT, TRACESTATE]
    }
}

/// Where [`traceparent`] has the propagator write.
#[derive(Default)]
struct Carrier {
    traceparent: Option<String>,
}

impl Injector for Carrier {
    fn set(&mut self, key: &str, value: String) {
        if key == TRACEPARENT {
            self.traceparent = Some(value);
        }
    }
}

#[cfg(feature = "telemetry")]
pub use exporter::{Otlp, TraceError, init, shutdown};

/// The OTLP exporter and the process's tracer provider.
#[cfg(feature = "telemetry")]
mod exporter {
    use std::{fmt, sync::OnceLock};

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{SpanExporter, WithExportConfig as _};
    use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
    use tracing_subscriber::registry::LookupSpan;

    /// Where and as whom the spans are exported.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Otlp {
        /// `OTEL_EXPORTER_OTLP_ENDPOINT`: a collector's OTLP/gRPC address
        /// (`http://collector:4317`).
        pub endpoint: String,
        /// `service.name`, unless `OTEL_SERVICE_NAME` says otherwise.
        pub service: &'static str,
    }

    /// The exporter could not be built.
    #[derive(Debug)]
    pub struct TraceError(String);

    impl fmt::Display for TraceError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "cannot export traces: {}", self.0)
        }
    }

    impl std::error::Error for TraceError {}

    static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

    /// The `OpenTelemetry` layer exporting to `otlp` in batches, for the
    /// process's subscriber; tracing is on once the subscriber is installed
    /// ([`super::enable`]). Call within the Tokio runtime: the exporter's
    /// gRPC channel lives on it. The other OTLP settings
    /// (`OTEL_EXPORTER_OTLP_HEADERS`, `_TIMEOUT`, `_COMPRESSION`,
    /// `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`) are read from the
    /// environment by the exporter and the SDK.
    pub fn init<S>(otlp: &Otlp) -> Result<impl tracing_subscriber::Layer<S>, TraceError>
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    {
        let exporter = SpanExporter::builder()
            .with_tonic()
            .with_endpoint(otlp.endpoint.clone())
            .build()
            .map_err(|err| TraceError(err.to_string()))?;
        let mut resource = Resource::builder();
        if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
            resource = resource.with_service_name(otlp.service);
        }
        let provider = SdkTracerProvider::builder()
            .with_resource(resource.build())
            .with_batch_exporter(exporter)
            .build();
        let tracer = provider.tracer(otlp.service);
        let _ = PROVIDER.set(provider);
        Ok(tracing_opentelemetry::layer().with_tracer(tracer))
    }

    /// How long [`shutdown`] waits for the collector: within the drain's
    /// margin of the pod's grace period.
    const FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

    /// Exports the spans still buffered, waiting at most [`FLUSH_TIMEOUT`]
    /// on a blocking thread: call once the service stopped.
    pub async fn shutdown() {
        let Some(provider) = PROVIDER.get() else {
            return;
        };
        let flushed =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(FLUSH_TIMEOUT));
        match flushed.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => eprintln!("warning: traces not all exported: {err}"),
            Err(err) => eprintln!("warning: traces not all exported: {err}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Record, TRACEPARENT, enabled, http_server, traceparent};

    #[test]
    fn off_by_default_costs_a_disabled_span_and_sends_nothing() {
        assert!(!enabled());
        let headers = http::HeaderMap::new();
        let span = http_server(&http::Method::GET, "/orders/{id}", &headers);
        assert!(span.is_disabled());
        assert_eq!(traceparent(), None);
    }

    #[test]
    fn reads_the_collector_and_refuses_what_it_cannot_export_to() {
        use super::{otlp_endpoint, otlp_protocol};
        assert_eq!(otlp_endpoint(None), Ok(None));
        assert_eq!(otlp_endpoint(Some(" ")), Ok(None));
        let collector = otlp_endpoint(Some("http://collector:4317/"));
        assert_eq!(collector, Ok(Some("http://collector:4317".to_owned())));
        assert!(otlp_endpoint(Some("collector:4317")).is_err());
        assert!(otlp_endpoint(Some("https://collector:4317")).is_err());
        assert_eq!(otlp_protocol(None), Ok(()));
        assert_eq!(otlp_protocol(Some("grpc")), Ok(()));
        assert!(otlp_protocol(Some("http/protobuf")).is_err());
    }

    #[test]
    fn a_record_without_headers_has_no_context() {
        use opentelemetry::propagation::Extractor as _;
        let record = Record(None, None);
        assert_eq!(record.get(TRACEPARENT), None);
        let record = Record(
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            None,
        );
        assert!(record.get(TRACEPARENT).is_some());
    }
}
