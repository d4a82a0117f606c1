//! Links nothing on purpose: only makes cargo compile the dependencies.
fn main() {}
