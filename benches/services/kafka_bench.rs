//! Kafka throughput of the generated publisher and consumer against raw
//! rdkafka with the same settings, in one process and one run (issue 13
//! item 6). `benches/services/kafka.sh` copies this file into the generated
//! `order-history` service of tests/fixtures/scaffold/kafka-only.yaml as an
//! example, because that crate reaches every side of the comparison: its own
//! publisher (exactly-once `payment-booked`), `orders`' publisher
//! (at-least-once `order-created`, a dev-dependency of its tests), its own
//! consumer of `order-created`, `runtime::kafka` and rdkafka itself.
//!
//! Every measurement talks to librdkafka's in-process mock cluster, so the
//! broker's CPU is in this process too, the same for both sides. Generated
//! and raw alternate within each round (generated first in odd rounds), so
//! a disturbance hits both. Each producer case gets a fresh cluster and one
//! awaited warm-up event (connection, producer id, transactional init)
//! before the clock starts; consumers read one pre-filled topic, each in a
//! fresh group, timed from their first handled record to their last, so the
//! group join is not counted. The last case gives both consumers a handler
//! that waits 1 ms per record, as for a database: the raw loop handles one
//! record after the other, the runtime's lanes handle records of different
//! keys at once (3 000 records, keyed `o-<n>`). The consume-produce case
//! (EOS records) handles each `order-created` record in a transaction that
//! publishes its `payment-booked` event and commits the record's offset:
//! the generated consumer with a handler doing what `order-history`'s
//! example handler does, against a raw loop doing begin, send, await,
//! `send_offsets_to_transaction`, commit, one record after the other.
//!
//! Usage: kafka_bench [ROUNDS=5] [EVENTS=300000] [SERIAL=300] [EOS=300] [CONSUME=90000]
//! Prints one line per round and case, then the median ratios.
//! KBENCH_CASES=3,4 runs only those cases (for perf); KBENCH_RAW_HEADERS=1
//! makes the raw counting consumer read the two headers and the key as the
//! runtime does (the diagnosis of the counting consumer's ratio);
//! KBENCH_RAW_FETCH_BACKOFF_MS sets the raw consumer's
//! `fetch.queue.backoff.ms` (the diagnosis of the ~130k/s cap past 100 000
//! records a partition).

use std::{
    hint::black_box,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use contract::events::{order_created, payment_booked};
use order_history::error::HandlerError;
use rdkafka::{
    ClientConfig, Message as _,
    consumer::{Consumer as _, StreamConsumer},
    message::{Header, Headers as _, OwnedHeaders},
    mocking::MockCluster,
    producer::{DefaultProducerContext, FutureProducer, FutureRecord, Producer as _},
};
use runtime::kafka::{self as rk, CONTENT_TYPE_HEADER, FLOW_HEADER};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::{
    filter::LevelFilter, layer::SubscriberExt as _, reload, util::SubscriberInitExt as _,
};

type Cluster = MockCluster<'static, DefaultProducerContext>;

/// Events queued before their deliveries are awaited: below librdkafka's
/// local queue of 100 000 messages (`queue.buffering.max.messages`), so
/// neither side ever waits for room in it.
const CHUNK: usize = 50_000;

/// What the handler of the "awaiting" case waits for, as if for a database
/// or another service.
const HANDLER_IO: Duration = Duration::from_millis(1);
/// Records read in the "awaiting" case.
const WAITING: usize = 3_000;

/// How long any one measurement may take before the run stops.
const GIVE_UP: Duration = Duration::from_secs(120);

#[tokio::main]
async fn main() {
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .map_or(default, |a| a.parse().expect("a number"))
    };
    let (rounds, events, serial, eos) = (arg(1, 5), arg(2, 300_000), arg(3, 300), arg(4, 300));
    // Records read per consumer measurement: below librdkafka's 100 000
    // records per partition (`queued.min.messages`), past which it stops
    // fetching and looks again only after `fetch.queue.backoff.ms` (1 s),
    // which caps every consumer here at ~130k/s whatever it does.
    let consume = arg(5, 90_000);
    // KBENCH_CASES=0,3 runs only those cases (by their index below), for
    // profiling one of them with perf.
    let only: Option<Vec<usize>> = std::env::var("KBENCH_CASES").ok().map(|cases| {
        cases
            .split(',')
            .map(|c| c.trim().parse().expect("a case index"))
            .collect()
    });
    // The services' subscriber (fmt to stderr), its level switched at run
    // time: off except in the one case that measures logging.
    let (level, log_level) = reload::Layer::new(LevelFilter::OFF);
    tracing_subscriber::registry()
        .with(level)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false),
        )
        .init();
    println!(
        "rounds={rounds} events={events} serial={serial} eos={eos} consume={consume} linger={:?} compression={} \
         partitions(order-created)={}",
        rk::LINGER,
        rk::COMPRESSION,
        order_created::PARTITIONS
    );
    let orders: Vec<_> = (0..events.max(consume))
        .map(|i| order_created::sample(&format!("o-{i}")))
        .collect();
    let payments: Vec<_> = (0..eos)
        .map(|i| payment_booked::sample(&format!("p-{i}")))
        .collect();

    // One topic of `events` order-created records, written once, read by
    // every consumer case in a group of its own.
    let filled = cluster(order_created::TOPIC, order_created::PARTITIONS);
    filled
        .create_topic(payment_booked::TOPIC, payment_booked::PARTITIONS, 1)
        .expect("the consume-produce case's topic");
    let brokers = filled.bootstrap_servers();
    fill(&brokers, &orders[..consume]).await;

    let mut results: Vec<Row> = Vec::new();
    println!(
        "{:>5}  {:<34} {:>12} {:>12} {:>7} {:>9}",
        "round", "case", "generated/s", "raw/s", "ratio", "cpu-ratio"
    );
    for round in 1..=rounds {
        let generated_first = round % 2 == 1;
        let cases: [(&str, Side, Side); 8] = [
            ("publish: queue, at-least-once", Side::Gen, Side::Raw),
            ("publish: awaited, at-least-once", Side::Gen, Side::Raw),
            ("publish: exactly-once (txn each)", Side::Gen, Side::Raw),
            ("consume: runtime, counting", Side::Gen, Side::Raw),
            ("consume: service Dispatcher", Side::Gen, Side::Raw),
            ("consume: service, info! logged", Side::Gen, Side::Raw),
            ("consume: handler awaiting 1 ms", Side::Gen, Side::Raw),
            ("consume-produce: exactly-once", Side::Gen, Side::Raw),
        ];
        for (index, (name, a, b)) in cases.into_iter().enumerate() {
            if !only.as_ref().is_none_or(|only| only.contains(&index)) {
                continue;
            }
            let order = if generated_first { [a, b] } else { [b, a] };
            let mut gen_m = None;
            let mut raw_m = None;
            for side in order {
                let group = format!("bench-{round}-{index}-{side:?}");
                let m = match (index, side) {
                    (0, Side::Gen) => gen_queue(&orders[..events]).await,
                    (0, Side::Raw) => raw_queue(&orders[..events]).await,
                    (1, Side::Gen) => gen_awaited(&orders[..serial]).await,
                    (1, Side::Raw) => raw_awaited(&orders[..serial]).await,
                    (2, Side::Gen) => gen_eos(&payments).await,
                    (2, Side::Raw) => raw_eos(&payments).await,
                    (3, Side::Gen) => gen_consume_counting(&brokers, &group, consume).await,
                    (3 | 4 | 5, Side::Raw) => {
                        raw_consume(&brokers, &group, consume, index != 3, None).await
                    }
                    // A handler waiting on I/O: fewer records, since the
                    // raw loop waits out each one in turn.
                    (6, Side::Gen) => gen_consume_waiting(&brokers, &group, WAITING).await,
                    (6, Side::Raw) => {
                        raw_consume(&brokers, &group, WAITING, false, Some(HANDLER_IO)).await
                    }
                    (4, Side::Gen) => gen_consume_service(&brokers, &group, consume).await,
                    (5, Side::Gen) => {
                        // As a service runs by default (RUST_LOG unset: info),
                        // so the consumer's "event handled" line is written
                        // for every record (stderr; the script sends it to
                        // /dev/null, so only formatting and the write count).
                        log_level
                            .modify(|level| *level = LevelFilter::INFO)
                            .unwrap();
                        let m = gen_consume_service(&brokers, &group, consume).await;
                        log_level.modify(|level| *level = LevelFilter::OFF).unwrap();
                        m
                    }
                    (7, Side::Gen) => gen_consume_produce(&brokers, &group, eos).await,
                    (7, Side::Raw) => raw_consume_produce(&brokers, &group, eos).await,
                    _ => unreachable!(),
                };
                match side {
                    Side::Gen => gen_m = Some(m),
                    Side::Raw => raw_m = Some(m),
                }
            }
            let (g, r) = (gen_m.unwrap(), raw_m.unwrap());
            let row = Row {
                case: name,
                generated: g.rate(),
                raw: r.rate(),
                cpu_ratio: g.per_cpu() / r.per_cpu(),
            };
            println!(
                "{round:>5}  {:<34} {:>12.0} {:>12.0} {:>7.3} {:>9.3}",
                row.case,
                row.generated,
                row.raw,
                row.generated / row.raw,
                row.cpu_ratio
            );
            results.push(row);
        }
    }

    println!("\nmedians over {rounds} rounds (generated/raw, goal >= 0.8):");
    let mut names: Vec<&str> = Vec::new();
    for row in &results {
        if !names.contains(&row.case) {
            names.push(row.case);
        }
    }
    for name in names {
        let rows: Vec<&Row> = results.iter().filter(|r| r.case == name).collect();
        let gen_rate = median(rows.iter().map(|r| r.generated).collect());
        let raw_rate = median(rows.iter().map(|r| r.raw).collect());
        let ratio = median(rows.iter().map(|r| r.generated / r.raw).collect());
        let cpu = median(rows.iter().map(|r| r.cpu_ratio).collect());
        println!(
            "  {name:<34} generated {gen_rate:>9.0}/s  raw {raw_rate:>9.0}/s  \
             ratio {ratio:.3}  per CPU-second {cpu:.3}"
        );
    }
    let alo = median(
        results
            .iter()
            .filter(|r| r.case.starts_with("publish: awaited"))
            .map(|r| r.generated)
            .collect(),
    );
    let exactly = median(
        results
            .iter()
            .filter(|r| r.case.starts_with("publish: exactly-once"))
            .map(|r| r.generated)
            .collect(),
    );
    let queued = median(
        results
            .iter()
            .filter(|r| r.case.starts_with("publish: queue"))
            .map(|r| r.generated)
            .collect(),
    );
    println!(
        "  exactly-once beside at-least-once (generated): {exactly:.0}/s vs {alo:.0}/s awaited \
         one by one ({:.3}), vs {queued:.0}/s queued ({:.4})",
        exactly / alo,
        exactly / queued
    );
    let consumed = |case: &str| {
        median(
            results
                .iter()
                .filter(|r| r.case.starts_with(case))
                .map(|r| r.generated)
                .collect(),
        )
    };
    let (relayed, handled) = (
        consumed("consume-produce"),
        consumed("consume: service Dispatcher"),
    );
    println!(
        "  consume-produce beside consume (generated): {relayed:.0}/s vs {handled:.0}/s ({:.4})",
        relayed / handled
    );
    drop(filled);
}

#[derive(Debug, Clone, Copy)]
enum Side {
    Gen,
    Raw,
}

struct Row {
    case: &'static str,
    generated: f64,
    raw: f64,
    cpu_ratio: f64,
}

/// One measurement: `count` events in `wall`, using `cpu` of this process
/// (the mock broker's threads included).
struct Measured {
    count: usize,
    wall: Duration,
    cpu: Duration,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.count as f64 / self.wall.as_secs_f64()
    }
    fn per_cpu(&self) -> f64 {
        self.count as f64 / self.cpu.as_secs_f64()
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// CPU time of this process's live threads, in nanoseconds by thread id,
/// from /proc/self/task/*/schedstat (exact, where utime/stime count 10 ms
/// ticks).
fn thread_times() -> std::collections::HashMap<u64, u64> {
    let mut times = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .flatten()
    {
        let Ok(tid) = entry.file_name().to_string_lossy().parse::<u64>() else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(entry.path().join("schedstat"))
            && let Some(ns) = stat.split(' ').next().and_then(|n| n.parse().ok())
        {
            times.insert(tid, ns);
        }
    }
    times
}

/// A point to measure CPU time from.
struct CpuMark(std::collections::HashMap<u64, u64>);

fn cpu_mark() -> CpuMark {
    CpuMark(thread_times())
}

impl CpuMark {
    /// CPU used since the mark by the threads alive now (threads started
    /// since count whole; a thread that ended meanwhile is missed, so every
    /// measurement ends before its clients are dropped).
    fn elapsed(&self) -> Duration {
        let ns: u64 = thread_times()
            .into_iter()
            .map(|(tid, now)| now.saturating_sub(self.0.get(&tid).copied().unwrap_or(0)))
            .sum();
        Duration::from_nanos(ns)
    }
}

/// Times `work`, wall clock and CPU.
async fn timed<F: Future<Output = usize>>(work: F) -> Measured {
    let (c0, t0) = (cpu_mark(), Instant::now());
    let count = tokio::time::timeout(GIVE_UP, work)
        .await
        .expect("measurement took too long");
    Measured {
        count,
        wall: t0.elapsed(),
        cpu: c0.elapsed(),
    }
}

fn cluster(topic: &str, partitions: i32) -> Cluster {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic(topic, partitions, 1).expect("topic");
    cluster
        .create_topic(&rk::dead_letter_topic(topic), 1, 1)
        .expect("dead-letter topic");
    cluster
}

/// The ClientConfig `runtime::kafka::Publisher::new` builds from the default
/// `ProducerSettings` of `client_id`, set here by hand as a raw rdkafka user
/// would.
fn raw_producer_config(brokers: &str, client_id: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", client_id)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set(
            "message.timeout.ms",
            rk::DELIVERY_TIMEOUT.as_millis().to_string(),
        )
        .set("linger.ms", rk::LINGER.as_millis().to_string())
        .set("compression.type", rk::COMPRESSION);
    config
}

/// The record a raw user would build for `event`: same topic, key, payload
/// bytes and headers as the generated publisher's.
fn raw_send<E>(
    producer: &FutureProducer,
    wire: &contract::events::Wire<E>,
    key: &str,
    payload: &[u8],
) -> rdkafka::producer::DeliveryFuture {
    let mut record = FutureRecord::to(wire.topic)
        .key(key)
        .payload(payload)
        .headers(
            OwnedHeaders::new()
                .insert(Header {
                    key: FLOW_HEADER,
                    value: Some(wire.flow),
                })
                .insert(Header {
                    key: CONTENT_TYPE_HEADER,
                    value: Some(wire.content_type),
                }),
        );
    loop {
        match producer.send_result(record) {
            Ok(delivery) => return delivery,
            // Not expected below librdkafka's 100 000 queued messages; spin
            // rather than sleep, so that it could only favour the raw side.
            Err((
                rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::error::RDKafkaErrorCode::QueueFull,
                ),
                returned,
            )) => {
                record = returned;
                std::thread::yield_now();
            }
            Err((err, _)) => panic!("raw send: {err}"),
        }
    }
}

async fn raw_delivered(delivery: rdkafka::producer::DeliveryFuture) {
    delivery
        .await
        .expect("delivery canceled")
        .map_err(|(err, _)| err)
        .expect("raw delivery");
}

/// Writes `orders` to the filled topic with a raw producer (same settings).
async fn fill(brokers: &str, orders: &[order_created::Event]) {
    let producer: FutureProducer = raw_producer_config(brokers, "filler").create().unwrap();
    let mut pending = Vec::with_capacity(orders.len());
    for event in orders {
        let (key, payload) = (order_created::key(event), order_created::encode(event));
        pending.push(raw_delivered(raw_send(
            &producer,
            &order_created::WIRE,
            &key,
            &payload,
        )));
        if pending.len() == 50_000 {
            for p in pending.drain(..) {
                p.await;
            }
        }
    }
    for p in pending {
        p.await;
    }
}

// ---- publishing ------------------------------------------------------------

/// `orders::kafka::Publisher::queue` for every event, then every delivery.
async fn gen_queue(orders: &[order_created::Event]) -> Measured {
    let cluster = cluster(order_created::TOPIC, order_created::PARTITIONS);
    let publisher = orders::kafka::Publisher::new(&cluster.bootstrap_servers()).unwrap();
    publisher
        .publish(&order_created::WIRE, &orders[0])
        .await
        .unwrap();
    let m = timed(async {
        for chunk in orders.chunks(CHUNK) {
            let mut pending = Vec::with_capacity(chunk.len());
            for event in chunk {
                pending.push(publisher.queue(&order_created::WIRE, event).await.unwrap());
            }
            for p in pending {
                p.await.unwrap();
            }
        }
        orders.len()
    })
    .await;
    drop(publisher);
    drop(cluster);
    m
}

/// A raw FutureProducer: `send_result` for every event, then every delivery.
async fn raw_queue(orders: &[order_created::Event]) -> Measured {
    let cluster = cluster(order_created::TOPIC, order_created::PARTITIONS);
    let producer: FutureProducer = raw_producer_config(&cluster.bootstrap_servers(), "orders")
        .create()
        .unwrap();
    warm_up_raw(&producer, &orders[0]).await;
    let m = timed(async {
        for chunk in orders.chunks(CHUNK) {
            let mut pending = Vec::with_capacity(chunk.len());
            for event in chunk {
                let (key, payload) = (
                    (order_created::WIRE.key)(event),
                    (order_created::WIRE.encode)(event),
                );
                pending.push(raw_send(&producer, &order_created::WIRE, &key, &payload));
            }
            for p in pending {
                raw_delivered(p).await;
            }
        }
        orders.len()
    })
    .await;
    drop(producer);
    drop(cluster);
    m
}

async fn warm_up_raw(producer: &FutureProducer, event: &order_created::Event) {
    let (key, payload) = (order_created::key(event), order_created::encode(event));
    raw_delivered(raw_send(producer, &order_created::WIRE, &key, &payload)).await;
}

/// `orders::kafka::Publisher::publish`, each awaited before the next.
async fn gen_awaited(orders: &[order_created::Event]) -> Measured {
    let cluster = cluster(order_created::TOPIC, order_created::PARTITIONS);
    let publisher = orders::kafka::Publisher::new(&cluster.bootstrap_servers()).unwrap();
    publisher
        .publish(&order_created::WIRE, &orders[0])
        .await
        .unwrap();
    let m = timed(async {
        for event in orders {
            publisher
                .publish(&order_created::WIRE, event)
                .await
                .unwrap();
        }
        orders.len()
    })
    .await;
    drop(publisher);
    drop(cluster);
    m
}

/// A raw FutureProducer, each send awaited before the next.
async fn raw_awaited(orders: &[order_created::Event]) -> Measured {
    let cluster = cluster(order_created::TOPIC, order_created::PARTITIONS);
    let producer: FutureProducer = raw_producer_config(&cluster.bootstrap_servers(), "orders")
        .create()
        .unwrap();
    warm_up_raw(&producer, &orders[0]).await;
    let m = timed(async {
        for event in orders {
            let (key, payload) = (
                (order_created::WIRE.key)(event),
                (order_created::WIRE.encode)(event),
            );
            raw_delivered(raw_send(&producer, &order_created::WIRE, &key, &payload)).await;
        }
        orders.len()
    })
    .await;
    drop(producer);
    drop(cluster);
    m
}

/// `order_history::kafka::Publisher::publish` of the exactly-once flow: a
/// transaction per event, committed before the next.
async fn gen_eos(payments: &[payment_booked::Event]) -> Measured {
    let cluster = cluster(payment_booked::TOPIC, payment_booked::PARTITIONS);
    let publisher = order_history::kafka::Publisher::new(&cluster.bootstrap_servers()).unwrap();
    publisher
        .publish(&payment_booked::WIRE, &payments[0])
        .await
        .unwrap();
    let m = timed(async {
        for event in payments {
            publisher
                .publish(&payment_booked::WIRE, event)
                .await
                .unwrap();
        }
        payments.len()
    })
    .await;
    // Destroying a transactional producer blocks: not on a worker thread.
    tokio::task::spawn_blocking(move || drop(publisher))
        .await
        .unwrap();
    drop(cluster);
    m
}

/// A raw transactional FutureProducer, one transaction per event: begin,
/// send, await the acknowledgement, commit. (Committing right after the
/// send, leaving the commit to flush the record, was ~10 transactions a
/// second here: that flush waits out 100 ms polls.) The blocking calls run
/// off the worker threads, as the generated publisher runs them.
async fn raw_eos(payments: &[payment_booked::Event]) -> Measured {
    let cluster = cluster(payment_booked::TOPIC, payment_booked::PARTITIONS);
    let mut config = raw_producer_config(
        &cluster.bootstrap_servers(),
        order_history::kafka::CLIENT_ID,
    );
    config.set(
        "transactional.id",
        order_history::config::KAFKA_TRANSACTIONAL_ID_DEFAULT,
    );
    let producer: FutureProducer = config.create().unwrap();
    let one = |producer: FutureProducer, event: &payment_booked::Event| {
        let (key, payload) = (payment_booked::key(event), payment_booked::encode(event));
        async move {
            producer.begin_transaction().unwrap();
            raw_delivered(raw_send(&producer, &payment_booked::WIRE, &key, &payload)).await;
            let p = producer.clone();
            tokio::task::spawn_blocking(move || p.commit_transaction(rk::TRANSACTION_TIMEOUT))
                .await
                .unwrap()
                .unwrap();
        }
    };
    {
        let p = producer.clone();
        tokio::task::spawn_blocking(move || p.init_transactions(rk::TRANSACTION_TIMEOUT))
            .await
            .unwrap()
            .unwrap();
    }
    one(producer.clone(), &payments[0]).await;
    let m = timed(async {
        for event in payments {
            one(producer.clone(), event).await;
        }
        payments.len()
    })
    .await;
    tokio::task::spawn_blocking(move || drop(producer))
        .await
        .unwrap();
    drop(cluster);
    m
}

// ---- consuming -------------------------------------------------------------

/// Counts handled records; notes the first and the `target`-th.
struct Progress {
    target: usize,
    count: AtomicUsize,
    first: Mutex<Option<Instant>>,
    last: Mutex<Option<Instant>>,
    done: Notify,
}

impl Progress {
    fn new(target: usize) -> Arc<Self> {
        Arc::new(Self {
            target,
            count: AtomicUsize::new(0),
            first: Mutex::new(None),
            last: Mutex::new(None),
            done: Notify::new(),
        })
    }

    fn hit(&self) {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        if n == 1 {
            *self.first.lock().unwrap() = Some(Instant::now());
        }
        if n == self.target {
            *self.last.lock().unwrap() = Some(Instant::now());
            self.done.notify_one();
        }
    }

    /// Waits for the `target`-th record; the records from the first to the
    /// last, over the time between them, and the CPU used meanwhile.
    async fn measured(&self, cpu_at_start: CpuMark) -> Measured {
        tokio::time::timeout(GIVE_UP, self.done.notified())
            .await
            .expect("consumer too slow");
        let cpu = cpu_at_start.elapsed();
        let first = self.first.lock().unwrap().unwrap();
        let last = self.last.lock().unwrap().unwrap();
        Measured {
            count: self.target - 1,
            wall: last - first,
            cpu,
        }
    }
}

/// A `runtime::kafka::Dispatch` that only counts.
struct Counting(Arc<Progress>);

impl rk::Dispatch for Counting {
    type Error = runtime::HandlerError;

    async fn dispatch(&self, record: rk::Received<'_>) -> Result<(), Self::Error> {
        black_box(record.payload);
        self.0.hit();
        Ok(())
    }
}

/// A `runtime::kafka::Dispatch` that waits [`HANDLER_IO`], then counts.
struct Waiting(Arc<Progress>);

impl rk::Dispatch for Waiting {
    type Error = runtime::HandlerError;

    async fn dispatch(&self, record: rk::Received<'_>) -> Result<(), Self::Error> {
        black_box(record.payload);
        tokio::time::sleep(HANDLER_IO).await;
        self.0.hit();
        Ok(())
    }
}

/// The service's handlers, replaced by a count: what remains is the
/// generated `Dispatcher` (route by topic, check the content type, decode).
struct CountingHandlers(Arc<Progress>);

impl order_history::kafka::EventHandler for CountingHandlers {
    fn order_created(
        &self,
        event: order_created::Event,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        black_box(event);
        self.0.hit();
        std::future::ready(Ok(()))
    }

    fn transactions(&self) -> Option<&order_history::kafka::Publisher> {
        // Measured like the raw loop: offsets stored after each record, no
        // transactions (the consume-produce case measures those).
        None
    }
}

async fn run_consume<D>(brokers: &str, group: &str, dispatch: D, progress: &Progress) -> Measured
where
    D: rk::Dispatch + 'static,
    D::Error: Sync,
{
    let mut settings = order_history::kafka::consumer_settings(brokers, rk::CONCURRENCY);
    settings.group_id = group.to_owned();
    settings.topics = vec![order_created::TOPIC.to_owned()];
    let shutdown = CancellationToken::new();
    let cpu0 = cpu_mark();
    let task = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { rk::consume(&settings, dispatch, shutdown).await }
    });
    let m = progress.measured(cpu0).await;
    shutdown.cancel();
    task.await.unwrap().unwrap();
    m
}

/// `runtime::kafka::consume` with a counting `Dispatch`.
async fn gen_consume_counting(brokers: &str, group: &str, events: usize) -> Measured {
    let progress = Progress::new(events);
    run_consume(brokers, group, Counting(progress.clone()), &progress).await
}

/// `runtime::kafka::consume` with a handler waiting [`HANDLER_IO`] per record.
async fn gen_consume_waiting(brokers: &str, group: &str, events: usize) -> Measured {
    let progress = Progress::new(events);
    run_consume(brokers, group, Waiting(progress.clone()), &progress).await
}

/// `runtime::kafka::consume` with the service's generated `Dispatcher`.
async fn gen_consume_service(brokers: &str, group: &str, events: usize) -> Measured {
    let progress = Progress::new(events);
    let dispatcher = order_history::kafka::Dispatcher(CountingHandlers(progress.clone()));
    run_consume(brokers, group, dispatcher, &progress).await
}

/// The ClientConfig `runtime::kafka::consume` builds for `group`, set here
/// by hand as a raw rdkafka user would.
fn raw_consumer_config(brokers: &str, group: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("client.id", group)
        .set(
            "session.timeout.ms",
            rk::SESSION_TIMEOUT.as_millis().to_string(),
        )
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false");
    config
}

/// A raw StreamConsumer with the config `runtime::kafka::consume` builds:
/// count (and, with `decode`, check the headers and decode the event as the
/// generated Dispatcher does; with `wait`, wait that long as the handler),
/// then store the offset: one record after the other.
async fn raw_consume(
    brokers: &str,
    group: &str,
    events: usize,
    decode: bool,
    wait: Option<Duration>,
) -> Measured {
    let config = raw_consumer_config(brokers, group);
    // Diagnostic (KBENCH_RAW_FETCH_BACKOFF_MS): librdkafka stops fetching a
    // partition while 100 000 of its records wait unread
    // (`queued.min.messages`) and looks again only after
    // `fetch.queue.backoff.ms` (1 s): what caps consumers at ~130k/s when
    // a topic holds more than that per partition.
    let mut config = config;
    if let Ok(ms) = std::env::var("KBENCH_RAW_FETCH_BACKOFF_MS") {
        config.set("fetch.queue.backoff.ms", ms);
    }
    let consumer: StreamConsumer = config.create().unwrap();
    consumer.subscribe(&[order_created::TOPIC]).unwrap();
    let progress = Progress::new(events);
    let headers_too = std::env::var_os("KBENCH_RAW_HEADERS").is_some();
    let cpu0 = cpu_mark();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn({
        let (progress, shutdown) = (progress.clone(), shutdown.clone());
        async move {
            loop {
                let message = tokio::select! {
                    biased;
                    () = shutdown.cancelled() => break,
                    m = consumer.recv() => m,
                };
                let Ok(message) = message else { continue };
                if decode {
                    let header = |name: &str| {
                        message.headers().and_then(|h| {
                            h.iter()
                                .find(|h| h.key == name)
                                .and_then(|h| h.value)
                                .and_then(|v| std::str::from_utf8(v).ok())
                        })
                    };
                    assert_eq!(header(FLOW_HEADER), Some(order_created::FLOW));
                    assert_eq!(
                        header(CONTENT_TYPE_HEADER),
                        Some(order_created::CONTENT_TYPE)
                    );
                    let event = order_created::decode(message.payload().unwrap_or_default())
                        .expect("an order-created event");
                    black_box(event);
                } else if headers_too {
                    // Diagnostic (KBENCH_RAW_HEADERS=1): what the runtime
                    // reads of every record besides the payload.
                    let header = |name: &str| {
                        message.headers().and_then(|h| {
                            h.iter()
                                .find(|h| h.key == name)
                                .and_then(|h| h.value)
                                .and_then(|v| std::str::from_utf8(v).ok())
                        })
                    };
                    black_box((header(FLOW_HEADER), header(CONTENT_TYPE_HEADER)));
                    black_box(String::from_utf8_lossy(message.key().unwrap_or_default()));
                    black_box(message.payload());
                } else {
                    black_box(message.payload());
                }
                if let Some(wait) = wait {
                    tokio::time::sleep(wait).await;
                }
                progress.hit();
                consumer.store_offset_from_message(&message).unwrap();
            }
            // Close (final commit, leave) off the worker threads, as the
            // generated consumer does.
            tokio::task::spawn_blocking(move || drop(consumer))
                .await
                .unwrap();
        }
    });
    let m = progress.measured(cpu0).await;
    shutdown.cancel();
    task.await.unwrap();
    m
}

// ---- consume-produce ---------------------------------------------------------

/// What `order-history`'s example handler does, counted: each `order-created`
/// event announces a `payment-booked` event of the same key, in the
/// transaction the consumer handles the record in.
struct Relaying {
    publisher: order_history::kafka::Publisher,
    progress: Arc<Progress>,
}

impl order_history::kafka::EventHandler for Relaying {
    async fn order_created(&self, event: order_created::Event) -> Result<(), HandlerError> {
        let key = order_created::key(&event);
        let announced = payment_booked::sample(&key);
        self.publisher
            .publish(&payment_booked::WIRE, &announced)
            .await?;
        self.progress.hit();
        Ok(())
    }

    fn transactions(&self) -> Option<&order_history::kafka::Publisher> {
        Some(&self.publisher)
    }
}

/// The generated consumer and publisher of `order-history`: one transaction
/// per record, its event and its offset committed together.
async fn gen_consume_produce(brokers: &str, group: &str, events: usize) -> Measured {
    let progress = Progress::new(events);
    let relaying = Relaying {
        publisher: order_history::kafka::Publisher::new(brokers).unwrap(),
        progress: progress.clone(),
    };
    let dispatcher = order_history::kafka::Dispatcher(relaying);
    run_consume(brokers, group, dispatcher, &progress).await
}

/// A raw StreamConsumer (`read_committed`, the generated consumer's other
/// settings) and a raw transactional FutureProducer (the generated
/// publisher's settings), one record after the other: begin, send the
/// event, await its acknowledgement, send the record's offset with the
/// group's metadata, commit. The blocking calls run off the worker threads.
async fn raw_consume_produce(brokers: &str, group: &str, events: usize) -> Measured {
    let consumer: StreamConsumer = raw_consumer_config(brokers, group)
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    consumer.subscribe(&[order_created::TOPIC]).unwrap();
    let mut config = raw_producer_config(brokers, order_history::kafka::CLIENT_ID);
    config.set(
        "transactional.id",
        order_history::config::KAFKA_TRANSACTIONAL_ID_DEFAULT,
    );
    let producer: FutureProducer = config.create().unwrap();
    let blocking =
        |producer: &FutureProducer,
         call: Box<dyn FnOnce(&FutureProducer) -> rdkafka::error::KafkaResult<()> + Send>| {
            let producer = producer.clone();
            async move {
                tokio::task::spawn_blocking(move || call(&producer))
                    .await
                    .unwrap()
                    .unwrap();
            }
        };
    blocking(
        &producer,
        Box::new(|p| p.init_transactions(rk::TRANSACTION_TIMEOUT)),
    )
    .await;
    let progress = Progress::new(events);
    let cpu0 = cpu_mark();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn({
        let (progress, shutdown) = (progress.clone(), shutdown.clone());
        async move {
            loop {
                let message = tokio::select! {
                    biased;
                    () = shutdown.cancelled() => break,
                    m = consumer.recv() => m,
                };
                let Ok(message) = message else { continue };
                let event = order_created::decode(message.payload().unwrap_or_default())
                    .expect("an order-created event");
                let key = order_created::key(&event);
                let announced = payment_booked::sample(&key);
                let payload = payment_booked::encode(&announced);
                producer.begin_transaction().unwrap();
                raw_delivered(raw_send(&producer, &payment_booked::WIRE, &key, &payload)).await;
                let mut offsets = rdkafka::TopicPartitionList::new();
                offsets
                    .add_partition_offset(
                        message.topic(),
                        message.partition(),
                        rdkafka::Offset::Offset(message.offset() + 1),
                    )
                    .unwrap();
                let metadata = consumer.group_metadata().unwrap();
                blocking(
                    &producer,
                    Box::new(move |p| {
                        p.send_offsets_to_transaction(&offsets, &metadata, rk::TRANSACTION_TIMEOUT)
                    }),
                )
                .await;
                blocking(
                    &producer,
                    Box::new(|p| p.commit_transaction(rk::TRANSACTION_TIMEOUT)),
                )
                .await;
                progress.hit();
            }
            tokio::task::spawn_blocking(move || drop((consumer, producer)))
                .await
                .unwrap();
        }
    });
    let m = progress.measured(cpu0).await;
    shutdown.cancel();
    task.await.unwrap();
    m
}
