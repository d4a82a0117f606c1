//! Kafka topic sizing: partitions from throughput and parallelism, disk
//! from throughput, payload and retention.
//!
//! A topic's partition count is the one Kafka setting that is hard to change
//! later (adding partitions re-maps keys), so the report sizes it up front
//! from the flow's figures, with defaults a team can override per run
//! ([`Sizing`], from `--partition-rate` and friends) and per service
//! (`instances`) or flow (`retention_hours`) in flows.yaml.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::spec::model::{Flow, Ordering, Service};

/// Messages per second one consumer handles, for sizing. Conservative: a
/// consumer doing real work (a database write per event) manages about this.
pub const CONSUMER_RATE: u64 = 1_000;
/// Messages per second one partition takes from producers.
pub const PARTITION_RATE: u64 = 5_000;
/// The floor: room for a few consumers per group without re-partitioning.
pub const MIN_PARTITIONS: u32 = 3;
/// Replicas per partition on a production cluster.
pub const REPLICATION: u32 = 3;
/// The most partitions a topic is sized with. Kafka's `CreateTopics` request
/// carries the count as an INT32 and the generated code declares it `i32`,
/// but the real limit is far lower: a whole cluster runs some hundreds of
/// thousands of partitions, each with its own files, memory and leader
/// election. A topic above this is a typo or a different design (several
/// topics), so inputs that would size one are refused and `--min-partitions`
/// stops here.
pub const MAX_PARTITIONS: u32 = 100_000;
/// The most replicas per partition. Kafka's `CreateTopics` carries the factor
/// as an INT16 and a topic cannot have more replicas than the cluster has
/// brokers; production clusters use 3, sometimes 5, so anything above this
/// is a typo, and each replica is a full copy of the topic's data.
pub const MAX_REPLICATION: u32 = 16;
/// The highest `throughput` flows.yaml takes: what [`MAX_PARTITIONS`]
/// consumers handle at [`CONSUMER_RATE`] each.
pub const MAX_THROUGHPUT: u64 = MAX_PARTITIONS as u64 * CONSUMER_RATE;
/// Kafka's own default retention (`log.retention.hours`): one week.
pub const RETENTION_HOURS: u64 = 168;
/// Disk is sized at this many percent of the data it must hold, so that
/// brokers stay at most two-thirds full (room for rebalancing and spikes).
pub const DISK_HEADROOM_PERCENT: u64 = 150;

/// What every Kafka flow risks when its partitions are too few.
pub const REPARTITION_WARNING: &str = "Adding partitions later re-maps keys to partitions and breaks per-key ordering for the messages in flight; create the topic with this count, not fewer.";

/// The figures sizing divides by; [`Sizing::default`] holds the documented
/// defaults above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizing {
    /// Messages per second one partition takes from producers.
    pub partition_rate: u64,
    /// Messages per second one consumer instance handles.
    pub consumer_rate: u64,
    /// The fewest partitions a topic gets.
    pub min_partitions: u32,
    /// Replicas per partition.
    pub replication: u32,
}

impl Default for Sizing {
    fn default() -> Sizing {
        Sizing {
            partition_rate: PARTITION_RATE,
            consumer_rate: CONSUMER_RATE,
            min_partitions: MIN_PARTITIONS,
            replication: REPLICATION,
        }
    }
}

/// How a Kafka topic is sized for a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KafkaSizing {
    pub topic: String,
    pub partitions: u32,
    pub replication: u32,
    /// How the partition count was reached, for the report.
    pub basis: String,
    /// How long the topic keeps messages: the flow's `retention_hours`, or
    /// Kafka's default.
    pub retention_hours: u64,
    /// Disk for the whole topic across the cluster, replicas and headroom
    /// included; unknown without `throughput` and `payload_bytes`.
    pub disk_bytes: Option<u64>,
    /// How the disk figure was reached, or what it needs.
    pub disk_basis: String,
    /// The warning that partitions are hard to add later.
    pub warning: &'static str,
}

/// [`size_topic_in`] with the default figures and no service declarations.
pub fn size_topic(flow: &Flow) -> KafkaSizing {
    size_topic_in(flow, &BTreeMap::new(), &Sizing::default())
}

/// Partitions from throughput: at least enough for producers
/// (`throughput / partition_rate`), for each consumer group to keep up
/// (`throughput / consumer_rate`) and for every instance of every receiver
/// to get a partition, never fewer than `min_partitions`; one when total
/// order is required, since only a single partition is totally ordered.
pub fn size_topic_in(
    flow: &Flow,
    services: &BTreeMap<String, Service>,
    sizing: &Sizing,
) -> KafkaSizing {
    let topic = flow.topic_name().to_owned();
    let (partitions, basis) = partitions(flow, services, sizing);
    let retention_hours = flow.retention_hours.unwrap_or(RETENTION_HOURS);
    let (disk_bytes, disk_basis) = disk(flow, retention_hours, sizing.replication);
    KafkaSizing {
        topic,
        partitions,
        replication: sizing.replication,
        basis,
        retention_hours,
        disk_bytes,
        disk_basis,
        warning: REPARTITION_WARNING,
    }
}

fn partitions(flow: &Flow, services: &BTreeMap<String, Service>, sizing: &Sizing) -> (u32, String) {
    // The receiver with the most instances: each receiver is its own
    // consumer group, and an instance without a partition sits idle.
    let widest = flow
        .to
        .iter()
        .map(|s| (services.get(s).map_or(1, Service::instances), s.as_str()))
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(a.1)));
    let (parallel, widest) = widest.unwrap_or((1, ""));
    if flow.ordering == Ordering::Total {
        let mut basis = "ordering: total needs a single partition".to_owned();
        if parallel > 1 {
            let _ = write!(
                basis,
                "; only one of the {parallel} instances of `{widest}` consumes at a time"
            );
        }
        return (1, basis);
    }
    let floor = sizing.min_partitions.max(1);
    let mut partitions = floor;
    let mut basis = match flow.throughput {
        None => format!("no throughput given: the floor of {floor}"),
        Some(rate) => {
            let for_consumers = rate.div_ceil(sizing.consumer_rate.max(1));
            let for_producers = rate.div_ceil(sizing.partition_rate.max(1));
            partitions = u32::try_from(for_consumers.max(for_producers))
                .unwrap_or(u32::MAX)
                .max(floor);
            format!(
                "{rate}/s at {}/s per consumer and {}/s per partition, at least {floor}",
                sizing.consumer_rate, sizing.partition_rate
            )
        }
    };
    if parallel > partitions {
        partitions = parallel;
        let _ = write!(basis, "; {parallel} instances of `{widest}` each need one");
    }
    // flows.yaml keeps its figures under the cap, but a small
    // `--consumer-rate` can still ask for more.
    if partitions > MAX_PARTITIONS {
        partitions = MAX_PARTITIONS;
        let _ = write!(
            basis,
            "; capped at {MAX_PARTITIONS}, the most one topic is sized with"
        );
    }
    (partitions, basis)
}

fn disk(flow: &Flow, retention_hours: u64, replication: u32) -> (Option<u64>, String) {
    let (Some(rate), Some(bytes)) = (flow.throughput, flow.payload_bytes) else {
        return (
            None,
            "give `throughput` and `payload_bytes` to size the disk".to_owned(),
        );
    };
    let total = u128::from(rate)
        * u128::from(bytes)
        * u128::from(retention_hours)
        * 3600
        * u128::from(replication)
        * u128::from(DISK_HEADROOM_PERCENT)
        / 100;
    let total = u64::try_from(total).unwrap_or(u64::MAX);
    let basis = format!(
        "{rate}/s × {bytes} B × {retention_hours} h × {replication} replicas × {DISK_HEADROOM_PERCENT}% headroom ≈ {}",
        human_bytes(total)
    );
    (Some(total), basis)
}

/// `1234567` → `1.2 MB`: decimal units, as disks are sold.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["kB", "MB", "GB", "TB", "PB", "EB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut unit = 0;
    let mut scaled = bytes;
    // Tenths of the unit, computed in integers so the text never depends
    // on float formatting.
    while scaled >= 1_000_000 && unit + 1 < UNITS.len() {
        scaled /= 1000;
        unit += 1;
    }
    let tenths = (scaled + 50) / 100;
    format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kafka_flow(throughput: Option<u64>) -> Flow {
        let mut flow = Flow::new("order-created", "orders", "shipping");
        flow.throughput = throughput;
        flow
    }

    fn with_instances(service: &str, n: u32) -> BTreeMap<String, Service> {
        let mut services = BTreeMap::new();
        services.insert(
            service.to_owned(),
            Service {
                instances: Some(n),
                ..Service::default()
            },
        );
        services
    }

    #[test]
    fn partitions_keep_up_with_producers_and_consumers() {
        let sized = size_topic(&kafka_flow(Some(12_500)));
        assert_eq!(sized.partitions, 13, "12,500/s at 1,000/s per consumer");
        let sized = size_topic_in(
            &kafka_flow(Some(12_500)),
            &BTreeMap::new(),
            &Sizing {
                consumer_rate: 50_000,
                ..Sizing::default()
            },
        );
        assert_eq!(sized.partitions, 3, "12,500/s at 5,000/s per partition");
    }

    #[test]
    fn partitions_cover_every_instance_of_the_widest_receiver() {
        let sized = size_topic_in(
            &kafka_flow(Some(2_000)),
            &with_instances("shipping", 8),
            &Sizing::default(),
        );
        assert_eq!(sized.partitions, 8);
        assert!(
            sized
                .basis
                .ends_with("8 instances of `shipping` each need one"),
            "{}",
            sized.basis
        );
    }

    #[test]
    fn total_order_keeps_one_partition_whatever_the_instances() {
        let mut flow = kafka_flow(Some(50_000));
        flow.ordering = Ordering::Total;
        let sized = size_topic_in(&flow, &with_instances("shipping", 4), &Sizing::default());
        assert_eq!(sized.partitions, 1);
        assert!(
            sized.basis.contains("only one of the 4 instances"),
            "{}",
            sized.basis
        );
    }

    #[test]
    fn disk_is_throughput_payload_retention_replicas_and_headroom() {
        let mut flow = kafka_flow(Some(100));
        flow.payload_bytes = Some(1_000);
        flow.retention_hours = Some(24);
        let sized = size_topic(&flow);
        // 100/s × 1 kB × 86,400 s × 3 replicas × 1.5 = 38.88 GB
        assert_eq!(sized.disk_bytes, Some(38_880_000_000));
        assert!(
            sized.disk_basis.ends_with("≈ 38.9 GB"),
            "{}",
            sized.disk_basis
        );
    }

    #[test]
    fn disk_is_unknown_without_a_payload_size() {
        let sized = size_topic(&kafka_flow(Some(100)));
        assert_eq!(sized.disk_bytes, None);
        assert_eq!(sized.retention_hours, RETENTION_HOURS);
    }

    #[test]
    fn partitions_never_pass_the_cap() {
        let mut flow = kafka_flow(Some(MAX_THROUGHPUT));
        let sized = size_topic(&flow);
        assert_eq!(sized.partitions, MAX_PARTITIONS);
        flow.throughput = Some(u64::MAX);
        let sized = size_topic_in(
            &flow,
            &with_instances("shipping", u32::MAX),
            &Sizing {
                consumer_rate: 1,
                ..Sizing::default()
            },
        );
        assert_eq!(sized.partitions, MAX_PARTITIONS);
        assert!(i32::try_from(sized.partitions).is_ok());
        assert!(
            sized
                .basis
                .ends_with("capped at 100000, the most one topic is sized with"),
            "{}",
            sized.basis
        );
    }

    #[test]
    fn human_bytes_rounds_to_a_tenth() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_250), "1.3 kB");
        assert_eq!(human_bytes(38_880_000_000), "38.9 GB");
        assert_eq!(human_bytes(u64::MAX), "18.4 EB");
    }
}
