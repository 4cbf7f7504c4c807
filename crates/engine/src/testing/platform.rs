//! A [`Platform`] over a small simulated address range.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering::Relaxed};

use crate::cell::Cell;
use crate::detector::Platform;
use crate::report::{Frame, Symbolize};
use crate::shadow::{Granule, OVERFLOW};
use crate::watchdog::GoState;

/// Cells a granule can hold: primary pair, its block's overflow cells, secondary pair.
pub const GRANULE_CELLS: usize = 2 + OVERFLOW + 2;

/// First address of the default simulated application memory.
pub const APP_BASE: usize = 0x1000;
/// Bytes of the default simulated application memory.
pub const APP_SIZE: usize = 4096;
/// Granularity of the simulated meta-page bits (see [`Platform::may_have_meta`]).
pub const META_PAGE: usize = 256;

/// Simulated application memory `[base, base+size)` with its shadow (primary cells
/// and secondary pairs per granule, overflow cells per 64-byte block) and meta words,
/// allocated once. Reports are collected, one string
/// per [`Platform::write`] call (the detector writes each report all at once).
pub struct TestPlatform {
    base: usize,
    size: usize,
    primary: Vec<[AtomicU64; 2]>,
    overflow: Vec<[AtomicU64; OVERFLOW]>,
    secondary: Vec<[AtomicU64; 2]>,
    meta: Vec<AtomicU32>,
    /// Per [`META_PAGE`] bytes: a sync object was created there (as gorace-rt keeps
    /// per 4 KiB page).
    meta_pages: Vec<AtomicBool>,
    out: spin::Mutex<Vec<String>>,
    /// Exit status passed to [`Platform::exit`], -1 if it was not called.
    exit_code: AtomicI32,
    slept_ms: AtomicU64,
    /// What [`Platform::goroutine_state`] says, by `g` address (else `Unknown`).
    states: spin::Mutex<Vec<(usize, GoState)>>,
    /// [`Platform::prepare_stores`] calls, in order.
    prepared: spin::Mutex<Vec<(usize, usize)>>,
    /// [`Platform::stored_fresh`] calls, in order.
    fresh: spin::Mutex<Vec<usize>>,
}

impl Default for TestPlatform {
    fn default() -> Self {
        Self::new()
    }
}

impl TestPlatform {
    /// `[APP_BASE, APP_BASE + APP_SIZE)`.
    pub fn new() -> Self {
        Self::with_range(APP_BASE, APP_SIZE)
    }

    /// Application memory `[base, base+size)`; `base` must be 64-byte aligned (blocks
    /// of eight granules share their overflow cells, as in the real layout).
    pub fn with_range(base: usize, size: usize) -> Self {
        assert!(base & 63 == 0, "base must be block-aligned");
        let n = size.div_ceil(8);
        TestPlatform {
            base,
            size,
            primary: (0..n).map(|_| Default::default()).collect(),
            overflow: (0..n.div_ceil(8)).map(|_| Default::default()).collect(),
            secondary: (0..n).map(|_| Default::default()).collect(),
            meta: (0..n).map(|_| AtomicU32::new(0)).collect(),
            meta_pages: (0..size.div_ceil(META_PAGE))
                .map(|_| AtomicBool::new(false))
                .collect(),
            out: spin::Mutex::new(Vec::new()),
            exit_code: AtomicI32::new(-1),
            slept_ms: AtomicU64::new(0),
            states: spin::Mutex::new(Vec::new()),
            prepared: spin::Mutex::new(Vec::new()),
            fresh: spin::Mutex::new(Vec::new()),
        }
    }

    /// The ranges the detector asked to prepare for stores, in order.
    pub fn prepared(&self) -> Vec<(usize, usize)> {
        self.prepared.lock().clone()
    }

    /// The granules whose fresh pairs got a cell from a scalar access, in order.
    pub fn fresh_stores(&self) -> Vec<usize> {
        self.fresh.lock().clone()
    }

    pub fn base(&self) -> usize {
        self.base
    }

    pub fn size(&self) -> usize {
        self.size
    }

    fn index(&self, addr: usize) -> usize {
        assert!(
            self.is_app(addr),
            "address {addr:#x} outside the test application range {:#x}..{:#x}",
            self.base,
            self.base + self.size
        );
        (addr - self.base) / 8
    }

    /// Everything written so far, and forgets it.
    pub fn take_writes(&self) -> Vec<String> {
        core::mem::take(&mut *self.out.lock())
    }

    /// Everything written so far, concatenated (kept).
    pub fn output(&self) -> String {
        self.out.lock().concat()
    }

    /// The exit status the detector asked for, if it called [`Platform::exit`].
    pub fn exit_code(&self) -> Option<i32> {
        match self.exit_code.load(Relaxed) {
            -1 => None,
            c => Some(c),
        }
    }

    /// Makes [`Platform::goroutine_state`] say `state` for the goroutine whose `g` is
    /// at `gptr`.
    pub fn set_state(&self, gptr: usize, state: GoState) {
        let mut states = self.states.lock();
        states.retain(|&(g, _)| g != gptr);
        states.push((gptr, state));
    }

    /// Total milliseconds the detector asked to sleep.
    pub fn slept_ms(&self) -> u64 {
        self.slept_ms.load(Relaxed)
    }

    /// The cells of the granule containing `addr`: its primary pair (`more` bit
    /// cleared), its block's overflow cells it owns (tag cleared; others' and free ones
    /// empty), its secondary pair; and whether `more` is set.
    pub fn cells(&self, addr: usize) -> ([Cell; GRANULE_CELLS], bool) {
        let i = self.index(addr);
        let p0 = Cell(self.primary[i][0].load(Relaxed));
        let mut cells = [Cell::EMPTY; GRANULE_CELLS];
        cells[0] = p0.with_more(false);
        cells[1] = Cell(self.primary[i][1].load(Relaxed));
        for (j, c) in self.overflow[i / 8].iter().enumerate() {
            let c = Cell(c.load(Relaxed));
            if !c.is_empty() && c.tag() as usize == i % 8 {
                cells[2 + j] = c.with_tag(0);
            }
        }
        for (j, c) in self.secondary[i].iter().enumerate() {
            cells[2 + OVERFLOW + j] = Cell(c.load(Relaxed)).with_tag(0);
        }
        (cells, p0.more())
    }

    /// Whether the granule containing `addr` has no room for another access: its
    /// primary and secondary pairs are taken and so is every overflow cell of its block.
    /// The next access that can neither replace a cell nor race may then evict one of
    /// the granule's own (see [`crate::shadow`]), the one documented way of missing a
    /// race.
    pub fn granule_full(&self, addr: usize) -> bool {
        let i = self.index(addr);
        self.own_pairs_full(addr) && self.overflow[i / 8].iter().all(|c| c.load(Relaxed) != 0)
    }

    /// The granule's primary and secondary pairs are all in use (it is full once its
    /// block's overflow cells are taken too).
    pub fn own_pairs_full(&self, addr: usize) -> bool {
        let (cells, _) = self.cells(addr);
        let own_pairs = [0, 1, 2 + OVERFLOW, 3 + OVERFLOW];
        own_pairs.iter().all(|&j| !cells[j].is_empty())
    }
}

/// Symbolises every pc as one frame: function `f<pc>` (decimal), file `t.go`, line
/// `pc`, offset 0.
pub struct FakeSymbolizer;

impl Symbolize for FakeSymbolizer {
    fn frames(&mut self, pc: u64, out: &mut Vec<Frame>) {
        out.push(Frame {
            func: format!("f{pc}"),
            file: String::from("t.go"),
            line: pc,
            offset: 0,
        });
    }
}

impl Platform for TestPlatform {
    fn granule(&self, addr: usize) -> Granule<'_> {
        let i = self.index(addr);
        Granule {
            primary: &self.primary[i],
            overflow: &self.overflow[i / 8],
            index: (i % 8) as u8,
            secondary: &self.secondary[i],
        }
    }

    fn primaries(&self, addr: usize, n: usize) -> &[[AtomicU64; 2]] {
        let i = self.index(addr);
        &self.primary[i..i + n]
    }

    fn prepare_stores(&self, addr: usize, size: usize) {
        self.prepared.lock().push((addr, size));
    }

    fn stored_fresh(&self, addr: usize) {
        self.fresh.lock().push(addr);
    }

    fn is_app(&self, addr: usize) -> bool {
        addr >= self.base && addr - self.base < self.size
    }

    fn meta(&self, addr: usize) -> &AtomicU32 {
        &self.meta[self.index(addr)]
    }

    fn meta_created(&self, addr: usize) {
        self.meta_pages[(addr - self.base) / META_PAGE].store(true, Relaxed);
    }

    fn may_have_meta(&self, addr: usize, size: usize) -> bool {
        let first = (addr - self.base) / META_PAGE;
        let last = (addr + size.max(1) - 1 - self.base) / META_PAGE;
        self.meta_pages[first..=last.min(self.meta_pages.len() - 1)]
            .iter()
            .any(|p| p.load(Relaxed))
    }

    fn symbolizer(&self) -> impl Symbolize {
        FakeSymbolizer
    }

    fn write(&self, text: &str) {
        self.out.lock().push(String::from(text));
    }

    fn exit(&self, code: i32) -> ! {
        self.exit_code.store(code, Relaxed);
        panic!("test platform: exit({code})")
    }

    fn sleep_ms(&self, ms: u32) {
        self.slept_ms.fetch_add(ms as u64, Relaxed);
    }

    /// Time passes only when the detector sleeps: ticks are milliseconds slept.
    fn ticks(&self) -> u64 {
        self.slept_ms()
    }

    fn ms_between(&self, earlier: u64, later: u64) -> u64 {
        later.saturating_sub(earlier)
    }

    fn goroutine_state(&self, gptr: usize) -> GoState {
        let states = self.states.lock();
        states
            .iter()
            .find(|&&(g, _)| g == gptr)
            .map_or(GoState::Unknown, |&(_, s)| s)
    }
}
