//! The evaluator: owns the mutable state (parse buffer, duplicate filter,
//! reorder buffer, correlation windows, suppression) and runs a shared
//! [`RuleSet`] over events one at a time.
//!
//! Each accepted event is matched against every rule as it arrives; what it
//! contributes (a stateless finding, or a hit for a correlation) waits in a
//! reorder buffer until no earlier event can still arrive within the
//! allowed lateness, and is then applied in event-time order (ties in
//! arrival order). So a stream shuffled within the lateness gives the
//! findings of the sorted stream. Events later than that are still matched
//! by stateless rules, skip correlations, and are counted as late.

use std::sync::Arc;

use crate::correlation::Correlation;
use crate::dedup::Dedup;
use crate::event::EventBuf;
use crate::event::Rejection;
use crate::fields::system;
use crate::finding::{Finding, Window};
use crate::matching::{
    Contribution, Evaluated, Item, Matcher, Spares, assemble, render_fields, reparse,
};
use crate::prefetch::prefetch;
use crate::reorder::ReorderBuffer;
use crate::ruleset::{Rule, RuleSet};
use crate::state::{self, PendingEvent, SavedRule, Snapshot, StateError};
use crate::time::{Span, Timestamp};
use crate::window::{Fire, GroupKey, GroupRef, Hit, RuleState};

/// How many recent suppressions are kept per rule and group, so that a late
/// finding is judged against the suppression that covered its time.
const SUPPRESSION_HISTORY: usize = 8;

/// Limits and capacities of an engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Longest accepted event line, in bytes.
    pub max_line_bytes: usize,
    /// How many recent (`source`, `id`) pairs are remembered to drop
    /// duplicates; the oldest are forgotten first, and counted.
    pub dedup_capacity: usize,
    /// How far out of order (in event time) an event may arrive and still
    /// be evaluated as if in order.
    pub lateness: Span,
    /// Groups each correlation rule tracks unless it sets `max-groups`.
    pub max_groups: usize,
    /// Most events waiting in the reorder buffer; past it the oldest are
    /// applied early (and counted).
    pub max_pending: usize,
    /// Most bytes the events waiting in the reorder buffer may hold; past
    /// it the oldest are applied early (and counted).
    pub max_pending_bytes: usize,
    /// A live stream, such as a webhook service's: stateless findings are
    /// written as soon as their event is scheduled, instead of in event-time
    /// order once the lateness has passed (an alert should not wait, and
    /// arrival order is not reproducible anyway); and the stream's time
    /// never runs ahead of the wall clock, so an event dated a little ahead
    /// waits until its time comes instead of making every event dated now
    /// late.
    pub live: bool,
    /// How far ahead of the stream's time one event may move it. An event
    /// further ahead (and the first of a stream) waits for the next one: if
    /// that is not more than this behind it, the stream moved on; if it is,
    /// the first was an outlier (a skewed clock) and is matched by
    /// stateless rules only, so that it cannot make every later event late.
    /// A live stream judges every event by the wall clock instead, at once.
    pub max_ahead: Span,
    /// Whether the wall clock judges the last event of the input when it
    /// is far ahead (an outlier if dated more than `max_ahead` past it).
    /// Rule tests turn it off, so that their results do not depend on the
    /// day they run: their last event is then always evaluated whole.
    pub last_by_wall_clock: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_line_bytes: 1 << 20,
            dedup_capacity: 1_000_000,
            lateness: Span(5 * 60_000_000),
            max_groups: 100_000,
            max_pending: 1_000_000,
            max_pending_bytes: 256 << 20,
            max_ahead: Span(86_400_000_000),
            last_by_wall_clock: true,
            live: false,
        }
    }
}

/// Counts for one rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleStats {
    /// The rule id.
    pub id: String,
    /// Findings emitted.
    pub findings: u64,
    /// Findings withheld by `suppress`.
    pub suppressed: u64,
    /// Groups tracked now (correlations).
    pub groups: u64,
    /// Groups dropped to stay within `max-groups`.
    pub evicted_groups: u64,
    /// Remembered values dropped to stay within a group's cap.
    pub evicted_values: u64,
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
    /// Accepted events older than the allowed lateness: matched by
    /// stateless rules only.
    pub late: u64,
    /// Accepted events without any time: matched by stateless rules only.
    pub untimed: u64,
    /// Accepted events further ahead of the stream than `max_ahead` whose
    /// next event was more than that behind them: matched by stateless
    /// rules only.
    pub ahead: u64,
    /// Events applied before their lateness ran out because the reorder
    /// buffer was full.
    pub forced: u64,
    /// Remembered event identities forgotten by the duplicate filter.
    pub dedup_evictions: u64,
    /// Per-rule counts, in rule-set order.
    pub rules: Vec<RuleStats>,
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
/// engine.finish(&mut findings);
/// assert_eq!(findings[0].rule, "impersonation");
/// ```
#[derive(Debug)]
pub struct Engine {
    rules: Arc<RuleSet>,
    options: Options,
    matcher: Matcher,
    /// Buffers of applied contributions, for a matcher to fill again.
    spares: Spares,
    /// Parses the event of a hit that fired again, to render its finding.
    render_buf: EventBuf,
    dedup: Dedup,
    /// Waiting contributions, each with the bytes it holds.
    pending: ReorderBuffer<(Timestamp, u64), (usize, Contribution)>,
    /// The sum of the bytes the contributions in `pending` hold.
    pending_bytes: usize,
    arrivals: u64,
    max_time: Option<Timestamp>,
    /// Time up to which [`Engine::finish`] applied everything (here or
    /// before the state was saved): windows already hold events up to it,
    /// so an event before it is late, whatever the lateness.
    applied_through: Option<Timestamp>,
    /// An event further ahead than `max_ahead` (or the stream's first),
    /// until the next event (or the clock of [`Engine::advance_to`]) shows
    /// whether the stream moved.
    ahead: Option<(Timestamp, Contribution)>,
    states: Vec<RuleState>,
    /// Per rule and group: the recent suppressions, as (finding time, end).
    suppressed: foldhash::HashMap<(usize, GroupKey), Vec<(Timestamp, Timestamp)>>,
    next_suppression_sweep: usize,
    stats: Stats,
}

/// The deepest nesting [`Engine::process_json`] writes out.
pub const MAX_VALUE_DEPTH: usize = 1_000;

/// True when `value` nests arrays or objects more than `limit` deep
/// (walked without recursion).
fn nested_deeper_than(value: &serde_json::Value, limit: usize) -> bool {
    use serde_json::Value;
    let mut stack = vec![(value, 0usize)];
    while let Some((value, depth)) = stack.pop() {
        let nested = matches!(value, Value::Array(_) | Value::Object(_));
        if nested && depth >= limit {
            return true;
        }
        match value {
            Value::Array(items) => stack.extend(items.iter().map(|v| (v, depth + 1))),
            Value::Object(map) => stack.extend(map.values().map(|v| (v, depth + 1))),
            _ => {}
        }
    }
    false
}

impl Engine {
    /// An engine with default options.
    pub fn new(rules: Arc<RuleSet>) -> Engine {
        Engine::with_options(rules, Options::default())
    }

    /// An engine with the given options.
    pub fn with_options(rules: Arc<RuleSet>, options: Options) -> Engine {
        let rule_stats = rules
            .rules
            .iter()
            .map(|r| RuleStats {
                id: r.id.clone(),
                ..RuleStats::default()
            })
            .collect();
        Engine {
            states: vec![RuleState::default(); rules.rules.len()],
            matcher: Matcher::new(Arc::clone(&rules), options.max_line_bytes),
            spares: Spares::default(),
            rules,
            options,
            render_buf: EventBuf::new(options.max_line_bytes),
            dedup: Dedup::new(options.dedup_capacity),
            pending: ReorderBuffer::default(),
            pending_bytes: 0,
            arrivals: 0,
            max_time: None,
            applied_through: None,
            ahead: None,
            suppressed: foldhash::HashMap::default(),
            next_suppression_sweep: 1024,
            stats: Stats {
                rules: rule_stats,
                ..Stats::default()
            },
        }
    }

    /// The rule set this engine runs.
    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    /// The options this engine runs with.
    pub fn options(&self) -> Options {
        self.options
    }

    /// Counts so far.
    pub fn stats(&self) -> Stats {
        let mut stats = self.stats.clone();
        stats.dedup_evictions = self.dedup.evictions();
        for (rule, state) in stats.rules.iter_mut().zip(&self.states) {
            rule.groups = state.groups.len() as u64;
            rule.evicted_groups = state.evicted_groups;
            rule.evicted_values = state.evicted_values;
        }
        stats
    }

    /// Parses, validates and evaluates one event line, appending the
    /// findings that are due to `out`. A rejected line is counted and its
    /// reason returned.
    pub fn process(&mut self, line: &[u8], out: &mut Vec<Finding>) -> Result<Outcome, Rejection> {
        self.matcher.reuse(&mut self.spares);
        let evaluated = self.matcher.evaluate(line);
        self.apply_evaluated(evaluated, out)
    }

    /// Like [`Engine::process`], for an event already parsed into a JSON
    /// value (it is written out as one line and read like any other, so
    /// the findings are those of the same event as text).
    /// A value nested deeper than [`MAX_VALUE_DEPTH`] (only one built by
    /// hand can be: serde_json's parser stops at 128) is rejected before it
    /// is written out, which would exhaust the stack.
    pub fn process_json(
        &mut self,
        event: &serde_json::Value,
        out: &mut Vec<Finding>,
    ) -> Result<Outcome, Rejection> {
        if nested_deeper_than(event, MAX_VALUE_DEPTH) {
            let reason = format!("nesting deeper than {MAX_VALUE_DEPTH} levels");
            return self.apply_evaluated(Err(Rejection::Json(reason)), out);
        }
        let line = serde_json::to_vec(event).unwrap_or_default();
        self.process(&line, out)
    }

    /// Asks the processor to fetch the state that applying `evaluated`
    /// will touch first (its slot in the duplicate filter). A hint that
    /// changes nothing: call it a few events ahead of
    /// [`Engine::apply_evaluated`] for the same event, so that the wait for
    /// memory overlaps the work on the events in between.
    pub fn prefetch(&self, evaluated: &Evaluated) {
        self.dedup.prefetch(evaluated.identity);
    }

    /// Takes the result of a [`Matcher`] (possibly run on another thread)
    /// for the next line of the stream: counts it, drops duplicates, and
    /// schedules what the event contributes.
    pub fn apply_evaluated(
        &mut self,
        evaluated: Result<Evaluated, Rejection>,
        out: &mut Vec<Finding>,
    ) -> Result<Outcome, Rejection> {
        self.stats.read += 1;
        let evaluated = match evaluated {
            Ok(evaluated) => evaluated,
            Err(rejection) => {
                self.stats.rejected += 1;
                return Err(rejection);
            }
        };
        if !self.dedup.insert_identity(evaluated.identity) {
            self.stats.duplicates += 1;
            return Ok(Outcome::Duplicate);
        }
        self.stats.accepted += 1;
        self.schedule(evaluated.time, evaluated.contribution, out);
        Ok(Outcome::Accepted)
    }

    /// The emptied buffers of applied contributions; hand them to the
    /// [`Matcher`]s that feed [`Engine::apply_evaluated`] (see
    /// [`Matcher::reuse`]) so that they need not allocate new ones.
    pub fn spares(&mut self) -> &mut Spares {
        &mut self.spares
    }

    /// Applies everything still waiting in the reorder buffer (at the end
    /// of the input, or before saving state). An event that arrives later
    /// with a time before the latest one seen is then late.
    pub fn finish(&mut self, out: &mut Vec<Finding>) {
        self.settle_ahead(None, out);
        while let Some((time, contribution)) = self.pop_pending() {
            self.apply(time, contribution, out);
        }
        self.applied_through = self.max_time;
    }

    /// Moves the stream's clock forward to `now` (for example the wall clock
    /// of a live service) and applies what no event can still precede, so
    /// that findings do not wait for the next event on a quiet stream.
    pub fn advance_to(&mut self, now: Timestamp, out: &mut Vec<Finding>) {
        if self.max_time.is_some_and(|t| t >= now) {
            return;
        }
        self.max_time = Some(now);
        self.settle_ahead(Some(now), out);
        self.schedule_release(out);
    }

    /// The engine's state, for saving, at any point of the stream: events
    /// still waiting within the lateness are saved as lines, and evaluated
    /// again by [`Engine::restore`]. After [`Engine::finish`] none wait.
    pub fn snapshot(&self) -> Snapshot {
        let mut waiting: Vec<(&(Timestamp, u64), &Contribution)> =
            self.pending.iter().map(|(key, (_, c))| (key, c)).collect();
        waiting.sort_by_key(|(key, _)| **key);
        let pending_event =
            |time: Timestamp, contribution: &Contribution, held: bool| PendingEvent {
                time,
                line: contribution.texts.line().to_owned(),
                findings_pending: contribution.items.iter().any(Item::is_finding),
                held,
            };
        let mut pending: Vec<PendingEvent> = waiting
            .into_iter()
            .map(|((time, _), contribution)| pending_event(*time, contribution, false))
            .collect();
        if let Some((time, contribution)) = &self.ahead {
            pending.push(pending_event(*time, contribution, true));
        }
        let watermark = self.watermark().filter(|&w| Some(w) != self.max_time);
        Snapshot {
            format: state::FORMAT.to_owned(),
            version: if pending.is_empty() && watermark.is_none() {
                state::OLDEST
            } else {
                state::VERSION
            },
            max_time: self.max_time,
            watermark,
            pending,
            dedup: self.dedup.export(),
            rules: self
                .rules
                .rules
                .iter()
                .zip(&self.states)
                .enumerate()
                .map(|(index, (rule, state))| {
                    let mut suppressed: Vec<(GroupKey, Vec<(Timestamp, Timestamp)>)> = self
                        .suppressed
                        .iter()
                        .filter(|((r, _), _)| *r == index)
                        .map(|((_, key), windows)| (key.clone(), windows.clone()))
                        .collect();
                    suppressed.sort();
                    SavedRule {
                        id: rule.id.clone(),
                        fingerprint: rule.fingerprint.clone(),
                        state: state.clone(),
                        suppressed,
                    }
                })
                .collect(),
        }
    }

    /// Restores saved state into a fresh engine. Returns the ids of rules
    /// that start fresh because their definition changed since the save,
    /// or an error, restoring nothing, when a rule's saved groups do not
    /// fit the rule (the file was edited).
    pub fn restore(&mut self, snapshot: Snapshot) -> Result<Vec<String>, StateError> {
        for saved in &snapshot.rules {
            let rule = self.rules.rules.iter().find(|r| r.id == saved.id);
            if let Some(correlation) = rule
                .filter(|r| r.fingerprint == saved.fingerprint)
                .and_then(|r| r.correlation.as_ref())
                && !saved
                    .state
                    .groups
                    .iter()
                    .all(|(_, group)| group.state.fits(correlation))
            {
                return Err(StateError::Format(format!(
                    "the groups saved for rule '{}' do not fit its correlation",
                    saved.id
                )));
            }
        }
        self.max_time = snapshot.max_time;
        self.applied_through = snapshot.watermark.or(snapshot.max_time);
        self.dedup.import(&snapshot.dedup);
        let mut fresh = Vec::new();
        for saved in snapshot.rules {
            let Some(index) = self.rules.rules.iter().position(|r| r.id == saved.id) else {
                continue;
            };
            if self.rules.rules[index].fingerprint != saved.fingerprint {
                fresh.push(saved.id);
                continue;
            }
            self.states[index] = saved.state;
            // Suppression follows the rule as it is now: its `suppress` may
            // have changed (it does not change the fingerprint).
            let Some(span) = self.rules.rules[index].suppress else {
                continue;
            };
            for (key, windows) in saved.suppressed {
                let windows = windows
                    .into_iter()
                    .map(|(start, _)| (start, start.plus(span)))
                    .collect();
                self.suppressed.insert((index, key), windows);
            }
        }
        for waiting in snapshot.pending {
            self.requeue(waiting);
        }
        Ok(fresh)
    }

    /// Puts a saved waiting event back, evaluated by the rules as they are
    /// now (it passed the duplicate filter and the lateness before).
    fn requeue(&mut self, waiting: PendingEvent) {
        // A held event that contributed nothing was saved for its time
        // alone: it still decides whether the stream moved on.
        let mut contribution = if waiting.line.is_empty() {
            Contribution::default()
        } else {
            match self.matcher.evaluate(waiting.line.as_bytes()) {
                Ok(evaluated) => evaluated.contribution,
                Err(_) => return,
            }
        };
        if !waiting.findings_pending {
            contribution.items.retain(|item| !item.is_finding());
        }
        if waiting.held {
            self.ahead = Some((waiting.time, contribution));
        } else {
            self.enqueue(waiting.time, contribution);
        }
    }

    /// Puts a contribution into the reorder buffer, unless it is empty.
    fn enqueue(&mut self, time: Timestamp, contribution: Contribution) {
        if contribution.items.is_empty() {
            return;
        }
        self.arrivals += 1;
        let bytes = contribution.heap_bytes();
        self.pending_bytes += bytes;
        self.pending
            .insert((time, self.arrivals), (bytes, contribution));
    }

    /// The time before which an arriving event is late.
    fn watermark(&self) -> Option<Timestamp> {
        let watermark = self.max_time.map(|t| t.minus(self.options.lateness));
        watermark.max(self.applied_through)
    }

    fn schedule(
        &mut self,
        time: Option<Timestamp>,
        contribution: Contribution,
        out: &mut Vec<Finding>,
    ) {
        let Some(time) = time else {
            self.stats.untimed += 1;
            self.apply_now(None, contribution.items, out);
            return;
        };
        // A live stream has the wall clock to judge each event by at once.
        if self.options.live {
            if time > Timestamp::now().plus(self.options.max_ahead) {
                self.stats.ahead += 1;
                self.apply_now(Some(time), contribution.items, out);
            } else {
                self.admit(time, contribution, out);
            }
            return;
        }
        self.settle_ahead(Some(time), out);
        // The first event of a stream is held too: nothing shows yet
        // whether its clock is right.
        let far_ahead = self
            .max_time
            .is_none_or(|clock| time > clock.plus(self.options.max_ahead));
        if far_ahead {
            self.ahead = Some((time, contribution));
            return;
        }
        self.admit(time, contribution, out);
    }

    /// Decides on the held event, if any, now that an event at `next` (or
    /// the clock) came: one not far behind it shows that the stream moved
    /// on, and the held event is scheduled; one far behind it shows an
    /// outlier, matched by stateless rules only. At the end of the stream
    /// (`None`) only the wall clock can show it wrong: the last event after
    /// a long quiet spell is evaluated whole, but one dated far into the
    /// future is an outlier, and does not carry its time into saved state.
    fn settle_ahead(&mut self, next: Option<Timestamp>, out: &mut Vec<Finding>) {
        let Some((time, contribution)) = self.ahead.take() else {
            return;
        };
        let moved_on = match next {
            Some(next) => next >= time.minus(self.options.max_ahead),
            None if self.options.last_by_wall_clock => {
                Timestamp::now() >= time.minus(self.options.max_ahead)
            }
            None => true,
        };
        if moved_on {
            self.admit(time, contribution, out);
        } else {
            self.stats.ahead += 1;
            self.apply_now(Some(time), contribution.items, out);
        }
    }

    /// Schedules a timed event that is not far ahead: late, or into the
    /// reorder buffer.
    fn admit(&mut self, time: Timestamp, mut contribution: Contribution, out: &mut Vec<Finding>) {
        if self.watermark().is_some_and(|w| time < w) {
            self.stats.late += 1;
            self.apply_now(Some(time), contribution.items, out);
            return;
        }
        let clock = if self.options.live {
            time.min(Timestamp::now())
        } else {
            time
        };
        self.max_time = Some(self.max_time.map_or(clock, |m| m.max(clock)));
        if self.options.live {
            let findings = contribution.items.extract_if(.., |item| item.is_finding());
            for item in findings {
                if let Item::Finding(rule, finding) = item {
                    self.emit(rule, GroupKey::default(), Some(time), *finding, out);
                }
            }
        }
        self.enqueue(time, contribution);
        self.schedule_release(out);
    }

    /// Applies the waiting events that the watermark has passed (and the
    /// oldest ones beyond the buffer's capacity).
    fn schedule_release(&mut self, out: &mut Vec<Finding>) {
        let Some(watermark) = self.watermark() else {
            return;
        };
        while let Some((first, _)) = self.pending.first_key() {
            let due = first <= watermark;
            let within = self.pending.len() <= self.options.max_pending
                && self.pending_bytes <= self.options.max_pending_bytes;
            if !due && within {
                break;
            }
            if !due {
                self.stats.forced += 1;
            }
            let Some((time, contribution)) = self.pop_pending() else {
                break;
            };
            self.apply(time, contribution, out);
            self.prefetch_groups();
        }
    }

    /// Asks the processor to fetch the groups that the next waiting events
    /// will update, a step at a time, each step reading what the one before
    /// fetched while an event was worked on: the hits of the fourth event
    /// from now, the group tables' index lines for the third, the groups
    /// found through those lines for the second, and the collections of
    /// those groups for the next. A hint that changes nothing.
    fn prefetch_groups(&self) {
        let hits = |n: usize| {
            let items = self.pending.nth_queued(n).map(|(_, c)| c.items.as_slice());
            items
                .unwrap_or_default()
                .iter()
                .filter_map(|item| match item {
                    Item::Hit {
                        rule, fingerprint, ..
                    } => Some((&self.states.get(*rule)?.groups, *fingerprint)),
                    Item::Finding(..) => None,
                })
        };
        if let Some((_, contribution)) = self.pending.nth_queued(3) {
            contribution.items.iter().for_each(prefetch);
        }
        for (groups, fingerprint) in hits(2) {
            groups.prefetch_slot(fingerprint);
        }
        for (groups, fingerprint) in hits(1) {
            groups.prefetch_group(fingerprint);
        }
        for (groups, fingerprint) in hits(0) {
            groups.prefetch_state(fingerprint);
        }
    }

    /// Takes the earliest waiting event out of the reorder buffer.
    fn pop_pending(&mut self) -> Option<(Timestamp, Contribution)> {
        let ((time, _), (bytes, contribution)) = self.pending.pop_first()?;
        self.pending_bytes -= bytes;
        Some((time, contribution))
    }

    /// Applies the stateless part of an event that cannot take part in
    /// windows (late or untimed).
    fn apply_now(&mut self, time: Option<Timestamp>, items: Vec<Item>, out: &mut Vec<Finding>) {
        for item in items {
            if let Item::Finding(rule, finding) = item {
                self.emit(rule, GroupKey::default(), time, *finding, out);
            }
        }
    }

    fn apply(&mut self, time: Timestamp, mut contribution: Contribution, out: &mut Vec<Finding>) {
        let texts = &contribution.texts;
        let mut completed = Vec::new();
        for item in contribution.items.drain(..) {
            match item {
                Item::Finding(rule, finding) => {
                    self.emit(rule, GroupKey::default(), Some(time), *finding, out);
                }
                Item::Hit {
                    rule,
                    step,
                    alternatives,
                    key,
                    fingerprint,
                    payload,
                    ..
                } => {
                    // An event that completed a finding for a group takes no
                    // further part in it (a lower step of the same sequence
                    // would start the next one with it).
                    if completed.contains(&(rule, fingerprint)) {
                        continue;
                    }
                    let definition = &self.rules.rules[rule];
                    let Some(correlation) = &definition.correlation else {
                        continue;
                    };
                    let max_groups = correlation
                        .max_groups
                        .unwrap_or(self.options.max_groups)
                        .max(1);
                    let key = GroupRef {
                        packed: texts.get(&key),
                        fingerprint,
                    };
                    let hit = texts.hit(time, (step, alternatives), &payload);
                    let Some(fire) = self.states[rule].hit(correlation, max_groups, key, &hit)
                    else {
                        continue;
                    };
                    completed.push((rule, fingerprint));
                    let key = GroupKey::from_packed(key.packed);
                    let (tenant, rendered) =
                        match reparse(&mut self.render_buf, &self.rules, texts.line()) {
                            Some(event) => (
                                event.str(system::TENANTID).unwrap_or_default().to_owned(),
                                render_fields(definition, event),
                            ),
                            None => (String::new(), Vec::new()),
                        };
                    let finding = correlation_finding(
                        definition,
                        correlation,
                        &key,
                        &hit,
                        &tenant,
                        &rendered,
                        fire,
                    );
                    self.emit(rule, key, Some(time), finding, out);
                }
            }
        }
        self.spares.keep(contribution);
    }

    fn emit(
        &mut self,
        rule: usize,
        key: GroupKey,
        time: Option<Timestamp>,
        finding: Finding,
        out: &mut Vec<Finding>,
    ) {
        if let (Some(span), Some(time)) = (self.rules.rules[rule].suppress, time) {
            let windows = self.suppressed.entry((rule, key)).or_default();
            if windows
                .iter()
                .any(|&(start, until)| start <= time && time < until)
            {
                self.stats.rules[rule].suppressed += 1;
                return;
            }
            windows.push((time, time.plus(span)));
            windows.sort_unstable();
            if windows.len() > SUPPRESSION_HISTORY {
                windows.remove(0);
            }
            if self.suppressed.len() >= self.next_suppression_sweep {
                self.suppressed
                    .retain(|_, w| w.last().is_some_and(|&(_, until)| until > time));
                self.next_suppression_sweep = (self.suppressed.len() * 2).max(1024);
            }
        }
        self.stats.rules[rule].findings += 1;
        out.push(finding);
    }
}

fn correlation_finding(
    rule: &Rule,
    correlation: &Correlation,
    key: &GroupKey,
    hit: &Hit,
    tenant: &str,
    rendered: &[String],
    fire: Fire,
) -> Finding {
    let timespan = correlation
        .timespan
        .map(|t| t.to_string())
        .unwrap_or_default();
    let message = assemble(rule, rendered, &|special| match special {
        "count" => Some(fire.count.to_string()),
        "timespan" => Some(timespan.clone()),
        "value" => fire.value.clone(),
        "values" => fire.values.as_ref().map(|v| v.join(", ")),
        "network" => fire.network.clone(),
        "mean" => fire.mean.map(|m| m.to_string()),
        "stddev" => fire.stddev.map(|s| s.to_string()),
        group => correlation
            .group_by
            .iter()
            .zip(key.values())
            .find(|(g, _)| g.name == group)
            .map(|(_, value)| value.into_owned()),
    });
    Finding {
        rule: rule.id.clone(),
        title: rule.title.clone(),
        severity: rule.severity.name().to_owned(),
        tags: rule.tags.clone(),
        time: Some(hit.time.to_rfc3339()),
        tenantid: tenant.to_owned(),
        // The tenant is the finding's `tenantid`; `group` does not repeat it.
        group: correlation
            .group_by
            .iter()
            .zip(key.values())
            .filter(|(g, _)| !g.is_tenant())
            .map(|(g, v)| (g.name.clone(), Some(v.into_owned())))
            .collect(),
        count: fire.count,
        window: Some(Window {
            start: fire.start.unwrap_or(hit.time).to_rfc3339(),
            end: hit.time.to_rfc3339(),
        }),
        events: fire.events,
        values: fire.values,
        value: fire.value,
        network: fire.network,
        mean: fire.mean,
        stddev: fire.stddev,
        message,
    }
}
