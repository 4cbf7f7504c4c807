//! Conformance suites: Go's own race-detector tests under gorace.

use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::Subcommand;

#[derive(Subcommand, Clone, Copy)]
pub enum Suite {
    /// `go test runtime/race` under gorace: the 368 testdata cases plus output_test.go
    Race,
}

pub fn run(suite: Suite) -> Result<()> {
    match suite {
        Suite::Race => race(),
    }
}

/// The `Passed N of M tests (...)` line of runtime/race's TestRace.
pub fn passed_line(output: &str) -> Option<(u32, u32)> {
    let line = output.lines().find(|l| l.starts_with("Passed "))?;
    let mut words = line.split_whitespace();
    let n = words.nth(1)?.parse().ok()?;
    let m = words.nth(1)?.parse().ok()?;
    Some((n, m))
}

/// Runs runtime/race under gorace; fails unless the package passes whole.
pub fn race() -> Result<()> {
    let gorace = crate::gorace()?;
    let start = std::time::Instant::now();
    let out = Command::new(&gorace)
        .args(["test", "-count=1", "-v", "runtime/race"])
        .env_remove("GORACE")
        .output()
        .context("running gorace test runtime/race")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for l in text.lines() {
        if l.contains("FAILED") || l.starts_with("--- FAIL") || l.starts_with("    --- FAIL") {
            println!("{l}");
        }
    }
    let secs = start.elapsed().as_secs_f64();
    match passed_line(&text) {
        Some((n, m)) => println!("runtime/race testdata: passed {n} of {m} ({secs:.0}s)"),
        None => println!("runtime/race: no `Passed N of M` line ({secs:.0}s)"),
    }
    if !out.status.success() {
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("runtime/race failed under gorace:\n{}", tail.join("\n"));
    }
    println!("runtime/race: ok");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_the_summary() {
        let out = "RaceX .\n\nPassed 365 of 368 tests (99.18%, 3+, 0-)\n";
        assert_eq!(super::passed_line(out), Some((365, 368)));
        assert_eq!(super::passed_line("nothing"), None);
    }
}
