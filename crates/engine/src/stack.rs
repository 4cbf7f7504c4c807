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
//! recursion that overflowed the depot). Each node is a 64-byte node (key plus the first six children, so that
//! re-walking a known stack stays in cache lines just used) and 32 to 64 bytes of index. Nodes are never
//! freed. Looking a node up ([`StackDepot::intern`] of a known stack, [`StackDepot::pcs`])
//! takes no lock: the index is [`SHARDS`] insert-only open-addressing tables of keys and
//! ids; only adding a node takes its shard's lock.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::hash::Hasher;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

/// The empty stack.
pub const ROOT: u32 = 0;
/// Parent of the nodes made once the depot is full: below it, a stack keeps only its
/// innermost frame and the access (see [`StackDepot::try_intern`]).
pub const TRUNCATED: u32 = 1;
/// How many nodes the depot makes for full stacks by default (64 MiB of nodes).
pub const DEFAULT_SOFT_CAP: u32 = 1 << 20;
/// Most nodes the depot can hold (ids must fit a shadow cell's site field).
pub const MAX_NODES: u32 = 1 << crate::cell::SITE_BITS;
/// Index shards (independent spin locks).
pub const SHARDS: usize = 64;

const CHUNK_BITS: u32 = 16;
const CHUNK: usize = 1 << CHUNK_BITS;
const CHUNKS: usize = (MAX_NODES as usize) / CHUNK;

/// Children a node remembers inline (see [`StackDepot::intern`]).
const KIDS: usize = 6;

/// A depot node: one cache line holding its key and its first [`KIDS`] children, so
/// that walking down a stack that exists already touches only nodes just used.
///
/// A node's children are pcs inside one function (the callee of the node's frame), so
/// they share their upper 32 bits; children are kept inline only when they share
/// `kid_hi` with the first one.
#[repr(C, align(64))]
struct Node {
    pc: AtomicU64,
    parent: AtomicU32,
    /// Upper 32 bits of the inline children's pcs, plus one (0: no child yet).
    kid_hi: AtomicU32,
    kid_lo: [AtomicU32; KIDS],
    kid: [AtomicU32; KIDS],
}

const _: () = assert!(core::mem::size_of::<Node>() == 64);

/// Marks an inline child slot being filled.
const CLAIMED: u32 = u32::MAX;

impl Node {
    const fn new() -> Node {
        Node {
            pc: AtomicU64::new(0),
            parent: AtomicU32::new(0),
            kid_hi: AtomicU32::new(0),
            kid_lo: [const { AtomicU32::new(0) }; KIDS],
            kid: [const { AtomicU32::new(0) }; KIDS],
        }
    }

    fn split(pc: u64) -> (u32, u32) {
        (((pc >> 32) as u32).wrapping_add(1), pc as u32)
    }

    /// The child for `pc`, if remembered inline.
    #[inline]
    fn kid(&self, pc: u64) -> Option<u32> {
        let (hi, lo) = Self::split(pc);
        if self.kid_hi.load(Ordering::Relaxed) != hi {
            return None;
        }
        (0..KIDS).find_map(|i| {
            let id = self.kid[i].load(Ordering::Acquire);
            let set = id != 0 && id != CLAIMED;
            (set && self.kid_lo[i].load(Ordering::Relaxed) == lo).then_some(id)
        })
    }

    /// Remembers child `id` for `pc` inline if a slot is free (first come, first kept).
    fn add_kid(&self, pc: u64, id: u32) {
        let (hi, lo) = Self::split(pc);
        match self
            .kid_hi
            .compare_exchange(0, hi, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => {}
            Err(h) if h == hi => {}
            Err(_) => return,
        }
        for i in 0..KIDS {
            // Claim the slot with a marker, describe it, then publish the child.
            let free = self.kid[i].load(Ordering::Relaxed) == 0;
            if free
                && self.kid[i]
                    .compare_exchange(0, CLAIMED, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                self.kid_lo[i].store(lo, Ordering::Relaxed);
                self.kid[i].store(id, Ordering::Release);
                return;
            }
        }
    }
}

/// A table slot: a node's key and id. The id (0: empty) is published last, with
/// Release, so a reader that sees it also sees the key.
struct Slot {
    id: AtomicU32,
    parent: AtomicU32,
    pc: AtomicU64,
}

/// One shard's open-addressing table (linear probing, at most half full): a lookup
/// reads one or two cache lines of the table and never the nodes.
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
    chunks: [AtomicPtr<Node>; CHUNKS],
    next: AtomicU32,
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
        for chunk in &mut self.chunks {
            let p = *chunk.get_mut();
            if !p.is_null() {
                // SAFETY: non-null chunks come from Box::into_raw of a CHUNK-long slice
                // (`chunk_for`) and are owned by the depot; `&mut self`: no readers.
                drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(p, CHUNK)) });
            }
        }
        for shard in &mut self.shards {
            let t = *shard.table.get_mut();
            if !t.is_null() {
                // SAFETY: published tables come from Box::into_raw (`intern`) and are
                // owned by their shard (retired ones are dropped with its state).
                drop(unsafe { Box::from_raw(t) });
            }
        }
    }
}

impl StackDepot {
    pub const fn new() -> Self {
        StackDepot {
            chunks: [const { AtomicPtr::new(ptr::null_mut()) }; CHUNKS],
            next: AtomicU32::new(TRUNCATED + 1),
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

    fn node(&self, id: u32) -> Option<&Node> {
        let chunk = self.chunks.get((id >> CHUNK_BITS) as usize)?;
        let base = chunk.load(Ordering::Acquire);
        if base.is_null() {
            return None;
        }
        // SAFETY: chunks are allocated with CHUNK nodes, published with Release after
        // initialisation, and never freed; the offset is below CHUNK.
        Some(unsafe { &*base.add(id as usize & (CHUNK - 1)) })
    }

    fn chunk_for(&self, id: u32) -> Option<*mut Node> {
        let slot = self.chunks.get((id >> CHUNK_BITS) as usize)?;
        let cur = slot.load(Ordering::Acquire);
        if !cur.is_null() {
            return Some(cur);
        }
        let fresh: Box<[Node]> = (0..CHUNK).map(|_| Node::new()).collect();
        let fresh = Box::into_raw(fresh) as *mut Node;
        match slot.compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Some(fresh),
            Err(winner) => {
                // SAFETY: `fresh` came from Box::into_raw of a CHUNK-long slice just above
                // and was never shared.
                drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(fresh, CHUNK)) });
                Some(winner)
            }
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

    /// Sets how many nodes full stacks may use (see the module documentation).
    pub fn set_soft_cap(&self, nodes: u32) {
        self.soft_cap
            .store(nodes.clamp(16, MAX_NODES / 2), Ordering::Relaxed);
    }

    /// The node for `parent`'s stack extended by `pc`, creating it if needed, or `None`
    /// when that would take the depot past its soft cap.
    pub fn try_intern(&self, parent: u32, pc: u64) -> Option<u32> {
        self.intern_inner(parent, pc, false)
    }

    /// The node for `parent`'s stack extended by `pc` (a return address), creating it
    /// if needed, past the soft cap if need be. Returns [`ROOT`] when the depot is
    /// completely full.
    pub fn intern(&self, parent: u32, pc: u64) -> u32 {
        self.intern_inner(parent, pc, true).unwrap_or(ROOT)
    }

    fn intern_inner(&self, parent: u32, pc: u64, force: bool) -> Option<u32> {
        let parent_node = self.node(parent).or_else(|| {
            self.chunk_for(parent)?;
            self.node(parent)
        });
        if let Some(id) = parent_node.and_then(|n| n.kid(pc)) {
            return Some(id);
        }
        let id = self.intern_slow(parent, pc, force)?;
        if id != ROOT {
            if let Some(n) = parent_node {
                n.add_kid(pc, id);
            }
        }
        Some(id)
    }

    fn intern_slow(&self, parent: u32, pc: u64, force: bool) -> Option<u32> {
        let h = Self::hash(parent, pc);
        let shard = &self.shards[h % SHARDS];
        let current = shard.table.load(Ordering::Acquire);
        // SAFETY: published tables are never freed (retired ones are kept).
        if let Some(t) = unsafe { current.as_ref() } {
            if let Some(id) = Self::find(t, h, parent, pc) {
                return Some(id);
            }
        }
        if !force && self.len() >= self.soft_cap.load(Ordering::Relaxed) {
            return None;
        }
        let mut state = shard.lock.lock();
        let mut table = shard.table.load(Ordering::Acquire);
        // SAFETY: as above; under the lock the table cannot change.
        if let Some(t) = unsafe { table.as_ref() } {
            if let Some(id) = Self::find(t, h, parent, pc) {
                return Some(id);
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if id >= MAX_NODES {
            self.next.store(MAX_NODES, Ordering::Relaxed);
            return Some(ROOT);
        }
        let chunk = self.chunk_for(id)?;
        // SAFETY: `chunk` holds CHUNK nodes and the offset is below CHUNK; node `id` is
        // written only here, once, before the id is published.
        let node = unsafe { &*chunk.add(id as usize & (CHUNK - 1)) };
        node.pc.store(pc, Ordering::Relaxed);
        node.parent.store(parent, Ordering::Release);

        // SAFETY: as above.
        let cap = unsafe { table.as_ref() }.map_or(0, |t| t.mask + 1);
        if (state.count + 1) * 2 > cap {
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
                // SAFETY: `table` came from Box::into_raw below and is now unpublished;
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
            let Some(node) = self.node(id) else { break };
            let parent = node.parent.load(Ordering::Acquire);
            out.push(node.pc.load(Ordering::Relaxed));
            if parent >= id {
                break; // parents are always older; never loop on a torn read
            }
            id = parent;
        }
        (out, false)
    }

    /// Nodes interned so far.
    pub fn len(&self) -> u32 {
        self.next.load(Ordering::Relaxed).min(MAX_NODES) - 1 - TRUNCATED
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
