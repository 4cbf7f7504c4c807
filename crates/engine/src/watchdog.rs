//! The hang watchdog (`deadlock_watchdog_s`): noticing that the program stopped, from a
//! thread of the runtime's own, and saying where every goroutine is.
//!
//! When every goroutine is blocked nothing calls into the runtime, so the check runs
//! on a thread Go does not schedule, which must not call Go (no symbolizer). What it
//! prints was symbolised in advance by the goroutines themselves: each synchronising
//! step renders its stack once per stack node ([`Detector::render`]).
//!
//! It fires when, for N seconds, no goroutine of the program (main and those user code
//! started) has made a synchronising step, every one of them is parked, nothing in the
//! process sits in a system call (a read of standard input, `os/signal` waiting for a
//! signal, a cgo call: all of them may still wake the program), and
//! - when Go's wait reasons can be read ([`GoState::Waiting`] with a reason): every
//!   one of them waits on a channel, a `select`, a lock, a `sync.Cond` or a
//!   `WaitGroup` (a sleeping goroutine or one waiting on the network will wake), or
//! - otherwise: one of them waits for a lock another holds (the lock graph says so).

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;
use core::sync::atomic::Ordering;

use crate::deadlock::Mode;
use crate::goroutine::Goroutine;
use crate::leak::{Visible, CLASS_USER};
use crate::report::{Style, MAIN_GID};
use crate::{Detector, Platform};

/// Why a parked goroutine waits, as Go's scheduler records it (`g.waitreason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitReason {
    /// Go's name for it: `chan receive`, `sync.Mutex.Lock`, `sleep`...
    pub what: &'static str,
    /// Only another goroutine can end the wait (a channel, a lock, a `WaitGroup`);
    /// false for sleeps, network waits and the runtime's own waits.
    pub blocking: bool,
}

/// What a goroutine is doing right now, read from Go's `g`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GoState {
    /// Its `g` is unknown or does not look as expected.
    Unknown,
    /// Running or runnable.
    Active,
    /// In a system call or a cgo call.
    Syscall,
    /// Parked, with its wait reason when the Go release is known.
    Waiting(Option<WaitReason>),
}

impl<P: Platform> Detector<P> {
    /// With the watchdog on: symbolises a stack node now, from a goroutine running
    /// normally, so that the watchdog's own thread (which cannot call Go's symbolizer)
    /// can print it later. Once per node.
    pub(crate) fn render(&self, g: &Goroutine, node: u32) {
        if g.runs_on_g0 || self.rendered.lock().contains_key(&node) {
            return;
        }
        let truncated = self.stacks.stack(node).1;
        let mut frames = self.frames(node);
        // The atomics' and the semaphores' frames say how, not where.
        let how = frames
            .iter()
            .take_while(|f| crate::leak::is_plumbing(f))
            .count();
        let plumbing = how == frames.len();
        if !plumbing {
            frames.drain(..how);
        }
        let mut text = String::new();
        let style = Style {
            strip_path_prefix: &self.options.strip_path_prefix,
        };
        crate::report::write_frames(&mut text, &frames, truncated, &style);
        self.rendered.lock().insert(node, (text, plumbing));
    }

    /// The watchdog's check, from its own thread (see the module comment). When the
    /// program hangs, prints where each goroutine is and the locks it holds, and
    /// returns true (the caller exits with `exitcode`). Symbolises nothing.
    pub fn watchdog_check(&self) -> bool {
        let limit_ms = self.options.deadlock_watchdog_s as u64 * 1000;
        let now = self.platform.ticks();
        let live = self.live.snapshot();
        let mut watched: Vec<&Arc<Visible>> = live
            .iter()
            .filter(|v| v.gid == MAIN_GID || v.class.load(Ordering::Relaxed) == CLASS_USER)
            .collect();
        watched.sort_by_key(|v| v.gid);
        let progress = watched
            .iter()
            .map(|v| v.last_tick.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0);
        {
            let mut w = self.watch.lock();
            if w.0 != progress || w.1 == 0 {
                *w = (progress, now);
                return false;
            }
            if self.platform.ms_between(w.1, now) < limit_ms {
                return false;
            }
        }
        let state = |v: &Visible| {
            self.platform
                .goroutine_state(v.gptr.load(Ordering::Relaxed))
        };
        let states: Vec<GoState> = watched.iter().map(|v| state(v)).collect();
        if watched.is_empty() || !states.iter().all(|s| matches!(s, GoState::Waiting(_))) {
            return false;
        }
        if live.iter().any(|v| state(v) == GoState::Syscall) {
            return false;
        }
        let reasons: Option<Vec<WaitReason>> = states
            .iter()
            .map(|s| match s {
                GoState::Waiting(r) => *r,
                _ => None,
            })
            .collect();
        let graph = self.locks.lock();
        let hung = match &reasons {
            Some(r) => r.iter().all(|r| r.blocking),
            // An idle server waits only on the network; a lock wait is a hang.
            None => watched.iter().any(|v| graph.contended(v.gid)),
        };
        if !hung {
            return false;
        }
        let rendered = self.rendered.lock();
        let mut out = alloc::format!(
            "==================\nWARNING: DEADLOCK (no goroutine has made progress for {}s)\n",
            self.options.deadlock_watchdog_s
        );
        let shown = |node: u32| {
            rendered
                .get(&node)
                .map(|r| r.0.clone())
                .unwrap_or_else(|| String::from("  [not symbolised]\n"))
        };
        let plumbing = |node: u32| rendered.get(&node).is_some_and(|r| r.1);
        for (i, v) in watched.iter().enumerate() {
            let who = if v.gid == MAIN_GID {
                String::from("Main goroutine")
            } else {
                alloc::format!("Goroutine {}", v.gid)
            };
            let since = self
                .platform
                .ms_between(v.last_tick.load(Ordering::Relaxed), now);
            let what = reasons
                .as_ref()
                .map(|r| alloc::format!(" in {}", r[i].what))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "\n{who} (blocked{what} since {}.{}s) last seen at:",
                since / 1000,
                since % 1000 / 100
            );
            let held = graph.held_by(v.gid);
            match v.last_site.load(Ordering::Relaxed) {
                0 => out.push_str("  [no synchronising step recorded]\n"),
                // Inside a lock operation's atomics: its request says where.
                site if plumbing(site) && !held.is_empty() => {
                    out.push_str(&shown(held[held.len() - 1].2))
                }
                site => out.push_str(&shown(site)),
            }
            if let Some(c) = self.creations.lock().get(&v.creation) {
                out.push_str("Created at:\n");
                let style = Style {
                    strip_path_prefix: &self.options.strip_path_prefix,
                };
                let truncated = self.stacks.stack(v.creation).1;
                crate::report::write_frames(&mut out, &c.frames, truncated, &style);
            }
            for (lock, mode, site) in held {
                let (kind, how) = if mode == Mode::Read {
                    ("RWMutex", "read-locked")
                } else {
                    ("mutex", "locked")
                };
                let _ = writeln!(out, "Holds (or waits for) {kind} 0x{lock:012x}, {how} at:");
                out.push_str(&shown(site));
            }
        }
        out.push_str("==================\n");
        drop(rendered);
        drop(graph);
        let _seen = self.seen.lock();
        self.platform.write(&out);
        true
    }
}
