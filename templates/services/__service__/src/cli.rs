//! The command line of the `{{ service.name }}` binary, parsed by hand (no
//! argument-parser dependency) into a [`Command`].
{%- if not service.runs %}
//!
//! {{ service.nothing_to_serve | replace(from=": it has nothing to serve.", to=", so there is nothing to serve: run") }}
//! without a command it prints the usage and exits 2.
{%- endif %}

use std::fmt;

/// What `{{ service.name }} --help` prints.
pub const USAGE: &str = "\
{%- set_global first = true %}
{%- if service.runs %}
usage: {{ service.name }} [serve]
           {{ service.serve_text }} until SIGTERM / Ctrl-C
{%- set_global first = false %}
{%- endif %}
{%- for f in service.called_flows %}
{% if first %}usage:{% else %}      {% endif %} {{ service.name }} call {{ f.flow }} <{{ names.id_arg }}>
           {{ f.explain }}
{%- set_global first = false %}
{%- endfor %}
{%- for t in service.produces %}
{% if first %}usage:{% else %}      {% endif %} {{ service.name }} publish {{ t.flow }} <{{ names.id_arg }}>
           send one {{ t.flow }} event and wait for the broker's acknowledgement
{%- set_global first = false %}
{%- endfor %}
{%- if not service.runs %}

{{ service.nothing_to_serve }}
{%- endif %}

environment:
{{ service.usage_env }}";

/// A command of the `{{ service.name }}` binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
{%- if service.runs %}
    /// {{ service.serve_text | capitalize }} (the default with no arguments).
    Serve,
{%- endif %}
{%- if service.called_flows %}
    /// Call one flow once with `id` and print the answer.
    Call { flow: CalledFlow, id: String },
{%- endif %}
{%- if service.produces %}
    /// Send one event of a produced flow, keyed by `id`, and wait for its ack.
    Publish { flow: ProducedFlow, id: String },
{%- endif %}
}
{%- if service.called_flows %}

/// The flows this service calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalledFlow {
{%- for f in service.called_flows %}
    /// `{{ f.flow }}`: {{ f.explain | split(pat=" and print") | first }}.
    {{ f.flow_pascal }},
{%- endfor %}
}

impl CalledFlow {
    /// Every called flow, by its name in flows.yaml.
    pub const ALL: &[(&str, CalledFlow)] = &[
        // One entry per called flow, as `call <flow>` names it.
{%- for f in service.called_flows %}
        ("{{ f.flow }}", CalledFlow::{{ f.flow_pascal }}),
{%- endfor %}
    ];

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProducedFlow {
{%- for t in service.produces %}
    /// `{{ t.flow }}`, to topic `{{ t.topic }}`.
    {{ t.flow_pascal }},
{%- endfor %}
}

impl ProducedFlow {
    /// Every produced flow, by its name in flows.yaml.
    pub const ALL: &[(&str, ProducedFlow)] = &[
        // One entry per produced flow, as `publish <flow>` names it.
{%- for t in service.produces %}
        ("{{ t.flow }}", ProducedFlow::{{ t.flow_pascal }}),
{%- endfor %}
    ];

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

/// Why the command line was not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliError {
    /// `-h` / `--help`: print [`USAGE`] and succeed.
    Help,
{%- if service.runs %}
    /// Anything else: print the reason and [`USAGE`], exit 2.
{%- else %}
    /// Anything else, including no command at all: print the reason and
    /// [`USAGE`], exit 2.
{%- endif %}
    Usage(String),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Help => f.write_str("help requested"),
            CliError::Usage(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for CliError {}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, CliError> {
    let args: Vec<String> = args.into_iter().collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
{%- if service.runs %}
        [] | ["serve"] => Ok(Command::Serve),
{%- else %}
        [] => Err(CliError::Usage("missing command".into())),
{%- endif %}
        [help, ..] if matches!(*help, "-h" | "--help" | "help") => Err(CliError::Help),
{%- if service.called_flows %}
        ["call", flow, id] => {
            let flow = CalledFlow::ALL
                .iter()
                .find(|(name, _)| name == flow)
                .map(|&(_, flow)| flow)
                .ok_or_else(|| CliError::Usage(format!("unknown flow `{flow}` to call")))?;
            contract::ids::validate_id(id)
                .map_err(|e| CliError::Usage(format!("invalid {{ names.id_words }} `{id}`: {e}")))?;
            Ok(Command::Call {
                flow,
                id: (*id).to_owned(),
            })
        }
        ["call", ..] => Err(CliError::Usage("call takes a flow and an id".into())),
{%- endif %}
{%- if service.produces %}
        ["publish", flow, id] => {
            let flow = ProducedFlow::ALL
                .iter()
                .find(|(name, _)| name == flow)
                .map(|&(_, flow)| flow)
                .ok_or_else(|| CliError::Usage(format!("unknown flow `{flow}` to publish")))?;
            contract::ids::validate_id(id)
                .map_err(|e| CliError::Usage(format!("invalid {{ names.id_words }} `{id}`: {e}")))?;
            Ok(Command::Publish {
                flow,
                id: (*id).to_owned(),
            })
        }
        ["publish", ..] => Err(CliError::Usage("publish takes a flow and an id".into())),
{%- endif %}
        [other, ..] => Err(CliError::Usage(format!("unknown command `{other}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(ToString::to_string).collect()
    }
{%- if service.runs %}

    #[test]
    fn no_arguments_means_serve() {
        assert_eq!(parse(args(&[])), Ok(Command::Serve));
        assert_eq!(parse(args(&["serve"])), Ok(Command::Serve));
    }
{%- else %}

    #[test]
    fn no_command_is_a_usage_error_because_there_is_nothing_to_serve() {
        assert!(matches!(parse(args(&[])), Err(CliError::Usage(_))));
        assert!(matches!(parse(args(&["serve"])), Err(CliError::Usage(_))));
    }
{%- endif %}
{%- for f in service.called_flows %}

    #[test]
    fn call_takes_{{ f.flow | snake }}_and_the_id() {
        assert_eq!(
            parse(args(&["call", "{{ f.flow }}", "{{ names.sample_id }}"])),
            Ok(Command::Call {
                flow: CalledFlow::{{ f.flow_pascal }},
                id: "{{ names.sample_id }}".into()
            })
        );
    }
{%- endfor %}
{%- for t in service.produces %}

    #[test]
    fn publish_takes_{{ t.flow_ident }}_and_the_id_as_given() {
        assert_eq!(
            parse(args(&["publish", "{{ t.flow }}", "{{ names.sample_event_id }}"])),
            Ok(Command::Publish {
                flow: ProducedFlow::{{ t.flow_pascal }},
                id: "{{ names.sample_event_id }}".into()
            })
        );
    }
{%- endfor %}
{%- if service.called_flows or service.produces %}

    #[test]
    fn rejects_unknown_flows_bad_ids_and_commands() {
        for words in [
            &["frobnicate"][..],
{%- if service.called_flows %}
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
            assert!(
                matches!(parse(args(words)), Err(CliError::Usage(_))),
                "{words:?}"
            );
        }
    }
{%- else %}

    #[test]
    fn rejects_unknown_commands() {
        assert!(matches!(
            parse(args(&["frobnicate", "1"])),
            Err(CliError::Usage(_))
        ));
    }
{%- endif %}

    #[test]
    fn help_is_not_an_error_exit() {
        assert_eq!(parse(args(&["--help"])), Err(CliError::Help));
        assert_eq!(parse(args(&["-h"])), Err(CliError::Help));
    }
}
