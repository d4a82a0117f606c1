//! `GET /healthz` on its own listener, for a service that serves no REST API:
//! every service answers it on `HTTP_ADDR`, so an orchestrator probes them
//! all the same way. A service serving REST answers it on its API's router.

use std::io;

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// The health endpoint alone: 200 `{"status":"ok"}`, then 503
/// `{"status":"draining"}` once `shutdown` is cancelled.
pub fn router(shutdown: CancellationToken) -> Router {
    Router::new()
        .route("/healthz", routing::get(healthz))
        .with_state(shutdown)
}

/// Serves [`router`] on `listener` until `shutdown` is cancelled, then stops
/// accepting and lets open requests finish.
pub async fn serve(listener: TcpListener, shutdown: CancellationToken) -> io::Result<()> {
    info!(addr = %listener.local_addr()?, "/healthz listening");
    axum::serve(listener, router(shutdown.clone()))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    info!("/healthz stopped");
    Ok(())
}

async fn healthz(State(shutdown): State<CancellationToken>) -> Response {
    let (status, body) = if shutdown.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"draining"}"#)
    } else {
        (StatusCode::OK, r#"{"status":"ok"}"#)
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// The status line and body of `GET /healthz` on `addr`.
    async fn get(addr: std::net::SocketAddr) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    }

    #[tokio::test]
    async fn answers_ok_until_shutdown_then_closes_the_port() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(serve(listener, shutdown.clone()));

        let answer = get(addr).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with(r#"{"status":"ok"}"#), "{answer}");

        shutdown.cancel();
        server.await.unwrap().unwrap();
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test]
    async fn answers_503_while_draining() {
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let response = healthz(State(shutdown)).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
