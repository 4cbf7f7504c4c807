//! `cargo xtask <task>`: the project's own commands.
//!
//! - `test`: everything CI runs: the workspace tests (engine unit and property tests,
//!   the command's unit tests, the end-to-end and stress Go programs), Go's own race
//!   suite (`runtime/race`) under gorace, a handful of standard packages under
//!   gorace and stock `-race` (same outcome required), Go's goroutine leak suite
//!   (at least 75 of its 85 cases found) and the GoKer kernels under deadlock
//!   prediction (at least 20 of the 24 resource deadlocks reported).
//! - `conformance race [--go GOROOT] [--goamd64 v3]`: `gorace test -count=1 -v
//!   runtime/race`, summarised.
//! - `conformance matrix`: the race suite under Go 1.23, 1.25, 1.27 and 1.27 with
//!   GOAMD64=v3.
//! - `conformance std`: standard packages' tests, stock `go test -race` against gorace.
//! - `leaks`: Go 1.27's goroutine leak suite (85 cases) under gorace with
//!   `detect_leaks=1`, beside Go's own leak profile on the same runs.
//! - `deadlocks`: the 63 GoKer kernels under gorace with `detect_deadlocks=1`, counted
//!   by bug class.

mod bench;
mod conformance;
mod deadlock_bench;
mod leak_bench;
mod std_sweep;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run every test CI runs
    Test,
    /// Run a conformance suite under gorace
    Conformance {
        #[command(subcommand)]
        suite: conformance::Suite,
    },
    /// Benchmark gorace against the stock race runtime (and plain and floor builds)
    Bench(bench::Opts),
    /// Go's goroutine leak suite under gorace, against Go's leak profile
    Leaks(leak_bench::Opts),
    /// The GoKer kernels under gorace's deadlock prediction
    Deadlocks(deadlock_bench::Opts),
}

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `target/release/gorace`, built if needed.
pub fn gorace() -> Result<PathBuf> {
    run(Command::new(env!("CARGO")).current_dir(root()).args([
        "build",
        "--quiet",
        "--release",
        "-p",
        "gorace",
    ]))?;
    Ok(root().join("target/release/gorace"))
}

/// Runs a command, inheriting stdio; fails on a non-zero exit.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

fn test() -> Result<()> {
    println!("== cargo test (engine, command, end-to-end programs)");
    run(Command::new(env!("CARGO")).current_dir(root()).args([
        "test",
        "--release",
        "--workspace",
        "--locked",
    ]))?;
    println!("== runtime/race under gorace");
    // A few upstream cases order goroutines with sleeps (TestRaceWaitGroupReuse: 50 ms
    // against 100 ms) and can fail on an overloaded machine, under stock -race too:
    // a failure is retried once, and said loudly.
    if let Err(first) = conformance::race(&conformance::GoEnv::default()) {
        println!(
            "!! runtime/race failed once; retrying to tell a flake from a failure:\n{first:#}"
        );
        conformance::race(&conformance::GoEnv::default())?;
        println!("!! runtime/race passed on the retry: the first failure was a flake");
    }
    println!("== standard packages under gorace and stock -race (CI subset)");
    std_sweep::run(std_sweep::Opts::ci())?;
    println!("== Go's goroutine leak suite under gorace (detect_leaks=1)");
    leak_bench::run(leak_bench::Opts::ci())?;
    println!("== GoKer kernels under gorace (detect_deadlocks=1)");
    deadlock_bench::run(deadlock_bench::Opts::ci())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.task {
        Task::Test => test(),
        Task::Conformance { suite } => conformance::run(suite),
        Task::Bench(opts) => bench::bench(opts),
        Task::Leaks(opts) => leak_bench::run(opts),
        Task::Deadlocks(opts) => deadlock_bench::run(opts),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}
