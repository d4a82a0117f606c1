//! The scaffold: from flows, recommendations and a contract to a plan of
//! `(path, contents)` pairs. Nothing here touches the disk; `commands::
//! scaffold` writes the plan, safely, through [`sync`].

pub mod api;
pub mod apidocs;
pub mod called;
pub mod context;
pub mod contract;
pub mod deploy;
pub mod served;
pub mod sync;
pub mod system;
pub mod templates;

use crate::contract::BoundContract;
use crate::engine::evaluate::Report;
use crate::error::Error;
use crate::scaffold::contract::{Contract, ORDER_PROTO};
use crate::scaffold::templates::{HANDLER_SEGMENT, Owner, SERVICE_SEGMENT, Template};
use crate::spec::model::FlowsFile;

/// Every file of the generated workspace, sorted by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaffoldPlan {
    pub files: Vec<PlannedFile>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Relative, '/'-separated, inside the output folder.
    pub path: String,
    pub contents: String,
    pub owner: Owner,
}

/// Renders every template for the flows. Same input, same bytes.
///
/// `bound` is the contract every flow binds to (SPEC §7) and `protos` the
/// text of each of its .proto files by import name
/// (`commands::contract::proto_files`), written under `proto/`; `contract`
/// is the seed's single-method view the templates not yet following the
/// bound contract read (transitional).
pub fn plan(
    flows: &FlowsFile,
    report: &Report,
    contract: &Contract,
    bound: &BoundContract,
    protos: &[(String, String)],
) -> Result<ScaffoldPlan, Error> {
    let context = context::build(flows, report, contract, bound);
    let (tera, templates) = templates::engine()?;
    let mut files: Vec<PlannedFile> = protos
        .iter()
        .map(|(name, text)| PlannedFile {
            path: format!("proto/{name}"),
            contents: text.clone(),
            owner: Owner::Generated,
        })
        .collect();
    if context.legacy_proto && !protos.iter().any(|(name, _)| *name == contract.file) {
        files.push(PlannedFile {
            path: format!("proto/{}", contract.file),
            contents: ORDER_PROTO.to_owned(),
            owner: Owner::Generated,
        });
    }
    for file in &files {
        check_path(&file.path)?;
    }
    each_render(&context, &templates, |template, path, cx| {
        if let Some(contents) = templates::render(&tera, template, &path, cx)? {
            check_path(&path)?;
            files.push(PlannedFile {
                path,
                contents,
                owner: template.owner,
            });
        }
        Ok(())
    })?;
    // The API documents describe what the templates serve, from the same
    // contract and the same routes (`contract::http::route`).
    for (path, contents) in apidocs::documents(flows, report, bound)? {
        check_path(&path)?;
        files.push(PlannedFile {
            path,
            contents,
            owner: Owner::Generated,
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(ScaffoldPlan { files })
}

/// Calls `visit` with each template, the path it would produce and the tera
/// context to render it with: the whole context for the workspace's own
/// files, then, service by service, a context holding that service and the
/// workspace-wide values of fixed size ([`context::Context::shared`]).
///
/// A per-service file never sees the lists of every service, flow and topic.
/// It did once, through a copy of the whole context per file: with N
/// services that is N files each copying a context of size N or more, and
/// scaffolding 300 services took minutes and gigabytes (issue 17). Now the
/// context of a file grows only with what its own service takes part in.
fn each_render(
    context: &context::Context,
    templates: &[Template],
    mut visit: impl FnMut(&Template, String, &tera::Context) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut workspace = to_tera(context)?;
    // What the system test sends in and expects: a join over the services,
    // for the workspace's files only.
    workspace.insert("system_test", &system::system_test(&context.services));
    for template in templates.iter().filter(|t| !t.per_service) {
        visit(template, template.output.clone(), &workspace)?;
    }
    drop(workspace);
    let shared = to_tera(&context.shared())?;
    for service in &context.services {
        let mut cx = shared.clone();
        cx.insert("service", service);
        for template in templates.iter().filter(|t| t.per_service) {
            let path = template.output.replace(SERVICE_SEGMENT, &service.name);
            if template.per_handler {
                for handler in &service.api.handlers {
                    let mut per_handler = cx.clone();
                    per_handler.insert("handler", handler);
                    visit(
                        template,
                        path.replace(HANDLER_SEGMENT, &handler.file),
                        &per_handler,
                    )?;
                }
            } else {
                visit(template, path, &cx)?;
            }
        }
    }
    Ok(())
}

fn to_tera(value: &impl serde::Serialize) -> Result<tera::Context, Error> {
    tera::Context::from_serialize(value)
        .map_err(|e| Error::Internal(format!("template context: {e}")))
}

/// Every planned path stays inside the output folder and is one the next
/// run will accept back from the manifest: the manifest's own test
/// ([`sync::check_entry`]), so the two cannot drift apart. Names are
/// validated long before this; this is the last line of defence.
fn check_path(path: &str) -> Result<(), Error> {
    sync::check_entry(path).map_err(|why| {
        Error::Internal(format!(
            "refusing to plan the path `{}`: it {}",
            sync::escape(path),
            why.reason()
        ))
    })
}

/// The context of a flows file given as text, with the built-in rules and
/// the contract derived from it: what unit tests of the context read.
#[cfg(test)]
pub(crate) fn prepared(yaml: &str) -> context::Context {
    let flows = crate::spec::load_str("flows.yaml", yaml).expect("valid flows");
    let report = crate::engine::recommend(
        &flows,
        &crate::engine::RuleSet::builtin().expect("built-in rules"),
    );
    let contract = contract::load("order.proto", ORDER_PROTO).expect("seed contract");
    let bound = crate::contract::derived(&flows).expect("the derived contract binds");
    context::build(&flows, &report, &contract, &bound)
}

#[cfg(test)]
mod tests {
    //! Issue 17, item 4: scaffolding must stay linear in the number of
    //! services. These tests count what each render is handed, not time.

    use std::fmt::Write as _;

    use super::*;

    /// `s001 -> s002 -> …`, the links cycling through REST, gRPC and Kafka.
    fn chain(services: usize) -> String {
        let mut yaml = String::from("version: 1\nsystem: scale\nflows:\n");
        for i in 1..services {
            let _ = write!(
                yaml,
                "  - name: link-{i:03}\n    from: s{i:03}\n    to: s{:03}\n",
                i + 1
            );
            yaml.push_str(match i % 3 {
                0 => "    interaction: event\n    coupling: loose\n",
                1 => "    transport: rest\n",
                _ => "    contract: strict\n    throughput: 5000\n    latency_ms: 10\n",
            });
        }
        yaml
    }

    /// One Kafka flow from `hub` to `services - 1` consumers.
    fn hub(services: usize) -> String {
        let to: Vec<String> = (1..services).map(|i| format!("c{i:03}")).collect();
        format!(
            "version: 1\nsystem: scale\nflows:\n  - name: fanout\n    from: hub\n    to: [{}]\n    interaction: event\n    coupling: loose\n",
            to.join(", ")
        )
    }

    /// The size, as JSON, of the context of every per-service render.
    fn service_context_sizes(context: &context::Context) -> Vec<usize> {
        let (_, templates) = templates::engine().expect("templates parse");
        let mut sizes = Vec::new();
        each_render(context, &templates, |template, _, cx| {
            // Per-handler files are as many as the service's handlers: the
            // size of each is what must not grow.
            if template.per_service && !template.per_handler {
                sizes.push(cx.clone().into_json().to_string().len());
            }
            Ok(())
        })
        .expect("contexts build");
        sizes
    }

    #[test]
    fn compose_publishes_the_serving_services_from_the_documented_ports_up() {
        let cx = prepared(include_str!("../../examples/orders.yaml"));
        let published: Vec<(&str, Option<u16>, Option<u16>)> = cx
            .services
            .iter()
            .map(|s| {
                let d = &s.deployment;
                (s.name.as_str(), d.host_http_port, d.host_grpc_port)
            })
            .collect();
        // The example's one server gets the ports `cargo run` uses.
        assert_eq!(
            published,
            [
                ("analytics", None, None),
                ("checkout", None, None),
                ("orders", Some(5000), Some(50051)),
                ("shipping", None, None),
                ("storefront", None, None),
            ]
        );
        // The peers of checkout by service name, in the container network.
        let checkout = cx.services.iter().find(|s| s.name == "checkout").unwrap();
        let url = checkout
            .deployment
            .vars
            .iter()
            .find(|v| v.name == "ORDERS_GRPC_URL");
        assert_eq!(url.unwrap().compose.as_deref(), Some("http://orders:50051"));
    }

    // Review item 9: the planned paths are held to the manifest's test, so
    // a path the next run would refuse is never planned.
    #[test]
    fn planned_paths_pass_the_manifest_entry_test() {
        assert!(check_path("services/orders/src/main.rs").is_ok());
        for (path, why) in [
            ("../victim.txt", "climbs out of --out"),
            ("notes.txt", "is not a path commsadvise generates"),
            (
                ".commsadvise/manifest.json",
                "names commsadvise's own bookkeeping",
            ),
            (
                "services/a\u{1b}[2J/x.rs",
                "contains a NUL or another control character",
            ),
        ] {
            let e = check_path(path).expect_err(path).to_string();
            assert!(e.contains(why), "{path:?}: {e}");
            assert!(!e.contains('\u{1b}'), "{e:?}");
        }
    }

    #[test]
    fn a_service_file_context_does_not_grow_with_unrelated_services() {
        let small = service_context_sizes(&prepared(&chain(5)));
        let large = service_context_sizes(&prepared(&chain(50)));
        assert_eq!(large.len(), small.len() * 10, "renders are linear");
        assert_eq!(
            large.iter().max(),
            small.iter().max(),
            "a link of a chain of 50 is handed as much as one of a chain of 5"
        );
    }

    #[test]
    fn service_file_contexts_grow_less_than_quadratically_on_a_hub() {
        // Each consumer prints the hub's list of consumers, so its context
        // grows a little with them; the whole context per file grew with
        // the square (every consumer listing every consumer).
        let total = |services| -> usize {
            service_context_sizes(&prepared(&hub(services)))
                .iter()
                .sum()
        };
        let (small, large) = (total(10), total(40));
        assert!(
            large < small * 6,
            "×4 services made the contexts ×{}",
            large / small
        );
    }

    #[test]
    fn service_files_render_the_same_as_with_the_whole_context() {
        // A per-service template reading a workspace-wide list would get
        // nothing (an `if` on it is false) instead of failing: this catches it.
        let (tera, templates) = templates::engine().expect("templates parse");
        for yaml in [
            include_str!("../../examples/orders.yaml"),
            include_str!("../../examples/marketplace.yaml"),
            include_str!("../../tests/fixtures/scaffold/kafka-only.yaml"),
        ] {
            let context = prepared(yaml);
            let workspace = to_tera(&context).expect("context serializes");
            let mut compared = 0;
            each_render(&context, &templates, |template, path, cx| {
                if template.per_service {
                    let service = cx.get("service").expect("a service").clone();
                    let mut whole = workspace.clone();
                    whole.insert("service", &service);
                    if let Some(handler) = cx.get("handler") {
                        whole.insert("handler", handler);
                    }
                    let own = templates::render(&tera, template, &path, cx)?;
                    let with_all = templates::render(&tera, template, &path, &whole)?;
                    assert!(
                        own == with_all,
                        "{path} renders differently without the workspace-wide lists"
                    );
                    compared += 1;
                }
                Ok(())
            })
            .expect("renders");
            assert!(compared > 0);
        }
    }

    #[test]
    fn a_consumer_of_events_producing_exactly_once_ones_handles_in_transactions() {
        let context = prepared(
            "version: 1\nsystem: relay\nflows:\n\
             \x20 - name: order-created\n    from: orders\n    to: order-history\n\
             \x20   interaction: event\n    coupling: loose\n\
             \x20 - name: payment-booked\n    from: order-history\n    to: ledger\n\
             \x20   interaction: event\n    coupling: loose\n    delivery: exactly-once\n",
        );
        let kafka = |name: &str| {
            let service = context.services.iter().find(|s| s.name == name);
            service.expect("the service").kafka
        };
        // Consumes and produces an exactly-once flow: transactions.
        assert!(kafka("order-history").consume_produce);
        // Produces exactly-once events but consumes none; consumes only.
        assert!(!kafka("orders").consume_produce);
        assert!(!kafka("ledger").consume_produce);

        // The system test follows the relay: what orders publishes reaches
        // ledger, with its id, through order-history's handler.
        let test = system::system_test(&context.services);
        let relayed: Vec<(&str, &str, Vec<&str>)> = test
            .handled
            .iter()
            .map(|h| {
                let a = &h.announcement;
                let consumers = a.consumers.iter().map(|c| c.name.as_str()).collect();
                (a.flow.as_str(), a.sample_id.as_str(), consumers)
            })
            .collect();
        let orders_id = test.publishes[0].id.as_str();
        assert!(
            relayed.contains(&("payment-booked", orders_id, vec!["ledger"])),
            "{relayed:?}"
        );
    }
}
