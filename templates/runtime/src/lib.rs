//! What every service of the `{{ system }}` system does the same way, written once:
//! a fix here lands in every service. Each service keeps only its own flows.
//!
//! - [`HandlerError`]: what a handler returns, mapped to an HTTP status
//!   (feature `rest`), a gRPC code (feature `grpc`) or a consumer's retry
//!   decision;
//! - [`shutdown`]: SIGTERM / Ctrl-C and the bounded drain of running tasks;
//! - [`stream`]: the [`Sink`] a streaming handler sends its items into;
{%- if uses.rest %}
//! - [`rest`]: a REST request read into its protobuf message (feature `rest`);
{%- endif %}
//! - [`retry`]: backoff between retries and the retry throttle;
{%- if uses.kafka %}
//! - [`kafka`]: the Kafka producer, the consumer with retries and dead
//!   letters, topic creation (feature `kafka`);
{%- endif %}
//!
//! Nothing here depends on a flow.

pub mod error;
{%- if uses.kafka %}
#[cfg(feature = "kafka")]
pub mod kafka;
{%- endif %}
{%- if uses.rest %}
#[cfg(feature = "rest")]
pub mod rest;
{%- endif %}
pub mod retry;
pub mod shutdown;
pub mod stream;

pub use error::HandlerError;
pub use stream::Sink;
