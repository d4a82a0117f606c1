//! `commsadvise schema`: the editor schema is derived from the loader's own
//! types, every example validates against it, and it rejects what the
//! loader rejects for unknown fields and values. The loader's messages for
//! the fields added with the schema are snapshotted here too.

use serde_json::Value;

use crate::common::{Test, repo};

fn schema() -> Value {
    let run = Test::new().args(&["schema"]).success();
    serde_json::from_str(&run.stdout).expect("the schema is JSON")
}

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&schema()).expect("the schema is a valid JSON Schema")
}

/// YAML as the JSON value a YAML language server validates.
fn yaml_value(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("valid YAML")
}

#[test]
fn prints_the_schema() {
    let run = Test::new().args(&["schema"]).success();
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn every_example_validates_against_the_schema() {
    let validator = validator();
    let mut checked = 0;
    for entry in std::fs::read_dir(repo("examples")).expect("examples/") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable");
        let errors: Vec<String> = validator
            .iter_errors(&yaml_value(&text))
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        checked += 1;
    }
    assert!(checked >= 3, "examples/ holds the examples");
}

#[test]
fn schema_lists_exactly_the_keys_the_loader_accepts() {
    let schema = schema();
    let flow_keys: Vec<&str> = schema["definitions"]["Flow"]["properties"]
        .as_object()
        .expect("flow properties")
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = commsadvise::spec::load::FLOW_KEYS.to_vec();
    expected.sort_unstable();
    assert_eq!(flow_keys, expected);
    let service_keys: Vec<&str> = schema["definitions"]["Service"]["properties"]
        .as_object()
        .expect("service properties")
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = commsadvise::spec::load::SERVICE_KEYS.to_vec();
    expected.sort_unstable();
    assert_eq!(service_keys, expected);
}

const BASE: &str = "version: 1\nservices:\n  orders:\n    description: Owns orders\nflows:\n  - name: get-order\n    from: storefront\n    to: orders\n";

/// Files the loader refuses for an unknown field or value, or a value out
/// of range: the schema must refuse each of them too.
const REFUSED: &[(&str, &str)] = &[
    (
        "unknown top-level key",
        "version: 1\nflow: []\nflows:\n  - name: a\n    from: b\n    to: c\n",
    ),
    ("unknown flow field", "    latency: 5\n"),
    ("unknown service field", "SERVICE    availabilty: 0.99\n"),
    ("unknown interaction", "    interaction: request_response\n"),
    ("unknown client", "    client: mainframe\n"),
    ("unknown coupling", "    coupling: medium\n"),
    ("unknown delivery", "    delivery: once\n"),
    ("unknown ordering", "    ordering: global\n"),
    ("unknown format", "    format: xml\n"),
    ("unknown contract", "    contract: loose\n"),
    ("unknown transport", "    transport: soap\n"),
    ("unknown transports item", "TOP\ntransports: [rest, amqp]\n"),
    ("version 2", "VERSION 2"),
    ("zero latency", "    latency_ms: 0\n"),
    ("negative retention", "    retention_hours: -1\n"),
    ("availability above 1", "SERVICE    availability: 99.9\n"),
    ("availability of 0", "SERVICE    availability: 0\n"),
    ("instances of 0", "SERVICE    instances: 0\n"),
    ("bad flow name", "NAME Get_Order"),
    ("empty to", "EMPTY_TO"),
];

fn refused_file(edit: &str) -> String {
    if let Some(rest) = edit.strip_prefix("SERVICE") {
        return BASE.replace(
            "    description: Owns orders\n",
            &format!("    description: Owns orders\n{rest}"),
        );
    }
    if edit.starts_with("TOP") {
        return BASE.replace("flows:\n", "transports: [rest, amqp]\nflows:\n");
    }
    if let Some(v) = edit.strip_prefix("VERSION ") {
        return BASE.replace("version: 1", &format!("version: {v}"));
    }
    if let Some(name) = edit.strip_prefix("NAME ") {
        return BASE.replace("name: get-order", &format!("name: {name}"));
    }
    if edit == "EMPTY_TO" {
        return BASE.replace("    to: orders\n", "    to: []\n");
    }
    if edit.starts_with("version") {
        return edit.to_owned();
    }
    format!("{BASE}{edit}")
}

#[test]
fn the_schema_rejects_what_the_loader_rejects() {
    let validator = validator();
    assert!(
        validator.is_valid(&yaml_value(BASE)),
        "the base file is valid"
    );
    Test::new()
        .file("flows.yaml", BASE)
        .args(&["recommend", "flows.yaml"])
        .success();
    for (what, edit) in REFUSED {
        let text = refused_file(edit);
        let run = Test::new()
            .file("flows.yaml", &text)
            .args(&["recommend", "flows.yaml"])
            .run();
        assert_eq!(
            run.status, 2,
            "the loader refuses {what}:\n{text}\n{}",
            run.stdout
        );
        assert!(
            !validator.is_valid(&yaml_value(&text)),
            "the schema refuses {what}:\n{text}"
        );
    }
}

macro_rules! new_field_errors {
    ($($test:ident: $edit:literal;)*) => {$(
        #[test]
        fn $test() {
            let run = Test::new()
                .file("flows.yaml", refused_file($edit))
                .args(&["recommend", "flows.yaml"])
                .status(2);
            insta::assert_snapshot!(run.stderr);
        }
    )*};
}

new_field_errors! {
    rejects_availability_given_as_a_percentage: "SERVICE    availability: 99.9\n";
    rejects_availability_that_is_not_a_number: "SERVICE    availability: high\n";
    rejects_zero_instances: "SERVICE    instances: 0\n";
    rejects_a_misspelt_service_field: "SERVICE    availabilty: 0.99\n";
    rejects_retention_that_is_not_a_whole_number: "    retention_hours: 1.5\n";
    rejects_a_misspelt_retention_field: "    retention: 24\n";
}
