//! `commsadvise schema`: the JSON Schema of flows.yaml v1, for editors.

use crate::cli::SchemaArgs;
use crate::commands::{Failure, print};
use crate::error::Error;

pub fn run(_: &SchemaArgs) -> Result<(), Failure> {
    let mut text = serde_json::to_string_pretty(&crate::spec::load::json_schema())
        .map_err(|e| Error::Internal(format!("cannot serialize the schema: {e}")))?;
    text.push('\n');
    print(&text)
}
