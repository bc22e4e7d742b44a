//! Matching one event against every rule: the part of evaluation that
//! needs no state beyond the rule set, so it can run on any thread. What an
//! event contributes (stateless findings, hits for correlations) is handed
//! to the [`Engine`](crate::Engine), which applies it in stream order.

use std::ops::Range;
use std::sync::Arc;

use ipnetwork::{IpNetwork, Ipv4Network, Ipv6Network};

use crate::correlation::{Correlation, Kind};
use crate::dedup::identity;
use crate::event::{EventBuf, Meta, Rejection, Value};
use crate::fields::{FieldId, system};
use crate::finding::Finding;
use crate::matcher::parse_ip;
use crate::packed::Packer;
use crate::prefilter::is_candidate;
use crate::rule::template::Part;
use crate::ruleset::{Rule, RuleSet};
use crate::time::Timestamp;
use crate::window::{Fingerprint, Hit, Payload};

/// What an event contributes to one rule, waiting for its turn.
#[derive(Debug)]
pub(crate) enum Item {
    Finding(usize, Box<Finding>),
    /// A hit for a correlation; its texts are kept in [`HitTexts`].
    Hit {
        rule: usize,
        step: usize,
        /// The other steps of a `temporal` correlation that the event
        /// matches too, as bits by step (see [`Hit::alternatives`]).
        alternatives: u64,
        /// The packed group key.
        key: Range<usize>,
        /// Its fingerprint.
        fingerprint: Fingerprint,
        /// Which fields the key is made of (see [`KeyClasses`]).
        class: u32,
        payload: PayloadAt,
    },
}

impl Item {
    /// True for a stateless finding (not a hit).
    pub(crate) fn is_finding(&self) -> bool {
        matches!(self, Item::Finding(..))
    }
}

/// A [`Payload`] whose texts are ranges of [`HitTexts`].
#[derive(Debug)]
pub(crate) enum PayloadAt {
    None,
    Values(Range<usize>),
    New {
        key: Range<usize>,
        shown: Range<usize>,
        network: Option<Range<usize>>,
    },
}

/// The texts the hits of one event refer to: the event line (the finding
/// of the hit that fires is rendered from it, and most hits never fire;
/// a state saved while the event waits keeps it),
/// handed over by the parser rather than copied, and in one string its id,
/// then keys and payloads.
#[derive(Debug, Default)]
pub(crate) struct HitTexts {
    line: String,
    text: String,
    id_end: usize,
}

impl HitTexts {
    /// The event line.
    pub(crate) fn line(&self) -> &str {
        &self.line
    }

    /// A text of a hit.
    pub(crate) fn get(&self, range: &Range<usize>) -> &str {
        self.text.get(range.clone()).unwrap_or_default()
    }

    /// The hit at `time` for `step` (or one of `alternatives`) with
    /// `payload`.
    pub(crate) fn hit(
        &self,
        time: Timestamp,
        (step, alternatives): (usize, u64),
        payload: &PayloadAt,
    ) -> Hit<'_> {
        Hit {
            time,
            id: &self.text[..self.id_end],
            step,
            alternatives,
            payload: match payload {
                PayloadAt::None => Payload::None,
                PayloadAt::Values(values) => Payload::Values(self.get(values)),
                PayloadAt::New {
                    key,
                    shown,
                    network,
                } => Payload::New {
                    key: self.get(key),
                    shown: self.get(shown),
                    network: network.as_ref().map(|n| self.get(n)),
                },
            },
        }
    }

    /// Keeps the event's id, first of the texts (an empty id is kept as
    /// often as asked: it adds nothing).
    fn keep_id(&mut self, event: &EventBuf) {
        if self.text.is_empty() {
            self.text
                .push_str(event.str(system::ID).unwrap_or_default());
            self.id_end = self.text.len();
        }
    }
}

/// What an accepted event contributes to the rules.
#[derive(Debug, Default)]
pub(crate) struct Contribution {
    pub(crate) items: Vec<Item>,
    pub(crate) texts: HitTexts,
}

impl Contribution {
    /// About how many bytes of memory the contribution holds, for bounding
    /// what waits in the reorder buffer.
    pub(crate) fn heap_bytes(&self) -> usize {
        let items = self.items.capacity() * std::mem::size_of::<Item>();
        let findings = self.items.iter().filter(|item| item.is_finding()).count()
            * std::mem::size_of::<Finding>();
        self.texts.line.capacity() + self.texts.text.capacity() + items + findings
    }

    /// Empties the contribution, keeping its buffers.
    fn clear(&mut self) {
        self.items.clear();
        self.texts.line.clear();
        self.texts.text.clear();
        self.texts.id_end = 0;
    }

    /// Adds the hit of `rule` for `step` (or, for a `temporal` correlation,
    /// one of the steps in `alternatives`), unless the event lacks a value
    /// it needs (a group-by field, the counted field).
    fn push_hit(
        &mut self,
        rules: &RuleSet,
        classes: &KeyClasses,
        (rule, step, alternatives): (usize, usize, u64),
        event: &EventBuf,
    ) {
        let Some(correlation) = &rules.rules[rule].correlation else {
            return;
        };
        if self.items.is_empty() {
            self.items.reserve(8);
        }
        let class = classes.of(rule, step);
        self.texts.keep_id(event);
        let known_key = self.key_of_class(class);
        let text = &mut self.texts.text;
        let mark = text.len();
        let key = known_key.or_else(|| {
            let key = group_key(text, correlation, event, step)?;
            let fingerprint = Fingerprint::of(&text[key.clone()]);
            Some((key, fingerprint))
        });
        let hit = key.and_then(|(key, fingerprint)| {
            let payload = payload(text, correlation, event)?;
            Some(Item::Hit {
                rule,
                step,
                alternatives,
                key,
                fingerprint,
                class,
                payload,
            })
        });
        match hit {
            Some(hit) => self.items.push(hit),
            None => text.truncate(mark),
        }
    }

    /// Adds the hit of a `temporal` rule for `step`; or, when an earlier hit
    /// of this event for the rule (from item `first` on) is for the same
    /// group, lets that hit stand for `step` as well.
    fn push_unordered_hit(
        &mut self,
        rules: &RuleSet,
        classes: &KeyClasses,
        (rule, step): (usize, usize),
        event: &EventBuf,
        first: usize,
    ) {
        let (items, text) = (self.items.len(), self.texts.text.len());
        self.push_hit(rules, classes, (rule, step, 0), event);
        let Some(Item::Hit { key: added, .. }) = self.items.get(items) else {
            return;
        };
        let group = self.texts.get(added);
        let same_group = self.items[first..items].iter().position(
            |item| matches!(item, Item::Hit { rule: r, key, .. } if *r == rule && self.texts.get(key) == group),
        );
        let Some(earlier) = same_group else {
            return;
        };
        self.items.truncate(items);
        self.texts.text.truncate(text);
        if let Item::Hit { alternatives, .. } = &mut self.items[first + earlier]
            && step < 64
        {
            *alternatives |= 1 << step;
        }
    }

    /// The key of an earlier hit of this event of the same class (rules
    /// often group by the same fields), so it is written once.
    fn key_of_class(&self, class: u32) -> Option<(Range<usize>, Fingerprint)> {
        self.items.iter().find_map(|item| match item {
            Item::Hit {
                key,
                fingerprint,
                class: c,
                ..
            } if *c == class => Some((key.clone(), *fingerprint)),
            _ => None,
        })
    }
}

/// Numbers the lists of fields the group keys of correlation rules are
/// made of, per rule and step: hits of one class share their key.
#[derive(Debug)]
struct KeyClasses(Vec<Vec<u32>>);

impl KeyClasses {
    fn new(rules: &RuleSet) -> KeyClasses {
        let mut lists: Vec<Vec<Option<FieldId>>> = Vec::new();
        let mut class_of = |fields: Vec<Option<FieldId>>| {
            let known = lists.iter().position(|list| *list == fields);
            known.unwrap_or_else(|| {
                lists.push(fields);
                lists.len() - 1
            }) as u32
        };
        let classes = rules
            .rules
            .iter()
            .map(|rule| match &rule.correlation {
                None => Vec::new(),
                Some(correlation) => {
                    let steps = correlation.steps().map_or(1, <[usize]>::len);
                    (0..steps)
                        .map(|step| class_of(key_fields(correlation, step).collect()))
                        .collect()
                }
            })
            .collect();
        KeyClasses(classes)
    }

    /// The class of the key of `rule` for `step`.
    fn of(&self, rule: usize, step: usize) -> u32 {
        self.0[rule][step]
    }
}

/// The fields an event's group key is made of, for `step`.
fn key_fields(correlation: &Correlation, step: usize) -> impl Iterator<Item = Option<FieldId>> {
    correlation
        .group_by
        .iter()
        .map(move |g| g.fields.get(step).or(g.fields.first()).copied())
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
    pub(crate) contribution: Contribution,
}

impl Evaluated {
    /// True when the event contributes nothing to any rule.
    pub fn is_empty(&self) -> bool {
        self.contribution.items.is_empty()
    }
}

/// Most spare buffers a [`Spares`] keeps.
const MAX_SPARES: usize = 256;

/// Largest buffer kept for reuse (by a spare, or a line slot of `run`):
/// the buffer of a rare long line is freed rather than held on to.
pub const MAX_SPARE_BYTES: usize = 64 << 10;

/// The emptied buffers of contributions already applied, handed back so
/// that a [`Matcher`] fills them again instead of allocating for every event
/// with hits.
#[derive(Debug, Default)]
pub struct Spares(Vec<Contribution>);

impl Spares {
    /// Moves the buffers of `other` here, as many as there is room for (the
    /// rest are freed).
    pub fn take_from(&mut self, other: &mut Spares) {
        let room = MAX_SPARES.saturating_sub(self.0.len());
        let mut taken = other.0.drain(..);
        self.0.extend(taken.by_ref().take(room));
    }

    /// Keeps the buffers of an applied contribution, if there is room.
    pub(crate) fn keep(&mut self, mut contribution: Contribution) {
        if self.0.len() < MAX_SPARES && contribution.items.capacity() > 0 {
            contribution.clear();
            for buffer in [&mut contribution.texts.line, &mut contribution.texts.text] {
                if buffer.capacity() > MAX_SPARE_BYTES {
                    *buffer = String::new();
                }
            }
            self.0.push(contribution);
        }
    }

    fn take(&mut self) -> Contribution {
        self.0.pop().unwrap_or_default()
    }
}

/// Parses, validates and matches events against a rule set; one per thread.
#[derive(Debug)]
pub struct Matcher {
    rules: Arc<RuleSet>,
    classes: KeyClasses,
    buf: EventBuf,
    memo: Vec<Option<bool>>,
    /// The rules the event may match (see
    /// [`Prefilter::candidates`](crate::prefilter::Prefilter::candidates)).
    candidates: Vec<u64>,
    spares: Spares,
}

impl Matcher {
    /// A matcher for `rules`, refusing lines longer than `max_line` bytes.
    pub fn new(rules: Arc<RuleSet>, max_line: usize) -> Matcher {
        Matcher {
            classes: KeyClasses::new(&rules),
            rules,
            buf: EventBuf::new(max_line),
            memo: Vec::new(),
            candidates: Vec::new(),
            spares: Spares::default(),
        }
    }

    /// Takes spare buffers to fill again (see [`Spares`]).
    pub fn reuse(&mut self, spares: &mut Spares) {
        self.spares.take_from(spares);
    }

    /// Parses and validates one line and matches it against every rule.
    pub fn evaluate(&mut self, line: &[u8]) -> Result<Evaluated, Rejection> {
        let meta = self.buf.parse(line, &self.rules.fields)?;
        Ok(self.evaluated(meta))
    }

    /// Like [`Matcher::evaluate`], but without copying the line: an
    /// accepted line that contributes to a rule goes on with what it
    /// contributes, and `line` is then left an empty buffer; any other line
    /// stays.
    pub fn evaluate_owned(&mut self, line: &mut Vec<u8>) -> Result<Evaluated, Rejection> {
        let result = self
            .buf
            .parse_owned(line, &self.rules.fields)
            .map(|meta| self.evaluated(meta));
        self.buf.give_back(line);
        result
    }

    fn evaluated(&mut self, meta: Meta) -> Evaluated {
        let identity = identity(
            self.buf.str(system::SOURCE).unwrap_or_default(),
            self.buf.str(system::ID).unwrap_or_default(),
        );
        Evaluated {
            identity,
            time: meta.time,
            contribution: self.contribution(meta),
        }
    }

    /// Matches the parsed event against every rule.
    fn contribution(&mut self, meta: Meta) -> Contribution {
        let mut contribution = Contribution::default();
        let event = &self.buf;
        let event_type = event.str(system::TYPE).unwrap_or_default();
        let prefilter = &self.rules.prefilter;
        let gated = !prefilter.is_empty();
        if gated {
            prefilter.candidates(event, &mut self.candidates);
        }
        for (index, rule) in self.rules.rules.iter().enumerate() {
            if gated && !is_candidate(&self.candidates, index) {
                continue;
            }
            if !rule.filter.admits(meta.kind, event_type) || !rule.matches(event, &mut self.memo) {
                continue;
            }
            if contribution.items.capacity() == 0 {
                contribution = self.spares.take();
            }
            let Some(correlation) = &rule.correlation else {
                contribution.items.push(Item::Finding(
                    index,
                    Box::new(stateless_finding(rule, event, meta)),
                ));
                continue;
            };
            if meta.time.is_none() {
                continue;
            }
            let Some(steps) = correlation.steps() else {
                contribution.push_hit(&self.rules, &self.classes, (index, 0, 0), event);
                continue;
            };
            // An event may advance an ordered sequence by one step of each
            // partial sequence (highest first, so it never counts twice in
            // one), but stands for only one step of an unordered one in a
            // group: every step needs an event of its own. Which one is up
            // to the group: the first step it matches that the group still
            // lacks, among the steps that key the event to that group.
            let mut matches = |k: usize| rule.selection_matches(steps[k], event, &mut self.memo);
            if matches!(correlation.kind, Kind::Unordered(_)) {
                let first_hit = contribution.items.len();
                for step in (0..steps.len()).filter(|&k| matches(k)) {
                    let target = (index, step);
                    contribution.push_unordered_hit(
                        &self.rules,
                        &self.classes,
                        target,
                        event,
                        first_hit,
                    );
                }
                continue;
            }
            for step in (0..steps.len()).rev() {
                if matches(step) {
                    contribution.push_hit(&self.rules, &self.classes, (index, step, 0), event);
                }
            }
        }
        if !contribution.items.is_empty() {
            // What the event contributes takes the line along (to render a
            // hit's finding, or to save it while it waits); the parser gets
            // the spare buffer.
            self.buf.swap_line(&mut contribution.texts.line);
        }
        contribution
    }
}

/// Writes the values of `field` joined with `,`; false when it has none.
fn write_joined(out: &mut impl std::fmt::Write, event: &EventBuf, field: FieldId) -> bool {
    let mut any = false;
    for value in event.scalars(field) {
        if any {
            let _ = out.write_char(',');
        }
        any = true;
        write_value(out, value);
    }
    any
}

/// The values of `field` joined with `,`, or `None` when it has none.
fn joined(event: &EventBuf, field: FieldId) -> Option<String> {
    let mut text = String::new();
    write_joined(&mut text, event, field).then_some(text)
}

/// Writes the packed group key of an event at the end of `out`.
fn group_key(
    out: &mut String,
    correlation: &Correlation,
    event: &EventBuf,
    step: usize,
) -> Option<Range<usize>> {
    let start = out.len();
    let mut packer = Packer::new(out);
    for g in &correlation.group_by {
        let field = *g.fields.get(step).or(g.fields.first())?;
        packer.begin();
        if !write_joined(&mut packer, event, field) {
            return None;
        }
    }
    Some(start..out.len())
}

/// Writes what the correlation type reads from an event at the end of
/// `out`.
fn payload(out: &mut String, correlation: &Correlation, event: &EventBuf) -> Option<PayloadAt> {
    match &correlation.kind {
        Kind::ValueCount { field, .. } => {
            let start = out.len();
            let mut packer = Packer::new(out);
            let mut any = false;
            for value in event.scalars(*field) {
                packer.begin();
                write_value(&mut packer, value);
                any = true;
            }
            any.then_some(PayloadAt::Values(start..out.len()))
        }
        Kind::NewValue {
            fields,
            prefix_v4,
            prefix_v6,
            ..
        } => {
            let shown_start = out.len();
            for (i, &field) in fields.iter().enumerate() {
                if i > 0 {
                    out.push('|');
                }
                if !write_joined(out, event, field) {
                    return None;
                }
            }
            let shown = shown_start..out.len();
            let key_start = out.len();
            let mut network = None;
            let mut packer = Packer::new(out);
            for &field in fields {
                packer.begin();
                let value_start = packer.end();
                write_joined(&mut packer, event, field);
                if let Some(net) = masked(packer.since(value_start), *prefix_v4, *prefix_v6) {
                    packer.truncate(value_start);
                    write_network(&mut packer, net);
                    network = Some(value_start..packer.end());
                }
            }
            Some(PayloadAt::New {
                key: key_start..out.len(),
                shown,
                network,
            })
        }
        _ => Some(PayloadAt::None),
    }
}

/// Writes `network` as `address/prefix` (IPv4 without the formatting
/// machinery: it is written for every hit of a `new_value` rule on
/// addresses).
fn write_network(out: &mut impl std::fmt::Write, network: IpNetwork) {
    let IpNetwork::V4(v4) = network else {
        let _ = write!(out, "{}/{}", network.network(), network.prefix());
        return;
    };
    let mut text = [0u8; 18];
    let mut len = 0;
    for (i, byte) in v4
        .network()
        .octets()
        .into_iter()
        .chain([v4.prefix()])
        .enumerate()
    {
        if i > 0 {
            text[len] = if i < 4 { b'.' } else { b'/' };
            len += 1;
        }
        if byte >= 100 {
            text[len] = b'0' + byte / 100;
            len += 1;
        }
        if byte >= 10 {
            text[len] = b'0' + byte / 10 % 10;
            len += 1;
        }
        text[len] = b'0' + byte % 10;
        len += 1;
    }
    let _ = out.write_str(std::str::from_utf8(&text[..len]).unwrap_or_default());
}

/// The network of an address under the configured prefixes, if `value` is
/// an address and a prefix is set. An address of the family without one is
/// its own network (/32, /128), so that its spellings compare alike.
fn masked(value: &str, prefix_v4: Option<u8>, prefix_v6: Option<u8>) -> Option<IpNetwork> {
    if prefix_v4.is_none() && prefix_v6.is_none() {
        return None;
    }
    Some(match parse_ip(value)? {
        std::net::IpAddr::V4(ip) => {
            IpNetwork::V4(Ipv4Network::new(ip, prefix_v4.unwrap_or(32)).ok()?)
        }
        std::net::IpAddr::V6(ip) => {
            IpNetwork::V6(Ipv6Network::new(ip, prefix_v6.unwrap_or(128)).ok()?)
        }
    })
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
/// placeholders; `special` supplies the finding's own placeholders and
/// group values by name.
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
            Part::Group(name) => message.push_str(&special(name).unwrap_or_default()),
        }
    }
    message
}

/// Longest text value kept whole in a group key or a counted value; a
/// longer one is shortened (see [`write_text`]), so that a group's memory
/// does not grow with the values an event brings.
const MAX_VALUE_BYTES: usize = 256;

/// Bytes of a shortened value kept as they are: enough that, with `…` and
/// the hash, a shortened value (260 to 263 bytes) is longer than any value
/// kept whole, so no value kept whole can stand for a shortened one.
const SHORTENED_PREFIX: usize = 228;

/// Writes the text form of an event value.
fn write_value(out: &mut impl std::fmt::Write, value: Value<'_>) {
    let _ = match value {
        Value::Str(s) => write_text(out, s),
        Value::Int(n) => write!(out, "{n}"),
        Value::UInt(n) => write!(out, "{n}"),
        // `+ 0.0` writes -0 as 0: numbers of the same value are one value.
        Value::Float(n) => write!(out, "{}", n + 0.0),
        Value::Bool(b) => write!(out, "{b}"),
        Value::Null | Value::Object | Value::Array => Ok(()),
    };
}

/// Writes a text, or, past [`MAX_VALUE_BYTES`], its first
/// [`SHORTENED_PREFIX`] bytes, `…` and the SHA-256 of the whole (128 bits in
/// hex): values that differ stay apart, and the same value is shortened the
/// same way in every run and saved state.
fn write_text(out: &mut impl std::fmt::Write, text: &str) -> std::fmt::Result {
    use sha2::{Digest, Sha256};
    if text.len() <= MAX_VALUE_BYTES {
        return out.write_str(text);
    }
    out.write_str(&text[..text.floor_char_boundary(SHORTENED_PREFIX)])?;
    out.write_char('…')?;
    for byte in &Sha256::digest(text.as_bytes())[..16] {
        write!(out, "{byte:02x}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_written_like_display_writes_them() {
        for (address, prefix) in [
            ("0.0.0.0", 0),
            ("9.99.100.255", 32),
            ("10.1.2.3", 8),
            ("192.168.200.7", 24),
            ("2001:db8::1", 48),
        ] {
            let network = IpNetwork::new(address.parse().unwrap(), prefix).unwrap();
            let network = IpNetwork::new(network.network(), prefix).unwrap();
            let mut written = String::new();
            write_network(&mut written, network);
            assert_eq!(
                written,
                format!("{}/{}", network.network(), network.prefix())
            );
        }
    }

    #[test]
    fn numbers_of_one_value_are_written_alike() {
        let written = |value: Value<'_>| {
            let mut out = String::new();
            write_value(&mut out, value);
            out
        };
        assert_eq!(written(Value::Float(-0.0)), "0");
        assert_eq!(written(Value::Float(5.0)), written(Value::Int(5)));
        assert_eq!(written(Value::Float(-2.5)), "-2.5");
    }

    #[test]
    fn long_values_are_shortened_apart() {
        let long = |last: char| format!("{}{last}", "é".repeat(200));
        let written = |text: &str| {
            let mut out = String::new();
            write_text(&mut out, text).unwrap();
            out
        };
        assert_eq!(written("short"), "short");
        let (a, b) = (written(&long('a')), written(&long('b')));
        assert_ne!(a, b);
        assert_eq!(a, written(&long('a')));
        assert!(
            (MAX_VALUE_BYTES + 1..=263).contains(&a.len()),
            "{}",
            a.len()
        );
        assert!(a.starts_with(&"é".repeat(114)) && a.contains('…'), "{a}");
        // A value written like a shortened one is shortened in turn.
        assert_ne!(written(&a), a);
        let longest_whole = "x".repeat(MAX_VALUE_BYTES);
        assert_eq!(written(&longest_whole), longest_whole);
    }

    #[test]
    fn spares_keep_buffers_of_ordinary_size_only() {
        let mut spares = Spares::default();
        for len in [100, MAX_SPARE_BYTES + 1] {
            let mut contribution = Contribution::default();
            contribution.items.reserve(1);
            contribution.texts.line = "x".repeat(len);
            contribution.texts.text = "y".repeat(len);
            spares.keep(contribution);
        }
        let long = spares.take();
        assert_eq!(
            (long.texts.line.capacity(), long.texts.text.capacity()),
            (0, 0)
        );
        let ordinary = spares.take();
        assert!(ordinary.texts.line.capacity() >= 100 && ordinary.texts.line.is_empty());
        assert!(ordinary.texts.text.capacity() >= 100 && ordinary.texts.text.is_empty());
    }

    #[test]
    fn keys_of_the_same_fields_share_a_class() {
        let rule = |id: &str, correlation: &str| {
            format!(
                "id: {id}\ntitle: t\nseverity: low\nmatch:\n  a:\n    data.appType: web\n\
                 \x20 b:\n    data.appType: native\n  condition: a or b\ncorrelation:\n{correlation}---\n"
            )
        };
        let count = |group_by: &str| {
            format!(
                "  type: event_count\n  group-by: {group_by}\n  timespan: 1m\n  condition: {{gte: 2}}\n"
            )
        };
        let yaml = [
            rule("one", &count("[tenantid, data.ownerId]")),
            rule("same", &count("[tenantid, data.ownerId]")),
            rule("other-order", &count("[data.ownerId, tenantid]")),
            rule("stateless-between", "").replace("correlation:\n", ""),
            rule(
                "steps",
                "  type: temporal_ordered\n  steps: [a, b]\n  group-by: [tenantid, u]\n\
                 \x20 aliases:\n    u: {a: data.ownerId, b: data.resourceOwner}\n  timespan: 1h\n",
            ),
        ]
        .concat();
        let rules = RuleSet::from_yaml("rules.yaml", &yaml).unwrap();
        let classes = KeyClasses::new(&rules);
        assert_eq!(classes.of(0, 0), classes.of(1, 0));
        assert_ne!(classes.of(0, 0), classes.of(2, 0));
        assert!(classes.0[3].is_empty());
        assert_eq!(
            classes.of(4, 0),
            classes.of(0, 0),
            "step a groups by data.ownerId"
        );
        assert_ne!(classes.of(4, 1), classes.of(4, 0));
    }

    #[test]
    fn an_owned_line_moves_on_with_hits_and_stays_otherwise() {
        let rules = RuleSet::from_yaml(
            "rules.yaml",
            "id: burst\ntitle: burst\nseverity: low\nmatch:\n  s:\n    data.grantType: burst\n\
             correlation:\n  type: event_count\n  group-by: [tenantid]\n  timespan: 1m\n\
             \x20 condition: {gte: 3}\n",
        )
        .unwrap();
        let mut matcher = Matcher::new(Arc::new(rules), 400);
        let event = |grant: &str| {
            format!(
                r#"{{"id":"e","time":"2026-03-02T00:00:00Z","type":"com.qlik.oauth-token.issued","source":"s","specversion":"1.0","tenantid":"t","data":{{"grantType":"{grant}"}}}}"#
            )
        };
        let hit = event("burst");
        let mut line = hit.clone().into_bytes();
        let evaluated = matcher.evaluate_owned(&mut line).unwrap();
        assert!(line.is_empty(), "the line went on with the hit");
        assert_eq!(evaluated.contribution.texts.line(), hit);

        let quiet = event("other");
        let mut line = quiet.clone().into_bytes();
        assert!(matcher.evaluate_owned(&mut line).unwrap().is_empty());
        assert_eq!(line, quiet.as_bytes());

        for rejected in [
            br#"{"id":"e","type":"com.qlik.oauth-token.issued"}"#.to_vec(),
            b"{\"id\":\"\xff\"}".to_vec(),
            b"{\x00}".to_vec(),
            event(&"x".repeat(400)).into_bytes(),
        ] {
            let mut line = rejected.clone();
            assert!(matcher.evaluate_owned(&mut line).is_err());
            assert_eq!(line, rejected);
        }
        // The parser still works after handing lines around, and a hit
        // whose key is empty takes its line along too.
        let blank = hit.replace(r#""tenantid":"t""#, r#""tenantid":"""#);
        for line in [hit, blank] {
            let mut bytes = line.clone().into_bytes();
            let evaluated = matcher.evaluate_owned(&mut bytes).unwrap();
            assert!(!evaluated.is_empty());
            assert_eq!(evaluated.contribution.texts.line(), line);
        }
    }
}
