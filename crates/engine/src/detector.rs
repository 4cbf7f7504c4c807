//! The detector: the event handlers behind the Go race ABI, over a [`Platform`].

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::iter;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::cell::{Cell, Kind};
use crate::clock::{ThreadClock, MAX_EPOCH};
use crate::deadlock::{Finding, LockGraph, LockOp, Mode, PendingTry, READER_COUNT, READER_SEM};
use crate::goroutine::Goroutine;
use crate::leak::{LiveSet, Visible, NO_PARENT};
use crate::options::Options;
use crate::report::{Access, GoroutineNote, RaceReport, Seen, Style, Symbolize, MAIN_GID};
use crate::shadow::{self, Granule, Outcome};
use crate::slots::SlotTable;
use crate::stack::{StackDepot, ROOT};
use crate::stats::{bump, bump_by, Stat};
use crate::sync::SyncTable;

/// Id of the context returned by `__tsan_init`.
pub const INIT_GID: u32 = 0;

/// Finished goroutines' states kept for reuse (each about 2 KiB, plus its stack's
/// frames and site cache: at most 16 KiB more).
const SPARE: usize = 64;

/// Ranges from this many bytes on have their fresh shadow prepared for stores
/// ([`Platform::prepare_stores`]) before the range loop stores their cells.
const PREPARE_MIN: usize = 16 << 10;

/// Without `detect_leaks`, how long exit waits for user goroutines to end before the
/// hint line counts them (over as soon as they have).
const HINT_GRACE_MS: u32 = 100;

/// What the detector needs from its host: where shadow and meta memory live, how to
/// symbolise, where reports go.
pub trait Platform: Sync {
    /// The shadow of the granule containing `addr`. Only called for application
    /// memory ([`Platform::is_app`]); the Go side filters addresses before calling.
    fn granule(&self, addr: usize) -> Granule<'_>;
    /// The primary pair of the granule containing `addr` ([`Platform::granule`]'s
    /// first field, without the others' addresses).
    fn primary(&self, addr: usize) -> &[AtomicU64; 2] {
        self.granule(addr).primary
    }
    /// The primary pairs of the `n` granules from `addr` (8-aligned, all application
    /// memory), which lie next to each other.
    fn primaries(&self, addr: usize, n: usize) -> &[[AtomicU64; 2]];
    /// Whether `addr` is application memory that has shadow.
    fn is_app(&self, addr: usize) -> bool;
    /// The meta word (sync object index) of the granule containing `addr`, which must
    /// be application memory.
    fn meta(&self, addr: usize) -> &AtomicU32;
    /// A sync object is about to be created for `addr` (its meta word written).
    fn meta_created(&self, _addr: usize) {}
    /// Whether `[addr, addr+size)` may hold sync objects: false only if
    /// [`Platform::meta_created`] was never told of an address there.
    fn may_have_meta(&self, _addr: usize, _size: usize) -> bool {
        true
    }
    /// Cells are about to be stored in the primary pairs of every granule of
    /// `[addr, addr+size)` (8-aligned; the range loop's run of fresh memory), whose
    /// first pair was just read: the host may make that shadow writable in one go.
    fn prepare_stores(&self, _addr: usize, _size: usize) {}
    /// A cell was just stored in the empty primary pair of the granule at `addr` (an
    /// access to fresh memory): the host may prepare the shadow that follows for
    /// stores, as a loop filling a buffer will store there next.
    fn stored_fresh(&self, _addr: usize) {}
    /// Forgets every access remembered for `[addr, addr+size)`.
    fn reset_shadow(&self, addr: usize, size: usize) {
        let mut a = addr & !7;
        while a < addr + size {
            shadow::clear(self.granule(a));
            a += 8;
        }
    }
    /// A symbolizer; called while serving a call from Go (reports, goroutine starts
    /// when leaks are detected, the checks at exit).
    fn symbolizer(&self) -> impl Symbolize;
    /// Writes report text, all at once.
    fn write(&self, text: &str);
    /// Ends the process.
    fn exit(&self, code: i32) -> !;
    /// Sleeps (before exit, `atexit_sleep_ms`).
    fn sleep_ms(&self, ms: u32);
    /// A cheap monotonic clock (any unit).
    fn ticks(&self) -> u64;
    /// Milliseconds between two [`Platform::ticks`] readings.
    fn ms_between(&self, earlier: u64, later: u64) -> u64;
    /// The pc of the function a live goroutine runs (Go's `g.startpc`), read from its
    /// `g` when the layout checks out: `ctx` is its racectx and `gopc` its `go`
    /// statement's pc, which the `g` must hold too.
    fn start_pc(&self, _gptr: usize, _ctx: usize, _gopc: u64) -> Option<u64> {
        None
    }
    /// The return addresses of a parked goroutine's real stack, innermost first, read
    /// from its `g`; empty when it is not parked or its `g` is unknown.
    fn parked_stack(&self, _gptr: usize) -> Vec<u64> {
        Vec::new()
    }
    /// What the goroutine whose `g` is at `gptr` is doing now (for the watchdog, from
    /// its own thread: reads memory, calls nothing).
    fn goroutine_state(&self, _gptr: usize) -> crate::watchdog::GoState {
        crate::watchdog::GoState::Unknown
    }
}

/// The whole detector state. One per process.
pub struct Detector<P> {
    pub platform: P,
    pub options: Options,
    pub slots: SlotTable,
    pub stacks: StackDepot,
    pub syncs: SyncTable,
    next_gid: AtomicU32,
    /// Finished goroutines' state, reused by the next ones started (at most [`SPARE`]):
    /// a program starting goroutines by the million then allocates, zeroes and frees
    /// no clock, stack or site cache for each. Boxed: a goroutine's address is the
    /// context Go hands back, and a reused one keeps its allocation.
    #[allow(clippy::vec_box)]
    spare: crate::lock::Mutex<Vec<Box<Goroutine>>>,
    /// What a kept state holds in place of its ended goroutine's [`Visible`].
    idle: Arc<Visible>,
    /// Goroutines alive now (for the leak check at exit).
    pub live: LiveSet,
    pub(crate) seen: crate::lock::Mutex<Seen>,
    reports: AtomicU64,
    warned_exhausted: AtomicBool,
    /// Held locks and the lock-order graph (`detect_deadlocks`).
    pub(crate) locks: crate::lock::Mutex<LockGraph>,
    /// What the atomics called from each pc are ([`crate::deadlock::classify`]).
    lock_ops: crate::lock::Mutex<hashbrown::HashMap<u64, PcInfo>>,
    /// Deadlock reports printed.
    deadlocks: AtomicU64,
    /// Creation stacks symbolised, by node, with whether they start system goroutines
    /// (filled at goroutines' first function entries: see [`Detector::first_entry`]).
    pub(crate) creations: crate::lock::Mutex<hashbrown::HashMap<u32, Arc<Created>>>,
    /// Reports of waits on locks a finished goroutine holds, written when the wait
    /// began (symbolising at exit is not safe), printed at exit if it never ended.
    stuck_texts: crate::lock::Mutex<Vec<(Finding, String)>>,
    /// Live goroutines as [`Detector::observe_live`] last saw them, by id.
    observed: crate::lock::Mutex<hashbrown::HashMap<u32, Arc<Observed>>>,
    /// The goroutine that called `os.Exit(0)` (0: none seen).
    exiting: AtomicU32,
    /// Stack nodes symbolised for the watchdog's report, as text.
    /// (Also whether the stack is nothing but atomics' and the runtime's frames.)
    pub(crate) rendered: crate::lock::Mutex<hashbrown::HashMap<u32, (String, bool)>>,
    /// The watchdog's view: the newest step seen, and since when it has not changed.
    pub(crate) watch: crate::lock::Mutex<(u64, u64)>,
}

/// What a return address above an atomic operation says ([`Detector::pc_info`]).
#[derive(Clone, Copy, Debug)]
struct PcInfo {
    /// The lock operation of atomics called from there ([`LockOp::Atomic`]: the pc is
    /// in sync/atomic itself).
    op: LockOp,
    /// The pc's function (the physical one, inlining aside) is in `sync`'s packages.
    sync_internal: bool,
    /// `os.Exit` is among its frames (its `testlog` check locks a mutex).
    exits: bool,
}

/// Where a live goroutine was at the last safe point ([`Detector::observe`]).
pub struct Observed {
    pub last_seen: Vec<crate::report::Frame>,
    pub nil_chan: bool,
    pub entry: Option<crate::report::Frame>,
}

/// A creation stack, symbolised while it was safe to.
pub struct Created {
    pub frames: Vec<crate::report::Frame>,
    /// The innermost frame is in a system package ([`crate::leak::is_system`]).
    pub system: bool,
}

impl<P: Platform> Detector<P> {
    pub fn new(platform: P, options: Options) -> Self {
        Detector {
            platform,
            options,
            slots: SlotTable::new(),
            stacks: StackDepot::new(),
            syncs: SyncTable::new(),
            next_gid: AtomicU32::new(INIT_GID + 1),
            spare: crate::lock::Mutex::new(Vec::new()),
            idle: Arc::new(Visible::new(u32::MAX, NO_PARENT, ROOT, 0, 0, &[])),
            live: LiveSet::default(),
            seen: crate::lock::Mutex::new(Seen::default()),
            reports: AtomicU64::new(0),
            warned_exhausted: AtomicBool::new(false),
            locks: crate::lock::Mutex::new(LockGraph::default()),
            lock_ops: crate::lock::Mutex::new(hashbrown::HashMap::new()),
            deadlocks: AtomicU64::new(0),
            creations: crate::lock::Mutex::new(hashbrown::HashMap::new()),
            stuck_texts: crate::lock::Mutex::new(Vec::new()),
            observed: crate::lock::Mutex::new(hashbrown::HashMap::new()),
            exiting: AtomicU32::new(0),
            rendered: crate::lock::Mutex::new(hashbrown::HashMap::new()),
            watch: crate::lock::Mutex::new((0, 0)),
        }
    }

    fn attach(&self, g: &mut Goroutine) {
        match self.slots.attach(&g.clock, g.gid, g.creation) {
            Some((slot, epoch, _)) => {
                g.set_epoch(slot, epoch);
                g.tenure = epoch;
            }
            None => {
                // Every slot's epochs are used up (about a billion releases): keep going
                // on a saturated stamp. Races involving this goroutine may be missed.
                if !self.warned_exhausted.swap(true, Ordering::Relaxed) {
                    self.platform.write(
                        "gorace: warning: vector clock epochs exhausted; \
                         detection is degraded from here on\n",
                    );
                }
                g.set_epoch(0, MAX_EPOCH);
            }
        }
    }

    /// The context of the thread that initialises the runtime (goroutine 0); it starts
    /// the main goroutine.
    pub fn init_goroutine(&self) -> Box<Goroutine> {
        let visible = Arc::new(Visible::new(INIT_GID, NO_PARENT, ROOT, 0, 0, &[]));
        let mut g = Box::new(Goroutine::new(INIT_GID, ThreadClock::new(), ROOT, visible));
        self.attach(&mut g);
        g
    }

    /// `go` statement at `pc` in `parent` (or a goroutine started by the runtime when
    /// `parent` is `None`): the child starts knowing everything the parent knows.
    pub fn go_start(&self, parent: Option<&mut Goroutine>, pc: u64) -> Box<Goroutine> {
        bump(Stat::GoStart);
        let gid = self.next_gid.fetch_add(1, Ordering::Relaxed);
        // A finished goroutine's state if one is kept, its clock copied in place now
        // (before the parent's tick below); else a new one's clock.
        let mut spare = self.spare.lock().pop();
        let clock = match (&mut spare, &parent) {
            (Some(s), Some(p)) => {
                s.clock.copy_from(&p.clock);
                None
            }
            (Some(s), None) => {
                s.clock.clear();
                None
            }
            (None, Some(p)) => Some(p.clock.clone()),
            (None, None) => Some(ThreadClock::new()),
        };
        let (parent_gid, parent_chain) = match &parent {
            Some(p) => (p.gid, p.visible.chain),
            None => (NO_PARENT, [0; crate::leak::CHAIN]),
        };
        let creation = match parent {
            Some(p) => {
                let site = p.stack.site(&self.stacks, pc);
                self.tick(p);
                site
            }
            None => self.stacks.intern_site(ROOT, pc),
        };
        let now = if self.options.detect_leaks || self.options.deadlock_watchdog_s > 0 {
            self.platform.ticks()
        } else {
            0
        };
        let chain = if parent_gid == NO_PARENT {
            &[][..]
        } else {
            &parent_chain[..]
        };
        let visible = Arc::new(Visible::new(gid, parent_gid, creation, pc, now, chain));
        let g = match (spare, clock) {
            (Some(mut g), _) => {
                g.recycle(gid, creation, visible);
                g
            }
            (None, clock) => Box::new(Goroutine::new(
                gid,
                clock.unwrap_or_default(),
                creation,
                visible,
            )),
        };
        g.visible
            .ctx
            .store(&*g as *const Goroutine as usize, Ordering::Relaxed);
        self.live.insert(&g.visible);
        // No slot yet: it takes one when it first runs (`attach_new`).
        g
    }

    /// Gives `g` its slot if it holds none yet ([`Goroutine::attached`]): at its first
    /// function entry, or at whatever it does first that needs its stamp (an access,
    /// a release, an atomic operation), whichever comes first.
    #[inline(always)]
    fn attach_new(&self, g: &mut Goroutine) {
        if !g.attached() {
            self.attach_late(g);
        }
    }

    #[cold]
    #[inline(never)]
    fn attach_late(&self, g: &mut Goroutine) {
        self.attach(g);
    }

    /// Records `g`'s latest synchronising step for the leak check (its stack then, and
    /// when); nothing unless leaks are detected (tested inline: every channel
    /// operation, map access and atomic passes here).
    #[inline(always)]
    fn step(&self, g: &mut Goroutine, pc: Option<u64>) {
        if self.options.detect_leaks || self.options.deadlock_watchdog_s != 0 {
            self.record_step(g, pc);
        }
    }

    #[inline(never)]
    fn record_step(&self, g: &mut Goroutine, pc: Option<u64>) {
        let site = match pc {
            Some(pc) => g.stack.site(&self.stacks, pc),
            None => g.step_site(&self.stacks),
        };
        if self.options.deadlock_watchdog_s > 0 {
            self.render(g, site);
        }
        g.visible.last_site.store(site, Ordering::Relaxed);
        g.visible
            .last_tick
            .store(self.platform.ticks(), Ordering::Relaxed);
    }

    /// The goroutine exited. Nothing is released: goroutines are not joined.
    // Taking the Box says the goroutine ends here (its state is kept for the next one
    // started, or freed).
    #[allow(clippy::boxed_local)]
    pub fn go_end(&self, mut g: Box<Goroutine>) {
        self.live.remove(&g.visible);
        if self.options.detect_deadlocks {
            self.locks.lock().goroutine_end(g.gid);
        }
        let held = g
            .attached()
            .then(|| (g.slot, g.last_used_epoch(), g.tenure));
        self.slots.end(g.gid, held, &g.moved_from);
        let mut spare = self.spare.lock();
        if spare.len() < SPARE {
            // The leak check takes a `Visible` only its own list still holds for a
            // goroutine that has ended: a kept state holds a placeholder instead.
            g.visible = self.idle.clone();
            spare.push(g);
        }
    }

    /// Moves `g` to its next epoch after a release.
    /// If its slot was preempted (or is exhausted), the goroutine moves to another.
    fn tick(&self, g: &mut Goroutine) {
        if !g.attached() {
            // Nothing of its own to release yet: its first epoch is the next one.
            return self.attach_late(g);
        }
        if self.slots.holds(g.slot, g.gid) {
            if let Some(e) = self.slots.tick(g.slot) {
                g.set_epoch(g.slot, e);
                return;
            }
            self.slots.retire(g.slot);
            self.slots.detach(g.slot, g.gid, g.epoch, None);
        }
        // (Preempted, its slot is another goroutine's already: nothing to give back,
        // and the table's lock is taken once, by `attach`.)
        // One entry per slot (at most MAX_SLOTS), naming the latest tenure there.
        match g.moved_from.iter_mut().find(|(s, _)| *s == g.slot) {
            Some(m) => m.1 = g.tenure,
            None => g.moved_from.push((g.slot, g.tenure)),
        }
        self.attach(g);
    }

    /// Function entry; `pc` is the caller's return address, `depth` the goroutine's
    /// stack depth (0 if unknown, see [`crate::goroutine::ShadowStack::exit`]).
    #[inline(always)]
    pub fn func_enter(&self, g: &mut Goroutine, pc: u64, depth: u32) {
        bump(Stat::FuncEnter);
        g.stack.enter(pc, depth);
    }

    /// A goroutine's first function entry: it runs, on its own thread with its P, so
    /// its creation stack can be symbolised (at exit it cannot: `racefini` has given up
    /// the P, and Go's symbolizer may need it for a write barrier). Classifies the
    /// goroutine as the program's or the system's for the exit check.
    #[inline(never)]
    pub fn first_entry(&self, g: &mut Goroutine) {
        self.attach_new(g);
        self.classify(&g.visible);
    }

    /// Classifies `v` as the program's or the system's from its creation stack
    /// (symbolised once per creation site, then cached); only where symbolising is
    /// safe. Returns the cached creation stack, `None` for the system's.
    fn classify(&self, v: &Visible) -> Option<Arc<Created>> {
        use crate::leak::{CLASS_SYSTEM, CLASS_USER, NO_PARENT};
        if v.gid == MAIN_GID || v.parent == NO_PARENT {
            v.class.store(CLASS_SYSTEM, Ordering::Relaxed);
            return None;
        }
        let cached = self.creations.lock().get(&v.creation).cloned();
        let c = cached.unwrap_or_else(|| {
            let frames = self.frames(v.creation);
            let system = crate::leak::is_system(v.parent, &frames);
            let c = Arc::new(Created { frames, system });
            self.creations.lock().insert(v.creation, c.clone());
            c
        });
        let class = if c.system { CLASS_SYSTEM } else { CLASS_USER };
        v.class.store(class, Ordering::Relaxed);
        (!c.system).then_some(c)
    }

    /// A stack-depot node, symbolised (only where that is safe: see
    /// [`Detector::first_entry`]).
    pub(crate) fn frames(&self, node: u32) -> Vec<crate::report::Frame> {
        let (pcs, truncated) = self.stacks.stack(node);
        crate::report::symbolize(&pcs, truncated, &mut self.platform.symbolizer())
    }

    /// Function exit at `depth` (the depth its entry had, 0 if unknown).
    #[inline(always)]
    pub fn func_exit(&self, g: &mut Goroutine, depth: u32) {
        self.func_exit_within(g, crate::goroutine::ShadowStack::exit_limit(depth));
    }

    /// Function exit, its entry depth at most `limit` (see
    /// [`crate::goroutine::ShadowStack::exit_within`]).
    #[inline(always)]
    pub fn func_exit_within(&self, g: &mut Goroutine, limit: u64) {
        g.stack.exit_within(limit);
        if self.options.detect_leaks && g.gid == MAIN_GID && g.stack.is_empty() {
            // main.main (or an init function) returned: the last moment to look at the
            // other goroutines with Go's symbolizer before the program exits.
            self.observe_live();
        }
    }

    /// An access of `len` bytes (1..=8, within one granule) at `addr`: the per-access
    /// fast path. See `docs/performance.md`.
    #[inline(always)]
    pub fn access(&self, g: &mut Goroutine, addr: usize, len: usize, kind: Kind, pc: u64) {
        bump(Stat::Access);
        let cur = Cell::new(g.stamp, (addr & 7) as u64, len as u64, kind);
        let primary = self.platform.primary(addr);
        let first = primary[0].load(Ordering::Relaxed);
        if Cell(first).subsumes(cur) {
            return;
        }
        // Out of line from here: the test above needs no callee-saved register, so the
        // commonest access (the first cell says it all) saves and restores none.
        self.access_past_first(g, addr, cur, pc, first);
    }

    /// [`Self::access`] when the first primary cell (`first`) did not subsume it.
    #[inline(never)]
    fn access_past_first(&self, g: &mut Goroutine, addr: usize, cur: Cell, pc: u64, first: u64) {
        let primary = self.platform.primary(addr);
        let second = primary[1].load(Ordering::Relaxed);
        // An empty first cell: fresh memory, or the goroutine's own stack, whose
        // accesses are never recorded; the own-stack test comes first then.
        let own = if first == 0 {
            g.on_own_stack(addr) || {
                if second == 0 {
                    return self.access_fresh(g, addr, cur, pc);
                }
                if Cell(second).subsumes(cur) {
                    return;
                }
                false
            }
        } else {
            if Cell(second).subsumes(cur) {
                return;
            }
            g.on_own_stack(addr)
        };
        if own {
            bump(Stat::OwnStack);
            return;
        }
        // Only the arguments cross the calls: the fast path stays within the
        // caller-saved registers. The last site computed was for this very pc:
        // perhaps a byte loop's next byte.
        if g.stack.last_site_pc() == pc {
            self.access_repeated(g, addr, cur, pc);
        } else if second == 0 && !Cell(first).more() {
            self.access_beside(g, addr, cur, pc, Cell(first));
        } else {
            self.access_slow(g, addr, cur, pc);
        }
    }

    /// A slow access from the pc whose site was computed last. A byte loop's next
    /// byte (the commonest slow access in code that fills or scans byte slices)
    /// continues the cell stored from here, and is widened in place
    /// ([`shadow::extend`]); everything else is [`Self::access_slow`].
    #[inline(never)]
    fn access_repeated(&self, g: &mut Goroutine, addr: usize, cur: Cell, pc: u64) {
        if let Some(site) = g.stack.recent_site(pc) {
            if shadow::extend(self.platform.primary(addr), cur.with_site(site)) {
                bump(Stat::Slow);
                bump(Stat::Stored);
                g.stamped = true;
                return;
            }
        }
        self.access_slow(g, addr, cur, pc);
    }

    #[inline(never)]
    fn access_slow(&self, g: &mut Goroutine, addr: usize, cur: Cell, pc: u64) {
        if !g.attached() {
            return self.access_unattached(g, addr, cur, pc);
        }
        bump(Stat::Slow);
        let stacks = &self.stacks;
        let stack = &mut g.stack;
        let (primary, granule) = (self.platform.primary(addr), || self.platform.granule(addr));
        match shadow::check_and_store(primary, granule, &g.clock, cur, || stack.site(stacks, pc)) {
            Outcome::Known => {}
            Outcome::Stored => {
                bump(Stat::Stored);
                g.stamped = true;
            }
            Outcome::Race(prev) => self.report_race(g, addr, cur, prev, pc),
        }
    }

    /// The first access of a goroutine that holds no slot yet (it had not entered a
    /// function): attached, it takes the general path, its access stamped anew. The
    /// slow paths test for it (no cell matches its stamp, so none of its accesses is
    /// decided before them).
    #[cold]
    #[inline(never)]
    fn access_unattached(&self, g: &mut Goroutine, addr: usize, cur: Cell, pc: u64) {
        self.attach_late(g);
        self.access_slow(g, addr, cur.with_stamp(g.stamp), pc);
    }

    /// A slow access to a granule whose primary pair was read empty: fresh memory, a
    /// new object's first write (trees: nearly all its slow accesses), on a path of its own
    /// with a small frame. Falls back to [`Self::access_slow`] if another goroutine
    /// stored there first.
    #[inline(never)]
    fn access_fresh(&self, g: &mut Goroutine, addr: usize, cur: Cell, pc: u64) {
        if !g.attached() {
            return self.access_unattached(g, addr, cur, pc);
        }
        let new = cur.with_site(g.stack.site(&self.stacks, pc));
        let granule = || self.platform.granule(addr);
        match shadow::store_first(self.platform.primary(addr), granule, &g.clock, new) {
            None => self.access_slow(g, addr, cur, pc),
            Some(outcome) => {
                bump(Stat::Slow);
                g.stamped = true;
                match outcome {
                    Outcome::Race(prev) => self.report_race(g, addr, cur, prev, pc),
                    _ => {
                        bump(Stat::Stored);
                        self.platform.stored_fresh(addr);
                    }
                }
            }
        }
    }

    /// A slow access to a granule whose primary pair was read as one cell, `first`,
    /// that never spilled (another goroutine's access to memory this one initialised,
    /// a field written after the object's initialising write: bigheap's goroutines),
    /// on a path of its own with a small frame, as [`Self::access_fresh`]. This
    /// goroutine's own access of this epoch and kind (which may merge with it) and a
    /// lost compare-and-swap take [`Self::access_slow`].
    #[inline(never)]
    fn access_beside(&self, g: &mut Goroutine, addr: usize, cur: Cell, pc: u64, first: Cell) {
        if !g.attached() {
            return self.access_unattached(g, addr, cur, pc);
        }
        if first.same_access_but_site_and_range(cur) {
            return self.access_slow(g, addr, cur, pc);
        }
        let (stack, stacks) = (&mut g.stack, &self.stacks);
        let granule = || self.platform.granule(addr);
        let primary = self.platform.primary(addr);
        match shadow::store_beside(primary, granule, &g.clock, cur, first, || {
            stack.site(stacks, pc)
        }) {
            None => self.access_slow(g, addr, cur, pc),
            Some(outcome) => {
                bump(Stat::Slow);
                match outcome {
                    Outcome::Race(prev) => self.report_race(g, addr, cur, prev, pc),
                    _ => {
                        bump(Stat::Stored);
                        g.stamped = true;
                    }
                }
            }
        }
    }

    /// A 1-byte access the runtime reports for `callpc`'s call into it at `pc`
    /// (`racereadpc`/`racewritepc`: channel operations, maps, `race.Read`/`Write`):
    /// the caller's frame stands for the duration, and it is a step where goroutines
    /// block (a channel send), recorded for the leak check.
    pub fn runtime_access(&self, g: &mut Goroutine, addr: usize, kind: Kind, callpc: u64, pc: u64) {
        if callpc != 0 {
            g.stack.push_call(callpc);
        }
        self.step(g, Some(pc));
        self.access(g, addr, 1, kind, pc);
        if callpc != 0 {
            g.stack.exit(0);
        }
    }

    /// An access to `[addr, addr+size)`; at most one race is reported for it.
    ///
    /// A partial granule at either end is handled like a scalar access; the whole
    /// granules in between go through a tight loop whose common cases are two loads
    /// and a compare (this goroutine already recorded the granule in this epoch, as
    /// when a buffer is copied again) and two loads and a store (fresh memory, as when
    /// a new object is initialised).
    pub fn access_range(&self, g: &mut Goroutine, addr: usize, size: usize, kind: Kind, pc: u64) {
        if g.on_own_stack(addr) {
            return;
        }
        self.attach_new(g);
        let end = addr.saturating_add(size);
        let mut site = None;
        let head_end = ((addr + 7) & !7).min(end);
        if head_end > addr && !self.range_part(g, addr, head_end - addr, kind, pc, &mut site) {
            return;
        }
        let body_end = end & !7;
        let whole = Cell::new(g.stamp, 0, 8, kind);
        let test = whole.whole_test();
        let mut a = head_end;
        while a < body_end {
            let run = shadow::known_run(self.platform.primaries(a, (body_end - a) / 8), test);
            bump_by(Stat::RangeGranule, run);
            a += 8 * run;
            if a >= body_end {
                break;
            }
            bump(Stat::RangeGranule);
            let primary = self.platform.primary(a);
            if shadow::is_fresh(primary) {
                // Fresh memory (a new object's initialising write): one store per
                // granule with the range's site, computed once, for as long as the
                // granules stay empty. Every granule to the range's end gets a cell
                // (fresh, or past this run), so its shadow may be made writable now.
                if site.is_none() && body_end - a >= PREPARE_MIN {
                    self.platform.prepare_stores(a, body_end - a);
                }
                let stack = &mut g.stack;
                let s = shadow::once(&mut site, || stack.site(&self.stacks, pc));
                let cell = whole.with_site(s);
                g.stamped = true;
                let mut primary = primary;
                loop {
                    bump(Stat::RangeSlow);
                    bump(Stat::OneCell);
                    bump(Stat::Stored);
                    shadow::store_fresh(primary, cell);
                    a += 8;
                    if a >= body_end {
                        break;
                    }
                    primary = self.platform.primary(a);
                    if !shadow::is_fresh(primary) {
                        break;
                    }
                    bump(Stat::RangeGranule);
                }
                continue;
            }
            if !self.range_part(g, a, 8, kind, pc, &mut site) {
                return;
            }
            a += 8;
        }
        if a < end {
            self.range_part(g, a, end - a, kind, pc, &mut site);
        }
    }

    /// One granule's part of a range access; false when it raced (and was reported).
    #[inline(never)]
    fn range_part(
        &self,
        g: &mut Goroutine,
        a: usize,
        n: usize,
        kind: Kind,
        pc: u64,
        site: &mut Option<u32>,
    ) -> bool {
        let cur = Cell::new(g.stamp, (a & 7) as u64, n as u64, kind);
        let granule = self.platform.granule(a);
        if shadow::known(granule, cur) {
            return true;
        }
        bump(Stat::RangeSlow);
        let stacks = &self.stacks;
        let stack = &mut g.stack;
        let site = || shadow::once(site, || stack.site(stacks, pc));
        match shadow::check_and_store(granule.primary, || granule, &g.clock, cur, site) {
            Outcome::Known => true,
            Outcome::Stored => {
                bump(Stat::Stored);
                g.stamped = true;
                true
            }
            Outcome::Race(prev) => {
                self.report_race(g, a, cur, prev, pc);
                false
            }
        }
    }

    fn sync_enabled(g: &Goroutine) -> bool {
        g.ignore_sync == 0
    }

    /// `clock = max(clock, sync[addr])`.
    pub fn acquire(&self, g: &mut Goroutine, addr: usize) {
        bump(Stat::Sync);
        if let Some(t) = g.pending_try.filter(|t| t.acquire == addr) {
            // The TryLock succeeded (seen even inside `race.Disable`).
            g.pending_try = None;
            let found = self.locks.lock().lock(g.gid, t.lock, t.mode, t.site, true);
            self.emit_deadlocks(&found);
        }
        if !Self::sync_enabled(g) || !self.platform.is_app(addr) {
            return;
        }
        self.step(g, None);
        if let Some(v) = self.syncs.get(self.platform.meta(addr), addr) {
            g.clock.acquire(&v.state.lock().clock);
        }
    }

    /// `sync[addr] = clock`.
    pub fn release(&self, g: &mut Goroutine, addr: usize) {
        self.release_with(g, addr, |s, g| s.clock.store(&g.clock));
    }

    /// `sync[addr] = max(sync[addr], clock)`.
    pub fn release_merge(&self, g: &mut Goroutine, addr: usize) {
        self.release_with(g, addr, |s, g| s.clock.merge(&g.clock));
    }

    /// `tmp = sync[addr]; sync[addr] = clock; clock = max(clock, tmp)`.
    pub fn release_acquire(&self, g: &mut Goroutine, addr: usize) {
        self.release_with(g, addr, |s, g| s.clock.exchange(&mut g.clock));
    }

    /// Read-modify-write atomics: `clock = max(clock, sync); sync = max(sync, clock)`
    /// (release sequences: a later acquire sees every earlier read-modify-write).
    pub fn acquire_release(&self, g: &mut Goroutine, addr: usize) {
        self.release_with(g, addr, |s, g| {
            g.clock.acquire(&s.clock);
            s.clock.merge(&g.clock);
        });
    }

    fn release_with(
        &self,
        g: &mut Goroutine,
        addr: usize,
        op: impl FnOnce(&mut crate::sync::SyncState, &mut Goroutine),
    ) {
        bump(Stat::Sync);
        if !Self::sync_enabled(g) || !self.platform.is_app(addr) {
            return;
        }
        self.step(g, None);
        self.attach_new(g);
        self.platform.meta_created(addr);
        if let Some(v) = self.syncs.get_or_create(self.platform.meta(addr), addr) {
            op(&mut v.state.lock(), g);
        }
        self.tick(g);
    }

    /// Finalizers and cleanups: everything that happened so far happens-before them.
    pub fn acquire_global(&self, g: &mut Goroutine) {
        for s in 0..self.slots.used() {
            let s = s as u16;
            let e = self.slots.latest(s).max(g.clock.get(s));
            g.clock.set(s, e);
        }
    }

    /// An atomic operation of `size` bytes at `addr`, called from `callerpc`, executed
    /// at `pc`. `perform` does the operation itself and says whether it wrote (only a
    /// compare-and-swap can fail to); it runs under the address's sync-object lock, so
    /// the clock transferred always matches the value read or written.
    ///
    /// Inside `ignore_sync` (Go's `race.Disable`, used by `sync` around its own atomics)
    /// the operation is not instrumented at all, as in the stock runtime.
    pub fn atomic<R>(
        &self,
        g: &mut Goroutine,
        addr: usize,
        size: usize,
        op: AtomicOp,
        (callerpc, pc): (u64, u64),
        mut perform: impl FnMut() -> (R, bool),
    ) -> R {
        bump(Stat::Atomic);
        if !Self::sync_enabled(g) || !self.platform.is_app(addr) {
            if self.options.detect_leaks {
                // Not synchronising, but still where the goroutine is (`sync` waits).
                g.stack.push(callerpc);
                self.step(g, Some(pc));
                g.stack.pop();
            }
            return perform().0;
        }
        g.stack.push_call(callerpc);
        self.step(g, Some(pc));
        self.attach_new(g);
        let kind = if op == AtomicOp::Load {
            Kind::AtomicRead
        } else {
            Kind::AtomicWrite
        };
        let meta = self.platform.meta(addr);
        // The access is checked once the operation has acquired what it observed, and
        // stamped with the epoch it releases, under the address's lock: the atomics on
        // this word it synchronises with happen before it, so its cell replaces theirs,
        // and a contended counter or mutex word keeps one cell instead of one per
        // goroutine. (`access` is written out at each of the four places: called
        // through a closure, it was compiled out of line.)
        let (r, released) = if op == AtomicOp::Load {
            // Load first, then look for a sync object: a store that this load observes
            // created its object (and released into it) before storing. If there is
            // one, acquire it and load again under its lock, so that the value and the
            // clock belong together.
            let first = perform().0;
            match self.syncs.get(meta, addr) {
                None => {
                    self.access(g, addr, size, kind, pc);
                    (first, false)
                }
                Some(var) => {
                    let s = var.state.lock();
                    g.clock.acquire(&s.clock);
                    let r = perform().0;
                    self.access(g, addr, size, kind, pc);
                    (r, false)
                }
            }
        } else {
            self.platform.meta_created(addr);
            match self.syncs.get_or_create(meta, addr) {
                None => {
                    self.access(g, addr, size, kind, pc);
                    (perform().0, false)
                }
                Some(var) => {
                    let mut s = var.state.lock();
                    let (r, wrote) = if op == AtomicOp::Store {
                        s.clock.store(&g.clock);
                        (perform().0, true)
                    } else {
                        let (r, wrote) = perform();
                        g.clock.acquire(&s.clock);
                        if wrote {
                            s.clock.merge(&g.clock);
                        }
                        (r, wrote)
                    };
                    self.access(g, addr, size, kind, pc);
                    (r, wrote)
                }
            }
        };
        if released {
            self.tick(g);
        }
        g.stack.pop();
        r
    }

    /// Memory `[addr, addr+size)` was allocated: forget what was there before.
    pub fn malloc(&self, addr: usize, size: usize) {
        bump(Stat::Malloc);
        if size != 0 && self.platform.is_app(addr) {
            self.platform.reset_shadow(addr, size);
        }
    }

    /// Memory `[addr, addr+size)` was freed: drop its sync objects.
    #[inline]
    pub fn free(&self, addr: usize, size: usize) {
        if !self.platform.is_app(addr) {
            return;
        }
        if self.options.detect_deadlocks {
            // A tail call: the common path keeps nothing live across a call.
            return self.free_locks(addr, size);
        }
        // Most freed memory never held a sync object: its meta words are not read.
        if self.platform.may_have_meta(addr, size) {
            self.free_syncs(addr, size);
        }
    }

    /// [`Self::free`] with lock-order tracking on: the locks in the memory go too.
    #[inline(never)]
    fn free_locks(&self, addr: usize, size: usize) {
        self.locks.lock().free(addr, size);
        if self.platform.may_have_meta(addr, size) {
            self.free_syncs(addr, size);
        }
    }

    #[inline(never)]
    fn free_syncs(&self, addr: usize, size: usize) {
        let mut a = addr & !7;
        while a < addr + size {
            self.syncs.free(self.platform.meta(a));
            a += 8;
        }
    }

    /// Races reported so far.
    pub fn report_count(&self) -> u64 {
        if self.options.detect_leaks {
            // `testing` asks after each test and at the end of the run, right before
            // os.Exit: a safe point to look at the live goroutines.
            self.observe_live();
        }
        self.reports.load(Ordering::Relaxed)
    }

    /// Symbolises where every live user goroutine is now, for the leak check at exit,
    /// which cannot (see [`Detector::first_entry`]). Called from safe points: the
    /// main goroutine's outermost function returning, `testing`'s report counts.
    #[inline(never)]
    fn observe_live(&self) {
        let alive = self.user_goroutines(true);
        let mut seen = hashbrown::HashMap::new();
        for (v, _) in &alive {
            seen.insert(v.gid, Arc::new(self.observe(v)));
        }
        *self.observed.lock() = seen;
    }

    /// Where `v` is: its parked stack, else its last step, symbolised; and its
    /// function.
    fn observe(&self, v: &Visible) -> Observed {
        let last_site = v.last_site.load(Ordering::Relaxed);
        let gptr = v.gptr.load(Ordering::Relaxed);
        let (last_seen, nil_chan) = match self.parked_frames(gptr) {
            Some(p) => p,
            None if last_site == 0 => (Vec::new(), false),
            None => (self.frames(last_site), false),
        };
        let entry = self
            .platform
            .start_pc(gptr, v.ctx.load(Ordering::Relaxed), v.gopc)
            .and_then(|pc| {
                let mut f = Vec::new();
                // A return address one past the entry: the symbolizer steps back one.
                sym_entry(&self.platform, pc + 1, &mut f);
                f.into_iter().last()
            });
        Observed {
            last_seen,
            nil_chan,
            entry,
        }
    }

    #[cold]
    /// With `detect_deadlocks` (or `detect_leaks`, for `os.Exit`), before an atomic
    /// operation on `addr`: is it a lock operation? `callers` are the return addresses of the Go frames above it,
    /// innermost first (the first in the function that called the atomic; the frames
    /// of `sync`, which has no function-entry instrumentation, then of its caller); see
    /// [`crate::deadlock`].
    #[inline(never)]
    pub fn lock_atomic(&self, g: &mut Goroutine, addr: usize, callers: &[u64]) {
        if g.runs_on_g0 {
            return; // nothing that symbolises runs there (see `Goroutine::runs_on_g0`)
        }
        if self.options.detect_leaks && callers.iter().any(|&pc| self.pc_info(pc).exits) {
            // os.Exit(0) locks testlog's mutex on its way to racefini: the last safe
            // point to look at the live goroutines (main may never return). The caller
            // is exiting, not leaking.
            self.exiting.store(g.gid, Ordering::Relaxed);
            self.observe_live();
        }
        if !self.options.detect_deadlocks {
            return;
        }
        // sync/atomic's typed methods (`(*Int32).Add`) may be frames of their own.
        let Some(op) = callers
            .iter()
            .map(|&pc| self.pc_info(pc).op)
            .find(|&op| op != LockOp::Atomic)
        else {
            return;
        };
        if op == LockOp::None {
            return;
        }
        g.pending_try = None;
        let rw = addr.wrapping_sub(READER_COUNT);
        let (lock, mode) = match op {
            LockOp::RLock | LockOp::TryRLock | LockOp::RUnlock => (rw, Mode::Read),
            _ => (addr, Mode::Write),
        };
        match op {
            LockOp::Unlock | LockOp::RUnlock => self.locks.lock().unlock(g.gid, lock, mode),
            LockOp::TryLock | LockOp::TryRLock => {
                g.pending_try = Some(PendingTry {
                    acquire: if mode == Mode::Read {
                        rw + READER_SEM
                    } else {
                        addr
                    },
                    lock,
                    mode,
                    site: self.lock_site(g, callers),
                });
            }
            _ => {
                let site = self.lock_site(g, callers);
                let (found, waits) = {
                    let mut graph = self.locks.lock();
                    let found = graph.lock(g.gid, lock, mode, site, false);
                    (found, graph.take_new_waits())
                };
                self.emit_deadlocks(&found);
                for w in waits.into_iter().filter(|w| !self.std_only(w)) {
                    let text = self.deadlock_text(&w);
                    self.stuck_texts.lock().push((w, text));
                }
            }
        }
    }

    /// The stack of a lock operation: `callers` up to the first frame in the program's
    /// own (instrumented) code, on top of the shadow stack, which continues from there.
    fn lock_site(&self, g: &mut Goroutine, callers: &[u64]) -> u32 {
        let own = callers
            .iter()
            .position(|&pc| !self.pc_info(pc).sync_internal)
            .unwrap_or(0);
        for &pc in callers[1..=own].iter().rev() {
            g.stack.push(pc);
        }
        let site = g.stack.site(&self.stacks, callers[0]);
        for _ in 0..own {
            g.stack.pop();
        }
        if self.options.deadlock_watchdog_s > 0 {
            self.render(g, site);
        }
        site
    }

    /// What atomics called from `pc` are, symbolised once per pc.
    fn pc_info(&self, pc: u64) -> PcInfo {
        if let Some(&info) = self.lock_ops.lock().get(&pc) {
            return info;
        }
        let mut frames = Vec::new();
        self.platform.symbolizer().frames(pc, &mut frames);
        let info = PcInfo {
            op: if frames.iter().all(|f| f.func.starts_with("sync/atomic.")) {
                LockOp::Atomic
            } else {
                crate::deadlock::classify(&frames)
            },
            sync_internal: frames
                .last()
                .is_some_and(|f| crate::deadlock::is_sync_internal(&f.func)),
            exits: frames.iter().any(|f| f.func == "os.Exit"),
        };
        self.lock_ops.lock().insert(pc, info);
        info
    }

    /// A deadlock finding's report (symbolised now).
    fn deadlock_text(&self, f: &Finding) -> String {
        let rw: Vec<usize> = {
            let graph = self.locks.lock();
            match f {
                Finding::Cycle { edges } => edges.iter().map(|e| e.from).collect(),
                _ => Vec::new(),
            }
            .into_iter()
            .filter(|&l| graph.is_rw(l))
            .collect()
        };
        let style = Style {
            strip_path_prefix: &self.options.strip_path_prefix,
        };
        f.to_text(&mut |node| self.frames(node), &|l| rw.contains(&l), &style)
    }

    /// Prints deadlock findings (under the report lock, like races) and counts them;
    /// findings about the standard library's own locks only are not the program's
    /// (syscall's fork lock gate, `sync`'s own tests) and are left out.
    fn emit_deadlocks(&self, found: &[Finding]) {
        for f in found {
            if !self.std_only(f) {
                let text = self.deadlock_text(f);
                self.write_deadlock(&text);
            }
        }
    }

    /// Whether every acquisition of `f` is the standard library's.
    fn std_only(&self, f: &Finding) -> bool {
        f.sites()
            .into_iter()
            .all(|node| crate::deadlock::std_acquisition(&self.frames(node)))
    }

    fn write_deadlock(&self, text: &str) {
        let _seen = self.seen.lock();
        self.platform.write(text);
        self.deadlocks.fetch_add(1, Ordering::Relaxed);
        if self.options.halt_on_error {
            self.platform.exit(self.options.exitcode);
        }
    }

    #[inline(never)]
    fn report_race(&self, g: &mut Goroutine, addr: usize, cur: Cell, prev: Cell, pc: u64) {
        let granule = (addr & !7) as u64;
        let tenure = self.slots.who(prev.slot(), prev.epoch());
        let mut goroutines = Vec::new();
        if g.gid != MAIN_GID {
            let (created_at, truncated) = self.stacks.stack(g.creation);
            goroutines.push(GoroutineNote {
                gid: g.gid,
                running: true,
                created_at,
                truncated,
            });
        }
        if let Some(t) = tenure.filter(|t| t.gid != MAIN_GID && t.gid != g.gid) {
            let (created_at, truncated) = self.stacks.stack(t.creation);
            goroutines.push(GoroutineNote {
                gid: t.gid,
                running: !t.finished,
                created_at,
                truncated,
            });
        }
        let (prev_stack, prev_truncated) = self.stacks.stack(prev.site());
        let report = RaceReport {
            current: Access {
                addr: granule | cur.offset(),
                write: !cur.kind().is_read(),
                atomic: cur.kind().is_atomic(),
                gid: Some(g.gid),
                stack: iter::once(pc).chain(g.stack.pcs().rev()).collect(),
                truncated: false,
            },
            previous: Access {
                addr: granule | prev.offset(),
                write: !prev.kind().is_read(),
                atomic: prev.kind().is_atomic(),
                gid: tenure.map(|t| t.gid),
                stack: prev_stack,
                truncated: prev_truncated,
            },
            goroutines,
        };
        self.emit(&report);
    }

    /// Prints a report unless it is a duplicate; counts it; halts if asked to.
    pub fn emit(&self, report: &RaceReport) {
        let mut seen = self.seen.lock();
        let o = &self.options;
        if seen.is_duplicate(report, o.suppress_equal_stacks, o.suppress_equal_addresses) {
            return;
        }
        let style = Style {
            strip_path_prefix: &o.strip_path_prefix,
        };
        let text: String = report.to_text(&mut self.platform.symbolizer(), &style);
        self.platform.write(&text);
        self.reports.fetch_add(1, Ordering::Relaxed);
        if o.halt_on_error {
            self.platform.exit(o.exitcode);
        }
    }

    /// Program exit (status 0 path): sleep, summarise, choose the exit status.
    ///
    /// The summary is written under the report lock, which is then kept: a report
    /// another goroutine is printing at this moment is counted, and no report can
    /// start after `Found N` (the caller exits right away).
    pub fn fini(&self) -> i32 {
        self.platform.sleep_ms(self.options.atexit_sleep_ms);
        let stats = crate::stats::summary();
        if !stats.is_empty() {
            self.platform.write(&stats);
        }
        let leaks = self.check_leaks();
        if self.options.detect_deadlocks {
            // Prepared when each wait began: nothing is symbolised here.
            let stuck = self.locks.lock().stuck_on_finished();
            let texts = core::mem::take(&mut *self.stuck_texts.lock());
            for (f, text) in texts {
                if stuck.contains(&f) {
                    self.write_deadlock(&text);
                }
            }
        }
        let seen = self.seen.lock();
        let n = self.reports.load(Ordering::Relaxed);
        if n > 0 {
            self.platform
                .write(&alloc::format!("Found {n} data race(s)\n"));
        }
        let deadlocks = self.deadlocks.load(Ordering::Relaxed);
        if deadlocks > 0 {
            self.platform
                .write(&alloc::format!("Found {deadlocks} potential deadlock(s)\n"));
        }
        core::mem::forget(seen);
        if n > 0 || leaks > 0 || deadlocks > 0 {
            self.options.exitcode
        } else {
            0
        }
    }

    /// The user goroutines alive now, with their creation stacks (symbolised at their
    /// first function entry). A goroutine that never entered an instrumented function
    /// is classified here if `symbolize` (only at safe points), else left out.
    fn user_goroutines(&self, symbolize: bool) -> Vec<(Arc<Visible>, Vec<crate::report::Frame>)> {
        use crate::leak::{CLASS_UNKNOWN, CLASS_USER};
        let mut out = Vec::new();
        for v in self.live.snapshot() {
            let class = v.class.load(Ordering::Relaxed);
            let created = match class {
                CLASS_USER => match self.creations.lock().get(&v.creation) {
                    Some(c) => c.frames.clone(),
                    None => continue,
                },
                CLASS_UNKNOWN if symbolize => match self.classify(&v) {
                    Some(c) => c.frames.clone(),
                    None => continue,
                },
                _ => continue,
            };
            out.push((v, created));
        }
        out
    }

    /// Waits up to `grace_ms` for the goroutines of `alive` (first field of each entry)
    /// to end, returning those still alive. A goroutine's own record is shared with the
    /// live set: once only this list holds it, the goroutine has ended.
    fn survivors<T>(
        &self,
        mut alive: Vec<(Arc<Visible>, T)>,
        grace_ms: u32,
    ) -> Vec<(Arc<Visible>, T)> {
        let mut waited = 0;
        loop {
            alive.retain(|(v, _)| Arc::strong_count(v) > 1);
            if alive.is_empty() || waited >= grace_ms {
                return alive;
            }
            let step = (grace_ms - waited).min(10);
            self.platform.sleep_ms(step);
            waited += step;
        }
    }

    /// At exit: reports the user goroutines still alive after the grace period as
    /// leaks (with `detect_leaks`; otherwise one hint line if there are any). Returns
    /// the number of leaks reported.
    fn check_leaks(&self) -> u64 {
        use crate::leak::{group, ignored, test_function, wait_reason, Leak};
        let o = &self.options;
        let alive = self.user_goroutines(false);
        if !o.detect_leaks {
            // A goroutine that is past its last step but not yet gone is not worth a
            // line: a short wait, over at once when they have all ended.
            let alive = self.survivors(alive, o.leak_grace_ms.min(HINT_GRACE_MS));
            if !alive.is_empty() {
                self.platform.write(&alloc::format!(
                    "gorace: {} goroutine(s) still running at exit; \
                     GORACE=detect_leaks=1 (gorace --leaks) reports them as leaks\n",
                    alive.len()
                ));
            }
            return 0;
        }
        let alive = self.survivors(alive, o.leak_grace_ms);
        if alive.is_empty() {
            return 0;
        }
        // Nothing is symbolised here: racefini has given up the P, and Go's symbolizer
        // may need one. Where each goroutine is comes from the last safe point.
        let now = self.platform.ticks();
        let observed = core::mem::take(&mut *self.observed.lock());
        let mut leaks = Vec::new();
        for (v, created_at) in alive {
            let (last_seen, nil_chan, entry) = match observed.get(&v.gid) {
                Some(ob) => (ob.last_seen.clone(), ob.nil_chan, ob.entry.clone()),
                None => (Vec::new(), false, None),
            };
            // The goroutine that called os.Exit is exiting, not leaking.
            if v.gid == self.exiting.load(Ordering::Relaxed)
                || last_seen.iter().any(|f| f.func == "os.Exit")
                || ignored(&o.leak_ignore, &last_seen, &created_at)
            {
                continue;
            }
            let last_tick = v.last_tick.load(Ordering::Relaxed);
            let test = {
                let creations = self.creations.lock();
                v.chain
                    .iter()
                    .take_while(|&&node| node != 0)
                    .find_map(|&node| test_function(&creations.get(&node)?.frames))
            };
            // Where it blocked shows in the runtime frames on top (runtime.chansend);
            // the report starts at the program's own code.
            let reason = wait_reason(&last_seen, nil_chan);
            let since_ms = self.platform.ms_between(last_tick, now);
            let mut last_seen = last_seen;
            let plumbing = last_seen
                .iter()
                .take_while(|f| crate::leak::is_plumbing(f))
                .count();
            // Only plumbing (a step without a pc of its own, in the goroutine's first
            // function, or an atomic's wrappers): the goroutine's function says more.
            last_seen.drain(..plumbing);
            leaks.push(Leak {
                gid: v.gid,
                // No step in the last part of the grace period (polling loops step
                // every few ms; memory accesses do not count as steps).
                blocked: since_ms >= o.leak_grace_ms.min(HINT_GRACE_MS) as u64 / 2,
                wait_reason: reason,
                since_ms,
                last_seen,
                entry,
                created_at,
                test,
                site: v.creation,
            });
        }
        let groups = group(leaks);
        let style = Style {
            strip_path_prefix: &o.strip_path_prefix,
        };
        let mut n = 0;
        for g in &groups {
            self.platform.write(&g.to_text(&style));
            n += g.count as u64;
        }
        if n > 0 {
            self.platform
                .write(&alloc::format!("Found {n} goroutine leak(s)\n"));
        }
        n
    }
}

impl<P: Platform> Detector<P> {
    /// The real stack of a parked goroutine (its `g` at `gptr`), symbolised without
    /// `runtime.goexit`, and whether it parked on a nil channel; `None` when it is not
    /// parked or its `g` cannot be read.
    ///
    /// `chanrecv` and `chansend` park on a nil channel in their first lines and on a
    /// real one some hundred lines further: the distance from the function's first
    /// line tells the two apart.
    fn parked_frames(&self, gptr: usize) -> Option<(Vec<crate::report::Frame>, bool)> {
        const NIL_CHAN_LINES: u64 = 40;
        let pcs = self.platform.parked_stack(gptr);
        if pcs.is_empty() {
            return None;
        }
        let mut sym = self.platform.symbolizer();
        let (mut frames, mut nil_chan) = (Vec::new(), false);
        for &pc in &pcs {
            let first = frames.len();
            sym.frames(pc, &mut frames);
            // The physical function of this pc is the last of its frames.
            let Some(f) = frames[first..].last() else {
                continue;
            };
            if matches!(f.func.as_str(), "runtime.chanrecv" | "runtime.chansend") {
                let mut entry = Vec::new();
                // The symbolizer steps back one: pc - offset is one past the entry.
                sym.frames(pc - f.offset, &mut entry);
                nil_chan = entry
                    .last()
                    .is_some_and(|e| f.line.saturating_sub(e.line) < NIL_CHAN_LINES);
            }
        }
        frames.pop();
        Some((frames, nil_chan))
    }
}

/// The function at `pc`, symbolised (the outermost frame of its inlining).
fn sym_entry<P: Platform>(platform: &P, pc: u64, out: &mut Vec<crate::report::Frame>) {
    platform.symbolizer().frames(pc, out);
}

/// The kind of atomic operation, which decides its synchronisation (Go's atomics are
/// sequentially consistent).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AtomicOp {
    /// Load: acquire.
    Load,
    /// Store: release (the sync clock becomes the storer's).
    Store,
    /// Swap, add, and, or: acquire, then release merging into the sync clock, so a
    /// later acquire sees every earlier read-modify-write (a release sequence).
    ReadModifyWrite,
    /// Compare-and-swap: like `ReadModifyWrite` when it swaps, a load when it fails.
    CompareAndSwap,
}
