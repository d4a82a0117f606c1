{#- scaffold
when: uses.tls or uses.kafka
-#}
//! A setting read from the environment that cannot be used: the variable,
//! and why. What the runtime reads from the environment (TLS files, Kafka
//! security) is checked into it; a service's configuration turns it into its
//! own error, which exits 2.

use std::fmt;

/// An environment variable with a value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSetting {
    /// The variable's name.
    pub var: &'static str,
    /// Why its value was refused.
    pub reason: String,
}

impl fmt::Display for InvalidSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.var, self.reason)
    }
}

impl std::error::Error for InvalidSetting {}
