//! Writes a [`FlowsFile`] back to flows.yaml v1 text, for the questionnaire.
//!
//! The output is meant to be read and edited by people: keys in the order
//! of docs/flows-yaml.md, defaults left out, `to` as a scalar for one
//! receiver and a flow list for several, strings quoted only when a plain
//! scalar would be misread. It is
//! hand-written rather than produced by a YAML serializer because none of
//! them omits defaults or chooses between the two shapes of `to`, and the
//! promise that matters is a round trip: `load_str(to_yaml(f)) == f`.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::spec::model::{FieldValue, Flow, FlowsFile, Transport};

/// The system name the loader gives a file without `system:`.
const DEFAULT_SYSTEM: &str = "system";

/// The flows.yaml v1 text of `file`.
pub fn to_yaml(file: &FlowsFile) -> String {
    let mut out = String::from("version: 1\n");
    if file.system != DEFAULT_SYSTEM {
        let _ = writeln!(out, "system: {}", scalar(&file.system));
    }
    if file.transports != Transport::ALL {
        let names: Vec<&str> = file.transports.iter().map(|t| t.as_str()).collect();
        let _ = writeln!(out, "transports: [{}]", names.join(", "));
    }
    // The loader adds every service a flow names; only the others need
    // declaring: those with something to say, and those no flow mentions.
    let declared: Vec<_> = file
        .services
        .iter()
        .filter(|(name, service)| !service.is_plain() || !referenced(file, name))
        .collect();
    if !declared.is_empty() {
        out.push_str("services:\n");
        for (name, service) in declared {
            if service.is_plain() {
                let _ = writeln!(out, "  {}: {{}}", scalar(name));
                continue;
            }
            let _ = writeln!(out, "  {}:", scalar(name));
            if let Some(d) = &service.description {
                let _ = writeln!(out, "    description: {}", scalar(d));
            }
            // `{}` prints the shortest decimal that reads back as the same f64.
            if let Some(a) = service.availability {
                let _ = writeln!(out, "    availability: {a}");
            }
            if let Some(n) = service.instances {
                let _ = writeln!(out, "    instances: {n}");
            }
            if service.exposed {
                out.push_str("    exposed: true\n");
            }
        }
    }
    if let Some(t) = file.prefer.internal {
        let _ = writeln!(out, "prefer:\n  internal: {t}");
    }
    write_list(&mut out, "proto", &file.proto);
    write_list(&mut out, "proto_path", &file.proto_path);
    if file.flows.is_empty() {
        out.push_str("flows: []\n");
    } else {
        out.push_str("flows:\n");
        for flow in &file.flows {
            write_flow(&mut out, flow);
        }
    }
    out
}

/// `key: value` for one entry, `key: [a, b]` for several, nothing for none.
fn write_list(out: &mut String, key: &str, items: &[String]) {
    match items {
        [] => {}
        [one] => {
            let _ = writeln!(out, "{key}: {}", scalar(one));
        }
        many => {
            let items: Vec<Cow<'_, str>> = many.iter().map(|s| scalar(s)).collect();
            let _ = writeln!(out, "{key}: [{}]", items.join(", "));
        }
    }
}

fn referenced(file: &FlowsFile, service: &str) -> bool {
    file.flows
        .iter()
        .any(|f| f.from == service || f.to.iter().any(|t| t == service))
}

/// A flow's fields that differ from their defaults, in the order of their
/// declaration ([`Flow::each_set`]): no field is written by name here.
fn write_flow(out: &mut String, flow: &Flow) {
    let mut lead = "  - ";
    flow.each_set(|key, value| {
        let text = match value {
            FieldValue::Text(text) => scalar(text),
            FieldValue::Names([one]) => scalar(one),
            FieldValue::Names(many) => {
                let items: Vec<Cow<'_, str>> = many.iter().map(|s| scalar(s)).collect();
                Cow::Owned(format!("[{}]", items.join(", ")))
            }
            FieldValue::Keyword(word) => Cow::Borrowed(word),
            FieldValue::Number(n) => Cow::Owned(n.to_string()),
            FieldValue::Bool(b) => Cow::Owned(b.to_string()),
        };
        let _ = writeln!(out, "{lead}{key}: {text}");
        lead = "    ";
    });
}

/// `text` as a YAML scalar: plain when a reader would get the same string
/// back, double-quoted otherwise.
pub fn scalar(text: &str) -> Cow<'_, str> {
    if needs_quotes(text) {
        Cow::Owned(double_quoted(text))
    } else {
        Cow::Borrowed(text)
    }
}

/// Words YAML 1.1 or 1.2 read as booleans or null; parsers differ on which,
/// so all of them are quoted, in any case.
const RESERVED_WORDS: &[&str] = &[
    "true", "false", "yes", "no", "y", "n", "on", "off", "null", "~",
];

fn needs_quotes(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return true;
    };
    if RESERVED_WORDS.iter().any(|w| w.eq_ignore_ascii_case(text)) || looks_numeric(text) {
        return true;
    }
    // Indicators that start a different kind of node, a comment or a
    // directive; a leading '.' also covers `...`, the document end marker.
    if "-?:,[]{}#&*!|>'\"%@`.".contains(first) {
        return true;
    }
    if text.starts_with(' ') || text.ends_with(' ') || text.ends_with(':') {
        return true;
    }
    // `: ` starts a mapping and ` #` a comment; flow indicators would end an
    // item of a `[a, b]` list early.
    if text.contains(": ") || text.contains(" #") || text.contains([',', '[', ']', '{', '}']) {
        return true;
    }
    text.chars().any(needs_escape)
}

/// Numbers in any notation a YAML parser might accept: `12`, `1_000`,
/// `0x1f`, `1e3`, `.5`, `+1`, `inf`, `nan`.
fn looks_numeric(text: &str) -> bool {
    let unsigned = text.trim_start_matches(['+', '-']);
    let first_digit = unsigned.starts_with(|c: char| c.is_ascii_digit());
    let dot_digit = unsigned.starts_with('.')
        && unsigned[1..].starts_with(|c: char| c.is_ascii_digit() || c == 'i' || c == 'n');
    first_digit || dot_digit || text.parse::<f64>().is_ok()
}

/// Characters that only a double-quoted scalar can carry: controls, and the
/// Unicode line separators YAML 1.1 treats as line breaks.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::load_str;
    use crate::spec::model::{Client, Compatibility, Contract, Format, Ordering, Service};

    const ORDERS: &str = include_str!("../../examples/orders.yaml");
    const SPEC_CASES: &str = include_str!("../../examples/spec-cases.yaml");
    const MARKETPLACE: &str = include_str!("../../examples/marketplace.yaml");

    fn round_trip(file: &FlowsFile) -> FlowsFile {
        let text = to_yaml(file);
        load_str("written.yaml", &text)
            .unwrap_or_else(|e| panic!("written file does not load:\n{e}\n--- text\n{text}"))
    }

    fn with_description(description: &str) -> FlowsFile {
        let mut file = load_str("orders.yaml", ORDERS).expect("example loads");
        file.flows[0].description = Some(description.to_owned());
        file
    }

    #[test]
    fn writes_the_orders_example_back_verbatim() {
        let file = load_str("orders.yaml", ORDERS).expect("example loads");
        assert_eq!(to_yaml(&file), ORDERS);
    }

    #[test]
    fn every_example_survives_a_round_trip() {
        for (name, text) in [
            ("orders.yaml", ORDERS),
            ("spec-cases.yaml", SPEC_CASES),
            ("marketplace.yaml", MARKETPLACE),
        ] {
            let file = load_str(name, text).expect("example loads");
            assert_eq!(round_trip(&file), file, "{name}");
        }
    }

    #[test]
    fn leaves_out_every_default() {
        let mut file = load_str("orders.yaml", ORDERS).expect("example loads");
        file.system = "system".to_owned();
        file.flows.truncate(1);
        file.flows[0] = Flow::new("get-order", "storefront", "orders");
        file.services
            .retain(|name, _| name == "storefront" || name == "orders");
        assert_eq!(
            to_yaml(&file),
            "version: 1\nflows:\n  - name: get-order\n    from: storefront\n    to: orders\n"
        );
        assert_eq!(round_trip(&file), file);
    }

    #[test]
    fn keeps_the_contract_binding() {
        let text = "version: 1\nsystem: billing\nproto: [proto/a.proto, proto/b.proto]\nproto_path: proto\nflows:\n  - name: get-invoice\n    from: web\n    to: billing\n    rpc: billing.v1.InvoiceService/GetInvoice\n  - name: invoice-issued\n    from: billing\n    to: accounting\n    interaction: event\n    message: billing.v1.InvoiceIssued\n    key: customer_id\n";
        let file = load_str("flows.yaml", text).expect("loads");
        assert_eq!(to_yaml(&file), text);
        assert_eq!(round_trip(&file), file);
    }

    #[test]
    fn writes_several_receivers_as_a_flow_list() {
        let file = load_str("orders.yaml", ORDERS).expect("example loads");
        assert!(to_yaml(&file).contains("    to: [analytics, shipping]\n"));
    }

    #[test]
    fn writes_every_field_in_spec_order() {
        let mut file = load_str("orders.yaml", ORDERS).expect("example loads");
        file.transports = vec![Transport::Grpc, Transport::Kafka];
        let flow = &mut file.flows[2];
        flow.client = Client::Public;
        flow.latency_ms = Some(50);
        flow.throughput = Some(20_000);
        flow.ordering = Ordering::PerKey;
        flow.format = Format::Binary;
        flow.contract = Contract::Strict;
        flow.payload_bytes = Some(512);
        flow.retention_hours = Some(72);
        flow.transport = Some(Transport::Kafka);
        flow.compatibility = Compatibility::Full;
        let text = to_yaml(&file);
        assert!(text.contains("transports: [grpc, kafka]\n"), "{text}");
        assert_eq!(round_trip(&file), file);
        // Every key of the one declaration of a flow's fields, in its order
        // (written only: no valid flow sets them all).
        let flow = &mut file.flows[2];
        flow.replay = true;
        flow.rpc = Some("orders.v1.Orders/Created".to_owned());
        flow.message = Some("orders.v1.OrderCreated".to_owned());
        flow.key = Some("order_id".to_owned());
        flow.during = Some("place-order".to_owned());
        flow.per_item = true;
        let text = to_yaml(&file);
        let keys: Vec<&str> = text
            .split("  - name: order-created\n")
            .nth(1)
            .expect("flow written")
            .lines()
            .take_while(|l| !l.starts_with("  - "))
            .map(|l| l.trim().split(':').next().unwrap_or_default())
            .collect();
        assert_eq!(keys, &crate::spec::load::FLOW_KEYS[1..]);
    }

    #[test]
    fn quotes_only_strings_that_would_be_misread() {
        let cases = [
            ("it's a plain sentence", "it's a plain sentence"),
            ("C:\\orders", "C:\\orders"),
            ("a:b", "a:b"),
            ("über", "über"),
            ("yes", "\"yes\""),
            ("No", "\"No\""),
            ("null", "\"null\""),
            ("~", "\"~\""),
            ("true", "\"true\""),
            ("123", "\"123\""),
            ("1.5", "\"1.5\""),
            ("0x1f", "\"0x1f\""),
            ("1e3", "\"1e3\""),
            (".inf", "\".inf\""),
            ("-1", "\"-1\""),
            ("key: value", "\"key: value\""),
            ("ends with colon:", "\"ends with colon:\""),
            ("fast # really", "\"fast # really\""),
            ("#tag", "\"#tag\""),
            ("- item", "\"- item\""),
            ("* star", "\"* star\""),
            ("&anchor", "\"&anchor\""),
            ("!tag", "\"!tag\""),
            ("| block", "\"| block\""),
            ("> folded", "\"> folded\""),
            ("'single'", "\"'single'\""),
            ("\"double\"", "\"\\\"double\\\"\""),
            ("%directive", "\"%directive\""),
            ("@at", "\"@at\""),
            ("[list]", "\"[list]\""),
            ("{map}", "\"{map}\""),
            ("a, b", "\"a, b\""),
            ("...", "\"...\""),
            ("", "\"\""),
            (" leading", "\" leading\""),
            ("trailing ", "\"trailing \""),
            ("two\nlines", "\"two\\nlines\""),
            ("tab\there", "\"tab\\there\""),
            ("bell\u{7}", "\"bell\\u0007\""),
            ("sep\u{2028}x", "\"sep\\u2028x\""),
        ];
        for (text, written) in cases {
            assert_eq!(scalar(text), written, "{text:?}");
        }
    }

    #[test]
    fn quoted_descriptions_load_back_unchanged() {
        let tricky = [
            "yes",
            "No",
            "null",
            "~",
            "123",
            "1.5",
            "0x1f",
            "1e3",
            ".inf",
            "key: value",
            "fast # really",
            "#tag",
            "- item",
            "'single'",
            "\"double\"",
            "back\\slash",
            "[list]",
            "{map}",
            "a, b",
            "...",
            "---",
            "",
            " leading",
            "trailing ",
            "two\nlines",
            "tab\there",
            "bell\u{7}",
            "sep\u{2028}x",
            "it's fine",
            "ünïcödé ✓",
        ];
        for description in tricky {
            let file = with_description(description);
            assert_eq!(round_trip(&file), file, "{description:?}");
        }
    }

    #[test]
    fn quoted_names_and_topics_load_back_unchanged() {
        let mut file = load_str("orders.yaml", ORDERS).expect("example loads");
        file.system = "no".to_owned();
        file.flows[0].from = "y".to_owned();
        file.flows[0].to = vec!["on".to_owned()];
        file.flows[1].to = vec!["null".to_owned(), "off".to_owned()];
        file.flows[2].topic = Some("1e3".to_owned());
        file.services = std::collections::BTreeMap::new();
        for flow in &file.flows {
            for s in std::iter::once(&flow.from).chain(&flow.to) {
                file.services.insert(s.clone(), Service::default());
            }
        }
        assert_eq!(round_trip(&file), file);
    }

    #[test]
    fn preferences_exposure_and_call_shape_survive_a_round_trip() {
        let mut file = load_str(
            "flows.yaml",
            "version: 1\nflows:\n  - name: list\n    from: web\n    to: catalog\n  - name: price\n    from: catalog\n    to: pricing\n",
        )
        .expect("loads");
        file.prefer.internal = Some(Transport::Grpc);
        file.services.get_mut("pricing").expect("pricing").exposed = true;
        file.flows[0].client = Client::Mobile;
        file.flows[1].during = Some("list".to_owned());
        file.flows[1].per_item = true;
        let text = to_yaml(&file);
        assert!(text.contains("prefer:\n  internal: grpc\n"), "{text}");
        assert!(text.contains("  pricing:\n    exposed: true\n"), "{text}");
        assert_eq!(round_trip(&file), file);
    }

    #[test]
    fn availability_and_instances_survive_a_round_trip() {
        let mut file = load_str("orders.yaml", ORDERS).expect("example loads");
        let orders = file.services.get_mut("orders").expect("implied");
        orders.availability = Some(0.9995);
        orders.instances = Some(6);
        file.services
            .get_mut("shipping")
            .expect("implied")
            .availability = Some(1.0);
        file.services
            .get_mut("analytics")
            .expect("implied")
            .availability = Some(0.1 + 0.2);
        let text = to_yaml(&file);
        assert!(
            text.contains("  orders:\n    availability: 0.9995\n    instances: 6\n"),
            "{text}"
        );
        assert_eq!(round_trip(&file), file);
    }

    #[test]
    fn declares_services_with_a_description_or_no_flow() {
        let mut file = load_str("orders.yaml", ORDERS).expect("example loads");
        file.services
            .get_mut("orders")
            .expect("implied")
            .description = Some("Owns orders: the source of truth".to_owned());
        file.services
            .insert("legacy".to_owned(), Service::default());
        let text = to_yaml(&file);
        assert!(
            text.contains(
                "services:\n  legacy: {}\n  orders:\n    description: \"Owns orders: the source of truth\"\nflows:\n"
            ),
            "{text}"
        );
        assert_eq!(round_trip(&file), file);
    }
}
