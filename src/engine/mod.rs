//! The recommendation engine: rules as data, compiled once, evaluated by
//! pure functions. Nothing here reads files or prints.

pub mod evaluate;
pub mod facts;
pub mod registry;
pub mod rule;

pub use evaluate::{Recommendation, Report, recommend};
pub use registry::RuleSet;
