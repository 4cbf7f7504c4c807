//! What a goroutine runs, read from Go's `g` (for leak reports).
//!
//! The race ABI never says which function a goroutine runs. Go's `g` has it
//! (`startpc`), right before `racectx`, with the `go` statement's pc (`gopc`) two
//! words before that:
//!
//! ```text
//! gopc       uintptr          // racectx - 24
//! ancestors  *[]ancestorInfo  // racectx - 16
//! startpc    uintptr          // racectx - 8
//! racectx    uintptr
//! ```
//!
//! That has held from Go 1.21 to 1.27, but the offset of `racectx` differs between
//! releases, so it is found, not assumed: the word of the goroutine's `g` that holds
//! its own racectx, and only if `gopc` matches the pc `__tsan_go_start` was given.
//! Anything else (a layout that does not check out, a goroutine whose `g` was never
//! seen) gives no answer, and the report shows the goroutine's last steps instead.
//!
//! A parked goroutine's real stack is in its `g` too: `sched` (where it resumes) sits
//! at the same place from Go 1.21 to 1.27, and Go keeps frame pointers on amd64:
//!
//! ```text
//! stack.lo, stack.hi                  // words 0, 1
//! sched.sp, sched.pc, sched.g         // words 7, 8, 9 (sched.g == the g itself)
//! sched.ctxt, [ret,] lr, bp           // bp: word 12 from Go 1.25 (gobuf lost ret), else 13
//! ... atomicstatus                    // 6 words after bp; 4 = _Gwaiting (10: _Gleaked)
//! ```
//!
//! `sched.pc` is the return address into `gopark`, `sched.bp` its frame pointer; each
//! frame's saved frame pointer and return address follow. The walk stops at any word
//! that is not a frame pointer into the goroutine's own stack.

use core::sync::atomic::{AtomicUsize, Ordering};

/// Words of `g` searched for `racectx` (it sits some 300 bytes in).
const SEARCH_WORDS: usize = 128;

/// The `racectx` offset in words once found; 0 until then.
static RACECTX_WORD: AtomicUsize = AtomicUsize::new(0);

/// The word `i` of the `g` at `gptr`.
///
/// # Safety
/// `gptr` is a live goroutine's `g` (Go never frees them), so its first
/// [`SEARCH_WORDS`] words are readable.
unsafe fn word(gptr: usize, i: usize) -> u64 {
    // SAFETY: forwarded contract; a volatile read of a word another thread may write
    // (atomically, as far as x86 is concerned): only equality tests depend on it.
    unsafe { core::ptr::read_volatile((gptr as *const u64).add(i)) }
}

/// The function a live goroutine runs (Go's `g.startpc`), or `None` when its `g` is
/// unknown or does not look as expected. `ctx` is its racectx, `gopc` its `go`
/// statement's pc.
pub fn start_pc(gptr: usize, ctx: usize, gopc: u64) -> Option<u64> {
    if gptr == 0 || ctx == 0 || gopc == 0 || !gptr.is_multiple_of(8) {
        return None;
    }
    let checks = |i: usize| {
        // SAFETY: gptr is a live goroutine's g (recorded at its function entries from
        // Go's g register); i < SEARCH_WORDS.
        i >= 3 && unsafe { word(gptr, i) == ctx as u64 && word(gptr, i - 3) == gopc }
    };
    let mut i = RACECTX_WORD.load(Ordering::Relaxed);
    if i == 0 || !checks(i) {
        i = (3..SEARCH_WORDS).find(|&i| checks(i))?;
        RACECTX_WORD.store(i, Ordering::Relaxed);
    }
    // SAFETY: as above; startpc is the word before racectx.
    Some(unsafe { word(gptr, i - 1) })
}

/// Words of `g` the parked-stack reader uses (see the module comment).
const STACK_LO: usize = 0;
const STACK_HI: usize = 1;
const SCHED_PC: usize = 8;
const SCHED_G: usize = 9;
/// `g.sched.bp` without and with `gobuf.ret` (Go 1.25+, Go 1.21 to 1.24).
const SCHED_BP: [usize; 2] = [12, 13];
/// `atomicstatus` comes this many words after `sched.bp`.
const STATUS_AFTER_BP: usize = 6;
const G_WAITING: u32 = 4;
/// Go 1.27: a waiting goroutine its GC found unreachable (the goroutineleak profile).
const G_LEAKED: u32 = 10;
const G_SCAN: u32 = 0x1000;

/// Frames read at most from a parked stack.
pub const MAX_PARKED_FRAMES: usize = 64;

/// The return addresses of a parked goroutine's stack, innermost first (the first is in
/// `runtime.gopark`), into `out`; how many. 0 when the goroutine is not parked
/// (`_Gwaiting`, or `_Gleaked` once Go's leak profile found it) or its `g` does not
/// look as expected.
pub fn parked_stack(gptr: usize, out: &mut [u64; MAX_PARKED_FRAMES]) -> usize {
    if gptr == 0 || !gptr.is_multiple_of(8) {
        return 0;
    }
    // SAFETY (all reads of g below): gptr is a live goroutine's g (recorded at its
    // function entries from Go's g register); every index is < SEARCH_WORDS.
    let w = |i: usize| unsafe { word(gptr, i) };
    let (lo, hi) = (w(STACK_LO), w(STACK_HI));
    if w(SCHED_G) != gptr as u64 || lo == 0 || hi <= lo {
        return 0;
    }
    let in_stack = |bp: u64| bp >= lo && bp + 16 <= hi && bp.is_multiple_of(8);
    let Some(bp_word) = SCHED_BP.into_iter().find(|&i| in_stack(w(i))) else {
        return 0;
    };
    let status = w(bp_word + STATUS_AFTER_BP) as u32 & !G_SCAN;
    if status != G_WAITING && status != G_LEAKED {
        return 0;
    }
    let mut bp = w(bp_word);
    let mut n = 0;
    let mut pc = w(SCHED_PC);
    while n < out.len() && pc != 0 {
        out[n] = pc;
        n += 1;
        if !in_stack(bp) {
            break;
        }
        // SAFETY: bp points into the goroutine's stack (checked just above), whose
        // memory Go never unmaps; a parked goroutine's frames do not change, and a
        // stack being moved at this instant yields words that fail the checks.
        let (next, ret) = unsafe {
            let p = bp as *const u64;
            (
                core::ptr::read_volatile(p),
                core::ptr::read_volatile(p.add(1)),
            )
        };
        pc = ret;
        if next <= bp {
            // The outermost frame (runtime.goexit) saves no frame pointer.
            if pc != 0 && n < out.len() {
                out[n] = pc;
                n += 1;
            }
            break;
        }
        bp = next;
    }
    n
}

/// `g.m`, the word after `g._defer` (Go 1.21 to 1.27).
const G_M: usize = 6;

/// Whether `gptr` is its M's `g0` (`m.g0` is `m`'s first field).
///
/// # Safety
/// `gptr` is the `g` running the current race call, so it and its `m` are live.
pub unsafe fn is_g0(gptr: usize) -> bool {
    if gptr == 0 {
        return false;
    }
    // SAFETY: forwarded contract: g.m of the running g, and that m's first word.
    unsafe {
        let m = word(gptr, G_M) as usize;
        m != 0 && word(m, 0) == gptr as u64
    }
}
