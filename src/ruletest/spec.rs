//! Reading rule tests: the `tests:` block of a rule and `*.tests.yaml`
//! files, into test cases with their events built and their expectations.

use std::path::Path;

use serde_json::Value as Json;

use crate::diag::{Diagnostics, suggest};
use crate::rule::ast::{RuleAst, Spanned};
use crate::ruleset::Source;
use crate::yaml::{Node, Span};

use super::build::{EventBuilder, build_events};

/// What a test expects of the findings of its rule.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Expect {
    /// The exact number of findings, if given.
    pub count: Option<usize>,
    /// Partial findings; each must match a different emitted finding.
    pub findings: Vec<Json>,
}

impl Expect {
    /// True when the test expects the rule to fire.
    pub fn fires(&self) -> bool {
        self.count.is_some_and(|n| n > 0) || !self.findings.is_empty()
    }

    /// True when the test expects the rule to stay quiet.
    pub fn quiet(&self) -> bool {
        self.count == Some(0)
    }
}

/// One event a test feeds.
#[derive(Debug, Clone, PartialEq)]
pub struct TestEvent {
    /// The event line.
    pub text: String,
    /// Where it was written, for messages: `event N` of the test's list,
    /// or `event at file:line` of its `events_file`.
    pub origin: String,
}

/// One test of one rule.
#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    /// The rule under test.
    pub rule: String,
    /// The test's name.
    pub name: String,
    /// The file the test is written in.
    pub file: String,
    /// The line of the test.
    pub line: u32,
    /// The events to feed, in order.
    pub events: Vec<TestEvent>,
    /// What must come out.
    pub expect: Expect,
    /// Lists whose items this test replaces (name, items).
    pub lists: Vec<(Spanned<String>, Vec<Node>)>,
    /// True when the test itself has errors (reported by `check`): it is
    /// kept so that the checks made on every test report on it too, but
    /// not run.
    pub broken: bool,
}

const TEST_KEYS: &[&str] = &[
    "name",
    "lists",
    "events",
    "events_file",
    "expect",
    "expect_file",
];

/// The keys of a `*.tests.yaml` document.
const FILE_KEYS: &[&str] = &["rule", "tests"];

/// Reads the tests of every rule and of every `*.tests.yaml` source.
pub fn read_tests(
    rules: &[&RuleAst],
    sources: &[Source],
    diags: &mut Diagnostics,
) -> Vec<TestCase> {
    let mut cases = Vec::new();
    for rule in rules {
        if let Some(tests) = &rule.tests {
            read_list(&rule.id.value, tests, &rule.file, diags, &mut cases);
        }
    }
    for source in sources
        .iter()
        .filter(|s| crate::loader::is_test_file(&s.name))
    {
        for doc in &crate::compile::parse_source(source, diags) {
            let entries = doc.as_map().unwrap_or_default();
            diags.unknown_keys(
                "E204",
                &source.name,
                entries,
                FILE_KEYS,
                "a test file document",
            );
            let Some(rule) = doc.get("rule").and_then(Node::as_str) else {
                diags.error(
                    "E200",
                    &source.name,
                    doc.span,
                    "a test file document needs 'rule: <rule id>'".into(),
                );
                continue;
            };
            if !rules.iter().any(|r| r.id.value == rule) {
                diags.error_with(
                    "E201",
                    &source.name,
                    doc.get("rule").map_or(doc.span, |n| n.span),
                    format!("tests refer to unknown rule '{rule}'"),
                    suggest(rule, rules.iter().map(|r| r.id.value.as_str())),
                );
                continue;
            }
            match doc.get("tests") {
                Some(tests) => read_list(rule, tests, &source.name, diags, &mut cases),
                None => diags.error(
                    "E200",
                    &source.name,
                    doc.span,
                    "a test file document needs 'tests:'".into(),
                ),
            }
        }
    }
    cases
}

fn read_list(
    rule: &str,
    tests: &Node,
    file: &str,
    diags: &mut Diagnostics,
    out: &mut Vec<TestCase>,
) {
    let Some(items) = tests.as_seq() else {
        diags.error("E202", file, tests.span, "tests must be a list".into());
        return;
    };
    for item in items {
        if let Some(case) = read_test(rule, item, file, diags) {
            out.push(case);
        }
    }
}

fn read_test(rule: &str, node: &Node, file: &str, diags: &mut Diagnostics) -> Option<TestCase> {
    let Some(entries) = node.as_map() else {
        diags.error(
            "E203",
            file,
            node.span,
            "a test must be a mapping with name, events and expect".into(),
        );
        return None;
    };
    let span = entries.first().map_or(node.span, |(k, _)| k.span);
    diags.unknown_keys("E204", file, entries, TEST_KEYS, "a test");
    // Every part is read even when an earlier one is wrong, so that one
    // run of `check` reports all of a test's errors.
    let name = match node.get("name").and_then(Node::as_str) {
        Some(n) if !n.is_empty() => Some(n.to_owned()),
        _ => {
            diags.error("E205", file, span, "a test needs a 'name'".into());
            None
        }
    };
    let label = name.as_deref().unwrap_or("(unnamed)");
    let events = match (node.get("events"), node.get("events_file")) {
        (Some(list), None) => read_event_list(list, file, diags),
        (None, Some(path)) => read_events_file(file, path, diags),
        _ => {
            diags.error(
                "E206",
                file,
                span,
                format!("test '{label}' needs exactly one of 'events' or 'events_file'"),
            );
            None
        }
    };
    let expect = match (node.get("expect"), node.get("expect_file")) {
        (Some(e), None) => read_expect(e, file, diags),
        (None, Some(path)) => read_expect_file(file, path, diags),
        _ => {
            diags.error(
                "E207",
                file,
                span,
                format!("test '{label}' needs exactly one of 'expect' or 'expect_file'"),
            );
            None
        }
    };
    let lists = match node.get("lists") {
        None => Some(Vec::new()),
        Some(lists) => match lists.as_map() {
            Some(entries) => {
                let mut replaced = Vec::new();
                for (k, v) in entries {
                    let name = Spanned {
                        value: k.as_str().unwrap_or_default().to_owned(),
                        span: k.span,
                    };
                    match v.as_seq() {
                        Some(items) => replaced.push((name, items.to_vec())),
                        None => diags.error(
                            "E215",
                            file,
                            v.span,
                            format!("list '{}' must be given as a list of items", name.value),
                        ),
                    }
                }
                (replaced.len() == entries.len()).then_some(replaced)
            }
            None => {
                diags.error(
                    "E215",
                    file,
                    lists.span,
                    "lists must map list names to items".into(),
                );
                None
            }
        },
    };
    // A test with errors is kept (without a name, under a placeholder), so
    // that the checks made on every test (its lists) report on it too; it
    // is not run.
    let broken = name.is_none() || events.is_none() || expect.is_none();
    let lists = lists?;
    Some(TestCase {
        rule: rule.to_owned(),
        name: label.to_owned(),
        file: file.to_owned(),
        line: span.line,
        events: events.unwrap_or_default(),
        expect: expect.unwrap_or_default(),
        lists,
        broken,
    })
}

/// Builds the events of a test's `events:` list.
fn read_event_list(list: &Node, file: &str, diags: &mut Diagnostics) -> Option<Vec<TestEvent>> {
    let lines = build_events(list, &mut EventBuilder::default(), file, diags)?;
    let events = (1..)
        .zip(lines)
        .map(|(n, text)| TestEvent {
            text,
            origin: format!("event {n}"),
        })
        .collect();
    Some(events)
}

/// Reads the events of an `events_file`, one line each.
fn read_events_file(file: &str, path: &Node, diags: &mut Diagnostics) -> Option<Vec<TestEvent>> {
    let (shown, lines) = read_lines(file, path, diags)?;
    let events = lines
        .into_iter()
        .map(|(n, text)| TestEvent {
            text,
            origin: format!("event at {shown}:{n}"),
        })
        .collect();
    Some(events)
}

/// Reads the partial findings of an `expect_file`, one JSON object per
/// line: every finding, and no more.
fn read_expect_file(file: &str, path: &Node, diags: &mut Diagnostics) -> Option<Expect> {
    let (shown, lines) = read_lines(file, path, diags)?;
    let errors = diags.error_count();
    let mut findings = Vec::new();
    for (line, text) in lines {
        match serde_json::from_str::<Json>(&text) {
            Ok(partial @ Json::Object(_)) => findings.push(partial),
            Ok(_) => diags.error(
                "E216",
                &shown,
                Span {
                    line,
                    col: u32::try_from(text.len() - text.trim_start().len() + 1).unwrap_or(1),
                },
                "a line of an expect_file must be a JSON object (a partial finding)".into(),
            ),
            Err(e) => diags.error(
                "E216",
                &shown,
                Span {
                    line,
                    col: u32::try_from(e.column()).unwrap_or(u32::MAX).max(1),
                },
                // The position is the diagnostic's own.
                format!(
                    "not JSON: {}",
                    e.to_string().split(" at line ").next().unwrap_or_default()
                ),
            ),
        }
    }
    (diags.error_count() == errors).then_some(Expect {
        count: Some(findings.len()),
        findings,
    })
}

/// Reads the non-blank lines of a file named relative to the test file,
/// each with its 1-based line number; also gives the path as shown in
/// messages.
fn read_lines(
    file: &str,
    path: &Node,
    diags: &mut Diagnostics,
) -> Option<(String, Vec<(u32, String)>)> {
    let relative = path.as_str().unwrap_or_default();
    let full = Path::new(file)
        .parent()
        .unwrap_or(Path::new("."))
        .join(relative);
    match std::fs::read_to_string(&full) {
        Ok(text) => Some((
            full.display().to_string(),
            (1..)
                .zip(text.strip_prefix('\u{feff}').unwrap_or(&text).lines())
                .filter(|(_, l)| !l.trim().is_empty())
                .map(|(n, l)| (n, l.to_owned()))
                .collect(),
        )),
        Err(e) => {
            diags.error(
                "E208",
                file,
                path.span,
                format!("cannot read {}: {e}", full.display()),
            );
            None
        }
    }
}

fn read_expect(node: &Node, file: &str, diags: &mut Diagnostics) -> Option<Expect> {
    // A list is every finding: one each, and no more (`[]`: none).
    if let Some(items) = node.as_seq() {
        return Some(Expect {
            count: Some(items.len()),
            findings: items.iter().map(Node::to_json).collect(),
        });
    }
    let Some(entries) = node.as_map() else {
        diags.error(
            "E209",
            file,
            node.span,
            "expect must be {findings: N} or a list of partial findings".into(),
        );
        return None;
    };
    let mut expect = Expect::default();
    for (key, value) in entries {
        match key.as_str().unwrap_or_default() {
            "findings" => match value.to_json().as_u64() {
                Some(n) => expect.count = Some(n as usize),
                None => diags.error(
                    "E209",
                    file,
                    value.span,
                    "findings must be a whole number".into(),
                ),
            },
            "including" => match value.as_seq() {
                Some(items) => expect.findings = items.iter().map(Node::to_json).collect(),
                None => diags.error(
                    "E209",
                    file,
                    value.span,
                    "including must be a list of partial findings".into(),
                ),
            },
            other => diags.error_with(
                "E209",
                file,
                key.span,
                format!("unknown key '{other}' in expect"),
                suggest(other, ["findings", "including"]),
            ),
        }
    }
    if expect.count.is_none() && expect.findings.is_empty() {
        diags.error(
            "E209",
            file,
            node.span,
            "expect needs 'findings: N' or 'including: [...]'".into(),
        );
        return None;
    }
    Some(expect)
}
