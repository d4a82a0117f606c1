//! What one service serves, from the bound contract (SPEC §7): a handler
//! per served rpc and per consumed event flow, the gRPC services it
//! implements and the REST routes it answers, each with the Rust names the
//! templates print.
//!
//! Computed once per service, here, so the templates loop over ready-made
//! lists instead of branching on transports or rebuilding names in tera.
//! A service's part is built from the flows naming it only, which keeps
//! the scaffold linear in the number of services.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};
use serde::Serialize;

use crate::contract::http::{self, HttpRule};
use crate::contract::{Binding, BoundContract, FlowBinding};
use crate::engine::evaluate::Recommendation;
use crate::scaffold::contract::{ProtoService, TypeRef, to_snake, type_ref};
use crate::spec::model::{Flow, Transport};

/// The status a generated example answers (docs/scaffold.md).
const SAMPLE_STATUS: &str = "CREATED";

/// One handler: a served rpc (shared by every flow bound to it, since the
/// wire cannot tell them apart) or a consumed event flow.
#[derive(Debug, Clone, Serialize)]
pub struct Handler {
    /// `handlers::<module>`: the method in snake case, prefixed by its proto
    /// service on a clash; an event flow's name in snake case.
    pub module: String,
    /// The file under `src/handlers/`, without `.rs` (no `r#`).
    pub file: String,
    /// `unary`, `stream` or `event`.
    pub kind: &'static str,
    /// `shop.OrdersService/GetOrder`; empty for an event.
    pub rpc: String,
    /// The flows it serves, in file order.
    pub flows: Vec<String>,
    /// `` flow `get-order` (REST) and flow `lookup-order` (gRPC) ``.
    pub flows_text: String,
    /// The request, or the event's message.
    pub request: TypeRef,
    /// The response, or a stream's item; `None` for an event.
    pub response: Option<TypeRef>,
    /// The example answer (or stream item) built from the request.
    pub example: Example,
    /// An event's key field (its Rust name), logged by the example.
    pub key: String,
    /// The handler file's imports of its types, in rustfmt's order:
    /// `contract::shop::GetOrderRequest as Request`.
    pub uses: Vec<String>,
}

/// A struct literal: `Response { order_id: request.order_id, status: … }`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Example {
    pub fields: Vec<ExampleField>,
    /// Other fields are left at their default: `..Default::default()`.
    pub rest_default: bool,
    /// rustfmt keeps it on one line (no base, fields short).
    pub one_line: bool,
    /// Whether it reads the request (else the parameter is `_request`).
    pub reads_request: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExampleField {
    /// The Rust field.
    pub name: String,
    /// The value: `request.order_id` or `"CREATED".to_owned()`.
    pub value: String,
    /// The same when the request is kept (a stream sends many).
    pub value_cloned: String,
}

/// A proto service the service implements over gRPC.
#[derive(Debug, Clone, Serialize)]
pub struct GrpcService {
    pub full_name: String,
    pub trait_name: String,
    /// `contract::shop::orders_service_server`.
    pub server_module: String,
    /// `OrdersServiceServer`.
    pub server: String,
    /// The implementing type: `OrdersServiceImpl`.
    pub impl_name: String,
    pub methods: Vec<GrpcMethod>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GrpcMethod {
    pub name: String,
    pub proto_name: String,
    pub stream_type: String,
    pub request: String,
    pub response: String,
    pub client_streaming: bool,
    pub server_streaming: bool,
    /// The handler module, when this service serves the rpc over gRPC;
    /// otherwise the method answers `UNIMPLEMENTED`.
    pub handler: Option<String>,
}

/// A REST route (SPEC §7: the `google.api.http` rule, or the default).
#[derive(Debug, Clone, Serialize)]
pub struct RestRoute {
    /// `GET`.
    pub verb: String,
    /// axum's routing function: `get`, `post`, …
    pub method: String,
    /// As the contract writes it: `/orders/{order_id}`.
    pub path: String,
    /// As axum matches it: `/orders/{order_id}`, `/v1/{name}` for
    /// `{name=shelves/*}`.
    pub axum_path: String,
    pub handler: String,
    /// `unary` or `stream` (Server-Sent Events).
    pub kind: &'static str,
    pub request: String,
    pub response: String,
    /// Request fields taken from the path, in path order.
    pub path_fields: Vec<RouteField>,
    /// `none`, `all` (`body: "*"`) or `field`.
    pub body: &'static str,
    /// The request field that is the body, for `field`.
    pub body_field: Option<RouteField>,
    /// Whether the remaining fields are read from the query string.
    pub query: bool,
    pub flows: Vec<String>,
    /// A sample call for the tests: the path with sample values.
    pub sample_path: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RouteField {
    /// As the proto names it (and the proto3 JSON name).
    pub proto_name: String,
    pub json_name: String,
    /// Its Rust field.
    pub name: String,
    /// `string`, `int64`, `bool`, …: how a path segment is parsed.
    pub kind: &'static str,
}

/// Everything one service serves.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServedApi {
    pub handlers: Vec<Handler>,
    pub grpc_services: Vec<GrpcService>,
    pub rest_routes: Vec<RestRoute>,
    /// Whether any handler streams (the runtime's `Sink`).
    pub streams: bool,
}

/// The flows of `own` (positions in `recs`) that `service` serves or
/// consumes.
pub fn served(
    service: &str,
    own: &[usize],
    recs: &[(&Recommendation, &Flow)],
    bound: &BoundContract,
    bindings: &BTreeMap<&str, &FlowBinding>,
    services: &BTreeMap<&str, &ProtoService>,
) -> ServedApi {
    let pool = &bound.pool;
    let mut api = ServedApi::default();
    // rpc full name → (handler index, transports).
    let mut by_rpc: BTreeMap<String, usize> = BTreeMap::new();
    let mut rest: Vec<(usize, String)> = Vec::new();
    let mut grpc: Vec<(usize, String)> = Vec::new();
    for &i in own {
        let (rec, flow) = recs[i];
        let Some(binding) = bindings.get(flow.name.as_str()) else {
            continue;
        };
        match &binding.binding {
            Binding::Rpc { served } if rec.transport != Transport::Kafka => {
                let Some(s) = served.iter().find(|s| s.service == service) else {
                    continue;
                };
                let Some(method) = find_method(pool, &s.rpc) else {
                    continue;
                };
                let via = if rec.transport == Transport::Rest {
                    "REST"
                } else {
                    "gRPC"
                };
                let at = *by_rpc.entry(s.rpc.clone()).or_insert_with(|| {
                    api.handlers.push(rpc_handler(&method, &s.rpc));
                    api.handlers.len() - 1
                });
                let handler = &mut api.handlers[at];
                handler.flows.push(flow.name.clone());
                let shown = format!("flow `{}` ({via})", flow.name);
                handler.flows_text = if handler.flows_text.is_empty() {
                    shown
                } else {
                    format!("{} and {shown}", handler.flows_text)
                };
                let list = if rec.transport == Transport::Rest {
                    &mut rest
                } else {
                    &mut grpc
                };
                if !list.iter().any(|(h, _)| *h == at) {
                    list.push((at, s.rpc.clone()));
                }
            }
            Binding::Message { message, key } if rec.transport == Transport::Kafka => {
                if !flow.to.iter().any(|t| t == service) {
                    continue;
                }
                if let Some(m) = pool.get_message_by_name(message) {
                    api.handlers.push(event_handler(flow, &m, key));
                }
            }
            _ => {}
        }
    }
    name_modules(&mut api.handlers, services);
    api.streams = api.handlers.iter().any(|h| h.kind == "stream");
    api.grpc_services = grpc_services(&api.handlers, &grpc, services);
    api.rest_routes = rest
        .iter()
        .filter_map(|(at, rpc)| {
            let method = find_method(pool, rpc)?;
            Some(rest_routes(pool, &method, &api.handlers[*at]))
        })
        .flatten()
        .collect();
    api
}

fn find_method(pool: &DescriptorPool, rpc: &str) -> Option<prost_reflect::MethodDescriptor> {
    let (service, method) = rpc.split_once('/')?;
    pool.get_service_by_name(service)?
        .methods()
        .find(|m| m.name() == method)
}

fn rpc_handler(method: &prost_reflect::MethodDescriptor, rpc: &str) -> Handler {
    let stream = method.is_server_streaming();
    let request = type_ref(&method.input());
    let response = type_ref(&method.output());
    let mut uses = vec![
        format!("{} as Request", request.rust),
        format!(
            "{} as {}",
            response.rust,
            if stream { "Item" } else { "Response" }
        ),
    ];
    uses.sort();
    Handler {
        uses,
        module: to_snake(method.name()),
        file: String::new(),
        kind: if stream { "stream" } else { "unary" },
        rpc: rpc.to_owned(),
        flows: Vec::new(),
        flows_text: String::new(),
        request,
        response: Some(response),
        example: example(&method.input(), &method.output()),
        key: String::new(),
    }
}

fn event_handler(flow: &Flow, message: &MessageDescriptor, key: &str) -> Handler {
    let request = type_ref(message);
    Handler {
        uses: vec![format!("{} as Event", request.rust)],
        module: to_snake(&flow.name.replace('-', "_")),
        file: String::new(),
        kind: "event",
        rpc: String::new(),
        flows: vec![flow.name.clone()],
        flows_text: format!("flow `{}` (Kafka)", flow.name),
        request,
        response: None,
        example: Example::default(),
        key: to_snake(key),
    }
}

/// Prefixes an rpc handler's module with its proto service when two
/// handlers would share a module, then an event's with `on_` if it still
/// clashes.
fn name_modules(handlers: &mut [Handler], services: &BTreeMap<&str, &ProtoService>) {
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for h in handlers.iter() {
        *count.entry(h.module.clone()).or_default() += 1;
    }
    for h in handlers.iter_mut() {
        if count[&h.module] > 1 && h.kind != "event" {
            let service = h.rpc.split_once('/').map_or("", |(s, _)| s);
            if let Some(s) = services.get(service) {
                h.module = format!("{}_{}", s.snake, h.module.trim_start_matches("r#"));
            }
        }
    }
    let rpcs: Vec<String> = handlers
        .iter()
        .filter(|h| h.kind != "event")
        .map(|h| h.module.clone())
        .collect();
    for h in handlers.iter_mut() {
        if h.kind == "event" && rpcs.contains(&h.module) {
            h.module = format!("on_{}", h.module);
        }
        h.file = h.module.trim_start_matches("r#").to_owned();
    }
}

fn grpc_services(
    handlers: &[Handler],
    grpc: &[(usize, String)],
    services: &BTreeMap<&str, &ProtoService>,
) -> Vec<GrpcService> {
    let mut out: Vec<GrpcService> = Vec::new();
    for (at, rpc) in grpc {
        let Some((service, _)) = rpc.split_once('/') else {
            continue;
        };
        let Some(proto) = services.get(service) else {
            continue;
        };
        let index = if let Some(i) = out.iter().position(|g| g.full_name == service) {
            i
        } else {
            out.push(grpc_service(proto));
            out.len() - 1
        };
        let method = rpc.split_once('/').map_or("", |(_, m)| m);
        if let Some(m) = out[index]
            .methods
            .iter_mut()
            .find(|m| m.proto_name == method)
        {
            m.handler = Some(handlers[*at].module.clone());
        }
    }
    out.sort_by(|a, b| a.full_name.cmp(&b.full_name));
    out
}

fn grpc_service(proto: &ProtoService) -> GrpcService {
    GrpcService {
        full_name: proto.full_name.clone(),
        trait_name: proto.trait_name.clone(),
        server_module: format!("contract::{}::{}", proto.package_path, proto.server_module),
        server: format!("{}Server", proto.trait_name),
        impl_name: format!("{}Impl", proto.trait_name),
        methods: proto
            .methods
            .iter()
            .map(|m| GrpcMethod {
                name: m.name.clone(),
                proto_name: m.proto_name.clone(),
                stream_type: m.stream_type.clone(),
                request: m.request.rust.clone(),
                response: m.response.rust.clone(),
                client_streaming: m.client_streaming,
                server_streaming: m.server_streaming,
                handler: None,
            })
            .collect(),
    }
}

/// The routes of `method`: its rule and each additional binding.
fn rest_routes(
    pool: &DescriptorPool,
    method: &prost_reflect::MethodDescriptor,
    handler: &Handler,
) -> Vec<RestRoute> {
    let rule: HttpRule = http::route(pool, method);
    let input = method.input();
    rule.routes()
        .map(|r| {
            let (axum_path, names) = axum_path(&r.path);
            let path_fields: Vec<RouteField> = names
                .iter()
                .filter_map(|n| input.get_field_by_name(n).map(|f| route_field(&f)))
                .collect();
            let (body, body_field) = match r.body.as_deref() {
                None | Some("") => ("none", None),
                Some("*") => ("all", None),
                Some(field) => (
                    "field",
                    input.get_field_by_name(field).map(|f| route_field(&f)),
                ),
            };
            let sample_path = sample_path(&r.path);
            RestRoute {
                verb: r.method.clone(),
                method: r.method.to_ascii_lowercase(),
                path: r.path.clone(),
                axum_path,
                handler: handler.module.clone(),
                kind: handler.kind,
                request: handler.request.rust.clone(),
                response: handler
                    .response
                    .as_ref()
                    .map(|t| t.rust.clone())
                    .unwrap_or_default(),
                query: body != "all" && input.fields().count() > path_fields.len(),
                path_fields,
                body,
                body_field,
                flows: handler.flows.clone(),
                sample_path,
            }
        })
        .collect()
}

/// `/v1/{name=shelves/*}/books/{book.id}` → axum's `/v1/{name}/books/{book.id}`
/// and the variables' field paths. A `{x=a/*}` variable that spans
/// segments becomes a catch-all only at the end (`{*x}`).
fn axum_path(template: &str) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        let inner = &rest[start + 1..start + end];
        let (name, pattern) = inner.split_once('=').unwrap_or((inner, "*"));
        let last = rest[start + end + 1..].is_empty();
        let star = if last && (pattern.contains('/') || pattern.contains("**")) {
            "*"
        } else {
            ""
        };
        let _ = write!(out, "{{{star}{name}}}");
        names.push(name.to_owned());
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    // A custom verb (`/v1/x:cancel`) is matched literally.
    (out, names)
}

/// The path with every variable replaced by a sample value (`12345`).
fn sample_path(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        out.push_str("12345");
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

fn route_field(f: &FieldDescriptor) -> RouteField {
    RouteField {
        proto_name: f.name().to_owned(),
        json_name: f.json_name().to_owned(),
        name: to_snake(f.name()),
        kind: kind(f),
    }
}

fn kind(f: &FieldDescriptor) -> &'static str {
    if f.is_list() || f.is_map() {
        return "repeated";
    }
    match f.kind() {
        Kind::Double => "double",
        Kind::Float => "float",
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => "int32",
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => "int64",
        Kind::Uint32 | Kind::Fixed32 => "uint32",
        Kind::Uint64 | Kind::Fixed64 => "uint64",
        Kind::Bool => "bool",
        Kind::String => "string",
        Kind::Bytes => "bytes",
        Kind::Message(_) => "message",
        Kind::Enum(_) => "enum",
    }
}

/// Same wire type and cardinality: a field that can be copied across.
fn same_type(a: &FieldDescriptor, b: &FieldDescriptor) -> bool {
    let kinds = match (a.kind(), b.kind()) {
        (Kind::Message(x), Kind::Message(y)) => x.full_name() == y.full_name(),
        (Kind::Enum(x), Kind::Enum(y)) => x.full_name() == y.full_name(),
        (x, y) => x == y,
    };
    kinds
        && a.is_list() == b.is_list()
        && a.is_map() == b.is_map()
        && a.supports_presence() == b.supports_presence()
        && a.containing_oneof().is_none()
        && b.containing_oneof().is_none()
}

/// The example answer: each request field of the same name and type is
/// copied (an id echoes), a string `status` is "CREATED", the rest default.
fn example(request: &MessageDescriptor, response: &MessageDescriptor) -> Example {
    let mut fields = Vec::new();
    let mut all = true;
    for field in response.fields() {
        if field.containing_oneof().is_some() {
            all = false;
            continue;
        }
        let rust = to_snake(field.name());
        let copied = request
            .get_field_by_name(field.name())
            .filter(|r| same_type(r, &field));
        if copied.is_some() {
            let copy = matches!(
                field.kind(),
                Kind::Double
                    | Kind::Float
                    | Kind::Int32
                    | Kind::Sint32
                    | Kind::Sfixed32
                    | Kind::Int64
                    | Kind::Sint64
                    | Kind::Sfixed64
                    | Kind::Uint32
                    | Kind::Fixed32
                    | Kind::Uint64
                    | Kind::Fixed64
                    | Kind::Bool
                    | Kind::Enum(_)
            ) && !field.is_list()
                && !field.is_map()
                && !field.supports_presence();
            let value = format!("request.{rust}");
            fields.push(ExampleField {
                value_cloned: if copy {
                    value.clone()
                } else {
                    format!("{value}.clone()")
                },
                value,
                name: rust,
            });
        } else if field.name() == "status"
            && field.kind() == Kind::String
            && !field.is_list()
            && !field.supports_presence()
        {
            let value = format!("\"{SAMPLE_STATUS}\".to_owned()");
            fields.push(ExampleField {
                value_cloned: value.clone(),
                value,
                name: rust,
            });
        } else {
            all = false;
        }
    }
    let rest_default = !all;
    // rustfmt's `struct_lit_width`: 18 characters between the braces.
    let inner: usize = fields
        .iter()
        .map(|f| f.name.len() + 2 + f.value.len())
        .sum::<usize>()
        + fields.len().saturating_sub(1) * 2;
    Example {
        reads_request: fields.iter().any(|f| f.value.starts_with("request.")),
        one_line: !rest_default && inner <= 18,
        rest_default,
        fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axum_paths_follow_the_path_template() {
        assert_eq!(
            axum_path("/orders/{order_id}"),
            ("/orders/{order_id}".to_owned(), vec!["order_id".to_owned()])
        );
        assert_eq!(
            axum_path("/v1/{name=shelves/*}"),
            ("/v1/{*name}".to_owned(), vec!["name".to_owned()])
        );
        assert_eq!(
            sample_path("/v1/invoices/{invoice_id}"),
            "/v1/invoices/12345"
        );
    }
}
