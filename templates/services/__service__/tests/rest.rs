{#- scaffold
when: service.serves_rest
-#}
//! The REST server of `{{ service.name }}` on a real socket, driven by a real HTTP client.

use std::net::SocketAddr;

use reqwest::{StatusCode, header::CONTENT_TYPE};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use {{ service.ident }}::{config::HTTP_BODY_LIMIT_BYTES, rest};

struct Server {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

async fn start() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(rest::serve(listener, shutdown.clone()));
    Server {
        addr,
        shutdown,
        task,
    }
}

async fn get(server: &Server, path: &str) -> (StatusCode, String, String) {
    let response = reqwest::get(format!("http://{}{path}", server.addr))
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn {{ contract.method.name }}_answers_the_proto3_json_of_the_response() {
    let server = start().await;
    let (status, content_type, body) = get(&server, "/{{ contract.resource }}/{{ names.sample_id }}").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    assert_eq!(body, r#"{{ names.sample_json }}"#);
}

#[tokio::test]
async fn malformed_ids_get_400_with_a_json_error() {
    let server = start().await;
    let too_long = "9".repeat(65);
    for path in [
        "/{{ contract.resource }}/bad$id",
        "/{{ contract.resource }}/12%2034",
        &format!("/{{ contract.resource }}/{too_long}"),
    ] {
        let (status, content_type, body) = get(&server, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(content_type, "application/json", "{path}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(
            json["error"].as_str().unwrap().contains("invalid argument"),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn unknown_routes_get_404_with_a_json_error() {
    let server = start().await;
    let (status, content_type, body) = get(&server, "/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(content_type, "application/json");
    assert_eq!(body, r#"{"error":"no such route"}"#);
}

#[tokio::test]
async fn wrong_method_gets_405_with_a_json_error() {
    let server = start().await;
    let response = reqwest::Client::new()
        .delete(format!("http://{}/{{ contract.resource }}/{{ names.sample_id }}", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"error":"method not allowed"}"#
    );
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_with_a_json_error() {
    let server = start().await;
    let response = reqwest::Client::new()
        .post(format!("http://{}/{{ contract.resource }}/{{ names.sample_id }}", server.addr))
        .body(vec![b'x'; HTTP_BODY_LIMIT_BYTES + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["error"],
        format!("request body is larger than {HTTP_BODY_LIMIT_BYTES} bytes")
    );
}

#[tokio::test]
async fn healthz_is_ok_while_serving() {
    let server = start().await;
    let (status, _, body) = get(&server, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, r#"{"status":"ok"}"#);
}

#[tokio::test]
async fn shutdown_stops_the_server_and_closes_the_port() {
    let server = start().await;
    assert_eq!(get(&server, "/healthz").await.0, StatusCode::OK);
    server.shutdown.cancel();
    tokio::time::timeout(std::time::Duration::from_secs(5), server.task)
        .await
        .expect("server drained within 5 s")
        .unwrap()
        .unwrap();
    assert!(
        reqwest::get(format!("http://{}/healthz", server.addr))
            .await
            .is_err()
    );
}
