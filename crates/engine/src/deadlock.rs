//! Deadlock prediction (`detect_deadlocks`): lock-order inversions over the whole run,
//! recursive read locks and double locks, reported when the lock is requested, before
//! the program can hang.
//!
//! # Seeing lock operations
//!
//! The race ABI has no lock events: a `sync.Mutex` shows as atomics on its state word
//! and acquire/release on its address. The atomics carry their caller's pc, and that
//! caller says what the operation is ([`classify`], once per pc): the compare-and-swap
//! of `(*Mutex).Lock` is a lock request, the add of `(*Mutex).Unlock` an unlock, the
//! `readerCount` adds of `(*RWMutex).RLock` and `RUnlock` the read side (`readerCount`
//! sits [`READER_COUNT`] bytes into the RWMutex). `RWMutex.Lock` and `Unlock` go
//! through its inner Mutex, which is its first field: the same address, so one lock.
//! A `TryLock` counts once it succeeded, which the acquire that follows says.
//!
//! # The graph
//!
//! [`LockGraph`] keeps each goroutine's held locks and an edge `A → B` whenever `B` is
//! requested while `A` is held, with the goroutine and both acquisition stacks of the
//! first time. A new edge that closes a cycle (`B` reaches `A`) is a potential
//! deadlock, of any length. Go mutexes are not owned: an unlock takes the lock out of
//! whichever goroutine's set holds it. Edges are deduplicated by lock pair and dropped
//! with their locks when the memory is freed.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use hashbrown::{HashMap, HashSet};

use crate::report::{write_frames, Frame, Style};

/// `RWMutex.readerCount` offset (after `w Mutex`, `writerSem`, `readerSem`), Go 1.21
/// to 1.27.
pub const READER_COUNT: usize = 16;
/// `RWMutex.readerSem` offset, the address `RLock` and `TryRLock` acquire.
pub const READER_SEM: usize = 12;

/// What an atomic operation is, by its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockOp {
    None,
    /// Inside `sync/atomic` (a typed method): its caller says.
    Atomic,
    Lock,
    TryLock,
    Unlock,
    RLock,
    TryRLock,
    RUnlock,
}

/// The lock operation an atomic called from these frames (innermost first, as
/// symbolised, inlined functions included) belongs to.
pub fn classify(frames: &[Frame]) -> LockOp {
    let Some(f) = frames.iter().find(|f| !f.func.starts_with("sync/atomic.")) else {
        return LockOp::None;
    };
    let method = f
        .func
        .strip_prefix("internal/sync.(*Mutex).")
        .or_else(|| f.func.strip_prefix("sync.(*Mutex)."));
    if let Some(m) = method {
        return match m {
            "Lock" => LockOp::Lock,
            "TryLock" => LockOp::TryLock,
            "Unlock" => LockOp::Unlock,
            _ => LockOp::None,
        };
    }
    match f.func.strip_prefix("sync.(*RWMutex).") {
        Some("RLock") => LockOp::RLock,
        Some("TryRLock") => LockOp::TryRLock,
        Some("RUnlock") => LockOp::RUnlock,
        _ => LockOp::None,
    }
}

/// A `TryLock` or `TryRLock` whose outcome the next acquire tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingTry {
    /// The address the runtime acquires if it succeeded.
    pub acquire: usize,
    pub lock: usize,
    pub mode: Mode,
    pub site: u32,
}

/// Whether `func` is in the packages lock operations run through (`sync`,
/// `internal/sync`, `sync/atomic`), none of which the compiler gives function-entry
/// instrumentation.
pub fn is_sync_internal(func: &str) -> bool {
    ["sync.", "internal/sync.", "sync/atomic."]
        .iter()
        .any(|p| func.starts_with(p))
}

/// Whether `func` is in the standard library: the first element of its package path
/// has no dot and is not `main` (`os/exec.(*Cmd).Start`, `sync_test.TestX`), unlike
/// a module's (`example.com/m.F`).
pub fn is_std(func: &str) -> bool {
    let pkg = crate::leak::package(func);
    let first = pkg.split('/').next().unwrap_or(pkg);
    !first.contains('.') && first != "main"
}

/// Whether an acquisition stack (innermost first) is the standard library's own: its
/// first frame past the lock's own methods and the runtime is.
pub fn std_acquisition(frames: &[Frame]) -> bool {
    frames
        .iter()
        .find(|f| !is_sync_internal(&f.func) && crate::leak::package(&f.func) != "runtime")
        .is_some_and(|f| is_std(&f.func))
}

impl Finding {
    /// The stack-depot nodes of every acquisition the finding names.
    pub fn sites(&self) -> Vec<u32> {
        match self {
            Finding::DoubleLock {
                site, held_site, ..
            }
            | Finding::RecursiveRead {
                site, held_site, ..
            }
            | Finding::HeldByFinished {
                site, held_site, ..
            } => alloc::vec![*site, *held_site],
            Finding::Cycle { edges } => edges
                .iter()
                .flat_map(|e| [e.from_site, e.to_site])
                .collect(),
        }
    }
}

/// How a lock is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    Write,
    Read,
}

#[derive(Clone, Copy, Debug)]
struct Held {
    lock: usize,
    mode: Mode,
    /// Stack-depot node of the acquisition.
    site: u32,
}

/// A lock a finished goroutine still holds, and the first request for it since.
#[derive(Clone, Copy, Debug)]
struct Orphan {
    holder: u32,
    held: Held,
    /// Goroutine and site.
    waiter: Option<(u32, u32)>,
}

impl Orphan {
    /// The report of `waiter` waiting on this hold of `lock` (`rw`: an RWMutex).
    fn finding(&self, lock: usize, (gid, site): (u32, u32), rw: bool) -> Finding {
        Finding::HeldByFinished {
            lock,
            gid,
            site,
            holder: self.holder,
            held_site: self.held.site,
            rw,
        }
    }
}

/// The first time `to` was requested while `from` was held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub gid: u32,
    /// Where `from` was acquired, and where `to` was requested.
    pub from_site: u32,
    pub to_site: u32,
}

/// Something worth a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// `Lock` (or `RLock`) of a lock the goroutine already holds for writing, or `Lock`
    /// of one it holds for reading.
    DoubleLock {
        lock: usize,
        gid: u32,
        site: u32,
        held_site: u32,
        rw: bool,
    },
    /// `RLock` of an RWMutex the goroutine holds for reading: deadlocks once a writer
    /// queues in between (golang/go#35138).
    RecursiveRead {
        lock: usize,
        gid: u32,
        site: u32,
        held_site: u32,
    },
    /// Edges around a cycle, the new one first.
    Cycle { edges: Vec<Edge> },
    /// At exit, a lock a finished goroutine still holds (a missing unlock) and a
    /// goroutine that requested it since: nobody ever unlocked it for that one.
    HeldByFinished {
        lock: usize,
        gid: u32,
        site: u32,
        holder: u32,
        held_site: u32,
        rw: bool,
    },
}

/// Held locks per goroutine and the lock-order graph.
#[derive(Default)]
pub struct LockGraph {
    held: HashMap<u32, Vec<Held>>,
    /// Locks still held by goroutines that finished.
    orphans: BTreeMap<usize, Vec<Orphan>>,
    /// Waits on orphans begun since [`LockGraph::take_new_waits`]: reports to prepare
    /// now, print at exit if the wait never ended.
    new_waits: Vec<Finding>,
    edges: HashMap<(usize, usize), Edge>,
    /// Successors and predecessors of each lock with edges (ordered: freeing a range
    /// finds its locks by range).
    succ: BTreeMap<usize, Vec<usize>>,
    pred: BTreeMap<usize, Vec<usize>>,
    /// Locks seen used as RWMutexes.
    rw: HashSet<usize>,
    /// Findings reported already: by stack pair, or by the cycle's locks.
    reported: HashSet<(u32, u32)>,
    cycles: HashSet<Vec<usize>>,
}

impl LockGraph {
    /// Goroutine `gid` requests `lock` in `mode` at `site` (a `TryLock` that succeeded
    /// with `try_`: it cannot block, so it neither adds edges nor deadlocks). Returns
    /// what is new to report.
    pub fn lock(
        &mut self,
        gid: u32,
        lock: usize,
        mode: Mode,
        site: u32,
        try_: bool,
    ) -> Vec<Finding> {
        if mode == Mode::Read {
            self.rw.insert(lock);
        }
        let mut found = Vec::new();
        if !try_ {
            // Waiting on a finished goroutine's lock: a report at exit if nobody ever
            // unlocks it (a handover to a live goroutine would).
            let blocks = |o: &Orphan| mode == Mode::Write || o.held.mode == Mode::Write;
            let rw = self.rw.contains(&lock);
            if let Some(o) = self
                .orphans
                .get_mut(&lock)
                .and_then(|v| v.iter_mut().find(|o| blocks(o) && o.waiter.is_none()))
            {
                o.waiter = Some((gid, site));
                self.new_waits.push(o.finding(lock, (gid, site), rw));
            }
        }
        let held = self.held.remove(&gid).unwrap_or_default();
        if !try_ {
            for h in &held {
                if h.lock == lock {
                    let f = if mode == Mode::Read && h.mode == Mode::Read {
                        Finding::RecursiveRead {
                            lock,
                            gid,
                            site,
                            held_site: h.site,
                        }
                    } else {
                        Finding::DoubleLock {
                            lock,
                            gid,
                            site,
                            held_site: h.site,
                            rw: self.rw.contains(&lock),
                        }
                    };
                    if self.reported.insert((h.site, site)) {
                        found.push(f);
                    }
                } else if let Some(cycle) = self.add_edge(Edge {
                    from: h.lock,
                    to: lock,
                    gid,
                    from_site: h.site,
                    to_site: site,
                }) {
                    found.push(cycle);
                }
            }
        }
        let mut held = held;
        held.push(Held { lock, mode, site });
        self.held.insert(gid, held);
        found
    }

    /// `lock` is released in `mode` by `gid`, or, if `gid` does not hold it, by
    /// whoever does (Go mutexes may be unlocked by another goroutine).
    pub fn unlock(&mut self, gid: u32, lock: usize, mode: Mode) {
        if mode == Mode::Read {
            self.rw.insert(lock);
        }
        let matches = |h: &Held| h.lock == lock && h.mode == mode;
        let take = |v: &mut Vec<Held>| v.iter().rposition(matches).map(|i| v.remove(i));
        // Its own hold first; then a finished goroutine's (handed over: the oldest
        // hold there is); then any other goroutine's (which may also be one waiting).
        if self.held.get_mut(&gid).and_then(take).is_some() {
            return;
        }
        if let Some(v) = self.orphans.get_mut(&lock) {
            if let Some(i) = v.iter().rposition(|o| matches(&o.held)) {
                v.remove(i);
                if v.is_empty() {
                    self.orphans.remove(&lock);
                }
                return;
            }
        }
        if let Some(v) = self.held.values_mut().find(|v| v.iter().any(matches)) {
            take(v);
        }
    }

    /// Goroutine `gid` ended: the locks it still holds become orphans, until another
    /// goroutine unlocks them or their memory is freed.
    pub fn goroutine_end(&mut self, gid: u32) {
        for held in self.held.remove(&gid).unwrap_or_default() {
            self.orphans.entry(held.lock).or_default().push(Orphan {
                holder: gid,
                held,
                waiter: None,
            });
        }
    }

    /// Memory `[addr, addr+size)` was freed: the locks there and their edges go.
    pub fn free(&mut self, addr: usize, size: usize) {
        let end = addr.saturating_add(size);
        let orphaned: Vec<usize> = self.orphans.range(addr..end).map(|(&l, _)| l).collect();
        for l in orphaned {
            self.orphans.remove(&l);
        }
        let gone: Vec<usize> = self
            .succ
            .range(addr..end)
            .map(|(&l, _)| l)
            .chain(self.pred.range(addr..end).map(|(&l, _)| l))
            .collect();
        for l in gone {
            for s in self.succ.remove(&l).unwrap_or_default() {
                self.edges.remove(&(l, s));
                remove_from(&mut self.pred, s, l);
            }
            for p in self.pred.remove(&l).unwrap_or_default() {
                self.edges.remove(&(p, l));
                remove_from(&mut self.succ, p, l);
            }
            self.rw.remove(&l);
        }
    }

    /// The waits on finished goroutines' locks begun since the last call, as the
    /// reports they would make (see [`LockGraph::stuck_on_finished`]).
    pub fn take_new_waits(&mut self) -> Vec<Finding> {
        core::mem::take(&mut self.new_waits)
    }

    /// At exit: the locks finished goroutines still hold that someone requested since
    /// (missing unlocks that left a goroutine waiting), not reported before.
    pub fn stuck_on_finished(&mut self) -> Vec<Finding> {
        let mut found = Vec::new();
        for (&lock, v) in &self.orphans {
            for o in v {
                let Some(waiter) = o.waiter else {
                    continue;
                };
                if self.reported.insert((o.held.site, waiter.1)) {
                    found.push(o.finding(lock, waiter, self.rw.contains(&lock)));
                }
            }
        }
        found
    }

    /// The locks `gid` holds or waits for, with the stack-depot node of each request.
    pub fn held_by(&self, gid: u32) -> Vec<(usize, Mode, u32)> {
        self.held
            .get(&gid)
            .into_iter()
            .flatten()
            .map(|h| (h.lock, h.mode, h.site))
            .collect()
    }

    /// Whether one of the locks `gid` holds or requested is also held or requested by
    /// someone else (or twice by itself), in modes that exclude each other: whether it
    /// can be waiting for a lock.
    pub fn contended(&self, gid: u32) -> bool {
        let Some(mine) = self.held.get(&gid) else {
            return false;
        };
        mine.iter().enumerate().any(|(i, h)| {
            let clash =
                |o: &Held| o.lock == h.lock && (o.mode == Mode::Write || h.mode == Mode::Write);
            mine.iter().skip(i + 1).any(clash)
                || self
                    .held
                    .iter()
                    .any(|(&g, v)| g != gid && v.iter().any(clash))
                || self
                    .orphans
                    .get(&h.lock)
                    .is_some_and(|v| v.iter().any(|o| clash(&o.held)))
        })
    }

    /// Edges in the graph.
    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// Whether `lock` was seen used as an RWMutex.
    pub fn is_rw(&self, lock: usize) -> bool {
        self.rw.contains(&lock)
    }

    /// Adds `e` unless its pair is known; a cycle it closes, if new.
    fn add_edge(&mut self, e: Edge) -> Option<Finding> {
        if self.edges.contains_key(&(e.from, e.to)) {
            return None;
        }
        self.edges.insert((e.from, e.to), e);
        self.succ.entry(e.from).or_default().push(e.to);
        self.pred.entry(e.to).or_default().push(e.from);
        // A path back from `to` to `from` closes a cycle.
        let path = self.path(e.to, e.from)?;
        let mut locks: Vec<usize> = path.clone();
        locks.sort_unstable();
        if !self.cycles.insert(locks) {
            return None;
        }
        let mut edges = alloc::vec![e];
        edges.extend(path.windows(2).map(|w| self.edges[&(w[0], w[1])]));
        Some(Finding::Cycle { edges })
    }

    /// A path of locks from `a` to `b` (both included), breadth first: the shortest.
    fn path(&self, a: usize, b: usize) -> Option<Vec<usize>> {
        let mut came_from: HashMap<usize, usize> = HashMap::new();
        let mut queue = alloc::collections::VecDeque::from([a]);
        came_from.insert(a, a);
        while let Some(l) = queue.pop_front() {
            if l == b {
                let mut path = alloc::vec![b];
                let mut cur = b;
                while cur != a {
                    cur = came_from[&cur];
                    path.push(cur);
                }
                path.reverse();
                return Some(path);
            }
            for &n in self.succ.get(&l).into_iter().flatten() {
                if let hashbrown::hash_map::Entry::Vacant(v) = came_from.entry(n) {
                    v.insert(l);
                    queue.push_back(n);
                }
            }
        }
        None
    }
}

fn remove_from(map: &mut BTreeMap<usize, Vec<usize>>, key: usize, value: usize) {
    if let Some(v) = map.get_mut(&key) {
        v.retain(|&x| x != value);
        if v.is_empty() {
            map.remove(&key);
        }
    }
}

/// Frames of an acquisition stack worth showing: the `sync` internals and atomics on
/// top say how, not where.
fn shown(mut frames: Vec<Frame>) -> Vec<Frame> {
    let internal = frames
        .iter()
        .take_while(|f| f.func.starts_with("internal/sync.") || f.func.starts_with("sync/atomic."))
        .count();
    if internal < frames.len() {
        frames.drain(..internal);
    }
    frames
}

/// `goroutine 7`, or `main goroutine`, as race reports say it.
fn who(gid: u32) -> String {
    if gid == crate::report::MAIN_GID {
        String::from("main goroutine")
    } else {
        alloc::format!("goroutine {gid}")
    }
}

fn kind(rw: bool) -> &'static str {
    if rw {
        "RWMutex"
    } else {
        "Mutex"
    }
}

impl Finding {
    /// The report, fences included. `frames_of` symbolises a stack-depot node;
    /// `is_rw` says whether a lock was used as an RWMutex.
    pub fn to_text(
        &self,
        frames_of: &mut dyn FnMut(u32) -> Vec<Frame>,
        is_rw: &dyn Fn(usize) -> bool,
        style: &Style,
    ) -> String {
        let mut out = String::from("==================\n");
        let mut stack = |out: &mut String, node: u32| {
            write_frames(out, &shown(frames_of(node)), false, style);
        };
        match self {
            Finding::DoubleLock {
                lock,
                gid,
                site,
                held_site,
                rw,
            } => {
                let _ = writeln!(
                    out,
                    "WARNING: DOUBLE LOCK\n{} 0x{lock:012x} locked by {}, which already holds it:",
                    kind(*rw),
                    who(*gid)
                );
                stack(&mut out, *site);
                out.push_str("\nPreviously locked at:\n");
                stack(&mut out, *held_site);
            }
            Finding::RecursiveRead {
                lock,
                gid,
                site,
                held_site,
            } => {
                let _ = writeln!(
                    out,
                    "WARNING: RECURSIVE READ LOCK\nRWMutex 0x{lock:012x} read-locked by {}, \
                     which already holds it for reading (a writer waiting in between deadlocks both):",
                    who(*gid)
                );
                stack(&mut out, *site);
                out.push_str("\nPreviously read-locked at:\n");
                stack(&mut out, *held_site);
            }
            Finding::HeldByFinished {
                lock,
                gid,
                site,
                holder,
                held_site,
                rw,
            } => {
                let _ = writeln!(
                    out,
                    "WARNING: POTENTIAL DEADLOCK (lock held by a finished goroutine)\n\
                     {} 0x{lock:012x} requested by {}, never unlocked for it:",
                    kind(*rw),
                    who(*gid)
                );
                stack(&mut out, *site);
                let _ = writeln!(
                    out,
                    "\nis held by {}, which finished without unlocking it; locked at:",
                    who(*holder)
                );
                stack(&mut out, *held_site);
            }
            Finding::Cycle { edges } => {
                let name =
                    |l: usize| alloc::format!("{} 0x{l:012x}", kind(is_rw(l)).to_lowercase());
                out.push_str("WARNING: POTENTIAL DEADLOCK (lock order inversion)\nCycle: ");
                // Start the cycle at its oldest edge's lock, in order.
                let mut order: Vec<&Edge> = edges.iter().skip(1).collect();
                order.push(&edges[0]);
                for e in &order {
                    let _ = write!(out, "{} → ", name(e.from));
                }
                let _ = writeln!(out, "{}", name(order[0].from));
                for e in order {
                    let _ = writeln!(
                        out,
                        "\n{} acquired while holding {} by {}:",
                        capitalize(&name(e.to)),
                        name(e.from),
                        who(e.gid)
                    );
                    stack(&mut out, e.to_site);
                    let _ = writeln!(out, "\n{} acquired at:", capitalize(&name(e.from)));
                    stack(&mut out, e.from_site);
                }
            }
        }
        out.push_str("==================\n");
        out
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(func: &str) -> Frame {
        Frame {
            func: func.into(),
            file: "/p/x.go".into(),
            line: 1,
            offset: 0,
        }
    }

    #[test]
    fn atomics_are_classified_by_their_caller() {
        let c = |names: &[&str]| classify(&names.iter().map(|n| f(n)).collect::<Vec<_>>());
        assert_eq!(
            c(&[
                "internal/sync.(*Mutex).Lock",
                "sync.(*Mutex).Lock",
                "main.f"
            ]),
            LockOp::Lock
        );
        assert_eq!(
            c(&["sync.(*Mutex).Lock", "main.f"]),
            LockOp::Lock,
            "Go 1.23"
        );
        assert_eq!(
            c(&["internal/sync.(*Mutex).lockSlow"]),
            LockOp::None,
            "retries are not requests"
        );
        assert_eq!(c(&["internal/sync.(*Mutex).Unlock"]), LockOp::Unlock);
        assert_eq!(c(&["internal/sync.(*Mutex).TryLock"]), LockOp::TryLock);
        assert_eq!(
            c(&[
                "sync/atomic.(*Int32).Add",
                "sync.(*RWMutex).RLock",
                "main.f"
            ]),
            LockOp::RLock
        );
        assert_eq!(
            c(&["sync/atomic.(*Int32).Add", "sync.(*RWMutex).RUnlock"]),
            LockOp::RUnlock
        );
        assert_eq!(
            c(&[
                "sync/atomic.(*Int32).CompareAndSwap",
                "sync.(*RWMutex).TryRLock"
            ]),
            LockOp::TryRLock
        );
        assert_eq!(
            c(&["sync/atomic.(*Int32).Add", "sync.(*RWMutex).Lock"]),
            LockOp::None,
            "via its Mutex"
        );
        assert_eq!(
            c(&["sync/atomic.(*Int32).Add", "sync.(*WaitGroup).Add"]),
            LockOp::None
        );
        assert_eq!(c(&["main.counter"]), LockOp::None);
    }

    const A: usize = 0x100;
    const B: usize = 0x200;
    const C: usize = 0x300;

    fn cycle_locks(found: &[Finding]) -> Vec<Vec<(usize, usize)>> {
        found
            .iter()
            .filter_map(|f| match f {
                Finding::Cycle { edges } => Some(edges.iter().map(|e| (e.from, e.to)).collect()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn two_lock_inversion_across_goroutines_is_found_once() {
        let mut g = LockGraph::default();
        assert!(g.lock(1, A, Mode::Write, 10, false).is_empty());
        assert!(g.lock(1, B, Mode::Write, 11, false).is_empty());
        g.unlock(1, B, Mode::Write);
        g.unlock(1, A, Mode::Write);
        // Later, another goroutine: B then A. No deadlock happened; the order did.
        assert!(g.lock(2, B, Mode::Write, 20, false).is_empty());
        let found = g.lock(2, A, Mode::Write, 21, false);
        assert_eq!(cycle_locks(&found), [vec![(B, A), (A, B)]]);
        let Finding::Cycle { edges } = &found[0] else {
            unreachable!()
        };
        assert_eq!(
            (edges[0].gid, edges[0].from_site, edges[0].to_site),
            (2, 20, 21)
        );
        assert_eq!(
            (edges[1].gid, edges[1].from_site, edges[1].to_site),
            (1, 10, 11)
        );
        g.unlock(2, A, Mode::Write);
        g.unlock(2, B, Mode::Write);
        g.lock(3, B, Mode::Write, 30, false);
        assert!(
            g.lock(3, A, Mode::Write, 31, false).is_empty(),
            "reported once"
        );
    }

    #[test]
    fn three_lock_cycle_and_consistent_order() {
        let mut g = LockGraph::default();
        for (gid, (x, y)) in [(1, (A, B)), (2, (B, C))] {
            g.lock(gid, x, Mode::Write, 1, false);
            assert!(g.lock(gid, y, Mode::Write, 2, false).is_empty());
            g.unlock(gid, y, Mode::Write);
            g.unlock(gid, x, Mode::Write);
        }
        // A → C agrees with A → B → C: no cycle.
        g.lock(4, A, Mode::Write, 1, false);
        assert!(g.lock(4, C, Mode::Write, 2, false).is_empty());
        g.unlock(4, C, Mode::Write);
        g.unlock(4, A, Mode::Write);
        g.lock(3, C, Mode::Write, 1, false);
        let found = g.lock(3, A, Mode::Write, 2, false);
        let cycles = cycle_locks(&found);
        assert_eq!(cycles.len(), 1);
        assert_eq!(cycles[0][0], (C, A));
        assert!(cycles[0].len() == 2 || cycles[0].len() == 3, "{cycles:?}");
    }

    #[test]
    fn locks_handed_between_goroutines_and_freed_locks() {
        let mut g = LockGraph::default();
        g.lock(1, A, Mode::Write, 1, false);
        g.unlock(2, A, Mode::Write); // unlocked by another goroutine
        g.lock(1, B, Mode::Write, 2, false);
        g.unlock(1, B, Mode::Write);
        assert_eq!(g.edge_count(), 0, "A was no longer held");
        g.lock(1, A, Mode::Write, 3, false);
        g.lock(1, B, Mode::Write, 4, false);
        assert_eq!(g.edge_count(), 1);
        g.unlock(1, B, Mode::Write);
        g.unlock(1, A, Mode::Write);
        g.free(B, 8);
        assert_eq!(g.edge_count(), 0, "freed with its lock");
        g.lock(2, B, Mode::Write, 5, false);
        assert!(
            g.lock(2, A, Mode::Write, 6, false).is_empty(),
            "a new lock at B's address"
        );
    }

    #[test]
    fn double_lock_recursive_read_and_try_lock() {
        let mut g = LockGraph::default();
        g.lock(1, A, Mode::Read, 1, false);
        let found = g.lock(1, A, Mode::Read, 2, false);
        assert!(matches!(
            found[..],
            [Finding::RecursiveRead {
                lock: A,
                gid: 1,
                site: 2,
                held_site: 1
            }]
        ));
        g.lock(1, B, Mode::Write, 3, false);
        let found = g.lock(1, B, Mode::Write, 4, false);
        assert!(matches!(
            found[..],
            [Finding::DoubleLock {
                lock: B,
                rw: false,
                ..
            }]
        ));
        // Two readers in two goroutines, a TryLock: nothing.
        g.lock(2, C, Mode::Read, 5, false);
        assert!(g.lock(3, C, Mode::Read, 6, false).is_empty());
        assert!(g.lock(4, C, Mode::Write, 7, true).is_empty());
    }

    #[test]
    fn standard_library_acquisitions() {
        assert!(is_std("syscall.acquireForkLock") && is_std("os/exec.(*Cmd).Start"));
        assert!(is_std("sync_test.TestRLocker.func1"));
        assert!(!is_std("main.transfer") && !is_std("example.com/m/db.(*Pool).Get"));
        let stack = |names: &[&str]| names.iter().map(|n| f(n)).collect::<Vec<_>>();
        assert!(std_acquisition(&stack(&[
            "sync.(*Mutex).Lock",
            "syscall.acquireForkLock",
            "main.main"
        ])));
        assert!(!std_acquisition(&stack(&[
            "sync.(*Mutex).Lock",
            "main.transfer",
            "os.Exit"
        ])));
    }

    #[test]
    fn contention_is_two_requests_that_exclude_each_other() {
        let mut g = LockGraph::default();
        g.lock(1, A, Mode::Read, 1, false);
        g.lock(2, A, Mode::Read, 2, false);
        assert!(!g.contended(1) && !g.contended(2), "readers share");
        g.lock(3, A, Mode::Write, 3, false);
        assert!(g.contended(3) && g.contended(1));
        g.lock(4, B, Mode::Write, 4, false);
        assert!(!g.contended(4));
        g.lock(4, B, Mode::Write, 5, false);
        assert!(g.contended(4), "a double lock waits for itself");
    }

    #[test]
    fn a_lock_a_finished_goroutine_still_holds() {
        let mut g = LockGraph::default();
        g.lock(1, A, Mode::Read, 1, false);
        g.goroutine_end(1); // returned without RUnlock
        assert!(g.lock(2, A, Mode::Read, 2, false).is_empty());
        g.unlock(2, A, Mode::Read);
        assert!(
            g.lock(3, A, Mode::Write, 3, false).is_empty(),
            "known only at exit"
        );
        // Handed over: a finished goroutine's lock, requested, then another goroutine's
        // unlock releases it.
        g.lock(4, B, Mode::Write, 4, false);
        g.goroutine_end(4);
        g.lock(6, B, Mode::Write, 5, false);
        g.unlock(5, B, Mode::Write);
        // Freed with its memory.
        g.lock(7, C, Mode::Write, 6, false);
        g.goroutine_end(7);
        g.lock(8, C, Mode::Write, 7, false);
        g.free(C, 8);
        let found = g.stuck_on_finished();
        assert!(
            matches!(
                found[..],
                [Finding::HeldByFinished {
                    lock: A,
                    gid: 3,
                    holder: 1,
                    held_site: 1,
                    ..
                }]
            ),
            "readers do not wait; B was handed over, C freed: {found:?}"
        );
        assert!(g.stuck_on_finished().is_empty(), "reported once");
    }

    #[test]
    fn cycle_report_names_both_acquisitions_of_each_edge() {
        let mut g = LockGraph::default();
        g.lock(7, A, Mode::Write, 1, false);
        g.lock(7, B, Mode::Write, 2, false);
        g.unlock(7, B, Mode::Write);
        g.unlock(7, A, Mode::Write);
        g.goroutine_end(7);
        g.lock(8, B, Mode::Write, 3, false);
        let found = g.lock(8, A, Mode::Write, 4, false);
        let mut frames_of = |n: u32| alloc::vec![f(&alloc::format!("main.site{n}"))];
        let text = found[0].to_text(
            &mut frames_of,
            &|_| false,
            &Style {
                strip_path_prefix: "",
            },
        );
        assert!(text.starts_with(
            "==================\nWARNING: POTENTIAL DEADLOCK (lock order inversion)\n\
             Cycle: mutex 0x000000000100 → mutex 0x000000000200 → mutex 0x000000000100\n\n\
             Mutex 0x000000000200 acquired while holding mutex 0x000000000100 by goroutine 7:\n  main.site2()\n"
        ), "{text}");
        assert!(
            text.contains("Mutex 0x000000000100 acquired at:\n  main.site1()\n"),
            "{text}"
        );
        assert!(text.contains("by goroutine 8:\n  main.site4()\n"), "{text}");
        assert!(text.ends_with("==================\n"));
    }
}
