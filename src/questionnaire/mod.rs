//! The questionnaire behind `commsadvise interactive`: questions, their
//! mapping to flows.yaml fields, and the flow being built. Prompting goes
//! through a small trait so the logic is tested without a terminal.

pub mod explain;
pub mod figures;
pub mod prompt;
pub mod questions;
#[cfg(test)]
mod script;
pub mod session;

pub use prompt::{Interrupted, Prompter, Question};
pub use session::Questionnaire;
