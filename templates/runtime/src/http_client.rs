{#- scaffold
when: uses.rest_client
-#}
//! The REST client every service calls others with: a request message is put
//! on its rpc's HTTP route (the `google.api.http` transcoding convention:
//! path variables from request fields, the body as the route says, query
//! parameters for the rest), sent in the proto3 JSON mapping, and the answer
//! decoded the same way; a streaming rpc is read as Server-Sent Events.
//!
//! Each attempt has a deadline. Idempotent verbs (GET, PUT, DELETE…) are
//! retried on transport failures, missed deadlines and 429/502/503/504
//! answers; other verbs (POST, PATCH) only when the request surely was not
//! handled: the connection could not be made, or the server answered 429.
//! Retries back off and are throttled (gRFC A6) by [`Retrier`].

use std::{fmt, time::Duration};

use reqwest::{Method, StatusCode, Url};
use rustls::ClientConfig;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};
use tracing::debug;

use crate::{
    client_policy::{CONNECT_TIMEOUT, CallPolicy, Retrier, THROTTLE},
    tls::Tls,
};

/// How a request message travels besides its path variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No body: every other field is a query parameter.
    None,
    /// `body: "*"`: every field not in the path is the JSON body.
    All,
    /// `body: "<field>"`: that field (by its JSON name) is the body, the
    /// others are query parameters.
    Field(&'static str),
}

/// A path variable of a route: `{invoice_id}` or `{name=shelves/*}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathVar {
    /// The field path as written in the template: `invoice_id`, `book.name`.
    pub field: &'static str,
    /// The same with JSON names: `invoiceId`, `book.name`.
    pub json: &'static str,
    /// What the field renders as when the message leaves it at its default
    /// (proto3 JSON omits default values): `""` for a string, `0` for a
    /// number.
    pub default: &'static str,
}

/// The HTTP route of an rpc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// `GET`, `POST`, … or a custom verb.
    pub method: &'static str,
    /// The path template: `/v1/invoices/{invoice_id}`.
    pub path: &'static str,
    pub vars: &'static [PathVar],
    pub body: Body,
}

/// A request put on its route: what is sent.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    pub method: Method,
    /// Path and query, to append to the base URL.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    /// The idempotency key sent with every attempt, for a keyed flow.
    pub idempotency_key: Option<String>,
}

impl Route {
    /// Puts `request` on this route: its path variables, body and query.
    pub fn request(&self, request: &impl Serialize) -> Result<HttpRequest, HttpError> {
        let method = Method::from_bytes(self.method.as_bytes())
            .map_err(|_| HttpError::InvalidRequest(format!("invalid verb `{}`", self.method)))?;
        let mut fields = match serde_json::to_value(request) {
            Ok(Value::Object(fields)) => fields,
            Ok(other) => {
                return Err(HttpError::InvalidRequest(format!(
                    "a request is a JSON object, not `{other}`"
                )));
            }
            Err(err) => return Err(HttpError::InvalidRequest(err.to_string())),
        };
        let path = self.expand(&mut fields)?;
        let (body, rest) = match self.body {
            Body::All => (Some(Value::Object(fields)), Map::new()),
            Body::Field(name) => (Some(fields.remove(name).unwrap_or(Value::Null)), fields),
            Body::None => (None, fields),
        };
        let mut query = Vec::new();
        flatten(&mut query, "", &Value::Object(rest));
        Ok(HttpRequest {
            method,
            path,
            query,
            body,
            idempotency_key: None,
        })
    }

    /// The path with each `{variable}` replaced by its field's value, which
    /// leaves the fields (so it is neither in the body nor the query).
    fn expand(&self, fields: &mut Map<String, Value>) -> Result<String, HttpError> {
        let mut path = String::with_capacity(self.path.len());
        let mut rest = self.path;
        while let Some(open) = rest.find('{') {
            path.push_str(&rest[..open]);
            let close = rest[open..].find('}').map(|i| open + i).ok_or_else(|| {
                HttpError::InvalidRequest(format!("unclosed variable in `{}`", self.path))
            })?;
            let variable = &rest[open + 1..close];
            let (field, pattern) = variable.split_once('=').unwrap_or((variable, "*"));
            let var = self.vars.iter().find(|v| v.field == field).ok_or_else(|| {
                HttpError::InvalidRequest(format!("no field for the path variable `{variable}`"))
            })?;
            let value = take(fields, var.json)
                .map(|value| scalar_text(&value))
                .transpose()
                .map_err(|kind| {
                    HttpError::InvalidRequest(format!(
                        "field `{field}` is {kind}: it cannot be in a path"
                    ))
                })?
                .unwrap_or_else(|| var.default.to_owned());
            if value.is_empty() {
                return Err(HttpError::InvalidRequest(format!(
                    "field `{field}` is empty: it is part of the path `{}`",
                    self.path
                )));
            }
            encode(&mut path, &value, pattern.contains("**"));
            rest = &rest[close + 1..];
        }
        path.push_str(rest);
        Ok(path)
    }
}

/// Removes the value at the dotted JSON path, if any.
fn take(fields: &mut Map<String, Value>, json: &str) -> Option<Value> {
    match json.split_once('.') {
        None => fields.remove(json),
        Some((head, tail)) => match fields.get_mut(head)? {
            Value::Object(inner) => take(inner, tail),
            _ => None,
        },
    }
}

/// The text of a scalar, or what it is when it is not one.
fn scalar_text(value: &Value) -> Result<String, &'static str> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok(String::new()),
        Value::Array(_) => Err("a list"),
        Value::Object(_) => Err("a message"),
    }
}

/// Appends `value` percent-encoded as a path segment; `/` stays as is for a
/// multi-segment (`**`) variable.
fn encode(path: &mut String, value: &str, keep_slash: bool) {
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && byte == b'/')
        {
            path.push(char::from(byte));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            path.push('%');
            path.push(char::from(HEX[usize::from(byte >> 4)]));
            path.push(char::from(HEX[usize::from(byte & 0xF)]));
        }
    }
}

/// Query parameters for the fields of `value`: `a.b=1` for nested messages,
/// the name repeated for each item of a list.
fn flatten(query: &mut Vec<(String, String)>, prefix: &str, value: &Value) {
    match value {
        Value::Object(fields) => {
            for (name, inner) in fields {
                let name = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                flatten(query, &name, inner);
            }
        }
        Value::Array(items) => {
            for item in items {
                flatten(query, prefix, item);
            }
        }
        Value::Null => {}
        scalar => {
            if let Ok(text) = scalar_text(scalar) {
                query.push((prefix.to_owned(), text));
            }
        }
    }
}

/// Why a REST call failed.
#[derive(Debug)]
pub enum HttpError {
    /// The request cannot be put on its route; nothing was sent.
    InvalidRequest(String),
    /// The base URL or the HTTP client is not usable.
    Setup(String),
    /// No answer: connection refused or reset.
    Transport(reqwest::Error),
    /// No answer within the deadline.
    DeadlineExceeded(Duration),
    /// The callee answered with an error status.
    Status {
        /// The HTTP status.
        status: StatusCode,
        /// The `error` field of its JSON body, or the raw body.
        message: String,
    },
    /// The callee answered 2xx with a body that is not the expected JSON.
    Decode(serde_json::Error),
    /// A stream sent an `error` event.
    Stream(String),
}

impl HttpError {
    /// A 409 Conflict: for a keyed request, a copy of it is still running.
    pub fn is_in_flight(&self) -> bool {
        matches!(self, HttpError::Status { status, .. } if *status == StatusCode::CONFLICT)
    }

    /// Whether another attempt may succeed, for a request that is
    /// `idempotent` (its method is, or it carries an idempotency key).
    pub fn is_retryable(&self, idempotent: bool) -> bool {
        match self {
            HttpError::Transport(err) => idempotent || err.is_connect(),
            HttpError::DeadlineExceeded(_) => idempotent,
            HttpError::Status { status, .. } => {
                *status == StatusCode::TOO_MANY_REQUESTS
                    || (idempotent
                        && matches!(
                            *status,
                            StatusCode::BAD_GATEWAY
                                | StatusCode::SERVICE_UNAVAILABLE
                                | StatusCode::GATEWAY_TIMEOUT
                        ))
            }
            HttpError::InvalidRequest(_)
            | HttpError::Setup(_)
            | HttpError::Decode(_)
            | HttpError::Stream(_) => false,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::InvalidRequest(why) => write!(f, "invalid request: {why}"),
            HttpError::Setup(why) => write!(f, "cannot set up the HTTP client: {why}"),
            HttpError::Transport(_) => f.write_str("no answer"),
            HttpError::DeadlineExceeded(deadline) => {
                write!(
                    f,
                    "no answer within the {} ms deadline",
                    deadline.as_millis()
                )
            }
            HttpError::Status { status, message } => write!(f, "answered {status}: {message}"),
            HttpError::Decode(_) => f.write_str("unexpected answer body"),
            HttpError::Stream(message) => write!(f, "the stream failed: {message}"),
        }
    }
}

impl std::error::Error for HttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HttpError::Transport(err) => Some(err),
            HttpError::Decode(err) => Some(err),
            _ => None,
        }
    }
}

/// A client of one service's REST API. Cheap to clone; clones share one
/// connection pool and one retry throttle.
#[derive(Debug, Clone)]
pub struct HttpClient {
    http: reqwest::Client,
    base_url: Url,
    retrier: Retrier,
}

impl HttpClient {
    /// A client of the API at `base_url` (`http://host:port`, or `https://`
    /// with `tls`: `TLS_CA`'s roots, else Mozilla's, and `TLS_CERT` shown
    /// when the server asks).
    pub fn new(base_url: &str, tls: &Tls) -> Result<Self, HttpError> {
        let base_url = Url::parse(base_url.trim_end_matches('/'))
            .map_err(|err| HttpError::Setup(format!("`{base_url}`: {err}")))?;
        if !matches!(base_url.scheme(), "http" | "https") {
            return Err(HttpError::Setup(format!(
                "`{base_url}` is not an http:// or https:// URL"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .tls_backend_preconfigured(ClientConfig::clone(&tls.client()))
            .build()
            .map_err(|err| HttpError::Setup(err.to_string()))?;
        Ok(Self {
            http,
            base_url,
            retrier: Retrier::new(THROTTLE),
        })
    }

    /// The retry throttle's tokens left, in thousandths.
    pub fn retry_tokens_milli(&self) -> u32 {
        self.retrier.tokens_milli()
    }

    /// Calls a unary rpc on its `route` with a flow's `policy`, and decodes
    /// the answer.
    pub async fn unary<Resp: DeserializeOwned>(
        &self,
        policy: &CallPolicy,
        route: &Route,
        request: &impl Serialize,
    ) -> Result<Resp, HttpError> {
{%- if uses.keyed_calls %}
        let mut request = route.request(request)?;
        if policy.keyed {
            request.idempotency_key = Some(crate::client_policy::idempotency_key());
        }
{%- else %}
        let request = route.request(request)?;
{%- endif %}
        let url = self.url(&request);
        let deadline = policy.deadline;
        // A keyed request is applied once, however often it is sent; a copy
        // refused with 409 while the first still ran is answered on retry.
        let keyed = request.idempotency_key.is_some();
        let idempotent = request.method.is_idempotent() || keyed;
        self.retrier
            .run(
                policy,
                |err: &HttpError| err.is_retryable(idempotent) || (keyed && err.is_in_flight()),
                || async {
                    let attempt = async {
                        let response = self.send(&request, &url, false).await?;
                        let body = response.bytes().await.map_err(HttpError::Transport)?;
                        serde_json::from_slice(&body).map_err(HttpError::Decode)
                    };
                    tokio::time::timeout(deadline, attempt)
                        .await
                        .unwrap_or(Err(HttpError::DeadlineExceeded(deadline)))
                },
            )
            .await
    }

    /// Opens a server-streaming rpc on its `route` with a flow's `policy`:
    /// the messages arrive as Server-Sent Events. The deadline bounds opening
    /// the stream, not its length; dropping the stream closes the connection.
    pub async fn stream<Resp: DeserializeOwned>(
        &self,
        policy: &CallPolicy,
        route: &Route,
        request: &impl Serialize,
    ) -> Result<SseStream<Resp>, HttpError> {
        let request = route.request(request)?;
        let url = self.url(&request);
        let deadline = policy.deadline;
        let response = self
            .retrier
            .run(
                policy,
                |err: &HttpError| err.is_retryable(request.method.is_idempotent()),
                || async {
                    tokio::time::timeout(deadline, self.send(&request, &url, true))
                        .await
                        .unwrap_or(Err(HttpError::DeadlineExceeded(deadline)))
                },
            )
            .await?;
        Ok(SseStream::new(response))
    }

    fn url(&self, request: &HttpRequest) -> Url {
        let mut url = self.base_url.clone();
        let base_path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base_path}{}", request.path));
        if !request.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&request.query);
        }
        url
    }

    /// Sends one attempt and checks its status.
    async fn send(
        &self,
        request: &HttpRequest,
        url: &Url,
        events: bool,
    ) -> Result<reqwest::Response, HttpError> {
        let mut builder = self.http.request(request.method.clone(), url.clone());
        if let Some(body) = &request.body {
            builder = builder
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        if let Some(key) = &request.idempotency_key {
            builder = builder.header(crate::client_policy::IDEMPOTENCY_KEY_HEADER, key);
        }
        if events {
            builder = builder.header("accept", "text/event-stream");
        }
        if crate::trace::enabled() {
            let mut context = http::HeaderMap::new();
            crate::trace::inject(&mut context);
            builder = builder.headers(context);
        }
        let response = builder.send().await.map_err(HttpError::Transport)?;
        let status = response.status();
        debug!(%url, %status, "answer");
        if status.is_success() {
            Ok(response)
        } else {
            let body = response.text().await.unwrap_or_default();
            Err(HttpError::Status {
                status,
                message: error_message(&body),
            })
        }
    }
}

/// The messages of a server stream read as Server-Sent Events: each `data`
/// event is one message in proto3 JSON; an `error` event ends the stream
/// with its data as the reason.
#[derive(Debug)]
pub struct SseStream<T> {
    response: reqwest::Response,
    buffer: Vec<u8>,
    event: String,
    data: String,
    ended: bool,
    message: std::marker::PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> SseStream<T> {
    fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            buffer: Vec::new(),
            event: String::new(),
            data: String::new(),
            ended: false,
            message: std::marker::PhantomData,
        }
    }

    /// The next message, or `None` once the server ended the stream.
    pub async fn next(&mut self) -> Option<Result<T, HttpError>> {
        loop {
            if self.ended {
                return None;
            }
            while let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end_matches(['\n', '\r']);
                if let Some(item) = self.line(line) {
                    return Some(item);
                }
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.buffer.extend_from_slice(&chunk),
                Ok(None) => {
                    self.ended = true;
                    // A last event without its blank line still counts.
                    return self.line("");
                }
                Err(err) => {
                    self.ended = true;
                    return Some(Err(HttpError::Transport(err)));
                }
            }
        }
    }

    /// Takes one line of the event stream; a blank line dispatches the event.
    fn line(&mut self, line: &str) -> Option<Result<T, HttpError>> {
        if line.is_empty() {
            let event = std::mem::take(&mut self.event);
            let data = std::mem::take(&mut self.data);
            if data.is_empty() {
                return None;
            }
            if event == "error" {
                self.ended = true;
                return Some(Err(HttpError::Stream(error_message(&data))));
            }
            return Some(serde_json::from_str(&data).map_err(HttpError::Decode));
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "data" => {
                if !self.data.is_empty() {
                    self.data.push('\n');
                }
                self.data.push_str(value);
            }
            "event" => value.clone_into(&mut self.event),
            // Comments (keep-alives), `id` and `retry` are not messages.
            _ => {}
        }
        None
    }
}

/// The `error` field of a JSON error body, else the body itself.
fn error_message(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        error: String,
    }
    serde_json::from_str::<ErrorBody>(body).map_or_else(|_| body.trim().to_owned(), |b| b.error)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Body, HttpError, PathVar, Route, error_message};

    const INVOICE: Route = Route {
        method: "GET",
        path: "/v1/invoices/{invoice_id}",
        vars: &[PathVar {
            field: "invoice_id",
            json: "invoiceId",
            default: "",
        }],
        body: Body::None,
    };

    #[test]
    fn path_variables_come_from_fields_and_the_others_go_to_the_query() {
        let request = INVOICE
            .request(&json!({"invoiceId": "in 1/2", "lines": [1, 2], "page": {"size": 5}}))
            .unwrap();
        assert_eq!(request.method, reqwest::Method::GET);
        assert_eq!(request.path, "/v1/invoices/in%201%2F2");
        assert_eq!(
            request.query,
            [
                ("lines".to_owned(), "1".to_owned()),
                ("lines".to_owned(), "2".to_owned()),
                ("page.size".to_owned(), "5".to_owned()),
            ]
        );
        assert_eq!(request.body, None);
    }

    #[test]
    fn body_star_sends_every_field_not_in_the_path() {
        let route = Route {
            method: "POST",
            path: "/v1/accounts/{account.id=accounts/**}:charge",
            vars: &[PathVar {
                field: "account.id",
                json: "account.id",
                default: "",
            }],
            body: Body::All,
        };
        let request = route
            .request(&json!({"account": {"id": "a/b", "region": "eu"}, "amount": 3}))
            .unwrap();
        assert_eq!(request.path, "/v1/accounts/a/b:charge");
        assert_eq!(
            request.body,
            Some(json!({"account": {"region": "eu"}, "amount": 3}))
        );
        assert!(request.query.is_empty());
    }

    #[test]
    fn a_field_body_sends_that_field_and_queries_the_rest() {
        let route = Route {
            method: "PATCH",
            path: "/v1/shelves/{shelf}",
            vars: &[PathVar {
                field: "shelf",
                json: "shelf",
                default: "0",
            }],
            body: Body::Field("book"),
        };
        let request = route
            .request(&json!({"book": {"title": "T"}, "force": true}))
            .unwrap();
        // The shelf number was 0, which proto3 JSON leaves out.
        assert_eq!(request.path, "/v1/shelves/0");
        assert_eq!(request.body, Some(json!({"title": "T"})));
        assert_eq!(request.query, [("force".to_owned(), "true".to_owned())]);
    }

    #[test]
    fn refuses_an_empty_path_variable_without_sending() {
        let err = INVOICE.request(&json!({})).unwrap_err();
        assert!(matches!(err, HttpError::InvalidRequest(_)), "{err:?}");
        assert!(err.to_string().contains("invoice_id"), "{err}");
    }

    #[test]
    fn only_idempotent_verbs_retry_answers_that_may_have_been_handled() {
        let unavailable = HttpError::Status {
            status: reqwest::StatusCode::SERVICE_UNAVAILABLE,
            message: String::new(),
        };
        let too_many = HttpError::Status {
            status: reqwest::StatusCode::TOO_MANY_REQUESTS,
            message: String::new(),
        };
        assert!(unavailable.is_retryable(true));
        assert!(!unavailable.is_retryable(false));
        assert!(too_many.is_retryable(false));
        let late = HttpError::DeadlineExceeded(std::time::Duration::from_millis(1));
        assert!(late.is_retryable(true));
        assert!(!late.is_retryable(false));
    }

    #[test]
    fn error_message_prefers_the_json_error_field() {
        assert_eq!(
            error_message(r#"{"error":"no such route"}"#),
            "no such route"
        );
        assert_eq!(error_message("bad gateway\n"), "bad gateway");
    }
}
