{#- scaffold
when: service.calls_rest
-#}
//! Callers of other services' REST APIs from {{ service.name }}:
{%- for f in service.called_flows | filter(attribute="transport", value="rest") %}
//! flow `{{ f.flow }}` (`GET /{{ contract.resource }}/{id}` on {{ f.calls | map(attribute="target") | join(sep=", ") }}
{%- if f.calls[0].latency_ms %}, {{ f.calls[0].latency_ms }} ms budget{% endif %}){% if loop.last %}.{% else %};{% endif %}
{%- endfor %}
//!
//! Each attempt has a timeout; GET is idempotent, so transport failures,
//! timeouts and 429/502/503/504 answers are retried a bounded number of times
//! with jittered exponential backoff. Other answers are returned at once.
//! Retries are throttled as in gRFC A6 ([`RetryThrottle`]): when the callee
//! keeps failing, calls stop being retried, so a dependency that is down is
//! not hit by a retry storm.

use std::{fmt, sync::Arc, time::Duration};

use contract::{
    ids::{InvalidId, validate_id},
    {{ contract.package }}::{{ contract.response.name }},
};
use reqwest::StatusCode;
use tracing::{debug, warn};

use runtime::retry::{Backoff, RetryThrottle, Throttle};

/// Timeouts and retries of one flow's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallPolicy {
    /// Budget of one attempt, from connecting to the last byte of the body.
    pub timeout: Duration,
    /// Budget of establishing a connection.
    pub connect_timeout: Duration,
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
    /// Delays between attempts.
    pub backoff: Backoff,
    /// Retry throttling shared by all calls of one client.
    pub throttle: Throttle,
}
{%- for f in service.called_flows | filter(attribute="transport", value="rest") %}

/// Policy of flow `{{ f.flow }}`{% if f.calls[0].latency_ms %} ({{ f.calls[0].latency_ms }} ms latency target){% endif %}.
pub const {{ f.calls[0].flow_shouty }}_POLICY: CallPolicy = CallPolicy {
    timeout: Duration::from_secs(1),
    connect_timeout: Duration::from_millis(500),
    max_attempts: 3,
    backoff: Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(1),
    },
    // gRFC A6's example: under sustained failure, at most about 5 retries
    // in all before they stop; then one retry per 10 successes at most.
    throttle: Throttle {
        max_tokens: 10,
        token_ratio_milli: 100,
    },
};
{%- endfor %}

/// Why a call failed.
#[derive(Debug)]
pub enum ClientError {
    /// The id would not be accepted by the callee; nothing was sent.
    InvalidId(InvalidId),
    /// The HTTP client could not be built.
    Setup(reqwest::Error),
    /// No answer: connection refused or reset, or the attempt timed out.
    Transport(reqwest::Error),
    /// The callee answered with an error status.
    Status {
        /// The HTTP status.
        status: StatusCode,
        /// The `error` field of its JSON body, or the raw body.
        message: String,
    },
    /// The callee answered 2xx with a body that is not the expected JSON.
    Decode(reqwest::Error),
}

impl ClientError {
    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Transport(_) => true,
            ClientError::Status { status, .. } => matches!(
                *status,
                StatusCode::TOO_MANY_REQUESTS
                    | StatusCode::BAD_GATEWAY
                    | StatusCode::SERVICE_UNAVAILABLE
                    | StatusCode::GATEWAY_TIMEOUT
            ),
            ClientError::InvalidId(_) | ClientError::Setup(_) | ClientError::Decode(_) => false,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::InvalidId(err) => write!(f, "{err}"),
            ClientError::Setup(_) => f.write_str("cannot build the HTTP client"),
            ClientError::Transport(err) if err.is_timeout() => f.write_str("no answer in time"),
            ClientError::Transport(_) => f.write_str("no answer"),
            ClientError::Status { status, message } => write!(f, "answered {status}: {message}"),
            ClientError::Decode(_) => f.write_str("unexpected answer body"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Setup(err) | ClientError::Transport(err) | ClientError::Decode(err) => {
                Some(err)
            }
            ClientError::InvalidId(_) | ClientError::Status { .. } => None,
        }
    }
}

{% for target in service.rest_targets %}/// Client of the {{ target.name }} REST API. Cheap to clone; clones share one
/// connection pool and one retry throttle.
#[derive(Debug, Clone)]
pub struct {{ target.client }} {
    http: reqwest::Client,
    base_url: String,
    policy: CallPolicy,
    throttle: Arc<RetryThrottle>,
}

impl {{ target.client }} {
    /// A client of the API at `base_url` (`http://host:port`).
    pub fn new(base_url: &str, policy: CallPolicy) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(policy.connect_timeout)
            .tcp_nodelay(true)
            .build()
            .map_err(ClientError::Setup)?;
        Ok(Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            policy,
            throttle: Arc::new(RetryThrottle::new(policy.throttle)),
        })
    }

    /// The retry throttle's tokens left, in thousandths.
    pub fn retry_tokens_milli(&self) -> u32 {
        self.throttle.tokens_milli()
    }

    /// `GET /{{ contract.resource }}/{ {{- contract.id_field.name -}} }`.
    pub async fn {{ contract.method.name }}(&self, {{ contract.id_field.name }}: &str) -> Result<{{ contract.response.name }}, ClientError> {
        validate_id({{ contract.id_field.name }}).map_err(ClientError::InvalidId)?;
        let url = format!("{}/{{ contract.resource }}/{ {{- contract.id_field.name -}} }", self.base_url);
        let mut attempt = 1;
        loop {
            match self.get_json(&url).await {
                Ok(answer) => {
                    self.throttle.success();
                    return Ok(answer);
                }
                Err(err) if err.is_retryable() => {
                    let may_retry = self.throttle.failure_may_retry();
                    if attempt >= self.policy.max_attempts {
                        return Err(err);
                    }
                    if !may_retry {
                        warn!(
                            %url, attempt, %err,
                            "call failed; not retried: too many recent failures (retry throttle)"
                        );
                        return Err(err);
                    }
                    let delay = self.policy.backoff.delay(attempt - 1);
                    warn!(
                        %url, attempt, %err, ?delay,
                        "call failed, retrying"
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    async fn get_json(&self, url: &str) -> Result<{{ contract.response.name }}, ClientError> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(ClientError::Transport)?;
        let status = response.status();
        debug!(%url, %status, "answer");
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(ClientError::Status {
                status,
                message: error_message(&body),
            });
        }
        response.json().await.map_err(|err| {
            if err.is_timeout() {
                ClientError::Transport(err)
            } else {
                ClientError::Decode(err)
            }
        })
    }
}

{% endfor %}/// The `error` field of a JSON error body, else the body itself.
fn error_message(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        error: String,
    }
    serde_json::from_str::<ErrorBody>(body).map_or_else(|_| body.trim().to_owned(), |b| b.error)
}

#[cfg(test)]
mod tests {
    use super::error_message;

    #[test]
    fn error_message_prefers_the_json_error_field() {
        assert_eq!(
            error_message(r#"{"error":"no such route"}"#),
            "no such route"
        );
        assert_eq!(error_message("bad gateway\n"), "bad gateway");
    }
}
