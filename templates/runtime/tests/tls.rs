{#- scaffold
when: uses.tls
-#}
//! TLS on real sockets, with certificates made when the tests run (rcgen):
//! a CA, a server certificate for `localhost` it signs, a client certificate
//! it signs, and a second CA nobody trusts. The servers and clients are the
//! runtime's own (`Tls`, `ServerTls`{% if uses.grpc_server and uses.grpc_client %}, `GrpcClient`{% endif %}), loaded from PEM files
//! as a service loads them from `TLS_CERT`, `TLS_KEY`, `TLS_CLIENT_CA` and
//! `TLS_CA`.
#![cfg(feature = "health")]

use std::{collections::HashMap, net::SocketAddr, path::PathBuf, time::Duration};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use runtime::{health::Checks, setting::InvalidSetting, tls::Tls};
use rustls::pki_types::ServerName;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
};
use tokio_util::sync::CancellationToken;

/// PEM files of one test's certificates, in a folder of their own.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    /// A CA, `server.pem` for localhost and 127.0.0.1, `client.pem`, both
    /// signed by `ca.pem`, and `rogue-client.pem` signed by another CA.
    fn new(test: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("runtime-tls-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pki = Pki { dir };
        let ca = authority("test CA");
        pki.write("ca.pem", &ca.pem());
        let rogue = authority("rogue CA");
        for (name, signer, names) in [
            (
                "server",
                &ca,
                vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
            ),
            ("client", &ca, vec!["client.test".to_owned()]),
            ("rogue-client", &rogue, vec!["client.test".to_owned()]),
        ] {
            let key = KeyPair::generate().unwrap();
            let params = CertificateParams::new(names).unwrap();
            let cert = params.signed_by(&key, signer).unwrap();
            pki.write(&format!("{name}.pem"), &cert.pem());
            pki.write(&format!("{name}-key.pem"), &key.serialize_pem());
        }
        pki
    }

    fn write(&self, name: &str, contents: &str) {
        std::fs::write(self.dir.join(name), contents).unwrap();
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// The settings of `vars` (`TLS_CERT` → a file name), loaded.
    fn tls(&self, vars: &[(&str, &str)]) -> Result<Tls, InvalidSetting> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(var, file)| ((*var).to_owned(), self.path(file)))
            .collect();
        Tls::from_lookup(|var| vars.get(var).cloned())
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn authority(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// Serves `/livez` and `/readyz` over the server TLS of `tls` on an
/// ephemeral port.
async fn serve(tls: &Tls) -> SocketAddr {
    let health = Checks::new().spawn(CancellationToken::new());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tls.rest_server().expect("TLS_CERT and TLS_KEY are set");
    let listener = server.listen(listener).unwrap();
    tokio::spawn(async move { axum::serve(listener, health.router()).await });
    addr
}

/// `GET /livez` over TLS with the client side of `tls`, checking the server
/// is `localhost`: the status, or why there is none.
async fn get_livez(addr: SocketAddr, tls: &Tls) -> Result<u16, String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let connector = tokio_rustls::TlsConnector::from(tls.client());
    let name = ServerName::try_from("localhost").unwrap();
    let mut stream = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let request = "GET /livez HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    // TLS 1.3 reports a refused client certificate on the first read.
    stream
        .read_to_end(&mut answer)
        .await
        .map_err(|e| e.to_string())?;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| format!("no status in {answer:?}"))?;
    status
        .parse()
        .map_err(|_| format!("no status in {answer:?}"))
}

const SERVER: [(&str, &str); 2] = [("TLS_CERT", "server.pem"), ("TLS_KEY", "server-key.pem")];

#[tokio::test]
async fn serves_https_to_a_client_that_trusts_its_ca() {
    let pki = Pki::new("trusted");
    let addr = serve(&pki.tls(&SERVER).unwrap()).await;
    let client = pki.tls(&[("TLS_CA", "ca.pem")]).unwrap();
    assert_eq!(get_livez(addr, &client).await, Ok(200));
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_refuses_the_server() {
    let pki = Pki::new("untrusted");
    let addr = serve(&pki.tls(&SERVER).unwrap()).await;
    // The default roots are Mozilla's, which never signed a test CA.
    let err = get_livez(addr, &Tls::default()).await.unwrap_err();
    assert!(err.contains("UnknownIssuer"), "{err}");
}

#[tokio::test]
async fn mutual_tls_lets_in_only_callers_with_a_certificate_of_the_client_ca() {
    let pki = Pki::new("mutual");
    let server = [SERVER[0], SERVER[1], ("TLS_CLIENT_CA", "ca.pem")];
    let server = pki.tls(&server).unwrap();
    assert!(server.requires_client_certificates());
    let addr = serve(&server).await;

    let signed = [
        ("TLS_CERT", "client.pem"),
        ("TLS_KEY", "client-key.pem"),
        ("TLS_CA", "ca.pem"),
    ];
    assert_eq!(get_livez(addr, &pki.tls(&signed).unwrap()).await, Ok(200));

    let anonymous = pki.tls(&[("TLS_CA", "ca.pem")]).unwrap();
    let err = get_livez(addr, &anonymous).await.unwrap_err();
    assert!(err.contains("CertificateRequired"), "{err}");

    let rogue = [
        ("TLS_CERT", "rogue-client.pem"),
        ("TLS_KEY", "rogue-client-key.pem"),
        ("TLS_CA", "ca.pem"),
    ];
    let err = get_livez(addr, &pki.tls(&rogue).unwrap())
        .await
        .unwrap_err();
    assert!(
        err.contains("UnknownCA") || err.contains("BadCertificate"),
        "{err}"
    );
}
{%- if uses.rest %}

#[tokio::test]
async fn the_probe_asks_its_own_tls_server_even_under_mutual_tls() {
    let pki = Pki::new("probe");
    let server = [SERVER[0], SERVER[1], ("TLS_CLIENT_CA", "ca.pem")];
    let server = pki.tls(&server).unwrap();
    let addr = serve(&server).await;
    let probe = server.probe_client().expect("the server serves TLS");
    let status = runtime::health::probe_tls(addr, "/livez", probe).await;
    assert_eq!(status.unwrap(), 200);
    // Plaintext gets no answer from a TLS port.
    assert!(runtime::health::probe(addr, "/livez").await.is_err());
}
{%- endif %}

#[tokio::test]
async fn a_stalled_handshake_does_not_hold_up_other_callers() {
    let pki = Pki::new("stalled");
    let addr = serve(&pki.tls(&SERVER).unwrap()).await;
    // Connected, and silent: its handshake waits on a task of its own.
    let _stalled = TcpStream::connect(addr).await.unwrap();
    let client = pki.tls(&[("TLS_CA", "ca.pem")]).unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), get_livez(addr, &client));
    assert_eq!(answer.await.expect("answered at once"), Ok(200));
}

#[test]
fn refuses_a_key_that_is_not_the_certificates() {
    let pki = Pki::new("mismatch");
    let err = pki
        .tls(&[("TLS_CERT", "server.pem"), ("TLS_KEY", "client-key.pem")])
        .unwrap_err();
    assert_eq!(err.var, "TLS_KEY");
    assert!(err.reason.contains("not the private key"), "{}", err.reason);
}

#[test]
fn refuses_files_that_are_not_pem() {
    let pki = Pki::new("garbage");
    pki.write("garbage.pem", "not a certificate\n");
    let err = pki.tls(&[("TLS_CA", "garbage.pem")]).unwrap_err();
    assert_eq!(err.var, "TLS_CA");
    assert!(err.reason.contains("no PEM certificate"), "{}", err.reason);
    let err = pki
        .tls(&[("TLS_CERT", "server.pem"), ("TLS_KEY", "garbage.pem")])
        .unwrap_err();
    assert_eq!(err.var, "TLS_KEY");
    let err = pki.tls(&[("TLS_CLIENT_CA", "ca.pem")]).unwrap_err();
    assert_eq!(err.var, "TLS_CERT", "mutual TLS needs a server certificate");
}
{%- if uses.grpc_server and uses.grpc_client %}

/// A gRPC server (the health service) over the server TLS of `tls`.
#[cfg(all(feature = "grpc", feature = "grpc-client"))]
async fn serve_grpc(tls: &Tls) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tls.grpc_server().unwrap().listen(listener).unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let server = tonic::transport::Server::builder().add_service(health);
    tokio::spawn(server.serve_with_incoming(incoming));
    addr
}

/// The health service's answer on `https://localhost:<port>` with the
/// client side of `tls`.
#[cfg(all(feature = "grpc", feature = "grpc-client"))]
async fn grpc_check(addr: SocketAddr, tls: &Tls) -> Result<i32, tonic::Status> {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let url = format!("https://localhost:{}", addr.port());
    let client = runtime::grpc_client::GrpcClient::connect_lazy(&url, tls).unwrap();
    let mut health = HealthClient::new(client.channel());
    let answer = health.check(HealthCheckRequest::default()).await?;
    Ok(answer.into_inner().status)
}

#[cfg(all(feature = "grpc", feature = "grpc-client"))]
#[tokio::test]
async fn grpc_over_mutual_tls_answers_a_client_with_a_certificate_and_refuses_one_without() {
    let pki = Pki::new("grpc");
    let server = [SERVER[0], SERVER[1], ("TLS_CLIENT_CA", "ca.pem")];
    let addr = serve_grpc(&pki.tls(&server).unwrap()).await;
    let signed = [
        ("TLS_CERT", "client.pem"),
        ("TLS_KEY", "client-key.pem"),
        ("TLS_CA", "ca.pem"),
    ];
    let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
    assert_eq!(
        grpc_check(addr, &pki.tls(&signed).unwrap()).await.unwrap(),
        serving
    );
    let anonymous = pki.tls(&[("TLS_CA", "ca.pem")]).unwrap();
    // TLS 1.3 refuses the certificate after the handshake, on the call.
    let status = grpc_check(addr, &anonymous).await.unwrap_err();
    assert!(
        format!("{status:?}").contains("CertificateRequired"),
        "{status:?}"
    );
}
{%- endif %}
