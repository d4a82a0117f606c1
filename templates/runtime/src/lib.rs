//! What every service of the `{{ system }}` system does the same way, written once:
//! a fix here lands in every service. Each service keeps only its own flows.
//!
//! - [`HandlerError`]: what a handler returns, mapped to an HTTP status
//!   (feature `rest`), a gRPC code (feature `grpc`) or a consumer's retry
//!   decision;
//! - [`shutdown`]: SIGTERM / Ctrl-C and the bounded drain of running tasks;
//! - [`stream`]: the [`Sink`] a streaming handler sends its items into{% if uses.rest %};
//! - [`rest`]: a REST request read into its protobuf message (feature `rest`){% endif %}.

pub mod error;
{%- if uses.rest %}
#[cfg(feature = "rest")]
pub mod rest;
{%- endif %}
pub mod shutdown;
pub mod stream;

pub use error::HandlerError;
pub use stream::Sink;
