//! What every service of the `{{ system }}` system runs on, written once so
//! that a fix lands in one place: nothing here depends on a flow. Each
//! service keeps only its own flows' glue.
//!
//! - [`retry`]: backoff between retries and the retry throttle;
{%- if uses.kafka %}
//! - [`kafka`]: the producer, the consumer with retries and dead letters,
//!   topic creation.
{%- endif %}
{% if uses.kafka %}
pub mod kafka;
{%- endif %}
pub mod retry;
