{#- scaffold
owner: user
-#}
//! What every handler{% if not service.handles %} and task{% endif %} of `{{ service.name }}` shares: built once at start-up.
//!
//! Yours to edit: written once by `commsadvise scaffold`, never replaced. Put here what
//! outlives a request: a database pool, a cache. The clients of the services this one
//! calls and the publishers of the events it produces are generated: [`Outbound`], in
//! `out`, changes with the flows while this file does not.

use crate::{config::Config, outbound::Outbound};

/// Shared by every handler{% if not service.handles %} and task{% endif %}, behind an `Arc`.
#[derive(Debug)]
pub struct State {
    /// The clients and publishers: `state.out.<flow>`.
    pub out: Outbound,
}

impl State {
    /// Builds the state once, before the service starts serving.
    pub async fn new(config: &Config) -> anyhow::Result<State> {
        Ok(State {
            out: Outbound::new(config).await?,
        })
    }
}
