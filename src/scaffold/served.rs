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
use crate::scaffold::api::{ProtoService, TypeRef, to_snake, type_ref};
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
    /// The request's id field (its Rust name; see `called::id_field`): the
    /// example of a service that produces events keys the event it
    /// announces by it.
    pub id_field: Option<String>,
    /// The handler file's imports of its types, in rustfmt's order:
    /// `contract::shop::GetOrderRequest as Request`.
    pub uses: Vec<String>,
    /// Serving it changes state: a unary rpc whose `google.api.http` rule
    /// is not a `GET`, or without a rule, whose name does not start with one
    /// of [`READ_VERBS`].
    pub changes_state: bool,
    /// The report resolves one of its flows with [`EDGE_OUTBOX`].
    pub outbox_named: bool,
    /// Its example announces the service's event through the transactional
    /// outbox, on the transaction of its state change (set by the context,
    /// which knows the events).
    pub outbox: bool,
    /// The call its example makes before answering (set by the context,
    /// which knows the calls; see `context::keep_chains`).
    pub call: Option<ExampleCall>,
    /// The server's budget of a unary rpc, in ms: the most generous of its
    /// flows' `latency_ms` (the wire cannot tell them apart), a flow without
    /// one counting [`DEFAULT_BUDGET_MS`]; `None` for a stream or an event.
    pub budget_ms: Option<u64>,
    /// `GET_ORDER_BUDGET`: its constant (`_VAR` for its variable's).
    pub budget_const: String,
    /// `GET_ORDER_TIMEOUT_MS`: the variable overriding it.
    pub budget_env: String,
    /// The budget as Rust: `Duration::from_millis(200)`.
    pub budget_rust: String,
    /// Where it comes from: `` flow `get-order`, 200 ms target `` per flow.
    pub budget_from: Vec<String>,
}

/// A call of another service that a handler's example makes with the
/// request's id, through the service's own client.
#[derive(Debug, Clone, Serialize)]
pub struct ExampleCall {
    pub flow: String,
    /// The service called.
    pub target: String,
    /// `grpc_clients` or `rest_clients`.
    pub clients: String,
    /// The client type: `InventoryClient`.
    pub client: String,
    /// The client's method: `reserve_stock` (`r#` kept).
    pub method: String,
    /// Its request's sample function: `reserve_stock_request`.
    pub sample: String,
    /// Its field of the service's `Outbound`.
    pub out_field: String,
    /// The callee's server span, as `runtime::trace` names it:
    /// `logistics.v1.InventoryService/ReserveStock` or `POST /v1/…`.
    pub span: String,
}

impl Handler {
    /// Binds `flow`, served over `via` (`REST`, `gRPC`), to this rpc
    /// handler; a unary rpc's budget grows to the flow's `latency_ms`.
    fn serves(&mut self, flow: &Flow, via: &str) {
        self.flows.push(flow.name.clone());
        if self.kind == "unary" {
            let budget = flow.latency_ms.unwrap_or(DEFAULT_BUDGET_MS);
            self.budget_ms = self.budget_ms.max(Some(budget));
            self.budget_from.push(match flow.latency_ms {
                Some(ms) => format!("flow `{}`, {ms} ms target", flow.name),
                None => format!("flow `{}`, no `latency_ms`", flow.name),
            });
        }
        let shown = format!("flow `{}` ({via})", flow.name);
        self.flows_text = if self.flows_text.is_empty() {
            shown
        } else {
            format!("{} and {shown}", self.flows_text)
        };
    }

    /// Names the budget's constant and variable after the handler's file,
    /// once modules are named: `get_order` → `GET_ORDER_BUDGET`,
    /// `GET_ORDER_TIMEOUT_MS` (no generated constant ends in `_BUDGET`, no
    /// other variable in `_TIMEOUT_MS`).
    fn name_budget(&mut self) {
        if let Some(ms) = self.budget_ms {
            let upper = self.file.to_ascii_uppercase();
            self.budget_const = format!("{upper}_BUDGET");
            self.budget_env = format!("{upper}_TIMEOUT_MS");
            self.budget_rust = duration_rust(ms);
        }
    }
}

/// The server's budget of an rpc none of whose flows gives a `latency_ms`.
pub const DEFAULT_BUDGET_MS: u64 = 1000;

/// A duration of `ms` milliseconds as Rust, as clippy wants it: whole
/// seconds in seconds.
pub fn duration_rust(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("Duration::from_secs({})", ms / 1000)
    } else {
        format!("Duration::from_millis({ms})")
    }
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
    /// Whether a method it serves streams (it then ends streams on shutdown).
    pub streams: bool,
    /// `("/package.Service/Method", flow)` of each method it serves with
    /// idempotency keys.
    pub keyed_methods: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GrpcMethod {
    pub name: String,
    pub proto_name: String,
    pub stream_type: String,
    pub request: String,
    pub response: String,
    pub server_streaming: bool,
    /// The handler module, when this service serves the rpc over gRPC;
    /// otherwise tonic's default answers `UNIMPLEMENTED`.
    pub handler: Option<String>,
    /// Whether rustfmt keeps the method's signature on one line.
    pub one_line: bool,
    /// A string field of the request, to make one over the size limit.
    pub string_field: Option<String>,
    /// Whether the request has other fields (`..Default::default()`).
    pub more_fields: bool,
    /// The gRPC flow it serves with idempotency keys, if any.
    pub keyed_flow: Option<String>,
}

/// A unary rpc a test calls: the client, the method and its request.
#[derive(Debug, Clone, Serialize)]
pub struct GrpcCall {
    /// `contract::shop::orders_service_client::OrdersServiceClient`.
    pub client: String,
    /// The server trait: `contract::shop::orders_service_server::OrdersService`.
    pub server_trait: String,
    /// The server type: `…::OrdersServiceServer`.
    pub server: String,
    /// `shop.OrdersService`.
    pub service: String,
    pub method: GrpcMethod,
}

/// A REST route (SPEC §7: the `google.api.http` rule, or the default),
/// with the Rust of its axum handler ready-made: its parameters, and the
/// statements that build the request from the path, query and body.
#[derive(Debug, Clone, Serialize)]
pub struct RestRoute {
    /// `GET`.
    pub verb: String,
    /// axum's routing function: `get`, `post`, … (`any` for a custom verb).
    pub method: String,
    /// As the contract writes it: `/orders/{order_id}`.
    pub path: String,
    /// As axum matches it: `/orders/{order_id}`; `{*name}` for a trailing
    /// `{name=shelves/*}`.
    pub axum_path: String,
    /// The handler module.
    pub handler: String,
    /// The axum handler function in `rest.rs`.
    pub function: String,
    /// `unary` or `stream` (Server-Sent Events).
    pub kind: &'static str,
    /// The axum handler's parameters.
    pub params: Vec<String>,
    /// Whether rustfmt keeps the signature on one line.
    pub one_line: bool,
    /// The statements building `request`, in order.
    pub prepare: Vec<String>,
    pub flows: Vec<String>,
    /// The REST flow it serves with idempotency keys, if any.
    pub keyed_flow: Option<String>,
    /// A call that succeeds: the path with sample values, and a body.
    pub sample_path: String,
    pub sample_body: Option<String>,
    /// The body as a test passes it: `Some(r#"{}"#)` or `None`.
    pub sample_body_arg: String,
    /// The same path with a malformed id, when a path variable is an id.
    pub bad_path: Option<String>,
}

/// Everything one service serves.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServedApi {
    pub handlers: Vec<Handler>,
    pub grpc_services: Vec<GrpcService>,
    pub rest_routes: Vec<RestRoute>,
    /// Whether any handler streams (the runtime's `Sink`).
    pub streams: bool,
    /// The first unary route: what the shutdown test keeps in flight.
    pub first_rest: Option<RestRoute>,
    /// Every rpc served over gRPC, for the tests to call.
    pub grpc_calls: Vec<GrpcCall>,
    /// The full names of the gRPC services, with rustfmt's layout of the
    /// array holding them (`one_line`).
    pub grpc_names_one_line: bool,
    /// The `use` lines of `grpc.rs` for the served services, sorted.
    pub grpc_uses: Vec<String>,
    /// Whether a REST route has an id path variable to check.
    pub rest_checks_ids: bool,
}

/// The resolution of a flow that must take effect once over REST or gRPC
/// (`rules/exactly-once-needs-transactions.yaml`): the scaffold answers it
/// with idempotency keys, sent by the callers and kept by the callee.
pub const IDEMPOTENCY_KEYS: &str = "idempotency-keys";

/// The resolution of a synchronous flow that must also reach Kafka
/// (`rules/waiting-caller-needs-a-direct-answer.yaml` and others): the
/// scaffold answers it with the transactional outbox.
pub const EDGE_OUTBOX: &str = "edge-outbox-to-kafka";

/// Whether the report resolves `rec` with idempotency keys: a synchronous
/// flow whose conflicts name [`IDEMPOTENCY_KEYS`].
pub fn keyed(rec: &Recommendation) -> bool {
    rec.transport != Transport::Kafka && rec.conflicts.iter().any(|c| c.id == IDEMPOTENCY_KEYS)
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
    // The flows served with idempotency keys, each with its transport.
    let mut keyed_flows: Vec<(&str, Transport)> = Vec::new();
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
                    api.handlers.push(rpc_handler(pool, &method, &s.rpc));
                    api.handlers.len() - 1
                });
                // A stream's answer is not one to store and replay.
                if keyed(rec) && !method.is_server_streaming() {
                    keyed_flows.push((flow.name.as_str(), rec.transport));
                }
                let handler = &mut api.handlers[at];
                handler.outbox_named |= rec.conflicts.iter().any(|c| c.id == EDGE_OUTBOX);
                handler.serves(flow, via);
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
    for h in &mut api.handlers {
        h.name_budget();
    }
    api.streams = api.handlers.iter().any(|h| h.kind == "stream");
    api.grpc_services = grpc_services(&api.handlers, &grpc, services);
    let keyed_over = |flows: &[String], transport: Transport| {
        flows
            .iter()
            .find(|f| keyed_flows.contains(&(f.as_str(), transport)))
            .cloned()
    };
    // Before `grpc_extras`, which copies the methods into the tests' calls.
    for service in &mut api.grpc_services {
        for m in &mut service.methods {
            let Some(handler) = m.handler.as_ref() else {
                continue;
            };
            let Some(h) = api.handlers.iter().find(|h| &h.module == handler) else {
                continue;
            };
            m.keyed_flow = keyed_over(&h.flows, Transport::Grpc);
            if let Some(flow) = &m.keyed_flow {
                let path = format!("/{}/{}", service.full_name, m.proto_name);
                service.keyed_methods.push((path, flow.clone()));
            }
        }
    }
    grpc_extras(&mut api, services);
    api.rest_routes = rest
        .iter()
        .filter_map(|(at, rpc)| {
            let method = find_method(pool, rpc)?;
            Some(rest_routes(pool, &method, &api.handlers[*at]))
        })
        .flatten()
        .collect();
    for route in &mut api.rest_routes {
        route.keyed_flow = keyed_over(&route.flows, Transport::Rest);
    }
    api.first_rest = api.rest_routes.iter().find(|r| r.kind == "unary").cloned();
    api.rest_checks_ids = api.rest_routes.iter().any(|r| r.bad_path.is_some());
    api
}

/// The verbs that name a read in a method's name (`GetOrder`, `ListOrders`,
/// `LookupOrder`), after AIP-131/132's standard methods and the custom
/// methods that read.
const READ_VERBS: &[&str] = &[
    "Get", "List", "Lookup", "Find", "Search", "Query", "Read", "Fetch", "Describe", "Check",
    "Count", "Watch", "Stream",
];

/// Whether serving `method` changes state: a unary method whose
/// `google.api.http` rule is not a `GET`, or without a rule, whose name does
/// not start with one of [`READ_VERBS`] (`CreateShipment`, `ReserveStock`).
fn changes_state(pool: &DescriptorPool, method: &prost_reflect::MethodDescriptor) -> bool {
    if method.is_server_streaming() || method.is_client_streaming() {
        return false;
    }
    match http::rule(pool, method) {
        Some(rule) => rule.method != "GET",
        None => http::words(method.name())
            .first()
            .is_none_or(|verb| !READ_VERBS.contains(&verb.as_str())),
    }
}

fn find_method(pool: &DescriptorPool, rpc: &str) -> Option<prost_reflect::MethodDescriptor> {
    let (service, method) = rpc.split_once('/')?;
    pool.get_service_by_name(service)?
        .methods()
        .find(|m| m.name() == method)
}

fn rpc_handler(
    pool: &DescriptorPool,
    method: &prost_reflect::MethodDescriptor,
    rpc: &str,
) -> Handler {
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
        id_field: crate::scaffold::called::id_field(&method.input()).map(|f| to_snake(f.name())),
        changes_state: changes_state(pool, method),
        outbox_named: false,
        outbox: false,
        call: None,
        budget_ms: None,
        budget_const: String::new(),
        budget_env: String::new(),
        budget_rust: String::new(),
        budget_from: Vec::new(),
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
        id_field: None,
        changes_state: false,
        outbox_named: false,
        outbox: false,
        call: None,
        budget_ms: None,
        budget_const: String::new(),
        budget_env: String::new(),
        budget_rust: String::new(),
        budget_from: Vec::new(),
    }
}

/// What `grpc.rs` and its tests print besides the services themselves: the
/// calls, the layout of the names array, the imports.
fn grpc_extras(api: &mut ServedApi, services: &BTreeMap<&str, &ProtoService>) {
    api.grpc_calls = api
        .grpc_services
        .iter()
        .flat_map(|g| {
            let proto = services[g.full_name.as_str()];
            g.methods
                .iter()
                .filter(|m| m.handler.is_some())
                .map(move |m| GrpcCall {
                    client: proto.client.clone(),
                    server_trait: format!(
                        "contract::{}::{}::{}",
                        proto.package_path, proto.server_module, proto.trait_name
                    ),
                    server: format!("{}::{}", g.server_module, g.server),
                    service: g.full_name.clone(),
                    method: m.clone(),
                })
        })
        .collect();
    let names: Vec<String> = api
        .grpc_services
        .iter()
        .map(|g| format!("\"{}\"", g.full_name))
        .collect();
    api.grpc_names_one_line = names.join(", ").len() <= 60;
    let mut uses: Vec<String> = api
        .grpc_services
        .iter()
        .flat_map(|g| {
            [
                format!("{}::{}", g.server_module, g.trait_name),
                format!("{}::{}", g.server_module, g.server),
            ]
        })
        .collect();
    uses.sort();
    uses.dedup();
    api.grpc_uses = uses;
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
        let service = &mut out[index];
        if let Some(m) = service.methods.iter_mut().find(|m| m.proto_name == method) {
            m.handler = Some(handlers[*at].module.clone());
            service.streams |= m.server_streaming;
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
        streams: false,
        keyed_methods: Vec::new(),
        methods: proto
            .methods
            .iter()
            .map(|m| GrpcMethod {
                name: m.name.clone(),
                proto_name: m.proto_name.clone(),
                stream_type: m.stream_type.clone(),
                request: m.request.rust.clone(),
                response: m.response.rust.clone(),
                server_streaming: m.server_streaming,
                handler: None,
                one_line: grpc_signature(m).len() <= 100,
                string_field: m.string_field.clone(),
                more_fields: m.request_fields > 1,
                keyed_flow: None,
            })
            .collect(),
    }
}

/// The impl method's signature, as `grpc.rs` prints it on one line.
fn grpc_signature(m: &crate::scaffold::api::RpcMethod) -> String {
    let response = if m.server_streaming {
        format!("BoxStream<{}>", m.response.rust)
    } else {
        m.response.rust.clone()
    };
    format!(
        "    async fn {}(&self, request: Request<{}>) -> Result<Response<{response}>, Status> {{",
        m.name, m.request.rust
    )
}

/// Functions of `rest.rs` a route function must not be named after.
const REST_RESERVED: &[&str] = &[
    "check_id",
    "error_response",
    "guard",
    "healthz",
    "json_error_body",
    "not_found",
    "router",
    "serve",
    "serve_router",
    "service",
    "tests",
    "validate_id",
    "with_layers",
    "within",
];

/// The routes of `method`: its rule and each additional binding.
fn rest_routes(
    pool: &DescriptorPool,
    method: &prost_reflect::MethodDescriptor,
    handler: &Handler,
) -> Vec<RestRoute> {
    let rule: HttpRule = http::route(pool, method);
    let input = method.input();
    let base = handler.file.clone();
    let base = if REST_RESERVED.contains(&base.as_str()) {
        format!("rpc_{base}")
    } else {
        base
    };
    rule.routes()
        .enumerate()
        .map(|(n, r)| {
            let function = if n == 0 {
                base.clone()
            } else {
                format!("{base}_{n}")
            };
            rest_route(r, &input, handler, function)
        })
        .collect()
}

/// A path variable bound to a scalar field of the request, directly
/// (`{book_id}`) or through singular message fields (`{book.book_id}`, as
/// AIP-134's update routes write it).
struct Var {
    /// The fields from the request down to the scalar, outermost first.
    path: Vec<FieldDescriptor>,
    /// The Rust binding of the value: the field names in snake case,
    /// joined by `_` (`book_book_id`).
    binding: String,
}

impl Var {
    /// `name` (`book.book_id`) resolved in `input`; `None` unless every
    /// segment but the last is a singular message field and the last is a
    /// singular scalar that is not bytes.
    fn resolve(input: &MessageDescriptor, name: &str) -> Option<Var> {
        let mut message = input.clone();
        let mut path = Vec::new();
        let segments: Vec<&str> = name.split('.').collect();
        for (i, segment) in segments.iter().enumerate() {
            let field = message.get_field_by_name(segment)?;
            if field.is_list() || field.is_map() {
                return None;
            }
            match field.kind() {
                Kind::Message(inner) if i + 1 < segments.len() => message = inner,
                Kind::Message(_) | Kind::Bytes => return None,
                _ if i + 1 < segments.len() => return None,
                _ => {}
            }
            path.push(field);
        }
        let binding = path
            .iter()
            .map(|f| to_snake(f.name()))
            .collect::<Vec<_>>()
            .join("_");
        Some(Var { path, binding })
    }

    /// The scalar field the value goes to.
    fn field(&self) -> &FieldDescriptor {
        self.path
            .last()
            .expect("a variable names at least one field")
    }

    /// The request's own field it sets (all of it, or inside it).
    fn top(&self) -> &FieldDescriptor {
        &self.path[0]
    }

    fn nested(&self) -> bool {
        self.path.len() > 1
    }

    /// `request.book.get_or_insert_default().book_id = book_book_id;`
    fn set(&self) -> String {
        let mut target = "request".to_owned();
        for (i, field) in self.path.iter().enumerate() {
            let _ = write!(target, ".{}", to_snake(field.name()));
            if i + 1 < self.path.len() {
                target.push_str(".get_or_insert_default()");
            }
        }
        format!("{target} = {};", self.binding)
    }
}

/// How a route fills its request: from which path variables (`None` for
/// one that names no scalar field), body and query.
struct Shape {
    vars: Vec<Option<Var>>,
    /// A body naming a message field fills that field; any other body is
    /// the whole request (`*`).
    body_field: Option<FieldDescriptor>,
    body_all: bool,
    has_body: bool,
    /// The fields neither in the path nor the body come from the query.
    query: bool,
}

impl Shape {
    fn of(r: &HttpRule, input: &MessageDescriptor, names: &[String]) -> Shape {
        let vars: Vec<Option<Var>> = names.iter().map(|n| Var::resolve(input, n)).collect();
        let body_field = match r.body.as_deref() {
            None | Some("" | "*") => None,
            Some(field) => input
                .get_field_by_name(field)
                .filter(|f| matches!(f.kind(), Kind::Message(_)) && !f.is_list() && !f.is_map()),
        };
        let has_body = r.body.as_deref().is_some_and(|b| !b.is_empty());
        let body_all = has_body && body_field.is_none();
        let query = !body_all
            && input.fields().any(|f| {
                !vars
                    .iter()
                    .flatten()
                    .any(|v| v.top().number() == f.number())
                    && body_field.as_ref().is_none_or(|b| b.number() != f.number())
            });
        Shape {
            vars,
            body_field,
            body_all,
            has_body,
            query,
        }
    }

    fn bound(&self) -> Vec<&Var> {
        self.vars.iter().flatten().collect()
    }

    /// The axum handler's parameters.
    fn params(&self) -> Vec<String> {
        let mut params = vec!["State(app): State<App>".to_owned()];
        let binding = |v: &Option<Var>| {
            v.as_ref()
                .map_or_else(|| "_".to_owned(), |v| v.binding.clone())
        };
        match self.vars.as_slice() {
            [] => {}
            [one] => params.push(format!(
                "axum::extract::Path({}): axum::extract::Path<String>",
                binding(one)
            )),
            many => params.push(format!(
                "axum::extract::Path(({})): axum::extract::Path<({})>",
                many.iter().map(binding).collect::<Vec<_>>().join(", "),
                vec!["String"; many.len()].join(", ")
            )),
        }
        if self.query {
            params.push(
                "axum::extract::Query(query): axum::extract::Query<Vec<(String, String)>>"
                    .to_owned(),
            );
        }
        if self.has_body {
            params.push("body: axum::body::Bytes".to_owned());
        }
        params
    }

    /// The statements that check the path variables and build `request`.
    fn prepare(&self, input: &MessageDescriptor, request: &str) -> Vec<String> {
        let bound = self.bound();
        let mut prepare = Vec::new();
        for var in &bound {
            let name = &var.binding;
            if var.field().kind() == Kind::String {
                prepare.push(format!("check_id(&{name})?;"));
            } else {
                prepare.push(format!(
                    "let {name} = runtime::rest::parse(\"{}\", &{name})?;",
                    var.field().name()
                ));
            }
        }
        // The request's own fields first, then a body field, then the
        // variables inside a message (which may be that body field: the
        // path's id wins over the body's, as in google.api.http).
        let (nested, direct): (Vec<&Var>, Vec<&Var>) = bound.iter().partition(|v| v.nested());
        let sets: Vec<String> = direct
            .iter()
            .map(|v| v.set())
            .chain(self.body_field.iter().map(|f| {
                format!(
                    "request.{} = Some(runtime::rest::json_body(&body)?);",
                    to_snake(f.name())
                )
            }))
            .chain(nested.iter().map(|v| v.set()))
            .collect();
        let init = if self.body_all {
            Some(format!("runtime::rest::json_body::<{request}>(&body)?"))
        } else if self.query {
            let bools: std::collections::BTreeSet<String> = input
                .fields()
                .filter(|f| f.kind() == Kind::Bool && !f.is_list())
                .flat_map(|f| {
                    [
                        format!("\"{}\"", f.name()),
                        format!("\"{}\"", f.json_name()),
                    ]
                })
                .collect();
            let bools: Vec<String> = bools.into_iter().collect();
            prepare.push(format!("let bools: &[&str] = &[{}];", bools.join(", ")));
            Some(format!("runtime::rest::query::<{request}>(query, bools)?"))
        } else {
            None
        };
        if let Some(init) = init {
            let mut_ = if sets.is_empty() { "" } else { "mut " };
            prepare.extend(let_lines(
                4,
                &format!("let {mut_}request ="),
                &format!("{init};"),
            ));
            prepare.extend(sets);
            return prepare;
        }
        // Path variables and a body field: a struct literal (clippy refuses
        // setting the fields of a default one by one), then the variables
        // inside a message.
        let fields: Vec<String> = direct
            .iter()
            .map(|v| v.binding.clone())
            .chain(self.body_field.iter().map(|f| {
                format!(
                    "{}: Some(runtime::rest::json_body(&body)?)",
                    to_snake(f.name())
                )
            }))
            .collect();
        let all = input.fields().count() == fields.len();
        let mut_ = if nested.is_empty() { "" } else { "mut " };
        if fields.is_empty() {
            prepare.push(format!("let {mut_}request = {request}::default();"));
        } else if all && nested.is_empty() && fields.join(", ").len() <= 18 {
            prepare.push(format!(
                "let request = {request} {{ {} }};",
                fields.join(", ")
            ));
        } else {
            prepare.push(format!("let {mut_}request = {request} {{"));
            prepare.extend(fields.iter().map(|f| format!("    {f},")));
            if !all {
                prepare.push("    ..Default::default()".to_owned());
            }
            prepare.push("};".to_owned());
        }
        prepare.extend(nested.iter().map(|v| v.set()));
        prepare
    }

    /// The path with sample values, a malformed id at variable `bad`.
    fn sample(&self, template: &str, bad: Option<usize>) -> String {
        let mut at = 0;
        fill_path(template, |_| {
            let value = match (
                self.vars.get(at).and_then(Option::as_ref).map(Var::field),
                bad,
            ) {
                (_, Some(i)) if i == at => "bad$id".to_owned(),
                (Some(f), _) if f.kind() == Kind::Bool => "true".to_owned(),
                _ => "12345".to_owned(),
            };
            at += 1;
            value
        })
    }
}

fn rest_route(
    r: &HttpRule,
    input: &MessageDescriptor,
    handler: &Handler,
    function: String,
) -> RestRoute {
    let (axum_path, names) = axum_path(&r.path);
    let shape = Shape::of(r, input, &names);
    let params = shape.params();
    let signature = format!(
        "async fn {function}({}) -> Result<Response, HandlerError> {{",
        params.join(", ")
    );
    let bad = shape
        .vars
        .iter()
        .position(|v| v.as_ref().is_some_and(|v| v.field().kind() == Kind::String));
    RestRoute {
        verb: r.method.clone(),
        method: match r.method.as_str() {
            "GET" | "POST" | "PUT" | "DELETE" | "PATCH" => r.method.to_ascii_lowercase(),
            _ => "any".to_owned(),
        },
        path: r.path.clone(),
        axum_path,
        handler: handler.module.clone(),
        function,
        kind: handler.kind,
        one_line: signature.len() <= 100,
        params,
        prepare: shape.prepare(input, &handler.request.rust),
        flows: handler.flows.clone(),
        keyed_flow: None,
        sample_path: shape.sample(&r.path, None),
        sample_body: shape.has_body.then(|| "{}".to_owned()),
        sample_body_arg: if shape.has_body {
            "Some(\"{}\")".to_owned()
        } else {
            "None".to_owned()
        },
        bad_path: bad.map(|i| shape.sample(&r.path, Some(i))),
    }
}

/// `/v1/{name=shelves/*}/books/{book.id}` → axum's `/v1/{name}/books/{book.id}`
/// and the variables' field paths. A `{x=a/*}` variable that spans
/// segments becomes a catch-all only at the end (`{*x}`).
pub(crate) fn axum_path(template: &str) -> (String, Vec<String>) {
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

/// `head value` as rustfmt lays a `let` out at `indent`: on one line when it
/// fits in 100 columns, else the value on the next line, indented once more.
/// The lines are relative to `indent` (the template indents them).
fn let_lines(indent: usize, head: &str, value: &str) -> Vec<String> {
    if indent + head.len() + 1 + value.len() <= 100 {
        vec![format!("{head} {value}")]
    } else {
        vec![head.to_owned(), format!("    {value}")]
    }
}

/// The path with each variable replaced by `value(its name)`.
fn fill_path(template: &str, mut value: impl FnMut(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        out.push_str(&value(&rest[start + 1..start + end]));
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
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
    use crate::engine::{RuleSet, recommend};
    use crate::scaffold::api::api;

    /// What `service` serves in the flows `yaml` with the team proto `proto`
    /// (or the derived contract when `None`).
    fn served_by(yaml: &str, proto: Option<&str>, service: &str) -> ServedApi {
        let flows = crate::spec::load_str("flows.yaml", yaml).expect("valid flows");
        let report = recommend(&flows, &RuleSet::builtin().expect("rules"));
        let bound = match proto {
            None => crate::contract::derived(&flows).expect("binds"),
            Some(text) => crate::contract::team(
                &flows,
                crate::contract::compile::InMemory {
                    name: "team.proto".to_owned(),
                    text: text.to_owned(),
                },
                vec!["team.proto".to_owned()],
                &crate::contract::Sources::in_memory(),
            )
            .expect("binds"),
        };
        let api = api(&bound);
        let services = api
            .services
            .iter()
            .map(|s| (s.full_name.as_str(), s))
            .collect();
        let bindings = bound.flows.iter().map(|b| (b.flow.as_str(), b)).collect();
        let recs: Vec<(&Recommendation, &Flow)> = report.flows.iter().zip(&flows.flows).collect();
        let own: Vec<usize> = (0..recs.len()).collect();
        served(service, &own, &recs, &bound, &bindings, &services)
    }

    const SHOP: &str = "version: 1\nsystem: shop\nflows:\n  - name: get-order\n    from: web\n    to: orders\n    client: browser\n  - name: lookup-order\n    from: checkout\n    to: orders\n    transport: grpc\n  - name: order-created\n    from: orders\n    to: shipping\n    interaction: event\n    coupling: loose\n";

    #[test]
    fn one_handler_per_served_rpc_and_per_consumed_event() {
        let orders = served_by(SHOP, None, "orders");
        let modules: Vec<&str> = orders.handlers.iter().map(|h| h.module.as_str()).collect();
        assert_eq!(modules, ["get_order", "lookup_order"]);
        assert_eq!(orders.rest_routes.len(), 1);
        assert_eq!(orders.grpc_services.len(), 1);
        let shipping = served_by(SHOP, None, "shipping");
        assert_eq!(shipping.handlers[0].kind, "event");
        assert_eq!(shipping.handlers[0].module, "order_created");
        assert_eq!(shipping.handlers[0].key, "order_id");
    }

    #[test]
    fn the_example_echoes_the_id_and_answers_created() {
        let orders = served_by(SHOP, None, "orders");
        let example = &orders.handlers[0].example;
        let fields: Vec<(&str, &str)> = example
            .fields
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("order_id", "request.order_id"),
                ("status", "\"CREATED\".to_owned()")
            ]
        );
        assert!(!example.rest_default);
    }

    #[test]
    fn the_default_route_builds_the_request_from_the_path() {
        let orders = served_by(SHOP, None, "orders");
        let route = &orders.rest_routes[0];
        assert_eq!(
            (route.verb.as_str(), route.axum_path.as_str()),
            ("GET", "/orders/{order_id}")
        );
        assert_eq!(
            route.prepare,
            [
                "check_id(&order_id)?;",
                "let request = contract::shop::GetOrderRequest { order_id };"
            ]
        );
        assert_eq!(route.bad_path.as_deref(), Some("/orders/bad$id"));
    }

    #[test]
    fn annotated_routes_read_the_body_and_the_query() {
        let proto = r#"syntax = "proto3";
package team.v1;
import "google/api/annotations.proto";
service Invoices {
  rpc Create(CreateRequest) returns (Invoice) { option (google.api.http) = {post: "/v1/customers/{customer_id}/invoices", body: "*"}; }
  rpc Watch(WatchRequest) returns (stream Invoice) { option (google.api.http) = {get: "/v1/customers/{customer_id}/invoices:watch"}; }
}
message CreateRequest { string customer_id = 1; int64 units = 2; }
message WatchRequest { string customer_id = 1; bool paid_only = 2; }
message Invoice { string invoice_id = 1; string customer_id = 2; }
"#;
        let yaml = "version: 1\nsystem: team\nproto: team.proto\nflows:\n  - name: create\n    from: web\n    to: billing\n    transport: rest\n    rpc: team.v1.Invoices/Create\n  - name: watch\n    from: billing\n    to: web\n    interaction: stream\n    transport: rest\n    rpc: team.v1.Invoices/Watch\n";
        let billing = served_by(yaml, Some(proto), "billing");
        let create = &billing.rest_routes[0];
        assert_eq!(
            create.prepare,
            [
                "check_id(&customer_id)?;",
                "let mut request = runtime::rest::json_body::<contract::team::v1::CreateRequest>(&body)?;",
                "request.customer_id = customer_id;"
            ]
        );
        let watch = &billing.rest_routes[1];
        assert_eq!(watch.kind, "stream");
        assert_eq!(
            watch.axum_path,
            "/v1/customers/{customer_id}/invoices:watch"
        );
        assert!(
            watch
                .prepare
                .contains(&"let bools: &[&str] = &[\"paidOnly\", \"paid_only\"];".to_owned())
        );
        // The stream's item copies the request's customer id, by clone.
        let item = &billing.handlers[1].example.fields[0];
        assert_eq!(item.value_cloned, "request.customer_id.clone()");
    }

    #[test]
    fn a_handler_changes_state_unless_its_route_is_a_get_or_its_name_reads() {
        // Derived contract: GetOrder is `GET`, LookupOrder reads by its name.
        let orders = served_by(SHOP, None, "orders");
        let changes: Vec<(&str, bool)> = orders
            .handlers
            .iter()
            .map(|h| (h.module.as_str(), h.changes_state))
            .collect();
        assert_eq!(changes, [("get_order", false), ("lookup_order", false)]);
        // An annotated `POST` changes state, an annotated `GET` does not,
        // whatever the names; a stream never does.
        let proto = r#"syntax = "proto3";
package team.v1;
import "google/api/annotations.proto";
service Stock {
  rpc Reserve(Item) returns (Item);
  rpc GetLevel(Item) returns (Item) { option (google.api.http) = {post: "/v1/levels:compute", body: "*"}; }
  rpc Refresh(Item) returns (Item) { option (google.api.http) = {get: "/v1/items/{id}"}; }
  rpc Follow(Item) returns (stream Item);
}
message Item { string id = 1; }
"#;
        let flow = |name: &str, rpc: &str| {
            format!(
                "  - name: {name}\n    from: web\n    to: stock\n    transport: grpc\n    rpc: team.v1.Stock/{rpc}\n"
            )
        };
        let yaml = format!(
            "version: 1\nsystem: team\nproto: team.proto\nflows:\n{}{}{}  - name: follow\n    from: stock\n    to: web\n    interaction: stream\n    transport: grpc\n    rpc: team.v1.Stock/Follow\n",
            flow("reserve", "Reserve"),
            flow("level", "GetLevel"),
            flow("refresh", "Refresh"),
        );
        let stock = served_by(&yaml, Some(proto), "stock");
        let changes: Vec<(&str, bool)> = stock
            .handlers
            .iter()
            .map(|h| (h.module.as_str(), h.changes_state))
            .collect();
        assert_eq!(
            changes,
            [
                ("reserve", true),
                ("get_level", true),
                ("refresh", false),
                ("follow", false)
            ]
        );
    }

    #[test]
    fn a_handler_knows_when_the_report_resolves_its_flow_with_the_outbox() {
        // A waiting caller whose flow must be replayed: the report resolves
        // it with REST at the edge plus a transactional outbox.
        let yaml = "version: 1\nsystem: shop\nflows:\n  - name: place-order\n    from: web\n    to: orders\n    client: browser\n    replay: true\n    transport: rest\n";
        let orders = served_by(yaml, None, "orders");
        assert!(orders.handlers[0].outbox_named);
        let plain = served_by(SHOP, None, "orders");
        assert!(plain.handlers.iter().all(|h| !h.outbox_named));
    }

    #[test]
    fn handler_modules_get_their_service_on_a_clash() {
        let proto = r#"syntax = "proto3";
package two;
service A { rpc Get(R) returns (R); }
service B { rpc Get(R) returns (R); }
message R { string id = 1; }
"#;
        let yaml = "version: 1\nsystem: two\nproto: team.proto\nflows:\n  - name: get-a\n    from: web\n    to: svc\n    transport: grpc\n    rpc: two.A/Get\n  - name: get-b\n    from: web\n    to: svc\n    transport: grpc\n    rpc: two.B/Get\n";
        let svc = served_by(yaml, Some(proto), "svc");
        let modules: Vec<&str> = svc.handlers.iter().map(|h| h.module.as_str()).collect();
        assert_eq!(modules, ["a_get", "b_get"]);
        assert_eq!(svc.grpc_services.len(), 2);
    }

    #[test]
    fn a_path_variable_inside_the_body_message_is_set_after_the_body() {
        // AIP-134's update: the id in the path wins over the body's.
        let proto = "syntax = \"proto3\";\npackage lib.v1;\nimport \"google/api/annotations.proto\";\n\
            service BookService {\n  rpc UpdateBook(UpdateBookRequest) returns (Book) {\n    \
            option (google.api.http) = {patch: \"/v1/books/{book.book_id}\", body: \"book\"};\n  }\n  \
            rpc GetBook(GetBookRequest) returns (Book) {\n    \
            option (google.api.http) = {get: \"/v1/shelves/{shelf_id}/books/{book.book_id}\"};\n  }\n}\n\
            message Book { string book_id = 1; string title = 2; }\n\
            message UpdateBookRequest { Book book = 1; }\n\
            message GetBookRequest { string shelf_id = 1; Book book = 2; }\n";
        let yaml = "version: 1\nsystem: lib\nproto: team.proto\nflows:\n  - name: update-book\n    from: web\n    to: books\n    client: browser\n    rpc: lib.v1.BookService/UpdateBook\n  - name: get-book\n    from: web\n    to: books\n    client: browser\n    rpc: lib.v1.BookService/GetBook\n";
        let books = served_by(yaml, Some(proto), "books");
        let update = &books.rest_routes[0];
        assert_eq!(update.axum_path, "/v1/books/{book.book_id}");
        assert!(
            update
                .params
                .iter()
                .any(|p| p.starts_with("axum::extract::Path(book_book_id)"))
        );
        assert_eq!(
            update.prepare,
            [
                "check_id(&book_book_id)?;",
                "let mut request = contract::lib::v1::UpdateBookRequest {",
                "    book: Some(runtime::rest::json_body(&body)?),",
                "};",
                "request.book.get_or_insert_default().book_id = book_book_id;",
            ]
        );
        let get = &books.rest_routes[1];
        assert_eq!(
            get.prepare,
            [
                "check_id(&shelf_id)?;",
                "check_id(&book_book_id)?;",
                "let mut request = contract::lib::v1::GetBookRequest {",
                "    shelf_id,",
                "    ..Default::default()",
                "};",
                "request.book.get_or_insert_default().book_id = book_book_id;",
            ]
        );
        assert_eq!(get.sample_path, "/v1/shelves/12345/books/12345");
    }

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
            fill_path("/v1/invoices/{invoice_id}", |_| "12345".to_owned()),
            "/v1/invoices/12345"
        );
    }
}
