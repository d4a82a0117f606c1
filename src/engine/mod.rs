//! The recommendation engine: rules as data, compiled once, evaluated by
//! pure functions. Nothing here reads files or prints.

pub mod evaluate;
pub mod facts;
pub mod gate;
pub mod registry;
pub mod rule;
pub mod sizing;
pub mod system;

pub use evaluate::{Recommendation, Report, recommend, recommend_with};
pub use registry::RuleSet;
pub use sizing::Sizing;
pub use system::{Finding, Severity};
