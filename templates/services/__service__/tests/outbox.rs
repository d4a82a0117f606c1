{#- scaffold
when: service.outbox
-#}
{%- import "_partials/format.rs" as format -%}
{%- set event = service.produces | first -%}
{%- set r = service.outbox_route -%}
{%- set g = service.outbox_grpc -%}
//! The transactional outbox of `{{ service.name }}` with its real binary, against
//! librdkafka's in-process mock cluster. A request commits its change and a
//! `{{ event.flow }}` event while the broker is down, and the binary is killed with
//! SIGKILL before its relay could publish it; restarted with the broker back,
//! it publishes the event, once. A consumer keeping the ids of the events it
//! handled then handles it once, though the record arrives twice. Against a
//! `SQLite` file, and against `PostgreSQL` too when `TEST_POSTGRES_URL` names one.

#![cfg(unix)]

use std::{
    io::Read as _,
    net::{SocketAddr, TcpListener, TcpStream},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use contract::events::{{ event.flow_ident }};
use rdkafka::{
    ClientConfig, Message as _,
    consumer::{BaseConsumer, Consumer as _},
    message::{Header, Headers as _, OwnedHeaders},
    mocking::MockCluster,
    producer::{FutureProducer, FutureRecord},
};
use runtime::{
    HandlerError,
    kafka::{self, EVENT_ID_HEADER},
    outbox::{HandledEvents, Outbox},
    store::Store,
};
use tokio::{runtime::Runtime, sync::mpsc};
use tokio_util::sync::CancellationToken;

/// How long the test waits for the binary or the mock cluster.
const WAIT: Duration = Duration::from_secs(30);
{% include "_partials/process.rs" %}
/// The databases the scenario runs on: a `SQLite` file of its own, and a
/// schema of its own in the `PostgreSQL` database of `TEST_POSTGRES_URL`.
async fn databases() -> Vec<String> {
    let file = std::env::temp_dir().join(format!("outbox-test-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let mut databases = vec![format!("sqlite://{}", file.display())];
    match std::env::var("TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => {
            let schema = "{{ service.ident }}_outbox_test";
            let admin = Store::connect(&url).await.unwrap();
            for statement in [
                format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
                format!("CREATE SCHEMA {schema}"),
            ] {
                sqlx::query(sqlx::AssertSqlSafe(statement))
                    .execute(admin.pool())
                    .await
                    .unwrap();
            }
            admin.close().await;
            let separator = if url.contains('?') { '&' } else { '?' };
            databases.push(format!(
                "{url}{separator}options=-c%20search_path%3D{schema}"
            ));
        }
        _ => eprintln!("TEST_POSTGRES_URL unset: the outbox scenario runs on SQLite only"),
    }
    databases
}

/// The running binary and where it listens.
struct Running {
    child: Child,
{%- if r %}
    http: SocketAddr,
{%- else %}
    grpc: SocketAddr,
{%- endif %}
}

/// Runs the `{{ service.name }}` binary on `database`, producing to `brokers`, and
/// waits until it listens.
fn start(database: &str, brokers: &str) -> Running {
    let http = free_port();
{%- if service.serves_grpc %}
    let grpc = free_port();
{%- endif %}
    let mut child = Command::new(env!("CARGO_BIN_EXE_{{ service.name }}"))
        .env("DATABASE_URL", database)
        .env("KAFKA_BROKERS", brokers)
        .env("HTTP_ADDR", http.to_string())
{%- if service.serves_grpc %}
        .env("GRPC_ADDR", grpc.to_string())
{%- endif %}
        .env("RUST_LOG", "info")
{%- for h in service.api.handlers | filter(attribute="budget_ms") %}
{%- if loop.first %}
        // A debug build on a busy machine misses latency budgets; this test
        // is about the outbox.
{%- endif %}
{{ format::args(indent="        ", head=".env", args=['"' ~ h.budget_env ~ '"', '"5000"'], tail="") }}
{%- endfor %}
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    for addr in [http{% if service.serves_grpc %}, grpc{% endif %}] {
        while TcpStream::connect(addr).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the service exited early: {status}");
            }
            assert!(Instant::now() < deadline, "nothing listens on {addr}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
{%- if r %}
    Running { child, http }
{%- else %}
    Running { child, grpc }
{%- endif %}
}
{%- if r %}

/// `{{ r.verb }} {{ r.path }}`: the example handler commits its change and a
/// `{{ event.flow }}` event to the outbox.
async fn request(running: &Running) {
    let url = format!("http://{}{{ r.sample_path }}", running.http);
{%- if r.sample_body %}
    let response = reqwest::Client::new()
        .request(reqwest::Method::{{ r.verb }}, url)
        .header("content-type", "application/json")
        .body("{{ r.sample_body }}")
        .send()
        .await
        .unwrap();
{%- else %}
    let response = reqwest::Client::new()
        .request(reqwest::Method::{{ r.verb }}, url)
        .send()
        .await
        .unwrap();
{%- endif %}
    let status = response.status();
    assert!(
        status.is_success(),
        "{status}: {}",
        response.text().await.unwrap()
    );
}
{%- else %}

/// `{{ g.service }}/{{ g.method.proto_name }}`: the example handler commits its change and a
/// `{{ event.flow }}` event to the outbox.
async fn request(running: &Running) {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", running.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
{{ format::let(indent="    ", head="let mut client =", value=g.client ~ "::new(channel);") }}
{{ format::let(indent="    ", head="let request =", value=g.method.request ~ "::default();") }}
{{ format::chain(indent="    ", head="", receiver="client", calls=["." ~ g.method.name ~ "(request)", ".await", ".unwrap()"], tail=";") }}
}
{%- endif %}

/// One record of the flow's topic: key, payload, event id.
type Record = (String, Vec<u8>, String);

/// Every record of the topic of `{{ event.flow }}`, read to its end.
fn read_all(brokers: &str) -> Vec<Record> {
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "outbox-reader")
        .create()
        .unwrap();
    let mut assignment = rdkafka::TopicPartitionList::new();
    let mut total = 0;
    for partition in 0..{{ event.flow_ident }}::PARTITIONS {
        let topic = {{ event.flow_ident }}::TOPIC;
        let (low, high) = reader.fetch_watermarks(topic, partition, WAIT).unwrap();
        total += high - low;
        let offset = rdkafka::Offset::Offset(low);
        assignment
            .add_partition_offset(topic, partition, offset)
            .unwrap();
    }
    reader.assign(&assignment).unwrap();
    let mut records = Vec::new();
    let deadline = Instant::now() + WAIT;
    while i64::try_from(records.len()).unwrap() < total {
        assert!(Instant::now() < deadline, "{records:?}");
        // `None`: no record yet, or an event that was not one.
        let Some(message) = reader.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.unwrap();
        let event_id = message.headers().and_then(|headers| {
            headers
                .iter()
                .find(|h| h.key == EVENT_ID_HEADER)
                .and_then(|h| h.value)
        });
        records.push((
            String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
            message.payload().unwrap_or_default().to_vec(),
            String::from_utf8_lossy(event_id.unwrap_or_default()).into_owned(),
        ));
    }
    records
}

/// Reports what became of each record carrying an event id: `handled <id>`,
/// or `skipped <id>` for a copy of an event handled before.
struct Recorder {
    handled: HandledEvents,
    seen: mpsc::UnboundedSender<String>,
}

impl kafka::Dispatch for Recorder {
    type Error = HandlerError;

    async fn dispatch(&self, record: kafka::Received<'_>) -> Result<(), HandlerError> {
        let event_id = record.event_id.unwrap_or_default();
        self.seen.send(format!("handled {event_id}")).unwrap();
        Ok(())
    }

    fn deduplication(&self) -> Option<&dyn kafka::Deduplication> {
        Some(self)
    }
}

impl kafka::Deduplication for Recorder {
    fn handled_before<'a>(
        &'a self,
        group: &'a str,
        event_id: &'a str,
    ) -> kafka::BoxFuture<'a, anyhow::Result<bool>> {
        Box::pin(async move {
            let before = self.handled.handled_before(group, event_id).await?;
            if before {
                self.seen.send(format!("skipped {event_id}")).unwrap();
            }
            Ok(before)
        })
    }

    fn remember<'a>(
        &'a self,
        group: &'a str,
        event_id: &'a str,
    ) -> kafka::BoxFuture<'a, anyhow::Result<()>> {
        self.handled.remember(group, event_id)
    }
}

/// Sends the copy of `record` a relay sends when it stopped between the
/// broker's acknowledgement and deleting the row.
async fn send_copy(brokers: &str, record: &Record) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let (key, payload, event_id) = record;
    let id = Header {
        key: EVENT_ID_HEADER,
        value: Some(event_id.as_str()),
    };
    let copy = FutureRecord::to({{ event.flow_ident }}::TOPIC)
        .key(key)
        .payload(payload)
        .headers(OwnedHeaders::new().insert(id));
    producer.send(copy, WAIT).await.unwrap();
}

/// What a consumer keeping handled ids in `store` does with the `count`
/// records of the topic, in the order it decides.
async fn decisions(brokers: &str, store: &Store, count: usize) -> Vec<String> {
    let (seen, mut decided) = mpsc::unbounded_channel();
    let recorder = Recorder {
        handled: HandledEvents::new(store),
        seen,
    };
    let topics = [{{ event.flow_ident }}::TOPIC];
    let settings = kafka::ConsumerSettings::new(brokers, "outbox-test", &topics);
    let stop = CancellationToken::new();
    let consumer = tokio::spawn({
        let stop = stop.clone();
        async move { kafka::consume(&settings, recorder, stop).await }
    });
    let mut decisions = Vec::new();
    while decisions.len() < count {
        let next = tokio::time::timeout(WAIT, decided.recv()).await;
        decisions.push(next.expect("a record within 30 s").unwrap());
    }
    stop.cancel();
    consumer.await.unwrap().unwrap();
    decisions
}

/// The scenario on `database`.
fn killed_then_restarted(runtime: &Runtime, database: &str) {
    let cluster = MockCluster::new(1).unwrap();
    for &(topic, partitions) in {{ service.ident }}::kafka::TOPICS {
        cluster.create_topic(topic, partitions, 1).unwrap();
    }
    let brokers = cluster.bootstrap_servers();
    let store = runtime.block_on(Store::connect(database)).unwrap();
    let outbox = Outbox::new(&store);
    let backlog = || runtime.block_on(outbox.backlog()).unwrap();

    // The broker down: the relay cannot publish what the request commits.
    cluster.broker_down(1).unwrap();
    let mut first = start(database, &brokers);
    let _logs = capture_stderr(&mut first.child);
    runtime.block_on(request(&first));
    assert_eq!(backlog(), 1, "{database}: the event waits in the outbox");
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    assert_eq!(backlog(), 1, "{database}: the row outlived the process");

    // The broker back and the binary restarted: the relay publishes the row.
    cluster.broker_up(1).unwrap();
    let mut second = start(database, &brokers);
    let logs = capture_stderr(&mut second.child);
    let deadline = Instant::now() + WAIT;
    while backlog() > 0 {
        assert!(Instant::now() < deadline, "{database}: the row still waits");
        std::thread::sleep(Duration::from_millis(50));
    }
    sigterm(&second.child);
    let drain = {{ service.ident }}::config::DRAIN_TIMEOUT;
    let exit = exit_status(&mut second.child, Instant::now() + drain + WAIT);
    assert!(exit.success(), "{exit}: {}", logs.join().unwrap());
    let records = read_all(&brokers);
    assert_eq!(records.len(), 1, "{database}: published once: {records:?}");
    assert!(!records[0].2.is_empty(), "the record names its event");

    runtime.block_on(send_copy(&brokers, &records[0]));
    let decided = runtime.block_on(decisions(&brokers, &store, 2));
    let event_id = &records[0].2;
    assert_eq!(
        decided,
        [format!("handled {event_id}"), format!("skipped {event_id}")],
        "{database}: handled once"
    );
    runtime.block_on(store.close());
}

#[test]
fn an_event_committed_before_a_sigkill_is_published_after_the_restart_and_handled_once() {
    let runtime = Runtime::new().unwrap();
    for database in runtime.block_on(databases()) {
        killed_then_restarted(&runtime, &database);
        if let Some(file) = database.strip_prefix("sqlite://") {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{file}{suffix}"));
            }
        }
    }
}
