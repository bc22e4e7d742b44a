//! Per-group state of correlation rules, updated one event (hit) at a time
//! in event-time order.
//!
//! Windows slide with every event: a group keeps just enough to know what
//! the window ending at the current event holds (the last N event times for
//! `event_count`, the latest time of each value for `value_count`, the
//! latest-starting partial sequence per step for `temporal_ordered`), so a
//! burst that straddles any boundary is found. When a rule fires, the
//! group's window starts again empty. `spike` alone uses fixed buckets,
//! since its baseline is a series of bucket counts.

use std::collections::VecDeque;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::correlation::{Correlation, Kind};
use crate::event_id::EventId;
pub use crate::group_table::GroupTable;
use crate::packed::{self, Unpack};
use crate::prefetch::prefetch;
use crate::time::{Span, Timestamp};

/// The group-by values of one group, in group-by order, packed into one
/// string (see [`crate::packed`]). Groups are found by the [`Fingerprint`]
/// of the packed text, so a hit on a known group allocates nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey(Box<str>);

impl GroupKey {
    /// The key of already packed values.
    pub fn from_packed(packed: &str) -> GroupKey {
        GroupKey(packed.into())
    }

    /// The packed values.
    pub(crate) fn packed(&self) -> &str {
        &self.0
    }

    /// The group-by values, in order.
    pub fn values(&self) -> Unpack<'_> {
        packed::unpack(&self.0)
    }
}

/// A 128-bit hash of a packed group key, by which groups are found: a
/// lookup compares fingerprints in the group table and never reads the key
/// text, which lives elsewhere in memory. It is two 64-bit hashes with
/// seeds drawn at random for each process, so values cannot be picked to
/// make groups collide; fingerprints are never saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(u128);

impl Fingerprint {
    /// 64 of its bits.
    pub(crate) fn bits(self) -> u64 {
        self.0 as u64
    }

    /// The fingerprint of a packed key.
    pub fn of(packed: &str) -> Fingerprint {
        use std::hash::BuildHasher;
        use std::sync::OnceLock;
        static SEEDED: OnceLock<[foldhash::quality::RandomState; 2]> = OnceLock::new();
        let [high, low] = SEEDED.get_or_init(Default::default);
        Fingerprint(u128::from(high.hash_one(packed)) << 64 | u128::from(low.hash_one(packed)))
    }
}

/// The maps inside group states. Their hasher is seeded once per process
/// instead of per map, so that an empty map costs no seed: group states
/// are held by the million.
type HashMap<K, V> = std::collections::HashMap<K, V, ProcessSeed>;

/// A foldhash hasher with one random seed for the whole process.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessSeed;

impl std::hash::BuildHasher for ProcessSeed {
    type Hasher = foldhash::fast::FoldHasher<'static>;

    fn build_hasher(&self) -> Self::Hasher {
        static SEED: std::sync::LazyLock<foldhash::fast::RandomState> =
            std::sync::LazyLock::new(foldhash::fast::RandomState::default);
        SEED.build_hasher()
    }
}

/// How a hit names its group: the packed key and its fingerprint.
#[derive(Debug, Clone, Copy)]
pub struct GroupRef<'a> {
    /// The packed group-by values.
    pub packed: &'a str,
    /// [`Fingerprint::of`] the packed values.
    pub fingerprint: Fingerprint,
}

/// Saved as the list of values.
impl Serialize for GroupKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.values())
    }
}

impl<'de> Deserialize<'de> for GroupKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<GroupKey, D::Error> {
        let values = Vec::<String>::deserialize(d)?;
        Ok(GroupKey(
            packed::pack(values.iter().map(String::as_str)).into(),
        ))
    }
}

/// Most evidence event ids a finding carries.
pub const MAX_EVIDENCE: usize = 20;
/// Most distinct values a `value_count` finding lists.
pub const MAX_VALUES: usize = 20;
/// Values one `new_value` group always remembers, its most recently seen:
/// past a tenth more, the least recently seen are forgotten down to this
/// many, and counted.
pub const MAX_VALUES_PER_GROUP: usize = 10_000;
/// How many values a `new_value` group may hold before it forgets down to
/// [`MAX_VALUES_PER_GROUP`] (a tenth more, so forgetting is rare).
const FORGET_PAST: usize = MAX_VALUES_PER_GROUP + MAX_VALUES_PER_GROUP / 10;

/// What one matching event brings to a correlation, borrowed from where
/// the event's contribution is kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit<'a> {
    /// Event time.
    pub time: Timestamp,
    /// Event id.
    pub id: &'a str,
    /// Which step it matched (temporal correlations).
    pub step: usize,
    /// Other steps of a `temporal` correlation it matches too, as bits by
    /// step: it stands for the first of `step` and these that its group
    /// still lacks.
    pub alternatives: u64,
    /// What the correlation type reads from the event.
    pub payload: Payload<'a>,
}

/// The type-specific part of a hit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Payload<'a> {
    /// Nothing beyond time and id.
    None,
    /// The values of the counted field (`value_count`), packed.
    Values(&'a str),
    /// The tracked value (`new_value`): the comparison key, the value as it
    /// appears in the event, and the network it was compared by.
    New {
        /// What is compared (networks masked by `prefix`).
        key: &'a str,
        /// The value as in the event.
        shown: &'a str,
        /// The network, when compared by prefix.
        network: Option<&'a str>,
    },
}

/// What a firing correlation reports.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fire {
    /// Events (or distinct values, or steps) counted.
    pub count: u64,
    /// Time of the first counted event.
    pub start: Option<Timestamp>,
    /// Evidence event ids, capped.
    pub events: Vec<String>,
    /// Distinct values (`value_count`), capped.
    pub values: Option<Vec<String>>,
    /// The new value (`new_value`).
    pub value: Option<String>,
    /// The network of the new value (`new_value` with `prefix`).
    pub network: Option<String>,
    /// Baseline mean (`spike`).
    pub mean: Option<f64>,
    /// Baseline standard deviation (`spike`).
    pub stddev: Option<f64>,
}

/// The state of one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Time of the group's latest event.
    pub last: Timestamp,
    /// Type-specific state.
    pub state: GroupState,
}

/// Type-specific group state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum GroupState {
    /// `event_count`: the counted events, oldest first.
    Count(VecDeque<(Timestamp, EventId)>),
    /// `value_count`: each value's latest time and event id.
    Values(ValueWindow),
    /// `temporal_ordered`: for each step, the latest-starting partial
    /// sequence that reached it: (start, step event ids).
    Ordered(Vec<Option<(Timestamp, Vec<EventId>)>>),
    /// `temporal`: each step's latest time and event id.
    Unordered(Vec<Option<(Timestamp, EventId)>>),
    /// `new_value`: when the group was first seen, and each value's latest time.
    NewValue {
        /// The group's first event.
        first: Timestamp,
        /// Values and when each was last seen.
        seen: HashMap<Box<str>, Timestamp>,
    },
    /// `spike`: non-empty bucket counts, oldest first, the group's first
    /// bucket, and the last bucket that fired.
    Spike {
        /// (bucket index, count).
        buckets: VecDeque<(i64, u64)>,
        /// The bucket of the group's first event.
        first: i64,
        /// The bucket that last fired.
        fired: Option<i64>,
    },
}

impl GroupState {
    /// True when the state is of the correlation's type and shape (a saved
    /// state may have been edited).
    pub fn fits(&self, correlation: &Correlation) -> bool {
        match (&correlation.kind, self) {
            (Kind::EventCount(_), GroupState::Count(_))
            | (Kind::ValueCount { .. }, GroupState::Values(_))
            | (Kind::NewValue { .. }, GroupState::NewValue { .. })
            | (Kind::Spike { .. }, GroupState::Spike { .. }) => true,
            (Kind::Ordered(steps), GroupState::Ordered(partial)) => partial.len() == steps.len(),
            (Kind::Unordered(steps), GroupState::Unordered(seen)) => seen.len() == steps.len(),
            _ => false,
        }
    }

    /// Empty state for a correlation.
    pub fn new(correlation: &Correlation, time: Timestamp) -> GroupState {
        match &correlation.kind {
            Kind::EventCount(_) => GroupState::Count(VecDeque::new()),
            Kind::ValueCount { .. } => GroupState::Values(ValueWindow::default()),
            Kind::Ordered(steps) => GroupState::Ordered(vec![None; steps.len()]),
            Kind::Unordered(steps) => GroupState::Unordered(vec![None; steps.len()]),
            Kind::NewValue { .. } => GroupState::NewValue {
                first: time,
                seen: HashMap::default(),
            },
            Kind::Spike { .. } => GroupState::Spike {
                buckets: VecDeque::new(),
                first: bucket_of(time, correlation.timespan.unwrap_or(Span(1))),
                fired: None,
            },
        }
    }

    /// Asks the processor to fetch the ends of the state's queues, which
    /// an update reads first (a hint that changes nothing).
    pub(crate) fn prefetch(&self) {
        fn ends<T>(queue: &VecDeque<T>) {
            queue
                .front()
                .into_iter()
                .chain(queue.back())
                .for_each(prefetch);
        }
        match self {
            GroupState::Count(events) => ends(events),
            GroupState::Spike { buckets, .. } => ends(buckets),
            GroupState::Values(values) => {
                if let Some(order) = &values.order {
                    order.front().into_iter().for_each(prefetch);
                }
            }
            GroupState::Ordered(partial) => partial.first().into_iter().for_each(prefetch),
            GroupState::Unordered(seen) => seen.first().into_iter().for_each(prefetch),
            GroupState::NewValue { .. } => {}
        }
    }

    /// Starts over as [`GroupState::new`] would (a group's state always
    /// fits its correlation), keeping the allocations of its collections.
    fn restart(&mut self, correlation: &Correlation, time: Timestamp) {
        match self {
            GroupState::Count(events) => events.clear(),
            GroupState::Values(values) => values.clear(),
            GroupState::Ordered(partial) => partial.fill(None),
            GroupState::Unordered(seen) => seen.fill(None),
            GroupState::NewValue { .. } | GroupState::Spike { .. } => {
                *self = GroupState::new(correlation, time);
            }
        }
    }
}

/// The `value_count` window of one group: each distinct value with the
/// time and event id it was last seen. Once it holds more than a few
/// values, it also keeps them in time order, so that the values leaving the
/// window are found without scanning all of them (a group may hold many
/// thousands of values in a long window).
///
/// Saved as the map of values alone, in the order they were last seen; the
/// order is rebuilt on load.
#[derive(Debug, Clone, Default)]
pub struct ValueWindow {
    /// Each value's latest sighting.
    latest: HashMap<Box<str>, Sighting>,
    /// How many sightings were recorded, to number the next one.
    sightings: u64,
    /// (time, value), oldest first, once the window has held more than
    /// [`SCAN_UP_TO`] values; `None` before (and again once it is empty).
    /// An entry is stale when its value was seen again later; stale entries
    /// are skipped when they expire. Boxed, so that the group state of
    /// every correlation type stays as small as it was: most windows never
    /// need the order.
    #[allow(clippy::box_collection)]
    order: Option<Box<VecDeque<TimedValue>>>,
}

/// A value with a time it was seen.
type TimedValue = (Timestamp, Box<str>);

/// When a value was last seen: its time, its place among the window's
/// sightings (to keep arrival order among equal times) and its event.
#[derive(Debug, Clone)]
struct Sighting {
    time: Timestamp,
    number: u64,
    id: EventId,
}

/// Windows of up to this many values are expired by scanning them.
const SCAN_UP_TO: usize = 16;

impl ValueWindow {
    /// The number of distinct values in the window.
    pub fn len(&self) -> usize {
        self.latest.len()
    }

    /// True when the window holds no value.
    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }

    /// Each value with its latest time and event id, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Timestamp, &str)> {
        self.latest
            .iter()
            .map(|(v, seen)| (&**v, seen.time, seen.id.as_str()))
    }

    /// Forgets every value, keeping the allocations.
    fn clear(&mut self) {
        self.latest.clear();
        self.order = None;
    }

    /// Forgets the values last seen before `oldest`.
    fn expire(&mut self, oldest: Timestamp) {
        let Some(order) = &mut self.order else {
            self.latest.retain(|_, seen| seen.time >= oldest);
            return;
        };
        while let Some((time, value)) = order.front() {
            if *time >= oldest {
                break;
            }
            if self
                .latest
                .get(value)
                .is_some_and(|seen| seen.time == *time)
            {
                self.latest.remove(value);
            }
            order.pop_front();
        }
        if order.is_empty() {
            self.order = None;
        }
    }

    /// Records `value` seen at `time` by event `id`.
    fn insert(&mut self, value: &str, time: Timestamp, id: &str) {
        let sighting = Sighting {
            time,
            number: self.sightings,
            id: EventId::new(id),
        };
        match self.latest.get_mut(value) {
            Some(seen) if seen.time > time => return,
            Some(seen) => *seen = sighting,
            None => {
                self.latest.insert(value.into(), sighting);
            }
        }
        self.sightings += 1;
        let Some(order) = &mut self.order else {
            if self.latest.len() > SCAN_UP_TO {
                self.rebuild_order();
            }
            return;
        };
        // Hits come in event-time order; an out-of-order one (applied early
        // because the reorder buffer was full) is placed by its time.
        if order.back().is_none_or(|(last, _)| *last <= time) {
            order.push_back((time, value.into()));
        } else {
            let at = order.partition_point(|(t, _)| *t <= time);
            order.insert(at, (time, value.into()));
        }
        // Stale entries of values seen again are dropped once they make up
        // half of the queue, so it stays within about twice the values.
        if order.len() > 2 * self.latest.len() + SCAN_UP_TO {
            self.rebuild_order();
        }
    }

    fn rebuild_order(&mut self) {
        let mut order: Vec<TimedValue> = self
            .latest
            .iter()
            .map(|(v, seen)| (seen.time, v.clone()))
            .collect();
        order.sort_unstable();
        self.order = (order.len() > SCAN_UP_TO).then(|| Box::new(order.into()));
    }

    /// Empties the window, returning (value, (time, id)) in the order the
    /// values were last seen: by time, then arrival.
    fn take(&mut self) -> Vec<(Box<str>, (Timestamp, EventId))> {
        let mut all: Vec<_> = self.latest.drain().collect();
        all.sort_by_key(|(_, seen)| (seen.time, seen.number));
        self.order = None;
        all.into_iter()
            .map(|(value, seen)| (value, (seen.time, seen.id)))
            .collect()
    }

    /// The values and their sightings in the order they were last seen.
    fn in_order(&self) -> Vec<(&str, &Sighting)> {
        let mut all: Vec<_> = self.latest.iter().map(|(v, seen)| (&**v, seen)).collect();
        all.sort_by_key(|(_, seen)| (seen.time, seen.number));
        all
    }
}

impl PartialEq for ValueWindow {
    /// The same values, each last seen at the same time by the same event,
    /// in the same order.
    fn eq(&self, other: &ValueWindow) -> bool {
        fn entries(w: &ValueWindow) -> Vec<(&str, Timestamp, &str)> {
            w.in_order()
                .into_iter()
                .map(|(v, seen)| (v, seen.time, seen.id.as_str()))
                .collect()
        }
        entries(self) == entries(other)
    }
}

impl Serialize for ValueWindow {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(
            self.in_order()
                .into_iter()
                .map(|(value, seen)| (value, (seen.time, &seen.id))),
        )
    }
}

impl<'de> Deserialize<'de> for ValueWindow {
    /// Reads the values in the order they were saved, which is the order
    /// they were last seen.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ValueWindow, D::Error> {
        struct InOrder;
        impl<'de> serde::de::Visitor<'de> for InOrder {
            type Value = ValueWindow;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of values to (time, event id)")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ValueWindow, A::Error> {
                let mut window = ValueWindow::default();
                while let Some((value, (time, id))) =
                    map.next_entry::<Box<str>, (Timestamp, EventId)>()?
                {
                    let number = window.sightings;
                    window.sightings += 1;
                    window.latest.insert(value, Sighting { time, number, id });
                }
                window.rebuild_order();
                Ok(window)
            }
        }
        d.deserialize_map(InOrder)
    }
}

fn bucket_of(time: Timestamp, bucket: Span) -> i64 {
    time.0.div_euclid(bucket.0.max(1))
}

/// Updates a group with a hit; returns what to report if the rule fires,
/// and how many remembered values had to be forgotten to stay bounded.
pub fn update(correlation: &Correlation, group: &mut Group, hit: &Hit) -> (Option<Fire>, u64) {
    group.last = group.last.max(hit.time);
    let span = correlation.timespan.unwrap_or_default();
    let oldest = hit.time.minus(span);
    let mut forgotten = 0;
    let fire = match (&correlation.kind, &mut group.state) {
        (Kind::EventCount(threshold), GroupState::Count(events)) => {
            while events.front().is_some_and(|(t, _)| *t < oldest) {
                events.pop_front();
            }
            events.push_back((hit.time, EventId::new(hit.id)));
            let count = events.len() as u64;
            if threshold.holds(count) {
                let start = events.front().map(|(t, _)| *t);
                // The last counted event is the one just pushed: this hit's.
                let earlier = events.range(..events.len() - 1);
                let ids = evidence(earlier.map(|(_, id)| id.as_str()), hit.id);
                events.clear();
                Some(Fire {
                    count,
                    start,
                    events: ids,
                    ..Fire::default()
                })
            } else {
                // Only the most recent events can still take part in a finding.
                let keep = threshold_window(threshold);
                while events.len() > keep {
                    events.pop_front();
                }
                None
            }
        }
        (Kind::ValueCount { threshold, .. }, GroupState::Values(values)) => {
            values.expire(oldest);
            if let Payload::Values(new) = hit.payload {
                for v in packed::unpack(new) {
                    values.insert(&v, hit.time, hit.id);
                }
            }
            let count = values.len() as u64;
            if threshold.holds(count) {
                let ordered = values.take();
                let start = ordered.first().map(|(_, (t, _))| *t);
                // Several values may come from one event: each event once.
                let mut listed: Vec<&str> = Vec::new();
                let earlier = ordered
                    .iter()
                    .map(|(_, (_, id))| id.as_str())
                    .filter(|&id| {
                        let new = id != hit.id && !listed.contains(&id);
                        if new {
                            listed.push(id);
                        }
                        new
                    });
                let ids = evidence(earlier, hit.id);
                Some(Fire {
                    count,
                    start,
                    events: ids,
                    values: Some(shown_values(&ordered, hit.id)),
                    ..Fire::default()
                })
            } else {
                None
            }
        }
        (Kind::Ordered(steps), GroupState::Ordered(partial)) => {
            for p in partial.iter_mut() {
                if p.as_ref().is_some_and(|(start, _)| *start < oldest) {
                    *p = None;
                }
            }
            let k = hit.step;
            let candidate = if k == 0 {
                Some((hit.time, vec![EventId::new(hit.id)]))
            } else {
                partial[k - 1].as_ref().map(|(start, ids)| {
                    let mut ids = ids.clone();
                    ids.push(EventId::new(hit.id));
                    (*start, ids)
                })
            };
            match candidate {
                Some((start, ids)) if k + 1 == steps.len() => {
                    partial.iter_mut().for_each(|p| *p = None);
                    Some(Fire {
                        count: steps.len() as u64,
                        start: Some(start),
                        events: ids.iter().map(|i| i.as_str().to_owned()).collect(),
                        ..Fire::default()
                    })
                }
                Some(c) => {
                    if partial[k].as_ref().is_none_or(|(start, _)| *start <= c.0) {
                        partial[k] = Some(c);
                    }
                    None
                }
                None => None,
            }
        }
        (Kind::Unordered(steps), GroupState::Unordered(seen)) => {
            for s in seen.iter_mut() {
                if s.as_ref().is_some_and(|(t, _)| *t < oldest) {
                    *s = None;
                }
            }
            let lacking = (0..seen.len()).find(|&k| {
                (k == hit.step || (k < 64 && hit.alternatives >> k & 1 == 1)) && seen[k].is_none()
            });
            seen[lacking.unwrap_or(hit.step)] = Some((hit.time, EventId::new(hit.id)));
            if seen.iter().all(Option::is_some) {
                let mut entries: Vec<(Timestamp, EventId)> =
                    seen.iter_mut().filter_map(Option::take).collect();
                let start = entries.iter().map(|(t, _)| *t).min();
                entries.sort_by_key(|a| a.0);
                Some(Fire {
                    count: steps.len() as u64,
                    start,
                    events: entries
                        .into_iter()
                        .map(|(_, id)| id.as_str().to_owned())
                        .collect(),
                    ..Fire::default()
                })
            } else {
                None
            }
        }
        (
            Kind::NewValue {
                history, learning, ..
            },
            GroupState::NewValue { first, seen },
        ) => {
            let Payload::New {
                key,
                shown,
                network,
            } = hit.payload
            else {
                return (None, 0);
            };
            let forget_before = hit.time.minus(*history);
            let known = match seen.get_mut(key) {
                Some(last) => {
                    let known = *last >= forget_before;
                    *last = hit.time;
                    known
                }
                None => {
                    seen.insert(key.into(), hit.time);
                    if seen.len() > FORGET_PAST {
                        forgotten = forget_oldest(seen, forget_before);
                    }
                    false
                }
            };
            let learned = hit.time.0.saturating_sub(first.0) >= learning.0;
            (!known && learned).then(|| Fire {
                count: 1,
                start: Some(hit.time),
                events: vec![hit.id.to_string()],
                value: Some(shown.to_string()),
                network: network.map(str::to_owned),
                ..Fire::default()
            })
        }
        (
            Kind::Spike {
                zscore,
                min,
                buckets: baseline,
                learning,
            },
            GroupState::Spike {
                buckets,
                first,
                fired,
            },
        ) => {
            let bucket = bucket_of(hit.time, span);
            let horizon = bucket - i64::from(*baseline);
            while buckets.front().is_some_and(|(b, _)| *b < horizon) {
                buckets.pop_front();
            }
            match buckets.back_mut() {
                Some((b, count)) if *b == bucket => *count += 1,
                _ => buckets.push_back((bucket, 1)),
            }
            let current = buckets.back().map_or(0, |(_, c)| *c);
            let observed = (bucket - (*first).max(horizon)).clamp(0, i64::from(*baseline));
            let learned = bucket - *first >= i64::from(*learning);
            if !learned || observed == 0 || *fired == Some(bucket) || current < *min {
                None
            } else {
                let past = || {
                    buckets
                        .iter()
                        .filter(|(b, _)| *b < bucket && *b >= bucket - observed)
                        .map(|(_, c)| *c as f64)
                };
                let n = observed as f64;
                let mean = past().sum::<f64>() / n;
                let zeros = n - past().count() as f64;
                let variance =
                    (past().map(|c| (c - mean).powi(2)).sum::<f64>() + zeros * mean * mean) / n;
                let stddev = variance.sqrt();
                let z = (current as f64 - mean) / stddev.max(1.0);
                (z >= *zscore).then(|| {
                    *fired = Some(bucket);
                    Fire {
                        count: current,
                        start: Some(Timestamp(bucket.saturating_mul(span.0))),
                        events: vec![hit.id.to_string()],
                        mean: Some(round(mean)),
                        stddev: Some(round(stddev)),
                        ..Fire::default()
                    }
                })
            }
        }
        _ => None,
    };
    (fire, forgotten)
}

/// How many of the most recent events an `event_count` window must keep
/// to decide its threshold.
fn threshold_window(threshold: &crate::correlation::Threshold) -> usize {
    [
        threshold.gt.map(|b| b + 1),
        threshold.gte,
        threshold.lt,
        threshold.lte,
        threshold.eq,
    ]
    .into_iter()
    .flatten()
    .max()
    .map_or(usize::MAX, |b| {
        usize::try_from(b).unwrap_or(usize::MAX).max(1)
    })
}

/// The evidence of a finding, capped at [`MAX_EVIDENCE`] ids: the first of
/// the `earlier` events and, always, the event that completed it, last.
fn evidence<'a>(earlier: impl Iterator<Item = &'a str>, completing: &'a str) -> Vec<String> {
    earlier
        .take(MAX_EVIDENCE - 1)
        .chain(std::iter::once(completing))
        .map(str::to_owned)
        .collect()
}

/// The `values` of a `value_count` finding, capped at [`MAX_VALUES`] as
/// its evidence is: the first values seen and, always, those of the event
/// that completed it, last.
fn shown_values(ordered: &[(Box<str>, (Timestamp, EventId))], completing: &str) -> Vec<String> {
    let (last, first): (Vec<_>, Vec<_>) = ordered
        .iter()
        .partition(|(_, (_, id))| id.as_str() == completing);
    let room = MAX_VALUES.saturating_sub(last.len());
    first
        .into_iter()
        .take(room)
        .chain(last)
        .take(MAX_VALUES)
        .map(|(value, _)| value.to_string())
        .collect()
}

fn forget_oldest(seen: &mut HashMap<Box<str>, Timestamp>, forget_before: Timestamp) -> u64 {
    seen.retain(|_, t| *t >= forget_before);
    let before = seen.len();
    if before > MAX_VALUES_PER_GROUP {
        let mut times: Vec<Timestamp> = seen.values().copied().collect();
        let cut = seen.len() - MAX_VALUES_PER_GROUP;
        times.select_nth_unstable(cut);
        let limit = times[cut];
        seen.retain(|_, t| *t >= limit);
        // Values last seen at `limit` itself go too, as many as needed to
        // leave exactly the cap, so that ties cannot hold memory: the first
        // by text, so that every run forgets the same ones.
        let excess = seen.len() - MAX_VALUES_PER_GROUP;
        if excess > 0 {
            let mut tied: Vec<Box<str>> = seen
                .iter()
                .filter(|(_, t)| **t == limit)
                .map(|(v, _)| v.clone())
                .collect();
            tied.sort_unstable();
            for value in &tied[..excess] {
                seen.remove(value);
            }
        }
        return (before - seen.len()) as u64;
    }
    0
}

/// Rounds to three decimals; never negative zero (an empty sum of floats
/// is `-0.0`, which would print as such).
fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0 + 0.0
}

/// The groups of one correlation rule, bounded by `max_groups`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleState {
    /// Tracked groups.
    #[serde(with = "group_list")]
    pub groups: GroupTable,
    /// Groups dropped to stay within `max_groups`.
    pub evicted_groups: u64,
    /// Remembered values dropped to stay within the per-group cap.
    pub evicted_values: u64,
    /// Group count at which the next sweep of expired groups runs.
    #[serde(skip)]
    next_sweep: usize,
}

impl RuleState {
    /// Feeds a hit to its group, creating the group if needed; returns
    /// what to report if the rule fires.
    pub fn hit(
        &mut self,
        correlation: &Correlation,
        max_groups: usize,
        key: GroupRef<'_>,
        hit: &Hit,
    ) -> Option<Fire> {
        let max_groups = max_groups.min(GroupTable::MOST);
        let group = match self.groups.get_mut(&key.fingerprint) {
            Some(group) => {
                // A group idle for longer than its retention is one the
                // sweep may already have dropped: it starts over as a new
                // group either way, so findings do not depend on when
                // sweeps run (a `new_value` group learns again, a `spike`
                // group has a first bucket again).
                if group.last < hit.time.minus(correlation.retention()) {
                    group.last = hit.time;
                    group.state.restart(correlation, hit.time);
                }
                group
            }
            // A later step of an ordered sequence cannot start one: a group
            // it would create could only sit idle (and crowd out others).
            None if hit.step > 0 && matches!(correlation.kind, Kind::Ordered(_)) => return None,
            None => {
                if self.groups.len() >= self.next_sweep.max(1024) || self.groups.len() >= max_groups
                {
                    self.sweep(correlation, max_groups, hit.time);
                }
                let group = Group {
                    last: hit.time,
                    state: GroupState::new(correlation, hit.time),
                };
                self.groups
                    .insert(key.fingerprint, GroupKey::from_packed(key.packed), group)
            }
        };
        let (fire, forgotten) = update(correlation, group, hit);
        self.evicted_values = self.evicted_values.saturating_add(forgotten);
        fire
    }

    /// Drops groups whose state has expired at `now`; if still at the cap,
    /// drops the least recently active tenth, and counts them.
    fn sweep(&mut self, correlation: &Correlation, max_groups: usize, now: Timestamp) {
        let expired_before = now.minus(correlation.retention());
        self.groups.retain(|_, g| g.last >= expired_before);
        if self.groups.len() >= max_groups {
            let target = max_groups - max_groups.div_ceil(10);
            let mut by_age: Vec<(Timestamp, &GroupKey)> =
                self.groups.iter().map(|(k, g)| (g.last, k)).collect();
            // Keys are unique, so the oldest are the same set in every run:
            // those up to the newest of them (a partial sort finds it).
            let excess = self.groups.len() - target;
            let (_, &mut (last, key), _) = by_age.select_nth_unstable(excess - 1);
            let newest_doomed = (last, key.clone());
            let before = self.groups.len();
            self.groups
                .retain(|k, g| (g.last, k) > (newest_doomed.0, &newest_doomed.1));
            let evicted = (before - self.groups.len()) as u64;
            // A restored state may hold any count.
            self.evicted_groups = self.evicted_groups.saturating_add(evicted);
        }
        self.next_sweep = self.groups.len().saturating_mul(2);
    }
}

/// Serialises the group map as a list of (key, group) pairs, since JSON
/// object keys must be strings.
mod group_list {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{Group, GroupKey, GroupTable};

    pub fn serialize<S: Serializer>(groups: &GroupTable, s: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<(&GroupKey, &Group)> = groups.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        entries.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<GroupTable, D::Error> {
        let entries: Vec<(GroupKey, Group)> = Vec::deserialize(d)?;
        Ok(entries.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlation::Threshold;

    const MINUTE: i64 = 60_000_000;

    fn correlation(kind: Kind, timespan: Option<Span>) -> Correlation {
        Correlation {
            kind,
            group_by: Vec::new(),
            timespan,
            max_groups: None,
        }
    }

    /// A `new_value` correlation over one unnamed field, by minutes.
    fn new_value(history: i64, learning: i64) -> Correlation {
        correlation(
            Kind::NewValue {
                fields: Vec::new(),
                history: Span(history * MINUTE),
                learning: Span(learning * MINUTE),
                prefix_v4: None,
                prefix_v6: None,
            },
            None,
        )
    }

    /// The packed key of the one group of these tests.
    const KEY: &str = "g";

    fn key() -> GroupRef<'static> {
        GroupRef {
            packed: KEY,
            fingerprint: Fingerprint::of(KEY),
        }
    }

    fn group(state: &RuleState) -> &Group {
        state.groups.get(&Fingerprint::of(KEY)).expect("the group")
    }

    fn values_hit<'a>(minute: i64, id: &'a str, packed_values: &'a str) -> Hit<'a> {
        Hit {
            time: Timestamp(minute * MINUTE),
            id,
            step: 0,
            alternatives: 0,
            payload: Payload::Values(packed_values),
        }
    }

    fn new_value_hit(minute: i64, value: &str) -> Hit<'_> {
        Hit {
            time: Timestamp(minute * MINUTE),
            id: "e",
            step: 0,
            alternatives: 0,
            payload: Payload::New {
                key: value,
                shown: value,
                network: None,
            },
        }
    }

    #[test]
    fn value_count_matches_a_scan_of_the_window() {
        // Pseudo-random values with repeats, against a direct count of the
        // distinct values whose latest sighting lies in the window.
        let c = correlation(
            Kind::ValueCount {
                field: crate::fields::FieldId(0),
                threshold: Threshold {
                    gte: Some(u64::MAX),
                    ..Threshold::default()
                },
            },
            Some(Span(10 * MINUTE)),
        );
        let mut state = RuleState::default();
        let mut seen: Vec<(i64, String)> = Vec::new();
        let mut x: u64 = 7;
        let mut minute = 0;
        let mut modes = [0; 2];
        for i in 0..3000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Now and then a pause that empties the window.
            minute += if i % 400 == 399 { 11 } else { (x >> 63) as i64 };
            let value = format!("v{}", (x >> 33) % 40);
            state.hit(
                &c,
                100,
                key(),
                &values_hit(minute, &format!("e{i}"), &packed::pack([value.as_str()])),
            );
            seen.retain(|(_, v)| *v != value);
            seen.push((minute, value));
            seen.retain(|(m, _)| *m >= minute - 10);
            let GroupState::Values(window) = &group(&state).state else {
                panic!("a value_count group");
            };
            assert_eq!(window.len(), seen.len(), "after hit {i}");
            // Values are in the order last seen: by time, then arrival.
            let ordered: Vec<&str> = window.in_order().into_iter().map(|(v, _)| v).collect();
            let expected: Vec<&str> = seen.iter().map(|(_, v)| v.as_str()).collect();
            assert_eq!(ordered, expected, "after hit {i}");
            let queued = window.order.as_ref().map_or(0, |o| o.len());
            assert!(queued <= 2 * window.len() + SCAN_UP_TO);
            modes[usize::from(window.order.is_some())] += 1;
            if let Some(order) = &window.order {
                for (value, time, _) in window.iter() {
                    assert!(order.iter().any(|(t, v)| t == &time && &**v == value));
                }
            }
            // Saving and loading keeps the window, and its order.
            if i % 500 == 0 {
                let text = serde_json::to_string(&state).unwrap();
                let loaded: RuleState = serde_json::from_str(&text).unwrap();
                assert_eq!(loaded, state);
                state = loaded;
            }
        }
        // Both small windows (scanned) and large ones (in time order) occurred.
        assert!(modes[0] > 100 && modes[1] > 100, "{modes:?}");
    }

    #[test]
    fn value_count_with_many_values_in_one_window_stays_linear() {
        // 30,000 distinct values in one 1d window: rescanning the window on
        // every event would take some 450 million steps.
        let c = correlation(
            Kind::ValueCount {
                field: crate::fields::FieldId(0),
                threshold: Threshold {
                    gte: Some(30_000),
                    ..Threshold::default()
                },
            },
            Some(Span(1440 * MINUTE)),
        );
        let mut state = RuleState::default();
        let mut fired = None;
        for i in 0..30_000i64 {
            let (id, value) = (format!("e{i}"), format!("u{i}"));
            let hit = values_hit(i / 100, &id, &value);
            if let Some(fire) = state.hit(&c, 10, key(), &hit) {
                fired = Some((i, fire));
            }
        }
        let (at, fire) = fired.expect("the 30,000th value fires");
        assert_eq!(at, 29_999);
        assert_eq!(fire.count, 30_000);
        assert_eq!(fire.start, Some(Timestamp(0)));
        assert_eq!(fire.values.unwrap()[..2], ["u0", "u1"]);
    }

    #[test]
    fn a_new_value_group_keeps_its_most_recent_values_within_its_bound() {
        let c = new_value(60 * 24 * 365, 0);
        let mut state = RuleState::default();
        let values = |state: &mut RuleState, range: std::ops::Range<usize>, minute: i64| {
            range
                .filter(|i| {
                    let value = format!("v{i}");
                    state
                        .hit(&c, 10, key(), &new_value_hit(minute, &value))
                        .is_some()
                })
                .count()
        };
        // One value a minute: past 11,000 the oldest go, down to 10,000.
        assert_eq!(values(&mut state, 0..1, 0), 1);
        for i in 1..=FORGET_PAST {
            assert_eq!(values(&mut state, i..i + 1, i as i64), 1);
        }
        assert_eq!(state.evicted_values, 1_001);
        // The 10,000 most recently seen are known; the one before is not.
        let last = FORGET_PAST;
        let now = last as i64 + 1;
        assert_eq!(
            values(&mut state, last + 1 - MAX_VALUES_PER_GROUP..last + 1, now),
            0
        );
        assert_eq!(
            values(
                &mut state,
                last - MAX_VALUES_PER_GROUP..last - MAX_VALUES_PER_GROUP + 1,
                now
            ),
            1
        );
        // Values all seen at one instant are bounded as well, and the same
        // ones are forgotten in every run: the first by text.
        let mut state = RuleState::default();
        let all = FORGET_PAST + 1;
        values(&mut state, 0..all, 0);
        let GroupState::NewValue { seen, .. } = &group(&state).state else {
            panic!("a new_value group");
        };
        let mut kept: Vec<&str> = seen.keys().map(|v| &**v).collect();
        kept.sort_unstable();
        let mut expected: Vec<String> = (0..all).map(|i| format!("v{i}")).collect();
        expected.sort_unstable();
        assert_eq!(kept, expected[all - MAX_VALUES_PER_GROUP..]);
        let mut state = RuleState::default();
        values(&mut state, 0..3 * MAX_VALUES_PER_GROUP, 0);
        let GroupState::NewValue { seen, .. } = &group(&state).state else {
            panic!("a new_value group");
        };
        assert!(seen.len() <= FORGET_PAST);
    }

    #[test]
    fn a_later_step_alone_creates_no_group() {
        let c = correlation(Kind::Ordered(vec![0, 1]), Some(Span(60 * MINUTE)));
        let step = |minute: i64, step: usize| Hit {
            time: Timestamp(minute * MINUTE),
            id: "e",
            step,
            alternatives: 0,
            payload: Payload::None,
        };
        let mut state = RuleState::default();
        assert!(state.hit(&c, 10, key(), &step(0, 1)).is_none());
        assert!(state.groups.is_empty());
        assert!(state.hit(&c, 10, key(), &step(1, 0)).is_none());
        assert_eq!(state.groups.len(), 1);
        assert!(state.hit(&c, 10, key(), &step(2, 1)).is_some());
    }

    #[test]
    fn a_quiet_group_keeps_what_it_learned() {
        // new_value, learning 1h, history 1d.
        let c = new_value(1440, 60);
        // Quiet for ten days, swept in between: the group stays, learned,
        // and a value last seen before `history` is new again.
        let mut quiet = RuleState::default();
        assert!(quiet.hit(&c, 10, key(), &new_value_hit(0, "a")).is_none());
        quiet.sweep(&c, 10, Timestamp(14_400 * MINUTE));
        assert_eq!(quiet.groups.len(), 1);
        assert!(
            quiet
                .hit(&c, 10, key(), &new_value_hit(14_400, "a"))
                .is_some()
        );
        assert!(
            quiet
                .hit(&c, 10, key(), &new_value_hit(14_401, "a"))
                .is_none()
        );
        assert!(
            quiet
                .hit(&c, 10, key(), &new_value_hit(14_402, "b"))
                .is_some()
        );

        // spike, 1h buckets, 3h baseline, learned after one bucket: a group
        // quiet for a day has a baseline of zeros, and a burst fires.
        let c = correlation(
            Kind::Spike {
                zscore: 2.0,
                min: 3,
                buckets: 3,
                learning: 1,
            },
            Some(Span(60 * MINUTE)),
        );
        let spike_hit = |minute: i64| Hit {
            time: Timestamp(minute * MINUTE),
            id: "e",
            step: 0,
            alternatives: 0,
            payload: Payload::None,
        };
        let burst = |state: &mut RuleState, start: i64| {
            (0..5)
                .filter_map(|k| state.hit(&c, 10, key(), &spike_hit(start + k)))
                .count()
        };
        let mut quiet = RuleState::default();
        quiet.hit(&c, 10, key(), &spike_hit(59));
        quiet.sweep(&c, 10, Timestamp(1500 * MINUTE));
        assert_eq!(burst(&mut quiet, 1500), 1, "quiet for a day: zeros");
        // A group in its first bucket never fires.
        let mut new = RuleState::default();
        assert_eq!(burst(&mut new, 1500), 0);
    }

    #[test]
    fn quiet_groups_leave_at_the_cap_least_recently_active_first() {
        let c = new_value(60, 0);
        let mut state = RuleState::default();
        for (minute, packed) in [(0, "old"), (10, "newer"), (20, "newest")] {
            let key = GroupRef {
                packed,
                fingerprint: Fingerprint::of(packed),
            };
            state.hit(&c, 10, key, &new_value_hit(minute, "a"));
        }
        state.sweep(&c, 3, Timestamp(100_000 * MINUTE));
        assert_eq!(state.evicted_groups, 1);
        assert!(state.groups.get(&Fingerprint::of("old")).is_none());
        assert_eq!(state.groups.len(), 2);
    }

    #[test]
    fn counts_restored_at_their_limit_stay_there() {
        let c = new_value(60, 0);
        let mut state = RuleState {
            evicted_groups: u64::MAX,
            ..RuleState::default()
        };
        for (minute, packed) in [(0, "a"), (1, "b"), (2, "c")] {
            let key = GroupRef {
                packed,
                fingerprint: Fingerprint::of(packed),
            };
            state.hit(&c, 1, key, &new_value_hit(minute, "v"));
        }
        assert_eq!(state.evicted_groups, u64::MAX);
        assert_eq!(state.groups.len(), 1);
    }
}
