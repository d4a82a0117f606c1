{#- scaffold
when: uses.rest or uses.grpc_server
-#}
//! The server's time budget of each served rpc: past it, the request is
//! answered 503 Service Unavailable (REST) or `DEADLINE_EXCEEDED` (gRPC), and
//! the handler's future is dropped, which cancels it.
//!
//! A service's budgets come from its flows' `latency_ms` (each rpc has the
//! most generous of the flows it serves, since the wire cannot tell them
//! apart) and are overridden from the environment. A caller's own deadline
//! still applies over gRPC: tonic honours `grpc-timeout`, whichever is first.
//!
//! The timer is armed only once the handler has to wait, so a handler that
//! answers at once never touches tokio's timer wheel: a layer in front of a
//! handler answering in microseconds is paid on every request.

use std::{
    fmt,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

/// The budget of each served route or method, looked up on every request.
#[derive(Debug, Clone, Default)]
pub struct Budgets(Arc<Vec<Entry>>);

#[derive(Debug, Clone)]
struct Entry {
    /// The HTTP method of a REST route; empty for a gRPC method (always POST).
    verb: &'static str,
    /// The route as axum matched it (`/orders/{order_id}`), or a gRPC
    /// method's path (`/shop.OrdersService/GetOrder`).
    path: &'static str,
    budget: Duration,
}

impl Budgets {
    /// Gives the REST route `verb path` (as axum matches it) `budget`.
    pub fn rest(&mut self, verb: &'static str, path: &'static str, budget: Duration) {
        Arc::make_mut(&mut self.0).push(Entry { verb, path, budget });
    }

    /// Gives the gRPC method at `path` (`/package.Service/Method`) `budget`.
    pub fn grpc(&mut self, path: &'static str, budget: Duration) {
        self.rest("", path, budget);
    }

    /// The budget of `verb path`, if it has one. A handful of entries: a
    /// scan beats hashing the path.
    pub fn of(&self, verb: &str, path: &str) -> Option<Duration> {
        self.0
            .iter()
            .find(|e| e.path == path && (e.verb.is_empty() || e.verb == verb))
            .map(|e| e.budget)
    }
}

/// The budget ran out before the handler answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(pub Duration);

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "took longer than its {} ms budget", self.0.as_millis())
    }
}

impl std::error::Error for Elapsed {}

/// `inner`, given at most `budget` (none: as long as it takes).
pub fn within<F: Future>(budget: Option<Duration>, inner: F) -> Within<F> {
    Within {
        inner,
        budget: budget.map(|b| (b, Instant::now() + b)),
        sleep: None,
    }
}

pin_project! {
    /// The future of [`within`].
    pub struct Within<F> {
        #[pin]
        inner: F,
        budget: Option<(Duration, Instant)>,
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
        let Some((budget, deadline)) = *this.budget else {
            return Poll::Pending;
        };
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        Poll::Ready(Err(Elapsed(budget)))
    }
}

{%- if uses.rest %}

/// The budgets on axum routes, as `Router::route_layer`: a request past its
/// route's budget is answered 503 with a JSON error body.
#[cfg(feature = "rest")]
#[derive(Debug, Clone)]
pub struct RestBudgetLayer(pub Budgets);

/// A REST route under its budget; it needs the route axum matched, so it goes
/// on with `Router::route_layer`.
#[cfg(feature = "rest")]
#[derive(Debug, Clone)]
pub struct RestBudget<S> {
    inner: S,
    budgets: Budgets,
}

#[cfg(feature = "rest")]
impl<S> Layer<S> for RestBudgetLayer {
    type Service = RestBudget<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RestBudget {
            inner,
            budgets: self.0.clone(),
        }
    }
}

#[cfg(feature = "rest")]
impl<S> Service<axum::extract::Request> for RestBudget<S>
where
    S: Service<axum::extract::Request, Response = axum::response::Response>,
{
    type Response = axum::response::Response;
    type Error = S::Error;
    type Future = RestFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::extract::Request) -> Self::Future {
        let budget = request
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .and_then(|route| self.budgets.of(request.method().as_str(), route.as_str()));
        RestFuture {
            inner: within(budget, self.inner.call(request)),
        }
    }
}

#[cfg(feature = "rest")]
pin_project! {
    /// The future of a REST route under its budget.
    pub struct RestFuture<F> {
        #[pin]
        inner: Within<F>,
    }
}

#[cfg(feature = "rest")]
impl<F, E> Future for RestFuture<F>
where
    F: Future<Output = Result<axum::response::Response, E>>,
{
    type Output = Result<axum::response::Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match std::task::ready!(self.project().inner.poll(cx)) {
            Ok(answered) => Poll::Ready(answered),
            Err(elapsed) => {
                tracing::warn!(budget = ?elapsed.0, "request timed out");
                Poll::Ready(Ok(crate::error::error_response(
                    REST_TIMEOUT_STATUS,
                    &format!("request {elapsed}"),
                )))
            }
        }
    }
}

/// Status answered when a request outlives its budget: the server, not the
/// client, was too slow, so 503 rather than 408 (and a caller may retry).
#[cfg(feature = "rest")]
pub const REST_TIMEOUT_STATUS: axum::http::StatusCode = axum::http::StatusCode::SERVICE_UNAVAILABLE;
{%- endif %}
{%- if uses.grpc_server %}

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
impl<S> Layer<S> for GrpcBudgetLayer {
    type Service = GrpcBudget<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcBudget {
            inner,
            budgets: self.0.clone(),
        }
    }
}

#[cfg(feature = "grpc")]
impl<S, B, R> Service<tonic::codegen::http::Request<B>> for GrpcBudget<S>
where
    S: Service<tonic::codegen::http::Request<B>, Response = tonic::codegen::http::Response<R>>,
    R: Default,
{
    type Response = tonic::codegen::http::Response<R>;
    type Error = S::Error;
    type Future = GrpcFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: tonic::codegen::http::Request<B>) -> Self::Future {
        let budget = self.budgets.of("", request.uri().path());
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

    use super::{Budgets, Elapsed, within};

    #[test]
    fn budgets_are_found_by_verb_and_route_or_by_method_path() {
        let mut rest = Budgets::default();
        rest.rest("GET", "/orders/{id}", Duration::from_millis(200));
        rest.rest("DELETE", "/orders/{id}", Duration::from_millis(50));
        let get = rest.of("GET", "/orders/{id}");
        assert_eq!(get, Some(Duration::from_millis(200)));
        let delete = rest.of("DELETE", "/orders/{id}");
        assert_eq!(delete, Some(Duration::from_millis(50)));
        assert_eq!(rest.of("POST", "/orders/{id}"), None);
        let mut grpc = Budgets::default();
        grpc.grpc("/shop.Orders/Get", Duration::from_millis(10));
        let get = grpc.of("", "/shop.Orders/Get");
        assert_eq!(get, Some(Duration::from_millis(10)));
        assert_eq!(grpc.of("", "/grpc.health.v1.Health/Check"), None);
    }

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
