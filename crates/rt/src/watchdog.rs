//! The hang watchdog (`deadlock_watchdog_s`): a thread of the runtime's own.
//!
//! When every goroutine is blocked, nothing calls into the runtime, so noticing a hang
//! needs a thread that Go does not schedule. It is made with a raw `clone` (the thread
//! shares the address space, files and signal handlers, like any thread of the
//! process), runs on a stack of its own with every signal blocked (Go's handlers
//! never run on it: process signals go to Go's threads), and only reads the detector's
//! state, writes and exits. It never calls Go: the report it prints was symbolised in
//! advance by the goroutines themselves (see `Detector::watchdog_check`).

use core::arch::global_asm;

use crate::sys;

/// The watchdog thread's stack.
const STACK_BYTES: usize = 256 * 1024;
/// How often it looks.
const PERIOD_MS: u32 = 250;

/// CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM.
const CLONE_FLAGS: usize = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000;

// `gorace_clone(flags, stack_top, entry)`: clone(2); the child starts on `stack_top`
// and calls `entry`, which never returns. Returns the child's tid, or -errno.
global_asm!(
    ".globl gorace_clone",
    ".type gorace_clone,@function",
    "gorace_clone:",
    "    mov r9, rdx",
    "    mov eax, 56",
    "    xor edx, edx",
    "    xor r10d, r10d",
    "    xor r8d, r8d",
    "    syscall",
    "    test rax, rax",
    "    jnz 1f",
    "    xor ebp, ebp",
    "    and rsp, -16",
    "    call r9",
    "    ud2",
    "1:  ret",
    ".size gorace_clone, . - gorace_clone",
);

extern "C" {
    fn gorace_clone(flags: usize, stack_top: usize, entry: extern "C" fn() -> !) -> isize;
}

/// Starts the watchdog thread. Returns false if it could not be made.
pub fn start() -> bool {
    // SAFETY: a fresh private anonymous mapping for the thread's stack.
    let stack = unsafe {
        sys::mmap(
            0,
            STACK_BYTES,
            sys::PROT_READ | sys::PROT_WRITE,
            sys::MAP_PRIVATE | sys::MAP_ANONYMOUS,
        )
    };
    if stack < 0 {
        return false;
    }
    let all = sys::block_all_signals();
    // SAFETY: the child runs `watch` on its own stack; the mask it inherits blocks
    // every signal.
    let tid = unsafe { gorace_clone(CLONE_FLAGS, stack as usize + STACK_BYTES, watch) };
    sys::set_signal_mask(all);
    tid > 0
}

extern "C" fn watch() -> ! {
    let d = crate::abi::det();
    loop {
        sys::sleep_ms(PERIOD_MS);
        if d.watchdog_check() {
            sys::exit_group(d.options.exitcode);
        }
    }
}
