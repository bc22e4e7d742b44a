//! The compiled, immutable rule set that engines share.

use std::fmt;

use crate::compile;
use crate::correlation::Correlation;
use crate::diag::Diagnostic;
use crate::event::{EventBuf, EventKind};
use crate::fields::FieldTable;
use crate::matcher::FieldTest;
use crate::prefilter::Prefilter;
use crate::rule::ast::Severity;
use crate::rule::condition::Expr;
use crate::rule::template::Template;
use crate::time::Span;

/// A rule file's name and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The name diagnostics use (usually the path).
    pub name: String,
    /// The YAML text.
    pub text: String,
}

/// Rules compiled once, shared read-only by every engine (`Send + Sync`).
#[derive(Debug, Clone)]
pub struct RuleSet {
    pub(crate) rules: Vec<Rule>,
    pub(crate) fields: FieldTable,
    pub(crate) warnings: Vec<Diagnostic>,
    /// Which rules an event may match, by the rules' required equalities.
    pub(crate) prefilter: Prefilter,
}

/// The errors (and warnings) that kept a rule set from compiling.
#[derive(Debug, Clone)]
pub struct CompileError {
    /// Every diagnostic, errors and warnings, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.diagnostics {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CompileError {}

impl RuleSet {
    /// Compiles rule files given as text.
    pub fn from_sources(sources: &[Source]) -> Result<RuleSet, CompileError> {
        compile::compile(sources, |_| true)
    }

    /// Compiles one rule file given as text.
    pub fn from_yaml(name: &str, text: &str) -> Result<RuleSet, CompileError> {
        RuleSet::from_sources(&[Source {
            name: name.to_owned(),
            text: text.to_owned(),
        }])
    }

    /// The rules, in load order (files sorted by path, then document order).
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Warnings found while compiling.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// The interned field paths.
    pub fn fields(&self) -> &FieldTable {
        &self.fields
    }
}

/// Which event types reach a rule.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// No `events:` list: every type.
    pub all: bool,
    /// Issued events (either spelling).
    pub issued: bool,
    /// Revoked events (either spelling).
    pub revoked: bool,
    /// Other types, by exact name.
    pub others: Vec<Box<str>>,
}

impl EventFilter {
    /// True when an event of `kind` and `type` reaches the rule.
    pub fn admits(&self, kind: EventKind, event_type: &str) -> bool {
        self.all
            || match kind {
                EventKind::Issued => self.issued,
                EventKind::Revoked => self.revoked,
                EventKind::Other => self.others.iter().any(|t| &**t == event_type),
            }
    }
}

/// A named selection: any alternative holds when all its tests hold.
#[derive(Debug, Clone)]
pub struct Selection {
    /// The name in the rule.
    pub name: String,
    /// Alternatives (OR) of conjunctions (AND).
    pub alternatives: Vec<Vec<FieldTest>>,
}

impl Selection {
    /// Evaluates the selection on an event.
    pub fn matches(&self, event: &EventBuf) -> bool {
        self.alternatives
            .iter()
            .any(|tests| tests.iter().all(|t| t.matches(event)))
    }
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique id.
    pub id: String,
    /// One-line title.
    pub title: String,
    /// Severity of its findings.
    pub severity: Severity,
    /// Tags.
    pub tags: Vec<String>,
    /// Description.
    pub description: Option<String>,
    /// Known false positives.
    pub falsepositives: Vec<String>,
    /// The file the rule came from.
    pub file: String,
    /// The line its document starts on.
    pub line: u32,
    /// Which events reach it.
    pub filter: EventFilter,
    /// Its selections.
    pub selections: Vec<Selection>,
    /// Its condition over the selections.
    pub condition: Expr,
    /// Its message template, if any.
    pub output: Option<Template>,
    /// At most one finding per group per this span.
    pub suppress: Option<Span>,
    /// The correlation that makes the rule stateful, if any.
    pub correlation: Option<Correlation>,
    /// A hash of the rule's definition, to tell whether saved state still fits.
    pub fingerprint: String,
}

impl Rule {
    /// True when the rule's condition holds for the event. `memo` is scratch
    /// space for selection results, kept for [`Rule::selection_matches`].
    pub fn matches(&self, event: &EventBuf, memo: &mut Vec<Option<bool>>) -> bool {
        memo.clear();
        match self.condition {
            // The condition of most rules: one selection, nothing to reuse.
            Expr::Sel(only) => self.selections[only].matches(event),
            _ => self
                .condition
                .eval(&mut |i| self.selection_matches(i, event, memo)),
        }
    }

    /// True when selection `index` holds, reusing results already in `memo`
    /// (empty, or filled for this rule and event).
    pub fn selection_matches(
        &self,
        index: usize,
        event: &EventBuf,
        memo: &mut Vec<Option<bool>>,
    ) -> bool {
        if memo.len() < self.selections.len() {
            memo.resize(self.selections.len(), None);
        }
        *memo[index].get_or_insert_with(|| self.selections[index].matches(event))
    }
}
