{#- scaffold
when: uses.grpc_client
-#}
//! The gRPC client plumbing every service calls others with: a lazily
//! connected channel, the deadline of each attempt, and the retries.
//!
//! Every unary call carries its deadline (sent as `grpc-timeout`, enforced on
//! both sides: the server cancels the handler when it passes); a server
//! stream's deadline bounds opening it, not its length. Only `UNAVAILABLE` is
//! retried: it means the call did not reach a server able to handle it. Any
//! other status is returned at once. Retries back off and are throttled
//! (gRFC A6) by [`Retrier`].

use std::{
    fmt,
    future::Future,
    time::{Duration, Instant},
};

use tonic::{
    Code, Request, Response, Status, Streaming,
{%- if uses.keyed_calls %}
    metadata::MetadataValue,
{%- endif %}
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
};

use crate::{
    client_policy::{CONNECT_TIMEOUT, CallPolicy, Retrier, THROTTLE},
    tls::Tls,
};

/// Largest gRPC message decoded or encoded.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Why a gRPC call failed.
#[derive(Debug)]
pub enum GrpcError {
    /// The server URL is not usable.
    InvalidUrl(tonic::transport::Error),
    /// The call failed with this status (after retries, for `UNAVAILABLE`).
    Rpc(Status),
}

impl GrpcError {
    /// The gRPC status code of a failed call.
    pub fn code(&self) -> Option<Code> {
        match self {
            GrpcError::Rpc(status) => Some(status.code()),
            GrpcError::InvalidUrl(_) => None,
        }
    }
}

impl fmt::Display for GrpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GrpcError::InvalidUrl(_) => f.write_str("invalid server URL"),
            GrpcError::Rpc(status) => {
                write!(f, "{:?}: {}", status.code(), status.message())?;
                // A transport error says why only in its sources (a refused
                // certificate, a connection reset).
                let mut source = std::error::Error::source(status);
                while let Some(cause) = source {
                    write!(f, ": {cause}")?;
                    source = cause.source();
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for GrpcError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GrpcError::InvalidUrl(err) => Some(err),
            GrpcError::Rpc(_) => None,
        }
    }
}

/// A lazily connected channel to one gRPC server, with the retry throttle of
/// the calls made on it. Cheap to clone; clones share one HTTP/2 connection
/// and one throttle. The generated stubs are built on
/// [`GrpcClient::channel`].
#[derive(Debug, Clone)]
pub struct GrpcClient {
    channel: Channel,
    retrier: Retrier,
}

impl GrpcClient {
    /// A client of the server at `url` (`http://host:port`, or `https://`
    /// with `tls`: `TLS_CA`'s roots, else Mozilla's, and `TLS_CERT` shown
    /// when the server asks). It connects on the first call, and reconnects
    /// by itself after failures.
    pub fn connect_lazy(url: &str, tls: &Tls) -> Result<Self, GrpcError> {
        let mut endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(GrpcError::InvalidUrl)?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true);
        if url.starts_with("https://") {
            let mut config = ClientTlsConfig::new().timeout(CONNECT_TIMEOUT);
            config = match tls.peer_ca_pem() {
                Some(pem) => config.ca_certificate(Certificate::from_pem(pem)),
                None => config.trust_anchors(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            };
            if let Some((cert, key)) = tls.identity_pem() {
                config = config.identity(Identity::from_pem(cert, key));
            }
            endpoint = endpoint.tls_config(config).map_err(GrpcError::InvalidUrl)?;
        }
        let channel = endpoint.connect_lazy();
        Ok(Self {
            channel,
            retrier: Retrier::new(THROTTLE),
        })
    }

    /// The channel, for a generated client stub.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// The retry throttle's tokens left, in thousandths.
    pub fn retry_tokens_milli(&self) -> u32 {
        self.retrier.tokens_milli()
    }

    /// Calls a unary rpc with a flow's `policy`: `call` makes one attempt on
    /// the channel with the request (its deadline set).
    pub async fn unary<Req, Resp, F, Fut>(
        &self,
        policy: &CallPolicy,
        request: &Req,
        call: F,
    ) -> Result<Resp, GrpcError>
    where
        Req: Clone,
        F: Fn(Channel, Request<Req>) -> Fut,
        Fut: Future<Output = Result<Response<Resp>, Status>>,
    {
        let deadline = policy.deadline;
{%- if uses.keyed_calls %}
        let key = policy
            .keyed
            .then(crate::client_policy::idempotency_key)
            .and_then(|key| MetadataValue::try_from(key).ok());
{%- endif %}
        self.attempts(policy, || {
            let mut attempt = Request::new(request.clone());
            attempt.set_timeout(deadline);
{%- if uses.keyed_calls %}
            if let Some(key) = &key {
                let header = crate::client_policy::IDEMPOTENCY_KEY_HEADER;
                attempt.metadata_mut().insert(header, key.clone());
            }
{%- endif %}
            crate::trace::inject(attempt.metadata_mut().as_mut());
            let started = Instant::now();
            let answer = call(self.channel.clone(), attempt);
            async move {
                answer
                    .await
                    .map(Response::into_inner)
                    .map_err(|status| standard_status(status, started, deadline))
            }
        })
        .await
    }

    /// Opens a server-streaming rpc with a flow's `policy`: `call` makes one
    /// attempt, which must answer (the stream's headers) within the
    /// deadline. The stream then lasts as long as the server sends; dropping
    /// it cancels the call.
    pub async fn server_stream<Req, Resp, F, Fut>(
        &self,
        policy: &CallPolicy,
        request: &Req,
        call: F,
    ) -> Result<GrpcStream<Resp>, GrpcError>
    where
        Req: Clone,
        F: Fn(Channel, Request<Req>) -> Fut,
        Fut: Future<Output = Result<Response<Streaming<Resp>>, Status>>,
    {
        let deadline = policy.deadline;
        self.attempts(policy, || {
            let mut attempt = Request::new(request.clone());
            crate::trace::inject(attempt.metadata_mut().as_mut());
            let answer = call(self.channel.clone(), attempt);
            async move {
                match tokio::time::timeout(deadline, answer).await {
                    Ok(answer) => answer.map(Response::into_inner),
                    Err(_) => Err(deadline_exceeded(deadline)),
                }
            }
        })
        .await
        .map(|inner| GrpcStream { inner })
    }

    async fn attempts<T, F, Fut>(&self, policy: &CallPolicy, attempt: F) -> Result<T, GrpcError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        self.retrier
            .run(
                policy,
                // A keyed call may also retry a copy refused while the first
                // still ran: the callee answers it from its records.
                |status: &Status| {
                    status.code() == Code::Unavailable
                        || (policy.keyed && status.code() == Code::Aborted)
                },
                attempt,
            )
            .await
            .map_err(GrpcError::Rpc)
    }
}

/// The messages of a server stream. Dropping it cancels the call.
#[derive(Debug)]
pub struct GrpcStream<T> {
    inner: Streaming<T>,
}

impl<T> GrpcStream<T> {
    /// The next message, or `None` once the server ended the stream.
    pub async fn next(&mut self) -> Option<Result<T, GrpcError>> {
        self.inner
            .message()
            .await
            .map_err(GrpcError::Rpc)
            .transpose()
    }
}

/// Gives callers the standard codes where tonic uses others: its own expired
/// deadline is `CANCELLED` ("Timeout expired") rather than
/// `DEADLINE_EXCEEDED`, and an answer over the size limit `OUT_OF_RANGE`
/// rather than `RESOURCE_EXHAUSTED`.
pub fn standard_status(status: Status, started: Instant, deadline: Duration) -> Status {
    match status.code() {
        Code::Cancelled if started.elapsed() >= deadline => deadline_exceeded(deadline),
        Code::OutOfRange if status.message().contains("message length too large") => {
            Status::resource_exhausted(status.message())
        }
        _ => status,
    }
}

fn deadline_exceeded(deadline: Duration) -> Status {
    Status::deadline_exceeded(format!(
        "no answer within the {} ms deadline",
        deadline.as_millis()
    ))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use tonic::{Code, Status};

    #[test]
    fn an_expired_deadline_is_deadline_exceeded() {
        let started = Instant::now()
            .checked_sub(Duration::from_millis(50))
            .unwrap();
        let status = super::standard_status(
            Status::cancelled("Timeout expired"),
            started,
            Duration::from_millis(10),
        );
        assert_eq!(status.code(), Code::DeadlineExceeded);
        assert!(status.message().contains("10 ms"), "{status:?}");
    }

    #[test]
    fn a_cancel_before_the_deadline_stays_cancelled() {
        let status = super::standard_status(
            Status::cancelled("gone"),
            Instant::now(),
            Duration::from_secs(10),
        );
        assert_eq!(status.code(), Code::Cancelled);
    }

    #[test]
    fn an_oversized_answer_is_resource_exhausted() {
        let status = super::standard_status(
            Status::out_of_range("message length too large: found 99 bytes"),
            Instant::now(),
            Duration::from_secs(1),
        );
        assert_eq!(status.code(), Code::ResourceExhausted);
    }
{%- if uses.keyed_calls %}

    #[tokio::test]
    async fn a_keyed_call_sends_one_key_with_every_attempt() {
        use std::sync::{Arc, Mutex};

        use tonic::Response;

        use crate::{
            client_policy::{CallPolicy, IDEMPOTENCY_KEY_HEADER},
            retry::Backoff,
        };

        let policy = CallPolicy {
            flow: "x",
            deadline_var: "X_DEADLINE_MS",
            deadline: Duration::from_millis(100),
            max_attempts: 3,
            backoff: Backoff {
                initial: Duration::from_millis(1),
                max: Duration::from_millis(2),
            },
            keyed: true,
        };
        let client =
            super::GrpcClient::connect_lazy("http://127.0.0.1:1", &super::Tls::default()).unwrap();
        let keys = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&keys);
        // Two attempts fail UNAVAILABLE, the third answers.
        let answer = client
            .unary(&policy, &(), move |_, request: tonic::Request<()>| {
                let key = request.metadata().get(IDEMPOTENCY_KEY_HEADER).cloned();
                let mut keys = seen.lock().unwrap();
                keys.push(key);
                let attempt = keys.len();
                async move {
                    if attempt < 3 {
                        Err(Status::unavailable("down"))
                    } else {
                        Ok(Response::new(attempt))
                    }
                }
            })
            .await;
        assert_eq!(answer.unwrap(), 3);
        let first = {
            let keys = keys.lock().unwrap();
            let first = keys[0].clone().expect("a key on the first attempt");
            assert_eq!(first.len(), 36, "a UUID: {first:?}");
            assert!(keys.iter().all(|k| k.as_ref() == Some(&first)), "{keys:?}");
            first
        };

        // The next call gets a key of its own.
        let next = Arc::new(Mutex::new(None));
        let saw = Arc::clone(&next);
        client
            .unary(&policy, &(), move |_, request: tonic::Request<()>| {
                *saw.lock().unwrap() = request.metadata().get(IDEMPOTENCY_KEY_HEADER).cloned();
                async { Ok(Response::new(())) }
            })
            .await
            .unwrap();
        assert_ne!(next.lock().unwrap().as_ref(), Some(&first));
    }
{%- endif %}
}
