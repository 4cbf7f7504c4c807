//! The reference model: happens-before race detection done the obviously correct, slow
//! way.
//!
//! - Goroutines are identified by their goroutine id, never by slot; vector clocks are
//!   unbounded (one entry per goroutine ever created).
//! - A goroutine's own entry counts its *epochs*: it advances after every release (and
//!   after a `go` statement), so an access stamped `(gid, epoch)` happens-before
//!   goroutine `h` exactly when `h.clock[gid] >= epoch` (DJIT+).
//! - Every access ever made is kept as a [`Rec`], and every byte of memory keeps the
//!   list of all accesses that touched it since it was last allocated (the *history*).
//!   Nothing is ever evicted, replaced or merged.
//! - Sync objects are one clock per exact address, as in the engine.
//!
//! Two accesses race iff they touch a common byte, at least one writes, not both are
//! atomic, and the earlier one does not happen-before the later one.
//!
//! Besides the history, the model keeps a second per-byte list, *remembered*, that
//! mirrors the engine's reporting discipline (see [`Reference::access`]); the property
//! tests explain why they need both.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

use crate::cell::Kind;
use crate::detector::AtomicOp;

/// Goroutine id, as the engine numbers them: 0 is the `init_goroutine` context, then
/// 1, 2, ... in creation order.
pub type Gid = u32;

/// An unbounded vector clock indexed by goroutine id (missing entries are 0).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VClock(Vec<u32>);

impl VClock {
    pub fn get(&self, g: Gid) -> u32 {
        self.0.get(g as usize).copied().unwrap_or(0)
    }

    pub fn set(&mut self, g: Gid, v: u32) {
        let i = g as usize;
        if self.0.len() <= i {
            self.0.resize(i + 1, 0);
        }
        self.0[i] = v;
    }

    /// `self = max(self, other)`.
    pub fn join(&mut self, other: &VClock) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a = (*a).max(*b);
        }
    }
}

/// A goroutine of the model.
#[derive(Clone, Debug)]
pub struct RefGoroutine {
    pub gid: Gid,
    pub clock: VClock,
    pub ignore_sync: u32,
    pub alive: bool,
    /// Shadow call stack, outermost first.
    pub frames: Vec<u64>,
    /// The `go` statement's stack, innermost first (empty for goroutine 0).
    pub creation: Vec<u64>,
}

impl RefGoroutine {
    pub fn epoch(&self) -> u32 {
        self.clock.get(self.gid)
    }

    fn advance(&mut self) {
        let e = self.epoch() + 1;
        self.clock.set(self.gid, e);
    }

    /// The stack of an access at `pc`, innermost first.
    fn stack_at(&self, pcs: &[u64]) -> Vec<u64> {
        pcs.iter()
            .copied()
            .chain(self.frames.iter().rev().copied())
            .collect()
    }
}

/// One access, as it happened.
#[derive(Clone, Debug)]
pub struct Rec {
    /// Index of the event (in the harness's numbering) that made the access.
    pub event: usize,
    pub gid: Gid,
    pub epoch: u32,
    /// Bytes `[lo, hi)`.
    pub lo: usize,
    pub hi: usize,
    pub kind: Kind,
    /// Call stack, innermost (the access pc) first.
    pub stack: Vec<u64>,
}

/// The part of an access inside one 8-byte granule, and who it races with.
#[derive(Clone, Debug)]
pub struct Portion {
    /// First byte of the portion (what the engine prints as the access address).
    pub addr: usize,
    pub len: usize,
    /// Every earlier access in the history of these bytes that races with this one.
    pub racers: Vec<usize>,
}

/// What the model says about one access.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// Index of the access in [`Reference::recs`].
    pub rec: usize,
    /// The access split at granule boundaries, in address order, with the truth about
    /// each part.
    pub portions: Vec<Portion>,
    /// Under the engine's reporting discipline: the first portion racing with a
    /// *remembered* access, as `(portion index, racing remembered accesses)`.
    pub first_race: Option<(usize, Vec<usize>)>,
}

/// The reference model. See the module documentation.
#[derive(Clone, Debug)]
pub struct Reference {
    pub gs: Vec<RefGoroutine>,
    syncs: BTreeMap<usize, VClock>,
    pub recs: Vec<Rec>,
    history: BTreeMap<usize, Vec<usize>>,
    remembered: BTreeMap<usize, Vec<usize>>,
}

impl Default for Reference {
    fn default() -> Self {
        Self::new()
    }
}

impl Reference {
    /// A model with goroutine 0 (the `init_goroutine` context) alive.
    pub fn new() -> Self {
        let mut g0 = RefGoroutine {
            gid: 0,
            clock: VClock::default(),
            ignore_sync: 0,
            alive: true,
            frames: Vec::new(),
            creation: Vec::new(),
        };
        g0.clock.set(0, 1);
        Reference {
            gs: vec![g0],
            syncs: BTreeMap::new(),
            recs: Vec::new(),
            history: BTreeMap::new(),
            remembered: BTreeMap::new(),
        }
    }

    fn g(&mut self, gid: Gid) -> &mut RefGoroutine {
        let g = &mut self.gs[gid as usize];
        assert!(g.alive, "goroutine {gid} used after its end");
        g
    }

    /// A `go` statement at `pc` in `parent` (`None`: started by the runtime, knowing
    /// nothing). The child starts with a copy of the parent's clock; the parent then
    /// advances, so its later steps are not ordered before the child.
    pub fn go_start(&mut self, parent: Option<Gid>, pc: u64) -> Gid {
        let gid = self.gs.len() as Gid;
        let (mut clock, creation) = match parent {
            Some(p) => {
                let p = self.g(p);
                let c = (p.clock.clone(), p.stack_at(&[pc]));
                p.advance();
                c
            }
            None => (VClock::default(), vec![pc]),
        };
        clock.set(gid, 1);
        self.gs.push(RefGoroutine {
            gid,
            clock,
            ignore_sync: 0,
            alive: true,
            frames: Vec::new(),
            creation,
        });
        gid
    }

    /// The goroutine ended. Nothing is released.
    pub fn go_end(&mut self, gid: Gid) {
        self.g(gid).alive = false;
    }

    pub fn func_enter(&mut self, gid: Gid, pc: u64) {
        self.g(gid).frames.push(pc);
    }

    pub fn func_exit(&mut self, gid: Gid) {
        self.g(gid).frames.pop();
    }

    pub fn ignore_sync_begin(&mut self, gid: Gid) {
        self.g(gid).ignore_sync += 1;
    }

    pub fn ignore_sync_end(&mut self, gid: Gid) {
        let g = self.g(gid);
        g.ignore_sync = g.ignore_sync.saturating_sub(1);
    }

    fn sync_ignored(&mut self, gid: Gid) -> bool {
        self.g(gid).ignore_sync > 0
    }

    /// `clock = max(clock, sync[a])` if something was released at `a`.
    pub fn acquire(&mut self, gid: Gid, a: usize) {
        if self.sync_ignored(gid) {
            return;
        }
        if let Some(s) = self.syncs.get(&a) {
            self.gs[gid as usize].clock.join(s);
        }
    }

    /// `sync[a] = clock`, then advance.
    pub fn release(&mut self, gid: Gid, a: usize) {
        if self.sync_ignored(gid) {
            return;
        }
        let g = &mut self.gs[gid as usize];
        self.syncs.insert(a, g.clock.clone());
        g.advance();
    }

    /// `sync[a] = max(sync[a], clock)`, then advance.
    pub fn release_merge(&mut self, gid: Gid, a: usize) {
        if self.sync_ignored(gid) {
            return;
        }
        let g = &mut self.gs[gid as usize];
        self.syncs.entry(a).or_default().join(&g.clock);
        g.advance();
    }

    /// `tmp = sync[a]; sync[a] = clock; clock = max(clock, tmp)`, then advance.
    pub fn release_acquire(&mut self, gid: Gid, a: usize) {
        if self.sync_ignored(gid) {
            return;
        }
        let g = &mut self.gs[gid as usize];
        if let Some(old) = self.syncs.insert(a, g.clock.clone()) {
            g.clock.join(&old);
        }
        g.advance();
    }

    /// `clock = max(clock, sync[a]); sync[a] = max(sync[a], clock)`, then advance.
    pub fn acquire_release(&mut self, gid: Gid, a: usize) {
        if self.sync_ignored(gid) {
            return;
        }
        let g = &mut self.gs[gid as usize];
        let s = self.syncs.entry(a).or_default();
        g.clock.join(s);
        s.join(&g.clock);
        g.advance();
    }

    /// Everything every goroutine did so far happens-before `gid`'s next steps (and
    /// nothing they do from now on: the others advance).
    pub fn acquire_global(&mut self, gid: Gid) {
        let mut all = VClock::default();
        for h in &mut self.gs {
            all.join(&h.clock);
            if h.alive && h.gid != gid {
                h.advance();
            }
        }
        self.g(gid).clock.join(&all);
    }

    /// An access of `[addr, addr+len)` at `pc`. See [`Reference::access_with_stack`].
    pub fn access(
        &mut self,
        gid: Gid,
        addr: usize,
        len: usize,
        kind: Kind,
        event: usize,
        pc: u64,
    ) -> Verdict {
        let stack = self.g(gid).stack_at(&[pc]);
        self.access_with_stack(gid, addr, len, kind, event, stack)
    }

    /// Whether access `r` races with an access of `kind` by `gid` now.
    fn conflicts(&self, r: usize, gid: Gid, kind: Kind) -> bool {
        let r = &self.recs[r];
        let both_read = r.kind.is_read() && kind.is_read();
        let both_atomic = r.kind.is_atomic() && kind.is_atomic();
        let hb = self.gs[gid as usize].clock.get(r.gid) >= r.epoch;
        !both_read && !both_atomic && !hb
    }

    fn racers_in(
        &self,
        lists: &BTreeMap<usize, Vec<usize>>,
        bytes: core::ops::Range<usize>,
        gid: Gid,
        kind: Kind,
    ) -> Vec<usize> {
        let mut out: Vec<usize> = lists
            .range(bytes)
            .flat_map(|(_, l)| l.iter().copied())
            .filter(|&r| self.conflicts(r, gid, kind))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// An access of `[addr, addr+len)` by `gid`.
    ///
    /// The truth ([`Portion::racers`]) is computed against the full history. The
    /// *remembered* lists follow the engine's documented reporting discipline, which
    /// the comparison of verdicts needs (see the property tests): a range is checked
    /// granule by granule, in address order; at the first granule where it races with
    /// a remembered access the race is reported and the rest of the access (that
    /// granule included) is not remembered; the parts before it are. A scalar access
    /// is a range within one granule.
    pub fn access_with_stack(
        &mut self,
        gid: Gid,
        addr: usize,
        len: usize,
        kind: Kind,
        event: usize,
        stack: Vec<u64>,
    ) -> Verdict {
        let g = &self.gs[gid as usize];
        assert!(g.alive, "goroutine {gid} used after its end");
        let id = self.recs.len();
        self.recs.push(Rec {
            event,
            gid,
            epoch: g.epoch(),
            lo: addr,
            hi: addr + len,
            kind,
            stack,
        });
        let end = addr + len;
        let mut portions = Vec::new();
        let mut a = addr;
        while a < end {
            let n = ((a & !7) + 8).min(end) - a;
            let racers = self.racers_in(&self.history, a..a + n, gid, kind);
            portions.push(Portion {
                addr: a,
                len: n,
                racers,
            });
            a += n;
        }
        let mut first_race = None;
        for (i, p) in portions.iter().enumerate() {
            let racers = self.racers_in(&self.remembered, p.addr..p.addr + p.len, gid, kind);
            if !racers.is_empty() {
                first_race = Some((i, racers));
                break;
            }
            for b in p.addr..p.addr + p.len {
                self.remembered.entry(b).or_default().push(id);
            }
        }
        for b in addr..end {
            self.history.entry(b).or_default().push(id);
        }
        Verdict {
            rec: id,
            portions,
            first_race,
        }
    }

    /// An atomic operation of `size` bytes at `addr`: loads, read-modify-writes and
    /// compare-and-swaps first acquire what they observe (the Go memory model: an
    /// atomic that observes another is synchronised after it), then comes the atomic
    /// access (a read for loads, a write otherwise, failed compare-and-swaps
    /// included), then stores release (store), read-modify-writes and successful
    /// compare-and-swaps release (merge). Inside `ignore_sync` nothing at all happens
    /// (`None`).
    #[allow(clippy::too_many_arguments)]
    pub fn atomic(
        &mut self,
        gid: Gid,
        addr: usize,
        size: usize,
        op: AtomicOp,
        wrote: bool,
        event: usize,
        (callerpc, pc): (u64, u64),
    ) -> Option<Verdict> {
        if self.sync_ignored(gid) {
            return None;
        }
        let kind = if op == AtomicOp::Load {
            Kind::AtomicRead
        } else {
            Kind::AtomicWrite
        };
        if op != AtomicOp::Store {
            self.acquire(gid, addr);
        }
        let stack = self.g(gid).stack_at(&[pc, callerpc]);
        let v = self.access_with_stack(gid, addr, size, kind, event, stack);
        match op {
            AtomicOp::Store => self.release(gid, addr),
            AtomicOp::ReadModifyWrite => self.release_merge(gid, addr),
            AtomicOp::CompareAndSwap if wrote => self.release_merge(gid, addr),
            AtomicOp::Load | AtomicOp::CompareAndSwap => {}
        }
        Some(v)
    }

    /// `[addr, addr+size)` was allocated: forget every access to it.
    pub fn malloc(&mut self, addr: usize, size: usize) {
        for b in addr..addr + size {
            self.history.remove(&b);
            self.remembered.remove(&b);
        }
    }

    /// `[addr, addr+size)` was freed: forget what was released there.
    pub fn free(&mut self, addr: usize, size: usize) {
        self.syncs.retain(|&a, _| !(addr..addr + size).contains(&a));
    }

    /// Accesses to byte `b` since it was last allocated.
    pub fn history(&self, b: usize) -> &[usize] {
        self.history.get(&b).map_or(&[], |l| &l[..])
    }

    /// The access made by `event`, if that event made one.
    pub fn rec_of_event(&self, event: usize) -> Option<usize> {
        let i = self.recs.partition_point(|r| r.event < event);
        (self.recs.get(i)?.event == event).then_some(i)
    }

    /// Whether access `r` happens-before the current step of `gid`.
    pub fn happens_before(&self, r: usize, gid: Gid) -> bool {
        let r = &self.recs[r];
        self.gs[gid as usize].clock.get(r.gid) >= r.epoch
    }
}
