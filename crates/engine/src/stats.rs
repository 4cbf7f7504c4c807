//! Event counters for profiling the hot path (feature `stats`; compiled out otherwise).
//!
//! `cargo xtask bench --stats` builds a runtime with them and prints, per workload, how
//! many accesses took the fast path, which shape of the slow path decided the rest, and
//! how often a site had to be interned: the numbers `docs/performance.md` quotes.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// What is counted.
#[derive(Clone, Copy, Debug)]
#[repr(usize)]
pub enum Stat {
    /// Scalar accesses (plain and atomic).
    Access,
    /// Scalar accesses that missed the fast path and were not on the goroutine's own
    /// stack.
    Slow,
    /// Scalar accesses that missed the fast path, to the goroutine's own stack.
    OwnStack,
    /// Granules of range accesses.
    RangeGranule,
    /// Range granules that missed the fast path.
    RangeSlow,
    /// Slow paths decided by the one-cell shapes.
    OneCell,
    /// Slow paths past the one-cell shapes.
    General,
    /// ...of which replaced both primary cells without the general comparison.
    Superseded,
    /// Checks that read the granule's spilled cells too.
    Spilled,
    /// ...of which found none of them the granule's, which went back to its primary
    /// pair.
    Unspilled,
    /// ...of which found the access known from a spilled cell.
    SpilledKnown,
    /// ...of which moved that cell into the primary pair.
    Promoted,
    /// Goroutines' own earlier accesses renewed in place in a spilled cell.
    Renewed,
    /// Cells evicted from a full granule.
    Evicted,
    /// Races found by the second look after a store: an access another goroutine
    /// stored into the granule at the same instant.
    Rechecked,
    /// Primary cells that happened before a third access, spilled in its place.
    Demoted,
    /// Cells written (a stored access).
    Stored,
    /// Sites computed outside the inline cache hit.
    SiteSlow,
    /// Stack-depot lookups (site cache misses).
    DepotLookup,
    /// Stack-depot nodes made.
    DepotNode,
    /// Depot lookups that found the depot at its soft cap (a locked look).
    DepotFull,
    /// Function entries.
    FuncEnter,
    /// Releases and acquires on addresses.
    Sync,
    /// Atomic operations.
    Atomic,
    /// Goroutines started.
    GoStart,
    /// Slots taken (a goroutine's first run, or its move after a preemption).
    Attach,
    /// ...of which preempted another goroutine's slot.
    Preempted,
    /// Heap objects allocated.
    Malloc,
}

const N: usize = Stat::Malloc as usize + 1;
const NAMES: [&str; N] = [
    "access",
    "slow",
    "own_stack",
    "range_granule",
    "range_slow",
    "one_cell",
    "general",
    "superseded",
    "spilled",
    "unspilled",
    "spilled_known",
    "promoted",
    "renewed",
    "evicted",
    "rechecked",
    "demoted",
    "stored",
    "site_slow",
    "depot_lookup",
    "depot_node",
    "depot_full",
    "func_enter",
    "sync",
    "atomic",
    "go_start",
    "attach",
    "preempted",
    "malloc",
];

static COUNTS: [AtomicU64; N] = [const { AtomicU64::new(0) }; N];

/// Counts one `s` (nothing unless the `stats` feature is on).
#[inline(always)]
pub fn bump(s: Stat) {
    if cfg!(feature = "stats") {
        COUNTS[s as usize].fetch_add(1, Relaxed);
    }
}

/// Counts `n` of `s` at once (nothing unless the `stats` feature is on).
#[inline(always)]
pub fn bump_by(s: Stat, n: usize) {
    if cfg!(feature = "stats") {
        COUNTS[s as usize].fetch_add(n as u64, Relaxed);
    }
}

/// `name=count` pairs, one line; empty unless the `stats` feature is on.
pub fn summary() -> alloc::string::String {
    let mut s = alloc::string::String::new();
    if cfg!(feature = "stats") {
        s.push_str("gorace stats:");
        for (name, c) in NAMES.iter().zip(&COUNTS) {
            s.push_str(&alloc::format!(" {name}={}", c.load(Relaxed)));
        }
        s.push('\n');
    }
    s
}
