//! Raw Linux/amd64 system calls: the runtime object links against nothing, not even
//! libc (see docs/design.md, "Linking").

use core::arch::asm;

pub const PROT_READ: usize = 1;
pub const PROT_WRITE: usize = 2;
pub const MAP_PRIVATE: usize = 0x02;
pub const MAP_FIXED: usize = 0x10;
pub const MAP_ANONYMOUS: usize = 0x20;
pub const MAP_NORESERVE: usize = 0x4000;
pub const MAP_FIXED_NOREPLACE: usize = 0x100000;
pub const MADV_DONTNEED: usize = 4;
pub const MADV_NOHUGEPAGE: usize = 15;
/// Fault a range in for writing without touching it (Linux 5.14 and later).
pub const MADV_POPULATE_WRITE: usize = 23;
pub const MREMAP_MAYMOVE: usize = 1;
pub const O_RDONLY: usize = 0;
pub const O_WRONLY: usize = 1;
pub const O_CREAT: usize = 0o100;
pub const O_TRUNC: usize = 0o1000;
pub const O_CLOEXEC: usize = 0o2000000;
pub const AT_FDCWD: isize = -100;
pub const EINTR: isize = 4;
pub const EEXIST: isize = 17;
pub const EINVAL: isize = 22;

const SYS_READ: usize = 0;
const SYS_WRITE: usize = 1;
const SYS_PREAD64: usize = 17;
const SYS_CLOSE: usize = 3;
const SYS_MMAP: usize = 9;
const SYS_MUNMAP: usize = 11;
const SYS_MREMAP: usize = 25;
const SYS_SCHED_YIELD: usize = 24;
const SYS_MADVISE: usize = 28;
const SYS_MINCORE: usize = 27;
const SYS_NANOSLEEP: usize = 35;
const SYS_GETPID: usize = 39;
const SYS_CLOCK_GETTIME: usize = 228;
const CLOCK_MONOTONIC: usize = 1;
const SYS_EXIT_GROUP: usize = 231;
const SYS_RT_SIGPROCMASK: usize = 14;
const SIG_SETMASK: usize = 2;
const SYS_OPENAT: usize = 257;

/// # Safety
/// The caller upholds the contract of the system call `n` for these arguments.
#[inline(always)]
unsafe fn syscall6(n: usize, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: the Linux x86-64 syscall convention; rcx and r11 are clobbered by the
    // kernel; memory effects are the caller's contract.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n as isize => ret,
            in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
            in("r10") a[3], in("r8") a[4], in("r9") a[5],
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// `write(2)`, retried until everything is written or an error other than EINTR.
pub fn write_all(fd: i32, mut buf: &[u8]) {
    while !buf.is_empty() {
        // SAFETY: buf is a valid readable slice for its length.
        let n = unsafe {
            syscall6(
                SYS_WRITE,
                [fd as usize, buf.as_ptr() as usize, buf.len(), 0, 0, 0],
            )
        };
        if n == -EINTR {
            continue;
        }
        if n <= 0 {
            return;
        }
        buf = &buf[n as usize..];
    }
}

/// `read(2)`; returns bytes read or a negative errno.
pub fn read(fd: i32, buf: &mut [u8]) -> isize {
    // SAFETY: buf is a valid writable slice for its length.
    unsafe {
        syscall6(
            SYS_READ,
            [fd as usize, buf.as_mut_ptr() as usize, buf.len(), 0, 0, 0],
        )
    }
}

/// `pread64(2)`: up to `buf.len()` bytes at file offset `off`; bytes read or a
/// negative errno.
pub fn pread(fd: i32, buf: &mut [u8], off: u64) -> isize {
    // SAFETY: buf is a valid writable slice for its length.
    unsafe {
        syscall6(
            SYS_PREAD64,
            [
                fd as usize,
                buf.as_mut_ptr() as usize,
                buf.len(),
                off as usize,
                0,
                0,
            ],
        )
    }
}

/// `openat(AT_FDCWD, path, flags, mode)`; `path` must end with a NUL byte.
pub fn open(path: &[u8], flags: usize, mode: usize) -> isize {
    if path.last() != Some(&0) {
        return -22;
    }
    // SAFETY: path is NUL-terminated and lives across the call.
    unsafe {
        syscall6(
            SYS_OPENAT,
            [AT_FDCWD as usize, path.as_ptr() as usize, flags, mode, 0, 0],
        )
    }
}

pub fn close(fd: i32) {
    // SAFETY: closing a descriptor we own.
    unsafe { syscall6(SYS_CLOSE, [fd as usize, 0, 0, 0, 0, 0]) };
}

/// `mmap(2)`; returns the address or a negative errno.
///
/// # Safety
/// With `MAP_FIXED` the range must not hold anything in use.
pub unsafe fn mmap(addr: usize, len: usize, prot: usize, flags: usize) -> isize {
    // SAFETY: forwarded contract.
    unsafe { syscall6(SYS_MMAP, [addr, len, prot, flags, usize::MAX, 0]) }
}

/// # Safety
/// The range must not be in use.
pub unsafe fn munmap(addr: usize, len: usize) -> isize {
    // SAFETY: forwarded contract.
    unsafe { syscall6(SYS_MUNMAP, [addr, len, 0, 0, 0, 0]) }
}

/// # Safety
/// `[addr, addr+old)` must be a mapping owned by the caller.
pub unsafe fn mremap(addr: usize, old: usize, new: usize, flags: usize) -> isize {
    // SAFETY: forwarded contract.
    unsafe { syscall6(SYS_MREMAP, [addr, old, new, flags, 0, 0]) }
}

/// # Safety
/// With `MADV_DONTNEED` the range's contents are discarded (read back as zeros).
pub unsafe fn madvise(addr: usize, len: usize, advice: usize) -> isize {
    // SAFETY: forwarded contract.
    unsafe { syscall6(SYS_MADVISE, [addr, len, advice, 0, 0, 0]) }
}

/// `mincore(2)`: a byte per page of `[addr, addr+len)` (page-aligned), bit 0 set if
/// the page is resident. Returns 0 or a negative errno (`-ENOMEM`: part of the range
/// is not mapped).
///
/// # Safety
/// `vec` must have a byte for every page of the range.
pub unsafe fn mincore(addr: usize, len: usize, vec: &mut [u8]) -> isize {
    debug_assert!(vec.len() >= len.div_ceil(4096));
    // SAFETY: forwarded contract: the kernel writes only the vector's bytes.
    unsafe { syscall6(SYS_MINCORE, [addr, len, vec.as_mut_ptr() as usize, 0, 0, 0]) }
}

pub fn getpid() -> u32 {
    // SAFETY: no arguments, no memory effects.
    unsafe { syscall6(SYS_GETPID, [0; 6]) as u32 }
}

pub fn sched_yield() {
    // SAFETY: no arguments, no memory effects.
    unsafe { syscall6(SYS_SCHED_YIELD, [0; 6]) };
}

pub fn sleep_ms(ms: u32) {
    let mut ts = [(ms / 1000) as i64, ((ms % 1000) as i64) * 1_000_000];
    loop {
        let p = ts.as_mut_ptr() as usize;
        // SAFETY: ts is a valid timespec used for both request and remainder.
        let r = unsafe { syscall6(SYS_NANOSLEEP, [p, p, 0, 0, 0, 0]) };
        if r != -EINTR {
            return;
        }
    }
}

/// Nanoseconds of `CLOCK_MONOTONIC`.
pub fn monotonic_ns() -> u64 {
    let mut ts = [0i64; 2];
    // SAFETY: ts is a valid, writable timespec.
    unsafe {
        syscall6(
            SYS_CLOCK_GETTIME,
            [CLOCK_MONOTONIC, ts.as_mut_ptr() as usize, 0, 0, 0, 0],
        )
    };
    (ts[0] as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts[1] as u64)
}

pub fn exit_group(code: i32) -> ! {
    // SAFETY: ends the process; never returns.
    unsafe {
        asm!("syscall", in("rax") SYS_EXIT_GROUP, in("rdi") code as isize, options(noreturn, nostack));
    }
}

/// Blocks every signal in the calling thread; returns the previous mask.
pub fn block_all_signals() -> u64 {
    let all: u64 = !0;
    let mut old: u64 = 0;
    // SAFETY: rt_sigprocmask with an 8-byte kernel sigset.
    unsafe {
        syscall6(
            SYS_RT_SIGPROCMASK,
            [
                SIG_SETMASK,
                &all as *const u64 as usize,
                &mut old as *mut u64 as usize,
                8,
                0,
                0,
            ],
        )
    };
    old
}

/// Sets the calling thread's signal mask.
pub fn set_signal_mask(mask: u64) {
    // SAFETY: rt_sigprocmask with an 8-byte kernel sigset.
    unsafe {
        syscall6(
            SYS_RT_SIGPROCMASK,
            [SIG_SETMASK, &mask as *const u64 as usize, 0, 8, 0, 0],
        )
    };
}
