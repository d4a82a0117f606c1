//! Health that an orchestrator can act on, the same in every service:
//!
//! - `GET /livez`: the process answers: 200 whatever its dependencies say,
//!   since a restart would not bring them back (once draining begins, the
//!   listener closes);
//! - `GET /readyz`: the dependencies it cannot work without answer (the
//!   database; the Kafka brokers, for a service that only consumes or only
//!   produces) and it is not draining: 200, else 503 with what failed. A
//!   dependency it can do without for a while (the brokers, for a service
//!   that serves: its events wait) is named `degraded`, still 200;
//! - `GET /healthz`: the one probe of earlier releases, kept for the
//!   deployments that use it: 200 until draining.
//!
//! The dependencies are checked by one task ([`Checks::spawn`]), not by each
//! probe: a probe only reads the last result, so probes cost nothing and a
//! probe storm cannot load the broker or the database. gRPC health follows
//! the same result ([`Health::changes`]). A service serving REST answers the
//! three routes on its API's router; any other on `HTTP_ADDR` ([`serve`]).

use std::{
    fmt::Write as _,
    future::Future,
    io,
    net::{Ipv4Addr, Ipv6Addr, SocketAddr},
    pin::Pin,
    sync::Arc,
    time::Duration,
};

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing,
};
use tokio::{
    io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    sync::watch,
};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How often the dependencies are checked while they answer.
pub const READY_PERIOD: Duration = Duration::from_secs(5);

/// How often they are checked while one does not: a service starting before
/// its broker turns ready soon after the broker does.
pub const NOT_READY_PERIOD: Duration = Duration::from_secs(1);

/// How long one check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// One dependency's check: `Ok` when it answers, else why not.
type CheckFn =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// A dependency: its name, its check, and whether the service is unready
/// while it does not answer.
struct Check {
    name: &'static str,
    run: CheckFn,
    required: bool,
}

/// The dependencies checked for `/readyz`, each by name.
#[derive(Default)]
pub struct Checks {
    checks: Vec<Check>,
}

impl std::fmt::Debug for Checks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<(&str, bool)> = self.checks.iter().map(|c| (c.name, c.required)).collect();
        f.debug_struct("Checks").field("checks", &names).finish()
    }
}

impl Checks {
    /// No dependencies: ready as soon as it starts, until it drains.
    pub fn new() -> Checks {
        Checks::default()
    }

    /// Adds the dependency `name` the service cannot work without: not
    /// ready unless `check` returns `Ok` within [`CHECK_TIMEOUT`].
    #[must_use]
    pub fn with<F, Fut>(self, name: &'static str, check: F) -> Checks
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.add(name, check, true)
    }

    /// Adds the dependency `name` the service works without for a while
    /// (events wait in an outbox or a producer's queue): `/readyz` names it
    /// as degraded while `check` fails, and stays 200. Every replica shares
    /// such a dependency, so taking them all out of service for it would
    /// turn a broker's blip into an outage of the API.
    #[must_use]
    pub fn watching<F, Fut>(self, name: &'static str, check: F) -> Checks
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.add(name, check, false)
    }

    fn add<F, Fut>(mut self, name: &'static str, check: F, required: bool) -> Checks
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let run: CheckFn = Arc::new(move || Box::pin(check()));
        self.checks.push(Check {
            name,
            run,
            required,
        });
        self
    }

    /// Checks the dependencies on a spawned task, every [`READY_PERIOD`]
    /// (every [`NOT_READY_PERIOD`] while one fails), until `shutdown` is
    /// cancelled; the [`Health`] returned reads the last result, which
    /// changes only when the readiness does.
    pub fn spawn(self, shutdown: CancellationToken) -> Health {
        // Nothing to wait for: ready from the start.
        let first = if self.checks.is_empty() {
            Readiness::Ready(Vec::new())
        } else {
            Readiness::Starting
        };
        let (report, last) = watch::channel(first);
        let stop = shutdown.clone();
        tokio::spawn(async move {
            loop {
                let now = tokio::select! {
                    biased;
                    () = stop.cancelled() => break,
                    now = self.run() => now,
                };
                let healthy = matches!(&now, Readiness::Ready(degraded) if degraded.is_empty());
                // Only a change is sent: watchers (gRPC health) see each
                // change once. The logs say when readiness or the names of
                // what does not answer change, not each new error text.
                let said = report.borrow().summary();
                let logged = now.clone();
                let sent = report.send_if_modified(|last| {
                    let changed = *last != now;
                    if changed {
                        *last = now;
                    }
                    changed
                });
                if sent && logged.summary() != said {
                    match &logged {
                        Readiness::Ready(degraded) if degraded.is_empty() => info!("ready"),
                        Readiness::Ready(degraded) => {
                            warn!(degraded = %listed(degraded), "ready, degraded");
                        }
                        Readiness::NotReady(failed) => warn!(failed = %listed(failed), "not ready"),
                        Readiness::Starting | Readiness::Draining => {}
                    }
                }
                let period = if healthy {
                    READY_PERIOD
                } else {
                    NOT_READY_PERIOD
                };
                tokio::select! {
                    biased;
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(period) => {}
                }
            }
            report.send_replace(Readiness::Draining);
        });
        Health {
            inner: Arc::new(Inner { shutdown, last }),
            metrics: false,
        }
    }

    /// Every check at once, each within [`CHECK_TIMEOUT`].
    async fn run(&self) -> Readiness {
        let mut running = tokio::task::JoinSet::new();
        // Which check each task runs, for one that panics.
        let mut tasks = std::collections::HashMap::new();
        for (at, check) in self.checks.iter().enumerate() {
            let run = Arc::clone(&check.run);
            let task = running.spawn(async move {
                let answer = match tokio::time::timeout(CHECK_TIMEOUT, run()).await {
                    Ok(answer) => answer,
                    Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
                };
                (at, answer)
            });
            tasks.insert(task.id(), at);
        }
        let (mut failed, mut required_failed) = (Vec::new(), false);
        while let Some(joined) = running.join_next().await {
            match joined {
                Ok((_, Ok(()))) => {}
                Ok((at, Err(why))) => {
                    let check = &self.checks[at];
                    required_failed |= check.required;
                    failed.push((check.name, why));
                }
                Err(panicked) => {
                    let check = &self.checks[tasks[&panicked.id()]];
                    required_failed |= check.required;
                    failed.push((check.name, format!("the check failed: {panicked}")));
                }
            }
        }
        failed.sort_unstable();
        if required_failed {
            Readiness::NotReady(failed)
        } else {
            Readiness::Ready(failed)
        }
    }
}

/// `name: why; name: why`, for a log line.
fn listed(failed: &[(&'static str, String)]) -> String {
    let parts: Vec<String> = failed
        .iter()
        .map(|(name, why)| format!("{name}: {why}"))
        .collect();
    parts.join("; ")
}

/// Whether the service should be sent work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// The first checks have not finished yet.
    Starting,
    /// Every dependency it needs answered at the last check; those it can
    /// do without for a while and that did not are listed (name, why).
    Ready(Vec<(&'static str, String)>),
    /// A dependency it needs did not answer: every one that did not (name,
    /// why), sorted by name.
    NotReady(Vec<(&'static str, String)>),
    /// Shutdown has begun: in-flight work finishes, no new work is taken.
    Draining,
}

impl Readiness {
    /// Its kind and the names of what did not answer: what a log line says.
    fn summary(&self) -> (std::mem::Discriminant<Readiness>, Vec<&'static str>) {
        let names = match self {
            Readiness::Ready(listed) | Readiness::NotReady(listed) => {
                listed.iter().map(|(name, _)| *name).collect()
            }
            Readiness::Starting | Readiness::Draining => Vec::new(),
        };
        (std::mem::discriminant(self), names)
    }

    /// Whether `/readyz` answers 200 (and gRPC health `SERVING`).
    pub fn is_ready(&self) -> bool {
        matches!(self, Readiness::Ready(_))
    }

    /// `/readyz`'s JSON body: `{"status":"ready"}`, or what did not answer.
    fn body(&self) -> String {
        let (status, key, listed) = match self {
            Readiness::Starting => return r#"{"status":"starting"}"#.to_owned(),
            Readiness::Draining => return r#"{"status":"draining"}"#.to_owned(),
            Readiness::Ready(degraded) if degraded.is_empty() => {
                return r#"{"status":"ready"}"#.to_owned();
            }
            Readiness::Ready(degraded) => ("ready", "degraded", degraded),
            Readiness::NotReady(failed) => ("not ready", "failed", failed),
        };
        // `{"status":"…","key":{` (written a brace at a time: these files
        // are templates, where two braces open an expression).
        let mut body = String::from('{');
        let _ = write!(body, r#""status":"{status}","{key}":"#);
        body.push('{');
        for (at, (name, why)) in listed.iter().enumerate() {
            if at > 0 {
                body.push(',');
            }
            let _ = write!(body, "\"{}\":\"{}\"", json_escaped(name), json_escaped(why));
        }
        body.push_str("}}");
        body
    }
}

/// The service's health, read by its probes and its gRPC health service.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Health {
    inner: Arc<Inner>,
    /// Whether [`Health::router`] serves `/metrics` too.
    metrics: bool,
}

#[derive(Debug)]
struct Inner {
    shutdown: CancellationToken,
    last: watch::Receiver<Readiness>,
}

impl Health {
    /// A service with no dependencies to check (tests, mostly): ready until
    /// `shutdown` is cancelled.
    pub fn without_checks(shutdown: CancellationToken) -> Health {
        Checks::new().spawn(shutdown)
    }

    /// Cancelled when the service starts draining.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// The last result of the checks (draining as soon as shutdown begins).
    pub fn readiness(&self) -> Readiness {
        if self.inner.shutdown.is_cancelled() {
            Readiness::Draining
        } else {
            self.inner.last.borrow().clone()
        }
    }

    /// Whether the service is ready, and then each change of it, until
    /// draining has begun: what gRPC health follows.
    pub fn changes(&self) -> watch::Receiver<Readiness> {
        self.inner.last.clone()
    }

    /// This health, its [`router`](Health::router) serving the process's
    /// metrics at `/metrics` too (`runtime::telemetry`, whose recorder is
    /// installed now): a service without a metrics listener of its own.
    #[cfg(feature = "telemetry")]
    #[must_use]
    pub fn with_metrics(mut self) -> Health {
        crate::telemetry::handle();
        self.metrics = true;
        self
    }

    /// `/livez`, `/readyz` and `/healthz` (and `/metrics` after
    /// [`with_metrics`](Health::with_metrics)), to merge into a service's
    /// router.
    pub fn router(&self) -> Router {
        let probes = Router::new()
            .route("/livez", routing::get(livez))
            .route("/readyz", routing::get(readyz))
            .route("/healthz", routing::get(healthz))
            .with_state(self.clone());
        #[cfg(feature = "telemetry")]
        if self.metrics {
            return probes.merge(crate::telemetry::router());
        }
        probes
    }
}

/// Serves [`Health::router`] on `listener` (a service serving no REST API)
/// until shutdown, then stops accepting and lets open requests finish.
pub async fn serve(listener: TcpListener, health: Health) -> io::Result<()> {
    info!(addr = %listener.local_addr()?, "/livez and /readyz listening");
    let shutdown = health.shutdown().clone();
    axum::serve(listener, health.router())
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    info!("/livez and /readyz stopped");
    Ok(())
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn livez() -> Response {
    json(StatusCode::OK, r#"{"status":"alive"}"#.to_owned())
}

async fn readyz(State(health): State<Health>) -> Response {
    let readiness = health.readiness();
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(status, readiness.body())
}

async fn healthz(State(health): State<Health>) -> Response {
    if health.shutdown().is_cancelled() {
        json(
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"status":"draining"}"#.to_owned(),
        )
    } else {
        json(StatusCode::OK, r#"{"status":"ok"}"#.to_owned())
    }
}

/// `s` as the inside of a JSON string.
fn json_escaped(s: &str) -> String {
    let mut escaped = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(escaped, "\\u{:04x}", u32::from(c));
            }
            c => escaped.push(c),
        }
    }
    escaped
}

/// The binary's `probe` command: `GET path` on `http_addr` (`HTTP_ADDR`; on
/// loopback when it names every interface), printing the answer's status;
/// `Ok` on 200 only.{% if uses.rest %} Over TLS when `tls` is given (a REST server serving
/// TLS: see `tls::Tls::probe_client`).{% endif %}
{%- if uses.rest %}
pub async fn ask(
    http_addr: SocketAddr,
    path: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> anyhow::Result<()> {
{%- else %}
pub async fn ask(http_addr: SocketAddr, path: &str) -> anyhow::Result<()> {
{%- endif %}
    let mut addr = http_addr;
    anyhow::ensure!(
        addr.port() != 0,
        "HTTP_ADDR={addr} has no fixed port: set it to the address the service listens on"
    );
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            Ipv4Addr::LOCALHOST.into()
        } else {
            Ipv6Addr::LOCALHOST.into()
        });
    }
{%- if uses.rest %}
    let scheme = if tls.is_some() { "https" } else { "http" };
    let code = match tls {
        Some(tls) => probe_tls(addr, path, tls).await,
        None => probe(addr, path).await,
    };
    let code =
        code.map_err(|err| anyhow::anyhow!("no answer from {scheme}://{addr}{path}: {err}"))?;
    anyhow::ensure!(code == 200, "{scheme}://{addr}{path} answered {code}");
    println!("{scheme}://{addr}{path} answered 200");
{%- else %}
    let code = probe(addr, path)
        .await
        .map_err(|err| anyhow::anyhow!("no answer from http://{addr}{path}: {err}"))?;
    anyhow::ensure!(code == 200, "http://{addr}{path} answered {code}");
    println!("http://{addr}{path} answered 200");
{%- endif %}
    Ok(())
}

/// How long [`probe`] waits for the whole answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// `GET path` on `addr` over HTTP/1.1: the answer's status code. What the
/// binary's `probe` command runs, so that a container image without curl
/// can have a health check.
pub async fn probe(addr: SocketAddr, path: &str) -> io::Result<u16> {
    within_timeout(async {
        let stream = TcpStream::connect(addr).await?;
        status_of(stream, addr, path).await
    })
    .await
}
{%- if uses.rest %}

/// [`probe`] over TLS with `config`.
pub async fn probe_tls(
    addr: SocketAddr,
    path: &str,
    config: Arc<rustls::ClientConfig>,
) -> io::Result<u16> {
    within_timeout(async {
        let stream = TcpStream::connect(addr).await?;
        let name = rustls::pki_types::ServerName::from(addr.ip());
        let connector = tokio_rustls::TlsConnector::from(config);
        let stream = connector.connect(name, stream).await?;
        status_of(stream, addr, path).await
    })
    .await
}
{%- endif %}

async fn within_timeout(ask: impl Future<Output = io::Result<u16>>) -> io::Result<u16> {
    tokio::time::timeout(PROBE_TIMEOUT, ask)
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer within {PROBE_TIMEOUT:?}"),
            )
        })?
}

/// Sends `GET path` on `stream` and reads the status line of the answer.
async fn status_of(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    addr: SocketAddr,
    path: &str,
) -> io::Result<u16> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    stream.flush().await?;
    // The status line only: `HTTP/1.1 200 OK`.
    let mut line = Vec::new();
    let mut byte = [0; 1];
    while line.len() < 1024 && !line.ends_with(b"\r\n") {
        if stream.read(&mut byte).await? == 0 {
            break;
        }
        line.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&line);
    let mut words = line.split_whitespace();
    match (words.next(), words.next().map(str::parse)) {
        (Some(version), Some(Ok(code))) if version.starts_with("HTTP/") => Ok(code),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not an HTTP status line: {:?}", line.trim_end()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves `health` on an ephemeral port: its address and the server task.
    async fn start(health: Health) -> (SocketAddr, tokio::task::JoinHandle<io::Result<()>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        (addr, tokio::spawn(serve(listener, health)))
    }

    /// The status line and body of `GET path` on `addr`.
    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    }

    /// Waits until `health` has left `Starting`.
    async fn settled(health: &Health) {
        let mut changes = health.changes();
        changes
            .wait_for(|now| *now != Readiness::Starting)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn is_alive_and_ready_without_dependencies_until_shutdown_then_closes_the_port() {
        let shutdown = CancellationToken::new();
        let health = Health::without_checks(shutdown.clone());
        settled(&health).await;
        let (addr, server) = start(health).await;

        let live = get(addr, "/livez").await;
        assert!(live.starts_with("HTTP/1.1 200"), "{live}");
        let ready = get(addr, "/readyz").await;
        assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
        assert!(ready.ends_with(r#"{"status":"ready"}"#), "{ready}");
        assert!(get(addr, "/healthz").await.ends_with(r#"{"status":"ok"}"#));
        assert_eq!(probe(addr, "/readyz").await.unwrap(), 200);
        ask(addr, "/readyz"{% if uses.rest %}, None{% endif %}).await.unwrap();
        // `HTTP_ADDR=0.0.0.0:<port>`, as in a container: asked on loopback.
        let any = SocketAddr::from(([0, 0, 0, 0], addr.port()));
        ask(any, "/livez"{% if uses.rest %}, None{% endif %}).await.unwrap();
        let unknown = SocketAddr::from(([0, 0, 0, 0], 0));
        let err = ask(unknown, "/livez"{% if uses.rest %}, None{% endif %}).await.unwrap_err().to_string();
        assert!(err.contains("has no fixed port"), "{err}");

        shutdown.cancel();
        server.await.unwrap().unwrap();
        assert!(TcpStream::connect(addr).await.is_err());
        assert!(probe(addr, "/livez").await.is_err());
    }

    #[tokio::test]
    async fn is_not_ready_while_a_dependency_fails_and_says_which_and_why() {
        let shutdown = CancellationToken::new();
        let up = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&up);
        let health = Checks::new()
            .with("database", || async { Ok(()) })
            .with("kafka", move || {
                let up = flag.load(std::sync::atomic::Ordering::SeqCst);
                async move {
                    if up {
                        Ok(())
                    } else {
                        Err("no \"broker\" at localhost:1".to_owned())
                    }
                }
            })
            .spawn(shutdown.clone());
        settled(&health).await;
        let (addr, _server) = start(health.clone()).await;

        let answer = get(addr, "/readyz").await;
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(
            answer.ends_with(
                r#"{"status":"not ready","failed":{"kafka":"no \"broker\" at localhost:1"}}"#
            ),
            "{answer}"
        );
        // Alive all the same: restarting it would not bring the broker back.
        assert!(get(addr, "/livez").await.starts_with("HTTP/1.1 200"));
        let err = ask(addr, "/readyz"{% if uses.rest %}, None{% endif %}).await.unwrap_err().to_string();
        assert!(err.ends_with("/readyz answered 503"), "{err}");

        up.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut changes = health.changes();
        changes.wait_for(Readiness::is_ready).await.unwrap();
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 200"));
        shutdown.cancel();
    }

    #[tokio::test]
    async fn a_dependency_it_can_do_without_leaves_it_ready_and_named_degraded() {
        let shutdown = CancellationToken::new();
        let health = Checks::new()
            .with("database", || async { Ok(()) })
            .watching("kafka", || async { Err("no broker".to_owned()) })
            .spawn(shutdown.clone());
        settled(&health).await;
        let (addr, _server) = start(health.clone()).await;
        let answer = get(addr, "/readyz").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let body = r#"{"status":"ready","degraded":{"kafka":"no broker"}}"#;
        assert!(answer.ends_with(body), "{answer}");
        assert!(health.readiness().is_ready());
        shutdown.cancel();
    }

    #[tokio::test]
    async fn probe_reads_the_status_line_and_refuses_what_is_not_http() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for answer in [
                &b"HTTP/1.1 204 No Content\r\n\r\n"[..],
                b"SSH-2.0-OpenSSH\r\n",
            ] {
                let (mut stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut request = [0; 256];
                    let _ = stream.read(&mut request).await.unwrap();
                    stream.write_all(answer).await.unwrap();
                    // Kept open: the probe must not wait for the end.
                    tokio::time::sleep(Duration::from_secs(30)).await;
                });
            }
        });
        assert_eq!(probe(addr, "/livez").await.unwrap(), 204);
        let err = probe(addr, "/livez").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    }

    #[tokio::test]
    async fn a_check_that_does_not_answer_in_time_fails() {
        let shutdown = CancellationToken::new();
        let health = Checks::new()
            .with("database", std::future::pending::<Result<(), String>>)
            .spawn(shutdown.clone());
        tokio::time::pause();
        settled(&health).await;
        let Readiness::NotReady(failed) = health.readiness() else {
            panic!("{:?}", health.readiness());
        };
        assert_eq!(
            failed,
            [("database", format!("no answer within {CHECK_TIMEOUT:?}"))]
        );
        shutdown.cancel();
    }

    #[tokio::test]
    async fn draining_is_not_ready_but_alive() {
        let shutdown = CancellationToken::new();
        let health = Health::without_checks(shutdown.clone());
        settled(&health).await;
        shutdown.cancel();
        assert_eq!(health.readiness(), Readiness::Draining);
        assert_eq!(
            readyz(State(health.clone())).await.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            healthz(State(health.clone())).await.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(livez().await.status(), StatusCode::OK);
        let mut changes = health.changes();
        changes
            .wait_for(|now| *now == Readiness::Draining)
            .await
            .unwrap();
    }
}
