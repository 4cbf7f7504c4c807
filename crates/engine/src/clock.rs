//! Vector clocks over *slots*.
//!
//! A slot is the identity a goroutine uses in vector clocks and shadow cells (see
//! [`crate::slots`]). A vector clock maps each slot to the newest epoch of that slot that
//! happens-before the clock's owner. Epoch 0 means "nothing of this slot"; real epochs
//! start at 1.
//!
//! Two representations share the same operations:
//! - [`ThreadClock`]: a goroutine's own clock, a fixed array of [`MAX_SLOTS`] epochs so
//!   that the per-access happens-before test is a single indexed load;
//! - [`SyncClock`]: the clock stored in a sync object, only as long as the highest slot
//!   it mentions (most programs use few slots, so most sync clocks are tiny).

use alloc::vec::Vec;

/// A point in one slot's history. Epochs only grow; 0 is "before everything".
pub type Epoch = u32;

/// Index of a slot in vector clocks.
pub type Slot = u16;

/// Number of slots, i.e. the width of vector clocks. Shadow cells store the slot in
/// [`crate::cell::SLOT_BITS`] bits.
pub const MAX_SLOTS: usize = 1 << crate::cell::SLOT_BITS;

/// The largest epoch a shadow cell can record ([`crate::cell::EPOCH_BITS`] bits).
pub const MAX_EPOCH: Epoch = (1 << crate::cell::EPOCH_BITS) - 1;

/// A goroutine's vector clock: one epoch per slot, kept inline (the goroutine state
/// that holds it is one allocation).
pub struct ThreadClock {
    e: [Epoch; MAX_SLOTS],
    /// Every entry at or past `len` is zero (so releases copy only the used prefix).
    len: usize,
}

impl Default for ThreadClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for ThreadClock {
    /// Copies only the used prefix.
    fn clone(&self) -> Self {
        let mut c = ThreadClock::new();
        c.e[..self.len].copy_from_slice(&self.e[..self.len]);
        c.len = self.len;
        c
    }
}

impl ThreadClock {
    pub fn new() -> Self {
        ThreadClock {
            e: [0; MAX_SLOTS],
            len: 0,
        }
    }

    /// The epoch of `slot` known to this clock.
    #[inline(always)]
    pub fn get(&self, slot: Slot) -> Epoch {
        // `slot` comes from a shadow cell's SLOT_BITS-wide field, so it is always in range;
        // the mask lets the compiler drop the bounds check.
        self.e[slot as usize & (MAX_SLOTS - 1)]
    }

    #[inline]
    pub fn set(&mut self, slot: Slot, epoch: Epoch) {
        let i = slot as usize & (MAX_SLOTS - 1);
        self.e[i] = epoch;
        if epoch != 0 {
            self.len = self.len.max(i + 1);
        }
    }

    /// `self = max(self, other)`: everything `other` knows now happens-before us.
    pub fn acquire(&mut self, other: &SyncClock) {
        for (mine, theirs) in self.e.iter_mut().zip(other.e.iter()) {
            *mine = (*mine).max(*theirs);
        }
        self.len = self.len.max(other.e.len());
    }

    /// `self = max(self, other)` for another goroutine's clock.
    pub fn join(&mut self, other: &ThreadClock) {
        let n = other.len;
        for (mine, theirs) in self.e[..n].iter_mut().zip(other.e[..n].iter()) {
            *mine = (*mine).max(*theirs);
        }
        self.len = self.len.max(n);
    }

    /// Number of leading slots that can be non-zero.
    fn used_len(&self) -> usize {
        self.len
    }

    pub fn as_slice(&self) -> &[Epoch] {
        &self.e[..]
    }
}

/// A sync object's clock: as long as the highest slot it has heard of.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct SyncClock {
    e: Vec<Epoch>,
}

impl SyncClock {
    pub const fn new() -> Self {
        SyncClock { e: Vec::new() }
    }

    pub fn get(&self, slot: Slot) -> Epoch {
        self.e.get(slot as usize).copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.e.is_empty()
    }

    /// Release (store): `self = clock`.
    pub fn store(&mut self, clock: &ThreadClock) {
        let n = clock.used_len();
        self.e.clear();
        self.e.extend_from_slice(&clock.as_slice()[..n]);
    }

    /// Release (merge): `self = max(self, clock)`.
    pub fn merge(&mut self, clock: &ThreadClock) {
        let n = clock.used_len();
        if self.e.len() < n {
            self.e.resize(n, 0);
        }
        for (mine, theirs) in self.e.iter_mut().zip(clock.as_slice().iter()) {
            *mine = (*mine).max(*theirs);
        }
    }

    /// Release-acquire exchange (Go's buffered channel slots): the object gets the
    /// releaser's clock, the releaser acquires what the object held before. In place, no
    /// allocation once the object's clock is as long as the releaser's.
    pub fn exchange(&mut self, clock: &mut ThreadClock) {
        let n = clock.used_len();
        if self.e.len() < n {
            self.e.resize(n, 0);
        }
        for (i, held) in self.e.iter_mut().enumerate() {
            let mine = clock.e[i];
            let before = *held;
            *held = mine;
            if before > mine {
                clock.e[i] = before;
            }
        }
        clock.len = clock.len.max(self.e.len());
    }

    /// Heap bytes held by this clock (for memory accounting in tests and docs).
    pub fn heap_bytes(&self) -> usize {
        self.e.capacity() * core::mem::size_of::<Epoch>()
    }

    pub fn as_slice(&self) -> &[Epoch] {
        &self.e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acquire_takes_pointwise_max() {
        let mut a = ThreadClock::new();
        a.set(0, 5);
        a.set(3, 1);
        let mut b = ThreadClock::new();
        b.set(0, 2);
        b.set(3, 7);
        b.set(9, 4);
        let mut s = SyncClock::new();
        s.store(&b);
        assert_eq!(
            s.as_slice().len(),
            10,
            "sync clock is trimmed to the highest used slot"
        );
        a.acquire(&s);
        assert_eq!((a.get(0), a.get(3), a.get(9), a.get(1)), (5, 7, 4, 0));
    }

    #[test]
    fn store_replaces_and_merge_accumulates() {
        let mut g1 = ThreadClock::new();
        g1.set(1, 3);
        let mut g2 = ThreadClock::new();
        g2.set(2, 8);
        let mut s = SyncClock::new();
        s.store(&g1);
        s.merge(&g2);
        assert_eq!((s.get(1), s.get(2)), (3, 8));
        s.store(&g2);
        assert_eq!(
            (s.get(1), s.get(2)),
            (0, 8),
            "store forgets earlier releases"
        );
    }
}
