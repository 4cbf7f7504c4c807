//! The shadow cell: one remembered memory access, packed into 64 bits.
//!
//! ```text
//!  63  62  60 59        38 37            16 15      8  7   6   5     3 2     0
//! +----+-----+------------+----------------+---------+---+---+-------+-------+
//! |more| tag |    site    |     epoch      |  slot   | A | R | len-1 | offset|
//! +----+-----+------------+----------------+---------+---+---+-------+-------+
//!   1     3        22              22             8      1   1    3       3
//! ```
//!
//! - `offset`, `len-1`: the bytes `[offset, offset+len)` of the 8-byte granule touched.
//! - `R`: the access was a read; `A`: it was atomic.
//! - `slot`, `epoch`: who made the access and when (see [`crate::clock`]).
//! - `site`: the stack-depot node of the access (its full call stack, innermost pc
//!   included). Keeping it in the cell is what lets gorace print the earlier access's
//!   stack however long ago it happened, instead of replaying a bounded trace.
//! - `more`: in the first cell of a granule's primary pair, the granule may also have
//!   cells in its block's overflow or its secondary pair; in the second cell, the
//!   secondary pair may hold cells (see [`crate::shadow`]).
//! - `tag`: only in overflow cells, which eight granules share: which of them the cell
//!   belongs to. The shadow code adds and strips it; everything else sees cells
//!   without it.
//!
//! An all-zero word is an empty cell; real cells always have `epoch >= 1`.

/// Bits of the slot field; [`crate::clock::MAX_SLOTS`] is `1 << SLOT_BITS`.
pub const SLOT_BITS: u32 = 8;
/// Bits of the epoch field.
pub const EPOCH_BITS: u32 = 22;
/// Bits of the site field; stack-depot ids at or above `1 << SITE_BITS` are stored as 0.
pub const SITE_BITS: u32 = 22;

const OFF_SHIFT: u32 = 0;
const LEN_SHIFT: u32 = 3;
const READ_BIT: u64 = 1 << 6;
const ATOMIC_BIT: u64 = 1 << 7;
const SLOT_SHIFT: u32 = 8;
const EPOCH_SHIFT: u32 = SLOT_SHIFT + SLOT_BITS;
const SITE_SHIFT: u32 = EPOCH_SHIFT + EPOCH_BITS;
const TAG_SHIFT: u32 = SITE_SHIFT + SITE_BITS;
const TAG_MASK: u64 = 7 << TAG_SHIFT;
const MORE_BIT: u64 = 1 << 63;

const _: () = assert!(TAG_SHIFT + 3 == 63, "the layout fills 63 bits plus `more`");

/// `R` and `A` together: the kind of access.
pub const KIND_MASK: u64 = READ_BIT | ATOMIC_BIT;
/// Slot and epoch: who and when.
pub const SLOT_EPOCH_MASK: u64 = ((1 << (SLOT_BITS + EPOCH_BITS)) - 1) << SLOT_SHIFT;
/// Everything except `site` and `more`: the part of a cell that matters for detection.
pub const ACCESS_MASK: u64 = (1 << SITE_SHIFT) - 1;
/// Offset and length: which bytes.
pub const RANGE_MASK: u64 = (7 << OFF_SHIFT) | (7 << LEN_SHIFT);

/// [`Cell::byte_mask`] for every offset and length field (`RANGE_MASK` bits: offset
/// in bits 0-2, length - 1 in bits 3-5); bytes past the granule's end are cut off.
static BYTE_MASKS: [u8; 64] = {
    let mut t = [0u8; 64];
    let mut i = 0;
    while i < 64 {
        let (off, len) = (i & 7, (i >> LEN_SHIFT) + 1);
        t[i] = (((1u32 << len) - 1) << off) as u8;
        i += 1;
    }
    t
};

/// What an access did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Write,
    Read,
    AtomicWrite,
    AtomicRead,
}

impl Kind {
    #[inline(always)]
    pub const fn bits(self) -> u64 {
        match self {
            Kind::Write => 0,
            Kind::Read => READ_BIT,
            Kind::AtomicWrite => ATOMIC_BIT,
            Kind::AtomicRead => READ_BIT | ATOMIC_BIT,
        }
    }

    pub const fn is_read(self) -> bool {
        matches!(self, Kind::Read | Kind::AtomicRead)
    }

    pub const fn is_atomic(self) -> bool {
        matches!(self, Kind::AtomicWrite | Kind::AtomicRead)
    }
}

/// One remembered access. See the module documentation for the layout.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Cell(pub u64);

impl Cell {
    pub const EMPTY: Cell = Cell(0);

    /// The slot/epoch part of a cell, precomputed once per goroutine epoch.
    #[inline(always)]
    pub const fn stamp(slot: u16, epoch: u32) -> u64 {
        ((slot as u64) << SLOT_SHIFT) | ((epoch as u64) << EPOCH_SHIFT)
    }

    /// A cell for an access of `len` (1..=8) bytes at `offset` within the granule.
    #[inline(always)]
    pub const fn new(stamp: u64, offset: u64, len: u64, kind: Kind) -> Cell {
        // The mask keeps only the slot and epoch of `stamp` (all it ever holds), which
        // also tells the optimiser that the other fields start out empty.
        Cell(
            (stamp & SLOT_EPOCH_MASK)
                | (offset << OFF_SHIFT)
                | ((len - 1) << LEN_SHIFT)
                | kind.bits(),
        )
    }

    /// The same access by the holder of `stamp` ([`Cell::stamp`]).
    #[inline(always)]
    pub const fn with_stamp(self, stamp: u64) -> Cell {
        Cell((self.0 & !SLOT_EPOCH_MASK) | (stamp & SLOT_EPOCH_MASK))
    }

    #[inline(always)]
    pub const fn with_site(self, site: u32) -> Cell {
        let site = if site < (1 << SITE_BITS) {
            site as u64
        } else {
            0
        };
        Cell((self.0 & !(((1 << SITE_BITS) - 1) << SITE_SHIFT)) | (site << SITE_SHIFT))
    }

    #[inline(always)]
    pub const fn is_empty(self) -> bool {
        self.0 & !MORE_BIT == 0
    }

    #[inline(always)]
    pub const fn offset(self) -> u64 {
        (self.0 >> OFF_SHIFT) & 7
    }

    #[inline(always)]
    pub const fn len(self) -> u64 {
        ((self.0 >> LEN_SHIFT) & 7) + 1
    }

    #[inline(always)]
    pub const fn slot(self) -> u16 {
        ((self.0 >> SLOT_SHIFT) & ((1 << SLOT_BITS) - 1)) as u16
    }

    #[inline(always)]
    pub const fn epoch(self) -> u32 {
        ((self.0 >> EPOCH_SHIFT) & ((1 << EPOCH_BITS) - 1)) as u32
    }

    #[inline(always)]
    pub const fn site(self) -> u32 {
        ((self.0 >> SITE_SHIFT) & ((1 << SITE_BITS) - 1)) as u32
    }

    pub const fn kind(self) -> Kind {
        match (self.0 & READ_BIT != 0, self.0 & ATOMIC_BIT != 0) {
            (false, false) => Kind::Write,
            (true, false) => Kind::Read,
            (false, true) => Kind::AtomicWrite,
            (true, true) => Kind::AtomicRead,
        }
    }

    #[inline(always)]
    pub const fn more(self) -> bool {
        self.0 & MORE_BIT != 0
    }

    /// The overflow tag (see the module documentation).
    #[inline(always)]
    pub const fn tag(self) -> u8 {
        ((self.0 & TAG_MASK) >> TAG_SHIFT) as u8
    }

    /// The cell as stored in an overflow cell of granule `index` of its block.
    #[inline(always)]
    pub const fn with_tag(self, index: u8) -> Cell {
        Cell((self.0 & !TAG_MASK) | (((index & 7) as u64) << TAG_SHIFT))
    }

    #[inline(always)]
    pub const fn with_more(self, more: bool) -> Cell {
        if more {
            Cell(self.0 | MORE_BIT)
        } else {
            Cell(self.0 & !MORE_BIT)
        }
    }

    /// The granule bytes touched, as a bit mask (bit i = byte i): one load from a
    /// table indexed by offset and length (two variable shifts otherwise, in the
    /// cell checks' per-cell loops).
    #[inline(always)]
    pub const fn byte_mask(self) -> u8 {
        BYTE_MASKS[(self.0 & RANGE_MASK) as usize]
    }

    /// `self` already says everything `cur` would: same goroutine and epoch, every
    /// byte of `cur` covered, and `self` at least as strong. The fast path's test,
    /// written without branches or variable shifts (an empty cell never subsumes: real
    /// epochs are >= 1). Who and how is one masked compare: `self` must not have a kind
    /// bit that `cur` lacks, and where `cur` lacks one, `self ^ cur` has `self`'s (for
    /// the entry points' constant kinds, a constant mask). Which bytes is one unsigned
    /// compare: `cur` starts at most `len - cur_len` bytes after `self` (a start before
    /// `self`'s wraps around and fails), where `len` and `cur_len` are the length
    /// fields (`len - 1`; for Go's one-byte accesses `cur_len` is 0, so the test that
    /// `cur` is not the longer one folds away).
    #[inline(always)]
    pub const fn subsumes(self, cur: Cell) -> bool {
        let who = (self.0 ^ cur.0) & (SLOT_EPOCH_MASK | (KIND_MASK & !cur.0)) == 0;
        let (first, len) = (self.0 & 7, (self.0 >> LEN_SHIFT) & 7);
        let (cur_first, cur_len) = (cur.0 & 7, (cur.0 >> LEN_SHIFT) & 7);
        let bytes = (cur_first.wrapping_sub(first) <= len.wrapping_sub(cur_len)) & (cur_len <= len);
        who & bytes
    }

    /// For a whole-granule access `self`: `(mask, value)` such that a cell `c`
    /// subsumes it exactly when `c & mask == value` (same slot and epoch, all eight
    /// bytes, kind bits within `self`'s): the range loop's one-compare test.
    #[inline(always)]
    pub const fn whole_test(self) -> (u64, u64) {
        let mask = SLOT_EPOCH_MASK | RANGE_MASK | (KIND_MASK & !self.0);
        (mask, self.0 & mask)
    }

    /// Same goroutine, epoch and kind (site and bytes aside): the accesses [`Cell::merge`]
    /// may join, decided before the new access's site is known.
    #[inline(always)]
    pub const fn same_access_but_site_and_range(self, cur: Cell) -> bool {
        (self.0 ^ cur.0) & (SLOT_EPOCH_MASK | KIND_MASK) == 0
    }

    /// One cell for both accesses when they differ only in which bytes they touched and
    /// those bytes form one contiguous range (a loop walking a byte array): same
    /// goroutine, epoch, kind and site.
    #[inline]
    pub const fn merge(self, other: Cell) -> Option<Cell> {
        if self.is_empty() || (self.0 ^ other.0) & !(RANGE_MASK | MORE_BIT) != 0 {
            return None;
        }
        let m = (self.byte_mask() | other.byte_mask()) as u32;
        let off = m.trailing_zeros();
        let len = m.count_ones();
        if (m >> off) != (1 << len) - 1 {
            return None; // a gap between the two ranges
        }
        let range = ((off as u64) << OFF_SHIFT) | (((len - 1) as u64) << LEN_SHIFT);
        Some(Cell((self.0 & !RANGE_MASK) | range))
    }

    /// `cur` (no site) continues `self` to the right: same goroutine, epoch and kind,
    /// its first byte right after `self`'s last (a byte loop's next byte).
    #[inline(always)]
    pub const fn continued_by(self, cur: Cell) -> bool {
        self.same_access_but_site_and_range(cur) & (cur.offset() == self.offset() + self.len())
    }

    /// `self` widened over `cur`'s bytes, which continue it ([`Cell::continued_by`]).
    #[inline(always)]
    pub const fn extended_by(self, cur: Cell) -> Cell {
        Cell(self.0 + (cur.len() << LEN_SHIFT))
    }

    /// `self` is an earlier access of `cur`'s slot to the same bytes with the same kind
    /// (epoch and site aside): a goroutine reading a shared word again after a release.
    #[inline(always)]
    pub const fn renewed_by(self, cur: Cell) -> bool {
        const SLOT_MASK: u64 = ((1 << SLOT_BITS) - 1) << SLOT_SHIFT;
        (self.0 ^ cur.0) & (SLOT_MASK | KIND_MASK | RANGE_MASK) == 0
    }

    /// Same goroutine slot and same epoch.
    #[inline(always)]
    pub const fn same_stamp(self, other: Cell) -> bool {
        (self.0 ^ other.0) & SLOT_EPOCH_MASK == 0
    }

    /// The two accesses touched at least one common byte.
    #[inline(always)]
    pub const fn intersects(self, other: Cell) -> bool {
        self.byte_mask() & other.byte_mask() != 0
    }

    /// Every byte `other` touched, `self` touched too.
    #[inline(always)]
    pub const fn covers(self, other: Cell) -> bool {
        other.byte_mask() & !self.byte_mask() == 0
    }

    /// The kinds conflict: at least one writes and not both are atomic.
    ///
    /// Bit trick: a pair is harmless exactly when both have `R` set or both have `A` set.
    #[inline(always)]
    pub const fn kinds_conflict(self, other: Cell) -> bool {
        self.0 & other.0 & KIND_MASK == 0
    }

    /// `self` may take `other`'s place once `other` happens before it: it covers
    /// `other`'s bytes and is at least as strong (the shadow's replacement rule).
    #[inline(always)]
    pub const fn outweighs(self, other: Cell) -> bool {
        self.covers(other) & self.at_least_as_strong(other)
    }

    /// Any access racing with `other` would also race with `self` (given `other`
    /// happens-before `self` and `self` covers `other`'s bytes): the race set of a plain
    /// write includes everything, an atomic write's includes plain accesses, a plain
    /// read's includes writes, an atomic read's only plain writes.
    ///
    /// Bit trick: `self`'s kind bits are a subset of `other`'s.
    #[inline(always)]
    pub const fn at_least_as_strong(self, other: Cell) -> bool {
        self.0 & !other.0 & KIND_MASK == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Kind; 4] = [Kind::Write, Kind::Read, Kind::AtomicWrite, Kind::AtomicRead];

    fn cell(slot: u16, epoch: u32, off: u64, len: u64, kind: Kind) -> Cell {
        Cell::new(Cell::stamp(slot, epoch), off, len, kind)
    }

    #[test]
    fn byte_masks_cover_exactly_the_touched_bytes_of_the_granule() {
        for off in 0..8u64 {
            for len in 1..=8u64 {
                let m = cell(1, 1, off, len, Kind::Read).byte_mask();
                let bytes: Vec<u64> = (0..8).filter(|b| m & (1 << b) != 0).collect();
                let want: Vec<u64> = (off..(off + len).min(8)).collect();
                assert_eq!(bytes, want, "offset {off}, length {len}");
            }
        }
    }

    #[test]
    fn fields_round_trip() {
        let c = cell(255, MAX, 5, 3, Kind::AtomicRead).with_site((1 << SITE_BITS) - 1);
        assert_eq!((c.slot(), c.epoch(), c.offset(), c.len()), (255, MAX, 5, 3));
        assert_eq!(c.kind(), Kind::AtomicRead);
        assert_eq!(c.site(), (1 << SITE_BITS) - 1);
        assert!(!c.more());
        assert!(c.with_more(true).more());
        assert_eq!(c.with_more(true).with_more(false), c);
        assert_eq!(c.byte_mask(), 0b1110_0000);
        assert_eq!(
            c.with_site(1 << SITE_BITS).site(),
            0,
            "oversized sites become 0"
        );
        let t = c.with_more(true).with_tag(5);
        assert_eq!(
            (t.tag(), t.site(), t.epoch(), t.more()),
            (5, c.site(), MAX, true)
        );
        assert_eq!(
            t.with_tag(0).with_more(false),
            c,
            "the tag is all with_tag changes"
        );
    }
    const MAX: u32 = (1 << EPOCH_BITS) - 1;

    #[test]
    fn kinds_conflict_matches_definition() {
        for a in ALL {
            for b in ALL {
                let harmless = (a.is_read() && b.is_read()) || (a.is_atomic() && b.is_atomic());
                let (x, y) = (cell(1, 1, 0, 1, a), cell(2, 1, 0, 1, b));
                assert_eq!(x.kinds_conflict(y), !harmless, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn strength_is_race_set_inclusion() {
        // The race set of a kind: the kinds it conflicts with.
        let races = |k: Kind| -> [bool; 4] {
            ALL.map(|o| cell(1, 1, 0, 1, k).kinds_conflict(cell(2, 1, 0, 1, o)))
        };
        for a in ALL {
            for b in ALL {
                let (ra, rb) = (races(a), races(b));
                let subset = (0..4).all(|i| !rb[i] || ra[i]);
                let (x, y) = (cell(1, 1, 0, 1, a), cell(1, 1, 0, 1, b));
                assert_eq!(x.at_least_as_strong(y), subset, "{a:?} >= {b:?}");
            }
        }
    }

    #[test]
    fn byte_ranges() {
        let whole = cell(1, 1, 0, 8, Kind::Write);
        let b3 = cell(1, 1, 3, 1, Kind::Write);
        let b4 = cell(1, 1, 4, 2, Kind::Write);
        assert!(whole.covers(b3) && !b3.covers(whole));
        assert!(!b3.intersects(b4) && b4.intersects(whole));
        for off in 0..8u64 {
            for len in 1..=(8 - off) {
                let c = cell(1, 1, off, len, Kind::Read);
                let expect: u8 = (off..off + len).fold(0, |m, i| m | (1 << i));
                assert_eq!(c.byte_mask(), expect);
            }
        }
    }

    #[test]
    fn adjacent_accesses_merge() {
        let b = |off, len| cell(3, 7, off, len, Kind::Write).with_site(5);
        assert_eq!(b(0, 1).merge(b(1, 1)), Some(b(0, 2)));
        assert_eq!(b(2, 2).merge(b(0, 3)), Some(b(0, 4)));
        assert_eq!(b(0, 1).merge(b(2, 1)), None, "gap");
        assert_eq!(b(0, 1).merge(b(1, 1).with_site(6)), None, "other site");
        assert_eq!(
            b(0, 1).merge(cell(3, 7, 1, 1, Kind::Read).with_site(5)),
            None,
            "other kind"
        );
        assert_eq!(
            b(0, 1).merge(cell(3, 8, 1, 1, Kind::Write).with_site(5)),
            None,
            "other epoch"
        );
        assert!(
            b(0, 1).with_more(true).merge(b(1, 1)).unwrap().more(),
            "more bit kept"
        );
        assert_eq!(Cell::EMPTY.merge(b(1, 1)), None);
    }

    #[test]
    fn whole_test_is_subsumes_for_whole_granules() {
        for (kc, kw) in ALL.iter().flat_map(|&a| ALL.map(move |b| (a, b))) {
            for (off, len) in [(0, 8), (0, 7), (1, 7), (3, 1)] {
                for (slot, epoch) in [(1, 5), (1, 6), (2, 5)] {
                    let c = cell(slot, epoch, off, len, kc).with_site(9).with_more(true);
                    let whole = cell(1, 5, 0, 8, kw);
                    let (mask, value) = whole.whole_test();
                    assert_eq!(c.0 & mask == value, c.subsumes(whole), "{c:?} vs {whole:?}");
                }
            }
        }
    }

    #[test]
    fn a_byte_right_after_a_cell_continues_and_extends_it() {
        let c = cell(1, 5, 0, 3, Kind::Write).with_site(9);
        assert!(c.continued_by(cell(1, 5, 3, 1, Kind::Write)));
        let wider = c.extended_by(cell(1, 5, 3, 2, Kind::Write));
        assert_eq!((wider.offset(), wider.len(), wider.site()), (0, 5, 9));
        assert_eq!(
            Some(wider),
            c.merge(cell(1, 5, 3, 2, Kind::Write).with_site(9))
        );
        for other in [
            cell(1, 5, 4, 1, Kind::Write), // a gap
            cell(1, 5, 2, 1, Kind::Write), // inside
            cell(1, 6, 3, 1, Kind::Write), // another epoch
            cell(2, 5, 3, 1, Kind::Write), // another goroutine
            cell(1, 5, 3, 1, Kind::Read),  // another kind
        ] {
            assert!(!c.continued_by(other), "{other:?}");
        }
    }

    #[test]
    fn subsumes_matches_definition() {
        // Every byte range within a granule, for each cell.
        let ranges: Vec<(u64, u64)> = (0..8)
            .flat_map(|o| (1..=8 - o).map(move |l| (o, l)))
            .collect();
        let pairs = ranges
            .iter()
            .flat_map(|&(oa, la)| ranges.iter().map(move |&(ob, lb)| (oa, la, ob, lb)));
        for (oa, la, ob, lb) in pairs {
            for (ka, kb) in ALL.iter().flat_map(|&a| ALL.map(move |b| (a, b))) {
                for (sa, ea) in [(1, 5), (1, 6), (2, 5)] {
                    let a = cell(sa, ea, oa, la, ka).with_site(9).with_more(true);
                    let b = cell(1, 5, ob, lb, kb);
                    let expect = a.same_stamp(b) && a.covers(b) && a.at_least_as_strong(b);
                    assert_eq!(a.subsumes(b), expect, "{a:?} subsumes {b:?}");
                }
            }
        }
        assert!(
            !Cell::EMPTY.subsumes(cell(0, 1, 0, 1, Kind::Write)),
            "real cells have epoch >= 1"
        );
    }

    #[test]
    fn stamps_compare_only_slot_and_epoch() {
        let a = cell(7, 9, 0, 1, Kind::Write).with_site(3);
        let b = cell(7, 9, 4, 4, Kind::AtomicRead)
            .with_site(11)
            .with_more(true);
        assert!(a.same_stamp(b));
        assert!(!a.same_stamp(cell(7, 10, 0, 1, Kind::Write)));
        assert!(!a.same_stamp(cell(6, 9, 0, 1, Kind::Write)));
    }
}
