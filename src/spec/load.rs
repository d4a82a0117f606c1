//! From flows.yaml text to a validated [`FlowsFile`].
//!
//! serde reads the file into raw types that keep every value's position
//! ([`Spanned`]); validation then applies docs/flows-yaml.md — names, keywords,
//! defaults, uniqueness — and reports every problem it finds, each pointing
//! at its line and column, rather than stopping at the first.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde_json::Value as Json;
use serde_saphyr::{Location, Spanned};

use crate::engine::sizing::{CONSUMER_RATE, MAX_PARTITIONS, MAX_THROUGHPUT};
use crate::error::{Diagnostic, Error, did_you_mean};
use crate::spec::model::{
    Client, Compatibility, Contract, Coupling, Delivery, Flow, FlowsFile, Format, Interaction,
    Ordering, Pos, Prefer, Service, SourceMap, Transport,
};
use crate::spec::names;
use crate::yaml;

/// The top level of flows.yaml, as written.
///
/// The editor schema (`commsadvise schema`) is derived from these same
/// types: `#[schemars(...)]` only says what each loosely typed field
/// accepts, so a field added here appears there, and `deny_unknown_fields`
/// becomes `additionalProperties: false`.
///
/// serde itself skips unknown keys here: its `deny_unknown_fields` would
/// stop the whole reading at the first one. [`UnknownKeys`] finds them all
/// instead, so that they are reported with every other problem.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[schemars(
    title = "flows.yaml, version 1",
    description = "How a system's services talk to each other, for commsadvise."
)]
struct RawFile {
    /// The file format version; only 1 exists.
    #[serde(default)]
    #[schemars(!default, with = "VersionOne")]
    version: Option<Spanned<Json>>,
    /// Names the generated workspace (default: "system").
    #[serde(default)]
    #[schemars(with = "Name")]
    system: Option<Spanned<String>>,
    /// The transports this organisation can run (default: all three).
    #[serde(default)]
    #[schemars(
        with = "Vec<Transport>",
        length(min = 1),
        extend("uniqueItems" = true)
    )]
    transports: Option<Spanned<Vec<Spanned<String>>>>,
    /// Declared services, by name; services named by flows are implied.
    #[serde(default)]
    #[schemars(schema_with = "services_schema")]
    services: Option<HashMap<Spanned<String>, Option<RawService>>>,
    /// The service-to-service flows.
    #[serde(default)]
    #[schemars(!default, with = "Vec<RawFlow>", length(min = 1))]
    flows: Option<Spanned<Vec<Spanned<RawFlow>>>>,
    /// The team's own .proto files, relative to flows.yaml: one path or a
    /// list (default: a contract derived from the flows).
    #[serde(default)]
    #[schemars(schema_with = "proto_files_schema")]
    proto: Option<Spanned<Json>>,
    /// Include folders for the .proto files' imports, relative to
    /// flows.yaml: one folder or a list (default: the folder of flows.yaml).
    #[serde(default)]
    #[schemars(schema_with = "proto_folders_schema")]
    proto_path: Option<Spanned<Json>>,
    /// The team's defaults, stated once, by kind of flow.
    #[serde(default)]
    #[schemars(with = "RawPrefer")]
    prefer: Option<RawPrefer>,
}

/// `prefer:`, the team's defaults by kind of flow.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Prefer")]
struct RawPrefer {
    /// rest or grpc: the transport for internal synchronous flows
    /// (request-response and stream from an internal caller) when no figure
    /// separates REST and gRPC; shown in the reasons as the team's policy.
    #[serde(default)]
    #[schemars(schema_with = "sync_transport_schema")]
    internal: Option<Spanned<String>>,
}

/// What `prefer: internal:` accepts: the synchronous transports.
const SYNC_TRANSPORTS: &[&str] = &["rest", "grpc"];

/// `prefer: internal:`, a synchronous transport.
fn sync_transport_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "enum": SYNC_TRANSPORTS })
}

/// A declared service.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[schemars(rename = "Service")]
struct RawService {
    /// What the service owns or does.
    #[serde(default)]
    #[schemars(with = "String")]
    description: Option<String>,
    /// The fraction of time the service answers, above 0 and at most 1
    /// (default 0.999); used to judge synchronous chains.
    #[serde(default)]
    #[schemars(
        with = "f64",
        range(max = 1),
        extend("exclusiveMinimum" = 0)
    )]
    availability: Option<Spanned<Json>>,
    /// How many copies of the service run in parallel (default 1); Kafka
    /// topics it consumes get at least this many partitions.
    #[serde(default)]
    #[schemars(with = "u32", range(min = 1))]
    instances: Option<Spanned<Json>>,
    /// true = the service's API is also consumed by clients outside the
    /// organisation, which favours REST for its internal callers too
    /// (default false).
    #[serde(default)]
    #[schemars(with = "bool")]
    exposed: Option<bool>,
}

/// One flow, as written; every field optional so that validation can say
/// precisely what is missing.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[schemars(rename = "Flow", description = "One service-to-service flow.")]
struct RawFlow {
    /// Unique; lowercase ASCII letters, digits and '-', starting with a letter.
    #[serde(default)]
    #[schemars(!default, with = "Name")]
    name: Option<Spanned<String>>,
    /// What the flow is for, in a sentence.
    #[serde(default)]
    #[schemars(with = "String")]
    description: Option<String>,
    /// The calling or producing service.
    #[serde(default)]
    #[schemars(!default, with = "Name")]
    from: Option<Spanned<String>>,
    /// One receiving service, or a list of them (fan-out).
    #[serde(default)]
    #[schemars(!default, with = "Receivers")]
    to: Option<Spanned<RawTo>>,
    /// The shape of the conversation (default request-response).
    #[serde(default)]
    #[schemars(with = "Interaction")]
    interaction: Option<Spanned<String>>,
    /// Who is on the calling side (default internal).
    #[serde(default)]
    #[schemars(with = "Client")]
    client: Option<Spanned<String>>,
    /// loose = the sender must keep working while receivers are down or slow (default tight).
    #[serde(default)]
    #[schemars(with = "Coupling")]
    coupling: Option<Spanned<String>>,
    /// The p99 budget for this hop, in milliseconds.
    #[serde(default)]
    #[schemars(with = "u64", range(min = 1))]
    latency_ms: Option<Spanned<Json>>,
    /// Peak requests or messages per second.
    #[serde(default)]
    #[schemars(with = "u64", range(min = 1))]
    throughput: Option<Spanned<Json>>,
    /// The delivery guarantee the flow needs (default at-most-once).
    #[serde(default)]
    #[schemars(with = "Delivery")]
    delivery: Option<Spanned<String>>,
    /// true = consumers must be able to re-read past messages (default false).
    #[serde(default)]
    #[schemars(with = "bool")]
    replay: Option<Spanned<bool>>,
    /// The ordering guarantee the flow needs (default none).
    #[serde(default)]
    #[schemars(with = "Ordering")]
    ordering: Option<Spanned<String>>,
    /// json = must stay human-readable on the wire (default any).
    #[serde(default)]
    #[schemars(with = "Format")]
    format: Option<Spanned<String>>,
    /// strict = a typed, versioned contract is required (default flexible).
    #[serde(default)]
    #[schemars(with = "Contract")]
    contract: Option<Spanned<String>>,
    /// Typical message size, in bytes.
    #[serde(default)]
    #[schemars(with = "u64", range(min = 1))]
    payload_bytes: Option<Spanned<Json>>,
    /// The Kafka topic when Kafka carries the flow (default: the flow name).
    #[serde(default)]
    #[schemars(with = "TopicName")]
    topic: Option<Spanned<String>>,
    /// How long Kafka keeps the flow's messages, in hours (default 168, a
    /// week); sizes the topic's disk.
    #[serde(default)]
    #[schemars(with = "u64", range(min = 1))]
    retention_hours: Option<Spanned<Json>>,
    /// Pins the transport; the report still shows what the rules would pick.
    #[serde(default)]
    #[schemars(with = "Transport")]
    transport: Option<Spanned<String>>,
    /// request-response and stream flows: the rpc of the team's proto they
    /// bind to, `<package>.<Service>/<Method>` (default: the derived name).
    #[serde(default)]
    #[schemars(schema_with = "rpc_schema")]
    rpc: Option<Spanned<String>>,
    /// Event flows: the message of the team's proto they carry,
    /// `<package>.<Message>` (default: the derived name).
    #[serde(default)]
    #[schemars(schema_with = "message_schema")]
    message: Option<Spanned<String>>,
    /// Event flows: the message field that keys the record on Kafka
    /// (default: the first field ending in `_id`).
    #[serde(default)]
    #[schemars(schema_with = "field_schema")]
    key: Option<Spanned<String>>,
    /// Kafka topics: how the message may evolve, as a schema registry
    /// checks it (`contract check`; default backward).
    #[serde(default)]
    #[schemars(with = "Compatibility")]
    compatibility: Option<Spanned<String>>,
    /// The inbound flow of `from` this flow is made while serving (a flow
    /// whose `to` names `from`): the calls one request really makes.
    #[serde(default)]
    #[schemars(with = "Name")]
    during: Option<Spanned<String>>,
    /// true = the flow is made once per item of a list, not once per
    /// request (default false).
    #[serde(default)]
    #[schemars(with = "bool")]
    per_item: Option<Spanned<bool>>,
}

/// The pattern of flow, service and system names (`names::check`); the
/// loader also refuses Rust keywords and reserved names, which a pattern
/// cannot say readably.
const NAME_PATTERN: &str = "^[a-z](-?[a-z0-9])*$";

/// Schema-only: `version: 1`.
struct VersionOne;

impl JsonSchema for VersionOne {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "VersionOne".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "const": 1 })
    }
}

/// Schema-only: a flow, service or system name.
struct Name;

impl JsonSchema for Name {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Name".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": NAME_PATTERN,
            "maxLength": names::MAX_NAME,
        })
    }
}

/// Schema-only: `to`, one service or a non-empty list without repeats.
struct Receivers;

impl JsonSchema for Receivers {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Receivers".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let one = generator.subschema_for::<Name>();
        json_schema!({
            "anyOf": [
                one,
                { "type": "array", "items": one, "minItems": 1, "uniqueItems": true },
            ]
        })
    }
}

/// Schema-only: a Kafka topic name (`names::check_topic`).
struct TopicName;

impl JsonSchema for TopicName {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "TopicName".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[A-Za-z0-9._-]{1,200}$",
            "not": { "enum": [".", ".."] },
        })
    }
}

/// A protobuf identifier, the pieces of the binding keys.
const IDENT: &str = "[A-Za-z_][A-Za-z0-9_]*";

/// `one`, or a non-empty list of them without repeats.
fn one_or_list(one: &Schema) -> Schema {
    json_schema!({
        "anyOf": [
            one,
            { "type": "array", "items": one, "minItems": 1, "uniqueItems": true },
        ]
    })
}

/// `proto:`, one .proto path or a list of them.
fn proto_files_schema(_: &mut SchemaGenerator) -> Schema {
    one_or_list(&json_schema!({ "type": "string", "pattern": "\\.proto$" }))
}

/// `proto_path:`, one folder or a list of them.
fn proto_folders_schema(_: &mut SchemaGenerator) -> Schema {
    one_or_list(&json_schema!({ "type": "string", "minLength": 1 }))
}

/// `rpc:`, `<package>.<Service>/<Method>`.
fn rpc_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "pattern": format!("^{IDENT}(\\.{IDENT})*/{IDENT}$") })
}

/// `message:`, `<package>.<Message>`.
fn message_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "pattern": format!("^{IDENT}(\\.{IDENT})*$") })
}

/// `key:`, a field name.
fn field_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "pattern": format!("^{IDENT}$") })
}

/// `services:`, a map from service name to an optional declaration.
fn services_schema(generator: &mut SchemaGenerator) -> Schema {
    let service = generator.subschema_for::<RawService>();
    json_schema!({
        "type": "object",
        "propertyNames": generator.subschema_for::<Name>(),
        "additionalProperties": { "anyOf": [service, { "type": "null" }] },
    })
}

/// The JSON Schema of flows.yaml v1, for editors (`commsadvise schema`).
pub fn json_schema() -> Json {
    // Draft 7: the newest draft that every editor's YAML language server reads.
    let schema = schemars::generate::SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<RawFile>();
    let mut value = schema.to_value();
    tidy(&mut value);
    value
}

/// Removes what helps no editor: `"default": null` (leaving a key out is
/// how flows.yaml asks for a default, which each description names), Rust's
/// number formats (`uint64`, which validators do not know), and the line
/// breaks of wrapped doc comments.
fn tidy(value: &mut Json) {
    match value {
        Json::Object(map) => {
            if map.get("default").is_some_and(Json::is_null) {
                map.remove("default");
            }
            if map
                .get("type")
                .and_then(Json::as_str)
                .is_some_and(|t| t == "integer" || t == "number")
            {
                map.remove("format");
            }
            if let Some(Json::String(d)) = map.get_mut("description") {
                *d = d.replace('\n', " ");
            }
            map.values_mut().for_each(tidy);
        }
        Json::Array(items) => items.iter_mut().for_each(tidy),
        _ => {}
    }
}

/// Every key a flow accepts, in the order of docs/flows-yaml.md, for
/// "accepted:" notes.
pub const FLOW_KEYS: &[&str] = &[
    "name",
    "description",
    "from",
    "to",
    "interaction",
    "client",
    "coupling",
    "latency_ms",
    "throughput",
    "delivery",
    "replay",
    "ordering",
    "format",
    "contract",
    "payload_bytes",
    "topic",
    "retention_hours",
    "transport",
    "rpc",
    "message",
    "key",
    "compatibility",
    "during",
    "per_item",
];

/// Every key a declared service accepts, for "accepted:" notes.
pub const SERVICE_KEYS: &[&str] = &["description", "availability", "instances", "exposed"];

/// Just enough of the file to name the flow an early parse error is in.
#[derive(Deserialize)]
struct Outline {
    #[serde(default)]
    flows: Option<Vec<Spanned<OutlineFlow>>>,
}

#[derive(Deserialize)]
struct OutlineFlow {
    #[serde(default)]
    name: Option<String>,
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
struct LeanFile {
    #[serde(default)]
    version: Option<Json>,
    #[serde(default)]
    system: Option<String>,
    #[serde(default)]
    transports: Option<Vec<String>>,
    #[serde(default)]
    services: Option<HashMap<String, Option<LeanService>>>,
    #[serde(default)]
    flows: Option<Vec<LeanFlow>>,
    #[serde(default)]
    proto: Option<Json>,
    #[serde(default)]
    proto_path: Option<Json>,
    #[serde(default)]
    prefer: Option<LeanPrefer>,
}

/// [`RawPrefer`] without positions.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LeanPrefer {
    #[serde(default)]
    internal: Option<String>,
}

/// [`RawService`] without positions.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LeanService {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    availability: Option<Json>,
    #[serde(default)]
    instances: Option<Json>,
    #[serde(default)]
    exposed: Option<bool>,
}

/// [`RawFlow`] without positions.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LeanFlow {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<Json>,
    #[serde(default)]
    interaction: Option<String>,
    #[serde(default)]
    client: Option<String>,
    #[serde(default)]
    coupling: Option<String>,
    #[serde(default)]
    latency_ms: Option<u64>,
    #[serde(default)]
    throughput: Option<u64>,
    #[serde(default)]
    delivery: Option<String>,
    #[serde(default)]
    replay: Option<bool>,
    #[serde(default)]
    ordering: Option<String>,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    contract: Option<String>,
    #[serde(default)]
    payload_bytes: Option<u64>,
    #[serde(default)]
    topic: Option<String>,
    #[serde(default)]
    retention_hours: Option<Json>,
    #[serde(default)]
    transport: Option<String>,
    #[serde(default)]
    rpc: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    compatibility: Option<String>,
    during: Option<String>,
    #[serde(default)]
    per_item: Option<bool>,
}

/// A value at an unknown position, for the validator's fast first pass.
fn unplaced<T>(value: T) -> Spanned<T> {
    Spanned::new(value, Location::UNKNOWN, Location::UNKNOWN)
}

impl LeanFlow {
    fn into_raw(self) -> RawFlow {
        RawFlow {
            name: self.name.map(unplaced),
            description: self.description,
            from: self.from.map(unplaced),
            to: self.to.map(|to| unplaced(RawTo::from(to))),
            interaction: self.interaction.map(unplaced),
            client: self.client.map(unplaced),
            coupling: self.coupling.map(unplaced),
            latency_ms: self.latency_ms.map(|n| unplaced(Json::from(n))),
            throughput: self.throughput.map(|n| unplaced(Json::from(n))),
            delivery: self.delivery.map(unplaced),
            replay: self.replay.map(unplaced),
            ordering: self.ordering.map(unplaced),
            format: self.format.map(unplaced),
            contract: self.contract.map(unplaced),
            payload_bytes: self.payload_bytes.map(|n| unplaced(Json::from(n))),
            topic: self.topic.map(unplaced),
            retention_hours: self.retention_hours.map(unplaced),
            transport: self.transport.map(unplaced),
            rpc: self.rpc.map(unplaced),
            message: self.message.map(unplaced),
            key: self.key.map(unplaced),
            compatibility: self.compatibility.map(unplaced),
            during: self.during.map(unplaced),
            per_item: self.per_item.map(unplaced),
        }
    }
}

/// A file's flows as the validator takes them: where the list starts, and
/// each flow with where it starts.
struct FlowList<I> {
    at: Pos,
    len: usize,
    items: I,
}

/// Loads and validates a flows file from its bytes.
pub fn load(file: &str, bytes: &[u8]) -> Result<FlowsFile, Error> {
    let text = yaml::text(file, bytes)?;
    load_str(file, text)
}

/// [`load`], also returning where each flow sits in the file.
pub fn load_mapped(file: &str, bytes: &[u8]) -> Result<(FlowsFile, SourceMap), Error> {
    let text = yaml::text(file, bytes)?;
    load_str_mapped(file, text)
}

/// Loads and validates a flows file from text.
///
/// A valid file is read once, without positions ([`LeanFile`]); a file with
/// any problem is read again with positions so that every diagnostic points
/// at its source, exactly as [`load_str_mapped`] reports it.
pub fn load_str(file: &str, text: &str) -> Result<FlowsFile, Error> {
    if let Ok(lean) = yaml::parse::<LeanFile>(file, text) {
        let mut v = Validator::new(file, text, false);
        let flows_file = v.lean_file(lean);
        if v.errors.is_empty() {
            return Ok(flows_file);
        }
    }
    load_str_mapped(file, text).map(|(flows, _)| flows)
}

/// [`load_str`], also returning where each flow sits in the file.
pub fn load_str_mapped(file: &str, text: &str) -> Result<(FlowsFile, SourceMap), Error> {
    let raw: RawFile = yaml::parse_failing(yaml::FileKind::Flows, file, text)
        .map_err(|f| in_flow_context(f, text))?;
    let mut v = Validator::new(file, text, true);
    v.unknown = UnknownKeys::of(text);
    let flows_file = v.file(raw);
    if v.errors.is_empty() {
        return Ok((flows_file, v.map));
    }
    let total = v.errors.len();
    if total > MAX_ERRORS {
        v.errors.truncate(MAX_ERRORS);
        v.errors.push(
            Diagnostic::new(
                format!("{} more errors not shown", total - MAX_ERRORS),
                file,
            )
            .note("fix the errors above and run again"),
        );
    }
    Err(Error::Input(v.errors))
}

/// Adds "in flow `x`" (or "in service `x`") to a parse error that sits
/// inside a flow (or a declared service), found from a lenient second
/// reading of the file.
fn in_flow_context(failure: yaml::Failure, text: &str) -> Diagnostic {
    let yaml::Failure {
        diagnostic: mut d,
        cause,
    } = failure;
    let Some(at) = d.pos else { return d };
    let unknown_in = |keys: &[&str]| matches!(&cause, yaml::Cause::UnknownField { expected } if expected.as_slice() == keys);
    if unknown_in(SERVICE_KEYS) {
        if let Some(service) = enclosing_key(text, at) {
            d.message = format!("{} in service `{service}`", d.message);
        }
        return d;
    }
    // A problem after the flows (in `prefer:`, say) is not in the last flow.
    if top_level_key(text, at).as_deref() != Some("flows") {
        return d;
    }
    let Ok(outline) = yaml::parse::<Outline>("", text) else {
        return d;
    };
    let Some(flows) = outline.flows else { return d };
    let mut containing = None;
    for flow in &flows {
        if yaml::pos(flow.referenced) <= at {
            containing = Some(flow);
        }
    }
    if let Some(flow) = containing {
        let name = flow.value.name.as_deref().unwrap_or("(unnamed)");
        d.message = format!("{} in flow `{name}`", d.message);
    }
    d
}

/// The top-level key whose value holds line `at.line`: the nearest line at
/// or above it that starts in the first column with a key.
fn top_level_key(text: &str, at: Pos) -> Option<String> {
    text.lines()
        .take(at.line)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .find(|line| line.starts_with(|c: char| !c.is_whitespace() && c != '#' && c != '-'))
        .and_then(|line| line.split(':').next())
        .map(|key| key.trim().trim_matches(['"', '\'']).to_owned())
}

/// The key of the mapping that holds the entry at `at`: the nearest line
/// above it that is indented less, such as `  orders:` above
/// `    availabilty: 0.99`.
fn enclosing_key(text: &str, at: Pos) -> Option<String> {
    let indent = at.column.saturating_sub(1);
    text.lines()
        .take(at.line.saturating_sub(1))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .find_map(|line| {
            let trimmed = line.trim_start();
            let own = line.len() - trimmed.len();
            if trimmed.is_empty() || trimmed.starts_with('#') || own >= indent {
                return None;
            }
            Some(
                trimmed
                    .split(':')
                    .next()?
                    .trim()
                    .trim_matches(['"', '\''])
                    .to_owned(),
            )
        })
}

/// More errors than this are counted, not shown: a file that is wrong
/// everywhere needs its first problems fixed, not ten thousand carets.
const MAX_ERRORS: usize = 50;

struct Validator<'a> {
    file: &'a str,
    /// The source, split once, so pointing at a line costs nothing.
    lines: Vec<&'a str>,
    errors: Vec<Diagnostic>,
    map: SourceMap,
    /// Service names already checked and found good: most flows name
    /// services other flows named before.
    good_services: std::collections::HashSet<String>,
    /// Whether positions are known. Without them (the fast first pass of
    /// [`load_str`]) the validator only decides whether the file is valid:
    /// its diagnostics are thrown away and the file is read again with
    /// positions, so nothing that needs the source text may succeed here.
    placed: bool,
    /// Keys no field takes, reported where their flow or service is.
    unknown: UnknownKeys,
    /// Whether the file names the team's .proto files: flows may then bind
    /// to their rpcs and messages.
    has_proto: bool,
    /// Where each flow's `during:` value is, by flow name (placed reading
    /// only), to point at one that names no inbound flow.
    during_at: HashMap<String, Pos>,
}

impl<'a> Validator<'a> {
    fn new(file: &'a str, text: &'a str, placed: bool) -> Validator<'a> {
        Validator {
            file,
            // Only diagnostics read the lines, and only placed ones are shown.
            lines: if placed {
                text.lines().collect()
            } else {
                Vec::new()
            },
            errors: Vec::new(),
            good_services: std::collections::HashSet::new(),
            map: SourceMap::default(),
            placed,
            unknown: UnknownKeys::default(),
            has_proto: false,
            during_at: HashMap::new(),
        }
    }

    /// [`Self::file`] for a file read without positions.
    fn lean_file(&mut self, lean: LeanFile) -> FlowsFile {
        let raw = RawFile {
            version: lean.version.map(unplaced),
            system: lean.system.map(unplaced),
            transports: lean
                .transports
                .map(|ts| unplaced(ts.into_iter().map(unplaced).collect())),
            services: lean.services.map(|services| {
                services
                    .into_iter()
                    .map(|(name, service)| {
                        let service = service.map(|s| RawService {
                            description: s.description,
                            availability: s.availability.map(unplaced),
                            instances: s.instances.map(unplaced),
                            exposed: s.exposed,
                        });
                        (unplaced(name), service)
                    })
                    .collect()
            }),
            flows: None,
            proto: lean.proto.map(unplaced),
            proto_path: lean.proto_path.map(unplaced),
            prefer: lean.prefer.map(|p| RawPrefer {
                internal: p.internal.map(unplaced),
            }),
        };
        // Flows are converted one at a time, so that the large positioned
        // form of all of them never sits in memory at once.
        let flows = lean.flows.map(|flows| FlowList {
            at: Pos::default(),
            len: flows.len(),
            items: flows.into_iter().map(|f| (Pos::default(), f.into_raw())),
        });
        self.file_with(raw, flows)
    }

    /// A diagnostic at `at`, with its source line.
    fn diagnostic(&self, message: String, at: Pos, width: usize) -> Diagnostic {
        let line = self.lines.get(at.line.saturating_sub(1)).copied();
        Diagnostic::new(message, self.file).at_line(line, at, width)
    }

    fn error(&mut self, message: String, at: Option<Pos>, width: usize) -> &mut Diagnostic {
        let d = match at {
            Some(at) => self.diagnostic(message, at, width),
            None => Diagnostic::new(message, self.file),
        };
        self.errors.push(d);
        self.errors.last_mut().expect("just pushed")
    }

    fn file(&mut self, mut raw: RawFile) -> FlowsFile {
        let flows = raw.flows.take().map(|list| FlowList {
            at: yaml::pos(list.referenced),
            len: list.value.len(),
            items: list
                .value
                .into_iter()
                .map(|f| (yaml::pos(f.referenced), f.value)),
        });
        self.file_with(raw, flows)
    }

    /// Validates the file; its flows come apart, in file order.
    fn file_with(
        &mut self,
        raw: RawFile,
        flows: Option<FlowList<impl Iterator<Item = (Pos, RawFlow)>>>,
    ) -> FlowsFile {
        let top = std::mem::take(&mut self.unknown.top);
        self.unknown_keys::<RawFile>(Some(top), &String::new);
        self.version(raw.version.as_ref());
        let system = match raw.system {
            Some(s) => {
                self.name(&s, "system", None);
                s.value
            }
            None => "system".to_owned(),
        };
        let transports = self.transports(raw.transports.as_ref());
        let proto = self.proto_files(raw.proto.as_ref(), "proto");
        let proto_path = self.proto_files(raw.proto_path.as_ref(), "proto_path");
        self.has_proto = !proto.is_empty();
        if let (Some(folders), false) = (&raw.proto_path, self.has_proto) {
            self.error(
                "`proto_path` is set but `proto` is not".into(),
                Some(key_of(&self.lines, yaml::pos(folders.referenced), "proto_path")),
                "proto_path".len(),
            )
            .notes
            .push("`proto_path` lists the include folders of the files under `proto:`; add `proto:` or remove `proto_path`".into());
        }
        let mut services = BTreeMap::new();
        let mut declared: Vec<(String, Pos)> = Vec::new();
        // In file order, so that errors come out in a stable order.
        let mut raw_services: Vec<_> = raw.services.unwrap_or_default().into_iter().collect();
        raw_services.sort_by_key(|(name, _)| yaml::pos(name.referenced));
        for (name, service) in raw_services {
            let unknown = self.unknown.services.remove(&name.value);
            self.unknown_keys::<RawService>(unknown, &|| format!(" in service `{}`", name.value));
            declared.push((name.value.clone(), yaml::pos(name.referenced)));
            let service = service.unwrap_or_default();
            let parsed = Service {
                description: service.description,
                availability: self.availability(service.availability.as_ref(), &name.value),
                instances: self
                    .whole(service.instances.as_ref(), "instances", &|| {
                        format!(" of service `{}`", name.value)
                    })
                    .and_then(|n| {
                        let at = service.instances.as_ref().map(|i| yaml::pos(i.referenced));
                        let max = u64::from(MAX_PARTITIONS);
                        let why = "each instance consumes from a partition of its own, and a topic gets at most this many";
                        self.at_most(n, max, at, "instances", &format!(" of service `{}`", name.value), why)
                    })
                    .map(|n| u32::try_from(n).unwrap_or(MAX_PARTITIONS)),
                exposed: service.exposed.unwrap_or(false),
            };
            services.insert(name.value, parsed);
        }
        declared.sort();
        for (name, at) in &declared {
            if let Err(why) = names::check_service(name) {
                let d = self.error(
                    format!("invalid service name `{name}`: {why}"),
                    Some(*at),
                    name.len(),
                );
                name_help(d, name, "service");
            }
        }
        let prefer = self.prefer(raw.prefer.as_ref());
        let flows = self.flows(flows, &transports, &declared);
        self.during(&flows);
        // Every service a kept flow names passed `service_ref`, which
        // remembered it; and without errors (a file with errors is never
        // returned) every service remembered is named by a kept flow. So
        // the few distinct names stand for the many mentions.
        debug_assert!(
            !self.errors.is_empty() || {
                let named: std::collections::HashSet<&String> = flows
                    .iter()
                    .flat_map(|f| std::iter::once(&f.from).chain(&f.to))
                    .collect();
                named.len() == self.good_services.len()
                    && named.iter().all(|s| self.good_services.contains(*s))
            }
        );
        for service in &self.good_services {
            if !services.contains_key(service) {
                services.insert(service.clone(), Service::default());
            }
        }
        FlowsFile {
            version: 1,
            system,
            transports,
            services,
            flows,
            proto,
            proto_path,
            prefer,
        }
    }

    /// `prefer:`: each default is a synchronous transport.
    fn prefer(&mut self, raw: Option<&RawPrefer>) -> Prefer {
        let internal = raw.and_then(|p| p.internal.as_ref()).and_then(|v| {
            let parse = |s: &str| Transport::parse(s).filter(|t| t.is_synchronous());
            self.keyword(
                v,
                "`prefer: internal` transport",
                None,
                parse,
                SYNC_TRANSPORTS,
            )
        });
        Prefer { internal }
    }

    /// Each `during:` names an inbound flow of the flow's `from` service: a
    /// flow whose `to` names it, other than the flow itself.
    fn during(&mut self, flows: &[Flow]) {
        if flows.iter().all(|f| f.during.is_none()) {
            return;
        }
        let mut inbound: HashMap<&str, Vec<&str>> = HashMap::new();
        for flow in flows {
            for to in &flow.to {
                inbound.entry(to).or_default().push(&flow.name);
            }
        }
        for flow in flows {
            let Some(during) = &flow.during else {
                continue;
            };
            let serving: Vec<&str> = inbound
                .get(flow.from.as_str())
                .map(|names| names.iter().copied().filter(|n| *n != flow.name).collect())
                .unwrap_or_default();
            if serving.contains(&during.as_str()) {
                continue;
            }
            let at = self.during_at.get(&flow.name).copied();
            let from = &flow.from;
            let message = format!(
                "`during: {during}` in flow `{}` names no inbound flow of `{from}`",
                flow.name
            );
            let d = match at {
                Some(at) => self.diagnostic(message, at, during.chars().count()),
                None => Diagnostic::new(message, self.file),
            };
            let d = d.suggest(during, &serving).note(if serving.is_empty() {
                format!("no other flow goes to `{from}`; `during` names the request `{from}` is serving when it makes this flow")
            } else {
                format!("accepted: {} (the flows whose `to` names `{from}`)", serving.join(", "))
            });
            self.errors.push(d);
        }
    }

    fn version(&mut self, version: Option<&Spanned<Json>>) {
        match version {
            None => {
                self.error("missing `version`".into(), None, 1)
                    .notes
                    .push("add `version: 1` at the top of the file".into());
            }
            Some(v) if v.value.as_u64() == Some(1) => {}
            // A quoted `"1"` is the right version as a string: say only that.
            Some(Spanned {
                value: Json::String(s),
                referenced,
                ..
            }) if s.trim() == "1" => {
                self.error(
                    format!("`version` is the string `\"{s}\"`, not the number 1"),
                    Some(yaml::pos(*referenced)),
                    s.len() + 2,
                )
                .notes
                .push("write `version: 1`, without quotes".into());
            }
            Some(v) => {
                let shown = match &v.value {
                    Json::String(s) => format!("\"{s}\""),
                    other => other.to_string(),
                };
                self.error(
                    format!("unsupported version `{shown}`"),
                    Some(yaml::pos(v.referenced)),
                    shown.len(),
                )
                .notes
                .push("accepted: 1 (the only version of flows.yaml)".into());
            }
        }
    }

    fn transports(&mut self, raw: Option<&Spanned<Vec<Spanned<String>>>>) -> Vec<Transport> {
        let Some(raw) = raw else {
            return Transport::ALL.to_vec();
        };
        if raw.value.is_empty() {
            self.error("`transports` is empty".into(), Some(yaml::pos(raw.referenced)), 1)
                .notes
                .push("list at least one of: rest, grpc, kafka (or leave `transports` out to allow all three)".into());
            return Transport::ALL.to_vec();
        }
        let mut out = Vec::new();
        for t in &raw.value {
            let Some(parsed) =
                self.keyword::<Transport>(t, "transport", None, Transport::parse, Transport::NAMES)
            else {
                continue;
            };
            if out.contains(&parsed) {
                self.error(
                    format!("transport `{parsed}` is listed twice"),
                    Some(yaml::pos(t.referenced)),
                    t.value.len(),
                );
            } else {
                out.push(parsed);
            }
        }
        out.sort();
        out
    }

    fn name(&mut self, name: &Spanned<String>, what: &str, flow: Option<&str>) -> bool {
        let check = if what == "system" {
            names::check(&name.value)
        } else if what == "flow" {
            names::check_flow(&name.value)
        } else {
            names::check_service(&name.value)
        };
        match check {
            Ok(()) => true,
            Err(why) => {
                let context = flow.map(|f| format!(" in flow `{f}`")).unwrap_or_default();
                let d = self.error(
                    format!("invalid {what} name `{}`{context}: {why}", name.value),
                    Some(yaml::pos(name.referenced)),
                    name.value.chars().count(),
                );
                name_help(d, &name.value, what);
                false
            }
        }
    }

    fn keyword<T>(
        &mut self,
        raw: &Spanned<String>,
        field: &str,
        flow: Option<&str>,
        parse: fn(&str) -> Option<T>,
        accepted: &[&str],
    ) -> Option<T> {
        let parsed = parse(&raw.value);
        if parsed.is_none() {
            let context = flow.map(|f| format!(" in flow `{f}`")).unwrap_or_default();
            let d = self
                .diagnostic(
                    format!("unknown {field} `{}`{context}", raw.value),
                    yaml::pos(raw.referenced),
                    raw.value.chars().count(),
                )
                .suggest(&raw.value, accepted)
                .accepted(accepted);
            self.errors.push(d);
        }
        parsed
    }

    fn flows(
        &mut self,
        raw: Option<FlowList<impl Iterator<Item = (Pos, RawFlow)>>>,
        transports: &[Transport],
        declared: &[(String, Pos)],
    ) -> Vec<Flow> {
        let Some(raw) = raw else {
            self.error("missing `flows`".into(), None, 1).notes.push(
                "list the service-to-service flows under `flows:`; see examples/orders.yaml".into(),
            );
            return Vec::new();
        };
        if raw.len == 0 {
            self.error("`flows` is empty".into(), Some(raw.at), 1)
                .notes
                .push("describe at least one flow".into());
        }
        // Hash maps sized up front: these see every flow, and ordered maps
        // would make the check O(n log n) in string comparisons.
        let capacity = if self.placed { raw.len } else { 0 };
        let mut seen: HashMap<String, usize> = HashMap::with_capacity(capacity);
        // The first flow (index into `flows`) using each topic key.
        let mut topics: HashMap<String, usize> = HashMap::with_capacity(capacity);
        let mut flows: Vec<Flow> = Vec::with_capacity(raw.len);
        for (index, (start, raw_flow)) in raw.items.enumerate() {
            let Some(flow) = self.flow(raw_flow, start, index, transports, declared) else {
                continue;
            };
            if !self.placed {
                flows.push(flow);
                continue;
            }
            if let Some(first) = seen.get(&flow.name) {
                let at = self.position_of_name(&flow.name, start);
                self.error(format!("duplicate flow name `{}`", flow.name), at, flow.name.len())
                    .notes
                    .push(format!("the first flow with this name starts on line {first}; flow names must be unique"));
                continue;
            }
            seen.insert(flow.name.clone(), start.line);
            if self.placed {
                self.map.flows.insert(flow.name.clone(), start);
            }
            let topic = flow.topic_name();
            let key = names::topic_key(topic);
            if let Some(&other) = topics.get(&key) {
                let (other_flow, other_topic) = (&flows[other].name, flows[other].topic_name());
                if other_topic != topic {
                    let message = format!(
                        "topic `{topic}` of flow `{}` collides with topic `{other_topic}` of flow `{other_flow}`",
                        flow.name
                    );
                    self.error(message, Some(start), 1).notes.push(
                        "Kafka treats '.' and '_' alike in metric names; rename one topic".into(),
                    );
                }
            } else {
                topics.insert(key, flows.len());
            }
            flows.push(flow);
        }
        if !self.placed {
            self.any_name_or_topic_twice(&flows);
        }
        self.identifier_collisions(&flows, declared);
        if transports.contains(&Transport::Kafka) {
            self.flows_named_like_producers(&flows);
        }
        self.dead_letter_collisions(&flows);
        flows
    }

    /// The duplicate-name and topic-collision checks of [`Self::flows`],
    /// for the reading without positions, where only whether they fail
    /// matters: run once all flows are in, they borrow the names instead
    /// of copying each into a map. A topic collides when some flow uses
    /// another spelling of a topic key than the first flow with that key,
    /// that is, when one key has two spellings.
    fn any_name_or_topic_twice(&mut self, flows: &[Flow]) {
        let mut names = std::collections::HashSet::with_capacity(flows.len());
        let mut topics: HashMap<Cow<'_, str>, &str> = HashMap::with_capacity(flows.len());
        for flow in flows {
            let topic = flow.topic_name();
            let key = if topic.contains('.') {
                Cow::Owned(names::topic_key(topic))
            } else {
                Cow::Borrowed(topic)
            };
            let spelled_twice = *topics.entry(key).or_insert(topic) != topic;
            if !names.insert(flow.name.as_str()) || spelled_twice {
                self.error(format!("flow `{}` is not unique", flow.name), None, 1);
                return;
            }
        }
    }

    fn position_of_name(&self, name: &str, start: Pos) -> Option<Pos> {
        self.lines
            .iter()
            .enumerate()
            .skip(start.line.saturating_sub(1))
            .take(64)
            .find_map(|(i, line)| {
                let col = line.find(&format!("name: {name}"))?;
                Some(Pos {
                    line: i + 1,
                    column: col + 7,
                })
            })
    }

    #[allow(clippy::too_many_lines)]
    fn flow(
        &mut self,
        raw: RawFlow,
        start: Pos,
        index: usize,
        transports: &[Transport],
        declared: &[(String, Pos)],
    ) -> Option<Flow> {
        let errors_before = self.errors.len();
        let unknown = self.unknown.flows.remove(&index);
        self.unknown_keys::<RawFlow>(unknown, &|| match &raw.name {
            Some(name) => format!(" in flow `{}`", name.value),
            None => format!(" in flow #{}", index + 1),
        });
        let Some(name) = raw.name else {
            self.error(format!("flow #{} has no `name`", index + 1), Some(start), 1)
                .notes
                .push("every flow needs a unique `name`, e.g. `name: get-order`".into());
            return None;
        };
        if !self.name(&name, "flow", None) {
            return None;
        }
        let name_at = yaml::pos(name.referenced);
        let flow_name = name.value;
        let here = Some(flow_name.as_str());
        let from = if let Some(from) = raw.from {
            self.service_ref(&from, &flow_name, declared);
            from.value
        } else {
            self.error(
                format!("flow `{flow_name}` has no `from`"),
                Some(name_at),
                flow_name.len(),
            )
            .notes
            .push("`from` names the calling or producing service".into());
            String::new()
        };
        let to = self.to(raw.to, &flow_name, name_at, declared);

        // Name and from are moved in at the end, not copied.
        let mut flow = Flow::new("", "", "");
        flow.from = from;
        flow.to = to;
        flow.description = raw.description;
        if let Some(v) = &raw.interaction {
            flow.interaction = self
                .keyword(
                    v,
                    "interaction",
                    here,
                    Interaction::parse,
                    Interaction::NAMES,
                )
                .unwrap_or(flow.interaction);
        }
        if let Some(v) = &raw.client {
            flow.client = self
                .keyword(v, "client", here, Client::parse, Client::NAMES)
                .unwrap_or(flow.client);
        }
        if let Some(v) = &raw.coupling {
            flow.coupling = self
                .keyword(v, "coupling", here, Coupling::parse, Coupling::NAMES)
                .unwrap_or(flow.coupling);
        }
        if let Some(v) = &raw.delivery {
            flow.delivery = self
                .keyword(v, "delivery", here, Delivery::parse, Delivery::NAMES)
                .unwrap_or(flow.delivery);
        }
        if let Some(v) = &raw.ordering {
            flow.ordering = self
                .keyword(v, "ordering", here, Ordering::parse, Ordering::NAMES)
                .unwrap_or(flow.ordering);
        }
        if let Some(v) = &raw.format {
            flow.format = self
                .keyword(v, "format", here, Format::parse, Format::NAMES)
                .unwrap_or(flow.format);
        }
        if let Some(v) = &raw.contract {
            flow.contract = self
                .keyword(v, "contract", here, Contract::parse, Contract::NAMES)
                .unwrap_or(flow.contract);
        }
        if let Some(v) = &raw.compatibility {
            flow.compatibility = self
                .keyword(
                    v,
                    "compatibility",
                    here,
                    Compatibility::parse,
                    Compatibility::NAMES,
                )
                .unwrap_or(flow.compatibility);
        }
        flow.latency_ms = self.positive(raw.latency_ms.as_ref(), "latency_ms", &flow_name);
        flow.throughput = self
            .positive(raw.throughput.as_ref(), "throughput", &flow_name)
            .and_then(|n| {
                let at = raw.throughput.as_ref().map(|t| yaml::pos(t.referenced));
                let why = format!(
                    "messages per second; at {CONSUMER_RATE}/s per consumer that sizes a topic of {MAX_PARTITIONS} partitions, the most one topic gets"
                );
                self.at_most(n, MAX_THROUGHPUT, at, "throughput", &format!(" in flow `{flow_name}`"), &why)
            });
        flow.payload_bytes = self.positive(raw.payload_bytes.as_ref(), "payload_bytes", &flow_name);
        flow.replay = raw.replay.is_some_and(|r| r.value);
        flow.per_item = raw.per_item.is_some_and(|r| r.value);
        if let Some(during) = raw.during {
            if self.placed {
                self.during_at
                    .insert(flow_name.clone(), yaml::pos(during.referenced));
            }
            flow.during = Some(during.value);
        }
        if let Some(topic) = raw.topic {
            if let Err(why) = names::check_topic(&topic.value) {
                self.error(
                    format!(
                        "invalid topic `{}` in flow `{flow_name}`: {why}",
                        topic.value
                    ),
                    Some(yaml::pos(topic.referenced)),
                    topic.value.chars().count(),
                );
            }
            flow.topic = Some(topic.value);
        }
        flow.retention_hours = self.whole(raw.retention_hours.as_ref(), "retention_hours", &|| {
            format!(" in flow `{flow_name}`")
        });
        if let Some(pinned) = &raw.transport {
            if self.placed {
                self.map
                    .pins
                    .insert(flow_name.clone(), yaml::pos(pinned.referenced));
            }
            flow.transport = self.keyword(
                pinned,
                "transport",
                here,
                Transport::parse,
                Transport::NAMES,
            );
            if let Some(t) = flow.transport
                && !transports.contains(&t)
            {
                let allowed: Vec<&str> = transports.iter().map(|t| t.as_str()).collect();
                self.error(
                    format!(
                        "flow `{flow_name}` pins transport `{t}`, which is not in `transports`"
                    ),
                    Some(yaml::pos(pinned.referenced)),
                    pinned.value.len(),
                )
                .notes
                .push(format!(
                    "accepted: {} (or add {t} to `transports`)",
                    allowed.join(", ")
                ));
            }
        }
        self.binding(
            raw.rpc.as_ref(),
            raw.message.as_ref(),
            raw.key.as_ref(),
            &mut flow,
            &flow_name,
        );
        flow.name = flow_name;
        (self.errors.len() == errors_before).then_some(flow)
    }

    /// `rpc`, `message` and `key` (SPEC §7): their syntax, and that each
    /// suits the flow's interaction. Whether they name something in the
    /// contract is for `contract::bind`, which has the compiled protos.
    fn binding(
        &mut self,
        rpc: Option<&Spanned<String>>,
        message: Option<&Spanned<String>>,
        key: Option<&Spanned<String>>,
        flow: &mut Flow,
        name: &str,
    ) {
        let event = flow.interaction == Interaction::Event;
        let fields: [(&str, Option<&Spanned<String>>, bool); 3] = [
            ("rpc", rpc, !event),
            ("message", message, event),
            ("key", key, event),
        ];
        for (field, raw, fits) in fields {
            let Some(raw) = raw else { continue };
            let at = yaml::pos(raw.referenced);
            if self.placed {
                let map = if field == "key" {
                    &mut self.map.keys
                } else {
                    &mut self.map.bindings
                };
                map.insert(name.to_owned(), at);
            }
            let key_at = key_of(&self.lines, at, field);
            if !fits {
                self.error(
                    format!(
                        "`{field}` does not apply to {} flow `{name}`",
                        flow.interaction
                    ),
                    Some(key_at),
                    field.len(),
                )
                .notes
                .push("request-response and stream flows bind to an `rpc:`; event flows bind to a `message:`, keyed by `key:`".into());
                continue;
            }
            let (valid, accepted, suggestion) = match field {
                "rpc" => (
                    is_rpc_name(&raw.value),
                    "`<package>.<Service>/<Method>`, such as `billing.v1.InvoiceService/GetInvoice`",
                    // Only when the part before the method reads as a
                    // service (`billing.v1.InvoiceService.GetInvoice`), not
                    // a package (`shop.v1.Order`).
                    raw.value
                        .rsplit_once('.')
                        .filter(|(service, _)| {
                            !raw.value.contains('/')
                                && service.rsplit_once('.').is_some_and(|(_, s)| {
                                    s.starts_with(|c: char| c.is_ascii_uppercase())
                                })
                        })
                        .map(|(service, method)| format!("{service}/{method}")),
                ),
                "message" => (
                    is_dotted(&raw.value),
                    "`<package>.<Message>`, such as `billing.v1.InvoiceIssued`",
                    Some(raw.value.replace('/', ".")).filter(|s| is_dotted(s)),
                ),
                _ => (
                    is_ident(&raw.value),
                    "the name of a field of the flow's message, such as `customer_id`",
                    None,
                ),
            };
            if !valid {
                let d = self.error(
                    format!("invalid {field} `{}` in flow `{name}`", raw.value),
                    Some(at),
                    raw.value.chars().count(),
                );
                if let Some(s) = suggestion {
                    d.label = Some(format!("did you mean `{s}`?"));
                }
                d.notes.push(format!("accepted: {accepted}"));
                continue;
            }
            if field != "key" && !self.has_proto {
                self.error(
                    format!("`{field}` in flow `{name}` names the team's contract, but there is no `proto:`"),
                    Some(key_at),
                    field.len(),
                )
                .notes
                .push(format!(
                    "add `proto:` with the team's .proto files at the top level, or leave `{field}` out to use the contract derived from the flows (`commsadvise contract` prints it)"
                ));
                continue;
            }
            let value = Some(raw.value.clone());
            match field {
                "rpc" => flow.rpc = value,
                "message" => flow.message = value,
                _ => flow.key = value,
            }
        }
    }

    /// `proto` or `proto_path`: one path or a list of them, each once.
    fn proto_files(&mut self, raw: Option<&Spanned<Json>>, field: &str) -> Vec<String> {
        let Some(raw) = raw else { return Vec::new() };
        let at = yaml::pos(raw.referenced);
        let what = if field == "proto" {
            "a .proto file"
        } else {
            "a folder"
        };
        let items: Vec<String> = match &raw.value {
            Json::String(s) => vec![s.clone()],
            Json::Array(items) if !items.is_empty() && items.iter().all(Json::is_string) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            _ => {
                self.error(
                    format!("`{field}` must be {what} or a non-empty list of them"),
                    Some(at),
                    1,
                )
                .notes
                .push(format!(
                    "paths are relative to flows.yaml, for example `{field}: {}`",
                    if field == "proto" {
                        "[proto/billing/v1/billing.proto]"
                    } else {
                        "[proto]"
                    }
                ));
                return Vec::new();
            }
        };
        let mut out: Vec<String> = Vec::new();
        for item in items {
            let item_at = locate_in_line(&self.lines, at, &item).unwrap_or(at);
            let width = item.chars().count().max(1);
            if out.contains(&item) {
                self.error(
                    format!("`{item}` is listed twice in `{field}`"),
                    Some(item_at),
                    width,
                );
            } else if item.trim().is_empty() {
                self.error(format!("an entry of `{field}` is empty"), Some(item_at), 1)
                    .notes
                    .push(format!("name {what}, relative to flows.yaml"));
            } else if field == "proto"
                && std::path::Path::new(&item)
                    .extension()
                    .is_none_or(|e| e != "proto")
            {
                self.error(
                    format!("`{item}` in `proto` is not a .proto file"),
                    Some(item_at),
                    width,
                )
                .notes
                .push(
                    "list the team's .proto files; their include folders go under `proto_path`"
                        .into(),
                );
            } else {
                if self.placed {
                    let map = if field == "proto" {
                        &mut self.map.proto
                    } else {
                        &mut self.map.proto_path
                    };
                    map.push(item_at);
                }
                out.push(item);
            }
        }
        out
    }

    /// A figure of a flow: a whole number of at least 1. Read as any YAML
    /// scalar, so that a wrong one (`fast`, `-5`, `1e309`) is reported with
    /// its flow, beside the file's other problems, instead of stopping the
    /// reading of the file.
    fn positive(&mut self, raw: Option<&Spanned<Json>>, field: &str, flow: &str) -> Option<u64> {
        let raw = raw?;
        let Some(value) = raw.value.as_u64() else {
            let at = yaml::pos(raw.referenced);
            let (written, label) = match &raw.value {
                // A quoted number: say so, pointing at all of it.
                Json::String(s) if s.parse::<u64>().is_ok() && self.placed => (
                    scalar_in(&self.lines, at),
                    Some("a number in quotes is text: write it without them"),
                ),
                _ => (self.written(raw), None),
            };
            let mut d = self
                .diagnostic(
                    format!("invalid value `{written}` for `{field}` in flow `{flow}`"),
                    at,
                    written.chars().count(),
                )
                .accepted(&["a whole number, at least 1"]);
            if let Some(label) = label {
                d = d.label(label);
            }
            self.errors.push(d);
            return None;
        };
        if value == 0 {
            self.error(
                format!("`{field}` in flow `{flow}` must be at least 1"),
                Some(yaml::pos(raw.referenced)),
                1,
            )
            .notes
            .push(format!("leave `{field}` out if there is no figure for it"));
            return None;
        }
        Some(value)
    }

    /// A whole number of at least 1, given as any YAML scalar, so that a
    /// wrong one gets the same message as `latency_ms` does.
    /// `context` ("in flow `x`") is built only for a message.
    fn whole(
        &mut self,
        raw: Option<&Spanned<Json>>,
        field: &str,
        context: &dyn Fn() -> String,
    ) -> Option<u64> {
        let raw = raw?;
        match raw.value.as_u64() {
            Some(n) if n >= 1 => Some(n),
            Some(_) => {
                self.error(
                    format!("`{field}`{} must be at least 1", context()),
                    Some(yaml::pos(raw.referenced)),
                    1,
                )
                .notes
                .push(format!("leave `{field}` out to use the default"));
                None
            }
            None => {
                let written = self.written(raw);
                let d = self
                    .diagnostic(
                        format!("invalid value `{written}` for `{field}`{}", context()),
                        yaml::pos(raw.referenced),
                        written.chars().count(),
                    )
                    .accepted(&["a whole number, at least 1"]);
                self.errors.push(d);
                None
            }
        }
    }

    /// `value` if it is at most `max`; an error naming the cap otherwise.
    fn at_most(
        &mut self,
        value: u64,
        max: u64,
        at: Option<Pos>,
        field: &str,
        context: &str,
        why: &str,
    ) -> Option<u64> {
        if value <= max {
            return Some(value);
        }
        let width = at.map_or(1, |p| scalar_in(&self.lines, p).chars().count());
        self.error(
            format!("`{field}`{context} is {value}, over the limit of {max}"),
            at,
            width,
        )
        .notes
        .push(format!("accepted: a whole number from 1 to {max} ({why})"));
        None
    }

    /// A service's availability: a fraction above 0 and at most 1.
    fn availability(&mut self, raw: Option<&Spanned<Json>>, service: &str) -> Option<f64> {
        let raw = raw?;
        let at = yaml::pos(raw.referenced);
        let written = self.written(raw);
        let accepted = "a fraction above 0 and at most 1, such as 0.999 for 99.9%";
        match raw.value.as_f64() {
            Some(a) if a > 0.0 && a <= 1.0 => Some(a),
            Some(a) => {
                let mut d = self
                    .diagnostic(
                        format!("availability `{written}` of service `{service}` is out of range"),
                        at,
                        written.chars().count(),
                    )
                    .accepted(&[accepted]);
                if a > 1.0 && a <= 100.0 {
                    // Six decimals hide the binary noise of dividing by 100.
                    let fraction = format!("{:.6}", a / 100.0);
                    let fraction = fraction.trim_end_matches('0').trim_end_matches('.');
                    d = d.label(format!("did you mean `{fraction}`?"));
                }
                self.errors.push(d);
                None
            }
            None => {
                let d = self
                    .diagnostic(
                        format!(
                            "invalid value `{written}` for `availability` of service `{service}`"
                        ),
                        at,
                        written.chars().count(),
                    )
                    .accepted(&[accepted]);
                self.errors.push(d);
                None
            }
        }
    }

    /// A scalar as the user wrote it, for messages.
    fn written(&self, raw: &Spanned<Json>) -> String {
        match &raw.value {
            // How the parser spells a non-finite float (`1e309` → `.inf`).
            Json::String(s) if self.placed && matches!(s.as_str(), ".inf" | "-.inf" | ".nan") => {
                scalar_in(&self.lines, yaml::pos(raw.referenced))
            }
            Json::String(s) => s.clone(),
            Json::Number(_) | Json::Bool(_) => scalar_in(&self.lines, yaml::pos(raw.referenced)),
            other => other.to_string(),
        }
    }

    fn service_ref(
        &mut self,
        service: &Spanned<String>,
        flow: &str,
        declared: &[(String, Pos)],
    ) -> bool {
        if self.good_services.contains(&service.value) {
            return true;
        }
        let at = Some(yaml::pos(service.referenced));
        if let Err(why) = names::check_service(&service.value) {
            let d = self.error(
                format!(
                    "invalid service name `{}` in flow `{flow}`: {why}",
                    service.value
                ),
                at,
                service.value.chars().count().max(1),
            );
            name_help(d, &service.value, "service");
            return false;
        }
        if declared.is_empty() || declared.iter().any(|(d, _)| *d == service.value) {
            self.good_services.insert(service.value.clone());
            return true;
        }
        // Services are implied by flows, but a near miss of a declared one is
        // far more likely a typo than a new service.
        let names: Vec<&str> = declared.iter().map(|(d, _)| d.as_str()).collect();
        if let Some(best) = did_you_mean(&service.value, &names) {
            let d = self
                .diagnostic(
                    format!("unknown service `{}` in flow `{flow}`", service.value),
                    yaml::pos(service.referenced),
                    service.value.chars().count(),
                )
                .label(format!("did you mean `{best}`?"))
                .note(format!(
                    "declared services: {}; declare `{}` under `services:` if it is a new one",
                    names.join(", "),
                    service.value
                ));
            self.errors.push(d);
            return false;
        }
        self.good_services.insert(service.value.clone());
        true
    }

    fn to(
        &mut self,
        raw: Option<Spanned<RawTo>>,
        flow: &str,
        name_at: Pos,
        declared: &[(String, Pos)],
    ) -> Vec<String> {
        let Some(raw) = raw else {
            self.error(
                format!("flow `{flow}` has no `to`"),
                Some(name_at),
                flow.len(),
            )
            .notes
            .push("`to` names one receiving service, or a list of them for fan-out".into());
            return Vec::new();
        };
        let at = yaml::pos(raw.referenced);
        let Some(items) = self.names_as_written(raw.value, at, flow) else {
            return Vec::new();
        };
        if items.is_empty() {
            self.error(format!("`to` in flow `{flow}` is empty"), Some(at), 1)
                .notes
                .push("name at least one receiving service".into());
            return Vec::new();
        }
        let mut out: Vec<String> = Vec::new();
        for (item, item_at) in items {
            // Positions inside the list are only needed for an error.
            if !out.contains(&item) && self.good_services.contains(&item) {
                out.push(item);
                continue;
            }
            let item_at = item_at
                .filter(|p| *p != at)
                .or_else(|| locate_in_line(&self.lines, at, &item))
                .unwrap_or(at);
            let spanned = Spanned {
                value: item.clone(),
                referenced: raw.referenced,
                defined: raw.defined,
            };
            if out.contains(&item) {
                self.error(
                    format!("service `{item}` is listed twice in `to` of flow `{flow}`"),
                    Some(item_at),
                    item.len(),
                );
                continue;
            }
            if self.service_ref_at(&spanned, flow, declared, item_at) {
                out.push(item);
            }
        }
        out
    }

    /// The names of `to` as the user wrote them, each with where it is
    /// written when that is known; `None` after reporting why there are none.
    fn names_as_written(
        &mut self,
        value: RawTo,
        at: Pos,
        flow: &str,
    ) -> Option<Vec<(String, Option<Pos>)>> {
        // Each name with where it is written, when that is known.
        let mut named: Vec<(Json, Option<Pos>)> = match value {
            RawTo::One(one) => vec![(one, Some(at))],
            RawTo::List(items) => items
                .into_iter()
                .map(|i| {
                    let item_at = self.placed.then(|| yaml::pos(i.referenced));
                    (i.value, item_at)
                })
                .collect(),
        };
        if !self.placed {
            // Without positions a name written as `off` or `1` cannot be read
            // back: leave it to the full reading.
            if named
                .iter()
                .any(|(n, _)| matches!(n, Json::Bool(_) | Json::Number(_)))
            {
                self.error("`to` needs its source text".into(), None, 1);
                return None;
            }
            for (_, item_at) in &mut named {
                *item_at = None;
            }
        }
        let mut items: Vec<(String, Option<Pos>)> = Vec::with_capacity(named.len());
        for (name, item_at) in named {
            match name {
                Json::String(s) => {
                    // A quoted name: point inside the quotes, at the name.
                    let item_at = item_at.map(|p| {
                        let quoted = self
                            .lines
                            .get(p.line.saturating_sub(1))
                            .and_then(|l| l.chars().nth(p.column.saturating_sub(1)));
                        match quoted {
                            Some('"' | '\'') => Pos {
                                column: p.column + 1,
                                ..p
                            },
                            _ => p,
                        }
                    });
                    items.push((s, item_at));
                }
                // YAML reads a bare `y`, `off` or `1` as a bool or number; the
                // user meant the name as written.
                Json::Bool(_) | Json::Number(_) => {
                    let item_at = item_at.unwrap_or(at);
                    items.push((scalar_in(&self.lines, item_at), Some(item_at)));
                }
                _ => {
                    self.error(
                        format!("`to` in flow `{flow}` must be a service name or a list of them"),
                        Some(item_at.unwrap_or(at)),
                        1,
                    )
                    .notes
                    .push("for example `to: orders` or `to: [analytics, shipping]`".into());
                    return None;
                }
            }
        }
        Some(items)
    }

    /// [`Self::service_ref`], pointing at an item inside a `to` list.
    fn service_ref_at(
        &mut self,
        service: &Spanned<String>,
        flow: &str,
        declared: &[(String, Pos)],
        at: Pos,
    ) -> bool {
        let before = self.errors.len();
        let ok = self.service_ref(service, flow, declared);
        for d in &mut self.errors[before..] {
            let line = self.lines.get(at.line.saturating_sub(1)).copied();
            *d = d
                .clone()
                .at_line(line, at, service.value.chars().count().max(1));
        }
        ok
    }
}

/// What to do about a refused name: the rule, when it breaks the rule; a
/// name that would not collide, when it only becomes a bad identifier.
fn name_help(d: &mut Diagnostic, name: &str, what: &str) {
    if names::check(name).is_err() {
        d.notes.push(
            "names are lowercase ASCII letters, digits and '-', starting with a letter".into(),
        );
        return;
    }
    let candidate = format!("{name}-{what}");
    let fits = match what {
        "flow" => names::check_flow(&candidate),
        _ => names::check_service(&candidate),
    };
    if fits.is_ok() {
        d.label = Some(format!("did you mean `{candidate}`?"));
    }
    let reserved = if what == "flow" {
        ""
    } else {
        " names cargo or Windows reserve,"
    };
    d.notes.push(format!(
        "accepted: any name but Rust keywords,{reserved} the crates the generated workspace depends on, and the names its code uses"
    ));
}

/// Whether `text` is `<package>.<Service>/<Method>`.
fn is_rpc_name(text: &str) -> bool {
    text.split_once('/')
        .is_some_and(|(service, method)| is_dotted(service) && is_ident(method))
}

/// Whether `text` is identifiers joined by dots.
fn is_dotted(text: &str) -> bool {
    text.split('.').all(is_ident)
}

/// Whether `text` is a protobuf identifier.
fn is_ident(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Where `key:` is written on the line of its value at `value`, so that an
/// error about the key itself points at it; the value when not found.
fn key_of(lines: &[&str], value: Pos, key: &str) -> Pos {
    let Some(line) = lines.get(value.line.saturating_sub(1)) else {
        return value;
    };
    let head: String = line.chars().take(value.column.saturating_sub(1)).collect();
    match head.rfind(&format!("{key}:")) {
        Some(i) => Pos {
            line: value.line,
            column: head[..i].chars().count() + 1,
        },
        None => value,
    }
}

/// Where `item` appears at or after `from` (a `to` list may span lines).
fn locate_in_line(lines: &[&str], from: Pos, item: &str) -> Option<Pos> {
    for (i, line) in lines
        .iter()
        .enumerate()
        .skip(from.line.saturating_sub(1))
        .take(64)
    {
        let skip = if i + 1 == from.line {
            from.column.saturating_sub(1)
        } else {
            0
        };
        let chars: Vec<char> = line.chars().collect();
        let rest: String = chars.iter().skip(skip).collect();
        let mut search = 0;
        while let Some(found) = rest[search..].find(item) {
            let start = search + found;
            let before = rest[..start].chars().next_back();
            let after = rest[start + item.len()..].chars().next();
            let edge = |c: Option<char>| {
                c.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            };
            if edge(before) && edge(after) {
                return Some(Pos {
                    line: i + 1,
                    column: skip + rest[..start].chars().count() + 1,
                });
            }
            search = start + item.len();
        }
    }
    None
}

/// The plain scalar at `at`, from the pre-split lines.
fn scalar_in(lines: &[&str], at: Pos) -> String {
    lines
        .get(at.line.saturating_sub(1))
        .map_or_else(String::new, |line| {
            yaml::scalar_at(
                line,
                Pos {
                    line: 1,
                    column: at.column,
                },
            )
        })
}

impl Validator<'_> {
    /// Where flow `name` starts, when positions are known.
    fn flow_at(&self, name: &str) -> Option<Pos> {
        self.map.flows.get(name).copied()
    }

    /// Names that differ in flows.yaml but become the same identifier in
    /// the generated code (docs/flows-yaml.md, Names): two flows or two services with one type
    /// name (`order1`, `order-1` → `Order1`). Uses the scaffold's own
    /// conversions; identifiers (`order_1`, `order1`) differ whenever the
    /// names do.
    fn identifier_collisions(&mut self, flows: &[Flow], declared: &[(String, Pos)]) {
        let mut types: HashMap<String, &str> = HashMap::with_capacity(flows.len());
        for flow in flows {
            let type_name = names::type_name(&flow.name);
            match types.get(type_name.as_str()) {
                Some(&first) if first != flow.name => {
                    let at = self
                        .flow_at(&flow.name)
                        .and_then(|s| self.position_of_name(&flow.name, s));
                    self.error(
                        format!(
                            "flows `{first}` and `{}` both become `{type_name}` in the generated code",
                            flow.name
                        ),
                        at,
                        flow.name.len(),
                    )
                    .notes
                    .push("the generated code drops '-' from type names: rename one of the flows".into());
                }
                Some(_) => {}
                None => {
                    types.insert(type_name, &flow.name);
                }
            }
        }
        // Services in the order they are first named: declared ones, then
        // the flows' in file order.
        let mut services: Vec<(&str, Option<Pos>)> = declared
            .iter()
            .map(|(name, at)| (name.as_str(), Some(*at)))
            .collect();
        let mut seen: std::collections::HashSet<&str> = services.iter().map(|(n, _)| *n).collect();
        for flow in flows {
            for service in std::iter::once(&flow.from).chain(&flow.to) {
                if seen.insert(service.as_str()) {
                    let at = self
                        .flow_at(&flow.name)
                        .and_then(|start| locate_in_line(&self.lines, start, service));
                    services.push((service.as_str(), at));
                }
            }
        }
        let mut service_types: HashMap<String, &str> = HashMap::with_capacity(services.len());
        for &(service, at) in &services {
            let type_name = names::type_name(service);
            if let Some(first) = service_types.get(type_name.as_str()) {
                self.error(
                    format!(
                        "services `{first}` and `{service}` both become `{type_name}Client` in the generated code"
                    ),
                    at,
                    service.len(),
                )
                .notes
                .push("the generated code drops '-' from type names: rename one of the services".into());
            } else {
                service_types.insert(type_name, service);
            }
        }
    }

    /// A flow that Kafka may carry, named like one of its receivers or like
    /// a service that sends to one of them: the receiver's code imports the
    /// flow's events module and uses its own and the producers' crates,
    /// under one name. A flow pinned to REST or gRPC, or in a file whose
    /// `transports` leave Kafka out, has no events module.
    /// Identifiers of valid names are equal exactly when the names are, so
    /// names are compared.
    fn flows_named_like_producers(&mut self, flows: &[Flow]) {
        let mut producers: HashMap<&str, std::collections::HashSet<&str>> = HashMap::new();
        for flow in flows {
            for receiver in &flow.to {
                producers
                    .entry(receiver.as_str())
                    .or_default()
                    .insert(flow.from.as_str());
            }
        }
        for flow in flows {
            if flow.transport.is_some_and(|t| t != Transport::Kafka) {
                continue;
            }
            let Some(receiver) = flow.to.iter().find(|r| {
                **r == flow.name
                    || producers
                        .get(r.as_str())
                        .is_some_and(|p| p.contains(flow.name.as_str()))
            }) else {
                continue;
            };
            let whose = if *receiver == flow.name {
                "its receiver".to_owned()
            } else {
                format!("service `{}`, which sends to `{receiver}`", flow.name)
            };
            let at = self
                .flow_at(&flow.name)
                .and_then(|s| self.position_of_name(&flow.name, s));
            let d = self.error(
                format!(
                    "flow `{}` has the name of {whose}: the generated code of `{receiver}` cannot tell them apart",
                    flow.name
                ),
                at,
                flow.name.len(),
            );
            let candidate = format!("{}-flow", flow.name);
            if names::check_flow(&candidate).is_ok() {
                d.label = Some(format!("did you mean `{candidate}`?"));
            }
            d.notes.push(
                "a Kafka flow's events module shares one namespace with the crates of its receivers and of the services sending to them; rename the flow (or pin it to rest or grpc)".into(),
            );
        }
    }

    /// A topic that is another flow's dead-letter topic (`<topic>.dlt`, which
    /// the generated consumers create), as Kafka compares names ('.' and
    /// '_' alike).
    fn dead_letter_collisions(&mut self, flows: &[Flow]) {
        let dead_letters: HashMap<String, &Flow> = flows
            .iter()
            .map(|f| {
                (
                    names::topic_key(&names::dead_letter_topic(f.topic_name())),
                    f,
                )
            })
            .collect();
        for flow in flows {
            let topic = flow.topic_name();
            if let Some(other) = dead_letters.get(&names::topic_key(topic)) {
                let at = self.flow_at(&flow.name);
                self.error(
                    format!(
                        "topic `{topic}` of flow `{}` is the dead-letter topic of flow `{}`",
                        flow.name, other.name
                    ),
                    at,
                    1,
                )
                .notes
                .push(format!(
                    "the generated consumers of `{}` write poison messages to `{}`; choose another topic",
                    other.topic_name(),
                    names::dead_letter_topic(other.topic_name())
                ));
            }
        }
    }
}

/// `to` as written: one name, or a list with each item where it is written,
/// so that an item YAML reads as a bool or number (`off`, `n`, `1`) can be
/// read back as the name the user typed.
#[derive(Debug)]
enum RawTo {
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
fn field_names<T: serde::de::DeserializeOwned>() -> &'static [&'static str] {
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

/// The keys of a file, each where it is written, with what they hold when
/// that is a mapping or a list: just enough to find keys no field takes.
enum Keys {
    Map(Vec<(Spanned<String>, Keys)>),
    List(Vec<Keys>),
    Other,
}

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Keys, D::Error> {
        struct KeysVisitor;

        // Every scalar holds no keys.
        macro_rules! scalars {
            ($($visit:ident: $t:ty),*) => {$(
                fn $visit<E: serde::de::Error>(self, _: $t) -> Result<Keys, E> {
                    Ok(Keys::Other)
                }
            )*};
        }

        impl<'de> serde::de::Visitor<'de> for KeysVisitor {
            type Value = Keys;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any YAML value")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some(key) = map.next_key::<Spanned<Json>>()? {
                    let value = map.next_value::<Keys>()?;
                    if let Json::String(name) = key.value {
                        keys.push((Spanned::new(name, key.referenced, key.defined), value));
                    }
                }
                Ok(Keys::Map(keys))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Keys, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Keys::List(items))
            }

            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Keys, D::Error> {
                Keys::deserialize(d)
            }

            fn visit_none<E: serde::de::Error>(self) -> Result<Keys, E> {
                Ok(Keys::Other)
            }

            fn visit_unit<E: serde::de::Error>(self) -> Result<Keys, E> {
                Ok(Keys::Other)
            }

            scalars!(visit_bool: bool, visit_i64: i64, visit_i128: i128, visit_u64: u64, visit_u128: u128, visit_f64: f64, visit_str: &str);
        }

        deserializer.deserialize_any(KeysVisitor)
    }
}

/// Keys that no field of flows.yaml takes, by where they are: the top
/// level, a declared service (by name) or a flow (by its index).
#[derive(Default)]
struct UnknownKeys {
    top: Vec<Spanned<String>>,
    services: HashMap<String, Vec<Spanned<String>>>,
    flows: HashMap<usize, Vec<Spanned<String>>>,
}

impl UnknownKeys {
    /// Reads the keys of `text` and keeps those no field takes. A file that
    /// does not read as YAML has none here: its parse error says why.
    fn of(text: &str) -> UnknownKeys {
        let mut unknown = UnknownKeys::default();
        let Ok(Keys::Map(top)) = yaml::parse::<Keys>("", text) else {
            return unknown;
        };
        let unknown_in =
            |keys: Vec<(Spanned<String>, Keys)>, known: &[&str]| -> Vec<Spanned<String>> {
                keys.into_iter()
                    .map(|(key, _)| key)
                    .filter(|key| !known.contains(&key.value.as_str()))
                    .collect()
            };
        let (file_keys, service_keys, flow_keys) = (
            field_names::<RawFile>(),
            field_names::<RawService>(),
            field_names::<RawFlow>(),
        );
        for (key, value) in top {
            match (key.value.as_str(), value) {
                ("services", Keys::Map(services)) => {
                    for (service, declared) in services {
                        if let Keys::Map(keys) = declared {
                            let keys = unknown_in(keys, service_keys);
                            if !keys.is_empty() {
                                unknown.services.insert(service.value, keys);
                            }
                        }
                    }
                }
                ("flows", Keys::List(flows)) => {
                    for (index, flow) in flows.into_iter().enumerate() {
                        if let Keys::Map(keys) = flow {
                            let keys = unknown_in(keys, flow_keys);
                            if !keys.is_empty() {
                                unknown.flows.insert(index, keys);
                            }
                        }
                    }
                }
                (name, _) if !file_keys.contains(&name) => unknown.top.push(key),
                _ => {}
            }
        }
        unknown
    }
}

impl Validator<'_> {
    /// Reports each key in `keys` as unknown `context` (" in flow `x`"),
    /// accepting the fields of `T`.
    fn unknown_keys<T: serde::de::DeserializeOwned>(
        &mut self,
        keys: Option<Vec<Spanned<String>>>,
        context: &dyn Fn() -> String,
    ) {
        let accepted = field_names::<T>();
        for key in keys.unwrap_or_default() {
            let d = self
                .diagnostic(
                    format!("unknown field `{}`{}", key.value, context()),
                    yaml::pos(key.referenced),
                    key.value.chars().count(),
                )
                .suggest(&key.value, accepted)
                .accepted(accepted);
            self.errors.push(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "version: 1\nservices:\n  orders:\n    availability: 0.9995\n    instances: 4\nflows:\n  - name: get-order\n    from: web\n    to: orders\n\n  - name: order-created\n    from: orders\n    to: shipping\n    retention_hours: 72\n    transport: kafka\n";

    /// Asserts that `needles` appear in `shown`, in this order.
    fn assert_in_order(shown: &str, needles: &[&str]) {
        let order: Vec<usize> = needles
            .iter()
            .map(|needle| {
                shown
                    .find(needle)
                    .unwrap_or_else(|| panic!("{needle} in {shown}"))
            })
            .collect();
        assert!(order.is_sorted(), "{shown}");
    }

    fn errors(text: &str) -> String {
        load_str("flows.yaml", text)
            .expect_err("refused")
            .to_string()
    }

    /// The fast reading without positions must agree with the full one on
    /// every valid file, or `load_str` would depend on which path ran.
    #[test]
    fn the_reading_without_positions_matches_the_full_one() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
        let mut texts = vec![FILE.to_owned()];
        for entry in std::fs::read_dir(dir).expect("examples") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "yaml") {
                texts.push(std::fs::read_to_string(&path).expect("example"));
            }
        }
        for text in &texts {
            let lean = yaml::parse::<LeanFile>("flows.yaml", text).expect("reads");
            let mut v = Validator::new("flows.yaml", text, false);
            let fast = v.lean_file(lean);
            assert!(v.errors.is_empty(), "{text}");
            let (full, _) = load_str_mapped("flows.yaml", text).expect("loads");
            assert_eq!(fast, full);
        }
    }

    /// A bare `yes` in `to` is the name as written, which only the reading
    /// with positions can recover.
    #[test]
    fn a_name_yaml_reads_as_a_bool_needs_the_full_reading() {
        let text = "version: 1\nflows:\n  - name: ask\n    from: a\n    to: yes\n";
        let file = load_str("flows.yaml", text).expect("loads");
        assert_eq!(file.flows[0].to, ["yes"]);
    }

    const BOUND: &str = "version: 1\nproto: [a/x.proto, a/y.proto]\nproto_path: [a]\nflows:\n  - name: get-invoice\n    from: web\n    to: billing\n    rpc: billing.v1.InvoiceService/GetInvoice\n  - name: invoice-issued\n    from: billing\n    to: accounting\n    interaction: event\n    message: billing.v1.InvoiceIssued\n    key: customer_id\n";

    #[test]
    fn reads_the_contract_binding_with_its_positions() {
        let (file, map) = load_str_mapped("flows.yaml", BOUND).expect("loads");
        assert_eq!(file.proto, ["a/x.proto", "a/y.proto"]);
        assert_eq!(file.proto_path, ["a"]);
        assert_eq!(
            file.flows[0].rpc.as_deref(),
            Some("billing.v1.InvoiceService/GetInvoice")
        );
        assert_eq!(file.flows[1].key.as_deref(), Some("customer_id"));
        assert_eq!(
            map.proto,
            [
                Pos { line: 2, column: 9 },
                Pos {
                    line: 2,
                    column: 20
                }
            ]
        );
        assert_eq!(
            map.bindings["get-invoice"],
            Pos {
                line: 8,
                column: 10
            }
        );
        assert_eq!(
            map.keys["invoice-issued"],
            Pos {
                line: 14,
                column: 10
            }
        );
        // The reading without positions agrees.
        assert_eq!(load_str("flows.yaml", BOUND).expect("loads"), file);
    }

    #[test]
    fn suggests_a_slash_before_the_method_of_an_rpc() {
        let text = BOUND.replace("InvoiceService/GetInvoice", "InvoiceService.GetInvoice");
        assert!(
            errors(&text).contains("did you mean `billing.v1.InvoiceService/GetInvoice`?"),
            "{}",
            errors(&text)
        );
        // A message's name is no rpc: nothing to suggest.
        let message = BOUND.replace("billing.v1.InvoiceService/GetInvoice", "billing.v1.Invoice");
        assert!(
            !errors(&message).contains("did you mean"),
            "{}",
            errors(&message)
        );
    }

    #[test]
    fn refuses_a_proto_entry_listed_twice_or_not_a_string() {
        let twice = BOUND.replace("a/y.proto", "a/x.proto");
        assert!(
            errors(&twice).starts_with("error: `a/x.proto` is listed twice in `proto`\n"),
            "{}",
            errors(&twice)
        );
        let number = BOUND.replace("[a/x.proto, a/y.proto]", "5");
        assert!(
            errors(&number)
                .starts_with("error: `proto` must be a .proto file or a non-empty list of them\n"),
            "{}",
            errors(&number)
        );
    }

    #[test]
    fn yaml_1_1_words_in_a_to_list_are_the_names_written() {
        let text = "version: 1\nflows:\n  - name: ask\n    from: a\n    to: [y, off, n, 1]\n  - name: block\n    from: a\n    to:\n      - no\n      - on\n";
        let file = load_str("flows.yaml", &text.replace(", 1]", "]")).expect("loads");
        assert_eq!(file.flows[0].to, ["y", "off", "n"]);
        assert_eq!(file.flows[1].to, ["no", "on"]);
        // `1` is read as written too, and refused as a name, pointing at it.
        assert!(
            errors(text).contains("invalid service name `1` in flow `ask`"),
            "{}",
            errors(text)
        );
        assert!(
            errors(text).contains(" --> flows.yaml:5:21\n"),
            "{}",
            errors(text)
        );
    }

    #[test]
    fn unknown_fields_come_with_the_other_problems_of_their_flow() {
        let text = "version: 1\nflows:\n  - name: a\n    from: x\n    to: y\n    colour: red\n    client: browzer\n  - name: b\n    from: x\n    to: y\n    size: 3\n";
        let shown = errors(text);
        assert_in_order(
            &shown,
            &[
                "unknown field `colour` in flow `a`",
                "unknown client `browzer`",
                "unknown field `size` in flow `b`",
            ],
        );
    }

    // Issue 16: an error after the flows was placed in the last flow, with
    // the flow's keys as the accepted list, because the context was decided
    // on the diagnostic's wording.
    #[test]
    fn an_unknown_key_in_prefer_after_the_flows_is_not_in_a_flow() {
        let text =
            "version: 1\nflows:\n  - name: a\n    from: x\n    to: y\nprefer:\n  interal: grpc\n";
        let shown = errors(text);
        assert!(
            shown.contains("error: unknown field `interal`\n"),
            "{shown}"
        );
        assert!(shown.contains("= accepted: internal\n"), "{shown}");
        assert!(!shown.contains("in flow"), "{shown}");
    }

    #[test]
    fn a_quoted_number_is_called_text() {
        let text =
            "version: 1\nflows:\n  - name: a\n    from: x\n    to: y\n    throughput: \"300\"\n";
        assert!(
            errors(text).contains("^^^^^ a number in quotes is text: write it without them"),
            "{}",
            errors(text)
        );
    }

    #[test]
    fn the_synchronous_transports_are_the_tables() {
        let synchronous: Vec<&str> = Transport::ALL
            .iter()
            .filter(|t| t.is_synchronous())
            .map(|t| t.as_str())
            .collect();
        assert_eq!(SYNC_TRANSPORTS, synchronous);
    }

    #[test]
    fn field_names_come_from_the_derived_code() {
        assert_eq!(field_names::<RawFlow>(), FLOW_KEYS);
        assert_eq!(field_names::<RawService>(), SERVICE_KEYS);
        assert_eq!(
            field_names::<RawFile>(),
            [
                "version",
                "system",
                "transports",
                "services",
                "flows",
                "proto",
                "proto_path",
                "prefer"
            ]
        );
    }

    #[test]
    fn reads_availability_instances_and_retention() {
        let file = load_str("flows.yaml", FILE).expect("loads");
        assert_eq!(file.services["orders"].availability, Some(0.9995));
        assert_eq!(file.services["orders"].instances, Some(4));
        assert_eq!(file.flows[1].retention_hours, Some(72));
        // Undeclared: the documented default, bit for bit.
        assert_eq!(
            file.services["web"].availability().to_bits(),
            crate::spec::model::DEFAULT_AVAILABILITY.to_bits()
        );
    }

    #[test]
    fn maps_each_flow_and_pin_to_its_position() {
        let (_, map) = load_str_mapped("flows.yaml", FILE).expect("loads");
        assert_eq!(map.flow("get-order"), Some(Pos { line: 7, column: 5 }));
        assert_eq!(
            map.flow("order-created"),
            Some(Pos {
                line: 11,
                column: 5
            })
        );
        assert_eq!(
            map.pin("order-created"),
            Some(Pos {
                line: 15,
                column: 16
            })
        );
        assert_eq!(
            map.pin("get-order"),
            map.flow("get-order"),
            "no pin: the flow's start"
        );
    }

    #[test]
    fn suggests_the_fraction_for_a_percentage() {
        let text = FILE.replace("0.9995", "99.95");
        assert!(
            errors(&text).contains("^^^^^ did you mean `0.9995`?"),
            "{}",
            errors(&text)
        );
    }

    #[test]
    fn reports_new_field_errors_together_in_file_order() {
        let text = FILE
            .replace("0.9995", "0")
            .replace("instances: 4", "instances: many")
            .replace("retention_hours: 72", "retention_hours: 0");
        let shown = errors(&text);
        assert_in_order(
            &shown,
            &[
                "availability `0`",
                "`many` for `instances`",
                "`retention_hours` in flow",
            ],
        );
    }

    #[test]
    fn names_the_service_of_an_unknown_service_field() {
        let text = FILE.replace("    instances: 4\n", "    instance: 4\n");
        assert!(
            errors(&text).starts_with("error: unknown field `instance` in service `orders`\n"),
            "{}",
            errors(&text)
        );
    }
}
