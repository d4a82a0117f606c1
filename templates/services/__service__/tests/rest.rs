{#- scaffold
when: service.serves_rest
-#}
{%- import "_partials/format.rs" as format -%}
{%- set unary = service.api.rest_routes | filter(attribute="kind", value="unary") | first -%}
{%- set announce = service.produces | length > 0 and unary -%}
//! The REST server of `{{ service.name }}` on a real socket, driven by a real HTTP client.

use std::{net::SocketAddr, sync::Arc, time::Duration};
{# blank line #}
{%- if announce %}
use rdkafka::{
    ClientConfig, Message as _,
    consumer::{Consumer as _, StreamConsumer},
    mocking::MockCluster,
};
{%- endif %}
use reqwest::{Method, StatusCode, header::CONTENT_TYPE};
{%- if service.api.first_rest and service.keys.rest %}
use runtime::{
    auth::{Authenticate, HeaderMap, Unauthenticated},
    idempotency,
};
{%- elif service.api.first_rest %}
use runtime::auth::{Authenticate, HeaderMap, Unauthenticated};
{%- elif service.keys.rest %}
use runtime::{auth::Authenticate, idempotency};
{%- else %}
use runtime::auth::Authenticate;
{%- endif %}
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use {{ service.ident }}::{
    app,
    config::{Config, HTTP_BODY_LIMIT_BYTES, Timeouts},
    {% if announce %}kafka, {% endif %}rest,
    state::State,
};

/// The budget of every route: the tests here check answers, not latency
/// budgets, which a debug build on a busy machine misses (`tests/shutdown.rs`
/// tests the budgets on the real binary).
const BUDGET: Duration = Duration::from_secs(5);

struct Server {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

/// The service's configuration{% if service.produces %}, producing to `brokers` (nothing listens on
/// port 1: the events the example handlers announce go nowhere){% elif service.consumes %}, its broker out of reach (nothing listens on
/// port 1){% endif %}{% if service.store %}, its database in
/// memory{% endif %}.
fn config({% if service.produces %}brokers: &str{% endif %}) -> Config {
{%- if service.consumes and not service.produces %}
    let brokers = "127.0.0.1:1";
{%- endif %}
{%- if service.store %}
    Config::from_lookup(|var| match var {
{%- if service.produces or service.consumes %}
        "KAFKA_BROKERS" => Some(brokers.to_owned()),
{%- endif %}
        // In memory: each test starts with an empty database.
        "DATABASE_URL" => Some("sqlite::memory:".to_owned()),
        _ => None,
    })
    .unwrap()
{%- elif service.produces or service.consumes %}
    Config::from_lookup(|var| (var == "KAFKA_BROKERS").then(|| brokers.to_owned())).unwrap()
{%- else %}
    Config::from_lookup(|_| None).unwrap()
{%- endif %}
}

async fn start() -> Server {
    start_with(&config({% if service.produces %}"127.0.0.1:1"{% endif %})).await
}

/// The real server, on an ephemeral port, with the state `config` builds.
async fn start_with(config: &Config) -> Server {
    // Not the team's hook: these tests send no credentials, and must keep
    // passing once `src/auth.rs` checks real ones.
    start_checked(config, runtime::auth::accept_all).await
}

/// [`start_with`], behind the authentication hook `authenticate`.
async fn start_checked(config: &Config, authenticate: Authenticate) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let state = Arc::new(State::new(config).await.unwrap());
    // The service's own readiness checks, and `/metrics` beside them.
    let health = app::readiness(config, &state)
        .unwrap()
        .spawn(shutdown.clone())
        .with_metrics();
{%- if service.outbox %}
    // The outbox's relay, as the service runs it.
    let relay = state.out.outbox.relay(config).unwrap();
    tokio::spawn(relay.run(shutdown.clone()));
{%- endif %}
    let timeouts = Timeouts::all(BUDGET);
{%- if service.browser_flows %}
    let cors = runtime::rest::cors(&config.cors_allowed_origins);
{%- set more = ", cors" %}
{%- else %}
{%- set more = "" %}
{%- endif %}
{%- if service.keys.rest %}
    let store = state.out.db.clone();
    let socket = listener.into();
    let serving = rest::serve(socket, state, timeouts, store, health, authenticate{{ more }});
{%- else %}
    let socket = listener.into();
    let serving = rest::serve(socket, state, timeouts, health, authenticate{{ more }});
{%- endif %}
    let task = tokio::spawn(serving);
    Server {
        addr,
        shutdown,
        task,
    }
}

async fn get(server: &Server, path: &str) -> (StatusCode, String, String) {
    let response = reqwest::get(format!("http://{}{path}", server.addr))
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

/// Sends `method path` with `body` (as JSON), returns the status, the
/// content type and the body.
async fn call(
    server: &Server,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> (StatusCode, String, String) {
    let mut request =
        reqwest::Client::new().request(method, format!("http://{}{path}", server.addr));
    if let Some(body) = body {
        request = request
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}
{%- for r in service.api.rest_routes %}

/// `{{ r.verb }} {{ r.path }}`: {% if r.kind == "stream" %}a stream of events, each the proto3 JSON of an item{% else %}the proto3 JSON of the response{% endif %}.
#[tokio::test]
async fn {{ r.function }}_answers_{% if r.kind == "stream" %}a_stream_of_events{% else %}json{% endif %}() {
    let server = start().await;
{%- if r.kind == "stream" %}
    let addr = server.addr;
    let url = format!("http://{addr}{{ r.sample_path }}");
{%- if r.sample_body %}
    let request = reqwest::Client::new()
        .request(Method::{{ r.verb }}, url)
        .header(CONTENT_TYPE, "application/json")
        .body("{{ r.sample_body }}");
{%- else %}
    let request = reqwest::Client::new().request(Method::{{ r.verb }}, url);
{%- endif %}
    let mut response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "text/event-stream");
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = response.chunk().await.unwrap().expect("an event");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let data = text
        .lines()
        .find_map(|line| line.strip_prefix("data: "))
        .expect("a data line");
    let item: serde_json::Value = serde_json::from_str(data).unwrap();
    assert!(item.is_object(), "{item}");
    // Dropping the response goes away: the handler's next send fails.
{%- else %}
{{ format::call(head="let (status, content_type, body) =", verb=r.verb, path=r.sample_path, body=r.sample_body_arg) }}
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(content_type, "application/json");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(json.is_object(), "{body}");
{%- endif %}
}
{%- endfor %}
{%- if announce %}
{%- set event = service.produces | first %}

/// `{{ unary.verb }} {{ unary.path }}`: the example handler announces flow `{{ event.flow }}` through
/// the publisher in the service's state; the event reaches librdkafka's mock cluster.
#[tokio::test]
async fn serving_{{ unary.function }}_announces_{{ event.flow_ident }}() {
    let cluster = MockCluster::new(1).unwrap();
    for &(topic, partitions) in kafka::TOPICS {
        cluster.create_topic(topic, partitions, 1).unwrap();
    }
    let brokers = cluster.bootstrap_servers();
    let server = start_with(&config(&brokers)).await;

{{ format::call(head="let (status, _, body) =", verb=unary.verb, path=unary.sample_path, body=unary.sample_body_arg) }}
    assert_eq!(status, StatusCode::OK, "{body}");

    let wire = &contract::events::{{ event.flow_ident }}::WIRE;
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "{{ service.name }}-announce-test")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[wire.topic]).unwrap();
    let record = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("the announced event within 30 s")
        .unwrap();
    let event = (wire.decode)(record.payload().unwrap_or_default()).unwrap();
    assert_eq!(record.key(), Some((wire.key)(&event).as_bytes()));
}
{%- endif %}
{%- for r in service.api.rest_routes | filter(attribute="kind", value="unary") %}
{%- if r.keyed_flow %}

/// `{{ r.verb }} {{ r.path }}` (flow `{{ r.keyed_flow }}`) takes an
/// `Idempotency-Key`: eight requests sent at once with one key run the handler once, and
/// all get its answer; the key on another request is refused.
#[tokio::test]
async fn {{ r.function }}_runs_once_per_idempotency_key() {
    let server = start().await;
    let url = format!("http://{}", server.addr) + "{{ r.sample_path }}";
    let client = reqwest::Client::new();
    let send = |body: &str| {
        client
            .request(Method::{{ r.verb }}, &url)
            .header(idempotency::HEADER, "key-1")
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_owned())
            .send()
    };
    let mut sends = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (client, url) = (client.clone(), url.clone());
        sends.spawn(async move {
            // Again after a 409 (a copy still running), as a keyed client does.
            loop {
                let response = client
                    .request(Method::{{ r.verb }}, &url)
                    .header(idempotency::HEADER, "key-1")
                    .header(CONTENT_TYPE, "application/json")
                    .body("{}")
                    .send()
                    .await
                    .unwrap();
                if response.status() == StatusCode::CONFLICT {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
                let replayed = response
                    .headers()
                    .contains_key(idempotency::REPLAYED_HEADER);
                return (response.status(), replayed, response.text().await.unwrap());
            }
        });
    }
    let answers = sends.join_all().await;
    let ran = answers.iter().filter(|(_, replayed, _)| !replayed).count();
    assert_eq!(ran, 1, "the handler ran {ran} times: {answers:?}");
    let (status, _, body) = &answers[0];
    assert!(
        answers.iter().all(|a| (&a.0, &a.2) == (status, body)),
        "{answers:?}"
    );

    // The same key on another request is refused; another key runs it.
    let other = send("{ }").await.unwrap();
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let fresh = client
        .request(Method::{{ r.verb }}, &url)
        .header(idempotency::HEADER, "key-2")
        .header(CONTENT_TYPE, "application/json")
        .body("{ }")
        .send()
        .await
        .unwrap();
    assert!(!fresh.headers().contains_key(idempotency::REPLAYED_HEADER));
    server.shutdown.cancel();
}
{%- endif %}
{%- endfor %}
{%- for r in service.api.rest_routes | filter(attribute="bad_path") %}
{%- if loop.first %}

#[tokio::test]
async fn malformed_ids_get_400_with_a_json_error() {
    let server = start().await;
{{ format::call(head="let (status, content_type, body) =", verb=r.verb, path=r.bad_path, body=r.sample_body_arg) }}
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(content_type, "application/json");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        json["error"].as_str().unwrap().contains("invalid argument"),
        "{body}"
    );
}
{%- endif %}
{%- endfor %}
{%- for r in service.api.rest_routes | filter(attribute="sample_body") %}
{%- if loop.first %}

#[tokio::test]
async fn a_body_that_is_not_the_request_gets_400_with_a_json_error() {
    let server = start().await;
{{ format::call(head="let (status, content_type, body) =", verb=r.verb, path=r.sample_path, body='Some("[1, 2")') }}
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(content_type, "application/json");
}
{%- endif %}
{%- endfor %}

#[tokio::test]
async fn unknown_routes_get_404_with_a_json_error() {
    let server = start().await;
    let (status, content_type, body) = get(&server, "/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(content_type, "application/json");
    assert_eq!(body, r#"{"error":"no such route"}"#);
}

{%- set first = service.api.rest_routes | first %}
{%- if first.verb == "PATCH" %}{% set wrong = "PUT" %}{% else %}{% set wrong = "PATCH" %}{% endif %}
#[tokio::test]
async fn wrong_method_gets_405_with_a_json_error() {
    let server = start().await;
{{ format::call(head="let (status, _, body) =", verb=wrong, path=first.sample_path, body="None") }}
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body, r#"{"error":"method not allowed"}"#);
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_with_a_json_error() {
    let server = start().await;
    let addr = server.addr;
    let url = format!("http://{addr}{{ first.sample_path }}");
    let response = reqwest::Client::new()
        .request(Method::{% if first.sample_body %}{{ first.verb }}{% else %}POST{% endif %}, url)
        .body(vec![b'x'; HTTP_BODY_LIMIT_BYTES + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["error"],
        format!("request body is larger than {HTTP_BODY_LIMIT_BYTES} bytes")
    );
}

#[tokio::test]
async fn healthz_is_ok_while_serving() {
    let server = start().await;
    let (status, _, body) = get(&server, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, r#"{"status":"ok"}"#);
}

/// `GET /readyz` once the first readiness checks are done.
async fn readyz(server: &Server) -> (StatusCode, String) {
    for _ in 0..100 {
        let (status, _, body) = get(server, "/readyz").await;
        if body != r#"{"status":"starting"}"# {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("/readyz still starting after 5 s");
}

#[tokio::test]
async fn livez_is_ok_while_serving() {
    let server = start().await;
    let (status, _, body) = get(&server, "/livez").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, r#"{"status":"alive"}"#);
}

/// Requests are counted by route template (an unknown path as
/// `unmatched`, whatever it was), and the text is what Prometheus reads.
#[tokio::test]
async fn metrics_count_requests_by_route_template_and_status() {
    let server = start().await;
    assert_eq!(get(&server, "/livez").await.0, StatusCode::OK);
    let unknown = get(&server, "/no/such/route/0123456789").await;
    assert_eq!(unknown.0, StatusCode::NOT_FOUND);
    let (status, content_type, text) = get(&server, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let livez = r#"{method="GET",route="/livez",status="200"}"#;
    let livez = format!("http_server_request_duration_seconds_count{livez}");
    assert!(text.contains(&livez), "{text}");
    let unmatched = r#"{method="GET",route="unmatched",status="404"}"#;
    assert!(text.contains(unmatched), "{text}");
    assert!(!text.contains("0123456789"), "{text}");
    runtime::telemetry::promtool_accepts(&text).unwrap();
}
{%- if service.produces or service.consumes %}

#[tokio::test]
async fn readyz_stays_200_and_names_kafka_degraded_while_no_broker_answers() {
    let server = start().await;
    let (status, body) = readyz(&server).await;
    // The API works without the broker: every replica stays in service.
    assert_eq!(status, StatusCode::OK, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["status"], "ready");
    assert!(body["degraded"]["kafka"].is_string(), "{body}");
    assert_eq!(get(&server, "/livez").await.0, StatusCode::OK);
}
{%- else %}

#[tokio::test]
async fn readyz_is_ok_once_its_dependencies_answer() {
    let server = start().await;
    assert_eq!(
        readyz(&server).await,
        (StatusCode::OK, r#"{"status":"ready"}"#.to_owned())
    );
}
{%- endif %}
{%- set r = service.api.first_rest %}
{%- if r %}

/// A hook that wants `authorization: Bearer let-me-in`.
fn bearer(headers: &HeaderMap) -> Result<(), Unauthenticated> {
    match headers.get("authorization").map(|v| v.to_str()) {
        Some(Ok("Bearer let-me-in")) => Ok(()),
        _ => Err(Unauthenticated("no valid bearer token".into())),
    }
}

/// The authentication hook sees every request's headers before its handler:
/// 401 without the token, the handler's answer with it; the probes need none.
#[tokio::test]
async fn the_auth_hook_refuses_with_401_and_lets_a_valid_caller_in() {
    let server = start_checked(&config({% if service.produces %}"127.0.0.1:1"{% endif %}), bearer).await;
    let url = format!("http://{}", server.addr) + "{{ r.sample_path }}";
    let client = reqwest::Client::new();
{%- if r.sample_body %}
    let request = || {
        client
            .request(Method::{{ r.verb }}, &url)
            .header(CONTENT_TYPE, "application/json")
            .body("{{ r.sample_body }}")
    };
{%- else %}
    let request = || client.request(Method::{{ r.verb }}, &url);
{%- endif %}

    let refused = request().send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.headers()["www-authenticate"], "Bearer");
    let reason = refused.text().await.unwrap();
    assert_eq!(reason, r#"{"error":"no valid bearer token"}"#);

    let passed = request().header("authorization", "Bearer let-me-in");
    assert_eq!(passed.send().await.unwrap().status(), StatusCode::OK);
    // Unknown routes too: nothing tells a stranger which routes exist.
    let unknown = get(&server, "/no-such-route").await.0;
    assert_eq!(unknown, StatusCode::UNAUTHORIZED);
    // The probes need no credentials.
    assert_eq!(get(&server, "/livez").await.0, StatusCode::OK);
    assert_ne!(get(&server, "/readyz").await.0, StatusCode::UNAUTHORIZED);
}
{%- if service.browser_flows %}

/// A browser on an allowed origin may call the API: its preflight, which
/// carries no credentials, is answered before the authentication hook, and
/// the hook's 401 is readable by the page. Another origin is told nothing.
#[tokio::test]
async fn cors_answers_the_allowed_origins_before_the_auth_hook_and_no_other() {
    let mut config = config({% if service.produces %}"127.0.0.1:1"{% endif %});
    config.cors_allowed_origins = vec!["https://shop.example.com".to_owned()];
    let server = start_checked(&config, bearer).await;
    let url = format!("http://{}", server.addr) + "{{ r.sample_path }}";
    let client = reqwest::Client::new();
    let preflight = |origin: &str| {
        client
            .request(Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "{{ r.verb }}")
            .header("access-control-request-headers", "authorization")
    };

    let allowed = preflight("https://shop.example.com").send().await.unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    let headers = allowed.headers();
    let origin = "https://shop.example.com";
    assert_eq!(headers["access-control-allow-origin"], origin);
    let methods = headers["access-control-allow-methods"].to_str().unwrap();
    assert!(methods.contains("{{ r.verb }}"), "{methods}");
    let other = preflight("https://elsewhere.example").send().await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());

    let refused = client
        .request(Method::{{ r.verb }}, &url)
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.headers()["access-control-allow-origin"], origin);
}
{%- endif %}
{%- endif %}

#[tokio::test]
async fn shutdown_stops_the_server_and_closes_the_port() {
    let server = start().await;
    assert_eq!(get(&server, "/healthz").await.0, StatusCode::OK);
    server.shutdown.cancel();
    tokio::time::timeout(std::time::Duration::from_secs(5), server.task)
        .await
        .expect("server drained within 5 s")
        .unwrap()
        .unwrap();
    assert!(
        reqwest::get(format!("http://{}/healthz", server.addr))
            .await
            .is_err()
    );
}
