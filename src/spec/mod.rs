//! flows.yaml v1: the typed model, name rules, loading and validation.

mod fields;
pub mod load;
pub mod model;
pub mod names;
pub mod transport;
pub mod write;

pub use load::{load, load_str};
pub use model::{Flow, FlowsFile, Transport};
