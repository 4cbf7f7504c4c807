//! Race reports: the data model, de-duplication, and Go's text format.
//!
//! The text is byte-for-byte the stock runtime's (tools parse `WARNING: DATA RACE`;
//! `runtime/race/output_test.go` checks the shape):
//!
//! ```text
//! ==================
//! WARNING: DATA RACE
//! Write at 0x00c000094000 by goroutine 7:
//!   main.main.func1()
//!       /path/main.go:8 +0x35
//!
//! Previous read at 0x00c000094000 by main goroutine:
//!   main.main()
//!       /path/main.go:9 +0x106
//!
//! Goroutine 7 (running) created at:
//!   main.main()
//!       /path/main.go:8 +0xfc
//! ==================
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::stack::hash_pcs;

/// Goroutine id printed as "main goroutine". Id 0 is the context `__tsan_init` returns
/// (the runtime's g0 during start-up); the first `go_start`, the goroutine that runs
/// `runtime.main`, is 1, as in the stock runtime.
pub const MAIN_GID: u32 = 1;

/// One side of a race.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    pub addr: u64,
    pub write: bool,
    pub atomic: bool,
    /// `None` when the goroutine can no longer be identified.
    pub gid: Option<u32>,
    /// Return addresses, innermost (the access itself) first.
    pub stack: Vec<u64>,
    /// Outer frames were not kept (the stack was deeper than
    /// [`crate::goroutine::KEPT_FRAMES`], or the stack depot was full when it was
    /// recorded).
    pub truncated: bool,
}

/// A goroutine named in a report, other than the main goroutine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoroutineNote {
    pub gid: u32,
    pub running: bool,
    /// The `go` statement and its callers, innermost first.
    pub created_at: Vec<u64>,
    /// Outer frames of `created_at` were not kept.
    pub truncated: bool,
}

/// A data race: the current access, the remembered one it conflicts with, and the
/// goroutines involved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaceReport {
    pub current: Access,
    pub previous: Access,
    pub goroutines: Vec<GoroutineNote>,
}

/// One symbolised frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub func: String,
    pub file: String,
    pub line: u64,
    /// Offset of the pc from the function's entry.
    pub offset: u64,
}

/// Turns a return address into frames (several when calls were inlined), innermost
/// first. Implementations are given `pc` as recorded (a return address).
pub trait Symbolize {
    fn frames(&mut self, pc: u64, out: &mut Vec<Frame>);
}

/// De-duplication state (`suppress_equal_stacks`, `suppress_equal_addresses`).
#[derive(Default)]
pub struct Seen {
    stacks: Vec<(u64, u64)>,
    addrs: Vec<(u64, u64)>,
}

impl Seen {
    /// Whether `r` repeats an earlier report; if not, remembers it.
    pub fn is_duplicate(&mut self, r: &RaceReport, equal_stacks: bool, equal_addrs: bool) -> bool {
        let h = (hash_pcs(&r.current.stack), hash_pcs(&r.previous.stack));
        if equal_stacks && self.stacks.iter().any(|&s| s == h || s == (h.1, h.0)) {
            return true;
        }
        let lo = r.current.addr.min(r.previous.addr) & !7;
        let hi = r.current.addr.max(r.previous.addr) | 7;
        if equal_addrs && self.addrs.iter().any(|&(a, b)| a <= hi && lo <= b) {
            return true;
        }
        self.stacks.push(h);
        self.addrs.push((lo, hi));
        false
    }
}

/// Text formatting options.
#[derive(Default)]
pub struct Style<'a> {
    pub strip_path_prefix: &'a str,
}

impl Style<'_> {
    fn path(&self, file: &str) -> String {
        let mut f = String::from(file);
        // ThreadSanitizer's rule: drop everything up to the end of the first occurrence
        // of the prefix, then a leading "./".
        if !self.strip_path_prefix.is_empty() {
            if let Some(pos) = f.find(self.strip_path_prefix) {
                f = String::from(&f[pos + self.strip_path_prefix.len()..]);
            }
        }
        match f.strip_prefix("./") {
            Some(rest) => String::from(rest),
            None => f,
        }
    }
}

fn who(gid: Option<u32>) -> String {
    match gid {
        Some(MAIN_GID) => String::from("main goroutine"),
        Some(g) => alloc::format!("goroutine {g}"),
        None => String::from("unknown goroutine"),
    }
}

/// The frames of a stack (return addresses, innermost first), innermost first. The
/// outermost frame always points into the Go runtime (`runtime.main`,
/// `runtime.goexit`) and is dropped, as the stock runtime does, unless it is the only
/// one or the stack is truncated (then it is a real frame).
pub fn symbolize(pcs: &[u64], truncated: bool, sym: &mut dyn Symbolize) -> Vec<Frame> {
    let mut frames = Vec::new();
    for &pc in pcs {
        sym.frames(pc, &mut frames);
    }
    if frames.len() > 1 && !truncated {
        frames.pop();
    }
    frames
}

/// Writes a stack in Go's format (see [`symbolize`]). A truncated stack keeps its last
/// frame and says so.
pub fn write_stack(
    out: &mut String,
    pcs: &[u64],
    truncated: bool,
    sym: &mut dyn Symbolize,
    style: &Style,
) {
    write_frames(out, &symbolize(pcs, truncated, sym), truncated, style);
}

/// Writes symbolised frames in Go's format.
pub fn write_frames(out: &mut String, frames: &[Frame], truncated: bool, style: &Style) {
    if frames.is_empty() {
        out.push_str("  [failed to restore the stack]\n");
        return;
    }
    for f in frames {
        let file = style.path(&f.file);
        let _ = write!(
            out,
            "  {}()\n      {}:{} +0x{:x}\n",
            f.func, file, f.line, f.offset
        );
    }
    if truncated {
        let _ = writeln!(
            out,
            "  [outer frames not kept: the stack was deeper than {} frames, or gorace's stack depot was full]",
            crate::goroutine::KEPT_FRAMES
        );
    }
}

impl RaceReport {
    /// The report in Go's text format, fences included.
    pub fn to_text(&self, sym: &mut dyn Symbolize, style: &Style) -> String {
        let mut out = String::from("==================\nWARNING: DATA RACE\n");
        let kind = |a: &Access| if a.write { "Write" } else { "Read" };
        let c = &self.current;
        let _ = writeln!(out, "{} at 0x{:012x} by {}:", kind(c), c.addr, who(c.gid));
        write_stack(&mut out, &c.stack, c.truncated, sym, style);
        let p = &self.previous;
        let _ = writeln!(
            out,
            "\nPrevious {} at 0x{:012x} by {}:",
            if p.write { "write" } else { "read" },
            p.addr,
            who(p.gid)
        );
        write_stack(&mut out, &p.stack, p.truncated, sym, style);
        for g in &self.goroutines {
            let state = if g.running { "running" } else { "finished" };
            let _ = writeln!(out, "\nGoroutine {} ({state}) created at:", g.gid);
            write_stack(&mut out, &g.created_at, g.truncated, sym, style);
        }
        out.push_str("==================\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    /// pc 0x1nn is in main.main at line nn; 0x9xx is runtime.main; 0x2nn is main.f
    /// inlined into main.g.
    struct Fake;
    impl Symbolize for Fake {
        fn frames(&mut self, pc: u64, out: &mut Vec<Frame>) {
            let f = |func: &str, line| Frame {
                func: func.to_string(),
                file: "/src/app/main.go".to_string(),
                line,
                offset: pc & 0xff,
            };
            match pc >> 8 {
                1 => out.push(f("main.main", pc & 0xff)),
                2 => {
                    out.push(f("main.f", 3));
                    out.push(f("main.g", 4));
                }
                _ => out.push(f("runtime.main", 1)),
            }
        }
    }

    fn report() -> RaceReport {
        RaceReport {
            current: Access {
                addr: 0xc000094000,
                write: true,
                atomic: false,
                gid: Some(7),
                stack: vec![0x208, 0x905],
                truncated: false,
            },
            previous: Access {
                addr: 0xc000094000,
                write: false,
                atomic: false,
                gid: Some(MAIN_GID),
                stack: vec![0x109, 0x905],
                truncated: false,
            },
            goroutines: vec![GoroutineNote {
                gid: 7,
                running: true,
                created_at: vec![0x108, 0x905],
                truncated: false,
            }],
        }
    }

    #[test]
    fn go_text_format() {
        let text = report().to_text(
            &mut Fake,
            &Style {
                strip_path_prefix: "/src/app/",
            },
        );
        assert_eq!(
            text,
            "==================
WARNING: DATA RACE
Write at 0x00c000094000 by goroutine 7:
  main.f()
      main.go:3 +0x8
  main.g()
      main.go:4 +0x8

Previous read at 0x00c000094000 by main goroutine:
  main.main()
      main.go:9 +0x9

Goroutine 7 (running) created at:
  main.main()
      main.go:8 +0x8
==================
"
        );
    }

    #[test]
    fn truncated_stacks_keep_their_last_frame_and_say_so() {
        let mut r = report();
        r.previous.stack = vec![0x109, 0x150];
        r.previous.truncated = true;
        let text = r.to_text(&mut Fake, &Style::default());
        assert!(
            text.contains(
                "  main.main()\n      /src/app/main.go:80 +0x50\n  [outer frames not kept: the stack was deeper than 1024 frames, or gorace's stack depot was full]\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn strip_path_prefix_follows_thread_sanitizer() {
        let s = Style {
            strip_path_prefix: "/main.",
        };
        assert_eq!(
            s.path("/tmp/x/001/main.go"),
            "go",
            "matches anywhere, like TSan"
        );
        let s = Style {
            strip_path_prefix: "/src/",
        };
        assert_eq!(s.path("/src/./a.go"), "a.go");
        assert_eq!(Style::default().path("/elsewhere/y.go"), "/elsewhere/y.go");
    }

    #[test]
    fn duplicates() {
        let mut seen = Seen::default();
        let r = report();
        assert!(!seen.is_duplicate(&r, true, false));
        assert!(seen.is_duplicate(&r, true, false));
        let mut swapped = r.clone();
        core::mem::swap(&mut swapped.current, &mut swapped.previous);
        assert!(
            seen.is_duplicate(&swapped, true, false),
            "order-insensitive"
        );
        let mut other = r.clone();
        other.current.stack = vec![0x150, 0x905];
        assert!(!seen.is_duplicate(&other, true, false));
        other.current.stack = vec![0x151, 0x905];
        assert!(seen.is_duplicate(&other, false, true), "same address");
        assert!(!Seen::default().is_duplicate(&r, false, false));
    }
}
