//! End-to-end tests: the real binary, real files, real exit codes.

mod adr;
mod apidocs;
mod cases;
mod check;
mod cli;
mod common;
mod contract;
mod deploy;
mod diagrams;
mod docs;
mod errors;
mod evolution;
mod findings;
mod generated;
mod interactive;
mod layout;
mod names;
mod recommend;
mod regenerate;
mod rules;
mod safety;
mod scaffold;
mod schema;
