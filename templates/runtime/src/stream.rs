{%- if uses.rest and uses.grpc_server %}{% set cfg = 'any(feature = "rest", feature = "grpc")' %}{% elif uses.rest %}{% set cfg = 'feature = "rest"' %}{% else %}{% set cfg = 'feature = "grpc"' %}{% endif -%}
//! The [`Sink`] a streaming handler sends its items into.
//!
//! A bounded channel between the handler and the transport (a gRPC server
//! stream, or Server-Sent Events over REST): when the client reads slower
//! than the handler produces, `send` waits (backpressure) instead of
//! buffering without limit; when the client goes away, the transport drops
//! the receiving end and the next `send` fails, which ends the handler.

use std::fmt;
{%- if uses.rest or uses.grpc_server %}
#[cfg({{ cfg }})]
use std::{
    pin::Pin,
    task::{Context, Poll},
};
{%- endif %}

use tokio::sync::mpsc;
{%- if uses.rest or uses.grpc_server %}
#[cfg({{ cfg }})]
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
{%- endif %}

use crate::HandlerError;

/// How many items wait between a handler and a slow client.
pub const STREAM_BUFFER: usize = 16;

/// Where a streaming handler sends its items.
#[derive(Debug)]
pub struct Sink<T> {
    items: mpsc::Sender<Result<T, HandlerError>>,
}

impl<T> Clone for Sink<T> {
    fn clone(&self) -> Self {
        Sink {
            items: self.items.clone(),
        }
    }
}

/// The client went away: nobody reads the stream any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the client closed the stream")
    }
}

impl std::error::Error for Closed {}

impl From<Closed> for HandlerError {
    fn from(_: Closed) -> Self {
        HandlerError::Unavailable("the client closed the stream".to_owned())
    }
}

impl<T> Sink<T> {
    /// A sink and the receiving end the transport reads, holding at most
    /// `capacity` items.
    pub fn channel(capacity: usize) -> (Sink<T>, mpsc::Receiver<Result<T, HandlerError>>) {
        let (items, receiver) = mpsc::channel(capacity);
        (Sink { items }, receiver)
    }

    /// Sends one item, waiting while the client is `capacity` items behind;
    /// fails once the client has gone away.
    pub async fn send(&self, item: T) -> Result<(), Closed> {
        self.items.send(Ok(item)).await.map_err(|_| Closed)
    }

    /// Whether the client has gone away.
    pub fn is_closed(&self) -> bool {
        self.items.is_closed()
    }

    /// Resolves once the client has gone away.
    pub async fn closed(&self) {
        self.items.closed().await;
    }
}

/// Runs `handler` on its own task with a new [`Sink`] and returns what the
/// transport reads: the items, then the handler's error if it failed. The
/// task ends with the handler, or at its first `send` after the client
/// went away.
pub fn spawn<T, F, Fut>(handler: F) -> mpsc::Receiver<Result<T, HandlerError>>
where
    T: Send + 'static,
    F: FnOnce(Sink<T>) -> Fut,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    let (sink, receiver) = Sink::channel(STREAM_BUFFER);
    let last = sink.clone();
    let running = handler(sink);
    let streaming = async move {
        if let Err(err) = running.await
            && !last.is_closed()
        {
            let _ = last.items.send(Err(err)).await;
        }
    };
    // In the request's span: what the handler calls and logs stays in its
    // trace (`crate::trace`).
    tokio::spawn(tracing::Instrument::in_current_span(streaming));
    receiver
}

{%- if uses.rest or uses.grpc_server %}
/// How many items a stream sends between two looks at the shutdown token.
/// Each look takes the token's lock, which per item cost a stream a tenth
/// of its throughput; between looks, a stream that is shutting down sends
/// at most this many more items.
#[cfg({{ cfg }})]
const ITEMS_PER_SHUTDOWN_CHECK: u32 = 64;

/// What the transport sends: a handler's items, each error as an `E`,
/// until the handler ends or the server shuts down (an endless stream must
/// not hold the drain up).
#[cfg({{ cfg }})]
pub struct Items<T, E = HandlerError> {
    receiver: mpsc::Receiver<Result<T, HandlerError>>,
    token: CancellationToken,
    stop: Pin<Box<WaitForCancellationFutureOwned>>,
    unchecked: u32,
    error: std::marker::PhantomData<fn() -> E>,
}

#[cfg({{ cfg }})]
impl<T, E> Items<T, E> {
    /// `items` until `stop` is cancelled.
    pub fn new(items: mpsc::Receiver<Result<T, HandlerError>>, stop: CancellationToken) -> Self {
        Items {
            receiver: items,
            token: stop.clone(),
            stop: Box::pin(stop.cancelled_owned()),
            // The first poll looks at the token.
            unchecked: ITEMS_PER_SHUTDOWN_CHECK,
            error: std::marker::PhantomData,
        }
    }
}

#[cfg({{ cfg }})]
impl<T, E: From<HandlerError>> tokio_stream::Stream for Items<T, E> {
    type Item = Result<T, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.unchecked >= ITEMS_PER_SHUTDOWN_CHECK {
            this.unchecked = 0;
            if this.token.is_cancelled() {
                return Poll::Ready(None);
            }
        }
        match this.receiver.poll_recv(cx) {
            Poll::Ready(item) => {
                this.unchecked += 1;
                Poll::Ready(item.map(|item| item.map_err(E::from)))
            }
            // Waiting for the handler: be woken by a shutdown as well.
            Poll::Pending if this.stop.as_mut().poll(cx).is_ready() => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}
{%- endif %}
{%- if uses.grpc_server %}

/// A handler's items as a tonic server stream (tonic's `BoxStream`): its
/// error, if it fails, as the call's status.
#[cfg(feature = "grpc")]
pub fn grpc<T: Send + 'static>(
    items: mpsc::Receiver<Result<T, HandlerError>>,
    stop: CancellationToken,
) -> Pin<Box<dyn tokio_stream::Stream<Item = Result<T, tonic::Status>> + Send + 'static>> {
    Box::pin(Items::<T, tonic::Status>::new(items, stop))
}
{%- endif %}
{%- if uses.rest %}

/// A handler's items as Server-Sent Events: one `data:` line of proto3 JSON
/// per item; its error, if it fails, as a last event named `error`.
#[cfg(feature = "rest")]
pub fn sse<T: serde::Serialize + Send + 'static>(
    items: mpsc::Receiver<Result<T, HandlerError>>,
    stop: CancellationToken,
) -> axum::response::Response {
    use axum::response::{
        IntoResponse as _,
        sse::{Event, KeepAlive, Sse},
    };
    use tokio_stream::StreamExt as _;
    let events = Items::<T>::new(items, stop).map(|item| match item {
        Ok(item) => Event::default().json_data(item),
        Err(err) => Event::default()
            .event("error")
            .json_data(serde_json::json!({ "error": err.to_string() })),
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}
{%- endif %}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HandlerError;

    #[tokio::test]
    async fn items_arrive_in_order_then_the_stream_ends() {
        let mut items = spawn(|sink: Sink<u32>| async move {
            for n in 0..3 {
                sink.send(n).await?;
            }
            Ok(())
        });
        for n in 0..3 {
            assert_eq!(items.recv().await, Some(Ok(n)));
        }
        assert_eq!(items.recv().await, None);
    }

    #[tokio::test]
    async fn a_failing_handler_ends_the_stream_with_its_error() {
        let mut items =
            spawn(|_: Sink<u32>| async move { Err(HandlerError::NotFound("42".to_owned())) });
        assert_eq!(
            items.recv().await,
            Some(Err(HandlerError::NotFound("42".to_owned())))
        );
    }

    #[tokio::test]
    async fn the_handler_stops_when_the_client_goes_away() {
        let (done, finished) = tokio::sync::oneshot::channel();
        let items = spawn(|sink: Sink<u32>| async move {
            let mut n = 0;
            let result = loop {
                if let Err(closed) = sink.send(n).await {
                    break closed;
                }
                n += 1;
            };
            let _ = done.send(result);
            Ok(())
        });
        drop(items);
        assert_eq!(finished.await.unwrap(), super::Closed);
    }
{%- if uses.rest or uses.grpc_server %}

    #[cfg({{ cfg }})]
    #[tokio::test]
    async fn a_busy_stream_ends_within_a_check_of_shutdown() {
        use tokio_stream::StreamExt as _;
        let stop = CancellationToken::new();
        let items = spawn(|sink: Sink<u32>| async move {
            let mut n = 0_u32;
            loop {
                sink.send(n).await?;
                n = n.wrapping_add(1);
            }
        });
        let mut stream = Items::<u32>::new(items, stop.clone());
        for n in 0..100 {
            assert_eq!(stream.next().await, Some(Ok(n)));
        }
        stop.cancel();
        let mut after = 0;
        while stream.next().await.is_some() {
            after += 1;
        }
        assert!(
            after <= ITEMS_PER_SHUTDOWN_CHECK,
            "{after} items after shutdown"
        );
    }

    #[cfg({{ cfg }})]
    #[tokio::test]
    async fn a_waiting_stream_ends_at_shutdown() {
        use tokio_stream::StreamExt as _;
        let stop = CancellationToken::new();
        let items = spawn(|sink: Sink<u32>| async move {
            sink.closed().await;
            Ok(())
        });
        let mut stream = Items::<u32>::new(items, stop.clone());
        let next = tokio::spawn(async move { stream.next().await });
        tokio::task::yield_now().await;
        stop.cancel();
        assert_eq!(next.await.unwrap(), None);
    }
{%- endif %}
}
