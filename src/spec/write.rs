//! Writes a [`FlowsFile`](crate::spec::model::FlowsFile) back to flows.yaml v1 text.
