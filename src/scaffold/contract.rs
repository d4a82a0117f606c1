//! The protobuf contract the generated workspace is built around.
//!
//! The `.proto` text is compiled in memory with protox (no `protoc`), and
//! prost-build's own code generator names the services, methods and types,
//! so the templates use exactly the Rust names that the workspace's
//! `build.rs` will produce. Templates never hard-code a name from the proto.

use std::cell::RefCell;
use std::rc::Rc;

use prost_reflect::{DescriptorPool, Kind};
use serde::Serialize;

use crate::contract::{Binding, BoundContract, Origin};

use crate::error::Diagnostic;

/// The seed article's order.proto (docs/scaffold.md).
pub const ORDER_PROTO: &str = r#"syntax = "proto3";
package orders;
service OrderService {
  rpc GetOrder (OrderRequest) returns (OrderResponse);
}
message OrderRequest { string order_id = 1; }
message OrderResponse { string order_id = 1; string status = 2; }
"#;

/// What templates need to know about the contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contract {
    /// The file name under `proto/`.
    pub file: String,
    /// The proto package, which is also the generated Rust module.
    pub package: String,
    /// The one service the workspace serves (the first in the file).
    pub service: Service,
    /// The unary method REST, gRPC and Kafka are built around (the first).
    pub method: Method,
    pub request: Message,
    pub response: Message,
    /// The request's single string field: the resource id (`order_id`).
    pub id_field: Field,
    /// The response's other string field, set to `"CREATED"` by the handler
    /// (`status`), if any.
    pub status_field: Option<Field>,
    /// The resource name for REST routes: `GetOrder` → `orders`.
    pub resource: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    /// As written in the proto: `OrderService`.
    pub proto_name: String,
    /// Rust name: `OrderService`.
    pub name: String,
    /// The generated server and client modules: `order_service_server`.
    pub module: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Method {
    /// As written: `GetOrder`.
    pub proto_name: String,
    /// Rust name: `get_order`.
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// As written: `OrderResponse`.
    pub proto_name: String,
    /// The Rust type: `OrderResponse`.
    pub name: String,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    /// As written and as the Rust field: `order_id`.
    pub name: String,
    /// The proto3 JSON name: `orderId`.
    pub json_name: String,
    pub number: u32,
    /// `string`, `int64`, `message`, …
    pub kind: String,
}

/// Resolves the single in-memory contract file.
struct Source {
    name: String,
    text: String,
}

impl protox::file::FileResolver for Source {
    fn open_file(&self, name: &str) -> Result<protox::file::File, protox::Error> {
        if name == self.name {
            protox::file::File::from_source(name, &self.text)
        } else {
            Err(protox::Error::file_not_found(name))
        }
    }
}

/// Captures what prost-build's generator sees, instead of writing code.
struct Capture(Rc<RefCell<Vec<prost_build::Service>>>);

impl prost_build::ServiceGenerator for Capture {
    fn generate(&mut self, service: prost_build::Service, _buf: &mut String) {
        self.0.borrow_mut().push(service);
    }
}

/// Compiles and checks a contract, and derives the names templates use.
pub fn load(file: &str, text: &str) -> Result<Contract, Diagnostic> {
    let fail = |message: String| Diagnostic::new(message, file.to_owned());
    let mut compiler = protox::Compiler::with_file_resolver(Source {
        name: file.to_owned(),
        text: text.to_owned(),
    });
    compiler.include_imports(true);
    compiler
        .open_file(file)
        .map_err(|e| fail(format!("the contract does not compile: {e}")))?;
    let pool: DescriptorPool = compiler.descriptor_pool();
    let fds = compiler.file_descriptor_set();
    let descriptor = pool
        .get_file_by_name(file)
        .ok_or_else(|| fail("the contract file is missing after compiling".to_owned()))?;
    let package = descriptor.package_name().to_owned();
    if package.is_empty() {
        return Err(fail("the contract has no `package`".to_owned())
            .note("add `package orders;` or similar"));
    }

    let service = descriptor.services().next().ok_or_else(|| {
        fail("the contract defines no service".to_owned())
            .note("add a `service` with at least one rpc")
    })?;
    let method = service
        .methods()
        .find(|m| !m.is_client_streaming() && !m.is_server_streaming())
        .ok_or_else(|| fail(format!("service `{}` has no unary rpc", service.name())))?;
    let request = message(&method.input());
    let response = message(&method.output());
    let strings = |m: &Message| {
        m.fields
            .iter()
            .filter(|f| f.kind == "string")
            .cloned()
            .collect::<Vec<_>>()
    };
    let id_field = strings(&request).into_iter().next().ok_or_else(|| {
        fail(format!(
            "`{}` needs a string field holding the resource id",
            request.proto_name
        ))
    })?;
    if !response.fields.iter().any(|f| f.name == id_field.name) {
        return Err(fail(format!(
            "`{}` must echo the id field `{}` of `{}`",
            response.proto_name, id_field.name, request.proto_name
        )));
    }
    let status_field = strings(&response)
        .into_iter()
        .find(|f| f.name != id_field.name);

    let (service_name, method_name) =
        rust_names(fds, service.name(), method.name(), [&request, &response]).map_err(fail)?;

    let resource = crate::contract::http::resource_name(method.name(), &request.proto_name);
    Ok(Contract {
        file: file.to_owned(),
        package,
        service: Service {
            proto_name: service.name().to_owned(),
            module: format!("{}_server", snake(&service_name)),
            name: service_name,
        },
        method: Method {
            proto_name: method.name().to_owned(),
            name: method_name,
        },
        request,
        response,
        id_field,
        status_field,
        resource,
    })
}

/// Asks prost-build how it names what the workspace's `build.rs` will
/// generate: the service's and method's Rust names, after checking that the
/// messages come out under the names the templates use.
fn rust_names(
    fds: prost_types::FileDescriptorSet,
    service: &str,
    method: &str,
    messages: [&Message; 2],
) -> Result<(String, String), String> {
    let captured = Rc::new(RefCell::new(Vec::new()));
    let mut config = prost_build::Config::new();
    config.service_generator(Box::new(Capture(Rc::clone(&captured))));
    let requests = fds
        .file
        .into_iter()
        .map(|f| {
            (
                prost_build::Module::from_protobuf_package_name(f.package()),
                f,
            )
        })
        .collect();
    let modules = config
        .generate(requests)
        .map_err(|e| format!("prost cannot generate Rust for the contract: {e}"))?;
    let generated: String = modules.into_values().collect();
    let services = captured.borrow();
    let generated_service = services
        .iter()
        .find(|s| s.proto_name == service)
        .ok_or_else(|| format!("prost generated no service `{service}`"))?;
    let generated_method = generated_service
        .methods
        .iter()
        .find(|m| m.proto_name == method)
        .ok_or_else(|| format!("prost generated no method `{method}`"))?;
    for m in messages {
        if !generated.contains(&format!("pub struct {} {{", m.name)) {
            return Err(format!(
                "prost names message `{}` differently than expected",
                m.proto_name
            ));
        }
    }
    Ok((
        generated_service.name.clone(),
        generated_method.name.clone(),
    ))
}

fn message(m: &prost_reflect::MessageDescriptor) -> Message {
    Message {
        proto_name: m.name().to_owned(),
        name: pascal(m.name()),
        fields: m
            .fields()
            .map(|f| Field {
                name: f.name().to_owned(),
                json_name: f.json_name().to_owned(),
                number: f.number(),
                kind: kind(&f.kind()).to_owned(),
            })
            .collect(),
    }
}

fn kind(k: &Kind) -> &'static str {
    match k {
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

fn split_words(s: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for c in s.chars() {
        if c.is_uppercase() || words.is_empty() || c == '_' {
            words.push(String::new());
        }
        if c != '_'
            && let Some(w) = words.last_mut()
        {
            w.push(c);
        }
    }
    words.retain(|w| !w.is_empty());
    words
}

/// `order-events`, `OrderService` → `order_events`, `order_service`.
pub fn snake(s: &str) -> String {
    split_words(&s.replace('-', "_"))
        .iter()
        .map(|w| w.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join("_")
}

/// `order-events`, `order_request` → `OrderEvents`, `OrderRequest`.
pub fn pascal(s: &str) -> String {
    split_words(&s.replace('-', "_"))
        .iter()
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase())
                .unwrap_or_default()
        })
        .collect()
}

// ---------------------------------------------------------------------
// The bound contract (SPEC §7) as the templates name it.
// ---------------------------------------------------------------------

/// The bound contract with the Rust name of everything the workspace uses,
/// exactly as prost and tonic-prost-build will generate them in the
/// workspace's `contract` crate: prost turns a package into nested snake
/// case modules, a message into `UpperCamel`, a field or method into
/// `snake_case`, each escaped like a Rust keyword ([`sanitize`]); tonic
/// names a service's modules `<naive_snake>_server` / `_client`.
#[derive(Debug, Clone, Serialize)]
pub struct Api {
    pub origin: Origin,
    /// Every .proto file `build.rs` compiles, relative to `proto/`.
    pub files: Vec<String>,
    /// The `pub mod` tree of `contract/src/lib.rs`, one line each.
    pub modules: Vec<ModuleLine>,
    /// The proto packages generated, for `pbjson-build` (`.shop`).
    pub packages: Vec<String>,
    /// Whether a message uses a well-known type (`pbjson-types`).
    pub uses_wkt: bool,
    /// Every proto service a flow binds to, by full name.
    pub services: Vec<ProtoService>,
}

/// One line of the module tree: `pub mod billing {`, an `include!`, `}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleLine {
    /// Four spaces per level.
    pub indent: String,
    /// `open` (a `pub mod`), `include` (a package's generated code), `close`.
    pub kind: &'static str,
    /// The module name to open, or the package whose files to include.
    pub name: String,
}

/// A message, an rpc's request or response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeRef {
    /// `shop.GetOrderRequest`.
    pub full_name: String,
    /// The absolute Rust path: `contract::shop::GetOrderRequest`.
    pub rust: String,
}

/// A proto service and its methods, with tonic's names.
#[derive(Debug, Clone, Serialize)]
pub struct ProtoService {
    /// `shop.OrdersService`: what gRPC, health and reflection call it.
    pub full_name: String,
    pub proto_name: String,
    /// The package module path inside `contract`: `shop`, `billing::v1`.
    pub package_path: String,
    /// The server trait: `OrdersService`.
    pub trait_name: String,
    /// `orders_service_server`, `orders_service_client`.
    pub server_module: String,
    pub client_module: String,
    /// `contract::shop::orders_service_server::OrdersServiceServer`.
    pub server: String,
    /// `contract::shop::orders_service_client::OrdersServiceClient`.
    pub client: String,
    /// Its snake-case name, the prefix of a handler module on a clash.
    pub snake: String,
    /// Every method, bound or not: a tonic server implements them all.
    pub methods: Vec<RpcMethod>,
}

/// One rpc of a proto service.
#[derive(Debug, Clone, Serialize)]
pub struct RpcMethod {
    /// `GetOrder`.
    pub proto_name: String,
    /// `shop.OrdersService/GetOrder`.
    pub full_name: String,
    /// The Rust method: `get_order`.
    pub name: String,
    /// The server-streaming associated type: `GetOrderStream`.
    pub stream_type: String,
    pub request: TypeRef,
    pub response: TypeRef,
    pub client_streaming: bool,
    pub server_streaming: bool,
}

/// The Rust names of `bound` and of every proto service its flows bind to.
pub fn api(bound: &BoundContract) -> Api {
    let pool = &bound.pool;
    let mut files: Vec<String> = pool
        .files()
        .filter(|f| !is_builtin_file(f.name()))
        .map(|f| f.name().to_owned())
        .collect();
    files.sort();
    let mut packages: Vec<String> = pool
        .files()
        .filter(|f| !f.package_name().starts_with("google."))
        .map(|f| f.package_name().to_owned())
        .collect();
    packages.sort();
    packages.dedup();
    let uses_wkt = pool
        .all_messages()
        .filter(|m| !m.full_name().starts_with("google."))
        .flat_map(|m| m.fields().collect::<Vec<_>>())
        .any(|f| matches!(f.kind(), Kind::Message(m) if m.full_name().starts_with("google.protobuf.")));
    let mut services: Vec<ProtoService> = Vec::new();
    for flow in &bound.flows {
        if let Binding::Rpc { served } = &flow.binding {
            for s in served {
                let (service, _) = s.rpc.split_once('/').unwrap_or((&s.rpc, ""));
                if services.iter().any(|p| p.full_name == service) {
                    continue;
                }
                if let Some(descriptor) = pool.get_service_by_name(service) {
                    services.push(proto_service(&descriptor));
                }
            }
        }
    }
    services.sort_by(|a, b| a.full_name.cmp(&b.full_name));
    Api {
        origin: bound.origin,
        files,
        modules: module_lines(&packages),
        packages: packages.iter().map(|p| format!(".{p}")).collect(),
        uses_wkt,
        services,
    }
}

impl Api {
    /// Adds the seed's `order.proto` (package `orders`) beside a contract
    /// that is not the seed. Transitional: see `Context::legacy_proto`.
    pub fn with_legacy_seed(&mut self) {
        if !self.files.iter().any(|f| f == "order.proto") {
            self.files.push("order.proto".to_owned());
            self.files.sort();
        }
        let mut packages: Vec<String> = self
            .packages
            .iter()
            .map(|p| p.trim_start_matches('.').to_owned())
            .chain(["orders".to_owned()])
            .collect();
        packages.sort();
        packages.dedup();
        self.modules = module_lines(&packages);
        self.packages = packages.iter().map(|p| format!(".{p}")).collect();
    }
}

/// Imports every contract gets without a file of its own (SPEC §7). The
/// googleapis files are still written to `proto/` when a file imports them,
/// since the workspace's protox has only the well-known types built in.
fn is_builtin_file(name: &str) -> bool {
    name.starts_with("google/protobuf/")
}

/// The `pub mod` tree for `packages` (sorted): `billing.v1` and `billing`
/// share one `pub mod billing`.
fn module_lines(packages: &[String]) -> Vec<ModuleLine> {
    let mut lines = Vec::new();
    let mut open: Vec<String> = Vec::new();
    for package in packages {
        let parts: Vec<String> = if package.is_empty() {
            Vec::new()
        } else {
            package.split('.').map(to_snake).collect()
        };
        let common = open.iter().zip(&parts).take_while(|(a, b)| a == b).count();
        while open.len() > common {
            open.pop();
            lines.push(ModuleLine {
                indent: "    ".repeat(open.len()),
                kind: "close",
                name: String::new(),
            });
        }
        for part in &parts[common..] {
            lines.push(ModuleLine {
                indent: "    ".repeat(open.len()),
                kind: "open",
                name: part.clone(),
            });
            open.push(part.clone());
        }
        lines.push(ModuleLine {
            indent: "    ".repeat(open.len()),
            kind: "include",
            name: package.clone(),
        });
    }
    while !open.is_empty() {
        open.pop();
        lines.push(ModuleLine {
            indent: "    ".repeat(open.len()),
            kind: "close",
            name: String::new(),
        });
    }
    lines
}

fn proto_service(s: &prost_reflect::ServiceDescriptor) -> ProtoService {
    let package_path = package_path(s.package_name());
    let trait_name = to_upper_camel(s.name());
    let server_module = format!("{}_server", naive_snake_case(&trait_name));
    let client_module = format!("{}_client", naive_snake_case(&trait_name));
    ProtoService {
        full_name: s.full_name().to_owned(),
        proto_name: s.name().to_owned(),
        server: format!("contract::{package_path}::{server_module}::{trait_name}Server"),
        client: format!("contract::{package_path}::{client_module}::{trait_name}Client"),
        snake: to_snake(s.name()),
        package_path,
        methods: s
            .methods()
            .map(|m| RpcMethod {
                proto_name: m.name().to_owned(),
                full_name: format!("{}/{}", s.full_name(), m.name()),
                name: to_snake(m.name()),
                stream_type: format!("{}Stream", m.name()),
                request: type_ref(&m.input()),
                response: type_ref(&m.output()),
                client_streaming: m.is_client_streaming(),
                server_streaming: m.is_server_streaming(),
            })
            .collect(),
        trait_name,
        server_module,
        client_module,
    }
}

/// `billing.v1` → `billing::v1`, as prost nests packages.
pub fn package_path(package: &str) -> String {
    package
        .split('.')
        .filter(|p| !p.is_empty())
        .map(to_snake)
        .collect::<Vec<_>>()
        .join("::")
}

/// A message's absolute Rust path in the workspace: `contract::shop::Order`,
/// a nested one `contract::shop::order::Line`, a well-known type
/// `contract::pbjson_types::Timestamp` (the contract crate maps
/// `google.protobuf` there and re-exports it).
pub fn type_ref(m: &prost_reflect::MessageDescriptor) -> TypeRef {
    TypeRef {
        full_name: m.full_name().to_owned(),
        rust: format!("contract::{}", rust_path(m)),
    }
}

/// The path of `m` inside the `contract` crate.
pub fn rust_path(m: &prost_reflect::MessageDescriptor) -> String {
    let package = m.package_name();
    // Parents of a nested message, outermost first.
    let mut parents = Vec::new();
    let mut at = m.parent_message();
    while let Some(parent) = at {
        parents.push(to_snake(parent.name()));
        at = parent.parent_message();
    }
    parents.reverse();
    let module = if package == "google.protobuf" {
        "pbjson_types".to_owned()
    } else {
        package_path(package)
    };
    let mut parts: Vec<String> = Vec::new();
    if !module.is_empty() {
        parts.push(module);
    }
    parts.extend(parents);
    parts.push(to_upper_camel(m.name()));
    parts.join("::")
}

/// prost's field and method names: `snake_case`, keyword-escaped.
pub fn to_snake(s: &str) -> String {
    sanitize(&heck::ToSnakeCase::to_snake_case(s))
}

/// prost's type names: `UpperCamel`, keyword-escaped.
pub fn to_upper_camel(s: &str) -> String {
    sanitize(&heck::ToUpperCamelCase::to_upper_camel_case(s))
}

/// prost-build's `sanitize_identifier` (src/ident.rs): a Rust keyword
/// becomes a raw identifier, or gets a `_` where raw is not allowed.
fn sanitize(ident: &str) -> String {
    match ident {
        "as" | "break" | "const" | "continue" | "else" | "enum" | "false" | "fn" | "for" | "if"
        | "impl" | "in" | "let" | "loop" | "match" | "mod" | "move" | "mut" | "pub" | "ref"
        | "return" | "static" | "struct" | "trait" | "true" | "type" | "unsafe" | "use"
        | "where" | "while" | "dyn" | "abstract" | "become" | "box" | "do" | "final" | "macro"
        | "override" | "priv" | "typeof" | "unsized" | "virtual" | "yield" | "async" | "await"
        | "try" | "gen" => format!("r#{ident}"),
        "_" | "super" | "self" | "Self" | "extern" | "crate" => format!("{ident}_"),
        s if s.starts_with(|c: char| c.is_numeric()) => format!("_{ident}"),
        _ => ident.to_owned(),
    }
}

/// tonic-build's module prefix: a `_` before each upper-case letter that
/// follows another character (`OrdersService` → `orders_service`).
fn naive_snake_case(name: &str) -> String {
    let mut s = String::new();
    let mut it = name.chars().peekable();
    while let Some(x) = it.next() {
        s.push(x.to_ascii_lowercase());
        if let Some(y) = it.peek()
            && y.is_uppercase()
        {
            s.push('_');
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_names_from_the_order_contract() {
        let c = load("order.proto", ORDER_PROTO).expect("the seed contract compiles");
        assert_eq!(c.package, "orders");
        assert_eq!(c.service.name, "OrderService");
        assert_eq!(c.service.module, "order_service_server");
        assert_eq!(c.method.name, "get_order");
        assert_eq!(c.request.name, "OrderRequest");
        assert_eq!(c.response.name, "OrderResponse");
        assert_eq!(c.id_field.name, "order_id");
        assert_eq!(c.id_field.json_name, "orderId");
        assert_eq!(
            c.status_field.as_ref().map(|f| f.name.as_str()),
            Some("status")
        );
        assert_eq!(c.resource, "orders");
    }

    #[test]
    fn rejects_a_contract_that_does_not_compile() {
        let err = load("order.proto", "syntax = \"proto3\";\nmessage {").unwrap_err();
        assert!(
            err.message.starts_with("the contract does not compile"),
            "{}",
            err.message
        );
    }

    #[test]
    fn rejects_a_contract_without_a_service() {
        let err = load(
            "order.proto",
            "syntax = \"proto3\";\npackage a;\nmessage A { string id = 1; }\n",
        )
        .unwrap_err();
        assert_eq!(err.message, "the contract defines no service");
    }

    #[test]
    fn case_conversions() {
        assert_eq!(snake("OrderService"), "order_service");
        assert_eq!(snake("order-events"), "order_events");
        assert_eq!(pascal("order-created"), "OrderCreated");
    }
}
