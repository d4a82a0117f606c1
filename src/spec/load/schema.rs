//! What the editor schema (`commsadvise schema`) says of the loosely typed
//! fields of flows.yaml: the raw types name these in `#[schemars(...)]`.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use crate::spec::names;

/// What `prefer: internal:` accepts: the synchronous transports.
pub(super) const SYNC_TRANSPORTS: &[&str] = &["rest", "grpc"];

/// `prefer: internal:`, a synchronous transport.
pub(super) fn sync_transport_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "enum": SYNC_TRANSPORTS })
}

/// The pattern of flow, service and system names (`names::check`); the
/// loader also refuses Rust keywords and reserved names, which a pattern
/// cannot say readably.
pub(super) const NAME_PATTERN: &str = "^[a-z](-?[a-z0-9])*$";

/// Schema-only: `version: 1`.
pub(super) struct VersionOne;

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
pub(super) struct Name;

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
pub(super) struct Receivers;

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
pub(super) struct TopicName;

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
pub(super) const IDENT: &str = "[A-Za-z_][A-Za-z0-9_]*";

/// `one`, or a non-empty list of them without repeats.
pub(super) fn one_or_list(one: &Schema) -> Schema {
    json_schema!({
        "anyOf": [
            one,
            { "type": "array", "items": one, "minItems": 1, "uniqueItems": true },
        ]
    })
}

/// `proto:`, one .proto path or a list of them.
pub(super) fn proto_files_schema(_: &mut SchemaGenerator) -> Schema {
    one_or_list(&json_schema!({ "type": "string", "pattern": "\\.proto$" }))
}

/// `proto_path:`, one folder or a list of them.
pub(super) fn proto_folders_schema(_: &mut SchemaGenerator) -> Schema {
    one_or_list(&json_schema!({ "type": "string", "minLength": 1 }))
}

/// `rpc:`, `<package>.<Service>/<Method>`.
pub(super) fn rpc_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "pattern": format!("^{IDENT}(\\.{IDENT})*/{IDENT}$") })
}

/// `message:`, `<package>.<Message>`.
pub(super) fn message_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "pattern": format!("^{IDENT}(\\.{IDENT})*$") })
}

/// `key:`, a field name.
pub(super) fn field_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "pattern": format!("^{IDENT}$") })
}
