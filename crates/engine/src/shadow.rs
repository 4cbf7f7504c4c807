//! The per-granule race check: compare a new access with the remembered ones, report a
//! conflict, remember the new access.
//!
//! Every 8-byte granule of application memory has two *primary* [`Cell`]s, always
//! present. A granule that needs to remember more accesses spills, first into its
//! 64-byte block's two *overflow* cells, which the block's eight granules share (an
//! overflow cell carries the tag of the granule it belongs to), then, once those are
//! taken, into its own *secondary* pair. The first primary cell's `more` bit says that
//! the granule may have spilled; the second one's, that its secondary pair may hold
//! cells (so a granule spilled into the overflow alone never reads its secondary
//! shadow: reading would map the kernel's zero page there, and the first store would
//! then take a copy-on-write fault). The overflow plane is an eighth the size of the
//! primary one, the secondary plane as large; both are written only where needed, so
//! the common spill (an initialising range write, another goroutine's field write, a
//! read after a join) costs an eighth of the memory a per-granule plane would, and a
//! granule still keeps four accesses of its own whatever its neighbours do. Where the
//! planes live is the caller's business ([`Granule`] is three pointers and an index).
//!
//! Replacement rule (why two cells usually suffice): a remembered access `c` can be
//! forgotten when the new access `cur` happens after it, covers its bytes and is at least
//! as strong (see [`Cell::at_least_as_strong`]): any later access that would race with
//! `c` then races with `cur` too, so no race is lost, only reported against the newer
//! access. Accesses of one goroutine, epoch, kind and site to neighbouring bytes (a byte
//! loop) merge into one cell. When nothing can be replaced or merged, the access goes to
//! an empty primary cell, else a free overflow cell of its block, else an empty cell of
//! its secondary pair; when there is none, one of the granule's own cells is evicted:
//! the granule then holds at least four accesses that none of the newer ones subsumes
//! (several goroutines, or one goroutine touching separate bytes of the word from
//! different pcs). Eviction is one way this algorithm can miss a race;
//! ThreadSanitizer has the same four-cell bound.
//!
//! Cells are atomics. The fast path only loads. Stores that only this goroutine's
//! own accesses compete for are plain, as in ThreadSanitizer: a byte loop widening
//! its own cell while it is alone in the granule, a range access filling fresh
//! granules, a goroutine's renewal of its own spilled cell (a word many goroutines
//! read, read again in a new epoch); two goroutines storing there within the same few
//! nanoseconds can overwrite or miss each other's access, the other way to miss a race
//! (found on the racing accesses' next round, as racy loops repeat). Every other store
//! is a compare-and-swap against the value the check read (the loser checks again and
//! sees the winner), followed by a second look: the check read several cells but its
//! compare-and-swap guards one, so two goroutines could each store into a different
//! cell of one granule without either seeing the other's access. After its store (a
//! full barrier on x86-64) a check that read the primary pair alone reads it again
//! ([`settled`]); if anything changed besides its own store and the flags of its own
//! spill, or after any store of the general check, it compares its access with the
//! granule's cells as they are now ([`recheck`]). Of two simultaneous stores, the
//! later one's look sees the earlier store, or the announcement of a spill there.
//! Measured: two goroutines each writing a byte of a fresh word and then the same
//! byte (e2e `same_byte_field_race_is_reported_every_time`) lost that race in about
//! 1 of 2,000 runs with plain stores, 1 of 18,000 with compare-and-swaps alone, and in
//! none of 55,000 with the second look; the unit test
//! `simultaneous_writes_to_one_byte_always_race` replays such rounds on two threads
//! (without the second look it missed the race in 2 to 151 of 200,000 rounds, every
//! time it ran).

use core::sync::atomic::AtomicU64;
use core::sync::atomic::Ordering::{Relaxed, SeqCst};

use crate::cell::Cell;
use crate::clock::ThreadClock;
use crate::stats::{bump, Stat};

/// Overflow cells per 64-byte block (eight granules).
pub const OVERFLOW: usize = 2;

/// The shadow of one granule: its primary pair, its block's overflow cells, its index
/// in the block (the tag of the overflow cells it owns), and its secondary pair.
#[derive(Clone, Copy)]
pub struct Granule<'a> {
    pub primary: &'a [AtomicU64; 2],
    pub overflow: &'a [AtomicU64; OVERFLOW],
    pub index: u8,
    pub secondary: &'a [AtomicU64; 2],
}

impl<'a> Granule<'a> {
    /// The spilled cells as stored: the block's overflow cells, then the secondary pair
    /// (read only if `secondary`, else taken as empty).
    #[inline]
    fn spilled(&self, secondary: bool) -> [u64; SPILLED] {
        let n = if secondary { SPILLED } else { OVERFLOW };
        core::array::from_fn(|i| {
            if i < n {
                self.spill_slot(i).load(Relaxed)
            } else {
                0
            }
        })
    }

    fn spill_slot(&self, i: usize) -> &'a AtomicU64 {
        if i < OVERFLOW {
            &self.overflow[i]
        } else {
            &self.secondary[i - OVERFLOW]
        }
    }

    /// `c` as stored in a spilled cell: tagged with this granule's index (0 for an
    /// empty cell).
    fn spill_value(&self, c: Cell) -> u64 {
        if c.is_empty() {
            0
        } else {
            c.with_tag(self.index).0
        }
    }

    /// Whether spilled cell `i`, holding `raw`, is this granule's.
    fn owns(&self, i: usize, raw: u64) -> bool {
        raw != 0 && (i >= OVERFLOW || Cell(raw).tag() == self.index)
    }
}

/// Spilled cells a granule can see: its block's overflow cells and its secondary pair.
const SPILLED: usize = OVERFLOW + 2;

/// The `more` bit of a granule's first primary cell (it may have spilled), and of its
/// second (its secondary pair may hold cells).
const MORE: u64 = Cell::EMPTY.with_more(true).0;

/// Whether the cell `c` happens-before the owner of `clock`.
#[inline(always)]
pub fn happens_before(c: Cell, clock: &ThreadClock) -> bool {
    clock.get(c.slot()) >= c.epoch()
}

/// `cur` may replace `c`: `c` happens before it, and `cur` covers its bytes and is at
/// least as strong (the replacement rule of the module documentation).
#[inline(always)]
fn supersedes(cur: Cell, c: Cell, clock: &ThreadClock) -> bool {
    cur.outweighs(c) && happens_before(c, clock)
}

/// Whether `c` and `cur` touch a byte in common with conflicting kinds and `c` does not
/// happen before `cur`'s goroutine: the pair is a race.
#[inline(always)]
fn races(c: Cell, cur: Cell, clock: &ThreadClock) -> bool {
    c.kinds_conflict(cur) && c.intersects(cur) && !happens_before(c, clock)
}

/// The fast path: a primary cell of this goroutine and epoch already covers `cur` with
/// an access at least as strong: the common case of code touching the same variables
/// again between two releases, and of a field or byte read of memory a range access
/// or a merged byte loop recorded. Two loads and a dozen branch-free bit operations;
/// no store, no site needed.
#[inline(always)]
pub fn known(g: Granule<'_>, cur: Cell) -> bool {
    Cell(g.primary[0].load(Relaxed)).subsumes(cur) || Cell(g.primary[1].load(Relaxed)).subsumes(cur)
}

/// Whether a primary pair already covers a whole-granule access: [`known`] in one
/// masked compare per cell (`test` is [`Cell::whole_test`] of the access).
#[inline(always)]
fn whole_known(pair: &[AtomicU64; 2], (mask, value): (u64, u64)) -> bool {
    (pair[0].load(Relaxed) & mask == value) | (pair[1].load(Relaxed) & mask == value)
}

/// How many of `pairs` (consecutive granules' primary pairs), from the first, already
/// cover a whole-granule access (`whole_known`): the range loop's common case, a
/// buffer this goroutine copied or filled earlier in the epoch. After the first, four
/// granules (a cache line of shadow) per step, their tests combined without branches.
#[inline(always)]
pub fn known_run(pairs: &[[AtomicU64; 2]], test: (u64, u64)) -> usize {
    // Fresh memory (a new object's initialising write) fails at once.
    if !pairs.first().is_some_and(|p| whole_known(p, test)) {
        return 0;
    }
    let mut i = 1;
    while let Some(line) = pairs.get(i..i + 4) {
        let all = line.iter().fold(true, |acc, p| acc & whole_known(p, test));
        if !all {
            break;
        }
        i += 4;
    }
    while pairs.get(i).is_some_and(|p| whole_known(p, test)) {
        i += 1;
    }
    i
}

/// A byte loop's next byte (`cur`, with its site): when the granule's only cell, never
/// spilled, is continued by `cur` and has its site, widens it over `cur`'s bytes with
/// a plain store (see the module documentation), as [`check_and_store`] would merge
/// them, and returns true; otherwise changes nothing.
#[inline(always)]
pub fn extend(primary: &[AtomicU64; 2], cur: Cell) -> bool {
    let p0 = Cell(primary[0].load(Relaxed));
    let alone = primary[1].load(Relaxed) == 0 && !p0.more();
    if !(alone && p0.continued_by(cur) && p0.site() == cur.site()) {
        return false;
    }
    bump(Stat::OneCell);
    primary[0].store(p0.extended_by(cur).0, Relaxed);
    true
}

/// Whether both primary cells are empty (the range loop's test for the next granule
/// of a run of fresh memory).
#[inline(always)]
pub fn is_fresh(primary: &[AtomicU64; 2]) -> bool {
    primary[0].load(Relaxed) | primary[1].load(Relaxed) == 0
}

/// Stores `cell` (with its site) into a granule found empty: a plain store into its
/// first cell (see the module documentation).
#[inline(always)]
pub fn store_fresh(primary: &[AtomicU64; 2], cell: Cell) {
    primary[0].store(cell.0, Relaxed);
}

/// [`check_and_store`]'s fresh case on its own, for the per-access slow path: stores
/// `new` (with its site) into a granule whose primary pair was read empty, by a
/// compare-and-swap and the second look. `None` when another goroutine stored there
/// first (nothing stored: the caller runs the full check).
#[inline(always)]
pub fn store_first<'a>(
    primary: &'a [AtomicU64; 2],
    granule: impl Fn() -> Granule<'a>,
    clock: &ThreadClock,
    new: Cell,
) -> Option<Outcome> {
    store_settled(primary, granule, clock, new, 0, [0, 0])
}

/// [`check_and_store`]'s one-cell case on its own, for the per-access slow path: a
/// granule whose primary pair was read as `p0` beside an empty second cell, `p0` never
/// spilled and not this goroutine's own access of this epoch and kind (which may merge:
/// the full check). Either `cur` races with `p0`, or it is stored (with `site`) over
/// `p0` if it outweighs it, else into the second cell, by a compare-and-swap and the
/// second look. `None` when another goroutine stored there first (nothing stored: the
/// caller runs the full check). Callers found that `p0` does not subsume `cur`
/// ([`known`]), and only this goroutine makes cells with its stamp, so that is not
/// tested again.
#[inline(always)]
pub fn store_beside<'a>(
    primary: &'a [AtomicU64; 2],
    granule: impl Fn() -> Granule<'a>,
    clock: &ThreadClock,
    cur: Cell,
    p0: Cell,
    site: impl FnOnce() -> u32,
) -> Option<Outcome> {
    let overlap = p0.intersects(cur);
    let hb = happens_before(p0, clock);
    if overlap && !hb && p0.kinds_conflict(cur) {
        bump(Stat::OneCell);
        return Some(Outcome::Race(p0));
    }
    let i = if overlap && hb && cur.outweighs(p0) {
        0
    } else {
        1
    };
    store_settled(primary, granule, clock, cur.with_site(site()), i, [p0.0, 0])
}

/// Stores `new` into primary cell `i` of a pair read as `raw` (one of them empty),
/// by a compare-and-swap against what was read there, then the second look. `None`
/// when another goroutine stored there first (nothing stored).
#[inline(always)]
fn store_settled<'a>(
    primary: &'a [AtomicU64; 2],
    granule: impl Fn() -> Granule<'a>,
    clock: &ThreadClock,
    new: Cell,
    i: usize,
    raw: [u64; 2],
) -> Option<Outcome> {
    primary[i]
        .compare_exchange(raw[i], new.0, SeqCst, Relaxed)
        .ok()?;
    bump(Stat::OneCell);
    if settled(primary, raw, 1 << i, [0; 2]) {
        return Some(Outcome::Stored);
    }
    Some(recheck(granule(), clock, new))
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
    fn get(&mut self) -> u32 {
        once(&mut self.site, &mut self.make)
    }

    #[inline(always)]
    fn on(&mut self, cur: Cell) -> Cell {
        cur.with_site(self.get())
    }
}

/// The value in `slot`, made by `make` the first time. `Option::get_or_insert_with`,
/// written out so that it is always inlined: the compiler outlined that one on the
/// per-access slow path once the site computation grew.
#[inline(always)]
pub fn once<T: Copy>(slot: &mut Option<T>, make: impl FnOnce() -> T) -> T {
    match *slot {
        Some(v) => v,
        None => {
            let v = make();
            *slot = Some(v);
            v
        }
    }
}

/// Checks `cur` (a cell without its site) against the granule's cells, read afresh,
/// and remembers it, with the site `site()` gives (called at most once, and only if
/// something is stored). `primary` is the granule's primary pair; `granule()` gives
/// the whole granule, needed only past the inline cases (its other planes' addresses
/// are not even computed before). Callers have found `cur` not [`known`]: were it
/// known after all, it would only be remembered again, never missed.
///
/// A byte loop's next byte widens the goroutine's own single cell with a plain store;
/// every other store is a compare-and-swap against the cell's value as read by this
/// check (see the module documentation): when another goroutine changed it meanwhile,
/// the check runs again with fresh cells (and the secondary plane in view).
#[inline(always)]
pub fn check_and_store<'a>(
    primary: &'a [AtomicU64; 2],
    granule: impl Fn() -> Granule<'a>,
    clock: &ThreadClock,
    cur: Cell,
    site: impl FnMut() -> u32,
) -> Outcome {
    let mut site = LazySite {
        site: None,
        make: site,
    };
    let p0 = Cell(primary[0].load(Relaxed));
    let p1 = Cell(primary[1].load(Relaxed));
    // One cell at most, never spilled: the inline cases.
    let lone = p1.0 == 0 && !p0.more();
    if lone && !p0.same_access_but_site_and_range(cur) {
        // Fresh memory (the most common slow path of all), or another goroutine's
        // cell or an earlier epoch's (another goroutine's first access to memory this
        // one initialised, say): one compare-and-swap. A lost one means another
        // goroutine stored into the granule meanwhile: the full check sees it.
        let stored = if p0.0 == 0 {
            store_first(primary, &granule, clock, site.on(cur))
        } else {
            store_beside(primary, &granule, clock, cur, p0, || site.get())
        };
        return stored
            .unwrap_or_else(|| check_and_store_general(granule(), clock, cur, true, &mut site));
    }
    if lone {
        // This goroutine's own cell of this epoch and kind: a byte loop's next byte
        // joins it (same site, neighbouring bytes); anything else takes the general
        // check.
        if let Some(merged) = p0.merge(site.on(cur)) {
            bump(Stat::OneCell);
            primary[0].store(merged.0, Relaxed);
            return Outcome::Stored;
        }
    }
    if p0.more() && p0.same_stamp(cur) && p1.same_stamp(cur) {
        // Both primary cells are this goroutine's, of this epoch, and the granule
        // spilled: three or more accesses of one goroutine to one word in an epoch,
        // from different pcs or to different bytes (encoding/json: 3.4 M of its 5.3 M
        // spilled checks). A spilled cell of its own covering the access says it is
        // known; nothing could move into the primary pair anyway (see `promote`).
        if covered_by_spilled(granule(), p1.more(), cur) {
            bump(Stat::Spilled);
            bump(Stat::SpilledKnown);
            return Outcome::Known;
        }
    }
    bump(Stat::General);
    if p0.0 != 0 && p1.0 != 0 && !p0.more() && !p1.more() {
        if let Some(outcome) = check_pair(primary, &granule, clock, cur, [p0, p1], &mut site) {
            return outcome;
        }
        // A lost compare-and-swap: look again, spilled cells included.
        return check_and_store_general(granule(), clock, cur, true, &mut site);
    }
    check_and_store_general(granule(), clock, cur, false, &mut site)
}

/// The second look after a check's stores into the primary pair (see the module
/// documentation): whether the pair still holds what the check read (`raw`), with the
/// flags its own spill announced (`flagged`). The cells it stored (bits of `wrote`)
/// are not looked at: whoever changed one since read this check's access there. Its
/// stores were compare-and-swaps, a full barrier each.
#[inline(always)]
fn settled(primary: &[AtomicU64; 2], raw: [u64; 2], wrote: u32, flagged: [u64; 2]) -> bool {
    let same = |i: usize| wrote & (1 << i) != 0 || primary[i].load(SeqCst) == raw[i] | flagged[i];
    same(0) & same(1)
}

/// The outcome of a check that read the primary pair alone and stored `cur`:
/// [`settled`], else [`recheck`].
#[inline(always)]
fn done(
    g: Granule<'_>,
    clock: &ThreadClock,
    cur: Cell,
    raw: [u64; 2],
    wrote: u32,
    flagged: [u64; 2],
) -> Outcome {
    if settled(g.primary, raw, wrote, flagged) {
        Outcome::Stored
    } else {
        recheck(g, clock, cur)
    }
}

/// The `more` flags announcing spilled cell `j` sets on the primary pair.
#[inline(always)]
fn flags(j: usize) -> [u64; 2] {
    [MORE, if j >= OVERFLOW { MORE } else { 0 }]
}

/// The second look after storing `cur` when the granule may have changed since the
/// check read it (after a store of the general check, whose cells are too many to
/// compare cheaply with what it read, or when [`settled`] found the pair changed):
/// another goroutine may have stored an access the check did not see, perhaps without
/// seeing `cur` either. Compares `cur` with the granule's cells as they are now and
/// returns the first that races with it (`cur` stays stored: it is a real access).
#[inline(never)]
fn recheck(g: Granule<'_>, clock: &ThreadClock, cur: Cell) -> Outcome {
    // Whether the cell stored as `raw` (the granule's) races with `cur`; this
    // goroutine's own cells never do. The kinds first: in a granule that many
    // goroutines read, a read's look ends there for every cell.
    let races = |raw: u64| {
        let c = Cell(raw).with_more(false).with_tag(0);
        c.kinds_conflict(cur)
            && !c.is_empty()
            && !c.same_stamp(cur)
            && c.intersects(cur)
            && !happens_before(c, clock)
    };
    let p0 = g.primary[0].load(SeqCst);
    let p1 = g.primary[1].load(SeqCst);
    let mut found = if races(p0) {
        p0
    } else if races(p1) {
        p1
    } else {
        0
    };
    if found == 0 && Cell(p0).more() {
        let n = if Cell(p1).more() { SPILLED } else { OVERFLOW };
        for j in 0..n {
            let raw = g.spill_slot(j).load(SeqCst);
            if g.owns(j, raw) && races(raw) {
                found = raw;
                break;
            }
        }
    }
    if found == 0 {
        return Outcome::Stored;
    }
    bump(Stat::Rechecked);
    Outcome::Race(Cell(found).with_more(false).with_tag(0))
}

/// [`check_and_store`] past the inline cases: the primary pair alone while the granule
/// never spilled, its spilled cells too otherwise (or from the start, `see_spilled`,
/// after a lost compare-and-swap); again until no compare-and-swap is lost.
#[inline(never)]
fn check_and_store_general<F: FnMut() -> u32>(
    g: Granule<'_>,
    clock: &ThreadClock,
    cur: Cell,
    mut see_spilled: bool,
    site: &mut LazySite<F>,
) -> Outcome {
    loop {
        let p0 = g.primary[0].load(Relaxed);
        let p1 = g.primary[1].load(Relaxed);
        let r = if Cell(p0).more() || see_spilled {
            check_spilled(g, clock, cur, [p0, p1], see_spilled, site)
        } else {
            check_cells(g, clock, cur, [p0, p1], 0b11, site)
        };
        match r {
            Some(outcome) => return outcome,
            None => see_spilled = true, // lost a store: look again, spilled cells included
        }
    }
}

/// [`check_cells`] over the primary pair and the spilled cells (kept out of line: rare,
/// and it would weigh on the common two-cell case's registers). The secondary pair is
/// read when the second primary cell says it is in use, or when `all` (a store was
/// lost: a spill may not be announced yet).
#[inline(never)]
fn check_spilled<F: FnMut() -> u32>(
    g: Granule<'_>,
    clock: &ThreadClock,
    cur: Cell,
    primary: [u64; 2],
    all: bool,
    site: &mut LazySite<F>,
) -> Option<Outcome> {
    let secondary = all || Cell(primary[1]).more();
    let s = g.spilled(secondary);
    bump(Stat::Spilled);
    // A spilled cell of this goroutine and epoch that covers the access (the fast path
    // only sees the primary pair): known, without the full check, and moved into the
    // primary pair so that the next such access takes the fast path.
    // Bit `i` of `owned`: spilled cell `i` is this granule's; of `covering`: and it
    // covers the access.
    // Of `renewing`: and it is the goroutine's earlier access to the same bytes, of
    // the same kind (see `renew`).
    let (mut owned, mut covering, mut renewing) = (0u32, 0u32, 0u32);
    for (i, &c) in s.iter().enumerate() {
        let own = g.owns(i, c);
        owned |= u32::from(own) << i;
        covering |= u32::from(own && Cell(c).subsumes(cur)) << i;
        renewing |= u32::from(own && Cell(c).renewed_by(cur)) << i;
    }
    if covering != 0 {
        bump(Stat::SpilledKnown);
        let i = covering.trailing_zeros() as usize;
        promote(g, clock, cur, primary, i, s[i]);
        return Some(Outcome::Known);
    }
    if renewing != 0 {
        if let Some(outcome) = renew(g, clock, cur, primary, &s, owned, renewing, site) {
            return Some(outcome);
        }
    }
    let p0 = Cell(primary[0]);
    if p0.more() && owned == 0 {
        // None of the spilled cells is this granule's any more (newer accesses replaced
        // them): back to the primary pair, which later checks read alone. A spill
        // claimed meanwhile is seen by the second look, or claimed after it, and then
        // announces itself once this has cleared the flags (announcing is
        // unconditional).
        bump(Stat::Unspilled);
        let sec_flag = Cell(primary[1]).more();
        let p1 = Cell(primary[1]).with_more(false).0;
        if sec_flag
            && g.primary[1]
                .compare_exchange(primary[1], p1, SeqCst, SeqCst)
                .is_err()
        {
            return None;
        }
        let bare = p0.with_more(false).0;
        if g.primary[0]
            .compare_exchange(primary[0], bare, SeqCst, SeqCst)
            .is_err()
        {
            if sec_flag {
                g.primary[1].fetch_or(MORE, SeqCst);
            }
            return None;
        }
        // The second look reads the secondary pair if it was in use, or announced since.
        let look_secondary = sec_flag || Cell(g.primary[1].load(SeqCst)).more();
        let n = if look_secondary { SPILLED } else { OVERFLOW };
        let owned = |i: usize| g.owns(i, g.spill_slot(i).load(SeqCst));
        if (OVERFLOW..n).any(owned) {
            g.primary[1].fetch_or(MORE, SeqCst);
            g.primary[0].fetch_or(MORE, SeqCst);
            return None;
        }
        if (0..OVERFLOW).any(owned) {
            g.primary[0].fetch_or(MORE, SeqCst);
            return None;
        }
        return check_cells(g, clock, cur, [bare, p1], 0b11, site);
    }
    if let Some(outcome) = supersede_pair(g, clock, cur, primary, &s, owned, site) {
        return Some(outcome);
    }
    let mut raw = [0; 2 + SPILLED];
    raw[..2].copy_from_slice(&primary);
    raw[2..].copy_from_slice(&s);
    check_cells(g, clock, cur, raw, 0b11 | owned << 2, site)
}

/// [`check_spilled`]'s shortcut for an access that supersedes both primary cells and
/// neither races with nor supersedes any of the granule's spilled cells (main's read of
/// a slice element that two goroutines read and main wrote, after it waited for them:
/// bigheap's final loop): `cur` takes the pair's place, the spilled cells stay, without
/// classifying six cells.
/// Both stores are compare-and-swaps; the second look compares the spilled cells with
/// what the check read (a spill claimed meanwhile changes one), else [`recheck`].
/// `None` if the shortcut does not apply or a store was lost (the full check decides).
#[inline(never)]
fn supersede_pair<F: FnMut() -> u32>(
    g: Granule<'_>,
    clock: &ThreadClock,
    cur: Cell,
    primary: [u64; 2],
    spilled: &[u64; SPILLED],
    owned: u32,
    site: &mut LazySite<F>,
) -> Option<Outcome> {
    let pair = primary.map(|raw| Cell(raw).with_more(false));
    if !(supersedes(cur, pair[0], clock) && supersedes(cur, pair[1], clock)) {
        return None;
    }
    // A spilled cell that races decides the outcome, one that `cur` supersedes is to
    // be emptied: both for the full check.
    let stays = |c: Cell| !(races(c, cur, clock) || c.intersects(cur) && supersedes(cur, c, clock));
    let spilled_cell = |i: usize| Cell(spilled[i]).with_tag(0);
    if !(0..SPILLED).all(|i| owned & (1 << i) == 0 || stays(spilled_cell(i))) {
        return None;
    }
    let more = primary.map(|raw| Cell(raw).more());
    let new = site.on(cur);
    g.primary[0]
        .compare_exchange(primary[0], new.with_more(more[0]).0, SeqCst, Relaxed)
        .ok()?;
    if !pair[1].is_empty() {
        // Lost, the emptying is left undone: the second cell happens before `cur`.
        let _ = g.primary[1].compare_exchange(primary[1], MORE & primary[1], SeqCst, Relaxed);
    }
    let secondary = Cell(g.primary[1].load(SeqCst)).more();
    let n = if secondary { SPILLED } else { OVERFLOW };
    if (0..n).all(|i| g.spill_slot(i).load(SeqCst) == spilled[i]) {
        bump(Stat::Superseded);
        return Some(Outcome::Stored);
    }
    Some(recheck(g, clock, cur))
}

/// [`check_spilled`] for an access that renews the goroutine's own earlier access in a
/// spilled cell (bits of `renewing`: the same bytes and kind, a different epoch), as a
/// word that many goroutines read, or a lock word, gets after a release: if that cell
/// happens before it and no other cell of the granule (`owned`, and the primary pair)
/// conflicts with it unordered, a plain store into that cell, as the general check
/// makes it ([`check_cells`]), without its classification. Other cells the access
/// subsumes stay, where the general check would empty them: keeping a cell is never
/// wrong. `None`: the general check decides.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn renew<F: FnMut() -> u32>(
    g: Granule<'_>,
    clock: &ThreadClock,
    cur: Cell,
    primary: [u64; 2],
    spilled: &[u64; SPILLED],
    owned: u32,
    renewing: u32,
    site: &mut LazySite<F>,
) -> Option<Outcome> {
    let cell = |i: usize| Cell(spilled[i]).with_tag(0);
    let i = (0..SPILLED).find(|&i| renewing & (1 << i) != 0 && happens_before(cell(i), clock))?;
    let others =
        (0..SPILLED).any(|j| j != i && owned & (1 << j) != 0 && races(cell(j), cur, clock));
    let in_pair = primary.iter().any(|&raw| {
        let c = Cell(raw).with_more(false);
        !c.is_empty() && races(c, cur, clock)
    });
    if others || in_pair {
        return None;
    }
    bump(Stat::Renewed);
    g.spill_slot(i).store(g.spill_value(site.on(cur)), Relaxed);
    Some(Outcome::Stored)
}

/// Whether a spilled cell of the granule's (the secondary pair read only if
/// `secondary`) subsumes `cur`.
#[inline(never)]
fn covered_by_spilled(g: Granule<'_>, secondary: bool, cur: Cell) -> bool {
    let s = g.spilled(secondary);
    // The stamp first: it rejects other goroutines' and epochs' cells (and empty
    // ones) at once.
    (0..SPILLED).any(|i| Cell(s[i]).same_stamp(cur) && g.owns(i, s[i]) && Cell(s[i]).subsumes(cur))
}

/// Swaps spilled cell `i` (holding `raw`, this goroutine's and epoch's) with a primary
/// cell that is empty or happens before this goroutine, other goroutines' unordered
/// cells staying where they are (so that two goroutines reading one granule do not
/// take turns moving their cells). The set of cells never changes, only where they
/// are: the victim is first copied into the spilled cell (briefly there twice), then
/// the spilled cell into its place; when another access changed that primary cell
/// meanwhile, the spilled cell is put back.
#[inline(always)]
fn promote(g: Granule<'_>, clock: &ThreadClock, cur: Cell, primary: [u64; 2], i: usize, raw: u64) {
    let victim = (0..2).find(|&k| {
        let c = Cell(primary[k]).with_more(false);
        c.is_empty() || gives_way(c, cur, clock)
    });
    let Some(k) = victim else { return };
    bump(Stat::Promoted);
    let slot = g.spill_slot(i);
    let old = Cell(primary[k]).with_more(false);
    let moved = Cell(raw).with_tag(0).with_more(Cell(primary[k]).more()).0;
    if old.is_empty() {
        // Into the empty primary cell, then out of the spilled one.
        if g.primary[k]
            .compare_exchange(primary[k], moved, Relaxed, Relaxed)
            .is_ok()
        {
            let _ = slot.compare_exchange(raw, 0, SeqCst, Relaxed);
        }
        return;
    }
    if slot
        .compare_exchange(raw, g.spill_value(old), SeqCst, Relaxed)
        .is_err()
    {
        return;
    }
    if g.primary[k]
        .compare_exchange(primary[k], moved, Relaxed, Relaxed)
        .is_err()
    {
        let _ = slot.compare_exchange(g.spill_value(old), raw, SeqCst, Relaxed);
    }
}

/// Where cell `i` of the granule lives: primary 0 or 1, else spilled cell `i - 2`.
#[inline(always)]
fn cell_slot<'a>(g: &Granule<'a>, i: usize) -> &'a AtomicU64 {
    if i < 2 {
        &g.primary[i]
    } else {
        g.spill_slot(i - 2)
    }
}

/// Compares `cur` with a granule's cells (tag and `more` stripped, empty where not
/// the granule's), in order: the first conflicting one that does not happen before
/// it is a race (returned). Otherwise sets bit `i` of `replace` for each cell `cur`
/// subsumes (it happens before, `cur` covers its bytes and is at least as strong),
/// and `mergeable` if a cell of the same goroutine, epoch and kind may merge with it
/// (a byte loop).
/// No cell says everything `cur` would, so that is not tested: a primary cell never
/// does (the callers found `cur` not [`known`], and only this goroutine makes cells
/// with its stamp), and [`check_spilled`] looked for a spilled one before.
#[inline(always)]
fn classify<const N: usize>(
    cells: &[Cell; N],
    clock: &ThreadClock,
    cur: Cell,
    replace: &mut u32,
    mergeable: &mut bool,
) -> Option<Outcome> {
    let bytes = cur.byte_mask();
    for (i, &c) in cells.iter().enumerate() {
        if c.is_empty() {
            continue;
        }
        *mergeable |= c.same_access_but_site_and_range(cur);
        if c.byte_mask() & bytes == 0 {
            continue;
        }
        if !happens_before(c, clock) {
            if c.kinds_conflict(cur) {
                return Some(Outcome::Race(c));
            }
        } else if cur.outweighs(c) {
            *replace |= 1 << i;
        }
    }
    None
}

/// One attempt over the granule's cells as read: the primary pair (`N` = 2) or the
/// primary pair then its spilled cells (`N` = 6: the block's overflow cells, of which
/// only its own count, and its secondary pair). `None` when one of its
/// compare-and-swaps lost to another goroutine.
///
/// A conflicting cell that does not happen-before `cur` is a race (the callers found
/// no cell that already says everything `cur` would); otherwise `cur` is remembered:
/// merged into a cell of the same goroutine, epoch, kind and site that touched the
/// neighbouring bytes (byte loops would otherwise fill the granule), else in place of
/// every cell it subsumes (the cell happens before it, it covers the cell's bytes, and
/// it is at least as strong, so any future race with the old access is also a race with
/// the new one), else in an empty primary cell, a free overflow cell or an empty
/// secondary cell, else evicting one of the granule's own cells.
#[inline(always)]
fn check_cells<const N: usize, F: FnMut() -> u32>(
    g: Granule<'_>,
    clock: &ThreadClock,
    cur: Cell,
    raw: [u64; N],
    mine: u32,
    site: &mut LazySite<F>,
) -> Option<Outcome> {
    const { assert!(N == 2 || N == 2 + SPILLED) };
    let n = N;
    let (more, sec) = (Cell(raw[0]).more(), Cell(raw[1]).more());
    // Every cell of the granule as seen (tag and `more` stripped; empty for other
    // granules' overflow cells, which `mine` leaves out); `raw` is as read, for the
    // compare-and-swaps. Bit `i` of `mine`/`replace`: cell `i`.
    let mut cells = [Cell::EMPTY; N];
    for i in 0..n {
        if mine & (1 << i) != 0 {
            cells[i] = Cell(raw[i]).with_more(false).with_tag(0);
        }
    }
    let (mut replace, mut mergeable) = (0, false);
    if let Some(decided) = classify(&cells, clock, cur, &mut replace, &mut mergeable) {
        return Some(decided);
    }

    let new = site.on(cur);
    let value = |i: usize, c: Cell| stored_value(g, [more, sec], i, c);
    // Every store is a compare-and-swap against the value this check read: if another
    // goroutine changed the cell meanwhile (two accesses to one granule at the same
    // instant), the check runs again and sees that access instead of overwriting it.
    // A successful store is followed by the second look ([`recheck`]).
    let put = |i: usize, c: Cell, expect: u64| put_cell(g, [more, sec], i, c, expect);
    if mergeable {
        if let Some((i, merged)) = (0..n).find_map(|i| Some((i, cells[i].merge(new)?))) {
            if !put(i, merged, raw[i]) {
                return None;
            }
            // The other cells it subsumes emptied, then the second look.
            empty_cells(g, [more, sec], &raw, replace & !(1 << i));
            return Some(recheck(g, clock, cur));
        }
    }
    if replace != 0 {
        let i = replace.trailing_zeros() as usize;
        if i >= 2 && replace == 1 << i && cells[i].renewed_by(cur) {
            // The goroutine's own earlier access in a spilled cell, renewed (a word
            // that many goroutines read, read again in a new epoch): a plain store,
            // like the inline cases. The cell stays this granule's, so its
            // announcement stands; a simultaneous store into it by another goroutine
            // can be lost (see the module documentation).
            bump(Stat::Renewed);
            cell_slot(&g, i).store(value(i, new), Relaxed);
            return Some(Outcome::Stored);
        }
        if !put(i, new, raw[i]) {
            return None;
        }
        empty_cells(g, [more, sec], &raw, replace & !(1 << i));
        return Some(recheck(g, clock, cur));
    }
    if let Some(i) = (0..2).find(|&i| cells[i].is_empty()) {
        return put(i, new, raw[i]).then(|| recheck(g, clock, cur));
    }
    // Spill: a free overflow cell of the block, else an empty secondary cell.
    if N == 2 {
        // The spilled cells were not read: claim the first free one.
        return claim_spilled(g, g.spill_value(new)).map(|_| recheck(g, clock, cur));
    }
    if let Some(j) = (0..SPILLED).find(|&j| raw[2 + j] == 0) {
        return put(2 + j, new, 0).then(|| recheck(g, clock, cur));
    }
    // Every cell of the granule holds an access the new one does not subsume and its
    // block's overflow is taken: evict one of the granule's own cells, chosen by a
    // cheap hash so that a steady stream of accesses does not always push out the same.
    bump(Stat::Evicted);
    let own = mine.count_ones() as usize;
    let pick = ((cur.0 >> 16) ^ (cur.0 >> 40) ^ cells[0].0) as usize % own;
    let victim = (0..n)
        .filter(|&i| mine & (1 << i) != 0)
        .nth(pick)
        .unwrap_or(0);
    put(victim, new, raw[victim]).then(|| recheck(g, clock, cur))
}

/// Cell `c` as stored in the granule's cell `i` (see [`cell_slot`]): with the primary
/// pair's `more` flags as read, or tagged in a spilled cell.
#[inline(always)]
fn stored_value(g: Granule<'_>, more: [bool; 2], i: usize, c: Cell) -> u64 {
    match i {
        0 | 1 => c.with_more(more[i]).0,
        _ => g.spill_value(c),
    }
}

/// [`check_cells`]' store of `c` into cell `i`: a compare-and-swap against `expect`,
/// the value the check read, announced if a spilled cell was taken. Whether it won.
#[inline(always)]
fn put_cell(g: Granule<'_>, more: [bool; 2], i: usize, c: Cell, expect: u64) -> bool {
    let v = stored_value(g, more, i, c);
    let ok = cell_slot(&g, i)
        .compare_exchange(expect, v, SeqCst, Relaxed)
        .is_ok();
    if ok && i >= 2 && v != 0 {
        announce(g, i - 2);
    }
    ok
}

/// Empties the cells of bits `rest` (as read in `raw`), compare-and-swaps that may
/// lose (the cell then holds a newer access, which stays).
#[inline(always)]
fn empty_cells<const N: usize>(g: Granule<'_>, more: [bool; 2], raw: &[u64; N], mut rest: u32) {
    while rest != 0 {
        let j = rest.trailing_zeros() as usize;
        put_cell(g, more, j, Cell::EMPTY, raw[j]);
        rest &= rest - 1;
    }
}

/// Both primary cells in use and the granule never spilled: [`check_cells`] for two
/// cells, in a function small enough to keep them in registers (a word that two
/// accesses share: a counter's atomic write and read, a map header's write and read
/// under a lock). `None` when a compare-and-swap lost, or a claimed spilled cell of
/// this granule was found: look again, spilled cells included.
#[inline(never)]
fn check_pair<'a, F: FnMut() -> u32>(
    primary: &'a [AtomicU64; 2],
    granule: &impl Fn() -> Granule<'a>,
    clock: &ThreadClock,
    cur: Cell,
    p: [Cell; 2],
    site: &mut LazySite<F>,
) -> Option<Outcome> {
    let (mut replace, mut mergeable) = (0, false);
    if supersedes(cur, p[0], clock) && supersedes(cur, p[1], clock) {
        // Both cells happen before the access, which covers and is at least as strong
        // as each (an atomic counter's write after its own write and read, a map
        // header written after another goroutine's write and read under a lock): it
        // replaces both, without the per-cell comparison.
        bump(Stat::Superseded);
        replace = 0b11;
    } else if let Some(decided) = classify(&p, clock, cur, &mut replace, &mut mergeable) {
        return Some(decided);
    }
    let new = site.on(cur);
    let cas = |i: usize, v: u64| {
        primary[i]
            .compare_exchange(p[i].0, v, SeqCst, Relaxed)
            .is_ok()
    };
    // Merged into a cell, else in place of the first cell it subsumes; another one it
    // subsumes is emptied.
    let merged = if mergeable {
        (0..2).find_map(|i| Some((i, p[i].merge(new)?)))
    } else {
        None
    };
    let placed =
        merged.or_else(|| (replace != 0).then(|| (replace.trailing_zeros() as usize, new)));
    let Some((i, c)) = placed else {
        return spill_pair(granule(), clock, cur, p, new);
    };
    if !cas(i, c.0) {
        return None;
    }
    let mut wrote = 1 << i;
    if replace & (1 << (1 - i)) != 0 && cas(1 - i, 0) {
        wrote = 0b11;
    }
    // The other planes' addresses are computed only for the second look.
    if settled(primary, [p[0].0, p[1].0], wrote, [0; 2]) {
        return Some(Outcome::Stored);
    }
    Some(recheck(granule(), clock, cur))
}

/// [`check_pair`] with nothing to replace: a third cell, `new`. A primary cell of
/// another goroutine, or of an earlier epoch, that happens before this access is
/// spilled in its place. Its goroutine has released since that access, so it can
/// never again find the cell covering an access of its own, while this goroutine is
/// the one likely to touch the granule again in this epoch: in the primary pair, its
/// cell is seen by the fast path (spilled, the next access would take the spilled
/// check and move it back, see `promote`). Otherwise `new` itself spills. The cell
/// moved is briefly remembered twice, which is harmless; if its primary cell changed
/// meanwhile, `new` is not stored and the caller looks again.
#[inline(never)]
fn spill_pair(
    g: Granule<'_>,
    clock: &ThreadClock,
    cur: Cell,
    p: [Cell; 2],
    new: Cell,
) -> Option<Outcome> {
    let older = (0..2).find(|&k| gives_way(p[k], cur, clock));
    let raw = [p[0].0, p[1].0];
    let Some(k) = older else {
        let flagged = flags(claim_spilled(g, g.spill_value(new))?);
        return Some(done(g, clock, cur, raw, 0, flagged));
    };
    bump(Stat::Demoted);
    let j = claim_quiet(g, g.spill_value(p[k]))?;
    let flagged = flags(j);
    if k == 1 {
        announce(g, j);
    } else if j >= OVERFLOW {
        flag(&g.primary[1]);
    }
    // `new` takes the demoted cell's place with the flags, which stay. In the first
    // cell that store is the spill's announcement: one locked instruction fewer per
    // demotion (bigheap's final loop demotes every node's range-written field); if it
    // loses, the spill is announced on its own and the caller looks again.
    let now = g.primary[k].load(Relaxed);
    let placed = Cell(now).with_more(false) == p[k]
        && g.primary[k]
            .compare_exchange(
                now,
                new.with_more(k == 0 || Cell(now).more()).0,
                SeqCst,
                Relaxed,
            )
            .is_ok();
    if !placed && k == 0 {
        flag(&g.primary[0]);
    }
    placed.then(|| done(g, clock, cur, raw, 1 << k, flagged))
}

/// Whether primary cell `c` may leave the primary pair to make room for `cur`'s
/// goroutine (spilled, or swapped with its spilled cell): another goroutine's, or an
/// earlier epoch's, that happens before it. Its goroutine has released since, so no
/// access of its own can find the cell covering it again.
#[inline(always)]
fn gives_way(c: Cell, cur: Cell, clock: &ThreadClock) -> bool {
    !c.same_stamp(cur) && happens_before(c, clock)
}

/// A spill from a granule whose spilled cells were not read: claims the first free
/// one for `value` (the new cell, tagged), announces it and returns its index. The
/// first cell of each plane is claimed without reading it (a compare-and-swap against
/// empty), so a page of shadow never used is faulted in once, for writing. `None`
/// when a cell of this granule was found on the way (a spill whose claimer has not
/// announced it yet: it was not checked, look again with it) or when every cell is a
/// neighbour's.
#[inline(never)]
fn claim_spilled(g: Granule<'_>, value: u64) -> Option<usize> {
    let j = claim_quiet(g, value)?;
    announce(g, j);
    Some(j)
}

/// [`claim_spilled`] without the announcement, which the caller makes: a spilled cell
/// claimed here is found only once its flags are set.
#[inline(never)]
fn claim_quiet(g: Granule<'_>, value: u64) -> Option<usize> {
    for j in 0..SPILLED {
        let slot = g.spill_slot(j);
        let mut seen = if j == 0 || j == OVERFLOW {
            0
        } else {
            slot.load(Relaxed)
        };
        if seen == 0 {
            match slot.compare_exchange(0, value, SeqCst, Relaxed) {
                Ok(_) => return Some(j),
                Err(v) => seen = v,
            }
        }
        if g.owns(j, seen) {
            return None;
        }
    }
    // All taken, by neighbours only: none of this granule's own to evict here.
    None
}

/// Announces spilled cell `j`, just claimed, on the granule's primary pair: a spilled
/// cell just written must be found, and the flags may have been cleared since they
/// were read (see `check_spilled`). The flags are looked at after the claim, in the
/// same total order: one still set was cleared after this look if at all, and that
/// clearing's second look at the spilled cells then sees the claim and sets it again.
fn announce(g: Granule<'_>, j: usize) {
    if j >= OVERFLOW {
        flag(&g.primary[1]);
    }
    flag(&g.primary[0]);
}

/// Sets primary cell `c`'s `more` bit unless it is set.
#[inline(always)]
fn flag(c: &AtomicU64) {
    if c.load(SeqCst) & MORE == 0 {
        c.fetch_or(MORE, SeqCst);
    }
}

/// Forgets every access remembered for the granule (memory was freshly allocated).
/// Cells that are already empty are not written, so shadow pages that were never
/// touched stay unallocated; overflow cells of the block's other granules are kept.
#[inline]
pub fn clear(g: Granule<'_>) {
    let p0 = g.primary[0].load(Relaxed);
    if p0 != 0 {
        g.primary[0].store(0, Relaxed);
    }
    let p1 = g.primary[1].load(Relaxed);
    if p1 != 0 {
        g.primary[1].store(0, Relaxed);
    }
    if Cell(p0).more() {
        let n = if Cell(p1).more() { SPILLED } else { OVERFLOW };
        for i in 0..n {
            let c = g.spill_slot(i);
            let v = c.load(Relaxed);
            if g.owns(i, v) {
                // A neighbour claiming or changing its own overflow cell is never undone.
                let _ = c.compare_exchange(v, 0, Relaxed, Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::Kind;

    /// One granule (index 3 of its block), its block's overflow cells, its secondary
    /// pair.
    struct Mem([AtomicU64; 2], [AtomicU64; OVERFLOW], [AtomicU64; 2]);
    impl Mem {
        fn new() -> Self {
            Mem(Default::default(), Default::default(), Default::default())
        }
        fn g(&self) -> Granule<'_> {
            Granule {
                primary: &self.0,
                overflow: &self.1,
                index: 3,
                secondary: &self.2,
            }
        }
        /// Every cell as stored: primary, overflow, secondary.
        fn raw(&self) -> Vec<u64> {
            self.0
                .iter()
                .chain(&self.1)
                .chain(&self.2)
                .map(|c| c.load(Relaxed))
                .collect()
        }
        fn cells(&self) -> usize {
            self.raw()
                .into_iter()
                .filter(|&c| !Cell(c).is_empty())
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
        // `check_and_store` starts with the detector's own shortcuts (`store_first`,
        // `store_beside`).
        let g = m.g();
        match check_and_store(g.primary, || m.g(), clk, cur, site) {
            Outcome::Race(c) => Some(c),
            Outcome::Known | Outcome::Stored => None,
        }
    }

    /// Two goroutines write bytes of one word at the same instant, the last of each to
    /// one shared byte, over and over (the e2e test's program without Go's scheduler):
    /// however their checks and stores interleave, one of them finds the other's write
    /// to the shared byte. `init`: bytes a write ordered before both recorded first;
    /// each write is `(offset, site)`.
    fn simultaneous_writes_race(init: Option<(u64, u64)>, ops: [&[(u64, u32)]; 2]) {
        const ROUNDS: usize = 100_000;
        let mems: Vec<Mem> = (0..ROUNDS).map(|_| Mem::new()).collect();
        if let Some((off, len)) = init {
            for m in &mems {
                assert_eq!(acc(m, &clock(&[(1, 1)]), 1, off, len, Kind::Write), None);
            }
        }
        let arrived = AtomicU64::new(0);
        let run = |slot: u16, ops: &[(u64, u32)]| {
            let clk = clock(&[(1, 1), (slot, 1)]);
            let write = |off| Cell::new(Cell::stamp(slot, 1), off, 1, Kind::Write);
            let mut found = Vec::with_capacity(ROUNDS);
            for (r, m) in mems.iter().enumerate() {
                // Both threads start each round together.
                arrived.fetch_add(1, SeqCst);
                while arrived.load(SeqCst) < 2 * (r as u64 + 1) {
                    std::thread::yield_now();
                }
                let races = ops
                    .iter()
                    .map(|&(off, site)| store(m, &clk, write(off), &mut || site));
                found.push(races.fold(false, |any, race| any | race.is_some()));
            }
            found
        };
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| run(2, ops[0]));
            let b = s.spawn(|| run(3, ops[1]));
            (a.join().unwrap(), b.join().unwrap())
        });
        let missed = a.iter().zip(&b).filter(|&(x, y)| !x && !y).count();
        assert_eq!(
            missed, 0,
            "{ops:?}: the race was missed in {missed} of {ROUNDS} rounds"
        );
    }

    #[test]
    fn simultaneous_writes_to_one_byte_always_race() {
        // Fresh memory, one write each.
        simultaneous_writes_race(None, [&[(6, 1)], &[(6, 2)]]);
        // An initialised word, bytes of one's own first, from other pcs (a spill that
        // demotes the initialising write: the e2e test's miss).
        simultaneous_writes_race(Some((5, 3)), [&[(5, 1), (6, 2)], &[(7, 3), (6, 4)]]);
        // Byte loops, each merging the shared byte into its own cell beside another
        // goroutine's (the merge of a goroutine's cell alone in its granule is one of
        // the plain stores the module documentation names).
        simultaneous_writes_race(Some((0, 1)), [&[(3, 1), (4, 1)], &[(5, 2), (4, 2)]]);
    }

    #[test]
    fn a_write_after_both_cells_replaces_the_pair_unless_one_is_concurrent() {
        let cells = |m: &Mem| [0, 1].map(|i| Cell(m.0[i].load(Relaxed)));
        // A write and a read of other goroutines, then a write ordered after both.
        let m = Mem::new();
        assert_eq!(acc(&m, &clock(&[(1, 1)]), 1, 0, 1, Kind::Write), None);
        assert_eq!(
            acc(&m, &clock(&[(1, 1), (2, 1)]), 2, 0, 1, Kind::Read),
            None
        );
        let after = clock(&[(1, 1), (2, 1), (3, 1)]);
        assert_eq!(acc(&m, &after, 3, 0, 1, Kind::Write), None);
        let [c0, c1] = cells(&m);
        assert_eq!((c0.slot(), c0.kind(), c1), (3, Kind::Write, Cell::EMPTY));
        // A write that covers only one cell's bytes keeps the other.
        let m = Mem::new();
        assert_eq!(acc(&m, &clock(&[(1, 1)]), 1, 0, 8, Kind::Write), None);
        assert_eq!(
            acc(&m, &clock(&[(1, 1), (2, 1)]), 2, 0, 1, Kind::Read),
            None
        );
        assert_eq!(acc(&m, &after, 3, 0, 1, Kind::Write), None);
        assert!(
            cells(&m).iter().any(|c| c.slot() == 1),
            "the wider write stays"
        );
        // A write ordered after the first cell only races with the second.
        let m = Mem::new();
        assert_eq!(acc(&m, &clock(&[(1, 1)]), 1, 0, 1, Kind::Write), None);
        assert_eq!(
            acc(&m, &clock(&[(1, 1), (2, 1)]), 2, 0, 1, Kind::Read),
            None
        );
        let prev = acc(&m, &clock(&[(1, 1), (3, 1)]), 3, 0, 1, Kind::Write);
        assert_eq!(prev.map(|c| c.slot()), Some(2));
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
    fn an_access_known_from_a_spilled_cell_stores_nothing_and_races_still_show() {
        let m = Mem::new();
        let clk = clock(&[(1, 1)]);
        // One goroutine, one epoch: three bytes of the word from three sites, so no
        // cell covers another and the third spills.
        let sited = |off: u64, site: u32| {
            let cur = Cell::new(Cell::stamp(1, 1), off, 1, Kind::Read);
            store(&m, &clk, cur, &mut || site)
        };
        for (off, site) in [(0, 10), (1, 11), (2, 12)] {
            assert_eq!(sited(off, site), None);
        }
        let before = m.raw();
        assert_eq!(m.cells(), 3, "the third access spilled");
        assert!(!known(
            m.g(),
            Cell::new(Cell::stamp(1, 1), 2, 1, Kind::Read)
        ));
        // The spilled byte again, from another site: known from the spilled cell,
        // nothing stored or moved (both primary cells are this epoch's own).
        assert_eq!(sited(2, 13), None);
        assert_eq!(before, m.raw(), "a known access changes no cell");
        // A byte no cell covers yet is stored.
        assert_eq!(sited(3, 14), None);
        assert_eq!(m.cells(), 4, "the fourth byte is remembered");
        // Another goroutine's unordered write of the spilled byte races with it.
        let other = clock(&[(2, 1)]);
        let race = acc(&m, &other, 2, 2, 1, Kind::Write).expect("races with the spilled read");
        assert_eq!((race.slot(), race.byte_mask()), (1, 1 << 2));
    }

    #[test]
    fn a_goroutine_renews_its_spilled_read_in_place_unless_an_unordered_write_is_there() {
        // Three goroutines read a word, unordered: the third read spills.
        let setup = || {
            let m = Mem::new();
            for slot in 1..=3 {
                assert_eq!(acc(&m, &clock(&[(slot, 1)]), slot, 0, 8, Kind::Read), None);
            }
            assert_eq!(m.cells(), 3);
            m
        };
        let spilled_epochs = |m: &Mem| -> Vec<(u16, u32)> {
            m.raw()[2..]
                .iter()
                .map(|&c| Cell(c))
                .filter(|c| !c.is_empty())
                .map(|c| (c.slot(), c.epoch()))
                .collect()
        };
        // The third goroutine reads again after a release: its own spilled cell is
        // renewed in place, the other two stay.
        let m = setup();
        assert_eq!(spilled_epochs(&m), vec![(3, 1)]);
        assert_eq!(acc(&m, &clock(&[(3, 2)]), 3, 0, 8, Kind::Read), None);
        assert_eq!(spilled_epochs(&m), vec![(3, 2)], "renewed in place");
        assert_eq!(m.cells(), 3);
        // A fourth goroutine writes the first byte after the three reads (so the reads
        // are fine, and stay: the write does not cover them). The third goroutine's
        // next read is unordered with that write: the race shows, renewal or not.
        let m = setup();
        let w = clock(&[(1, 1), (2, 1), (3, 1), (4, 1)]);
        assert_eq!(acc(&m, &w, 4, 0, 1, Kind::Write), None);
        let race =
            acc(&m, &clock(&[(3, 2)]), 3, 0, 8, Kind::Read).expect("read after unordered write");
        assert_eq!((race.slot(), race.kind()), (4, Kind::Write));
    }

    #[test]
    fn write_then_read_keeps_both_and_overflow_is_used_only_when_needed() {
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

    /// A slice element of bigheap: slot 1 writes the word, slots 2 and 3 read a byte of
    /// it (each after the write, unordered with each other): the write is spilled.
    fn written_then_read_twice() -> Mem {
        let m = Mem::new();
        assert_eq!(acc(&m, &clock(&[(1, 1)]), 1, 0, 8, Kind::Write), None);
        assert_eq!(
            acc(&m, &clock(&[(1, 1), (2, 1)]), 2, 0, 1, Kind::Read),
            None
        );
        assert_eq!(
            acc(&m, &clock(&[(1, 1), (3, 1)]), 3, 0, 1, Kind::Read),
            None
        );
        assert_eq!(m.cells(), 3);
        m
    }

    #[test]
    fn a_read_after_a_join_replaces_the_reads_it_waited_for_and_keeps_the_spilled_write() {
        let m = written_then_read_twice();
        let joined = clock(&[(1, 2), (2, 1), (3, 1)]);
        assert_eq!(acc(&m, &joined, 1, 0, 1, Kind::Read), None);
        assert_eq!(m.cells(), 2, "the joined read and the write");
        assert!(known(m.g(), Cell::new(Cell::stamp(1, 2), 0, 1, Kind::Read)));
        // A write that knows the readers but not the joined read races with it; one
        // that knows nothing races with the write, kept spilled, on any byte.
        let after_readers = clock(&[(1, 1), (2, 1), (3, 1), (4, 1)]);
        let race = acc(&m, &after_readers, 4, 0, 1, Kind::Write).expect("race");
        assert_eq!((race.slot(), race.epoch()), (1, 2));
        let race = acc(&m, &clock(&[(5, 1)]), 5, 4, 1, Kind::Write).expect("race");
        assert_eq!(
            (race.slot(), race.epoch(), race.kind()),
            (1, 1, Kind::Write)
        );
    }

    #[test]
    fn a_read_that_supersedes_the_pair_still_races_with_a_spilled_write() {
        // It knows both readers, not the writer.
        let m = written_then_read_twice();
        let race = acc(&m, &clock(&[(2, 1), (3, 1), (4, 1)]), 4, 0, 1, Kind::Read);
        let race = race.expect("the spilled write races");
        assert_eq!((race.slot(), race.kind()), (1, Kind::Write));
    }

    /// Slot 1's write of byte 0 and slot 2's of byte 4, unordered: a granule whose pair
    /// is full.
    fn two_writes() -> Mem {
        let m = Mem::new();
        assert_eq!(acc(&m, &clock(&[(1, 1)]), 1, 0, 1, Kind::Write), None);
        assert_eq!(acc(&m, &clock(&[(2, 1)]), 2, 4, 1, Kind::Write), None);
        m
    }

    /// After [`two_writes`] and slot 3's read of byte 1: the pair holds slot 2's write
    /// and the read, slot 1's write is spilled, nothing is lost, and a write of a fourth
    /// goroutine to byte `off` races with the write there.
    fn read_in_pair_both_writes_kept(m: &Mem, off: u64) {
        let slots: Vec<u16> = m.0.iter().map(|c| Cell(c.load(Relaxed)).slot()).collect();
        assert!(slots.contains(&2) && slots.contains(&3), "{slots:?}");
        assert!(
            Cell(m.0[0].load(Relaxed)).more(),
            "slot 1's write is spilled"
        );
        assert_eq!(m.cells(), 3, "no cell lost or duplicated");
        let late = clock(&[(4, 1)]);
        let prev = acc(m, &late, 4, off, 1, Kind::Write).expect("a race with a write");
        assert_eq!(u64::from(prev.slot()), if off == 0 { 1 } else { 2 });
    }

    #[test]
    fn a_spilled_cell_that_keeps_being_hit_moves_into_the_primary_pair() {
        // The reader does not happen after either write: nothing in the pair can make
        // room, so its read spills.
        let m = two_writes();
        assert_eq!(acc(&m, &clock(&[(3, 1)]), 3, 1, 1, Kind::Read), None);
        assert!(Cell(m.0[0].load(Relaxed)).more(), "the read spilled");
        let read = Cell::new(Cell::stamp(3, 1), 1, 1, Kind::Read);
        assert!(!known(m.g(), read), "not in the primary pair yet");
        // The reader acquires slot 1's write (its epoch stays): its next read is known
        // from the spilled cell, which moves into the place of slot 1's write (ordered
        // before the reader now); slot 2's (unordered) stays.
        let r = clock(&[(1, 1), (3, 1)]);
        assert_eq!(acc(&m, &r, 3, 1, 1, Kind::Read), None);
        assert!(known(m.g(), read), "now the fast path sees it");
        read_in_pair_both_writes_kept(&m, 0);
    }

    #[test]
    fn a_third_access_spills_the_cell_it_happens_after_not_its_own() {
        // The reader happens after slot 1's write only: that write goes to the
        // overflow, the read stays in the pair, where the fast path sees it at once.
        let r = clock(&[(1, 1), (3, 1)]);
        for off in [0, 4] {
            let m = two_writes();
            assert_eq!(acc(&m, &r, 3, 1, 1, Kind::Read), None);
            assert!(known(m.g(), Cell::new(Cell::stamp(3, 1), 1, 1, Kind::Read)));
            read_in_pair_both_writes_kept(&m, off);
        }
    }

    #[test]
    fn a_demoted_cell_is_announced_wherever_it_goes() {
        // The reader happens after one of the two writes (the first cell or the
        // second): that write gives way, into the overflow or, when neighbours hold
        // the block's overflow cells, into the secondary pair. Either way the flags say
        // so, the read is in the pair, and a later write still races with both writes.
        for follows in [1u16, 2] {
            for neighbours in [false, true] {
                let m = two_writes();
                if neighbours {
                    for (i, c) in m.1.iter().enumerate() {
                        let other = Cell::new(Cell::stamp(9, 1), 0, 8, Kind::Read);
                        c.store(other.with_site(1).with_tag(4 + i as u8).0, Relaxed);
                    }
                }
                let r = clock(&[(follows, 1), (3, 1)]);
                assert_eq!(acc(&m, &r, 3, 1, 1, Kind::Read), None);
                let read = Cell::new(Cell::stamp(3, 1), 1, 1, Kind::Read);
                assert!(known(m.g(), read), "the read is in the pair");
                let flags = m.0.each_ref().map(|c| Cell(c.load(Relaxed)).more());
                assert_eq!(flags, [true, neighbours], "follows {follows}");
                assert_eq!(m.cells(), 3 + 2 * usize::from(neighbours));
                for off in [0, 4] {
                    let prev = acc(&m, &clock(&[(4, 1)]), 4, off, 1, Kind::Write);
                    let slot = prev.expect("a race with the write there").slot();
                    assert_eq!(u64::from(slot), 1 + off / 4, "follows {follows}");
                }
            }
        }
    }

    #[test]
    fn the_secondary_pair_is_flagged_only_while_it_holds_cells() {
        let m = Mem::new();
        // The block's overflow is taken by neighbours.
        for (i, c) in m.1.iter().enumerate() {
            let other = Cell::new(Cell::stamp(9, 1), 0, 8, Kind::Read).with_site(1);
            c.store(other.with_tag(4 + i as u8).0, Relaxed); // this granule is 3
        }
        let flags = || {
            (
                Cell(m.0[0].load(Relaxed)).more(),
                Cell(m.0[1].load(Relaxed)).more(),
            )
        };
        for slot in 1..=2 {
            assert_eq!(acc(&m, &clock(&[(slot, 1)]), slot, 0, 8, Kind::Read), None);
        }
        assert_eq!(flags(), (false, false), "two cells: the primary pair");
        assert_eq!(acc(&m, &clock(&[(3, 1)]), 3, 0, 8, Kind::Read), None);
        assert_eq!(
            flags(),
            (true, true),
            "third: into the secondary pair, flagged"
        );
        // Known reads of the flagged cell still take the fast path.
        let c = Cell::new(Cell::stamp(2, 1), 0, 8, Kind::Read);
        assert!(known(m.g(), c));
        // The secondary read is found by a later write.
        let prev = acc(&m, &clock(&[(1, 1), (2, 1), (4, 1)]), 4, 0, 8, Kind::Write);
        assert_eq!(prev.map(|c| c.slot()), Some(3), "the secondary read races");
        // A write after all of them replaces them; the next check clears both flags.
        let after = clock(&[(1, 1), (2, 1), (3, 1), (5, 1)]);
        assert_eq!(acc(&m, &after, 5, 0, 8, Kind::Write), None);
        let later = clock(&[(1, 1), (2, 1), (3, 1), (5, 1), (6, 1)]);
        assert_eq!(acc(&m, &later, 6, 0, 8, Kind::Write), None);
        assert_eq!(flags(), (false, false), "back to the primary pair");
        assert!(m.2.iter().all(|c| c.load(Relaxed) == 0));
        // With a free overflow cell, a spill leaves the secondary pair alone.
        m.1[1].store(0, Relaxed);
        for slot in 7..=8 {
            let seen = clock(&[(6, 1), (slot, 1)]);
            assert_eq!(acc(&m, &seen, slot, 0, 8, Kind::Read), None);
        }
        assert_eq!(flags(), (true, false), "spilled into the overflow only");
        assert_eq!(Cell(m.1[1].load(Relaxed)).tag(), 3);
    }

    #[test]
    fn a_granule_whose_spilled_cells_were_all_replaced_goes_back_to_its_pair() {
        let m = Mem::new();
        for slot in 1..=3 {
            assert_eq!(acc(&m, &clock(&[(slot, 1)]), slot, 0, 8, Kind::Read), None);
        }
        assert!(
            Cell(m.0[0].load(Relaxed)).more(),
            "three unordered reads spill"
        );
        // A write after all three replaces them; the spilled one leaves an empty cell.
        let after = clock(&[(1, 1), (2, 1), (3, 1), (4, 1)]);
        assert_eq!(acc(&m, &after, 4, 0, 8, Kind::Write), None);
        assert_eq!(m.cells(), 1);
        // The next check finds nothing spilled of its own and clears `more`.
        let later = clock(&[(1, 1), (2, 1), (3, 1), (4, 1), (5, 1)]);
        assert_eq!(acc(&m, &later, 5, 0, 8, Kind::Write), None);
        assert!(
            !Cell(m.0[0].load(Relaxed)).more(),
            "back to the primary pair"
        );
        assert_eq!(m.cells(), 1);
        // And it spills again, and is checked against the spill, when it needs to.
        for slot in 6..=7 {
            let seen = clock(&[(5, 1), (slot, 1)]);
            assert_eq!(acc(&m, &seen, slot, 0, 8, Kind::Read), None);
        }
        assert!(Cell(m.0[0].load(Relaxed)).more(), "spilled again");
        let prev = acc(&m, &clock(&[(5, 1), (6, 1), (8, 1)]), 8, 0, 8, Kind::Write);
        assert_eq!(prev.map(|c| c.slot()), Some(7), "the spilled read races");
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
    fn a_lost_spill_is_retried_with_the_overflow_cells_in_view() {
        let m = Mem::new();
        let (a, b, c) = (clock(&[(1, 1)]), clock(&[(2, 1)]), clock(&[(3, 1)]));
        acc(&m, &a, 1, 0, 1, Kind::Write);
        acc(&m, &b, 2, 2, 1, Kind::Write);
        // Goroutine 3 spilled its write of byte 1 but has not yet set `more`.
        let theirs = Cell::new(Cell::stamp(3, 1), 1, 1, Kind::Write).with_site(7);
        m.1[0].store(theirs.with_tag(3).0, Relaxed);
        let mine = Cell::new(Cell::stamp(1, 1), 1, 1, Kind::Write);
        assert_eq!(
            check_and_store(m.g().primary, || m.g(), &a, mine, || 8),
            Outcome::Race(theirs)
        );
        let _ = c;
    }

    #[test]
    fn granules_of_a_block_share_its_overflow_and_keep_to_their_own() {
        let block: [AtomicU64; OVERFLOW] = Default::default();
        let prim: [[AtomicU64; 2]; 2] = Default::default();
        let sec: [[AtomicU64; 2]; 2] = Default::default();
        let g = |i: usize| Granule {
            primary: &prim[i],
            overflow: &block,
            index: i as u8,
            secondary: &sec[i],
        };
        let clk = |s: u16| clock(&[(s, 1)]);
        let put = |i: usize, slot: u16, kind: Kind| {
            let cur = Cell::new(Cell::stamp(slot, 1), 0, 1, kind);
            check_and_store(g(i).primary, || g(i), &clk(slot), cur, || slot as u32)
        };
        // Three unordered reads on each granule: the third of each spills.
        for i in 0..2 {
            for slot in 1..=3 {
                assert_eq!(put(i, slot, Kind::Read), Outcome::Stored);
            }
        }
        let tags: Vec<u8> = block
            .iter()
            .map(|c| Cell(c.load(Relaxed)))
            .filter(|c| !c.is_empty())
            .map(|c| c.tag())
            .collect();
        assert_eq!(tags, vec![0, 1], "one overflow cell each, tagged");
        // A write by a fourth goroutine races with each granule's own third reader.
        let w = |i: usize| put(i, 4, Kind::Write);
        assert!(matches!(w(1), Outcome::Race(c) if c.slot() == 1 && c.tag() == 0));
        clear(g(0));
        assert_eq!(
            block.iter().filter(|c| c.load(Relaxed) != 0).count(),
            1,
            "clearing granule 0 keeps granule 1's overflow cell"
        );
        assert!(matches!(w(1), Outcome::Race(_)));
        assert_eq!(w(0), Outcome::Stored, "granule 0 forgot everything");
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

    #[test]
    fn known_run_stops_at_the_first_granule_not_covered() {
        let stamp = Cell::stamp(3, 7);
        let write = Cell::new(stamp, 0, 8, Kind::Write).with_site(5);
        let read = Cell::new(stamp, 0, 8, Kind::Read);
        let other = Cell::new(Cell::stamp(4, 7), 0, 8, Kind::Write);
        let older = Cell::new(Cell::stamp(3, 6), 0, 8, Kind::Write);
        let half = Cell::new(stamp, 0, 4, Kind::Write);
        // A whole-granule read of this goroutine and epoch is covered by its own whole
        // write, in either primary cell, and by nothing else.
        for (n, stop) in [
            (0, None),
            (1, Some(other)),
            (5, Some(older)),
            (9, Some(half)),
        ] {
            for at in [0usize, 1] {
                let pairs: Vec<[AtomicU64; 2]> = (0..12)
                    .map(|i| {
                        let c = match stop {
                            Some(s) if i == n => s,
                            _ => write,
                        };
                        let mut pair = [other.0, other.0];
                        pair[at] = c.0;
                        pair.map(AtomicU64::new)
                    })
                    .collect();
                let want = if stop.is_some() { n } else { 12 };
                assert_eq!(known_run(&pairs, read.whole_test()), want, "stop at {n}");
                assert_eq!(
                    known_run(&pairs[..want.min(3)], read.whole_test()),
                    want.min(3)
                );
            }
        }
        let fresh: Vec<[AtomicU64; 2]> = (0..8).map(|_| Default::default()).collect();
        assert_eq!(known_run(&fresh, read.whole_test()), 0);
        assert_eq!(known_run(&[], read.whole_test()), 0);
        // A whole write is not covered by a whole read.
        let reads: Vec<[AtomicU64; 2]> = (0..8)
            .map(|_| [AtomicU64::new(read.0), AtomicU64::new(0)])
            .collect();
        assert_eq!(known_run(&reads, write.whole_test()), 0);
        assert_eq!(known_run(&reads, read.whole_test()), 8);
    }
}
