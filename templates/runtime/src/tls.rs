{#- scaffold
when: uses.tls
-#}
//! TLS of the servers and of the calls to other services, with rustls and
//! aws-lc-rs' cryptography, off unless the environment says:
//!
//! | variable | what it holds | effect |
//! |---|---|---|
//! | `TLS_CERT` | PEM certificate chain, the service's own first | {% if uses.rest %}REST{% endif %}{% if uses.rest and uses.grpc_server %} and {% endif %}{% if uses.grpc_server %}gRPC{% endif %}{% if not uses.rest and not uses.grpc_server %}the servers{% endif %} served over TLS; the identity shown to peers that ask for one |
//! | `TLS_KEY` | PEM private key (PKCS#8, PKCS#1 or SEC1) of `TLS_CERT` | required with `TLS_CERT` |
//! | `TLS_CLIENT_CA` | PEM certificates of the CAs that sign callers | mutual TLS: a caller without a certificate they signed is refused at the handshake |
//! | `TLS_CA` | PEM certificates of the CAs that sign peers | trusted for `https://` peer URLs instead of the bundled Mozilla roots |
//!
//! Everything is read and checked at start-up, so that a missing file, a
//! key that is not the certificate's or a CA that is not a certificate stops
//! the service with the variable's name (exit 2), not the first handshake.
//! `/livez`, `/readyz` and `/metrics` on listeners of their own stay plain
//! HTTP; on the REST API's listener they are served over its TLS.

use std::{fmt, net::SocketAddr, sync::Arc, time::Duration};

use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime, pem::PemObject},
    server::WebPkiClientVerifier,
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{Semaphore, mpsc},
    task::{JoinHandle, JoinSet},
};
use tokio_rustls::{TlsAcceptor, server::TlsStream};
use tracing::{debug, warn};

use crate::setting::InvalidSetting;

/// Environment variable holding the path of the service's PEM certificate
/// chain.
pub const CERT_VAR: &str = "TLS_CERT";
/// Environment variable holding the path of `TLS_CERT`'s PEM private key.
pub const KEY_VAR: &str = "TLS_KEY";
/// Environment variable holding the path of the PEM certificates of the CAs
/// whose callers are let in (mutual TLS).
pub const CLIENT_CA_VAR: &str = "TLS_CLIENT_CA";
/// Environment variable holding the path of the PEM certificates of the CAs
/// trusted for `https://` peers.
pub const CA_VAR: &str = "TLS_CA";

/// How long a caller has to finish its handshake; a connection that stalls
/// it is closed. Up to [`MAX_HANDSHAKES`] run at once, so a stalled one
/// never holds up the others.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// TCP keepalive of every connection the API servers accept
/// ([`keep_alive`]): the kernel probes a connection idle for
/// [`KEEPALIVE_IDLE`], then every [`KEEPALIVE_INTERVAL`], and closes it
/// after [`KEEPALIVE_PROBES`] probes go unanswered, so a peer that vanished
/// (its host gone, a NAT that forgot the connection) does not hold it for
/// good, at no cost to requests.
{%- if uses.grpc_server %}
/// HTTP/2 PINGs (hyper's keepalive) would do the same for gRPC, but hyper
/// then takes a lock and reads the clock on every frame it receives, and
/// polls a timer with every connection: a measurable part of a call
/// answered in microseconds (issue 15 item 6).
{%- endif %}
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
/// See [`KEEPALIVE_IDLE`].
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// See [`KEEPALIVE_IDLE`].
pub const KEEPALIVE_PROBES: u32 = 3;
/// How long a connection may go unanswered before it is closed: the probes'
/// time, and how long data may wait for an acknowledgement ([`keep_alive`]).
pub const KEEPALIVE_GIVE_UP: Duration = Duration::from_secs(60);
/// Handshaken connections waiting for the server to take them.
const ACCEPTED_BACKLOG: usize = 64;
/// Handshakes run at once; a flood of callers that never finish theirs
/// waits in the kernel's backlog rather than in tasks.
pub const MAX_HANDSHAKES: usize = 1024;

/// The service's TLS settings, read and checked once ([`Tls::from_lookup`]).
/// The default is plaintext everywhere, with the Mozilla roots for
/// `https://` peers. Cheap to clone.
#[derive(Clone, Default)]
pub struct Tls {
    /// The variables' values, as given: what `Debug` and `==` look at.
    paths: [Option<String>; 4],
    /// `TLS_CERT` and `TLS_KEY`, as PEM (tonic's client wants them so).
    identity: Option<Arc<Identity>>,
    /// `TLS_CA`'s certificates, as PEM (tonic's client wants them so).
    peer_ca: Option<Arc<Vec<u8>>>,
    /// The servers' configurations: REST (HTTP/1.1) and gRPC (HTTP/2).
    rest: Option<Arc<ServerConfig>>,
    grpc: Option<Arc<ServerConfig>>,
    /// The clients' configuration (peers' roots, the identity shown).
    client: Option<Arc<ClientConfig>>,
}

struct Identity {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [cert, key, client_ca, ca] = &self.paths;
        f.debug_struct("Tls")
            .field("cert", cert)
            .field("key", key)
            .field("client_ca", client_ca)
            .field("ca", ca)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Tls {
    fn eq(&self, other: &Self) -> bool {
        self.paths == other.paths
    }
}

impl Eq for Tls {}

impl Tls {
    /// Reads `TLS_CERT`, `TLS_KEY`, `TLS_CLIENT_CA` and `TLS_CA` through
    /// `lookup` and loads the files they name.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Tls, InvalidSetting> {
        let path = |var| {
            lookup(var)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let paths = [
            path(CERT_VAR),
            path(KEY_VAR),
            path(CLIENT_CA_VAR),
            path(CA_VAR),
        ];
        let [cert, key, client_ca, ca] = &paths;
        let provider = provider();
        let mut tls = Tls::default();
        let (chain, key) = match (cert, key) {
            (Some(cert), Some(key)) => {
                let cert_pem = read(CERT_VAR, cert)?;
                let key_pem = read(KEY_VAR, key)?;
                let chain = certificates(CERT_VAR, cert, &cert_pem)?;
                let key =
                    PrivateKeyDer::from_pem_slice(&key_pem).map_err(|err| InvalidSetting {
                        var: KEY_VAR,
                        reason: format!(
                            "`{key}` holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {err}"
                        ),
                    })?;
                tls.identity = Some(Arc::new(Identity { cert_pem, key_pem }));
                (chain, Some(key))
            }
            (None, None) => (Vec::new(), None),
            (Some(_), None) => return Err(missing(KEY_VAR, CERT_VAR)),
            (None, Some(_)) => return Err(missing(CERT_VAR, KEY_VAR)),
        };
        let client_ca = match (client_ca, &key) {
            (Some(_), None) => return Err(missing(CERT_VAR, CLIENT_CA_VAR)),
            (Some(path), Some(_)) => {
                let pem = read(CLIENT_CA_VAR, path)?;
                Some(roots(
                    CLIENT_CA_VAR,
                    path,
                    &certificates(CLIENT_CA_VAR, path, &pem)?,
                )?)
            }
            (None, _) => None,
        };
        if let Some(key) = &key {
            let server = |alpn: &[u8]| {
                server_config(
                    &provider,
                    chain.clone(),
                    key.clone_key(),
                    client_ca.clone(),
                    alpn,
                )
            };
            tls.rest = Some(Arc::new(server(b"http/1.1")?));
            tls.grpc = Some(Arc::new(server(b"h2")?));
        }
        let peer_roots = match ca {
            Some(path) => {
                let pem = read(CA_VAR, path)?;
                let certs = certificates(CA_VAR, path, &pem)?;
                let roots = roots(CA_VAR, path, &certs)?;
                tls.peer_ca = Some(Arc::new(pem));
                roots
            }
            None => mozilla_roots(),
        };
        let client = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|err| invalid(CERT_VAR, &err))?
            .with_root_certificates(peer_roots);
        let client = match key {
            Some(key) => client
                .with_client_auth_cert(chain, key)
                .map_err(|err| invalid(KEY_VAR, &err))?,
            None => client.with_no_client_auth(),
        };
        tls.client = Some(Arc::new(client));
        tls.paths = paths;
        Ok(tls)
    }

    /// Whether the servers serve TLS (`TLS_CERT` and `TLS_KEY` are set).
    pub fn serves(&self) -> bool {
        self.identity.is_some()
    }

    /// Whether callers must show a certificate (`TLS_CLIENT_CA` is set).
    pub fn requires_client_certificates(&self) -> bool {
        self.paths[2].is_some()
    }

    /// The REST server's TLS (HTTP/1.1), `None` when it serves plaintext.
    pub fn rest_server(&self) -> Option<ServerTls> {
        self.rest.clone().map(|config| ServerTls {
            config,
            name: "rest",
        })
    }

    /// The gRPC server's TLS (HTTP/2), `None` when it serves plaintext.
    pub fn grpc_server(&self) -> Option<ServerTls> {
        self.grpc.clone().map(|config| ServerTls {
            config,
            name: "grpc",
        })
    }

    /// The configuration of `https://` calls: `TLS_CA`'s roots (else
    /// Mozilla's), and `TLS_CERT` shown to peers that ask for it.
    pub fn client(&self) -> Arc<ClientConfig> {
        self.client.clone().unwrap_or_else(|| {
            Arc::new(
                ClientConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .expect("aws-lc-rs supports the default protocol versions")
                    .with_root_certificates(mozilla_roots())
                    .with_no_client_auth(),
            )
        })
    }

    /// `TLS_CA`'s certificates as PEM, if set.
    pub fn peer_ca_pem(&self) -> Option<&[u8]> {
        self.peer_ca.as_ref().map(|pem| pem.as_slice())
    }

    /// `TLS_CERT` and `TLS_KEY` as PEM, if set.
    pub fn identity_pem(&self) -> Option<(&[u8], &[u8])> {
        let identity = self.identity.as_deref()?;
        Some((&identity.cert_pem, &identity.key_pem))
    }

    /// How the binary's `probe` command asks its own REST server, when that
    /// serves TLS: over loopback, not checking the server's certificate (as
    /// an orchestrator's HTTPS probe does not), showing `TLS_CERT` when
    /// callers must show one.
    pub fn probe_client(&self) -> Option<Arc<ClientConfig>> {
        self.identity.as_ref()?;
        let provider = provider();
        let verifier = Arc::new(AnyServer(Arc::clone(&provider)));
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("aws-lc-rs supports the default protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match self.client.as_deref() {
            Some(client) if client.client_auth_cert_resolver.has_certs() => {
                let mut config = builder.with_no_client_auth();
                config.client_auth_cert_resolver = Arc::clone(&client.client_auth_cert_resolver);
                config
            }
            _ => builder.with_no_client_auth(),
        };
        Some(Arc::new(config))
    }
}

/// The cryptography of every TLS connection: aws-lc-rs, rustls' default,
/// and the one provider in the build (so that `ClientConfig::builder()`
/// works in the team's own code too).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The roots of Mozilla's CA bundle (webpki-roots): compiled in, so that a
/// container image needs no CA files.
fn mozilla_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

fn missing(wanted: &'static str, given: &'static str) -> InvalidSetting {
    InvalidSetting {
        var: wanted,
        reason: format!("unset while {given} is set: give both, or neither"),
    }
}

fn invalid(var: &'static str, err: &rustls::Error) -> InvalidSetting {
    InvalidSetting {
        var,
        reason: err.to_string(),
    }
}

fn read(var: &'static str, path: &str) -> Result<Vec<u8>, InvalidSetting> {
    std::fs::read(path).map_err(|err| InvalidSetting {
        var,
        reason: format!("cannot read `{path}`: {err}"),
    })
}

/// The PEM `CERTIFICATE` blocks of a file; at least one.
fn certificates(
    var: &'static str,
    path: &str,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, InvalidSetting> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
    match certs {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        Ok(_) => Err(InvalidSetting {
            var,
            reason: format!("`{path}` holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
        }),
        Err(err) => Err(InvalidSetting {
            var,
            reason: format!("`{path}` is not PEM: {err}"),
        }),
    }
}

/// A store of trust anchors, each certificate of `certs` one.
fn roots(
    var: &'static str,
    path: &str,
    certs: &[CertificateDer<'static>],
) -> Result<RootCertStore, InvalidSetting> {
    let mut store = RootCertStore::empty();
    for cert in certs {
        store.add(cert.clone()).map_err(|err| InvalidSetting {
            var,
            reason: format!("`{path}` holds a certificate that cannot be a CA: {err}"),
        })?;
    }
    Ok(store)
}

fn server_config(
    provider: &Arc<CryptoProvider>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: Option<RootCertStore>,
    alpn: &[u8],
) -> Result<ServerConfig, InvalidSetting> {
    let builder = ServerConfig::builder_with_provider(Arc::clone(provider))
        .with_safe_default_protocol_versions()
        .map_err(|err| invalid(CERT_VAR, &err))?;
    let builder = match client_ca {
        Some(roots) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
                    .build()
                    .map_err(|err| InvalidSetting {
                        var: CLIENT_CA_VAR,
                        reason: err.to_string(),
                    })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    // The key is checked against the certificate here.
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|err| InvalidSetting {
            var: KEY_VAR,
            reason: format!("not the private key of TLS_CERT's certificate, or unusable: {err}"),
        })?;
    config.alpn_protocols = vec![alpn.to_vec()];
    Ok(config)
}

/// A server's socket, and its TLS when it serves TLS.
#[derive(Debug)]
pub struct ServerSocket {
    /// The bound socket.
    pub listener: TcpListener,
    /// `None`: plaintext.
    pub tls: Option<ServerTls>,
}

impl ServerSocket {
    /// `listener`, serving TLS with `tls` if given.
    pub fn new(listener: TcpListener, tls: Option<ServerTls>) -> ServerSocket {
        ServerSocket { listener, tls }
    }
}

impl From<TcpListener> for ServerSocket {
    /// A socket serving plaintext.
    fn from(listener: TcpListener) -> ServerSocket {
        ServerSocket::new(listener, None)
    }
}

/// A server's TLS: its configuration, and its name in the logs and metrics.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
    name: &'static str,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Accepts on `listener` and hands over connections once their handshake
    /// is done; each handshake runs on a task of its own, within
    /// [`HANDSHAKE_TIMEOUT`] and up to [`MAX_HANDSHAKES`] at once, so a slow
    /// or failing caller does not hold up the next. A failed handshake is
    /// logged at `debug` and counted in `tls_handshake_failures_total`.
    pub fn listen(&self, listener: TcpListener) -> std::io::Result<TlsListener> {
        let addr = listener.local_addr()?;
        let (handshaken, accepted) = mpsc::channel(ACCEPTED_BACKLOG);
        let acceptor = TlsAcceptor::from(Arc::clone(&self.config));
        let accepting = tokio::spawn(accept(listener, acceptor, handshaken, self.name));
        Ok(TlsListener {
            accepted,
            addr,
            accepting,
        })
    }
}

async fn accept(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    handshaken: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    server: &'static str,
) {
    // The handshakes belong to this task: when the listener is dropped and
    // this task aborted, they are aborted with it. At most
    // `MAX_HANDSHAKES` run at once; past that, accepting waits.
    let mut in_progress = JoinSet::new();
    let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        // Finished handshakes leave the set.
        while in_progress.try_join_next().is_some() {}
        let slot = tokio::select! {
            () = handshaken.closed() => return,
            slot = Arc::clone(&slots).acquire_owned() => slot,
        };
        let Ok(slot) = slot else { return };
        let (tcp, peer) = tokio::select! {
            () = handshaken.closed() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // A caller that left before it was accepted: next one.
                Err(err) if is_connection_error(&err) => continue,
                Err(err) => {
                    // Out of file descriptors, most likely: wait for some
                    // to be freed rather than spin.
                    warn!(%err, server, "cannot accept a connection; retrying in 100 ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        keep_alive(&tcp);
        let acceptor = acceptor.clone();
        let handshaken = handshaken.clone();
        in_progress.spawn(async move {
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
            let failure = match handshake.await {
                Ok(Ok(stream)) => {
                    // The slot is held until the server takes the connection:
                    // while it lags, accepting waits, and the kernel's
                    // backlog pushes back.
                    let _ = handshaken.send((stream, peer)).await;
                    drop(slot);
                    return;
                }
                Ok(Err(err)) => err.to_string(),
                Err(_) => format!("no handshake within {HANDSHAKE_TIMEOUT:?}"),
            };
            debug!(%peer, server, reason = %failure, "TLS handshake failed");
            metrics::counter!("tls_handshake_failures_total", "server" => server).increment(1);
        });
    }
}

/// Sets TCP keepalive on `tcp` (see [`KEEPALIVE_IDLE`]) and, on Linux,
/// `TCP_USER_TIMEOUT` to as long as the probes take: data the peer never
/// acknowledges closes the connection then too. Keepalive alone waits while
/// anything is in flight (the kernel's retransmissions give up after about
/// 15 minutes), which is what a server stream to a vanished client has.
/// Best effort: a socket that refuses an option is served all the same.
pub fn keep_alive(tcp: &TcpStream) {
    let socket = socket2::SockRef::from(tcp);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_PROBES);
    let _ = socket.set_tcp_keepalive(&keepalive);
    #[cfg(target_os = "linux")]
    let _ = socket.set_tcp_user_timeout(Some(KEEPALIVE_GIVE_UP));
}
{%- if uses.grpc_server %}

/// `incoming`'s connections, each kept alive ([`keep_alive`]): what a gRPC
/// server without TLS serves (`serve_with_incoming`).
#[cfg(feature = "grpc")]
pub fn kept_alive<S>(incoming: S) -> impl tokio_stream::Stream<Item = std::io::Result<TcpStream>>
where
    S: tokio_stream::Stream<Item = std::io::Result<TcpStream>>,
{
    use tokio_stream::StreamExt as _;
    incoming.map(|accepted| {
        if let Ok(tcp) = &accepted {
            keep_alive(tcp);
        }
        accepted
    })
}
{%- endif %}

/// An error of one connection, not of the listener (as axum tells them).
fn is_connection_error(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Connections whose TLS handshake is done, for `axum::serve`{% if uses.grpc_server %} or tonic's
/// `serve_with_incoming` (as a stream){% endif %}. Dropping it closes the port.
#[derive(Debug)]
pub struct TlsListener {
    accepted: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
    accepting: JoinHandle<()>,
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

#[cfg(any(feature = "health", feature = "rest"))]
impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(accepted) => accepted,
            // The accepting task only ends when this is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
{%- if uses.grpc_server %}

#[cfg(feature = "grpc")]
impl tokio_stream::Stream for TlsListener {
    type Item = std::io::Result<TlsStream<TcpStream>>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.accepted
            .poll_recv(cx)
            .map(|accepted| accepted.map(|(stream, _)| Ok(stream)))
    }
}
{%- endif %}

/// The probe's verifier: any certificate, with a valid signature of the
/// handshake (it asks its own process over loopback).
#[derive(Debug)]
struct AnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_are_kept_alive_and_time_out_unacknowledged_data() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        keep_alive(&accepted);
        let socket = socket2::SockRef::from(&accepted);
        assert!(socket.keepalive().unwrap());
        assert_eq!(socket.tcp_keepalive_time().unwrap(), KEEPALIVE_IDLE);
        assert_eq!(socket.tcp_keepalive_interval().unwrap(), KEEPALIVE_INTERVAL);
        assert_eq!(socket.tcp_keepalive_retries().unwrap(), KEEPALIVE_PROBES);
        let timeout = socket.tcp_user_timeout().unwrap();
        assert_eq!(timeout, Some(KEEPALIVE_GIVE_UP));
        assert_eq!(
            KEEPALIVE_GIVE_UP,
            KEEPALIVE_IDLE + KEEPALIVE_INTERVAL * KEEPALIVE_PROBES
        );
    }
}
