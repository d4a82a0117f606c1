{#- scaffold
when: service.runs or service.produces
owner: user
-#}
//! What every handler of `{{ service.name }}` shares: built once at start-up.
//!
//! Yours to edit: written once by `commsadvise scaffold`, never replaced. Put here what
//! outlives a request: a database pool, a cache, clients of other services.

use crate::config::Config;

/// Shared by every handler, behind an `Arc`.
#[derive(Debug, Default)]
pub struct State {}

impl State {
    /// Builds the state once, before the service starts serving.
    #[allow(clippy::unused_async)]
    pub async fn new(_config: &Config) -> anyhow::Result<State> {
        Ok(State {})
    }
}
