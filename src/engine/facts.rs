//! The facts of one flow that rules can test, as plain copyable values.
//!
//! Rules never see a [`Flow`] directly: the engine evaluates them against
//! [`Facts`], which are cheap to copy, so "what if this field were different"
//! questions cost no allocation.

use crate::keywords::keywords;
use crate::spec::model::{
    Client, Contract, Coupling, Delivery, Flow, FlowsFile, Format, Interaction, Ordering,
    Preference,
};

keywords! {
    /// A flow field that a rule condition can name, spelled as in the rules
    /// (and, for those that are keys of a flow, as in flows.yaml), in the
    /// order flows.yaml documents them.
    Field {
        Interaction = "interaction",
        Client = "client",
        Coupling = "coupling",
        LatencyMs = "latency_ms",
        Throughput = "throughput",
        Delivery = "delivery",
        Replay = "replay",
        Ordering = "ordering",
        Format = "format",
        Contract = "contract",
        PayloadBytes = "payload_bytes",
        /// How many services the flow goes to (the length of `to`).
        Receivers = "receivers",
        /// The team's stated default for a flow like this one (top-level
        /// `prefer:`), `none` when it states none.
        Prefer = "prefer",
        /// Whether a receiving service declares `exposed: true`: its API
        /// also serves clients outside the organisation.
        Exposed = "exposed",
    }
}

/// What kind of value a field holds, which decides the operators it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One of a closed set of words; the slice lists them.
    Keyword(&'static [&'static str]),
    /// An optional non-negative number.
    Number,
    Bool,
}

/// One field's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// Index into the field's keyword list.
    Keyword(u8),
    /// `None` when the flow leaves the number out.
    Number(Option<u64>),
    Bool(bool),
}

impl Field {
    pub fn name(self) -> &'static str {
        self.as_str()
    }

    pub fn names() -> Vec<&'static str> {
        Field::NAMES.to_vec()
    }

    pub fn kind(self) -> Kind {
        match self {
            Field::Interaction => Kind::Keyword(Interaction::NAMES),
            Field::Client => Kind::Keyword(Client::NAMES),
            Field::Coupling => Kind::Keyword(Coupling::NAMES),
            Field::Delivery => Kind::Keyword(Delivery::NAMES),
            Field::Ordering => Kind::Keyword(Ordering::NAMES),
            Field::Format => Kind::Keyword(Format::NAMES),
            Field::Contract => Kind::Keyword(Contract::NAMES),
            Field::Prefer => Kind::Keyword(Preference::NAMES),
            Field::LatencyMs | Field::Throughput | Field::PayloadBytes | Field::Receivers => {
                Kind::Number
            }
            Field::Replay | Field::Exposed => Kind::Bool,
        }
    }
}

/// The rule-relevant facts of one flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Facts {
    pub interaction: Interaction,
    pub client: Client,
    pub coupling: Coupling,
    pub latency_ms: Option<u64>,
    pub throughput: Option<u64>,
    pub delivery: Delivery,
    pub replay: bool,
    pub ordering: Ordering,
    pub format: Format,
    pub contract: Contract,
    pub payload_bytes: Option<u64>,
    pub receivers: u64,
    pub prefer: Preference,
    pub exposed: bool,
}

impl Facts {
    pub fn of(flow: &Flow) -> Facts {
        Facts {
            interaction: flow.interaction,
            client: flow.client,
            coupling: flow.coupling,
            latency_ms: flow.latency_ms,
            throughput: flow.throughput,
            delivery: flow.delivery,
            replay: flow.replay,
            ordering: flow.ordering,
            format: flow.format,
            contract: flow.contract,
            payload_bytes: flow.payload_bytes,
            receivers: flow.to.len() as u64,
            prefer: Preference::None,
            exposed: false,
        }
    }

    /// The facts of `flow` within `file`, which adds what the file says
    /// around the flow: the team's preference for it, and whether a
    /// receiver is exposed to outside clients.
    pub fn in_file(flow: &Flow, file: &FlowsFile) -> Facts {
        Facts {
            prefer: file.prefer.for_flow(flow),
            exposed: flow
                .to
                .iter()
                .any(|to| file.services.get(to).is_some_and(|s| s.exposed)),
            ..Facts::of(flow)
        }
    }

    /// The facts of a flow that sets nothing: every documented default, one
    /// receiver.
    pub fn defaults() -> Facts {
        Facts::of(&Flow::new("example", "a", "b"))
    }

    pub fn get(&self, field: Field) -> Value {
        match field {
            Field::Interaction => Value::Keyword(self.interaction.index()),
            Field::Client => Value::Keyword(self.client.index()),
            Field::Coupling => Value::Keyword(self.coupling.index()),
            Field::LatencyMs => Value::Number(self.latency_ms),
            Field::Throughput => Value::Number(self.throughput),
            Field::Delivery => Value::Keyword(self.delivery.index()),
            Field::Replay => Value::Bool(self.replay),
            Field::Ordering => Value::Keyword(self.ordering.index()),
            Field::Format => Value::Keyword(self.format.index()),
            Field::Contract => Value::Keyword(self.contract.index()),
            Field::PayloadBytes => Value::Number(self.payload_bytes),
            Field::Receivers => Value::Number(Some(self.receivers)),
            Field::Prefer => Value::Keyword(self.prefer.index()),
            Field::Exposed => Value::Bool(self.exposed),
        }
    }

    /// Sets one field; a value of the wrong kind leaves the facts unchanged
    /// (callers build values from [`Field::kind`], so that cannot happen).
    pub fn set(&mut self, field: Field, value: Value) {
        fn pick<T: Copy>(all: &[T], i: u8, slot: &mut T) {
            if let Some(v) = all.get(usize::from(i)) {
                *slot = *v;
            }
        }
        match (field, value) {
            (Field::Interaction, Value::Keyword(i)) => {
                pick(Interaction::ALL, i, &mut self.interaction);
            }
            (Field::Client, Value::Keyword(i)) => pick(Client::ALL, i, &mut self.client),
            (Field::Coupling, Value::Keyword(i)) => pick(Coupling::ALL, i, &mut self.coupling),
            (Field::Delivery, Value::Keyword(i)) => pick(Delivery::ALL, i, &mut self.delivery),
            (Field::Ordering, Value::Keyword(i)) => pick(Ordering::ALL, i, &mut self.ordering),
            (Field::Format, Value::Keyword(i)) => pick(Format::ALL, i, &mut self.format),
            (Field::Contract, Value::Keyword(i)) => pick(Contract::ALL, i, &mut self.contract),
            (Field::Prefer, Value::Keyword(i)) => pick(Preference::ALL, i, &mut self.prefer),
            (Field::Exposed, Value::Bool(b)) => self.exposed = b,
            (Field::LatencyMs, Value::Number(n)) => self.latency_ms = n,
            (Field::Throughput, Value::Number(n)) => self.throughput = n,
            (Field::PayloadBytes, Value::Number(n)) => self.payload_bytes = n,
            (Field::Receivers, Value::Number(n)) => self.receivers = n.unwrap_or(1).max(1),
            (Field::Replay, Value::Bool(b)) => self.replay = b,
            _ => {}
        }
    }
}

/// How a value reads in a report: `client were internal`, `latency_ms were 40`.
pub fn display_value(field: Field, value: Value) -> String {
    match (field.kind(), value) {
        (Kind::Keyword(names), Value::Keyword(i)) => {
            names.get(usize::from(i)).copied().unwrap_or("?").to_owned()
        }
        (_, Value::Number(Some(n))) => n.to_string(),
        (_, Value::Number(None)) => "unset".to_owned(),
        (_, Value::Bool(b)) => b.to_string(),
        _ => "?".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::load::FLOW_KEYS;

    /// A fact named like a flow key reads that key: for each, a flow that
    /// sets it to something other than its default shows the value written.
    #[test]
    fn facts_named_like_flow_keys_read_those_keys() {
        let defaults = Facts::defaults();
        let keyed: Vec<Field> = Field::ALL
            .iter()
            .copied()
            .filter(|f| FLOW_KEYS.contains(&f.name()))
            .collect();
        assert!(keyed.len() >= 11, "{keyed:?}");
        for field in keyed {
            let written = match field.kind() {
                Kind::Keyword(names) => names
                    .iter()
                    .find(|n| **n != display_value(field, defaults.get(field)))
                    .copied()
                    .expect("a keyword with a second value")
                    .to_owned(),
                Kind::Number => "7".to_owned(),
                Kind::Bool => "true".to_owned(),
            };
            // Event flows accept every key a rule reads.
            let interaction = if field == Field::Interaction {
                String::new()
            } else {
                "    interaction: event\n".to_owned()
            };
            let text = format!(
                "version: 1\nflows:\n  - name: f\n    from: a\n    to: b\n{interaction}    {}: {written}\n",
                field.name()
            );
            let file = crate::spec::load_str("flows.yaml", &text)
                .unwrap_or_else(|e| panic!("{text}\n{e}"));
            let facts = Facts::in_file(&file.flows[0], &file);
            assert_eq!(display_value(field, facts.get(field)), written, "{field}");
        }
    }

    #[test]
    fn set_then_get_round_trips_every_field() {
        let mut facts = Facts::defaults();
        facts.set(Field::Client, Value::Keyword(0));
        facts.set(Field::LatencyMs, Value::Number(Some(7)));
        facts.set(Field::Replay, Value::Bool(true));
        assert_eq!(facts.get(Field::Client), Value::Keyword(0));
        assert_eq!(facts.get(Field::LatencyMs), Value::Number(Some(7)));
        assert_eq!(facts.get(Field::Replay), Value::Bool(true));
    }
}
