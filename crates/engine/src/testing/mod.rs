//! Test support: a [`Platform`](crate::Platform) over simulated memory, a reference
//! happens-before model, and a harness that runs synthetic event streams through both
//! and checks every report (and every missing report) against the model.
//!
//! Compiled for the crate's own tests and with the `testing` feature (for other crates'
//! tests); `no_std` like the rest of the engine.
//!
//! | file | what |
//! |------|------|
//! | [`platform`] | [`TestPlatform`]: shadow, meta words, collected output, fake symbols |
//! | [`parse`] | Go-format reports back into structure |
//! | [`reference`] | [`Reference`]: unbounded vector clocks, full access history |
//! | [`harness`] | [`Sim`]: the engine and the model side by side, what is checked and why |

pub mod harness;
pub mod parse;
pub mod platform;
pub mod reference;

pub use harness::{report_everything, Op, Sim, SimConfig, Stats, SyncOp};
pub use parse::{parse_report, ParsedReport};
pub use platform::{FakeSymbolizer, TestPlatform, APP_BASE, APP_SIZE};
pub use reference::Reference;

#[cfg(test)]
mod detector_tests;
#[cfg(test)]
mod model_tests;
