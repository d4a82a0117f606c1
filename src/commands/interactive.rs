//! `commsadvise interactive`: placeholder.

use crate::cli::InteractiveArgs;
use crate::commands::Failure;

pub fn run(_args: &InteractiveArgs) -> Result<(), Failure> {
    Err(crate::Error::Internal("WIP".into()).into())
}
