//! Entry point of the `{{ service.name }}` binary. It only hands the command line to
//! [`{{ service.ident }}::app::run`]; {% if service.serves_rest or service.serves_grpc %}servers run{% elif service.handles %}the consumer runs{% else %}the tasks run{% endif %} on spawned tasks, not on this thread.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    {{ service.ident }}::app::run(std::env::args().skip(1)).await
}
