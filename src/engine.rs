//! The evaluator: owns the mutable state (parse buffer, duplicate filter,
//! suppression) and runs a shared [`RuleSet`] over events one at a time.

use std::collections::HashMap;
use std::sync::Arc;

use crate::dedup::Dedup;
use crate::event::{EventBuf, Meta, Rejection};
use crate::fields::system;
use crate::finding::Finding;
use crate::rule::template::Part;
use crate::ruleset::{Rule, RuleSet};
use crate::time::Timestamp;

/// Limits and capacities of an engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Longest accepted event line, in bytes.
    pub max_line_bytes: usize,
    /// How many recent (`source`, `id`) pairs are remembered to drop
    /// duplicates; the oldest are forgotten first, and counted.
    pub dedup_capacity: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_line_bytes: 1 << 20,
            dedup_capacity: 1_000_000,
        }
    }
}

/// What happened to the events fed to an engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events read: accepted + rejected + duplicates.
    pub read: u64,
    /// Events that passed validation and were evaluated.
    pub accepted: u64,
    /// Events rejected as invalid.
    pub rejected: u64,
    /// Valid events dropped as repeats of an earlier (`source`, `id`).
    pub duplicates: u64,
    /// Remembered event identities forgotten to stay within capacity.
    pub dedup_evictions: u64,
    /// Findings per rule, in rule-set order.
    pub findings: Vec<u64>,
}

/// How an accepted line was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Evaluated by every rule it reaches.
    Accepted,
    /// Dropped as a duplicate of an earlier event.
    Duplicate,
}

/// Runs a rule set over a stream of events.
///
/// ```
/// use std::sync::Arc;
/// use tokenwatch::{Engine, RuleSet};
///
/// let rules = RuleSet::from_yaml("inline.yaml", r#"
/// id: impersonation
/// title: User impersonation grant
/// severity: high
/// match:
///   grant:
///     data.grantType: urn:qlik:oauth:user-impersonation
/// "#).unwrap();
/// let mut engine = Engine::new(Arc::new(rules));
/// let mut findings = Vec::new();
/// engine.process(br#"{"id":"1","type":"com.qlik.oauth-token.issued","source":"s",
///   "specversion":"1.0","tenantid":"t","time":"2026-03-07T14:08:40Z",
///   "data":{"grantType":"urn:qlik:oauth:user-impersonation"}}"#, &mut findings).unwrap();
/// assert_eq!(findings[0].rule, "impersonation");
/// ```
#[derive(Debug)]
pub struct Engine {
    rules: Arc<RuleSet>,
    buf: EventBuf,
    dedup: Dedup,
    suppressed: HashMap<(usize, String), Timestamp>,
    memo: Vec<Option<bool>>,
    stats: Stats,
}

impl Engine {
    /// An engine with default options.
    pub fn new(rules: Arc<RuleSet>) -> Engine {
        Engine::with_options(rules, Options::default())
    }

    /// An engine with the given options.
    pub fn with_options(rules: Arc<RuleSet>, options: Options) -> Engine {
        let rule_count = rules.rules.len();
        Engine {
            rules,
            buf: EventBuf::new(options.max_line_bytes),
            dedup: Dedup::new(options.dedup_capacity),
            suppressed: HashMap::new(),
            memo: Vec::new(),
            stats: Stats {
                findings: vec![0; rule_count],
                ..Stats::default()
            },
        }
    }

    /// The rule set this engine runs.
    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    /// Counts so far.
    pub fn stats(&self) -> Stats {
        let mut stats = self.stats.clone();
        stats.dedup_evictions = self.dedup.evictions();
        stats
    }

    /// Parses, validates and evaluates one event line, appending findings
    /// to `out`. A rejected line is counted and its reason returned.
    pub fn process(&mut self, line: &[u8], out: &mut Vec<Finding>) -> Result<Outcome, Rejection> {
        self.stats.read += 1;
        let meta = match self.buf.parse(line, &self.rules.fields) {
            Ok(meta) => meta,
            Err(rejection) => {
                self.stats.rejected += 1;
                return Err(rejection);
            }
        };
        let source = self.buf.str(system::SOURCE).unwrap_or_default();
        let id = self.buf.str(system::ID).unwrap_or_default();
        if !self.dedup.insert(source, id) {
            self.stats.duplicates += 1;
            return Ok(Outcome::Duplicate);
        }
        self.stats.accepted += 1;
        self.evaluate(meta, out);
        Ok(Outcome::Accepted)
    }

    /// Counts a line that was rejected before it reached the engine (for
    /// example by a reader's length limit), so the totals stay whole.
    pub fn count_rejected(&mut self) {
        self.stats.read += 1;
        self.stats.rejected += 1;
    }

    fn evaluate(&mut self, meta: Meta, out: &mut Vec<Finding>) {
        let event_type = self.buf.str(system::TYPE).unwrap_or_default();
        for (index, rule) in self.rules.rules.iter().enumerate() {
            if !rule.filter.admits(meta.kind, event_type)
                || !rule.matches(&self.buf, &mut self.memo)
            {
                continue;
            }
            if let (Some(span), Some(time)) = (rule.suppress, meta.time) {
                let key = (index, String::new());
                if self.suppressed.get(&key).is_some_and(|&until| time < until) {
                    continue;
                }
                self.suppressed.insert(key, time.plus(span));
            }
            self.stats.findings[index] += 1;
            out.push(stateless_finding(rule, &self.buf, meta));
        }
    }
}

fn stateless_finding(rule: &Rule, event: &EventBuf, meta: Meta) -> Finding {
    Finding {
        rule: rule.id.clone(),
        title: rule.title.clone(),
        severity: rule.severity.name().to_owned(),
        tags: rule.tags.clone(),
        time: meta.time.map(Timestamp::to_rfc3339),
        tenantid: event.str(system::TENANTID).unwrap_or_default().to_owned(),
        group: Vec::new(),
        count: 1,
        window: None,
        events: vec![event.str(system::ID).unwrap_or_default().to_owned()],
        values: None,
        value: None,
        network: None,
        mean: None,
        stddev: None,
        message: render(rule, event, &|special| match special {
            "count" => Some("1".to_owned()),
            _ => None,
        }),
    }
}

/// Renders a rule's output template (or its title) for an event; `special`
/// supplies the finding's own placeholders.
pub fn render(rule: &Rule, event: &EventBuf, special: &dyn Fn(&str) -> Option<String>) -> String {
    let Some(template) = &rule.output else {
        return rule.title.clone();
    };
    let mut message = String::new();
    for part in &template.parts {
        match part {
            Part::Text(text) => message.push_str(text),
            Part::Field(field) => {
                let mut first = true;
                for value in event.scalars(*field) {
                    if !first {
                        message.push(',');
                    }
                    first = false;
                    push_value(&mut message, value);
                }
            }
            Part::Special(name) => match *name {
                "rule" => message.push_str(&rule.id),
                "title" => message.push_str(&rule.title),
                "severity" => message.push_str(rule.severity.name()),
                other => message.push_str(&special(other).unwrap_or_default()),
            },
        }
    }
    message
}

/// Appends the text form of an event value.
pub fn push_value(out: &mut String, value: crate::event::Value<'_>) {
    use crate::event::Value;
    use std::fmt::Write as _;
    let _ = match value {
        Value::Str(s) => {
            out.push_str(s);
            Ok(())
        }
        Value::Int(n) => write!(out, "{n}"),
        Value::UInt(n) => write!(out, "{n}"),
        Value::Float(n) => write!(out, "{n}"),
        Value::Bool(b) => write!(out, "{b}"),
        Value::Null | Value::Object | Value::Array => Ok(()),
    };
}
