{#- scaffold
when: uses.kafka
-#}
//! Which offsets a consumer handling records concurrently may store, and
//! the rebalance hook that finishes a partition's records before it is
//! handed over.
//!
//! Records of one partition finish out of order when they are handled in
//! several lanes, so an offset may only be stored once every record before
//! it on its partition is done: a crash then replays from the oldest record
//! not yet handled, never past one. Each assignment of a partition gets an
//! epoch, so that a record received before its partition was revoked (and
//! perhaps assigned back since) is never counted for the new assignment.
//! A consumer whose records commit their offsets in transactions stores
//! none: the bookkeeping only tells a revocation what is still in hand.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Condvar, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use rdkafka::{
    client::ClientContext,
    consumer::{BaseConsumer, Consumer as _, ConsumerContext, Rebalance},
    error::KafkaError,
    statistics::Statistics,
};
use tokio::runtime::{Handle, RuntimeFlavor};
use tracing::{info, warn};

use super::KafkaContext;
use crate::telemetry;

/// How long a revoked partition's records in hand may take to finish before
/// the partition is handed over anyway; the next owner handles again those
/// still unfinished.
pub const REVOKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A partition of a topic.
type Partition = (String, i32);

/// The offsets received, in hand and finished, per partition.
#[derive(Debug, Default)]
pub(super) struct Offsets {
    state: Mutex<State>,
    /// Signalled whenever a record in hand finishes.
    finished: Condvar,
    /// The records' offsets commit in transactions: none is to be stored.
    in_transactions: bool,
}

#[derive(Debug, Default)]
struct State {
    /// By topic, then partition: looked up by `&str` on every record,
    /// without allocating.
    tracks: HashMap<String, HashMap<i32, Track>>,
    /// The last epoch given to an assignment.
    epochs: u64,
    /// The lanes ended: a revocation waits for nothing.
    lanes_ended: bool,
    /// A revocation waits for records to finish: only then is `finished`
    /// signalled (a system call, not worth paying on every record).
    revoking: bool,
}

impl State {
    fn track(&self, topic: &str, partition: i32) -> Option<&Track> {
        self.tracks.get(topic)?.get(&partition)
    }

    fn track_mut(&mut self, topic: &str, partition: i32) -> Option<&mut Track> {
        self.tracks.get_mut(topic)?.get_mut(&partition)
    }
}

/// One assignment of one partition.
#[derive(Debug)]
struct Track {
    epoch: u64,
    /// Received and not finished: queued in a lane, or in hand.
    pending: BTreeSet<i64>,
    /// The highest offset received.
    highest: i64,
    /// Every record up to this offset is finished: the offset last stored,
    /// or the one before the first record received.
    stored: i64,
}

impl Track {
    /// The offset to store now, if it moved: the one before the oldest
    /// pending record, or the highest received when none is.
    fn advance(&mut self) -> Option<i64> {
        let done = self
            .pending
            .first()
            .map_or(self.highest, |&first| first - 1);
        if done <= self.stored {
            return None;
        }
        self.stored = done;
        Some(done)
    }
}

/// An offset to store: every record of `partition` up to `offset` finished.
pub(super) type ToStore = (String, i32, i64);

impl Offsets {
    /// The offsets of a consumer; one whose records commit their offsets
    /// `in_transactions` gets none to store.
    pub(super) fn new(in_transactions: bool) -> Self {
        Self {
            in_transactions,
            ..Self::default()
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a record received; returns the epoch of its partition's
    /// assignment.
    pub(super) fn received(&self, topic: &str, partition: i32, offset: i64) -> u64 {
        let mut state = self.lock();
        let State { tracks, epochs, .. } = &mut *state;
        if !tracks.contains_key(topic) {
            tracks.insert(topic.to_owned(), HashMap::new());
        }
        let track = tracks
            .get_mut(topic)
            .expect("inserted above")
            .entry(partition)
            .or_insert_with(|| {
                *epochs += 1;
                Track {
                    epoch: *epochs,
                    pending: BTreeSet::new(),
                    highest: offset,
                    stored: offset - 1,
                }
            });
        track.pending.insert(offset);
        track.highest = track.highest.max(offset);
        track.epoch
    }

    /// Whether a queued record may be handled: `false` once its partition
    /// was handed over, and the record left to the next owner.
    pub(super) fn start(&self, topic: &str, partition: i32, epoch: u64) -> bool {
        self.lock()
            .track(topic, partition)
            .is_some_and(|track| track.epoch == epoch)
    }

    /// A record in hand is done with: `handled` (or dead-lettered), or left
    /// unhandled (shutdown came first), which stores nothing past it.
    pub(super) fn finish(
        &self,
        topic: &str,
        partition: i32,
        epoch: u64,
        offset: i64,
        handled: bool,
    ) {
        let mut state = self.lock();
        if let Some(track) = state.track_mut(topic, partition)
            && track.epoch == epoch
            && handled
        {
            track.pending.remove(&offset);
        }
        let revoking = state.revoking;
        drop(state);
        if revoking {
            self.finished.notify_all();
        }
    }

    /// The offsets that moved since last asked.
    pub(super) fn to_store(&self) -> Vec<ToStore> {
        let mut state = self.lock();
        let mut to_store = Vec::new();
        for (topic, partitions) in &mut state.tracks {
            for (&partition, track) in partitions {
                if let Some(offset) = track.advance()
                    && !self.in_transactions
                {
                    to_store.push((topic.clone(), partition, offset));
                }
            }
        }
        to_store
    }

    /// The lanes ended (the consumer stopped, or its task was aborted):
    /// no pending record will finish any more.
    pub(super) fn lanes_ended(&self) {
        self.lock().lanes_ended = true;
        self.finished.notify_all();
    }

    /// Whether records of `partitions` are pending.
    fn pending(&self, partitions: &[Partition]) -> bool {
        let state = self.lock();
        partitions
            .iter()
            .filter_map(|(topic, partition)| state.track(topic, *partition))
            .any(|track| !track.pending.is_empty())
    }

    /// Hands `partitions` over: their pending records (queued or in hand)
    /// are finished, for `timeout` at most, so that the next owner does not
    /// handle any of them again; those left then are dropped, for the next
    /// owner. Returns the offsets to store before the revocation commits
    /// them.
    pub(super) fn revoke(&self, partitions: &[Partition], timeout: Duration) -> Vec<ToStore> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        state.revoking = true;
        loop {
            let left = partitions
                .iter()
                .filter_map(|(topic, partition)| state.track(topic, *partition))
                .map(|track| track.pending.len())
                .sum::<usize>();
            let time_left = deadline.saturating_duration_since(Instant::now());
            if left == 0 || time_left.is_zero() || state.lanes_ended {
                if left > 0 && !state.lanes_ended {
                    warn!(
                        unfinished = left,
                        ?timeout,
                        "partitions handed over with events unfinished: their next owner \
                         handles them, and those handled after them, again"
                    );
                }
                break;
            }
            state = self
                .finished
                .wait_timeout(state, time_left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.revoking = false;
        partitions
            .iter()
            .filter_map(|(topic, partition)| {
                let mut track = state.tracks.get_mut(topic)?.remove(partition)?;
                track
                    .advance()
                    .filter(|_| !self.in_transactions)
                    .map(|offset| (topic.clone(), *partition, offset))
            })
            .collect()
    }
}

/// The context of a concurrent consumer: librdkafka's errors routed to
/// `tracing` ([`KafkaContext`]), its statistics to the lag gauges, and the
/// revocation hook.
#[derive(Debug, Default)]
pub(super) struct GroupContext {
    pub(super) kafka: KafkaContext,
    pub(super) offsets: std::sync::Arc<Offsets>,
    /// The consumer group, labelling its lag.
    pub(super) group: String,
}

impl ClientContext for GroupContext {
    fn error(&self, error: KafkaError, reason: &str) {
        self.kafka.error(error, reason);
    }

    /// The lag of each partition this replica fetches (librdkafka lists
    /// the others too, revoked ones included, as not fetched): up to the
    /// offset stored once its records were handled; for a consumer that
    /// commits in transactions, which stores none, up to the position handed
    /// to the application (librdkafka does not see a transaction's offsets).
    fn stats(&self, statistics: Statistics) {
        for (topic, stats) in &statistics.topics {
            for (&partition, p) in &stats.partitions {
                if partition < 0 || p.fetch_state != "active" {
                    continue;
                }
                let lag = if p.consumer_lag_stored >= 0 {
                    p.consumer_lag_stored
                } else {
                    // The last stable offset, which is the high-water mark
                    // but for a transaction in progress.
                    let end = if p.ls_offset >= 0 {
                        p.ls_offset
                    } else {
                        p.hi_offset
                    };
                    if end < 0 || p.app_offset < 0 {
                        continue;
                    }
                    (end - p.app_offset).max(0)
                };
                telemetry::consumer_lag(&self.group, topic, partition, lag);
            }
        }
    }
}

impl ConsumerContext for GroupContext {
    /// Before partitions are revoked (a replica joined or left, or the
    /// consumer is closing), finishes their records in hand and stores their
    /// offsets, which librdkafka commits with the revocation (the member
    /// rejoins only once that commit is done).
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(list) = rebalance else {
            return;
        };
        let partitions: Vec<Partition> = list
            .elements()
            .iter()
            .map(|element| (element.topic().to_owned(), element.partition()))
            .collect();
        // Waiting blocks the thread polling the consumer; on a multi-thread
        // runtime, block_in_place hands this worker's other tasks (the lanes
        // finishing the records) to the other workers meanwhile. On a
        // current-thread runtime the lanes cannot run while it waits, so it
        // does not: the next owner handles the pending records again.
        let multi_thread = Handle::try_current()
            .is_ok_and(|runtime| runtime.runtime_flavor() == RuntimeFlavor::MultiThread);
        // Partitions lost (the session expired) already belong to another
        // member: nothing can be committed for them any more.
        let timeout = if consumer.assignment_lost() || !multi_thread {
            Duration::ZERO
        } else {
            REVOKE_TIMEOUT
        };
        let revoke = || self.offsets.revoke(&partitions, timeout);
        let to_store = if multi_thread && self.offsets.pending(&partitions) {
            tokio::task::block_in_place(revoke)
        } else {
            revoke()
        };
        for (topic, partition, offset) in to_store {
            if let Err(err) = consumer.store_offset(&topic, partition, offset) {
                warn!(%topic, partition, offset, %err, "cannot store the offset of a revoked partition");
            }
        }
        info!(partitions = ?partitions, "partitions revoked");
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use super::Offsets;

    #[test]
    fn an_offset_is_stored_only_once_every_record_before_it_finished() {
        let offsets = Offsets::default();
        let epoch = offsets.received("t", 0, 10);
        for offset in 11..=13 {
            assert_eq!(offsets.received("t", 0, offset), epoch);
        }
        for offset in [11, 13] {
            assert!(offsets.start("t", 0, epoch));
            offsets.finish("t", 0, epoch, offset, true);
        }
        assert_eq!(offsets.to_store(), [], "10 is not finished");
        assert!(offsets.start("t", 0, epoch));
        offsets.finish("t", 0, epoch, 10, true);
        assert_eq!(offsets.to_store(), [("t".to_owned(), 0, 11)]);
        assert_eq!(offsets.to_store(), [], "stored once");
        assert!(offsets.start("t", 0, epoch));
        offsets.finish("t", 0, epoch, 12, true);
        assert_eq!(offsets.to_store(), [("t".to_owned(), 0, 13)]);
    }

    #[test]
    fn a_record_left_unhandled_stores_nothing_past_it() {
        let offsets = Offsets::default();
        let epoch = offsets.received("t", 0, 0);
        offsets.received("t", 0, 1);
        assert!(offsets.start("t", 0, epoch));
        offsets.finish("t", 0, epoch, 0, false);
        assert!(offsets.start("t", 0, epoch));
        offsets.finish("t", 0, epoch, 1, true);
        assert_eq!(offsets.to_store(), []);
    }

    #[test]
    fn a_revoked_partition_stores_what_finished_and_leaves_the_rest() {
        let offsets = Offsets::default();
        let epoch = offsets.received("t", 0, 0);
        offsets.received("t", 0, 1);
        offsets.received("t", 1, 5);
        assert!(offsets.start("t", 0, epoch));
        offsets.finish("t", 0, epoch, 0, true);
        // Offset 1 never finishes: the revocation gives up on it.
        let to_store = offsets.revoke(&[("t".to_owned(), 0)], Duration::ZERO);
        assert_eq!(to_store, [("t".to_owned(), 0, 0)]);
        assert!(
            !offsets.start("t", 0, epoch),
            "offset 1 is left to the next owner"
        );
        // Assigned back: a new epoch, which the old record does not count for.
        let again = offsets.received("t", 0, 1);
        assert_ne!(again, epoch);
        offsets.finish("t", 0, epoch, 1, true);
        assert_eq!(
            offsets.to_store(),
            [],
            "partition 1's 5 and the new 1 are pending"
        );
    }

    #[test]
    fn revoking_waits_for_the_pending_records() {
        let offsets = Arc::new(Offsets::default());
        let epoch = offsets.received("t", 0, 7);
        offsets.received("t", 0, 8);
        let lane = std::thread::spawn({
            let offsets = Arc::clone(&offsets);
            move || {
                for offset in [7, 8] {
                    std::thread::sleep(Duration::from_millis(20));
                    assert!(offsets.start("t", 0, epoch));
                    offsets.finish("t", 0, epoch, offset, true);
                }
            }
        });
        let to_store = offsets.revoke(&[("t".to_owned(), 0)], Duration::from_secs(30));
        lane.join().unwrap();
        assert_eq!(to_store, [("t".to_owned(), 0, 8)]);
    }

    #[test]
    fn once_the_lanes_ended_revoking_waits_for_nothing() {
        let offsets = Offsets::default();
        let epoch = offsets.received("t", 0, 3);
        offsets.lanes_ended();
        assert_eq!(
            offsets.revoke(&[("t".to_owned(), 0)], Duration::from_secs(30)),
            []
        );
        assert!(!offsets.start("t", 0, epoch));
    }
}
