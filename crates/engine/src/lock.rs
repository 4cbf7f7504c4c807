//! The engine's lock: a spin lock that gives the CPU away when it cannot get in.
//!
//! The runtime runs on threads it does not own, inside Go's scheduler, so it cannot
//! block in the kernel on a futex it manages itself; ThreadSanitizer uses spin locks for
//! the same reason. A pure spin lock is a disaster when the holder's thread is
//! descheduled (more Go threads than cores), so after a short spin the waiter yields
//! through a hook the host installs (`sched_yield` in the runtime object,
//! `std::thread::yield_now` in tests).

use core::sync::atomic::{AtomicUsize, Ordering};

/// A spin lock protecting `T`, yielding while contended.
pub type Mutex<T> = spin::mutex::SpinMutex<T, Backoff>;

/// Address of a `fn()` that yields the CPU; 0 means "just spin".
static YIELD: AtomicUsize = AtomicUsize::new(0);

/// Installs the function waiters call after spinning a while.
pub fn set_yield_hook(f: fn()) {
    YIELD.store(f as usize, Ordering::Relaxed);
}

/// Relax strategy: spin briefly, then yield.
pub struct Backoff;

impl spin::RelaxStrategy for Backoff {
    #[inline]
    fn relax() {
        for _ in 0..64 {
            core::hint::spin_loop();
        }
        let f = YIELD.load(Ordering::Relaxed);
        if f != 0 {
            // SAFETY: YIELD only ever holds a `fn()` stored by `set_yield_hook`.
            let f: fn() = unsafe { core::mem::transmute::<usize, fn()>(f) };
            f();
        }
    }
}
