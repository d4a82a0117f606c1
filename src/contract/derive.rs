//! The contract derived from flows.yaml when the team has no `proto:`
//! (SPEC §7), as .proto text a team can adopt.
//!
//! Names, all from the flows, never from the seed:
//! - package: the system name in `snake_case` (`my-shop` → `my_shop`);
//! - one `service <Service>Service` per serving service (`payments` →
//!   `PaymentsService`): the `to` service of a request-response flow, the
//!   `from` service of a stream (SPEC §7);
//! - one rpc per request-response or stream flow, named after the flow
//!   (`authorize-payment` → `AuthorizePayment(AuthorizePaymentRequest)
//!   returns (AuthorizePaymentResponse)`; a stream returns `stream …`). A
//!   request-response flow with several receivers gets the rpc in each of
//!   their services, with messages prefixed by the service
//!   (`LedgerServiceAuthorizePaymentRequest`) since buf wants each rpc to
//!   have messages of its own;
//! - one message per event flow (`payment-captured` → `PaymentCaptured`).
//!
//! Each message starts with an id field named after the resource the flow
//! is about ([`resource_id`]); what follows is marked as a placeholder.
//! Events and stream items carry an `occurred_at` timestamp; an event
//! whose `key:` names another field gets that field too, so the key
//! resolves. On the rare clash of two derived names (`get-2fa` and
//! `get2-fa` are both `Get2fa`), the later one gets a numeric suffix.
//!
//! The text passes `buf lint` (STANDARD) except `PACKAGE_VERSION_SUFFIX` —
//! the SPEC fixes the package as the system name, without `.v1` — and
//! `PACKAGE_DIRECTORY_MATCH` unless it is saved as `<package>/<package>.proto`
//! under an include folder, as `commsadvise contract` suggests.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::contract::Target;
use crate::scaffold::contract::{pascal, snake};
use crate::spec::model::{Flow, FlowsFile, Interaction};

/// The derived contract: its text, and the name each flow binds to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    /// The proto package: the system name in `snake_case`.
    pub package: String,
    /// `<package>.proto`.
    pub file: String,
    /// The .proto text.
    pub text: String,
    /// What each flow binds to, by flow name.
    pub targets: BTreeMap<String, Target>,
}

/// Verbs that start a flow name and are not the resource (`get-invoice`).
const VERBS: &[&str] = &[
    "add",
    "approve",
    "authorize",
    "browse",
    "calculate",
    "cancel",
    "capture",
    "charge",
    "check",
    "close",
    "compute",
    "confirm",
    "create",
    "delete",
    "fetch",
    "find",
    "get",
    "issue",
    "list",
    "load",
    "lookup",
    "notify",
    "open",
    "place",
    "post",
    "process",
    "publish",
    "put",
    "query",
    "read",
    "refund",
    "register",
    "reject",
    "remove",
    "reserve",
    "save",
    "search",
    "send",
    "set",
    "show",
    "submit",
    "subscribe",
    "sync",
    "track",
    "update",
    "upload",
    "validate",
    "verify",
    "watch",
];

/// Trailing words that say what happens to the resource, not what it is
/// (`balance-ticks`, `order-events`); past participles (`-ed`) too.
const HAPPENINGS: &[&str] = &[
    "changes", "events", "feed", "stream", "ticks", "updates", "lookup", "status",
];

/// The id field a flow's messages start with, named after its resource:
/// the words of the flow name after its verb ([`VERBS`], also as `gets` or
/// `creates`: `browser-reads-order` → `order`), without trailing words that
/// describe a happening ([`HAPPENINGS`], or ending in `-ed`), its last word
/// made singular, in `snake_case`, plus `_id`.
/// `authorize-payment` → `payment_id`, `get-invoice` → `invoice_id`,
/// `payment-captured` → `payment_id`, `balance-ticks` → `balance_id`,
/// `list-orders` → `order_id`. When nothing is left, or what is left does
/// not start with a letter, the whole flow name is used (`sync` → `sync_id`).
pub fn resource_id(flow: &str) -> String {
    let mut words: Vec<&str> = flow.split('-').collect();
    let is_verb = |w: &str| {
        VERBS.contains(&w)
            || w.strip_suffix('s').is_some_and(|v| VERBS.contains(&v))
            || w.strip_suffix("es").is_some_and(|v| VERBS.contains(&v))
    };
    if let Some(verb) = words[..words.len() - 1].iter().position(|w| is_verb(w)) {
        words.drain(..=verb);
    }
    while words.len() > 1 {
        let last = words[words.len() - 1];
        if HAPPENINGS.contains(&last) || (last.ends_with("ed") && last.len() > 3) {
            words.pop();
        } else {
            break;
        }
    }
    let mut words: Vec<String> = words.into_iter().map(str::to_owned).collect();
    if let Some(last) = words.last_mut() {
        *last = singular(last);
    }
    let resource = words.join("_");
    if resource.starts_with(|c: char| c.is_ascii_lowercase()) {
        format!("{resource}_id")
    } else {
        format!("{}_id", snake(flow))
    }
}

/// `orders` → `order`, `entries` → `entry`; `address`, `status` and
/// `bus` stay as they are.
fn singular(word: &str) -> String {
    if let Some(stem) = word.strip_suffix("ies").filter(|s| s.len() > 1) {
        return format!("{stem}y");
    }
    if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") && !word.ends_with("us") {
        return word[..word.len() - 1].to_owned();
    }
    word.to_owned()
}

/// The serving services of a request-response or stream flow (SPEC §7):
/// `to` for request-response, `from` for a stream.
pub fn servers(flow: &Flow) -> Vec<String> {
    match flow.interaction {
        Interaction::Stream => vec![flow.from.clone()],
        _ => flow.to.clone(),
    }
}

/// Names that must not be given twice in one proto scope.
#[derive(Default)]
struct Taken(BTreeSet<String>);

impl Taken {
    /// `name`, or `name2`, `name3`, … : the first one free, now taken. Each
    /// of `with` (suffixes such as `Request`) must be free as well.
    fn claim(&mut self, name: &str, with: &[&str]) -> String {
        let free = |candidate: &str, taken: &BTreeSet<String>| {
            !taken.contains(candidate)
                && with
                    .iter()
                    .all(|s| !taken.contains(&format!("{candidate}{s}")))
        };
        let mut candidate = name.to_owned();
        let mut n = 2;
        while !free(&candidate, &self.0) {
            candidate = format!("{name}{n}");
            n += 1;
        }
        self.0.insert(candidate.clone());
        for s in with {
            self.0.insert(format!("{candidate}{s}"));
        }
        candidate
    }
}

/// One rpc of the derived contract.
struct Rpc<'a> {
    flow: &'a Flow,
    name: String,
    request: String,
    response: String,
}

/// One message of the derived contract, with its leading fields.
struct Message {
    name: String,
    comment: String,
    /// The id field, then any key field.
    fields: Vec<String>,
    /// The placeholder field after the comment: `string status` or
    /// `google.protobuf.Timestamp occurred_at`.
    placeholder: &'static str,
}

/// Derives the contract of `file` (see the module documentation).
pub fn derive(file: &FlowsFile) -> Derived {
    let package = snake(&file.system);
    let mut top = Taken::default();
    // Services first: they are the names a reader looks for.
    let mut services: BTreeMap<String, (String, Vec<Rpc<'_>>, Taken)> = BTreeMap::new();
    for flow in file
        .flows
        .iter()
        .filter(|f| f.interaction != Interaction::Event)
    {
        for server in servers(flow) {
            services
                .entry(server)
                .or_insert_with(|| (String::new(), Vec::new(), Taken::default()));
        }
    }
    for (server, (name, _, _)) in &mut services {
        *name = top.claim(&format!("{}Service", pascal(server)), &[]);
    }
    let mut targets = BTreeMap::new();
    let mut messages: Vec<Message> = Vec::new();
    for flow in &file.flows {
        let id = resource_id(&flow.name);
        if flow.interaction == Interaction::Event {
            let name = top.claim(&pascal(&flow.name), &[]);
            let (fields, placeholder) = event_fields(&id, flow.key.as_deref());
            messages.push(Message {
                comment: format!(
                    "{}: the event `{}` publishes to {}.",
                    flow.name,
                    flow.from,
                    flow.to.join(", ")
                ),
                name: name.clone(),
                fields,
                placeholder,
            });
            targets.insert(
                flow.name.clone(),
                Target::Message(format!("{package}.{name}")),
            );
            continue;
        }
        let servers = servers(flow);
        let mut served = Vec::new();
        for server in &servers {
            let Some((service, rpcs, in_service)) = services.get_mut(server) else {
                continue;
            };
            let prefix = if servers.len() > 1 {
                service.as_str()
            } else {
                ""
            };
            let base = in_service.claim(&pascal(&flow.name), &[]);
            let rpc = top.claim(&format!("{prefix}{base}"), &["Request", "Response"]);
            let rpc_name = rpc.strip_prefix(prefix).unwrap_or(&rpc).to_owned();
            let (request, response) = (format!("{rpc}Request"), format!("{rpc}Response"));
            let stream = flow.interaction == Interaction::Stream;
            messages.push(Message {
                comment: format!("{}: what {} sends.", flow.name, caller(flow)),
                name: request.clone(),
                fields: vec![id.clone()],
                placeholder: "",
            });
            messages.push(Message {
                comment: format!(
                    "{}: {} `{server}` answers.",
                    flow.name,
                    if stream { "each item" } else { "what" }
                ),
                name: response.clone(),
                fields: vec![id.clone()],
                placeholder: if stream {
                    "google.protobuf.Timestamp occurred_at"
                } else {
                    "string status"
                },
            });
            served.push((server.clone(), format!("{package}.{service}/{rpc_name}")));
            rpcs.push(Rpc {
                flow,
                name: rpc_name,
                request,
                response,
            });
        }
        targets.insert(flow.name.clone(), Target::Rpc(served));
    }
    let text = render(&package, &services, &messages);
    Derived {
        file: format!("{package}.proto"),
        package,
        text,
        targets,
    }
}

/// An event message's string fields and its placeholder: the id, then
/// the `key:` field when it is another one. Fields whose proto3 JSON names
/// would clash (`payment_id` and `paymentId`) are one field, spelt as
/// `key:` spells it; a key named like the `occurred_at` placeholder takes
/// its place.
fn event_fields(id: &str, key: Option<&str>) -> (Vec<String>, &'static str) {
    let json = |name: &str| name.replace('_', "").to_ascii_lowercase();
    let timestamp = "google.protobuf.Timestamp occurred_at";
    let Some(key) = key else {
        return (vec![id.to_owned()], timestamp);
    };
    if json(key) == json(id) {
        return (vec![key.to_owned()], timestamp);
    }
    let placeholder = if json(key) == json("occurred_at") {
        ""
    } else {
        timestamp
    };
    (vec![id.to_owned(), key.to_owned()], placeholder)
}

/// Who sends the request of `flow`: the caller, or for a stream the
/// subscribers, each in backquotes.
fn caller(flow: &Flow) -> String {
    let side: Vec<String> = match flow.interaction {
        Interaction::Stream => flow.to.iter().map(|s| format!("`{s}`")).collect(),
        _ => vec![format!("`{}`", flow.from)],
    };
    side.join(", ")
}

/// A flow's description as one comment line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn render(
    package: &str,
    services: &BTreeMap<String, (String, Vec<Rpc<'_>>, Taken)>,
    messages: &[Message],
) -> String {
    let mut out = String::new();
    out.push_str("// The contract commsadvise derived from flows.yaml. To adopt it,\n");
    let _ = writeln!(
        out,
        "// save it as proto/{package}/{package}.proto, add `proto: proto/{package}/{package}.proto`"
    );
    out.push_str("// and `proto_path: proto` to flows.yaml, and replace the placeholders.\n");
    out.push_str("syntax = \"proto3\";\n\n");
    let _ = writeln!(out, "package {package};");
    if messages
        .iter()
        .any(|m| m.placeholder.starts_with("google.protobuf.Timestamp"))
    {
        out.push_str("\nimport \"google/protobuf/timestamp.proto\";\n");
    }
    for (server, (name, rpcs, _)) in services {
        let _ = writeln!(out, "\n// Served by `{server}`.\nservice {name} {{");
        for (i, rpc) in rpcs.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            let flow = rpc.flow;
            let _ = writeln!(
                out,
                "  // {}: {} → {} ({}).",
                flow.name,
                flow.from,
                flow.to.join(", "),
                flow.interaction
            );
            if let Some(d) = &flow.description {
                let _ = writeln!(out, "  // {}", one_line(d));
            }
            let stream = if flow.interaction == Interaction::Stream {
                "stream "
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  rpc {}({}) returns ({stream}{});",
                rpc.name, rpc.request, rpc.response
            );
        }
        out.push_str("}\n");
    }
    for m in messages {
        let _ = writeln!(out, "\n// {}\nmessage {} {{", m.comment, m.name);
        let mut number = 0;
        for field in &m.fields {
            number += 1;
            let _ = writeln!(out, "  string {field} = {number};");
        }
        out.push_str("  // Placeholder: replace with your fields.\n");
        if !m.placeholder.is_empty() {
            number += 1;
            let _ = writeln!(out, "  {} = {number};", m.placeholder);
        }
        out.push_str("}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_id_field_after_the_resource() {
        for (flow, id) in [
            ("authorize-payment", "payment_id"),
            ("get-invoice", "invoice_id"),
            ("payment-captured", "payment_id"),
            ("balance-ticks", "balance_id"),
            ("list-orders", "order_id"),
            ("order-created", "order_id"),
            ("lookup-order", "order_id"),
            ("ledger-entries", "ledger_entry_id"),
            ("get-order-status", "order_id"),
            ("sync", "sync_id"),
            ("get-2fa", "get_2fa_id"),
            ("address-book", "address_book_id"),
            ("browser-reads-order", "order_id"),
            ("partner-creates-order", "order_id"),
            ("checkout-prices-cart", "checkout_prices_cart_id"),
        ] {
            assert_eq!(resource_id(flow), id, "{flow}");
        }
    }

    #[test]
    fn an_event_key_never_clashes_with_the_fields_around_it() {
        let timestamp = "google.protobuf.Timestamp occurred_at";
        assert_eq!(
            event_fields("payment_id", None),
            (vec!["payment_id".to_owned()], timestamp)
        );
        assert_eq!(
            event_fields("payment_id", Some("paymentId")),
            (vec!["paymentId".to_owned()], timestamp)
        );
        assert_eq!(
            event_fields("payment_id", Some("occurred_at")),
            (vec!["payment_id".to_owned(), "occurred_at".to_owned()], "")
        );
        assert_eq!(
            event_fields("payment_id", Some("account_id")),
            (
                vec!["payment_id".to_owned(), "account_id".to_owned()],
                timestamp
            )
        );
    }

    #[test]
    fn claims_a_numbered_name_on_a_clash() {
        let mut taken = Taken::default();
        assert_eq!(taken.claim("Get2fa", &["Request"]), "Get2fa");
        assert_eq!(taken.claim("Get2fa", &["Request"]), "Get2fa2");
        assert_eq!(taken.claim("Get2faRequest", &[]), "Get2faRequest2");
    }
}
