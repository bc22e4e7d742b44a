//! Which rules an event may match, found with one lookup per field for
//! all rules at once: a rule that can only match when a field equals one
//! of its texts (a test its condition requires) is skipped, without
//! evaluating it, for events whose values of that field are none of them.
//! With many rules testing the same fields for different values, this
//! replaces one test per rule by one lookup per value.

use crate::event::EventBuf;
use crate::fields::FieldId;
use crate::matcher::{Check, FieldTest, Pattern, Quantifier, with_text};
use crate::rule::condition::Expr;
use crate::ruleset::Rule;

/// Per text, the rules that require a field to hold it.
type TextIndex = foldhash::HashMap<Box<str>, Vec<u32>>;

/// The rules' required equality tests, indexed by field and text.
#[derive(Debug, Clone, Default)]
pub struct Prefilter {
    /// Per indexed field: each text and the rules that require it (a rule
    /// requires one of its texts).
    fields: Vec<(FieldId, TextIndex)>,
    /// The rules without an indexed test, as bits: always candidates.
    ungated: Vec<u64>,
}

impl Prefilter {
    /// Indexes the first indexable required test of each rule.
    pub fn new(rules: &[Rule]) -> Prefilter {
        let mut prefilter = Prefilter {
            fields: Vec::new(),
            ungated: vec![0; rules.len().div_ceil(64)],
        };
        for (index, rule) in rules.iter().enumerate() {
            match required_texts(rule) {
                Some((field, texts)) => prefilter.gate(index, field, &texts),
                None => prefilter.ungated[index / 64] |= 1 << (index % 64),
            }
        }
        prefilter
    }

    fn gate(&mut self, rule: usize, field: FieldId, texts: &[&str]) {
        let position = match self.fields.iter().position(|(f, _)| *f == field) {
            Some(position) => position,
            None => {
                self.fields.push((field, TextIndex::default()));
                self.fields.len() - 1
            }
        };
        let index = &mut self.fields[position].1;
        for text in texts {
            index.entry((*text).into()).or_default().push(rule as u32);
        }
    }

    /// True when no rule is gated: every rule is a candidate.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Writes into `candidates` one bit per rule (rule `i` is bit `i % 64`
    /// of word `i / 64`): set for every rule the event may match.
    pub fn candidates(&self, event: &EventBuf, candidates: &mut Vec<u64>) {
        candidates.clear();
        candidates.extend_from_slice(&self.ungated);
        for (field, index) in &self.fields {
            for value in event.scalars(*field) {
                with_text(value, |text| {
                    for &rule in index.get(text).map_or(&[][..], Vec::as_slice) {
                        candidates[rule as usize / 64] |= 1 << (rule % 64);
                    }
                    false
                });
            }
        }
    }
}

/// True when bit `rule` of `candidates` is set.
pub fn is_candidate(candidates: &[u64], rule: usize) -> bool {
    candidates
        .get(rule / 64)
        .is_some_and(|word| word & (1 << (rule % 64)) != 0)
}

/// The field and texts of a test the rule's condition requires, when it is
/// an equality with text literals only (which holds exactly when the text
/// form of some value of the field is one of them).
fn required_texts(rule: &Rule) -> Option<(FieldId, Vec<&str>)> {
    required_selections(&rule.condition)
        .into_iter()
        .filter_map(
            |index| match rule.selections.get(index)?.alternatives.as_slice() {
                [only] => Some(only),
                _ => None,
            },
        )
        .flatten()
        .find_map(text_equality)
}

fn text_equality(test: &FieldTest) -> Option<(FieldId, Vec<&str>)> {
    let Check::Patterns(patterns, Quantifier::Any) = &test.check else {
        return None;
    };
    let [Pattern::Eq(set)] = patterns.as_slice() else {
        return None;
    };
    Some((test.field, set.only_texts()?))
}

/// The selections that must hold for the condition to hold.
fn required_selections(condition: &Expr) -> Vec<usize> {
    match condition {
        Expr::Sel(index) => vec![*index],
        Expr::And(parts) => parts.iter().flat_map(required_selections).collect(),
        Expr::All(selections) => selections.clone(),
        Expr::AtLeast(n, selections) if *n >= selections.len() => selections.clone(),
        Expr::Not(_) | Expr::Or(_) | Expr::AtLeast(..) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::RuleSet;
    use crate::simulate::{Config, Simulation};

    /// Checks that every rule an event matches is among its candidates;
    /// returns how many (rule, event) pairs the prefilter skipped.
    fn check_superset(rules: &RuleSet, lines: impl IntoIterator<Item = String>) -> usize {
        let mut buf = EventBuf::new(1 << 20);
        let (mut candidates, mut memo, mut skipped) = (Vec::new(), Vec::new(), 0);
        for line in lines {
            if buf.parse(line.as_bytes(), &rules.fields).is_err() {
                continue;
            }
            rules.prefilter.candidates(&buf, &mut candidates);
            for (index, rule) in rules.rules.iter().enumerate() {
                let candidate = is_candidate(&candidates, index);
                assert!(
                    candidate || !rule.matches(&buf, &mut memo),
                    "rule {} matches but was skipped: {line}",
                    rule.id
                );
                skipped += usize::from(!candidate);
            }
        }
        skipped
    }

    #[test]
    fn the_rules_an_event_matches_are_always_candidates() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut skipped = 0;
        for case in std::fs::read_dir(root.join("tests/golden")).unwrap() {
            let dir = case.unwrap().path();
            let Ok(rules) = std::fs::read_to_string(dir.join("rules.yaml")) else {
                continue;
            };
            let Ok(rules) = RuleSet::from_yaml("rules.yaml", &rules) else {
                continue;
            };
            let events = std::fs::read_to_string(dir.join("events.ndjson")).unwrap();
            skipped += check_superset(&rules, events.lines().map(str::to_owned));
        }
        let packs = [
            RuleSet::from_sources(&crate::loader::builtin()).unwrap(),
            RuleSet::from_yaml(
                "pack20.yaml",
                &std::fs::read_to_string(root.join("benches/pack20.yaml")).unwrap(),
            )
            .unwrap(),
        ];
        for pack in &packs {
            let mut simulation = Simulation::new(Config {
                attacks: true,
                days: 3,
                ..Config::default()
            })
            .unwrap();
            let mut lines = Vec::new();
            let mut line = String::new();
            while lines.len() < 20_000 && simulation.next_line(&mut line) {
                lines.push(std::mem::take(&mut line));
            }
            skipped += check_superset(pack, lines);
        }
        assert!(skipped > 0, "the prefilter skipped nothing");
    }

    #[test]
    fn only_tests_the_condition_requires_gate_a_rule() {
        let gated = |condition: &str| {
            let yaml = format!(
                "id: r\ntitle: r\nseverity: low\nmatch:\n  a:\n    data.grantType: x\n  \
                 b:\n    - data.appType: web\n    - data.appType: native\n  \
                 n:\n    data.custom: 5\n  condition: {condition}\n"
            );
            !RuleSet::from_yaml("r.yaml", &yaml)
                .unwrap()
                .prefilter
                .is_empty()
        };
        assert!(gated("a"));
        assert!(gated("a and not b"));
        assert!(gated("b and a"));
        assert!(gated("all of them"));
        assert!(!gated("not a"));
        assert!(!gated("a or b"));
        assert!(!gated("1 of them"));
        // `b` has alternatives; `n` compares a number by value.
        assert!(!gated("b"));
        assert!(!gated("n"));
    }
}
