{#- scaffold
when: service.serves_rest
-#}
{%- import "_partials/format.rs" as format -%}
//! REST server of the `{{ service.name }}` service (
{%- for f in service.rest_flows %}flow `{{ f.flow }}`, called by {{ f.from }}{% if not loop.last %}; {% endif %}{% endfor -%}
):
//! axum routes, JSON error bodies, body limit, each route's time budget
//! ([`Timeouts`]) and graceful shutdown.
//!
//! The per-request plumbing (route labels, metrics, spans, body limit, the
//! authentication hook{% if service.browser_flows %}, CORS{% endif %}, JSON error bodies) is one service around the
//! whole router, `runtime::guard`, rather than a stack of generic
//! middleware: every layer in front of a handler that answers in
//! microseconds is paid on every request, and measured against a bare axum
//! handler the generic stack (tower-http's timeout, which arms a timer per
//! request, `map_response` boxing, a per-request trace span and cloning a
//! `CancellationToken` per request) cost about a third of the throughput.
//! The budgets are no layer either: each route function runs its handler
//! [`within`] its budget, which arms a timer only once the handler has to
//! wait. Request logs are still there: `RUST_LOG=tower_http=debug` adds
//! tower-http's trace layer at start-up.
//!
//! | route | serves |
//! |-------|--------|
{%- for r in service.api.rest_routes %}
//! | `{{ r.verb }} {{ r.path }}` | {% if r.kind == "stream" %}Server-Sent Events of {% endif %}`handlers::{{ r.handler }}` ({% for f in r.flows %}`{{ f }}`{% if not loop.last %}, {% endif %}{% endfor %}) |
{%- endfor %}
//! | `GET /livez` | 200 while the process answers (`runtime::health`) |
//! | `GET /readyz` | 200 while what it needs answers (naming what is degraded), else 503 |
//! | `GET /healthz` | 200 `{"status":"ok"}`, 503 `{"status":"draining"}` (earlier releases' probe) |
//!
//! Bodies are the proto3 JSON of the contract's messages. Path variables fill the
//! request fields they name, query parameters the others (unless the body is the
//! whole request). Every error is JSON, `{"error":"..."}`: 400 malformed input
//! (an id path variable must match `[A-Za-z0-9_-]{1,64}`), 404 unknown route,
//! 405 wrong method, 413 body over the limit, 503 past the route's budget;
//! and first of all 401 when [`crate::auth::authenticate`] refuses the request
//! (an unknown route's included), the probes excepted.

use std::{io, sync::Arc};

{% set unary_routes = service.api.rest_routes | filter(attribute="kind", value="unary") | length -%}
use axum::{
{%- if unary_routes > 0 %}
    Json, Router, ServiceExt as _,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing,
    serve::ListenerExt as _,
{%- else %}
    Router, ServiceExt as _, extract::State, http::StatusCode, response::Response, routing,
    serve::ListenerExt as _,
{%- endif %}
};
{%- if service.api.rest_checks_ids %}
use contract::ids::validate_id;
{%- endif %}
{#- Unary routes without idempotency keys run their handler within their budget. -#}
{%- set unary_n = service.api.rest_routes | filter(attribute="kind", value="unary") | length %}
{%- set keyed_n = service.api.rest_routes | filter(attribute="keyed_flow") | length %}
{%- set streams_n = service.api.rest_routes | filter(attribute="kind", value="stream") | length %}
{%- if unary_n > keyed_n %}
use runtime::{
    auth::Authenticate,
    budget::within,
    error::error_response,
    guard::{Guard, guard},
    health::Health,
    tls::ServerSocket,
};
{%- else %}
use runtime::{
    auth::Authenticate,
    error::error_response,
    guard::{Guard, guard},
    health::Health,
    tls::ServerSocket,
};
{%- endif %}
{%- if service.keys.rest %}
use runtime::{idempotency::IdempotencyLayer, store::Store};
{%- endif %}
use tokio_util::sync::CancellationToken;
{%- if service.browser_flows %}
use tower_http::cors::CorsLayer;
{%- endif %}
use tracing::info;

use crate::{
    config::{HTTP_BODY_LIMIT_BYTES, Timeouts},
    error::HandlerError,
    handlers,
};

/// The API's route templates, the request metrics' `route` label
/// (`runtime::guard::RouteLabels`).
{%- set paths = service.api.rest_routes | map(attribute="axum_path") | unique %}
{%- set joined = paths | join(sep='", "') %}
{%- set one = 'const ROUTES: &[&str] = &["' ~ joined ~ '"];' %}
{%- if one | length <= 100 and joined | length + 4 <= 60 %}
{{ one }}
{%- else %}
const ROUTES: &[&str] = &[
{%- for p in paths %}
    "{{ p }}",
{%- endfor %}
];
{%- endif %}

/// What the routes share. axum clones it for every request, so it is a
/// reference (cloning a `CancellationToken` takes a lock, an `Arc` two
/// atomic operations): made once per server, kept for the process's life.
type App = &'static Shared;

struct Shared {
    state: Arc<crate::state::State>,
{%- if unary_n > keyed_n %}
    timeouts: Timeouts,
{%- endif %}
{%- if streams_n > 0 %}
    shutdown: CancellationToken,
{%- endif %}
}

/// The REST API as served: its routes, each within its budget of
/// `timeouts`, and `health`'s probes, behind the guard (`runtime::guard`):
/// `authenticate` checks every request but the probes' (401 when it
/// refuses){% if service.browser_flows %}, CORS is answered as `cors` says (`runtime::rest::cors`;
/// `None`: no other origin){% endif %}. Its shutdown turns `/readyz` to 503 and ends
/// open event streams.
{%- if service.keys.rest %}
///
/// `store` keeps the idempotency records of the routes that take an
/// `Idempotency-Key` (`runtime::idempotency`).
pub fn service(
    state: Arc<crate::state::State>,
    {% if not service.api.first_rest %}_{% endif %}timeouts: Timeouts,
    store: &Store,
    health: &Health,
    authenticate: Authenticate,
{%- if service.browser_flows %}
    cors: Option<CorsLayer>,
{%- endif %}
) -> Guard {
{%- else %}
pub fn service(
    state: Arc<crate::state::State>,
    {% if not service.api.first_rest %}_{% endif %}timeouts: Timeouts,
    health: &Health,
    authenticate: Authenticate,
{%- if service.browser_flows %}
    cors: Option<CorsLayer>,
{%- endif %}
) -> Guard {
{%- endif %}
{%- for r in service.api.rest_routes | filter(attribute="keyed_flow") %}
{%- set h = service.api.handlers | filter(attribute="module", value=r.handler) | first %}
    // The budget is the layer's: past it the caller is answered, while the
    // handler finishes and its answer is recorded for the retry.
{{ format::let(indent="    ", head="let " ~ r.function ~ "_keys =", value='IdempotencyLayer::rest_within(store, "' ~ r.keyed_flow ~ '", timeouts.' ~ h.module ~ ");") }}
{%- endfor %}
{%- set fields = ["state"] %}
{%- if unary_n > keyed_n %}{% set_global fields = fields | concat(with="timeouts") %}{% endif %}
{%- if streams_n > 0 %}{% set_global fields = fields | concat(with="shutdown: health.shutdown().clone()") %}{% endif %}
{%- if fields | join(sep=", ") | length <= 18 %}
    let shared = Shared { {{ fields | join(sep=", ") }} };
{%- else %}
    let shared = Shared {
{%- for f in fields %}
        {{ f }},
{%- endfor %}
    };
{%- endif %}
    let routes = Router::new()
{%- for r in service.api.rest_routes %}
{%- set args = '"' ~ r.axum_path ~ '", routing::' ~ r.method ~ "(" ~ r.function ~ ")" %}
{%- if r.keyed_flow %}
{%- set keyed = "routing::" ~ r.method ~ "(" ~ r.function ~ ").layer(" ~ r.function ~ "_keys)" %}
{%- set one = '"' ~ r.axum_path ~ '", ' ~ keyed %}
{%- if one | length <= 60 %}
        .route({{ one }})
{%- else %}
        .route(
            "{{ r.axum_path }}",
{%- if keyed | length <= 87 %}
            {{ keyed }},
{%- else %}
            routing::{{ r.method }}({{ r.function }})
                .layer({{ r.function }}_keys),
{%- endif %}
        )
{%- endif %}
{%- elif args | length <= 60 %}
        .route({{ args }})
{%- else %}
        .route(
            "{{ r.axum_path }}",
            routing::{{ r.method }}({{ r.function }}),
        )
{%- endif %}
{%- endfor %}
        .fallback(not_found)
        .with_state::<()>(Box::leak(Box::new(shared)))
        .merge(health.router());
{%- if service.browser_flows %}
    guard(routes, ROUTES, HTTP_BODY_LIMIT_BYTES, authenticate, cors)
{%- else %}
    guard(routes, ROUTES, HTTP_BODY_LIMIT_BYTES, authenticate, None)
{%- endif %}
}

/// Serves [`service`] on `socket` (over TLS when it has one) until `health`'s
/// shutdown, then stops accepting and waits for in-flight requests (the
/// caller bounds that wait).
pub async fn serve(
    socket: ServerSocket,
    state: Arc<crate::state::State>,
    timeouts: Timeouts,
{%- if service.keys.rest %}
    store: Store,
{%- endif %}
    health: Health,
    authenticate: Authenticate,
{%- if service.browser_flows %}
    cors: Option<CorsLayer>,
{%- endif %}
) -> io::Result<()> {
{%- set more = "" %}{% if service.browser_flows %}{% set more = ", cors" %}{% endif %}
{%- if service.keys.rest %}
    let app = service(state, timeouts, &store, &health, authenticate{{ more }});
{%- else %}
    let app = service(state, timeouts, &health, authenticate{{ more }});
{%- endif %}
    serve_router(socket, app, health.shutdown().clone()).await
}

async fn serve_router(
    socket: impl Into<ServerSocket>,
    app: Guard,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let ServerSocket { listener, tls } = socket.into();
    let addr = listener.local_addr()?;
    match tls {
        None => {
            info!(%addr, "REST server listening");
            let listener = listener.tap_io(|tcp| runtime::tls::keep_alive(tcp));
            axum::serve(listener, app.into_make_service())
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await?;
        }
        Some(tls) => {
            info!(%addr, "REST server listening over TLS");
            axum::serve(tls.listen(listener)?, app.into_make_service())
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await?;
        }
    }
    info!("REST server stopped");
    Ok(())
}

{%- for r in service.api.rest_routes %}

/// `{{ r.verb }} {{ r.path }}` ({% for f in r.flows %}flow `{{ f }}`{% if not loop.last %}, {% endif %}{% endfor %}){% if r.kind == "stream" %}, as Server-Sent Events{% endif %}.
{%- if r.one_line %}
async fn {{ r.function }}({{ r.params | join(sep=", ") }}) -> Result<Response, HandlerError> {
{%- else %}
async fn {{ r.function }}(
{%- for p in r.params %}
    {{ p }},
{%- endfor %}
) -> Result<Response, HandlerError> {
{%- endif %}
{%- for line in r.prepare %}
    {{ line }}
{%- endfor %}
{%- if r.kind == "stream" %}
    let state = Arc::clone(&app.state);
    let items = runtime::stream::spawn(move |sink| async move {
        handlers::{{ r.handler }}::handle(&state, request, sink).await
    });
    Ok(runtime::stream::sse(items, app.shutdown.clone()))
{%- else %}
{%- if r.keyed_flow %}
    // Within its budget: the idempotency layer's, which lets it finish.
    crate::config::debug_handler_pause().await;
    let response = handlers::{{ r.handler }}::handle(&app.state, request).await?;
    Ok(Json(response).into_response())
{%- else %}
{%- set h = service.api.handlers | filter(attribute="module", value=r.handler) | first %}
    let handled = within(Some(app.timeouts.{{ h.module }}), async {
        crate::config::debug_handler_pause().await;
        handlers::{{ r.handler }}::handle(&app.state, request).await
    });
    match handled.await {
        Ok(answer) => Ok(Json(answer?).into_response()),
        Err(elapsed) => Ok(elapsed.into_response()),
    }
{%- endif %}
{%- endif %}
}
{%- endfor %}
{%- if service.api.rest_checks_ids %}

/// A path variable holding an id: 400 unless it matches `[A-Za-z0-9_-]{1,64}`.
fn check_id(id: &str) -> Result<(), HandlerError> {
    validate_id(id).map_err(|e| HandlerError::InvalidArgument(e.to_string()))
}
{%- endif %}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "no such route")
}

#[cfg(test)]
mod tests {
    //! The drain, on a route slower than the real handlers.

    use std::{sync::Arc, time::Duration};

    use axum::{Router, routing::get};
    use tokio::{net::TcpListener, sync::Notify};
    use tokio_util::sync::CancellationToken;

    use runtime::guard::guard;

    use super::serve_router;
    use crate::config::HTTP_BODY_LIMIT_BYTES;

    #[tokio::test]
    async fn shutdown_lets_in_flight_requests_finish() {
        let started = Arc::new(Notify::new());
        let running = Arc::clone(&started);
        let slow = move || {
            let running = Arc::clone(&running);
            async move {
                running.notify_one();
                tokio::time::sleep(Duration::from_millis(300)).await;
                "done"
            }
        };
        let routes = Router::new().route("/slow", get(slow));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/slow", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let accept_all = runtime::auth::accept_all;
        let app = guard(routes, &[], HTTP_BODY_LIMIT_BYTES, accept_all, None);
        let serving = serve_router(listener, app, shutdown.clone());
        let task = tokio::spawn(serving);
        let in_flight = tokio::spawn(reqwest::get(url));
        // Shut down only once the request is in its handler: a connection
        // whose request has not arrived yet is closed unanswered, rightly.
        tokio::time::timeout(Duration::from_secs(5), started.notified())
            .await
            .expect("the request reaches its handler");
        shutdown.cancel();
        let response = in_flight.await.unwrap().unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.text().await.unwrap(), "done");
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the server stops once the request is answered")
            .unwrap()
            .unwrap();
    }
}
