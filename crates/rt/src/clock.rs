//! The time-stamp counter as a clock: ticks are cheap to read anywhere (no system
//! call), and their rate is measured against `CLOCK_MONOTONIC` once, when first needed.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::sys;

/// Counter ticks per millisecond once measured (0: not yet).
static PER_MS: AtomicU64 = AtomicU64::new(0);

fn tsc() -> u64 {
    // SAFETY: rdtsc only reads the time-stamp counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Ticks of [`tsc`] per millisecond, measured over 5 ms the first time.
pub fn ticks_per_ms() -> u64 {
    let known = PER_MS.load(Ordering::Relaxed);
    if known != 0 {
        return known;
    }
    let (t0, n0) = (tsc(), sys::monotonic_ns());
    sys::sleep_ms(5);
    let (t1, n1) = (tsc(), sys::monotonic_ns());
    // 5 ms of a few GHz times a million fits a u64 easily (no 128-bit division, which
    // would need a compiler intrinsic the object does not have).
    let per_ms = ((t1 - t0).saturating_mul(1_000_000) / (n1 - n0).max(1)).max(1);
    PER_MS.store(per_ms, Ordering::Relaxed);
    per_ms
}
