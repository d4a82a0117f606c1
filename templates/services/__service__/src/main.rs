//! Entry point of the `{{ service.name }}` binary. It only hands the command line to
{%- if service.runs %}
//! [`{{ service.ident }}::app::run`]; {% if service.serves_rest or service.serves_grpc %}servers run on spawned tasks, not on this thread{% else %}the consumer runs on a spawned task{% endif %}.
{%- else %}
//! [`{{ service.ident }}::app::run`].
{%- endif %}

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    {{ service.ident }}::app::run(std::env::args().skip(1)).await
}
