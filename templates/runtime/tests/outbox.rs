{#- scaffold
when: uses.outbox
-#}
//! The transactional outbox against librdkafka's in-process mock cluster:
//! what a transaction commits is published in order and what it rolls back
//! never is; rows wait while the broker is down for longer than a delivery
//! timeout; two relays sharing one `PostgreSQL` outbox publish every event
//! and keep each key's order; and a consumer keeping the ids it handled
//! handles each copy of an event once. Against `SQLite` always, and against
//! `PostgreSQL` too when `TEST_POSTGRES_URL` names one (each test in a schema
//! of its own, so that no relay sees another test's rows).
#![cfg(feature = "outbox")]

mod support;

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use rdkafka::{
    ClientConfig, Message as _,
    consumer::{BaseConsumer, Consumer as _},
};
use runtime::{
    kafka::{
        BoxFuture, Deduplication, Dispatch, EVENT_ID_HEADER, ProducerSettings, Publisher, Received,
        consume,
    },
    outbox::{HandledEvents, Outbox, Relay},
    store::Store,
};
use support::{Cluster, TOPIC, TestError, WAIT, cluster_with, headers, payload, record};
use tokio_util::sync::CancellationToken;

/// One event read back from the topic.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Read {
    key: String,
    id: String,
    event_id: String,
}

/// The stores a test runs on: a `SQLite` file of its own, and a schema of
/// its own in the `PostgreSQL` database of `TEST_POSTGRES_URL` when set.
async fn urls(name: &str) -> Vec<String> {
    let file =
        std::env::temp_dir().join(format!("runtime-outbox-{name}-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let mut urls = vec![format!("sqlite://{}", file.display())];
    match std::env::var("TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => urls.push(postgres_schema(&url, name).await),
        _ => eprintln!("TEST_POSTGRES_URL unset: {name} runs on SQLite only"),
    }
    urls
}

/// Removes the `SQLite` file `url` names, if it names one.
fn forget(url: &str) {
    if let Some(file) = url.strip_prefix("sqlite://") {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{file}{suffix}"));
        }
    }
}

/// `url` with its own, empty schema `outbox_<name>`.
async fn postgres_schema(url: &str, name: &str) -> String {
    let schema = format!("outbox_{}", name.replace('-', "_"));
    let admin = Store::connect(url).await.unwrap();
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
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

/// The producer settings of the tests' relays.
fn settings(brokers: &str) -> ProducerSettings {
    ProducerSettings::new(brokers, "outbox-test")
}

/// Adds the test event of each id (keyed by `key_of` it) to `outbox`, each
/// in a transaction of its own, committed.
async fn add(outbox: &Outbox, ids: &[String], key_of: impl Fn(&str) -> String) -> Vec<String> {
    let mut event_ids = Vec::new();
    for id in ids {
        let mut tx = outbox.begin().await.unwrap();
        let (key, payload) = (key_of(id), payload(id));
        event_ids.push(
            outbox
                .add(&mut tx, record(&key, &payload, false))
                .await
                .unwrap(),
        );
        outbox.commit(tx).await.unwrap();
    }
    event_ids
}

/// Runs `relay` on a spawned task until the returned token is cancelled.
fn spawn(relay: Relay) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(relay.run(shutdown.clone()));
    (shutdown, task)
}

/// Waits until `outbox` has no row left; panics after [`WAIT`].
async fn drained(outbox: &Outbox) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = outbox.backlog().await.unwrap();
        if left == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{left} rows still wait"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every record of [`TOPIC`]'s `partitions` partitions, each partition in
/// offset order, read to its end.
async fn read_all(brokers: &str, partitions: i32) -> Vec<Vec<Read>> {
    let brokers = brokers.to_owned();
    tokio::task::spawn_blocking(move || {
        let reader: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", "outbox-reader")
            .create()
            .unwrap();
        let mut assignment = rdkafka::TopicPartitionList::new();
        let mut total = 0;
        for partition in 0..partitions {
            let (low, high) = reader.fetch_watermarks(TOPIC, partition, WAIT).unwrap();
            total += usize::try_from(high - low).unwrap();
            assignment
                .add_partition_offset(TOPIC, partition, rdkafka::Offset::Offset(low))
                .unwrap();
        }
        reader.assign(&assignment).unwrap();
        let mut records = vec![Vec::new(); usize::try_from(partitions).unwrap()];
        let deadline = std::time::Instant::now() + WAIT;
        while records.iter().map(Vec::len).sum::<usize>() < total {
            assert!(std::time::Instant::now() < deadline, "{records:?}");
            // `None`: no record yet, or an event that was not one.
            let Some(message) = reader.poll(Duration::from_millis(100)) else {
                continue;
            };
            let message = message.unwrap();
            let text = String::from_utf8_lossy(message.payload().unwrap_or_default());
            records[usize::try_from(message.partition()).unwrap()].push(Read {
                key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
                id: text.trim_start_matches("id=").to_owned(),
                event_id: headers(&message)
                    .remove(EVENT_ID_HEADER)
                    .unwrap_or_default(),
            });
        }
        records
    })
    .await
    .unwrap()
}

/// The ids of `records` of `key`, in the order of their first copies.
fn first_arrivals(records: &[Read], key: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    records
        .iter()
        .filter(|r| r.key == key && seen.insert(r.event_id.clone()))
        .map(|r| r.id.clone())
        .collect()
}

#[tokio::test]
async fn committed_events_are_published_in_order_and_rolled_back_ones_never() {
    for url in urls("committed").await {
        let cluster: Cluster = cluster_with(3);
        let brokers = cluster.bootstrap_servers();
        let store = Store::connect(&url).await.unwrap();
        let outbox = Outbox::new(&store);
        let keys = ["k-0", "k-1", "k-2"];
        let ids = support::ids(0..30);
        let key_of = |id: &str| keys[id[2..].parse::<usize>().unwrap() % 3].to_owned();
        // Added before the relay starts, and while it runs.
        let before = add(&outbox, &ids[..15], key_of).await;
        let (shutdown, task) = spawn(outbox.relay(&settings(&brokers)).unwrap());
        let after = add(&outbox, &ids[15..], key_of).await;
        let mut rolled_back = outbox.begin().await.unwrap();
        let never = payload("never");
        outbox
            .add(&mut rolled_back, record("k-0", &never, false))
            .await
            .unwrap();
        rolled_back.rollback().await.unwrap();
        drained(&outbox).await;
        shutdown.cancel();
        task.await.unwrap();

        let records: Vec<Read> = read_all(&brokers, 3).await.concat();
        assert_eq!(records.len(), ids.len(), "{url}: {records:?}");
        for key in keys {
            let sent: Vec<String> = ids.iter().filter(|id| key_of(id) == key).cloned().collect();
            let got: Vec<String> = records
                .iter()
                .filter(|r| r.key == key)
                .map(|r| r.id.clone())
                .collect();
            assert_eq!(got, sent, "{url}: key {key} out of order");
        }
        let event_ids: HashSet<&String> = before.iter().chain(&after).collect();
        let read_ids: HashSet<&String> = records.iter().map(|r| &r.event_id).collect();
        assert_eq!(read_ids, event_ids, "{url}: every record names its event");
        store.close().await;
        forget(&url);
    }
}

#[tokio::test]
async fn rows_wait_while_the_broker_is_down_longer_than_the_delivery_timeout() {
    for url in urls("broker-down").await {
        let cluster: Cluster = cluster_with(1);
        let brokers = cluster.bootstrap_servers();
        let store = Store::connect(&url).await.unwrap();
        let outbox = Outbox::new(&store);
        let (shutdown, task) = spawn(outbox.relay(&settings(&brokers)).unwrap());
        cluster.broker_down(1).unwrap();

        // A publisher with a 500 ms delivery timeout gives up meanwhile.
        let timeout = Duration::from_millis(500);
        let direct = Publisher::new(&settings(&brokers).delivery_timeout(timeout)).unwrap();
        let lost = payload("direct");
        let failed = direct.publish(record("k", &lost, false)).await;
        assert!(failed.is_err(), "{url}: the broker is down: {failed:?}");

        let ids = support::ids(0..5);
        add(&outbox, &ids, |_| "k".to_owned()).await;
        tokio::time::sleep(timeout * 3).await;
        assert_eq!(outbox.backlog().await.unwrap(), 5, "{url}: the rows wait");

        cluster.broker_up(1).unwrap();
        drained(&outbox).await;
        shutdown.cancel();
        task.await.unwrap();
        let records = read_all(&brokers, 1).await.concat();
        assert_eq!(first_arrivals(&records, "k"), ids, "{url}: {records:?}");
        store.close().await;
        forget(&url);
    }
}

#[tokio::test]
async fn two_relays_sharing_postgres_publish_every_event_in_each_keys_order() {
    let Some(url) = urls("two-relays").await.into_iter().nth(1) else {
        return;
    };
    let cluster: Cluster = cluster_with(2);
    let brokers = cluster.bootstrap_servers();
    // Two replicas: a store, an outbox and a relay each, on one database.
    let (first, second) = (
        Store::connect(&url).await.unwrap(),
        Store::connect(&url).await.unwrap(),
    );
    let (a, b) = (Outbox::new(&first), Outbox::new(&second));
    let (stop_a, task_a) = spawn(a.relay(&settings(&brokers)).unwrap());
    let (stop_b, task_b) = spawn(b.relay(&settings(&brokers)).unwrap());
    let keys = ["k-0", "k-1", "k-2", "k-3"];
    let ids = support::ids(0..200);
    let key_of = |id: &str| keys[id[2..].parse::<usize>().unwrap() % 4].to_owned();
    // Both replicas add events; the first relay stops halfway.
    let (half, rest) = ids.split_at(100);
    let (added_a, added_b) =
        tokio::join!(add(&a, &half[..50], key_of), add(&b, &half[50..], key_of));
    stop_a.cancel();
    task_a.await.unwrap();
    let added_c = add(&b, rest, key_of).await;
    drained(&b).await;
    stop_b.cancel();
    task_b.await.unwrap();

    let records = read_all(&brokers, 2).await.concat();
    let published: HashSet<&String> = records.iter().map(|r| &r.event_id).collect();
    let added: HashSet<&String> = added_a.iter().chain(&added_b).chain(&added_c).collect();
    assert_eq!(published, added, "every event published");
    for key in keys {
        let arrived = first_arrivals(&records, key);
        let mut sorted = arrived.clone();
        sorted.sort_by_key(|id| id[2..].parse::<u32>().unwrap());
        // Events of one key added by one replica, one after another, keep
        // their order.
        let by_replica = |range: &[String]| -> Vec<String> {
            arrived
                .iter()
                .filter(|id| range.contains(id))
                .cloned()
                .collect()
        };
        for range in [&half[..50], &half[50..], rest] {
            let expected: Vec<String> = range
                .iter()
                .filter(|id| key_of(id) == key)
                .cloned()
                .collect();
            assert_eq!(by_replica(range), expected, "key {key} out of order");
        }
    }
    println!(
        "two relays on PostgreSQL: added={} published={} copies={}",
        added.len(),
        records.len(),
        records.len() - published.len()
    );
    first.close().await;
    second.close().await;
}

/// Counts the copies [`HandledEvents`] says were handled before.
struct Counting {
    handled: HandledEvents,
    skipped: AtomicUsize,
}

impl Deduplication for Counting {
    fn handled_before<'a>(
        &'a self,
        group: &'a str,
        event_id: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<bool>> {
        Box::pin(async move {
            let before = self.handled.handled_before(group, event_id).await?;
            if before {
                self.skipped.fetch_add(1, Ordering::SeqCst);
            }
            Ok(before)
        })
    }

    fn remember<'a>(
        &'a self,
        group: &'a str,
        event_id: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        self.handled.remember(group, event_id)
    }
}

/// Counts the events it handles, by id, and keeps their ids.
struct Deduplicated {
    seen: Arc<Counting>,
    handled: Arc<std::sync::Mutex<HashMap<String, usize>>>,
}

impl Dispatch for Deduplicated {
    type Error = TestError;

    async fn dispatch(&self, record: Received<'_>) -> Result<(), TestError> {
        let id = String::from_utf8_lossy(record.payload).replace("id=", "");
        *self.handled.lock().unwrap().entry(id).or_default() += 1;
        Ok(())
    }

    fn deduplication(&self) -> Option<&dyn Deduplication> {
        Some(self.seen.as_ref())
    }
}

#[tokio::test]
async fn a_consumer_keeping_handled_ids_handles_each_copy_of_an_event_once() {
    for url in urls("copies").await {
        let cluster: Cluster = cluster_with(1);
        let brokers = cluster.bootstrap_servers();
        let store = Store::connect(&url).await.unwrap();
        let outbox = Outbox::new(&store);
        let ids = support::ids(0..10);
        let event_ids = add(&outbox, &ids, str::to_owned).await;
        let (shutdown, task) = spawn(outbox.relay(&settings(&brokers)).unwrap());
        drained(&outbox).await;
        shutdown.cancel();
        task.await.unwrap();
        // The copies a relay sends again when it stopped after the broker's
        // acknowledgement and before deleting the rows: the first five.
        let publisher = Publisher::new(&settings(&brokers)).unwrap();
        for (id, event_id) in ids.iter().zip(&event_ids).take(5) {
            let payload = payload(id);
            let copy = record(id, &payload, false);
            let pending = publisher.queue_identified(copy, event_id).await.unwrap();
            pending.await.unwrap();
        }

        let seen = Arc::new(Counting {
            handled: HandledEvents::new(&store),
            skipped: AtomicUsize::new(0),
        });
        let handled = Arc::new(std::sync::Mutex::new(HashMap::new()));
        let dispatch = Deduplicated {
            seen: Arc::clone(&seen),
            handled: Arc::clone(&handled),
        };
        let settings = support::settings(&brokers);
        let stop = CancellationToken::new();
        let consumer = tokio::spawn({
            let stop = stop.clone();
            async move { consume(&settings, dispatch, stop).await }
        });
        let deadline = tokio::time::Instant::now() + WAIT;
        while seen.skipped.load(Ordering::SeqCst) < 5 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{url}: handled {:?}",
                handled.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stop.cancel();
        consumer.await.unwrap().unwrap();
        let handled = handled.lock().unwrap().clone();
        assert_eq!(handled.len(), ids.len(), "{url}: {handled:?}");
        assert!(
            handled.values().all(|&n| n == 1),
            "{url}: each event handled once: {handled:?}"
        );
        store.close().await;
        forget(&url);
    }
}
