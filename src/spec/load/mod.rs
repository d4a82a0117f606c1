//! From flows.yaml text to a validated [`FlowsFile`].
//!
//! serde reads the file into raw types that keep every value's position
//! ([`Spanned`]); validation then applies docs/flows-yaml.md — names, keywords,
//! defaults, uniqueness — and reports every problem it finds, each pointing
//! at its line and column, rather than stopping at the first.
//!
//! One file per job: [`raw`] holds the serde types (a flow's made from
//! the one declaration of its fields, `spec/fields.rs`), [`schema`] what the editor schema says of loosely
//! typed fields, [`validate`] the checks from raw to typed, [`position`]
//! the reading of positions back from the text; this file is the entry
//! points.

mod position;
mod raw;
mod schema;
mod validate;

use serde_json::Value as Json;

use crate::error::{Diagnostic, Error};
use crate::spec::model::{FlowsFile, SourceMap};
use crate::yaml;

use position::{UnknownKeys, enclosing_key, top_level_key};
pub use raw::{FLOW_KEYS, SERVICE_KEYS};
use raw::{LeanFile, Outline, RawFile};
use validate::Validator;

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

/// More errors than this are counted, not shown: a file that is wrong
/// everywhere needs its first problems fixed, not ten thousand carets.
const MAX_ERRORS: usize = 50;

#[cfg(test)]
mod tests {
    use super::raw::{RawFlow, RawService, field_names};
    use super::schema::SYNC_TRANSPORTS;
    use super::*;
    use crate::spec::model::{Pos, Transport};

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

    #[test]
    fn checks_the_fields_of_a_service_named_like_a_yaml_boolean() {
        for name in ["n", "y", "no", "yes", "on", "off"] {
            let text = FILE
                .replace("  orders:\n", &format!("  {name}:\n"))
                .replace("to: orders", &format!("to: {name}"))
                .replace("from: orders", &format!("from: {name}"))
                .replace("    instances: 4\n", "    instance: 4\n");
            assert!(
                errors(&text).starts_with(&format!(
                    "error: unknown field `instance` in service `{name}`\n"
                )),
                "{name}: {}",
                errors(&text)
            );
        }
    }
}
