//! Rule tests: every rule carries tests that fire and tests that stay
//! quiet; `tokenwatch test` runs each through a fresh engine holding only
//! that rule (and the lists it uses).

mod build;
mod junit;
mod spec;

pub use build::{START, base_event};
pub use junit::{junit_errors, junit_xml};
pub use spec::{Expect, TestCase};

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value as Json;

use crate::compile::{self, compile_files};
use crate::diag::{self, Diagnostic, Diagnostics, suggest};
use crate::engine::{Engine, Options};
use crate::finding::Finding;
use crate::rule::ast::FileAst;
use crate::ruleset::{RuleSet, Source};

/// How one test ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The findings met the expectation.
    Pass,
    /// They did not: what was expected and what came.
    Fail {
        /// The expectation, in words.
        expected: String,
        /// What the rule emitted.
        got: String,
    },
    /// The test could not run as written (an event was rejected).
    Error(String),
}

/// A test and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The test.
    pub case: TestCase,
    /// Its outcome.
    pub outcome: Outcome,
}

/// The rule files and their tests, read once.
#[derive(Debug)]
pub struct Suite {
    files: Vec<FileAst>,
    /// Every test found.
    pub cases: Vec<TestCase>,
    /// Problems in the rules or tests; errors mean nothing can run.
    pub diagnostics: Vec<Diagnostic>,
}

impl Suite {
    /// Reads rules and tests from sources (rule files and `*.tests.yaml`).
    pub fn load(sources: &[Source]) -> Suite {
        let mut diags = Diagnostics::default();
        let files = compile::read_sources(sources, &mut diags);
        let rules: Vec<_> = files.iter().flat_map(|f| &f.rules).collect();
        let cases = spec::read_tests(&rules, sources, &mut diags);
        check_list_names(&files, &cases, &mut diags);
        check_test_lists(&files, &cases, &mut diags);
        let mut diagnostics = match compile_files(&files, Diagnostics::default(), |_| true) {
            Ok(set) => set.warnings().to_vec(),
            Err(e) => e.diagnostics,
        };
        diagnostics.extend(diags.sorted());
        diag::drop_undefined_names_after_syntax_errors(&mut diagnostics);
        diagnostics.sort_by(|a, b| (&a.file, a.span).cmp(&(&b.file, b.span)));
        diagnostics.dedup();
        Suite {
            files,
            cases,
            diagnostics,
        }
    }

    /// True when rules or tests have errors.
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.level == crate::diag::Level::Error)
    }

    /// The rules read, with their file positions.
    pub fn files(&self) -> &[FileAst] {
        &self.files
    }

    /// Runs the tests whose "rule: name" contains `filter` (all when empty).
    pub fn run(&self, filter: &str) -> Vec<Report> {
        let mut compiled: HashMap<&str, Option<Arc<RuleSet>>> = HashMap::new();
        self.cases
            .iter()
            .filter(|c| filter.is_empty() || format!("{}: {}", c.rule, c.name).contains(filter))
            .map(|case| {
                if case.broken {
                    let outcome =
                        Outcome::Error("the test has errors (see tokenwatch check)".into());
                    return Report {
                        case: case.clone(),
                        outcome,
                    };
                }
                let rules = if case.lists.is_empty() {
                    compiled
                        .entry(&case.rule)
                        .or_insert_with(|| self.compile_rule(&self.files, &case.rule))
                        .clone()
                } else {
                    with_lists(&self.files, case)
                        .and_then(|files| self.compile_rule(&files, &case.rule))
                };
                let outcome = match rules {
                    Some(rules) => run_case(rules, case),
                    None => Outcome::Error(
                        "the rule does not compile with this test's lists (see tokenwatch check)"
                            .into(),
                    ),
                };
                Report {
                    case: case.clone(),
                    outcome,
                }
            })
            .collect()
    }

    fn compile_rule(&self, files: &[FileAst], id: &str) -> Option<Arc<RuleSet>> {
        compile_files(files, Diagnostics::default(), |r| r.id.value == id)
            .ok()
            .map(Arc::new)
    }
}

/// The files with the lists a test names replaced by its items; `None`
/// when it names a list that does not exist.
fn with_lists(files: &[FileAst], case: &TestCase) -> Option<Vec<FileAst>> {
    let mut files = files.to_vec();
    for (name, items) in &case.lists {
        let list = files
            .iter_mut()
            .flat_map(|f| &mut f.lists)
            .find(|l| l.name.value == name.value)?;
        list.items = items.clone();
    }
    Some(files)
}

/// Reports each test whose lists keep its rule from compiling (a bad CIDR
/// or pattern among the items), at the first list whose items do. A rule
/// that does not compile on its own is reported as such already.
fn check_test_lists(files: &[FileAst], cases: &[TestCase], diags: &mut Diagnostics) {
    let first_error = |files: &[FileAst], id: &str| {
        compile_files(files, Diagnostics::default(), |r| r.id.value == id)
            .err()
            .and_then(|e| {
                e.diagnostics
                    .into_iter()
                    .find(|d| d.level == crate::diag::Level::Error)
            })
    };
    let mut compiles_alone: HashMap<&str, bool> = HashMap::new();
    for case in cases.iter().filter(|c| !c.lists.is_empty()) {
        let Some(replaced) = with_lists(files, case) else {
            continue;
        };
        let Some(together) = first_error(&replaced, &case.rule) else {
            continue;
        };
        let alone = *compiles_alone
            .entry(&case.rule)
            .or_insert_with(|| first_error(files, &case.rule).is_none());
        if !alone {
            continue;
        }
        // Which list is to blame: the first that breaks the rule alone (or
        // the first of all, when only together they do).
        let culprit = case
            .lists
            .iter()
            .find_map(|(name, items)| {
                let one = TestCase {
                    lists: vec![(name.clone(), items.clone())],
                    ..case.clone()
                };
                let error = first_error(&with_lists(files, &one)?, &case.rule)?;
                Some((name, error))
            })
            .or_else(|| case.lists.first().map(|(name, _)| (name, together)));
        if let Some((name, error)) = culprit {
            diags.error(
                "E218",
                &case.file,
                name.span,
                format!(
                    "with the items test '{}' gives list '{}', rule '{}' does not compile: {}",
                    case.name, name.value, case.rule, error.message
                ),
            );
        }
    }
}

/// Reports each list a test replaces that no file defines.
fn check_list_names(files: &[FileAst], cases: &[TestCase], diags: &mut Diagnostics) {
    let defined: Vec<&str> = files
        .iter()
        .flat_map(|f| &f.lists)
        .map(|l| l.name.value.as_str())
        .collect();
    for case in cases {
        for (name, _) in &case.lists {
            if !defined.contains(&name.value.as_str()) {
                diags.error_with(
                    "E217",
                    &case.file,
                    name.span,
                    format!(
                        "test '{}' replaces list '{}', which no file defines",
                        case.name, name.value
                    ),
                    suggest(&name.value, defined.iter().copied()),
                );
            }
        }
    }
}

fn run_case(rules: Arc<RuleSet>, case: &TestCase) -> Outcome {
    let options = Options {
        last_by_wall_clock: false,
        ..Options::default()
    };
    let mut engine = Engine::with_options(rules, options);
    let mut findings = Vec::new();
    for event in &case.events {
        if let Err(reason) = engine.process(event.text.as_bytes(), &mut findings) {
            return Outcome::Error(format!("{} was rejected: {reason}", event.origin));
        }
    }
    engine.finish(&mut findings);
    let got: Vec<Json> = findings.iter().map(comparable).collect();
    let got_text = if got.is_empty() {
        "no findings".to_owned()
    } else {
        findings
            .iter()
            .map(|f| serde_json::to_value(f).unwrap_or(Json::Null).to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    if let Some(count) = case.expect.count
        && count != got.len()
    {
        return Outcome::Fail {
            expected: format!("{count} finding(s)"),
            got: format!("{} finding(s):\n{got_text}", got.len()),
        };
    }
    match unmatched_partial(&case.expect.findings, &got) {
        Some(partial) => Outcome::Fail {
            expected: format!("a finding matching {partial}"),
            got: got_text,
        },
        None => Outcome::Pass,
    }
}

/// Pairs each partial finding with a different finding that holds it, over
/// every possible pairing (not first come, first served: a partial that
/// fits several findings must not take the only one another fits).
/// Returns a partial left without a finding, if any.
fn unmatched_partial<'p>(partials: &'p [Json], findings: &[Json]) -> Option<&'p Json> {
    let fits: Vec<Vec<usize>> = partials
        .iter()
        .map(|p| {
            (0..findings.len())
                .filter(|&f| contains(&findings[f], p))
                .collect()
        })
        .collect();
    let mut paired_with: Vec<Option<usize>> = vec![None; findings.len()];
    (0..partials.len())
        .find(|&p| !pair(p, &fits, &mut paired_with, &mut vec![false; findings.len()]))
        .map(|p| &partials[p])
}

/// Finds a finding for partial `p`, moving earlier pairs to other findings
/// they fit if need be (an augmenting path); false when there is none.
fn pair(
    p: usize,
    fits: &[Vec<usize>],
    paired_with: &mut [Option<usize>],
    tried: &mut [bool],
) -> bool {
    for &f in &fits[p] {
        if std::mem::replace(&mut tried[f], true) {
            continue;
        }
        if paired_with[f].is_none_or(|q| pair(q, fits, paired_with, tried)) {
            paired_with[f] = Some(p);
            return true;
        }
    }
    false
}

/// A finding as expectations are compared with it. Its `group` also holds
/// `tenantid`, which a finding carries once, at the top: a test may name
/// it in either place.
fn comparable(finding: &Finding) -> Json {
    let mut json = serde_json::to_value(finding).unwrap_or(Json::Null);
    if let Some(group) = json.get_mut("group").and_then(Json::as_object_mut) {
        group
            .entry("tenantid")
            .or_insert_with(|| finding.tenantid.clone().into());
    }
    json
}

/// True when `actual` holds everything in `expected`: objects as subsets,
/// numbers by value, everything else exactly.
fn contains(actual: &Json, expected: &Json) -> bool {
    match (actual, expected) {
        (Json::Object(a), Json::Object(e)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| contains(av, v))),
        (Json::Number(a), Json::Number(e)) => a.as_f64() == e.as_f64(),
        (Json::Array(a), Json::Array(e)) => {
            a.len() == e.len() && a.iter().zip(e).all(|(x, y)| contains(x, y))
        }
        _ => actual == expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_with_errors_is_checked_whole_but_not_run() {
        let test = |name: &str, lists: &str| {
            format!(
                "  - name: {name}\n{lists}    events:\n      - base: bogus\n    expect: {{findings: 0}}\n"
            )
        };
        let text = format!(
            "id: r\ntitle: r\nseverity: low\nmatch:\n  s:\n    data.grantType: x\ntests:\n{}{}",
            test("a", "    lists: {nolist: [x]}\n"),
            test("b", "")
        );
        let suite = Suite::load(&[Source {
            name: "r.yaml".into(),
            text,
        }]);
        let codes: Vec<&str> = suite.diagnostics.iter().map(|d| d.code).collect();
        assert!(codes.contains(&"E217"), "{codes:?}");
        let reports = suite.run("");
        assert_eq!(reports.len(), 2);
        assert!(
            reports
                .iter()
                .all(|r| matches!(r.outcome, Outcome::Error(_))),
            "{reports:?}"
        );
    }

    #[test]
    fn an_expected_group_may_name_the_tenant() {
        let finding = Finding {
            rule: "r".into(),
            title: "r".into(),
            severity: "low".into(),
            tags: Vec::new(),
            time: None,
            tenantid: "t1".into(),
            group: vec![("user".into(), Some("u1".into()))],
            count: 2,
            window: None,
            events: Vec::new(),
            values: None,
            value: None,
            network: None,
            mean: None,
            stddev: None,
            message: String::new(),
        };
        let actual = comparable(&finding);
        assert!(contains(
            &actual,
            &serde_json::json!({"group": {"tenantid": "t1", "user": "u1"}})
        ));
        assert!(contains(
            &actual,
            &serde_json::json!({"group": {"user": "u1"}})
        ));
        assert!(!contains(
            &actual,
            &serde_json::json!({"group": {"tenantid": "t2"}})
        ));
    }

    #[test]
    fn partial_findings_match_as_subsets() {
        let actual = serde_json::json!({"rule": "r", "count": 3, "group": {"a": "1", "b": "2"}, "events": ["x"]});
        assert!(contains(
            &actual,
            &serde_json::json!({"count": 3.0, "group": {"a": "1"}})
        ));
        assert!(!contains(
            &actual,
            &serde_json::json!({"group": {"a": "2"}})
        ));
        assert!(!contains(&actual, &serde_json::json!({"events": []})));
        assert!(!contains(&actual, &serde_json::json!({"missing": 1})));
    }

    #[test]
    fn partials_are_paired_over_every_assignment() {
        use serde_json::json;
        let findings = [
            json!({"count": 2, "group": {"u": "1"}}),
            json!({"count": 2, "group": {"u": "2"}}),
        ];
        // `{count: 2}` fits both, `{group u1}` only the first: pairing the
        // first come with the first finding would leave u1 without one.
        let partials = [json!({"count": 2}), json!({"group": {"u": "1"}})];
        assert_eq!(unmatched_partial(&partials, &findings), None);
        let three = [
            json!({"count": 2}),
            json!({"count": 2}),
            json!({"count": 2}),
        ];
        assert_eq!(unmatched_partial(&three, &findings), Some(&three[2]));
        let none = [json!({"group": {"u": "3"}})];
        assert_eq!(unmatched_partial(&none, &findings), Some(&none[0]));
    }
}
