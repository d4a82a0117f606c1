//! A method's `google.api.http` annotation (the grpc-gateway / Google API
//! transcoding convention), read from the compiled contract so that
//! `contract` can show it and the REST templates can route by it.
//!
//! Only the primary rule is read: `additional_bindings` are not.

use prost_reflect::{DescriptorPool, MethodDescriptor, Value};
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
}

/// The method's `google.api.http` rule, when it has one.
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
                    body: None
                }),
                Some(HttpRule {
                    method: "POST".into(),
                    path: "/v1/r".into(),
                    body: Some("*".into())
                }),
                None,
            ]
        );
    }
}
