{#- scaffold
when: uses.idempotency
-#}
//! Idempotency keys: a retried request runs its handler once. The report
//! names this resolution (`idempotency-keys`) for a flow that must take
//! effect exactly once over REST or gRPC, which neither gives by itself.
//!
//! The caller sends an `Idempotency-Key` header (gRPC: `idempotency-key`
//! metadata) and sends the same key again when it retries. The first request
//! with a key claims it in the service's database ([`crate::store`]) and runs
//! the handler; its response is stored, and a request with the same key gets
//! that response again (`idempotent-replayed: true`) without running the
//! handler. A request with the same key and a different method, path or body
//! is refused: 422 Unprocessable Entity / `FAILED_PRECONDITION`. A duplicate
//! arriving while the first is still running waits for its response, for at
//! most [`WAIT_FOR_FIRST`], then gets 409 Conflict / `ABORTED`.
//!
//! Only final answers are stored: a success, or a refusal that the same
//! request would get again (a 4xx other than 401, 403, 408, 425 and 429; for
//! gRPC `INVALID_ARGUMENT`, `NOT_FOUND`, `ALREADY_EXISTS`,
//! `FAILED_PRECONDITION`, `OUT_OF_RANGE`, `UNIMPLEMENTED`). After any other
//! answer the key is released and a retry runs the handler again. The
//! handler runs on a task of its own, so a request cancelled meanwhile (a
//! timeout, a caller gone) still gets its answer recorded: the retry is
//! answered from it. Records are kept [`KEEP_FOR`]; a claim whose process
//! died is taken over after [`CLAIM_LEASE`] (by the replicas' clocks, which
//! must agree within it), and each claim carries a token, so a request whose
//! claim was taken over neither stores nor releases its successor's. A
//! request without a key passes through untouched. An answer belongs to its
//! key, not to a caller: keys must be unguessable (the generated clients
//! send random UUIDs).
//!
//! One [`IdempotencyLayer`] serves both protocols, since axum routes and
//! tonic services are both tower services over HTTP: on a REST route it
//! covers the route's flow; on a gRPC service, the methods it lists.

use std::{
    convert::Infallible,
    fmt::Write as _,
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{
    body::{Body, Bytes, HttpBody},
    http::{
        HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, header, response::Parts,
    },
    response::IntoResponse,
};
use http_body_util::{BodyExt as _, Full, Limited};
use sha2::{Digest as _, Sha256};
use sqlx::Row as _;
use tower::{Layer, Service};
use tracing::{Instrument as _, debug, warn};

use crate::store::{Store, millis, now_millis};

/// The request header (gRPC metadata) carrying the key.
pub const HEADER: &str = "idempotency-key";
/// The response header set on an answer replayed from the records.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// Longest key accepted: a UUID fits seven times over.
pub const MAX_KEY_LEN: usize = 255;
/// Largest request body read to fingerprint a keyed request, unless the
/// layer says less ([`IdempotencyLayer::max_message`]); a REST route's own
/// body limit applies first.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How long a record answers retries: a client retrying later than this runs
/// the handler again.
pub const KEEP_FOR: Duration = Duration::from_secs(24 * 60 * 60);
/// After this long, a claim never answered belongs to a process that died,
/// and a retry takes it over.
pub const CLAIM_LEASE: Duration = Duration::from_secs(60);
/// How long a duplicate waits for the first request's answer before it is
/// refused (409 / `ABORTED`).
pub const WAIT_FOR_FIRST: Duration = Duration::from_millis(500);
/// How often a waiting duplicate looks for that answer.
const POLL_EVERY: Duration = Duration::from_millis(10);
/// How often old records are purged, at most.
const PURGE_EVERY: Duration = Duration::from_secs(60);
/// Attempts at storing an answer before the claim is left to its lease.
const COMPLETE_ATTEMPTS: u32 = 3;

/// How answers are written: the protocol of the requests a layer sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// JSON error bodies and HTTP status codes.
    Rest,
    /// gRPC status codes, in trailers-only responses.
    Grpc,
}

/// Which requests a layer keeps records for, and under which flow.
#[derive(Debug, Clone, Copy)]
enum Scopes {
    /// Every request (a REST route), as this flow.
    All(&'static str),
    /// Requests to these paths (gRPC methods), each as its flow; others pass.
    ByPath(&'static [(&'static str, &'static str)]),
}

impl Scopes {
    fn of(self, path: &str) -> Option<&'static str> {
        match self {
            Scopes::All(flow) => Some(flow),
            Scopes::ByPath(paths) => paths.iter().find(|(p, _)| *p == path).map(|(_, f)| *f),
        }
    }
}

/// Applies idempotency keys to the requests of some flows.
#[derive(Debug, Clone)]
pub struct IdempotencyLayer {
    records: Records,
    protocol: Protocol,
    scopes: Scopes,
    max_body: usize,
    /// How long the caller waits for the handler (none: as long as it
    /// takes); past it the handler goes on, and its answer is recorded.
    budget: Option<Duration>,
}

impl IdempotencyLayer {
    /// For a REST route serving `flow`.
    pub fn rest(store: &Store, flow: &'static str) -> Self {
        IdempotencyLayer {
            records: Records::new(store.clone()),
            protocol: Protocol::Rest,
            scopes: Scopes::All(flow),
            max_body: MAX_BODY_BYTES,
            budget: None,
        }
    }

    /// For a REST route serving `flow` whose caller waits at most `budget`
    /// for the handler: past it the caller gets 503, while the handler goes
    /// on on its task and its answer is recorded, so the caller's retry with
    /// the same key gets it rather than running the handler again. (A budget
    /// around the layer's handler would cancel it half-way instead.)
    pub fn rest_within(store: &Store, flow: &'static str, budget: Duration) -> Self {
        IdempotencyLayer {
            budget: Some(budget),
            ..Self::rest(store, flow)
        }
    }

    /// For a gRPC service: `methods` pairs a method's path
    /// (`/package.Service/Method`) with its flow; other methods pass through.
    pub fn grpc(store: &Store, methods: &'static [(&'static str, &'static str)]) -> Self {
        IdempotencyLayer {
            records: Records::new(store.clone()),
            protocol: Protocol::Grpc,
            scopes: Scopes::ByPath(methods),
            max_body: MAX_BODY_BYTES,
            budget: None,
        }
    }

    /// Refuses a keyed gRPC request with a message over `bytes` (its 5-byte
    /// frame header aside) before reading more, as tonic would after.
    #[must_use]
    pub fn max_message(mut self, bytes: usize) -> Self {
        self.max_body = bytes + 5;
        self
    }
}

impl<S> Layer<S> for IdempotencyLayer {
    type Service = Idempotent<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Idempotent {
            inner,
            layer: self.clone(),
        }
    }
}

/// A request body rebuilt from the bytes read to fingerprint it.
pub trait FromBytes {
    /// The body holding `bytes`.
    fn from_bytes(bytes: Bytes) -> Self;
}

impl FromBytes for Body {
    fn from_bytes(bytes: Bytes) -> Self {
        Body::from(bytes)
    }
}
{%- if uses.grpc_server %}

#[cfg(feature = "grpc")]
impl FromBytes for tonic::body::Body {
    fn from_bytes(bytes: Bytes) -> Self {
        tonic::body::Body::new(Full::new(bytes))
    }
}
{%- endif %}

/// The service [`IdempotencyLayer`] wraps around a route or a gRPC service.
#[derive(Debug, Clone)]
pub struct Idempotent<S> {
    inner: S,
    layer: IdempotencyLayer,
}

impl<S> Idempotent<S> {
    /// `inner` (a tonic service, say) behind `layer`.
    pub fn new(inner: S, layer: IdempotencyLayer) -> Self {
        Idempotent { inner, layer }
    }
}
{%- if uses.grpc_server %}

#[cfg(feature = "grpc")]
impl<S: tonic::server::NamedService> tonic::server::NamedService for Idempotent<S> {
    const NAME: &'static str = S::NAME;
}
{%- endif %}

impl<S, B> Service<Request<B>> for Idempotent<S>
where
    S: Service<Request<B>, Error = Infallible> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
    B: HttpBody<Data = Bytes> + FromBytes + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone that was polled ready serves this request.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let protocol = self.layer.protocol;
        let keyed = self
            .layer
            .scopes
            .of(request.uri().path())
            .and_then(|flow| Some((flow, request.headers().get(HEADER)?.clone())));
        let Some((flow, key)) = keyed else {
            // Without a key, nothing is recorded: past its budget the
            // handler is dropped, as on a route without keys.
            let budget = self.layer.budget;
            return Box::pin(async move {
                let answered = inner.call(request);
                match budget {
                    None => Ok(answered.await?.into_response()),
                    Some(budget) => match tokio::time::timeout(budget, answered).await {
                        Ok(answer) => Ok(answer?.into_response()),
                        Err(_) => Ok(past_budget(budget, false)),
                    },
                }
            });
        };
        let layer = self.layer.clone();
        Box::pin(async move {
            let Some(key) = valid_key(&key) else {
                return Ok(refuse(protocol, Refusal::InvalidKey));
            };
            Ok(once(&mut inner, &layer, flow, key, request).await)
        })
    }
}

/// Runs `request` through `inner` once per key, or answers from the records.
async fn once<S, B>(
    inner: &mut S,
    layer: &IdempotencyLayer,
    flow: &'static str,
    key: String,
    request: Request<B>,
) -> Response<Body>
where
    S: Service<Request<B>, Error = Infallible>,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
    B: HttpBody<Data = Bytes> + FromBytes,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let protocol = layer.protocol;
    let (parts, body) = request.into_parts();
    let bytes = match Limited::new(body, layer.max_body).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) if over_limit(err.as_ref()) => return refuse(protocol, Refusal::TooLarge),
        Err(_) => return refuse(protocol, Refusal::UnreadableBody),
    };
    let fingerprint = fingerprint(&parts.method, &parts.uri, &bytes);
    let records = &layer.records;
    let started = Instant::now();
    let mut claim = records.claim(flow, &key, &fingerprint).await;
    let token = loop {
        match claim {
            Ok(Claim::First(token)) => break token,
            Ok(Claim::Answered(stored)) => {
                debug!(flow, key, "answered from the idempotency records");
                return stored.into_response(true);
            }
            Ok(Claim::Mismatch) => return refuse(protocol, Refusal::Mismatch),
            Ok(Claim::InFlight) if started.elapsed() < WAIT_FOR_FIRST => {
                tokio::time::sleep(POLL_EVERY).await;
                // Reads only, until the claim is answered, released or stale.
                claim = records.look(flow, &key, &fingerprint).await;
            }
            Ok(Claim::InFlight) => return refuse(protocol, Refusal::InFlight),
            Err(err) => {
                warn!(flow, %err, "cannot read the idempotency records");
                return refuse(protocol, Refusal::Unavailable);
            }
        }
    };
    // The handler runs and its answer is recorded on a task of its own: a
    // request cancelled meanwhile (a timeout, a caller gone) does not stop
    // it, so the effect and the record never part, and the retry gets the
    // answer instead of running the handler again. It runs in the request's
    // span, so its trace goes on (`crate::trace`).
    let records = records.clone();
    let pending = inner.call(Request::from_parts(parts, B::from_bytes(bytes)));
    let handled = async move {
        let Ok(response) = pending.await;
        let (parts, answer) = response.into_response().into_parts();
        let collected = answer.collect().await.ok()?;
        let trailers = collected.trailers().cloned();
        let data = collected.to_bytes();
        let stored = Stored::new(&parts, &data, trailers.as_ref());
        if stored.is_final(protocol) {
            records.complete(flow, &key, token, &stored).await;
        } else if let Err(err) = records.release(flow, &key, token).await {
            warn!(flow, %err, "cannot release an idempotency key; it is taken over after the lease");
        }
        Some(Response::from_parts(parts, answer_body(data, trailers)))
    };
    let running = tokio::spawn(handled.in_current_span());
    let answered = match layer.budget {
        // Dropping `running` leaves the handler's task running.
        Some(budget) => tokio::time::timeout(budget, running).await.ok(),
        None => Some(running.await),
    };
    match answered {
        Some(Ok(Some(response))) => response,
        // The answer's body failed, or the handler panicked: the claim is
        // left to be taken over after the lease.
        Some(Ok(None) | Err(_)) => refuse(protocol, Refusal::Internal),
        None => past_budget(layer.budget.unwrap_or_default(), true),
    }
}

/// Whether reading a body failed on a length limit: ours, or one a layer in
/// front of us put on the body (wrapped in that layer's own error).
fn over_limit(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(err) = cause {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = err.source();
    }
    false
}

/// A body of `data` then `trailers`. An empty body without trailers is sent
/// as such, so a gRPC error stays a trailers-only response (its status in
/// the headers, the stream ended with them).
fn answer_body(data: Bytes, trailers: Option<HeaderMap>) -> Body {
    match trailers {
        Some(trailers) => {
            let trailers = std::future::ready(Some(Ok::<_, Infallible>(trailers)));
            Body::new(Full::new(data).with_trailers(trailers))
        }
        None if data.is_empty() => Body::empty(),
        None => Body::new(Full::new(data)),
    }
}

/// The key of a header, if it is one: 1 to [`MAX_KEY_LEN`] visible ASCII
/// characters.
fn valid_key(value: &HeaderValue) -> Option<String> {
    let key = value.to_str().ok()?;
    let visible = key.bytes().all(|b| b.is_ascii_graphic());
    (!key.is_empty() && key.len() <= MAX_KEY_LEN && visible).then(|| key.to_owned())
}

/// What a request is, for telling a retry from another request under the
/// same key: SHA-256 of its method, path and body.
fn fingerprint(method: &axum::http::Method, uri: &axum::http::Uri, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(method.as_str());
    hash.update(b"\n");
    hash.update(uri.path_and_query().map_or("", |p| p.as_str()));
    hash.update(b"\n");
    hash.update(body);
    hash.finalize()
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// Why a keyed request is answered without running its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    InvalidKey,
    TooLarge,
    UnreadableBody,
    Mismatch,
    InFlight,
    Unavailable,
    Internal,
}

/// The answer to a refused request, in `protocol`'s terms.
fn refuse(protocol: Protocol, refusal: Refusal) -> Response<Body> {
    let (status, code, message) = match refusal {
        Refusal::InvalidKey => (
            StatusCode::BAD_REQUEST,
            3,
            "idempotency-key must be 1 to 255 visible ASCII characters",
        ),
        Refusal::TooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            8,
            "request too large for an idempotency key",
        ),
        Refusal::UnreadableBody => (StatusCode::BAD_REQUEST, 3, "cannot read the request body"),
        Refusal::Mismatch => (
            StatusCode::UNPROCESSABLE_ENTITY,
            9,
            "this idempotency-key was used for a different request",
        ),
        Refusal::InFlight => (
            StatusCode::CONFLICT,
            10,
            "a request with this idempotency-key is still running; retry later",
        ),
        Refusal::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            14,
            "idempotency records unavailable; retry later",
        ),
        Refusal::Internal => (
            StatusCode::INTERNAL_SERVER_ERROR,
            13,
            "cannot read the answer",
        ),
    };
    let mut response = match protocol {
        Protocol::Rest => {
            let body = ["{\"error\":\"", message, "\"}"].concat();
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = status;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        // Trailers-only: the status travels in the headers of an empty body.
        Protocol::Grpc => {
            let mut response = Response::new(Body::empty());
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/grpc"),
            );
            headers.insert("grpc-status", HeaderValue::from(code));
            headers.insert("grpc-message", HeaderValue::from_static(message));
            response
        }
    };
    if refusal == Refusal::InFlight {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// 503 to a REST request that took longer than its `budget`, as a route
/// without keys answers it; `recorded` says the handler goes on and its
/// answer will be given to a retry with the same key.
fn past_budget(budget: Duration, recorded: bool) -> Response<Body> {
    let retry = if recorded {
        "; its answer is recorded for a retry with the same idempotency-key"
    } else {
        ""
    };
    let body = format!(
        {% raw %}"{{\"error\":\"request took longer than its {} ms budget{retry}\"}}",{% endraw %}
        budget.as_millis()
    );
    warn!(?budget, recorded, "request timed out");
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// An answer as stored: status, headers, body and trailers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    status: u16,
    headers: String,
    body: Vec<u8>,
    trailers: String,
}

/// Headers that describe one transfer, not the answer.
const NOT_STORED: &[HeaderName] = &[
    header::CONTENT_LENGTH,
    header::DATE,
    header::TRANSFER_ENCODING,
    header::CONNECTION,
];

impl Stored {
    fn new(parts: &Parts, data: &Bytes, trailers: Option<&HeaderMap>) -> Self {
        Stored {
            status: parts.status.as_u16(),
            headers: lines(&parts.headers),
            body: data.to_vec(),
            trailers: trailers.map(lines).unwrap_or_default(),
        }
    }

    /// Whether the same request would get this answer again.
    fn is_final(&self, protocol: Protocol) -> bool {
        match protocol {
            Protocol::Rest => {
                (200..300).contains(&self.status)
                    || ((400..500).contains(&self.status)
                        && !matches!(self.status, 401 | 403 | 408 | 425 | 429))
            }
            Protocol::Grpc => {
                let code = grpc_status(&self.trailers).or_else(|| grpc_status(&self.headers));
                self.status == 200 && matches!(code, Some(0 | 3 | 5 | 6 | 9 | 11 | 12))
            }
        }
    }

    /// The stored answer again, marked as replayed.
    fn into_response(self, replayed: bool) -> Response<Body> {
        let trailers = (!self.trailers.is_empty()).then(|| header_map(&self.trailers));
        let mut response = Response::new(answer_body(Bytes::from(self.body), trailers));
        *response.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        *response.headers_mut() = header_map(&self.headers);
        if replayed {
            response
                .headers_mut()
                .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
        }
        response
    }
}

/// `headers` as `name: value` lines; values that are not visible ASCII are
/// left out.
fn lines(headers: &HeaderMap) -> String {
    let mut out = String::new();
    for (name, value) in headers {
        if NOT_STORED.contains(name) {
            continue;
        }
        if let Ok(value) = value.to_str() {
            let _ = writeln!(out, "{name}: {value}");
        }
    }
    out
}

fn header_map(lines: &str) -> HeaderMap {
    lines
        .lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(": ")?;
            Some((
                HeaderName::from_bytes(name.as_bytes()).ok()?,
                HeaderValue::from_str(value).ok()?,
            ))
        })
        .collect()
}

fn grpc_status(lines: &str) -> Option<i32> {
    lines
        .lines()
        .find_map(|line| line.strip_prefix("grpc-status: "))
        .and_then(|code| code.parse().ok())
}

/// What the records say about a key.
#[derive(Debug)]
enum Claim {
    /// This request claimed the key, with this token: run the handler.
    First(String),
    /// The key was answered: replay the answer.
    Answered(Stored),
    /// The key belongs to another request.
    Mismatch,
    /// A request with this key is running.
    InFlight,
}

/// The idempotency records in the service's database.
#[derive(Debug, Clone)]
struct Records {
    store: Store,
    /// When old records were last purged, in Unix milliseconds.
    purged_at: Arc<AtomicI64>,
}

impl Records {
    fn new(store: Store) -> Self {
        Records {
            store,
            purged_at: Arc::new(AtomicI64::new(0)),
        }
    }

    /// Claims `key` for a request with `fingerprint`, or says why not.
    async fn claim(&self, flow: &str, key: &str, fingerprint: &str) -> Result<Claim, sqlx::Error> {
        self.store.ready().await?;
        let now = now_millis();
        self.purge(now).await?;
        let token = uuid::Uuid::new_v4().to_string();
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys \
             (scope, idempotency_key, fingerprint, claim_token, claimed_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope, idempotency_key) DO NOTHING",
        )
        .bind(flow)
        .bind(key)
        .bind(fingerprint)
        .bind(token.as_str())
        .bind(now)
        .execute(self.store.pool())
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(Claim::First(token));
        }
        self.look(flow, key, fingerprint).await
    }

    /// What the records say about `key` now; a claim left unanswered past
    /// [`CLAIM_LEASE`] (its process died) is taken over, and a key released
    /// meanwhile is claimed again.
    async fn look(&self, flow: &str, key: &str, fingerprint: &str) -> Result<Claim, sqlx::Error> {
        let row = sqlx::query(
            "SELECT fingerprint, status, headers, body, trailers, claimed_at \
             FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2",
        )
        .bind(flow)
        .bind(key)
        .fetch_optional(self.store.pool())
        .await?;
        let Some(row) = row else {
            return Box::pin(self.claim(flow, key, fingerprint)).await;
        };
        if row.try_get::<String, _>(0)? != fingerprint {
            return Ok(Claim::Mismatch);
        }
        if let Some(status) = row.try_get::<Option<i64>, _>(1)? {
            return Ok(Claim::Answered(Stored {
                status: u16::try_from(status).unwrap_or(500),
                headers: row.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
                body: row.try_get::<Option<Vec<u8>>, _>(3)?.unwrap_or_default(),
                trailers: row.try_get::<Option<String>, _>(4)?.unwrap_or_default(),
            }));
        }
        let claimed_at: i64 = row.try_get(5)?;
        let now = now_millis();
        if claimed_at >= now - millis(CLAIM_LEASE) {
            return Ok(Claim::InFlight);
        }
        // One replica wins the takeover: the row is rechecked under its lock.
        let token = uuid::Uuid::new_v4().to_string();
        let takeover = sqlx::query(
            "UPDATE idempotency_keys SET claim_token = $3, claimed_at = $4 \
             WHERE scope = $1 AND idempotency_key = $2 AND status IS NULL AND claimed_at = $5",
        )
        .bind(flow)
        .bind(key)
        .bind(token.as_str())
        .bind(now)
        .bind(claimed_at)
        .execute(self.store.pool())
        .await?;
        Ok(if takeover.rows_affected() == 1 {
            warn!(flow, key, "took over an unanswered idempotency key");
            Claim::First(token)
        } else {
            Claim::InFlight
        })
    }

    /// Stores the answer of the claim `token`, trying [`COMPLETE_ATTEMPTS`]
    /// times; a claim taken over meanwhile keeps its new owner's answer.
    async fn complete(&self, flow: &str, key: &str, token: String, stored: &Stored) {
        for attempt in 1..=COMPLETE_ATTEMPTS {
            let done = sqlx::query(
                "UPDATE idempotency_keys \
                 SET status = $4, headers = $5, body = $6, trailers = $7 \
                 WHERE scope = $1 AND idempotency_key = $2 AND claim_token = $3 \
                 AND status IS NULL",
            )
            .bind(flow)
            .bind(key)
            .bind(token.as_str())
            .bind(i64::from(stored.status))
            .bind(stored.headers.as_str())
            .bind(stored.body.as_slice())
            .bind(stored.trailers.as_str())
            .execute(self.store.pool())
            .await;
            match done {
                Ok(done) if done.rows_affected() == 1 => return,
                Ok(_) => {
                    warn!(flow, key, "idempotency key taken over: answer not stored");
                    return;
                }
                Err(err) if attempt < COMPLETE_ATTEMPTS => {
                    warn!(flow, %err, attempt, "cannot store an idempotent answer; trying again");
                    tokio::time::sleep(POLL_EVERY * attempt).await;
                }
                // Left claimed: copies get 409 until the lease ends, then a
                // retry takes the key over.
                Err(err) => warn!(flow, %err, "cannot store an idempotent answer"),
            }
        }
    }

    /// Frees the claim `token` for a retry.
    async fn release(&self, flow: &str, key: &str, token: String) -> Result<(), sqlx::Error> {
        sqlx::query(
            "DELETE FROM idempotency_keys \
             WHERE scope = $1 AND idempotency_key = $2 AND claim_token = $3 AND status IS NULL",
        )
        .bind(flow)
        .bind(key)
        .bind(token.as_str())
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    /// Deletes records older than [`KEEP_FOR`], at most once per
    /// [`PURGE_EVERY`] per process.
    async fn purge(&self, now: i64) -> Result<(), sqlx::Error> {
        let last = self.purged_at.load(Ordering::Relaxed);
        if now - last < millis(PURGE_EVERY)
            || self
                .purged_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return Ok(());
        }
        sqlx::query("DELETE FROM idempotency_keys WHERE claimed_at < $1")
            .bind(now - millis(KEEP_FOR))
            .execute(self.store.pool())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_visible_ascii_keys_up_to_255_characters() {
        assert!(valid_key(&HeaderValue::from_static("3f2c-uuid")).is_some());
        assert!(valid_key(&HeaderValue::from_static("")).is_none());
        assert!(valid_key(&HeaderValue::from_static("a b")).is_none());
        let long = "k".repeat(MAX_KEY_LEN + 1);
        assert!(valid_key(&HeaderValue::from_str(&long).unwrap()).is_none());
    }

    #[test]
    fn tells_requests_apart_by_method_path_and_body() {
        let uri: axum::http::Uri = "/shipments?x=1".parse().unwrap();
        let post = axum::http::Method::POST;
        let base = fingerprint(&post, &uri, b"{}");
        assert_eq!(base, fingerprint(&post, &uri, b"{}"));
        assert_ne!(base, fingerprint(&post, &uri, b"{\"a\":1}"));
        assert_ne!(base, fingerprint(&axum::http::Method::PUT, &uri, b"{}"));
        assert_ne!(
            base,
            fingerprint(&post, &"/shipments".parse().unwrap(), b"{}")
        );
    }

    #[test]
    fn stores_successes_and_repeatable_refusals_only() {
        let stored = |status, trailers: &str| Stored {
            status,
            headers: String::new(),
            body: Vec::new(),
            trailers: trailers.to_owned(),
        };
        assert!(stored(201, "").is_final(Protocol::Rest));
        assert!(stored(422, "").is_final(Protocol::Rest));
        assert!(!stored(429, "").is_final(Protocol::Rest));
        assert!(!stored(503, "").is_final(Protocol::Rest));
        assert!(stored(200, "grpc-status: 0\n").is_final(Protocol::Grpc));
        assert!(stored(200, "grpc-status: 5\n").is_final(Protocol::Grpc));
        assert!(!stored(200, "grpc-status: 14\n").is_final(Protocol::Grpc));
        assert!(!stored(200, "").is_final(Protocol::Grpc));
    }

    #[test]
    fn keeps_headers_but_not_those_of_one_transfer() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("12"));
        let kept = header_map(&lines(&headers));
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[header::CONTENT_TYPE], "application/json");
    }
}
