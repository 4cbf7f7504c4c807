//! Parsing Go-format race reports produced with [`super::FakeSymbolizer`] back into
//! structure, so that tests can check them field by field.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// One side of a parsed report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedAccess {
    pub write: bool,
    pub addr: u64,
    /// `None` for "unknown goroutine"; "main goroutine" is [`crate::report::MAIN_GID`].
    pub gid: Option<u32>,
    /// The printed frames' pcs, innermost first (an empty stack prints as
    /// `[failed to restore the stack]`).
    pub stack: Vec<u64>,
}

/// A parsed `Goroutine N (running|finished) created at:` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedNote {
    pub gid: u32,
    pub running: bool,
    pub created_at: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedReport {
    pub current: ParsedAccess,
    pub previous: ParsedAccess,
    pub goroutines: Vec<ParsedNote>,
}

const FENCE: &str = "==================";

struct Lines<'a> {
    lines: Vec<&'a str>,
    i: usize,
}

impl<'a> Lines<'a> {
    fn next(&mut self) -> Result<&'a str, String> {
        let l = self
            .lines
            .get(self.i)
            .copied()
            .ok_or_else(|| String::from("report ends early"))?;
        self.i += 1;
        Ok(l)
    }

    fn peek(&self) -> Option<&'a str> {
        self.lines.get(self.i).copied()
    }

    fn expect(&mut self, want: &str) -> Result<(), String> {
        let l = self.next()?;
        if l == want {
            Ok(())
        } else {
            Err(format!("expected {want:?}, got {l:?}"))
        }
    }

    /// Frames printed by `write_stack` with the fake symbolizer.
    fn stack(&mut self) -> Result<Vec<u64>, String> {
        if self.peek() == Some("  [failed to restore the stack]") {
            self.i += 1;
            return Ok(Vec::new());
        }
        let mut pcs = Vec::new();
        while let Some(l) = self.peek() {
            let Some(name) = l.strip_prefix("  f").and_then(|r| r.strip_suffix("()")) else {
                break;
            };
            let pc: u64 = name.parse().map_err(|_| format!("bad frame line {l:?}"))?;
            self.i += 1;
            self.expect(&format!("      t.go:{pc} +0x0"))?;
            pcs.push(pc);
        }
        if pcs.is_empty() {
            return Err(format!("expected a stack, got {:?}", self.peek()));
        }
        Ok(pcs)
    }
}

fn who(s: &str) -> Result<Option<u32>, String> {
    match s {
        "main goroutine" => Ok(Some(crate::report::MAIN_GID)),
        "unknown goroutine" => Ok(None),
        _ => s
            .strip_prefix("goroutine ")
            .and_then(|n| n.parse().ok())
            .map(Some)
            .ok_or_else(|| format!("bad goroutine {s:?}")),
    }
}

/// `"<Kind> at 0x<12 hex digits> by <who>:"` with the given kind words.
fn header(l: &str, write_word: &str, read_word: &str) -> Result<(bool, u64, Option<u32>), String> {
    let bad = || format!("bad access header {l:?}");
    let (write, rest) = if let Some(r) = l.strip_prefix(write_word) {
        (true, r)
    } else if let Some(r) = l.strip_prefix(read_word) {
        (false, r)
    } else {
        return Err(bad());
    };
    let rest = rest.strip_prefix(" at 0x").ok_or_else(bad)?;
    let (hex, rest) = rest.split_once(" by ").ok_or_else(bad)?;
    if hex.len() < 12 {
        return Err(bad());
    }
    let addr = u64::from_str_radix(hex, 16).map_err(|_| bad())?;
    let gid = who(rest.strip_suffix(':').ok_or_else(bad)?)?;
    Ok((write, addr, gid))
}

/// Parses one report (fences included, nothing else).
pub fn parse_report(text: &str) -> Result<ParsedReport, String> {
    let body = text
        .strip_suffix('\n')
        .ok_or("report does not end with a newline")?;
    let mut ls = Lines {
        lines: body.split('\n').collect(),
        i: 0,
    };
    ls.expect(FENCE)?;
    ls.expect("WARNING: DATA RACE")?;
    let (write, addr, gid) = header(ls.next()?, "Write", "Read")?;
    let current = ParsedAccess {
        write,
        addr,
        gid,
        stack: ls.stack()?,
    };
    ls.expect("")?;
    let (write, addr, gid) = header(ls.next()?, "Previous write", "Previous read")?;
    let previous = ParsedAccess {
        write,
        addr,
        gid,
        stack: ls.stack()?,
    };
    let mut goroutines = Vec::new();
    while ls.peek() == Some("") {
        ls.i += 1;
        let l = ls.next()?;
        let bad = || format!("bad goroutine line {l:?}");
        let rest = l.strip_prefix("Goroutine ").ok_or_else(bad)?;
        let (n, rest) = rest.split_once(' ').ok_or_else(bad)?;
        let running = match rest {
            "(running) created at:" => true,
            "(finished) created at:" => false,
            _ => return Err(bad()),
        };
        goroutines.push(ParsedNote {
            gid: n.parse().map_err(|_| bad())?,
            running,
            created_at: ls.stack()?,
        });
    }
    ls.expect(FENCE)?;
    if ls.peek().is_some() {
        return Err(format!("trailing text after the report: {:?}", ls.peek()));
    }
    Ok(ParsedReport {
        current,
        previous,
        goroutines,
    })
}

/// The pcs `write_stack` prints for a stack (innermost first): the outermost frame is
/// dropped when there is more than one.
pub fn printed_stack(stack: &[u64]) -> Vec<u64> {
    match stack.len() {
        0 | 1 => stack.to_vec(),
        n => stack[..n - 1].to_vec(),
    }
}
