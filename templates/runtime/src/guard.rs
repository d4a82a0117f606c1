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
//! time than everything else they add (issue 15 item 6). For the same
//! reason the guard makes the authentication hook's check itself, unless a
//! CORS layer must come between them. From outside the router the guard
//! does not see which route axum matched, so it finds the route's template
//! itself, as axum's matcher would ([`RouteLabels`]).

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
    routing::future::RouteFuture,
};
use http_body_util::Limited;
use pin_project_lite::pin_project;
use tower::{Layer as _, Service};
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
/// so a scanner cannot grow the series.
///
/// When every template is plain (literal segments, and parameters that
/// are whole segments, `{id}`) and no two of them can match one path, a
/// path has at most one template, found by comparing its segments: what
/// axum's matcher would find, for a fraction of its cost on every request.
/// Any other set of templates is matched with axum's own matcher (matchit,
/// the version axum pins).
#[derive(Debug)]
pub struct RouteLabels {
    plain: Option<Vec<Plain>>,
    matcher: matchit::Router<&'static str>,
}

/// A plain template: its literal text, and the parameters between.
#[derive(Debug)]
struct Plain {
    template: &'static str,
    /// `/orders/{id}/lines/{line}`: `/orders/`, a parameter, `/lines/`, a
    /// parameter.
    parts: Vec<Part>,
    /// Its segments, to tell whether two templates overlap.
    segments: Vec<Part>,
}

/// Literal text, or a parameter (`{name}`, a whole segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Literal(&'static str),
    Parameter,
}

impl Plain {
    /// `template`, if it is plain.
    fn parse(template: &'static str) -> Option<Plain> {
        let mut segments = Vec::new();
        let mut parts = Vec::new();
        // Where the literal text not yet in `parts` starts.
        let mut literal = 0;
        let mut at = 0;
        for segment in template.split('/') {
            let parsed = Part::segment(segment)?;
            if parsed == Part::Parameter {
                parts.push(Part::Literal(&template[literal..at]));
                parts.push(Part::Parameter);
                literal = at + segment.len();
            }
            segments.push(parsed);
            at += segment.len() + 1;
        }
        if literal < template.len() {
            parts.push(Part::Literal(&template[literal..]));
        }
        Some(Plain {
            template,
            parts,
            segments,
        })
    }

    /// Whether `path` is the template's literal text with each parameter
    /// replaced by anything up to the next `/`: matchit lets a parameter
    /// be empty, but not at the end of the path.
    #[inline]
    fn matches(&self, path: &str) -> bool {
        let mut rest = path;
        for part in &self.parts {
            match part {
                Part::Literal(literal) => match rest.strip_prefix(literal) {
                    Some(after) => rest = after,
                    None => return false,
                },
                Part::Parameter => match rest.find('/') {
                    Some(end) => rest = &rest[end..],
                    // The path's last segment.
                    None if rest.is_empty() => return false,
                    None => rest = "",
                },
            }
        }
        rest.is_empty()
    }

    /// Whether some path matches both.
    fn overlaps(&self, other: &Plain) -> bool {
        let (ours, theirs) = (&self.segments, &other.segments);
        let alike =
            |(a, b): (&Part, &Part)| *a == Part::Parameter || *b == Part::Parameter || a == b;
        ours.len() == theirs.len() && ours.iter().zip(theirs).all(alike)
    }
}

impl Part {
    /// A segment as a literal or a parameter; anything else is not plain.
    fn segment(segment: &'static str) -> Option<Part> {
        let name = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
        match name {
            Some(name) if !name.is_empty() && !name.contains(['{', '}', '*']) => {
                Some(Part::Parameter)
            }
            _ if segment.contains(['{', '}']) => None,
            _ => Some(Part::Literal(segment)),
        }
    }
}

impl RouteLabels {
    /// The labels of a server routing `api` (its route templates, as given
    /// to axum) and the probes.
    pub fn new(api: &'static [&'static str]) -> RouteLabels {
        let mut templates: Vec<&'static str> = Vec::new();
        for template in api.iter().chain(STANDARD_ROUTES) {
            // A template twice (two methods on one path) is one label.
            if !templates.contains(template) {
                templates.push(template);
            }
        }
        let mut matcher = matchit::Router::new();
        for template in &templates {
            if let Err(err) = matcher.insert(*template, *template) {
                warn!(%err, template, "route template not labelled; its requests count as unmatched");
            }
        }
        let plain: Option<Vec<Plain>> = templates.iter().map(|t| Plain::parse(t)).collect();
        let plain = plain.filter(|plain| {
            let clash = |(i, a): (usize, &Plain)| plain[i + 1..].iter().any(|b| a.overlaps(b));
            !plain.iter().enumerate().any(clash)
        });
        RouteLabels { plain, matcher }
    }

    /// The label of a request for `path`.
    #[inline]
    pub fn of(&self, path: &str) -> &'static str {
        let found = match &self.plain {
            Some(plain) => plain.iter().find(|p| p.matches(path)).map(|p| p.template),
            None => self.matcher.at(path).ok().map(|m| *m.value),
        };
        found.unwrap_or("unmatched")
    }
}

/// The router behind the guard.
#[derive(Clone)]
enum Inner {
    /// As it is: the guard makes the authentication hook's check.
    Router(Router),
    /// Behind the hook, inside the CORS policy (a browser's preflight
    /// carries no credentials, and a browser reads a 401 only with CORS
    /// headers). Shared: hyper clones the guard for every request, and the
    /// policy is large, so is cloned only for the requests it sees.
    Cors(Arc<Cors<Auth<Router>>>),
}

/// The future of a request to [`Inner::Cors`], boxed so that it does not
/// make every request's future larger.
type CorsFuture = Pin<Box<<Cors<Auth<Router>> as Service<Request>>::Future>>;

/// A REST server's router behind its guard, the service `axum::serve` runs.
/// hyper clones it for every request, so what does not change is a
/// reference, made once per server and kept for the process's life, where
/// an `Arc` would cost two atomic operations per request.
#[derive(Clone)]
pub struct Guard {
    inner: Inner,
    shared: &'static Shared,
}

struct Shared {
    routes: RouteLabels,
    body_limit: usize,
    /// The hook's check, when the guard makes it (no CORS).
    auth: Option<AuthLayer>,
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
    let auth = AuthLayer::new(authenticate).except(STANDARD_ROUTES);
    let (inner, auth) = match cors {
        Some(cors) => {
            let cors = cors.layer(auth.layer(router));
            (Inner::Cors(Arc::new(cors)), None)
        }
        None => (Inner::Router(router), Some(auth)),
    };
    let shared = Shared {
        routes: RouteLabels::new(api),
        body_limit,
        auth,
    };
    Guard {
        inner,
        shared: Box::leak(Box::new(shared)),
    }
}

impl Service<Request> for Guard {
    type Response = Response;
    type Error = Infallible;
    type Future = GuardFuture;

    /// Ready at once: so are axum's router, the authentication hook and
    /// the CORS policy, which is why a clone of the policy is called
    /// without being polled ready first.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let started = Instant::now();
        let method = request.method().clone();
        let route = self.shared.routes.of(request.uri().path());
        let span = trace::http_server(&method, route, request.headers());
        let body_limit = self.shared.body_limit;
        // In the span: what the team's hook logs carries the trace's id.
        let entered = span.enter();
        // A request without a body (most `GET`s) needs no limit.
        let refusal = if request.body().is_end_stream() {
            None
        } else if declares_more_than(&request, body_limit) {
            Some(too_large(body_limit))
        } else {
            request = limit_body(request, body_limit);
            None
        };
        let refusal = refusal.or_else(|| self.shared.auth?.refusal(&request));
        let state = match (refusal, &mut self.inner) {
            (Some(response), _) => Answer::Refused {
                response: Some(response),
            },
            (None, Inner::Router(router)) => Answer::Routed {
                inner: router.call(request),
            },
            (None, Inner::Cors(cors)) => Answer::Cors {
                inner: Box::pin(Cors::clone(cors).call(request)),
            },
        };
        drop(entered);
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
/// fails, which axum's extractors answer 413.
fn limit_body(request: Request, limit: usize) -> Request {
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
    enum Answer {
        Routed { #[pin] inner: RouteFuture<Infallible> },
        Cors { inner: CorsFuture },
        Refused { response: Option<Response> },
    }
}

pin_project! {
    /// A request's answer, given a JSON error body and recorded once it is
    /// ready, polled in the request's span.
    pub struct GuardFuture {
        #[pin]
        state: Answer,
        method: Method,
        route: &'static str,
        body_limit: usize,
        started: Instant,
        span: tracing::Span,
    }
}

impl Future for GuardFuture {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answered = {
            let _entered = this.span.enter();
            match this.state.project() {
                Projected::Routed { inner } => inner.poll(cx),
                Projected::Cors { inner } => inner.as_mut().poll(cx),
                Projected::Refused { response } => {
                    Poll::Ready(Ok(response.take().expect("polled after completion")))
                }
            }
        };
        let Ok(mut response) = std::task::ready!(answered);
        let status = response.status();
        if status.is_client_error() || status.is_server_error() {
            response = json_error_body(response, *this.body_limit);
        }
        http_request(this.method, this.route, status, *this.started);
        trace::http_answered(this.span, status);
        Poll::Ready(Ok(response))
    }
}

/// Gives an error answer (4xx, 5xx) that has no JSON body, as layers and
/// extractors answer them (404, 405, 413, path rejections), the same JSON
/// body as the handlers' errors.
fn json_error_body(response: Response, body_limit: usize) -> Response {
    let status = response.status();
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
    fn plain_templates_are_matched_as_axums_matcher_would() {
        let sets: [&'static [&'static str]; 3] = [
            &[
                "/",
                "/orders/{id}",
                "/orders/{id}/lines/{line}",
                "/v1/books:search",
            ],
            // Overlapping: `/orders/search` is also an `{id}`.
            &["/orders/{id}", "/orders/search"],
            // Not plain: a parameter within a segment, a catch-all.
            &["/files/{name}.json", "/static/{*rest}"],
        ];
        let paths = "/ /orders/12345 /orders/search /orders/ /orders /orders//lines/1 \
                     /orders/1/lines/2 /orders/1/lines/2/ /orders/1/lines/ /orders/1/lines \
                     /ordersx/1 /v1/books:search /v1/books:searchx /v1/books \
                     /files/a.json /static/a/b /livez /livez/ /metrics //";
        for (i, set) in sets.into_iter().enumerate() {
            let labels = RouteLabels::new(set);
            assert_eq!(labels.plain.is_some(), i == 0, "{set:?}");
            for path in paths.split_whitespace().chain([""]) {
                let axum = labels.matcher.at(path).map_or("unmatched", |m| *m.value);
                assert_eq!(labels.of(path), axum, "{path} in {set:?}");
            }
        }
    }

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
    async fn behind_cors_a_preflight_needs_no_credentials_and_a_401_has_cors_headers() {
        use axum::http::HeaderValue;

        const ORIGIN: &str = "https://shop.example";
        let cors = CorsLayer::new()
            .allow_origin(HeaderValue::from_static(ORIGIN))
            .allow_methods([Method::GET]);
        let router = Router::new().route("/orders/{id}", get(|| async { "order" }));
        let app = guard(router, &["/orders/{id}"], 8, refuse_all, Some(cors));
        let preflight = Request::options("/orders/1")
            .header(header::ORIGIN, ORIGIN)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(preflight).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            ORIGIN
        );
        let refused = Request::get("/orders/1")
            .header(header::ORIGIN, ORIGIN)
            .body(Body::empty())
            .unwrap();
        let response = app.oneshot(refused).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            ORIGIN
        );
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
