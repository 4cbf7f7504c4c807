//! Sync objects: the clock released at an address.
//!
//! Every address the program synchronises on (a mutex, a channel buffer slot, a
//! WaitGroup, an atomic variable...) gets a [`SyncVar`] the first time something is
//! released there. The address-to-object map is a *meta word* per 8-byte granule
//! (provided by the platform, see [`crate::Platform::meta`]) holding the index in a
//! [`SyncTable`] of the first object of a short chain: sync objects are per exact
//! address, and one granule can hold several (the 1-byte slots of a `chan bool`
//! buffer, `RWMutex.writerSem` next to `readerSem`). Lookups walk the chain without a
//! lock; insertion is a compare-and-swap of the meta word. Objects are freed, a whole
//! granule at a time, when the Go heap frees their memory, and their indices recycled.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};

use crate::clock::SyncClock;

/// What is known about one sync address.
#[derive(Default)]
pub struct SyncState {
    pub clock: SyncClock,
}

/// One cache line each: objects are allocated side by side, and two goroutines'
/// private mutexes or counters would otherwise fight over one line.
#[repr(align(64))]
pub struct SyncVar {
    /// The exact address this object is for.
    addr: AtomicUsize,
    /// Next object in the same granule's chain (0: end).
    next: AtomicU32,
    pub state: crate::lock::Mutex<SyncState>,
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
    free: crate::lock::Mutex<Vec<u32>>,
    live: AtomicU32,
}

impl Default for SyncTable {
    fn default() -> Self {
        Self::new()
    }
}

/// The process-wide table is never dropped; tests create and drop thousands.
impl Drop for SyncTable {
    fn drop(&mut self) {
        for chunk in &mut self.chunks {
            let p = *chunk.get_mut();
            if !p.is_null() {
                // SAFETY: non-null chunks come from Box::into_raw of a CHUNK-long slice
                // (`ensure_chunk`) and are owned by the table; `&mut self`: no readers.
                drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(p, CHUNK)) });
            }
        }
    }
}

impl SyncTable {
    pub const fn new() -> Self {
        SyncTable {
            chunks: [const { AtomicPtr::new(ptr::null_mut()) }; CHUNKS],
            next: AtomicU32::new(1),
            free: crate::lock::Mutex::new(Vec::new()),
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
                addr: AtomicUsize::new(0),
                next: AtomicU32::new(0),
                state: crate::lock::Mutex::new(SyncState::default()),
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

    /// The object for `addr`, whose granule's meta word is `meta`, if any.
    #[inline]
    pub fn get(&self, meta: &AtomicU32, addr: usize) -> Option<&SyncVar> {
        self.find(meta.load(Ordering::Acquire), addr)
    }

    fn find(&self, mut idx: u32, addr: usize) -> Option<&SyncVar> {
        while idx != 0 {
            let v = self.var(idx)?;
            if v.addr.load(Ordering::Acquire) == addr {
                return Some(v);
            }
            idx = v.next.load(Ordering::Acquire);
        }
        None
    }

    /// The object for `addr` (granule meta word `meta`), created with an empty clock
    /// if needed. `None` only when the table is full.
    pub fn get_or_create(&self, meta: &AtomicU32, addr: usize) -> Option<&SyncVar> {
        let mut head = meta.load(Ordering::Acquire);
        let mut fresh: Option<u32> = None;
        loop {
            if let Some(v) = self.find(head, addr) {
                if let Some(idx) = fresh {
                    self.free.lock().push(idx);
                }
                return Some(v);
            }
            let idx = match fresh {
                Some(idx) => idx,
                None => self.alloc()?,
            };
            fresh = Some(idx);
            let v = self.var(idx)?;
            v.addr.store(addr, Ordering::Relaxed);
            v.next.store(head, Ordering::Release);
            match meta.compare_exchange(head, idx, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    self.live.fetch_add(1, Ordering::Relaxed);
                    return Some(v);
                }
                Err(now) => head = now,
            }
        }
    }

    /// Frees every object of the granule whose meta word is `meta` (its memory was
    /// freed).
    pub fn free(&self, meta: &AtomicU32) {
        if meta.load(Ordering::Relaxed) == 0 {
            return; // do not dirty untouched meta pages
        }
        let mut idx = meta.swap(0, Ordering::AcqRel);
        while idx != 0 {
            let Some(v) = self.var(idx) else { return };
            let next = v.next.load(Ordering::Acquire);
            *v.state.lock() = SyncState::default();
            v.addr.store(0, Ordering::Relaxed);
            v.next.store(0, Ordering::Relaxed);
            self.live.fetch_sub(1, Ordering::Relaxed);
            self.free.lock().push(idx);
            idx = next;
        }
    }

    /// Sync objects currently alive.
    pub fn live(&self) -> u32 {
        self.live.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ThreadClock;

    #[test]
    fn create_find_free_recycle() {
        let t = SyncTable::new();
        let m1 = AtomicU32::new(0);
        let m2 = AtomicU32::new(0);
        assert!(t.get(&m1, 0x1000).is_none());
        let a = t.get_or_create(&m1, 0x1000).unwrap() as *const SyncVar;
        assert_eq!(t.get(&m1, 0x1000).unwrap() as *const SyncVar, a);
        let mut g = ThreadClock::new();
        g.set(2, 5);
        t.get(&m1, 0x1000).unwrap().state.lock().clock.store(&g);
        assert_eq!(t.live(), 1);
        t.free(&m1);
        assert_eq!((t.live(), m1.load(Ordering::Relaxed)), (0, 0));
        let b = t.get_or_create(&m2, 0x2000).unwrap();
        assert_eq!(b as *const SyncVar, a, "index recycled");
        assert!(
            b.state.lock().clock.is_empty(),
            "recycled objects start empty"
        );
    }

    #[test]
    fn one_granule_holds_objects_per_exact_address() {
        let t = SyncTable::new();
        let m = AtomicU32::new(0);
        let a = t.get_or_create(&m, 0x1000).unwrap() as *const SyncVar;
        let b = t.get_or_create(&m, 0x1004).unwrap() as *const SyncVar;
        assert_ne!(a, b);
        assert_eq!(t.get(&m, 0x1000).unwrap() as *const SyncVar, a);
        assert_eq!(t.get(&m, 0x1004).unwrap() as *const SyncVar, b);
        assert!(t.get(&m, 0x1001).is_none());
        t.free(&m);
        assert_eq!(t.live(), 0);
        assert!(t.get(&m, 0x1004).is_none());
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
