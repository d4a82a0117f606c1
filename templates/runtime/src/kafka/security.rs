{#- scaffold
when: uses.kafka
-#}
//! How every Kafka client of the service (producer, consumer, dead letters,
//! admin) connects to the brokers: plaintext unless the environment says,
//! so that the same binary runs against a managed cluster (TLS, SASL
//! PLAIN or SCRAM).
//!
//! Each variable is a librdkafka property ([`VARS`]). They are read and
//! checked at start-up ([`Security::from_lookup`], from the service's
//! configuration), so that a typo stops the service with the variable's
//! name instead of a client that never connects; the service then installs
//! them ([`install`]) before it creates a client. OpenSSL is compiled into
//! librdkafka (rdkafka's `ssl-vendored` feature); Kerberos (`GSSAPI`) and
//! OAuth (`OAUTHBEARER`) are not built in.

use std::{fmt, sync::OnceLock};

use rdkafka::ClientConfig;

use crate::setting::InvalidSetting;

/// Each variable and the librdkafka property it sets.
pub const VARS: [(&str, &str); 9] = [
    ("KAFKA_SECURITY_PROTOCOL", "security.protocol"),
    ("KAFKA_SASL_MECHANISM", "sasl.mechanism"),
    ("KAFKA_SASL_USERNAME", "sasl.username"),
    ("KAFKA_SASL_PASSWORD", "sasl.password"),
    ("KAFKA_SSL_CA_LOCATION", "ssl.ca.location"),
    ("KAFKA_SSL_CERTIFICATE_LOCATION", "ssl.certificate.location"),
    ("KAFKA_SSL_KEY_LOCATION", "ssl.key.location"),
    ("KAFKA_SSL_KEY_PASSWORD", "ssl.key.password"),
    (
        "KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM",
        "ssl.endpoint.identification.algorithm",
    ),
];

/// The values of `security.protocol`.
pub const PROTOCOLS: [&str; 4] = ["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"];
/// The SASL mechanisms built in.
pub const MECHANISMS: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

/// The librdkafka properties of the variables that are set, checked. The
/// default is plaintext.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Security {
    properties: Vec<(&'static str, String)>,
}

impl fmt::Debug for Security {
    /// The properties, passwords left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (property, value) in &self.properties {
            if property.ends_with("password") {
                map.entry(property, &"<redacted>");
            } else {
                map.entry(property, value);
            }
        }
        map.finish()
    }
}

impl Security {
    /// Reads [`VARS`] through `lookup` and checks them together.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Security, InvalidSetting> {
        let mut properties = Vec::new();
        for (var, property) in VARS {
            let Some(value) = lookup(var) else { continue };
            let value = value.trim();
            if !value.is_empty() {
                properties.push((property, value.to_owned()));
            }
        }
        let mut security = Security { properties };
        security.check()?;
        // librdkafka's OpenSSL is compiled in, its own CA folder empty:
        // `probe` has it look where distributions keep the CA bundle.
        if security.protocol().to_ascii_lowercase().ends_with("ssl")
            && security.get("ssl.ca.location").is_none()
        {
            security
                .properties
                .push(("ssl.ca.location", "probe".to_owned()));
        }
        Ok(security)
    }

    /// The value of `property`, if set.
    pub fn get(&self, property: &str) -> Option<&str> {
        let found = self.properties.iter().find(|(p, _)| *p == property);
        found.map(|(_, value)| value.as_str())
    }

    /// `security.protocol`: `plaintext` when unset.
    pub fn protocol(&self) -> &str {
        self.get("security.protocol").unwrap_or("plaintext")
    }

    /// Sets the properties on a client's `config`.
    pub fn apply(&self, config: &mut ClientConfig) {
        for (property, value) in &self.properties {
            config.set(*property, value);
        }
    }

    fn check(&self) -> Result<(), InvalidSetting> {
        let protocol = self.protocol().to_ascii_lowercase();
        if !PROTOCOLS.contains(&protocol.as_str()) {
            return Err(error(
                "security.protocol",
                format!(
                    "`{}` is not one of {}",
                    self.protocol(),
                    PROTOCOLS.join(", ")
                ),
            ));
        }
        let uses_sasl = protocol.starts_with("sasl_");
        let uses_tls = protocol.ends_with("ssl");
        for (property, _) in &self.properties {
            if property.starts_with("sasl.") && !uses_sasl {
                return Err(error(
                    property,
                    format!(
                        "set while KAFKA_SECURITY_PROTOCOL={protocol} uses no SASL: \
                         set it to sasl_ssl or sasl_plaintext"
                    ),
                ));
            }
            if property.starts_with("ssl.") && !uses_tls {
                return Err(error(
                    property,
                    format!(
                        "set while KAFKA_SECURITY_PROTOCOL={protocol} uses no TLS: \
                         set it to ssl or sasl_ssl"
                    ),
                ));
            }
        }
        if uses_sasl {
            self.check_sasl(&protocol)?;
        }
        self.check_tls()
    }

    /// SASL: a mechanism built in, with its user and password.
    fn check_sasl(&self, protocol: &str) -> Result<(), InvalidSetting> {
        // librdkafka's own default is GSSAPI, which is not built in.
        let Some(mechanism) = self.get("sasl.mechanism") else {
            return Err(error(
                "sasl.mechanism",
                format!(
                    "unset while KAFKA_SECURITY_PROTOCOL={protocol}: set one of {}",
                    MECHANISMS.join(", ")
                ),
            ));
        };
        if !MECHANISMS.contains(&mechanism) {
            return Err(error(
                "sasl.mechanism",
                format!(
                    "`{mechanism}` is not one of {} (GSSAPI and OAUTHBEARER are not built in)",
                    MECHANISMS.join(", ")
                ),
            ));
        }
        for property in ["sasl.username", "sasl.password"] {
            if self.get(property).is_none() {
                return Err(error(
                    property,
                    format!("unset while KAFKA_SASL_MECHANISM={mechanism}"),
                ));
            }
        }
        Ok(())
    }

    /// TLS: files that can be read, a certificate with its key.
    fn check_tls(&self) -> Result<(), InvalidSetting> {
        for property in [
            "ssl.ca.location",
            "ssl.certificate.location",
            "ssl.key.location",
        ] {
            if let Some(path) = self.get(property)
                && let Err(err) = std::fs::File::open(path)
            {
                return Err(error(property, format!("cannot read `{path}`: {err}")));
            }
        }
        let certificate = self.get("ssl.certificate.location").is_some();
        let key = self.get("ssl.key.location").is_some();
        if certificate != key {
            let (missing, given) = if key {
                ("ssl.certificate.location", "KAFKA_SSL_KEY_LOCATION")
            } else {
                ("ssl.key.location", "KAFKA_SSL_CERTIFICATE_LOCATION")
            };
            let reason = format!("unset while {given} is set: give both, or neither");
            return Err(error(missing, reason));
        }
        if self.get("ssl.key.password").is_some() && !key {
            let reason = "set without KAFKA_SSL_KEY_LOCATION, the key it opens".to_owned();
            return Err(error("ssl.key.password", reason));
        }
        let algorithm = self.get("ssl.endpoint.identification.algorithm");
        if let Some(algorithm) = algorithm
            && !matches!(algorithm.to_ascii_lowercase().as_str(), "https" | "none")
        {
            return Err(error(
                "ssl.endpoint.identification.algorithm",
                format!(
                    "`{algorithm}` is not https (the default: the broker's name is checked) or none"
                ),
            ));
        }
        Ok(())
    }
}

/// The error of `property`, named by its variable.
fn error(property: &str, reason: String) -> InvalidSetting {
    let found = VARS.iter().find(|(_, p)| *p == property);
    let var = found.map_or("KAFKA_SECURITY_PROTOCOL", |(var, _)| *var);
    InvalidSetting { var, reason }
}

static INSTALLED: OnceLock<Security> = OnceLock::new();

/// Makes `security` the one every Kafka client of the process connects
/// with; only the first call counts. A process that never calls it
/// connects in plaintext (tests, on the mock cluster). SASL `PLAIN` without
/// TLS sends the password in clear: that is logged as a warning.
pub fn install(security: Security) {
    let protocol = security.protocol().to_ascii_lowercase();
    if protocol == "sasl_plaintext" && security.get("sasl.mechanism") == Some("PLAIN") {
        tracing::warn!(
            "KAFKA_SASL_MECHANISM=PLAIN over KAFKA_SECURITY_PROTOCOL=sasl_plaintext sends the \
             password in clear: use sasl_ssl, or SCRAM"
        );
    }
    let _ = INSTALLED.set(security);
}

/// A client configuration with the installed [`Security`] set.
pub(crate) fn client_config() -> ClientConfig {
    let mut config = ClientConfig::new();
    if let Some(security) = INSTALLED.get() {
        security.apply(&mut config);
    }
    config
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use rdkafka::producer::BaseProducer;

    use super::*;

    fn security(vars: &[(&str, &str)]) -> Result<Security, InvalidSetting> {
        let vars: HashMap<&str, &str> = vars.iter().copied().collect();
        Security::from_lookup(|var| vars.get(var).map(|v| (*v).to_owned()))
    }

    const SCRAM: [(&str, &str); 4] = [
        ("KAFKA_SECURITY_PROTOCOL", "sasl_ssl"),
        ("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
        ("KAFKA_SASL_USERNAME", "orders"),
        ("KAFKA_SASL_PASSWORD", "s3cret"),
    ];

    #[test]
    fn plaintext_when_nothing_is_set() {
        let security = security(&[]).unwrap();
        assert_eq!(security, Security::default());
        assert_eq!(security.protocol(), "plaintext");
    }

    #[test]
    fn passes_sasl_scram_over_tls_to_librdkafka_which_supports_it() {
        let security = security(&SCRAM).unwrap();
        assert_eq!(security.get("sasl.username"), Some("orders"));
        assert!(!format!("{security:?}").contains("s3cret"), "{security:?}");
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", "127.0.0.1:1");
        security.apply(&mut config);
        // librdkafka refuses `sasl_ssl` and SCRAM unless built with OpenSSL.
        let created = config.create::<BaseProducer>();
        assert!(created.is_ok(), "{:?}", created.err());
    }

    #[test]
    fn tls_without_a_ca_file_probes_the_system_bundle() {
        let security = security(&[("KAFKA_SECURITY_PROTOCOL", "SSL")]).unwrap();
        assert_eq!(security.get("ssl.ca.location"), Some("probe"));
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", "127.0.0.1:1");
        security.apply(&mut config);
        let created = config.create::<BaseProducer>();
        assert!(created.is_ok(), "{:?}", created.err());
    }

    #[test]
    fn refuses_an_unknown_protocol_and_says_which_are_known() {
        let err = security(&[("KAFKA_SECURITY_PROTOCOL", "tls")]).unwrap_err();
        assert_eq!(err.var, "KAFKA_SECURITY_PROTOCOL");
        assert!(err.reason.contains("sasl_ssl"), "{}", err.reason);
    }

    #[test]
    fn refuses_sasl_without_a_mechanism_built_in() {
        let err = security(&SCRAM[..1]).unwrap_err();
        assert_eq!(err.var, "KAFKA_SASL_MECHANISM");
        let mut gssapi = SCRAM;
        gssapi[1].1 = "GSSAPI";
        let err = security(&gssapi).unwrap_err();
        assert_eq!(err.var, "KAFKA_SASL_MECHANISM");
        assert!(err.reason.contains("not built in"), "{}", err.reason);
        let err = security(&SCRAM[..3]).unwrap_err();
        assert_eq!(err.var, "KAFKA_SASL_PASSWORD");
    }

    #[test]
    fn refuses_settings_the_protocol_would_ignore() {
        let err = security(&[("KAFKA_SASL_USERNAME", "orders")]).unwrap_err();
        assert_eq!(err.var, "KAFKA_SASL_USERNAME");
        let err = security(&[
            ("KAFKA_SECURITY_PROTOCOL", "sasl_plaintext"),
            ("KAFKA_SASL_MECHANISM", "PLAIN"),
            ("KAFKA_SASL_USERNAME", "orders"),
            ("KAFKA_SASL_PASSWORD", "s3cret"),
            ("KAFKA_SSL_CA_LOCATION", "/etc/ssl/ca.pem"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "KAFKA_SSL_CA_LOCATION");
        assert!(err.reason.contains("uses no TLS"), "{}", err.reason);
    }

    #[test]
    fn refuses_a_key_password_without_its_key() {
        let err = security(&[
            ("KAFKA_SECURITY_PROTOCOL", "ssl"),
            ("KAFKA_SSL_KEY_PASSWORD", "s3cret"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "KAFKA_SSL_KEY_PASSWORD");
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }

    #[test]
    fn refuses_a_ca_file_that_is_not_there() {
        let err = security(&[
            ("KAFKA_SECURITY_PROTOCOL", "ssl"),
            ("KAFKA_SSL_CA_LOCATION", "/nonexistent/ca.pem"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "KAFKA_SSL_CA_LOCATION");
        assert!(err.reason.contains("/nonexistent/ca.pem"), "{}", err.reason);
    }
}
