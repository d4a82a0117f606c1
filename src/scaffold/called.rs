//! What one service calls, from the bound contract (SPEC §7): for each flow
//! it calls and each service it calls it on, the rpc's Rust names and HTTP
//! route as the client templates print them. The callers' side of
//! [`crate::scaffold::served`]: the route is the one that module serves,
//! [`http::route`]'s, so a client and its server cannot disagree.

use std::collections::BTreeMap;

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor};
use serde::Serialize;

use crate::contract::http;
use crate::contract::{Binding, FlowBinding};
use crate::scaffold::api::{ProtoService, SAMPLE_ID, to_snake};
use crate::scaffold::served::axum_path;

/// An rpc as its callers see it: Rust names of its client method and types,
/// and its HTTP route.
#[derive(Debug, Clone, Serialize)]
pub struct RpcCall {
    /// `orders.OrderService/GetOrder`.
    pub full_name: String,
    /// The method of the target's client: `get_order`.
    pub method: String,
    /// The constant holding its route: `GET_ORDER_ROUTE`.
    pub route_const: String,
    /// Rust path of the request type: `contract::orders::OrderRequest`.
    pub request: String,
    /// Rust path of the response (a stream's item) type.
    pub response: String,
    /// A server-streaming rpc.
    pub streaming: bool,
    /// Rust path of the tonic client stub:
    /// `contract::orders::order_service_client::OrderServiceClient`.
    pub grpc_client: String,
    /// The route REST callers use.
    pub route: RouteContext,
    /// The request's string id field (`id` or `…_id`, its Rust name), which
    /// `call <flow> <id>` fills; `None` when it has none (then only JSON is
    /// accepted).
    pub id_field: Option<String>,
    /// Whether the request has other fields (left at their default).
    pub request_has_more: bool,
    /// The response's first singular string field (its Rust name), which
    /// the client tests fill to test the size limit.
    pub response_string_field: Option<String>,
    /// Whether the response has other fields.
    pub response_has_more: bool,
    /// The proto service, every method with its Rust names: the client
    /// tests' stub servers implement it.
    pub service: ProtoService,
    /// Its server trait: `contract::shop::books_server::Books`.
    pub server_trait: String,
}

/// An HTTP route for `runtime::http_client::Route`.
#[derive(Debug, Clone, Serialize)]
pub struct RouteContext {
    pub method: String,
    /// GET, PUT, DELETE…: the client retries failures that may have been
    /// handled (a 503, a missed deadline) only for these.
    pub idempotent: bool,
    /// The path template: `/orders/{order_id}`.
    pub path: String,
    pub vars: Vec<PathVarContext>,
    /// A `runtime::http_client::Body` expression: `Body::None`.
    pub body: String,
    /// The path a request with the sample id in its id field is sent to,
    /// when every variable has a value then (the client tests check it).
    pub sample_path: Option<String>,
}

/// A path variable of a route.
#[derive(Debug, Clone, Serialize)]
pub struct PathVarContext {
    /// As written in the template: `order_id`, `book.id`.
    pub field: String,
    /// With JSON names: `orderId`, `book.id`.
    pub json: String,
    /// What the field's default renders as: `""` or `0`.
    pub default: String,
    /// The value sample requests give a top-level string field other than
    /// the id ([`SAMPLE_ID`]): its default, empty, would leave the path
    /// without a segment, which the client refuses.
    pub sample: Option<String>,
}

/// The bound contract as callers look rpcs up.
pub struct Callees<'a> {
    pub pool: &'a DescriptorPool,
    pub bindings: &'a BTreeMap<&'a str, &'a FlowBinding>,
    pub services: &'a BTreeMap<&'a str, &'a ProtoService>,
}

impl Callees<'_> {
    /// The rpc `target` serves `flow` with, if the flow binds one.
    pub fn rpc(&self, flow: &str, target: &str) -> Option<RpcCall> {
        let Binding::Rpc { served } = &self.bindings.get(flow)?.binding else {
            return None;
        };
        let rpc = &served.iter().find(|s| s.service == target)?.rpc;
        let (service, method) = rpc.split_once('/')?;
        let proto = self.services.get(service)?;
        let names = proto.methods.iter().find(|m| m.proto_name == method)?;
        let descriptor = self
            .pool
            .get_service_by_name(service)?
            .methods()
            .find(|m| m.name() == method)?;
        let input = descriptor.input();
        let route = route(self.pool, &descriptor);
        Some(RpcCall {
            full_name: rpc.clone(),
            route_const: format!(
                "{}_ROUTE",
                names.name.trim_start_matches("r#").to_ascii_uppercase()
            ),
            method: names.name.clone(),
            request: names.request.rust.clone(),
            response: names.response.rust.clone(),
            streaming: names.server_streaming,
            grpc_client: proto.client.clone(),
            id_field: id_field(&input).map(|f| to_snake(f.name())),
            // Fields the sample request leaves at their default: besides the
            // id, and the path variables it fills.
            request_has_more: input.fields().count()
                > 1 + route.vars.iter().filter(|v| v.sample.is_some()).count(),
            route,
            response_string_field: descriptor
                .output()
                .fields()
                .find(|f| !f.is_list() && matches!(f.kind(), Kind::String))
                .map(|f| to_snake(f.name())),
            response_has_more: descriptor.output().fields().count() > 1,
            server_trait: format!(
                "contract::{}::{}::{}",
                proto.package_path, proto.server_module, proto.trait_name
            ),
            service: (*proto).clone(),
        })
    }
}

/// The method's primary route (`http::route`: its annotation, or SPEC §7's
/// default).
fn route(pool: &DescriptorPool, method: &MethodDescriptor) -> RouteContext {
    let rule = http::route(pool, method);
    let input = method.input();
    let id = id_field(&input).map(|f| f.name().to_owned());
    let (_, names) = axum_path(&rule.path);
    let vars: Vec<PathVarContext> = names
        .iter()
        .map(|name| {
            let (json, last) = json_path(&input, name);
            let text = last
                .as_ref()
                .is_some_and(|f| !f.is_list() && !f.is_map() && matches!(f.kind(), Kind::String));
            PathVarContext {
                field: name.clone(),
                json: json.unwrap_or_else(|| name.clone()),
                default: last.map_or_else(String::new, |f| default_text(&f)),
                sample: (text && !name.contains('.') && Some(name) != id.as_ref())
                    .then(|| SAMPLE_ID.to_owned()),
            }
        })
        .collect();
    let body = match rule.body.as_deref() {
        None | Some("") => "Body::None".to_owned(),
        Some("*") => "Body::All".to_owned(),
        Some(field) => {
            let json = input
                .get_field_by_name(field)
                .map_or_else(|| field.to_owned(), |f| f.json_name().to_owned());
            format!("Body::Field(\"{json}\")")
        }
    };
    let sample_path = sample_path(&rule.path, id.as_deref(), &vars);
    RouteContext {
        sample_path,
        idempotent: matches!(
            rule.method.as_str(),
            "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS"
        ),
        method: rule.method,
        path: rule.path,
        vars,
        body,
    }
}

/// `path` with the id variable set to [`SAMPLE_ID`] and the others to their
/// default, or `None` when one of those is empty (the client refuses it).
fn sample_path(path: &str, id: Option<&str>, vars: &[PathVarContext]) -> Option<String> {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = open + rest[open..].find('}')?;
        let inner = &rest[open + 1..close];
        let name = inner.split_once('=').map_or(inner, |(name, _)| name);
        let value = if Some(name) == id {
            SAMPLE_ID
        } else {
            let var = vars.iter().find(|v| v.field == name)?;
            var.sample.as_deref().unwrap_or(&var.default)
        };
        if value.is_empty() {
            return None;
        }
        out.push_str(value);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// The JSON path of a dotted field path (`book.id` → `book.id` with each
/// segment's JSON name), and the field it ends at.
fn json_path(message: &MessageDescriptor, path: &str) -> (Option<String>, Option<FieldDescriptor>) {
    let mut message = message.clone();
    let mut json = Vec::new();
    let mut last = None;
    for segment in path.split('.') {
        let Some(field) = message.get_field_by_name(segment) else {
            return (None, None);
        };
        json.push(field.json_name().to_owned());
        if let Kind::Message(inner) = field.kind() {
            message = inner;
        }
        last = Some(field);
    }
    (Some(json.join(".")), last)
}

/// How proto3 JSON would write the field's default, which it leaves out.
fn default_text(field: &FieldDescriptor) -> String {
    match field.kind() {
        Kind::Bool => "false".to_owned(),
        Kind::String | Kind::Bytes | Kind::Message(_) => String::new(),
        Kind::Enum(e) => e.default_value().name().to_owned(),
        _ => "0".to_owned(),
    }
}

/// The request field `call <flow> <id>` fills: the first singular string
/// field named `id` or ending in `_id`.
pub(crate) fn id_field(request: &MessageDescriptor) -> Option<FieldDescriptor> {
    request.fields().find(|f| {
        !f.is_list()
            && !f.is_map()
            && matches!(f.kind(), Kind::String)
            && (f.name() == "id" || f.name().ends_with("_id"))
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use protox::file::ChainFileResolver;

    use super::*;
    use crate::contract::Served;
    use crate::contract::compile::{InMemory, builtin, compile};
    use crate::scaffold::api::{Api, api};

    const PROTO: &str = r#"syntax = "proto3";
package shop.v1;
import "google/api/annotations.proto";
service Books {
  rpc GetBook(GetBookRequest) returns (Book) {
    option (google.api.http) = {get: "/v1/shelves/{shelf}/books/{book_id}"};
  }
  rpc UpdateBook(UpdateBookRequest) returns (Book) {
    option (google.api.http) = {patch: "/v1/{book.name=shelves/*/books/*}", body: "book"};
  }
  rpc Follow(Book) returns (stream Book);
}
message GetBookRequest { int64 shelf = 1; string book_id = 2; bool full = 3; }
message Book { string name = 1; string title = 2; }
message UpdateBookRequest { Book book = 1; bool force = 2; }
"#;

    fn pool() -> DescriptorPool {
        let mut chain = ChainFileResolver::new();
        chain.add(InMemory {
            name: "a.proto".to_owned(),
            text: PROTO.to_owned(),
        });
        chain.add(builtin());
        compile(chain, &["a.proto".to_owned()], &|n| n.to_owned()).expect("compiles")
    }

    fn binding(flow: &str, rpc: &str) -> FlowBinding {
        FlowBinding {
            flow: flow.to_owned(),
            interaction: crate::spec::model::Interaction::RequestResponse,
            binding: Binding::Rpc {
                served: vec![Served {
                    service: "books".to_owned(),
                    rpc: rpc.to_owned(),
                    http: None,
                }],
            },
        }
    }

    /// Looks `rpc` up as the rpc `books` serves flow `f` with.
    fn call(rpc: &str) -> RpcCall {
        let pool = pool();
        let bound = crate::contract::BoundContract {
            origin: crate::contract::Origin::Team,
            files: vec!["a.proto".to_owned()],
            text: None,
            pool: pool.clone(),
            flows: vec![binding("f", rpc)],
        };
        let api: Api = api(&bound);
        let services: BTreeMap<&str, &ProtoService> = api
            .services
            .iter()
            .map(|s| (s.full_name.as_str(), s))
            .collect();
        let bindings: BTreeMap<&str, &FlowBinding> =
            bound.flows.iter().map(|b| (b.flow.as_str(), b)).collect();
        let callees = Callees {
            pool: &pool,
            bindings: &bindings,
            services: &services,
        };
        assert!(callees.rpc("f", "elsewhere").is_none(), "not served there");
        callees.rpc("f", "books").expect("bound")
    }

    #[test]
    fn path_variables_name_their_json_fields_and_defaults() {
        let get = call("shop.v1.Books/GetBook");
        assert_eq!(get.method, "get_book");
        assert_eq!(get.route_const, "GET_BOOK_ROUTE");
        assert_eq!(get.request, "contract::shop::v1::GetBookRequest");
        assert_eq!(get.route.method, "GET");
        assert!(get.route.idempotent);
        assert_eq!(get.route.body, "Body::None");
        let vars: Vec<(&str, &str, &str)> = get
            .route
            .vars
            .iter()
            .map(|v| (v.field.as_str(), v.json.as_str(), v.default.as_str()))
            .collect();
        assert_eq!(vars, [("shelf", "shelf", "0"), ("book_id", "bookId", "")]);
        assert_eq!(get.id_field.as_deref(), Some("book_id"));
        assert_eq!(
            get.route.sample_path.as_deref(),
            Some("/v1/shelves/0/books/12345")
        );
        assert!(get.request_has_more);
        assert!(!get.streaming);
    }

    #[test]
    fn a_field_body_and_a_nested_variable_follow_the_annotation() {
        let update = call("shop.v1.Books/UpdateBook");
        assert_eq!(update.route.method, "PATCH");
        assert!(!update.route.idempotent);
        assert_eq!(update.route.body, "Body::Field(\"book\")");
        assert_eq!(update.route.vars[0].field, "book.name");
        assert_eq!(update.route.vars[0].json, "book.name");
        assert_eq!(update.id_field, None, "no string id field");
        assert_eq!(update.route.sample_path, None, "book.name would be empty");
    }

    #[test]
    fn an_unannotated_rpc_takes_the_default_route_and_may_stream() {
        let follow = call("shop.v1.Books/Follow");
        assert!(follow.streaming);
        assert_eq!(follow.route.method, "POST");
        assert_eq!(follow.route.path, "/shop.v1.Books/Follow");
        assert_eq!(follow.route.body, "Body::All");
        assert!(follow.route.vars.is_empty());
        assert_eq!(
            follow.route.sample_path.as_deref(),
            Some("/shop.v1.Books/Follow")
        );
        assert_eq!(
            follow.grpc_client,
            "contract::shop::v1::books_client::BooksClient"
        );
    }
}
