//! The error a handler returns. The plumbing maps it to an HTTP status, a gRPC
//! code, or a consumer's retry / dead-letter decision, so handlers never deal
//! with transports.

use std::fmt;

/// Why a handler could not do its job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerError {
    /// The input is wrong and retrying it cannot help (HTTP 400, gRPC `INVALID_ARGUMENT`).
    InvalidArgument(String),
    /// What was asked for does not exist (HTTP 404, gRPC `NOT_FOUND`).
    NotFound(String),
    /// A dependency is down for now; a retry may succeed (HTTP 503, gRPC `UNAVAILABLE`).
    Unavailable(String),
    /// A bug or an unexpected failure; details are logged, not returned to callers
    /// (HTTP 500, gRPC `INTERNAL`).
    Internal(String),
}

impl HandlerError {
    /// Whether doing the same work again may succeed (consumers retry these).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            HandlerError::Unavailable(_) | HandlerError::Internal(_)
        )
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandlerError::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            HandlerError::NotFound(m) => write!(f, "not found: {m}"),
            HandlerError::Unavailable(m) => write!(f, "unavailable: {m}"),
            HandlerError::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for HandlerError {}
{%- if uses.store %}

/// A database error, as a handler's `?` sees it: a database out of reach (no
/// connection in time, a broken one) is [`HandlerError::Unavailable`],
/// anything else [`HandlerError::Internal`]; both are retried.
#[cfg(feature = "store")]
impl From<sqlx::Error> for HandlerError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                HandlerError::Unavailable(format!("database: {err}"))
            }
            other => HandlerError::Internal(format!("database: {other}")),
        }
    }
}
{%- endif %}
{%- if uses.kafka %}

/// An event a handler could not publish, as its `?` sees it: the broker did
/// not acknowledge it (or its transaction failed), which a retry may fix.
#[cfg(feature = "kafka")]
impl From<rdkafka::error::KafkaError> for HandlerError {
    fn from(err: rdkafka::error::KafkaError) -> Self {
        HandlerError::Unavailable(format!("cannot publish: {err}"))
    }
}
{%- endif %}
{%- if uses.rest %}

/// A JSON error body, `{"error":"..."}`, with `status`: every REST error
/// looks the same, whoever produced it.
#[cfg(feature = "rest")]
pub fn error_response(status: axum::http::StatusCode, message: &str) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

#[cfg(feature = "rest")]
impl axum::response::IntoResponse for HandlerError {
    fn into_response(self) -> axum::response::Response {
        use axum::http::StatusCode;
        let status = match &self {
            HandlerError::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            HandlerError::NotFound(_) => StatusCode::NOT_FOUND,
            HandlerError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            HandlerError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        match &self {
            HandlerError::Internal(detail) => {
                tracing::error!(%detail, "handler failed");
                return error_response(status, "internal error");
            }
            HandlerError::Unavailable(detail) => tracing::warn!(%detail, "handler unavailable"),
            HandlerError::InvalidArgument(_) | HandlerError::NotFound(_) => {}
        }
        error_response(status, &self.to_string())
    }
}
{%- endif %}
{%- if uses.grpc_server %}

#[cfg(feature = "grpc")]
impl From<HandlerError> for tonic::Status {
    fn from(err: HandlerError) -> Self {
        match err {
            HandlerError::InvalidArgument(m) => tonic::Status::invalid_argument(m),
            HandlerError::NotFound(m) => tonic::Status::not_found(m),
            HandlerError::Unavailable(m) => {
                tracing::warn!(detail = %m, "handler unavailable");
                tonic::Status::unavailable(m)
            }
            HandlerError::Internal(detail) => {
                tracing::error!(%detail, "handler failed");
                tonic::Status::internal("internal error")
            }
        }
    }
}

#[cfg(feature = "grpc")]
pub use over_limit::{OverLimit, ResourceExhaustedOverLimit};

/// `RESOURCE_EXHAUSTED` for a request message over the size limit.
#[cfg(feature = "grpc")]
mod over_limit {
    use std::{
        pin::Pin,
        task::{Context, Poll},
    };

    use pin_project_lite::pin_project;
    use tonic::{
        Code, Status,
        codegen::{Service, http},
        server::NamedService,
    };

    /// The header carrying a gRPC status code; `OUT_OF_RANGE`'s value.
    const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");
    const OUT_OF_RANGE: &[u8] = b"11";

    /// Answers `RESOURCE_EXHAUSTED` to a request message over the size
    /// limit, as the gRPC status code specification (and grpc-go,
    /// grpc-java, grpc-core) do; tonic itself answers `OUT_OF_RANGE`.
    #[derive(Debug, Clone)]
    pub struct ResourceExhaustedOverLimit<S>(pub S);

    impl<S: NamedService> NamedService for ResourceExhaustedOverLimit<S> {
        const NAME: &'static str = S::NAME;
    }

    impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for ResourceExhaustedOverLimit<S>
    where
        S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    {
        type Response = http::Response<ResBody>;
        type Error = S::Error;
        type Future = OverLimit<S::Future>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.0.poll_ready(cx)
        }

        fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
            OverLimit {
                inner: self.0.call(request),
            }
        }
    }

    pin_project! {
        /// The future of [`ResourceExhaustedOverLimit`]: the service's
        /// answer, its status rewritten when it refused an oversized message.
        pub struct OverLimit<F> {
            #[pin]
            inner: F,
        }
    }

    impl<F, ResBody, E> Future for OverLimit<F>
    where
        F: Future<Output = Result<http::Response<ResBody>, E>>,
    {
        type Output = F::Output;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            let mut response = std::task::ready!(self.project().inner.poll(cx))?;
            // A message tonic refused to decode is answered at once, with
            // the status in the response headers; any other answer is
            // passed on after one header lookup.
            let out_of_range = response
                .headers()
                .get(&GRPC_STATUS)
                .is_some_and(|code| code.as_bytes() == OUT_OF_RANGE);
            if out_of_range
                && let Some(status) = Status::from_header_map(response.headers())
                && status.code() == Code::OutOfRange
                && status.message().contains("message length too large")
            {
                let exhausted = Status::resource_exhausted(status.message());
                if exhausted.add_header(response.headers_mut()).is_err() {
                    tracing::error!("cannot rewrite the status of an oversized message");
                }
            }
            Poll::Ready(Ok(response))
        }
    }
}
{%- endif %}

#[cfg(test)]
mod tests {
    use super::HandlerError;

    #[test]
    fn only_transient_failures_are_retryable() {
        assert!(HandlerError::Unavailable("db".into()).is_retryable());
        assert!(HandlerError::Internal("bug".into()).is_retryable());
        assert!(!HandlerError::InvalidArgument("id".into()).is_retryable());
        assert!(!HandlerError::NotFound("42".into()).is_retryable());
    }
}
