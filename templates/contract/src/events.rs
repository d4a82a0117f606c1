{#- scaffold
when: uses.kafka
-#}
//! The Kafka topics of the system, one module per event flow: its topic name,
//! how the topic is sized, the message it carries, the field that keys it,
//! and its wire encoding.
//!
//! Producers and consumers both use these, so the topic, the payload and its
//! encoding are written down exactly once. The headers every record carries
//! (`flow`, `content-type`) and the dead-letter topics are the runtime's
//! (`runtime::kafka`).

/// What producers and consumers need of one flow, as data: the services'
/// Kafka code is written once over any flow's `WIRE`, typed by its message.
pub struct Wire<E> {
    /// The flow's name in flows.yaml, sent in every record's `flow` header.
    pub flow: &'static str,
    /// The topic the flow writes to.
    pub topic: &'static str,
    /// The value of every record's `content-type` header.
    pub content_type: &'static str,
    /// Each event in a transaction of its own (`delivery: exactly-once`).
    pub exactly_once: bool,
    /// The record key of an event.
    pub key: fn(&E) -> String,
    /// The record value of an event.
    pub encode: fn(&E) -> Vec<u8>,
    /// An event from a record value, or why it is not one.
    pub decode: fn(&[u8]) -> Result<E, String>,
    /// A sample event keyed by an id.
    pub sample: fn(&str) -> E,
    /// An event given on the command line: see [`from_input`].
    pub from_input: fn(&str) -> Result<E, String>,
}

/// An event given on the command line (`publish <flow> <id-or-json>`): the
/// message in proto3 JSON when `input` starts with `{`, else the event
/// `sample` makes for the id `input`.
pub fn from_input<E: serde::de::DeserializeOwned>(
    input: &str,
    sample: fn(&str) -> E,
) -> Result<E, String> {
    if input.trim_start().starts_with('{') {
        serde_json::from_str(input)
            .map_err(|err| format!("not the flow's message in proto3 JSON: {err}"))
    } else {
        crate::ids::validate_id(input).map_err(|err| format!("invalid id `{input}`: {err}"))?;
        Ok(sample(input))
    }
}
{% for t in topics %}
/// Flow `{{ t.flow }}`: {{ t.from }} to {{ t.to_text }} ({{ t.delivery }}{% if t.replay %}, replayable{% endif %}).
{%- if t.description %}
///
/// {{ t.description }}
{%- endif %}
pub mod {{ t.flow_ident }} {
    /// The flow's name in flows.yaml, sent in every record's `flow` header.
    pub const FLOW: &str = "{{ t.flow }}";
    /// The topic the flow writes to.
    pub const TOPIC: &str = "{{ t.topic }}";
    /// Partitions created for the topic: the unit of consumer parallelism, and
    /// events with the same key stay in order within one.
    pub const PARTITIONS: i32 = {{ t.partitions }};
    /// Replication factor recommended for a production cluster. Topics are
    /// created with `KAFKA_REPLICATION` (default 1, for the single-node
    /// development broker): set it to this value in production.
    pub const REPLICATION: i32 = {{ t.replication }};
    /// Whether each event is sent in a transaction of its own and read only
    /// once committed (`delivery: exactly-once`).
    pub const EXACTLY_ONCE: bool = {{ t.exactly_once }};

    /// The payload of the flow: message `{{ t.event.message_proto }}`.
    pub type Event = crate::{{ t.event.message }};

    /// The field whose value keys the flow's records (`{{ t.event.key_proto }}`): the
    /// events of one key stay in order.
    pub const KEY_FIELD: &str = "{{ t.event.key_proto }}";

    /// The record key of `event`: its `{{ t.event.key_proto }}`, as text.
    pub fn key(event: &Event) -> String {
{%- if t.event.key_kind == "string" %}
        event.{{ t.event.key_field }}.clone()
{%- elif t.event.key_kind == "bytes" %}
        String::from_utf8_lossy(&event.{{ t.event.key_field }}).into_owned()
{%- else %}
        event.{{ t.event.key_field }}.to_string()
{%- endif %}
    }

    /// The value of the record's `content-type` header.
    pub const CONTENT_TYPE: &str = "{{ t.event.content_type }}";

    /// The flow, as the services' Kafka code takes it.
    pub const WIRE: super::Wire<Event> = super::Wire {
        flow: FLOW,
        topic: TOPIC,
        content_type: CONTENT_TYPE,
        exactly_once: EXACTLY_ONCE,
        key,
        encode,
        decode: |payload| decode(payload).map_err(|err| err.to_string()),
        sample,
        from_input: |input| super::from_input(input, sample),
    };
{%- if t.event.binary %}

    /// The bytes written as the record's value: the protobuf encoding
    /// (`format: binary`).
    pub fn encode(event: &Event) -> Vec<u8> {
        prost::Message::encode_to_vec(event)
    }

    /// Reads a record's value back into the event.
    pub fn decode(payload: &[u8]) -> Result<Event, prost::DecodeError> {
        prost::Message::decode(payload)
    }
{%- else %}

    /// The bytes written as the record's value: the proto3 JSON mapping{% if t.event.sample_json %},
    /// `{{ t.event.sample_json }}`{% endif %}.
    pub fn encode(event: &Event) -> Vec<u8> {
        serde_json::to_vec(event).expect("a protobuf message always serializes to JSON")
    }

    /// Reads a record's value back into the event.
    pub fn decode(payload: &[u8]) -> Result<Event, serde_json::Error> {
        serde_json::from_slice(payload)
    }
{%- endif %}

    /// A sample event keyed `id`: what `publish {{ t.flow }} <id>` sends.
{%- if t.event.key_kind == "parsed" %}
    /// The key field is not text: `id` is parsed into it (its default when
    /// it does not parse).
{%- endif %}
    pub fn sample(id: &str) -> Event {
        Event {
{%- if t.event.key_kind == "string" %}
            {{ t.event.key_field }}: id.to_owned(),
{%- elif t.event.key_kind == "bytes" %}
            {{ t.event.key_field }}: id.as_bytes().to_vec().into(),
{%- else %}
            {{ t.event.key_field }}: id.parse().unwrap_or_default(),
{%- endif %}
{%- if t.event.status_field %}
            {{ t.event.status_field }}: "CREATED".to_owned(),
{%- endif %}
{%- if t.event.has_more %}
            ..Default::default()
{%- endif %}
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_sample_is_keyed_by_its_id() {
            assert_eq!(key(&sample("{{ t.event.sample_key }}")), "{{ t.event.sample_key }}");
        }
{%- if t.event.binary %}

        #[test]
        fn encodes_to_protobuf_and_back() {
            let event = sample("{{ t.event.sample_key }}");
            assert_eq!(decode(&encode(&event)).unwrap(), event);
        }

        #[test]
        fn rejects_a_payload_that_is_not_protobuf() {
            assert!(decode(&[0xff]).is_err());
        }
{%- else %}

        #[test]
        fn encodes_to_the_proto3_json_mapping_and_back() {
            let event = sample("{{ t.event.sample_key }}");
            let bytes = encode(&event);
{%- if t.event.sample_json %}
            assert_eq!(bytes, br#"{{ t.event.sample_json }}"#);
{%- endif %}
            assert_eq!(decode(&bytes).unwrap(), event);
        }

        #[test]
        fn rejects_a_payload_that_is_not_json() {
            assert!(decode(b"not json").is_err());
        }
{%- endif %}
    }
}
{% endfor %}
#[cfg(test)]
mod tests {
    fn sample(id: &str) -> String {
        format!("sample {id}")
    }

    #[test]
    fn an_input_starting_with_a_brace_is_json_else_an_id() {
        assert_eq!(
            super::from_input(r#"{"a":1}"#, |_| serde_json::Value::Null),
            Ok(serde_json::json!({"a": 1}))
        );
        assert_eq!(
            super::from_input("e-1", sample),
            Ok("sample e-1".to_owned())
        );
    }

    #[test]
    fn rejects_malformed_json_and_ids() {
        assert!(super::from_input("{not json", |_| serde_json::Value::Null).is_err());
        let err = super::from_input("a b", sample).unwrap_err();
        assert!(err.starts_with("invalid id `a b`"), "{err}");
    }
}
