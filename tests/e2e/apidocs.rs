//! The API documents (issue 11, item 3): the `OpenAPI` 3.1 document of each
//! REST-serving service and the `AsyncAPI` 3.0 document of the topics, for
//! the built-in example, examples/payments.yaml and a team's annotated
//! proto (tests/fixtures/apidocs), written to a folder and checked by
//! validators that share no code with ours: `openapi-spec-validator`
//! (Python) and `@asyncapi/parser` (npm). Without them the validation skips
//! with a reason on a developer's machine, and fails in CI (`CI` set);
//! .ci/run installs both.
//!
//! Then the routes: every route a generated router serves (read from the
//! generated `rest.rs`) is in its service's document, once, and nothing
//! else is.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use commsadvise::contract::BoundContract;
use commsadvise::engine::evaluate::Report;
use commsadvise::engine::{RuleSet, recommend};
use commsadvise::scaffold::apidocs::documents;
use commsadvise::spec::model::FlowsFile;

use crate::common::{repo, skipped, tool};

/// The flows, recommendations and contract of a flows file of the
/// repository, or of the built-in example for `None`.
fn prepared(flows: Option<&str>) -> (FlowsFile, Report, BoundContract) {
    let (file, contract) = match flows {
        None => commsadvise::commands::contract::builtin().expect("the built-in example"),
        Some(path) => {
            let path = repo(path);
            let file = commsadvise::commands::load_flows(&path).expect("flows load");
            let contract =
                commsadvise::commands::contract::resolve(&path, &file).expect("contract binds");
            (file, contract)
        }
    };
    let report = recommend(&file, &RuleSet::builtin().expect("built-in rules"));
    (file, report, contract)
}

/// The documents of `flows`, written under a new temporary folder.
fn written(flows: Option<&str>) -> (tempfile::TempDir, Vec<String>) {
    let (file, report, contract) = prepared(flows);
    let docs = documents(&file, &report, &contract).expect("documents");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut paths = Vec::new();
    for (path, contents) in docs {
        let full = dir.path().join(&path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("folder");
        std::fs::write(&full, contents).expect("write");
        paths.push(path);
    }
    (dir, paths)
}

fn parsed(dir: &Path, path: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join(path)).expect("written");
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path} is not YAML: {e}\n{text}"))
}

/// `openapi-spec-validator`: `OPENAPI_SPEC_VALIDATOR`, else on the PATH.
fn openapi_validator() -> Option<String> {
    if let Some(found) = tool("OPENAPI_SPEC_VALIDATOR", "openapi-spec-validator") {
        return Some(found);
    }
    skipped(
        "OpenAPI validation",
        "openapi-spec-validator was not found (pip install openapi-spec-validator, or set OPENAPI_SPEC_VALIDATOR)",
    );
    None
}

/// `node`, set to find `@asyncapi/parser`: in the `node_modules` folder
/// `ASYNCAPI_PARSER` names, else wherever node finds it on its own.
fn asyncapi_parser() -> Option<Command> {
    let node = || {
        let mut node = Command::new("node");
        if let Some(modules) = std::env::var_os("ASYNCAPI_PARSER") {
            node.env("NODE_PATH", modules);
        }
        node
    };
    let found = node()
        .args(["-e", "require('@asyncapi/parser')"])
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(node());
    }
    skipped(
        "AsyncAPI validation",
        "node could not load @asyncapi/parser (npm install @asyncapi/parser, and set ASYNCAPI_PARSER to its node_modules folder)",
    );
    None
}

/// Parses a document with `@asyncapi/parser`; any diagnostic of severity
/// error or warning fails, with the list.
const PARSE_ASYNCAPI: &str = r"
const fs = require('fs');
const { Parser } = require('@asyncapi/parser');
(async () => {
  const { document, diagnostics } = await new Parser().parse(fs.readFileSync(process.argv[2], 'utf8'));
  const serious = diagnostics.filter((d) => d.severity <= 1);
  for (const d of serious) console.log(`${d.severity === 0 ? 'error' : 'warning'} ${d.code} at ${d.path.join('.')}: ${d.message}`);
  process.exit(document && serious.length === 0 ? 0 : 1);
})().catch((e) => { console.log(String(e)); process.exit(2); });
";

/// Runs every validator found on the documents in `dir`.
fn validate(dir: &Path, paths: &[String]) {
    let openapi: Vec<&String> = paths
        .iter()
        .filter(|p| p.ends_with("openapi.yaml"))
        .collect();
    if !openapi.is_empty()
        && let Some(validator) = openapi_validator()
    {
        for path in &openapi {
            let out = Command::new(&validator).arg(dir.join(path)).output();
            assert_valid(out, dir, path, "openapi-spec-validator");
        }
    }
    if paths.iter().any(|p| p == "asyncapi.yaml")
        && let Some(mut node) = asyncapi_parser()
    {
        let script = dir.join("parse-asyncapi.js");
        std::fs::write(&script, PARSE_ASYNCAPI).expect("script");
        let out = node.arg(&script).arg(dir.join("asyncapi.yaml")).output();
        assert_valid(out, dir, "asyncapi.yaml", "@asyncapi/parser");
    }
}

/// A validator's verdict on `path`: on failure, what it said and the document.
fn assert_valid(
    out: std::io::Result<std::process::Output>,
    dir: &Path,
    path: &str,
    validator: &str,
) {
    let out = out.unwrap_or_else(|e| panic!("{validator} runs: {e}"));
    assert!(
        out.status.success(),
        "{path}: {validator}\n{}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(dir.join(path)).unwrap_or_default()
    );
}

#[test]
fn the_built_in_examples_documents_pass_the_validators() {
    let (dir, paths) = written(None);
    assert_eq!(paths, ["asyncapi.yaml", "services/orders/openapi.yaml"]);
    validate(dir.path(), &paths);

    let openapi = parsed(dir.path(), "services/orders/openapi.yaml");
    let get = &openapi["paths"]["/orders/{order_id}"]["get"];
    assert_eq!(get["operationId"], "OrderService_GetOrder");
    assert_eq!(get["parameters"][0]["name"], "order_id");
    assert_eq!(
        openapi["components"]["schemas"]["orders.OrderResponse"]["properties"]["orderId"]["type"],
        "string"
    );

    let asyncapi = parsed(dir.path(), "asyncapi.yaml");
    assert_eq!(
        asyncapi["channels"]["order-events"]["address"],
        "order-events"
    );
    for consumer in ["analytics", "shipping"] {
        let op = &asyncapi["operations"][format!("order-created.receive.{consumer}")];
        assert_eq!(op["action"], "receive");
        assert_eq!(op["bindings"]["kafka"]["groupId"]["enum"][0], consumer);
    }
    assert_eq!(
        asyncapi["operations"]["order-created.send"]["action"],
        "send"
    );
    let message = &asyncapi["components"]["messages"]["order-created"];
    assert_eq!(message["contentType"], "application/json");
    assert_eq!(
        message["bindings"]["kafka"]["key"]["x-key-field"],
        "orderId"
    );
}

#[test]
fn the_payments_examples_documents_pass_the_validators() {
    let (dir, paths) = written(Some("examples/payments.yaml"));
    assert_eq!(paths, ["asyncapi.yaml", "services/billing/openapi.yaml"]);
    validate(dir.path(), &paths);

    let asyncapi = parsed(dir.path(), "asyncapi.yaml");
    let message = &asyncapi["components"]["messages"]["payment-captured"];
    assert_eq!(
        message["bindings"]["kafka"]["key"]["x-key-field"], "accountId",
        "keyed by its key field, not the first id"
    );
    let receivers: BTreeSet<&str> = asyncapi["operations"]
        .as_object()
        .expect("operations")
        .values()
        .filter(|op| op["action"] == "receive")
        .map(|op| {
            op["bindings"]["kafka"]["groupId"]["enum"][0]
                .as_str()
                .expect("group")
        })
        .collect();
    assert_eq!(
        receivers,
        BTreeSet::from(["ledger", "notifications"]),
        "the fan-out"
    );
}

#[test]
fn a_team_protos_documents_pass_the_validators() {
    let (dir, paths) = written(Some("tests/fixtures/apidocs/flows.yaml"));
    assert_eq!(
        paths,
        [
            "asyncapi.yaml",
            "services/catalog/openapi.yaml",
            "services/loans/openapi.yaml"
        ]
    );
    validate(dir.path(), &paths);

    let catalog = parsed(dir.path(), "services/catalog/openapi.yaml");
    let ids: BTreeSet<&str> = catalog["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|item| item.as_object().expect("path item").values())
        .map(|op| op["operationId"].as_str().expect("operationId"))
        .collect();
    assert_eq!(
        ids,
        BTreeSet::from([
            "CatalogService_CreateShelf",
            "CatalogService_GetBook",
            "CatalogService_GetBook2",
            "CatalogService_SearchBooks",
            "CatalogService_UpdateBook",
        ])
    );
    let loans = parsed(dir.path(), "services/loans/openapi.yaml");
    let watch = &loans["paths"]["/library.v1.LoanService/WatchLoans"]["post"];
    assert!(
        watch["responses"]["200"]["content"]["text/event-stream"].is_object(),
        "a REST stream answers Server-Sent Events: {watch}"
    );

    let asyncapi = parsed(dir.path(), "asyncapi.yaml");
    let channel = &asyncapi["channels"]["loan-events"];
    let carried: Vec<&String> = channel["messages"]
        .as_object()
        .expect("messages")
        .keys()
        .collect();
    assert_eq!(
        carried,
        ["loan-closed", "loan-opened"],
        "one topic, two flows"
    );
    assert_eq!(
        asyncapi["components"]["messages"]["loan-opened"]["contentType"],
        "application/x-protobuf"
    );
}

#[test]
fn the_other_examples_documents_pass_the_validators() {
    for example in ["examples/marketplace.yaml", "examples/spec-cases.yaml"] {
        let (dir, paths) = written(Some(example));
        assert!(!paths.is_empty(), "{example}");
        validate(dir.path(), &paths);
    }
}

/// The issue's check: every route the generated routers serve is in the
/// service's document, and nothing else is. The routes are read from the
/// generated `services/<svc>/src/rest.rs` (its `.route(path, verb)` calls),
/// not from the function that wrote them, so a router and a document that
/// drift apart fail here.
#[test]
fn every_generated_route_is_in_the_openapi_document_and_nothing_else() {
    for flows in [
        None,
        Some("examples/payments.yaml"),
        Some("examples/marketplace.yaml"),
        Some("examples/spec-cases.yaml"),
        Some("examples/team/flows.yaml"),
        Some("tests/fixtures/apidocs/flows.yaml"),
    ] {
        let ws = tempfile::tempdir().expect("temp dir");
        let mut scaffold = Command::new(env!("CARGO_BIN_EXE_commsadvise"));
        scaffold.arg("scaffold");
        if let Some(flows) = flows {
            scaffold.arg(repo(flows));
        }
        let out = scaffold
            .arg("--out")
            .arg(ws.path().join("ws"))
            .output()
            .expect("commsadvise runs");
        assert!(
            out.status.success(),
            "{flows:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let services = ws.path().join("ws/services");
        let mut served: Vec<(String, String, String)> = Vec::new();
        let mut documented: Vec<(String, String, String)> = Vec::new();
        for entry in std::fs::read_dir(&services).expect("services") {
            let service = entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            let dir = services.join(&service);
            if let Ok(rest) = std::fs::read_to_string(dir.join("src/rest.rs")) {
                for (verb, path) in router_routes(&rest) {
                    if path != "/healthz" {
                        served.push((service.clone(), verb, path));
                    }
                }
            }
            if let Ok(text) = std::fs::read_to_string(dir.join("openapi.yaml")) {
                let doc: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
                for (route, item) in doc["paths"].as_object().expect("paths") {
                    for verb in item.as_object().expect("path item").keys() {
                        documented.push((
                            service.clone(),
                            verb.to_ascii_uppercase(),
                            parameters_matched(route),
                        ));
                    }
                }
            }
        }
        assert!(!served.is_empty(), "{flows:?}: no REST route");
        // Each documented operation is served by one route, chosen as axum
        // chooses: a route of the same segments before a catch-all...
        for (service, verb, path) in &documented {
            let serving = |exact: bool| {
                served
                    .iter()
                    .filter(|(s, v, p)| {
                        s == service
                            && (v == verb || v == "ANY")
                            && (p == path) == exact
                            && route_matches(p, path)
                    })
                    .count()
            };
            let matching = match serving(true) {
                0 => serving(false),
                n => n,
            };
            assert_eq!(
                matching, 1,
                "{flows:?}: {service} {verb} {path} in the document, served by {matching} routes: {served:?}"
            );
        }
        // ...and each route a router serves is documented.
        for (service, verb, path) in &served {
            assert!(
                documented.iter().any(|(s, v, p)| s == service
                    && (v == verb || verb == "ANY")
                    && route_matches(path, p)),
                "{flows:?}: {service} serves {verb} {path}, which its document does not have: {documented:?}"
            );
        }
        let documented_once: BTreeSet<_> = documented.iter().collect();
        assert_eq!(
            documented_once.len(),
            documented.len(),
            "{flows:?}: each route once"
        );
    }
}

/// The `(VERB, path)` of each `.route("path", routing::verb(handler))` call
/// in a generated `rest.rs`, with each `{variable}` as `*` and a trailing
/// catch-all `{*variable}` as `**`.
fn router_routes(rest: &str) -> Vec<(String, String)> {
    let mut routes = Vec::new();
    // The unit tests' own routers are not the service's.
    let mut text = rest.split("#[cfg(test)]").next().unwrap_or(rest);
    while let Some(at) = text.find(".route(") {
        text = &text[at + ".route(".len()..];
        let call = text.trim_start();
        let Some(quoted) = call.strip_prefix('"') else {
            continue;
        };
        let Some(end) = quoted.find('"') else { break };
        let path = &quoted[..end];
        let after = quoted[end + 1..]
            .trim_start()
            .trim_start_matches(',')
            .trim_start();
        let Some(verb) = after.strip_prefix("routing::") else {
            continue;
        };
        let verb = &verb[..verb.find('(').expect("a call")];
        routes.push((verb.to_ascii_uppercase(), placeholders(path)));
    }
    routes
}

/// `/v1/{*name}` → `/v1/**`, `/orders/{order_id}` → `/orders/*`.
fn placeholders(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closed") + start;
        out.push_str(if rest[start + 1..].starts_with('*') {
            "**"
        } else {
            "*"
        });
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Whether the router's `route` (from [`placeholders`]) serves the
/// document's `path` (from [`parameters_matched`]): the same segments, or a
/// trailing `**` that takes the rest.
fn route_matches(route: &str, path: &str) -> bool {
    match route.strip_suffix("**") {
        Some(prefix) => path.starts_with(prefix) && path.len() > prefix.len(),
        None => route == path,
    }
}

/// An `OpenAPI` path with each `{parameter}` as the segment it matches:
/// `/v1/shelves/{shelf}` → `/v1/shelves/*`.
fn parameters_matched(path: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in path.chars() {
        match c {
            '{' => {
                inside = true;
                out.push('*');
            }
            '}' => inside = false,
            _ if inside => {}
            _ => out.push(c),
        }
    }
    out
}

#[test]
fn the_documents_are_the_same_bytes_every_time() {
    let (file, report, contract) = prepared(Some("tests/fixtures/apidocs/flows.yaml"));
    let first = documents(&file, &report, &contract).expect("documents");
    let (file, report, contract) = prepared(Some("tests/fixtures/apidocs/flows.yaml"));
    assert_eq!(
        documents(&file, &report, &contract).expect("documents"),
        first
    );
}
