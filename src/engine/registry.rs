//! The rule set: the built-in rules embedded in the binary, plus the user's
//! `--rules` files, which add rules or replace built-in ones with the same id.
//!
//! This module only parses text it is given; reading files is the caller's.

use std::collections::BTreeMap;

use crate::engine::facts::Field;
use crate::engine::rule::{Cmp, Effect, RawRule, Rule, compile};
use crate::error::{Diagnostic, Error};

/// The built-in rules, one file each, embedded at compile time.
pub const BUILTIN: &[(&str, &str)] = &include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));

/// Checked rules, ordered by id, split by what they do.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    /// Rules that score, require or exclude, ordered by id.
    deciding: Vec<Rule>,
    /// Risk rules, ordered by id.
    risks: Vec<Rule>,
    /// For each field, the indices of the deciding rules that read it.
    dependents: BTreeMap<Field, Vec<usize>>,
    /// Numbers the deciding rules compare each field against.
    thresholds: BTreeMap<Field, Vec<(Cmp, u64)>>,
}

impl RuleSet {
    /// The built-in rules only.
    pub fn builtin() -> Result<RuleSet, Error> {
        RuleSet::load(&[])
    }

    /// The built-in rules plus `extra` (file name, text) pairs, which replace
    /// built-in rules of the same id. Two user files defining one id is an
    /// error, since one of them would be silently lost.
    pub fn load(extra: &[(String, String)]) -> Result<RuleSet, Error> {
        let mut rules: BTreeMap<String, Rule> = BTreeMap::new();
        let mut errors = Vec::new();
        for (file, text) in BUILTIN {
            match parse(file, text) {
                Ok(rule) => {
                    rules.insert(rule.id.to_string(), rule);
                }
                Err(mut problems) => errors.append(&mut problems),
            }
        }
        let mut from_user: BTreeMap<String, String> = BTreeMap::new();
        for (file, text) in extra {
            match parse(file, text) {
                Ok(rule) => {
                    // `rules ID` and the reports name a check by its id: a
                    // rule of the same id would hide it, not replace it.
                    if crate::engine::system::check(&rule.id).is_some() {
                        errors.push(
                            Diagnostic::new(
                                format!(
                                    "rule id `{}` is the id of a system check",
                                    rule.id
                                ),
                                file.clone(),
                            )
                            .note("system checks are not rules and cannot be replaced; give the rule another id (`commsadvise rules` lists the checks' ids)")
                            .at(
                                text,
                                crate::engine::rule::locate_key(text, &rule.id).unwrap_or_default(),
                                rule.id.len(),
                            ),
                        );
                        continue;
                    }
                    if let Some(first) = from_user.get(&*rule.id) {
                        errors.push(
                            Diagnostic::new(
                                format!("duplicate rule id `{}`", rule.id),
                                file.clone(),
                            )
                            .note(format!("`{first}` defines it too; rename one of them"))
                            .at(
                                text,
                                crate::engine::rule::locate_key(text, &rule.id).unwrap_or_default(),
                                rule.id.len(),
                            ),
                        );
                        continue;
                    }
                    from_user.insert(rule.id.to_string(), file.clone());
                    rules.insert(rule.id.to_string(), rule);
                }
                Err(mut problems) => errors.append(&mut problems),
            }
        }
        if !errors.is_empty() {
            return Err(Error::Input(errors));
        }
        Ok(RuleSet::from_rules(rules.into_values().collect()))
    }

    fn from_rules(all: Vec<Rule>) -> RuleSet {
        let (risks, deciding): (Vec<Rule>, Vec<Rule>) = all
            .into_iter()
            .partition(|r| matches!(r.effect, Effect::Risk(_)));
        let mut dependents: BTreeMap<Field, Vec<usize>> = BTreeMap::new();
        let mut found = Vec::new();
        for (i, rule) in deciding.iter().enumerate() {
            let mut read = Vec::new();
            rule.when.fields(&mut read);
            read.sort();
            read.dedup();
            for field in read {
                dependents.entry(field).or_default().push(i);
            }
            rule.when.thresholds(&mut found);
        }
        let mut thresholds: BTreeMap<Field, Vec<(Cmp, u64)>> = BTreeMap::new();
        for (field, cmp, n) in found {
            let list = thresholds.entry(field).or_default();
            if !list.contains(&(cmp, n)) {
                list.push((cmp, n));
            }
        }
        RuleSet {
            deciding,
            risks,
            dependents,
            thresholds,
        }
    }

    pub fn deciding(&self) -> &[Rule] {
        &self.deciding
    }

    pub fn risks(&self) -> &[Rule] {
        &self.risks
    }

    /// Every rule, ordered by id.
    pub fn all(&self) -> Vec<&Rule> {
        let mut all: Vec<&Rule> = self.deciding.iter().chain(&self.risks).collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.deciding
            .iter()
            .chain(&self.risks)
            .find(|r| &*r.id == id)
    }

    /// The indices (into [`Self::deciding`], ascending) of the rules that read `field`.
    pub fn dependents(&self, field: Field) -> &[usize] {
        self.dependents.get(&field).map_or(&[], Vec::as_slice)
    }

    pub fn thresholds(&self, field: Field) -> &[(Cmp, u64)] {
        self.thresholds.get(&field).map_or(&[], Vec::as_slice)
    }
}

/// Parses and checks one rule file, returning all its problems at once.
pub fn parse(file: &str, text: &str) -> Result<Rule, Vec<Diagnostic>> {
    let raw: RawRule =
        crate::yaml::parse_as(crate::yaml::FileKind::Rule, file, text).map_err(|d| vec![d])?;
    compile(raw, file, text)
}
