//! The scaffold: a plan of files first, written after.
