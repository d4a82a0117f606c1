//! The `commsadvise` binary: everything lives in the library.

fn main() {
    std::process::exit(commsadvise::run(std::env::args_os()));
}
