//! What a goroutine runs and what it waits for, read from Go's `g` (for leak reports
//! and the hang watchdog).
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
//! ... waitreason                      // low byte, 4 words after atomicstatus; its
//!                                     // values depend on the release (wait_reason)
//! ```
//!
//! `sched.pc` is the return address into `gopark`, `sched.bp` its frame pointer; each
//! frame's saved frame pointer and return address follow. The walk stops at any word
//! that is not a frame pointer into the goroutine's own stack.

use core::sync::atomic::{AtomicUsize, Ordering};

use gorace_engine::watchdog::{GoState, WaitReason};

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

/// `g.stack` and where `sched.bp` is, for a `g` whose layout checks out: `sched.g` is
/// the `g` itself and `sched.bp` (at one of its two places) points into the stack.
/// The bp word is `None` for a running goroutine's stale `sched`.
struct Header {
    lo: u64,
    hi: u64,
    bp_word: Option<usize>,
}

impl Header {
    fn read(gptr: usize) -> Option<Header> {
        if gptr == 0 || !gptr.is_multiple_of(8) {
            return None;
        }
        // SAFETY (all reads of g below): gptr is a live goroutine's g (recorded at its
        // function entries from Go's g register); every index is < SEARCH_WORDS.
        let w = |i: usize| unsafe { word(gptr, i) };
        let (lo, hi) = (w(STACK_LO), w(STACK_HI));
        if w(SCHED_G) != gptr as u64 || lo == 0 || hi <= lo {
            return None;
        }
        let h = Header {
            lo,
            hi,
            bp_word: None,
        };
        let bp_word = SCHED_BP.into_iter().find(|&i| h.in_stack(w(i)));
        Some(Header { bp_word, ..h })
    }

    fn in_stack(&self, bp: u64) -> bool {
        bp >= self.lo && bp + 16 <= self.hi && bp.is_multiple_of(8)
    }
}

/// `g.atomicstatus` (`_Gscan` cleared) of a `g` whose layout checked out.
fn status(gptr: usize, bp_word: usize) -> u32 {
    // SAFETY: gptr's layout was checked by Header::read; the index is < SEARCH_WORDS.
    unsafe { word(gptr, bp_word + STATUS_AFTER_BP) as u32 & !G_SCAN }
}

/// The return addresses of a parked goroutine's stack, innermost first (the first is in
/// `runtime.gopark`), into `out`; how many. 0 when the goroutine is not parked
/// (`_Gwaiting`, or `_Gleaked` once Go's leak profile found it) or its `g` does not
/// look as expected.
pub fn parked_stack(gptr: usize, out: &mut [u64; MAX_PARKED_FRAMES]) -> usize {
    let Some(h) = Header::read(gptr) else {
        return 0;
    };
    let Some(bp_word) = h.bp_word else {
        return 0;
    };
    let status = status(gptr, bp_word);
    if status != G_WAITING && status != G_LEAKED {
        return 0;
    }
    // SAFETY: as in Header::read.
    let w = |i: usize| unsafe { word(gptr, i) };
    let mut bp = w(bp_word);
    let mut n = 0;
    let mut pc = w(SCHED_PC);
    while n < out.len() && pc != 0 {
        out[n] = pc;
        n += 1;
        if !h.in_stack(bp) {
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

/// `_Gsyscall`.
const G_SYSCALL: u32 = 3;
/// `g.waitreason` is the low byte of this word after the status word (`stackLock`
/// shares the status word; then `goid`, `schedlink`, `waitsince`), Go 1.23 to 1.27.
const WAITREASON_AFTER_STATUS: usize = 4;

/// What the goroutine at `gptr` is doing now, with its wait reason when parked and
/// the Go release is known (see [`wait_reason`]). Reads memory only.
pub fn state(gptr: usize) -> GoState {
    let Some(h) = Header::read(gptr) else {
        return GoState::Unknown;
    };
    // A goroutine that is not parked may have a stale `sched.bp`: then the release
    // says where it is (gobuf lost `ret` in 1.25).
    let release_bp = || crate::buildinfo::go_minor().map(|m| SCHED_BP[(m < 25) as usize]);
    let Some(bp_word) = h.bp_word.or_else(release_bp) else {
        return GoState::Unknown;
    };
    match status(gptr, bp_word) {
        G_WAITING | G_LEAKED if h.bp_word.is_some() => {
            // SAFETY: as in Header::read.
            let code = unsafe { word(gptr, bp_word + STATUS_AFTER_BP + WAITREASON_AFTER_STATUS) };
            GoState::Waiting(crate::buildinfo::go_minor().and_then(|m| wait_reason(m, code as u8)))
        }
        G_SYSCALL => GoState::Syscall,
        _ => GoState::Active,
    }
}

/// Go's `waitReason` values that the watchdog tells apart, by release: the enum was
/// renumbered in 1.24 (`sync.WaitGroup.Wait` added), 1.25 (`GOMAXPROCS` update) and
/// 1.26 (the waits that only another goroutine can end grouped together, for the
/// leak profile). `None` for a release not listed or a value not named here (the
/// runtime's own waits).
pub fn wait_reason(minor: u32, code: u8) -> Option<WaitReason> {
    const fn w(what: &'static str, blocking: bool) -> Option<WaitReason> {
        Some(WaitReason { what, blocking })
    }
    let io = w("IO wait", false);
    let sleep = w("sleep", false);
    let recv_nil = w("chan receive (nil chan)", true);
    let send_nil = w("chan send (nil chan)", true);
    let select = w("select", true);
    let no_cases = w("select (no cases)", true);
    let recv = w("chan receive", true);
    let send = w("chan send", true);
    let sema = w("semacquire", true);
    let cond = w("sync.Cond.Wait", true);
    let mutex = w("sync.Mutex.Lock", true);
    let rlock = w("sync.RWMutex.RLock", true);
    let wlock = w("sync.RWMutex.Lock", true);
    let wg = w("sync.WaitGroup.Wait", true);
    match (minor, code) {
        (23..=27, 2) => io,
        // 1.23 to 1.25: the waits in declaration order.
        (23..=25, 3) => recv_nil,
        (23..=25, 4) => send_nil,
        (23..=25, 9) => select,
        (23..=25, 10) => no_cases,
        (23..=25, 14) => recv,
        (23..=25, 15) => send,
        (23..=24, 18) => sema,
        (23..=24, 19) => sleep,
        (23..=24, 20) => cond,
        (23..=24, 21) => mutex,
        (23..=24, 22) => rlock,
        (23..=24, 23) => wlock,
        (24, 24) => wg,
        (25, 19) => sema,
        (25, 20) => sleep,
        (25, 21) => cond,
        (25, 22) => mutex,
        (25, 23) => rlock,
        (25, 24) => wlock,
        (25, 25) => wg,
        // 1.26 and 1.27.
        (26..=27, 13) => sema,
        (26..=27, 14) => sleep,
        (26..=27, 15) => recv_nil,
        (26..=27, 16) => send_nil,
        (26..=27, 17) => no_cases,
        (26..=27, 18) => select,
        (26..=27, 19) => recv,
        (26..=27, 20) => send,
        (26..=27, 21) => cond,
        (26..=27, 22) => mutex,
        (26..=27, 23) => rlock,
        (26..=27, 24) => wlock,
        (26..=27, 25) => wg,
        _ => None,
    }
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
