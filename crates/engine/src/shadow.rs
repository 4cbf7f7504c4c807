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

/// The fast path: `c` already says everything `cur` would (same goroutine and epoch,
/// same or more bytes, at least as strong).
#[inline(always)]
fn subsumes(c: Cell, cur: Cell) -> bool {
    c.same_stamp(cur) && c.covers(cur) && c.at_least_as_strong(cur)
}

/// The fast path: one of the primary cells already records exactly this access by this
/// goroutine in this epoch (the common case of a loop touching the same variables).
/// Returns the two primary cells for [`check_and_store`] when it is not.
#[inline(always)]
pub fn repeat(g: Granule<'_>, cur: Cell) -> Result<(), (Cell, Cell)> {
    let p0 = Cell(g.primary[0].load(Relaxed));
    if p0.repeats(cur) {
        return Ok(());
    }
    let p1 = Cell(g.primary[1].load(Relaxed));
    if p1.repeats(cur) {
        return Ok(());
    }
    Err((p0, p1))
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

/// Checks `cur` (a complete cell, site included) against the granule's cells, read
/// afresh, and remembers it.
///
/// The caller computes the site *before* calling. Every store is a compare-and-swap
/// against the cell's value as read by this check; when another goroutine changed it
/// meanwhile, the check runs again with fresh cells (and the secondary plane in view),
/// so two goroutines touching one granule at the same instant see each other instead
/// of overwriting each other's access.
pub fn check_and_store(g: Granule<'_>, clock: &ThreadClock, cur: Cell) -> Outcome {
    let mut see_secondary = false;
    loop {
        let p0 = Cell(g.primary[0].load(Relaxed));
        let p1 = Cell(g.primary[1].load(Relaxed));
        if !see_secondary {
            if let Some(outcome) = one_cell(g, clock, cur, p0, p1) {
                return outcome;
            }
        }
        match check_and_store_once(g, clock, cur, p0, p1, see_secondary) {
            Some(outcome) => return outcome,
            None => see_secondary = true, // lost a store: look again, secondary included
        }
    }
}

/// The common shapes, decided without the general loop: an empty granule (fresh
/// memory), or a granule holding one access that the new one either does not touch or
/// happens after, covers and is at least as strong as (ownership moving along).
/// `None` means "use the general path" (also when a compare-and-swap lost).
#[inline(always)]
fn one_cell(g: Granule<'_>, clock: &ThreadClock, cur: Cell, p0: Cell, p1: Cell) -> Option<Outcome> {
    if p1.0 != 0 || p0.more() {
        return None;
    }
    let cas = |i: usize, old: Cell, new: Cell| {
        g.primary[i]
            .compare_exchange(old.0, new.0, Relaxed, Relaxed)
            .is_ok()
            .then_some(Outcome::Stored)
    };
    if p0.0 == 0 {
        return cas(0, p0, cur);
    }
    if let Some(merged) = p0.merge(cur) {
        return cas(0, p0, merged);
    }
    if !p0.intersects(cur) {
        return cas(1, p1, cur);
    }
    if happens_before(p0, clock) && cur.covers(p0) && cur.at_least_as_strong(p0) {
        return cas(0, p0, cur);
    }
    None
}

/// One attempt; `None` when one of its compare-and-swaps lost to another goroutine.
fn check_and_store_once(
    g: Granule<'_>,
    clock: &ThreadClock,
    cur: Cell,
    p0: Cell,
    p1: Cell,
    see_secondary: bool,
) -> Option<Outcome> {
    if subsumes(p0, cur) || subsumes(p1, cur) {
        return Some(Outcome::Known);
    }
    let more = p0.more() || see_secondary;
    let mut cells = [p0.with_more(false), p1, Cell::EMPTY, Cell::EMPTY];
    let n = if more {
        cells[2] = Cell(g.secondary[0].load(Relaxed));
        cells[3] = Cell(g.secondary[1].load(Relaxed));
        4
    } else {
        2
    };

    let mut replace = [false; 4];
    let mut any_replace = false;
    let mut empty = None;
    for i in 0..n {
        let c = cells[i];
        if c.is_empty() {
            empty = empty.or(Some(i));
            continue;
        }
        if !c.intersects(cur) {
            continue;
        }
        if subsumes(c, cur) {
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

    let new = cur;
    // Every store is a compare-and-swap against the value this check read: if another
    // goroutine changed the cell meanwhile (two accesses to one granule at the same
    // instant), the check runs again and sees that access instead of overwriting it.
    let raw = [p0.0, p1.0];
    let slot = |i: usize| match i {
        0 | 1 => &g.primary[i],
        _ => &g.secondary[i - 2],
    };
    let old = |i: usize| if i < 2 { raw[i] } else { cells[i].0 };
    let put = |i: usize, c: Cell| {
        let v = if i == 0 {
            c.with_more(p0.more()).0
        } else {
            c.0
        };
        let ok = slot(i)
            .compare_exchange(old(i), v, Relaxed, Relaxed)
            .is_ok();
        if ok && i >= 2 && !p0.more() && !c.is_empty() {
            // Written on a retry that looked at the secondary plane before `more` was
            // set: make sure the cell is visible.
            g.primary[0].fetch_or(Cell::EMPTY.with_more(true).0, Relaxed);
        }
        ok
    };
    // The same goroutine, epoch, kind and site touching the neighbouring bytes: widen
    // that cell instead of taking another (byte loops would otherwise fill the granule).
    if let Some((i, merged)) = (0..n).find_map(|i| Some((i, cells[i].merge(new)?))) {
        if !put(i, merged) {
            return None;
        }
        for (j, &r) in replace.iter().enumerate().take(n) {
            if r && j != i {
                put(j, Cell::EMPTY);
            }
        }
        return Some(Outcome::Stored);
    }
    if any_replace {
        let mut placed = false;
        for (i, &r) in replace.iter().enumerate().take(n) {
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
    if let Some(i) = empty {
        return put(i, new).then_some(Outcome::Stored);
    }
    if !more {
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
    let victim = ((cur.0 >> 16) ^ (cur.0 >> 40) ^ cells[0].0) as usize % 4;
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
        match repeat(m.g(), cur) {
            Ok(()) => None,
            Err(_) => match check_and_store(m.g(), clk, cur.with_site(site())) {
                Outcome::Race(c) => Some(c),
                Outcome::Known | Outcome::Stored => None,
            },
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
        let mine = Cell::new(Cell::stamp(1, 1), 1, 1, Kind::Write).with_site(8);
        assert_eq!(check_and_store(m.g(), &a, mine), Outcome::Race(theirs));
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
