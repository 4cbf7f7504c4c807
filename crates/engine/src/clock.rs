//! Vector clocks over *slots*.
//!
//! A slot is the identity a goroutine uses in vector clocks and shadow cells (see
//! [`crate::slots`]). A vector clock maps each slot to the newest epoch of that slot that
//! happens-before the clock's owner. Epoch 0 means "nothing of this slot"; real epochs
//! start at 1.
//!
//! Two representations share the same operations:
//! - [`ThreadClock`]: a goroutine's own clock, a fixed array of [`MAX_SLOTS`] epochs so
//!   that the per-access happens-before test is a single indexed load;
//! - [`SyncClock`]: the clock stored in a sync object, only as long as the highest slot
//!   it mentions (most programs use few slots, so most sync clocks are tiny).

use alloc::vec::Vec;

/// A point in one slot's history. Epochs only grow; 0 is "before everything".
pub type Epoch = u32;

/// Index of a slot in vector clocks.
pub type Slot = u16;

/// Number of slots, i.e. the width of vector clocks. Shadow cells store the slot in
/// [`crate::cell::SLOT_BITS`] bits.
pub const MAX_SLOTS: usize = 1 << crate::cell::SLOT_BITS;

/// Clocks are joined a vector of this many entries at a time (`vpmaxud` on eight
/// 32-bit lanes): the lengths they are joined over are rounded up to a multiple of it,
/// the entries past a clock's used prefix being zero, so that the joins have no tail.
const LANES: usize = 8;
const _: () = assert!(MAX_SLOTS.is_multiple_of(LANES));

/// `n` rounded up to whole vectors of [`LANES`].
#[inline(always)]
const fn whole(n: usize) -> usize {
    (n + LANES - 1) & !(LANES - 1)
}

/// The largest epoch a shadow cell can record ([`crate::cell::EPOCH_BITS`] bits).
pub const MAX_EPOCH: Epoch = (1 << crate::cell::EPOCH_BITS) - 1;

/// A goroutine's vector clock: one epoch per slot, kept inline (the goroutine state
/// that holds it is one allocation).
pub struct ThreadClock {
    e: [Epoch; MAX_SLOTS],
    /// Every entry at or past `len` is zero (so releases copy only the used prefix).
    len: usize,
}

impl Default for ThreadClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for ThreadClock {
    /// Copies only the used prefix.
    fn clone(&self) -> Self {
        let mut c = ThreadClock::new();
        c.e[..self.len].copy_from_slice(&self.e[..self.len]);
        c.len = self.len;
        c
    }
}

impl ThreadClock {
    pub fn new() -> Self {
        ThreadClock {
            e: [0; MAX_SLOTS],
            len: 0,
        }
    }

    /// All zero again, in place.
    pub fn clear(&mut self) {
        self.e[..self.len].fill(0);
        self.len = 0;
    }

    /// Becomes a copy of `other`, in place: only the used prefixes are written.
    pub fn copy_from(&mut self, other: &ThreadClock) {
        if self.len > other.len {
            self.e[other.len..self.len].fill(0);
        }
        self.e[..other.len].copy_from_slice(&other.e[..other.len]);
        self.len = other.len;
    }

    /// The epoch of `slot` known to this clock.
    #[inline(always)]
    pub fn get(&self, slot: Slot) -> Epoch {
        // `slot` comes from a shadow cell's SLOT_BITS-wide field, so it is always in range;
        // the mask lets the compiler drop the bounds check.
        self.e[slot as usize & (MAX_SLOTS - 1)]
    }

    #[inline]
    pub fn set(&mut self, slot: Slot, epoch: Epoch) {
        let i = slot as usize & (MAX_SLOTS - 1);
        self.e[i] = epoch;
        if epoch != 0 {
            self.len = self.len.max(i + 1);
        }
    }

    /// `self = max(self, other)`: everything `other` knows now happens-before us.
    pub fn acquire(&mut self, other: &SyncClock) {
        let n = other.e.len().min(MAX_SLOTS);
        max_into(&mut self.e[..n], &other.e[..n]);
        self.len = self.len.max(n);
    }

    /// `self = max(self, other)` for another goroutine's clock.
    pub fn join(&mut self, other: &ThreadClock) {
        let n = other.used_len();
        max_into(&mut self.e[..n], &other.e[..n]);
        self.len = self.len.max(n);
    }

    /// Leading slots that can be non-zero, in whole vectors (the rest is zero).
    fn used_len(&self) -> usize {
        whole(self.len)
    }

    pub fn as_slice(&self) -> &[Epoch] {
        &self.e[..]
    }

    /// The lowest slot below `n` whose entry here is at least `bounds`' entry for it
    /// (a free slot whose last holder this clock already happens-after, when `bounds`
    /// holds free slots' last epochs and [`Epoch::MAX`] for the others). Eight slots
    /// per compare with AVX2.
    pub fn first_at_least(&self, bounds: &[Epoch; MAX_SLOTS], n: usize) -> Option<Slot> {
        let n = whole(n).min(MAX_SLOTS);
        first_at_least(&self.e[..n], &bounds[..n]).map(|i| i as Slot)
    }
}

/// A sync object's clock: as long as the highest slot it has heard of, rounded up to
/// whole vectors ([`LANES`]).
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct SyncClock {
    e: Vec<Epoch>,
}

impl SyncClock {
    pub const fn new() -> Self {
        SyncClock { e: Vec::new() }
    }

    pub fn get(&self, slot: Slot) -> Epoch {
        self.e.get(slot as usize).copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.e.is_empty()
    }

    /// Release (store): `self = clock`.
    pub fn store(&mut self, clock: &ThreadClock) {
        let n = clock.used_len();
        self.e.clear();
        self.e.extend_from_slice(&clock.as_slice()[..n]);
    }

    /// Release (merge): `self = max(self, clock)`.
    pub fn merge(&mut self, clock: &ThreadClock) {
        let n = clock.used_len();
        if self.e.len() < n {
            self.e.resize(n, 0);
        }
        let m = self.e.len();
        max_into(&mut self.e, &clock.as_slice()[..m]);
    }

    /// Release-acquire exchange (Go's buffered channel slots): the object gets the
    /// releaser's clock, the releaser acquires what the object held before. In place, no
    /// allocation once the object's clock is as long as the releaser's.
    pub fn exchange(&mut self, clock: &mut ThreadClock) {
        let n = clock.used_len();
        if self.e.len() < n {
            self.e.resize(n, 0);
        }
        let m = self.e.len();
        swap_max(&mut self.e, &mut clock.e[..m]);
        clock.len = clock.len.max(self.e.len());
    }

    /// Heap bytes held by this clock (for memory accounting in tests and docs).
    pub fn heap_bytes(&self) -> usize {
        self.e.capacity() * core::mem::size_of::<Epoch>()
    }

    pub fn as_slice(&self) -> &[Epoch] {
        &self.e
    }
}

cpufeatures::new!(sse41, "sse4.1");
cpufeatures::new!(avx2, "avx2");

/// `dst[i] = max(dst[i], src[i])` over equally long slices: the vector clock join
/// behind every acquire and release. With AVX2 or SSE4.1 (detected once) it compiles
/// to `vpmaxud`/`pmaxud`, eight or four entries per instruction; baseline x86-64 has
/// no unsigned 32-bit vector max and needs eight instructions for four entries.
#[inline]
fn max_into(dst: &mut [Epoch], src: &[Epoch]) {
    #[cfg(target_arch = "x86_64")]
    {
        if avx2::get() {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { max_into_avx2(dst, src) };
        }
        if sse41::get() {
            // SAFETY: the CPU supports SSE4.1 (checked just above).
            return unsafe { max_into_sse41(dst, src) };
        }
    }
    max_into_any(dst, src);
}

#[inline(always)]
fn max_into_any(dst: &mut [Epoch], src: &[Epoch]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = (*d).max(*s);
    }
}

/// One `vpmaxud` per [`LANES`] entries, then any rest. Written with intrinsics: the
/// compiler's own vectorisation of the loop dispatched on the length (32-entry blocks,
/// then 4-entry ones, then single entries), 49 instructions per join of a clock of a
/// dozen slots (atomics: 2.4 G of its 21.5 G).
///
/// # Safety
/// Only on CPUs with AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn max_into_avx2(dst: &mut [Epoch], src: &[Epoch]) {
    use core::arch::x86_64::{__m256i, _mm256_loadu_si256, _mm256_max_epu32, _mm256_storeu_si256};
    let n = dst.len().min(src.len());
    let vectors = n & !(LANES - 1);
    let mut i = 0;
    while i < vectors {
        // SAFETY: `i + LANES <= n`, within both slices; unaligned loads and stores of
        // eight `u32`s, and `dst` (a unique borrow) does not overlap `src`.
        unsafe {
            let d = dst.as_mut_ptr().add(i) as *mut __m256i;
            let s = src.as_ptr().add(i) as *const __m256i;
            _mm256_storeu_si256(
                d,
                _mm256_max_epu32(_mm256_loadu_si256(d), _mm256_loadu_si256(s)),
            );
        }
        i += LANES;
    }
    max_into_any(&mut dst[vectors..n], &src[vectors..n]);
}

/// # Safety
/// Only on CPUs with SSE4.1.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.1")]
unsafe fn max_into_sse41(dst: &mut [Epoch], src: &[Epoch]) {
    max_into_any(dst, src);
}

/// The first `i` with `known[i] >= bounds[i]` (equally long slices).
#[inline]
fn first_at_least(known: &[Epoch], bounds: &[Epoch]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        if avx2::get() {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { first_at_least_avx2(known, bounds) };
        }
    }
    first_at_least_any(known, bounds)
}

#[inline(always)]
fn first_at_least_any(known: &[Epoch], bounds: &[Epoch]) -> Option<usize> {
    known.iter().zip(bounds).position(|(k, b)| k >= b)
}

/// Per [`LANES`] entries: `max(k, b) == k` (AVX2 has no unsigned compare), one mask.
///
/// # Safety
/// Only on CPUs with AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn first_at_least_avx2(known: &[Epoch], bounds: &[Epoch]) -> Option<usize> {
    use core::arch::x86_64::{
        __m256i, _mm256_castsi256_ps, _mm256_cmpeq_epi32, _mm256_loadu_si256, _mm256_max_epu32,
        _mm256_movemask_ps,
    };
    let n = known.len().min(bounds.len());
    let vectors = n & !(LANES - 1);
    let mut i = 0;
    while i < vectors {
        // SAFETY: `i + LANES <= n`, within both slices; unaligned loads of eight `u32`s.
        let mask = unsafe {
            let k = _mm256_loadu_si256(known.as_ptr().add(i) as *const __m256i);
            let b = _mm256_loadu_si256(bounds.as_ptr().add(i) as *const __m256i);
            let at_least = _mm256_cmpeq_epi32(_mm256_max_epu32(k, b), k);
            _mm256_movemask_ps(_mm256_castsi256_ps(at_least)) as u32
        };
        if mask != 0 {
            return Some(i + mask.trailing_zeros() as usize);
        }
        i += LANES;
    }
    first_at_least_any(&known[vectors..n], &bounds[vectors..n]).map(|j| vectors + j)
}

/// `held` takes `clock`'s entries and `clock` the max of both (over equally long
/// slices): [`SyncClock::exchange`]'s loop, vectorised like [`max_into`].
#[inline]
fn swap_max(held: &mut [Epoch], clock: &mut [Epoch]) {
    #[cfg(target_arch = "x86_64")]
    {
        if avx2::get() {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { swap_max_avx2(held, clock) };
        }
        if sse41::get() {
            // SAFETY: the CPU supports SSE4.1 (checked just above).
            return unsafe { swap_max_sse41(held, clock) };
        }
    }
    swap_max_any(held, clock);
}

#[inline(always)]
fn swap_max_any(held: &mut [Epoch], clock: &mut [Epoch]) {
    for (h, c) in held.iter_mut().zip(clock.iter_mut()) {
        let (before, mine) = (*h, *c);
        *h = mine;
        *c = mine.max(before);
    }
}

/// # Safety
/// Only on CPUs with AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn swap_max_avx2(held: &mut [Epoch], clock: &mut [Epoch]) {
    swap_max_any(held, clock);
}

/// # Safety
/// Only on CPUs with SSE4.1.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.1")]
unsafe fn swap_max_sse41(held: &mut [Epoch], clock: &mut [Epoch]) {
    swap_max_any(held, clock);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vector_joins_match_the_scalar_ones() {
        // Odd lengths (a vector tail), epochs on both sides of every lane, the top of
        // the epoch range.
        for n in [0, 1, 3, 4, 7, 8, 9, 16, 17, 64, 255, 256] {
            let a: Vec<Epoch> = (0..n as u32)
                .map(|i| (i * 7919) % 23 + i % 3 * MAX_EPOCH / 2)
                .collect();
            let b: Vec<Epoch> = (0..n as u32)
                .map(|i| (i * 104_729) % 29 + (i + 1) % 3 * MAX_EPOCH / 2)
                .collect();
            let (mut fast, mut slow) = (a.clone(), a.clone());
            max_into(&mut fast, &b);
            max_into_any(&mut slow, &b);
            assert_eq!(fast, slow, "max_into, n = {n}");
            // Each vector tier the CPU has, whichever `max_into` picked.
            #[cfg(target_arch = "x86_64")]
            type Tier = (
                unsafe fn(&mut [Epoch], &[Epoch]),
                unsafe fn(&mut [Epoch], &mut [Epoch]),
            );
            let tiers: [(&str, bool, Tier); 2] = [
                ("sse4.1", sse41::get(), (max_into_sse41, swap_max_sse41)),
                ("avx2", avx2::get(), (max_into_avx2, swap_max_avx2)),
            ];
            for (tier, present, (max, swap)) in tiers {
                if !present {
                    continue;
                }
                let (mut m, mut held, mut clock) = (a.clone(), a.clone(), b.clone());
                let (mut held2, mut clock2) = (a.clone(), b.clone());
                // SAFETY: the CPU has the tier (checked just above).
                unsafe {
                    max(&mut m, &b);
                    swap(&mut held, &mut clock);
                }
                swap_max_any(&mut held2, &mut clock2);
                assert_eq!(m, slow, "max_into ({tier}), n = {n}");
                assert_eq!((held, clock), (held2, clock2), "swap_max ({tier}), n = {n}");
            }
            assert!(fast
                .iter()
                .zip(a.iter().zip(&b))
                .all(|(&m, (&x, &y))| m == x.max(y)));
            let (mut held, mut clock) = (a.clone(), b.clone());
            let (mut held2, mut clock2) = (a.clone(), b.clone());
            swap_max(&mut held, &mut clock);
            swap_max_any(&mut held2, &mut clock2);
            assert_eq!((&held, &clock), (&held2, &clock2), "swap_max, n = {n}");
            assert_eq!(held, b);
            assert_eq!(clock, fast);
        }
    }

    #[test]
    fn the_first_slot_known_is_the_lowest_whose_bound_the_clock_reaches() {
        let mut k = ThreadClock::new();
        let mut bounds = [Epoch::MAX; MAX_SLOTS];
        assert_eq!(k.first_at_least(&bounds, MAX_SLOTS), None, "no slot free");
        // Bounds above the top bit (an unsigned compare), in and past the first vector,
        // in the scalar tail of a length that is no whole vector.
        for (slot, epoch) in [(3, MAX_EPOCH), (11, 7), (200, 0)] {
            bounds[slot] = epoch;
        }
        assert_eq!(k.first_at_least(&bounds, MAX_SLOTS), Some(200));
        assert_eq!(
            k.first_at_least(&bounds, 200),
            None,
            "slot 200 out of range"
        );
        k.set(11, 6);
        assert_eq!(k.first_at_least(&bounds, 12), None, "6 < 7");
        k.set(11, 7);
        assert_eq!(k.first_at_least(&bounds, 12), Some(11));
        k.set(3, MAX_EPOCH);
        assert_eq!(k.first_at_least(&bounds, 12), Some(3));
        // The vector and scalar scans agree wherever the match lies.
        for at in 0..MAX_SLOTS {
            let mut b = [Epoch::MAX; MAX_SLOTS];
            b[at] = 1 << 31;
            let mut k = ThreadClock::new();
            k.set(at as Slot, 1 << 31);
            let want = first_at_least_any(&k.e, &b);
            assert_eq!(want, Some(at));
            assert_eq!(first_at_least(&k.e, &b), want, "slot {at}");
        }
    }

    #[test]
    fn acquire_takes_pointwise_max() {
        let mut a = ThreadClock::new();
        a.set(0, 5);
        a.set(3, 1);
        let mut b = ThreadClock::new();
        b.set(0, 2);
        b.set(3, 7);
        b.set(9, 4);
        let mut s = SyncClock::new();
        s.store(&b);
        assert_eq!(
            s.as_slice().len(),
            16,
            "sync clock is trimmed to the highest used slot, in whole vectors"
        );
        a.acquire(&s);
        assert_eq!((a.get(0), a.get(3), a.get(9), a.get(1)), (5, 7, 4, 0));
    }

    #[test]
    fn store_replaces_and_merge_accumulates() {
        let mut g1 = ThreadClock::new();
        g1.set(1, 3);
        let mut g2 = ThreadClock::new();
        g2.set(2, 8);
        let mut s = SyncClock::new();
        s.store(&g1);
        s.merge(&g2);
        assert_eq!((s.get(1), s.get(2)), (3, 8));
        s.store(&g2);
        assert_eq!(
            (s.get(1), s.get(2)),
            (0, 8),
            "store forgets earlier releases"
        );
    }
}
