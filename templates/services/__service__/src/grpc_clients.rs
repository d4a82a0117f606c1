{#- scaffold
when: service.calls_grpc
-#}
//! Callers of other services' gRPC APIs from {{ service.name }}:
{%- for f in service.called_flows | filter(attribute="transport", value="grpc") %}
//! flow `{{ f.flow }}` (`{{ names.grpc_service }}/{{ contract.method.proto_name }}` on {{ f.calls | map(attribute="target") | join(sep=", ") }}
{%- if f.calls[0].latency_ms %}, {{ f.calls[0].latency_ms }} ms budget{% endif %}){% if loop.last %}.{% else %};{% endif %}
{%- endfor %}
//!
//! Every call carries a deadline (sent as `grpc-timeout`, enforced on both
//! sides: the server cancels the handler when it passes). Only `UNAVAILABLE`
//! is retried, a bounded number of times with jittered exponential backoff:
//! it means the call did not reach a server able to handle it. Any other
//! status is returned at once. Retries are throttled as in gRFC A6
//! ([`RetryThrottle`]): when the server keeps failing, calls stop being
//! retried, so a dependency that is down is not hit by a retry storm.

use std::{
    fmt,
    sync::Arc,
    time::{Duration, Instant},
};

use contract::{
    ids::{InvalidId, validate_id},
    {{ contract.package }}::{ {{- [contract.request.name, contract.response.name] | unique | sort | join(sep=", ") }}, {{ names.client_module }}::{{ contract.service.name }}Client},
};
use tonic::{
    Code, Request, Status,
    transport::{Channel, Endpoint},
};
use tracing::warn;

use runtime::retry::{Backoff, RetryThrottle, Throttle};

/// Deadlines and retries of one flow's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallPolicy {
    /// Deadline of one attempt.
    pub deadline: Duration,
    /// Budget of establishing a connection.
    pub connect_timeout: Duration,
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
    /// Delays between attempts.
    pub backoff: Backoff,
    /// Retry throttling shared by all calls of one client.
    pub throttle: Throttle,
}

{% for f in service.called_flows | filter(attribute="transport", value="grpc") %}/// Policy of flow `{{ f.flow }}`
{%- if f.calls[0].latency_ms and f.calls[0].throughput %} ({{ f.calls[0].latency_ms }} ms latency target, {{ f.calls[0].throughput }} calls/s)
{%- elif f.calls[0].latency_ms %} ({{ f.calls[0].latency_ms }} ms latency target)
{%- elif f.calls[0].throughput %} ({{ f.calls[0].throughput }} calls/s){% endif %}.
pub const {{ f.calls[0].flow_shouty }}_POLICY: CallPolicy = CallPolicy {
    deadline: Duration::from_millis(200),
    connect_timeout: Duration::from_millis(500),
    max_attempts: 3,
    backoff: Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
    },
    // gRFC A6's example: under sustained failure, at most about 5 retries
    // in all before they stop; then one retry per 10 successes at most.
    throttle: Throttle {
        max_tokens: 10,
        token_ratio_milli: 100,
    },
};

{% endfor %}/// Largest gRPC message decoded or encoded.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Why a call failed.
#[derive(Debug)]
pub enum ClientError {
    /// The id would not be accepted by the callee; nothing was sent.
    InvalidId(InvalidId),
    /// The server URL is not usable.
    InvalidUrl(tonic::transport::Error),
    /// The call failed with this status (after retries, for `UNAVAILABLE`).
    Rpc(Status),
}

impl ClientError {
    /// The gRPC status code of a failed call.
    pub fn code(&self) -> Option<Code> {
        match self {
            ClientError::Rpc(status) => Some(status.code()),
            ClientError::InvalidId(_) | ClientError::InvalidUrl(_) => None,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::InvalidId(err) => write!(f, "{err}"),
            ClientError::InvalidUrl(_) => f.write_str("invalid server URL"),
            ClientError::Rpc(status) => write!(f, "{:?}: {}", status.code(), status.message()),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::InvalidUrl(err) => Some(err),
            ClientError::InvalidId(_) | ClientError::Rpc(_) => None,
        }
    }
}

{% for target in service.grpc_targets %}/// Client of the {{ target.name }} gRPC API. Cheap to clone; clones share one HTTP/2
/// connection and one retry throttle.
#[derive(Debug, Clone)]
pub struct {{ target.client }} {
    client: {{ contract.service.name }}Client<Channel>,
    policy: CallPolicy,
    throttle: Arc<RetryThrottle>,
}

impl {{ target.client }} {
    /// A client of the server at `url` (`http://host:port`). It connects on
    /// the first call, and reconnects by itself after failures.
    pub fn connect_lazy(url: &str, policy: CallPolicy) -> Result<Self, ClientError> {
        let channel = Endpoint::from_shared(url.to_owned())
            .map_err(ClientError::InvalidUrl)?
            .connect_timeout(policy.connect_timeout)
            .tcp_nodelay(true)
            .connect_lazy();
        let client = {{ contract.service.name }}Client::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        Ok(Self {
            client,
            policy,
            throttle: Arc::new(RetryThrottle::new(policy.throttle)),
        })
    }

    /// The retry throttle's tokens left, in thousandths.
    pub fn retry_tokens_milli(&self) -> u32 {
        self.throttle.tokens_milli()
    }

    /// `{{ names.grpc_service }}/{{ contract.method.proto_name }}`.
    pub async fn {{ contract.method.name }}(&self, {{ contract.id_field.name }}: &str) -> Result<{{ contract.response.name }}, ClientError> {
        validate_id({{ contract.id_field.name }}).map_err(ClientError::InvalidId)?;
        let mut attempt = 1;
        loop {
            let mut request = Request::new({{ contract.request.name }} {
                {{ contract.id_field.name }}: {{ contract.id_field.name }}.to_owned(),
{%- if contract.request.fields | length > 1 %}
                ..Default::default()
{%- endif %}
            });
            request.set_timeout(self.policy.deadline);
            let started = Instant::now();
            let result = self.client.clone().{{ contract.method.name }}(request).await;
            match result.map_err(|status| standard_status(status, started, self.policy.deadline)) {
                Ok(response) => {
                    self.throttle.success();
                    return Ok(response.into_inner());
                }
                Err(status) if status.code() == Code::Unavailable => {
                    let may_retry = self.throttle.failure_may_retry();
                    if attempt >= self.policy.max_attempts {
                        return Err(ClientError::Rpc(status));
                    }
                    if !may_retry {
                        warn!(
                            attempt, message = %status.message(),
                            "call failed; not retried: too many recent failures (retry throttle)"
                        );
                        return Err(ClientError::Rpc(status));
                    }
                    let delay = self.policy.backoff.delay(attempt - 1);
                    warn!(
                        attempt, code = ?status.code(),
                        message = %status.message(), ?delay, "call failed, retrying"
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(status) => return Err(ClientError::Rpc(status)),
            }
        }
    }
}

{% endfor %}/// Gives callers the standard codes where tonic uses others: its own expired
/// deadline is `CANCELLED` ("Timeout expired") rather than
/// `DEADLINE_EXCEEDED`, and an answer over the size limit `OUT_OF_RANGE`
/// rather than `RESOURCE_EXHAUSTED`.
fn standard_status(status: Status, started: Instant, deadline: Duration) -> Status {
    match status.code() {
        Code::Cancelled if started.elapsed() >= deadline => Status::deadline_exceeded(format!(
            "no answer within the {} ms deadline",
            deadline.as_millis()
        )),
        Code::OutOfRange if status.message().contains("message length too large") => {
            Status::resource_exhausted(status.message())
        }
        _ => status,
    }
}
