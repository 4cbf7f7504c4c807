//! The stack depot: every call stack gorace has recorded, interned as a trie.
//!
//! A node is `(parent, pc)`; node [`ROOT`] is the empty stack. The node for a stack
//! `[outermost, ..., innermost]` is reached by interning each pc in turn, so stacks that
//! share a prefix share nodes, and a stack is one `u32` wherever it is stored: in shadow
//! cells (the access's *site*: its call stack plus the access pc), in slot journals (a
//! goroutine's creation stack), in reports.
//!
//! Memory grows with the number of *distinct* stacks ever seen, never with the number
//! of calls or accesses: 16 bytes per node plus the index entry (about 48 bytes in all).
//! Nodes are never freed. Reads ([`StackDepot::pcs`]) are lock-free; interning a new node
//! takes one of [`SHARDS`] spin locks.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::hash::{Hash, Hasher};
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

use hashbrown::HashMap;

/// The empty stack.
pub const ROOT: u32 = 0;
/// Most nodes the depot can hold (ids must fit a shadow cell's site field).
pub const MAX_NODES: u32 = 1 << crate::cell::SITE_BITS;
/// Index shards (independent spin locks).
pub const SHARDS: usize = 64;

const CHUNK_BITS: u32 = 16;
const CHUNK: usize = 1 << CHUNK_BITS;
const CHUNKS: usize = (MAX_NODES as usize) / CHUNK;

struct Node {
    pc: AtomicU64,
    parent: AtomicU32,
}

type Index = HashMap<(u32, u64), u32, hashbrown::DefaultHashBuilder>;

/// Interned call stacks. See the module documentation.
pub struct StackDepot {
    chunks: [AtomicPtr<Node>; CHUNKS],
    next: AtomicU32,
    index: [spin::Mutex<Option<Index>>; SHARDS],
}

impl Default for StackDepot {
    fn default() -> Self {
        Self::new()
    }
}

impl StackDepot {
    pub const fn new() -> Self {
        StackDepot {
            chunks: [const { AtomicPtr::new(ptr::null_mut()) }; CHUNKS],
            next: AtomicU32::new(1),
            index: [const { spin::Mutex::new(None) }; SHARDS],
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
        let fresh: Box<[Node]> = (0..CHUNK)
            .map(|_| Node {
                pc: AtomicU64::new(0),
                parent: AtomicU32::new(0),
            })
            .collect();
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

    fn shard(parent: u32, pc: u64) -> usize {
        let mut h = FxLike(0);
        (parent, pc).hash(&mut h);
        (h.finish() as usize >> 7) % SHARDS
    }

    /// The node for `parent`'s stack extended by `pc` (a return address), creating it
    /// if needed. Returns [`ROOT`] when the depot is full.
    pub fn intern(&self, parent: u32, pc: u64) -> u32 {
        let mut guard = self.index[Self::shard(parent, pc)].lock();
        let index = guard.get_or_insert_with(|| Index::with_hasher(Default::default()));
        if let Some(&id) = index.get(&(parent, pc)) {
            return id;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if id >= MAX_NODES {
            self.next.store(MAX_NODES, Ordering::Relaxed);
            return ROOT;
        }
        let Some(chunk) = self.chunk_for(id) else {
            return ROOT;
        };
        // SAFETY: `chunk` holds CHUNK nodes and the offset is below CHUNK; node `id` is
        // written only here, once, before the id is published.
        let node = unsafe { &*chunk.add(id as usize & (CHUNK - 1)) };
        node.pc.store(pc, Ordering::Relaxed);
        node.parent.store(parent, Ordering::Release);
        index.insert((parent, pc), id);
        id
    }

    /// The node for a whole stack, outermost pc first.
    pub fn intern_stack(&self, pcs_outermost_first: &[u64]) -> u32 {
        pcs_outermost_first
            .iter()
            .fold(ROOT, |node, &pc| self.intern(node, pc))
    }

    /// The pcs of a node's stack, innermost first.
    pub fn pcs(&self, mut id: u32) -> Vec<u64> {
        let mut out = Vec::new();
        while id != ROOT {
            let Some(node) = self.node(id) else { break };
            let parent = node.parent.load(Ordering::Acquire);
            out.push(node.pc.load(Ordering::Relaxed));
            if parent >= id {
                break; // parents are always older; never loop on a torn read
            }
            id = parent;
        }
        out
    }

    /// Nodes interned so far.
    pub fn len(&self) -> u32 {
        self.next.load(Ordering::Relaxed).min(MAX_NODES) - 1
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
