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

/// The Rust prost-build generates for `fds`, and the services it saw.
pub(crate) fn prost_generate(
    fds: prost_types::FileDescriptorSet,
) -> Result<(String, Vec<prost_build::Service>), String> {
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
    let services = captured.take();
    Ok((modules.into_values().collect(), services))
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
    let (generated, services) = prost_generate(fds)?;
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

/// `order-events`, `OrderService` → `order_events`, `order_service`.
pub fn snake(s: &str) -> String {
    crate::contract::http::words(&s.replace('-', "_"))
        .iter()
        .map(|w| w.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join("_")
}

/// `order-events`, `order_request` → `OrderEvents`, `OrderRequest`.
pub fn pascal(s: &str) -> String {
    crate::contract::http::words(&s.replace('-', "_"))
        .iter()
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase())
                .unwrap_or_default()
        })
        .collect()
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
