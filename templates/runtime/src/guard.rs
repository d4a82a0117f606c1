{#- scaffold
when: uses.rest
-#}
//! The one service in front of a REST server's router: each request's route
//! label, span and metrics, the body limit, the authentication hook (the
//! probes excepted), CORS for browsers on other origins, and a JSON body on
//! every error, whoever answered it ([`guard`]).
//!
//! It wraps the router whole instead of being added with `Router::layer`:
//! axum boxes every route again for each layer added that way, and clones
//! the boxed service and boxes its future on every request. Against a bare
//! axum handler answering in microseconds, the two such layers the
//! services had (this guard and the authentication hook) cost more user
//! time than everything else they add (issue 15 item 6). From outside the
//! router the guard does not see which route axum matched, so it finds the
//! route's template itself ([`RouteLabels`]) with the matcher axum routes
//! with.

use std::{
    convert::Infallible,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use axum::{
    Router,
    body::{Body, HttpBody as _},
    extract::Request,
    http::{Method, StatusCode, header},
    response::Response,
};
use http_body_util::Limited;
use pin_project_lite::pin_project;
use tower::{Layer as _, Service, util::Either};
use tower_http::{
    cors::{Cors, CorsLayer},
    trace::TraceLayer,
};
use tracing::{Level, warn};

use crate::{
    auth::{Auth, AuthLayer, Authenticate},
    error::error_response,
    telemetry::{STANDARD_ROUTES, http_request},
    trace,
};

/// The `route` label of REST requests: the template of the route a path
/// matches, one of the service's or [`STANDARD_ROUTES`], else `unmatched`,
/// so a scanner cannot grow the series. Found with axum's own matcher
/// (matchit, the version axum pins), which agrees with axum's routing.
#[derive(Debug)]
pub struct RouteLabels(matchit::Router<&'static str>);

impl RouteLabels {
    /// The labels of a server routing `api` (its route templates, as given
    /// to axum) and the probes.
    pub fn new(api: &'static [&'static str]) -> RouteLabels {
        let mut routes = matchit::Router::new();
        for template in api.iter().chain(STANDARD_ROUTES) {
            // A template twice (two methods on one path) is one label.
            if routes.at(template).is_ok_and(|m| *m.value == *template) {
                continue;
            }
            if let Err(err) = routes.insert(*template, *template) {
                warn!(%err, template, "route template not labelled; its requests count as unmatched");
            }
        }
        RouteLabels(routes)
    }

    /// The label of a request for `path`.
    pub fn of(&self, path: &str) -> &'static str {
        self.0.at(path).map_or("unmatched", |m| *m.value)
    }
}

/// The router behind the guard: the authentication hook, inside the CORS
/// policy when there is one (a browser's preflight carries no credentials,
/// and a browser reads a 401 only with CORS headers).
type Inner = Either<Cors<Auth<Router>>, Auth<Router>>;

/// A REST server's router behind its guard, the service `axum::serve` runs.
#[derive(Clone)]
pub struct Guard {
    inner: Inner,
    shared: Arc<Shared>,
}

struct Shared {
    routes: RouteLabels,
    body_limit: usize,
}

/// `router` (a service's routes and its probes) behind its guard:
///
/// - each request is labelled by its route template (`api`, the service's
///   templates, or a probe's), counted in
///   `runtime::telemetry::HTTP_REQUEST_DURATION` and, when the service
///   traces, run in its span;
/// - a body declared larger than `body_limit` bytes is answered 413 at
///   once, and one that grows past it fails to read (413 too);
/// - `authenticate` sees every request but the probes' (401 when it
///   refuses), unknown routes included;
/// - `cors` (`runtime::rest::cors`), when there is one, answers preflights
///   and adds its headers;
/// - every error answered without a JSON body (404, 405, 413, an
///   extractor's rejection) gets one, `{"error":"..."}`.
///
/// With `RUST_LOG=tower_http=debug` at start-up, tower-http's trace layer
/// logs each request that reaches the router too; one the hook refuses, a
/// CORS preflight and a body refused by its declared length are answered
/// before it (and counted in the metrics all the same).
pub fn guard(
    router: Router,
    api: &'static [&'static str],
    body_limit: usize,
    authenticate: Authenticate,
    cors: Option<CorsLayer>,
) -> Guard {
    let router = if tracing::enabled!(target: "tower_http::trace", Level::DEBUG) {
        router.layer(TraceLayer::new_for_http())
    } else {
        router
    };
    let authenticated = AuthLayer::new(authenticate)
        .except(STANDARD_ROUTES)
        .layer(router);
    let inner = match cors {
        Some(cors) => Either::Left(cors.layer(authenticated)),
        None => Either::Right(authenticated),
    };
    let shared = Shared {
        routes: RouteLabels::new(api),
        body_limit,
    };
    Guard {
        inner,
        shared: Arc::new(shared),
    }
}

impl Service<Request> for Guard {
    type Response = Response;
    type Error = Infallible;
    type Future = GuardFuture<<Inner as Service<Request>>::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<Request>::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        let method = request.method().clone();
        let route = self.shared.routes.of(request.uri().path());
        let span = trace::http_server(&method, route, request.headers());
        let body_limit = self.shared.body_limit;
        let state = if declares_more_than(&request, body_limit) {
            Answer::Refused {
                response: Some(too_large(body_limit)),
            }
        } else {
            let request = limit_body(request, body_limit);
            Answer::Routed {
                inner: span.in_scope(|| self.inner.call(request)),
            }
        };
        GuardFuture {
            state,
            method,
            route,
            body_limit,
            started,
            span,
        }
    }
}

/// Whether `request`'s `Content-Length` is over `limit` bytes.
fn declares_more_than(request: &Request, limit: usize) -> bool {
    request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|length| length > limit as u64)
}

/// `request` with its body limited to `limit` bytes: reading past them
/// fails, which axum's extractors answer 413. A request without a body
/// (most `GET`s) is passed on as it is.
fn limit_body(request: Request, limit: usize) -> Request {
    if request.body().is_end_stream() {
        return request;
    }
    request.map(|body| Body::new(Limited::new(body, limit)))
}

fn too_large(limit: usize) -> Response {
    error_response(StatusCode::PAYLOAD_TOO_LARGE, &too_large_message(limit))
}

/// The 413 message, whether the declared length or the body read was too long.
fn too_large_message(limit: usize) -> String {
    format!("request body is larger than {limit} bytes")
}

pin_project! {
    #[project = Projected]
    enum Answer<F> {
        Routed { #[pin] inner: F },
        Refused { response: Option<Response> },
    }
}

pin_project! {
    /// A request's answer, given a JSON error body and recorded once it is
    /// ready, polled in the request's span.
    pub struct GuardFuture<F> {
        #[pin]
        state: Answer<F>,
        method: Method,
        route: &'static str,
        body_limit: usize,
        started: Instant,
        span: tracing::Span,
    }
}

impl<F> Future for GuardFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = match this.state.project() {
            Projected::Routed { inner } => {
                let _entered = this.span.enter();
                let Ok(response) = std::task::ready!(inner.poll(cx));
                json_error_body(response, *this.body_limit)
            }
            Projected::Refused { response } => response.take().expect("polled after completion"),
        };
        let status = response.status();
        http_request(this.method, this.route, status, *this.started);
        trace::http_answered(this.span, status);
        Poll::Ready(Ok(response))
    }
}

/// Gives the errors produced by layers and extractors (404, 405, 413, path
/// rejections) the same JSON body as the handlers' errors.
fn json_error_body(response: Response, body_limit: usize) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return response;
    }
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => too_large_message(body_limit),
        _ => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_lowercase(),
    };
    let (mut parts, _body) = response.into_parts();
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    let mut json = error_response(status, &message);
    json.headers_mut().extend(parts.headers);
    json
}

#[cfg(test)]
mod tests {
    use axum::routing::get;
    use tower::ServiceExt as _;

    use super::*;
    use crate::auth::{Unauthenticated, accept_all};

    #[test]
    fn routes_are_labelled_by_their_template_and_nothing_else() {
        let labels = RouteLabels::new(&["/orders/{id}", "/orders/{id}", "/v1/books:search"]);
        assert_eq!(labels.of("/orders/12345"), "/orders/{id}");
        assert_eq!(labels.of("/v1/books:search"), "/v1/books:search");
        assert_eq!(labels.of("/livez"), "/livez");
        assert_eq!(labels.of("/metrics"), "/metrics");
        assert_eq!(labels.of("/orders/12345/extra"), "unmatched");
        assert_eq!(labels.of("/made/up/0123456789"), "unmatched");
    }

    fn refuse_all(_: &crate::auth::HeaderMap) -> Result<(), Unauthenticated> {
        Err(Unauthenticated("no credentials".into()))
    }

    fn app(authenticate: Authenticate) -> Guard {
        let router = Router::new()
            .route(
                "/orders/{id}",
                get(|| async { "order" }).post(|body: String| async move { body }),
            )
            .route("/livez", get(|| async { "alive" }));
        guard(router, &["/orders/{id}"], 8, authenticate, None)
    }

    async fn answer(app: Guard, request: Request) -> (StatusCode, String) {
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_refused_request_gets_401_but_the_probes_answer() {
        let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
        let (status, body) = answer(app(refuse_all), get("/orders/1")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body, r#"{"error":"no credentials"}"#);
        let (status, _) = answer(app(refuse_all), get("/nope")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, body) = answer(app(refuse_all), get("/livez")).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "alive"));
        // Only reading a probe is let through.
        let post = Request::post("/livez").body(Body::empty()).unwrap();
        let (status, _) = answer(app(refuse_all), post).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn bodies_over_the_limit_get_413_declared_or_not() {
        let declared = Request::post("/orders/1")
            .header(header::CONTENT_LENGTH, "9")
            .body(Body::from("123456789"))
            .unwrap();
        let (status, body) = answer(app(accept_all), declared).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body, r#"{"error":"request body is larger than 8 bytes"}"#);
        // No Content-Length: the body fails to read once past the limit.
        let chunks = streamed_body(&["12345", "6789"]);
        let streamed = Request::post("/orders/1").body(chunks).unwrap();
        let (status, body) = answer(app(accept_all), streamed).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body, r#"{"error":"request body is larger than 8 bytes"}"#);
        let within = Request::post("/orders/1")
            .body(Body::from("12345678"))
            .unwrap();
        assert_eq!(
            answer(app(accept_all), within).await,
            (StatusCode::OK, "12345678".to_owned())
        );
    }

    /// A body of `chunks`, its length not known in advance.
    fn streamed_body(chunks: &[&'static str]) -> Body {
        let chunks: Vec<Result<&'static str, Infallible>> = chunks.iter().map(|c| Ok(*c)).collect();
        Body::from_stream(tokio_stream::iter(chunks))
    }

    #[tokio::test]
    async fn errors_without_a_json_body_get_one() {
        let (status, body) = answer(
            app(accept_all),
            Request::get("/nope").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, r#"{"error":"not found"}"#);
        let (status, body) = answer(
            app(accept_all),
            Request::delete("/orders/1").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(body, r#"{"error":"method not allowed"}"#);
    }
}
