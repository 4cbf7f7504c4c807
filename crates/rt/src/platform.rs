//! The engine's [`Platform`] for a Go process: fixed shadow layout, Go's symbolizer,
//! raw syscalls for output and exit.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64};

use gorace_engine::shadow::Granule;
use gorace_engine::Platform;

use crate::symbolize::GoSymbolizer;
use crate::{layout, output, sys, trim};

pub struct GoPlatform;

impl Platform for GoPlatform {
    #[inline(always)]
    fn granule(&self, addr: usize) -> Granule<'_> {
        layout::granule(addr)
    }

    #[inline(always)]
    fn primary(&self, addr: usize) -> &[AtomicU64; 2] {
        layout::primary(addr)
    }

    #[inline(always)]
    fn primaries(&self, addr: usize, n: usize) -> &[[AtomicU64; 2]] {
        layout::primaries(addr, n)
    }

    #[inline]
    fn is_app(&self, addr: usize) -> bool {
        layout::is_app(addr)
    }

    #[inline]
    fn meta(&self, addr: usize) -> &AtomicU32 {
        layout::meta(addr)
    }

    fn prepare_stores(&self, addr: usize, size: usize) {
        layout::populate(addr, size);
    }

    #[inline(always)]
    fn stored_fresh(&self, addr: usize) {
        layout::stored_fresh(addr);
    }

    fn reset_shadow(&self, addr: usize, size: usize) {
        layout::reset_shadow(addr, size);
        trim::on_malloc(addr);
    }

    #[inline]
    fn meta_created(&self, addr: usize) {
        layout::note_meta(addr)
    }

    #[inline]
    fn may_have_meta(&self, addr: usize, size: usize) -> bool {
        layout::may_have_meta(addr, size)
    }

    fn symbolizer(&self) -> impl gorace_engine::report::Symbolize {
        GoSymbolizer
    }

    fn write(&self, text: &str) {
        output::write(text)
    }

    fn exit(&self, code: i32) -> ! {
        sys::exit_group(code)
    }

    fn sleep_ms(&self, ms: u32) {
        sys::sleep_ms(ms)
    }

    fn ticks(&self) -> u64 {
        // SAFETY: rdtsc only reads the time-stamp counter.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    fn ms_between(&self, earlier: u64, later: u64) -> u64 {
        later.saturating_sub(earlier) / crate::clock::ticks_per_ms()
    }

    fn start_pc(&self, gptr: usize, ctx: usize, gopc: u64) -> Option<u64> {
        crate::goinfo::start_pc(gptr, ctx, gopc)
    }

    fn parked_stack(&self, gptr: usize) -> Vec<u64> {
        let mut pcs = [0; crate::goinfo::MAX_PARKED_FRAMES];
        let n = crate::goinfo::parked_stack(gptr, &mut pcs);
        pcs[..n].to_vec()
    }

    fn goroutine_state(&self, gptr: usize) -> gorace_engine::watchdog::GoState {
        crate::goinfo::state(gptr)
    }
}
