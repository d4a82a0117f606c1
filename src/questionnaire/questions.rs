//! The questions for one flow, one per flows.yaml field in the order of
//! docs/flows-yaml.md, and how each answer becomes that field's value.
//!
//! Questions are phrased as a team would discuss the flow ("must the sender
//! keep working while the receiver is down?") rather than by field name,
//! each with one line on why it sways the recommendation, and the current
//! value (the documented default for a new flow) pre-selected, so Enter always
//! means "keep it".

use crate::questionnaire::prompt::{Interrupted, Prompter, Question};
use crate::spec::model::{
    Client, Contract, Coupling, Delivery, Flow, Format, Interaction, Ordering, Transport,
};
use crate::spec::names;

/// The option that stands for a service not named yet.
pub const NEW_SERVICE: &str = "a new service…";

/// What a flow's answers are checked against.
pub struct Context<'a> {
    /// Services already known, sorted: offered as choices.
    pub services: Vec<&'a str>,
    /// Names of the other flows, which this one may not take.
    pub taken: Vec<&'a str>,
    /// Transports a flow may pin.
    pub transports: &'a [Transport],
}

/// Asks every question for one flow, starting from `base`: a blank flow
/// with the documented defaults when adding, the flow itself when editing.
pub fn ask_flow(
    p: &mut dyn Prompter,
    base: &Flow,
    context: &Context<'_>,
) -> Result<Flow, Interrupted> {
    let mut flow = base.clone();
    flow.name = name(p, base, context)?;
    flow.description = description(p, base)?;
    flow.from = from(p, base, context)?;
    flow.to = to(p, base, &flow.from, context)?;
    conversation(p, base, &mut flow)?;
    guarantees(p, base, &mut flow)?;
    flow.topic = topic(p, base, &flow.name)?;
    flow.transport = pin(p, base, context.transports)?;
    Ok(flow)
}

/// How the two sides talk: interaction to throughput.
fn conversation(p: &mut dyn Prompter, base: &Flow, flow: &mut Flow) -> Result<(), Interrupted> {
    flow.interaction = keyword(
        p,
        &Question::new(
            "How do the two sides talk?",
            "Waiting for an answer points to REST or gRPC; announcing an event and moving on points to Kafka.",
        ),
        INTERACTIONS,
        base.interaction,
    )?;
    flow.client = keyword(
        p,
        &Question::new(
            "Who calls this: a browser, a public client, or another internal service?",
            "Browsers and outside partners need plain HTTP and JSON; your own services can use gRPC or Kafka; your own mobile app can use gRPC (you ship its stubs).",
        ),
        CLIENTS,
        base.client,
    )?;
    flow.coupling = if p.confirm(
        &Question::new(
            "Must the sender keep working while the receiver is down or slow?",
            "Yes means loose coupling: a broker in between absorbs outages and slow consumers (Kafka).",
        ),
        base.coupling == Coupling::Loose,
    )? {
        Coupling::Loose
    } else {
        Coupling::Tight
    };
    flow.latency_ms = count(
        p,
        &Question::new(
            "What is the p99 latency budget for this hop, in milliseconds?",
            "A budget of a few milliseconds favours gRPC; a broker adds latency. Blank if there is none.",
        ),
        base.latency_ms,
    )?;
    flow.throughput = count(
        p,
        &Question::new(
            "What is the peak rate, in requests or messages per second?",
            "High rates favour gRPC or Kafka, and size Kafka's partitions. Blank if unknown.",
        ),
        base.throughput,
    )?;
    Ok(())
}

/// What the flow must guarantee: delivery to payload size.
fn guarantees(p: &mut dyn Prompter, base: &Flow, flow: &mut Flow) -> Result<(), Interrupted> {
    flow.delivery = keyword(
        p,
        &Question::new(
            "If something fails, may a message be lost, arrive twice, or must it arrive exactly once?",
            "Never losing a message needs a durable log with acknowledgements (Kafka); REST and gRPC need hand-made retries.",
        ),
        DELIVERIES,
        base.delivery,
    )?;
    flow.replay = p.confirm(
        &Question::new(
            "Must consumers be able to re-read past messages?",
            "Only a log-based broker (Kafka) keeps messages and lets a consumer rewind to an offset.",
        ),
        base.replay,
    )?;
    flow.ordering = keyword(
        p,
        &Question::new(
            "Must messages be handled in the order they were sent?",
            "Kafka keeps order per partition key; one total order means a single partition.",
        ),
        ORDERINGS,
        base.ordering,
    )?;
    flow.format = keyword(
        p,
        &Question::new(
            "Must the payload stay human-readable on the wire?",
            "Readable JSON suits REST and debugging; compact Protocol Buffers suit gRPC.",
        ),
        FORMATS,
        base.format,
    )?;
    flow.contract = if p.confirm(
        &Question::new(
            "Do both sides need a typed, versioned contract?",
            "A strict contract favours gRPC's Protocol Buffers; a flexible one suits evolving JSON.",
        ),
        base.contract == Contract::Strict,
    )? {
        Contract::Strict
    } else {
        Contract::Flexible
    };
    flow.payload_bytes = count(
        p,
        &Question::new(
            "What is a typical message size, in bytes?",
            "Large payloads weigh on brokers and browsers alike. Blank if unknown.",
        ),
        base.payload_bytes,
    )?;
    Ok(())
}

/// Asks until `parse` accepts the answer, showing why it did not.
pub(crate) fn ask_until<T>(
    p: &mut dyn Prompter,
    question: &Question,
    default: Option<&str>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<T, Interrupted> {
    loop {
        let answer = p.text(question, default)?;
        match parse(answer.trim()) {
            Ok(value) => return Ok(value),
            Err(why) => p.show(&format!("  x {why}; try again")),
        }
    }
}

/// A hint, plus how to clear a pre-filled optional answer.
pub(crate) fn clearable(hint: &str, current: bool) -> String {
    if current {
        format!("{hint} Enter - to clear it.")
    } else {
        hint.to_owned()
    }
}

/// Whether an answer to an optional question means "none".
pub(crate) fn is_clear(answer: &str) -> bool {
    answer.is_empty() || answer == "-"
}

fn name(p: &mut dyn Prompter, base: &Flow, context: &Context<'_>) -> Result<String, Interrupted> {
    let question = Question::new(
        "What is the flow called?",
        "Lowercase letters, digits and '-', e.g. get-order: it names the handler, the report line and, by default, the Kafka topic.",
    );
    let default = (!base.name.is_empty()).then_some(base.name.as_str());
    ask_until(p, &question, default, |answer| {
        names::check_flow(answer).map_err(|why| format!("`{answer}` cannot name a flow: {why}"))?;
        if context.taken.contains(&answer) {
            return Err(format!("a flow called `{answer}` exists already"));
        }
        Ok(answer.to_owned())
    })
}

fn description(p: &mut dyn Prompter, base: &Flow) -> Result<Option<String>, Interrupted> {
    let current = base.description.as_deref();
    let answer = p.text(
        &Question::new(
            "Describe it in one sentence (optional).",
            clearable(
                "Shown beside the recommendation, so a reader knows what the flow is for.",
                current.is_some(),
            ),
        ),
        current,
    )?;
    let answer = answer.trim();
    Ok((!is_clear(answer)).then(|| answer.to_owned()))
}

/// A name for a service nobody has mentioned yet.
fn new_service(p: &mut dyn Prompter, question: &Question) -> Result<String, Interrupted> {
    ask_until(p, question, None, |answer| {
        names::check_service(answer)
            .map(|()| answer.to_owned())
            .map_err(|why| format!("`{answer}` cannot name a service: {why}"))
    })
}

fn from(p: &mut dyn Prompter, base: &Flow, context: &Context<'_>) -> Result<String, Interrupted> {
    let hint =
        "The calling or producing side; each service becomes a crate in the generated workspace.";
    if context.services.is_empty() {
        return new_service(
            p,
            &Question::new("Which service calls or sends? (its name)", hint),
        );
    }
    // A service typed for this flow earlier (when it is asked again) is
    // offered too, though no saved flow names it yet.
    let mut options: Vec<&str> = context.services.clone();
    if !base.from.is_empty() && !options.contains(&base.from.as_str()) {
        options.push(&base.from);
        options.sort_unstable();
    }
    options.push(NEW_SERVICE);
    let default = options.iter().position(|s| *s == base.from).unwrap_or(0);
    let picked = p.select(
        &Question::new("Which service calls or sends?", hint),
        &options,
        default,
    )?;
    if options[picked] == NEW_SERVICE {
        return new_service(
            p,
            &Question::new(
                "What is the new service called?",
                "Lowercase letters, digits and '-', e.g. storefront.",
            ),
        );
    }
    Ok(options[picked].to_owned())
}

/// Service names separated by commas or spaces, each checked, no repeats.
fn service_list(answer: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for name in answer.split([',', ' ']).filter(|s| !s.is_empty()) {
        names::check_service(name)
            .map_err(|why| format!("`{name}` cannot name a service: {why}"))?;
        if !out.iter().any(|n| n == name) {
            out.push(name.to_owned());
        }
    }
    Ok(out)
}

fn to(
    p: &mut dyn Prompter,
    base: &Flow,
    from: &str,
    context: &Context<'_>,
) -> Result<Vec<String>, Interrupted> {
    let hint =
        "One service, or several for a fan-out; many receivers of the same message favour Kafka.";
    let mut options: Vec<&str> = context
        .services
        .iter()
        .copied()
        .chain(base.to.iter().map(String::as_str))
        .filter(|s| *s != from || base.to.iter().any(|t| t == s))
        .collect();
    options.sort_unstable();
    options.dedup();
    if options.is_empty() {
        let question = Question::new(
            "Which service receives it? (several: separate them with commas)",
            hint,
        );
        return ask_until(p, &question, None, |answer| {
            let list = service_list(answer)?;
            if list.is_empty() {
                return Err("name at least one receiving service".to_owned());
            }
            Ok(list)
        });
    }
    options.push(NEW_SERVICE);
    let checked: Vec<bool> = options
        .iter()
        .map(|o| base.to.iter().any(|t| t == o))
        .collect();
    let question = Question::new(
        "Which services receive it? (space ticks, Enter confirms)",
        hint,
    );
    loop {
        let picked = p.multi_select(&question, &options, &checked)?;
        let mut receivers: Vec<String> = picked
            .iter()
            .map(|&i| options[i])
            .filter(|o| *o != NEW_SERVICE)
            .map(str::to_owned)
            .collect();
        if picked.iter().any(|&i| options[i] == NEW_SERVICE) {
            let new = ask_until(
                p,
                &Question::new(
                    "What are the new receiving services called? (separate them with commas)",
                    "Lowercase letters, digits and '-', e.g. shipping, analytics.",
                ),
                None,
                service_list,
            )?;
            for name in new {
                if !receivers.contains(&name) {
                    receivers.push(name);
                }
            }
        }
        if !receivers.is_empty() {
            return Ok(receivers);
        }
        p.show("  x tick at least one receiving service, or a new one; try again");
    }
}

/// Picks one keyword of `glosses`, each shown as flows.yaml spells it and
/// what it means for this question.
fn keyword<T: Copy + PartialEq + std::fmt::Display>(
    p: &mut dyn Prompter,
    question: &Question,
    glosses: &[(T, &str)],
    current: T,
) -> Result<T, Interrupted> {
    let options: Vec<String> = glosses
        .iter()
        .map(|(v, gloss)| format!("{v} — {gloss}"))
        .collect();
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let default = glosses.iter().position(|(v, _)| *v == current).unwrap_or(0);
    Ok(glosses[p.select(question, &options, default)?].0)
}

/// A whole number of at least 1, or none. Separators (`20,000`, `20_000`)
/// are accepted because that is how people write rates.
pub fn parse_count(answer: &str) -> Result<Option<u64>, String> {
    if is_clear(answer) {
        return Ok(None);
    }
    let digits: String = answer.chars().filter(|c| !matches!(c, ',' | '_')).collect();
    match digits.parse::<u64>() {
        Ok(0) => Err("it must be at least 1 (leave it blank if there is no figure)".to_owned()),
        Ok(n) => Ok(Some(n)),
        Err(_) => Err(format!("`{answer}` is not a whole number")),
    }
}

fn count(
    p: &mut dyn Prompter,
    question: &Question,
    current: Option<u64>,
) -> Result<Option<u64>, Interrupted> {
    let question = Question::new(
        question.text.clone(),
        clearable(&question.hint, current.is_some()),
    );
    let default = current.map(|n| n.to_string());
    ask_until(p, &question, default.as_deref(), parse_count)
}

fn topic(p: &mut dyn Prompter, base: &Flow, name: &str) -> Result<Option<String>, Interrupted> {
    let current = base.topic.as_deref();
    let question = Question::new(
        "Which Kafka topic carries it, if Kafka does?",
        clearable(
            &format!(
                "Only used when Kafka carries the flow; blank keeps the flow's name, `{name}`."
            ),
            current.is_some(),
        ),
    );
    ask_until(p, &question, current, |answer| {
        // The flow's name is the default topic: writing it out adds nothing.
        if is_clear(answer) || answer == name {
            return Ok(None);
        }
        names::check_topic(answer)
            .map(|()| Some(answer.to_owned()))
            .map_err(|why| format!("`{answer}` cannot name a topic: {why}"))
    })
}

fn pin(
    p: &mut dyn Prompter,
    base: &Flow,
    allowed: &[Transport],
) -> Result<Option<Transport>, Interrupted> {
    let mut options = vec!["no — let the rules decide"];
    options.extend(allowed.iter().map(|t| t.as_str()));
    let default = base
        .transport
        .and_then(|t| allowed.iter().position(|a| *a == t))
        .map_or(0, |i| i + 1);
    let picked = p.select(
        &Question::new(
            "Pin a transport for this flow?",
            "Usually leave it to the rules; a pin is kept, and the report still shows what the rules would pick.",
        ),
        &options,
        default,
    )?;
    Ok(picked.checked_sub(1).map(|i| allowed[i]))
}

/// What each keyword means for its question, in the keyword's own order
/// (the options are listed so); its spelling comes from the keyword.
const INTERACTIONS: &[(Interaction, &str)] = &[
    (
        Interaction::RequestResponse,
        "the caller waits for an answer",
    ),
    (
        Interaction::Event,
        "the sender announces something and moves on",
    ),
    (
        Interaction::Stream,
        "a continuous run of messages over one connection",
    ),
];

const CLIENTS: &[(Client, &str)] = &[
    (Client::Browser, "JavaScript in a web page"),
    (
        Client::Public,
        "partners or customers outside the organisation",
    ),
    (Client::Internal, "another of your own services"),
    (Client::Mobile, "your own native app on phones"),
];

const DELIVERIES: &[(Delivery, &str)] = &[
    (
        Delivery::AtMostOnce,
        "losing one now and then is acceptable",
    ),
    (
        Delivery::AtLeastOnce,
        "never lost; the receiver copes with duplicates",
    ),
    (Delivery::ExactlyOnce, "never lost and never duplicated"),
];

const ORDERINGS: &[(Ordering, &str)] = &[
    (Ordering::None, "any order is fine"),
    (Ordering::PerKey, "in order per entity, e.g. per order id"),
    (Ordering::Total, "one order for everything"),
];

const FORMATS: &[(Format, &str)] = &[
    (Format::Json, "yes, readable JSON"),
    (Format::Binary, "no, compact binary is preferred"),
    (Format::Any, "no preference"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::load::FLOW_KEYS;

    /// The flow keys [`ask_flow`] asks for, in the order of the declaration
    /// (spec/fields.rs), which is the order it asks in.
    const ASKED: &[&str] = &[
        "name",
        "description",
        "from",
        "to",
        "interaction",
        "client",
        "coupling",
        "latency_ms",
        "throughput",
        "delivery",
        "replay",
        "ordering",
        "format",
        "contract",
        "payload_bytes",
        "topic",
        "transport",
    ];

    /// The keys it leaves to the file: the contract binding, a topic's
    /// retention and evolution, and the call shape the system checks read
    /// are settings a team writes once it has a flows.yaml, not answers
    /// about one flow. Editing a flow keeps them ([`ask_flow`] starts from
    /// the flow itself).
    const NOT_ASKED: &[&str] = &[
        "retention_hours",
        "rpc",
        "message",
        "key",
        "compatibility",
        "during",
        "per_item",
    ];

    /// Step 5 of spec/fields.rs: every field of a flow is asked for or
    /// left out on purpose.
    #[test]
    fn every_flow_key_is_asked_for_or_left_out_on_purpose() {
        for key in FLOW_KEYS {
            assert!(
                ASKED.contains(key) != NOT_ASKED.contains(key),
                "`{key}`: add it to ASKED (and ask for it) or to NOT_ASKED"
            );
        }
        assert_eq!(ASKED.len() + NOT_ASKED.len(), FLOW_KEYS.len());
    }

    #[test]
    fn every_keyword_question_offers_every_value_in_order() {
        fn values<T: Copy>(glosses: &[(T, &str)]) -> Vec<T> {
            glosses.iter().map(|(v, _)| *v).collect()
        }
        assert_eq!(values(INTERACTIONS), Interaction::ALL);
        assert_eq!(values(CLIENTS), Client::ALL);
        assert_eq!(values(DELIVERIES), Delivery::ALL);
        assert_eq!(values(ORDERINGS), Ordering::ALL);
        assert_eq!(values(FORMATS), Format::ALL);
    }
    use crate::questionnaire::script::{Answer, Script};

    fn context<'a>(services: &[&'a str], taken: &[&'a str]) -> Context<'a> {
        Context {
            services: services.to_vec(),
            taken: taken.to_vec(),
            transports: Transport::ALL,
        }
    }

    /// Answers name, from and to, then Enter for every other question.
    fn defaults_after(name: &'static str, from: &'static str, to: &'static str) -> Vec<Answer> {
        let mut answers = vec![
            Answer::Text(name),
            Answer::Enter,
            Answer::Text(from),
            Answer::Text(to),
        ];
        answers.extend(std::iter::repeat_n(Answer::Enter, 13));
        answers
    }

    #[test]
    fn asks_for_every_field_with_defaults() {
        let mut script = Script::new(defaults_after("get-order", "storefront", "orders"));
        let flow = ask_flow(&mut script, &Flow::blank(), &context(&[], &[])).expect("answered");
        assert_eq!(flow, Flow::new("get-order", "storefront", "orders"));
        assert!(script.finished());
        let asked: Vec<(&str, &str)> = script
            .asked
            .iter()
            .map(|a| (a.question.text.as_str(), a.default.as_str()))
            .collect();
        assert_eq!(
            asked,
            [
                ("What is the flow called?", ""),
                ("Describe it in one sentence (optional).", ""),
                ("Which service calls or sends? (its name)", ""),
                (
                    "Which service receives it? (several: separate them with commas)",
                    ""
                ),
                (
                    "How do the two sides talk?",
                    "request-response — the caller waits for an answer"
                ),
                (
                    "Who calls this: a browser, a public client, or another internal service?",
                    "internal — another of your own services"
                ),
                (
                    "Must the sender keep working while the receiver is down or slow?",
                    "no"
                ),
                (
                    "What is the p99 latency budget for this hop, in milliseconds?",
                    ""
                ),
                (
                    "What is the peak rate, in requests or messages per second?",
                    ""
                ),
                (
                    "If something fails, may a message be lost, arrive twice, or must it arrive exactly once?",
                    "at-most-once — losing one now and then is acceptable"
                ),
                ("Must consumers be able to re-read past messages?", "no"),
                (
                    "Must messages be handled in the order they were sent?",
                    "none — any order is fine"
                ),
                (
                    "Must the payload stay human-readable on the wire?",
                    "any — no preference"
                ),
                ("Do both sides need a typed, versioned contract?", "no"),
                ("What is a typical message size, in bytes?", ""),
                ("Which Kafka topic carries it, if Kafka does?", ""),
                (
                    "Pin a transport for this flow?",
                    "no — let the rules decide"
                ),
            ]
        );
        assert!(
            script.asked.iter().all(|a| !a.question.hint.is_empty()),
            "every question says why it matters"
        );
    }

    #[test]
    fn maps_every_answer_to_its_field() {
        let mut script = Script::new([
            Answer::Text("order-created"),
            Answer::Text("Every new order: announced"),
            Answer::Pick("orders"),
            Answer::Check(&["analytics", NEW_SERVICE]),
            Answer::Text("shipping, billing"),
            Answer::Pick("event"),
            Answer::Pick("public"),
            Answer::Yes,
            Answer::Text("250"),
            Answer::Text("20,000"),
            Answer::Pick("at-least-once"),
            Answer::Yes,
            Answer::Pick("per-key"),
            Answer::Pick("binary"),
            Answer::Yes,
            Answer::Text("1_024"),
            Answer::Text("order-events"),
            Answer::Pick("kafka"),
        ]);
        let flow = ask_flow(
            &mut script,
            &Flow::blank(),
            &context(&["analytics", "orders", "storefront"], &["get-order"]),
        )
        .expect("answered");
        let mut expected = Flow::new("order-created", "orders", "analytics");
        expected.description = Some("Every new order: announced".to_owned());
        expected.to = vec!["analytics".into(), "shipping".into(), "billing".into()];
        expected.interaction = Interaction::Event;
        expected.client = Client::Public;
        expected.coupling = Coupling::Loose;
        expected.latency_ms = Some(250);
        expected.throughput = Some(20_000);
        expected.delivery = Delivery::AtLeastOnce;
        expected.replay = true;
        expected.ordering = Ordering::PerKey;
        expected.format = Format::Binary;
        expected.contract = Contract::Strict;
        expected.payload_bytes = Some(1024);
        expected.topic = Some("order-events".to_owned());
        expected.transport = Some(Transport::Kafka);
        assert_eq!(flow, expected);
        assert!(script.finished());
        // Every answer here differs from the default, so every key asked
        // for is set.
        let mut set = Vec::new();
        flow.each_set(|key, _| set.push(key));
        assert_eq!(set, ASKED);
    }

    #[test]
    fn offers_known_services_and_a_new_one() {
        let mut answers = vec![
            Answer::Text("audit"),
            Answer::Enter,
            Answer::Pick(NEW_SERVICE),
            Answer::Text("payments"),
            Answer::Check(&["orders"]),
        ];
        answers.extend(std::iter::repeat_n(Answer::Enter, 13));
        let mut script = Script::new(answers);
        let flow = ask_flow(
            &mut script,
            &Flow::blank(),
            &context(&["orders", "storefront"], &[]),
        )
        .expect("answered");
        assert_eq!(
            (flow.from.as_str(), flow.to.as_slice()),
            ("payments", &["orders".to_owned()][..])
        );
        assert_eq!(
            script.question("calls or sends").options,
            ["orders", "storefront", NEW_SERVICE]
        );
        // The sender is not offered as its own receiver.
        assert_eq!(
            script.question("receive").options,
            ["orders", "storefront", NEW_SERVICE]
        );
    }

    #[test]
    fn re_asks_until_names_follow_the_rules() {
        let mut answers = vec![
            Answer::Text("Get_Order"),
            Answer::Text("taken"),
            Answer::Text("get-order"),
            Answer::Enter,
            Answer::Text("async"),
            Answer::Text("storefront"),
            Answer::Text(""),
            Answer::Text("orders"),
        ];
        answers.extend(std::iter::repeat_n(Answer::Enter, 13));
        let mut script = Script::new(answers);
        let flow =
            ask_flow(&mut script, &Flow::blank(), &context(&[], &["taken"])).expect("answered");
        assert_eq!(flow, Flow::new("get-order", "storefront", "orders"));
        let output = script.output();
        assert!(
            output.contains("`Get_Order` cannot name a flow"),
            "{output}"
        );
        assert!(
            output.contains("a flow called `taken` exists already"),
            "{output}"
        );
        assert!(
            output.contains("`async` cannot name a service: `async` is a Rust keyword"),
            "{output}"
        );
        assert!(
            output.contains("name at least one receiving service"),
            "{output}"
        );
    }

    #[test]
    fn validates_numbers_and_blank_means_not_set() {
        assert_eq!(parse_count(""), Ok(None));
        assert_eq!(parse_count("-"), Ok(None));
        assert_eq!(parse_count("20,000"), Ok(Some(20_000)));
        assert_eq!(parse_count("5"), Ok(Some(5)));
        assert!(parse_count("0").unwrap_err().contains("at least 1"));
        assert!(
            parse_count("fast")
                .unwrap_err()
                .contains("not a whole number")
        );
        assert!(parse_count("-5").is_err());
        assert!(parse_count("1.5").is_err());
    }

    #[test]
    fn editing_keeps_every_answer_on_enter() {
        let mut base = Flow::new("order-created", "orders", "analytics");
        base.description = Some("Announced".to_owned());
        base.to.push("shipping".to_owned());
        base.interaction = Interaction::Event;
        base.client = Client::Public;
        base.coupling = Coupling::Loose;
        base.latency_ms = Some(20);
        base.throughput = Some(300);
        base.delivery = Delivery::ExactlyOnce;
        base.replay = true;
        base.ordering = Ordering::Total;
        base.format = Format::Json;
        base.contract = Contract::Strict;
        base.payload_bytes = Some(64);
        base.topic = Some("events".to_owned());
        base.transport = Some(Transport::Grpc);
        let mut script = Script::new(std::iter::repeat_n(Answer::Enter, 17));
        let flow = ask_flow(
            &mut script,
            &base,
            &context(&["analytics", "orders", "shipping"], &[]),
        )
        .expect("answered");
        assert_eq!(flow, base);
        assert!(script.finished());
        assert!(
            script
                .question("latency")
                .question
                .hint
                .contains("Enter - to clear")
        );
    }

    #[test]
    fn a_dash_clears_an_optional_answer() {
        let mut base = Flow::new("get-order", "storefront", "orders");
        base.description = Some("Shows an order".to_owned());
        base.latency_ms = Some(200);
        base.topic = Some("orders-read".to_owned());
        let mut answers = vec![
            Answer::Enter,
            Answer::Text("-"),
            Answer::Enter,
            Answer::Enter,
        ];
        answers.extend(std::iter::repeat_n(Answer::Enter, 3));
        answers.push(Answer::Text("-"));
        answers.extend(std::iter::repeat_n(Answer::Enter, 7));
        answers.push(Answer::Text("-"));
        answers.push(Answer::Enter);
        let mut script = Script::new(answers);
        let flow = ask_flow(&mut script, &base, &context(&["orders", "storefront"], &[]))
            .expect("answered");
        assert_eq!(flow, Flow::new("get-order", "storefront", "orders"));
    }

    #[test]
    fn the_flow_name_as_topic_is_left_out() {
        let mut answers = defaults_after("get-order", "storefront", "orders");
        answers[15] = Answer::Text("get-order");
        let mut script = Script::new(answers);
        let flow = ask_flow(&mut script, &Flow::blank(), &context(&[], &[])).expect("answered");
        assert_eq!(flow.topic, None);
    }

    #[test]
    fn pins_only_transports_the_organisation_runs() {
        let mut answers = defaults_after("get-order", "storefront", "orders");
        answers[16] = Answer::Pick("grpc");
        let mut script = Script::new(answers);
        let allowed = [Transport::Grpc, Transport::Kafka];
        let context = Context {
            transports: &allowed,
            ..context(&[], &[])
        };
        let flow = ask_flow(&mut script, &Flow::blank(), &context).expect("answered");
        assert_eq!(flow.transport, Some(Transport::Grpc));
        assert_eq!(
            script.question("Pin").options,
            ["no — let the rules decide", "grpc", "kafka"]
        );
    }

    #[test]
    fn stops_when_interrupted() {
        let mut script = Script::new([Answer::Text("get-order")]);
        assert_eq!(
            ask_flow(&mut script, &Flow::blank(), &context(&[], &[])),
            Err(Interrupted)
        );
    }
}
