{#- scaffold
when: uses.rest
-#}
//! A REST request read into its protobuf message, the way the grpc-gateway /
//! Google API transcoding convention reads it (SPEC §7): the body as proto3 JSON,
//! query parameters and path variables into the fields they name. Malformed
//! input is a [`HandlerError::InvalidArgument`], answered 400. And the CORS
//! policy of an API that browsers on other origins call ([`cors`]).

use std::{fmt::Display, str::FromStr, time::Duration};

use axum::http::{HeaderName, HeaderValue, Method, header};
use serde::de::DeserializeOwned;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::HandlerError;

/// The header marking an answer replayed from the idempotency records
/// (`runtime::idempotency::REPLAYED_HEADER`, which needs its feature).
const REPLAYED_HEADER: &str = "idempotent-replayed";

/// How long a browser may keep a preflight's answer.
pub const CORS_MAX_AGE: Duration = Duration::from_secs(600);

/// Why an origin cannot be allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidOrigin(pub String);

impl std::fmt::Display for InvalidOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidOrigin {}

/// The origins of a comma-separated list (`https://shop.example.com,
/// http://localhost:3000`), each `scheme://host[:port]`, or `*` alone for
/// any origin. Each is written as a browser sends it in `Origin` (lower
/// case, without a trailing slash or the scheme's default port), so that
/// `https://Shop.example.com:443/` matches too.
pub fn origins(raw: &str) -> Result<Vec<String>, InvalidOrigin> {
    let listed: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| {
            let o = o.trim_end_matches('/').to_ascii_lowercase();
            let default_port = if o.starts_with("https://") {
                ":443"
            } else {
                ":80"
            };
            o.strip_suffix(default_port)
                .map_or_else(|| o.clone(), str::to_owned)
        })
        .collect();
    if listed.iter().any(|o| o == "*") {
        return if listed.len() == 1 {
            Ok(listed)
        } else {
            Err(InvalidOrigin(
                "`*` allows every origin: list it alone".into(),
            ))
        };
    }
    for origin in &listed {
        let rest = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        let well_formed = rest.is_some_and(|host| {
            !host.is_empty()
                && !host.contains(['/', '?', '#', '@', ' '])
                && HeaderValue::from_str(origin).is_ok()
        });
        if !well_formed {
            return Err(InvalidOrigin(format!(
                "`{origin}` is not an origin: scheme://host[:port], such as https://shop.example.com"
            )));
        }
    }
    Ok(listed)
}

/// The CORS policy letting browsers on `origins` ([`origins`]) call the
/// API: its methods, and the headers its requests carry (`content-type`,
/// `authorization` for the authentication hook, `idempotency-key`), the
/// page reading the headers it is answered with (`www-authenticate`,
/// `retry-after`, `idempotent-replayed`); no cookies. `None` for no origin:
/// no CORS header is added, so a browser refuses every call from another
/// origin.
pub fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let values = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok());
        AllowOrigin::list(values.collect::<Vec<_>>())
    };
    let layer = CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            header::WWW_AUTHENTICATE,
            header::RETRY_AFTER,
            HeaderName::from_static(REPLAYED_HEADER),
        ])
        .max_age(CORS_MAX_AGE);
    Some(layer)
}

/// The message from a proto3 JSON body; an empty body is the default message.
pub fn json_body<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, HandlerError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|err| {
        HandlerError::InvalidArgument(format!("the body is not the expected proto3 JSON: {err}"))
    })
}

/// The message from query parameters (`?pageSize=10&status=OPEN`), each named
/// by its proto or JSON field name; `bools` lists the boolean fields, the only
/// ones whose text is not read as proto3 JSON reads a string.
pub fn query<T: DeserializeOwned>(
    pairs: Vec<(String, String)>,
    bools: &[&str],
) -> Result<T, HandlerError> {
    let mut fields = serde_json::Map::new();
    for (name, value) in pairs {
        let value = if bools.contains(&name.as_str()) {
            serde_json::Value::Bool(parse(&name, &value)?)
        } else {
            serde_json::Value::String(value)
        };
        fields.insert(name, value);
    }
    serde_json::from_value(serde_json::Value::Object(fields)).map_err(|err| {
        HandlerError::InvalidArgument(format!("the query parameters do not fit: {err}"))
    })
}

/// A path variable or query parameter as the number or boolean it holds.
pub fn parse<T>(name: &str, value: &str) -> Result<T, HandlerError>
where
    T: FromStr,
    T::Err: Display,
{
    value
        .parse()
        .map_err(|err| HandlerError::InvalidArgument(format!("`{name}`: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port_or_a_lone_star() {
        let listed = origins(" https://Shop.example.com:443/, http://localhost:3000 ,").unwrap();
        assert_eq!(
            listed,
            ["https://shop.example.com", "http://localhost:3000"]
        );
        assert_eq!(origins("*").unwrap(), ["*"]);
        assert_eq!(origins("").unwrap(), Vec::<String>::new());
        assert!(cors(&[]).is_none());
        assert!(cors(&listed).is_some());
        for refused in [
            "shop.example.com",
            "https://shop.example.com/app",
            "*, https://a.b",
        ] {
            assert!(origins(refused).is_err(), "{refused}");
        }
{%- if uses.idempotency %}
        #[cfg(feature = "idempotency")]
        assert_eq!(REPLAYED_HEADER, crate::idempotency::REPLAYED_HEADER);
{%- endif %}
    }

    #[test]
    fn an_empty_body_is_the_default_message() {
        let value: serde_json::Value = json_body(b" ").unwrap();
        assert_eq!(value, serde_json::Value::Null);
    }

    #[test]
    fn a_malformed_body_is_an_invalid_argument() {
        let err = json_body::<serde_json::Value>(b"{").unwrap_err();
        assert!(err.to_string().starts_with("invalid argument"), "{err}");
    }

    #[test]
    fn query_parameters_become_fields() {
        let value: serde_json::Value = query(
            vec![("name".into(), "x".into()), ("open".into(), "true".into())],
            &["open"],
        )
        .unwrap();
        assert_eq!(value, serde_json::json!({ "name": "x", "open": true }));
        assert!(
            query::<serde_json::Value>(vec![("open".into(), "maybe".into())], &["open"]).is_err()
        );
    }

    #[test]
    fn numbers_are_parsed_or_refused() {
        assert_eq!(parse::<i64>("n", "42"), Ok(42));
        assert!(parse::<i64>("n", "x").is_err());
    }
}
