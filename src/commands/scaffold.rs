//! `commsadvise scaffold`: placeholder until the scaffold lands.

use crate::cli::ScaffoldArgs;
use crate::commands::Failure;

pub fn run(_args: &ScaffoldArgs) -> Result<(), Failure> {
    Err(crate::Error::Internal("WIP".into()).into())
}
