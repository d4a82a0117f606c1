{#- scaffold
when: uses.kafka
-#}
//! The runtime's consumer handles events of different keys at once and the
//! events of one key in order, also across a rebalance: against librdkafka's
//! mock cluster, with a handler that takes its time. Each scenario prints
//! its counts (`cargo test -- --nocapture` shows them).
#![cfg(feature = "kafka")]

mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use runtime::kafka::{self, ConsumerSettings, Dispatch, Received};
use support::{GROUP, TOPIC, WAIT, cluster_with, payload, publisher, record};
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;

/// An event handled: by which consumer, its key and its number.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Handled {
    consumer: &'static str,
    key: String,
    number: u32,
}

/// A handler's error; the handler here never fails.
#[derive(Debug)]
struct Never;

impl fmt::Display for Never {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("never")
    }
}

impl kafka::HandlingError for Never {
    fn is_retryable(&self) -> bool {
        false
    }
}

/// A handler that takes `delay` over each event, counting the events in
/// hand at once.
struct Slow {
    consumer: &'static str,
    delay: Duration,
    in_hand: Arc<AtomicUsize>,
    most_in_hand: Arc<AtomicUsize>,
    handled: mpsc::UnboundedSender<Handled>,
}

impl Dispatch for Slow {
    type Error = Never;

    async fn dispatch(&self, record: Received<'_>) -> Result<(), Never> {
        let now = self.in_hand.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_hand.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        let id = std::str::from_utf8(record.payload).unwrap();
        let (key, number) = id.trim_start_matches("id=").split_once('/').unwrap();
        self.handled
            .send(Handled {
                consumer: self.consumer,
                key: key.to_owned(),
                number: number.parse().unwrap(),
            })
            .unwrap();
        self.in_hand.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A consumer of [`GROUP`] running on a spawned task.
struct Running {
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
    most_in_hand: Arc<AtomicUsize>,
}

impl Running {
    async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the consumer stops")
            .unwrap()
            .unwrap();
    }
}

fn start(
    settings: &ConsumerSettings,
    consumer: &'static str,
    delay: Duration,
    handled: &mpsc::UnboundedSender<Handled>,
) -> Running {
    let most_in_hand = Arc::new(AtomicUsize::new(0));
    let slow = Slow {
        consumer,
        delay,
        in_hand: Arc::new(AtomicUsize::new(0)),
        most_in_hand: Arc::clone(&most_in_hand),
        handled: handled.clone(),
    };
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let (settings, stop) = (settings.clone(), stop.clone());
        async move { kafka::consume(&settings, slow, stop).await }
    });
    Running {
        stop,
        task,
        most_in_hand,
    }
}

/// Publishes events `numbers` of each of `keys`, round-robin over the keys;
/// an event's payload names its key and number.
async fn publish(brokers: &str, keys: &[String], numbers: std::ops::Range<u32>) {
    let publisher = publisher(brokers);
    for number in numbers {
        for key in keys {
            let payload = payload(&format!("{key}/{number}"));
            publisher
                .publish(record(key, &payload, false))
                .await
                .unwrap();
        }
    }
}

/// Reads `count` handled events.
async fn next(handled: &mut mpsc::UnboundedReceiver<Handled>, count: usize) -> Vec<Handled> {
    let mut seen = Vec::new();
    while seen.len() < count {
        let next = tokio::time::timeout(WAIT, handled.recv()).await;
        let next = next.unwrap_or_else(|_| panic!("only {} of {count} events handled", seen.len()));
        seen.push(next.unwrap());
    }
    seen
}

/// Checks that every key's events were handled once each, in order.
fn assert_once_each_in_order(handled: &[Handled], keys: &[String], numbers: u32) {
    let mut by_key: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for event in handled {
        by_key.entry(&event.key).or_default().push(event.number);
    }
    for key in keys {
        let expected: Vec<u32> = (0..numbers).collect();
        assert_eq!(by_key[key.as_str()], expected, "key {key}");
    }
}

fn keys(count: usize) -> Vec<String> {
    (0..count).map(|n| format!("k{n}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_different_keys_are_handled_at_once_and_those_of_one_key_in_order() {
    const NUMBERS: u32 = 10;
    // One partition: the concurrency comes from the keys, not partitions.
    let cluster = cluster_with(1);
    let brokers = cluster.bootstrap_servers();
    let keys = keys(8);
    publish(&brokers, &keys, 0..NUMBERS).await;

    let (sender, mut handled) = mpsc::unbounded_channel();
    let settings = ConsumerSettings::new(&brokers, GROUP, &[TOPIC]);
    let consumer = start(&settings, "one", Duration::from_millis(20), &sender);
    let seen = next(&mut handled, keys.len() * NUMBERS as usize).await;
    let most_in_hand = consumer.most_in_hand.load(Ordering::SeqCst);
    consumer.stop().await;
    println!(
        "consumer lanes: keys={} events={} lanes={} most_in_hand={most_in_hand}",
        keys.len(),
        seen.len(),
        kafka::CONCURRENCY
    );
    assert_once_each_in_order(&seen, &keys, NUMBERS);
    assert!(most_in_hand > 1, "events of different keys overlapped");
    assert!(most_in_hand <= kafka::CONCURRENCY);

    // One lane: one event at a time, in partition order.
    let cluster = cluster_with(1);
    let brokers = cluster.bootstrap_servers();
    publish(&brokers, &keys, 0..2).await;
    let settings = ConsumerSettings::new(&brokers, GROUP, &[TOPIC]).concurrency(1);
    let consumer = start(&settings, "one", Duration::from_millis(5), &sender);
    let seen = next(&mut handled, keys.len() * 2).await;
    let most_in_hand = consumer.most_in_hand.load(Ordering::SeqCst);
    consumer.stop().await;
    assert_eq!(most_in_hand, 1);
    let order: Vec<(String, u32)> = seen.into_iter().map(|h| (h.key, h.number)).collect();
    let published: Vec<(String, u32)> = (0..2)
        .flat_map(|number| keys.iter().map(move |key| (key.clone(), number)))
        .collect();
    assert_eq!(order, published);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "flaky on the mock cluster: about one run in eight, a member misses the mock's 9 s rejoin window and its partitions are handed over uncommitted; run with --ignored"]
async fn a_replica_joining_takes_partitions_over_without_an_event_handled_twice_or_out_of_order() {
    const BEFORE: u32 = 10;
    let cluster = cluster_with(4);
    let brokers = cluster.bootstrap_servers();
    let keys = keys(8);
    publish(&brokers, &keys, 0..BEFORE).await;

    let (sender, mut handled) = mpsc::unbounded_channel();
    let mut settings = ConsumerSettings::new(&brokers, GROUP, &[TOPIC]);
    // Four events queued per lane at most: the mock gives members only the
    // session timeout less 1 s to rejoin during a rebalance
    // (`rdkafka_mock_cgrp.c`, 9 s here), where a broker gives them
    // `max.poll.interval.ms` (5 minutes), and the first replica must finish
    // the events of the partitions it hands over within it.
    settings.max_in_flight = 4 * settings.concurrency;
    // A key's events come faster (a round every 200 ms or so) than its lane
    // handles them (250 ms each), so that the first replica has a backlog
    // when its partitions are taken.
    let delay = Duration::from_millis(250);
    let first = start(&settings, "first", delay, &sender);
    let mut seen = next(&mut handled, keys.len()).await;
    // A second replica joins while the first has events queued and in hand:
    // the partitions it takes are handed over once those are finished.
    // Events keep coming until it handles some, then five rounds more.
    let second = start(&settings, "second", delay, &sender);
    let mut published = BEFORE;
    while !seen.iter().any(|h| h.consumer == "second") {
        assert!(
            published < BEFORE + 300,
            "the second replica got no partition"
        );
        publish(&brokers, &keys, published..published + 1).await;
        published += 1;
        tokio::time::sleep(Duration::from_millis(150)).await;
        while let Ok(event) = handled.try_recv() {
            seen.push(event);
        }
    }
    publish(&brokers, &keys, published..published + 5).await;
    published += 5;
    let total = keys.len() * published as usize;
    seen.extend(next(&mut handled, total - seen.len()).await);
    let extra = tokio::time::timeout(Duration::from_secs(1), handled.recv()).await;
    first.stop().await;
    second.stop().await;

    let by_second = seen.iter().filter(|h| h.consumer == "second").count();
    let keys_moved: BTreeSet<&str> = seen
        .iter()
        .filter(|h| h.consumer == "second")
        .map(|h| h.key.as_str())
        .collect();
    let distinct: BTreeSet<(&str, u32)> = seen.iter().map(|h| (h.key.as_str(), h.number)).collect();
    println!(
        "consumer rebalance: events={} handled_by_first={} handled_by_second={by_second} keys_moved={} handled_twice={}",
        seen.len(),
        seen.len() - by_second,
        keys_moved.len(),
        seen.len() - distinct.len() + usize::from(extra.is_ok())
    );
    assert!(extra.is_err(), "an event handled twice: {extra:?}");
    assert_once_each_in_order(&seen, &keys, published);
}
