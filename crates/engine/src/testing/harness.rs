//! Running one synthetic event stream through the engine and the reference model side
//! by side, checking every access.
//!
//! # What is checked, and why it is sound
//!
//! After each event the reports the engine printed are parsed back ([`super::parse`]).
//! An event prints at most one report, and only accesses (plain, range, atomic) print.
//!
//! **No false positives** (every access, always): when the engine reports a race at an
//! access `X`, the previous access it names (identified by its pc, every event has its
//! own) must be in the model's *truth* for the reported part of `X`: an earlier access
//! in the history of those bytes that conflicts with `X` and does not happen-before it.
//! The report must also describe both accesses exactly (address, kind, goroutine,
//! stacks, goroutine notes with creation stacks and running/finished state).
//!
//! **No false negatives** (every access where the engine promises precision): the
//! engine reports at the first conflicting *remembered* access and then does not
//! remember the racing access (nor, for a range, anything from that granule on). Two
//! comparisons suggest themselves:
//!
//! 1. the model remembers every access, racing or not, and we compare race/no-race per
//!    access: unsound for false negatives. After `W1` (g1) and a racing `W2` (g2,
//!    reported, not stored), a read by g3 ordered after `W1` but not `W2` races in such
//!    a model but cannot be reported by the engine, which by design never stored `W2`;
//! 2. the model also forgets racing accesses, exactly as documented
//!    ([`super::Reference::access_with_stack`]), and we compare the verdict (race or
//!    not, and in which granule) per access. As long as all verdicts agree, the model's
//!    remembered set is exactly what the engine must be able to recall (its cell
//!    replacement is claimed lossless), so the first disagreement is a real engine
//!    bug. This is the comparison used. (The truth used for false positives is still
//!    the full history: a race with a non-remembered access is a real race.)
//!
//! The engine is only precise under conditions, checked here rather than built into the
//! generators, so that streams can be as free as possible:
//!
//! - *Eviction.* A granule keeps four cells; an access that finds all four occupied
//!   may evict one, the only way the engine forgets a remembered access. The harness
//!   reads the granule's cells from the test platform before and after such an
//!   access: a cell that disappeared is fine when the model says the new access made
//!   it redundant (it happens-before the new access, which covers its bytes and races
//!   with everything it races with: the engine's replacement rule); otherwise it was
//!   evicted and the granule is *tainted*: its accesses are not checked for false
//!   negatives until a `malloc` resets it. (A cell disappearing from the granule of a
//!   reported race is an error: racing accesses store nothing.) Eviction does not need
//!   five mutually unordered accesses: five single-byte writes of one goroutine, or
//!   ordered accesses of different kinds (`W`, `R` in a later epoch, atomic `W`,
//!   atomic `R`), fill a granule.
//! - *A range access* whose verdict is not checked may stop at a different granule in
//!   the engine than in the model, so the remembered sets of all granules it touches
//!   may differ afterwards: they are tainted too.
//! - *Slot reuse.* With at most [`MAX_SLOTS`] goroutines created, slots are only
//!   reused when the new goroutine provably happens-after the old one, which loses
//!   nothing. Beyond that, a slot may be reused while some goroutine knows nothing
//!   about its last holder, which can hide races with that holder's accesses (the
//!   engine documents this). Then an access is only checked when every access in the
//!   history of its granules was made by a goroutine still alive: an alive goroutine
//!   holds its slot, so any clock entry at or above its first epoch there can only have
//!   come from it (epochs of a slot only grow), and all happens-before tests the
//!   engine made on those cells, now and before, were exact.
//! - *Global acquire* ([`Detector::acquire_global`], finalizers) makes the acquirer
//!   happen-after the current epoch of every goroutine, including the accesses those
//!   goroutines make later in the same epoch, before their next release
//!   (ThreadSanitizer does the same). Such accesses are not checked, and their
//!   granules are tainted.
//! - Fewer than 256 goroutines are alive at once (no slot sharing): the simulation
//!   refuses to start more than [`SimConfig::max_live`].
//!
//! `malloc` and `free` are generated on whole granules only: the engine resets shadow
//! and frees sync objects a granule at a time, so `malloc` of a part of a granule also
//! forgets its neighbours' accesses. That is harmless for Go, where under `-race` no
//! two heap objects share a granule (the tiny allocator is disabled and tiny objects
//! are padded to the end of their 16-byte slot).
//!
//! Every event has its own pcs ([`ACCESS_PC`] plus the event's index, and so on), so
//! streams must stay below a million events.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::parse::{parse_report, printed_stack, ParsedNote, ParsedReport};
use super::platform::TestPlatform;
use super::reference::{Gid, Reference, VClock, Verdict};
use crate::cell::{Cell, Kind};
use crate::clock::MAX_SLOTS;
use crate::detector::{AtomicOp, Detector};
use crate::goroutine::Goroutine;
use crate::options::Options;
use crate::report::MAIN_GID;

/// pcs of the event with index `i`: every event gets its own, so a report names the
/// event that made each access.
pub const ACCESS_PC: u64 = 1_000_000;
/// The `callerpc` of atomic operations.
pub const CALLER_PC: u64 = 2_000_000;
/// Function entries.
pub const ENTER_PC: u64 = 3_000_000;
/// `go` statements.
pub const GO_PC: u64 = 4_000_000;

/// Synchronisation on an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncOp {
    Acquire,
    Release,
    ReleaseMerge,
    ReleaseAcquire,
    AcquireRelease,
}

/// One event. `g` picks a live goroutine (index into the live list, modulo its
/// length); addresses are normalised into the configured windows, so every value of
/// every field is meaningful (friendly to random generation and shrinking).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// A scalar access of `len` bytes at byte `off` of data granule `granule` (`len`
    /// is clamped so the access stays in the granule).
    Access {
        g: u16,
        granule: u8,
        off: u8,
        len: u8,
        write: bool,
    },
    /// A range access of `size` bytes (at least 1) at byte `start` of the data
    /// window, clamped to the window.
    Range {
        g: u16,
        start: u16,
        size: u16,
        write: bool,
    },
    /// An atomic operation of `1 << log_size` bytes, naturally aligned at byte `off`
    /// of data granule `granule`. `cas_ok` says whether a compare-and-swap swapped.
    Atomic {
        g: u16,
        granule: u8,
        off: u8,
        log_size: u8,
        op: AtomicOp,
        cas_ok: bool,
    },
    /// Synchronisation on sync address number `addr` (modulo their number).
    Sync {
        g: u16,
        addr: u8,
        op: SyncOp,
    },
    IgnoreBegin {
        g: u16,
    },
    IgnoreEnd {
        g: u16,
    },
    FuncEnter {
        g: u16,
    },
    FuncExit {
        g: u16,
    },
    /// A `go` statement in goroutine `parent`, or a goroutine started by the runtime
    /// (empty clock). Ignored when [`SimConfig::max_live`] goroutines are alive.
    Go {
        parent: u16,
        runtime: bool,
    },
    /// The goroutine ends (ignored for the last live goroutine).
    End {
        g: u16,
    },
    /// `malloc` of `n` granules (at least 1) from granule `granule` of the window.
    Malloc {
        granule: u8,
        n: u8,
    },
    /// `free` of `n` granules (at least 1) from granule `granule` of the window.
    Free {
        granule: u8,
        n: u8,
    },
    AcquireGlobal {
        g: u16,
    },
}

/// Where a simulation's events land.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Accesses touch the first `data_granules` granules of application memory.
    pub data_granules: usize,
    /// Byte offsets (from the start of application memory) of the sync addresses.
    pub sync_addrs: Vec<usize>,
    /// Most goroutines alive at once (goroutine 0 and the main goroutine included).
    pub max_live: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            data_granules: 4,
            sync_addrs: vec![4, 8, 24, 28, 32],
            max_live: 4,
        }
    }
}

/// Counters, to check that generators exercise what they should.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub events: usize,
    /// Goroutines created (`init_goroutine` included).
    pub goroutines: usize,
    pub accesses: usize,
    pub reports: usize,
    /// Accesses whose verdict was compared (false-negative check).
    pub checked: usize,
    /// ... of which the model said they race.
    pub checked_races: usize,
    /// Checked accesses after more than [`MAX_SLOTS`] goroutines were created.
    pub checked_after_reuse: usize,
    /// ... of which the model said they race.
    pub checked_races_after_reuse: usize,
    /// Runs in which every slot was used (so later goroutines may reuse slots whose
    /// last holder they know nothing about).
    pub slots_exhausted: usize,
    /// Accesses that found a granule with four occupied cells.
    pub full_granules: usize,
    /// ... and lost one of them without it being made redundant (an eviction).
    pub evictions: usize,
    /// Accesses in an epoch another goroutine acquired globally.
    pub after_global: usize,
    /// Accesses not checked because a granule was tainted.
    pub unchecked_tainted: usize,
    /// Accesses not checked because a goroutine in their granules' history has ended
    /// (only after more than [`MAX_SLOTS`] goroutines were created).
    pub unchecked_dead: usize,
}

impl Stats {
    pub fn add(&mut self, o: &Stats) {
        self.events += o.events;
        self.goroutines += o.goroutines;
        self.accesses += o.accesses;
        self.reports += o.reports;
        self.checked += o.checked;
        self.checked_races += o.checked_races;
        self.checked_after_reuse += o.checked_after_reuse;
        self.checked_races_after_reuse += o.checked_races_after_reuse;
        self.slots_exhausted += o.slots_exhausted;
        self.full_granules += o.full_granules;
        self.evictions += o.evictions;
        self.after_global += o.after_global;
        self.unchecked_tainted += o.unchecked_tainted;
        self.unchecked_dead += o.unchecked_dead;
    }
}

/// How an access is made.
#[derive(Clone, Copy)]
enum How {
    Scalar,
    Range,
    Atomic(AtomicOp, bool),
}

/// The engine (over a [`TestPlatform`]) and the reference model, driven together.
pub struct Sim {
    pub det: Box<Detector<TestPlatform>>,
    pub model: Reference,
    pub cfg: SimConfig,
    pub stats: Stats,
    gs: Vec<Option<Box<Goroutine>>>,
    live: Vec<Gid>,
    event: usize,
    /// Per granule of the window: the engine may have lost precision there.
    tainted: Vec<bool>,
    /// Per goroutine id: its engine epoch when another goroutine acquired globally
    /// (see the module documentation).
    acquired_globally_at: Vec<Option<u32>>,
}

/// Options under which every detected race is printed.
pub fn report_everything() -> Options {
    Options {
        suppress_equal_stacks: false,
        suppress_equal_addresses: false,
        atexit_sleep_ms: 0,
        ..Options::default()
    }
}

impl Sim {
    /// Goroutine 0 (`init_goroutine`) and the main goroutine (1) it starts are alive.
    pub fn new(cfg: SimConfig) -> Result<Sim, String> {
        let det = Box::new(Detector::new(TestPlatform::new(), report_everything()));
        let g0 = det.init_goroutine();
        let window = cfg
            .sync_addrs
            .iter()
            .map(|a| a / 8 + 1)
            .max()
            .unwrap_or(0)
            .max(cfg.data_granules);
        assert!(cfg.data_granules > 0 && window * 8 <= det.platform.size());
        assert!(cfg.max_live >= 2 && cfg.max_live < MAX_SLOTS);
        let mut sim = Sim {
            det,
            model: Reference::new(),
            cfg,
            stats: Stats::default(),
            gs: Vec::new(),
            live: vec![0],
            event: 0,
            tainted: vec![false; window],
            acquired_globally_at: vec![None],
        };
        sim.stats.goroutines = 1;
        if g0.gid != 0 {
            return Err(format!("init_goroutine() has gid {}, want 0", g0.gid));
        }
        sim.gs.push(Some(g0));
        sim.step(&Op::Go {
            parent: 0,
            runtime: false,
        })?;
        Ok(sim)
    }

    /// Runs `ops` from a fresh simulation, then checks `fini`.
    pub fn run(cfg: SimConfig, ops: &[Op]) -> Result<Stats, String> {
        let mut sim = Sim::new(cfg)?;
        for op in ops {
            sim.step(op)?;
        }
        sim.finish()?;
        Ok(sim.stats)
    }

    fn base(&self) -> usize {
        self.det.platform.base()
    }

    fn actor(&self, g: u16) -> Gid {
        self.live[g as usize % self.live.len()]
    }

    fn engine_g(&mut self, gid: Gid) -> &mut Goroutine {
        self.gs[gid as usize]
            .as_deref_mut()
            .expect("live goroutine")
    }

    /// Executes one event in both and checks the engine's output.
    pub fn step(&mut self, op: &Op) -> Result<(), String> {
        self.event += 1;
        self.stats.events += 1;
        let i = self.event;
        let base = self.base();
        let data = self.cfg.data_granules;
        let window = self.tainted.len();
        match *op {
            Op::Access {
                g,
                granule,
                off,
                len,
                write,
            } => {
                let gid = self.actor(g);
                let off = off as usize % 8;
                let len = 1 + (len as usize).max(1).saturating_sub(1) % (8 - off);
                let addr = base + (granule as usize % data) * 8 + off;
                let kind = if write { Kind::Write } else { Kind::Read };
                return self.access(gid, addr, len, kind, How::Scalar);
            }
            Op::Range {
                g,
                start,
                size,
                write,
            } => {
                let gid = self.actor(g);
                let start = start as usize % (data * 8);
                let size = (size as usize).clamp(1, data * 8 - start);
                let kind = if write { Kind::Write } else { Kind::Read };
                return self.access(gid, base + start, size, kind, How::Range);
            }
            Op::Atomic {
                g,
                granule,
                off,
                log_size,
                op,
                cas_ok,
            } => {
                let gid = self.actor(g);
                let size = 1usize << (log_size % 4);
                let off = (off as usize % 8) & !(size - 1);
                let addr = base + (granule as usize % data) * 8 + off;
                let kind = if op == AtomicOp::Load {
                    Kind::AtomicRead
                } else {
                    Kind::AtomicWrite
                };
                return self.access(gid, addr, size, kind, How::Atomic(op, cas_ok));
            }
            Op::Sync { g, addr, op } => {
                let gid = self.actor(g);
                let a = base + self.cfg.sync_addrs[addr as usize % self.cfg.sync_addrs.len()];
                let det = &*self.det;
                let eg = self.gs[gid as usize].as_deref_mut().expect("live");
                match op {
                    SyncOp::Acquire => {
                        det.acquire(eg, a);
                        self.model.acquire(gid, a);
                    }
                    SyncOp::Release => {
                        det.release(eg, a);
                        self.model.release(gid, a);
                    }
                    SyncOp::ReleaseMerge => {
                        det.release_merge(eg, a);
                        self.model.release_merge(gid, a);
                    }
                    SyncOp::ReleaseAcquire => {
                        det.release_acquire(eg, a);
                        self.model.release_acquire(gid, a);
                    }
                    SyncOp::AcquireRelease => {
                        det.acquire_release(eg, a);
                        self.model.acquire_release(gid, a);
                    }
                }
            }
            Op::IgnoreBegin { g } => {
                let gid = self.actor(g);
                self.engine_g(gid).ignore_sync += 1;
                self.model.ignore_sync_begin(gid);
            }
            Op::IgnoreEnd { g } => {
                let gid = self.actor(g);
                let eg = self.engine_g(gid);
                eg.ignore_sync = eg.ignore_sync.saturating_sub(1);
                self.model.ignore_sync_end(gid);
            }
            Op::FuncEnter { g } => {
                let gid = self.actor(g);
                let det = &*self.det;
                det.func_enter(
                    self.gs[gid as usize].as_deref_mut().unwrap(),
                    ENTER_PC + i as u64,
                    0,
                );
                self.model.func_enter(gid, ENTER_PC + i as u64);
            }
            Op::FuncExit { g } => {
                let gid = self.actor(g);
                if !self.model.gs[gid as usize].frames.is_empty() {
                    let det = &*self.det;
                    det.func_exit(self.gs[gid as usize].as_deref_mut().unwrap(), 0);
                    self.model.func_exit(gid);
                }
            }
            Op::Go { parent, runtime } => {
                if self.live.len() >= self.cfg.max_live {
                    return self.expect_silence(op);
                }
                let pc = GO_PC + i as u64;
                let (mut child, gid) = if runtime {
                    (self.det.go_start(None, pc), self.model.go_start(None, pc))
                } else {
                    let p = self.actor(parent);
                    let det = &*self.det;
                    let child = det.go_start(self.gs[p as usize].as_deref_mut(), pc);
                    (child, self.model.go_start(Some(p), pc))
                };
                if child.gid != gid {
                    return Err(format!(
                        "event {i}: go_start gave gid {}, want {gid}",
                        child.gid
                    ));
                }
                // It runs: its first function entry classifies it.
                self.det.first_entry(&mut child);
                self.stats.goroutines += 1;
                self.acquired_globally_at.push(None);
                self.gs.push(Some(child));
                self.live.push(gid);
            }
            Op::End { g } => {
                if self.live.len() > 1 {
                    let k = g as usize % self.live.len();
                    let gid = self.live.remove(k);
                    let eg = self.gs[gid as usize].take().expect("live");
                    self.det.go_end(eg);
                    self.model.go_end(gid);
                }
            }
            Op::Malloc { granule, n } => {
                let (a, size) = self.granules(granule, n, window);
                self.det.malloc(base + a, size);
                self.model.malloc(base + a, size);
                for t in &mut self.tainted[a / 8..(a + size) / 8] {
                    *t = false;
                }
            }
            Op::Free { granule, n } => {
                let (a, size) = self.granules(granule, n, window);
                self.det.free(base + a, size);
                self.model.free(base + a, size);
            }
            Op::AcquireGlobal { g } => {
                let gid = self.actor(g);
                let det = &*self.det;
                det.acquire_global(self.gs[gid as usize].as_deref_mut().unwrap());
                self.model.acquire_global(gid);
                for &h in &self.live {
                    if h != gid {
                        self.acquired_globally_at[h as usize] =
                            Some(self.gs[h as usize].as_ref().expect("live").epoch);
                    }
                }
            }
        }
        self.expect_silence(op)
    }

    /// `(offset, size)` of whole granules inside the window.
    fn granules(&self, granule: u8, n: u8, window: usize) -> (usize, usize) {
        let start = granule as usize % window;
        let n = (n as usize).clamp(1, window - start);
        (start * 8, n * 8)
    }

    fn expect_silence(&mut self, op: &Op) -> Result<(), String> {
        let w = self.det.platform.take_writes();
        if w.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "event {} ({op:?}) is not an access but printed {w:?}",
                self.event
            ))
        }
    }

    fn granules_of(&self, addr: usize, len: usize) -> core::ops::Range<usize> {
        let base = self.base();
        (addr - base) / 8..(addr + len - 1 - base) / 8 + 1
    }

    /// Whether the false-negative comparison applies to an access touching `granules`
    /// (see the module documentation).
    fn precise(&mut self, granules: core::ops::Range<usize>) -> bool {
        if granules.clone().any(|g| self.tainted[g]) {
            self.stats.unchecked_tainted += 1;
            return false;
        }
        if self.model.gs.len() <= MAX_SLOTS {
            return true;
        }
        let base = self.base();
        let all_alive = granules
            .flat_map(|g| base + g * 8..base + g * 8 + 8)
            .all(|b| {
                self.model
                    .history(b)
                    .iter()
                    .all(|&r| self.model.gs[self.model.recs[r].gid as usize].alive)
            });
        if !all_alive {
            self.stats.unchecked_dead += 1;
        }
        all_alive
    }

    fn access(
        &mut self,
        gid: Gid,
        addr: usize,
        len: usize,
        kind: Kind,
        how: How,
    ) -> Result<(), String> {
        let i = self.event;
        let pc = ACCESS_PC + i as u64;
        let granules = self.granules_of(addr, len);
        if let How::Atomic(op, _) = how {
            if self.model.gs[gid as usize].ignore_sync > 0 {
                // Not instrumented at all (the operation itself still happens).
                let det = &*self.det;
                let eg = self.gs[gid as usize].as_deref_mut().unwrap();
                let mut ran = false;
                det.atomic(eg, addr, len, op, (CALLER_PC + i as u64, pc), || {
                    ran = true;
                    ((), true)
                });
                let verdict =
                    self.model
                        .atomic(gid, addr, len, op, true, i, (CALLER_PC + i as u64, pc));
                assert!(verdict.is_none());
                let w = self.det.platform.take_writes();
                return match (ran, w.is_empty()) {
                    (true, true) => Ok(()),
                    (false, _) => Err(format!("event {i}: the atomic operation was not performed")),
                    (_, false) => Err(format!(
                        "event {i}: an atomic inside ignore_sync printed {w:?}"
                    )),
                };
            }
        }
        self.stats.accesses += 1;
        // Granules with no room left, as they were: the access may evict one. A range
        // access may itself take the last overflow cell of a block for one granule and
        // then find another granule of the block full: for it, granules whose own
        // pairs are in use count as full whatever the overflow holds.
        let may_fill = |a: usize| match how {
            How::Range => self.det.platform.own_pairs_full(a),
            _ => self.det.platform.granule_full(a),
        };
        let full: Vec<(usize, [Cell; super::platform::GRANULE_CELLS])> = granules
            .clone()
            .map(|g| self.base() + g * 8)
            .filter(|&a| may_fill(a))
            .map(|a| (a, self.det.platform.cells(a).0))
            .collect();
        self.stats.full_granules += full.len();
        let clock_before = (!full.is_empty()).then(|| self.model.gs[gid as usize].clock.clone());
        // An access in the same engine epoch as a global acquire by another goroutine
        // looks ordered before that goroutine, and before whoever it releases to; it
        // is also taken as equivalent to the goroutine's earlier accesses of the same
        // epoch (which really are ordered before), so its own verdict is not exact
        // either.
        let after_global = self.acquired_globally_at[gid as usize]
            == Some(self.gs[gid as usize].as_ref().expect("live").epoch);
        let precise = !after_global && self.precise(granules.clone());
        let det = &*self.det;
        let eg = self.gs[gid as usize].as_deref_mut().unwrap();
        let verdict: Verdict = match how {
            How::Scalar => {
                det.access(eg, addr, len, kind, pc);
                self.model.access(gid, addr, len, kind, i, pc)
            }
            How::Range => {
                det.access_range(eg, addr, len, kind, pc);
                self.model.access(gid, addr, len, kind, i, pc)
            }
            How::Atomic(op, ok) => {
                let callerpc = CALLER_PC + i as u64;
                let mut ran = false;
                let wrote = match op {
                    AtomicOp::CompareAndSwap => ok,
                    _ => true,
                };
                det.atomic(eg, addr, len, op, (callerpc, pc), || {
                    ran = true;
                    ((), wrote)
                });
                if !ran {
                    return Err(format!("event {i}: the atomic operation was not performed"));
                }
                self.model
                    .atomic(gid, addr, len, op, wrote, i, (callerpc, pc))
                    .expect("instrumented")
            }
        };
        let writes = self.det.platform.take_writes();
        let report = match writes.as_slice() {
            [] => None,
            [one] => {
                self.stats.reports += 1;
                Some(
                    parse_report(one)
                        .map_err(|e| format!("event {i}: unparsable report ({e}):\n{one}"))?,
                )
            }
            _ => {
                return Err(format!(
                    "event {i}: one access printed {} reports: {writes:?}",
                    writes.len()
                ))
            }
        };
        let ctx = || {
            format!(
                "event {i}: goroutine {gid} {kind:?} [{:#x}, {:#x})",
                addr,
                addr + len
            )
        };
        if let Some(clock) = clock_before {
            let raced_at = report.as_ref().map(|r| r.current.addr as usize & !7);
            for (a, before) in full {
                let after = self.det.platform.cells(a).0;
                let mut lost = before
                    .iter()
                    .filter(|c| !c.is_empty() && !after.contains(c));
                if raced_at == Some(a) {
                    if let Some(c) = lost.next() {
                        return Err(format!(
                            "{}: a remembered access was dropped while reporting a race: {c:?}",
                            ctx()
                        ));
                    }
                } else if lost.any(|&c| !self.made_redundant(c, a, &clock, kind, &verdict)) {
                    self.stats.evictions += 1;
                    let g = (a - self.base()) / 8;
                    self.tainted[g] = true;
                }
            }
        }
        if let Some(r) = &report {
            self.check_report(gid, kind, &verdict, r)
                .map_err(|e| format!("{}: {e}\nreport:\n{}", ctx(), writes[0]))?;
        }
        if precise {
            self.stats.checked += 1;
            let after_reuse = self.model.gs.len() > MAX_SLOTS;
            if after_reuse {
                self.stats.checked_after_reuse += 1;
            }
            if verdict.first_race.is_some() {
                self.stats.checked_races += 1;
                if after_reuse {
                    self.stats.checked_races_after_reuse += 1;
                }
            }
            self.compare_verdict(&verdict, report.as_ref())
                .map_err(|e| format!("{}: {e}", ctx()))?;
        }
        if after_global || (!precise && granules.len() > 1) {
            self.stats.after_global += after_global as usize;
            for g in granules {
                self.tainted[g] = true;
            }
        }
        Ok(())
    }

    /// Whether the cell `c` of the granule at `granule`, which the access `v` (by a goroutine whose clock was
    /// `clock`, of `kind`) removed, was made redundant by it according to the model:
    /// it happens-before the access, the access covers its bytes in the granule and
    /// races with everything it races with. Otherwise it was evicted.
    fn made_redundant(
        &self,
        c: Cell,
        granule: usize,
        clock: &VClock,
        kind: Kind,
        v: &Verdict,
    ) -> bool {
        let m = &self.model;
        let site = self.det.stacks.pcs(c.site());
        let Some(r) = site
            .first()
            .and_then(|pc| pc.checked_sub(ACCESS_PC))
            .and_then(|e| m.rec_of_event(e as usize))
        else {
            return false;
        };
        let r = &m.recs[r];
        let conflict =
            |a: Kind, b: Kind| !(a.is_read() && b.is_read() || a.is_atomic() && b.is_atomic());
        const KINDS: [Kind; 4] = [Kind::Write, Kind::Read, Kind::AtomicWrite, Kind::AtomicRead];
        let stronger = KINDS
            .iter()
            .all(|&k| !conflict(r.kind, k) || conflict(kind, k));
        let hb = clock.get(r.gid) >= r.epoch;
        let (lo, hi) = (r.lo.max(granule), r.hi.min(granule + 8));
        let covered = v
            .portions
            .iter()
            .any(|p| p.addr <= lo && hi <= p.addr + p.len);
        hb && stronger && covered
    }

    fn describe(&self, r: usize) -> String {
        let r = &self.model.recs[r];
        format!(
            "event {} (goroutine {} {:?} [{:#x}, {:#x}))",
            r.event, r.gid, r.kind, r.lo, r.hi
        )
    }

    /// False-negative check: the engine's verdict is the model's (see module docs).
    fn compare_verdict(&self, v: &Verdict, report: Option<&ParsedReport>) -> Result<(), String> {
        match (&v.first_race, report) {
            (None, None) => Ok(()),
            (Some((p, racers)), None) => Err(format!(
                "missed race: at [{:#x}, +{}) it races with {}",
                v.portions[*p].addr,
                v.portions[*p].len,
                racers
                    .iter()
                    .map(|&r| self.describe(r))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            (None, Some(r)) => Err(format!(
                "the engine reports a race at {:#x}, but the model remembers no conflicting \
                 access there (truth: {:?})",
                r.current.addr, v.portions
            )),
            (Some((p, racers)), Some(r)) => {
                let want = v.portions[*p].addr as u64;
                if r.current.addr != want {
                    return Err(format!(
                        "the engine reports the race at {:#x}, the model's first racing \
                         granule starts at {want:#x}",
                        r.current.addr
                    ));
                }
                let prev = self.named_prev(r)?;
                if !racers.contains(&prev) {
                    return Err(format!(
                        "the engine names {} as the previous access, which the model does \
                         not remember as racing (remembered racers: {})",
                        self.describe(prev),
                        racers
                            .iter()
                            .map(|&r| self.describe(r))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                Ok(())
            }
        }
    }

    /// The access a report names as previous (by its innermost pc).
    fn named_prev(&self, r: &ParsedReport) -> Result<usize, String> {
        let pc = *r
            .previous
            .stack
            .first()
            .ok_or("the previous access has no stack")?;
        let event = pc
            .checked_sub(ACCESS_PC)
            .filter(|&e| e < CALLER_PC - ACCESS_PC)
            .ok_or_else(|| format!("the previous access's pc {pc} is not an access pc"))?;
        self.model
            .rec_of_event(event as usize)
            .ok_or_else(|| format!("event {event} named as previous made no access"))
    }

    /// False-positive check and report contents.
    fn check_report(
        &self,
        gid: Gid,
        kind: Kind,
        v: &Verdict,
        r: &ParsedReport,
    ) -> Result<(), String> {
        let m = &self.model;
        let cur = &m.recs[v.rec];
        // The current access.
        let portion = v
            .portions
            .iter()
            .find(|p| p.addr as u64 == r.current.addr)
            .ok_or("the reported address is not where a granule's part of the access starts")?;
        if r.current.gid != Some(gid) {
            return Err(format!("current goroutine printed as {:?}", r.current.gid));
        }
        if r.current.write == kind.is_read() {
            return Err("current access kind (read/write) wrong".into());
        }
        if r.current.stack != printed_stack(&cur.stack) {
            return Err(format!(
                "current stack {:?}, want {:?}",
                r.current.stack,
                printed_stack(&cur.stack)
            ));
        }
        // The previous access: a real race.
        let prev = self.named_prev(r)?;
        if !portion.racers.contains(&prev) {
            let p = &m.recs[prev];
            let overlap = p.lo < portion.addr + portion.len && portion.addr < p.hi;
            let alive = (portion.addr..portion.addr + portion.len)
                .filter(|&b| p.lo <= b && b < p.hi)
                .all(|b| m.history(b).contains(&prev));
            return Err(format!(
                "FALSE POSITIVE: {} does not race with this access (bytes overlap: {overlap}, \
                 not forgotten by malloc: {alive}, happens-before: {}, kinds {:?}/{:?})",
                self.describe(prev),
                m.happens_before(prev, gid),
                p.kind,
                kind
            ));
        }
        let p = &m.recs[prev];
        if r.previous.gid != Some(p.gid) {
            return Err(format!(
                "previous goroutine printed as {:?}, want {}",
                r.previous.gid, p.gid
            ));
        }
        if r.previous.write == p.kind.is_read() {
            return Err("previous access kind (read/write) wrong".into());
        }
        let granule = portion.addr & !7;
        let want = p.lo.max(granule) as u64;
        if r.previous.addr != want {
            return Err(format!(
                "previous address {:#x}, want {want:#x}",
                r.previous.addr
            ));
        }
        if r.previous.stack != printed_stack(&p.stack) {
            return Err(format!(
                "previous stack {:?}, want {:?}",
                r.previous.stack,
                printed_stack(&p.stack)
            ));
        }
        // Goroutine notes.
        let note = |g: Gid| {
            let g = &m.gs[g as usize];
            ParsedNote {
                gid: g.gid,
                running: g.alive,
                created_at: printed_stack(&g.creation),
            }
        };
        let mut want = Vec::new();
        if gid != MAIN_GID {
            want.push(note(gid));
        }
        if p.gid != MAIN_GID && p.gid != gid {
            want.push(note(p.gid));
        }
        if r.goroutines != want {
            return Err(format!("goroutine notes {:?}, want {want:?}", r.goroutines));
        }
        Ok(())
    }

    /// Program exit: `fini` summarises iff something was reported.
    pub fn finish(&mut self) -> Result<(), String> {
        self.stats.slots_exhausted += (self.det.slots.used() == MAX_SLOTS) as usize;
        let n = self.stats.reports;
        if self.det.report_count() != n as u64 {
            return Err(format!(
                "report_count() = {}, {n} reports printed",
                self.det.report_count()
            ));
        }
        // Goroutines a `go` statement started and that did not end get a hint line
        // (the synthetic ones are user goroutines; leaks themselves are not detected).
        let alive = self
            .det
            .live
            .snapshot()
            .iter()
            .filter(|v| v.gid != MAIN_GID && v.parent != crate::leak::NO_PARENT)
            .count();
        let code = self.det.fini();
        let out = self.det.platform.take_writes().concat();
        let hint = if alive == 0 {
            String::new()
        } else {
            format!(
                "gorace: {alive} goroutine(s) still running at exit; \
                 GORACE=detect_leaks=1 (gorace --leaks) reports them as leaks\n"
            )
        };
        let (want_code, want_out) = if n == 0 {
            (0, hint)
        } else {
            (
                self.det.options.exitcode,
                format!("{hint}Found {n} data race(s)\n"),
            )
        };
        if (code, &out) != (want_code, &want_out) {
            return Err(format!(
                "fini: ({code}, {out:?}), want ({want_code}, {want_out:?})"
            ));
        }
        Ok(())
    }
}
