//! Resolving each flow against a compiled contract (SPEC §7), pure over a
//! [`DescriptorPool`].
//!
//! A request-response flow binds to a unary rpc, a stream to a
//! server-streaming rpc, an event to a message plus the scalar field that
//! keys it on Kafka (default: the first field ending in `_id`). Flows bound
//! to one rpc must agree on who serves it. Every problem is collected, not
//! just the first, with a did-you-mean from the contract's own names.

use std::collections::{BTreeMap, BTreeSet};

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};

use crate::contract::http::{self, HttpRule};
use crate::contract::{Binding, FlowBinding, Problem, Served, Site, Target};
use crate::error::did_you_mean;
use crate::spec::model::{Flow, FlowsFile, Interaction, Transport};

/// How many names an "in the contract" note lists before "…".
const LISTED: usize = 8;

/// Binds every flow of `flows` to `pool`: its `rpc:` or `message:` when
/// written, else `defaults(flow)`.
pub fn bind(
    flows: &FlowsFile,
    pool: &DescriptorPool,
    defaults: &dyn Fn(&Flow) -> Target,
) -> Result<Vec<FlowBinding>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut bound = Vec::with_capacity(flows.flows.len());
    // Each rpc's first flow and its serving services.
    let mut serving: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    let mut routes = Routes::default();
    for flow in &flows.flows {
        let binding = if flow.interaction == Interaction::Event {
            message(flow, pool, defaults, &mut problems)
        } else {
            rpc(
                flow,
                pool,
                defaults,
                &mut serving,
                &mut routes,
                &mut problems,
            )
        };
        if let Some(binding) = binding {
            bound.push(FlowBinding {
                flow: flow.name.clone(),
                interaction: flow.interaction,
                binding,
            });
        }
    }
    if problems.is_empty() {
        Ok(bound)
    } else {
        Err(problems)
    }
}

/// The names the contract itself defines: not the built-in imports.
fn own(full_name: &str) -> bool {
    !full_name.starts_with("google.protobuf.") && !full_name.starts_with("google.api.")
}

/// The closest of `candidates`, compared without case.
fn closest(given: &str, candidates: &[String]) -> Option<String> {
    let lower: Vec<String> = candidates.iter().map(|c| c.to_ascii_lowercase()).collect();
    let refs: Vec<&str> = lower.iter().map(String::as_str).collect();
    let best = did_you_mean(given, &refs)?;
    let index = refs.iter().position(|c| *c == best)?;
    Some(format!("did you mean `{}`?", candidates[index]))
}

/// `what in the contract: a, b, c, …`.
fn listing(what: &str, names: &[String]) -> String {
    if names.is_empty() {
        return format!("the contract defines no {what}");
    }
    let mut shown: Vec<&str> = names.iter().take(LISTED).map(String::as_str).collect();
    if names.len() > LISTED {
        shown.push("…");
    }
    format!("{what} in the contract: {}", shown.join(", "))
}

fn rpc(
    flow: &Flow,
    pool: &DescriptorPool,
    defaults: &dyn Fn(&Flow) -> Target,
    serving: &mut BTreeMap<String, (String, Vec<String>)>,
    routes: &mut Routes,
    problems: &mut Vec<Problem>,
) -> Option<Binding> {
    let (pairs, site) = if let Some(rpc) = &flow.rpc {
        let servers = super::derive::servers(flow);
        (
            servers.into_iter().map(|s| (s, rpc.clone())).collect(),
            Site::Binding(flow.name.clone()),
        )
    } else if let Target::Rpc(pairs) = defaults(flow) {
        (pairs, Site::Flow(flow.name.clone()))
    } else {
        (Vec::new(), Site::Flow(flow.name.clone()))
    };
    let mut served = Vec::new();
    for (server, name) in pairs {
        let Some(method) = find_method(pool, &name) else {
            problems.push(unknown_rpc(flow, pool, &name, site.clone()));
            return None;
        };
        if let Err(problem) = shape(flow, &method, &name, site.clone()) {
            problems.push(problem);
            return None;
        }
        let rest = matches!(flow.transport, None | Some(Transport::Rest));
        let route = rest.then(|| http::route(pool, &method));
        if let Some(route) = &route
            && let Err(problem) = routes.add(&server, &name, &method, route, &site)
        {
            problems.push(problem);
            return None;
        }
        served.push(Served {
            service: server,
            http: route,
            rpc: name,
        });
    }
    let before = problems.len();
    agree_on_servers(flow, &served, &site, serving, problems);
    (problems.len() == before).then_some(Binding::Rpc { served })
}

/// The routes of every serving service so far, to find two that match the
/// same requests: (service, verb, what the path matches) → the rpc and
/// its path as written; and the (service, rpc) pairs already added, whose
/// routes a second flow on the same rpc shares rather than repeats.
#[derive(Default)]
struct Routes {
    taken: BTreeMap<(String, String, String), (String, String)>,
    added: BTreeSet<(String, String)>,
}

impl Routes {
    /// Checks `rule` (every binding of it) of `rpc` served by `service`:
    /// the fields it names, and that no route of the service already
    /// matches the same requests.
    fn add(
        &mut self,
        service: &str,
        rpc: &str,
        method: &prost_reflect::MethodDescriptor,
        rule: &HttpRule,
        site: &Site,
    ) -> Result<(), Problem> {
        if !self.added.insert((service.to_owned(), rpc.to_owned())) {
            return Ok(());
        }
        for route in rule.routes() {
            if let Some(unknown) = http::unknown_field(method, route) {
                return Err(Problem::new(
                    site.clone(),
                    format!(
                        "the REST route `{} {}` of `{rpc}` names `{}` in {}, which is not a field of `{}`",
                        route.method, route.path, unknown.field, unknown.named_by, unknown.message
                    ),
                )
                .note("a path variable or `body` names a field of the request message, `response_body` a field of the response (google.api.http)"));
            }
            let key = (service.to_owned(), route.method.clone(), route.matched());
            if let Some((first, path)) = self.taken.get(&key) {
                let message = if first == rpc {
                    format!(
                        "`{} {}` is a route of `{rpc}` twice (service `{service}`)",
                        route.method, route.path
                    )
                } else {
                    format!(
                        "`{} {}` of `{rpc}` matches the same requests as `{} {path}` of `{first}`, both served by `{service}` over REST",
                        route.method, route.path, route.method
                    )
                };
                return Err(Problem::new(site.clone(), message).note(
                    "a server cannot tell two such routes apart: change one `google.api.http` annotation (a variable's name does not make another route; its pattern, such as `{name=shelves/*}`, does)",
                ));
            }
            self.taken.insert(key, (rpc.to_owned(), route.path.clone()));
        }
        Ok(())
    }
}

/// Why `name` is not in the contract, with the nearest names that are.
fn unknown_rpc(flow: &Flow, pool: &DescriptorPool, name: &str, site: Site) -> Problem {
    let (service, _) = name.split_once('/').unwrap_or((name, ""));
    if flow.rpc.is_some() && pool.get_service_by_name(service).is_none() {
        let services: Vec<String> = pool
            .services()
            .filter(|s| own(s.full_name()))
            .map(|s| s.full_name().to_owned())
            .collect();
        let mut p = Problem::new(
            site,
            format!("unknown service `{service}` in flow `{}`", flow.name),
        )
        .label(closest(service, &services))
        .note(listing("services", &services));
        p.width = service.chars().count();
        return p;
    }
    let all: Vec<String> = pool
        .services()
        .filter(|s| own(s.full_name()))
        .flat_map(|s| {
            s.methods()
                .map(|m| format!("{}/{}", s.full_name(), m.name()))
                .collect::<Vec<_>>()
        })
        .collect();
    if flow.rpc.is_some() {
        Problem::new(
            site,
            format!("unknown rpc `{name}` in flow `{}`", flow.name),
        )
        .label(closest(name, &all))
        .note(listing("rpcs", &all))
    } else {
        Problem::new(
            site,
            format!(
                "flow `{}` names no `rpc:`, and the contract has no `{name}`",
                flow.name
            ),
        )
        .label(closest(name, &all))
        .note(listing("rpcs", &all))
        .note(format!(
            "add `rpc: <package>.<Service>/<Method>` to flow `{}`",
            flow.name
        ))
    }
}

/// A request-response flow needs a unary rpc, a stream a server-streaming
/// one; client- and bidirectional-streaming rpcs are refused.
fn shape(
    flow: &Flow,
    method: &prost_reflect::MethodDescriptor,
    name: &str,
    site: Site,
) -> Result<(), Problem> {
    let (client, server_side) = (method.is_client_streaming(), method.is_server_streaming());
    let stream = flow.interaction == Interaction::Stream;
    let shape = match (client, server_side) {
        (false, false) => "a unary rpc",
        (false, true) => "a server-streaming rpc",
        (true, false) => "a client-streaming rpc",
        (true, true) => "a bidirectional-streaming rpc",
    };
    if client {
        return Err(Problem::new(
            site,
            format!("flow `{}` is bound to `{name}`, {shape}", flow.name),
        )
        .note("commsadvise serves unary rpcs (request-response flows) and server-streaming rpcs (stream flows); client- and bidirectional-streaming rpcs are not supported"));
    }
    if stream == server_side {
        return Ok(());
    }
    let (kind, wants, example) = if stream {
        (
            "a stream",
            "a server-streaming rpc",
            "`rpc Watch(WatchRequest) returns (stream Tick);`",
        )
    } else {
        (
            "a request-response flow",
            "a unary rpc",
            "`rpc Get(GetRequest) returns (GetResponse);`",
        )
    };
    Err(Problem::new(
        site,
        format!("flow `{}` is {kind}, but `{name}` is {shape}", flow.name),
    )
    .note(format!("{kind} binds to {wants}, such as {example}")))
}

/// Flows bound to one rpc must agree on who serves it; `serving` holds
/// each rpc's first flow and its serving services.
fn agree_on_servers(
    flow: &Flow,
    served: &[Served],
    site: &Site,
    serving: &mut BTreeMap<String, (String, Vec<String>)>,
    problems: &mut Vec<Problem>,
) {
    let mut by_rpc: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for s in served {
        by_rpc.entry(&s.rpc).or_default().push(s.service.clone());
    }
    for (name, mut services) in by_rpc {
        services.sort();
        match serving.get(name) {
            Some((first, theirs)) if *theirs != services => {
                problems.push(
                    Problem::new(
                        site.clone(),
                        format!(
                            "`{name}` is served by {} in flow `{first}`, but by {} in flow `{}`",
                            quoted(theirs),
                            quoted(&services),
                            flow.name
                        ),
                    )
                    .note("flows bound to one rpc must have the same serving side: the `to` of a request-response flow, the `from` of a stream"),
                );
            }
            Some(_) => {}
            None => {
                serving.insert(name.to_owned(), (flow.name.clone(), services));
            }
        }
    }
}

fn quoted(services: &[String]) -> String {
    let q: Vec<String> = services.iter().map(|s| format!("`{s}`")).collect();
    q.join(" and ")
}

/// `pkg.Service/Method` in `pool`.
fn find_method(pool: &DescriptorPool, name: &str) -> Option<prost_reflect::MethodDescriptor> {
    let (service, method) = name.split_once('/')?;
    pool.get_service_by_name(service)?
        .methods()
        .find(|m| m.name() == method)
}

fn message(
    flow: &Flow,
    pool: &DescriptorPool,
    defaults: &dyn Fn(&Flow) -> Target,
    problems: &mut Vec<Problem>,
) -> Option<Binding> {
    let (name, site) = match &flow.message {
        Some(m) => (m.clone(), Site::Binding(flow.name.clone())),
        None => match defaults(flow) {
            Target::Message(m) => (m, Site::Flow(flow.name.clone())),
            Target::Rpc(_) => (String::new(), Site::Flow(flow.name.clone())),
        },
    };
    let Some(descriptor) = pool.get_message_by_name(&name) else {
        let all: Vec<String> = pool
            .all_messages()
            .filter(|m| own(m.full_name()) && !m.is_map_entry())
            .map(|m| m.full_name().to_owned())
            .collect();
        let message = if flow.message.is_some() {
            format!("unknown message `{name}` in flow `{}`", flow.name)
        } else {
            format!(
                "flow `{}` names no `message:`, and the contract has no `{name}`",
                flow.name
            )
        };
        let mut p = Problem::new(site, message)
            .label(closest(&name, &all))
            .note(listing("messages", &all));
        if flow.message.is_none() {
            p = p.note(format!(
                "add `message: <package>.<Message>` to flow `{}`",
                flow.name
            ));
        }
        problems.push(p);
        return None;
    };
    let fields: Vec<String> = descriptor.fields().map(|f| f.name().to_owned()).collect();
    let key = if let Some(key) = &flow.key {
        let Some(field) = descriptor.get_field_by_name(key) else {
            problems.push(
                Problem::new(
                    Site::Key(flow.name.clone()),
                    format!(
                        "unknown key field `{key}` in flow `{}`: `{name}` has no such field",
                        flow.name
                    ),
                )
                .label(closest(key, &fields))
                .note(format!("fields of `{name}`: {}", fields.join(", "))),
            );
            return None;
        };
        check_scalar(
            &field,
            &descriptor,
            Site::Key(flow.name.clone()),
            flow,
            problems,
        )?
    } else {
        let Some(field) = descriptor.fields().find(|f| f.name().ends_with("_id")) else {
            problems.push(
                    Problem::new(
                        site,
                        format!(
                            "`{name}` of event flow `{}` has no field ending in `_id` to key it on Kafka",
                            flow.name
                        ),
                    )
                    .note(format!(
                        "add `key: <field>` to flow `{}`, naming the field that keys the record; fields of `{name}`: {}",
                        flow.name,
                        if fields.is_empty() { "none".to_owned() } else { fields.join(", ") }
                    )),
                );
            return None;
        };
        check_scalar(&field, &descriptor, site, flow, problems)?
    };
    Some(Binding::Message { message: name, key })
}

/// The field's name when it is a single scalar a Kafka key can hold.
fn check_scalar(
    field: &FieldDescriptor,
    message: &MessageDescriptor,
    site: Site,
    flow: &Flow,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let kind = match field.kind() {
        Kind::Message(m) => Some(format!("a message (`{}`)", m.full_name())),
        Kind::Double | Kind::Float => Some("a floating-point number".to_owned()),
        _ => None,
    };
    let kind = if field.is_map() {
        Some("a map".to_owned())
    } else if field.is_list() {
        Some("a repeated field".to_owned())
    } else {
        kind
    };
    match kind {
        None => Some(field.name().to_owned()),
        Some(kind) => {
            problems.push(
                Problem::new(
                    site,
                    format!(
                        "key field `{}` of `{}` in flow `{}` is {kind}, not a scalar",
                        field.name(),
                        message.full_name(),
                        flow.name
                    ),
                )
                .note("a Kafka key is a single scalar field: string, an integer, bool, bytes or an enum; name one with `key:`"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::compile::{InMemory, Sources};
    use crate::spec::load_str;

    const FLOWS: &str = "version: 1\nsystem: s\nproto: a.proto\nflows:\n  - name: get-a\n    from: web\n    to: s\n    client: browser\n    rpc: s.v1.S/GetA\n  - name: get-b\n    from: web\n    to: s\n    client: browser\n    rpc: s.v1.S/GetB\n";

    /// Binds `flows` to a service whose `GetA` is on `GET /v1/r/{id}` and
    /// whose `GetB` is on `get_b`.
    fn bound(flows: &str, get_b: &str) -> Result<Vec<FlowBinding>, Vec<Problem>> {
        bound_with(flows, "get: \"/v1/r/{id}\"", get_b)
    }

    fn bound_with(flows: &str, get_a: &str, get_b: &str) -> Result<Vec<FlowBinding>, Vec<Problem>> {
        let proto = format!(
            "syntax = \"proto3\";\npackage s.v1;\nimport \"google/api/annotations.proto\";\nservice S {{\n  rpc GetA(R) returns (R) {{ option (google.api.http) = {{{get_a}}}; }}\n  rpc GetB(R) returns (R) {{ option (google.api.http) = {{{get_b}}}; }}\n}}\nmessage R {{ string id = 1; string name = 2; }}\n"
        );
        let file = load_str("flows.yaml", flows).expect("flows load");
        let resolver = InMemory {
            name: "a.proto".to_owned(),
            text: proto,
        };
        crate::contract::team(
            &file,
            resolver,
            vec!["a.proto".to_owned()],
            &Sources::in_memory(),
        )
        .map(|c| c.flows)
    }

    fn refused(flows: &str, get_b: &str) -> Problem {
        let mut problems = bound(flows, get_b).expect_err("refused");
        assert_eq!(problems.len(), 1, "{problems:?}");
        problems.remove(0)
    }

    #[test]
    fn refuses_two_rpcs_of_one_service_on_one_route_at_the_flow() {
        let problem = refused(FLOWS, "get: \"/v1/r/{name}\"");
        assert_eq!(problem.site, Site::Binding("get-b".into()));
        assert_eq!(
            problem.message,
            "`GET /v1/r/{name}` of `s.v1.S/GetB` matches the same requests as `GET /v1/r/{id}` of `s.v1.S/GetA`, both served by `s` over REST"
        );
        let twice = refused(
            FLOWS,
            "get: \"/v1/b/{id}\" additional_bindings { get: \"/v1/b/{name}\" }",
        );
        assert!(
            twice
                .message
                .starts_with("`GET /v1/b/{name}` is a route of `s.v1.S/GetB` twice"),
            "{}",
            twice.message
        );
    }

    #[test]
    fn accepts_routes_that_differ_by_a_pattern_a_literal_or_a_verb() {
        for get_b in [
            "get: \"/v1/{name=shelves/*}\"",
            "get: \"/v1/r/{id}/b\"",
            "post: \"/v1/r/{id}\" body: \"*\"",
            "get: \"/v1/r/{id=x/*}\"",
        ] {
            assert!(bound(FLOWS, get_b).is_ok(), "{get_b}");
        }
        // AIP's GetShelf and GetBook: one variable, told apart by pattern.
        let aip = bound_with(
            FLOWS,
            "get: \"/v1/{name=shelves/*}\"",
            "get: \"/v1/{name=shelves/*/books/*}\"",
        );
        assert!(aip.is_ok(), "{aip:?}");
    }

    #[test]
    fn refuses_a_route_naming_a_field_its_message_lacks() {
        let problem = refused(FLOWS, "get: \"/v1/b/{nope}\"");
        assert_eq!(
            problem.message,
            "the REST route `GET /v1/b/{nope}` of `s.v1.S/GetB` names `nope` in a path variable, which is not a field of `s.v1.R`"
        );
        let body = refused(FLOWS, "post: \"/v1/b\" body: \"nope\"");
        assert!(
            body.message.contains("names `nope` in `body`"),
            "{}",
            body.message
        );
        let response = refused(FLOWS, "get: \"/v1/b/{id}\" response_body: \"nope\"");
        assert!(
            response.message.contains("names `nope` in `response_body`"),
            "{}",
            response.message
        );
    }

    #[test]
    fn a_flow_pinned_to_grpc_has_no_route_to_check() {
        let pinned = FLOWS.replace(
            "rpc: s.v1.S/GetB\n",
            "rpc: s.v1.S/GetB\n    transport: grpc\n",
        );
        let flows = bound(&pinned, "get: \"/v1/r/{id}\"").expect("binds");
        let Binding::Rpc { served } = &flows[1].binding else {
            panic!("an rpc");
        };
        assert_eq!(served[0].http, None);
    }

    #[test]
    fn an_rpc_without_an_annotation_is_served_on_the_default_route() {
        let flows = bound(FLOWS, "").expect("binds");
        let Binding::Rpc { served } = &flows[1].binding else {
            panic!("an rpc");
        };
        let route = served[0].http.as_ref().expect("a route");
        assert_eq!(
            (route.method.as_str(), route.path.as_str()),
            ("POST", "/s.v1.S/GetB")
        );
    }
}
