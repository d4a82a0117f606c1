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
