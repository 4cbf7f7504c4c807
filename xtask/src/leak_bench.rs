//! `cargo xtask leaks`: Go 1.27's goroutine leak suite under gorace, beside Go's own
//! leak profile on the same runs.
//!
//! `$GOROOT/src/runtime/goroutineleakprofile_test.go` lists 85 cases (simple leaks,
//! common patterns, GoKer kernels), each with the leaks it must report as regular
//! expressions over `<goroutine function>(...) [<wait reason>]`, some marked flaky.
//! This task reads that list, builds the two test programs
//! (`runtime/testdata/testgoroutineleakprofile` and its `goker` directory) with
//! `gorace build`, runs every case the same number of times with
//! `GORACE=detect_leaks=1`, and judges both detectors by the Go test's rules:
//!
//! - every non-flaky expected leak seen in some run (*expected found*), and
//! - besides, no leak that neither an expected nor a flaky pattern matches (*exact*).
//!
//! Go's leaks come from the profile each case writes to stdout (`(leaked)`
//! goroutines), gorace's from its `WARNING: GOROUTINE LEAK` reports on stderr.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use regex::Regex;

#[derive(clap::Args)]
pub struct Opts {
    /// Runs of every case (Go's test: 2 with -short; flaky cases 10 without)
    #[arg(long, default_value_t = 2)]
    runs: usize,
    /// GOROOT whose suite to run (default: `go env GOROOT`; Go 1.27 or later)
    #[arg(long)]
    goroot: Option<PathBuf>,
    /// Print every case, not only the ones either detector misses
    #[arg(long)]
    verbose: bool,
    /// Fail unless gorace finds the expected leaks of at least this many cases
    #[arg(long)]
    min_found: Option<u32>,
}

impl Opts {
    /// What CI runs: two runs a case, failing below 75 of 85 cases (measured: 82 to
    /// 85; Go's own profile misses a couple of the same cases on a loaded machine).
    pub fn ci() -> Opts {
        Opts {
            runs: 2,
            goroot: None,
            verbose: false,
            min_found: Some(75),
        }
    }
}

/// One case of the suite.
struct Case {
    name: String,
    /// In the `goker` program (else the simple one).
    goker: bool,
    /// `makeTest` (run with GOMAXPROCS=1), not `makeFlakyTest`.
    simple: bool,
    /// Leaks it must report (none for flaky cases: theirs are all flaky).
    expected: Vec<Regex>,
    /// Leaks it may report.
    flaky: Vec<Regex>,
}

/// The cases of `goroutineleakprofile_test.go`: every `makeTest(...)` and
/// `makeFlakyTest(...)` call; those after `gokerTestCases` are GoKer's.
fn parse_cases(src: &str) -> Result<Vec<Case>> {
    let goker_at = src
        .find("gokerTestCases := []testCase{")
        .context("no gokerTestCases list")?;
    let call = Regex::new(r"\b(makeTest|makeFlakyTest)\(").expect("valid regex");
    let mut cases = Vec::new();
    for m in call.find_iter(src) {
        let simple = m.as_str().starts_with("makeTest");
        let args = call_args(&src[m.end()..])
            .with_context(|| format!("unterminated call at byte {}", m.start()))?;
        // The definitions (`makeTest := func(name string, ...`) have no string args.
        let Some((name, leaks)) = args.split_first() else {
            continue;
        };
        let leaks = leaks
            .iter()
            .map(|l| Regex::new(l).with_context(|| format!("pattern {l:?} of {name}")))
            .collect::<Result<Vec<_>>>()?;
        let (expected, flaky) = if simple {
            (leaks, Vec::new())
        } else {
            (Vec::new(), leaks)
        };
        cases.push(Case {
            name: name.clone(),
            goker: m.start() > goker_at,
            simple,
            expected,
            flaky,
        });
    }
    Ok(cases)
}

/// The string literals among a call's arguments (`"..."` or raw), up to its closing
/// parenthesis; comments skipped.
fn call_args(s: &str) -> Option<Vec<String>> {
    let mut args = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            ')' => return Some(args),
            '`' => {
                let end = s[i + 1..].find('`')? + i + 1;
                args.push(s[i + 1..end].to_string());
                while chars.peek().is_some_and(|&(j, _)| j <= end) {
                    chars.next();
                }
            }
            '"' => {
                let end = s[i + 1..].find('"')? + i + 1;
                args.push(s[i + 1..end].replace("\\\\", "\\"));
                while chars.peek().is_some_and(|&(j, _)| j <= end) {
                    chars.next();
                }
            }
            '/' if chars.peek().is_some_and(|&(_, n)| n == '/') => {
                while chars.peek().is_some_and(|&(_, n)| n != '\n') {
                    chars.next();
                }
            }
            // Anything else (a non-literal argument such as `name string`) is a
            // definition's parameter list: no literals count then.
            c if c.is_alphabetic() => return Some(Vec::new()),
            _ => {}
        }
    }
    None
}

/// Go's leaks in a case's output, as the Go test extracts them: for each goroutine
/// marked `(leaked)`, its outermost function (the line two above `created by`,
/// without `main.`) and its wait reason: `noCloseRange.func1(...) [chan receive]`.
fn go_leaks(stdout: &str) -> Vec<String> {
    let header = Regex::new(r"^(goroutine )?\d+ \[(.*)\]:$").expect("valid regex");
    let mut leaks = Vec::new();
    for stack in stdout.split("\n\ngoroutine") {
        let lines: Vec<&str> = stack.lines().collect();
        if lines.len() < 5 || !lines[0].contains("(leaked)") {
            continue;
        }
        let Some(reason) = header.captures(lines[0].trim()).map(|c| c[2].to_string()) else {
            continue;
        };
        let reason = reason.replace(" (leaked)", "");
        let Some(i) = lines.iter().rposition(|l| l.contains("created by")) else {
            continue;
        };
        if i >= 2 {
            let func = lines[i - 2].trim_start_matches("main.");
            leaks.push(format!("{func} [{reason}]"));
        }
    }
    leaks
}

/// gorace's leaks in a case's stderr, in the same form: the outermost last-seen frame
/// (Go elides `gowrap` wrappers in dumps; so does this) and the wait reason of the
/// goroutine line (`blocked in chan send`).
fn gorace_leaks(stderr: &str) -> Vec<String> {
    let mut leaks = Vec::new();
    let mut lines = stderr.lines().peekable();
    while let Some(l) = lines.next() {
        if l != "WARNING: GOROUTINE LEAK" {
            continue;
        }
        let Some(g) = lines.next() else { break };
        let state = g
            .split_once(" (")
            .and_then(|(_, r)| r.rsplit_once(" since "))
            .map(|(s, _)| s)
            .unwrap_or("");
        let reason = state.strip_prefix("blocked in ").unwrap_or("");
        let mut outermost = None;
        while let Some(f) = lines.next_if(|l| l.starts_with("  ")) {
            let f = f.trim();
            if !f.starts_with('/') && !f.contains(".gowrap") {
                outermost = Some(f.trim_end_matches("()").to_string());
            }
        }
        if let Some(func) = outermost {
            let func = func.trim_start_matches("main.");
            leaks.push(format!("{func}() [{reason}]"));
        }
    }
    leaks
}

/// How a detector did on a case.
#[derive(Default)]
struct Verdict {
    /// Expected patterns no run matched.
    missing: Vec<String>,
    /// Leaks no pattern matched (each once).
    unexpected: Vec<String>,
}

impl Verdict {
    fn judge(case: &Case, leaks: &[String]) -> Verdict {
        let mut v = Verdict::default();
        for re in &case.expected {
            if !leaks.iter().any(|l| re.is_match(l)) {
                v.missing.push(re.as_str().to_string());
            }
        }
        for l in leaks {
            let known = case
                .expected
                .iter()
                .chain(&case.flaky)
                .any(|re| re.is_match(l));
            if !known && !v.unexpected.contains(l) {
                v.unexpected.push(l.clone());
            }
        }
        v
    }

    fn found(&self) -> bool {
        self.missing.is_empty()
    }

    fn exact(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty()
    }

    fn cell(&self) -> &'static str {
        match (self.found(), self.exact()) {
            (_, true) => "ok",
            (true, false) => "ok+extra",
            _ => "MISS",
        }
    }
}

/// A case's runs: the leaks each detector reported over all of them.
struct Outcome {
    case: usize,
    go: Vec<String>,
    ours: Vec<String>,
    /// Some run hung and was killed.
    killed: bool,
}

/// A run's standard output and error (killed after `limit`).
pub fn run_split(cmd: &mut Command, limit: Duration) -> Result<(String, String, bool)> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {cmd:?}"))?;
    let mut out = child.stdout.take().context("stdout")?;
    let mut err = child.stderr.take().context("stderr")?;
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let mut e = Vec::new();
    let start = Instant::now();
    let err_reader = std::thread::spawn(move || {
        let _ = err.read_to_end(&mut e);
        e
    });
    let mut killed = false;
    while child.try_wait()?.is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.wait();
    let out = reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    Ok((
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
        killed,
    ))
}

/// Copies a test program's directory (its `.go` files) to `dst` with a `go.mod` and
/// builds it with gorace into `exe`.
pub fn build(gorace: &Path, src: &Path, dst: &Path, exe: &Path) -> Result<()> {
    let _ = std::fs::remove_dir_all(dst);
    std::fs::create_dir_all(dst)?;
    for e in std::fs::read_dir(src)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "go") {
            std::fs::copy(&p, dst.join(p.file_name().context("file name")?))?;
        }
    }
    std::fs::write(dst.join("go.mod"), "module leakprofile\n\ngo 1.27\n")?;
    crate::run(
        Command::new(gorace)
            .current_dir(dst)
            .env_remove("GOFLAGS")
            .args(["build", "-o"])
            .arg(exe)
            .arg("."),
    )
}

pub fn run(opts: Opts) -> Result<()> {
    let goroot = match opts.goroot {
        Some(g) => g,
        None => crate::bench::go_root()?,
    };
    let test = goroot.join("src/runtime/goroutineleakprofile_test.go");
    let src = std::fs::read_to_string(&test).with_context(|| {
        format!(
            "reading {} (Go 1.27 or later has it; pass --goroot)",
            test.display()
        )
    })?;
    let cases = parse_cases(&src)?;
    if cases.is_empty() {
        bail!("no test cases found in {}", test.display());
    }
    let gorace = crate::gorace()?;
    let work = crate::root().join("target/leakbench");
    let data = goroot.join("src/runtime/testdata/testgoroutineleakprofile");
    let (simple_exe, goker_exe) = (work.join("simple"), work.join("goker"));
    println!("== building the leak suite's programs with gorace");
    build(&gorace, &data, &work.join("src/simple"), &simple_exe)?;
    build(
        &gorace,
        &data.join("goker"),
        &work.join("src/goker"),
        &goker_exe,
    )?;

    println!(
        "== {} cases x {} runs, GORACE=detect_leaks=1 (Go's leak profile from the same runs)",
        cases.len(),
        opts.runs
    );
    let results: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                let exe = if case.goker { &goker_exe } else { &simple_exe };
                let (mut go, mut ours, mut killed) = (Vec::new(), Vec::new(), false);
                for _ in 0..opts.runs {
                    let mut cmd = Command::new(exe);
                    cmd.arg(&case.name)
                        .env("GODEBUG", "asyncpreemptoff=1")
                        .env("GORACE", "detect_leaks=1 atexit_sleep_ms=0");
                    if case.simple {
                        cmd.env("GOMAXPROCS", "1");
                    }
                    match run_split(&mut cmd, Duration::from_secs(60)) {
                        Ok((out, err, k)) => {
                            go.extend(go_leaks(&out));
                            ours.extend(gorace_leaks(&err));
                            killed |= k;
                        }
                        Err(_) => killed = true,
                    }
                }
                results.lock().expect("no worker panics").push(Outcome {
                    case: i,
                    go,
                    ours,
                    killed,
                });
            });
        }
    });
    let mut results = results.into_inner().expect("no worker panics");
    results.sort_by_key(|r| r.case);

    let (mut go_found, mut go_exact, mut ours_found, mut ours_exact) = (0, 0, 0, 0);
    let (mut nf, mut nf_go, mut nf_ours) = (0, 0, 0);
    println!("{:<24} {:>9} {:>9}", "case", "go", "gorace");
    for Outcome {
        case,
        go,
        ours,
        killed,
    } in &results
    {
        let case = &cases[*case];
        let (g, o) = (Verdict::judge(case, go), Verdict::judge(case, ours));
        go_found += g.found() as u32;
        go_exact += g.exact() as u32;
        ours_found += o.found() as u32;
        ours_exact += o.exact() as u32;
        if case.simple {
            nf += 1;
            nf_go += g.found() as u32;
            nf_ours += o.found() as u32;
        }
        if opts.verbose || !o.exact() || !g.exact() || *killed {
            let flaky = if case.simple { "" } else { " (flaky)" };
            let hung = if *killed { " KILLED at 60 s" } else { "" };
            println!(
                "{:<24} {:>9} {:>9}{flaky}{hung}",
                case.name,
                g.cell(),
                o.cell()
            );
            for m in &o.missing {
                println!("    gorace misses    {m}");
            }
            for u in &o.unexpected {
                println!("    gorace also      {u}");
            }
            for m in &g.missing {
                println!("    go misses        {m}");
            }
            for u in &g.unexpected {
                println!("    go also          {u}");
            }
        }
    }
    let n = cases.len();
    println!(
        "\nexpected leaks found: gorace {ours_found}/{n}, Go leak profile {go_found}/{n} \
         (non-flaky cases: gorace {nf_ours}/{nf}, Go {nf_go}/{nf})"
    );
    println!(
        "exact (nothing unexpected either): gorace {ours_exact}/{n}, Go leak profile {go_exact}/{n}"
    );
    println!("({:.0} s)", started.elapsed().as_secs_f64());
    if let Some(min) = opts.min_found {
        if ours_found < min {
            bail!("gorace found the expected leaks of {ours_found} cases, fewer than {min}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_and_patterns_are_read_from_go_source() {
        let src = r#"
    makeTest := func(name string, leaks ...string) testCase {
    microTests := []testCase{
        makeTest("NilRecv",
            `NilRecv\.func1\(.* \[chan receive \(nil chan\)\]`,
        ),
        makeTest("NoLeakGlobal"),
    }
    gokerTestCases := []testCase{
        makeFlakyTest("Cockroach584",
            // a comment (with parentheses)
            `Cockroach584\.func2\(.* \[sync\.Mutex\.Lock\]`,
        ),
    }"#;
        let cases = parse_cases(src).unwrap();
        let names: Vec<_> = cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["NilRecv", "NoLeakGlobal", "Cockroach584"]);
        assert!(cases[0].simple && !cases[0].goker && cases[0].expected.len() == 1);
        assert!(cases[1].expected.is_empty());
        assert!(!cases[2].simple && cases[2].goker && cases[2].flaky.len() == 1);
        assert!(cases[0].expected[0].is_match("NilRecv.func1() [chan receive (nil chan)]"));
    }

    #[test]
    fn both_detectors_leaks_read_alike() {
        let go = "goroutine 1 [running]:\nmain.main()\n\tmain.go:1 +0x1\n\n\
                  goroutine 7 [chan send (leaked)]:\nmain.nCastLeak.func1()\n\tp.go:9 +0x2\n\
                  created by main.nCastLeak in goroutine 1\n\tp.go:8 +0x3\n";
        assert_eq!(go_leaks(go), ["nCastLeak.func1() [chan send]"]);
        let ours = "==================\nWARNING: GOROUTINE LEAK\n\
                    Goroutine 8 (blocked in chan send since 0.5s) last seen at:\n\
                    \x20 main.nCastLeak.func1()\n      /p.go:9 +0x2\n\
                    \x20 main.nCastLeak.gowrap1()\n      /p.go:9 +0x2\n\
                    Created at:\n  main.nCastLeak()\n      /p.go:8 +0x3\n==================\n";
        assert_eq!(gorace_leaks(ours), ["nCastLeak.func1() [chan send]"]);
    }
}
