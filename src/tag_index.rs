//! Where entries kept elsewhere (a list, a queue) are, by hash: an
//! open-addressing table with linear probing, kept at most half full, of
//! 8-byte slots, each a 32-bit tag taken from an entry's hash and the
//! entry's 32-bit position. Eight slots share a cache line, so a lookup
//! reads one line and then the entries whose tag matches (most often the
//! one wanted, or none), and where it starts follows from the hash alone,
//! which lets a caller fetch it ahead of use. The tag also gives a slot's
//! home, so the table grows and closes gaps without reading the entries.
//! Hashes must be seeded at random, so that entries cannot be chosen to
//! collide.

use crate::prefetch::prefetch;

/// A slot: tag 0 marks a free one ([`TagIndex::tag`] is never 0).
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    tag: u32,
    position: u32,
}

/// Positions of entries by the tag of their hash.
#[derive(Debug, Clone, Default)]
pub(crate) struct TagIndex {
    slots: Vec<Slot>,
    /// Occupied slots.
    len: usize,
}

impl TagIndex {
    /// The tag of an entry with this 64-bit hash: never 0, and its low
    /// bits are where the entry's probe starts.
    pub fn tag(hash: u64) -> u32 {
        ((hash >> 32) as u32).max(1)
    }

    /// How many positions are indexed.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Asks the processor to fetch the line where the probe for `tag`
    /// starts.
    pub fn prefetch(&self, tag: u32) {
        if !self.slots.is_empty() {
            prefetch(&self.slots[self.home(tag)]);
        }
    }

    /// The positions indexed under `tag`, in probe order; the caller tells
    /// its entry from others with the same tag.
    pub fn positions(&self, tag: u32) -> impl Iterator<Item = u32> + '_ {
        let mask = self.slots.len().wrapping_sub(1);
        let mut next = (!self.slots.is_empty()).then(|| self.home(tag));
        std::iter::from_fn(move || {
            loop {
                let at = next?;
                let slot = self.slots[at];
                if slot.tag == 0 {
                    next = None;
                    return None;
                }
                next = Some((at + 1) & mask);
                if slot.tag == tag {
                    return Some(slot.position);
                }
            }
        })
    }

    /// Indexes `position` under `tag`, growing the table to stay at most
    /// half full.
    pub fn insert(&mut self, tag: u32, position: u32) {
        self.reserve(self.len + 1);
        self.place(Slot { tag, position });
        self.len += 1;
    }

    /// Removes `position` from under `tag`, moving back the slots probed
    /// past it (there are no tombstones, so probes stay short however
    /// often entries go).
    pub fn remove(&mut self, tag: u32, position: u32) {
        if self.slots.is_empty() {
            return;
        }
        let mask = self.slots.len() - 1;
        let mut hole = self.home(tag);
        loop {
            match self.slots[hole] {
                Slot { tag: 0, .. } => return,
                slot if slot.tag == tag && slot.position == position => break,
                _ => hole = (hole + 1) & mask,
            }
        }
        self.len -= 1;
        let mut next = hole;
        loop {
            next = (next + 1) & mask;
            let moving = self.slots[next];
            if moving.tag == 0 {
                break;
            }
            // A slot may fill the hole when its probe starts no later than
            // the hole (cyclically): it is then still found from its home.
            let home = self.home(moving.tag);
            if next.wrapping_sub(home) & mask >= next.wrapping_sub(hole) & mask {
                self.slots[hole] = moving;
                hole = next;
            }
        }
        self.slots[hole] = Slot::default();
    }

    /// Forgets every position, keeping the table's size.
    pub fn clear(&mut self) {
        self.slots.fill(Slot::default());
        self.len = 0;
    }

    /// Grows the table, by doubling (16 slots at first), until `count`
    /// positions fill at most half of it.
    pub fn reserve(&mut self, count: usize) {
        let mut size = self.slots.len().max(16);
        while count * 2 > size {
            size *= 2;
        }
        if size == self.slots.len() {
            return;
        }
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); size]);
        for slot in old.into_iter().filter(|slot| slot.tag != 0) {
            self.place(slot);
        }
    }

    /// The slot where the probe for `tag` starts.
    fn home(&self, tag: u32) -> usize {
        tag as usize & (self.slots.len() - 1)
    }

    /// Puts `slot` in the first free slot from its home.
    fn place(&mut self, slot: Slot) {
        let mask = self.slots.len() - 1;
        let mut at = self.home(slot.tag);
        while self.slots[at].tag != 0 {
            at = (at + 1) & mask;
        }
        self.slots[at] = slot;
    }
}
