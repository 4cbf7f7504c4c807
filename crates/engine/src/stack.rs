//! The stack depot: every call stack gorace has recorded, interned as a trie.
//!
//! A node is `(parent, pc)`; node [`ROOT`] is the empty stack. The node for a stack
//! `[outermost, ..., innermost]` is reached by interning each pc in turn, so stacks that
//! share a prefix share nodes, and a stack is one `u32` wherever it is stored: in shadow
//! cells (the access's *site*: its call stack plus the access pc), in slot journals (a
//! goroutine's creation stack), in reports.
//!
//! Memory grows with the number of *distinct* stacks ever seen, never with the number
//! of calls or accesses, and is capped: once the depot holds its soft cap of nodes
//! ([`DEFAULT_SOFT_CAP`]), new stacks are kept truncated, as their innermost frame and
//! the access pc under [`TRUNCATED`] (pairs of pcs: few, however deep or varied the
//! recursion that overflowed the depot).
//!
//! Two kinds of node share one id space (even ids, odd ids):
//!
//! - a **frame** node (a call stack: its last pc is a return address) is a 64-byte
//!   record holding its key and its first six children inline, so that walking down a
//!   stack, and the bursts of lookups one frame makes for its access sites, touch one
//!   cache line per frame;
//! - a **leaf** node (an access or `go` statement site: never a parent) is 12 bytes,
//!   its pc and parent in chunk arrays.
//!
//! Children that do not fit their parent's inline slots go to an overflow index:
//! [`SHARDS`] insert-only open-addressing tables of keys and ids (16 bytes per slot, at
//! most three quarters full, tables outgrown kept for readers still probing them).
//! Nodes are never freed. Looking a node up takes no lock; only adding one takes its
//! shard's lock.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::hash::Hasher;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

use crate::stats::{bump, Stat};

/// The empty stack.
pub const ROOT: u32 = 0;
/// Parent of the nodes made once the depot is full: below it, a stack keeps only its
/// innermost frame and the access (see [`StackDepot::try_intern`]).
pub const TRUNCATED: u32 = 2;
/// How many nodes the depot makes for full stacks by default.
pub const DEFAULT_SOFT_CAP: u32 = 1 << 20;
/// Most nodes the depot can hold (ids must fit a shadow cell's site field).
pub const MAX_NODES: u32 = 1 << crate::cell::SITE_BITS;
/// Index shards (independent spin locks).
pub const SHARDS: usize = 64;

/// Nodes of one kind per chunk; chunks are allocated as ids reach them.
const CHUNK_BITS: u32 = 16;
const CHUNK: usize = 1 << CHUNK_BITS;
/// Chunks of each kind (half the id space each).
const CHUNKS: usize = (MAX_NODES as usize / 2) / CHUNK;
/// Frame indices taken by [`ROOT`] and [`TRUNCATED`].
const RESERVED_FRAMES: u32 = 2;

/// Frames [`StackDepot::stack`] follows at most.
const MAX_DEPTH: usize = 1 << 16;

/// Children a frame node remembers inline.
const KIDS: usize = 6;
/// Marks an inline child slot being filled.
const CLAIMED: u32 = u32::MAX;

const fn is_leaf(id: u32) -> bool {
    id & 1 == 1
}

/// A frame node: its key and its first [`KIDS`] children. A frame's children are pcs
/// inside one function (the callee of its last frame), so they share their upper 32
/// bits; children are kept inline only when they share `kid_hi` with the first one.
#[repr(C, align(64))]
struct Frame {
    pc: AtomicU64,
    parent: AtomicU32,
    /// Upper 32 bits of the inline children's pcs, plus one (0: no child yet).
    kid_hi: AtomicU32,
    kid_lo: [AtomicU32; KIDS],
    kid: [AtomicU32; KIDS],
}

const _: () = assert!(core::mem::size_of::<Frame>() == 64);

/// Where a lookup for a key ends in its parent's inline children.
enum Kids {
    Found(u32),
    /// Not there, and the inline slots could have taken it: the key does not exist
    /// (slots are never emptied, so they were never full or of another `kid_hi`).
    Absent,
    /// Not there, and it may have gone to the overflow index.
    Elsewhere,
}

impl Frame {
    fn split(pc: u64) -> (u32, u32) {
        (((pc >> 32) as u32).wrapping_add(1), pc as u32)
    }

    #[inline]
    fn kid(&self, pc: u64) -> Kids {
        let (hi, lo) = Self::split(pc);
        match self.kid_hi.load(Ordering::Acquire) {
            0 => return Kids::Absent,
            h if h != hi => return Kids::Elsewhere,
            _ => {}
        }
        // The low halves first (the common case is a hit); a slot's `kid_lo` is
        // written once, before its child is published with Release, so it is checked
        // again after the child is seen (a zero `lo` may match a slot not described
        // yet).
        for i in 0..KIDS {
            if self.kid_lo[i].load(Ordering::Relaxed) == lo {
                let id = self.kid[i].load(Ordering::Acquire);
                if id != 0 && id != CLAIMED && self.kid_lo[i].load(Ordering::Relaxed) == lo {
                    return Kids::Found(id);
                }
            }
        }
        if self.kid.iter().any(|k| k.load(Ordering::Acquire) == 0) {
            Kids::Absent
        } else {
            Kids::Elsewhere
        }
    }

    /// Remembers child `id` for `pc` inline if a slot is free; false if it must go to
    /// the overflow index.
    fn add_kid(&self, pc: u64, id: u32) -> bool {
        let (hi, lo) = Self::split(pc);
        match self
            .kid_hi
            .compare_exchange(0, hi, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {}
            Err(h) if h == hi => {}
            Err(_) => return false,
        }
        for i in 0..KIDS {
            // Claim the slot with a marker, describe it, then publish the child.
            if self.kid[i].load(Ordering::Relaxed) == 0
                && self.kid[i]
                    .compare_exchange(0, CLAIMED, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                self.kid_lo[i].store(lo, Ordering::Relaxed);
                self.kid[i].store(id, Ordering::Release);
                return true;
            }
        }
        false
    }
}

/// [`CHUNK`] consecutive leaf nodes.
struct Leaves {
    pc: [AtomicU64; CHUNK],
    parent: [AtomicU32; CHUNK],
}

/// A lazily allocated array of chunks of `T`, never freed before the depot.
struct Chunks<T> {
    chunks: [AtomicPtr<T>; CHUNKS],
}

impl<T> Chunks<T> {
    const fn new() -> Self {
        Chunks {
            chunks: [const { AtomicPtr::new(ptr::null_mut()) }; CHUNKS],
        }
    }

    /// The chunk with index `c`, if allocated.
    fn get(&self, c: usize) -> Option<&T> {
        // SAFETY: chunks are published with Release after zero-initialisation and never
        // freed while the depot lives.
        unsafe { self.chunks.get(c)?.load(Ordering::Acquire).as_ref() }
    }

    /// The chunk with index `c`, allocated (zeroed) if needed.
    fn get_or_alloc(&self, c: usize) -> Option<&T> {
        let slot = self.chunks.get(c)?;
        if let Some(t) = self.get(c) {
            return Some(t);
        }
        // SAFETY: every T here is made of atomics, for which all-zero bytes are valid
        // (zero); the box is allocated zeroed, so no large value passes through the stack.
        let fresh = Box::into_raw(unsafe { Box::<T>::new_zeroed().assume_init() });
        match slot.compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
            // SAFETY: just published; never freed while the depot lives.
            Ok(_) => Some(unsafe { &*fresh }),
            Err(winner) => {
                // SAFETY: `fresh` came from Box::into_raw just above and was never shared.
                drop(unsafe { Box::from_raw(fresh) });
                // SAFETY: as in `get`.
                Some(unsafe { &*winner })
            }
        }
    }
}

impl<T> Drop for Chunks<T> {
    fn drop(&mut self) {
        for chunk in &mut self.chunks {
            let p = *chunk.get_mut();
            if !p.is_null() {
                // SAFETY: non-null chunks come from Box::into_raw (`get_or_alloc`) and
                // are owned here; `&mut self`: no readers.
                drop(unsafe { Box::from_raw(p) });
            }
        }
    }
}

/// An overflow-index slot: a node's key and id. The id (0: empty) is published last,
/// with Release, so a reader that sees it also sees the key.
struct Slot {
    id: AtomicU32,
    parent: AtomicU32,
    pc: AtomicU64,
}

/// One shard's open-addressing table (linear probing, at most three quarters full).
struct Table {
    mask: usize,
    slots: Box<[Slot]>,
}

impl Table {
    fn new(cap: usize) -> Box<Table> {
        Box::new(Table {
            mask: cap - 1,
            slots: (0..cap)
                .map(|_| Slot {
                    id: AtomicU32::new(0),
                    parent: AtomicU32::new(0),
                    pc: AtomicU64::new(0),
                })
                .collect(),
        })
    }
}

/// What a shard's lock protects: the node count and the tables replaced by larger
/// ones (kept, because a lock-free reader may still be probing them).
#[derive(Default)]
struct ShardState {
    count: usize,
    // Boxed so that a retired table never moves while a reader probes it.
    #[allow(clippy::vec_box)]
    retired: Vec<Box<Table>>,
}

struct Shard {
    table: AtomicPtr<Table>,
    lock: crate::lock::Mutex<ShardState>,
}

/// Interned call stacks. See the module documentation.
pub struct StackDepot {
    frames: Chunks<[Frame; CHUNK]>,
    leaves: Chunks<Leaves>,
    /// Frame and leaf indices handed out so far.
    next_frame: AtomicU32,
    next_leaf: AtomicU32,
    soft_cap: AtomicU32,
    shards: [Shard; SHARDS],
}

impl Default for StackDepot {
    fn default() -> Self {
        Self::new()
    }
}

/// The process-wide depot is never dropped; tests create and drop thousands.
impl Drop for StackDepot {
    fn drop(&mut self) {
        for shard in &mut self.shards {
            let t = *shard.table.get_mut();
            if !t.is_null() {
                // SAFETY: published tables come from Box::into_raw (`intern_slow`) and
                // are owned by their shard (retired ones are dropped with its state).
                drop(unsafe { Box::from_raw(t) });
            }
        }
    }
}

impl StackDepot {
    pub const fn new() -> Self {
        StackDepot {
            frames: Chunks::new(),
            leaves: Chunks::new(),
            next_frame: AtomicU32::new(RESERVED_FRAMES),
            next_leaf: AtomicU32::new(0),
            soft_cap: AtomicU32::new(DEFAULT_SOFT_CAP),
            shards: [const {
                Shard {
                    table: AtomicPtr::new(ptr::null_mut()),
                    lock: crate::lock::Mutex::new(ShardState {
                        count: 0,
                        retired: Vec::new(),
                    }),
                }
            }; SHARDS],
        }
    }

    fn frame(&self, id: u32) -> Option<&Frame> {
        let i = (id >> 1) as usize;
        (!is_leaf(id)).then_some(())?;
        Some(&self.frames.get(i >> CHUNK_BITS)?[i & (CHUNK - 1)])
    }

    /// The key of node `id`: `(parent, pc)`.
    fn key(&self, id: u32) -> Option<(u32, u64)> {
        let i = (id >> 1) as usize;
        if is_leaf(id) {
            let c = self.leaves.get(i >> CHUNK_BITS)?;
            let j = i & (CHUNK - 1);
            Some((
                c.parent[j].load(Ordering::Acquire),
                c.pc[j].load(Ordering::Relaxed),
            ))
        } else {
            let f = self.frame(id)?;
            Some((
                f.parent.load(Ordering::Acquire),
                f.pc.load(Ordering::Relaxed),
            ))
        }
    }

    /// A well-mixed hash of a node key (murmur3's finaliser).
    fn hash(parent: u32, pc: u64) -> usize {
        let mut h = pc
            ^ (parent as u64)
                .rotate_left(29)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^= h >> 33;
        h as usize
    }

    /// Lock-free lookup in a table.
    fn find(t: &Table, h: usize, parent: u32, pc: u64) -> Option<u32> {
        let mut i = (h >> 8) & t.mask;
        loop {
            let slot = &t.slots[i];
            match slot.id.load(Ordering::Acquire) {
                0 => return None,
                id if slot.parent.load(Ordering::Relaxed) == parent
                    && slot.pc.load(Ordering::Relaxed) == pc =>
                {
                    return Some(id)
                }
                _ => i = (i + 1) & t.mask,
            }
        }
    }

    /// Puts a key in the first empty slot of its probe sequence (caller holds the lock).
    fn place(t: &Table, h: usize, parent: u32, pc: u64, id: u32) {
        let mut i = (h >> 8) & t.mask;
        while t.slots[i].id.load(Ordering::Relaxed) != 0 {
            i = (i + 1) & t.mask;
        }
        let slot = &t.slots[i];
        slot.parent.store(parent, Ordering::Relaxed);
        slot.pc.store(pc, Ordering::Relaxed);
        slot.id.store(id, Ordering::Release);
    }

    /// The overflow index's node for a key, if any (lock-free).
    fn find_overflow(&self, h: usize, parent: u32, pc: u64) -> Option<u32> {
        let t = self.shards[h % SHARDS].table.load(Ordering::Acquire);
        // SAFETY: published tables are never freed (retired ones are kept).
        Self::find(unsafe { t.as_ref()? }, h, parent, pc)
    }

    /// Sets how many nodes full stacks may use (see the module documentation).
    pub fn set_soft_cap(&self, nodes: u32) {
        self.soft_cap
            .store(nodes.clamp(16, MAX_NODES / 2), Ordering::Relaxed);
    }

    /// The node for `(parent, pc)` if `parent`'s record holds it inline (one cache
    /// line, no hashing): the common case of every lookup.
    #[inline]
    pub fn find_inline(&self, parent: u32, pc: u64) -> Option<u32> {
        match self.frame(parent)?.kid(pc) {
            Kids::Found(id) => Some(id),
            Kids::Absent | Kids::Elsewhere => None,
        }
    }

    /// The frame node for `parent`'s stack extended by the return address `pc`,
    /// creating it if needed, or `None` when that would take the depot past its soft
    /// cap.
    pub fn try_intern(&self, parent: u32, pc: u64) -> Option<u32> {
        self.intern_inner(parent, pc, false, false)
    }

    /// The frame node for `parent`'s stack extended by the return address `pc`,
    /// creating it if needed, past the soft cap if need be. Returns [`ROOT`] when the
    /// depot is completely full.
    pub fn intern(&self, parent: u32, pc: u64) -> u32 {
        self.intern_inner(parent, pc, false, true).unwrap_or(ROOT)
    }

    /// [`Self::try_intern`] for a site (an access or `go` statement pc: a leaf).
    pub fn try_intern_site(&self, parent: u32, pc: u64) -> Option<u32> {
        self.intern_inner(parent, pc, true, false)
    }

    /// [`Self::intern`] for a site.
    pub fn intern_site(&self, parent: u32, pc: u64) -> u32 {
        self.intern_inner(parent, pc, true, true).unwrap_or(ROOT)
    }

    fn intern_inner(&self, parent: u32, pc: u64, leaf: bool, force: bool) -> Option<u32> {
        let kids = self.frame(parent).map_or(Kids::Elsewhere, |f| f.kid(pc));
        if let Kids::Found(id) = kids {
            return Some(id);
        }
        let h = Self::hash(parent, pc);
        if let Kids::Elsewhere = kids {
            if let Some(id) = self.find_overflow(h, parent, pc) {
                return Some(id);
            }
        }
        self.intern_slow(h, parent, pc, leaf, force)
    }

    #[cold]
    #[inline(never)]
    fn intern_slow(&self, h: usize, parent: u32, pc: u64, leaf: bool, force: bool) -> Option<u32> {
        if !force && self.len() >= self.soft_cap.load(Ordering::Relaxed) {
            bump(Stat::DepotFull);
            // Known nodes are still found.
            return self.lookup_locked(h, parent, pc);
        }
        let shard = &self.shards[h % SHARDS];
        let mut state = shard.lock.lock();
        let parent_frame = self.frame(parent);
        if let Some(Kids::Found(id)) = parent_frame.map(|f| f.kid(pc)) {
            return Some(id);
        }
        if let Some(id) = self.find_overflow(h, parent, pc) {
            return Some(id);
        }
        let id = self.new_node(parent, pc, leaf)?;
        bump(Stat::DepotNode);
        if parent_frame.is_some_and(|f| f.add_kid(pc, id)) {
            return Some(id);
        }
        let mut table = shard.table.load(Ordering::Acquire);
        // SAFETY: published tables are never freed; under the lock the table cannot change.
        let cap = unsafe { table.as_ref() }.map_or(0, |t| t.mask + 1);
        // Linear probing stays short up to three quarters full.
        if (state.count + 1) * 4 > cap * 3 {
            let bigger = Table::new((cap * 2).max(64));
            // SAFETY: as above.
            if let Some(old) = unsafe { table.as_ref() } {
                for slot in old.slots.iter() {
                    let other = slot.id.load(Ordering::Relaxed);
                    if other != 0 {
                        let (p, c) = (
                            slot.parent.load(Ordering::Relaxed),
                            slot.pc.load(Ordering::Relaxed),
                        );
                        Self::place(&bigger, Self::hash(p, c), p, c, other);
                    }
                }
            }
            let bigger = Box::into_raw(bigger);
            shard.table.store(bigger, Ordering::Release);
            if !table.is_null() {
                // SAFETY: `table` came from Box::into_raw above and is now unpublished;
                // it stays allocated in `retired` for readers still probing it.
                state.retired.push(unsafe { Box::from_raw(table) });
            }
            table = bigger;
        }
        // SAFETY: `table` is the published table, non-null here.
        Self::place(unsafe { &*table }, h, parent, pc, id);
        state.count += 1;
        Some(id)
    }

    /// A lookup that also sees nodes being added right now (under the shard's lock).
    fn lookup_locked(&self, h: usize, parent: u32, pc: u64) -> Option<u32> {
        let _state = self.shards[h % SHARDS].lock.lock();
        if let Some(Kids::Found(id)) = self.frame(parent).map(|f| f.kid(pc)) {
            return Some(id);
        }
        self.find_overflow(h, parent, pc)
    }

    /// Takes a fresh id of the wanted kind and writes its key (before anybody can see
    /// the id). `None` when that kind's ids are used up.
    fn new_node(&self, parent: u32, pc: u64, leaf: bool) -> Option<u32> {
        let counter = if leaf {
            &self.next_leaf
        } else {
            &self.next_frame
        };
        let i = counter.fetch_add(1, Ordering::Relaxed);
        if i >= MAX_NODES / 2 {
            counter.store(MAX_NODES / 2, Ordering::Relaxed);
            return None;
        }
        let (c, j) = ((i >> CHUNK_BITS) as usize, i as usize & (CHUNK - 1));
        if leaf {
            let chunk = self.leaves.get_or_alloc(c)?;
            chunk.pc[j].store(pc, Ordering::Relaxed);
            chunk.parent[j].store(parent, Ordering::Release);
            Some(i << 1 | 1)
        } else {
            let f = &self.frames.get_or_alloc(c)?[j];
            f.pc.store(pc, Ordering::Relaxed);
            f.parent.store(parent, Ordering::Release);
            Some(i << 1)
        }
    }

    /// The node for a whole stack, outermost pc first.
    pub fn intern_stack(&self, pcs_outermost_first: &[u64]) -> u32 {
        pcs_outermost_first
            .iter()
            .fold(ROOT, |node, &pc| self.intern(node, pc))
    }

    /// The pcs of a node's stack, innermost first.
    pub fn pcs(&self, id: u32) -> Vec<u64> {
        self.stack(id).0
    }

    /// The pcs of a node's stack, innermost first, and whether outer frames were not
    /// kept (the stack was recorded after the depot filled up).
    pub fn stack(&self, mut id: u32) -> (Vec<u64>, bool) {
        let mut out = Vec::new();
        while id != ROOT {
            if id == TRUNCATED {
                return (out, true);
            }
            let Some((parent, pc)) = self.key(id) else {
                break;
            };
            out.push(pc);
            // Parents are always older, so within one kind their ids are smaller; never
            // loop on a torn read.
            if (is_leaf(parent) == is_leaf(id) && parent >= id) || out.len() > MAX_DEPTH {
                break;
            }
            id = parent;
        }
        (out, false)
    }

    /// Nodes interned so far.
    pub fn len(&self) -> u32 {
        let frames = self.next_frame.load(Ordering::Relaxed).min(MAX_NODES / 2);
        let leaves = self.next_leaf.load(Ordering::Relaxed).min(MAX_NODES / 2);
        frames - RESERVED_FRAMES + leaves
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A small multiplicative hasher for shard selection (not for the maps themselves).
struct FxLike(u64);

impl Hasher for FxLike {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// Hash of a list of pcs, for report de-duplication.
pub fn hash_pcs(pcs: &[u64]) -> u64 {
    let mut h = FxLike(pcs.len() as u64);
    for &pc in pcs {
        h.write_u64(pc);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_prefixes_share_nodes() {
        let d = StackDepot::new();
        let a = d.intern_stack(&[0x10, 0x20, 0x30]);
        let b = d.intern_stack(&[0x10, 0x20, 0x40]);
        assert_ne!(a, b);
        assert_eq!(d.len(), 4, "root-10-20 shared, 30 and 40 distinct");
        assert_eq!(d.pcs(a), vec![0x30, 0x20, 0x10]);
        assert_eq!(d.pcs(b), vec![0x40, 0x20, 0x10]);
        assert_eq!(
            d.intern_stack(&[0x10, 0x20, 0x30]),
            a,
            "interning is idempotent"
        );
        assert!(d.pcs(ROOT).is_empty());
    }

    #[test]
    fn frames_with_many_children_and_leaves_round_trip() {
        let d = StackDepot::new();
        let f = d.intern_stack(&[0x10, 0x20]);
        // More children than fit inline, some with other upper bits (overflow index).
        let kids: Vec<(u64, u32)> = (0..40u64)
            .map(|i| {
                let pc = if i % 7 == 0 {
                    (1 << 40) + i
                } else {
                    0x1000 + i
                };
                let id = if i % 2 == 0 {
                    d.intern_site(f, pc)
                } else {
                    d.intern(f, pc)
                };
                (pc, id)
            })
            .collect();
        for &(pc, id) in &kids {
            assert_eq!(d.pcs(id), vec![pc, 0x20, 0x10]);
            assert_eq!(
                d.try_intern(f, pc),
                Some(id),
                "found again, whatever its kind"
            );
            assert_eq!(d.intern_site(f, pc), id);
        }
        let leaf = kids[0].1;
        assert!(is_leaf(leaf) && !is_leaf(kids[1].1));
        assert_eq!(d.len(), 2 + 40);
        // A leaf's id may be below its parent's: stacks are still followed.
        let deep = (0..100u64).fold(ROOT, |n, pc| d.intern(n, 0x5000 + pc));
        let site = d.intern_site(deep, 0x9999);
        assert_eq!(d.pcs(site).len(), 101);
    }

    #[test]
    fn past_the_soft_cap_only_forced_nodes_are_made() {
        let d = StackDepot::new();
        d.set_soft_cap(20);
        for pc in 0..20 {
            assert!(d.try_intern(ROOT, pc + 1).is_some());
        }
        assert_eq!(d.try_intern(ROOT, 100), None, "full");
        assert_eq!(
            d.try_intern(ROOT, 5),
            Some(d.intern(ROOT, 5)),
            "known nodes still found"
        );
        let t = d.intern(d.intern(TRUNCATED, 0x40), 0x41);
        assert_eq!(d.stack(t), (vec![0x41, 0x40], true));
        assert_eq!(d.stack(d.intern(ROOT, 3)), (vec![3], false));
    }

    #[test]
    fn concurrent_interning_agrees() {
        let d = std::sync::Arc::new(StackDepot::new());
        let ids: Vec<Vec<u32>> = (0..4)
            .map(|_| {
                let d = d.clone();
                std::thread::spawn(move || {
                    (0..2000u64)
                        .map(|i| d.intern_stack(&[1, 2, i % 300]))
                        .collect::<Vec<_>>()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        assert!(ids.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(d.len(), 2 + 300);
        // Ids cross a chunk boundary without trouble.
        for i in 0..(CHUNK as u64 + 10) {
            d.intern(ROOT, 1000 + i);
        }
        let last = d.intern(ROOT, 1000 + CHUNK as u64 + 9);
        assert_eq!(d.pcs(last), vec![1000 + CHUNK as u64 + 9]);
    }
}
