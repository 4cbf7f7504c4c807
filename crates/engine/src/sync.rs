//! Sync objects: the clock released at an address.
//!
//! Every address the program synchronises on (a mutex, a channel buffer slot, a
//! WaitGroup, an atomic variable...) gets a [`SyncVar`] the first time something is
//! released there. The address-to-object map is a *meta word* per 8-byte granule
//! (provided by the platform, see [`crate::Platform::meta`]) holding the object's index
//! in a [`SyncTable`], so lookups are one load and need no lock. Objects are freed when
//! the Go heap frees their memory, and their indices recycled.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use crate::clock::{SyncClock, ThreadClock};

/// What is known about one sync address.
#[derive(Default)]
pub struct SyncState {
    pub clock: SyncClock,
}

pub struct SyncVar {
    pub state: spin::Mutex<SyncState>,
}

const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;
/// Most sync objects alive at once.
pub const MAX_SYNC: usize = 1 << 26;
const CHUNKS: usize = MAX_SYNC / CHUNK;

/// All sync objects, indexed by meta words.
pub struct SyncTable {
    chunks: [AtomicPtr<SyncVar>; CHUNKS],
    next: AtomicU32,
    free: spin::Mutex<Vec<u32>>,
    live: AtomicU32,
}

impl Default for SyncTable {
    fn default() -> Self {
        Self::new()
    }
}

impl SyncTable {
    pub const fn new() -> Self {
        SyncTable {
            chunks: [const { AtomicPtr::new(ptr::null_mut()) }; CHUNKS],
            next: AtomicU32::new(1),
            free: spin::Mutex::new(Vec::new()),
            live: AtomicU32::new(0),
        }
    }

    fn var(&self, idx: u32) -> Option<&SyncVar> {
        let base = self
            .chunks
            .get((idx >> CHUNK_BITS) as usize)?
            .load(Ordering::Acquire);
        if base.is_null() {
            return None;
        }
        // SAFETY: chunks hold CHUNK initialised SyncVars, are published with Release and
        // never freed; the offset is below CHUNK.
        Some(unsafe { &*base.add(idx as usize & (CHUNK - 1)) })
    }

    fn ensure_chunk(&self, idx: u32) -> bool {
        let Some(slot) = self.chunks.get((idx >> CHUNK_BITS) as usize) else {
            return false;
        };
        if !slot.load(Ordering::Acquire).is_null() {
            return true;
        }
        let fresh: Box<[SyncVar]> = (0..CHUNK)
            .map(|_| SyncVar {
                state: spin::Mutex::new(SyncState::default()),
            })
            .collect();
        let fresh = Box::into_raw(fresh) as *mut SyncVar;
        if slot
            .compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // SAFETY: `fresh` is the unshared Box slice of CHUNK elements made above.
            drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(fresh, CHUNK)) });
        }
        true
    }

    fn alloc(&self) -> Option<u32> {
        if let Some(idx) = self.free.lock().pop() {
            return Some(idx);
        }
        let idx = self.next.fetch_add(1, Ordering::Relaxed);
        if idx as usize >= MAX_SYNC || !self.ensure_chunk(idx) {
            return None;
        }
        Some(idx)
    }

    /// The object whose index is in `meta`, if any.
    #[inline]
    pub fn get(&self, meta: &AtomicU32) -> Option<&SyncVar> {
        match meta.load(Ordering::Acquire) {
            0 => None,
            idx => self.var(idx),
        }
    }

    /// The object whose index is in `meta`, created (with an empty clock) if needed.
    pub fn get_or_create(&self, meta: &AtomicU32) -> Option<&SyncVar> {
        if let Some(v) = self.get(meta) {
            return Some(v);
        }
        let idx = self.alloc()?;
        match meta.compare_exchange(0, idx, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                self.live.fetch_add(1, Ordering::Relaxed);
                self.var(idx)
            }
            Err(winner) => {
                self.free.lock().push(idx);
                self.var(winner)
            }
        }
    }

    /// Frees the object in `meta`, if any (its memory was freed).
    pub fn free(&self, meta: &AtomicU32) {
        if meta.load(Ordering::Relaxed) == 0 {
            return; // do not dirty untouched meta pages
        }
        let idx = meta.swap(0, Ordering::AcqRel);
        if let Some(v) = (idx != 0).then(|| self.var(idx)).flatten() {
            *v.state.lock() = SyncState::default();
            self.live.fetch_sub(1, Ordering::Relaxed);
            self.free.lock().push(idx);
        }
    }

    /// Sync objects currently alive.
    pub fn live(&self) -> u32 {
        self.live.load(Ordering::Relaxed)
    }
}

impl SyncClock {
    /// Release-acquire exchange (Go's buffered channel slots): the object gets the
    /// releaser's clock, the releaser acquires what the object held before.
    pub fn exchange(&mut self, clock: &mut ThreadClock) {
        let old = core::mem::take(self);
        self.store(clock);
        clock.acquire(&old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_find_free_recycle() {
        let t = SyncTable::new();
        let m1 = AtomicU32::new(0);
        let m2 = AtomicU32::new(0);
        assert!(t.get(&m1).is_none());
        let a = t.get_or_create(&m1).unwrap() as *const SyncVar;
        assert_eq!(t.get(&m1).unwrap() as *const SyncVar, a);
        let mut g = ThreadClock::new();
        g.set(2, 5);
        t.get(&m1).unwrap().state.lock().clock.store(&g);
        assert_eq!(t.live(), 1);
        t.free(&m1);
        assert_eq!((t.live(), m1.load(Ordering::Relaxed)), (0, 0));
        let b = t.get_or_create(&m2).unwrap();
        assert_eq!(b as *const SyncVar, a, "index recycled");
        assert!(
            b.state.lock().clock.is_empty(),
            "recycled objects start empty"
        );
    }

    #[test]
    fn exchange_swaps_and_joins() {
        let mut a = ThreadClock::new();
        a.set(0, 3);
        let mut b = ThreadClock::new();
        b.set(1, 4);
        let mut s = SyncClock::new();
        s.store(&a);
        s.exchange(&mut b);
        assert_eq!(
            (b.get(0), b.get(1)),
            (3, 4),
            "releaser acquired the old clock"
        );
        assert_eq!(
            (s.get(0), s.get(1)),
            (0, 4),
            "object holds the releaser's own clock"
        );
    }
}
