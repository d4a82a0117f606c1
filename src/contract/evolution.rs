//! The contract evolution guard (`commsadvise contract check`): which
//! changes between a deployed contract and the new one break the callers
//! and consumers of each flow, pure over two [`DescriptorPool`]s.
//!
//! buf breaking judges a change by the wire alone; commsadvise also knows
//! which transport carries each element, so the rules are chosen per flow
//! ([`Usage`]): a renamed field is harmless to gRPC's binary encoding and
//! breaks every JSON client of a REST route; a Kafka topic keeps old
//! records that new consumers must still read, so its message is checked
//! under the topic's compatibility mode, as a schema registry would.
//!
//! Only elements in use are compared: the rpcs and messages the flows bind
//! to, and every message and enum reachable from them through fields.
//! Fields and enum values are matched by number, as the binary wire does.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use prost_reflect::{
    DescriptorPool, EnumDescriptor, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor,
    MethodDescriptor,
};
use serde::Serialize;

use crate::contract::{Target, derive, http};
use crate::engine::Report;
use crate::spec::model::{Compatibility, Flow, FlowsFile, Format, Interaction, Pos, Transport};

/// Every rule: its id and what it guards, in the order docs/contract.md
/// lists them.
pub const RULES: &[(&str, &str)] = &[
    (
        "package-changed",
        "the package of a service or message in use changed",
    ),
    (
        "service-deleted",
        "a service with an rpc in use was deleted",
    ),
    ("method-deleted", "an rpc in use was deleted"),
    ("method-request-changed", "an rpc's request message changed"),
    (
        "method-response-changed",
        "an rpc's response message changed",
    ),
    (
        "method-streaming-changed",
        "an rpc's client or server streaming changed",
    ),
    (
        "message-deleted",
        "the message of an event in use was deleted",
    ),
    (
        "field-deleted",
        "a field was deleted without reserving its number and name",
    ),
    (
        "field-number-changed",
        "a field kept its name but changed its number",
    ),
    ("field-type-changed", "a field's type changed"),
    (
        "field-cardinality-changed",
        "a field became repeated, a map or required, or stopped being one",
    ),
    (
        "field-oneof-changed",
        "a field moved into, out of or between oneofs",
    ),
    (
        "required-field-changed",
        "a required field (proto2) was added, or deleted even with its number and name reserved",
    ),
    (
        "enum-value-deleted",
        "an enum value was deleted without reserving its number and name",
    ),
    (
        "json-field-renamed",
        "a field was renamed: its JSON key changed (REST, JSON topics)",
    ),
    (
        "json-name-changed",
        "a field's `json_name` changed (REST, JSON topics)",
    ),
    (
        "json-enum-value-renamed",
        "an enum value was renamed: its JSON string changed (REST, JSON topics)",
    ),
    (
        "http-route-changed",
        "an rpc's `google.api.http` verb or path, or one of its additional bindings, changed or was removed (REST)",
    ),
    (
        "kafka-json-unknown-field",
        "a JSON topic's reader meets a field it does not know, under the topic's compatibility mode",
    ),
    (
        "kafka-json-unknown-enum-value",
        "a JSON topic's reader meets an enum value it does not know, under the topic's compatibility mode",
    ),
    (
        "kafka-key-changed",
        "the field that keys a Kafka topic changed: per-key order breaks",
    ),
];

/// How one flow's elements travel, which decides the rules they get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub flow: String,
    /// The transport the recommendation chose (or the pin).
    pub transport: Transport,
    /// Field and enum value names are on the wire: REST routes, and Kafka
    /// topics whose `format` is json.
    pub json: bool,
    /// The topic's compatibility mode, when Kafka carries the flow.
    pub compatibility: Option<Compatibility>,
}

impl Usage {
    /// `rest`, `grpc`, `kafka, json, backward`, as findings name it.
    pub fn describe(&self) -> String {
        match (self.transport, self.compatibility) {
            (Transport::Kafka, Some(mode)) => format!(
                "kafka, {}, {mode}",
                if self.json { "json" } else { "binary" }
            ),
            (t, _) => t.to_string(),
        }
    }
}

/// Each flow's usage, from the transport the report chose for it.
pub fn usages(flows: &FlowsFile, report: &Report) -> Vec<Usage> {
    flows
        .flows
        .iter()
        .zip(&report.flows)
        .map(|(flow, rec)| usage(flow, rec.transport))
        .collect()
}

/// One flow's usage on `transport`.
pub fn usage(flow: &Flow, transport: Transport) -> Usage {
    let kafka = transport == Transport::Kafka;
    Usage {
        flow: flow.name.clone(),
        transport,
        json: transport == Transport::Rest || (kafka && flow.format == Format::Json),
        compatibility: kafka.then_some(flow.compatibility),
    }
}

/// A declaration on one side: its text and where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Declaration {
    /// `string name = 2`, `rpc Get(GetRequest) returns (Item)`, …
    pub text: String,
    /// The file as imports name it.
    pub file: String,
    /// The position of the declaration, when the file has source info.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// How many columns the declaration covers on its first line.
    #[serde(skip)]
    pub width: usize,
}

impl Declaration {
    pub fn pos(&self) -> Option<Pos> {
        Some(Pos {
            line: self.line?,
            column: self.column?,
        })
    }
}

/// One breaking change, and the flows it breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub message: String,
    /// Each flow it breaks, with its transport as [`Usage::describe`] says.
    pub flows: Vec<(String, String)>,
    /// The declaration in the deployed contract; `None` when added.
    pub old: Option<Declaration>,
    /// The declaration in the new contract, or where a deleted one was
    /// (its message or service); `None` when nothing encloses it.
    pub new: Option<Declaration>,
}

/// Every breaking change from `old` to `new` for the flows' usages
/// (`usages[i]` is `flows.flows[i]`'s), one per change with every flow it
/// breaks, in the order the flows and their fields come.
///
/// `previous` is flows.yaml as it was deployed, when known (`git:<rev>`):
/// a flow then bound to another rpc or message is checked on that one too,
/// since its deployed callers and consumers still use it.
pub fn compare(
    flows: &FlowsFile,
    previous: Option<&FlowsFile>,
    usages: &[Usage],
    old: &DescriptorPool,
    new: &DescriptorPool,
) -> Vec<Finding> {
    let derived = derive(flows);
    let derived_before = previous.map(derive);
    let mut merged: Vec<Finding> = Vec::new();
    for (flow, usage) in flows.flows.iter().zip(usages) {
        let mut check = Check {
            old,
            new,
            usage,
            found: Vec::new(),
            seen: BTreeSet::new(),
        };
        let mut messages = Vec::new();
        let mut rpcs = Vec::new();
        let before = previous
            .zip(derived_before.as_ref())
            .and_then(|(p, d)| Some((p.flows.iter().find(|f| f.name == flow.name)?, d)));
        for target in
            std::iter::once(targets(flow, &derived)).chain(before.map(|(f, d)| targets(f, d)))
        {
            match target {
                Target::Message(name) => messages.push(name),
                Target::Rpc(pairs) => rpcs.extend(pairs.into_iter().map(|(_, rpc)| rpc)),
            }
        }
        for list in [&mut messages, &mut rpcs] {
            let mut seen = BTreeSet::new();
            list.retain(|n| seen.insert(n.clone()));
        }
        for name in &messages {
            check.event(flow, name);
        }
        for name in &rpcs {
            check.rpc(name);
        }
        for f in check.found {
            let who = (usage.flow.clone(), usage.describe());
            match merged.iter_mut().find(|m| {
                m.rule == f.rule && m.message == f.message && m.old == f.old && m.new == f.new
            }) {
                Some(m) => {
                    if !m.flows.contains(&who) {
                        m.flows.push(who);
                    }
                }
                None => merged.push(Finding {
                    flows: vec![who],
                    ..f
                }),
            }
        }
    }
    merged
}

/// What a flow binds to: its `rpc:`/`message:`, else the derived name.
fn targets(flow: &Flow, derived: &derive::Derived) -> Target {
    if flow.interaction == Interaction::Event {
        if let Some(m) = &flow.message {
            return Target::Message(m.clone());
        }
    } else if let Some(rpc) = &flow.rpc {
        return Target::Rpc(vec![(String::new(), rpc.clone())]);
    }
    derived
        .targets
        .get(&flow.name)
        .cloned()
        .unwrap_or_else(|| Target::Rpc(Vec::new()))
}

/// A finding before its flows are attached.
struct Raw {
    rule: &'static str,
    message: String,
    old: Option<Declaration>,
    new: Option<Declaration>,
}

/// One flow's comparison.
struct Check<'a> {
    old: &'a DescriptorPool,
    new: &'a DescriptorPool,
    usage: &'a Usage,
    found: Vec<Finding>,
    /// Message pairs already compared, by old and new full name.
    seen: BTreeSet<(String, String)>,
}

/// `name` without its package: `Item` of `evo.v1.Item`, `Api/Get` of
/// `evo.v1.Api/Get`.
fn relative<'n>(name: &'n str, package: &str) -> &'n str {
    if package.is_empty() {
        name
    } else {
        name.strip_prefix(package)
            .and_then(|r| r.strip_prefix('.'))
            .unwrap_or(name)
    }
}

/// The package of a full name in `pool`: the longest known package that
/// prefixes it.
fn package_of(pool: &DescriptorPool, name: &str) -> String {
    pool.files()
        .map(|f| f.package_name().to_owned())
        .filter(|p| p.is_empty() || name.starts_with(&format!("{p}.")))
        .max_by_key(String::len)
        .unwrap_or_default()
}

impl Check<'_> {
    fn push(&mut self, raw: Raw) {
        self.found.push(Finding {
            rule: raw.rule,
            message: raw.message,
            flows: Vec::new(),
            old: raw.old,
            new: raw.new,
        });
    }

    fn kafka(&self) -> Option<Compatibility> {
        self.usage.compatibility
    }

    /// Whether the message rules apply: always, except on a Kafka topic
    /// whose compatibility mode is `none`.
    fn checked(&self) -> bool {
        self.kafka() != Some(Compatibility::None)
    }

    /// Finds `name` on both sides; when one side has it under another
    /// package, that is a `package-changed` finding and the pair compared.
    fn pair<T>(
        &mut self,
        name: &str,
        find: &dyn Fn(&DescriptorPool, &str) -> Option<T>,
        declare: &dyn Fn(&T) -> Declaration,
    ) -> (Option<T>, Option<T>) {
        let (o, n) = (find(self.old, name), find(self.new, name));
        if o.is_some() == n.is_some() {
            return (o, n);
        }
        // One side lacks it: look for the same name under another package.
        let (have, other_pool) = if o.is_some() {
            (self.old, self.new)
        } else {
            (self.new, self.old)
        };
        let rel = relative(name, &package_of(have, name)).to_owned();
        let moved = other_pool
            .files()
            .map(|f| f.package_name().to_owned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|p| {
                if p.is_empty() {
                    rel.clone()
                } else {
                    format!("{p}.{rel}")
                }
            })
            .find_map(|candidate| find(other_pool, &candidate).map(|t| (candidate, t)));
        let Some((moved_name, t)) = moved else {
            return (o, n);
        };
        let (o, n, old_name, new_name) = match (o, n) {
            (Some(o), None) => (o, t, name.to_owned(), moved_name),
            (None, Some(n)) => (t, n, moved_name, name.to_owned()),
            // Both or neither: returned above.
            (o, n) => return (o, n),
        };
        if self.checked() {
            self.push(Raw {
                rule: "package-changed",
                message: format!(
                    "`{old_name}` moved to `{new_name}`: its package is part of every call's path and every type name"
                ),
                old: Some(declare(&o)),
                new: Some(declare(&n)),
            });
        }
        (Some(o), Some(n))
    }

    fn event(&mut self, flow: &Flow, name: &str) {
        let (o, n) = self.pair(
            name,
            &|pool, name| pool.get_message_by_name(name),
            &message_declaration,
        );
        let Some(o) = o else { return };
        let Some(n) = n else {
            if self.checked() {
                self.push(Raw {
                    rule: "message-deleted",
                    message: format!("message `{name}` was deleted"),
                    old: Some(message_declaration(&o)),
                    new: None,
                });
            }
            return;
        };
        self.message(&o, &n);
        if self.usage.transport == Transport::Kafka {
            self.key(flow, &o, &n);
        }
    }

    /// The field that keys the topic, on each side.
    fn key(&mut self, flow: &Flow, o: &MessageDescriptor, n: &MessageDescriptor) {
        let key_of = |m: &MessageDescriptor| match &flow.key {
            Some(k) => m.get_field_by_name(k),
            None => m.fields().find(|f| f.name().ends_with("_id")),
        };
        let (Some(ok), nk) = (key_of(o), key_of(n)) else {
            return;
        };
        // The key's bytes are the field's value: a renumbered field still
        // keys by the same thing (and is its own finding).
        if nk.as_ref().is_some_and(|nk| nk.name() == ok.name()) {
            return;
        }
        let now = nk.as_ref().map_or_else(
            || "no key field".to_owned(),
            |nk| format!("`{}` ({})", nk.name(), nk.number()),
        );
        self.push(Raw {
            rule: "kafka-key-changed",
            message: format!(
                "the key of `{}` changed from `{}` ({}) to {now}: records of one entity land on other partitions, out of order with the ones already in the topic",
                o.full_name(),
                ok.name(),
                ok.number()
            ),
            old: Some(field_declaration(&ok)),
            new: Some(nk.map_or_else(|| message_declaration(n), |f| field_declaration(&f))),
        });
    }

    fn rpc(&mut self, name: &str) {
        let Some((service, method)) = name.split_once('/') else {
            return;
        };
        let (os, ns) = self.pair(
            service,
            &|pool, name| pool.get_service_by_name(name),
            &service_declaration,
        );
        let Some(os) = os else { return };
        let Some(om) = os.methods().find(|m| m.name() == method) else {
            return;
        };
        let Some(ns) = ns else {
            let old = service_declaration(&os);
            // Pointed at the file that held it, when the new contract has it.
            let new = self.new.get_file_by_name(&old.file).map(|f| Declaration {
                text: format!("no service {}", os.name()),
                file: f.name().to_owned(),
                line: None,
                column: None,
                width: 0,
            });
            self.push(Raw {
                rule: "service-deleted",
                message: format!("service `{service}` was deleted"),
                old: Some(old),
                new,
            });
            return;
        };
        let Some(nm) = ns.methods().find(|m| m.name() == method) else {
            self.push(Raw {
                rule: "method-deleted",
                message: format!("rpc `{name}` was deleted"),
                old: Some(method_declaration(&om)),
                new: Some(service_declaration(&ns)),
            });
            return;
        };
        let shape = |m: &MethodDescriptor| match (m.is_client_streaming(), m.is_server_streaming())
        {
            (false, false) => "unary",
            (false, true) => "server-streaming",
            (true, false) => "client-streaming",
            (true, true) => "bidirectional-streaming",
        };
        if shape(&om) != shape(&nm) {
            self.push(Raw {
                rule: "method-streaming-changed",
                message: format!(
                    "rpc `{name}` changed from {} to {}: its callers speak the old shape",
                    shape(&om),
                    shape(&nm)
                ),
                old: Some(method_declaration(&om)),
                new: Some(method_declaration(&nm)),
            });
        }
        let sides = [
            ("request", "method-request-changed", om.input(), nm.input()),
            (
                "response",
                "method-response-changed",
                om.output(),
                nm.output(),
            ),
        ];
        for (what, rule, o, n) in sides {
            if relative(o.full_name(), o.package_name())
                == relative(n.full_name(), n.package_name())
            {
                self.message(&o, &n);
            } else {
                self.push(Raw {
                    rule,
                    message: format!(
                        "rpc `{name}` changed its {what} from `{}` to `{}`",
                        o.full_name(),
                        n.full_name()
                    ),
                    old: Some(method_declaration(&om)),
                    new: Some(method_declaration(&nm)),
                });
            }
        }
        if self.usage.transport == Transport::Rest {
            self.route(name, &om, &nm);
        }
    }

    /// A REST route's verbs and paths, as [`http::route`] serves them:
    /// the `google.api.http` rule and every additional binding, or SPEC
    /// §7's default when the rpc has no annotation (which a change to the
    /// request can move). Each old route must still be among the new ones.
    fn route(&mut self, name: &str, om: &MethodDescriptor, nm: &MethodDescriptor) {
        let shown = |r: &http::HttpRule| format!("`{} {}`", r.method, r.path);
        let (o, n) = (http::route(self.old, om), http::route(self.new, nm));
        let mut nd = method_declaration(nm);
        nd.text = format!("{} {}", n.method, n.path);
        for (i, or) in o.routes().enumerate() {
            if n.routes().any(|nr| nr.same_route(or)) {
                continue;
            }
            let mut od = method_declaration(om);
            od.text = format!("{} {}", or.method, or.path);
            let message = if i == 0 {
                format!(
                    "the REST route of `{name}` changed from {} to {}: clients call the old one",
                    shown(or),
                    shown(&n)
                )
            } else {
                let now: Vec<String> = n.routes().map(shown).collect();
                format!(
                    "the additional REST route {} of `{name}` is gone (the rpc answers on {}): clients call it",
                    shown(or),
                    now.join(", ")
                )
            };
            self.push(Raw {
                rule: "http-route-changed",
                message,
                old: Some(od),
                new: Some(nd.clone()),
            });
        }
    }

    /// Compares a message pair and, through their fields, every message
    /// and enum they reach.
    fn message(&mut self, o: &MessageDescriptor, n: &MessageDescriptor) {
        if !self.checked()
            || !self
                .seen
                .insert((o.full_name().to_owned(), n.full_name().to_owned()))
        {
            return;
        }
        let json = self.usage.json;
        for of in o.fields() {
            match n.get_field(of.number()) {
                Some(nf) => self.field(&of, &nf),
                None => self.deleted_field(&of, n),
            }
        }
        // A reader on the new contract rejects every message an old
        // writer sent without a field it now requires.
        for nf in n
            .fields()
            .filter(|f| f.is_required() && o.get_field(f.number()).is_none())
        {
            self.push(Raw {
                rule: "required-field-changed",
                message: format!(
                    "required field `{}` ({}) added to `{}`: readers on the new contract reject every message an old writer sent without it",
                    nf.name(),
                    nf.number(),
                    n.full_name()
                ),
                old: Some(message_declaration(o)),
                new: Some(field_declaration(&nf)),
            });
        }
        // A JSON reader on the old contract meets new keys (forward).
        if json
            && matches!(
                self.kafka(),
                Some(Compatibility::Forward | Compatibility::Full)
            )
        {
            for nf in n.fields().filter(|f| o.get_field(f.number()).is_none()) {
                self.push(Raw {
                    rule: "kafka-json-unknown-field",
                    message: format!(
                        "field `{}` added to `{}`: consumers still on the old contract reject the unknown JSON key in new records (compatibility {})",
                        nf.name(),
                        n.full_name(),
                        self.kafka().unwrap_or(Compatibility::Forward)
                    ),
                    old: Some(message_declaration(o)),
                    new: Some(field_declaration(&nf)),
                });
            }
        }
    }

    fn deleted_field(&mut self, of: &FieldDescriptor, n: &MessageDescriptor) {
        if let Some(renumbered) = n.get_field_by_name(of.name()) {
            self.push(Raw {
                rule: "field-number-changed",
                message: format!(
                    "field `{}` of `{}` changed its number from {} to {}",
                    of.name(),
                    n.full_name(),
                    of.number(),
                    renumbered.number()
                ),
                old: Some(field_declaration(of)),
                new: Some(field_declaration(&renumbered)),
            });
            return;
        }
        let number_reserved = n.reserved_ranges().any(|r| r.contains(&of.number()));
        let name_reserved = n.reserved_names().any(|r| r == of.name());
        if !(number_reserved && name_reserved) {
            let missing = match (number_reserved, name_reserved) {
                (false, false) => format!("reserve {} and \"{}\"", of.number(), of.name()),
                (true, _) => format!("reserve \"{}\" too", of.name()),
                (false, true) => format!("reserve {} too", of.number()),
            };
            self.push(Raw {
                rule: "field-deleted",
                message: format!(
                    "field `{}` ({}) of `{}` was deleted: {missing}, or a later field reuses them and old readers misread it",
                    of.name(),
                    of.number(),
                    n.full_name()
                ),
                old: Some(field_declaration(of)),
                new: Some(message_declaration(n)),
            });
        } else if of.is_required() {
            // Reserving is not enough: old readers still require it.
            self.push(Raw {
                rule: "required-field-changed",
                message: format!(
                    "required field `{}` ({}) deleted from `{}`: readers on the old contract reject every message without it",
                    of.name(),
                    of.number(),
                    n.full_name()
                ),
                old: Some(field_declaration(of)),
                new: Some(message_declaration(n)),
            });
        } else if self.usage.json
            && matches!(
                self.kafka(),
                Some(Compatibility::Backward | Compatibility::Full)
            )
        {
            self.push(Raw {
                rule: "kafka-json-unknown-field",
                message: format!(
                    "field `{}` deleted from `{}`: records already in the topic carry its JSON key, which consumers on the new contract reject (compatibility {})",
                    of.name(),
                    n.full_name(),
                    self.kafka().unwrap_or(Compatibility::Backward)
                ),
                old: Some(field_declaration(of)),
                new: Some(message_declaration(n)),
            });
        }
    }

    fn field(&mut self, of: &FieldDescriptor, nf: &FieldDescriptor) {
        let owner = nf.parent_message().full_name().to_owned();
        let raw = |rule, message| Raw {
            rule,
            message,
            old: Some(field_declaration(of)),
            new: Some(field_declaration(nf)),
        };
        if self.usage.json && of.name() != nf.name() {
            self.push(raw(
                "json-field-renamed",
                format!(
                    "field {} of `{owner}` renamed from `{}` to `{}`: its JSON key changes, and JSON clients send and read the old one",
                    of.number(),
                    of.name(),
                    nf.name()
                ),
            ));
        } else if self.usage.json && of.json_name() != nf.json_name() {
            self.push(raw(
                "json-name-changed",
                format!(
                    "the JSON name of field `{}` of `{owner}` changed from `{}` to `{}`",
                    nf.name(),
                    of.json_name(),
                    nf.json_name()
                ),
            ));
        }
        let (ot, nt) = (type_name(of), type_name(nf));
        if ot != nt {
            self.push(raw(
                "field-type-changed",
                format!(
                    "field `{}` ({}) of `{owner}` changed its type from `{ot}` to `{nt}`",
                    nf.name(),
                    nf.number()
                ),
            ));
        } else if cardinality(of) != cardinality(nf) {
            let why = if of.is_required() {
                ": readers on the old contract reject every message that omits it"
            } else if nf.is_required() {
                ": readers on the new contract reject every message an old writer sent without it"
            } else {
                ""
            };
            self.push(raw(
                "field-cardinality-changed",
                format!(
                    "field `{}` ({}) of `{owner}` changed from {} to {}{why}",
                    nf.name(),
                    nf.number(),
                    cardinality(of),
                    cardinality(nf)
                ),
            ));
        } else {
            match (of.kind(), nf.kind()) {
                (Kind::Message(om), Kind::Message(nm)) => self.message(&om, &nm),
                (Kind::Enum(oe), Kind::Enum(ne)) => self.enumeration(&oe, &ne),
                _ => {}
            }
        }
        let oneof = |f: &FieldDescriptor| {
            f.containing_oneof()
                .filter(|o| !o.is_synthetic())
                .map(|o| o.name().to_owned())
        };
        if oneof(of) != oneof(nf) {
            let shown = |o: Option<String>| {
                o.map_or_else(|| "no oneof".to_owned(), |o| format!("oneof `{o}`"))
            };
            self.push(raw(
                "field-oneof-changed",
                format!(
                    "field `{}` ({}) of `{owner}` moved from {} to {}",
                    nf.name(),
                    nf.number(),
                    shown(oneof(of)),
                    shown(oneof(nf))
                ),
            ));
        }
    }

    fn enumeration(&mut self, o: &EnumDescriptor, n: &EnumDescriptor) {
        if !self
            .seen
            .insert((o.full_name().to_owned(), n.full_name().to_owned()))
        {
            return;
        }
        let json = self.usage.json;
        for ov in o.values() {
            let value_declaration = |v: &prost_reflect::EnumValueDescriptor| {
                declaration(
                    &v.parent_enum().parent_file(),
                    v.path(),
                    format!("{} = {}", v.name(), v.number()),
                )
            };
            match n.get_value(ov.number()) {
                Some(nv) if json && nv.name() != ov.name() => self.push(Raw {
                    rule: "json-enum-value-renamed",
                    message: format!(
                        "value {} of enum `{}` renamed from `{}` to `{}`: JSON carries enum values by name",
                        ov.number(),
                        n.full_name(),
                        ov.name(),
                        nv.name()
                    ),
                    old: Some(value_declaration(&ov)),
                    new: Some(value_declaration(&nv)),
                }),
                Some(_) => {}
                None => {
                    let number = n.reserved_ranges().any(|r| r.contains(&ov.number()));
                    let name = n.reserved_names().any(|r| r == ov.name());
                    let enum_declaration = declaration(
                        &n.parent_file(),
                        n.path(),
                        format!("enum {}", n.name()),
                    );
                    if !(number && name) {
                        self.push(Raw {
                            rule: "enum-value-deleted",
                            message: format!(
                                "value `{}` ({}) of enum `{}` was deleted: reserve its number and name, or a later value reuses them",
                                ov.name(),
                                ov.number(),
                                n.full_name()
                            ),
                            old: Some(value_declaration(&ov)),
                            new: Some(enum_declaration),
                        });
                    } else if json
                        && matches!(self.kafka(), Some(Compatibility::Backward | Compatibility::Full))
                    {
                        self.push(Raw {
                            rule: "kafka-json-unknown-enum-value",
                            message: format!(
                                "value `{}` deleted from enum `{}`: records already in the topic carry it, which consumers on the new contract reject",
                                ov.name(),
                                n.full_name()
                            ),
                            old: Some(value_declaration(&ov)),
                            new: Some(enum_declaration),
                        });
                    }
                }
            }
        }
        if json
            && matches!(
                self.kafka(),
                Some(Compatibility::Forward | Compatibility::Full)
            )
        {
            for nv in n.values().filter(|v| o.get_value(v.number()).is_none()) {
                self.push(Raw {
                    rule: "kafka-json-unknown-enum-value",
                    message: format!(
                        "value `{}` added to enum `{}`: consumers still on the old contract reject it in new records",
                        nv.name(),
                        n.full_name()
                    ),
                    old: Some(declaration(&o.parent_file(), o.path(), format!("enum {}", o.name()))),
                    new: Some(declaration(
                        &n.parent_file(),
                        nv.path(),
                        format!("{} = {}", nv.name(), nv.number()),
                    )),
                });
            }
        }
    }
}

/// A field's type as it is written: `string`, `evo.v1.Status` (compared
/// without the package, so a package move is one finding, not many).
/// A proto2 group is `group Size`: its wire type (start and end group)
/// differs from a message field's (length-delimited), so a group that
/// became a message of the same shape is a type change.
fn type_name(f: &FieldDescriptor) -> String {
    match f.kind() {
        Kind::Message(m) if f.is_group() => {
            format!("group {}", relative(m.full_name(), m.package_name()))
        }
        Kind::Message(m) => relative(m.full_name(), m.package_name()).to_owned(),
        Kind::Enum(e) => relative(e.full_name(), e.package_name()).to_owned(),
        k => format!("{k:?}").to_ascii_lowercase(),
    }
}

/// A field's cardinality as the wire sees it. Explicit presence
/// (`optional`) is not part of it: it changes accessors, not the encoding.
/// proto2's `required` is: a reader on the required side rejects a message
/// without the field, which a writer on the other side may send.
fn cardinality(f: &FieldDescriptor) -> &'static str {
    if f.is_map() {
        "a map"
    } else if f.is_list() {
        "repeated"
    } else if f.is_required() {
        "required"
    } else {
        "a single value"
    }
}

fn message_declaration(m: &MessageDescriptor) -> Declaration {
    declaration(&m.parent_file(), m.path(), format!("message {}", m.name()))
}

fn service_declaration(s: &prost_reflect::ServiceDescriptor) -> Declaration {
    declaration(&s.parent_file(), s.path(), format!("service {}", s.name()))
}

fn method_declaration(m: &MethodDescriptor) -> Declaration {
    let stream = |yes: bool| if yes { "stream " } else { "" };
    declaration(
        &m.parent_file(),
        m.path(),
        format!(
            "rpc {}({}{}) returns ({}{})",
            m.name(),
            stream(m.is_client_streaming()),
            m.input().name(),
            stream(m.is_server_streaming()),
            m.output().name()
        ),
    )
}

fn field_declaration(f: &FieldDescriptor) -> Declaration {
    let mut text = String::new();
    if f.is_map() {
        if let Kind::Message(entry) = f.kind() {
            let part = |n: u32| {
                entry
                    .get_field(n)
                    .map(|f| type_name(&f))
                    .unwrap_or_default()
            };
            let _ = write!(text, "map<{}, {}>", part(1), part(2));
        }
    } else {
        if f.is_list() {
            text.push_str("repeated ");
        } else if f.is_required() {
            text.push_str("required ");
        } else if f.containing_oneof().is_some_and(|o| o.is_synthetic()) {
            text.push_str("optional ");
        }
        text.push_str(&type_name(f));
    }
    let _ = write!(text, " {} = {}", f.name(), f.number());
    declaration(&f.parent_file(), f.path(), text)
}

/// The declaration at `path` in `file`, placed by its source info.
fn declaration(file: &FileDescriptor, path: &[i32], text: String) -> Declaration {
    let location = file
        .file_descriptor_proto()
        .source_code_info
        .as_ref()
        .and_then(|info| info.location.iter().find(|l| l.path == path));
    let span = location.map(|l| l.span.as_slice());
    let (line, column, width) = match span {
        Some([line, start, end]) => (Some(line + 1), Some(start + 1), end - start),
        Some([line, start, _, _]) => (Some(line + 1), Some(start + 1), 0),
        _ => (None, None, 0),
    };
    Declaration {
        text,
        file: file.name().to_owned(),
        line: line.and_then(|l| usize::try_from(l).ok()),
        column: column.and_then(|c| usize::try_from(c).ok()),
        width: usize::try_from(width).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use protox::file::ChainFileResolver;

    use super::*;
    use crate::contract::compile::{InMemory, builtin, compile};
    use crate::spec::load_str;

    const FLOWS: &str = "version: 1\nsystem: evo\nproto: [evo.proto]\nflows:\n  - name: item-changed\n    from: items\n    to: [search]\n    interaction: event\n    message: evo.Item\n";

    fn pool(text: &str) -> DescriptorPool {
        pool_in("proto3", text)
    }

    fn pool_in(syntax: &str, text: &str) -> DescriptorPool {
        let mut chain = ChainFileResolver::new();
        chain.add(InMemory {
            name: "evo.proto".to_owned(),
            text: format!("syntax = \"{syntax}\";\npackage evo;\n{text}"),
        });
        chain.add(builtin());
        compile(chain, &["evo.proto".to_owned()], &|n| n.to_owned()).expect("compiles")
    }

    /// The rules that fire from `old` to `new` for the one event flow on
    /// `transport`, with `extra` flows.yaml lines.
    fn rules(old: &str, new: &str, transport: Transport, extra: &str) -> Vec<&'static str> {
        let flows = load_str("flows.yaml", &format!("{FLOWS}{extra}")).expect("loads");
        let usages = vec![usage(&flows.flows[0], transport)];
        compare(&flows, None, &usages, &pool(old), &pool(new))
            .into_iter()
            .map(|f| f.rule)
            .collect()
    }

    const ITEM: &str = "message Item { string item_id = 1; string name = 2; }";

    #[test]
    fn a_rename_passes_on_binary_and_breaks_json() {
        let renamed = "message Item { string item_id = 1; string title = 2; }";
        assert!(rules(ITEM, renamed, Transport::Grpc, "").is_empty());
        assert!(rules(ITEM, renamed, Transport::Kafka, "").is_empty());
        assert_eq!(
            rules(ITEM, renamed, Transport::Kafka, "    format: json\n"),
            ["json-field-renamed"]
        );
        assert_eq!(
            rules(ITEM, renamed, Transport::Rest, ""),
            ["json-field-renamed"]
        );
    }

    #[test]
    fn a_deleted_field_needs_its_number_and_name_reserved() {
        let number = "message Item { string item_id = 1; reserved 2; }";
        let both = "message Item { string item_id = 1; reserved 2; reserved \"name\"; }";
        assert_eq!(rules(ITEM, number, Transport::Grpc, ""), ["field-deleted"]);
        assert!(rules(ITEM, both, Transport::Grpc, "").is_empty());
        // A JSON topic still holds records with the key (backward)…
        assert_eq!(
            rules(ITEM, both, Transport::Kafka, "    format: json\n"),
            ["kafka-json-unknown-field"]
        );
        // …which readers under `forward` never meet.
        assert!(
            rules(
                ITEM,
                both,
                Transport::Kafka,
                "    format: json\n    compatibility: forward\n"
            )
            .is_empty()
        );
    }

    #[test]
    fn a_topic_with_compatibility_none_checks_only_its_key() {
        let changed = "message Item { string item_key = 1; int64 name = 2; }";
        assert_eq!(
            rules(ITEM, changed, Transport::Kafka, "    compatibility: none\n"),
            ["kafka-key-changed"]
        );
    }

    #[test]
    fn a_type_change_reaches_nested_messages_once() {
        let old = "message Item { string item_id = 1; Size a = 2; Size b = 3; } message Size { int32 w = 1; }";
        let new = "message Item { string item_id = 1; Size a = 2; Size b = 3; } message Size { int64 w = 1; }";
        assert_eq!(rules(old, new, Transport::Grpc, ""), ["field-type-changed"]);
    }

    #[test]
    fn points_at_the_declaration_line() {
        let new = pool("message Item {\n  string item_id = 1;\n  string title = 2;\n}");
        let flows = load_str("flows.yaml", FLOWS).expect("loads");
        let usages = vec![usage(&flows.flows[0], Transport::Rest)];
        let findings = compare(&flows, None, &usages, &pool(ITEM), &new);
        let at = findings[0].new.as_ref().expect("new");
        assert_eq!((at.line, at.column, at.width), (Some(5), Some(3), 17));
        assert_eq!(at.text, "string title = 2");
    }

    /// The rules that fire from `old` to `new`, both proto2, for the one
    /// event flow on gRPC.
    fn proto2_rules(old: &str, new: &str) -> Vec<&'static str> {
        let flows = load_str("flows.yaml", FLOWS).expect("loads");
        let usages = vec![usage(&flows.flows[0], Transport::Grpc)];
        compare(
            &flows,
            None,
            &usages,
            &pool_in("proto2", old),
            &pool_in("proto2", new),
        )
        .into_iter()
        .map(|f| f.rule)
        .collect()
    }

    #[test]
    fn a_group_that_became_a_message_field_changes_its_wire_type() {
        let group = "message Item { optional string item_id = 1; optional group Size = 2 { optional int32 w = 1; } }";
        let message = "message Item { optional string item_id = 1; message Size { optional int32 w = 1; } optional Size size = 2; }";
        assert_eq!(proto2_rules(group, message), ["field-type-changed"]);
        assert_eq!(proto2_rules(message, group), ["field-type-changed"]);
        // A group compares its fields like a message does.
        let wider = group.replace("int32 w", "int64 w");
        assert_eq!(proto2_rules(group, &wider), ["field-type-changed"]);
        assert!(proto2_rules(group, group).is_empty());
    }

    #[test]
    fn required_added_or_removed_changes_the_cardinality() {
        let optional = "message Item { optional string item_id = 1; }";
        let required = "message Item { required string item_id = 1; }";
        assert_eq!(
            proto2_rules(required, optional),
            ["field-cardinality-changed"]
        );
        assert_eq!(
            proto2_rules(optional, required),
            ["field-cardinality-changed"]
        );
        assert!(proto2_rules(required, required).is_empty());
        // A field that is new, or gone though reserved, still matters
        // when required.
        let none = "message Item { optional string name = 2; }";
        let with = "message Item { required string item_id = 1; optional string name = 2; }";
        let gone = "message Item { optional string name = 2; reserved 1; reserved \"item_id\"; }";
        assert_eq!(proto2_rules(none, with), ["required-field-changed"]);
        assert_eq!(proto2_rules(with, gone), ["required-field-changed"]);
        assert!(proto2_rules(none, gone).is_empty());
        let flows = load_str("flows.yaml", FLOWS).expect("loads");
        let usages = vec![usage(&flows.flows[0], Transport::Grpc)];
        let findings = compare(
            &flows,
            None,
            &usages,
            &pool_in("proto2", required),
            &pool_in("proto2", optional),
        );
        let old = findings[0].old.as_ref().expect("old");
        assert_eq!(old.text, "required string item_id = 1");
        assert!(
            findings[0]
                .message
                .contains("from required to a single value")
        );
    }
}
