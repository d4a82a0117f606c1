{#- scaffold
when: service.serves_rest or service.serves_grpc
owner: user
-#}
//! Who may call `{{ service.name }}`: [`authenticate`] sees the headers of every
//! request{% if service.serves_grpc %} (a gRPC call's metadata are HTTP/2 headers too){% endif %} before its handler,
//! and refuses it with 401{% if service.serves_grpc %} / `UNAUTHENTICATED`{% endif %} and the reason it returns. The
//! probes{% if service.serves_grpc %}, gRPC health and reflection{% endif %} are never checked.
//!
//! Yours to edit: written once by `commsadvise scaffold`, never replaced. Check a
//! bearer token, an API key, or the identity your service mesh puts in a header.

use runtime::auth::{HeaderMap, Unauthenticated};

/// Whether [`authenticate`] accepts every caller: while it is `true`, the
/// service says so in a warning at start-up. Set it to `false` once your check
/// is written.
pub const ACCEPTS_EVERY_CALLER: bool = true;

/// `Ok` lets the request reach its handler; `Err` refuses it, and its reason
/// is what the caller reads (no secret in it). Accepts every caller until
/// you write the check.
pub fn authenticate(_headers: &HeaderMap) -> Result<(), Unauthenticated> {
    Ok(())
}
