//! The reference in docs/ against the code it describes: every field,
//! value, condition field, criterion and JSON key the binary knows is
//! documented, so adding one without documenting it fails here.

use std::collections::BTreeSet;

use commsadvise::engine::facts::Field;
use commsadvise::engine::rule::Criterion;
use commsadvise::engine::system::CHECKS;
use commsadvise::spec::load::{FLOW_KEYS, SERVICE_KEYS};
use commsadvise::spec::model::{
    Client, Contract, Coupling, Delivery, Format, Interaction, Ordering, Transport,
};
use serde_json::Value;

use crate::common::{Test, repo};

fn doc(name: &str) -> String {
    std::fs::read_to_string(repo(&format!("docs/{name}"))).expect("the doc exists")
}

/// The names in `names` that `text` does not mention as `code`.
fn missing<'a>(text: &str, names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    names
        .into_iter()
        .filter(|n| !text.contains(&format!("`{n}`")))
        .collect()
}

#[test]
fn flows_yaml_reference_documents_every_key_and_value() {
    let text = doc("flows-yaml.md");
    let top = [
        "version",
        "system",
        "transports",
        "services",
        "flows",
        "prefer",
    ];
    assert_eq!(missing(&text, top), Vec::<&str>::new());
    assert_eq!(
        missing(&text, FLOW_KEYS.iter().copied()),
        Vec::<&str>::new()
    );
    assert_eq!(
        missing(&text, SERVICE_KEYS.iter().copied()),
        Vec::<&str>::new()
    );
    let values = [
        Transport::NAMES,
        Interaction::NAMES,
        Client::NAMES,
        Coupling::NAMES,
        Delivery::NAMES,
        Ordering::NAMES,
        Format::NAMES,
        Contract::NAMES,
    ];
    assert_eq!(
        missing(&text, values.iter().flat_map(|v| v.iter().copied())),
        Vec::<&str>::new()
    );
}

#[test]
fn rules_reference_documents_every_criterion_and_condition_field() {
    let text = doc("rules.md");
    let fields: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
    assert_eq!(missing(&text, fields), Vec::<&str>::new());
    for criterion in Criterion::NAMES {
        assert!(
            text.contains(&format!("| {criterion} |")),
            "criterion {criterion} is not in the table"
        );
    }
}

/// Every object key anywhere in `value`.
fn keys(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                out.insert(k.clone());
                keys(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

#[test]
fn output_reference_documents_every_json_key() {
    let text = doc("output.md");
    let mut found = BTreeSet::new();
    // The marketplace fires every finding and has Kafka flows; the spec
    // cases have conflicts; check's report has its own keys.
    for args in [
        ["recommend", "marketplace.yaml", "--format", "json"],
        ["recommend", "spec-cases.yaml", "--format", "json"],
        ["check", "marketplace.yaml", "--format", "json"],
    ] {
        let run = Test::new()
            .fixture("examples/marketplace.yaml", "marketplace.yaml")
            .fixture("examples/spec-cases.yaml", "spec-cases.yaml")
            .args(&args)
            .run();
        let json: Value = serde_json::from_str(&run.stdout).expect("JSON on stdout");
        keys(&json, &mut found);
    }
    // Keys of `scores` are the transports, documented as such.
    assert_eq!(
        missing(&text, found.iter().map(String::as_str)),
        Vec::<&str>::new()
    );
}

#[test]
fn the_findings_table_is_the_registry_of_system_checks() {
    let text = doc("output.md");
    let rows: Vec<(String, String, String)> = text
        .lines()
        .skip_while(|l| !l.starts_with("| id | severity | fires when |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            (
                cells[0].trim_matches('`').to_owned(),
                cells[1].to_owned(),
                cells[2].to_owned(),
            )
        })
        .collect();
    let registry: Vec<(String, String, String)> = CHECKS
        .iter()
        .map(|c| (c.id.to_owned(), c.severity.to_string(), c.fires_when()))
        .collect();
    assert_eq!(
        rows, registry,
        "docs/output.md's findings table and engine::system::CHECKS differ"
    );
}

#[test]
fn readme_and_docs_point_at_the_repository_not_at_a_spec_users_lack() {
    let mut texts = vec![(
        "README.md".to_owned(),
        std::fs::read_to_string(repo("README.md")).expect("README"),
    )];
    for entry in std::fs::read_dir(repo("docs")).expect("docs/") {
        let path = entry.expect("entry").path();
        texts.push((
            path.display().to_string(),
            std::fs::read_to_string(&path).expect("doc"),
        ));
    }
    for (name, text) in texts {
        assert!(!text.contains("shared/"), "{name} points at shared/");
        assert!(!text.contains("SPEC"), "{name} points at the SPEC");
    }
}

/// The fenced YAML blocks of a doc (or the README) that have a line
/// starting with `key`.
fn yaml_blocks(path: &str, key: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repo(path)).expect("doc exists");
    text.split("```yaml\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("```").map(|(block, _)| block))
        .filter(|block| block.lines().any(|l| l.starts_with(key)))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_flows_file_shown_in_the_docs_loads() {
    let mut shown = 0;
    for path in ["README.md", "docs/flows-yaml.md", "docs/scaffold.md"] {
        for block in yaml_blocks(path, "flows:") {
            shown += 1;
            let run = Test::new()
                .file("flows.yaml", &block)
                .args(&["recommend", "flows.yaml"])
                .run();
            assert_eq!(run.status, 0, "{path}:\n{block}\n{}", run.stderr);
        }
    }
    assert!(shown >= 3, "only {shown} flows files found");
}

#[test]
fn every_rule_shown_in_the_docs_loads() {
    let blocks = yaml_blocks("docs/rules.md", "criterion: ");
    assert!(blocks.len() >= 2, "{blocks:?}");
    for block in blocks {
        let id = block
            .lines()
            .find_map(|l| l.strip_prefix("id: "))
            .expect("an id line")
            .to_owned();
        let run = Test::new()
            .file("rule.yaml", &block)
            .args(&["rules", &id, "--rules", "rule.yaml"])
            .run();
        assert_eq!(run.status, 0, "{block}\n{}", run.stderr);
        assert!(
            run.stdout.contains("file:      rule.yaml"),
            "{}",
            run.stdout
        );
    }
}
