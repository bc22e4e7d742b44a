//! Lint for rule authors (`tokenwatch check --strict`): every rule has a
//! test that fires and one that stays quiet, a description, an ATT&CK tag,
//! and a title no other rule uses.

use std::collections::HashMap;

use crate::diag::{Diagnostic, Diagnostics};
use crate::ruletest::Suite;

/// The lint findings for the rules and tests of a suite, as errors.
pub fn lint(suite: &Suite) -> Vec<Diagnostic> {
    let mut diags = Diagnostics::default();
    let mut titles: HashMap<&str, (&str, u32)> = HashMap::new();
    for rule in suite.files().iter().flat_map(|f| &f.rules) {
        let id = rule.id.value.as_str();
        let tests: Vec<_> = suite.cases.iter().filter(|c| c.rule == id).collect();
        if !tests.iter().any(|t| t.expect.fires()) {
            diags.error(
                "L001",
                &rule.file,
                rule.span,
                format!("rule '{id}' has no test that fires"),
            );
        }
        if !tests.iter().any(|t| t.expect.quiet()) {
            diags.error(
                "L002",
                &rule.file,
                rule.span,
                format!("rule '{id}' has no test that stays quiet (expect: {{findings: 0}})"),
            );
        }
        if rule.description.is_none() {
            diags.error(
                "L003",
                &rule.file,
                rule.span,
                format!("rule '{id}' has no description"),
            );
        }
        if !rule.tags.iter().any(|t| is_attack_technique(t)) {
            diags.error(
                "L004",
                &rule.file,
                rule.span,
                format!("rule '{id}' has no ATT&CK technique tag (such as attack.t1528)"),
            );
        }
        if let Some((file, line)) = titles.insert(&rule.title, (&rule.file, rule.span.line)) {
            diags.error(
                "L005",
                &rule.file,
                rule.span,
                format!("rule '{id}' has the same title as the rule at {file}:{line}"),
            );
        }
    }
    diags.sorted()
}

/// True for tags such as `attack.t1550` or `attack.t1550.001`.
fn is_attack_technique(tag: &str) -> bool {
    tag.strip_prefix("attack.t")
        .and_then(|rest| rest.split('.').next())
        .is_some_and(|number| number.len() == 4 && number.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_technique_tags() {
        assert!(is_attack_technique("attack.t1550.001"));
        assert!(is_attack_technique("attack.t1528"));
        assert!(!is_attack_technique("attack.credential_access"));
        assert!(!is_attack_technique("t1528"));
    }
}
