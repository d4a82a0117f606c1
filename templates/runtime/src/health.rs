//! Health that an orchestrator can act on, the same in every service:
//!
//! - `GET /livez`: the process answers (200 even while draining, so a
//!   draining replica is not restarted mid-drain);
//! - `GET /readyz`: the service's dependencies answer (the Kafka broker's
//!   metadata, the database) and it is not draining: 200, else 503 with
//!   what failed;
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
    io::{AsyncReadExt as _, AsyncWriteExt as _},
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

/// The dependencies whose answer makes the service ready, each by name.
#[derive(Default)]
pub struct Checks {
    checks: Vec<(&'static str, CheckFn)>,
}

impl std::fmt::Debug for Checks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.checks.iter().map(|(name, _)| *name).collect();
        f.debug_struct("Checks").field("checks", &names).finish()
    }
}

impl Checks {
    /// No dependencies: ready as soon as it starts, until it drains.
    pub fn new() -> Checks {
        Checks::default()
    }

    /// Adds the dependency `name`, ready while `check` returns `Ok` within
    /// [`CHECK_TIMEOUT`].
    #[must_use]
    pub fn with<F, Fut>(mut self, name: &'static str, check: F) -> Checks
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.checks
            .push((name, Arc::new(move || Box::pin(check()))));
        self
    }

    /// Checks the dependencies on a spawned task, every [`READY_PERIOD`]
    /// (every [`NOT_READY_PERIOD`] while one fails), until `shutdown` is
    /// cancelled; the [`Health`] returned reads the last result.
    pub fn spawn(self, shutdown: CancellationToken) -> Health {
        // Nothing to wait for: ready from the start.
        let first = if self.checks.is_empty() {
            Readiness::Ready
        } else {
            Readiness::Starting
        };
        let (report, last) = watch::channel(first);
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let mut was_ready = None;
            loop {
                let now = tokio::select! {
                    () = stop.cancelled() => break,
                    now = self.run() => now,
                };
                let ready = matches!(now, Readiness::Ready);
                if was_ready != Some(ready) {
                    if let Readiness::NotReady(failed) = &now {
                        warn!(failed = %failed.iter().map(|(name, why)| format!("{name}: {why}")).collect::<Vec<_>>().join("; "), "not ready");
                    } else {
                        info!("ready");
                    }
                    was_ready = Some(ready);
                }
                report.send_replace(now);
                let period = if ready {
                    READY_PERIOD
                } else {
                    NOT_READY_PERIOD
                };
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(period) => {}
                }
            }
            report.send_replace(Readiness::Draining);
        });
        Health {
            inner: Arc::new(Inner { shutdown, last }),
        }
    }

    /// Every check at once, each within [`CHECK_TIMEOUT`].
    async fn run(&self) -> Readiness {
        let mut running = tokio::task::JoinSet::new();
        for (at, (_, check)) in self.checks.iter().enumerate() {
            let check = Arc::clone(check);
            running.spawn(async move {
                let answer = match tokio::time::timeout(CHECK_TIMEOUT, check()).await {
                    Ok(answer) => answer,
                    Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
                };
                (at, answer)
            });
        }
        let mut failed = Vec::new();
        while let Some(joined) = running.join_next().await {
            match joined {
                Ok((_, Ok(()))) => {}
                Ok((at, Err(why))) => failed.push((self.checks[at].0, why)),
                Err(panicked) => failed.push(("check", panicked.to_string())),
            }
        }
        if failed.is_empty() {
            Readiness::Ready
        } else {
            failed.sort_unstable();
            Readiness::NotReady(failed)
        }
    }
}

/// Whether the service should be sent work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// The first checks have not finished yet.
    Starting,
    /// Every dependency answered at the last check.
    Ready,
    /// These dependencies did not (name, why), sorted by name.
    NotReady(Vec<(&'static str, String)>),
    /// Shutdown has begun: in-flight work finishes, no new work is taken.
    Draining,
}

impl Readiness {
    /// `/readyz`'s JSON body: `{"status":"ready"}`, or what failed.
    fn body(&self) -> String {
        match self {
            Readiness::Starting => r#"{"status":"starting"}"#.to_owned(),
            Readiness::Ready => r#"{"status":"ready"}"#.to_owned(),
            Readiness::Draining => r#"{"status":"draining"}"#.to_owned(),
            Readiness::NotReady(failed) => {
                let mut body = String::from(r#"{"status":"not ready","failed":{"#);
                for (at, (name, why)) in failed.iter().enumerate() {
                    if at > 0 {
                        body.push(',');
                    }
                    let _ = write!(body, "\"{}\":\"{}\"", json_escaped(name), json_escaped(why));
                }
                body.push_str("}}");
                body
            }
        }
    }
}

/// The service's health, read by its probes and its gRPC health service.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Health {
    inner: Arc<Inner>,
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

    /// `/livez`, `/readyz` and `/healthz`, to merge into a service's router.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/livez", routing::get(livez))
            .route("/readyz", routing::get(readyz))
            .route("/healthz", routing::get(healthz))
            .with_state(self.clone())
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
    let status = if readiness == Readiness::Ready {
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
/// `Ok` on 200 only.
pub async fn ask(http_addr: SocketAddr, path: &str) -> anyhow::Result<()> {
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
    let code = probe(addr, path)
        .await
        .map_err(|err| anyhow::anyhow!("no answer from http://{addr}{path}: {err}"))?;
    anyhow::ensure!(code == 200, "http://{addr}{path} answered {code}");
    println!("http://{addr}{path} answered 200");
    Ok(())
}

/// How long [`probe`] waits for the whole answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// `GET path` on `addr` over HTTP/1.1: the answer's status code. What the
/// binary's `probe` command runs, so that a container image without curl
/// can have a health check.
pub async fn probe(addr: SocketAddr, path: &str) -> io::Result<u16> {
    let ask = async {
        let mut stream = TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        // "HTTP/1.1 200 OK": the code is the status line's second word.
        std::str::from_utf8(&answer)
            .ok()
            .and_then(|text| text.split_whitespace().nth(1))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an HTTP answer"))
    };
    tokio::time::timeout(PROBE_TIMEOUT, ask)
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer within {PROBE_TIMEOUT:?}"),
            )
        })?
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
        ask(addr, "/readyz").await.unwrap();
        // `HTTP_ADDR=0.0.0.0:<port>`, as in a container: asked on loopback.
        let any = SocketAddr::from(([0, 0, 0, 0], addr.port()));
        ask(any, "/livez").await.unwrap();
        let unknown = SocketAddr::from(([0, 0, 0, 0], 0));
        let err = ask(unknown, "/livez").await.unwrap_err().to_string();
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
        let err = ask(addr, "/readyz").await.unwrap_err().to_string();
        assert!(err.ends_with("/readyz answered 503"), "{err}");

        up.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut changes = health.changes();
        changes
            .wait_for(|now| *now == Readiness::Ready)
            .await
            .unwrap();
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 200"));
        shutdown.cancel();
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
