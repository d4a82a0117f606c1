//! Bare baseline: the same contract types, no middleware, no health,
//! no reflection, no tracing. Served from spawned tasks on the default
//! `#[tokio::main]` multi-thread runtime, like the generated `orders`.
use axum::{Json, Router, extract::Path, routing::get};
use contract::orders::{
    OrderRequest, OrderResponse,
    order_service_server::{OrderService, OrderServiceServer},
};
use tokio::net::TcpListener;
use tonic::{Request, Response, Status, transport::{Server, server::TcpIncoming}};

async fn get_order(Path(id): Path<String>) -> Json<OrderResponse> {
    Json(OrderResponse { order_id: id, status: "CREATED".to_owned() })
}

struct Svc;

#[tonic::async_trait]
impl OrderService for Svc {
    async fn get_order(&self, r: Request<OrderRequest>) -> Result<Response<OrderResponse>, Status> {
        let r = r.into_inner();
        Ok(Response::new(OrderResponse { order_id: r.order_id, status: "CREATED".to_owned() }))
    }
}

#[tokio::main]
async fn main() {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    let http = TcpListener::bind(env("HTTP_ADDR", "0.0.0.0:5000")).await.unwrap();
    let grpc = TcpListener::bind(env("GRPC_ADDR", "0.0.0.0:50051")).await.unwrap();
    let app = Router::new().route("/orders/{id}", get(get_order));
    let rest = tokio::spawn(async move { axum::serve(http, app).await.unwrap() });
    // tonic's own `serve(addr)` default is TCP_NODELAY on; the generated one sets it too.
    let grpc = tokio::spawn(async move {
        Server::builder()
            .add_service(OrderServiceServer::new(Svc))
            .serve_with_incoming(TcpIncoming::from(grpc).with_nodelay(Some(true)))
            .await
            .unwrap()
    });
    let _ = tokio::join!(rest, grpc);
}
