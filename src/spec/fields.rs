//! The one declaration of a flow's fields, in the order of
//! docs/flows-yaml.md, and what a new field needs.
//!
//! [`flow_fields!`] holds the list; each place that needs every field
//! passes it a macro of its own, which takes from each line what it needs:
//!
//! - `spec/model.rs` makes [`Flow`](crate::spec::model::Flow) (its field,
//!   type, doc and JSON shape), [`Flow::blank`](crate::spec::model::Flow::blank)
//!   (every default) and [`Flow::each_set`](crate::spec::model::Flow::each_set),
//!   which `spec/write.rs` writes flows.yaml with;
//! - `spec/load/raw.rs` makes the serde types as written, with positions
//!   and without, and `FLOW_KEYS` (the "accepted:" lists, the docs check);
//!   the editor schema (`commsadvise schema`) is derived from them.
//!
//! A declarative macro rather than a type generic over `Spanned<T>` / `T`:
//! the two readings differ on purpose for a few fields (a number is read as
//! any value with positions, to say what is wrong with it, and as `u64`
//! without), which one line per field states plainly; and the model's
//! type is a third, which no type parameter would give.
//!
//! # Adding a field, step by step
//!
//! 1. A line below, where docs/flows-yaml.md lists it: its description
//!    (the editor schema shows it), its type and default in [`Flow`], its
//!    types as read with and without positions, what the schema says it
//!    accepts, and when the JSON output leaves it out. A value of a new
//!    type implements `AsFieldValue` (`spec/model.rs`); the compiler says
//!    so.
//! 2. Its validation, in `Validator::flow` (`spec/load/validate.rs`): the
//!    raw flow is taken apart there field by field, so a field that is not
//!    validated does not compile.
//! 3. Its section in docs/flows-yaml.md (a test fails without it) and, if
//!    it is user-facing contract, SPEC.
//! 4. If rules may read it: a variant of `Field` and a member of `Facts`
//!    (`engine/facts.rs`), named like the key; a test checks that every
//!    fact named like a flow key reads that key's value.
//! 5. Whether the questionnaire asks for it: a question in `ask_flow` and
//!    the key in `ASKED`, or the key in `NOT_ASKED` with the others it
//!    leaves to the file (both in the tests of `questionnaire/questions.rs`:
//!    a test fails until the key is in one of them, and another that an
//!    asked key is set by the answers).
//!
//! Everything else (the writer, the accepted keys, the schema, the JSON
//! output, the "unknown field" suggestions) follows from step 1.
//!
//! [`Flow`]: crate::spec::model::Flow

/// Calls `$then!` with every field of a flow. Declared one per line,
///
/// ```text
/// /// description
/// key: ModelType = default, raw PositionedType, lean PlainType,
///     schemars(schema attributes) [, json(serde attributes)];
/// ```
///
/// and passed on read once, in one shape, each part in its place, so that
/// a user matches it with one line:
///
/// ```text
/// [description literals] key: ModelType = default, raw PositionedType,
///     lean PlainType, schemars(...), json[(...)];
/// ```
macro_rules! flow_fields {
    (@read $then:ident {$(
        $(#[doc = $doc:literal])*
        $field:ident: $ty:ty = $default:expr,
            raw $raw:ty, lean $lean:ty, schemars($($schema:tt)*)
            $(, json($($json:tt)*))?;
    )*}) => {
        $then! {$(
            [$($doc)*] $field: $ty = $default, raw $raw, lean $lean,
                schemars($($schema)*), json$(($($json)*))?;
        )*}
    };
    ($then:ident) => {
        $crate::spec::fields::flow_fields! { @read $then {
            /// Unique; lowercase ASCII letters, digits and '-', starting with a letter.
            name: String = String::new(),
                raw Spanned<String>, lean String, schemars(!default, with = "Name");
            /// What the flow is for, in a sentence.
            description: Option<String> = None,
                raw String, lean String, schemars(with = "String"),
                json(skip_serializing_if = "Option::is_none");
            /// The calling or producing service.
            from: String = String::new(),
                raw Spanned<String>, lean String, schemars(!default, with = "Name");
            /// One receiving service, or a list of them (fan-out).
            to: Vec<String> = Vec::new(),
                raw Spanned<RawTo>, lean Json, schemars(!default, with = "Receivers");
            /// The shape of the conversation (default request-response).
            interaction: Interaction = Interaction::RequestResponse,
                raw Spanned<String>, lean String, schemars(with = "Interaction");
            /// Who is on the calling side (default internal).
            client: Client = Client::Internal,
                raw Spanned<String>, lean String, schemars(with = "Client");
            /// loose = the sender must keep working while receivers are down or slow (default tight).
            coupling: Coupling = Coupling::Tight,
                raw Spanned<String>, lean String, schemars(with = "Coupling");
            /// The p99 budget for this hop, in milliseconds.
            latency_ms: Option<u64> = None,
                raw Spanned<Json>, lean u64, schemars(with = "u64", range(min = 1)),
                json(skip_serializing_if = "Option::is_none");
            /// Peak requests or messages per second.
            throughput: Option<u64> = None,
                raw Spanned<Json>, lean u64, schemars(with = "u64", range(min = 1)),
                json(skip_serializing_if = "Option::is_none");
            /// The delivery guarantee the flow needs (default at-most-once).
            delivery: Delivery = Delivery::AtMostOnce,
                raw Spanned<String>, lean String, schemars(with = "Delivery");
            /// true = consumers must be able to re-read past messages (default false).
            replay: bool = false,
                raw Spanned<bool>, lean bool, schemars(with = "bool");
            /// The ordering guarantee the flow needs (default none).
            ordering: Ordering = Ordering::None,
                raw Spanned<String>, lean String, schemars(with = "Ordering");
            /// json = must stay human-readable on the wire (default any).
            format: Format = Format::Any,
                raw Spanned<String>, lean String, schemars(with = "Format");
            /// strict = a typed, versioned contract is required (default flexible).
            contract: Contract = Contract::Flexible,
                raw Spanned<String>, lean String, schemars(with = "Contract");
            /// Typical message size, in bytes.
            payload_bytes: Option<u64> = None,
                raw Spanned<Json>, lean u64, schemars(with = "u64", range(min = 1)),
                json(skip_serializing_if = "Option::is_none");
            /// The Kafka topic when Kafka carries the flow (default: the flow name).
            topic: Option<String> = None,
                raw Spanned<String>, lean String, schemars(with = "TopicName"),
                json(skip_serializing_if = "Option::is_none");
            /// How long Kafka keeps the flow's messages, in hours (default 168, a
            /// week); sizes the topic's disk.
            retention_hours: Option<u64> = None,
                raw Spanned<Json>, lean Json, schemars(with = "u64", range(min = 1)),
                json(skip_serializing_if = "Option::is_none");
            /// Pins the transport; the report still shows what the rules would pick.
            transport: Option<Transport> = None,
                raw Spanned<String>, lean String, schemars(with = "Transport"),
                json(skip_serializing_if = "Option::is_none");
            /// request-response and stream flows: the rpc of the team's proto they
            /// bind to, `<package>.<Service>/<Method>` (default: the derived name).
            rpc: Option<String> = None,
                raw Spanned<String>, lean String, schemars(schema_with = "rpc_schema"),
                json(skip_serializing_if = "Option::is_none");
            /// Event flows: the message of the team's proto they carry,
            /// `<package>.<Message>` (default: the derived name).
            message: Option<String> = None,
                raw Spanned<String>, lean String, schemars(schema_with = "message_schema"),
                json(skip_serializing_if = "Option::is_none");
            /// Event flows: the message field that keys the record on Kafka
            /// (default: the first field ending in `_id`).
            key: Option<String> = None,
                raw Spanned<String>, lean String, schemars(schema_with = "field_schema"),
                json(skip_serializing_if = "Option::is_none");
            // Left out of the JSON at its default, so that records
            // fingerprinted before it existed (`adr`) keep their fingerprints.
            /// Kafka topics: how the message may evolve, as a schema registry
            /// checks it (`contract check`; default backward).
            compatibility: Compatibility = Compatibility::Backward,
                raw Spanned<String>, lean String, schemars(with = "Compatibility"),
                json(skip_serializing_if = "Compatibility::is_default");
            /// The inbound flow of `from` this flow is made while serving (a flow
            /// whose `to` names `from`): the calls one request really makes.
            during: Option<String> = None,
                raw Spanned<String>, lean String, schemars(with = "Name"),
                json(skip_serializing_if = "Option::is_none");
            /// true = the flow is made once per item of a list, not once per
            /// request (default false).
            per_item: bool = false,
                raw Spanned<bool>, lean bool, schemars(with = "bool"),
                json(skip_serializing_if = "std::ops::Not::not");
        }}
    };
}

pub(crate) use flow_fields;
