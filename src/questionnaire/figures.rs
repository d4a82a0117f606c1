//! The questions about figures that matter only for some transports: how
//! long Kafka keeps a flow's messages, how available a service that others
//! wait on is, how many copies of a consuming service run in parallel, and
//! whether outsiders also call a service its own services call directly
//! (`exposed`, which favours REST for them).
//!
//! They are asked once the recommendation is known, so a person is asked
//! only what bears on it: retention for a flow Kafka carries, availability
//! for a service called synchronously (it multiplies along call chains),
//! instances for a service that consumes a Kafka topic (each copy needs a
//! partition). Each question pre-fills the current value, or the default
//! the engine assumes, so Enter keeps it; an answer equal to an undeclared
//! default leaves the field out of the file, as the writer does for every
//! default.

use crate::engine::sizing::RETENTION_HOURS;
use crate::questionnaire::prompt::{Interrupted, Prompter, Question};
use crate::questionnaire::questions::{ask_until, clearable, is_clear, parse_count};
use crate::spec::model::{DEFAULT_AVAILABILITY, Flow, Service};

/// Asks how long Kafka keeps `flow`'s messages, in hours.
pub fn retention(p: &mut dyn Prompter, flow: &Flow) -> Result<Option<u64>, Interrupted> {
    figure(
        p,
        format!(
            "How many hours must Kafka keep the messages of `{}`?",
            flow.name
        ),
        "A consumer can replay or catch up only within this window, and it sizes the topic's disk; Kafka's own default is a week (168).",
        (flow.retention_hours, RETENTION_HOURS),
        parse_count,
    )
}

/// Asks how much of the time `name` answers.
pub fn availability(
    p: &mut dyn Prompter,
    name: &str,
    service: &Service,
) -> Result<Option<f64>, Interrupted> {
    figure(
        p,
        format!("How much of the time does `{name}` answer? (0.999 is 99.9%)"),
        "A caller that waits on a chain of services is up only when all of them are: their availabilities multiply. 0.999 allows about 43 minutes down a month.",
        (service.availability, DEFAULT_AVAILABILITY),
        parse_availability,
    )
}

/// Asks how many copies of `name` consume in parallel.
pub fn instances(
    p: &mut dyn Prompter,
    name: &str,
    service: &Service,
) -> Result<Option<u32>, Interrupted> {
    figure(
        p,
        format!("How many copies of `{name}` consume in parallel?"),
        "Each copy reads its own partitions, so the topics it reads get at least this many; more copies than partitions sit idle.",
        (service.instances, 1),
        |answer| {
            parse_count(answer)?
                .map(|n| {
                    u32::try_from(n).map_err(|_| format!("`{answer}` is more than anyone runs"))
                })
                .transpose()
        },
    )
}

/// Asks whether clients outside the organisation consume `name`'s API.
pub fn exposed(p: &mut dyn Prompter, name: &str, service: &Service) -> Result<bool, Interrupted> {
    p.confirm(
        &Question::new(
            format!("Do clients outside your organisation (partners, third-party apps) also call `{name}`'s API?"),
            "An API that outsiders consume stays REST/JSON, and its internal callers reuse it rather than a second gRPC API.",
        ),
        service.exposed,
    )
}

/// Asks for one figure with `current` (or else `default`) pre-filled,
/// until `parse` accepts the answer. Blank or `-` means the default, and so
/// does the default itself when nothing was declared: the field stays out
/// of the file.
fn figure<T: Copy + PartialEq + ToString>(
    p: &mut dyn Prompter,
    text: String,
    hint: &str,
    (current, default): (Option<T>, T),
    parse: impl Fn(&str) -> Result<Option<T>, String>,
) -> Result<Option<T>, Interrupted> {
    let question = Question::new(text, reset_hint(hint, current.is_some()));
    let shown = current.unwrap_or(default).to_string();
    ask_until(p, &question, Some(&shown), |answer| {
        Ok(match parse(answer)? {
            Some(value) if value == default && current.is_none() => None,
            other => other,
        })
    })
}

/// A hint, plus how to go back to the default once a value is declared.
fn reset_hint(hint: &str, declared: bool) -> String {
    let hint = clearable(hint, declared);
    if declared {
        hint.replace("to clear it", "to go back to the default")
    } else {
        hint
    }
}

/// A fraction above 0 and at most 1, or a percentage written with `%`;
/// blank or `-` means "the default". A bare number above 1 is refused with
/// the fraction it probably meant, as the loader does.
pub fn parse_availability(answer: &str) -> Result<Option<f64>, String> {
    if is_clear(answer) {
        return Ok(None);
    }
    let (number, percent) = match answer.strip_suffix('%') {
        Some(number) => (number.trim(), true),
        None => (answer, false),
    };
    let value: f64 = number
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| format!("`{answer}` is not a number such as 0.999 or 99.9%"))?;
    let fraction = if percent {
        // Rounding to ten decimals drops the binary noise of dividing by
        // 100, so 99.9% becomes the same 0.999 a person would write.
        format!("{:.10}", value / 100.0)
            .parse::<f64>()
            .map_err(|e| e.to_string())?
    } else {
        value
    };
    if fraction > 0.0 && fraction <= 1.0 {
        return Ok(Some(fraction));
    }
    if !percent && value > 1.0 && value <= 100.0 {
        let meant = format!("{:.10}", value / 100.0);
        let meant = meant.trim_end_matches('0').trim_end_matches('.');
        return Err(format!(
            "`{answer}` is not a fraction; did you mean {meant} ({answer}%)?"
        ));
    }
    Err(format!("`{answer}` is out of range: above 0 and at most 1"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::questionnaire::script::{Answer, Script};

    #[test]
    fn reads_fractions_and_percentages() {
        assert_eq!(parse_availability("0.999"), Ok(Some(0.999)));
        assert_eq!(parse_availability("1"), Ok(Some(1.0)));
        assert_eq!(parse_availability("99.9%"), Ok(Some(0.999)));
        assert_eq!(parse_availability("99.95 %"), Ok(Some(0.9995)));
        assert_eq!(parse_availability("100%"), Ok(Some(1.0)));
        assert_eq!(parse_availability(""), Ok(None));
        assert_eq!(parse_availability("-"), Ok(None));
    }

    #[test]
    fn refuses_what_the_loader_refuses() {
        assert_eq!(
            parse_availability("99.9"),
            Err("`99.9` is not a fraction; did you mean 0.999 (99.9%)?".to_owned())
        );
        for answer in ["0", "-0.5", "150%", "0%", "200"] {
            assert!(
                parse_availability(answer)
                    .unwrap_err()
                    .contains("out of range"),
                "{answer}"
            );
        }
        for answer in ["high", "inf", "NaN", "%"] {
            assert!(
                parse_availability(answer)
                    .unwrap_err()
                    .contains("not a number"),
                "{answer}"
            );
        }
    }

    #[test]
    fn enter_on_a_default_leaves_the_field_out() {
        let mut script = Script::new([Answer::Enter, Answer::Enter, Answer::Enter]);
        let flow = Flow::new("order-created", "orders", "shipping");
        assert_eq!(retention(&mut script, &flow), Ok(None));
        assert_eq!(
            availability(&mut script, "orders", &Service::default()),
            Ok(None)
        );
        assert_eq!(
            instances(&mut script, "shipping", &Service::default()),
            Ok(None)
        );
        let defaults: Vec<&str> = script.asked.iter().map(|a| a.default.as_str()).collect();
        assert_eq!(
            defaults,
            ["168", "0.999", "1"],
            "the defaults are pre-filled"
        );
        assert!(
            script
                .asked
                .iter()
                .all(|a| !a.question.hint.is_empty() && !a.question.hint.contains("Enter -")),
            "every question says why it matters"
        );
    }

    #[test]
    fn keeps_declared_values_on_enter_and_resets_them_with_a_dash() {
        let mut flow = Flow::new("order-created", "orders", "shipping");
        flow.retention_hours = Some(168);
        let declared = Service {
            availability: Some(0.999),
            instances: Some(1),
            ..Service::default()
        };
        let mut script = Script::new([Answer::Enter, Answer::Enter, Answer::Enter]);
        assert_eq!(retention(&mut script, &flow), Ok(Some(168)));
        assert_eq!(
            availability(&mut script, "orders", &declared),
            Ok(Some(0.999))
        );
        assert_eq!(instances(&mut script, "shipping", &declared), Ok(Some(1)));
        assert!(
            script.asked[0]
                .question
                .hint
                .ends_with("Enter - to go back to the default.")
        );

        let mut script = Script::new([Answer::Text("-"), Answer::Text("-"), Answer::Text("-")]);
        assert_eq!(retention(&mut script, &flow), Ok(None));
        assert_eq!(availability(&mut script, "orders", &declared), Ok(None));
        assert_eq!(instances(&mut script, "shipping", &declared), Ok(None));
    }

    #[test]
    fn re_asks_until_the_figure_is_valid() {
        let mut script = Script::new([
            Answer::Text("0"),
            Answer::Text("72"),
            Answer::Text("99.9"),
            Answer::Text("99.95%"),
            Answer::Text("many"),
            Answer::Text("5000000000"),
            Answer::Text("4"),
        ]);
        let flow = Flow::new("order-created", "orders", "shipping");
        assert_eq!(retention(&mut script, &flow), Ok(Some(72)));
        assert_eq!(
            availability(&mut script, "orders", &Service::default()),
            Ok(Some(0.9995))
        );
        assert_eq!(
            instances(&mut script, "shipping", &Service::default()),
            Ok(Some(4))
        );
        assert!(script.finished());
        let output = script.output();
        for shown in [
            "it must be at least 1",
            "did you mean 0.999 (99.9%)?",
            "`many` is not a whole number",
            "`5000000000` is more than anyone runs",
        ] {
            assert!(output.contains(shown), "{shown:?} not in {output}");
        }
    }
}
