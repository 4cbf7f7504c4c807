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
