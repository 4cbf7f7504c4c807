//! `gorace`: run Go's race detector with the gorace runtime.
//!
//! `gorace test|run|build [go flags] [packages]` runs the matching `go` command with
//! `-race`, using a shadow GOROOT whose race runtime is gorace's (see [`goroot`]).
//! `gorace env` prints the exports that make a plain `go test -race` do the same.
//! `gorace test --leaks` and `gorace run --leaks` also report goroutine leaks at exit
//! (`GORACE=detect_leaks=1`); `--deadlocks` reports lock-order inversions, recursive
//! read locks and double locks (`GORACE=detect_deadlocks=1`).

mod goroot;
mod toolchain;

use std::ffi::OsString;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// The runtime object, built by build.rs from the gorace-rt crate.
static RUNTIME_OBJECT: &[u8] = include_bytes!(env!("GORACE_RT_OBJECT"));

#[derive(Parser)]
#[command(
    name = "gorace",
    version,
    about = "Go's data race detector, rebuilt in Rust",
    long_about = "Runs `go test|run|build -race` with the gorace runtime in place of \
                  ThreadSanitizer. Reports keep Go's format; GORACE options work as usual."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// `go test -race` with gorace (arguments are passed to go test; leading `--leaks`
    /// reports goroutines leaked by the tests, `--deadlocks` lock-order problems)
    Test(GoArgs),
    /// `go run -race` with gorace (arguments are passed to go run; leading `--leaks`
    /// reports goroutines still alive at exit, `--deadlocks` lock-order problems)
    Run(GoArgs),
    /// `go build -race` with gorace (arguments are passed to go build)
    Build(GoArgs),
    /// Print shell exports that make a plain `go test -race` use gorace
    Env,
    /// Print gorace's version, runtime hash and Go toolchain
    Version,
}

#[derive(clap::Args)]
struct GoArgs {
    /// Flags and packages for the go command
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<OsString>,
}

/// The environment that makes `go` use the shadow GOROOT.
fn go_env(s: &goroot::Shadow) -> Vec<(&'static str, OsString)> {
    let mut path = OsString::from(s.goroot.join("bin"));
    if let Some(p) = std::env::var_os("PATH") {
        path.push(":");
        path.push(p);
    }
    vec![
        ("GOROOT", s.goroot.clone().into()),
        ("GOCACHE", s.gocache.clone().into()),
        ("GOTOOLCHAIN", "local".into()),
        ("PATH", path),
        ("GORACE_SHADOW_GOROOT", s.goroot.clone().into()),
        ("GORACE_REAL_GOROOT", s.real.clone().into()),
    ]
}

/// The runtime object to use: the embedded one, or the file named by
/// `GORACE_RUNTIME_OBJECT` (for gorace's own benchmarks, which compare against a
/// do-nothing runtime).
fn runtime_object() -> Result<std::borrow::Cow<'static, [u8]>> {
    match std::env::var_os("GORACE_RUNTIME_OBJECT").filter(|p| !p.is_empty()) {
        Some(path) => {
            let bytes = std::fs::read(&path).with_context(|| {
                format!(
                    "cannot read GORACE_RUNTIME_OBJECT={}; unset it to use the built-in runtime",
                    std::path::Path::new(&path).display()
                )
            })?;
            Ok(bytes.into())
        }
        None => Ok(RUNTIME_OBJECT.into()),
    }
}

fn shadow() -> Result<goroot::Shadow> {
    let tc = toolchain::find()?;
    goroot::ensure(&tc, &runtime_object()?, &goroot::cache_base()?)
}

/// gorace's own flags, given before the go command's: the `GORACE` options they add.
const OWN_FLAGS: &[(&str, &str)] = &[
    ("--leaks", "detect_leaks=1"),
    ("--deadlocks", "detect_deadlocks=1"),
];

/// Splits leading gorace flags off `args`: the `GORACE` options they stand for, and the
/// rest for go.
fn own_flags(args: &[OsString]) -> (Vec<&'static str>, &[OsString]) {
    let mut options = Vec::new();
    let mut rest = args;
    while let Some((first, tail)) = rest.split_first() {
        match OWN_FLAGS.iter().find(|(flag, _)| first == *flag) {
            Some(&(_, option)) => options.push(option),
            None => break,
        }
        rest = tail;
    }
    (options, rest)
}

fn run_go(sub: &str, args: &[OsString]) -> Result<ExitCode> {
    let (options, args) = if sub == "build" {
        (Vec::new(), args)
    } else {
        own_flags(args)
    };
    let s = shadow()?;
    let go = s.goroot.join("bin/go");
    let mut cmd = Command::new(&go);
    cmd.arg(sub).arg("-race").args(args).envs(go_env(&s));
    if !options.is_empty() {
        let mut gorace = std::env::var_os("GORACE").unwrap_or_default();
        for o in options {
            if !gorace.is_empty() {
                gorace.push(" ");
            }
            gorace.push(o);
        }
        cmd.env("GORACE", gorace);
    }
    let status = cmd
        .status()
        .with_context(|| format!("running {}", go.display()))?;
    Ok(exit_code(status))
}

fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1);
    ExitCode::from(code.clamp(0, 255) as u8)
}

fn shell_quote(s: &OsString) -> String {
    format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Test(a) => run_go("test", &a.args),
        Cmd::Run(a) => run_go("run", &a.args),
        Cmd::Build(a) => run_go("build", &a.args),
        Cmd::Env => shadow().map(|s| {
            for (k, v) in go_env(&s) {
                if k == "PATH" {
                    println!(
                        "export PATH={}:\"$PATH\"",
                        shell_quote(&s.goroot.join("bin").into())
                    );
                } else {
                    println!("export {k}={}", shell_quote(&v));
                }
            }
            ExitCode::SUCCESS
        }),
        Cmd::Version => toolchain::find().and_then(|tc| {
            println!(
                "gorace {} (runtime {}) with {} at {}",
                env!("CARGO_PKG_VERSION"),
                goroot::digest(&runtime_object()?),
                tc.version,
                tc.goroot.display()
            );
            Ok(ExitCode::SUCCESS)
        }),
    };
    result.unwrap_or_else(|e| {
        eprintln!("gorace: {e:#}");
        ExitCode::from(2)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_flags_come_first_and_the_rest_goes_to_go() {
        let a = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let args = a(&["--leaks", "--deadlocks", "-v", "./..."]);
        let (o, rest) = own_flags(&args);
        assert_eq!(
            (o, rest),
            (vec!["detect_leaks=1", "detect_deadlocks=1"], &args[2..])
        );
        let args = a(&["-v", "--leaks"]);
        let (o, rest) = own_flags(&args);
        assert!(
            o.is_empty() && rest.len() == 2,
            "only leading flags are gorace's"
        );
    }
}
