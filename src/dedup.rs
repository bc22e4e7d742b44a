//! Drops repeated deliveries: remembers the identity (`source`, `id`) of the
//! most recent events, up to a capacity, as 128-bit hashes.
//!
//! Qlik delivers at least once, so repeats arrive close to the original. A
//! bounded memory of recent identities catches them without growing with the
//! stream; identities forgotten to make room are counted.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};

use siphasher::sip::SipHasher13;

/// A bounded set of recently seen event identities.
#[derive(Debug)]
pub struct Dedup {
    seen: foldhash::HashSet<u128>,
    order: VecDeque<u128>,
    capacity: usize,
    evictions: u64,
}

impl Dedup {
    /// A filter remembering up to `capacity` identities (0 disables it).
    pub fn new(capacity: usize) -> Dedup {
        Dedup {
            seen: foldhash::HashSet::default(),
            order: VecDeque::new(),
            capacity,
            evictions: 0,
        }
    }

    /// Records an identity; false when it was already remembered.
    pub fn insert(&mut self, source: &str, id: &str) -> bool {
        self.insert_identity(identity(source, id))
    }

    /// Records an identity made by [`identity`]; false when it was already
    /// remembered.
    pub fn insert_identity(&mut self, key: u128) -> bool {
        if self.capacity == 0 {
            return true;
        }
        if !self.seen.insert(key) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
            self.evictions += 1;
        }
        true
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

    /// Remembers saved identities (oldest first), within capacity.
    pub fn import(&mut self, saved: &[(u64, u64)]) {
        for &(high, low) in saved {
            let key = (u128::from(high) << 64) | u128::from(low);
            if self.capacity > 0 && self.seen.insert(key) {
                self.order.push_back(key);
                if self.order.len() > self.capacity
                    && let Some(oldest) = self.order.pop_front()
                {
                    self.seen.remove(&oldest);
                }
            }
        }
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
