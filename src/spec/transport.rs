//! The transports commsadvise knows, and everything the tool says about
//! each, in one table.
//!
//! A transport is a keyword of flows.yaml and the rules ([`Transport`]) and
//! a row of [`PROFILES`]: its title in prose, whether the caller waits, its
//! colours in reports and diagrams, and the port and environment variable
//! a generated service listens or connects with. Data kept per transport
//! (a rule's points, a flow's scores, a set of candidates) is sized by the
//! table ([`PerTransport`], [`TransportSet`]), so code loops over the
//! transports instead of naming them.
//!
//! Adding a transport is a variant of [`Transport`] and a row here: the
//! table is an array as long as [`Transport::ALL`], so a missing row does
//! not compile, and a test checks the rows' order. What stays to write is
//! its own logic: the rules that favour it and the scaffold that builds it.

use std::ops::{Index, IndexMut};

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::keywords::keywords;

keywords! {
    /// A way for services to talk; the thing commsadvise recommends.
    Transport { Rest = "rest", Grpc = "grpc", Kafka = "kafka" }
}

/// How many transports there are.
pub const COUNT: usize = Transport::ALL.len();

/// What the tool says about one transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    pub transport: Transport,
    /// How prose and decision records name it: `REST`, `gRPC`, `Kafka`.
    pub title: &'static str,
    /// Whether the caller waits for an answer: synchronous hops make the
    /// system checks' chains; asynchronous ones break them.
    pub synchronous: bool,
    /// Its colour in every diagram: saturated and far apart, so that they
    /// read on white (and the dash pattern tells them apart as well, for
    /// the common colour blindnesses).
    pub colour: &'static str,
    /// The colour's name, for legends in plain text.
    pub colour_name: &'static str,
    /// Its colour on a terminal, as an SGR parameter.
    pub terminal_colour: &'static str,
    /// The port a generated service listens on, or the broker's, by default
    /// (docs/scaffold.md: the article's ports).
    pub default_port: u16,
    /// The environment variable that overrides the address.
    pub address_env: &'static str,
}

/// Every transport's profile, in the order of [`Transport::ALL`].
pub const PROFILES: [Profile; COUNT] = [
    Profile {
        transport: Transport::Rest,
        title: "REST",
        synchronous: true,
        colour: "#2e7d32",
        colour_name: "green",
        terminal_colour: "32",
        default_port: 5000,
        address_env: "HTTP_ADDR",
    },
    Profile {
        transport: Transport::Grpc,
        title: "gRPC",
        synchronous: true,
        colour: "#1565c0",
        colour_name: "blue",
        terminal_colour: "34",
        default_port: 50051,
        address_env: "GRPC_ADDR",
    },
    Profile {
        transport: Transport::Kafka,
        title: "Kafka",
        synchronous: false,
        colour: "#8e24aa",
        colour_name: "purple",
        terminal_colour: "35",
        default_port: 9092,
        address_env: "KAFKA_BROKERS",
    },
];

impl Transport {
    /// Its row of [`PROFILES`].
    pub fn profile(self) -> &'static Profile {
        &PROFILES[usize::from(self.index())]
    }

    /// Whether the caller waits for an answer on this transport.
    pub fn is_synchronous(self) -> bool {
        self.profile().synchronous
    }

    /// How prose names it: `REST`, `gRPC`, `Kafka`.
    pub fn title(self) -> &'static str {
        self.profile().title
    }
}

/// One value per transport, indexed by [`Transport`]. Serialized as a map
/// from each transport's name to its value, in the table's order: the
/// `scores` of the JSON report.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PerTransport<T>(pub [T; COUNT]);

impl<T> PerTransport<T> {
    /// Each transport with its value, in the table's order.
    pub fn iter(&self) -> impl Iterator<Item = (Transport, &T)> {
        Transport::ALL.iter().copied().zip(&self.0)
    }
}

impl<T> Index<Transport> for PerTransport<T> {
    type Output = T;

    fn index(&self, t: Transport) -> &T {
        &self.0[usize::from(t.index())]
    }
}

impl<T> IndexMut<Transport> for PerTransport<T> {
    fn index_mut(&mut self, t: Transport) -> &mut T {
        &mut self.0[usize::from(t.index())]
    }
}

impl<T: Serialize> Serialize for PerTransport<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(COUNT))?;
        for (t, value) in self.iter() {
            map.serialize_entry(t.as_str(), value)?;
        }
        map.end()
    }
}

/// A set of transports, as bits in the table's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TransportSet(u8);

// A bit per transport.
const _: () = assert!(COUNT <= 8, "TransportSet holds at most 8 transports");

impl TransportSet {
    pub const EMPTY: TransportSet = TransportSet(0);
    pub const ALL: TransportSet = TransportSet(u8::MAX >> (8 - COUNT));

    /// The set of `t` alone.
    pub fn of(t: Transport) -> TransportSet {
        TransportSet(1 << t.index())
    }

    pub fn contains(self, t: Transport) -> bool {
        self.0 & TransportSet::of(t).0 != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn insert(&mut self, t: Transport) {
        self.0 |= TransportSet::of(t).0;
    }

    /// The transports in both.
    #[must_use]
    pub fn and(self, other: TransportSet) -> TransportSet {
        TransportSet(self.0 & other.0)
    }

    /// The transports of `self` not in `other`.
    #[must_use]
    pub fn without(self, other: TransportSet) -> TransportSet {
        TransportSet(self.0 & !other.0)
    }

    /// The members, in the table's order.
    pub fn iter(self) -> impl Iterator<Item = Transport> {
        Transport::ALL
            .iter()
            .copied()
            .filter(move |t| self.contains(*t))
    }

    /// The members as prose: `kafka`, `grpc or kafka`, `rest, grpc or kafka`.
    pub fn either(self) -> String {
        let names: Vec<&str> = self.iter().map(Transport::as_str).collect();
        match names.split_last() {
            None => String::new(),
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        }
    }
}

impl FromIterator<Transport> for TransportSet {
    fn from_iter<I: IntoIterator<Item = Transport>>(iter: I) -> TransportSet {
        let mut set = TransportSet::EMPTY;
        for t in iter {
            set.insert(t);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transport_has_its_own_row_in_order() {
        // A variant without a row does not compile (the table is sized by
        // the enum); a row out of place fails here.
        for (i, t) in Transport::ALL.iter().enumerate() {
            assert_eq!(PROFILES[i].transport, *t, "row {i} of PROFILES");
            assert_eq!(t.profile().transport, *t);
        }
    }

    #[test]
    fn the_titles_ports_and_variables_are_distinct() {
        for (i, a) in PROFILES.iter().enumerate() {
            for b in &PROFILES[i + 1..] {
                assert_ne!(a.title, b.title);
                assert_ne!(a.colour, b.colour);
                assert_ne!(a.default_port, b.default_port);
                assert_ne!(a.address_env, b.address_env);
            }
        }
    }

    #[test]
    fn scores_serialize_as_a_map_by_transport_name() {
        let scores: PerTransport<f64> = PerTransport([1.0, -2.0, 0.5]);
        assert_eq!(
            serde_json::to_string(&scores).unwrap(),
            r#"{"rest":1.0,"grpc":-2.0,"kafka":0.5}"#
        );
        assert!((scores[Transport::Grpc] + 2.0).abs() < f64::EPSILON);
    }

    #[test]
    fn a_set_holds_its_members_in_table_order() {
        let set: TransportSet = [Transport::Kafka, Transport::Rest].into_iter().collect();
        assert!(set.contains(Transport::Rest) && !set.contains(Transport::Grpc));
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [Transport::Rest, Transport::Kafka]
        );
        assert_eq!(set.either(), "rest or kafka");
        assert_eq!(TransportSet::ALL.either(), "rest, grpc or kafka");
        assert_eq!(
            TransportSet::ALL.without(set),
            TransportSet::of(Transport::Grpc)
        );
    }
}
