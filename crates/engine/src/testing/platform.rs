//! A [`Platform`] over a small simulated address range.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering::Relaxed};

use crate::cell::Cell;
use crate::detector::Platform;
use crate::report::{Frame, Symbolize};
use crate::shadow::Granule;

/// First address of the default simulated application memory.
pub const APP_BASE: usize = 0x1000;
/// Bytes of the default simulated application memory.
pub const APP_SIZE: usize = 4096;

/// Simulated application memory `[base, base+size)` with its shadow (primary and
/// secondary planes) and meta words, allocated once. Reports are collected, one string
/// per [`Platform::write`] call (the detector writes each report all at once).
pub struct TestPlatform {
    base: usize,
    size: usize,
    primary: Vec<[AtomicU64; 2]>,
    secondary: Vec<[AtomicU64; 2]>,
    meta: Vec<AtomicU32>,
    out: spin::Mutex<Vec<String>>,
    /// Exit status passed to [`Platform::exit`], -1 if it was not called.
    exit_code: AtomicI32,
    slept_ms: AtomicU64,
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

    /// Application memory `[base, base+size)`; `base` must be 8-byte aligned.
    pub fn with_range(base: usize, size: usize) -> Self {
        assert!(base & 7 == 0, "base must be granule-aligned");
        let n = size.div_ceil(8);
        TestPlatform {
            base,
            size,
            primary: (0..n).map(|_| Default::default()).collect(),
            secondary: (0..n).map(|_| Default::default()).collect(),
            meta: (0..n).map(|_| AtomicU32::new(0)).collect(),
            out: spin::Mutex::new(Vec::new()),
            exit_code: AtomicI32::new(-1),
            slept_ms: AtomicU64::new(0),
        }
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

    /// Total milliseconds the detector asked to sleep.
    pub fn slept_ms(&self) -> u64 {
        self.slept_ms.load(Relaxed)
    }

    /// The four cells of the granule containing `addr` (primary pair, then secondary
    /// pair, `more` bit cleared), and whether the secondary pair is in use.
    pub fn cells(&self, addr: usize) -> ([Cell; 4], bool) {
        let i = self.index(addr);
        let p0 = Cell(self.primary[i][0].load(Relaxed));
        let cells = [
            p0.with_more(false),
            Cell(self.primary[i][1].load(Relaxed)),
            Cell(self.secondary[i][0].load(Relaxed)),
            Cell(self.secondary[i][1].load(Relaxed)),
        ];
        (cells, p0.more())
    }

    /// Whether the granule containing `addr` remembers four accesses: the next access
    /// that can neither replace one of them nor race may evict one (see
    /// [`crate::shadow`]), which is the one documented way of missing a race.
    pub fn granule_full(&self, addr: usize) -> bool {
        let (cells, more) = self.cells(addr);
        more && cells.iter().all(|c| !c.is_empty())
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
            secondary: &self.secondary[i],
        }
    }

    fn is_app(&self, addr: usize) -> bool {
        addr >= self.base && addr - self.base < self.size
    }

    fn meta(&self, addr: usize) -> &AtomicU32 {
        &self.meta[self.index(addr)]
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
}
