{#- scaffold
when: uses.rest
-#}
//! A REST request read into its protobuf message, the way the grpc-gateway /
//! Google API transcoding convention reads it (SPEC §7): the body as proto3 JSON,
//! query parameters and path variables into the fields they name. Malformed
//! input is a [`HandlerError::InvalidArgument`], answered 400.

use std::{fmt::Display, str::FromStr};

use serde::de::DeserializeOwned;

use crate::HandlerError;

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
