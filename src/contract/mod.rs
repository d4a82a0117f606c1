//! The contract every flow binds to (SPEC §7): which protobuf files make
//! it, and which rpc or message each flow uses.
//!
//! A contract comes from one of three places, all ending in the same
//! [`BoundContract`]:
//! - the team's own .proto files (`proto:` in flows.yaml), compiled by
//!   protox ([`compile`]) through a file resolver that `commands` builds,
//!   since only `commands` reads the disk;
//! - the contract [`derive`]d from the flows when there is no `proto:`,
//!   compiled from its text in memory;
//! - the seed's order.proto for the built-in example (SPEC §6).
//!
//! Every flow is then resolved against the compiled
//! [`DescriptorPool`] by [`bind`] (pure): the `rpc:` or `message:` it
//! names, or else the name the derived contract gives it. So a derived
//! contract, a team proto adopted from it and the seed all pass the same
//! checks, and the scaffold asks one question — what is the contract, and
//! what does each flow bind to — whatever the origin.
//!
//! Problems are typed ([`Problem`], with a [`Site`]) rather than rendered
//! here: the flows.yaml positions they point at come from the
//! [`SourceMap`], which the caller may only build once something is wrong.

pub mod bind;
pub mod compile;
pub mod derive;
pub mod evolution;
pub mod http;

use prost_reflect::DescriptorPool;
use protox::file::{ChainFileResolver, FileResolver};
use serde::Serialize;

use crate::error::{Diagnostic, Error};
use crate::scaffold::contract::ORDER_PROTO;
use crate::spec::model::{Flow, FlowsFile, Interaction, Pos, SourceMap};

pub use bind::bind;
pub use compile::Sources;
pub use derive::{Derived, derive};

/// Where the contract comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// The seed's order.proto, for the built-in example (SPEC §6).
    Seed,
    /// Derived from the flows: there is no `proto:`.
    Derived,
    /// The team's own .proto files, named by `proto:`.
    Team,
}

/// The contract and what each flow binds to.
#[derive(Debug, Clone)]
pub struct BoundContract {
    pub origin: Origin,
    /// The contract's own files, as imports name them.
    pub files: Vec<String>,
    /// The .proto text of a seed or derived contract (one file); `None`
    /// for a team's files, which are theirs to keep.
    pub text: Option<String>,
    /// Every file compiled, imports included.
    pub pool: DescriptorPool,
    /// One binding per flow, in file order.
    pub flows: Vec<FlowBinding>,
}

/// What one flow binds to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowBinding {
    pub flow: String,
    pub interaction: Interaction,
    #[serde(flatten)]
    pub binding: Binding,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Binding {
    /// A request-response flow's unary rpc, or a stream's server-streaming
    /// one, with the services that serve it.
    Rpc { served: Vec<Served> },
    /// An event flow's message, and the field that keys it on Kafka.
    Message { message: String, key: String },
}

/// One serving service and the rpc it serves for a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Served {
    /// The service of flows.yaml.
    pub service: String,
    /// `<package>.<Service>/<Method>`.
    pub rpc: String,
    /// The REST route(s) the rpc is served on ([`http::route`]: its
    /// `google.api.http` annotation, else SPEC §7's default); `None` when
    /// the flow is pinned to gRPC or Kafka, so no REST route serves it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<http::HttpRule>,
}

/// The name a flow binds to when its flows.yaml entry names none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Each serving service and its rpc.
    Rpc(Vec<(String, String)>),
    /// The full name of the event's message.
    Message(String),
}

/// Where in the user's files a [`Problem`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Site {
    /// A flow's `rpc:` or `message:` value.
    Binding(String),
    /// A flow's `key:` value.
    Key(String),
    /// A flow as a whole: its `- name:` line.
    Flow(String),
    /// The `index`th entry of `proto:`.
    ProtoEntry(usize),
    /// The `index`th entry of `proto_path:`.
    ProtoPathEntry(usize),
    /// A place in a .proto file: its path as the user knows it, and when
    /// known the position and the line there.
    ProtoFile {
        path: String,
        at: Option<(Pos, String)>,
    },
    /// The contract as a whole.
    Proto,
}

/// One thing wrong with the contract or a flow's binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub site: Site,
    pub message: String,
    /// Shown after the caret: a did-you-mean.
    pub label: Option<String>,
    pub notes: Vec<String>,
    /// How many columns the caret covers; 0 = the whole value.
    pub width: usize,
}

impl Problem {
    pub fn new(site: Site, message: impl Into<String>) -> Problem {
        Problem {
            site,
            message: message.into(),
            label: None,
            notes: Vec::new(),
            width: 0,
        }
    }

    #[must_use]
    pub fn note(mut self, note: impl Into<String>) -> Problem {
        self.notes.push(note.into());
        self
    }

    #[must_use]
    pub fn label(mut self, label: Option<String>) -> Problem {
        self.label = label;
        self
    }

    /// The diagnostic, pointed at flows.yaml (`file`, `text`, positions
    /// from `map`) or at the .proto file the problem is in.
    pub fn diagnostic(&self, file: &str, text: &str, map: &SourceMap) -> Diagnostic {
        let (shown_file, at) = match &self.site {
            Site::ProtoFile { path, at } => {
                let mut d = Diagnostic::new(self.message.clone(), path.clone());
                if let Some((pos, line)) = at {
                    d = d.at_line(Some(line), *pos, self.width.max(1));
                }
                return self.finish(d);
            }
            Site::Binding(flow) => (file, map.bindings.get(flow).copied()),
            Site::Key(flow) => (file, map.keys.get(flow).copied()),
            Site::Flow(flow) => (file, map.flow(flow).map(|at| name_value(text, at, flow))),
            Site::ProtoEntry(i) => (file, map.proto.get(*i).copied()),
            Site::ProtoPathEntry(i) => (file, map.proto_path.get(*i).copied()),
            Site::Proto => (file, None),
        };
        let mut d = Diagnostic::new(self.message.clone(), shown_file);
        if let Some(pos) = at {
            let line = text.lines().nth(pos.line.saturating_sub(1));
            let width = if self.width > 0 {
                self.width
            } else {
                line.map_or(1, |l| {
                    crate::yaml::scalar_at(
                        l,
                        Pos {
                            line: 1,
                            column: pos.column,
                        },
                    )
                    .chars()
                    .count()
                })
            };
            d = d.at_line(line, pos, width);
        }
        self.finish(d)
    }

    fn finish(&self, mut d: Diagnostic) -> Diagnostic {
        d.label.clone_from(&self.label);
        d.notes.extend(self.notes.iter().cloned());
        d
    }
}

/// The flow's name after `name:` on the line at `at`, where a flow starts.
fn name_value(text: &str, at: Pos, flow: &str) -> Pos {
    let line = text
        .lines()
        .nth(at.line.saturating_sub(1))
        .unwrap_or_default();
    match line.find(&format!("name: {flow}")) {
        Some(i) => Pos {
            line: at.line,
            column: line[..i].chars().count() + "name: ".len() + 1,
        },
        None => at,
    }
}

/// Problems as the input error they are, pointed at flows.yaml.
pub fn input_error(problems: &[Problem], file: &str, text: &str, map: &SourceMap) -> Error {
    Error::Input(
        problems
            .iter()
            .map(|p| p.diagnostic(file, text, map))
            .collect(),
    )
}

/// The built-in example's contract: the seed's order.proto, unchanged
/// (SPEC §6), with every request-response flow on `GetOrder` and every
/// event carrying `OrderResponse`, keyed by `order_id`.
pub fn seed(flows: &FlowsFile) -> Result<BoundContract, Vec<Problem>> {
    let file = "order.proto".to_owned();
    let pool = in_memory(&file, ORDER_PROTO)?;
    let targets = |flow: &Flow| match flow.interaction {
        Interaction::Event => Target::Message("orders.OrderResponse".to_owned()),
        _ => Target::Rpc(
            derive::servers(flow)
                .into_iter()
                .map(|s| (s, "orders.OrderService/GetOrder".to_owned()))
                .collect(),
        ),
    };
    let bound = bind(flows, &pool, &targets)?;
    Ok(BoundContract {
        origin: Origin::Seed,
        files: vec![file],
        text: Some(ORDER_PROTO.to_owned()),
        pool,
        flows: bound,
    })
}

/// The contract derived from `flows`, which has no `proto:`.
pub fn derived(flows: &FlowsFile) -> Result<BoundContract, Vec<Problem>> {
    let derived = derive(flows);
    let pool = in_memory(&derived.file, &derived.text)?;
    let bound = bind(flows, &pool, &|flow| default_target(&derived, flow))?;
    Ok(BoundContract {
        origin: Origin::Derived,
        files: vec![derived.file],
        text: Some(derived.text),
        pool,
        flows: bound,
    })
}

/// The team's contract: `files` (import names) compiled through
/// `resolver`, which `commands` builds over the `proto_path` folders; the
/// built-in imports are added here. `sources` names each file as the user
/// knows it.
pub fn team(
    flows: &FlowsFile,
    resolver: impl FileResolver + 'static,
    files: Vec<String>,
    sources: &Sources,
) -> Result<BoundContract, Vec<Problem>> {
    let pool = compile_team(resolver, &files, sources).map_err(|p| vec![p])?;
    // Flows that name nothing bind to what the derived contract would call
    // them, so a team that adopted it needs no `rpc:` lines.
    let derived = derive(flows);
    let bound = bind(flows, &pool, &|flow| default_target(&derived, flow))?;
    Ok(BoundContract {
        origin: Origin::Team,
        files,
        text: None,
        pool,
        flows: bound,
    })
}

/// The team's files compiled through `resolver` and the built-in imports,
/// without binding the flows: one side of `contract check`.
pub fn compile_team(
    resolver: impl FileResolver + 'static,
    files: &[String],
    sources: &Sources,
) -> Result<DescriptorPool, Problem> {
    let mut chain = ChainFileResolver::new();
    chain.add(resolver);
    chain.add(compile::builtin());
    compile::compile_with(chain, files, sources)
}

fn default_target(derived: &Derived, flow: &Flow) -> Target {
    derived
        .targets
        .get(&flow.name)
        .cloned()
        .unwrap_or_else(|| Target::Rpc(Vec::new()))
}

/// Compiles one in-memory file with the built-in imports.
fn in_memory(name: &str, text: &str) -> Result<DescriptorPool, Vec<Problem>> {
    let mut chain = ChainFileResolver::new();
    chain.add(compile::InMemory {
        name: name.to_owned(),
        text: text.to_owned(),
    });
    chain.add(compile::builtin());
    compile::compile_with(chain, &[name.to_owned()], &Sources::in_memory()).map_err(|p| vec![p])
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;
    use crate::spec::load_str;

    const EXAMPLES: &[(&str, &str)] = &[
        ("orders.yaml", include_str!("../../examples/orders.yaml")),
        (
            "payments.yaml",
            include_str!("../../examples/payments.yaml"),
        ),
        (
            "marketplace.yaml",
            include_str!("../../examples/marketplace.yaml"),
        ),
        (
            "spec-cases.yaml",
            include_str!("../../examples/spec-cases.yaml"),
        ),
    ];

    #[test]
    fn every_examples_derived_contract_compiles_and_binds_every_flow() {
        for (name, text) in EXAMPLES {
            let flows = load_str(name, text).expect("example loads");
            let bound = derived(&flows).unwrap_or_else(|p| panic!("{name}: {p:?}"));
            assert_eq!(bound.origin, Origin::Derived);
            assert_eq!(bound.flows.len(), flows.flows.len(), "{name}");
        }
    }

    /// A team that saves the derived contract and names it under `proto:`
    /// gets the same bindings, with no `rpc:` or `message:` lines.
    #[test]
    fn adopting_the_derived_contract_binds_every_flow_the_same_way() {
        for (name, text) in EXAMPLES {
            let flows = load_str(name, text).expect("example loads");
            let derived_contract = derived(&flows).expect("binds");
            let resolver = compile::InMemory {
                name: "adopted/contract.proto".to_owned(),
                text: derived_contract.text.clone().expect("text"),
            };
            let adopted = team(
                &flows,
                resolver,
                vec!["adopted/contract.proto".to_owned()],
                &Sources::in_memory(),
            )
            .unwrap_or_else(|p| panic!("{name}: {p:?}"));
            assert_eq!(adopted.flows, derived_contract.flows, "{name}");
        }
    }

    /// A route without additional bindings or `response_body`: SPEC §7's
    /// default for a flow that may go over REST.
    fn route(method: &str, path: &str, body: Option<&str>) -> http::HttpRule {
        http::HttpRule {
            method: method.into(),
            path: path.into(),
            body: body.map(Into::into),
            response_body: None,
            additional_bindings: Vec::new(),
        }
    }

    #[test]
    fn the_built_in_example_binds_to_the_seed_contract() {
        let flows = load_str("orders.yaml", EXAMPLES[0].1).expect("loads");
        let bound = seed(&flows).expect("binds");
        assert_eq!(bound.text.as_deref(), Some(ORDER_PROTO));
        assert_eq!(
            bound.flows[0].binding,
            Binding::Rpc {
                served: vec![Served {
                    service: "orders".into(),
                    rpc: "orders.OrderService/GetOrder".into(),
                    http: Some(route("GET", "/orders/{order_id}", None))
                }]
            }
        );
        assert_eq!(
            bound.flows[2].binding,
            Binding::Message {
                message: "orders.OrderResponse".into(),
                key: "order_id".into()
            }
        );
    }

    #[test]
    fn the_payments_event_is_keyed_by_its_key_field() {
        let flows = load_str("payments.yaml", EXAMPLES[1].1).expect("loads");
        let bound = derived(&flows).expect("binds");
        let captured = bound
            .flows
            .iter()
            .find(|f| f.flow == "payment-captured")
            .expect("bound");
        assert_eq!(
            captured.binding,
            Binding::Message {
                message: "payments.PaymentCaptured".into(),
                key: "account_id".into()
            }
        );
        let ticks = bound
            .flows
            .iter()
            .find(|f| f.flow == "balance-ticks")
            .expect("bound");
        assert_eq!(
            ticks.binding,
            Binding::Rpc {
                served: vec![Served {
                    service: "payments".into(),
                    rpc: "payments.PaymentsService/BalanceTicks".into(),
                    http: Some(route(
                        "POST",
                        "/payments.PaymentsService/BalanceTicks",
                        Some("*")
                    ))
                }]
            },
            "a stream is served by its sender"
        );
    }

    proptest::proptest! {
        /// Whatever valid names a file uses, its derived contract compiles
        /// and binds every flow: no name the derivation makes can clash.
        #[test]
        fn every_valid_file_derives_a_contract_that_binds(
            system in "[a-z](-?[a-z0-9]){0,6}",
            flows in proptest::collection::vec(
                (
                    "[a-z](-?[a-z0-9]){0,8}",
                    "[a-z](-?[a-z0-9]){0,4}",
                    proptest::collection::vec("[a-z](-?[a-z0-9]){0,4}", 1..3),
                    0usize..3,
                    proptest::option::of("[a-z][a-z_]{0,6}[a-zA-Z]"),
                ),
                1..6,
            ),
        ) {
            let mut text = format!("version: 1\nsystem: {system}\nflows:\n");
            for (name, from, to, interaction, key) in &flows {
                let interaction = ["request-response", "event", "stream"][*interaction];
                let _ = write!(
                    text,
                    "  - name: {name}\n    from: {from}\n    to: [{}]\n    interaction: {interaction}\n",
                    to.join(", ")
                );
                if let (Some(key), "event") = (key, interaction) {
                    let _ = writeln!(text, "    key: {key}");
                }
            }
            // Files the loader refuses (duplicates, keywords) are not the point.
            proptest::prop_assume!(load_str("flows.yaml", &text).is_ok());
            let file = load_str("flows.yaml", &text).expect("loads");
            let bound = derived(&file);
            proptest::prop_assert!(bound.is_ok(), "{text}\n{:?}", bound.err());
            proptest::prop_assert_eq!(bound.expect("ok").flows.len(), file.flows.len());
        }
    }

    #[test]
    fn a_request_response_fan_out_gets_an_rpc_in_each_receiver() {
        let text = "version: 1\nsystem: shop\nflows:\n  - name: get-price\n    from: checkout\n    to: [pricing, tax]\n";
        let flows = load_str("flows.yaml", text).expect("loads");
        let bound = derived(&flows).expect("binds");
        assert_eq!(
            bound.flows[0].binding,
            Binding::Rpc {
                served: vec![
                    Served {
                        service: "pricing".into(),
                        rpc: "shop.PricingService/GetPrice".into(),
                        http: Some(route("GET", "/prices/{price_id}", None))
                    },
                    Served {
                        service: "tax".into(),
                        rpc: "shop.TaxService/GetPrice".into(),
                        http: Some(route("GET", "/prices/{price_id}", None))
                    },
                ]
            }
        );
    }
}
