//! `GORACE` options.
//!
//! The format is ThreadSanitizer's: `name=value` pairs separated by spaces, commas,
//! colons or newlines; a value may be quoted with `'` or `"` to contain separators.
//! Unlike the stock runtime, an unknown name or a malformed value is not ignored
//! silently: [`Options::parse`] returns one warning line per problem (naming the option
//! and the valid names or values), and the program still runs with the default.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Where reports go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogPath {
    Stderr,
    Stdout,
    /// Reports go to `<path>.<pid>`.
    File(String),
}

/// Every option gorace understands, with the stock runtime's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub log_path: LogPath,
    pub exitcode: i32,
    pub strip_path_prefix: String,
    /// Accepted for compatibility. gorace keeps every remembered access's stack in the
    /// stack depot, so there is no per-goroutine history to size (see docs/design.md).
    pub history_size: u32,
    pub halt_on_error: bool,
    pub atexit_sleep_ms: u32,
    pub suppress_equal_stacks: bool,
    pub suppress_equal_addresses: bool,
    /// Report user goroutines still alive at exit as leaks (see [`crate::leak`]).
    pub detect_leaks: bool,
    /// How long goroutines may still end after the program's own exit before the
    /// survivors are reported.
    pub leak_grace_ms: u32,
    /// Functions whose goroutines are not leaks (`pkg.Func`, or a prefix ending in `*`),
    /// matching the top frame, any last-seen frame or any creation frame.
    pub leak_ignore: Vec<String>,
    /// Report lock-order inversions, recursive read locks and double locks (see
    /// [`crate::deadlock`]).
    pub detect_deadlocks: bool,
    /// Seconds without progress (no goroutine of the program making a synchronising
    /// step, all of them parked) after which the program is declared hung: every
    /// goroutine's last location and held locks are printed, and it exits with
    /// `exitcode`. 0: off. Implies `detect_deadlocks` (for the held locks).
    pub deadlock_watchdog_s: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            log_path: LogPath::Stderr,
            exitcode: 66,
            strip_path_prefix: String::new(),
            history_size: 1,
            halt_on_error: false,
            atexit_sleep_ms: 1000,
            suppress_equal_stacks: true,
            // The stock runtime accepts the option but, in Go mode, reports every new pair
            // of stacks on an address: off, so gorace reports what stock reports.
            suppress_equal_addresses: false,
            detect_leaks: false,
            leak_grace_ms: 500,
            leak_ignore: Vec::new(),
            detect_deadlocks: false,
            deadlock_watchdog_s: 0,
        }
    }
}

/// Names [`Options::parse`] accepts, in the order the warning lists them.
pub const NAMES: &[&str] = &[
    "log_path",
    "exitcode",
    "strip_path_prefix",
    "history_size",
    "halt_on_error",
    "atexit_sleep_ms",
    "suppress_equal_stacks",
    "suppress_equal_addresses",
    "detect_leaks",
    "leak_grace_ms",
    "leak_ignore",
    "detect_deadlocks",
    "deadlock_watchdog_s",
];

fn is_sep(c: char) -> bool {
    c == ' ' || c == ',' || c == ':' || c == '\n' || c == '\t' || c == '\r'
}

/// Splits `GORACE` into `(name, value)` pairs; a pair without `=` has value `None`.
fn pairs(s: &str) -> Vec<(&str, Option<String>)> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start_matches(is_sep);
        if rest.is_empty() {
            return out;
        }
        let name_end = rest
            .find(|c: char| c == '=' || is_sep(c))
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        rest = &rest[name_end..];
        if let Some(after) = rest.strip_prefix('=') {
            let (value, tail) = match after.chars().next() {
                Some(q @ ('\'' | '"')) => match after[1..].find(q) {
                    Some(end) => (after[1..1 + end].to_string(), &after[2 + end..]),
                    None => (after[1..].to_string(), ""),
                },
                _ => {
                    let end = after.find(is_sep).unwrap_or(after.len());
                    (after[..end].to_string(), &after[end..])
                }
            };
            out.push((name, Some(value)));
            rest = tail;
        } else {
            out.push((name, None));
        }
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "true" | "yes" => Some(true),
        "0" | "false" | "no" => Some(false),
        _ => None,
    }
}

impl Options {
    /// Parses a `GORACE` value. Problems do not stop parsing: each one yields a warning
    /// line (without trailing newline) and leaves that option at its default.
    pub fn parse(s: &str) -> (Options, Vec<String>) {
        let mut o = Options::default();
        let mut warnings = Vec::new();
        for (name, value) in pairs(s) {
            let Some(v) = value else {
                warnings.push(format!(
                    "gorace: GORACE option \"{name}\" has no value; write {name}=<value>"
                ));
                continue;
            };
            let bad = |what: &str| {
                format!("gorace: GORACE option {name}={v:?} is invalid ({what}); using the default")
            };
            match name {
                "log_path" => {
                    o.log_path = match v.as_str() {
                        "stderr" => LogPath::Stderr,
                        "stdout" => LogPath::Stdout,
                        "" => {
                            warnings.push(bad("expected stderr, stdout or a file path prefix"));
                            LogPath::Stderr
                        }
                        p => LogPath::File(p.to_string()),
                    }
                }
                "strip_path_prefix" => o.strip_path_prefix = v,
                "exitcode" => match v.parse::<i32>() {
                    Ok(n) if (0..=255).contains(&n) => o.exitcode = n,
                    _ => warnings.push(bad("expected an exit status 0..255")),
                },
                "history_size" => match v.parse::<u32>() {
                    Ok(n) if n <= 7 => o.history_size = n,
                    _ => warnings.push(bad("expected 0..7")),
                },
                "deadlock_watchdog_s" => match v.parse::<u32>() {
                    Ok(n) => {
                        o.deadlock_watchdog_s = n;
                        o.detect_deadlocks |= n > 0;
                    }
                    _ => warnings.push(bad("expected seconds")),
                },
                "atexit_sleep_ms" | "leak_grace_ms" => match v.parse::<u32>() {
                    Ok(n) if name == "atexit_sleep_ms" => o.atexit_sleep_ms = n,
                    Ok(n) => o.leak_grace_ms = n,
                    _ => warnings.push(bad("expected milliseconds")),
                },
                "leak_ignore" => {
                    // Items are separated by `|`, or by `,` inside a quoted value (an
                    // unquoted `,` ends the option).
                    o.leak_ignore = v
                        .split(['|', ','])
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(String::from)
                        .collect();
                    if o.leak_ignore.is_empty() {
                        warnings.push(bad("expected function names, pkg.Func|pkg.Other*"));
                    }
                }
                "halt_on_error"
                | "suppress_equal_stacks"
                | "suppress_equal_addresses"
                | "detect_leaks"
                | "detect_deadlocks" => match parse_bool(&v) {
                    Some(b) => match name {
                        "halt_on_error" => o.halt_on_error = b,
                        "suppress_equal_stacks" => o.suppress_equal_stacks = b,
                        "detect_leaks" => o.detect_leaks = b,
                        "detect_deadlocks" => o.detect_deadlocks = b,
                        _ => o.suppress_equal_addresses = b,
                    },
                    None => warnings.push(bad("expected 0 or 1")),
                },
                _ => warnings.push(format!(
                    "gorace: unknown GORACE option \"{name}\" ignored; valid options: {}",
                    NAMES.join(", ")
                )),
            }
        }
        (o, warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_stock_runtime() {
        let (o, w) = Options::parse("");
        assert!(w.is_empty());
        assert_eq!(o, Options::default());
        assert_eq!((o.exitcode, o.atexit_sleep_ms), (66, 1000));
        assert!(o.suppress_equal_stacks && !o.halt_on_error);
    }

    #[test]
    fn separators_and_quotes() {
        let (o, w) = Options::parse(
            "log_path=/tmp/r exitcode=13,halt_on_error=1:atexit_sleep_ms=0 strip_path_prefix='/a b/'",
        );
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(o.log_path, LogPath::File("/tmp/r".into()));
        assert_eq!(
            (o.exitcode, o.halt_on_error, o.atexit_sleep_ms),
            (13, true, 0)
        );
        assert_eq!(o.strip_path_prefix, "/a b/");
        let (o, _) = Options::parse("log_path=stdout suppress_equal_stacks=0");
        assert_eq!(o.log_path, LogPath::Stdout);
        assert!(!o.suppress_equal_stacks);
    }

    #[test]
    fn leak_options() {
        let (o, w) = Options::parse(
            "detect_leaks=1 leak_grace_ms=50 leak_ignore='a.F, example.com/m.(*T).Run*'",
        );
        assert!(w.is_empty(), "{w:?}");
        assert!(o.detect_leaks);
        assert_eq!(o.leak_grace_ms, 50);
        assert_eq!(o.leak_ignore, ["a.F", "example.com/m.(*T).Run*"]);
        let (o, w) = Options::parse("leak_ignore=a.F|b.G,exitcode=3");
        assert!(w.is_empty(), "{w:?}");
        assert_eq!((o.leak_ignore.len(), o.exitcode), (2, 3));
        let (o, w) = Options::parse("detect_leaks=sometimes leak_grace_ms=-1 leak_ignore=|");
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(!o.detect_leaks && o.leak_grace_ms == 500 && o.leak_ignore.is_empty());
    }

    #[test]
    fn deadlock_options() {
        let (o, w) = Options::parse("deadlock_watchdog_s=5");
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(o.deadlock_watchdog_s, 5);
        assert!(o.detect_deadlocks, "the watchdog reports held locks");
        let (o, w) = Options::parse("detect_deadlocks=1 deadlock_watchdog_s=soon");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("deadlock_watchdog_s") && w[0].contains("seconds"));
        assert!(o.detect_deadlocks && o.deadlock_watchdog_s == 0);
    }

    #[test]
    fn problems_are_named_and_defaults_kept() {
        let (o, w) = Options::parse("exitcode=abc bogus=1 halt_on_error=maybe history_size=9 x");
        assert_eq!(o, Options::default());
        assert_eq!(w.len(), 5, "{w:?}");
        assert!(w[0].contains("exitcode=\"abc\""));
        assert!(w[1].contains("unknown GORACE option \"bogus\"") && w[1].contains("log_path"));
        assert!(w[2].contains("halt_on_error"));
        assert!(w[3].contains("history_size"));
        assert!(w[4].contains("\"x\" has no value"));
        assert!(w.iter().all(|l| !l.contains('\n')), "one line each");
    }
}
