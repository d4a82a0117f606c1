{#- scaffold
when: uses.rest or uses.grpc_server
-#}
//! The server's time budget of each served rpc: past it, the request is
//! answered 503 Service Unavailable (REST) or `DEADLINE_EXCEEDED` (gRPC), and
//! the handler's future is dropped, which cancels it. A REST route function
//! runs its handler [`within`] its budget{% if uses.grpc_server %}; a gRPC server takes the
//! [`Budgets`] of its methods as a layer ([`GrpcBudgetLayer`]){% endif %}.
//!
//! A service's budgets come from its flows' `latency_ms` (each rpc has the
//! most generous of the flows it serves, since the wire cannot tell them
//! apart) and are overridden from the environment. A caller's own deadline
//! still applies over gRPC: tonic honours `grpc-timeout`, whichever is first.
//!
//! The timer is armed only once the handler has to wait, so a handler that
//! answers at once never touches tokio's timer wheel nor reads the clock: a
//! layer in front of a handler answering in microseconds is paid on every
//! request. So the budget counts from the handler's first wait; what it
//! runs before that (its start, on the CPU) no timer could interrupt
//! anyway.

use std::{
    fmt,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use pin_project_lite::pin_project;
use tokio::time::Sleep;

/// The budget ran out before the handler answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(pub Duration);

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "took longer than its {} ms budget", self.0.as_millis())
    }
}

impl std::error::Error for Elapsed {}

/// `inner`, given at most `budget` from its first wait (none: as long as it
/// takes).
pub fn within<F: Future>(budget: Option<Duration>, inner: F) -> Within<F> {
    Within {
        inner,
        budget,
        sleep: None,
    }
}

pin_project! {
    /// The future of [`within`].
    pub struct Within<F> {
        #[pin]
        inner: F,
        budget: Option<Duration>,
        sleep: Option<Pin<Box<Sleep>>>,
    }
}

impl<F: Future> Future for Within<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.inner.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        let Some(budget) = *this.budget else {
            return Poll::Pending;
        };
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(budget)));
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        Poll::Ready(Err(Elapsed(budget)))
    }
}

{%- if uses.rest %}

/// A REST request past its budget: 503 Service Unavailable (the server, not
/// the client, was too slow, so not 408; a caller may retry), with a JSON
/// error body.
#[cfg(feature = "rest")]
impl axum::response::IntoResponse for Elapsed {
    fn into_response(self) -> axum::response::Response {
        tracing::warn!(budget = ?self.0, "request timed out");
        crate::error::error_response(REST_TIMEOUT_STATUS, &format!("request {self}"))
    }
}

/// Status answered when a REST request outlives its budget.
#[cfg(feature = "rest")]
pub const REST_TIMEOUT_STATUS: axum::http::StatusCode = axum::http::StatusCode::SERVICE_UNAVAILABLE;
{%- endif %}
{%- if uses.grpc_server %}

/// The budget of each gRPC method served, by path, looked up on every call.
#[cfg(feature = "grpc")]
#[derive(Debug, Clone, Default)]
pub struct Budgets(std::sync::Arc<Vec<(&'static str, Duration)>>);

#[cfg(feature = "grpc")]
impl Budgets {
    /// Gives the method at `path` (`/package.Service/Method`) `budget`.
    pub fn grpc(&mut self, path: &'static str, budget: Duration) {
        std::sync::Arc::make_mut(&mut self.0).push((path, budget));
    }

    /// The budget of the method at `path`, if it has one. A handful of
    /// entries: a scan beats hashing the path.
    pub fn of(&self, path: &str) -> Option<Duration> {
        self.0.iter().find(|(p, _)| *p == path).map(|(_, b)| *b)
    }
}

/// The budgets on a tonic server (`Server::builder().layer`): a call past
/// its method's budget is answered `DEADLINE_EXCEEDED`.
#[cfg(feature = "grpc")]
#[derive(Debug, Clone)]
pub struct GrpcBudgetLayer(pub Budgets);

/// A gRPC server's methods under their budgets.
#[cfg(feature = "grpc")]
#[derive(Debug, Clone)]
pub struct GrpcBudget<S> {
    inner: S,
    budgets: Budgets,
}

#[cfg(feature = "grpc")]
impl<S> tower::Layer<S> for GrpcBudgetLayer {
    type Service = GrpcBudget<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcBudget {
            inner,
            budgets: self.0.clone(),
        }
    }
}

#[cfg(feature = "grpc")]
impl<S, B, R> tower::Service<tonic::codegen::http::Request<B>> for GrpcBudget<S>
where
    S: tower::Service<
            tonic::codegen::http::Request<B>,
            Response = tonic::codegen::http::Response<R>,
        >,
    R: Default,
{
    type Response = tonic::codegen::http::Response<R>;
    type Error = S::Error;
    type Future = GrpcFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: tonic::codegen::http::Request<B>) -> Self::Future {
        let budget = self.budgets.of(request.uri().path());
        GrpcFuture {
            inner: within(budget, self.inner.call(request)),
        }
    }
}

#[cfg(feature = "grpc")]
pin_project! {
    /// The future of a gRPC call under its budget.
    pub struct GrpcFuture<F> {
        #[pin]
        inner: Within<F>,
    }
}

#[cfg(feature = "grpc")]
impl<F, R, E> Future for GrpcFuture<F>
where
    F: Future<Output = Result<tonic::codegen::http::Response<R>, E>>,
    R: Default,
{
    type Output = Result<tonic::codegen::http::Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match std::task::ready!(self.project().inner.poll(cx)) {
            Ok(answered) => Poll::Ready(answered),
            Err(elapsed) => {
                tracing::warn!(budget = ?elapsed.0, "call timed out");
                let status = tonic::Status::deadline_exceeded(format!("the call {elapsed}"));
                Poll::Ready(Ok(status.into_http()))
            }
        }
    }
}
{%- endif %}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Elapsed, within};
{%- if uses.grpc_server %}

    #[cfg(feature = "grpc")]
    #[test]
    fn budgets_are_found_by_method_path() {
        let mut budgets = super::Budgets::default();
        budgets.grpc("/shop.Orders/Get", Duration::from_millis(10));
        let get = budgets.of("/shop.Orders/Get");
        assert_eq!(get, Some(Duration::from_millis(10)));
        assert_eq!(budgets.of("/grpc.health.v1.Health/Check"), None);
    }
{%- endif %}

    #[tokio::test]
    async fn a_future_past_its_budget_is_dropped_and_reported() {
        let slow = tokio::time::sleep(Duration::from_secs(5));
        let budget = Duration::from_millis(20);
        assert_eq!(within(Some(budget), slow).await, Err(Elapsed(budget)));
        assert_eq!(
            Elapsed(budget).to_string(),
            "took longer than its 20 ms budget"
        );
    }

    #[tokio::test]
    async fn a_future_within_its_budget_or_without_one_answers() {
        let quick = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            7
        };
        assert_eq!(within(Some(Duration::from_secs(5)), quick).await, Ok(7));
        let unbounded = tokio::time::sleep(Duration::from_millis(50));
        assert_eq!(within(None, unbounded).await, Ok(()));
    }
}
