//! Any bytes through the whole input path — size and UTF-8 checks, YAML
//! parsing with its limits, validation, the engine and the text report —
//! must end in a report or an error, never a panic or a hang.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// The built-in rules, parsed once: they are not the input under test.
static RULES: OnceLock<commsadvise::engine::RuleSet> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let rules = RULES.get_or_init(|| commsadvise::engine::RuleSet::builtin().expect("built-in rules load"));
    if let Ok(flows) = commsadvise::spec::load("fuzz.yaml", data) {
        let report = commsadvise::engine::recommend(&flows, rules);
        assert_eq!(report.flows.len(), flows.flows.len());
        assert!(report.flows.iter().all(|r| !r.reasons.is_empty()), "reasons are never empty");
        // The terminal report, in both styles: column widths come from the
        // input (issue 17: a wide route column panicked the formatter).
        for color in [false, true] {
            let text = commsadvise::render::text::render(&flows, &report, color);
            assert!(text.lines().count() > flows.flows.len(), "a table row per flow");
        }
    }
});
