{#- scaffold
when: uses.kafka
-#}
//! The runtime's consumer under faults, against librdkafka's in-process mock
//! cluster and the runtime's own producer: stopped between handling an event
//! and storing its offset, poison events in the middle of a partition, and a
//! dead-letter topic that cannot be written. Each scenario prints its counts
//! (`cargo test -- --nocapture` shows them).
#![cfg(feature = "kafka")]

mod support;

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use rdkafka::{
    Offset,
    types::{RDKafkaApiKey, RDKafkaRespErr},
};
use runtime::kafka;
use support::{
    CONTENT_TYPE, FLOW, Script, TOPIC, WAIT, await_dead_letters, cluster, committed_offset, ids,
    publish, publish_garbage, start,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_stopped_after_handling_but_before_storing_the_offset_handles_the_event_again() {
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();
    let last_offset = publish(&brokers, &ids(0..10)).await;

    // The handler of e-5 does its work, then never returns: the process
    // "dies" between handling the event and storing its offset. Every event
    // has a key of its own, so the other lanes handle e-6 to e-9 meanwhile.
    let mut first = start(
        &brokers,
        Script {
            hang_after: Some("e-5".into()),
            ..Script::default()
        },
    );
    let mut before = Vec::new();
    while !before.iter().any(|id| id == "e-5") {
        before.extend(first.next(1).await);
    }
    // The lanes not held back by e-5 go on.
    before.extend(first.more_within(Duration::from_millis(500)).await);
    first.task.abort();
    assert!(first.task.await.unwrap_err().is_cancelled());
    // Stopping closed the consumer, which committed the offsets stored for
    // e-0 to e-4: not e-5's, nor those after it.
    let up_to_e5 = Offset::Offset(last_offset - 9 + 5);
    let deadline = Instant::now() + WAIT;
    while committed_offset(&brokers, TOPIC).await != up_to_e5 {
        assert!(
            Instant::now() < deadline,
            "the stopped consumer did not commit"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Restarted: consumption resumes from the last committed offset.
    let mut second = start(&brokers, Script::default());
    let after = second.next(5).await;
    let extra = second.more_within(Duration::from_secs(1)).await;
    second.stop().await.unwrap();

    let handled: BTreeSet<&String> = before.iter().chain(&after).collect();
    let redelivered = before.iter().filter(|id| after.contains(id)).count();
    let skipped = 10 - handled.len();
    println!(
        "consumer, stopped before storing an offset: sent=10 handled_before_stop={} handled_after_restart={} redelivered={redelivered} skipped={skipped}",
        before.len(),
        after.len() + extra.len(),
    );
    // The replay starts at the oldest event in hand: e-5, and the events
    // handled after it.
    assert_eq!(
        after.iter().collect::<BTreeSet<_>>(),
        ids(5..10).iter().collect(),
        "resumes with the unstored event"
    );
    assert!(extra.is_empty(), "{extra:?}");
    assert!(redelivered >= 1, "e-5 at least");
    assert_eq!(skipped, 0);
    assert_eq!(
        committed_offset(&brokers, TOPIC).await,
        Offset::Offset(last_offset + 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_events_are_retried_with_backoff_dead_lettered_and_their_partition_keeps_flowing() {
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();
    // One partition: e-0, a handler failure, a payload that is not an event,
    // then e-1 to e-5.
    let poison_offset = publish(&brokers, &["e-0".into(), "poison-1".into()]).await;
    let garbage_offset = publish_garbage(&brokers).await;
    let last_offset = publish(&brokers, &ids(1..6)).await;

    let mut consumer = start(
        &brokers,
        Script {
            fail_prefix: Some("poison".into()),
            ..Script::default()
        },
    );
    let handled = consumer.next(6).await;
    let letters = await_dead_letters(&brokers, TOPIC, 2).await;
    let attempts = consumer.attempts.lock().unwrap()["poison-1"].clone();
    consumer.stop().await.unwrap();

    println!(
        "consumer, poison events: sent=8 handled={} dead_lettered={} poison_attempts={} skipped={}",
        handled.len(),
        letters.len(),
        attempts.len(),
        8 - handled.len() - letters.len()
    );
    // The poison event's retries held back only its own key.
    let mut handled = handled;
    handled.sort_by_key(|id| id[2..].parse::<u32>().unwrap());
    assert_eq!(handled, ids(0..6), "the partition kept flowing");

    // Bounded retries with backoff: MAX_ATTEMPTS tries, spaced by at least
    // half the nominal delay (jitter), which doubles.
    assert_eq!(attempts.len(), kafka::MAX_ATTEMPTS as usize);
    for (retry, pair) in attempts.windows(2).enumerate() {
        let nominal = kafka::RETRY_BACKOFF.initial * 2_u32.pow(u32::try_from(retry).unwrap());
        let gap = pair[1] - pair[0];
        assert!(gap >= nominal / 2, "retry {retry} after {gap:?}");
    }

    let mut letters = letters;
    letters.sort_by(|a, b| b.0.cmp(&a.0));
    let [
        (poison_key, _, poison),
        (garbage_key, garbage_payload, garbage),
    ] = letters.as_slice()
    else {
        panic!("expected two dead letters, got {letters:?}");
    };
    assert_eq!(poison_key, "poison-1");
    assert_eq!(
        poison[kafka::HEADER_ERROR],
        "unavailable: warehouse is down"
    );
    assert_eq!(poison[kafka::HEADER_SOURCE_TOPIC], TOPIC);
    // The source's own headers travel with it, so it can be replayed as is.
    assert_eq!(poison[kafka::FLOW_HEADER], FLOW);
    assert_eq!(poison[kafka::CONTENT_TYPE_HEADER], CONTENT_TYPE);
    assert_eq!(poison[kafka::HEADER_SOURCE_PARTITION], "0");
    assert_eq!(
        poison[kafka::HEADER_SOURCE_OFFSET],
        poison_offset.to_string()
    );
    assert_eq!(
        poison[kafka::HEADER_ATTEMPTS],
        kafka::MAX_ATTEMPTS.to_string()
    );
    assert_eq!(
        (garbage_key.as_str(), garbage_payload.as_str()),
        ("garbage-1", "not json")
    );
    assert_eq!(garbage[kafka::HEADER_ERROR], "no handler for flow None");
    assert!(!garbage.contains_key(kafka::FLOW_HEADER));
    assert_eq!(
        garbage[kafka::HEADER_SOURCE_OFFSET],
        garbage_offset.to_string()
    );
    assert_eq!(garbage[kafka::HEADER_ATTEMPTS], "1");

    assert_eq!(
        committed_offset(&brokers, TOPIC).await,
        Offset::Offset(last_offset + 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_topic_that_cannot_be_written_stops_the_consumer_without_skipping() {
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();
    publish(&brokers, &["e-0".into()]).await;
    let garbage_offset = publish_garbage(&brokers).await;
    publish(&brokers, &["e-1".into()]).await;

    // Every produce request fails from now on: the dead letter cannot be
    // written.
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED; 50],
    );
    let mut first = start(&brokers, Script::default());
    let ended = tokio::time::timeout(WAIT, &mut first.task)
        .await
        .expect("the consumer stops by itself")
        .unwrap();
    let err = ended.expect_err("the consumer reports the failure");
    assert!(
        format!("{err:#}").contains("cannot write to dead-letter topic"),
        "{err:#}"
    );
    let committed = committed_offset(&brokers, TOPIC).await;
    assert!(
        match committed {
            Offset::Offset(next) => next <= garbage_offset,
            _ => true,
        },
        "the undeliverable record was not skipped: committed {committed:?}"
    );
    let before = first.more_within(Duration::from_millis(100)).await;

    // Once the dead-letter topic can be written again, a restarted consumer
    // dead-letters the record and goes on.
    cluster.clear_request_errors(RDKafkaApiKey::Produce);
    let mut second = start(&brokers, Script::default());
    let mut after = Vec::new();
    while !after.iter().any(|id| id == "e-1") {
        after.extend(second.next(1).await);
    }
    let letters = await_dead_letters(&brokers, TOPIC, 1).await;
    second.stop().await.unwrap();
    println!(
        "consumer, dead-letter topic unwritable: sent=3 handled_before_stop={} handled_after_restart={} dead_lettered={} skipped=0",
        before.len(),
        after.len(),
        letters.len()
    );
    // e-0 and e-1 are handled, once or twice (a lane may handle e-1 before
    // the consumer stops), and the record between them is dead-lettered.
    let handled: BTreeSet<&String> = before.iter().chain(&after).collect();
    let expected = ids(0..2);
    assert_eq!(handled, expected.iter().collect());
    assert_eq!(letters.len(), 1);
    assert_eq!(
        letters[0].2[kafka::HEADER_SOURCE_OFFSET],
        garbage_offset.to_string()
    );
}
