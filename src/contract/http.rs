//! A method's `google.api.http` annotation (the grpc-gateway / Google API
//! transcoding convention), read from the compiled contract so that
//! `contract` can show it, `contract check` can guard it and the REST
//! templates can route by it.
//!
//! Every binding is a route clients may call: the primary rule and each of
//! its `additional_bindings` (which, as the annotation's own documentation
//! says, carry no further bindings of their own).

use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, Value};
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

    /// Whether `other` is called the same way: same verb and path.
    pub fn same_route(&self, other: &HttpRule) -> bool {
        self.method == other.method && self.path == other.path
    }
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
    let mut primary = route(rule)?;
    primary.additional_bindings = rule
        .get_field_by_name("additional_bindings")
        .and_then(|v| {
            v.as_list().map(|list| {
                list.iter()
                    .filter_map(|b| b.as_message().and_then(route))
                    .collect()
            })
        })
        .unwrap_or_default();
    Some(primary)
}

/// One binding's verb, path and body, without its additional bindings.
fn route(rule: &DynamicMessage) -> Option<HttpRule> {
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
            Some((kind, path))
        })?;
    Some(HttpRule {
        method,
        path,
        body: text("body"),
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
                    additional_bindings: Vec::new(),
                }),
                Some(HttpRule {
                    method: "POST".into(),
                    path: "/v1/r".into(),
                    body: Some("*".into()),
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
}
