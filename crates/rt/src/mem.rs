//! `memcpy`, `memmove`, `memset`, `memcmp`, `bcmp`: the compiler emits calls to these.
//!
//! The object must be freestanding, so they are defined here; the build localizes them
//! (`objcopy --keep-global-symbol=__tsan_*`) so they never clash with libc's in the
//! final Go binary. `rep movsb`/`rep stosb` are fast on every x86-64 with ERMSB and
//! cannot be turned back into calls by the optimiser.

use core::arch::asm;

/// # Safety
/// Standard C contract: `[dst, dst+n)` and `[src, src+n)` valid and not overlapping.
#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller guarantees both ranges are valid for n bytes.
    unsafe {
        asm!("rep movsb", inout("rcx") n => _, inout("rdi") dst => _, inout("rsi") src => _,
             options(nostack, preserves_flags));
    }
    dst
}

/// # Safety
/// Standard C contract: both ranges valid for `n` bytes; they may overlap.
#[no_mangle]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize).wrapping_sub(src as usize) >= n {
        // No harmful overlap: a forward copy is correct.
        // SAFETY: forwarded contract.
        return unsafe { memcpy(dst, src, n) };
    }
    // dst is inside [src, src+n): copy backwards.
    // SAFETY: both ranges valid for n bytes; with the direction flag set, rep movsb walks
    // down from the last byte; the flag is cleared again as the ABI requires.
    unsafe {
        asm!("std", "rep movsb", "cld",
             inout("rcx") n => _,
             inout("rdi") dst.add(n).wrapping_sub(1) => _,
             inout("rsi") src.add(n).wrapping_sub(1) => _,
             options(nostack));
    }
    dst
}

/// # Safety
/// Standard C contract: `[dst, dst+n)` valid.
#[no_mangle]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller guarantees the range is valid for n bytes.
    unsafe {
        asm!("rep stosb", inout("rcx") n => _, inout("rdi") dst => _, in("al") c as u8,
             options(nostack, preserves_flags));
    }
    dst
}

/// # Safety
/// Standard C contract: both ranges valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: i < n and both ranges are valid for n bytes; volatile keeps the loop
        // from being recognised and turned into a call to memcmp itself.
        let (x, y) = unsafe { (a.add(i).read_volatile(), b.add(i).read_volatile()) };
        if x != y {
            return x as i32 - y as i32;
        }
    }
    0
}

/// # Safety
/// Standard C contract: both ranges valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: forwarded contract.
    unsafe { memcmp(a, b, n) }
}

/// # Safety
/// Standard C contract: `s` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let mut n = 0;
    // SAFETY: the caller guarantees a terminating NUL within the allocation.
    while unsafe { s.add(n).read_volatile() } != 0 {
        n += 1;
    }
    n
}

/// Referenced by the precompiled `core`/`alloc` cleanup paths; never called because
/// the runtime is built with `panic = "abort"`.
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}

/// Referenced like [`rust_eh_personality`]; unreachable with `panic = "abort"`.
#[no_mangle]
pub extern "C" fn _Unwind_Resume() -> ! {
    crate::sys::exit_group(2)
}
