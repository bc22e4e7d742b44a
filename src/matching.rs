//! Matching one event against every rule: the part of evaluation that
//! needs no state beyond the rule set, so it can run on any thread. What an
//! event contributes (stateless findings, hits for correlations) is handed
//! to the [`Engine`](crate::Engine), which applies it in stream order.

use std::sync::Arc;

use crate::correlation::{Correlation, Kind};
use crate::dedup::identity;
use crate::event::{EventBuf, Meta, Rejection, Value};
use crate::fields::{FieldId, system};
use crate::finding::Finding;
use crate::matcher::parse_ip;
use crate::rule::template::Part;
use crate::ruleset::{Rule, RuleSet};
use crate::time::Timestamp;
use crate::window::{GroupKey, Hit, Payload};

/// What an event contributes to one rule, waiting for its turn.
#[derive(Debug)]
pub(crate) enum Item {
    Finding(usize, Box<Finding>),
    /// `line` is the event, shared by its hits: the finding of the hit that
    /// fires is rendered from it (most hits never fire).
    Hit {
        rule: usize,
        key: GroupKey,
        hit: Hit,
        line: Arc<str>,
    },
}

/// Parses a line again (one that was accepted before) to render the
/// finding of a hit that fired.
pub(crate) fn reparse<'b>(
    buf: &'b mut EventBuf,
    rules: &RuleSet,
    line: &str,
) -> Option<&'b EventBuf> {
    buf.parse(line.as_bytes(), &rules.fields).ok()?;
    Some(buf)
}

/// What one accepted event contributes, ready for [`crate::Engine::apply_evaluated`].
#[derive(Debug)]
pub struct Evaluated {
    pub(crate) identity: u128,
    pub(crate) time: Option<Timestamp>,
    pub(crate) items: Vec<Item>,
}

impl Evaluated {
    /// True when the event contributes nothing to any rule.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Parses, validates and matches events against a rule set; one per thread.
#[derive(Debug)]
pub struct Matcher {
    rules: Arc<RuleSet>,
    buf: EventBuf,
    memo: Vec<Option<bool>>,
}

impl Matcher {
    /// A matcher for `rules`, refusing lines longer than `max_line` bytes.
    pub fn new(rules: Arc<RuleSet>, max_line: usize) -> Matcher {
        Matcher {
            rules,
            buf: EventBuf::new(max_line),
            memo: Vec::new(),
        }
    }

    /// Parses and validates one line and matches it against every rule.
    pub fn evaluate(&mut self, line: &[u8]) -> Result<Evaluated, Rejection> {
        let meta = self.buf.parse(line, &self.rules.fields)?;
        let identity = identity(
            self.buf.str(system::SOURCE).unwrap_or_default(),
            self.buf.str(system::ID).unwrap_or_default(),
        );
        Ok(Evaluated {
            identity,
            time: meta.time,
            items: self.items(meta),
        })
    }

    /// Matches the parsed event against every rule.
    fn items(&mut self, meta: Meta) -> Vec<Item> {
        let mut items = Vec::new();
        let event = &self.buf;
        let mut line: Option<Arc<str>> = None;
        let event_type = event.str(system::TYPE).unwrap_or_default();
        for (index, rule) in self.rules.rules.iter().enumerate() {
            if !rule.filter.admits(meta.kind, event_type) || !rule.matches(event, &mut self.memo) {
                continue;
            }
            let Some(correlation) = &rule.correlation else {
                items.push(Item::Finding(
                    index,
                    Box::new(stateless_finding(rule, event, meta)),
                ));
                continue;
            };
            let Some(time) = meta.time else {
                continue;
            };
            // An event may advance an ordered sequence by one step of each
            // partial sequence (highest first, so it never counts twice in
            // one), but stands for only one step (the first it matches) of
            // an unordered one: every step needs an event of its own.
            let mut steps: Vec<usize> = match correlation.steps() {
                Some(steps) => (0..steps.len())
                    .rev()
                    .filter(|&k| rule.selection_matches(steps[k], event, &mut self.memo))
                    .collect(),
                None => vec![0],
            };
            if matches!(correlation.kind, Kind::Unordered(_)) && steps.len() > 1 {
                steps.drain(..steps.len() - 1);
            }
            for step in steps {
                let Some(key) = group_key(correlation, event, step) else {
                    continue;
                };
                let Some(payload) = payload(correlation, event) else {
                    continue;
                };
                items.push(Item::Hit {
                    rule: index,
                    key,
                    hit: Hit {
                        time,
                        id: event.str(system::ID).unwrap_or_default().into(),
                        step,
                        payload,
                    },
                    line: Arc::clone(line.get_or_insert_with(|| Arc::from(event.line()))),
                });
            }
        }
        items
    }
}

/// The values of `field` joined with `,`, or `None` when it has none.
fn joined(event: &EventBuf, field: FieldId) -> Option<String> {
    let mut text = String::new();
    let mut any = false;
    for value in event.scalars(field) {
        if any {
            text.push(',');
        }
        any = true;
        push_value(&mut text, value);
    }
    any.then_some(text)
}

fn group_key(correlation: &Correlation, event: &EventBuf, step: usize) -> Option<GroupKey> {
    correlation
        .group_by
        .iter()
        .map(|g| {
            let field = *g.fields.get(step).or(g.fields.first())?;
            joined(event, field).map(String::into_boxed_str)
        })
        .collect()
}

fn payload(correlation: &Correlation, event: &EventBuf) -> Option<Payload> {
    match &correlation.kind {
        Kind::ValueCount { field, .. } => {
            let values: Vec<Box<str>> = event
                .scalars(*field)
                .map(|v| {
                    let mut s = String::new();
                    push_value(&mut s, v);
                    s.into_boxed_str()
                })
                .collect();
            (!values.is_empty()).then_some(Payload::Values(values))
        }
        Kind::NewValue {
            fields,
            prefix_v4,
            prefix_v6,
            ..
        } => {
            let mut key = String::new();
            let mut shown = String::new();
            let mut network = None;
            for (i, &field) in fields.iter().enumerate() {
                let value = joined(event, field)?;
                if i > 0 {
                    key.push('\u{1f}');
                    shown.push('|');
                }
                match masked(&value, *prefix_v4, *prefix_v6) {
                    Some(net) => {
                        key.push_str(&net);
                        network = Some(net.into_boxed_str());
                    }
                    None => key.push_str(&value),
                }
                shown.push_str(&value);
            }
            Some(Payload::New {
                key: key.into(),
                shown: shown.into(),
                network,
            })
        }
        _ => Some(Payload::None),
    }
}

/// The network of an address under the configured prefixes, if `value` is
/// an address and a prefix applies.
fn masked(value: &str, prefix_v4: Option<u8>, prefix_v6: Option<u8>) -> Option<String> {
    use ipnetwork::{IpNetwork, Ipv4Network, Ipv6Network};
    let network = match parse_ip(value)? {
        std::net::IpAddr::V4(ip) => IpNetwork::V4(Ipv4Network::new(ip, prefix_v4?).ok()?),
        std::net::IpAddr::V6(ip) => IpNetwork::V6(Ipv6Network::new(ip, prefix_v6?).ok()?),
    };
    Some(format!("{}/{}", network.network(), network.prefix()))
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
        message: assemble(
            rule,
            &render_fields(rule, event),
            &|special| match special {
                "count" => Some("1".to_owned()),
                _ => None,
            },
        ),
    }
}

/// The text of each field placeholder of the rule's output, in order.
pub(crate) fn render_fields(rule: &Rule, event: &EventBuf) -> Vec<String> {
    let Some(template) = &rule.output else {
        return Vec::new();
    };
    template
        .parts
        .iter()
        .filter_map(|part| match part {
            Part::Field(field) => Some(joined(event, *field).unwrap_or_default()),
            _ => None,
        })
        .collect()
}

/// Assembles a rule's message (or its title) from the rendered field
/// placeholders; `special` supplies the finding's own placeholders.
pub(crate) fn assemble(
    rule: &Rule,
    fields: &[String],
    special: &dyn Fn(&str) -> Option<String>,
) -> String {
    let Some(template) = &rule.output else {
        return rule.title.clone();
    };
    let mut message = String::new();
    let mut fields = fields.iter();
    for part in &template.parts {
        match part {
            Part::Text(text) => message.push_str(text),
            Part::Field(_) => message.push_str(fields.next().map_or("", String::as_str)),
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
fn push_value(out: &mut String, value: Value<'_>) {
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
