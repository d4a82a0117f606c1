//! The command line of the `{{ service.name }}` binary, parsed with clap into a
//! [`Command`]: `--help` and the error messages (with did-you-mean for a
//! misspelt flow) come from clap, the exit codes too (2 on a usage error).
{%- set calls = service.called_flows | length > 0 %}
{%- set calls_stream = service.called_flows | filter(attribute="streaming", value=true) | length > 0 %}
{%- set takes_input = calls or service.produces %}

use clap::{Parser, Subcommand, ValueEnum};

/// What `--help` shows after the commands.
const ENVIRONMENT: &str = "\
environment:
{{ service.usage_env }}";

/// The {{ service.name }} service: {{ service.summary }}.
#[derive(Debug, Parser)]
#[command(
    name = "{{ service.name }}",
    version,
    after_help = ENVIRONMENT
)]
pub struct Cli {
    /// What to do; `serve` when left out.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// A command of the `{{ service.name }}` binary.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// {{ service.serve_text | capitalize }} until SIGTERM / Ctrl-C (the default).
    Serve,
{%- if calls %}
    /// Call a flow once and print the answer in proto3 JSON{% if calls_stream %} (a stream: one message a line){% endif %}.
    Call {
        /// The flow to call.
        flow: CalledFlow,
        /// The request: proto3 JSON (starting with `{`), or an id that fills
        /// the request's id field.
        #[arg(value_parser = input)]
        input: Input,
{%- if calls_stream %}
        /// Stop a stream after this many messages (default: until it ends
        /// or Ctrl-C).
        #[arg(long, value_name = "N")]
        max: Option<u64>,
{%- endif %}
    },
{%- endif %}
{%- if service.produces %}
    /// Send one event of a flow and wait for the broker's acknowledgement.
    Publish {
        /// The flow to publish.
        flow: ProducedFlow,
        /// The event: proto3 JSON (starting with `{`), or an id that becomes
        /// its key in a sample event.
        #[arg(value_parser = input)]
        input: Input,
    },
{%- endif %}
    /// Ask the service running on `HTTP_ADDR` for its `/readyz` (or
    /// `/livez`): exit 0 on 200, 1 otherwise. A container's health check,
    /// where no curl is.
    Probe {
        /// Which probe.
        #[arg(value_enum, default_value_t = Probe::Readyz)]
        probe: Probe,
    },
}

/// The probes of `runtime::health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Probe {
    /// The process answers.
    Livez,
    /// Its dependencies answer and it is not draining.
    Readyz,
}

impl Probe {
    /// The probe's HTTP path.
    pub fn path(self) -> &'static str {
        match self {
            Probe::Livez => "/livez",
            Probe::Readyz => "/readyz",
        }
    }
}
{%- if calls %}

/// The flows this service calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CalledFlow {
{%- for f in service.called_flows %}
    /// {{ f.explain }}.
    #[value(name = "{{ f.flow }}")]
    {{ f.flow_pascal }},
{%- endfor %}
}

impl CalledFlow {
    /// The flow's name in flows.yaml.
    pub fn name(self) -> &'static str {
        match self {
{%- for f in service.called_flows %}
            CalledFlow::{{ f.flow_pascal }} => "{{ f.flow }}",
{%- endfor %}
        }
    }
}
{%- endif %}
{%- if service.produces %}

/// The Kafka flows this service produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProducedFlow {
{%- for t in service.produces %}
    /// `{{ t.flow }}`, to topic `{{ t.topic }}`.
    #[value(name = "{{ t.flow }}")]
    {{ t.flow_pascal }},
{%- endfor %}
}

impl ProducedFlow {
    /// The flow's name in flows.yaml.
    pub fn name(self) -> &'static str {
        match self {
{%- for t in service.produces %}
            ProducedFlow::{{ t.flow_pascal }} => "{{ t.flow }}",
{%- endfor %}
        }
    }
}
{%- endif %}
{%- if takes_input %}

/// The message argument of `call` and `publish`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A whole message in proto3 JSON.
    Json(String),
    /// An id (checked by `contract::ids`): a sample message carrying it.
    Id(String),
}

impl Input {
    /// The argument as given.
    pub fn as_str(&self) -> &str {
        match self {
            Input::Json(text) | Input::Id(text) => text,
        }
    }
}

/// An argument starting with `{` is JSON; anything else must be a valid id.
fn input(raw: &str) -> Result<Input, String> {
    if raw.trim_start().starts_with('{') {
        Ok(Input::Json(raw.to_owned()))
    } else {
        contract::ids::validate_id(raw).map_err(|err| format!("not JSON nor a valid id: {err}"))?;
        Ok(Input::Id(raw.to_owned()))
    }
}
{%- endif %}

/// Parses the arguments after the program name. `Err` carries what to
/// print and the exit code: 0 for `--help` / `--version`, 2 for a usage
/// error.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, clap::Error> {
    let args = std::iter::once("{{ service.name }}".to_owned()).chain(args);
    Cli::try_parse_from(args).map(|cli| cli.command.unwrap_or(Command::Serve))
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, error::ErrorKind};

    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(ToString::to_string).collect()
    }

    fn usage_error(words: &[&str]) -> bool {
        parse(args(words)).is_err_and(|err| err.exit_code() == 2)
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_arguments_means_serve() {
        assert_eq!(parse(args(&[])).unwrap(), Command::Serve);
        assert_eq!(parse(args(&["serve"])).unwrap(), Command::Serve);
    }

    #[test]
    fn probe_asks_readyz_unless_told_livez() {
        let probe = |words: &[&str]| {
            let Command::Probe { probe } = parse(args(words)).unwrap() else {
                panic!("{words:?} is not `probe`");
            };
            probe.path()
        };
        assert_eq!(probe(&["probe"]), "/readyz");
        assert_eq!(probe(&["probe", "livez"]), "/livez");
        assert!(usage_error(&["probe", "healthz"]));
    }
{%- for f in service.called_flows %}

    #[test]
    fn call_takes_{{ f.flow | snake }}_and_an_id_or_json() {
        assert_eq!(
            parse(args(&["call", "{{ f.flow }}", "{{ names.sample_id }}"])).unwrap(),
            Command::Call {
                flow: CalledFlow::{{ f.flow_pascal }},
                input: Input::Id("{{ names.sample_id }}".into()),
{%- if calls_stream %}
                max: None,
{%- endif %}
            }
        );
        assert_eq!(
            parse(args(&["call", "{{ f.flow }}", "{}"])).unwrap(),
            Command::Call {
                flow: CalledFlow::{{ f.flow_pascal }},
                input: Input::Json("{}".into()),
{%- if calls_stream %}
                max: None,
{%- endif %}
            }
        );
    }
{%- endfor %}
{%- for t in service.produces %}

    #[test]
    fn publish_takes_{{ t.flow_ident }}_and_the_id_as_given() {
        assert_eq!(
            parse(args(&["publish", "{{ t.flow }}", "{{ names.sample_event_id }}"])).unwrap(),
            Command::Publish {
                flow: ProducedFlow::{{ t.flow_pascal }},
                input: Input::Id("{{ names.sample_event_id }}".into()),
            }
        );
    }
{%- endfor %}
{%- if takes_input %}

    #[test]
    fn rejects_unknown_flows_bad_ids_and_commands() {
        for words in [
            &["frobnicate"][..],
{%- if calls %}
            &["call", "no-such-flow", "1"],
            &["call", "{{ service.called_flows[0].flow }}", "a/b"],
            &["call", "{{ service.called_flows[0].flow }}"],
{%- endif %}
{%- if service.produces %}
            &["publish", "no-such-flow", "1"],
            &["publish", "{{ service.produces[0].flow }}", "a b"],
            &["publish", "{{ service.produces[0].flow }}"],
{%- endif %}
        ] {
            assert!(usage_error(words), "{words:?}");
        }
    }
{%- else %}

    #[test]
    fn rejects_unknown_commands() {
        assert!(usage_error(&["frobnicate", "1"]));
    }
{%- endif %}

    #[test]
    fn help_is_not_an_error_exit_and_lists_the_environment() {
        for flag in ["--help", "-h"] {
            let err = parse(args(&[flag])).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::DisplayHelp);
            assert_eq!(err.exit_code(), 0);
            assert!(err.to_string().contains("environment:"), "{err}");
        }
    }
}
