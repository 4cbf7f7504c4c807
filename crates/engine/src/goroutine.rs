//! Per-goroutine state: identity, vector clock, shadow call stack.
//!
//! A [`Goroutine`] is only ever touched by the thread currently running that goroutine
//! (Go guarantees one at a time), so nothing in it is synchronised.

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::cell::Cell;
use crate::clock::{Epoch, Slot, ThreadClock};
use crate::leak::Visible;
use crate::stack::{StackDepot, ROOT, TRUNCATED};
use crate::stats::{bump, Stat};

/// A frame of the shadow call stack: the return address into the caller, the depth of
/// the goroutine's Go stack when the function was entered, and, once needed, the
/// stack-depot node of the stack up to and including this frame.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    pub pc: u64,
    /// Bytes from the top of the goroutine's stack (`g.stack.hi - sp`): unchanged when
    /// Go copies the stack to grow or shrink it, larger for deeper calls. 0: unknown.
    depth: u32,
    node: u32,
    /// Which push made this frame (see `ShadowStack::memo`).
    serial: u32,
}

const UNRESOLVED: u32 = u32::MAX;
/// A frame (and everything above it) whose stack the full depot has no node for.
const NO_ROOM: u32 = u32::MAX - 1;
/// Returned children remembered (see `ShadowStack::memo`).
const MEMO: usize = 16;
/// Entries per set of the memo and of the site cache: a key picks a set of two
/// adjacent entries, the newest first. Direct-mapped, two calls of one loop whose keys
/// hash alike evicted each other on every round (mutexmap: a map access's and a lock's
/// frames, and two of the loop's reads: 4 of its 12 lookups per round missed).
const WAYS: usize = 2;
const _: () = assert!(MEMO.is_power_of_two() && MEMO >= WAYS);
/// A memo with no entry.
const NO_MEMO: [(u64, u32, u32); MEMO] = [(0, 0, UNRESOLVED); MEMO];
/// Entries of the site cache a goroutine starts with, and grows to once it has missed
/// [`SITE_CACHE_BIG`] times (a goroutine doing real work: deep or recursive stacks).
const SITE_CACHE_SMALL: usize = 64;
const SITE_CACHE_BIG: usize = 1024;
/// Sites a goroutine computes the slow way before it uses the stack-keyed site cache
/// (`ShadowStack::sites`).
const HASHING_AFTER: u32 = 64;

/// Frames of a stack kept in the depot: a frame deeper than this is resolved as if the
/// depot were full (its sites keep only it and the access, under
/// [`crate::stack::TRUNCATED`]). Real programs stay far below; deep recursion
/// (`encoding/json`'s 10,000-level nesting test: over a million nodes, every level's
/// accesses a site of its own, so a byte buffer's cells never merged and spilled) makes
/// a few sites instead. The stock runtime prints at most 255 frames of a stack.
pub const KEPT_FRAMES: usize = 1024;

/// Tolerance when matching a function's exit depth to its entry depth: the Go side
/// reaches `racefuncenter` through slightly different call paths (see gorace-rt).
pub const EXIT_SLACK: u32 = 8;

/// The key of the empty stack.
const ROOT_KEY: u64 = 0x243f_6a88_85a3_08d3;

/// The key of a frame entered from `pc` over a stack whose key is `below` (and of the
/// site of an access at `pc` from that stack). For a given `pc` it is a bijection of
/// `below` (a rotation, an xor, a multiplication by an odd constant), so two stacks
/// that differ only under a common top never share a key; others share one with
/// probability 2^-64.
#[inline(always)]
fn frame_key(below: u64, pc: u64) -> u64 {
    (below.rotate_left(26) ^ pc).wrapping_mul(0xd6e8_feb8_6659_fd93)
}

/// `ShadowStack::last_site` before any site (no frame has serial `u32::MAX`: serials
/// are renumbered before they wrap).
const NO_LAST_SITE: (u64, u32, u32) = (0, u32::MAX, ROOT);

/// A site cache entry with no site.
const NO_SITE: (u64, u32) = (0, UNRESOLVED);

#[derive(Clone, Copy)]
struct CacheEntry {
    pc: u64,
    parent: u32,
    node: u32,
}

const EMPTY_ENTRY: CacheEntry = CacheEntry {
    pc: 0,
    parent: UNRESOLVED,
    node: 0,
};

/// The shadow call stack and the memo that turns it into stack-depot nodes.
///
/// Function entry and exit only push and pop pcs. When a panic is recovered, the
/// frames between the panic and the recovering function never see their exit; the
/// recovering function's own exit then pops them too, found by their depth
/// ([`ShadowStack::exit`]), so the stack cannot grow without bound in a goroutine
/// that recovers panics forever. A node is computed lazily, when an
/// access has to be remembered, and then memoised in the frame; a small two-way
/// cache keyed by `(parent node, pc)` makes repeated calls from a loop cheap, and one
/// keyed by the stack's content (`sites`) serves frames that are new on every call.
pub struct ShadowStack {
    frames: Vec<Frame>,
    /// The return address of the frame popped last, if no frame was pushed since (0:
    /// none): a pc in the innermost function, just after a call.
    returned: u64,
    /// Nodes of functions that returned, `(pc, serial of the frame they returned to,
    /// node)`, direct-mapped by pc: an entry holds while that very frame is on top
    /// again (each push has its own serial), however deep the calls in between went.
    /// A loop that calls a few functions in turn (a map access, an atomic operation,
    /// a lock, each calling further) gets each call's node back when it pushes it
    /// again, without a lookup.
    memo: [(u64, u32, u32); MEMO],
    /// The serial of the latest push (0: none yet; the memo is cleared when it wraps).
    serial: u32,
    /// The last site computed, `(pc, serial of the innermost frame, site)`: a byte
    /// loop, or any access repeated from one place in one call, gets its site back
    /// with two compares.
    last_site: (u64, u32, u32),
    cache: Vec<CacheEntry>,
    misses: u32,
    /// Sites by the key of the stack and access pc ([`frame_key`]), two-way like
    /// `cache`, newest first: a site of a stack seen before, without resolving its
    /// frames' nodes. The frames are new on every call, so a repeated access from a
    /// function called anew (deferrecover's deferred function, under frames a panic
    /// abandons each round) would otherwise look up every frame that is not in the
    /// memo, then the site.
    sites: Vec<(u64, u32)>,
    /// The frames' keys, computed when a site cache lookup first needs them (most
    /// frames never do, and function entry stays as it was): `keys[i]` is
    /// `(serial, key)` of the frame at index `i` if that frame has this serial.
    keys: Vec<(u32, u64)>,
    /// Sites computed by [`Self::site_slow`] while not [`Self::hashing`].
    unhashed: u32,
    site_hits: u32,
    site_misses: u32,
}

impl Default for ShadowStack {
    fn default() -> Self {
        Self::new()
    }
}

impl ShadowStack {
    pub fn new() -> Self {
        ShadowStack {
            frames: Vec::new(),
            returned: 0,
            memo: NO_MEMO,
            serial: 0,
            last_site: NO_LAST_SITE,
            cache: Vec::new(),
            misses: 0,
            sites: Vec::new(),
            keys: Vec::new(),
            unhashed: 0,
            site_hits: 0,
            site_misses: 0,
        }
    }

    /// Empties the stack for a new goroutine, keeping its allocations and a small site
    /// cache: a cached `(parent, pc)` node is the same for every goroutine (depot nodes
    /// never change). A big cache goes (a goroutine earns one by its own misses: a
    /// short one would only take the cache misses of a 16 KiB table).
    pub fn reset(&mut self) {
        let mut frames = core::mem::take(&mut self.frames);
        frames.clear();
        let mut cache = core::mem::take(&mut self.cache);
        if cache.len() > SITE_CACHE_SMALL {
            cache = Vec::new();
        }
        let mut sites = core::mem::take(&mut self.sites);
        if sites.len() > SITE_CACHE_SMALL {
            sites = Vec::new();
        }
        // Serials start again from 1: no key may outlive its frame.
        let mut keys = core::mem::take(&mut self.keys);
        keys.clear();
        *self = ShadowStack {
            frames,
            cache,
            sites,
            keys,
            ..ShadowStack::new()
        };
    }

    /// Enters a function called from `pc` (a return address), at unknown depth.
    #[inline(always)]
    pub fn push(&mut self, pc: u64) {
        self.enter(pc, 0);
    }

    /// Enters the runtime on behalf of the function that called it from `pc` (an
    /// atomic operation, a map access, a channel operation), whose accesses usually
    /// store a cell: the frame's node is recalled from the memo at once, inline,
    /// rather than by the site's out-of-line [`Self::recall_top`].
    #[inline(always)]
    pub fn push_call(&mut self, pc: u64) {
        self.enter(pc, 0);
        let below = self.frames.len() - 1;
        let node = self.recall(pc, below);
        if let Some(f) = self.frames.last_mut() {
            f.node = node;
        }
    }

    /// Enters a function called from `pc` at stack `depth` (see [`Frame`]). Only the
    /// pc is recorded: the frame's node is looked for when a site needs it
    /// ([`Self::site`], [`Self::node`]); most frames never do.
    #[inline(always)]
    pub fn enter(&mut self, pc: u64, depth: u32) {
        let len = self.frames.len();
        self.returned = 0;
        let serial = self.serial.wrapping_add(1);
        self.serial = serial;
        if len == self.frames.capacity() || serial == 0 {
            // A tail call: nothing stays live across it, so the common path saves no
            // registers.
            return self.push_rare(pc, depth);
        }
        // SAFETY: `len < capacity`: the slot is allocated and unused; it is written
        // before the length covers it.
        unsafe {
            let f = Frame {
                pc,
                depth,
                node: UNRESOLVED,
                serial,
            };
            self.frames.as_mut_ptr().add(len).write(f);
            self.frames.set_len(len + 1);
        }
    }

    /// A push that grows the stack, or whose serial wrapped to 0: serials then start
    /// again, the frames on the stack renumbered from 1 and the memo cleared, so no
    /// two frames and no entry share a serial by accident.
    #[cold]
    #[inline(never)]
    fn push_rare(&mut self, pc: u64, depth: u32) {
        if self.serial == 0 {
            self.memo = NO_MEMO;
            self.last_site = NO_LAST_SITE;
            self.keys.clear();
            for (i, f) in self.frames.iter_mut().enumerate() {
                f.serial = i as u32 + 1;
            }
            self.serial = self.frames.len() as u32 + 1;
        }
        let serial = self.serial;
        self.frames.push(Frame {
            pc,
            depth,
            node: UNRESOLVED,
            serial,
        });
    }

    /// The innermost frame's serial and node, `(0, ROOT)` for the empty stack (indexed
    /// unchecked: `frames.last()` made the compiler test the frame's address for null).
    #[inline(always)]
    fn top_frame(&self) -> (u32, u32) {
        match self.frames.len().checked_sub(1) {
            Some(i) => {
                // SAFETY: `i` is the last index of `frames`, which is not empty.
                let f = unsafe { self.frames.get_unchecked(i) };
                (f.serial, f.node)
            }
            None => (0, ROOT),
        }
    }

    /// The serial of the top frame of a stack of `len` frames (0 for the empty one).
    #[inline(always)]
    fn serial_below(&self, len: usize) -> u32 {
        match len.checked_sub(1) {
            // SAFETY: `len` is the stack's length, so `i` is in bounds.
            Some(i) => unsafe { self.frames.get_unchecked(i).serial },
            None => 0,
        }
    }

    /// Leaves the innermost function.
    #[inline(always)]
    pub fn pop(&mut self) {
        match self.frames.pop() {
            Some(f) => {
                self.returned = f.pc;
                if f.node != UNRESOLVED {
                    self.remember(f.pc, f.node);
                }
            }
            None => self.returned = 0,
        }
    }

    /// The first memo entry of a child pc's set (Fibonacci hashing: the top bits of
    /// the product).
    #[inline(always)]
    fn memo_set(pc: u64) -> usize {
        let sets = (MEMO / WAYS).trailing_zeros();
        (pc.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - sets)) as usize * WAYS
    }

    /// The node of frame `pc` pushed on the `len` frames below it, if it returned
    /// lately to the frame under it (see `memo`); else `UNRESOLVED`.
    #[inline(always)]
    fn recall(&self, pc: u64, len: usize) -> u32 {
        let (set, below) = (Self::memo_set(pc), self.serial_below(len));
        // A set never holds one pc twice: if the first entry is this pc's, the second
        // is not looked at (a recursive call, pushed under a new frame each time).
        let (p, serial, node) = self.memo[set];
        if p == pc {
            return if serial == below { node } else { UNRESOLVED };
        }
        match self.memo[set + 1] {
            (p, serial, node) if p == pc && serial == below => node,
            _ => UNRESOLVED,
        }
    }

    /// Records the node of frame `pc`, which just returned to the top frame, first in
    /// its set.
    #[inline(always)]
    fn remember(&mut self, pc: u64, node: u32) {
        let serial = self.serial_below(self.frames.len());
        let set = Self::memo_set(pc);
        if self.memo[set].0 != pc {
            self.memo[set + 1] = self.memo[set];
        }
        self.memo[set] = (pc, serial, node);
    }

    /// Leaves the function entered at `depth`: frames entered deeper than it, left
    /// behind by a recovered panic, go too. A callee's frame is always at least 16
    /// bytes deeper than its caller's (return address and frame), so depths within
    /// [`EXIT_SLACK`] bytes of `depth` are taken as the exiting frame itself. A frame
    /// entered at an unknown depth is only ever popped as the innermost one.
    #[inline(always)]
    pub fn exit(&mut self, depth: u32) {
        self.exit_within(Self::exit_limit(depth));
    }

    /// The deepest entry depth that matches an exit from a function entered at
    /// `depth` (0: unknown, so any).
    #[inline(always)]
    pub fn exit_limit(depth: u32) -> u64 {
        match depth {
            0 => u64::MAX,
            d => u64::from(d) + u64::from(EXIT_SLACK),
        }
    }

    /// [`Self::exit`] for a function whose entry depth is at most `limit`: frames
    /// entered deeper are the ones a recovered panic abandoned.
    #[inline(always)]
    pub fn exit_within(&mut self, limit: u64) {
        if self
            .frames
            .last()
            .is_some_and(|f| u64::from(f.depth) > limit)
        {
            return self.exit_abandoned(limit);
        }
        self.pop();
    }

    /// [`Self::exit`] when the top frame is deeper than the exiting function's: the
    /// frames a recovered panic abandoned go first.
    #[cold]
    #[inline(never)]
    fn exit_abandoned(&mut self, limit: u64) {
        while self
            .frames
            .last()
            .is_some_and(|f| u64::from(f.depth) > limit)
        {
            self.frames.pop();
        }
        self.pop();
    }

    pub fn depth(&self) -> usize {
        self.frames.len()
    }

    /// The return address of the frame popped last, if nothing was pushed since: a pc
    /// in the innermost function, just after a call.
    pub fn returned_to(&self) -> Option<u64> {
        (self.returned != 0).then_some(self.returned)
    }

    /// Return addresses, outermost first.
    /// No function entered (the goroutine's outermost instrumented function returned).
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub fn pcs(&self) -> impl DoubleEndedIterator<Item = u64> + '_ {
        self.frames.iter().map(|f| f.pc)
    }

    /// The first site cache entry of `(parent, pc)`'s set in a cache of `len`
    /// entries (a wrapped, out-of-range index for an empty cache): the middle bits of
    /// a multiplicative hash, which every bit of both keys reaches (xor-folding put
    /// pcs of one function 128 bytes apart in one set).
    #[inline(always)]
    fn cache_set(pc: u64, parent: u32, len: usize) -> usize {
        let h = (pc ^ (u64::from(parent) << 40)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
        h as usize & len.wrapping_sub(WAYS)
    }

    /// The cached node for `(parent, pc)` if the cache has it in the first `ways`
    /// entries of its set (a hit costs a hash, a load and two compares: the per-access
    /// slow path's common case; [`Self::site`] looks at the first way only, and
    /// leaves both to [`Self::site_slow`]).
    #[inline(always)]
    fn cached(&self, parent: u32, pc: u64, ways: usize) -> Option<u32> {
        let set = Self::cache_set(pc, parent, self.cache.len());
        let entries = self.cache.get(set..set + ways)?;
        let hit = |e: &&CacheEntry| e.pc == pc && e.parent == parent && e.node < NO_ROOM;
        entries.iter().find(hit).map(|e| e.node)
    }

    /// Puts `e` first in the site cache set starting at `set`, the entry there moving
    /// second unless it had `e`'s key.
    #[inline(always)]
    fn cache_insert(&mut self, set: usize, e: CacheEntry) {
        let first = self.cache[set];
        if first.pc != e.pc || first.parent != e.parent {
            self.cache[set + 1] = first;
        }
        self.cache[set] = e;
    }

    /// `depot.try_intern` (or, with `FORCE`, `depot.intern`; `_site` variants for a
    /// `LEAF`) behind the cache, which also remembers misses (a full depot never makes
    /// those nodes later).
    #[inline]
    fn intern<const LEAF: bool, const FORCE: bool>(
        &mut self,
        depot: &StackDepot,
        parent: u32,
        pc: u64,
    ) -> Option<u32> {
        if self.cache.is_empty() {
            self.first_cache();
        }
        // Most nodes are kept inline in their parent's record: found there, the lookup
        // is one cache line (and a site lands in the cache for [`Self::site`]'s next
        // look; a frame found inline is found there again, and would only push a site
        // out). The cache serves the rest: nodes in the depot's overflow index, and
        // nodes a full depot will not make. A site looks in its cache set first when
        // the set's first way holds another site of the same frame: two sites of one
        // frame whose hashes share a set take turns in the first way, which is all
        // [`Self::site`] looks at (bigheap's five access pcs in one loop: a third of
        // its site lookups). A site of a new frame (trees) skips that look.
        let set = Self::cache_set(pc, parent, self.cache.len());
        let cached = |cache: &[CacheEntry]| {
            let hit =
                |e: &&CacheEntry| e.pc == pc && e.parent == parent && (e.node != NO_ROOM || !FORCE);
            cache[set..set + WAYS].iter().find(hit).map(|e| e.node)
        };
        if LEAF && self.cache[set].parent == parent {
            if let Some(node) = cached(&self.cache) {
                return (node != NO_ROOM).then_some(node);
            }
        }
        if let Some(node) = depot.find_inline(parent, pc) {
            if LEAF {
                self.cache_insert(set, CacheEntry { pc, parent, node });
            }
            return Some(node);
        }
        if !LEAF {
            if let Some(node) = cached(&self.cache) {
                return (node != NO_ROOM).then_some(node);
            }
        }
        bump(Stat::DepotLookup);
        let node = match (LEAF, FORCE) {
            (false, true) => depot.intern(parent, pc),
            (true, true) => depot.intern_site(parent, pc),
            (false, false) => depot.try_intern(parent, pc).unwrap_or(NO_ROOM),
            (true, false) => depot.try_intern_site(parent, pc).unwrap_or(NO_ROOM),
        };
        self.cache_insert(set, CacheEntry { pc, parent, node });
        self.misses += 1;
        if self.misses == SITE_CACHE_BIG as u32 {
            self.grow_cache();
        }
        (node != NO_ROOM).then_some(node)
    }

    /// Allocated on first use: many goroutines never record an access.
    #[cold]
    #[inline(never)]
    fn first_cache(&mut self) {
        self.cache = alloc::vec![EMPTY_ENTRY; SITE_CACHE_SMALL];
    }

    /// A goroutine doing real work (deep or recursive stacks) gets the big cache.
    #[cold]
    #[inline(never)]
    fn grow_cache(&mut self) {
        if self.cache.len() < SITE_CACHE_BIG {
            self.cache = alloc::vec![EMPTY_ENTRY; SITE_CACHE_BIG];
        }
    }

    /// The node of the current stack (all frames), `None` if the depot is full or the
    /// stack is deeper than [`KEPT_FRAMES`]. Each frame is resolved at most once,
    /// successfully or not.
    pub fn node(&mut self, depot: &StackDepot) -> Option<u32> {
        let top = match self.frames.last() {
            None => return Some(ROOT),
            Some(f) if f.node == NO_ROOM => return None,
            Some(f) if f.node != UNRESOLVED => return Some(f.node),
            Some(_) => self.frames.len() - 1,
        };
        let mut i = top;
        while i > 0 && self.frames[i - 1].node == UNRESOLVED {
            i -= 1;
        }
        let mut node = if i == 0 {
            ROOT
        } else {
            self.frames[i - 1].node
        };
        // Only frame `i` can be in the memo: a callee is remembered when it returns
        // resolved, and resolving it resolves its caller, so the callers above `i`,
        // unresolved until now, never had one.
        let mut recalled = self.recall(self.frames[i].pc, i);
        for j in i..=top {
            let pc = self.frames[j].pc;
            node = match recalled {
                _ if node == NO_ROOM || j >= KEPT_FRAMES => NO_ROOM,
                UNRESOLVED => self
                    .intern::<false, false>(depot, node, pc)
                    .unwrap_or(NO_ROOM),
                recalled => recalled,
            };
            self.frames[j].node = node;
            recalled = UNRESOLVED;
        }
        (node != NO_ROOM).then_some(node)
    }

    /// The pc of the last site computed.
    #[inline(always)]
    pub fn last_site_pc(&self) -> u64 {
        self.last_site.0
    }

    /// The site of an access at `pc` from the current stack if it is the last one
    /// computed (two compares): a byte loop's next byte.
    #[inline(always)]
    pub fn recent_site(&self, pc: u64) -> Option<u32> {
        let (last_pc, last_serial, last) = self.last_site;
        (pc == last_pc && self.serial_below(self.frames.len()) == last_serial).then_some(last)
    }

    /// The node of the current stack extended by `pc` (an access or a `go` statement).
    /// When the depot is full, only the innermost frame and `pc` are kept.
    ///
    /// Inline: the last site computed, if it was for this pc and stack. Else, under a
    /// frame whose node is not known yet, while the site cache pays
    /// ([`Self::hashing`]), its entry for the stack's key and pc
    /// ([`Self::site_hashed`]). Else, when the innermost frame's node is known (or
    /// recalled from the memo), the node cache's entry for it and the pc (one hash,
    /// one load and a compare). Everything else is [`Self::site_slow`]. A frame whose
    /// node is known never computes a key: bigheap's final loop, whose two sites
    /// alternate, ran 1.45 s with every site looked up by key, 1.05 s without.
    #[inline(always)]
    pub fn site(&mut self, depot: &StackDepot, pc: u64) -> u32 {
        let (serial, top) = self.top_frame();
        let (last_pc, last_serial, last) = self.last_site;
        if pc == last_pc && serial == last_serial {
            return last;
        }
        let site = if top == UNRESOLVED && self.hashing() {
            self.site_hashed(depot, pc)
        } else {
            let parent = match top {
                UNRESOLVED => self.recall_top(),
                known => known,
            };
            match self.cached(parent, pc, 1) {
                Some(site) if parent < NO_ROOM => site,
                _ => {
                    self.unhashed = self.unhashed.saturating_add(1);
                    self.site_slow(depot, pc)
                }
            }
        };
        self.last_site = (pc, serial, site);
        site
    }

    /// [`Self::site`] from the site cache: its entry for the stack's key and pc (a
    /// hit resolves no frame: deferrecover's frames are new on every round), else
    /// [`Self::site_missed`].
    #[inline(never)]
    fn site_hashed(&mut self, depot: &StackDepot, pc: u64) -> u32 {
        let key = frame_key(self.top_key(), pc);
        let set = Self::site_set(key, self.sites.len());
        match self.sites.get(set..set + WAYS) {
            Some(&[(k0, s0), (k1, s1)]) if k0 == key || k1 == key => {
                self.site_hits = self.site_hits.saturating_add(1);
                if k0 == key {
                    s0
                } else {
                    s1
                }
            }
            _ => self.site_missed(depot, pc, key),
        }
    }

    /// Whether [`Self::site`] looks in the site cache: once the goroutine has computed
    /// [`HASHING_AFTER`] sites the slow way (most goroutines never do: a short one
    /// allocates no cache), during its first [`SITE_CACHE_BIG`] misses, and after them
    /// while at least half of its lookups hit. A goroutine whose stacks never repeat
    /// (trees: every node is built under a stack of its own) stops paying for lookups
    /// and inserts that cannot hit.
    #[inline(always)]
    fn hashing(&self) -> bool {
        self.unhashed >= HASHING_AFTER
            && (self.site_misses < SITE_CACHE_BIG as u32 || self.site_hits >= self.site_misses)
    }

    /// The key of the innermost frame ([`ROOT_KEY`] for the empty stack).
    #[inline(always)]
    fn top_key(&mut self) -> u64 {
        let Some(top) = self.frames.len().checked_sub(1) else {
            return ROOT_KEY;
        };
        match self.keys.get(top) {
            Some(&(serial, key)) if serial == self.frames[top].serial => key,
            _ => self.compute_keys(),
        }
    }

    /// [`Self::top_key`] when the innermost frame's key is not known yet: computed for
    /// it and the frames under it whose keys are not, outermost first.
    #[inline(never)]
    fn compute_keys(&mut self) -> u64 {
        let n = self.frames.len();
        if self.keys.len() < n {
            // Serials start at 1, so a key stored as `(0, _)` is no frame's.
            self.keys.resize(n, (0, 0));
        }
        let (frames, keys) = (&self.frames[..n], &mut self.keys[..n]);
        let mut first = n;
        while first > 0 && keys[first - 1].0 != frames[first - 1].serial {
            first -= 1;
        }
        let mut key = match first {
            0 => ROOT_KEY,
            i => keys[i - 1].1,
        };
        for (f, k) in frames[first..].iter().zip(&mut keys[first..]) {
            key = frame_key(key, f.pc);
            *k = (f.serial, key);
        }
        key
    }

    /// The first entry of `key`'s set in a site cache of `len` entries (a wrapped,
    /// out-of-range index for an empty cache): the key's top bits, which every pc of
    /// the stack reaches.
    #[inline(always)]
    fn site_set(key: u64, len: usize) -> usize {
        (key >> 32) as usize & len.wrapping_sub(WAYS)
    }

    /// [`Self::site`] not in the site cache: computed by [`Self::site_slow`], then put
    /// first in its set. A goroutine's cache starts small and grows once it has missed
    /// [`SITE_CACHE_BIG`] times, as the node cache does.
    #[inline(never)]
    fn site_missed(&mut self, depot: &StackDepot, pc: u64, key: u64) -> u32 {
        let site = self.site_slow(depot, pc);
        if self.sites.is_empty() {
            self.sites = alloc::vec![NO_SITE; SITE_CACHE_SMALL];
        }
        self.site_misses = self.site_misses.saturating_add(1);
        if self.site_misses == SITE_CACHE_BIG as u32 && self.sites.len() < SITE_CACHE_BIG {
            self.sites = alloc::vec![NO_SITE; SITE_CACHE_BIG];
        }
        let set = Self::site_set(key, self.sites.len());
        if self.sites[set].0 != key {
            self.sites[set + 1] = self.sites[set];
        }
        self.sites[set] = (key, site);
        site
    }

    /// The innermost frame's node if known or recalled from the memo (and then kept in
    /// the frame), [`ROOT`] for the empty stack, else `UNRESOLVED` (what
    /// [`Self::site`] finds without resolving a frame).
    #[cfg(test)]
    fn top_node(&mut self) -> u32 {
        match self.top_frame() {
            (_, UNRESOLVED) => self.recall_top(),
            (_, node) => node,
        }
    }

    /// The node of the innermost frame, not resolved yet, if the memo has it (then
    /// kept in the frame), else `UNRESOLVED`.
    #[inline(never)]
    fn recall_top(&mut self) -> u32 {
        let top = self.frames.len() - 1;
        let node = self.recall(self.frames[top].pc, top);
        self.frames[top].node = node;
        node
    }

    #[inline(never)]
    fn site_slow(&mut self, depot: &StackDepot, pc: u64) -> u32 {
        bump(Stat::SiteSlow);
        let node = match self.frames.last() {
            Some(f) if f.node < NO_ROOM => Some(f.node),
            _ => self.node(depot),
        };
        // The cache set, then the frame's record: `intern`'s order for a site.
        if let Some(site) = node.and_then(|n| self.intern::<true, false>(depot, n, pc)) {
            return site;
        }
        let caller = self.frames.last().map_or(0, |f| f.pc);
        let top = self
            .intern::<false, true>(depot, TRUNCATED, caller)
            .unwrap_or(ROOT);
        self.intern::<true, true>(depot, top, pc).unwrap_or(ROOT)
    }
}

/// The stamp of a goroutine that holds no slot yet ([`Goroutine::attached`]): epoch 0,
/// which no cell carries, on slot 1, so that no cell matches it, not even an empty one
/// (slot 0, epoch 0). Every access of such a goroutine misses the fast path and reaches
/// a slow path, which attaches it first.
const UNATTACHED: u64 = Cell::stamp(1, 0);

/// Everything gorace knows about one goroutine.
pub struct Goroutine {
    /// Sequential id, in creation order; 0 is the main goroutine. Printed in reports.
    pub gid: u32,
    pub slot: Slot,
    /// Current epoch on `slot`; `clock[slot] >= epoch` always.
    pub epoch: Epoch,
    /// `Cell::stamp(slot, epoch)`, ready to be or-ed into new cells.
    pub stamp: u64,
    /// Whether a cell was stamped with `epoch` (decides slot reuse at exit).
    pub stamped: bool,
    pub clock: ThreadClock,
    pub stack: ShadowStack,
    /// Nesting depth of `ignore_sync_begin`.
    pub ignore_sync: u32,
    /// Stack-depot node of the `go` statement that created this goroutine.
    pub creation: u32,
    /// The epoch at which this goroutine's tenure on `slot` started (its journal entry).
    pub tenure: Epoch,
    /// Slots this goroutine held before moving on (preempted or exhausted), each with
    /// the start of its latest tenure there; their journals learn when it ends.
    pub moved_from: Vec<(Slot, Epoch)>,
    /// The goroutine's own Go stack `[lo, hi)`, refreshed by a function entry that
    /// finds it moved (empty until the first). Go's escape analysis moves every
    /// variable whose address another goroutine could learn to the heap, so accesses
    /// here can never race: they are neither checked nor remembered.
    pub own_stack: (usize, usize),
    /// What other threads may read about this goroutine (the leak check at exit).
    pub visible: Arc<Visible>,
    /// Go's `g`, once a function entry showed it (0 until then).
    gptr: usize,
    /// This context is an M's `g0` (timers run instrumented `time` code on the system
    /// stack): Go's symbolizer callback must not be called from it (its thunk would
    /// leave the thread's `g` set to `m.curg`), so nothing that symbolises runs for it.
    pub runs_on_g0: bool,
    /// A `TryLock`/`TryRLock` in progress (`detect_deadlocks`).
    pub pending_try: Option<crate::deadlock::PendingTry>,
}

impl Goroutine {
    pub fn new(gid: u32, clock: ThreadClock, creation: u32, visible: Arc<Visible>) -> Self {
        Goroutine {
            gid,
            slot: 0,
            epoch: 0,
            stamp: UNATTACHED,
            stamped: false,
            clock,
            stack: ShadowStack::new(),
            ignore_sync: 0,
            creation,
            tenure: 0,
            moved_from: Vec::new(),
            own_stack: (0, 0),
            visible,
            gptr: 0,
            runs_on_g0: false,
            pending_try: None,
        }
    }

    /// Makes a finished goroutine's state that of a new one, as [`Goroutine::new`]
    /// would, keeping its allocations (the stack's frames and site cache): starting a
    /// goroutine then allocates nothing but its [`Visible`]. The caller has given it
    /// its clock (copied in place, before the parent's next epoch).
    pub fn recycle(&mut self, gid: u32, creation: u32, visible: Arc<Visible>) {
        let Goroutine {
            gid: g_gid,
            slot,
            epoch,
            stamp,
            stamped,
            clock: _,
            stack,
            ignore_sync,
            creation: g_creation,
            tenure,
            moved_from,
            own_stack,
            visible: g_visible,
            gptr,
            runs_on_g0,
            pending_try,
        } = self;
        *g_gid = gid;
        (*slot, *epoch, *stamp, *stamped) = (0, 0, UNATTACHED, false);
        stack.reset();
        *ignore_sync = 0;
        *g_creation = creation;
        *tenure = 0;
        moved_from.clear();
        *own_stack = (0, 0);
        *g_visible = visible;
        (*gptr, *runs_on_g0, *pending_try) = (0, false, None);
    }

    /// Neither its `g` nor its running on a `g0` is known yet (true until its first
    /// function entry, and for a `g0`'s context ever after: the check is rare there).
    #[inline(always)]
    pub fn unseen(&self) -> bool {
        self.gptr == 0 && !self.runs_on_g0
    }

    /// Records Go's `g` for this goroutine (from a function entry); only the first one
    /// is published (a goroutine's `g` never changes). Whether this was the first.
    #[inline(always)]
    pub fn set_gptr(&mut self, gptr: usize) -> bool {
        if self.gptr != 0 {
            return false;
        }
        self.gptr = gptr;
        self.visible
            .gptr
            .store(gptr, core::sync::atomic::Ordering::Relaxed);
        true
    }

    /// The node of the current stack for a step without a pc of its own (an acquire,
    /// a release): the frames, plus the position in the innermost function if a call
    /// just returned there.
    pub fn step_site(&mut self, depot: &StackDepot) -> u32 {
        match self.stack.returned_to() {
            Some(pc) => self.stack.site(depot, pc),
            None => self.stack.node(depot).unwrap_or(ROOT),
        }
    }

    /// Whether `addr` is on the goroutine's own stack (see [`Goroutine::own_stack`]).
    #[inline(always)]
    pub fn on_own_stack(&self, addr: usize) -> bool {
        let (lo, hi) = self.own_stack;
        addr.wrapping_sub(lo) < hi.wrapping_sub(lo)
    }

    /// Whether the goroutine holds a slot (or has given up on one: exhausted epochs).
    /// A goroutine takes its slot when it first runs, not when it is created: a
    /// program may create thousands that wait to run, and each would hold one of the
    /// [`crate::clock::MAX_SLOTS`] slots, or preempt one, without using it.
    #[inline(always)]
    pub fn attached(&self) -> bool {
        self.epoch != 0
    }

    /// Moves to `epoch` on `slot`.
    pub fn set_epoch(&mut self, slot: Slot, epoch: Epoch) {
        self.slot = slot;
        self.epoch = epoch;
        self.stamp = Cell::stamp(slot, epoch);
        self.stamped = false;
        let known = self.clock.get(slot);
        self.clock.set(slot, known.max(epoch));
    }

    /// The last epoch of this goroutine's current slot that anybody can know about:
    /// the current one if a cell carries it, else the one before (last released).
    pub fn last_used_epoch(&self) -> Epoch {
        if self.stamped {
            self.epoch
        } else {
            self.epoch.saturating_sub(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_lazy_and_memoised() {
        let depot = StackDepot::new();
        let mut s = ShadowStack::new();
        s.push(0x100);
        s.push(0x200);
        assert_eq!(depot.len(), 0, "entering functions interns nothing");
        let site = s.site(&depot, 0x250);
        assert_eq!(depot.pcs(site), vec![0x250, 0x200, 0x100]);
        let n = depot.len();
        s.pop();
        s.push(0x300);
        let site2 = s.site(&depot, 0x350);
        assert_eq!(depot.pcs(site2), vec![0x350, 0x300, 0x100]);
        assert_eq!(
            depot.len(),
            n + 2,
            "the shared outer frame was not interned again"
        );
        s.pop();
        s.pop();
        assert_eq!(s.node(&depot), Some(ROOT));
    }

    #[test]
    fn a_function_called_again_keeps_its_node() {
        let depot = StackDepot::new();
        let mut s = ShadowStack::new();
        s.push(0x100);
        s.push(0x200);
        let first = s.site(&depot, 0x250);
        s.pop();
        s.push(0x200); // the same call again: resolved without the depot
        assert_ne!(s.top_node(), UNRESOLVED, "recalled");
        assert_eq!(Some(s.top_node()), s.node(&depot));
        let n = depot.len();
        assert_eq!(s.site(&depot, 0x250), first);
        assert_eq!(depot.len(), n);
        s.pop();
        s.pop(); // the memo moves to the outer frame
        s.push(0x300); // another caller at that depth: nothing restored
        s.push(0x200);
        assert_ne!(s.site(&depot, 0x250), first, "a different stack");
        assert_eq!(depot.pcs(s.site(&depot, 0x250)), vec![0x250, 0x200, 0x300]);
    }

    #[test]
    fn functions_called_in_turn_keep_their_nodes_under_their_caller_only() {
        let depot = StackDepot::new();
        let mut s = ShadowStack::new();
        s.push(0x100);
        s.push(0x200); // a loop body calling lock, a map access, unlock in turn
        let mut sites = Vec::new();
        for callee in [0x300, 0x400, 0x500] {
            s.push(callee);
            sites.push(s.site(&depot, callee + 0x10));
            s.pop();
        }
        let n = depot.len();
        for (i, callee) in [0x300, 0x400, 0x500].into_iter().enumerate() {
            s.push(callee);
            assert_ne!(s.top_node(), UNRESOLVED, "{callee:#x} recalled");
            assert_eq!(s.site(&depot, callee + 0x10), sites[i]);
            s.pop();
        }
        assert_eq!(depot.len(), n, "no new node");
        // The loop's frame returns and another function at its depth calls the same
        // callees: their nodes are not the remembered ones.
        s.pop();
        s.push(0x600);
        for (i, callee) in [0x300, 0x400, 0x500].into_iter().enumerate() {
            s.push(callee);
            let site = s.site(&depot, callee + 0x10);
            assert_ne!(site, sites[i]);
            assert_eq!(depot.pcs(site), vec![callee + 0x10, callee, 0x600, 0x100]);
            s.pop();
        }
        // Frames abandoned by a recovered panic go with their caller's exit, and the
        // memo with them.
        s.push(0x700);
        s.push(0x300);
        s.exit(0);
        assert_eq!(
            depot.pcs(s.site(&depot, 0x710)),
            vec![0x710, 0x700, 0x600, 0x100]
        );
    }

    #[test]
    fn callees_that_call_further_keep_their_nodes() {
        let depot = StackDepot::new();
        let mut s = ShadowStack::new();
        s.push(0x100);
        s.push(0x200); // a loop body calling lock and unlock, each calling further
        let round = |s: &mut ShadowStack| {
            let mut recalled = Vec::new();
            for callee in [0x300, 0x400] {
                s.push(callee);
                recalled.push(s.top_node() != UNRESOLVED);
                s.push(0x900); // a deeper call: its return no longer clears the memo
                s.site(&depot, 0x910);
                s.pop();
                s.site(&depot, callee + 0x10);
                s.pop();
            }
            recalled
        };
        assert_eq!(round(&mut s), [false, false]);
        let n = depot.len();
        assert_eq!(round(&mut s), [true, true], "both callees recalled");
        assert_eq!(depot.len(), n, "no new node");
        // Under a new instance of the loop's frame, nothing is recalled.
        s.pop();
        s.push(0x200);
        assert_eq!(round(&mut s), [false, false]);
    }

    #[test]
    fn callees_whose_pcs_share_a_memo_set_are_both_recalled() {
        let depot = StackDepot::new();
        let mut s = ShadowStack::new();
        s.push(0x100); // a loop body calling two functions in turn
        let a = 0x4000;
        let b = (a + 1..)
            .find(|&pc| ShadowStack::memo_set(pc) == ShadowStack::memo_set(a))
            .unwrap();
        let round = |s: &mut ShadowStack| {
            let mut recalled = Vec::new();
            for callee in [a, b] {
                s.push(callee);
                recalled.push(s.top_node() != UNRESOLVED);
                s.site(&depot, callee + 0x10);
                s.pop();
            }
            recalled
        };
        round(&mut s);
        let n = depot.len();
        for _ in 0..3 {
            assert_eq!(round(&mut s), [true, true], "{a:#x} and {b:#x} recalled");
        }
        assert_eq!(depot.len(), n, "no new node");
    }

    #[test]
    fn sites_whose_keys_share_a_cache_set_are_both_cached() {
        let depot = StackDepot::new();
        let mut s = ShadowStack::new();
        s.push(0x100);
        let first = s.site(&depot, 0x110);
        let parent = s.node(&depot).unwrap();
        let set = |pc| ShadowStack::cache_set(pc, parent, s.cache.len());
        let a = 0x5000;
        let b = (a + 1..).find(|&pc| set(pc) == set(a)).unwrap();
        let (site_a, site_b) = (s.site(&depot, a), s.site(&depot, b));
        assert_eq!(s.cached(parent, b, 1), Some(site_b), "the newest first");
        assert_eq!(s.cached(parent, a, 1), None);
        assert_eq!(
            s.cached(parent, a, WAYS),
            Some(site_a),
            "the older one second"
        );
        // Both come back from the cache again and again, in turn (the last site
        // computed aside), without a depot lookup.
        let n = depot.len();
        for _ in 0..3 {
            assert_eq!(s.site(&depot, a), site_a);
            assert_eq!(s.site(&depot, b), site_b);
        }
        assert_eq!(s.cached(parent, a, WAYS), Some(site_a));
        assert_eq!(s.cached(parent, b, WAYS), Some(site_b));
        assert_eq!(depot.len(), n);
        assert_ne!(first, site_a);
    }

    #[test]
    fn serials_that_wrap_renumber_the_stack() {
        let depot = StackDepot::new();
        let mut s = ShadowStack::new();
        s.push(0x100);
        s.push(0x200);
        s.serial = u32::MAX; // the next push wraps
        s.push(0x300);
        let serials: Vec<u32> = s.frames.iter().map(|f| f.serial).collect();
        assert_eq!(serials, [1, 2, 3], "renumbered from 1, the new frame last");
        let site = s.site(&depot, 0x310);
        s.pop();
        s.push(0x400); // another callee in between: 0x300 comes back from the memo
        s.pop();
        s.push(0x300);
        assert_ne!(
            s.top_node(),
            UNRESOLVED,
            "the memo works under the new numbers"
        );
        assert_eq!(s.site(&depot, 0x310), site);
        assert_eq!(s.frames.last().map(|f| f.serial), Some(5));
    }

    #[test]
    fn a_full_depot_keeps_the_innermost_frame() {
        let depot = StackDepot::new();
        depot.set_soft_cap(16);
        let mut s = ShadowStack::new();
        for pc in 1..=40 {
            s.push(pc * 0x10); // deep recursion: one new node per frame
        }
        let site = s.site(&depot, 0x999);
        assert_eq!(depot.stack(site), (vec![0x999, 40 * 0x10], true));
        assert_eq!(s.site(&depot, 0x999), site, "and the same one next time");
        let n = depot.len();
        for _ in 0..100 {
            s.site(&depot, 0x999);
        }
        assert_eq!(depot.len(), n, "no node is tried again");
        s.push(0x5000);
        let deeper = s.site(&depot, 0x777);
        assert_eq!(depot.stack(deeper), (vec![0x777, 0x5000], true));
    }

    #[test]
    fn frames_deeper_than_kept_frames_share_their_sites() {
        let depot = StackDepot::new();
        let mut s = ShadowStack::new();
        // Recursion through two call sites, as a recursive decoder's value/array pair.
        let pc = |depth: usize| 0x100 + 0x10 * (depth as u64 % 2);
        for d in 0..KEPT_FRAMES {
            s.push(pc(d));
        }
        let kept = s.site(&depot, 0x999);
        let (pcs, truncated) = depot.stack(kept);
        assert_eq!((pcs.len(), truncated), (KEPT_FRAMES + 1, false));
        let nodes = depot.len();
        let mut sites = Vec::new();
        for d in KEPT_FRAMES..KEPT_FRAMES + 100 {
            s.push(pc(d));
            sites.push(s.site(&depot, 0x999));
        }
        // Beyond the cap a site is its innermost frame and the access: one per call
        // site, whatever the depth, so one goroutine's cells there can merge.
        assert_eq!(depot.stack(sites[0]), (vec![0x999, pc(KEPT_FRAMES)], true));
        assert_eq!(sites[0], sites[2]);
        assert_eq!(sites[1], sites[3]);
        assert!(
            depot.len() <= nodes + 4,
            "{} new nodes",
            depot.len() - nodes
        );
        // Back within the cap, the stack is whole again.
        for _ in 0..100 {
            s.pop();
        }
        assert_eq!(s.site(&depot, 0x999), kept);
    }

    /// deferrecover's round: `round` calls `fail`, which panics; the deferred closure
    /// runs on top of `fail`'s frame and stores a cell, then `round` returns and takes
    /// the abandoned frames with it. No frame is ever recalled from the memo.
    fn panicking_round(s: &mut ShadowStack, depot: &StackDepot, caller: u64) -> u32 {
        s.enter(caller, 128); // round()
        s.enter(0x300, 192); // fail(): never exits
        s.enter(0x400, 256); // the deferred closure
        let site = s.site(depot, 0x450);
        s.exit(256);
        s.exit(128);
        site
    }

    #[test]
    fn a_stack_seen_before_gets_its_site_from_the_site_cache_without_lookups() {
        let depot = StackDepot::new();
        let mut s = ShadowStack::new();
        s.enter(0x100, 64);
        let site = panicking_round(&mut s, &depot, 0x200);
        assert_eq!(depot.pcs(site), vec![0x450, 0x400, 0x300, 0x200, 0x100]);
        for _ in 0..HASHING_AFTER + 10 {
            assert_eq!(panicking_round(&mut s, &depot, 0x200), site);
        }
        assert!(s.hashing(), "the cache is in use");
        let hits = s.site_hits;
        assert!(hits >= 10, "{hits} hits");
        // A hit resolves no frame: the frames of the last round are unresolved.
        s.enter(0x200, 128);
        s.enter(0x300, 192);
        s.enter(0x400, 256);
        assert_eq!(s.site(&depot, 0x450), site);
        assert_eq!(s.site_hits, hits + 1);
        assert!(s.frames.iter().skip(1).all(|f| f.node == UNRESOLVED));
        // Another stack under the same three frames has a site of its own.
        s.exit(128);
        let other = panicking_round(&mut s, &depot, 0x280);
        assert_eq!(depot.pcs(other), vec![0x450, 0x400, 0x300, 0x280, 0x100]);
        assert_eq!(panicking_round(&mut s, &depot, 0x280), other);
        assert_eq!(panicking_round(&mut s, &depot, 0x200), site);
    }

    #[test]
    fn sites_under_a_frame_whose_node_is_known_are_not_looked_up_by_key() {
        let depot = StackDepot::new();
        let mut s = ShadowStack::new();
        s.unhashed = HASHING_AFTER; // the cache in use from the start
        s.enter(0x100, 64);
        s.enter(0x200, 128);
        // The frame's first site is looked up by key (a miss), and resolves the frame.
        let first = s.site(&depot, 0x250);
        assert_eq!((s.site_hits, s.site_misses), (0, 1));
        assert_ne!(s.frames[1].node, UNRESOLVED);
        // Two sites of the frame in turn (bigheap's final loop): the node cache's.
        for _ in 0..10 {
            assert_eq!(depot.pcs(s.site(&depot, 0x260)), vec![0x260, 0x200, 0x100]);
            assert_eq!(s.site(&depot, 0x250), first);
        }
        assert_eq!((s.site_hits, s.site_misses), (0, 1), "no key lookup");
    }

    #[test]
    fn stacks_that_never_repeat_turn_the_site_cache_off() {
        let depot = StackDepot::new();
        let mut s = ShadowStack::new();
        s.enter(0x100, 64);
        // Every round under a caller of its own: every lookup misses.
        for round in 0..(HASHING_AFTER + SITE_CACHE_BIG as u32 + 10) {
            let caller = 0x10_000 + 0x10 * u64::from(round);
            let site = panicking_round(&mut s, &depot, caller);
            assert_eq!(depot.pcs(site), vec![0x450, 0x400, 0x300, caller, 0x100]);
        }
        assert!(!s.hashing(), "no lookup hit: the cache is off");
        assert_eq!(s.site_hits, 0);
        // Sites stay right without it.
        let site = panicking_round(&mut s, &depot, 0x200);
        assert_eq!(depot.pcs(site), vec![0x450, 0x400, 0x300, 0x200, 0x100]);
    }

    #[test]
    fn keys_do_not_outlive_their_frames() {
        let depot = StackDepot::new();
        let mut s = ShadowStack::new();
        s.unhashed = HASHING_AFTER; // the cache in use from the start
        s.enter(0x100, 64);
        s.enter(0x200, 128);
        let a = s.site(&depot, 0x250);
        s.exit(128);
        // Another frame at the same index: its key is computed anew.
        s.enter(0x300, 128);
        let b = s.site(&depot, 0x250);
        assert_eq!(depot.pcs(b), vec![0x250, 0x300, 0x100]);
        assert_ne!(a, b);
        // A recycled stack starts with no keys (its serials start again from 1).
        s.reset();
        s.unhashed = HASHING_AFTER;
        s.enter(0x500, 64);
        s.enter(0x600, 128);
        assert_eq!(depot.pcs(s.site(&depot, 0x250)), vec![0x250, 0x600, 0x500]);
    }

    #[test]
    fn exit_drops_frames_abandoned_by_a_recovered_panic() {
        let mut s = ShadowStack::new();
        s.enter(0x100, 64); // main
        s.enter(0x200, 128); // round(): defers a recover
        for d in 1..=4 {
            s.enter(0x300, 128 + 64 * d); // deep(): panics at the bottom, never exits
        }
        s.enter(0x400, 512); // the deferred closure runs on top and exits normally
        s.exit(512);
        assert_eq!(s.depth(), 6);
        s.exit(128); // round() returns after recovering
        assert_eq!(s.depth(), 1, "the four abandoned frames went with it");
        assert_eq!(s.pcs().collect::<Vec<_>>(), vec![0x100]);
        s.exit(0);
        assert_eq!(s.depth(), 0);
    }
}
