{#- scaffold
when: uses.kafka
-#}
//! The Kafka topics of the system, one module per event flow: its topic name,
//! how the topic is sized, and the payload it carries with its wire encoding.
//!
//! Producers and consumers both use these, so the topic name, the JSON payload
//! and the dead-letter topic name are written down exactly once.

/// Suffix of the dead-letter topic that receives a consumer's poison messages.
pub const DEAD_LETTER_SUFFIX: &str = ".dlt";

/// Header naming the flow of a record, so that flows sharing a topic can be
/// told apart by their consumers.
pub const FLOW_HEADER: &str = "flow";

/// The dead-letter topic of `topic` (`order-events` -> `order-events.dlt`).
pub fn dead_letter_topic(topic: &str) -> String {
    format!("{topic}{DEAD_LETTER_SUFFIX}")
}
{% for t in topics %}
/// Flow `{{ t.flow }}`: {{ t.from }} to {{ t.to_text }} ({{ t.delivery }}{% if t.replay %}, replayable{% endif %}).
{%- if t.description %}
///
/// {{ t.description }}
{%- endif %}
pub mod {{ t.flow_ident }} {
    /// The flow's name in flows.yaml, sent in the [`super::FLOW_HEADER`] header.
    pub const FLOW: &str = "{{ t.flow }}";
    /// The topic the flow writes to.
    pub const TOPIC: &str = "{{ t.topic }}";
    /// Partitions created for the topic: the unit of consumer parallelism, and
    /// events with the same key (the {{ names.id_words }}) stay in order within one.
    pub const PARTITIONS: i32 = {{ t.partitions }};
    /// Replication factor recommended for a production cluster. Topics are
    /// created with `KAFKA_REPLICATION` (default 1, for the single-node
    /// development broker): set it to this value in production.
    pub const REPLICATION: i32 = {{ t.replication }};

    /// The payload of the flow; its key is the {{ names.id_words }}.
    pub type Event = crate::{{ contract.package }}::{{ contract.response.name }};

    /// The bytes written as the record's value: the proto3 JSON mapping,
    /// `{{ names.sample_json }}`.
    pub fn encode(event: &Event) -> Vec<u8> {
        serde_json::to_vec(event).expect("a protobuf message always serializes to JSON")
    }

    /// Reads a record's value back into the event.
    pub fn decode(payload: &[u8]) -> Result<Event, serde_json::Error> {
        serde_json::from_slice(payload)
    }

    #[cfg(test)]
    mod tests {
        use super::{Event, decode, encode};

        #[test]
        fn encodes_to_the_proto3_json_mapping_and_back() {
            let event = Event {
                {{ contract.id_field.name }}: "{{ names.sample_event_id }}".into(),
{%- if contract.status_field %}
                {{ contract.status_field.name }}: "{{ names.sample_status }}".into(),
{%- endif %}
{%- if names.response_has_more %}
                ..Default::default()
{%- endif %}
            };
            let bytes = encode(&event);
            assert_eq!(bytes, br#"{{ names.sample_event_json }}"#);
            assert_eq!(decode(&bytes).unwrap(), event);
        }

        #[test]
        fn rejects_a_payload_that_is_not_json() {
            assert!(decode(b"not json").is_err());
        }
    }
}
{% endfor %}
#[cfg(test)]
mod tests {
    #[test]
    fn dead_letter_topic_appends_the_suffix() {
        assert_eq!(super::dead_letter_topic("order-events"), "order-events.dlt");
    }
}
