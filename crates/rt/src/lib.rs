//! gorace's race runtime for Go: the `__tsan_*` ABI that `go build -race` links, built
//! as one freestanding relocatable object (no libc, no undefined symbols, no TLS, no
//! constructors) that replaces `runtime/race/internal/amd64v1/race_linux.syso`.
//!
//! This crate is the thin *adapter* layer: [`abi`] turns Go's calls into engine calls,
//! [`layout`] places shadow memory, [`symbolize`] asks Go for function names and lines,
//! [`goinfo`] reads what a goroutine runs from Go's `g` (leak reports, the watchdog),
//! [`buildinfo`] which Go release built the program,
//! [`output`] writes reports, [`heap`] and [`sys`] stand in for libc. All detection
//! logic lives in `gorace-engine`.
//!
//! It is not a test target: it runs only inside Go programs, and the end-to-end tests
//! of the `gorace` crate exercise it there. (Built for `cfg(test)`, as `clippy
//! --all-targets` does, it leaves the allocator, panic handler and C memory functions
//! to std.)

#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod abi;
pub mod buildinfo;
pub mod clock;
pub mod env;
pub mod goinfo;
pub mod heap;
pub mod layout;
#[cfg(not(test))]
pub mod mem;
pub mod output;
pub mod platform;
pub mod symbolize;
pub mod sys;
pub mod trim;
pub mod watchdog;

#[cfg(not(test))]
#[global_allocator]
static HEAP: heap::Heap = heap::Heap::new();

/// An internal error: say so on standard error and exit with status 2. Never unwinds
/// into Go.
#[cfg(not(test))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    use core::fmt::Write;
    let mut msg = alloc::string::String::new();
    let _ = writeln!(msg, "gorace: internal error: {info}");
    output::warn(&msg);
    sys::exit_group(2)
}
