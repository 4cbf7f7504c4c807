//! `cargo xtask conformance std`: standard packages' own tests under stock
//! `go test -race` and under `gorace test`, compared package by package.
//!
//! Both run with the same environment (GORACE unset, the same Go first on PATH) and
//! `-short -count=1 -timeout` (`-short` keeps the run hermetic: tests that need the
//! internet, absent on CI machines, skip themselves; `--full` drops it); a hard kill
//! some minutes after the timeout turns a hang into `timeout`. A package passes when gorace's outcome (ok, FAIL, timeout, ...) equals
//! stock's. Results go to target/conformance-std.json (rewritten after each package),
//! the full outputs to target/conformance-std/ (`--out` moves both).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::conformance::{run_logged, tail, Finished, GoEnv};

/// Packages that exercise concurrency and the runtime's paths.
pub const DEFAULT_PACKAGES: &[&str] = &[
    "sync",
    "sync/atomic",
    "context",
    "time",
    "net",
    "net/http",
    "net/http/httptest",
    "net/http/httputil",
    "net/rpc",
    "net/netip",
    "os",
    "os/exec",
    "os/signal",
    "io",
    "io/fs",
    "bufio",
    "bytes",
    "strings",
    "strconv",
    "errors",
    "path/filepath",
    "encoding/json",
    "encoding/gob",
    "encoding/xml",
    "compress/flate",
    "compress/gzip",
    "archive/zip",
    "crypto/tls",
    "crypto/sha256",
    "database/sql",
    "expvar",
    "log",
    "log/slog",
    "mime/multipart",
    "runtime/pprof",
    "runtime/trace",
    "testing",
    "text/template",
    "html/template",
    "go/parser",
    "go/types",
    "math/big",
    "regexp",
    "sort",
    "container/heap",
    "hash/maphash",
    "iter",
    "unique",
    "weak",
];

/// Slack past `-timeout` before the hard kill (building and linking the test).
const KILL_SLACK: Duration = Duration::from_secs(5 * 60);

#[derive(clap::Args, Clone)]
pub struct Opts {
    /// Comma-separated packages (default: a fixed list of 49 standard packages)
    #[arg(long, value_delimiter = ',')]
    packages: Option<Vec<String>>,
    /// Packages tested at once (each runs stock, then gorace)
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Per-package test timeout in seconds (`go test -timeout`, then a hard kill)
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Go toolchain for both sides: a GOROOT, its bin directory, or a `go` binary
    #[arg(long)]
    go: Option<PathBuf>,
    /// Directory for the outputs; the results go to `<out>.json`
    /// (default: target/conformance-std)
    #[arg(long)]
    out: Option<PathBuf>,
    /// Skip building every test binary first (then build time counts in the timings)
    #[arg(long)]
    no_warm: bool,
    /// Run the packages' full tests (no `-short`: includes tests that need the internet)
    #[arg(long)]
    full: bool,
    /// GORACE for the gorace side (e.g. `detect_deadlocks=1`); stock runs without
    #[arg(long)]
    gorace_options: Option<String>,
}

/// The handful of packages CI runs (`cargo xtask test`): fast, and between them
/// mutexes, channels, context trees, buffered I/O and sorting.
pub const CI_PACKAGES: &[&str] = &[
    "sync",
    "context",
    "strings",
    "bufio",
    "sort",
    "container/heap",
];

impl Opts {
    /// The CI subset, with the default settings otherwise.
    pub fn ci() -> Opts {
        Opts {
            packages: Some(CI_PACKAGES.iter().map(|p| p.to_string()).collect()),
            jobs: 1,
            timeout: 600,
            go: None,
            out: Some(crate::root().join("target/conformance-std-ci")),
            no_warm: false,
            full: false,
            gorace_options: None,
        }
    }
}

/// How a `go test` of one package ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Fail,
    Timeout,
    /// `[build failed]`, `[setup failed]`, or no such package.
    BuildFailed,
    /// `[no test files]`.
    NoTests,
    /// Ended without a summary line for the package (crash, signal).
    Error,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "FAIL",
            Outcome::Timeout => "timeout",
            Outcome::BuildFailed => "build-FAIL",
            Outcome::NoTests => "no-tests",
            Outcome::Error => "error",
        }
    }
}

/// What one `go test` run of a package printed, digested.
#[derive(Clone, Debug)]
pub struct Summary {
    pub outcome: Outcome,
    /// The time go test reported for the package (`ok  pkg  1.234s`).
    pub go_secs: Option<f64>,
    /// Names from `--- FAIL: Name` lines (subtests included).
    pub failed_tests: Vec<String>,
    /// `WARNING: DATA RACE` reports.
    pub races: usize,
    /// The first race report, panic or fatal error, up to 40 lines.
    pub first_report: Option<String>,
}

/// Digests `go test` output for `pkg`; `killed` when it was stopped at the hard limit.
pub fn summarize(pkg: &str, output: &str, killed: bool, exit_ok: bool) -> Summary {
    let mut outcome = None;
    let mut go_secs = None;
    for line in output.lines() {
        let mut f = line.split_whitespace();
        let (Some(word), Some(name)) = (f.next(), f.next()) else {
            continue;
        };
        if name != pkg {
            continue;
        }
        let rest: Vec<&str> = f.collect();
        let rest_text = rest.join(" ");
        let o = match word {
            "ok" => Outcome::Ok,
            "FAIL"
                if rest_text.contains("[build failed]") || rest_text.contains("[setup failed]") =>
            {
                Outcome::BuildFailed
            }
            "FAIL" => Outcome::Fail,
            "?" if rest_text.contains("[no test files]") => Outcome::NoTests,
            _ => continue,
        };
        outcome = Some(o);
        go_secs = rest
            .first()
            .and_then(|t| t.strip_suffix('s'))
            .and_then(|t| t.parse().ok());
    }
    let timed_out = killed || output.contains("panic: test timed out after");
    let outcome = if timed_out {
        Outcome::Timeout
    } else if let Some(o) = outcome {
        o
    } else if output.contains("is not in std") || output.contains("cannot find package") {
        Outcome::BuildFailed
    } else if exit_ok {
        Outcome::Ok
    } else {
        Outcome::Error
    };
    let failed_tests = output
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--- FAIL: "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    let races = output.matches("WARNING: DATA RACE").count();
    let lines: Vec<&str> = output.lines().collect();
    let first_report = lines
        .iter()
        .position(|l| {
            l.starts_with("WARNING: DATA RACE")
                || l.starts_with("panic: ")
                || l.starts_with("fatal error: ")
                || l.starts_with("SIGSEGV")
                || l.starts_with("unexpected signal")
                || l.starts_with("ThreadSanitizer")
                || l.starts_with("gorace")
        })
        .map(|i| lines[i..lines.len().min(i + 40)].join("\n"));
    Summary {
        outcome,
        go_secs,
        failed_tests,
        races,
        first_report,
    }
}

/// One side (stock or gorace) of one package.
struct Side {
    summary: Summary,
    wall_secs: f64,
    output: String,
}

struct PkgResult {
    pkg: String,
    stock: Side,
    gorace: Side,
}

impl PkgResult {
    fn same(&self) -> bool {
        self.stock.summary.outcome == self.gorace.summary.outcome
    }
}

fn side(pkg: &str, f: Finished) -> Side {
    let exit_ok = f.status.is_some_and(|s| s.success());
    Side {
        summary: summarize(pkg, &f.output, f.killed, exit_ok),
        wall_secs: f.secs,
        output: f.output,
    }
}

/// The command for one side: stock `go test -race` or `gorace test`.
fn test_cmd(gorace: Option<&Path>, env: &GoEnv, dir: &Path, args: &[String]) -> Command {
    let mut cmd = match gorace {
        Some(g) => {
            let mut c = Command::new(g);
            c.arg("test");
            c
        }
        None => {
            let mut c = Command::new(env.go());
            c.args(["test", "-race"]);
            c
        }
    };
    cmd.args(args).current_dir(dir);
    env.apply(&mut cmd);
    cmd
}

fn log_name(pkg: &str) -> String {
    pkg.replace('/', "_")
}

/// Builds every test binary (and runs none of the tests) on both sides, so that the
/// per-package timings are the tests' and a first big build does not eat a timeout.
fn warm(gorace: &Path, env: &GoEnv, dir: &Path, pkgs: &[String], timeout: u64) -> Result<()> {
    for (name, g) in [("stock", None), ("gorace", Some(gorace))] {
        let mut args = vec![
            "-count=1".to_string(),
            "-run=^$".to_string(),
            format!("-timeout={timeout}s"),
        ];
        args.extend(pkgs.iter().cloned());
        let mut cmd = test_cmd(g, env, dir, &args);
        let limit = Duration::from_secs(timeout) + KILL_SLACK * 6;
        let f = run_logged(&mut cmd, &dir.join(format!("warm.{name}.log")), limit)?;
        println!("warmed the {name} build cache ({:.0}s)", f.secs);
    }
    Ok(())
}

fn test_pkg(
    gorace: &Path,
    env: &GoEnv,
    dir: &Path,
    pkg: &str,
    timeout: u64,
    full: bool,
    gorace_options: Option<&str>,
) -> Result<PkgResult> {
    let mut args = vec!["-count=1".to_string(), format!("-timeout={timeout}s")];
    if !full {
        args.push("-short".to_string());
    }
    args.push(pkg.to_string());
    let limit = Duration::from_secs(timeout) + KILL_SLACK;
    let mut stock = test_cmd(None, env, dir, &args);
    let stock = run_logged(
        &mut stock,
        &dir.join(format!("{}.stock.log", log_name(pkg))),
        limit,
    )?;
    let mut ours = test_cmd(Some(gorace), env, dir, &args);
    if let Some(o) = gorace_options {
        ours.env("GORACE", o);
    }
    let ours = run_logged(
        &mut ours,
        &dir.join(format!("{}.gorace.log", log_name(pkg))),
        limit,
    )?;
    Ok(PkgResult {
        pkg: pkg.to_string(),
        stock: side(pkg, stock),
        gorace: side(pkg, ours),
    })
}

/// Outcome, wall time (build, link and run), and go test's own time for the run.
fn cell(s: &Side) -> String {
    let test = s
        .summary
        .go_secs
        .map_or(String::new(), |t| format!("({t:.1}s)"));
    format!(
        "{:<10} {:>6.1}s {test:<9}",
        s.summary.outcome.label(),
        s.wall_secs
    )
}

/// The table line for one package.
fn line(r: &PkgResult) -> String {
    let verdict = if r.same() { "same" } else { "DIFFERENT" };
    let mut l = format!(
        "{:<20} stock {}  gorace {}  {verdict}",
        r.pkg,
        cell(&r.stock),
        cell(&r.gorace)
    );
    let g = &r.gorace.summary;
    if !r.same() {
        let mut why = Vec::new();
        if g.races > 0 {
            why.push(format!("{} race reports", g.races));
        }
        if let Some(t) = g.failed_tests.first() {
            why.push(format!("--- FAIL: {t}"));
        }
        if let Some(p) = g.first_report.as_deref().and_then(|r| r.lines().next()) {
            if !p.starts_with("WARNING: DATA RACE") {
                why.push(p.chars().take(100).collect());
            }
        }
        if !why.is_empty() {
            let _ = write!(l, "  ({})", why.join("; "));
        }
    }
    l
}

/// Runs the sweep.
pub fn run(opts: Opts) -> Result<()> {
    let env = GoEnv::new(opts.go.as_deref(), None)?;
    let version = env.version()?;
    let built = crate::gorace()?;
    let root = std::fs::canonicalize(crate::root()).unwrap_or_else(|_| crate::root());
    let dir = match &opts.out {
        Some(d) => std::path::absolute(d)?,
        None => root.join("target/conformance-std"),
    };
    let json_path = dir.with_extension("json");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // A copy of the binary (and so of the runtime it embeds): a rebuild of
    // target/release during the sweep does not change what is tested.
    let gorace = dir.join("gorace");
    let _ = std::fs::remove_file(&gorace);
    std::fs::copy(&built, &gorace).context("copying the gorace binary")?;
    let mut vcmd = Command::new(&gorace);
    vcmd.arg("version");
    env.apply(&mut vcmd);
    let gorace_version = vcmd
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let pkgs: Vec<String> = match opts.packages {
        Some(p) => p.into_iter().filter(|p| !p.is_empty()).collect(),
        None => DEFAULT_PACKAGES.iter().map(|p| p.to_string()).collect(),
    };
    if pkgs.is_empty() {
        bail!("no packages to test");
    }
    println!(
        "std sweep: {} packages{}, {version}, {gorace_version}, timeout {}s, {} job(s)",
        pkgs.len(),
        if opts.full {
            " (full tests)"
        } else {
            " (-short)"
        },
        opts.timeout,
        opts.jobs.max(1)
    );
    println!("columns: outcome, wall time (build + run), go test's time for the run");
    if !opts.no_warm {
        warm(&gorace, &env, &dir, &pkgs, opts.timeout)?;
    }

    let next = Mutex::new(0usize);
    let results: Mutex<Vec<Option<PkgResult>>> =
        Mutex::new((0..pkgs.len()).map(|_| None).collect());
    let errors: Mutex<Vec<anyhow::Error>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.max(1) {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    let i = *n;
                    *n += 1;
                    i
                };
                let Some(pkg) = pkgs.get(i) else { break };
                match test_pkg(
                    &gorace,
                    &env,
                    &dir,
                    pkg,
                    opts.timeout,
                    opts.full,
                    opts.gorace_options.as_deref(),
                ) {
                    Ok(r) => {
                        println!("{}", line(&r));
                        let mut all = results.lock().unwrap();
                        all[i] = Some(r);
                        // Results so far, so that a sweep stopped midway leaves them.
                        let done: Vec<&PkgResult> = all.iter().flatten().collect();
                        let _ = std::fs::write(
                            &json_path,
                            to_json(&version, &gorace_version, opts.timeout, &done),
                        );
                    }
                    Err(e) => errors
                        .lock()
                        .unwrap()
                        .push(e.context(format!("testing {pkg}"))),
                }
            });
        }
    });
    if let Some(e) = errors.into_inner().unwrap().into_iter().next() {
        return Err(e);
    }
    let results: Vec<PkgResult> = results
        .into_inner()
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    let passed = results.iter().filter(|r| r.same()).count();
    let failed = results.len() - passed;
    let all: Vec<&PkgResult> = results.iter().collect();
    std::fs::write(
        &json_path,
        to_json(&version, &gorace_version, opts.timeout, &all),
    )
    .with_context(|| format!("writing {}", json_path.display()))?;
    let stock_total: f64 = results.iter().map(|r| r.stock.wall_secs).sum();
    let gorace_total: f64 = results.iter().map(|r| r.gorace.wall_secs).sum();
    println!(
        "total: stock {stock_total:.0}s, gorace {gorace_total:.0}s; results in {}, outputs in {}",
        json_path.display(),
        dir.display()
    );
    // Reports of gorace's own kinds (leaks, deadlocks), by title.
    let mut own: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
    for r in &results {
        for l in r.gorace.output.lines() {
            if let Some(t) = l.strip_prefix("WARNING: ").filter(|t| *t != "DATA RACE") {
                own.entry(t.to_string()).or_default().push(&r.pkg);
            }
        }
    }
    for (title, pkgs) in &own {
        println!(
            "gorace reported {title}: {} time(s), in {}",
            pkgs.len(),
            pkgs.join(" ")
        );
    }
    if let Some(o) = &opts.gorace_options {
        println!(
            "gorace side ran with GORACE={o:?}: {} report(s) of other kinds",
            own.values().map(Vec::len).sum::<usize>()
        );
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        bail!("{failed} packages behave differently under gorace");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// JSON (by hand: the xtask keeps its dependencies to clap and anyhow)

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_side(s: &Side, detail: bool) -> String {
    let m = &s.summary;
    let mut o = format!(
        "{{\"outcome\": {}, \"wall_secs\": {:.2}, \"go_secs\": {}, \"races\": {}, \"failed_tests\": [{}]",
        json_str(m.outcome.label()),
        s.wall_secs,
        m.go_secs.map_or("null".to_string(), |t| format!("{t:.3}")),
        m.races,
        m.failed_tests
            .iter()
            .map(|t| json_str(t))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if detail {
        let _ = write!(
            o,
            ", \"first_report\": {}, \"tail\": {}",
            m.first_report
                .as_deref()
                .map_or("null".to_string(), json_str),
            json_str(&tail(&s.output, 80))
        );
    }
    o.push('}');
    o
}

fn to_json(version: &str, gorace_version: &str, timeout: u64, results: &[&PkgResult]) -> String {
    let passed = results.iter().filter(|r| r.same()).count();
    let mut o = format!(
        "{{\n  \"go\": {},\n  \"gorace\": {},\n  \"timeout_secs\": {timeout},\n  \"passed\": {passed},\n  \"failed\": {},\n  \"packages\": [\n",
        json_str(version),
        json_str(gorace_version),
        results.len() - passed
    );
    for (i, r) in results.iter().enumerate() {
        let same = r.same();
        let _ = write!(
            o,
            "    {{\"package\": {}, \"verdict\": {},\n     \"stock\": {},\n     \"gorace\": {}}}{}\n",
            json_str(&r.pkg),
            json_str(if same { "same" } else { "DIFFERENT" }),
            json_side(&r.stock, !same && r.stock.summary.outcome != Outcome::Ok),
            json_side(&r.gorace, !same),
            if i + 1 < results.len() { "," } else { "" }
        );
    }
    o.push_str("  ]\n}\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_line() {
        let s = summarize("sync", "ok  \tsync\t12.345s\n", false, true);
        assert_eq!(s.outcome, Outcome::Ok);
        assert_eq!(s.go_secs, Some(12.345));
        assert!(s.failed_tests.is_empty() && s.races == 0 && s.first_report.is_none());
        // Not confused by a package whose name has ours as a prefix.
        let s = summarize(
            "net/http",
            "ok  \tnet/http/httptest\t1.0s\nFAIL\tnet/http\t3.5s\n",
            false,
            false,
        );
        assert_eq!((s.outcome, s.go_secs), (Outcome::Fail, Some(3.5)));
        let s = summarize(
            "iter",
            "ok  \titer\t0.020s [no tests to run]\n",
            false,
            true,
        );
        assert_eq!(s.outcome, Outcome::Ok);
    }

    #[test]
    fn fail_with_race() {
        let out = "\
==================
WARNING: DATA RACE
Write at 0x00c000012345 by goroutine 8:
  sync_test.TestX()
      /x/sync_test.go:10 +0x44
==================
--- FAIL: TestX (0.01s)
    testing.go:1490: race detected during execution of test
    --- FAIL: TestY/sub (0.00s)
FAIL
FAIL\tsync\t0.456s
FAIL
";
        let s = summarize("sync", out, false, false);
        assert_eq!(s.outcome, Outcome::Fail);
        assert_eq!(s.go_secs, Some(0.456));
        assert_eq!(s.failed_tests, ["TestX", "TestY/sub"]);
        assert_eq!(s.races, 1);
        let r = s.first_report.unwrap();
        assert!(r.starts_with("WARNING: DATA RACE\nWrite at"), "{r}");
    }

    #[test]
    fn timeouts() {
        let out = "\
panic: test timed out after 10m0s
\trunning tests:
\t\tTestHang (10m0s)

goroutine 7 [running]:
FAIL\tnet\t600.123s
FAIL
";
        let s = summarize("net", out, false, false);
        assert_eq!(s.outcome, Outcome::Timeout);
        assert_eq!(s.go_secs, Some(600.123));
        assert!(s.first_report.unwrap().starts_with("panic: test timed out"));
        // Killed at the hard limit, no summary at all.
        let s = summarize("net", "=== RUN   TestHang\n", true, false);
        assert_eq!(s.outcome, Outcome::Timeout);
        assert_eq!(s.go_secs, None);
    }

    #[test]
    fn build_failures_and_no_tests() {
        let s = summarize("weak", "FAIL\tweak [setup failed]\n", false, false);
        assert_eq!(s.outcome, Outcome::BuildFailed);
        let s = summarize(
            "weak",
            "package weak is not in std (/opt/go/src/weak)\n",
            false,
            false,
        );
        assert_eq!(s.outcome, Outcome::BuildFailed);
        let s = summarize(
            "x/y",
            "# x/y\n./a.go:3:1: syntax error\nFAIL\tx/y [build failed]\n",
            false,
            false,
        );
        assert_eq!(s.outcome, Outcome::BuildFailed);
        let s = summarize("errors", "?   \terrors\t[no test files]\n", false, true);
        assert_eq!(s.outcome, Outcome::NoTests);
    }

    #[test]
    fn crashes() {
        let out = "fatal error: unexpected signal during runtime execution\n[signal SIGSEGV]\n";
        let s = summarize("os", out, false, false);
        assert_eq!(s.outcome, Outcome::Error);
        assert!(s
            .first_report
            .unwrap()
            .starts_with("fatal error: unexpected signal"));
        // A run that exits 0 without a summary line (e.g. go test -json elsewhere).
        assert_eq!(summarize("os", "", false, true).outcome, Outcome::Ok);
    }

    #[test]
    fn json_escapes() {
        assert_eq!(json_str("a\"b\\c\nd\te\u{1}"), r#""a\"b\\c\nd\te\u0001""#);
    }

    #[test]
    fn table_line() {
        let side = |o: &str, secs| Side {
            summary: summarize("sync", o, false, false),
            wall_secs: secs,
            output: o.to_string(),
        };
        let r = PkgResult {
            pkg: "sync".into(),
            stock: side("ok  \tsync\t1.0s\n", 2.0),
            gorace: side(
                "panic: boom\n--- FAIL: TestA (0.0s)\nFAIL\tsync\t1.5s\n",
                3.0,
            ),
        };
        let l = line(&r);
        assert!(l.starts_with("sync "), "{l}");
        assert!(l.contains("stock ok") && l.contains("2.0s"), "{l}");
        assert!(l.contains("gorace FAIL") && l.contains("DIFFERENT"), "{l}");
        assert!(
            l.contains("--- FAIL: TestA") && l.contains("panic: boom"),
            "{l}"
        );
        let j = to_json("go1.27.3", "gorace", 600, &[&r]);
        assert!(j.contains("\"verdict\": \"DIFFERENT\""), "{j}");
        assert!(j.contains("\"tail\": \"panic: boom\\n"), "{j}");
    }
}
