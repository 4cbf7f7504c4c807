//! Where shadow and meta memory live: a fixed linear map of the application range.
//!
//! ```text
//! 0000 0000 0000 - 00e0 0000 0000  application: executable, data/bss, Go heap
//!                                  (under -race Go keeps its heap in [00c0.., 00e0..))
//! 2000 0000 0000 - 21c0 0000 0000  primary shadow:   2 cells (16 bytes) per 8 app bytes
//! 2400 0000 0000 - 25c0 0000 0000  secondary shadow: 2 more cells, written only if needed
//! 2800 0000 0000 - 2838 0000 0000  overflow: 2 cells (16 bytes) per 64 app bytes, shared
//!                                  by the block's granules, written only if needed
//! 3000 0000 0000 - 3070 0000 0000  meta: a u32 sync-object index per 8 app bytes
//! 3800 0000 0000 - 3800 01c0 0000  used pages: a bit per 4 KiB app page, set once
//!                                  memory in it has been allocated
//! 3900 0000 0000 - 3900 01c0 0000  meta pages: a bit per 4 KiB app page, set once a
//!                                  sync object was created in it
//! 3a00 0000 0000 - 3a00 01c0 0000  trimmed pages: a bit per 4 KiB app page, set while
//!                                  its shadow is dropped and it was not seen resident
//!                                  since (see `crate::trim`)
//! 3b00 0000 0000 - 3b00 01c0 0000  lazy pages: a bit per 4 KiB app page of a large
//!                                  object, set at its first allocation while its
//!                                  primary shadow is left untouched (see `stored_fresh`)
//! ```
//!
//! Nothing is reserved up front. [`map_shadow`] (called by Go for data/bss and for each
//! new 64 MiB heap arena) maps the shadow and meta of whole 64 MiB application chunks
//! with `MAP_NORESERVE`: pages cost memory only once written, and reads of untouched
//! pages see zeros.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use gorace_engine::cell::Cell;
use gorace_engine::shadow::{self, Granule};

use crate::sys;

/// End of the application range gorace shadows.
pub const APP_END: usize = 0x00e0_0000_0000;
const SHADOW0: usize = 0x2000_0000_0000;
const SHADOW1: usize = 0x2400_0000_0000;
const OVERFLOW: usize = 0x2800_0000_0000;
const META: usize = 0x3000_0000_0000;
const USED: usize = 0x3800_0000_0000;
const META_PAGES: usize = 0x3900_0000_0000;
const TRIMMED: usize = 0x3a00_0000_0000;
const LAZY: usize = 0x3b00_0000_0000;
pub const PAGE_SHIFT: u32 = 12;

const CHUNK_SHIFT: u32 = 26;
/// Application bytes whose shadow and meta [`map_shadow`] maps at once.
pub const CHUNK: usize = 1 << CHUNK_SHIFT;
const CHUNKS: usize = APP_END >> CHUNK_SHIFT;

/// Bit `i` set: application chunk `i` has its shadow and meta mapped.
static MAPPED: [AtomicU64; CHUNKS / 64] = [const { AtomicU64::new(0) }; CHUNKS / 64];
static MAP_LOCK: spin::Mutex<()> = spin::Mutex::new(());

#[inline(always)]
fn shadow0(addr: usize) -> usize {
    SHADOW0 + (addr & !7) * 2
}

/// Bytes of overflow cells per 64-byte application block.
const OVERFLOW_BYTES: usize = shadow::OVERFLOW * 8;
/// Application bytes whose shadow is whole pages in every plane (the overflow plane, at
/// 16 bytes per 64, is the coarsest): 16 KiB.
pub const OVERFLOW_WHOLE: usize = 4096 * 64 / OVERFLOW_BYTES;

/// The overflow cells of the 64-byte block containing `addr`.
#[inline(always)]
fn overflow(addr: usize) -> usize {
    OVERFLOW + (addr >> 6) * OVERFLOW_BYTES
}

/// Whether `addr` is application memory with shadow.
#[inline]
pub fn is_app(addr: usize) -> bool {
    if addr >= APP_END {
        return false;
    }
    let c = addr >> CHUNK_SHIFT;
    MAPPED[c / 64].load(Ordering::Acquire) & (1 << (c % 64)) != 0
}

/// The shadow cells of the granule containing `addr`.
///
/// `addr` must satisfy [`is_app`]; the Go side only calls the access hooks for its
/// heap and data ranges, which it announced through [`map_shadow`] first.
#[inline(always)]
pub fn granule(addr: usize) -> Granule<'static> {
    let p = shadow0(addr);
    // SAFETY: for application addresses every shadow plane is mapped, readable and
    // writable, aligned (16 and 32 bytes), and never unmapped; cells are only accessed
    // atomically.
    unsafe {
        Granule {
            primary: &*(p as *const [AtomicU64; 2]),
            overflow: &*(overflow(addr) as *const [AtomicU64; shadow::OVERFLOW]),
            index: ((addr >> 3) & 7) as u8,
            secondary: &*((p - SHADOW0 + SHADOW1) as *const [AtomicU64; 2]),
        }
    }
}

/// The primary pair of the granule containing `addr` ([`granule`]'s first field).
#[inline(always)]
pub fn primary(addr: usize) -> &'static [AtomicU64; 2] {
    // SAFETY: as in `granule`: the primary plane of application memory is mapped,
    // 16-byte aligned, never unmapped, and only accessed atomically.
    unsafe { &*(shadow0(addr) as *const [AtomicU64; 2]) }
}

/// The primary pairs of the `n` granules from `addr` (8-aligned application memory).
#[inline(always)]
pub fn primaries(addr: usize, n: usize) -> &'static [[AtomicU64; 2]] {
    // SAFETY: as in `primary`: the primary plane is one linear map of the application
    // range, so consecutive granules' pairs are contiguous, mapped, aligned, never
    // unmapped, and only accessed atomically.
    unsafe { core::slice::from_raw_parts(shadow0(addr) as *const [AtomicU64; 2], n) }
}

/// The meta word of the granule containing `addr` (an application address).
#[inline]
pub fn meta(addr: usize) -> &'static AtomicU32 {
    // SAFETY: the meta range of every mapped application chunk is mapped and never
    // unmapped; the word is 4-byte aligned and only accessed atomically.
    unsafe { &*((META + (addr >> 3) * 4) as *const AtomicU32) }
}

fn map_fixed(addr: usize, len: usize) -> bool {
    // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping; the ranges are
    // inside gorace's own reserved layout.
    let r = unsafe {
        sys::mmap(
            addr,
            len,
            sys::PROT_READ | sys::PROT_WRITE,
            sys::MAP_PRIVATE | sys::MAP_ANONYMOUS | sys::MAP_NORESERVE | sys::MAP_FIXED_NOREPLACE,
        )
    };
    if r == addr as isize {
        // Huge pages would turn sparse shadow writes into 2 MiB of resident memory each.
        // SAFETY: advisory only, on a mapping we own.
        unsafe { sys::madvise(addr, len, sys::MADV_NOHUGEPAGE) };
        return true;
    }
    r == -sys::EEXIST
}

/// Gives `[addr, addr+size)` shadow and meta memory. Returns false if the range is
/// outside what gorace can shadow or the kernel refused.
pub fn map_shadow(addr: usize, size: usize) -> bool {
    if size == 0 || addr >= APP_END || addr + size > APP_END {
        return false;
    }
    let _guard = MAP_LOCK.lock();
    let chunk_len = 1usize << CHUNK_SHIFT;
    for c in (addr >> CHUNK_SHIFT)..=((addr + size - 1) >> CHUNK_SHIFT) {
        if MAPPED[c / 64].load(Ordering::Relaxed) & (1 << (c % 64)) != 0 {
            continue;
        }
        let base = c << CHUNK_SHIFT;
        // A chunk's used-page bits are 2 KiB: the page holding them may be mapped
        // already, for the neighbouring chunk.
        let used = used_word(base) as *const AtomicU64 as usize & !4095;
        let meta_pages = page_word(META_PAGES, base) as *const AtomicU64 as usize & !4095;
        let trimmed = page_word(TRIMMED, base) as *const AtomicU64 as usize & !4095;
        let lazy = page_word(LAZY, base) as *const AtomicU64 as usize & !4095;
        let ok = map_fixed(shadow0(base), chunk_len * 2)
            && map_fixed(shadow0(base) - SHADOW0 + SHADOW1, chunk_len * 2)
            && map_fixed(overflow(base), chunk_len / 64 * OVERFLOW_BYTES)
            && map_fixed(META + (base >> 3) * 4, chunk_len / 2)
            && map_fixed(used, 4096)
            && map_fixed(meta_pages, 4096)
            && map_fixed(trimmed, 4096)
            && map_fixed(lazy, 4096);
        if !ok {
            return false;
        }
        MAPPED[c / 64].fetch_or(1 << (c % 64), Ordering::Release);
    }
    true
}

/// Clears the cells of the granules in `[start, end)` (8-aligned). Most of a fresh
/// object's shadow is already zero (goroutine stacks above all), so granules are
/// tested four at a time (64 bytes of primary shadow, one cache line) and only
/// non-empty ones are written.
fn clear_small(start: usize, end: usize) {
    let mut a = start;
    while a < end {
        if a & 127 == 0 && a + 128 <= end && lines_clean::<4>(shadow0(a)) {
            a += 128;
            continue;
        }
        if a & 31 == 0 && a + 32 <= end && lines_clean::<1>(shadow0(a)) {
            a += 32;
            continue;
        }
        gorace_engine::shadow::clear(granule(a));
        a += 8;
    }
}

/// Objects up to this size (within one page) have their granules cleared by
/// [`clear_object`], without [`clear_small`]'s tests for whole clean lines: a small
/// object's granules usually hold cells (the memory was used and freed since), and
/// the tests cost more than they skipped (trees' 24-byte nodes: 80 instructions per
/// `malloc` in `clear_small`).
const SMALL_OBJECT: usize = 256;
const _: () = assert!(SMALL_OBJECT <= PREFAULT_MAX);

/// Clears the granules of `[start, end)` (8-aligned, a small object just allocated):
/// a pair with cells is zeroed, and a granule that may have spilled is cleared whole
/// ([`gorace_engine::shadow::clear`]); empty pairs are not written.
#[inline(always)]
fn clear_object(start: usize, end: usize) {
    let mut a = start;
    while a < end {
        let pair = primary(a);
        let (p0, p1) = (
            pair[0].load(Ordering::Relaxed),
            pair[1].load(Ordering::Relaxed),
        );
        if Cell(p0).more() {
            return clear_spilled(a, end);
        } else if p0 | p1 != 0 {
            pair[0].store(0, Ordering::Relaxed);
            pair[1].store(0, Ordering::Relaxed);
        }
        a += 8;
    }
}

/// [`clear_object`] from a granule that may have spilled (cleared in all its planes)
/// to `end`: out of line, so that the loop inlined into `malloc` makes no call and
/// saves no registers.
#[inline(never)]
fn clear_spilled(start: usize, end: usize) {
    let mut a = start;
    while a < end {
        gorace_engine::shadow::clear(granule(a));
        a += 8;
    }
}

/// Whether the `N` 64-byte lines of primary shadow at `line` (64-aligned, the
/// granules of one object being allocated) are all zero: 16-byte loads or-ed
/// together and one compare (eight atomic loads and their `or`s per line took four
/// times the instructions; an 8 KiB goroutine stack is 256 lines at every goroutine
/// start).
#[inline(always)]
fn lines_clean<const N: usize>(line: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_load_si128, _mm_movemask_epi8, _mm_or_si128,
            _mm_setzero_si128,
        };
        let p = line as *const __m128i;
        // SAFETY: the lines are N * 64 bytes of mapped primary shadow from a 64-byte
        // boundary (SSE2 is baseline on x86-64). They shadow memory just handed to the
        // allocating goroutine, which no other goroutine can reach yet, so no cell
        // there is being written while these plain loads read it.
        unsafe {
            let any = (0..4 * N).fold(_mm_setzero_si128(), |acc, i| {
                _mm_or_si128(acc, _mm_load_si128(p.add(i)))
            });
            _mm_movemask_epi8(_mm_cmpeq_epi8(any, _mm_setzero_si128())) == 0xffff
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let cells = line as *const AtomicU64;
        // SAFETY: the lines are N * 64 bytes of mapped primary shadow, aligned cells.
        unsafe { (0..8 * N).fold(0, |acc, i| acc | (*cells.add(i)).load(Ordering::Relaxed)) == 0 }
    }
}

/// The used-page word holding the bit of the app page containing `addr`.
#[inline(always)]
fn used_word(addr: usize) -> &'static AtomicU64 {
    page_word(USED, addr)
}

/// The word of the page bitmap at `base` (used pages or meta pages) holding the bit
/// of the app page containing `addr`.
#[inline(always)]
fn page_word(base: usize, addr: usize) -> &'static AtomicU64 {
    let page = addr >> PAGE_SHIFT;
    // SAFETY: the page bits of every mapped application chunk are mapped and never
    // unmapped; the word is 8-byte aligned and only accessed atomically.
    unsafe { &*((base + (page / 64) * 8) as *const AtomicU64) }
}

/// Marks the app page containing `addr` as holding sync objects (before one is
/// created there; never cleared: a page's objects are freed one by one).
#[inline]
pub fn note_meta(addr: usize) {
    set_page_bit(META_PAGES, addr);
}

/// Whether a page of `[addr, addr+size)` was marked by [`note_meta`].
#[inline]
pub fn may_have_meta(addr: usize, size: usize) -> bool {
    any_page_bit(META_PAGES, addr, size)
}

/// Whether memory was ever allocated in a page of `[addr, addr+size)`.
pub fn any_used(addr: usize, size: usize) -> bool {
    any_page_bit(USED, addr, size)
}

/// Whether the bit of a page of `[addr, addr+size)` is set in the page bitmap at `base`
/// (a word of bits at a time).
#[inline]
fn any_page_bit(base: usize, addr: usize, size: usize) -> bool {
    let (first, last) = (addr >> PAGE_SHIFT, (addr + size.max(1) - 1) >> PAGE_SHIFT);
    let mut p = first;
    while p <= last {
        let upto = last.min(p | 63);
        let bits = (u64::MAX >> (63 - (upto - p))) << (p % 64);
        if page_word(base, p << PAGE_SHIFT).load(Ordering::Relaxed) & bits != 0 {
            return true;
        }
        p = upto + 1;
    }
    false
}

/// The bits of the [`OVERFLOW_WHOLE`] group of app pages at `group` (aligned) in the
/// page bitmap at `base`, and their word.
fn group_bits(base: usize, group: usize) -> (&'static AtomicU64, u64) {
    const PAGES: usize = OVERFLOW_WHOLE >> PAGE_SHIFT;
    let bits = ((1u64 << PAGES) - 1) << ((group >> PAGE_SHIFT) % 64);
    (page_word(base, group), bits)
}

/// Whether the shadow of the page group at `group` was dropped by [`crate::trim`] and
/// the group not seen resident since.
pub fn trimmed(group: usize) -> bool {
    let (word, bits) = group_bits(TRIMMED, group);
    word.load(Ordering::Relaxed) & bits != 0
}

/// Marks the page group at `group` trimmed or not (by the one trimming goroutine).
pub fn set_trimmed(group: usize, on: bool) {
    let (word, bits) = group_bits(TRIMMED, group);
    if (word.load(Ordering::Relaxed) & bits != 0) != on {
        if on {
            word.fetch_or(bits, Ordering::Relaxed);
        } else {
            word.fetch_and(!bits, Ordering::Relaxed);
        }
    }
}

/// The application chunks that have shadow, by base address.
pub fn mapped_chunks() -> impl Iterator<Item = usize> {
    (0..CHUNKS)
        .filter(|c| MAPPED[c / 64].load(Ordering::Acquire) & (1 << (c % 64)) != 0)
        .map(|c| c << CHUNK_SHIFT)
}

/// Marks the app page containing `addr` used; whether it was not yet (its shadow is
/// then still all zero: nothing was ever allocated there, so nothing was recorded).
#[inline(always)]
fn first_use(addr: usize) -> bool {
    set_page_bit(USED, addr)
}

/// Sets the bit of the app page containing `addr` in the page bitmap at `base`
/// (no store when it is set already); whether it was not set before.
#[inline(always)]
fn set_page_bit(base: usize, addr: usize) -> bool {
    let (word, bit) = (page_word(base, addr), 1u64 << ((addr >> PAGE_SHIFT) % 64));
    word.load(Ordering::Relaxed) & bit == 0 && word.fetch_or(bit, Ordering::Relaxed) & bit == 0
}

/// Forgets the accesses remembered for `[addr, addr+size)` (memory just allocated).
///
/// Pages where nothing was ever allocated have all-zero shadow: their shadow is not
/// even read (reading it would map the kernel's zero page, and the first write would
/// then take a second, copy-on-write fault and a TLB shootdown). Elsewhere, large
/// ranges give their whole shadow pages back to the kernel instead of writing zeros.
pub fn reset_shadow(addr: usize, size: usize) {
    let end = addr + size;
    if size.wrapping_sub(1) < SMALL_OBJECT && (addr ^ (end - 1)) >> PAGE_SHIFT == 0 {
        // A small object within one page: most allocations.
        if first_use(addr) {
            prefault(addr);
        } else {
            clear_object(addr & !7, (end + 7) & !7);
        }
        return;
    }
    reset_large(addr, size);
}

/// [`reset_shadow`] for an object larger than [`SMALL_OBJECT`] or across pages: out of
/// line, so the small objects' path saves no registers.
#[inline(never)]
fn reset_large(addr: usize, size: usize) {
    let end = addr + size;
    // Runs of pages used before are cleared; first-used pages are skipped.
    let mut run = addr;
    let mut a = addr;
    while a < end {
        let next = ((a >> PAGE_SHIFT) + 1) << PAGE_SHIFT;
        let to = next.min(end);
        if first_use(a) {
            if run < a {
                reset_used(run, a - run);
            }
            run = to;
            if size <= PREFAULT_MAX {
                prefault(a);
            } else {
                set_page_bit(LAZY, a);
            }
        }
        a = to;
    }
    if run < end {
        reset_used(run, end - run);
    }
}

/// Objects up to this size have the primary shadow and the overflow cells of their
/// page made writable when the page is first used (a small object is written right
/// away, and so are its neighbours). Larger ones (goroutine stacks above all, whose
/// shadow their own goroutine never writes, and big buffers used in part) keep
/// untouched shadow unallocated.
const PREFAULT_MAX: usize = 1024;

/// Faults in the primary shadow (two pages) and the overflow page of the app page
/// containing `addr` for writing, in the allocating goroutine: one page fault per
/// shadow page, where the first access's read would map the zero page and its first
/// store take a second, copy-on-write fault with a TLB shootdown. The overflow page
/// (shared by four app pages) is only written when a granule spills, but then usually
/// by goroutines other than the allocating one, all at once: bigheap, whose every node
/// spills one granule, ran 8% faster with its overflow faulted in here (medians of 6
/// interleaved runs, 7.00 s -> 6.42 s), at the cost of up to a quarter of the small-object
/// heap in resident overflow shadow where nothing spills (trees: 153 -> 170 MB).
///
/// The first page of an [`OVERFLOW_WHOLE`] group to be used faults in the shadow of
/// the whole group (eight primary pages and the overflow page) with two
/// `MADV_POPULATE_WRITE` calls instead of a fault per shadow page: the heap's next
/// pages are usually the next objects' (bigheap: 1.17 M page faults -> 0.56 M, system
/// time 2.87-3.19 s -> 2.55-2.87 s; peak RSS unchanged in bigheap, trees and
/// goroutines).
fn prefault(addr: usize) {
    let page = addr & !((1 << PAGE_SHIFT) - 1);
    if first_in_group(page) && populate_group(page & !(OVERFLOW_WHOLE - 1)) {
        return;
    }
    for sh in [shadow0(page), shadow0(page) + 4096, overflow(page)] {
        // SAFETY: shadow of a mapped application page, 8-byte aligned and only
        // accessed atomically; an atomic or of zero changes nothing another thread
        // wrote. In assembly because the compiler would rightly drop it as a no-op.
        unsafe {
            core::arch::asm!(
                "lock or qword ptr [{0}], 0",
                in(reg) sh,
                options(nostack),
            )
        };
    }
}

/// Whether `page` (its used bit just set) is the only used page of its
/// [`OVERFLOW_WHOLE`] group. Two pages first used at once may both see the other's
/// bit: each then faults in its own shadow.
fn first_in_group(page: usize) -> bool {
    let bit = (page >> PAGE_SHIFT) as u32 % 64;
    alone_in_group(used_word(page).load(Ordering::Relaxed), bit)
}

/// Whether bit `bit` of a page bitmap word is the only one set among its
/// [`OVERFLOW_WHOLE`] group's.
fn alone_in_group(word: u64, bit: u32) -> bool {
    const GROUP_PAGES: u32 = (OVERFLOW_WHOLE >> PAGE_SHIFT) as u32;
    const _: () = assert!(64 % GROUP_PAGES == 0, "a group's bits share one word");
    let first = bit & !(GROUP_PAGES - 1);
    (word >> first) & ((1 << GROUP_PAGES) - 1) == 1 << (bit - first)
}

/// Cleared when the kernel does not know `MADV_POPULATE_WRITE` (before Linux 5.14).
static POPULATE: AtomicBool = AtomicBool::new(true);

/// Faults in the primary and overflow shadow of the group at `group` for writing;
/// false if the kernel cannot (the caller then touches its page's shadow).
fn populate_group(group: usize) -> bool {
    populate_write(shadow0(group), 2 * OVERFLOW_WHOLE) && populate_write(overflow(group), 4096)
}

/// `MADV_POPULATE_WRITE` on `[addr, addr+len)` of shadow; whether it was done. Turns
/// itself off for good on a kernel that does not know the advice.
fn populate_write(addr: usize, len: usize) -> bool {
    if !POPULATE.load(Ordering::Relaxed) {
        return false;
    }
    // SAFETY: shadow of mapped application memory, gorace's own mapping; populating
    // changes no byte of it.
    let r = unsafe { sys::madvise(addr, len, sys::MADV_POPULATE_WRITE) };
    if r == -sys::EINVAL {
        POPULATE.store(false, Ordering::Relaxed);
    }
    r == 0
}

/// Makes the primary shadow of `[addr, addr+size)` writable, except the page of its
/// first granule (read already: the kernel's zero page may be mapped there, which a
/// store replaces anyway). A store into never-touched shadow that an access read first
/// takes two faults, the second a copy-on-write with a TLB shootdown on every CPU the
/// program runs on; `MADV_POPULATE_WRITE` gives the pages with no read mapping in one
/// call (copies: 8 MiB buffers' first writes).
pub fn populate(addr: usize, size: usize) {
    let (from, to) = ((shadow0(addr) | 4095) + 1, shadow0(addr + size) & !4095);
    if from < to {
        populate_write(from, to - from);
    }
}

/// App pages whose primary shadow [`stored_fresh`] makes writable at once, after the
/// page where a fill arrived: 64 KiB of application memory, 128 KiB of shadow.
const AHEAD_PAGES: usize = 16;

/// A cell was stored in the empty primary pair of the granule at `addr`. At the start
/// of an app page, and if the next page is a lazy page of a large object (its primary
/// shadow never touched: a buffer being filled, or a goroutine stack), makes the rest
/// of this page's shadow and that of the lazy pages up to [`AHEAD_PAGES`] on writable
/// ([`populate`]), so that the fill's next stores find it mapped: otherwise each
/// shadow page takes a read fault mapping the zero page, then a copy-on-write fault
/// with a TLB shootdown (copies' initialising byte loops, bigheap's slice of
/// pointers). One call per [`AHEAD_PAGES`] pages of a sequential fill; a page start
/// elsewhere costs a bit test.
#[inline(always)]
pub fn stored_fresh(addr: usize) {
    if addr & 4095 < 8 {
        populate_ahead(addr);
    }
}

#[inline(never)]
fn populate_ahead(addr: usize) {
    let page = addr & !4095;
    let chunk_end = (page | (CHUNK - 1)) + 1;
    let mut end = page + 4096;
    while end < chunk_end && end <= page + AHEAD_PAGES * 4096 && take_page_bit(LAZY, end) {
        end += 4096;
    }
    if end > page + 4096 {
        take_page_bit(LAZY, page);
        populate(addr, end - addr);
    }
}

/// Clears the bit of the app page containing `addr` in the page bitmap at `base`;
/// whether it was set.
#[inline]
fn take_page_bit(base: usize, addr: usize) -> bool {
    let (word, bit) = (page_word(base, addr), 1u64 << ((addr >> PAGE_SHIFT) % 64));
    word.load(Ordering::Relaxed) & bit != 0 && word.fetch_and(!bit, Ordering::Relaxed) & bit != 0
}

/// [`reset_shadow`] of a range whose shadow may hold cells.
fn reset_used(addr: usize, size: usize) {
    const MADVISE_MIN: usize = 64 << 10;
    let start = addr & !7;
    let end = (addr + size + 7) & !7;
    if end - start < MADVISE_MIN {
        clear_small(start, end);
        return;
    }
    // The ends granule by granule (their blocks' overflow cells may be a neighbour's),
    // the whole pages in between by MADV_DONTNEED.
    let (s, e) = (
        (start + OVERFLOW_WHOLE - 1) & !(OVERFLOW_WHOLE - 1),
        end & !(OVERFLOW_WHOLE - 1),
    );
    clear_small(start, s);
    clear_small(e, end);
    drop_shadow(s, e);
}

/// Gives the shadow of `[s, e)` (both [`OVERFLOW_WHOLE`]-aligned) back to the kernel:
/// it reads as empty from now on. The overflow plane goes last, so that a spilled cell
/// written meanwhile is never left without its granule's `more` flag (see
/// [`crate::trim`]).
pub fn drop_shadow(s: usize, e: usize) {
    debug_assert!(s.is_multiple_of(OVERFLOW_WHOLE) && e.is_multiple_of(OVERFLOW_WHOLE));
    for (from, to) in [
        (shadow0(s), shadow0(e)),
        (
            shadow0(s) - SHADOW0 + SHADOW1,
            shadow0(e) - SHADOW0 + SHADOW1,
        ),
        (overflow(s), overflow(e)),
    ] {
        // SAFETY: the shadow of application memory is ours and these are whole pages of
        // it for whole blocks inside the range: dropping them forgets exactly those.
        unsafe { sys::madvise(from, to - from, sys::MADV_DONTNEED) };
    }
}

#[cfg(test)]
mod tests {
    use super::alone_in_group;

    #[test]
    fn a_page_is_alone_only_when_no_other_page_of_its_group_is_used() {
        // Groups are four pages: bits 0-3, 4-7, ..., 60-63.
        assert!(alone_in_group(0b0100, 2), "the only bit");
        assert!(!alone_in_group(0b0110, 2), "a neighbour in the group");
        assert!(!alone_in_group(0b1100, 2), "a neighbour after it");
        assert!(alone_in_group(0b1_0100, 2), "bit 4 is the next group's");
        assert!(
            !alone_in_group(1 << 5 | 1 << 7, 5),
            "the second group, two pages"
        );
        assert!(alone_in_group(1 << 63, 63), "the word's last group");
        assert!(!alone_in_group(1 << 63 | 1 << 60, 63));
        assert!(!alone_in_group(0, 2), "its own bit must be set");
    }
}
