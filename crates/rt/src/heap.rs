//! The runtime's own heap: dlmalloc over raw `mmap`, behind a spin lock.
//!
//! It never touches the Go heap and needs no thread-local state, so it works on any
//! thread Go calls us from. Allocation happens off the per-access fast path (goroutine
//! start, new sync objects, new stacks, reports).

use core::alloc::{GlobalAlloc, Layout};
use core::ptr;

use crate::sys;

/// Pages for dlmalloc, straight from the kernel.
pub struct Pages;

// SAFETY: the methods hand out fresh anonymous mappings and release only ranges
// dlmalloc obtained from them.
unsafe impl dlmalloc::Allocator for Pages {
    fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
        // SAFETY: a fresh anonymous private mapping; no address requested.
        let p = unsafe {
            sys::mmap(
                0,
                size,
                sys::PROT_READ | sys::PROT_WRITE,
                sys::MAP_PRIVATE | sys::MAP_ANONYMOUS,
            )
        };
        if p < 0 {
            return (ptr::null_mut(), 0, 0);
        }
        (p as *mut u8, size, 0)
    }

    fn remap(&self, p: *mut u8, old: usize, new: usize, can_move: bool) -> *mut u8 {
        let flags = if can_move { sys::MREMAP_MAYMOVE } else { 0 };
        // SAFETY: dlmalloc only remaps mappings it got from `alloc`.
        let r = unsafe { sys::mremap(p as usize, old, new, flags) };
        if r < 0 {
            ptr::null_mut()
        } else {
            r as *mut u8
        }
    }

    fn free_part(&self, p: *mut u8, old: usize, new: usize) -> bool {
        // SAFETY: dlmalloc releases the unused tail of a mapping it owns.
        unsafe { sys::munmap(p as usize + new, old - new) == 0 }
    }

    fn free(&self, p: *mut u8, size: usize) -> bool {
        // SAFETY: dlmalloc releases a whole mapping it owns.
        unsafe { sys::munmap(p as usize, size) == 0 }
    }

    fn can_release_part(&self, _flags: u32) -> bool {
        true
    }

    fn allocates_zeros(&self) -> bool {
        true
    }

    fn page_size(&self) -> usize {
        4096
    }
}

/// The global allocator of the runtime object.
pub struct Heap(spin::Mutex<dlmalloc::Dlmalloc<Pages>>);

impl Heap {
    pub const fn new() -> Self {
        Heap(spin::Mutex::new(dlmalloc::Dlmalloc::new_with_allocator(
            Pages,
        )))
    }
}

impl Default for Heap {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every operation runs under the lock; dlmalloc implements malloc/free/realloc
// with the requested alignment.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: forwarded GlobalAlloc contract.
        unsafe { self.0.lock().malloc(l.size(), l.align()) }
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        // SAFETY: forwarded GlobalAlloc contract.
        unsafe { self.0.lock().calloc(l.size(), l.align()) }
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: forwarded GlobalAlloc contract.
        unsafe { self.0.lock().free(p, l.size(), l.align()) }
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // SAFETY: forwarded GlobalAlloc contract.
        unsafe { self.0.lock().realloc(p, l.size(), l.align(), new) }
    }
}
