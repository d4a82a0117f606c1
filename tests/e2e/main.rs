//! End-to-end tests: the real binary, real files, real exit codes.

mod common;
mod errors;
mod interactive;
mod recommend;
mod rules;
