//! The engine's lock: a spin lock that gives the CPU away when it cannot get in.
//!
//! The runtime runs on threads it does not own, inside Go's scheduler, so it cannot
//! block in the kernel on a futex it manages itself; ThreadSanitizer uses spin locks for
//! the same reason. Critical sections are short (a clock join at most), so a waiter
//! spins on a plain load of the lock word (no locked instruction while it is held) for
//! up to [`SPINS`] rounds before yielding: a pure spin lock is a disaster when the
//! holder's thread is descheduled (more Go threads than cores), but yielding at the
//! first sign of contention costs a system call and a context switch per contended
//! operation (a `sync.Mutex` word that eight goroutines fight over: 43,000 yields in a
//! 1 s run when waiters yielded after 64 pauses). The yield goes through a hook the host
//! installs (`sched_yield` in the runtime object, `std::thread::yield_now` in tests).

use core::sync::atomic::{AtomicUsize, Ordering};

/// Spin rounds (one `pause` each) a waiter spends watching the lock before it yields
/// the CPU: a few microseconds to a few tens, by the CPU's `pause` latency; critical
/// sections take well under one.
pub const SPINS: u32 = 1 << 12;

/// A spin lock protecting `T`, yielding while contended for long.
pub struct Mutex<T> {
    inner: spin::mutex::SpinMutex<T, spin::relax::Spin>,
}

/// Access to the value of a locked [`Mutex`]; unlocks when dropped.
pub type MutexGuard<'a, T> = spin::mutex::SpinMutexGuard<'a, T>;

impl<T> Mutex<T> {
    pub const fn new(value: T) -> Self {
        Mutex {
            inner: spin::mutex::SpinMutex::new(value),
        }
    }

    /// Locks, spinning then yielding while another holds the lock.
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        match self.inner.try_lock() {
            Some(guard) => guard,
            None => self.lock_contended(),
        }
    }

    #[cold]
    #[inline(never)]
    fn lock_contended(&self) -> MutexGuard<'_, T> {
        let mut spins = 0;
        loop {
            while self.inner.is_locked() {
                if spins < SPINS {
                    spins += 1;
                    core::hint::spin_loop();
                } else {
                    spins = 0;
                    yield_now();
                }
            }
            if let Some(guard) = self.inner.try_lock() {
                return guard;
            }
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

/// Address of a `fn()` that yields the CPU; 0 means "just spin".
static YIELD: AtomicUsize = AtomicUsize::new(0);

/// Installs the function waiters call after spinning a while.
pub fn set_yield_hook(f: fn()) {
    YIELD.store(f as usize, Ordering::Relaxed);
}

/// Yields the CPU through the installed hook, if any.
fn yield_now() {
    let f = YIELD.load(Ordering::Relaxed);
    if f != 0 {
        // SAFETY: YIELD only ever holds a `fn()` stored by `set_yield_hook`.
        let f: fn() = unsafe { core::mem::transmute::<usize, fn()>(f) };
        f();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn contended_increments_are_never_lost() {
        set_yield_hook(std::thread::yield_now);
        let m = Arc::new(Mutex::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..100_000 {
                        *m.lock() += 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*m.lock(), 400_000);
    }
}
