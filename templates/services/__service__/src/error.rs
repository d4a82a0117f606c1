{#- scaffold
when: service.handles
-#}
//! The error a handler returns: the workspace's one [`runtime::HandlerError`],
//! which the plumbing maps to an HTTP status, a gRPC code, or a consumer's
//! retry / dead-letter decision, so handlers never deal with transports.

pub use runtime::HandlerError;
