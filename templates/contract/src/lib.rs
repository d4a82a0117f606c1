//! The contract of the `{{ system }}` system, shared by every service so that callers,
//! callees, producers and consumers cannot drift apart.
//!
//! - [`{{ contract.package }}`]: the messages of `proto/{{ contract.file }}` (prost + serde with the
{%- if uses.grpc %}
//!   proto3 JSON mapping) and, behind features, its gRPC stubs;
{%- else %}
//!   proto3 JSON mapping);
{%- endif %}
{%- if uses.kafka %}
//! - [`events`]: the Kafka topics and the payload each one carries;
{%- endif %}
//! - [`ids`]: the validation of the ids that travel in paths, messages and keys.
{% if uses.kafka %}
pub mod events;
{%- endif %}
pub mod ids;

/// Code generated from `proto/{{ contract.file }}` by `build.rs`.
///
/// The messages serialize to the proto3 JSON mapping:
/// `{{ names.sample_json }}`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod {{ contract.package }} {
    include!(concat!(env!("OUT_DIR"), "/{{ contract.package }}.rs"));
}

/// The encoded `FileDescriptorSet` of every `.proto` file of the contract, for
/// gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/contract_descriptor.bin"));

#[cfg(test)]
mod tests {
    {%- set messages = [contract.request.name, contract.response.name] | unique | sort %}
    use super::{{ contract.package }}::{ {{- messages | join(sep=", ") -}} };

    #[test]
    fn messages_use_the_proto3_json_mapping() {
        let response = {{ contract.response.name }} {
            {{ contract.id_field.name }}: "{{ names.sample_id }}".into(),
{%- if contract.status_field %}
            {{ contract.status_field.name }}: "{{ names.sample_status }}".into(),
{%- endif %}
{%- if names.response_has_more %}
            ..Default::default()
{%- endif %}
        };
        assert_eq!(
            serde_json::to_string(&response).unwrap(),
            r#"{{ names.sample_json }}"#
        );
    }

    #[test]
    fn missing_json_fields_take_their_default() {
        let request: {{ contract.request.name }} = serde_json::from_str("{}").unwrap();
        assert_eq!(request, {{ contract.request.name }}::default());
    }

    #[test]
    fn the_descriptor_set_describes_the_{{ contract.service.proto_name | snake }}() {
        let text = String::from_utf8_lossy(super::FILE_DESCRIPTOR_SET);
        assert!(text.contains("{{ contract.service.proto_name }}"), "descriptor set: {text}");
    }
}
