//! The bound contract (SPEC §7) as the templates name it: the Rust name of
//! every package, message, proto service and method the flows bind to,
//! exactly as prost and tonic-prost-build generate them in the workspace's
//! `contract` crate, so templates never hard-code a name from the proto.

use prost_reflect::Kind;
use serde::Serialize;

use crate::contract::{Binding, BoundContract, Origin};

/// The id the generated tests and examples use (docs/scaffold.md).
pub const SAMPLE_ID: &str = "12345";
/// The Kafka key the generated tests and examples use (docs/scaffold.md).
pub const SAMPLE_EVENT_ID: &str = "order-12345";
/// The status the generated handler answers (docs/scaffold.md).
pub const SAMPLE_STATUS: &str = "CREATED";

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
    /// The request's first singular string field (its Rust name), if any.
    pub string_field: Option<String>,
    /// How many fields the request has.
    pub request_fields: usize,
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
                string_field: m
                    .input()
                    .fields()
                    .find(|f| {
                        f.kind() == Kind::String
                            && !f.is_list()
                            && f.containing_oneof().is_none()
                            && !f.supports_presence()
                    })
                    .map(|f| to_snake(f.name())),
                request_fields: m.input().fields().count(),
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

    /// The names [`api`] gives are the ones prost-build and tonic generate,
    /// keywords and acronyms included.
    #[test]
    fn api_names_match_what_prost_generates() {
        let text = r#"syntax = "proto3";
package my_pkg.v1;
service HTTPGateway {
  rpc Match(Type) returns (Type.Inner);
  rpc GetURL(Type) returns (stream Type.Inner);
}
message Type { string type = 1; message Inner { string self = 1; } }
"#;
        let flows = crate::spec::load_str(
            "flows.yaml",
            "version: 1\nsystem: s\nproto: a.proto\nflows:\n  - name: m\n    from: a\n    to: b\n    rpc: my_pkg.v1.HTTPGateway/Match\n",
        )
        .expect("flows");
        let bound = crate::contract::team(
            &flows,
            crate::contract::compile::InMemory {
                name: "a.proto".to_owned(),
                text: text.to_owned(),
            },
            vec!["a.proto".to_owned()],
            &crate::contract::Sources::in_memory(),
        )
        .expect("binds");
        let names = api(&bound);
        let service = &names.services[0];

        let fds = prost_types::FileDescriptorSet {
            file: bound.pool.file_descriptor_protos().cloned().collect(),
        };
        let (generated, services) =
            crate::scaffold::contract::prost_generate(fds).expect("prost generates");
        assert_eq!(service.trait_name, services[0].name);
        assert_eq!(service.server_module, "http_gateway_server");
        for (ours, theirs) in service.methods.iter().zip(&services[0].methods) {
            assert_eq!(ours.name, theirs.name);
        }
        assert_eq!(service.methods[0].name, "r#match");
        assert_eq!(service.package_path, "my_pkg::v1");
        assert_eq!(
            service.methods[0].request.rust,
            "contract::my_pkg::v1::Type"
        );
        assert_eq!(
            service.methods[0].response.rust,
            "contract::my_pkg::v1::r#type::Inner"
        );
        assert!(generated.contains("pub struct Type {"), "{generated}");
        assert!(generated.contains("pub mod r#type {"), "{generated}");
        assert!(generated.contains("pub r#type: "), "{generated}");
    }
}
