//! The reorder buffer's storage: entries ordered by key, taken smallest
//! first. Streams arrive mostly in order, so an entry whose key is not
//! below the last one queued goes to the back of a queue (no tree node, no
//! search); only the others go to an ordered tree. The smallest entry is
//! at the front of one of the two.

use std::collections::{BTreeMap, VecDeque};

/// Entries ordered by a unique key.
#[derive(Debug)]
pub struct ReorderBuffer<K, V> {
    in_order: VecDeque<(K, V)>,
    out_of_order: BTreeMap<K, V>,
}

impl<K, V> Default for ReorderBuffer<K, V> {
    fn default() -> Self {
        ReorderBuffer {
            in_order: VecDeque::new(),
            out_of_order: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Copy, V> ReorderBuffer<K, V> {
    /// Adds an entry; keys must be unique.
    pub fn insert(&mut self, key: K, value: V) {
        match self.in_order.back() {
            Some((last, _)) if key < *last => {
                self.out_of_order.insert(key, value);
            }
            _ => self.in_order.push_back((key, value)),
        }
    }

    /// The smallest key.
    pub fn first_key(&self) -> Option<K> {
        let queued = self.in_order.front().map(|(key, _)| *key);
        let sorted = self.out_of_order.first_key_value().map(|(key, _)| *key);
        match (queued, sorted) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Removes and returns the entry with the smallest key.
    pub fn pop_first(&mut self) -> Option<(K, V)> {
        let queued = self.in_order.front().map(|(key, _)| *key);
        let sorted = self.out_of_order.first_key_value().map(|(key, _)| *key);
        match (queued, sorted) {
            (Some(a), Some(b)) if b < a => self.out_of_order.pop_first(),
            (Some(_), _) => self.in_order.pop_front(),
            (None, _) => self.out_of_order.pop_first(),
        }
    }

    /// The value `n` places from the front of the in-order queue: most
    /// often the one taken `n + 1`-th from now (entries that came out of
    /// order are not counted), for work to start on ahead.
    pub fn nth_queued(&self, n: usize) -> Option<&V> {
        self.in_order.get(n).map(|(_, value)| value)
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        let queued = self.in_order.iter().map(|(key, value)| (key, value));
        queued.chain(&self.out_of_order)
    }

    /// How many entries wait.
    pub fn len(&self) -> usize {
        self.in_order.len() + self.out_of_order.len()
    }

    /// True when none waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_leave_in_key_order_whatever_order_they_came_in() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |bound: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % bound
        };
        for _ in 0..200 {
            let mut buffer = ReorderBuffer::default();
            let mut reference = BTreeMap::new();
            let mut clock = 0u64;
            for arrival in 0..300u64 {
                // Mostly forward in time, sometimes late, sometimes a pop.
                clock += next(5);
                let time = clock.saturating_sub(if next(4) == 0 { next(50) } else { 0 });
                buffer.insert((time, arrival), arrival);
                reference.insert((time, arrival), arrival);
                if next(3) == 0 {
                    assert_eq!(buffer.pop_first(), reference.pop_first());
                }
                assert_eq!(buffer.first_key(), reference.keys().next().copied());
                assert_eq!(buffer.len(), reference.len());
            }
            while let Some(entry) = reference.pop_first() {
                assert_eq!(buffer.pop_first(), Some(entry));
            }
            assert!(buffer.is_empty());
            assert_eq!(buffer.pop_first(), None);
        }
    }
}
