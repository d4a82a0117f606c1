//! Any bytes as a user's rule file — size and UTF-8 checks, YAML parsing
//! with its limits, compiling with every check — then the rule listing,
//! `rules ID`, and a recommendation with the rule in force: each must end
//! in a result or an error, never a panic, a hang or a non-finite score.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// Flows of many shapes, so that a fuzzed rule's condition meets facts it
/// matches and facts it does not; parsed once, they are not under test.
static FLOWS: OnceLock<commsadvise::spec::FlowsFile> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = commsadvise::yaml::text("fuzz.yaml", data) else {
        return;
    };
    // The file alone first: cheap, and most inputs stop here. Only a rule
    // that compiles pays for the whole set (the built-in rules parsed again).
    if commsadvise::engine::registry::parse("fuzz.yaml", text).is_err() {
        return;
    }
    let extra = [("fuzz.yaml".to_owned(), text.to_owned())];
    // A rule valid alone can still clash with the set: an id taken by a
    // built-in rule or a system check. That must be the user's error with a
    // position (exit 2), never anything else.
    let rules = match commsadvise::engine::RuleSet::load(&extra) {
        Ok(rules) => rules,
        Err(commsadvise::error::Error::Input(diagnostics)) => {
            assert!(
                diagnostics.iter().all(|d| d.file == "fuzz.yaml" && d.pos.is_some()),
                "a clash with the set points into the file: {diagnostics:?}"
            );
            return;
        }
        Err(other) => panic!("a rule that compiles alone loads or is refused as input: {other:?}"),
    };
    let listing = commsadvise::commands::rules::list(&rules);
    assert_eq!(
        listing.lines().count(),
        rules.all().len() + 1 + commsadvise::engine::system::CHECKS.len(),
        "one line per rule, a blank line, one line per system check"
    );
    for rule in rules.all() {
        assert!(rule.id.chars().count() <= commsadvise::engine::rule::MAX_ID);
        assert!(rule.fires.iter().all(|f| rule.when.holds(f)), "fires examples match");
        assert!(rule.quiet.iter().all(|f| !rule.when.holds(f)), "quiet examples do not");
        let _ = commsadvise::commands::rules::explain(rule);
    }
    let flows = FLOWS.get_or_init(|| {
        let text = include_str!("../../examples/spec-cases.yaml");
        commsadvise::spec::load_str("spec-cases.yaml", text).expect("the example loads")
    });
    let report = commsadvise::engine::recommend(flows, &rules);
    for r in &report.flows {
        assert!(r.scores.iter().all(|(_, s)| s.is_finite()), "scores stay finite");
    }
    let _ = commsadvise::render::text::render(flows, &report, false);
});
