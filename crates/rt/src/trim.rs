//! Giving back the shadow of heap memory that Go gave back to the kernel.
//!
//! Go's scavenger returns free heap pages to the kernel without telling the race
//! runtime, so the shadow written while those pages held objects would stay resident
//! for good: a long-lived program whose heap moves around would keep the shadow of every
//! page it ever used. Every [`PERIOD_NS`], one `malloc` (the first to look after the
//! period has passed) asks the kernel which used application pages are resident
//! (`mincore`) and drops the shadow of each [`GROUP`] of pages none of which is
//! (`MADV_DONTNEED` on all three planes). One look covers at most [`BUDGET`] batches
//! of used memory (the goroutine that looks holds its P meanwhile); the next one goes on
//! from there, around the heap.
//!
//! A page that is not resident holds no object anyone touched since it was given back:
//! its shadow only remembers objects that are gone (a newer object there was cleared by
//! its `malloc` and not accessed since). Dropping it loses nothing. A page can be
//! reused while its group is being dropped; then the new object's first accesses may
//! be forgotten (a race on them missed, never one reported). What must not happen is a
//! dead object's spilled cell surviving without its granule's `more` flag, because the
//! next `malloc` there would not clear it: the primary and secondary planes are
//! therefore dropped before the overflow plane, and a group is the application bytes
//! whose overflow cells fill whole pages, so that an overflow page is only dropped with
//! all its granules' primary cells.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crate::layout::{self, PAGE_SHIFT};
use crate::sys;

/// How often the resident pages are looked at.
const PERIOD_NS: u64 = 250_000_000;
/// Time-stamp counter ticks between two looks at the clock (a few milliseconds).
const CLOCK_TICKS: u64 = 1 << 23;
/// Application bytes whose overflow cells fill one page (4 pages of 4 KiB).
const GROUP: usize = layout::OVERFLOW_WHOLE;
const GROUP_PAGES: usize = GROUP >> PAGE_SHIFT;
/// Application bytes asked about in one `mincore` call (a byte per page, on the stack).
const BATCH: usize = 4 << 20;
const BATCH_PAGES: usize = BATCH >> PAGE_SHIFT;
/// Batches with used pages one look asks about (128 MiB: a pause well under a
/// millisecond; a heap of a few GiB is gone over in seconds).
const BUDGET: usize = 32;

/// Time-stamp counter value before which `malloc` does not look at the clock.
static NEXT_LOOK: AtomicU64 = AtomicU64::new(0);
/// `CLOCK_MONOTONIC` of the last trim.
static LAST_TRIM: AtomicU64 = AtomicU64::new(0);
/// One goroutine looks at a time; the others go on.
static BUSY: AtomicBool = AtomicBool::new(false);
/// The batch the next look starts at.
static CURSOR: AtomicUsize = AtomicUsize::new(0);

/// Called by `malloc` for an object at `addr`: trims when its turn has come. Only
/// objects starting a group look at the time-stamp counter, so the common call is one
/// test of the address.
#[inline(always)]
pub fn on_malloc(addr: usize) {
    if addr & (GROUP - 1) == 0 {
        // SAFETY: rdtsc only reads the time-stamp counter.
        let now = unsafe { core::arch::x86_64::_rdtsc() };
        if now >= NEXT_LOOK.load(Ordering::Relaxed) {
            look(now);
        }
    }
}

#[inline(never)]
fn look(tsc: u64) {
    if BUSY.swap(true, Ordering::Acquire) {
        return;
    }
    NEXT_LOOK.store(tsc + CLOCK_TICKS, Ordering::Relaxed);
    let now = sys::monotonic_ns();
    if now.saturating_sub(LAST_TRIM.load(Ordering::Relaxed)) >= PERIOD_NS {
        LAST_TRIM.store(now, Ordering::Relaxed);
        trim();
    }
    BUSY.store(false, Ordering::Release);
}

/// Drops the shadow of every group of used, non-resident application pages not
/// dropped already since it was last seen resident, in up to [`BUDGET`] batches from
/// the cursor on (wrapping around once).
fn trim() {
    let start = CURSOR.load(Ordering::Relaxed);
    let mut left = BUDGET;
    for wrapped in [false, true] {
        for base in layout::mapped_chunks() {
            for batch in (base..base + layout::CHUNK).step_by(BATCH) {
                if wrapped == (batch >= start) {
                    continue; // before the cursor in the first round, after it in the second
                }
                if trim_batch(batch) {
                    left -= 1;
                    if left == 0 {
                        CURSOR.store(batch + BATCH, Ordering::Relaxed);
                        return;
                    }
                }
            }
        }
    }
}

/// Trims one batch; whether it had used pages (and so counts against the budget).
fn trim_batch(batch: usize) -> bool {
    if !layout::any_used(batch, BATCH) {
        return false;
    }
    let mut resident = [0u8; BATCH_PAGES];
    // SAFETY: the vector has a byte per page of the range; mincore writes nothing else.
    if unsafe { sys::mincore(batch, BATCH, &mut resident) } != 0 {
        return true; // part of the range is not mapped: nothing Go uses
    }
    let mut run: Option<usize> = None;
    for (i, pages) in resident.chunks(GROUP_PAGES).enumerate() {
        let group = batch + i * GROUP;
        let mut drop = false;
        if pages.iter().any(|&p| p & 1 != 0) {
            layout::set_trimmed(group, false);
        } else if layout::any_used(group, GROUP) && !layout::trimmed(group) {
            layout::set_trimmed(group, true);
            drop = true;
        }
        match (drop, run) {
            (true, None) => run = Some(group),
            (false, Some(from)) => {
                layout::drop_shadow(from, group);
                run = None;
            }
            _ => {}
        }
    }
    if let Some(from) = run {
        layout::drop_shadow(from, batch + BATCH);
    }
    true
}
