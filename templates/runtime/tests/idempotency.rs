{#- scaffold
when: uses.idempotency
-#}
//! Idempotency keys on real sockets: a counted handler behind
//! [`IdempotencyLayer`] runs once per key however many copies of a request
//! arrive at once, a reused key on another request is refused, and answers
//! that a retry may change are not kept. Against `SQLite` always, and against
//! `PostgreSQL` too when `TEST_POSTGRES_URL` names one (two stores on it stand
//! for two replicas of a service).
#![cfg(feature = "idempotency")]

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
{%- if uses.rest or uses.rest_client %}
    time::Duration,
{%- endif %}
};
{%- if uses.rest or uses.rest_client %}

use axum::{Router, http::StatusCode, routing};
{%- endif %}
use runtime::{
    idempotency::{HEADER, IdempotencyLayer, REPLAYED_HEADER},
    store::Store,
};
use tokio::net::TcpListener;

/// The stores the tests run on: a `SQLite` file of its own, and the
/// `PostgreSQL` database of `TEST_POSTGRES_URL` when set.
async fn stores(name: &str) -> Vec<Store> {
    let file = std::env::temp_dir().join(format!(
        "runtime-idempotency-{name}-{}.db",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&file);
    let mut stores = vec![
        Store::connect(&format!("sqlite://{}", file.display()))
            .await
            .unwrap(),
    ];
    match std::env::var("TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => stores.push(Store::connect(&url).await.unwrap()),
        _ => eprintln!("TEST_POSTGRES_URL unset: {name} runs on SQLite only"),
    }
    stores
}

/// A key no other run of the tests used: `PostgreSQL` keeps the records.
fn fresh_key(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

async fn listen() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}
{%- if uses.rest or uses.rest_client %}

/// Serves `POST /orders` behind an [`IdempotencyLayer`] on `store`; the
/// handler counts its runs in `runs` and answers 201 with them, or 503 while
/// `failing` is set.
async fn serve_rest(store: &Store, runs: Arc<AtomicUsize>, failing: Arc<AtomicUsize>) -> String {
    serve_slow_rest(store, runs, failing, Duration::from_millis(50)).await
}

/// [`serve_rest`] with a handler taking `delay`.
async fn serve_slow_rest(
    store: &Store,
    runs: Arc<AtomicUsize>,
    failing: Arc<AtomicUsize>,
    delay: Duration,
) -> String {
    let handler = move |body: String| async move {
        let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
        // Slow enough that the copies sent with it arrive while it runs.
        tokio::time::sleep(delay).await;
        if failing.load(Ordering::SeqCst) > 0 {
            failing.fetch_sub(1, Ordering::SeqCst);
            return (StatusCode::SERVICE_UNAVAILABLE, format!("run {run} failed"));
        }
        (StatusCode::CREATED, format!("run {run}: {body}"))
    };
    let router = Router::new().route(
        "/orders",
        routing::post(handler).layer(IdempotencyLayer::rest(store, "create-order")),
    );
    let (listener, addr) = listen().await;
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}/orders")
}

/// Sends `body` with `key` to `url`, again after a 409 (a copy still
/// running), as a keyed client does: status, replayed or not, body.
async fn post(url: &str, key: &str, body: &str) -> (StatusCode, bool, String) {
    loop {
        let response = reqwest::Client::new()
            .post(url)
            .header(HEADER, key)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::CONFLICT {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let replayed = response.headers().contains_key(REPLAYED_HEADER);
        return (response.status(), replayed, response.text().await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_copies_of_a_request_run_the_handler_once() {
    for store in stores("concurrent").await {
        let runs = Arc::new(AtomicUsize::new(0));
        let url = serve_rest(&store, Arc::clone(&runs), Arc::default()).await;
        let key = fresh_key("concurrent");
        let mut sends = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let (url, key) = (url.clone(), key.clone());
            sends.spawn(async move { post(&url, &key, "one order").await });
        }
        let answers = sends.join_all().await;
        assert_eq!(runs.load(Ordering::SeqCst), 1, "{answers:?}");
        let first = answers.iter().filter(|(_, replayed, _)| !replayed).count();
        assert_eq!(first, 1, "{answers:?}");
        for (status, _, body) in &answers {
            assert_eq!(*status, StatusCode::CREATED);
            assert_eq!(body, "run 1: one order");
        }
        // Later, a retry still gets the stored answer.
        let retry = post(&url, &key, "one order").await;
        assert_eq!(
            retry,
            (StatusCode::CREATED, true, "run 1: one order".into())
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }
}

#[tokio::test]
async fn a_used_key_on_another_request_is_refused_with_422() {
    for store in stores("mismatch").await {
        let runs = Arc::new(AtomicUsize::new(0));
        let url = serve_rest(&store, Arc::clone(&runs), Arc::default()).await;
        let key = fresh_key("mismatch");
        assert_eq!(post(&url, &key, "one order").await.0, StatusCode::CREATED);
        let (status, _, body) = post(&url, &key, "another order").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("different request"), "{body}");
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }
}

#[tokio::test]
async fn a_failed_answer_is_not_kept_and_the_retry_runs_again() {
    for store in stores("retry").await {
        let runs = Arc::new(AtomicUsize::new(0));
        let failing = Arc::new(AtomicUsize::new(1));
        let url = serve_rest(&store, Arc::clone(&runs), failing).await;
        let key = fresh_key("retry");
        let failed = post(&url, &key, "one order").await;
        assert_eq!(failed.0, StatusCode::SERVICE_UNAVAILABLE);
        let retried = post(&url, &key, "one order").await;
        assert_eq!(
            retried,
            (StatusCode::CREATED, false, "run 2: one order".into())
        );
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}

#[tokio::test]
async fn a_cancelled_request_still_records_its_answer_for_the_retry() {
    let store = stores("cancelled").await.remove(0);
    let runs = Arc::new(AtomicUsize::new(0));
    let delay = Duration::from_millis(300);
    let url = serve_slow_rest(&store, Arc::clone(&runs), Arc::default(), delay).await;
    let key = fresh_key("cancelled");
    // The caller gives up before the handler is done...
    let gone = reqwest::Client::new()
        .post(&url)
        .header(HEADER, &key)
        .body("one order")
        .timeout(Duration::from_millis(50))
        .send()
        .await;
    assert!(gone.is_err(), "{gone:?}");
    // ...and its retry, once the handler finished, gets the answer.
    tokio::time::sleep(delay * 2).await;
    let retry = post(&url, &key, "one order").await;
    assert_eq!(
        retry,
        (StatusCode::CREATED, true, "run 1: one order".into())
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn past_its_budget_a_keyed_request_gets_503_and_its_retry_the_recorded_answer() {
    let store = stores("budget").await.remove(0);
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let handler = move |body: String| async move {
        let run = counted.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
        (StatusCode::CREATED, format!("run {run}: {body}"))
    };
    let keys = IdempotencyLayer::rest_within(&store, "create-order", Duration::from_millis(50));
    let router = Router::new().route("/orders", routing::post(handler).layer(keys));
    let (listener, addr) = listen().await;
    tokio::spawn(async move { axum::serve(listener, router).await });
    let url = format!("http://{addr}/orders");
    let key = fresh_key("budget");
    // The caller is answered at the budget; the handler goes on...
    let first = post(&url, &key, "one order").await;
    assert_eq!(first.0, StatusCode::SERVICE_UNAVAILABLE, "{first:?}");
    assert!(first.2.contains("its 50 ms budget"), "{first:?}");
    // ...and its answer is what the retry gets, without a second run.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let retry = post(&url, &key, "one order").await;
    assert_eq!(
        retry,
        (StatusCode::CREATED, true, "run 1: one order".into())
    );
    // Without a key, past the budget the handler is dropped.
    let response = reqwest::Client::new()
        .post(&url)
        .body("another")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_copy_that_outwaits_the_first_gets_409_with_retry_after() {
    let store = stores("in-flight").await.remove(0);
    let runs = Arc::new(AtomicUsize::new(0));
    let delay = runtime::idempotency::WAIT_FOR_FIRST * 3;
    let url = serve_slow_rest(&store, Arc::clone(&runs), Arc::default(), delay).await;
    let key = fresh_key("in-flight");
    let first = tokio::spawn({
        let (url, key) = (url.clone(), key.clone());
        async move { post(&url, &key, "one order").await }
    });
    // The copy is sent once the first runs, not after a guessed pause: on
    // a loaded machine the first request can take longer to arrive.
    for _ in 0..500 {
        if runs.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the first request runs");
    let copy = reqwest::Client::new()
        .post(&url)
        .header(HEADER, &key)
        .body("one order")
        .send()
        .await
        .unwrap();
    assert_eq!(copy.status(), StatusCode::CONFLICT);
    assert_eq!(copy.headers()["retry-after"], "1");
    assert_eq!(first.await.unwrap().0, StatusCode::CREATED);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn requests_without_a_key_run_every_time() {
    let store = stores("unkeyed").await.remove(0);
    let runs = Arc::new(AtomicUsize::new(0));
    let url = serve_rest(&store, Arc::clone(&runs), Arc::default()).await;
    for _ in 0..2 {
        let response = reqwest::Client::new()
            .post(&url)
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_key_that_is_not_visible_ascii_gets_400() {
    let store = stores("invalid").await.remove(0);
    let runs = Arc::new(AtomicUsize::new(0));
    let url = serve_rest(&store, Arc::clone(&runs), Arc::default()).await;
    let (status, _, body) = post(&url, "two words", "x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("visible ASCII"), "{body}");
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_sharing_a_database_run_a_request_once() {
    let Ok(url) = std::env::var("TEST_POSTGRES_URL") else {
        eprintln!("TEST_POSTGRES_URL unset: no shared database to test");
        return;
    };
    let runs = Arc::new(AtomicUsize::new(0));
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let store = Store::connect(&url).await.unwrap();
        replicas.push(serve_rest(&store, Arc::clone(&runs), Arc::default()).await);
    }
    let key = fresh_key("replicas");
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..16 {
        let (url, key) = (replicas[i % 2].clone(), key.clone());
        sends.spawn(async move { post(&url, &key, "one order").await });
    }
    let answers = sends.join_all().await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "{answers:?}");
    assert!(
        answers.iter().all(|a| a.2 == "run 1: one order"),
        "{answers:?}"
    );
}
{%- endif %}
{%- if uses.grpc_server %}

mod grpc {
    //! The same layer on a tonic service: the standard health service,
    //! counted, with its `Check` method keyed.

    use std::task::{Context, Poll};

    use tonic::{
        Code, Request,
        server::NamedService,
        service::Routes,
        transport::{Channel, Server, server::TcpIncoming},
    };
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    use tower::Service;

    use super::*;
    use runtime::idempotency::Idempotent;

    const CHECK: &[(&str, &str)] = &[("/grpc.health.v1.Health/Check", "check-health")];

    /// A service that counts the requests reaching it.
    #[derive(Clone)]
    struct Counted<S> {
        inner: S,
        calls: Arc<AtomicUsize>,
    }

    impl<S: NamedService> NamedService for Counted<S> {
        const NAME: &'static str = S::NAME;
    }

    impl<S: Service<R>, R> Service<R> for Counted<S> {
        type Response = S::Response;
        type Error = S::Error;
        type Future = S::Future;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
            self.inner.poll_ready(cx)
        }

        fn call(&mut self, request: R) -> S::Future {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.inner.call(request)
        }
    }

    async fn serve(store: &Store, calls: Arc<AtomicUsize>) -> Channel {
        let (_, health) = tonic_health::server::health_reporter();
        let counted = Counted {
            inner: health,
            calls,
        };
        let keyed = Idempotent::new(counted, IdempotencyLayer::grpc(store, CHECK));
        let mut routes = Routes::builder();
        routes.add_service(keyed);
        let (listener, addr) = listen().await;
        let incoming = TcpIncoming::from(listener);
        let routes = routes.routes();
        tokio::spawn(async move {
            Server::builder()
                .add_routes(routes)
                .serve_with_incoming(incoming)
                .await
        });
        Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    fn check(service: &str, key: &str) -> Request<HealthCheckRequest> {
        let mut request = Request::new(HealthCheckRequest {
            service: service.to_owned(),
        });
        request.metadata_mut().insert(HEADER, key.parse().unwrap());
        request
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_copies_of_a_call_reach_the_service_once() {
        for store in stores("grpc").await {
            let calls = Arc::new(AtomicUsize::new(0));
            let channel = serve(&store, Arc::clone(&calls)).await;
            let key = fresh_key("grpc");
            let mut sends = tokio::task::JoinSet::new();
            for _ in 0..16 {
                let mut client = HealthClient::new(channel.clone());
                let key = key.clone();
                sends.spawn(async move {
                    // Again after ABORTED (a copy still running), as a keyed
                    // client does.
                    let response = loop {
                        match client.check(check("", &key)).await {
                            Err(status) if status.code() == Code::Aborted => {
                                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                            }
                            answer => break answer.unwrap(),
                        }
                    };
                    let replayed = response.metadata().contains_key(REPLAYED_HEADER);
                    (response.into_inner().status, replayed)
                });
            }
            let answers = sends.join_all().await;
            assert_eq!(calls.load(Ordering::SeqCst), 1, "{answers:?}");
            assert_eq!(answers.iter().filter(|(_, replayed)| !replayed).count(), 1);
            assert!(answers.iter().all(|a| a.0 == answers[0].0), "{answers:?}");

            // Another request under the key: FAILED_PRECONDITION.
            let mut client = HealthClient::new(channel);
            let refused = client.check(check("other", &key)).await.unwrap_err();
            assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
            assert_eq!(calls.load(Ordering::SeqCst), 1);
        }
    }

    #[tokio::test]
    async fn a_final_error_is_kept_and_unkeyed_calls_pass_through() {
        let store = stores("grpc-error").await.remove(0);
        let calls = Arc::new(AtomicUsize::new(0));
        let channel = serve(&store, Arc::clone(&calls)).await;
        let key = fresh_key("grpc-error");
        let mut client = HealthClient::new(channel);
        // An unknown service is NOT_FOUND: final, so it is kept...
        for _ in 0..2 {
            let err = client.check(check("unknown", &key)).await.unwrap_err();
            assert_eq!(err.code(), Code::NotFound);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // ...while calls without a key pass through every time.
        let mut plain = Request::new(HealthCheckRequest::default());
        plain.metadata_mut().remove(HEADER);
        client.check(plain).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
{%- endif %}
