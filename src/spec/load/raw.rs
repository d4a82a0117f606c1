//! flows.yaml as written: the serde types that mirror the file, with every
//! value's position ([`Spanned`]), and their position-free twins for the
//! fast first reading of a valid file. A flow's and a service's pair are
//! each made from one list of their fields (`raw_twins!`); a flow's list is
//! the declaration in `spec/fields.rs`.

use std::collections::HashMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde_json::Value as Json;
use serde_saphyr::{Location, Spanned};

use crate::spec::model::{
    Client, Compatibility, Contract, Coupling, Delivery, Format, Interaction, Ordering, Transport,
};

use crate::spec::fields::flow_fields;

use super::schema::{
    Name, Receivers, TopicName, VersionOne, field_schema, message_schema, proto_files_schema,
    proto_folders_schema, rpc_schema, sync_transport_schema,
};

/// The top level of flows.yaml, as written.
///
/// The editor schema (`commsadvise schema`) is derived from these same
/// types: `#[schemars(...)]` only says what each loosely typed field
/// accepts, so a field added here appears there, and `deny_unknown_fields`
/// becomes `additionalProperties: false`.
///
/// serde itself skips unknown keys here: its `deny_unknown_fields` would
/// stop the whole reading at the first one. `position::UnknownKeys` finds them all
/// instead, so that they are reported with every other problem.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[schemars(
    title = "flows.yaml, version 1",
    description = "How a system's services talk to each other, for commsadvise."
)]
pub(super) struct RawFile {
    /// The file format version; only 1 exists.
    #[serde(default)]
    #[schemars(!default, with = "VersionOne")]
    pub(super) version: Option<Spanned<Json>>,
    /// Names the generated workspace (default: "system").
    #[serde(default)]
    #[schemars(with = "Name")]
    pub(super) system: Option<Spanned<String>>,
    /// The transports this organisation can run (default: all three).
    #[serde(default)]
    #[schemars(
        with = "Vec<Transport>",
        length(min = 1),
        extend("uniqueItems" = true)
    )]
    pub(super) transports: Option<Spanned<Vec<Spanned<String>>>>,
    /// Declared services, by name; services named by flows are implied.
    #[serde(default)]
    #[schemars(schema_with = "services_schema")]
    pub(super) services: Option<HashMap<Spanned<String>, Option<RawService>>>,
    /// The service-to-service flows.
    #[serde(default)]
    #[schemars(!default, with = "Vec<RawFlow>", length(min = 1))]
    pub(super) flows: Option<Spanned<Vec<Spanned<RawFlow>>>>,
    /// The team's own .proto files, relative to flows.yaml: one path or a
    /// list (default: a contract derived from the flows).
    #[serde(default)]
    #[schemars(schema_with = "proto_files_schema")]
    pub(super) proto: Option<Spanned<Json>>,
    /// Include folders for the .proto files' imports, relative to
    /// flows.yaml: one folder or a list (default: the folder of flows.yaml).
    #[serde(default)]
    #[schemars(schema_with = "proto_folders_schema")]
    pub(super) proto_path: Option<Spanned<Json>>,
    /// The team's defaults, stated once, by kind of flow.
    #[serde(default)]
    #[schemars(with = "RawPrefer")]
    pub(super) prefer: Option<RawPrefer>,
}

/// `prefer:`, the team's defaults by kind of flow.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Prefer")]
pub(super) struct RawPrefer {
    /// rest or grpc: the transport for internal synchronous flows
    /// (request-response and stream from an internal caller) when no figure
    /// separates REST and gRPC; shown in the reasons as the team's policy.
    #[serde(default)]
    #[schemars(schema_with = "sync_transport_schema")]
    pub(super) internal: Option<Spanned<String>>,
}

/// Makes a mapping's two serde types from one list of its fields: `$raw`
/// as written, with each value's position where a diagnostic may point at
/// it, and `$lean` without positions ([`LeanFile`] says why both), with
/// `$lean::into_raw` between them, and `$keys`: every key it accepts, in
/// the order of docs/flows-yaml.md, for "accepted:" notes.
macro_rules! raw_twins {
    (
        $(#[$meta:meta])*
        $raw:ident, $lean:ident, $keys:ident {
            $($(#[doc = $doc:literal])* $field:ident: $raw_ty:ty, $lean_ty:ty, schemars($($schema:tt)*);)*
        }
    ) => {
        #[derive(Debug, Default, Deserialize, JsonSchema)]
        #[schemars(deny_unknown_fields)]
        $(#[$meta])*
        pub(super) struct $raw {
            $(
                $(#[doc = $doc])*
                #[serde(default)]
                #[schemars($($schema)*)]
                pub(super) $field: Option<$raw_ty>,
            )*
        }

        #[doc = concat!("[`", stringify!($raw), "`] without positions.")]
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(super) struct $lean {
            $(
                #[serde(default)]
                pub(super) $field: Option<$lean_ty>,
            )*
        }

        impl $lean {
            /// The same mapping with every position unknown, for the validator.
            pub(super) fn into_raw(self) -> $raw {
                $raw {
                    $($field: self.$field.map(Place::place),)*
                }
            }
        }

        #[doc = concat!("Every key [`", stringify!($raw), "`] accepts, in the order of docs/flows-yaml.md, for \"accepted:\" notes.")]
        pub const $keys: &[&str] = &[$(stringify!($field)),*];
    };
}

raw_twins! {
    /// A declared service.
    #[schemars(rename = "Service")]
    RawService, LeanService, SERVICE_KEYS {
        /// What the service owns or does.
        description: String, String, schemars(with = "String");
        /// The fraction of time the service answers, above 0 and at most 1
        /// (default 0.999); used to judge synchronous chains.
        availability: Spanned<Json>, Json, schemars(
            with = "f64",
            range(max = 1),
            extend("exclusiveMinimum" = 0)
        );
        /// How many copies of the service run in parallel (default 1); Kafka
        /// topics it consumes get at least this many partitions.
        instances: Spanned<Json>, Json, schemars(with = "u64", range(min = 1));
        /// true = the service's API is also consumed by clients outside the
        /// organisation, which favours REST for its internal callers too
        /// (default false).
        exposed: bool, bool, schemars(with = "bool");
    }
}

/// A flow's serde types, from the one declaration of its fields
/// ([`flow_fields!`](crate::spec::fields)): the types each is read as, and
/// what the schema says it accepts.
macro_rules! raw_flow {
    ($(
        [$($doc:literal)*] $field:ident: $ty:ty = $default:expr, raw $raw:ty, lean $lean:ty,
            schemars($($schema:tt)*), json$(($($json:tt)*))?;
    )*) => {
        raw_twins! {
            /// One flow, as written; every field optional so that validation can say
            /// precisely what is missing.
            #[schemars(rename = "Flow", description = "One service-to-service flow.")]
            RawFlow, LeanFlow, FLOW_KEYS {
                $($(#[doc = $doc])* $field: $raw, $lean, schemars($($schema)*);)*
            }
        }
    };
}

flow_fields!(raw_flow);

/// A value read without positions, as the positioned reading holds it.
trait Place<Raw> {
    fn place(self) -> Raw;
}

impl<T> Place<Spanned<T>> for T {
    fn place(self) -> Spanned<T> {
        unplaced(self)
    }
}

/// A number read as `u64` is held as the value it was.
impl Place<Spanned<Json>> for u64 {
    fn place(self) -> Spanned<Json> {
        unplaced(Json::from(self))
    }
}

impl Place<Spanned<RawTo>> for Json {
    fn place(self) -> Spanned<RawTo> {
        unplaced(RawTo::from(self))
    }
}

/// Text no diagnostic points at keeps no position either way.
impl Place<String> for String {
    fn place(self) -> String {
        self
    }
}

/// So does a flag no diagnostic points at.
impl Place<bool> for bool {
    fn place(self) -> bool {
        self
    }
}

/// `services:`, a map from service name to an optional declaration.
pub(super) fn services_schema(generator: &mut SchemaGenerator) -> Schema {
    let service = generator.subschema_for::<RawService>();
    json_schema!({
        "type": "object",
        "propertyNames": generator.subschema_for::<Name>(),
        "additionalProperties": { "anyOf": [service, { "type": "null" }] },
    })
}

/// Just enough of the file to name the flow an early parse error is in.
#[derive(Deserialize)]
pub(super) struct Outline {
    #[serde(default)]
    pub(super) flows: Option<Vec<Spanned<OutlineFlow>>>,
}

#[derive(Deserialize)]
pub(super) struct OutlineFlow {
    #[serde(default)]
    pub(super) name: Option<String>,
}

/// [`RawFile`] without positions: the first, fast reading of a file.
///
/// Positions are only ever needed to point at a problem, yet recording them
/// ([`Spanned`]) costs about a third of the parse and makes each flow four
/// times larger in memory. So a file is first read into these types and
/// validated with every position unknown; only when that finds a problem
/// (or this reading fails) is the file read again with positions, by the
/// very same validator, to say precisely where. A valid file is read once.
///
/// `deny_unknown_fields` matters: a key these types lacked would otherwise
/// be dropped silently instead of sending the file down the full path.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LeanFile {
    #[serde(default)]
    pub(super) version: Option<Json>,
    #[serde(default)]
    pub(super) system: Option<String>,
    #[serde(default)]
    pub(super) transports: Option<Vec<String>>,
    #[serde(default)]
    pub(super) services: Option<HashMap<String, Option<LeanService>>>,
    #[serde(default)]
    pub(super) flows: Option<Vec<LeanFlow>>,
    #[serde(default)]
    pub(super) proto: Option<Json>,
    #[serde(default)]
    pub(super) proto_path: Option<Json>,
    #[serde(default)]
    pub(super) prefer: Option<LeanPrefer>,
}

/// [`RawPrefer`] without positions.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LeanPrefer {
    #[serde(default)]
    pub(super) internal: Option<String>,
}

/// A value at an unknown position, for the validator's fast first pass.
pub(super) fn unplaced<T>(value: T) -> Spanned<T> {
    Spanned::new(value, Location::UNKNOWN, Location::UNKNOWN)
}

/// `to` as written: one name, or a list with each item where it is written,
/// so that an item YAML reads as a bool or number (`off`, `n`, `1`) can be
/// read back as the name the user typed.
#[derive(Debug)]
pub(super) enum RawTo {
    One(Json),
    List(Vec<Spanned<Json>>),
}

impl From<Json> for RawTo {
    fn from(value: Json) -> RawTo {
        match value {
            Json::Array(items) => RawTo::List(items.into_iter().map(unplaced).collect()),
            other => RawTo::One(other),
        }
    }
}

impl<'de> Deserialize<'de> for RawTo {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<RawTo, D::Error> {
        struct ToVisitor;

        impl<'de> serde::de::Visitor<'de> for ToVisitor {
            type Value = RawTo;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a service name or a list of them")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawTo, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(RawTo::List(items))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawTo, A::Error> {
                let value = Json::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(RawTo::One(value))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawTo, E> {
                Ok(RawTo::One(Json::String(v.to_owned())))
            }

            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<RawTo, E> {
                Ok(RawTo::One(Json::Bool(v)))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawTo, E> {
                Ok(RawTo::One(Json::from(v)))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawTo, E> {
                Ok(RawTo::One(Json::from(v)))
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<RawTo, E> {
                Ok(RawTo::One(Json::from(v)))
            }

            fn visit_unit<E: serde::de::Error>(self) -> Result<RawTo, E> {
                Ok(RawTo::One(Json::Null))
            }
        }

        deserializer.deserialize_any(ToVisitor)
    }
}

/// The field names serde reads for `T`, in declaration order: taken from
/// the derived code itself, so they cannot drift from the types.
pub(super) fn field_names<T: serde::de::DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::{Error as _, Visitor};

    struct Fields<'a>(&'a mut &'static [&'static str]);

    impl<'de> serde::Deserializer<'de> for Fields<'_> {
        type Error = serde::de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(Self::Error::custom("only structs"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(Self::Error::custom("fields read"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Fields(&mut fields));
    fields
}
