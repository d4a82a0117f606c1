{#- scaffold
when: service.serves_rest
-#}
//! REST server of the `{{ service.name }}` service (
{%- for f in service.rest_flows %}flow `{{ f.flow }}`, called by {{ f.from }}{% if not loop.last %}; {% endif %}{% endfor -%}
):
//! axum routes, JSON error bodies, body limit, request timeout and
//! graceful shutdown.
//!
//! | route                | answer                                              |
//! |----------------------|-----------------------------------------------------|
//! | `GET /{{ contract.resource }}/{id}`   | 200 `{{ names.sample_json }}`        |
//! | `GET /healthz`       | 200 `{"status":"ok"}`, 503 `{"status":"draining"}`  |
//!
//! Every error is JSON, `{"error":"..."}`: 400 malformed id, 404 unknown
//! route, 405 wrong method, 413 body over the limit, 503 request timeout.

use std::io;

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
    routing::get,
};
use contract::{ids::validate_id, {{ contract.package }}::{{ contract.request.name }}};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::{limit::RequestBodyLimitLayer, timeout::TimeoutLayer, trace::TraceLayer};
use tracing::{error, info};

use crate::{
    config::{self, HTTP_BODY_LIMIT_BYTES, HTTP_REQUEST_TIMEOUT},
    error::HandlerError,
    handlers,
};

/// Status answered when a request outlives [`HTTP_REQUEST_TIMEOUT`]: the
/// server, not the client, was too slow, so 503 rather than 408.
pub const TIMEOUT_STATUS: StatusCode = StatusCode::SERVICE_UNAVAILABLE;

/// State shared by the routes.
#[derive(Clone)]
struct AppState {
    shutdown: CancellationToken,
}

/// The REST API with all its layers; `shutdown` turns `/healthz` to 503 while
/// draining.
pub fn router(shutdown: CancellationToken) -> Router {
    let routes = Router::new()
        .route("/{{ contract.resource }}/{id}", get({{ contract.method.name }}))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .with_state(AppState { shutdown });
    with_layers(routes)
}

/// Body limit, timeout, tracing and JSON error bodies around `routes`.
fn with_layers(routes: Router) -> Router {
    routes
        .layer(RequestBodyLimitLayer::new(HTTP_BODY_LIMIT_BYTES))
        .layer(TimeoutLayer::with_status_code(
            TIMEOUT_STATUS,
            HTTP_REQUEST_TIMEOUT,
        ))
        .layer(TraceLayer::new_for_http())
        .layer(middleware::map_response(json_error_body))
}

/// Serves [`router`] on `listener` until `shutdown` is cancelled, then stops
/// accepting and waits for in-flight requests (the caller bounds that wait).
pub async fn serve(listener: TcpListener, shutdown: CancellationToken) -> io::Result<()> {
    serve_router(listener, router(shutdown.clone()), shutdown).await
}

async fn serve_router(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
) -> io::Result<()> {
    info!(addr = %listener.local_addr()?, "REST server listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    info!("REST server stopped");
    Ok(())
}

/// `GET /{{ contract.resource }}/{id}` (
{%- for f in service.rest_flows %}flow `{{ f.flow }}`{% if not loop.last %}, {% endif %}{% endfor -%}
).
async fn {{ contract.method.name }}(Path(id): Path<String>) -> Result<Response, HandlerError> {
    validate_id(&id).map_err(|e| HandlerError::InvalidArgument(e.to_string()))?;
{%- if contract.request.fields | length > 1 %}
    let request = {{ contract.request.name }} {
        {{ contract.id_field.name }}: id,
        ..Default::default()
    };
{%- elif contract.id_field.name | length <= 14 %}
    {#- rustfmt keeps a struct literal on one line up to 18 characters inside the braces #}
    let request = {{ contract.request.name }} { {{ contract.id_field.name }}: id };
{%- else %}
    let request = {{ contract.request.name }} {
        {{ contract.id_field.name }}: id,
    };
{%- endif %}
    config::debug_handler_pause().await;
    let response = handlers::{{ contract.method.name }}(request).await?;
    Ok(Json(response).into_response())
}

/// `GET /healthz`: liveness and readiness in one; 503 once draining has begun.
async fn healthz(State(state): State<AppState>) -> Response {
    if state.shutdown.is_cancelled() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "draining" })),
        )
            .into_response()
    } else {
        Json(json!({ "status": "ok" })).into_response()
    }
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "no such route")
}

impl IntoResponse for HandlerError {
    fn into_response(self) -> Response {
        let status = match &self {
            HandlerError::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            HandlerError::NotFound(_) => StatusCode::NOT_FOUND,
            HandlerError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            HandlerError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        match self {
            HandlerError::Internal(detail) => {
                error!(%detail, "handler failed");
                error_response(status, "internal error")
            }
            other => error_response(status, &other.to_string()),
        }
    }
}

fn error_response(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// Gives the errors produced by layers and extractors (413, 503 on timeout,
/// 405, path rejections) the same JSON body as the handlers' errors.
async fn json_error_body(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            format!("request body is larger than {HTTP_BODY_LIMIT_BYTES} bytes")
        }
        TIMEOUT_STATUS => format!(
            "request took longer than {} ms",
            HTTP_REQUEST_TIMEOUT.as_millis()
        ),
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
    //! The layers and the drain, on routes slower than the real handlers.

    use std::time::Duration;

    use axum::{Router, routing::get};
    use tokio::net::TcpListener;
    use tokio_util::sync::CancellationToken;

    use super::{HTTP_REQUEST_TIMEOUT, TIMEOUT_STATUS, serve_router, with_layers};

    /// Serves `/slow`, answering "done" after `delay`, with the real layers.
    async fn slow_server(
        delay: Duration,
    ) -> (String, CancellationToken, tokio::task::JoinHandle<()>) {
        let routes = Router::new().route(
            "/slow",
            get(move || async move {
                tokio::time::sleep(delay).await;
                "done"
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/slow", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move {
            serve_router(listener, with_layers(routes), token)
                .await
                .unwrap();
        });
        (url, shutdown, task)
    }

    #[tokio::test]
    async fn a_request_over_the_timeout_gets_503_with_a_json_error() {
        let (url, _shutdown, _task) = slow_server(HTTP_REQUEST_TIMEOUT * 3).await;
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(response.status().as_u16(), TIMEOUT_STATUS.as_u16());
        assert_eq!(
            response.text().await.unwrap(),
            format!(
                {% raw %}r#"{{"error":"request took longer than {} ms"}}"#,{% endraw %}
                HTTP_REQUEST_TIMEOUT.as_millis()
            )
        );
    }

    #[tokio::test]
    async fn shutdown_lets_in_flight_requests_finish() {
        let (url, shutdown, task) = slow_server(Duration::from_millis(300)).await;
        let in_flight = tokio::spawn(reqwest::get(url));
        tokio::time::sleep(Duration::from_millis(100)).await;
        shutdown.cancel();
        let response = in_flight.await.unwrap().unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.text().await.unwrap(), "done");
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the server stops once the request is answered")
            .unwrap();
    }
}
