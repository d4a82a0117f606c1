//! A method's `google.api.http` annotation (the grpc-gateway / Google API
//! transcoding convention), read from the compiled contract so that
//! `contract` can show it, `contract check` can guard it and the REST
//! templates can route by it.
//!
//! Every binding is a route clients may call: the primary rule and each of
//! its `additional_bindings` (which, as the annotation's own documentation
//! says, carry no further bindings of their own).
//!
//! A method without the annotation still has a route when a flow serves it
//! over REST: SPEC §7's default ([`route`]), so the scaffold, the `OpenAPI`
//! document and the contract guard all read one answer.

use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor,
    Value,
};
use serde::Serialize;

/// The HTTP route a method's annotation asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpRule {
    /// `GET`, `POST`, `PUT`, `DELETE`, `PATCH`, or a custom verb.
    pub method: String,
    /// The path template: `/v1/invoices/{invoice_id}`.
    pub path: String,
    /// The request field sent as the body, `*` for every field not in the
    /// path; `None` when there is no body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The response field sent back as the body instead of the whole
    /// response (`response_body`); `None` for the whole response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    /// The other routes the rpc answers on (`additional_bindings`), in
    /// their order; empty on those routes themselves.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub additional_bindings: Vec<HttpRule>,
}

impl HttpRule {
    /// This route and its additional bindings, the primary first.
    pub fn routes(&self) -> impl Iterator<Item = &HttpRule> {
        std::iter::once(self).chain(&self.additional_bindings)
    }

    /// Whether `other` is called the same way: same verb, and a path that
    /// matches the same requests ([`HttpRule::matched`]): renaming a path
    /// variable's field does not move the route clients call.
    pub fn same_route(&self, other: &HttpRule) -> bool {
        self.method == other.method && self.matched() == other.matched()
    }

    /// What the route matches: its path with every variable replaced by
    /// the segments it matches (`{id}` is `*`, `{name=shelves/*}` is
    /// `shelves/*`). Two routes of one verb with the same `matched` are
    /// the same route to a server, whatever their variables are called;
    /// `/v1/{name=shelves/*}` and `/v1/{name=shelves/*/books/*}` are not.
    pub fn matched(&self) -> String {
        template(&self.path)
            .into_iter()
            .map(|piece| match piece {
                Piece::Literal(text) => text,
                Piece::Variable(v) => v.pattern.unwrap_or_else(|| "*".to_owned()),
            })
            .collect()
    }
}

/// A path variable of a route template: the request field it fills, as
/// its proto path (`invoice_id`, `book.name`), and the segments it
/// matches when the template says (`shelves/*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub field: String,
    pub pattern: Option<String>,
}

/// A piece of a route template: literal text, or a variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Literal(String),
    Variable(Variable),
}

/// `/v1/{name=shelves/*}/books:get` → `/v1/`, `name` matching
/// `shelves/*`, `/books:get`. An unclosed `{` is kept as literal text.
pub fn template(path: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        if open > 0 {
            pieces.push(Piece::Literal(rest[..open].to_owned()));
        }
        let inner = &rest[open + 1..open + close];
        let (field, pattern) = match inner.split_once('=') {
            Some((field, pattern)) => (field.trim(), Some(pattern.trim().to_owned())),
            None => (inner.trim(), None),
        };
        pieces.push(Piece::Variable(Variable {
            field: field.to_owned(),
            pattern,
        }));
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Literal(rest.to_owned()));
    }
    pieces
}

/// The variables of a route template, in order.
pub fn variables(path: &str) -> Vec<Variable> {
    template(path)
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Variable(v) => Some(v),
            Piece::Literal(_) => None,
        })
        .collect()
}

/// The field at `path` (`book.name`, by proto names) of `message`: each
/// segment but the last a singular message field.
pub fn field_at(message: &MessageDescriptor, path: &str) -> Option<FieldDescriptor> {
    let mut message = message.clone();
    let mut segments = path.split('.').peekable();
    while let Some(name) = segments.next() {
        let field = message.get_field_by_name(name)?;
        if segments.peek().is_none() {
            return Some(field);
        }
        match field.kind() {
            Kind::Message(inner) if !field.is_list() && !field.is_map() => message = inner,
            _ => return None,
        }
    }
    None
}

/// A field a route names that its rpc's message lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownField {
    /// Where the route names it: `a path variable`, `body`, `response_body`.
    pub named_by: &'static str,
    pub field: String,
    /// The message that lacks it.
    pub message: String,
}

/// The first field `route` names that its rpc's messages lack: a path
/// variable or `body` not in the request, or `response_body` not in the
/// response.
pub fn unknown_field(method: &MethodDescriptor, route: &HttpRule) -> Option<UnknownField> {
    let input = method.input();
    let output = method.output();
    let missing = |named_by, field: &str, message: &MessageDescriptor| UnknownField {
        named_by,
        field: field.to_owned(),
        message: message.full_name().to_owned(),
    };
    variables(&route.path)
        .into_iter()
        .find(|v| field_at(&input, &v.field).is_none())
        .map(|v| missing("a path variable", &v.field, &input))
        .or_else(|| {
            route
                .body
                .as_deref()
                .filter(|b| *b != "*" && input.get_field_by_name(b).is_none())
                .map(|b| missing("`body`", b, &input))
        })
        .or_else(|| {
            route
                .response_body
                .as_deref()
                .filter(|b| output.get_field_by_name(b).is_none())
                .map(|b| missing("`response_body`", b, &output))
        })
}

/// The method's `google.api.http` rule, when it has one, with its
/// additional bindings.
pub fn rule(pool: &DescriptorPool, method: &MethodDescriptor) -> Option<HttpRule> {
    let extension = pool.get_extension_by_name("google.api.http")?;
    let options = method.options();
    if !options.has_extension(&extension) {
        return None;
    }
    let value = options.get_extension(&extension);
    let Value::Message(rule) = value.as_ref() else {
        return None;
    };
    let mut primary = route_of(rule)?;
    primary.additional_bindings = rule
        .get_field_by_name("additional_bindings")
        .and_then(|v| {
            v.as_list().map(|list| {
                list.iter()
                    .filter_map(|b| b.as_message().and_then(route_of))
                    .collect()
            })
        })
        .unwrap_or_default();
    Some(primary)
}

/// The route(s) a REST flow bound to `method` is served on: the method's
/// `google.api.http` rule when it has one; otherwise SPEC §7's default. A
/// `Get…` method whose request is a single id field (a scalar named `id` or
/// ending in `_id`) is `GET /<resources>/{<field>}` (so the seed's
/// `GetOrder` is `GET /orders/{order_id}`); any other method is
/// `POST /<package>.<Service>/<Method>` with the whole request as the JSON
/// body.
pub fn route(pool: &DescriptorPool, method: &MethodDescriptor) -> HttpRule {
    rule(pool, method).unwrap_or_else(|| default_route(method))
}

/// SPEC §7's route for a method without a `google.api.http` annotation.
pub fn default_route(method: &MethodDescriptor) -> HttpRule {
    let input = method.input();
    let mut fields = input.fields();
    let only = fields.next().filter(|_| fields.next().is_none());
    let id = only.filter(|f| {
        !f.is_list()
            && !f.is_map()
            && !matches!(f.kind(), Kind::Message(_) | Kind::Bytes)
            && (f.name() == "id" || f.name().ends_with("_id"))
    });
    match id {
        Some(field) if words(method.name()).first().map(String::as_str) == Some("Get") => {
            HttpRule {
                method: "GET".to_owned(),
                path: format!(
                    "/{}/{{{}}}",
                    resource_name(method.name(), input.name()),
                    field.name()
                ),
                body: None,
                response_body: None,
                additional_bindings: Vec::new(),
            }
        }
        _ => HttpRule {
            method: "POST".to_owned(),
            path: format!("/{}/{}", method.parent_service().full_name(), method.name()),
            body: Some("*".to_owned()),
            response_body: None,
            additional_bindings: Vec::new(),
        },
    }
}

/// `GetOrder` on `OrderRequest` → `orders`: the noun after the verb, in
/// kebab case, plural.
pub fn resource_name(method: &str, request: &str) -> String {
    let words = words(method);
    let noun: Vec<&str> = match words.first().map(String::as_str) {
        Some(
            "Get" | "Find" | "Fetch" | "Lookup" | "Read" | "Create" | "Update" | "Delete" | "List",
        ) if words.len() > 1 => words[1..].iter().map(String::as_str).collect(),
        _ => vec![request.trim_end_matches("Request")],
    };
    let noun = noun.join("-").to_ascii_lowercase();
    if noun.ends_with('s') {
        noun
    } else {
        format!("{noun}s")
    }
}

/// `GetOrderStatus` → `Get`, `Order`, `Status`; `get_order` → `get`, `order`.
pub(crate) fn words(s: &str) -> Vec<String> {
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

/// One binding's verb, path and body, without its additional bindings.
fn route_of(rule: &DynamicMessage) -> Option<HttpRule> {
    let text = |name: &str| {
        rule.get_field_by_name(name)
            .and_then(|v| v.as_str().map(str::to_owned))
            .filter(|s| !s.is_empty())
    };
    let (method, path) = ["get", "put", "post", "delete", "patch"]
        .into_iter()
        .find_map(|verb| text(verb).map(|path| (verb.to_ascii_uppercase(), path)))
        .or_else(|| {
            let custom = rule.get_field_by_name("custom")?;
            let custom = custom.as_message()?;
            let kind = custom.get_field_by_name("kind")?.as_str()?.to_owned();
            let path = custom.get_field_by_name("path")?.as_str()?.to_owned();
            // An unset `custom` reads as its empty default: no route.
            (!kind.is_empty() && !path.is_empty()).then_some((kind, path))
        })?;
    Some(HttpRule {
        method,
        path,
        body: text("body"),
        response_body: text("response_body"),
        additional_bindings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use protox::file::ChainFileResolver;

    use super::*;
    use crate::contract::compile::{InMemory, builtin, compile};

    fn pool(text: &str) -> DescriptorPool {
        let mut chain = ChainFileResolver::new();
        chain.add(InMemory {
            name: "a.proto".to_owned(),
            text: text.to_owned(),
        });
        chain.add(builtin());
        compile(chain, &["a.proto".to_owned()], &|n| n.to_owned()).expect("compiles")
    }

    #[test]
    fn reads_the_verb_path_and_body() {
        let pool = pool(
            r#"syntax = "proto3";
package a;
import "google/api/annotations.proto";
service S {
  rpc Get(R) returns (R) { option (google.api.http) = {get: "/v1/r/{id}"}; }
  rpc Create(R) returns (R) { option (google.api.http) = {post: "/v1/r" body: "*"}; }
  rpc Plain(R) returns (R);
}
message R { string id = 1; }
"#,
        );
        let service = pool.get_service_by_name("a.S").expect("service");
        let rules: Vec<Option<HttpRule>> = service.methods().map(|m| rule(&pool, &m)).collect();
        assert_eq!(
            rules,
            [
                Some(HttpRule {
                    method: "GET".into(),
                    path: "/v1/r/{id}".into(),
                    body: None,
                    response_body: None,
                    additional_bindings: Vec::new(),
                }),
                Some(HttpRule {
                    method: "POST".into(),
                    path: "/v1/r".into(),
                    body: Some("*".into()),
                    response_body: None,
                    additional_bindings: Vec::new(),
                }),
                None,
            ]
        );
    }

    #[test]
    fn reads_every_additional_binding_after_the_primary() {
        let pool = pool(
            r#"syntax = "proto3";
package a;
import "google/api/annotations.proto";
service S {
  rpc Get(R) returns (R) {
    option (google.api.http) = {
      get: "/v1/r/{id}"
      additional_bindings { get: "/v2/r/{id}" }
      additional_bindings { post: "/v2/r:get" body: "*" }
    };
  }
}
message R { string id = 1; }
"#,
        );
        let method = pool
            .get_service_by_name("a.S")
            .and_then(|s| s.methods().next())
            .expect("method");
        let rule = rule(&pool, &method).expect("rule");
        let routes: Vec<(&str, &str, Option<&str>)> = rule
            .routes()
            .map(|r| (r.method.as_str(), r.path.as_str(), r.body.as_deref()))
            .collect();
        assert_eq!(
            routes,
            [
                ("GET", "/v1/r/{id}", None),
                ("GET", "/v2/r/{id}", None),
                ("POST", "/v2/r:get", Some("*")),
            ]
        );
    }

    #[test]
    fn defaults_a_get_by_id_to_a_resource_path_and_the_rest_to_a_post() {
        let pool = pool(
            r#"syntax = "proto3";
package a.v1;
import "google/api/annotations.proto";
service Shop {
  rpc GetOrder(OrderRequest) returns (R);
  rpc GetOrderLines(Pair) returns (R);
  rpc PlaceOrder(OrderRequest) returns (R);
  rpc Annotated(OrderRequest) returns (R) { option (google.api.http) = {put: "/v1/x/{order_id}" body: "*"}; }
}
message OrderRequest { string order_id = 1; }
message Pair { string order_id = 1; int32 page = 2; }
message R { string id = 1; }
"#,
        );
        let service = pool.get_service_by_name("a.v1.Shop").expect("service");
        let routes: Vec<(String, String, Option<String>)> = service
            .methods()
            .map(|m| {
                let r = route(&pool, &m);
                (r.method, r.path, r.body)
            })
            .collect();
        assert_eq!(
            routes,
            [
                ("GET".into(), "/orders/{order_id}".into(), None),
                (
                    "POST".into(),
                    "/a.v1.Shop/GetOrderLines".into(),
                    Some("*".into())
                ),
                (
                    "POST".into(),
                    "/a.v1.Shop/PlaceOrder".into(),
                    Some("*".into())
                ),
                ("PUT".into(), "/v1/x/{order_id}".into(), Some("*".into())),
            ]
        );
    }

    #[test]
    fn names_the_resource_after_the_verb() {
        assert_eq!(resource_name("GetOrder", "OrderRequest"), "orders");
        assert_eq!(resource_name("GetInvoiceLine", "X"), "invoice-lines");
        assert_eq!(resource_name("Track", "ParcelRequest"), "parcels");
        assert_eq!(resource_name("GetStatus", "X"), "status");
    }
}
