//! The groups of one correlation rule, found by fingerprint.
//!
//! Groups live in a dense list, indexed by a [`TagIndex`] of their
//! fingerprints: a lookup reads one line of the index and the group
//! itself. Where both are depends on the fingerprint alone, which lets the
//! engine ask for them ahead of use ([`GroupTable::prefetch_slot`], then
//! [`GroupTable::prefetch_group`]) while it works on earlier events.

use crate::prefetch::prefetch;
use crate::tag_index::TagIndex;
use crate::window::{Fingerprint, Group, GroupKey};

/// One group with its key and fingerprint (in this order, so that the
/// fingerprint compared and the state updated are at its two ends).
#[derive(Debug, Clone, PartialEq)]
#[repr(C)]
struct Entry {
    fingerprint: Fingerprint,
    key: GroupKey,
    group: Group,
}

/// The groups of a rule by fingerprint, each with its key. Positions are
/// 32 bits: a table holds at most [`GroupTable::MOST`] groups.
#[derive(Debug, Clone, Default)]
pub struct GroupTable {
    index: TagIndex,
    entries: Vec<Entry>,
}

impl GroupTable {
    /// The most groups a table holds (`max-groups` above it means this).
    pub const MOST: usize = 1 << 31;

    /// How many groups the table holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The groups with their keys, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&GroupKey, &Group)> {
        self.entries.iter().map(|e| (&e.key, &e.group))
    }

    /// The group with this fingerprint.
    pub fn get(&self, fingerprint: &Fingerprint) -> Option<&Group> {
        let position = self.position(*fingerprint)?;
        Some(&self.entries[position].group)
    }

    /// The group with this fingerprint, to change.
    pub fn get_mut(&mut self, fingerprint: &Fingerprint) -> Option<&mut Group> {
        let position = self.position(*fingerprint)?;
        Some(&mut self.entries[position].group)
    }

    /// Adds a group, or replaces the one with the same fingerprint; returns
    /// it.
    pub fn insert(&mut self, fingerprint: Fingerprint, key: GroupKey, group: Group) -> &mut Group {
        let entry = Entry {
            fingerprint,
            key,
            group,
        };
        let position = match self.position(fingerprint) {
            Some(position) => {
                self.entries[position] = entry;
                position
            }
            None => {
                let position = self.entries.len();
                self.entries.push(entry);
                self.index.insert(tag_of(fingerprint), position as u32);
                position
            }
        };
        &mut self.entries[position].group
    }

    /// Keeps the groups for which `keep` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(&GroupKey, &Group) -> bool) {
        let before = self.entries.len();
        self.entries.retain(|e| keep(&e.key, &e.group));
        if self.entries.len() != before {
            self.index.clear();
            for (position, entry) in self.entries.iter().enumerate() {
                self.index
                    .insert(tag_of(entry.fingerprint), position as u32);
            }
        }
    }

    /// Asks the processor to fetch the index line where the lookup of
    /// `fingerprint` starts.
    pub fn prefetch_slot(&self, fingerprint: Fingerprint) {
        self.index.prefetch(tag_of(fingerprint));
    }

    /// Asks the processor to fetch the group with `fingerprint`, if any
    /// (reading the index: best after [`GroupTable::prefetch_slot`]).
    pub fn prefetch_group(&self, fingerprint: Fingerprint) {
        if let Some(entry) = self.first_with_tag(fingerprint) {
            // An entry spans two cache lines at most: the lookup reads the
            // fingerprint at its start, the update the state further on.
            prefetch(entry);
            prefetch(&entry.group.state);
        }
    }

    /// Asks the processor to fetch the collections the group with
    /// `fingerprint` holds (reading the group: best after
    /// [`GroupTable::prefetch_group`]).
    pub fn prefetch_state(&self, fingerprint: Fingerprint) {
        if let Some(entry) = self.first_with_tag(fingerprint) {
            entry.group.state.prefetch();
        }
    }

    /// The first group whose fingerprint has the tag of `fingerprint`,
    /// found without reading any other group: most likely the group with
    /// that fingerprint, if any.
    fn first_with_tag(&self, fingerprint: Fingerprint) -> Option<&Entry> {
        let position = self.index.positions(tag_of(fingerprint)).next()?;
        self.entries.get(position as usize)
    }

    /// Where in `entries` the group with `fingerprint` is.
    fn position(&self, fingerprint: Fingerprint) -> Option<usize> {
        self.index
            .positions(tag_of(fingerprint))
            .map(|position| position as usize)
            .find(|&position| self.entries[position].fingerprint == fingerprint)
    }
}

/// The tag of a fingerprint in the index (fingerprints are hashes seeded
/// per process: their bits are already uniform).
fn tag_of(fingerprint: Fingerprint) -> u32 {
    TagIndex::tag(fingerprint.bits())
}

impl PartialEq for GroupTable {
    /// Equal when they hold the same groups, whatever their order.
    fn eq(&self, other: &GroupTable) -> bool {
        self.len() == other.len()
            && self.entries.iter().all(|e| {
                other
                    .position(e.fingerprint)
                    .is_some_and(|position| other.entries[position] == *e)
            })
    }
}

impl FromIterator<(GroupKey, Group)> for GroupTable {
    /// A table of these groups; of two with the same key, the last stays.
    fn from_iter<I: IntoIterator<Item = (GroupKey, Group)>>(groups: I) -> GroupTable {
        let groups = groups.into_iter();
        let mut table = GroupTable::default();
        let expected = groups.size_hint().0;
        table.entries.reserve_exact(expected);
        table.index.reserve(expected);
        for (key, group) in groups {
            table.insert(Fingerprint::of(key.packed()), key, group);
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;
    use crate::window::GroupState;
    use std::collections::VecDeque;

    fn group(minute: i64) -> Group {
        Group {
            last: Timestamp(minute * 60_000),
            state: GroupState::Count(VecDeque::new()),
        }
    }

    #[test]
    fn agrees_with_a_hash_map_through_inserts_and_removals() {
        let mut table = GroupTable::default();
        let mut model: std::collections::HashMap<String, i64> = Default::default();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for step in 0..5_000i64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let name = format!("g{}", seed % 300);
            let fingerprint = Fingerprint::of(&name);
            match seed % 7 {
                0 => {
                    table.retain(|key, _| key.packed() != name);
                    model.remove(&name);
                }
                1 => {
                    let cut = step - 50;
                    table.retain(|_, g| g.last >= Timestamp(cut * 60_000));
                    model.retain(|_, &mut last| last >= cut);
                }
                _ => {
                    table.insert(fingerprint, GroupKey::from_packed(&name), group(step));
                    model.insert(name, step);
                }
            }
            assert_eq!(table.len(), model.len(), "step {step}");
        }
        for (name, &last) in &model {
            let fingerprint = Fingerprint::of(name);
            table.prefetch_slot(fingerprint);
            table.prefetch_group(fingerprint);
            table.prefetch_state(fingerprint);
            let found = table.get_mut(&fingerprint).map(|g| g.last);
            assert_eq!(found, Some(Timestamp(last * 60_000)), "{name}");
        }
        assert!(table.get(&Fingerprint::of("absent")).is_none());
        let rebuilt: GroupTable = table.iter().map(|(k, g)| (k.clone(), g.clone())).collect();
        assert_eq!(rebuilt, table);
    }
}
