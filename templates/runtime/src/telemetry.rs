//! The service's metrics, the same in every service: what it serves, what it
//! calls, what it produces and consumes, served in Prometheus' text format
//! at `GET /metrics` (feature `telemetry`).
//!
//! | metric | kind | labels |
//! |--------|------|--------|
//! | `http_server_request_duration_seconds` | histogram | `method`, `route`, `status` |
//! | `rpc_server_call_duration_seconds` | histogram | `service`, `method`, `code` (`OK`, `NOT_FOUND`, …) |
//! | `outbound_call_duration_seconds` | histogram | `flow`, `outcome` (`ok`, `error`) |
//! | `outbound_call_retries_total` | counter | `flow` |
//! | `kafka_produced_records_total` | counter | `topic`, `outcome` (`acknowledged`, `failed`) |
//! | `kafka_consumed_records_total` | counter | `group`, `topic`, `outcome` (`handled`, `dead_lettered`, `skipped_copy`) |
//! | `kafka_consumer_lag_records` | gauge | `group`, `topic`, `partition` |
//! | `outbox_backlog_events` | gauge | |
//!
//! A histogram's `_count` is the number of requests (or calls). A stream
//! (Server-Sent Events, a gRPC server stream) is counted when it opens, with
//! the time it took to open and the status it opened with.
//!
//! Names and units follow Prometheus' conventions (base units, `_total`
//! counters) and, where one exists, `OpenTelemetry`'s semantic convention
//! (`http.server.request.duration`, `rpc.server.call.duration`). No label
//! takes what a caller sends as it is, so a scanner cannot grow the series
//! without bound: a REST route is its template (`/orders/{id}`), an unknown
//! one `unmatched`; a gRPC call answered `UNIMPLEMENTED` (no such service or
//! method) is `service="unknown",method="unknown"`; an unusual HTTP method is
//! `other`.
//!
//! Consumer lag comes from librdkafka's statistics (every
//! [`STATISTICS_INTERVAL`]), per partition this replica fetches: the
//! partition's high-water mark (its last stable offset, for a
//! `read_committed` consumer) minus the offset stored once its records were
//! handled; for a consumer that commits in transactions, which stores none,
//! minus the position handed to the application (the Java client's
//! `records-lag`). A revoked partition is no longer reported by this replica
//! and its gauge leaves the output after [`IDLE_GAUGE_TIMEOUT`], as does the
//! backlog of an outbox whose relay stopped; that timeout is longer than a
//! consumer may go without polling before its group drops it, so a stuck
//! consumer's lag stays visible. Every replica of an outbox reports the same
//! table's backlog: aggregate it with `max`, not `sum`.
//!
{%- if uses.rest or uses.grpc_server %}
//! Served requests and calls are counted by each thread in fixed buckets of
//! its own, found by the addresses of their labels, and added up when
//! scraped (see `served`); the rest goes through the `metrics` facade's
//! recorder, with label values `&'static str` where they can be (method,
//! status, outcome).
{%- else %}
//! They go through the `metrics` facade's recorder, with label values
//! `&'static str` where they can be (outcome).
{%- endif %}
//!
//! The logs are here too ([`init_logs`]): text for a terminal, or one JSON
//! object per line (`LOG_FORMAT=json`) for a log pipeline.

use std::time::{Duration, Instant};

use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};

/// `http.server.request.duration`: how long a REST request took to answer.
pub const HTTP_REQUEST_DURATION: &str = "http_server_request_duration_seconds";
/// `rpc.server.call.duration`: how long a gRPC call took to answer.
pub const RPC_CALL_DURATION: &str = "rpc_server_call_duration_seconds";
/// How long a call of another service took, its retries included.
pub const OUTBOUND_CALL_DURATION: &str = "outbound_call_duration_seconds";
/// Retries of calls of other services.
pub const OUTBOUND_RETRIES: &str = "outbound_call_retries_total";
/// Records produced, by outcome of their delivery.
pub const PRODUCED_RECORDS: &str = "kafka_produced_records_total";
/// Records consumed, by what became of them.
pub const CONSUMED_RECORDS: &str = "kafka_consumed_records_total";
/// How many records a consumer group is behind on a partition.
pub const CONSUMER_LAG: &str = "kafka_consumer_lag_records";
/// Events waiting in the outbox to be published.
pub const OUTBOX_BACKLOG: &str = "outbox_backlog_events";

/// How often librdkafka reports a consumer's statistics, lag included.
pub const STATISTICS_INTERVAL: Duration = Duration::from_secs(5);
/// How long a gauge no longer updated stays in the output: longer than
/// librdkafka's `max.poll.interval.ms` (5 minutes), past which a consumer
/// that stopped polling (and so stopped reporting) leaves its group.
pub const IDLE_GAUGE_TIMEOUT: Duration = Duration::from_secs(6 * 60);
/// Histogram buckets, in seconds: from half a millisecond (a handler
/// answering from memory) to 10 s (a call past every budget).
pub const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Gives each metric the recorder keeps its help text and unit, which
/// Prometheus shows and `promtool check metrics` requires (the histograms
/// of served requests and calls are kept apart, each with its own).
pub fn describe() {
    describe_histogram!(
        OUTBOUND_CALL_DURATION,
        Unit::Seconds,
        "How long calls of other services took, retries included, by flow and outcome."
    );
    describe_counter!(
        OUTBOUND_RETRIES,
        "Retries of calls of other services, by flow."
    );
    describe_counter!(
        PRODUCED_RECORDS,
        "Kafka records produced, by topic and outcome of their delivery."
    );
    describe_counter!(
        CONSUMED_RECORDS,
        "Kafka records consumed, by consumer group, topic and what became of them."
    );
    describe_gauge!(
        CONSUMER_LAG,
        "Records a consumer group is behind on a partition this replica fetches."
    );
    describe_gauge!(
        OUTBOX_BACKLOG,
        "Events waiting in the outbox to be published."
    );
}

/// Records a call of another service (`flow`), `ok` or not, begun at `started`.
pub fn outbound_call(flow: &'static str, ok: bool, started: Instant) {
    let outcome = if ok { "ok" } else { "error" };
    histogram!(OUTBOUND_CALL_DURATION, "flow" => flow, "outcome" => outcome)
        .record(started.elapsed());
}

/// Records a retry of a call of another service (`flow`).
pub fn outbound_retry(flow: &'static str) {
    counter!(OUTBOUND_RETRIES, "flow" => flow).increment(1);
}

/// Records the delivery of a record to `topic`: acknowledged or failed.
pub fn produced(topic: &str, acknowledged: bool) {
    let outcome = if acknowledged {
        "acknowledged"
    } else {
        "failed"
    };
    counter!(PRODUCED_RECORDS, "topic" => topic.to_owned(), "outcome" => outcome).increment(1);
}

/// What became of a consumed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumed {
    /// Its handler succeeded.
    Handled,
    /// It failed for good and went to its dead-letter topic.
    DeadLettered,
    /// A copy of an event handled before, dropped.
    SkippedCopy,
}

/// Records a record of `topic` consumed by `group`.
pub fn consumed(group: &str, topic: &str, outcome: Consumed) {
    let outcome = match outcome {
        Consumed::Handled => "handled",
        Consumed::DeadLettered => "dead_lettered",
        Consumed::SkippedCopy => "skipped_copy",
    };
    let (group, topic) = (group.to_owned(), topic.to_owned());
    counter!(CONSUMED_RECORDS, "group" => group, "topic" => topic, "outcome" => outcome)
        .increment(1);
}

/// Records how many records `group` is behind on `topic`'s `partition`.
pub fn consumer_lag(group: &str, topic: &str, partition: i32, lag: i64) {
    let (group, topic, partition) = (group.to_owned(), topic.to_owned(), partition.to_string());
    #[allow(clippy::cast_precision_loss, reason = "a lag is far below 2^52")]
    gauge!(CONSUMER_LAG, "group" => group, "topic" => topic, "partition" => partition)
        .set(lag as f64);
}

/// Records how many events wait in the outbox.
pub fn outbox_backlog(events: i64) {
    #[allow(clippy::cast_precision_loss, reason = "a backlog is far below 2^52")]
    gauge!(OUTBOX_BACKLOG).set(events as f64);
}
{%- if uses.rest %}

/// The routes every service answers besides its API: `runtime::health`'s
/// probes and `/metrics`.
#[cfg(feature = "rest")]
pub const STANDARD_ROUTES: &[&str] = &["/livez", "/readyz", "/healthz", "/metrics"];

/// Records a REST request to `route` (its template, `runtime::guard`'s
/// [`RouteLabels`](crate::guard::RouteLabels)), answered `status` after
/// `started`.
#[cfg(feature = "rest")]
#[inline]
pub fn http_request(
    method: &axum::http::Method,
    route: &'static str,
    status: axum::http::StatusCode,
    started: Instant,
) {
    served::record(
        &HTTP_SERVED,
        [method_label(method), route],
        status.as_u16(),
        || status_label(status),
        started.elapsed(),
    );
}

/// [`HTTP_REQUEST_DURATION`], kept apart from the recorder (see [`served`]).
#[cfg(feature = "rest")]
static HTTP_SERVED: served::Metric = served::Metric {
    name: HTTP_REQUEST_DURATION,
    help: "How long REST requests took to answer, by method, route template and status.",
    labels: ["method", "route", "status"],
};

/// The status as a label, without allocating for the usual ones.
#[cfg(feature = "rest")]
fn status_label(status: axum::http::StatusCode) -> std::borrow::Cow<'static, str> {
    let usual = match status.as_u16() {
        200 => "200",
        201 => "201",
        202 => "202",
        204 => "204",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        413 => "413",
        415 => "415",
        422 => "422",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        other => return other.to_string().into(),
    };
    usual.into()
}

/// The method as a label: the standard ones by name, any other as `other`
/// (a client choosing its own method must not grow the series).
#[cfg(feature = "rest")]
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
{%- endif %}
{%- if uses.grpc_server %}

/// The methods every gRPC server serves besides the service's own: health
/// and reflection.
#[cfg(feature = "grpc")]
pub const STANDARD_METHODS: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// Records a gRPC call of `path` (`/package.Service/Method`, one the server
/// serves; `None`: any other) answered with `code` after `started`.
#[cfg(feature = "grpc")]
#[inline]
pub fn rpc_call(path: Option<&'static str>, code: tonic::Code, started: Instant) {
    let known = path.and_then(|p| p.strip_prefix('/')?.split_once('/'));
    let (service, method) = known.unwrap_or(("unknown", "unknown"));
    #[allow(clippy::cast_sign_loss, reason = "codes are 0 to 16")]
    served::record(
        &RPC_SERVED,
        [service, method],
        code as u16,
        || code_name(code).into(),
        started.elapsed(),
    );
}

/// [`RPC_CALL_DURATION`], kept apart from the recorder (see [`served`]).
#[cfg(feature = "grpc")]
static RPC_SERVED: served::Metric = served::Metric {
    name: RPC_CALL_DURATION,
    help: "How long gRPC calls took to answer, by service, method and status code.",
    labels: ["service", "method", "code"],
};

/// The code's name in the gRPC specification (`OK`, `NOT_FOUND`, …), as
/// gRPC's own tools print it.
#[cfg(feature = "grpc")]
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Runs every call of a tonic server (`Server::builder().layer`) in its span
/// ([`crate::trace`]) and records it in [`RPC_CALL_DURATION`], with the
/// code its response opens with, labelled by its method when it is one of
/// the server's ([`GrpcMetricsLayer::new`]) or [`STANDARD_METHODS`], else
/// `unknown`: a caller cannot grow the series by calling made-up paths,
/// answered or refused.
#[cfg(feature = "grpc")]
#[derive(Debug, Clone, Copy)]
pub struct GrpcMetricsLayer {
    methods: &'static [&'static str],
}

#[cfg(feature = "grpc")]
impl GrpcMetricsLayer {
    /// The layer of a server serving `methods` (`/package.Service/Method`).
    pub const fn new(methods: &'static [&'static str]) -> Self {
        GrpcMetricsLayer { methods }
    }
}

/// A tonic server's services, their calls recorded.
#[cfg(feature = "grpc")]
#[derive(Debug, Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
    methods: &'static [&'static str],
}

#[cfg(feature = "grpc")]
impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics {
            inner,
            methods: self.methods,
        }
    }
}

#[cfg(feature = "grpc")]
impl<S, B, R> tower::Service<tonic::codegen::http::Request<B>> for GrpcMetrics<S>
where
    S: tower::Service<
            tonic::codegen::http::Request<B>,
            Response = tonic::codegen::http::Response<R>,
        >,
{
    type Response = tonic::codegen::http::Response<R>;
    type Error = S::Error;
    type Future = grpc::Recorded<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: tonic::codegen::http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        let known = self
            .methods
            .iter()
            .chain(STANDARD_METHODS)
            .find(|m| **m == path)
            .copied();
        let span = crate::trace::grpc_server(known, request.headers());
        let inner = span.in_scope(|| self.inner.call(request));
        grpc::Recorded::new(inner, known, span)
    }
}

#[cfg(feature = "grpc")]
mod grpc {
    use std::{
        pin::Pin,
        task::{Context, Poll},
        time::Instant,
    };

    use pin_project_lite::pin_project;
    use tonic::codegen::http::{HeaderName, Response};

    /// The header carrying a gRPC status code, made once rather than
    /// parsed from a string on every call.
    const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");

    pin_project! {
        /// A call's future, recorded once it answers.
        pub struct Recorded<F> {
            #[pin]
            inner: F,
            path: Option<&'static str>,
            started: Instant,
            span: tracing::Span,
        }
    }

    impl<F> Recorded<F> {
        pub(super) fn new(inner: F, path: Option<&'static str>, span: tracing::Span) -> Self {
            Recorded {
                inner,
                path,
                started: Instant::now(),
                span,
            }
        }
    }

    impl<F, R, E> Future for Recorded<F>
    where
        F: Future<Output = Result<Response<R>, E>>,
    {
        type Output = F::Output;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            let this = self.project();
            let result = {
                let _entered = this.span.enter();
                std::task::ready!(this.inner.poll(cx))
            };
            // An error answers at once, its status in the headers
            // ("trailers-only"); a response without one opens with `OK`.
            let code = match &result {
                Ok(response) => response
                    .headers()
                    .get(&GRPC_STATUS)
                    .map_or(tonic::Code::Ok, |v| tonic::Code::from_bytes(v.as_bytes())),
                Err(_) => tonic::Code::Unknown,
            };
            super::rpc_call(*this.path, code, *this.started);
            crate::trace::grpc_answered(this.span, code as i32);
            Poll::Ready(result)
        }
    }
}
{%- endif %}

{%- if uses.rest or uses.grpc_server %}

/// The histograms of the requests and calls a service serves
/// ([`HTTP_REQUEST_DURATION`], [`RPC_CALL_DURATION`]), counted by each
/// thread in buckets of its own and added up when scraped.
///
/// Through the `metrics` recorder, recording a request cost a lookup of its
/// labels in the recorder's registry (cached per thread before this) and a
/// push into the histogram's sample buffer: a crossbeam-epoch pin, two
/// atomic read-modify-writes and a new block every 64 samples, drained by
/// the upkeep thread every few seconds. Against a bare axum or tonic server
/// answering in microseconds that was the largest part of what the
/// production envelope cost (issue 15 item 6). These histograms are only
/// ever read as Prometheus' fixed [`BUCKETS`], so each thread counts
/// straight into them: its label set found in a per-thread map keyed by the
/// addresses of the labels (`&'static str`s from fixed tables: route
/// templates, method names) and a status or code, its bucket found by
/// comparison, and two counters bumped that only this thread writes, with a
/// plain load and store. A scrape adds up every thread's counters
/// ([`render`]). Being the runtime's own, they are in
/// `runtime::telemetry::render` (and so `/metrics`), not in what the
/// recorder's handle renders, nor in another recorder a team installs.
#[cfg(any(feature = "rest", feature = "grpc"))]
mod served {
    use std::{
        borrow::Cow,
        cell::RefCell,
        collections::HashMap,
        fmt::Write as _,
        hash::{BuildHasherDefault, Hash, Hasher},
        sync::{
            Arc, Mutex, PoisonError,
            atomic::{AtomicU64, Ordering::Relaxed},
        },
        time::Duration,
    };

    use super::BUCKETS;

    /// A histogram of served requests or calls: its name, help text and
    /// the names of its three labels.
    #[derive(Debug)]
    #[cfg_attr(
        not(feature = "telemetry"),
        allow(dead_code, reason = "read by `render`")
    )]
    pub struct Metric {
        pub name: &'static str,
        pub help: &'static str,
        pub labels: [&'static str; 3],
    }

    /// A label set, by the addresses of its metric and of its first two
    /// labels, and its third label as a number (a status or code).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Key([usize; 5], u16);

    impl Hash for Key {
        /// Word by word: an array's own `Hash` writes it as bytes.
        fn hash<H: Hasher>(&self, state: &mut H) {
            for word in self.0 {
                state.write_usize(word);
            }
            state.write_u16(self.1);
        }
    }

    impl Key {
        fn new(
            metric: &'static Metric,
            first: &'static str,
            second: &'static str,
            code: u16,
        ) -> Key {
            Key(
                [
                    std::ptr::from_ref(metric) as usize,
                    first.as_ptr() as usize,
                    first.len(),
                    second.as_ptr() as usize,
                    second.len(),
                ],
                code,
            )
        }
    }

    /// Folds the key's words with a multiply (`FxHash`'s): the keys are
    /// few and chosen by the service, not by callers, so `SipHash`'s
    /// resistance to flooding buys nothing here.
    #[derive(Default)]
    struct Fold(u64);

    impl Hasher for Fold {
        fn finish(&self) -> u64 {
            self.0
        }

        fn write(&mut self, bytes: &[u8]) {
            for byte in bytes {
                self.write_u64(u64::from(*byte));
            }
        }

        fn write_u16(&mut self, n: u16) {
            self.write_u64(u64::from(n));
        }

        fn write_usize(&mut self, n: usize) {
            self.write_u64(n as u64);
        }

        fn write_u64(&mut self, n: u64) {
            self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    /// Counts of one label set: how many took at most each of [`BUCKETS`]
    /// (not cumulated), how many took longer, and the time they took in
    /// all, in nanoseconds (585 years fit).
    #[derive(Debug, Default)]
    struct Counts {
        buckets: [AtomicU64; BUCKETS.len() + 1],
        nanos: AtomicU64,
    }

    impl Counts {
        /// Counts `elapsed` in counts only this thread writes, so a load
        /// and a store do: no read-modify-write is needed.
        #[inline]
        fn record(&self, elapsed: Duration) {
            let (bucket, nanos) = Counts::place(elapsed);
            let bump = |counter: &AtomicU64, by: u64| {
                counter.store(counter.load(Relaxed).wrapping_add(by), Relaxed);
            };
            bump(&self.buckets[bucket], 1);
            bump(&self.nanos, nanos);
        }

        /// Counts `elapsed` in counts any thread may write.
        fn record_shared(&self, elapsed: Duration) {
            let (bucket, nanos) = Counts::place(elapsed);
            self.buckets[bucket].fetch_add(1, Relaxed);
            self.nanos.fetch_add(nanos, Relaxed);
        }

        /// `elapsed`'s bucket, and its nanoseconds.
        #[inline]
        fn place(elapsed: Duration) -> (usize, u64) {
            let seconds = elapsed.as_secs_f64();
            let bucket = BUCKETS.partition_point(|bound| *bound < seconds);
            let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
            (bucket, nanos)
        }

        /// Adds `other`'s counts to these, which any thread may write.
        fn absorb(&self, other: &Counts) {
            for (total, count) in self.buckets.iter().zip(&other.buckets) {
                total.fetch_add(count.load(Relaxed), Relaxed);
            }
            self.nanos.fetch_add(other.nanos.load(Relaxed), Relaxed);
        }
    }

    /// A label set: the counts of each thread recording it, and those of
    /// the threads that exited (a runtime's blocking threads come and go),
    /// so that the list does not grow with them.
    struct Series {
        metric: &'static Metric,
        values: [Cow<'static, str>; 3],
        live: Vec<Arc<Counts>>,
        retired: Counts,
    }

    impl Series {
        /// Moves the counts of threads that exited into `retired`: a
        /// thread's map holds the other reference to its counts, and drops
        /// it when the thread exits.
        fn sweep(&mut self) {
            let Series { live, retired, .. } = self;
            live.retain_mut(|counts| match Arc::get_mut(counts) {
                Some(exited) => {
                    retired.absorb(exited);
                    false
                }
                None => true,
            });
        }
    }

    /// Every label set recorded in this process, in the order first seen.
    static SERIES: Mutex<Vec<Series>> = Mutex::new(Vec::new());

    thread_local! {
        static COUNTS: RefCell<HashMap<Key, Arc<Counts>, BuildHasherDefault<Fold>>> =
            RefCell::default();
    }

    /// Records `elapsed` in `metric`'s histogram of the label values
    /// `labels` and, third, the one `code` stands for, which `label` gives
    /// the first time this thread sees them.
    #[inline]
    pub fn record(
        metric: &'static Metric,
        labels: [&'static str; 2],
        code: u16,
        label: impl FnOnce() -> Cow<'static, str>,
        elapsed: Duration,
    ) {
        let key = Key::new(metric, labels[0], labels[1], code);
        let named = || (metric, [labels[0].into(), labels[1].into(), label()]);
        let recorded = COUNTS.try_with(|counts| match counts.borrow().get(&key) {
            Some(counts) => {
                counts.record(elapsed);
                true
            }
            None => false,
        });
        if recorded != Ok(true) {
            first(key, elapsed, named);
        }
    }

    /// The first record of `key` on this thread: its counts are made and
    /// listed with the label set's. While the thread exits, its map gone,
    /// the record goes into the label set's retired counts instead.
    #[cold]
    fn first(
        key: Key,
        elapsed: Duration,
        labels: impl FnOnce() -> (&'static Metric, [Cow<'static, str>; 3]),
    ) {
        let (metric, values) = labels();
        let mut all = SERIES.lock().unwrap_or_else(PoisonError::into_inner);
        let at = all
            .iter()
            .position(|s| std::ptr::eq(s.metric, metric) && s.values == values);
        let at = at.unwrap_or_else(|| {
            all.push(Series {
                metric,
                values,
                live: Vec::new(),
                retired: Counts::default(),
            });
            all.len() - 1
        });
        let series = &mut all[at];
        series.sweep();
        let counts = Arc::new(Counts::default());
        let kept = COUNTS.try_with(|map| map.borrow_mut().insert(key, Arc::clone(&counts)));
        if kept.is_ok() {
            counts.record(elapsed);
            series.live.push(counts);
        } else {
            series.retired.record_shared(elapsed);
        }
    }

    /// `text` followed by every label set recorded so far, in Prometheus'
    /// text format: each metric's help and type, then per label set its
    /// cumulative buckets, `+Inf` (equal to its count), sum and count.
    #[cfg(feature = "telemetry")]
    pub fn render(mut text: String) -> String {
        let mut series = SERIES.lock().unwrap_or_else(PoisonError::into_inner);
        series.iter_mut().for_each(Series::sweep);
        let mut metrics: Vec<&'static Metric> = Vec::new();
        for s in series.iter() {
            if !metrics.iter().any(|m| std::ptr::eq(*m, s.metric)) {
                metrics.push(s.metric);
            }
        }
        for metric in metrics {
            let name = metric.name;
            let _ = writeln!(text, "# HELP {name} {}", metric.help);
            let _ = writeln!(text, "# TYPE {name} histogram");
            for s in series.iter().filter(|s| std::ptr::eq(s.metric, metric)) {
                // `{` and the labels, each series' line adding its own and `}`.
                let mut labels = String::from("{");
                for (label, value) in metric.labels.iter().zip(&s.values) {
                    if labels.len() > 1 {
                        labels.push(',');
                    }
                    let _ = write!(labels, "{label}=\"{}\"", escaped(value));
                }
                let mut buckets = [0_u64; BUCKETS.len() + 1];
                let mut nanos: u64 = 0;
                for counts in s.live.iter().map(AsRef::as_ref).chain([&s.retired]) {
                    for (total, count) in buckets.iter_mut().zip(&counts.buckets) {
                        *total = total.wrapping_add(count.load(Relaxed));
                    }
                    nanos = nanos.wrapping_add(counts.nanos.load(Relaxed));
                }
                let mut cumulated = 0_u64;
                for (bound, count) in BUCKETS.iter().zip(buckets) {
                    cumulated += count;
                    let _ = writeln!(text, "{name}_bucket{labels},le=\"{bound}\"}} {cumulated}");
                }
                let total = cumulated + buckets[BUCKETS.len()];
                let _ = writeln!(text, "{name}_bucket{labels},le=\"+Inf\"}} {total}");
                #[allow(
                    clippy::cast_precision_loss,
                    reason = "a sum's rounding is Prometheus' own"
                )]
                let seconds = nanos as f64 / 1e9;
                let _ = writeln!(text, "{name}_sum{labels}}} {seconds}");
                let _ = writeln!(text, "{name}_count{labels}}} {total}");
            }
            text.push('\n');
        }
        text
    }

    /// A label value as Prometheus' text format quotes it.
    #[cfg(feature = "telemetry")]
    fn escaped(value: &str) -> Cow<'_, str> {
        if !value.contains(['\\', '"', '\n']) {
            return Cow::Borrowed(value);
        }
        Cow::Owned(
            value
                .replace('\\', r"\\")
                .replace('"', "\\\"")
                .replace('\n', r"\n"),
        )
    }

    #[cfg(all(test, feature = "telemetry"))]
    mod tests {
        use super::*;

        static TEST: Metric = Metric {
            name: "test_served_duration_seconds",
            help: "Test.",
            labels: ["first", "second", "third"],
        };

        #[test]
        fn threads_counts_add_up_into_cumulative_buckets() {
            let labels = ["a", "b\"c"];
            let record = move |elapsed| record(&TEST, labels, 200, || "200".into(), elapsed);
            record(Duration::from_micros(300));
            record(Duration::from_millis(2));
            std::thread::spawn(move || record(Duration::from_secs(60)))
                .join()
                .unwrap();
            let text = render(String::new());
            // The exited thread's counts were folded into the retired ones.
            let all = SERIES.lock().unwrap();
            let ours = all.iter().find(|s| s.metric.name == TEST.name).unwrap();
            assert_eq!(ours.live.len(), 1);
            drop(all);
            let series = r#"{first="a",second="b\"c",third="200""#;
            let name = "test_served_duration_seconds";
            let has = |line: String| assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
            let cumulated = [("0.0005", 1), ("0.0025", 2), ("10", 2), ("+Inf", 3)];
            for (le, count) in cumulated {
                has(format!("{name}_bucket{series},le=\"{le}\"}} {count}"));
            }
            has(format!("{name}_sum{series}}} 60.0023"));
            has(format!("{name}_count{series}}} 3"));
            let types = format!("# TYPE {name} histogram");
            assert_eq!(text.matches(&types).count(), 1);
        }
    }
}
{%- endif %}

/// How the service writes its logs to stderr (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines, coloured on a terminal.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, the
    /// message and the event's fields at the top level.
    Json,
}

impl LogFormat {
    /// The names `LOG_FORMAT` accepts.
    pub const NAMES: &[&str] = &["text", "json"];

    /// The format named `raw` (any case), if it is one of [`Self::NAMES`].
    pub fn parse(raw: &str) -> Option<LogFormat> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

/// Logs to stderr in `format`, filtered by `RUST_LOG` (default `info`), and
/// exports spans to `otlp` when given (see [`crate::trace`]). In JSON, a
/// line written within a traced request has its trace's id at the top
/// level (`trace_id`), whatever `RUST_LOG` filters. Only the first call in
/// a process takes effect. An exporter that cannot be built (a setting of
/// the environment it refuses) is logged, and the service runs untraced:
/// telemetry never stops it from serving.
#[cfg(feature = "telemetry")]
pub fn init_logs(format: LogFormat, otlp: Option<&crate::trace::Otlp>) {
    use std::io::IsTerminal as _;

    use tracing_subscriber::{
        EnvFilter, Layer as _, filter::LevelFilter, layer::SubscriberExt as _,
        util::SubscriberInitExt as _,
    };

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // The logs see the trace's spans, however quiet `RUST_LOG` is: a
    // warning in a request carries its trace id.
    let filter = match "runtime::trace=info".parse() {
        Ok(spans) => filter.add_directive(spans),
        Err(_) => filter,
    };
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).boxed(),
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .map_event_format(json::WithTraceId)
            .boxed(),
    };
    let (spans, refused) = match otlp.map(crate::trace::init) {
        Some(Ok(layer)) => (Some(layer), None),
        Some(Err(err)) => (None, Some(err)),
        None => (None, None),
    };
    let traced = spans.is_some();
    let installed = tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(spans.map(|layer| layer.with_filter(LevelFilter::INFO)))
        .try_init();
    if installed.is_ok() && traced {
        crate::trace::enable();
    }
    if let Some(err) = refused {
        tracing::warn!(%err, "running without traces");
    }
}

/// JSON lines with the trace's id at the top level.
#[cfg(feature = "telemetry")]
mod json {
    use std::fmt;

    use tracing::{Event, Subscriber};
    use tracing_subscriber::{
        fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, format::Writer},
        registry::LookupSpan,
    };

    /// Writes `"trace_id":"…"` first in the object the wrapped JSON format
    /// writes, when the event is within a span of [`crate::trace`] (whose
    /// `trace_id` field the fields of that span hold).
    pub struct WithTraceId<F>(pub F);

    impl<S, N, F> FormatEvent<S, N> for WithTraceId<F>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        N: for<'a> FormatFields<'a> + 'static,
        F: FormatEvent<S, N>,
    {
        fn format_event(
            &self,
            ctx: &FmtContext<'_, S, N>,
            mut writer: Writer<'_>,
            event: &Event<'_>,
        ) -> fmt::Result {
            let trace_id = ctx.event_scope().and_then(|scope| {
                scope.from_root().find_map(|span| {
                    let extensions = span.extensions();
                    let fields = extensions.get::<FormattedFields<N>>()?;
                    trace_id_in(&fields.fields).map(str::to_owned)
                })
            });
            let Some(trace_id) = trace_id else {
                return self.0.format_event(ctx, writer, event);
            };
            let mut line = String::new();
            self.0.format_event(ctx, Writer::new(&mut line), event)?;
            match line.strip_prefix('{') {
                Some(rest) => {
                    writer.write_char('{')?;
                    write!(writer, "\"trace_id\":\"{trace_id}\",{rest}")
                }
                None => writer.write_str(&line),
            }
        }
    }

    /// The value of the `trace_id` field in a span's fields formatted as a
    /// JSON object; the id is hexadecimal, so it needs no unescaping.
    pub fn trace_id_in(fields: &str) -> Option<&str> {
        let (_, rest) = fields.split_once("\"trace_id\":\"")?;
        let (id, _) = rest.split_once('"')?;
        id.bytes().all(|b| b.is_ascii_hexdigit()).then_some(id)
    }

    #[cfg(test)]
    mod tests {
        use super::trace_id_in;

        #[test]
        fn finds_the_trace_id_among_a_spans_json_fields() {
            let fields = r#"{"otel.kind":"server","trace_id":"0af7651916cd43dd8448eb211c80319c"}"#;
            assert_eq!(
                trace_id_in(fields),
                Some("0af7651916cd43dd8448eb211c80319c")
            );
            assert_eq!(trace_id_in(r#"{"trace_id":"x\"y"}"#), None);
            assert_eq!(trace_id_in(r#"{"route":"/orders"}"#), None);
        }
    }
}

#[cfg(feature = "telemetry")]
pub use exporter::{handle, promtool_accepts, render, router, serve};

/// The Prometheus recorder and `GET /metrics`.
#[cfg(feature = "telemetry")]
mod exporter {
    use std::{io, sync::OnceLock};

    use axum::{Router, http::header, response::IntoResponse, routing};
    use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
    use metrics_util::MetricKindMask;
    use tokio::net::TcpListener;
    use tokio_util::sync::CancellationToken;
    use tracing::{info, warn};

    use super::{BUCKETS, IDLE_GAUGE_TIMEOUT, describe};

    /// The content type of Prometheus' text format.
    const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

    /// The process's Prometheus recorder, installed on first use: every
    /// service of a process (the workspace's system test runs them all in
    /// one) records into it. Histograms are drained into their buckets
    /// every few seconds by a thread of its own, whether or not anything
    /// scrapes them, so their memory stays bounded.
    pub fn handle() -> &'static PrometheusHandle {
        HANDLE.get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .idle_timeout(MetricKindMask::GAUGE, Some(IDLE_GAUGE_TIMEOUT));
            let builder = builder
                .set_buckets(BUCKETS)
                .expect("the buckets are not empty");
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                warn!("another metrics recorder is installed; what it records is not in /metrics");
            }
            describe();
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("metrics-upkeep".to_owned())
                .spawn(move || {
                    loop {
                        std::thread::sleep(super::STATISTICS_INTERVAL);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(err) = spawned {
                warn!(%err, "cannot start the metrics upkeep thread; scrapes drain histograms");
            }
            handle
        })
    }

    /// `GET /metrics`, in Prometheus' text format.
    pub fn router() -> Router {
        // Installed now, so the recorder exists before the first request.
        handle();
        Router::new().route("/metrics", routing::get(metrics))
    }

    async fn metrics() -> impl IntoResponse {
        ([(header::CONTENT_TYPE, TEXT_FORMAT)], render())
    }

    /// Every metric of the process in Prometheus' text format{% if uses.rest or uses.grpc_server %}: the
    /// recorder's, then the histograms of served requests and calls{% endif %}.
    pub fn render() -> String {
        let handle = handle();
        handle.run_upkeep();
{%- if uses.rest or uses.grpc_server %}
        let text = handle.render();
        #[cfg(any(feature = "rest", feature = "grpc"))]
        let text = super::served::render(text);
        text
{%- else %}
        handle.render()
{%- endif %}
    }

    /// Runs `promtool check metrics` (Prometheus' own linter of the text
    /// format: help texts, names, units, counters' `_total`) on `text` when
    /// the `PROMTOOL` environment variable names the binary, as
    /// commsadvise's CI does; `Ok` without it. For tests.
    pub fn promtool_accepts(text: &str) -> Result<(), String> {
        use std::{
            io::Write as _,
            process::{Command, Stdio},
        };
        let Some(promtool) = std::env::var_os("PROMTOOL") else {
            return Ok(());
        };
        let mut child = Command::new(&promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| format!("cannot run {}: {err}", promtool.display()))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(text.as_bytes())
                .map_err(|err| err.to_string())?;
        }
        let output = child.wait_with_output().map_err(|err| err.to_string())?;
        if output.status.success() {
            return Ok(());
        }
        let said = String::from_utf8_lossy(&output.stderr);
        Err(format!("promtool check metrics: {said}\n{text}"))
    }

    /// Serves [`router`] on `listener` (`METRICS_ADDR`) until `shutdown`.
    pub async fn serve(listener: TcpListener, shutdown: CancellationToken) -> io::Result<()> {
        info!(addr = %listener.local_addr()?, "/metrics listening");
        axum::serve(listener, router())
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await?;
        info!("/metrics stopped");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::LogFormat;

    #[test]
    fn log_formats_are_read_in_any_case() {
        assert_eq!(LogFormat::parse(" JSON "), Some(LogFormat::Json));
        assert_eq!(LogFormat::parse("text"), Some(LogFormat::Text));
        assert_eq!(LogFormat::parse("logfmt"), None);
        for name in LogFormat::NAMES {
            assert!(LogFormat::parse(name).is_some());
        }
    }

    #[cfg(feature = "telemetry")]
    #[tokio::test]
    async fn metrics_are_served_with_help_and_buckets() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = tokio_util::sync::CancellationToken::new();
        // Installed before recording, as a service does at start-up.
        super::handle();
        let server = tokio::spawn(super::serve(listener, shutdown.clone()));
        // One of each kind, so that promtool checks every name and help.
        let now = std::time::Instant::now();
        super::outbound_call("get-order", true, now);
        super::outbound_retry("get-order");
        super::produced("orders", true);
        super::consumed("billing", "orders", super::Consumed::DeadLettered);
        super::consumer_lag("billing", "orders", 3, 42);
        super::outbox_backlog(7);
{%- if uses.rest %}
        #[cfg(feature = "rest")]
        {
            use axum::http::{Method, StatusCode};
            super::http_request(&Method::GET, "/orders/{id}", StatusCode::NOT_FOUND, now);
        }
{%- endif %}
{%- if uses.grpc_server %}
        // A path the server does not serve is `unknown`, whatever it was.
        #[cfg(feature = "grpc")]
        super::rpc_call(None, tonic::Code::Unauthenticated, now);
{%- endif %}
        let text = scrape(addr).await;
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(
            text.contains("content-type: text/plain; version=0.0.4"),
            "{text}"
        );
        assert!(
            text.contains("# HELP outbound_call_duration_seconds How long calls"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE outbound_call_duration_seconds histogram"),
            "{text}"
        );
        let bucket =
            r#"outbound_call_duration_seconds_bucket{flow="get-order",outcome="ok",le="0.0005"}"#;
        assert!(text.contains(bucket), "{text}");
        assert!(
            text.contains(r#"outbound_call_retries_total{flow="get-order"} 1"#),
            "{text}"
        );
        let lag = r#"kafka_consumer_lag_records{group="billing",topic="orders",partition="3"} 42"#;
        assert!(text.contains(lag), "{text}");
{%- if uses.grpc_server %}
        #[cfg(feature = "grpc")]
        assert!(
            text.contains(r#"{service="unknown",method="unknown",code="UNAUTHENTICATED"}"#),
            "{text}"
        );
{%- endif %}
        let body = text.split_once("\r\n\r\n").unwrap().1;
        super::promtool_accepts(body).unwrap();
        shutdown.cancel();
        server.await.unwrap().unwrap();
    }

    /// The whole HTTP/1.1 response to `GET /metrics`.
    #[cfg(feature = "telemetry")]
    async fn scrape(addr: std::net::SocketAddr) -> String {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = "GET /metrics HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n";
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).await.unwrap();
        text
    }
}
