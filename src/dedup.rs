//! Drops repeated deliveries: remembers the identity (`source`, `id`) of the
//! most recent events, up to a capacity, as 128-bit hashes.
//!
//! Qlik delivers at least once, so repeats arrive close to the original. A
//! bounded memory of recent identities catches them without growing with the
//! stream; identities forgotten to make room are counted.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash, Hasher};

use siphasher::sip::SipHasher13;

use crate::tag_index::TagIndex;

/// A bounded set of recently seen event identities.
#[derive(Debug)]
pub struct Dedup {
    /// The remembered identities, oldest first.
    order: VecDeque<u128>,
    /// The sequence number of `order[0]`; identities are numbered in the
    /// order they arrive.
    first: u64,
    /// Where each identity is in `order`, by its low 32 bits of sequence
    /// number.
    index: TagIndex,
    /// Hashes identities for `index`, seeded at random.
    hasher: foldhash::fast::RandomState,
    capacity: usize,
    evictions: u64,
    /// Tests crowd all identities onto three tags, so that tags collide
    /// and probes run long.
    #[cfg(test)]
    crowded: bool,
}

/// Most identities a filter remembers: a slot of the index names an
/// identity by the low 32 bits of its sequence number.
const MOST: usize = 1 << 31;

/// How many identities ahead of the oldest [`Dedup::insert_identity`]
/// asks the processor to fetch the slot of, so that forgetting one does not
/// wait for memory.
const EVICTION_LOOKAHEAD: usize = 2;

impl Dedup {
    /// A filter remembering up to `capacity` identities (0 disables it; at
    /// most 2^31).
    pub fn new(capacity: usize) -> Dedup {
        Dedup {
            order: VecDeque::new(),
            first: 0,
            index: TagIndex::default(),
            hasher: foldhash::fast::RandomState::default(),
            capacity: capacity.min(MOST),
            evictions: 0,
            #[cfg(test)]
            crowded: false,
        }
    }

    /// The tag of `key` in the index.
    fn tag(&self, key: u128) -> u32 {
        let tag = TagIndex::tag(self.hasher.hash_one(key));
        #[cfg(test)]
        let tag = if self.crowded { tag % 3 + 1 } else { tag };
        tag
    }

    /// Records an identity; false when it was already remembered.
    pub fn insert(&mut self, source: &str, id: &str) -> bool {
        self.insert_identity(identity(source, id))
    }

    /// Asks the processor to fetch the memory that recording `key` will
    /// touch; call it a few events ahead of [`Dedup::insert_identity`].
    pub fn prefetch(&self, key: u128) {
        if self.capacity > 0 {
            self.index.prefetch(self.tag(key));
        }
    }

    /// Records an identity made by [`identity`]; false when it was already
    /// remembered.
    pub fn insert_identity(&mut self, key: u128) -> bool {
        if self.capacity == 0 {
            return true;
        }
        if self.position(key).is_some() {
            return false;
        }
        if self.order.len() >= self.capacity {
            if let Some(&soon) = self.order.get(EVICTION_LOOKAHEAD) {
                self.index.prefetch(self.tag(soon));
            }
            if let Some(oldest) = self.order.pop_front() {
                self.index.remove(self.tag(oldest), self.first as u32);
                self.first += 1;
                self.evictions += 1;
            }
        }
        let sequence = self.first + self.order.len() as u64;
        self.index.insert(self.tag(key), sequence as u32);
        self.order.push_back(key);
        true
    }

    /// Where in `order` the identity `key` is, if it is remembered.
    fn position(&self, key: u128) -> Option<usize> {
        self.index.positions(self.tag(key)).find_map(|sequence| {
            let at = sequence.wrapping_sub(self.first as u32) as usize;
            (self.order.get(at) == Some(&key)).then_some(at)
        })
    }

    /// How many identities were forgotten to stay within capacity.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// The remembered identities, oldest first, for saving.
    pub fn export(&self) -> Vec<(u64, u64)> {
        self.order
            .iter()
            .map(|&k| ((k >> 64) as u64, k as u64))
            .collect()
    }

    /// Remembers saved identities (oldest first), within capacity; the
    /// oldest of them are forgotten (and not counted) when there are more.
    pub fn import(&mut self, saved: &[(u64, u64)]) {
        let before = self.evictions;
        for &(high, low) in saved {
            self.insert_identity((u128::from(high) << 64) | u128::from(low));
        }
        self.evictions = before;
    }
}

/// The 128-bit identity of an event's (`source`, `id`). Saved in state
/// files, so its hash is pinned (SipHash-1-3 with zero keys) rather than
/// the standard library's default, which may change between releases.
pub fn identity(source: &str, id: &str) -> u128 {
    let half = |salt: u8| {
        let mut h = SipHasher13::new();
        salt.hash(&mut h);
        source.hash(&mut h);
        id.hash(&mut h);
        h.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reference filter: a set and a queue of the standard library's.
    struct Model {
        seen: std::collections::HashSet<u128>,
        order: VecDeque<u128>,
        capacity: usize,
        evictions: u64,
    }

    impl Model {
        fn insert(&mut self, key: u128) -> bool {
            if !self.seen.insert(key) {
                return false;
            }
            self.order.push_back(key);
            if self.order.len() > self.capacity {
                let oldest = self.order.pop_front().unwrap();
                self.seen.remove(&oldest);
                self.evictions += 1;
            }
            true
        }
    }

    #[test]
    fn agrees_with_a_set_and_a_queue_over_random_streams() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for (capacity, crowded) in [1, 2, 7, 40, 300]
            .into_iter()
            .flat_map(|c| [(c, false), (c, true)])
        {
            let mut dedup = Dedup::new(capacity);
            dedup.crowded = crowded;
            let mut model = Model {
                seen: Default::default(),
                order: VecDeque::new(),
                capacity,
                evictions: 0,
            };
            // Few distinct keys, so that repeats and long probes are common;
            // 0 among them.
            let range = capacity as u64 * 3 + 2;
            for step in 0..20_000 {
                let key = u128::from(next() % range) * 0x1_0000_0001;
                dedup.prefetch(key);
                assert_eq!(
                    dedup.insert_identity(key),
                    model.insert(key),
                    "capacity {capacity}, crowded {crowded}, step {step}, key {key}"
                );
                assert_eq!(dedup.index.len(), model.seen.len());
            }
            assert_eq!(dedup.evictions(), model.evictions);
            assert_eq!(dedup.order, model.order);
        }
    }

    #[test]
    fn a_restored_filter_knows_what_the_saved_one_knew() {
        let mut dedup = Dedup::new(3);
        for id in ["1", "2", "3", "4"] {
            dedup.insert("s", id);
        }
        let mut restored = Dedup::new(2);
        restored.import(&dedup.export());
        assert_eq!(restored.evictions(), 0, "forgetting on load is not counted");
        assert!(!restored.insert("s", "4"));
        assert!(!restored.insert("s", "3"));
        assert!(restored.insert("s", "2"), "beyond the capacity");
    }

    #[test]
    fn drops_repeats_and_forgets_the_oldest() {
        let mut d = Dedup::new(2);
        assert!(d.insert("s", "1"));
        assert!(!d.insert("s", "1"));
        assert!(d.insert("other", "1"));
        assert!(d.insert("s", "2"));
        assert_eq!(d.evictions(), 1);
        assert!(d.insert("s", "1"), "the oldest identity was forgotten");
    }

    /// The identity of one (source, id), as earlier versions computed and
    /// saved it.
    const IDENTITY_OF_SAMPLE: u128 = 0xa2037a220f101d7e0dc36be8c5cb86f2;

    #[test]
    fn identities_are_stable_across_builds() {
        // State files written by earlier versions hold these values.
        assert_eq!(
            identity("com.qlik/oauth", "937ef3fb-fd44-4667-83f5-6bad40b6a8d6"),
            IDENTITY_OF_SAMPLE
        );
    }

    #[test]
    fn source_and_id_do_not_run_together() {
        let mut d = Dedup::new(10);
        assert!(d.insert("ab", "c"));
        assert!(d.insert("a", "bc"));
    }
}
