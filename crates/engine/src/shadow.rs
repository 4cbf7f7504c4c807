//! The per-granule race check: compare a new access with the remembered ones, report a
//! conflict, remember the new access.
//!
//! Every 8-byte granule of application memory has four [`Cell`]s: two *primary* cells,
//! always present, and two *secondary* cells in a separate plane that is only written
//! (and so only costs memory) for granules that need more than two remembered accesses.
//! The first primary cell's `more` bit says whether the secondary pair is in use.
//! Where the planes live is the caller's business ([`Granule`] is two pointers).
//!
//! Replacement rule (why two cells usually suffice): a remembered access `c` can be
//! forgotten when the new access `cur` happens after it, covers its bytes and is at least
//! as strong (see [`Cell::at_least_as_strong`]): any later access that would race with
//! `c` then races with `cur` too, so no race is lost, only reported against the newer
//! access. Accesses of one goroutine, epoch, kind and site to neighbouring bytes (a byte
//! loop) merge into one cell. When nothing can be replaced or merged and all four cells
//! are full, one is evicted: the granule then holds four accesses that none of the newer
//! ones subsumes (several goroutines, or one goroutine touching separate bytes of the
//! word from different pcs). Eviction is the one way this algorithm can miss a race;
//! ThreadSanitizer has the same four-cell bound.
//!
//! Cells are relaxed atomics. The fast path only loads; every store of the slow path
//! is a compare-and-swap against the value it checked, so two goroutines touching one
//! granule at the same instant never silently overwrite each other's access: the loser
//! checks again and sees the winner (ThreadSanitizer uses plain stores here and can
//! miss such races).

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::cell::Cell;
use crate::clock::ThreadClock;
use crate::stats::{bump, Stat};

/// The shadow of one granule: its primary and secondary cell pairs.
#[derive(Clone, Copy)]
pub struct Granule<'a> {
    pub primary: &'a [AtomicU64; 2],
    pub secondary: &'a [AtomicU64; 2],
}

/// Whether the cell `c` happens-before the owner of `clock`.
#[inline(always)]
pub fn happens_before(c: Cell, clock: &ThreadClock) -> bool {
    clock.get(c.slot()) >= c.epoch()
}

/// The fast path: one of the primary cells already records exactly this access (this
/// goroutine, this epoch, the same bytes, an access at least as strong): the common
/// case of code touching the same variables again between two releases. Two loads and
/// a few bit operations; no store.
#[inline(always)]
pub fn repeat(g: Granule<'_>, cur: Cell) -> bool {
    Cell(g.primary[0].load(Relaxed)).repeats(cur) || Cell(g.primary[1].load(Relaxed)).repeats(cur)
}

/// The first test of the slow path: a primary cell of this goroutine and epoch covers
/// `cur` with an access at least as strong (a scalar read of bytes a range write or a
/// byte loop recorded). Nothing to do, and no site needed.
#[inline(always)]
pub fn known(g: Granule<'_>, cur: Cell) -> bool {
    Cell(g.primary[0].load(Relaxed)).subsumes(cur) || Cell(g.primary[1].load(Relaxed)).subsumes(cur)
}

/// What [`check_and_store`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A remembered access already says everything this one would: nothing stored.
    Known,
    /// The access is now remembered.
    Stored,
    /// It races with this remembered access (nothing stored; the caller reports).
    Race(Cell),
}

/// The site of the access being checked, computed at most once and only when a cell
/// is about to be written (checking needs none; a race report takes the current stack
/// from the goroutine itself).
struct LazySite<F> {
    site: Option<u32>,
    make: F,
}

impl<F: FnMut() -> u32> LazySite<F> {
    #[inline(always)]
    fn on(&mut self, cur: Cell) -> Cell {
        let make = &mut self.make;
        cur.with_site(*self.site.get_or_insert_with(make))
    }
}

/// Checks `cur` (a cell without its site) against the granule's cells, read afresh,
/// and remembers it, with the site `site()` gives (called at most once, and only if
/// something is stored).
///
/// Every store is a compare-and-swap against the cell's value as read by this check;
/// when another goroutine changed it meanwhile, the check runs again with fresh cells
/// (and the secondary plane in view), so two goroutines touching one granule at the
/// same instant see each other instead of overwriting each other's access.
#[inline(always)]
pub fn check_and_store(
    g: Granule<'_>,
    clock: &ThreadClock,
    cur: Cell,
    site: impl FnMut() -> u32,
) -> Outcome {
    let mut site = LazySite {
        site: None,
        make: site,
    };
    let p0 = Cell(g.primary[0].load(Relaxed));
    let p1 = Cell(g.primary[1].load(Relaxed));
    if p0.0 == 0 && p1.0 == 0 {
        // Fresh memory: the most common slow path of all.
        bump(Stat::OneCell);
        let new = site.on(cur).0;
        if g.primary[0]
            .compare_exchange(0, new, Relaxed, Relaxed)
            .is_ok()
        {
            return Outcome::Stored;
        }
    }
    bump(Stat::General);
    check_and_store_general(g, clock, cur, &mut site)
}

/// [`check_and_store`] past the empty-granule case: the primary pair alone while no
/// granule spilled ([`check_cells`] over 2 cells), all four cells otherwise; again
/// until no compare-and-swap is lost.
#[inline(never)]
fn check_and_store_general<F: FnMut() -> u32>(
    g: Granule<'_>,
    clock: &ThreadClock,
    cur: Cell,
    site: &mut LazySite<F>,
) -> Outcome {
    let mut see_secondary = false;
    loop {
        let p0 = Cell(g.primary[0].load(Relaxed));
        let p1 = Cell(g.primary[1].load(Relaxed));
        let r = if p0.more() || see_secondary {
            let s0 = Cell(g.secondary[0].load(Relaxed));
            let s1 = Cell(g.secondary[1].load(Relaxed));
            check_cells(g, clock, cur, [p0, p1, s0, s1], site)
        } else {
            check_cells(g, clock, cur, [p0, p1], site)
        };
        match r {
            Some(outcome) => return outcome,
            None => see_secondary = true, // lost a store: look again, secondary included
        }
    }
}

/// One attempt over the granule's first `N` cells as read (`N` = 2: the primary pair,
/// the granule never spilled; 4: both pairs). `None` when one of its compare-and-swaps
/// lost to another goroutine.
///
/// A cell that already says everything `cur` would makes it known; a conflicting cell
/// that does not happen-before `cur` is a race; otherwise `cur` is remembered: merged
/// into a cell of the same goroutine, epoch, kind and site that touched the
/// neighbouring bytes (byte loops would otherwise fill the granule), else in place of
/// every cell it subsumes (the cell happens before it, it covers the cell's bytes, and
/// it is at least as strong, so any future race with the old access is also a race with
/// the new one), else in an empty cell, else spilled to the secondary pair, else
/// evicting one of the four.
#[inline(always)]
fn check_cells<const N: usize, F: FnMut() -> u32>(
    g: Granule<'_>,
    clock: &ThreadClock,
    cur: Cell,
    read: [Cell; N],
    site: &mut LazySite<F>,
) -> Option<Outcome> {
    let more = read[0].more();
    let mut cells = read;
    cells[0] = cells[0].with_more(false);
    let mut replace = [false; N];
    let mut any_replace = false;
    let mut mergeable = false;
    let mut empty = N;
    for i in 0..N {
        let c = cells[i];
        if c.is_empty() {
            if empty == N {
                empty = i;
            }
            continue;
        }
        mergeable |= c.same_access_but_site_and_range(cur);
        if !c.intersects(cur) {
            continue;
        }
        if c.subsumes(cur) {
            return Some(Outcome::Known);
        }
        let hb = happens_before(c, clock);
        if !hb && c.kinds_conflict(cur) {
            return Some(Outcome::Race(c));
        }
        if hb && cur.covers(c) && cur.at_least_as_strong(c) {
            replace[i] = true;
            any_replace = true;
        }
    }

    let new = site.on(cur);
    // Every store is a compare-and-swap against the value this check read: if another
    // goroutine changed the cell meanwhile (two accesses to one granule at the same
    // instant), the check runs again and sees that access instead of overwriting it.
    let put = |i: usize, c: Cell| {
        let (slot, v) = if i < 2 {
            let v = if i == 0 { c.with_more(more).0 } else { c.0 };
            (&g.primary[i], v)
        } else {
            (&g.secondary[i - 2], c.0)
        };
        let ok = slot
            .compare_exchange(read[i].0, v, Relaxed, Relaxed)
            .is_ok();
        if ok && i >= 2 && !more && !c.is_empty() {
            // Written on a retry that looked at the secondary plane before `more` was
            // set: make sure the cell is visible.
            g.primary[0].fetch_or(Cell::EMPTY.with_more(true).0, Relaxed);
        }
        ok
    };
    if mergeable {
        if let Some((i, merged)) = (0..N).find_map(|i| Some((i, cells[i].merge(new)?))) {
            if !put(i, merged) {
                return None;
            }
            for (j, &r) in replace.iter().enumerate() {
                if r && j != i {
                    put(j, Cell::EMPTY);
                }
            }
            return Some(Outcome::Stored);
        }
    }
    if any_replace {
        let mut placed = false;
        for (i, &r) in replace.iter().enumerate() {
            if r {
                if placed {
                    put(i, Cell::EMPTY);
                } else if !put(i, new) {
                    return None;
                } else {
                    placed = true;
                }
            }
        }
        return Some(Outcome::Stored);
    }
    if empty < N {
        return put(empty, new).then_some(Outcome::Stored);
    }
    if N == 2 {
        // Spill: claim the first secondary cell, then announce it.
        if g.secondary[0]
            .compare_exchange(0, new.0, Relaxed, Relaxed)
            .is_err()
        {
            return None;
        }
        g.primary[0].fetch_or(Cell::EMPTY.with_more(true).0, Relaxed);
        return Some(Outcome::Stored);
    }
    // All four cells hold accesses the new one does not subsume: evict one, chosen by a
    // cheap hash so that a steady stream of accesses does not always push out the same.
    let victim = ((cur.0 >> 16) ^ (cur.0 >> 40) ^ cells[0].0) as usize % N;
    put(victim, new).then_some(Outcome::Stored)
}

/// Forgets every access remembered for the granule (memory was freshly allocated).
/// Cells that are already empty are not written, so shadow pages that were never
/// touched stay unallocated.
#[inline]
pub fn clear(g: Granule<'_>) {
    let p0 = g.primary[0].load(Relaxed);
    if p0 != 0 {
        g.primary[0].store(0, Relaxed);
    }
    if g.primary[1].load(Relaxed) != 0 {
        g.primary[1].store(0, Relaxed);
    }
    if Cell(p0).more() {
        g.secondary[0].store(0, Relaxed);
        g.secondary[1].store(0, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::Kind;

    struct Mem([AtomicU64; 2], [AtomicU64; 2]);
    impl Mem {
        fn new() -> Self {
            Mem(Default::default(), Default::default())
        }
        fn g(&self) -> Granule<'_> {
            Granule {
                primary: &self.0,
                secondary: &self.1,
            }
        }
        fn cells(&self) -> usize {
            self.0
                .iter()
                .chain(self.1.iter())
                .filter(|c| !Cell(c.load(Relaxed)).is_empty())
                .count()
        }
    }

    fn clock(entries: &[(u16, u32)]) -> ThreadClock {
        let mut c = ThreadClock::new();
        for &(s, e) in entries {
            c.set(s, e);
        }
        c
    }

    fn acc(m: &Mem, clk: &ThreadClock, slot: u16, off: u64, len: u64, k: Kind) -> Option<Cell> {
        let cur = Cell::new(Cell::stamp(slot, clk.get(slot)), off, len, k);
        store(m, clk, cur, &mut || 9)
    }

    fn store(
        m: &Mem,
        clk: &ThreadClock,
        cur: Cell,
        site: &mut impl FnMut() -> u32,
    ) -> Option<Cell> {
        if known(m.g(), cur) {
            return None;
        }
        match check_and_store(m.g(), clk, cur, site) {
            Outcome::Race(c) => Some(c),
            Outcome::Known | Outcome::Stored => None,
        }
    }

    #[test]
    fn unordered_write_write_races() {
        let m = Mem::new();
        let a = clock(&[(1, 1)]);
        let b = clock(&[(2, 1)]);
        assert_eq!(acc(&m, &a, 1, 0, 8, Kind::Write), None);
        let prev = acc(&m, &b, 2, 0, 8, Kind::Write).expect("race");
        assert_eq!((prev.slot(), prev.site()), (1, 9));
    }

    #[test]
    fn ordered_accesses_do_not_race_and_compact() {
        let m = Mem::new();
        let a = clock(&[(1, 1)]);
        let b = clock(&[(1, 1), (2, 1)]); // b acquired a's epoch 1
        assert_eq!(acc(&m, &a, 1, 0, 8, Kind::Write), None);
        assert_eq!(acc(&m, &b, 2, 0, 8, Kind::Write), None);
        assert_eq!(m.cells(), 1, "the ordered write replaced the earlier one");
    }

    #[test]
    fn different_bytes_do_not_race() {
        let m = Mem::new();
        let a = clock(&[(1, 1)]);
        let b = clock(&[(2, 1)]);
        assert_eq!(acc(&m, &a, 1, 0, 1, Kind::Write), None);
        assert_eq!(acc(&m, &b, 2, 1, 1, Kind::Write), None);
        assert!(acc(&m, &b, 2, 0, 2, Kind::Read).is_some());
    }

    #[test]
    fn reads_and_atomics() {
        let m = Mem::new();
        let a = clock(&[(1, 1)]);
        let b = clock(&[(2, 1)]);
        assert_eq!(acc(&m, &a, 1, 0, 4, Kind::Read), None);
        assert_eq!(acc(&m, &b, 2, 0, 4, Kind::Read), None, "read/read");
        let m = Mem::new();
        assert_eq!(acc(&m, &a, 1, 0, 4, Kind::AtomicWrite), None);
        assert_eq!(
            acc(&m, &b, 2, 0, 4, Kind::AtomicWrite),
            None,
            "atomic/atomic"
        );
        assert!(
            acc(&m, &b, 2, 0, 4, Kind::Read).is_some(),
            "plain read vs atomic write"
        );
    }

    #[test]
    fn write_then_read_keeps_both_and_secondary_plane_is_used_only_when_needed() {
        let m = Mem::new();
        let mut a = clock(&[(1, 1)]);
        assert_eq!(acc(&m, &a, 1, 0, 8, Kind::Write), None);
        a.set(1, 2); // a released something
        assert_eq!(acc(&m, &a, 1, 0, 8, Kind::Read), None);
        assert_eq!(m.cells(), 2);
        assert!(!Cell(m.0[0].load(Relaxed)).more());
        // A third goroutine that saw a's epoch 1 but not 2: its read is fine (after the
        // write), its write races with the read at epoch 2.
        let c = clock(&[(1, 1), (3, 1)]);
        assert_eq!(acc(&m, &c, 3, 0, 8, Kind::Read), None);
        assert!(
            Cell(m.0[0].load(Relaxed)).more(),
            "third unordered access spills"
        );
        assert_eq!(m.cells(), 3);
        let prev = acc(&m, &c, 3, 0, 8, Kind::Write).expect("write after unordered read");
        assert_eq!((prev.slot(), prev.epoch(), prev.kind()), (1, 2, Kind::Read));
    }

    #[test]
    fn a_byte_loop_fills_one_cell() {
        let m = Mem::new();
        let a = clock(&[(1, 1)]);
        for off in 0..8 {
            assert_eq!(acc(&m, &a, 1, off, 1, Kind::Write), None);
        }
        assert_eq!(
            m.cells(),
            1,
            "eight adjacent bytes from one site merge into one cell"
        );
        let b = clock(&[(2, 1)]);
        for off in 0..8 {
            assert!(
                acc(&m, &b, 2, off, 1, Kind::Read).is_some(),
                "byte {off} races"
            );
        }
    }

    #[test]
    fn same_epoch_repeat_is_fast_path() {
        let m = Mem::new();
        let a = clock(&[(1, 3)]);
        let mut calls = 0;
        for _ in 0..3 {
            let cur = Cell::new(Cell::stamp(1, 3), 2, 2, Kind::Read);
            assert_eq!(
                store(&m, &a, cur, &mut || {
                    calls += 1;
                    5
                }),
                None
            );
        }
        assert_eq!(calls, 1, "only the first access needed a site");
    }

    #[test]
    fn a_lost_spill_is_retried_with_the_secondary_cells_in_view() {
        let m = Mem::new();
        let (a, b, c) = (clock(&[(1, 1)]), clock(&[(2, 1)]), clock(&[(3, 1)]));
        acc(&m, &a, 1, 0, 1, Kind::Write);
        acc(&m, &b, 2, 2, 1, Kind::Write);
        // Goroutine 3 spilled its write of byte 1 but has not yet set `more`.
        let theirs = Cell::new(Cell::stamp(3, 1), 1, 1, Kind::Write).with_site(7);
        m.1[0].store(theirs.0, Relaxed);
        let mine = Cell::new(Cell::stamp(1, 1), 1, 1, Kind::Write);
        assert_eq!(
            check_and_store(m.g(), &a, mine, || 8),
            Outcome::Race(theirs)
        );
        let _ = c;
    }

    #[test]
    fn clear_forgets() {
        let m = Mem::new();
        let a = clock(&[(1, 1)]);
        let b = clock(&[(2, 1)]);
        acc(&m, &a, 1, 0, 8, Kind::Write);
        clear(m.g());
        assert_eq!(acc(&m, &b, 2, 0, 8, Kind::Write), None);
    }
}
