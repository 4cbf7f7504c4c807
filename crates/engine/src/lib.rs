//! gorace's detection engine: pure happens-before race detection for Go programs.
//!
//! # The model
//!
//! A *data race* is two accesses to the same memory byte, at least one a write, not
//! both atomic, that are not ordered by *happens-before*. Happens-before is what the Go
//! memory model says it is: program order within a goroutine, plus the edges the
//! runtime reports through the race ABI (a `go` statement before the new goroutine's
//! first step; every release on an address before the acquires that observe it;
//! channels, mutexes, WaitGroups, `Once`, atomics... all reduce to acquire/release on
//! addresses, see [`Detector`]).
//!
//! The engine tracks happens-before with vector clocks in the style of FastTrack
//! (Flanagan & Freund, PLDI 2009) and ThreadSanitizer v3: every goroutine holds a
//! [slot](slots) and counts *epochs* there, advancing after each release; a
//! goroutine's [clock](clock) says, per slot, the newest epoch that happens-before it.
//! An access remembered as `(slot, epoch)` happens-before goroutine `g` exactly when
//! `g.clock[slot] >= epoch`.
//!
//! Memory is tracked per 8-byte granule in [shadow cells](cell): who accessed which
//! bytes, how, when, and from which call stack (a [stack depot](stack) node). Keeping
//! the stack in the cell is gorace's main departure from ThreadSanitizer, which keeps
//! only `(slot, epoch)` and replays a bounded per-thread trace to recover the earlier
//! stack, silently dropping the race when the trace has moved on. Here a remembered
//! access can always be reported with its full stack.
//!
//! # Layers
//!
//! This crate is pure logic with no I/O and no platform assumptions: it is `no_std`,
//! runs under plain `cargo test` on synthetic event streams, and reaches memory only
//! through the [`Platform`] trait. The Go ABI adapter (`gorace-rt`) implements
//! `Platform` with mmap'd shadow and Go's symbolizer callback.
//!
//! | file | concept |
//! |------|---------|
//! | [`clock`] | epochs, slots, vector clocks |
//! | [`cell`] | the 64-bit shadow cell encoding and its predicates |
//! | [`shadow`] | the per-granule check-and-remember algorithm |
//! | [`slots`] | giving goroutines slots, reusing them safely, the slot journal |
//! | [`goroutine`] | per-goroutine state and the shadow call stack |
//! | [`sync`] | sync objects (released clocks by address) |
//! | [`stack`] | the stack depot |
//! | [`report`] | the report data model, de-duplication, Go's text format |
//! | [`leak`] | goroutine leaks at exit: the live set, classification, leak reports |
//! | [`deadlock`] | lock operations seen in atomics, the lock-order graph, deadlock reports |
//! | [`watchdog`] | the hang watchdog's check, from its own thread |
//! | [`options`] | `GORACE` parsing |
//! | [`lock`] | the spin lock used everywhere off the fast path |
//! | [`stats`] | hot-path event counters (feature `stats`) |
//! | [`detector`] | the event handlers tying it together |
//! | `testing` | test platform, reference model, property-test harness (tests and the `testing` feature) |

#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod cell;
pub mod clock;
pub mod deadlock;
pub mod detector;
pub mod goroutine;
pub mod leak;
pub mod lock;
pub mod options;
pub mod report;
pub mod shadow;
pub mod slots;
pub mod stack;
pub mod stats;
pub mod sync;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod watchdog;

pub use detector::{AtomicOp, Detector, Platform};
