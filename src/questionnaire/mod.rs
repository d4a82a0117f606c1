//! The questionnaire behind `commsadvise interactive`: questions, their
//! mapping to flows.yaml fields, and the flow being built. Prompting goes
//! through a small trait so the logic is tested without a terminal.
