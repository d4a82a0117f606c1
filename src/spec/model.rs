//! The typed model of flows.yaml v1 (docs/flows-yaml.md), after validation.
//!
//! Everything downstream (engine, render, scaffold) works on these types only,
//! so they carry no YAML concerns; source positions live in [`SourceMap`].

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;

use crate::keywords::keywords;
pub use crate::spec::transport::Transport;

keywords! {
    /// The shape of the conversation.
    Interaction { RequestResponse = "request-response", Event = "event", Stream = "stream" }
}

keywords! {
    /// Who is on the calling side.
    Client { Browser = "browser", Public = "public", Internal = "internal", Mobile = "mobile" }
}

keywords! {
    /// Whether the sender must keep working while receivers are down or slow.
    Coupling { Tight = "tight", Loose = "loose" }
}

keywords! {
    /// The delivery guarantee the flow needs.
    Delivery { AtMostOnce = "at-most-once", AtLeastOnce = "at-least-once", ExactlyOnce = "exactly-once" }
}

keywords! {
    /// The ordering guarantee the flow needs.
    Ordering { None = "none", PerKey = "per-key", Total = "total" }
}

keywords! {
    /// Whether the payload must stay human-readable on the wire.
    Format { Json = "json", Binary = "binary", Any = "any" }
}

keywords! {
    /// Whether a typed, versioned contract is required.
    Contract { Strict = "strict", Flexible = "flexible" }
}

keywords! {
    /// How a Kafka topic's message may evolve, as a schema registry checks
    /// it: backward = consumers on the new contract read the records
    /// already in the topic; forward = consumers on the old contract read
    /// new records; full = both; none = unchecked.
    Compatibility { Backward = "backward", Forward = "forward", Full = "full", None = "none" }
}

/// The editor schema of a keyword is its closed list of spellings, taken
/// from the same table the loader parses with, so the two cannot drift.
macro_rules! keyword_schema {
    ($($name:ident),+) => {$(
        impl JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }

            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", "enum": $name::NAMES })
            }
        }
    )+};
}

keywords! {
    /// The team's stated default for a kind of flow (top-level `prefer:`);
    /// `none` when the team states none.
    Preference { None = "none", Rest = "rest", Grpc = "grpc" }
}

keyword_schema!(
    Preference,
    Transport,
    Interaction,
    Client,
    Coupling,
    Delivery,
    Ordering,
    Format,
    Contract,
    Compatibility
);

/// The availability of a service that does not declare one: "three nines",
/// about 43 minutes of downtime a month, a common internal SLO.
pub const DEFAULT_AVAILABILITY: f64 = 0.999;

impl Compatibility {
    /// Whether this is the default, `backward`.
    pub fn is_default(&self) -> bool {
        *self == Compatibility::Backward
    }
}

/// A whole flows.yaml file, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowsFile {
    pub version: u32,
    pub system: String,
    /// What this organisation can run, in the documented order, without
    /// duplicates.
    pub transports: Vec<Transport>,
    /// Every service: declared ones plus those implied by flows, by name.
    pub services: BTreeMap<String, Service>,
    pub flows: Vec<Flow>,
    /// The team's own .proto files, relative to flows.yaml (SPEC §7); empty
    /// when the contract is derived from the flows.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub proto: Vec<String>,
    /// Include folders for the .proto files' imports, relative to
    /// flows.yaml; empty means the folder of flows.yaml.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub proto_path: Vec<String>,
    /// The team's defaults, stated once (top-level `prefer:`).
    #[serde(skip_serializing_if = "Prefer::is_empty")]
    pub prefer: Prefer,
}

/// The team's stated defaults (top-level `prefer:`), one per kind of flow;
/// a mapping so that more kinds can join without changing its shape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Prefer {
    /// The transport for internal synchronous flows (an internal caller,
    /// request-response or stream) when no figure separates REST and gRPC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal: Option<Transport>,
}

impl Prefer {
    /// Whether no default is stated.
    pub fn is_empty(&self) -> bool {
        self.internal.is_none()
    }

    /// What the team prefers for `flow`: the default of the kind it belongs
    /// to, `none` when the team states none for it.
    pub fn for_flow(&self, flow: &Flow) -> Preference {
        let internal_sync = flow.client == Client::Internal
            && matches!(
                flow.interaction,
                Interaction::RequestResponse | Interaction::Stream
            );
        match self.internal {
            Some(Transport::Rest) if internal_sync => Preference::Rest,
            Some(Transport::Grpc) if internal_sync => Preference::Grpc,
            _ => Preference::None,
        }
    }
}

/// A service, declared under `services:` or implied by a flow.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Service {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The fraction of time the service answers, above 0 and at most 1;
    /// [`DEFAULT_AVAILABILITY`] when left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub availability: Option<f64>,
    /// How many copies of the service consume in parallel; Kafka topics it
    /// reads get at least this many partitions. 1 when left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instances: Option<u32>,
    /// The service's API is also consumed by clients outside the
    /// organisation (partners, third-party apps), not only by its own
    /// services.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub exposed: bool,
}

impl Service {
    /// The declared availability, or the documented default.
    pub fn availability(&self) -> f64 {
        self.availability.unwrap_or(DEFAULT_AVAILABILITY)
    }

    /// The declared number of parallel instances, or 1.
    pub fn instances(&self) -> u32 {
        self.instances.unwrap_or(1)
    }

    /// Whether anything beyond the name is declared.
    pub fn is_plain(&self) -> bool {
        self.description.is_none()
            && self.availability.is_none()
            && self.instances.is_none()
            && !self.exposed
    }
}

/// One service-to-service flow with every default applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flow {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub from: String,
    pub to: Vec<String>,
    pub interaction: Interaction,
    pub client: Client,
    pub coupling: Coupling,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput: Option<u64>,
    pub delivery: Delivery,
    pub replay: bool,
    pub ordering: Ordering,
    pub format: Format,
    pub contract: Contract,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// How long Kafka keeps this flow's messages, in hours; sizes the disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_hours: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<Transport>,
    /// The rpc a request-response or stream flow binds to,
    /// `<package>.<Service>/<Method>` (SPEC §7); the derived name when left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpc: Option<String>,
    /// The message an event flow carries, `<package>.<Message>`; the
    /// derived name when left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The field of an event's message that keys it on Kafka; the message's
    /// first field ending in `_id` when left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// How the flow's Kafka topic may evolve (`contract check`); backward
    /// when left out. Left out of the JSON at its default, so records
    /// fingerprinted before it existed (`adr`) keep their fingerprints.
    #[serde(skip_serializing_if = "Compatibility::is_default")]
    pub compatibility: Compatibility,
    /// The inbound flow of `from` this flow is made while serving: the
    /// calls one request really makes, for the system findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub during: Option<String>,
    /// The flow is made once per item of a list (N+1 calls), not once per
    /// request.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub per_item: bool,
}

impl Flow {
    /// A flow between two services with every documented default; the base that
    /// tests, rule examples and the questionnaire start from.
    pub fn new(name: &str, from: &str, to: &str) -> Flow {
        Flow {
            name: name.to_owned(),
            description: None,
            from: from.to_owned(),
            to: vec![to.to_owned()],
            interaction: Interaction::RequestResponse,
            client: Client::Internal,
            coupling: Coupling::Tight,
            latency_ms: None,
            throughput: None,
            delivery: Delivery::AtMostOnce,
            replay: false,
            ordering: Ordering::None,
            format: Format::Any,
            contract: Contract::Flexible,
            payload_bytes: None,
            topic: None,
            retention_hours: None,
            transport: None,
            rpc: None,
            message: None,
            key: None,
            compatibility: Compatibility::Backward,
            during: None,
            per_item: false,
        }
    }

    /// The Kafka topic this flow uses when Kafka carries it.
    pub fn topic_name(&self) -> &str {
        self.topic.as_deref().unwrap_or(&self.name)
    }
}

/// A 1-based position in a source file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// Where each flow sits in its flows.yaml, for reports that point back at
/// the file (CI annotations). Kept apart from [`Flow`] so that a flow loaded
/// from a file equals the same flow written by hand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceMap {
    /// The `- name:` item of each flow, by flow name.
    pub flows: BTreeMap<String, Pos>,
    /// The `transport:` value of each flow that pins one, by flow name.
    pub pins: BTreeMap<String, Pos>,
    /// The `rpc:` or `message:` value of each flow that names one.
    pub bindings: BTreeMap<String, Pos>,
    /// The `key:` value of each flow that names one.
    pub keys: BTreeMap<String, Pos>,
    /// Each `proto:` entry, in order.
    pub proto: Vec<Pos>,
    /// Each `proto_path:` entry, in order.
    pub proto_path: Vec<Pos>,
}

impl SourceMap {
    /// Where flow `name` starts, if it came from a file.
    pub fn flow(&self, name: &str) -> Option<Pos> {
        self.flows.get(name).copied()
    }

    /// Where flow `name` pins its transport, falling back to its start.
    pub fn pin(&self, name: &str) -> Option<Pos> {
        self.pins.get(name).copied().or_else(|| self.flow(name))
    }
}
