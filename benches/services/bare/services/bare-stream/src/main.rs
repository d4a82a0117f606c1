//! Bare baseline for the stream benchmark: the payments contract's
//! `BalanceTicks` served the way tonic's route-guide example serves a
//! server stream (a task sending into a bounded mpsc channel, the receiver
//! as the response stream), with no middleware, health or reflection. It
//! sends the same item as the benchmark's generated handler, as fast as the
//! client reads, until the client goes away.
use contract::payments::{
    AuthorizePaymentRequest, AuthorizePaymentResponse, BalanceTicksRequest, BalanceTicksResponse,
    payments_service_server::{PaymentsService, PaymentsServiceServer},
};
use tokio::{net::TcpListener, sync::mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{
    Request, Response, Status,
    codegen::BoxStream,
    transport::{Server, server::TcpIncoming},
};

/// The same capacity as the generated `runtime::stream::STREAM_BUFFER`.
const BUFFER: usize = 16;

struct Svc;

#[tonic::async_trait]
impl PaymentsService for Svc {
    async fn authorize_payment(
        &self,
        _: Request<AuthorizePaymentRequest>,
    ) -> Result<Response<AuthorizePaymentResponse>, Status> {
        Err(Status::unimplemented("only the stream is measured"))
    }

    async fn balance_ticks(
        &self,
        request: Request<BalanceTicksRequest>,
    ) -> Result<Response<BoxStream<BalanceTicksResponse>>, Status> {
        let request = request.into_inner();
        let (items, receiver) = mpsc::channel(BUFFER);
        tokio::spawn(async move {
            loop {
                let item = BalanceTicksResponse {
                    balance_id: request.balance_id.clone(),
                    ..Default::default()
                };
                if items.send(Ok(item)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }
}

#[tokio::main]
async fn main() {
    let addr = std::env::var("GRPC_ADDR").unwrap_or_else(|_| "0.0.0.0:50051".to_owned());
    let grpc = TcpListener::bind(addr).await.unwrap();
    Server::builder()
        .add_service(PaymentsServiceServer::new(Svc))
        .serve_with_incoming(TcpIncoming::from(grpc).with_nodelay(Some(true)))
        .await
        .unwrap();
}
