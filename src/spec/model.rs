//! The typed model of flows.yaml v1 (docs/flows-yaml.md), after validation.
//!
//! Everything downstream (engine, render, scaffold) works on these types only,
//! so they carry no YAML concerns; source positions live in [`SourceMap`].
//! [`Flow`] is made from the declaration of a flow's fields
//! (`spec/fields.rs`), which also says what a new field needs.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;

use crate::keywords::keywords;
use crate::spec::fields::flow_fields;
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
/// from the same table the loader parses with, so the two cannot drift;
/// its value in a file is its spelling.
macro_rules! keyword_impls {
    ($($name:ident),+) => {$(
        impl Keyword for $name {
            const NAMES: &'static [&'static str] = $name::NAMES;

            fn parse(text: &str) -> Option<$name> {
                $name::parse(text)
            }
        }

        impl AsFieldValue for $name {
            fn field_value(&self) -> Option<FieldValue<'_>> {
                Some(FieldValue::Keyword(self.as_str()))
            }
        }

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

keyword_impls!(
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

/// A flows.yaml keyword type, for code that reads any of them alike (the
/// validator).
pub trait Keyword: Copy {
    /// The accepted spellings.
    const NAMES: &'static [&'static str];

    /// Parses the exact flows.yaml spelling.
    fn parse(text: &str) -> Option<Self>;
}

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

/// Makes [`Flow`] from the declaration of its fields
/// ([`flow_fields!`](crate::spec::fields)): each field with its type, doc
/// and JSON shape; [`Flow::blank`], every default; [`Flow::each_set`].
macro_rules! flow_model {
    ($(
        [$($doc:literal)*] $field:ident: $ty:ty = $default:expr, raw $raw:ty, lean $lean:ty,
            schemars($($schema:tt)*), json$(($($json:tt)*))?;
    )*) => {
        /// One service-to-service flow with every default applied.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        pub struct Flow {
            $(
                $(#[doc = $doc])*
                $(#[serde($($json)*)])?
                pub $field: $ty,
            )*
        }

        impl Flow {
            /// A flow with every documented default and nothing named: no
            /// name, no sender, no receivers.
            pub fn blank() -> Flow {
                Flow {
                    $($field: $default,)*
                }
            }

            /// Calls `visit` with the flows.yaml key and the value of each
            /// field that differs from [`Flow::blank`], in the order of the
            /// declaration (that of docs/flows-yaml.md): what a written
            /// flows.yaml says of this flow.
            pub fn each_set(&self, mut visit: impl FnMut(&'static str, FieldValue<'_>)) {
                let blank = Flow::blank();
                $(
                    if self.$field != blank.$field
                        && let Some(value) = self.$field.field_value()
                    {
                        visit(stringify!($field), value);
                    }
                )*
            }
        }
    };
}

flow_fields!(flow_model);

/// A field's value as a file spells it, whatever its Rust type, so that a
/// writer needs no case per field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValue<'a> {
    /// Text as the user wrote it: a name, a description, a topic.
    Text(&'a str),
    /// A list of names (`to`).
    Names(&'a [String]),
    /// A keyword's one spelling.
    Keyword(&'static str),
    Number(u64),
    Bool(bool),
}

/// A type a flow field may have: what its value is in a file; `None` for
/// an optional one left out.
pub trait AsFieldValue {
    fn field_value(&self) -> Option<FieldValue<'_>>;
}

impl AsFieldValue for String {
    fn field_value(&self) -> Option<FieldValue<'_>> {
        Some(FieldValue::Text(self))
    }
}

impl AsFieldValue for Vec<String> {
    fn field_value(&self) -> Option<FieldValue<'_>> {
        Some(FieldValue::Names(self))
    }
}

impl AsFieldValue for u64 {
    fn field_value(&self) -> Option<FieldValue<'_>> {
        Some(FieldValue::Number(*self))
    }
}

impl AsFieldValue for bool {
    fn field_value(&self) -> Option<FieldValue<'_>> {
        Some(FieldValue::Bool(*self))
    }
}

impl<T: AsFieldValue> AsFieldValue for Option<T> {
    fn field_value(&self) -> Option<FieldValue<'_>> {
        self.as_ref().and_then(T::field_value)
    }
}

impl Flow {
    /// A flow between two services with every documented default; the base that
    /// tests, rule examples and the questionnaire start from.
    pub fn new(name: &str, from: &str, to: &str) -> Flow {
        Flow {
            name: name.to_owned(),
            from: from.to_owned(),
            to: vec![to.to_owned()],
            ..Flow::blank()
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
