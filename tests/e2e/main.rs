//! End-to-end tests: the real binary, real files, real exit codes.

mod common;
mod errors;
mod recommend;
mod rules;
