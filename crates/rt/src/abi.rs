//! The `__tsan_*` entry points Go's `-race` build calls, as thin shims over the engine.
//!
//! Go reaches them through `racecall<>` in `runtime/race_amd64.s`: on the g0 stack (or
//! the 32 KiB gsignal stack), SysV calling convention, arguments in DI, SI, DX, CX, with
//! the goroutine holding its P. Callers in Go are named on each function. `thr` is the
//! goroutine's `g.racectx`, which is whatever [`__tsan_go_start`] returned: a pointer to
//! an engine [`Goroutine`], used by one thread at a time.

use alloc::boxed::Box;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};

use gorace_engine::cell::Kind;
use gorace_engine::goroutine::Goroutine;
use gorace_engine::options::Options;
use gorace_engine::{AtomicOp, Detector};

use crate::platform::GoPlatform;
use crate::{env, layout, output, symbolize, sys};

static mut DETECTOR: Option<Detector<GoPlatform>> = None;

/// The detector. Only valid after `__tsan_init`, which Go calls before anything else.
#[inline(always)]
pub(crate) fn det() -> &'static Detector<GoPlatform> {
    // SAFETY: written once by __tsan_init before Go makes any other call and never
    // again; every later access is a shared read.
    unsafe {
        match &*core::ptr::addr_of!(DETECTOR) {
            Some(d) => d,
            None => core::hint::unreachable_unchecked(),
        }
    }
}

/// The goroutine behind a racectx, if any (g0 has none).
///
/// # Safety
/// `thr` is null or a pointer returned by `__tsan_init`/`__tsan_go_start` that has not
/// been passed to `__tsan_go_end`, used by the calling thread only.
#[inline(always)]
unsafe fn goroutine<'a>(thr: *mut Goroutine) -> Option<&'a mut Goroutine> {
    // SAFETY: forwarded contract.
    unsafe { thr.as_mut() }
}

/// The benchmark floor (feature `floor`): no detection at all, see Cargo.toml.
const FLOOR: bool = cfg!(feature = "floor");

/// P contexts: Go stores one per P and hands it back through the callback; gorace keeps
/// no per-P state, so every P gets this same non-null token.
static PROC_TOKEN: u64 = 0;

/// `runtime.raceinit`: first call, before the Go heap exists.
///
/// # Safety
/// `thr` and `proc_` are writable pointers; `callback` is `runtime.racecallbackthunk`.
#[no_mangle]
pub unsafe extern "C" fn __tsan_init(
    thr: *mut *mut Goroutine,
    proc_: *mut *const u64,
    callback: usize,
) {
    if FLOOR {
        // SAFETY: Go passes pointers to its result variables.
        unsafe {
            *thr = core::ptr::null_mut();
            *proc_ = &PROC_TOKEN;
        }
        return;
    }
    symbolize::CALLBACK.store(callback, SeqCst);
    gorace_engine::lock::set_yield_hook(sys::sched_yield);
    let (options, warnings) = Options::parse(&env::var("GORACE").unwrap_or_default());
    for w in &warnings {
        output::warn(w);
        output::warn("\n");
    }
    output::open(&options.log_path);
    let detector = Detector::new(GoPlatform, options);
    symbolize::init_goroot_map();
    // SAFETY: the first and only write, before any other entry point can run.
    unsafe { *core::ptr::addr_of_mut!(DETECTOR) = Some(detector) };
    if det().options.deadlock_watchdog_s > 0 && !crate::watchdog::start() {
        output::warn("gorace: could not start the deadlock watchdog thread; running without it\n");
    }
    let main = det().init_goroutine();
    // SAFETY: Go passes pointers to its result variables.
    unsafe {
        *thr = Box::into_raw(main);
        *proc_ = &PROC_TOKEN;
    }
}

/// `runtime.racefini`: the program is exiting with status 0 (`main` returned or
/// `os.Exit(0)`). Never returns.
#[no_mangle]
pub extern "C" fn __tsan_fini() -> ! {
    if FLOOR {
        sys::exit_group(0);
    }
    sys::exit_group(det().fini())
}

/// `runtime.raceinit` (data and bss) and `runtime.racemapshadow` (each new heap arena).
#[no_mangle]
pub extern "C" fn __tsan_map_shadow(addr: usize, size: usize) {
    if !FLOOR && !layout::map_shadow(addr, size) {
        output::warn("gorace: cannot shadow memory outside [0, 0xe000000000); it is not checked\n");
    }
}

/// `runtime.raceproccreate`, once per P.
///
/// # Safety
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn __tsan_proc_create(out: *mut *const u64) {
    // SAFETY: Go passes a pointer to its result variable.
    unsafe { *out = &PROC_TOKEN };
}

/// `runtime.raceprocdestroy`.
#[no_mangle]
pub extern "C" fn __tsan_proc_destroy(_proc: *const u64) {}

/// `runtime.racegostart`/`racectxstart`: a `go` statement at `pc` in `parent` (null
/// when the runtime starts a goroutine from g0).
///
/// # Safety
/// `parent` is null or a live racectx; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn __tsan_go_start(
    parent: *mut Goroutine,
    out: *mut *mut Goroutine,
    pc: usize,
) {
    if FLOOR {
        // SAFETY: Go passes a pointer to its result variable.
        unsafe { *out = core::ptr::null_mut() };
        return;
    }
    // SAFETY: forwarded contract.
    let child = det().go_start(unsafe { goroutine(parent) }, pc as u64);
    // SAFETY: Go passes a pointer to its result variable.
    unsafe { *out = Box::into_raw(child) };
}

/// `runtime.racegoend`/`racectxend`: the goroutine is gone; `thr` is not used again.
///
/// # Safety
/// `thr` is a live racectx, never used after this call.
#[no_mangle]
pub unsafe extern "C" fn __tsan_go_end(thr: *mut Goroutine) {
    if !thr.is_null() {
        // SAFETY: thr came from Box::into_raw in __tsan_init/__tsan_go_start.
        det().go_end(unsafe { Box::from_raw(thr) });
    }
}

/// `runtime.racemalloc`: a new heap object or goroutine stack at `p`.
#[no_mangle]
pub extern "C" fn __tsan_malloc(_thr: usize, _pc: usize, p: usize, size: usize) {
    if !FLOOR {
        det().malloc(p, size);
    }
}

/// `runtime.racefree`: the sweeper freed the object at `p`.
#[no_mangle]
pub extern "C" fn __tsan_free(p: usize, size: usize) {
    if !FLOOR {
        det().free(p, size);
    }
}

macro_rules! sync_op {
    ($(#[$doc:meta] $name:ident => $method:ident;)*) => {$(
        #[$doc]
        ///
        /// # Safety
        /// `thr` is null or a live racectx used by this thread only.
        #[no_mangle]
        pub unsafe extern "C" fn $name(thr: *mut Goroutine, addr: usize) {
            // SAFETY: forwarded contract.
            if let Some(g) = unsafe { goroutine(thr) } {
                det().$method(g, addr);
            }
        }
    )*};
}

sync_op! {
    /// `runtime.raceacquire*`: channels, mutexes, WaitGroup, Once, `internal/race.Acquire`.
    __tsan_acquire => acquire;
    /// `runtime.racerelease*`.
    __tsan_release => release;
    /// `runtime.racereleasemerge*`: RWMutex readers, WaitGroup.Done.
    __tsan_release_merge => release_merge;
    /// `runtime.racereleaseacquire*`: buffered channel slots.
    __tsan_release_acquire => release_acquire;
}

/// `runtime.racefingo`: a finalizer or cleanup is about to run.
///
/// # Safety
/// `thr` is null or a live racectx used by this thread only.
#[no_mangle]
pub unsafe extern "C" fn __tsan_finalizer_goroutine(thr: *mut Goroutine) {
    // SAFETY: forwarded contract.
    if let Some(g) = unsafe { goroutine(thr) } {
        det().acquire_global(g);
    }
}

/// `runtime.RaceDisable` and the non-Go-memory path of atomics.
///
/// # Safety
/// `thr` is null or a live racectx used by this thread only.
#[no_mangle]
pub unsafe extern "C" fn __tsan_go_ignore_sync_begin(thr: *mut Goroutine) {
    // SAFETY: forwarded contract.
    if let Some(g) = unsafe { goroutine(thr) } {
        g.ignore_sync += 1;
    }
}

/// `runtime.RaceEnable`.
///
/// # Safety
/// `thr` is null or a live racectx used by this thread only.
#[no_mangle]
pub unsafe extern "C" fn __tsan_go_ignore_sync_end(thr: *mut Goroutine) {
    // SAFETY: forwarded contract.
    if let Some(g) = unsafe { goroutine(thr) } {
        g.ignore_sync = g.ignore_sync.saturating_sub(1);
    }
}

/// `runtime.RaceErrors` (used by `testing` to fail a racy test).
///
/// # Safety
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn __tsan_report_count(out: *mut u64) {
    let n = if FLOOR { 0 } else { det().report_count() };
    // SAFETY: Go passes a pointer to a local.
    unsafe { *out = n };
}

/// Scalar accesses (`runtime.raceread`/`racewrite`, instrumented code): the compiler
/// reports the first byte of every scalar access.
macro_rules! access {
    ($(#[$doc:meta] $name:ident, $name_pc:ident => $kind:expr;)*) => {$(
        #[$doc]
        ///
        /// # Safety
        /// `thr` is null or a live racectx; `addr` is application memory.
        #[no_mangle]
        pub unsafe extern "C" fn $name(thr: *mut Goroutine, addr: usize, pc: usize) {
            // SAFETY: forwarded contract.
            if let Some(g) = unsafe { goroutine(thr) } {
                det().access(g, addr, 1, $kind, pc as u64);
            }
        }

        /// The same from runtime code, with the caller's pc pushed for the duration.
        ///
        /// # Safety
        /// `thr` is null or a live racectx; `addr` is application memory.
        #[no_mangle]
        pub unsafe extern "C" fn $name_pc(thr: *mut Goroutine, addr: usize, callpc: usize, pc: usize) {
            // SAFETY: forwarded contract.
            if let Some(g) = unsafe { goroutine(thr) } {
                det().runtime_access(g, addr, $kind, callpc as u64, pc as u64);
            }
        }
    )*};
}

access! {
    /// `runtime.raceread`.
    __tsan_read, __tsan_read_pc => Kind::Read;
    /// `runtime.racewrite`.
    __tsan_write, __tsan_write_pc => Kind::Write;
}

/// `runtime.racereadrange`: composite values, copies, channel buffers, maps.
///
/// # Safety
/// `thr` is null or a live racectx; the range is application memory.
#[no_mangle]
pub unsafe extern "C" fn __tsan_read_range(
    thr: *mut Goroutine,
    addr: usize,
    size: usize,
    pc: usize,
) {
    // SAFETY: forwarded contract.
    if let Some(g) = unsafe { goroutine(thr) } {
        det().access_range(g, addr, size, Kind::Read, pc as u64);
    }
}

/// `runtime.racewriterange`.
///
/// # Safety
/// `thr` is null or a live racectx; the range is application memory.
#[no_mangle]
pub unsafe extern "C" fn __tsan_write_range(
    thr: *mut Goroutine,
    addr: usize,
    size: usize,
    pc: usize,
) {
    // SAFETY: forwarded contract.
    if let Some(g) = unsafe { goroutine(thr) } {
        det().access_range(g, addr, size, Kind::Write, pc as u64);
    }
}

// `runtime.racefuncenter` / `racefuncexit`: instrumented function entry and exit.
//
// These two are the only entry points that need more than their arguments: the
// goroutine's stack depth, to drop frames a recovered panic skipped (see
// `ShadowStack::exit`), and (entry) its stack bounds, whose accesses never race (see
// `Goroutine::own_stack`). `racecall<>` leaves the goroutine's SP in R12 and the g
// pointer in R14 (both callee-saved); `g.stack` = `{lo, hi}` is g's first field in
// every Go release. The trampolines pass them to the Rust functions; the exit's
// computes its depth limit itself (see `func_exit`).
core::arch::global_asm!(
    ".globl __tsan_func_enter",
    ".type __tsan_func_enter,@function",
    "__tsan_func_enter:",
    "    mov rcx, [r14 + 8]",
    "    mov rdx, rcx",
    "    sub rdx, r12",
    "    mov r8, r14",
    "    jmp {enter}",
    ".size __tsan_func_enter, . - __tsan_func_enter",
    ".globl __tsan_func_exit",
    ".type __tsan_func_exit,@function",
    "__tsan_func_exit:",
    // limit = (g.stack.hi - SP) + EXIT_LIMIT, u64::MAX if that carries.
    "    mov rsi, [r14 + 8]",
    "    sub rsi, r12",
    "    add rsi, {limit}",
    "    sbb rax, rax",
    "    or rsi, rax",
    "    jmp {exit}",
    ".size __tsan_func_exit, . - __tsan_func_exit",
    enter = sym func_enter,
    exit = sym func_exit,
    limit = const EXIT_LIMIT,
);

/// Stack depth from `g.stack.hi - SP` (the trampoline's subtraction, SP at
/// `racecall<>`); 0 if they do not describe one stack.
#[inline(always)]
fn depth(below_hi: usize) -> u32 {
    // An SP above `hi` wraps to a huge difference: one compare covers both cases.
    if below_hi < u32::MAX as usize {
        below_hi as u32
    } else {
        0
    }
}

/// `racecall<>` reaches `racefuncexit` with this many fewer bytes on the stack than
/// `racefuncenter` (the ABI wrapper's and `racefuncenter<>`'s return addresses), so
/// the same function's entry and exit compute the same depth. Measured on Go 1.27:
/// 16 for compiled functions, 8 for a few runtime-called init paths, which the
/// engine's slack absorbs.
const EXIT_DEPTH_ADJUST: u32 = 16;
/// How much deeper than an exit's own depth its function's entry can be.
const EXIT_LIMIT: u64 = (EXIT_DEPTH_ADJUST + gorace_engine::goroutine::EXIT_SLACK) as u64;

/// # Safety
/// `thr` is null or a live racectx; called only through the trampoline above.
unsafe extern "C" fn func_enter(
    thr: *mut Goroutine,
    pc: usize,
    below_hi: usize,
    hi: usize,
    gptr: usize,
) {
    // SAFETY: forwarded contract.
    if let Some(g) = unsafe { goroutine(thr) } {
        // One compare covers the goroutine's first entry (its bounds are empty until
        // then), a stack Go moved to grow or shrink it, and a g0 context changing
        // threads; the common path saves no registers (the others are a tail call).
        if g.own_stack.1 != hi {
            // SAFETY: forwarded contract.
            return unsafe { func_enter_new_stack(g, pc, depth(below_hi), gptr) };
        }
        det().func_enter(g, pc as u64, depth(below_hi));
    }
}

/// A function entry on a stack other than the one seen last: the goroutine's first
/// (where it learns its `g`), or after Go moved its stack.
///
/// # Safety
/// `gptr` is the running g (R14 at the racecall).
#[cold]
#[inline(never)]
unsafe fn func_enter_new_stack(g: &mut Goroutine, pc: usize, depth: u32, gptr: usize) {
    // SAFETY: forwarded contract: `g.stack` = `{lo, hi}` is the g's first field.
    let [lo, hi] = unsafe { *(gptr as *const [usize; 2]) };
    g.own_stack = (lo, hi);
    if g.unseen() {
        // SAFETY: forwarded contract.
        if unsafe { crate::goinfo::is_g0(gptr) } {
            g.runs_on_g0 = true;
        } else if g.set_gptr(gptr) {
            det().first_entry(g);
        }
    }
    det().func_enter(g, pc as u64, depth);
}

/// `limit` is the deepest entry depth the exiting function's can have been (the
/// trampoline adds [`EXIT_LIMIT`] to `g.stack.hi - SP`, the exit's depth): huge (any)
/// if the SP was not on that stack, which wraps the subtraction around.
///
/// # Safety
/// `thr` is null or a live racectx; called only through the trampoline above.
unsafe extern "C" fn func_exit(thr: *mut Goroutine, limit: u64) {
    // SAFETY: forwarded contract.
    if let Some(g) = unsafe { goroutine(thr) } {
        det().func_exit_within(g, limit);
    }
}

/// Runs one `sync/atomic` operation for `racecallatomic<>`: Go does not perform the
/// operation under `-race`, we do. `args` is the Go argument block: address at +0,
/// operands and results after it (layouts on each function).
///
/// # Safety
/// `thr` is null or a live racectx; `args` is the argument block of the atomic call,
/// whose address field points to a valid, aligned value of the operation's size.
unsafe fn atomic<R>(
    thr: *mut Goroutine,
    callerpc: usize,
    pc: usize,
    args: *mut u8,
    size: usize,
    op: AtomicOp,
    mut perform: impl FnMut(usize) -> (R, bool),
) -> R {
    // SAFETY: args starts with the target address.
    let addr = unsafe { *(args as *const usize) };
    // SAFETY: forwarded contract.
    match unsafe { goroutine(thr) } {
        Some(g) => {
            let d = det();
            if d.options.detect_deadlocks || d.options.detect_leaks {
                let mut callers = [0; 4];
                // SAFETY: args is the argument block on the calling goroutine's stack.
                let n = unsafe { atomic_callers(args, callerpc, &mut callers) };
                d.lock_atomic(g, addr, &callers[..n]);
            }
            d.atomic(g, addr, size, op, (callerpc as u64, pc as u64), || {
                perform(addr)
            })
        }
        None => perform(addr).0,
    }
}

/// The return addresses of the Go frames above a `sync/atomic` operation, innermost
/// first, into `out`; how many (0 if the frames cannot be found).
///
/// Go code calls the assembly `sync/atomic.AddInt32` through a compiler-made ABI
/// wrapper, so `callerpc` is in the wrapper. The wrapper is an ordinary Go frame: it
/// pushed the frame pointer right above the argument block it passes (`args`), and the
/// word above that is its return address into the real caller (`sync.(*Mutex).Lock`,
/// say). The frame's size depends on the operation, so the first pair of words that
/// looks like a saved frame pointer (pointing up the same stack) and a code address
/// near `callerpc` is taken; from there the frame-pointer chain gives the callers.
///
/// # Safety
/// `args` is the argument block of an atomic call on a live goroutine stack: the
/// words above it are that goroutine's frames.
unsafe fn atomic_callers(args: *mut u8, callerpc: usize, out: &mut [u64]) -> usize {
    const CODE_NEAR: usize = 1 << 28;
    const STACK_NEAR: usize = 1 << 20;
    // SAFETY: forwarded contract: words in the goroutine's frames.
    let word = |a: usize| unsafe { core::ptr::read_volatile(a as *const usize) };
    let frame = |bp: usize| {
        let (saved, ret) = (word(bp), word(bp + 8));
        (saved > bp
            && saved - bp < STACK_NEAR
            && saved % 8 == 0
            && ret.abs_diff(callerpc) < CODE_NEAR)
            .then_some((saved, ret))
    };
    let base = args as usize;
    let Some(mut bp) = (2..=6)
        .map(|k| base + 8 * k)
        .find(|&bp| frame(bp).is_some())
    else {
        return 0;
    };
    let mut n = 0;
    while n < out.len() {
        let Some((saved, ret)) = frame(bp) else { break };
        out[n] = ret as u64;
        n += 1;
        bp = saved;
    }
    n
}

/// Reads operand `T` at `args + off`.
///
/// # Safety
/// `args + off` is inside the argument block and aligned for `T`.
unsafe fn arg<T: Copy>(args: *mut u8, off: usize) -> T {
    // SAFETY: forwarded contract.
    unsafe { *(args.add(off) as *const T) }
}

/// Writes result `T` at `args + off`.
///
/// # Safety
/// `args + off` is inside the argument block and aligned for `T`.
unsafe fn ret<T>(args: *mut u8, off: usize, v: T) {
    // SAFETY: forwarded contract.
    unsafe { *(args.add(off) as *mut T) = v };
}

macro_rules! atomics {
    ($($bits:literal: $A:ty, $T:ty, $load:ident, $store:ident, $xchg:ident, $add:ident, $and:ident, $or:ident, $cas:ident, $cas_new:literal, $cas_ret:literal;)*) => {$(
        /// `sync/atomic.Load*`: value at +8.
        ///
        /// # Safety
        /// As for `atomic`.
        #[no_mangle]
        pub unsafe extern "C" fn $load(thr: *mut Goroutine, cpc: usize, pc: usize, args: *mut u8) {
            // SAFETY: forwarded contract; the address points to an aligned value.
            let v = unsafe { atomic(thr, cpc, pc, args, $bits / 8, AtomicOp::Load, |a| ((*(a as *const $A)).load(SeqCst), false)) };
            // SAFETY: the result slot is at +8.
            unsafe { ret::<$T>(args, 8, v) };
        }

        /// `sync/atomic.Store*`: value at +8.
        ///
        /// # Safety
        /// As for `atomic`.
        #[no_mangle]
        pub unsafe extern "C" fn $store(thr: *mut Goroutine, cpc: usize, pc: usize, args: *mut u8) {
            // SAFETY: the operand is at +8.
            let v: $T = unsafe { arg(args, 8) };
            // SAFETY: forwarded contract; the address points to an aligned value.
            unsafe { atomic(thr, cpc, pc, args, $bits / 8, AtomicOp::Store, |a| ((*(a as *const $A)).store(v, SeqCst), true)) };
        }

        atomics!(@rmw $bits, $A, $T, $xchg, swap, "`sync/atomic.Swap*`");
        atomics!(@rmw $bits, $A, $T, $add, fetch_add, "`sync/atomic.Add*` (Go adds the operand to the old value itself)");
        atomics!(@rmw $bits, $A, $T, $and, fetch_and, "`sync/atomic.And*`");
        atomics!(@rmw $bits, $A, $T, $or, fetch_or, "`sync/atomic.Or*`");

        /// `sync/atomic.CompareAndSwap*`: old at +8, new at the next slot, bool result
        /// after that.
        ///
        /// # Safety
        /// As for `atomic`.
        #[no_mangle]
        pub unsafe extern "C" fn $cas(thr: *mut Goroutine, cpc: usize, pc: usize, args: *mut u8) {
            // SAFETY: operands at +8 and at the size-dependent offset of `new`.
            let (old, new): ($T, $T) = unsafe { (arg(args, 8), arg(args, $cas_new)) };
            // SAFETY: forwarded contract; the address points to an aligned value.
            let ok = unsafe {
                atomic(thr, cpc, pc, args, $bits / 8, AtomicOp::CompareAndSwap, |a| {
                    let ok = (*(a as *const $A)).compare_exchange(old, new, SeqCst, SeqCst).is_ok();
                    (ok, ok)
                })
            };
            // SAFETY: the bool result slot.
            unsafe { ret::<u8>(args, $cas_ret, ok as u8) };
        }
    )*};
    (@rmw $bits:literal, $A:ty, $T:ty, $name:ident, $method:ident, $doc:literal) => {
        #[doc = $doc]
        /// : operand at +8, old value returned at +16.
        ///
        /// # Safety
        /// As for `atomic`.
        #[no_mangle]
        pub unsafe extern "C" fn $name(thr: *mut Goroutine, cpc: usize, pc: usize, args: *mut u8) {
            // SAFETY: the operand is at +8.
            let v: $T = unsafe { arg(args, 8) };
            // SAFETY: forwarded contract; the address points to an aligned value.
            let old = unsafe { atomic(thr, cpc, pc, args, $bits / 8, AtomicOp::ReadModifyWrite, |a| ((*(a as *const $A)).$method(v, SeqCst), true)) };
            // SAFETY: the result slot is at +16.
            unsafe { ret::<$T>(args, 16, old) };
        }
    };
}

atomics! {
    32: AtomicU32, u32, __tsan_go_atomic32_load, __tsan_go_atomic32_store, __tsan_go_atomic32_exchange,
        __tsan_go_atomic32_fetch_add, __tsan_go_atomic32_fetch_and, __tsan_go_atomic32_fetch_or,
        __tsan_go_atomic32_compare_exchange, 12, 16;
    64: AtomicU64, u64, __tsan_go_atomic64_load, __tsan_go_atomic64_store, __tsan_go_atomic64_exchange,
        __tsan_go_atomic64_fetch_add, __tsan_go_atomic64_fetch_and, __tsan_go_atomic64_fetch_or,
        __tsan_go_atomic64_compare_exchange, 16, 24;
}
