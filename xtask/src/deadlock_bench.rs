//! `cargo xtask deadlocks`: the GoKer kernels under gorace with `detect_deadlocks=1`.
//!
//! `$GOROOT/src/runtime/testdata/testgoroutineleakprofile/goker` holds 63 kernels of
//! real concurrency bugs; its README classifies each (Resource: AB-BA, double
//! locking, RWR...; Communication: channels, condition variables; Mixed). This task
//! builds the kernels' program with gorace, runs each kernel `--runs` times, and counts
//! the kernels for which gorace printed a deadlock report, per class and sub-type.
//! Resource deadlocks are what lock-order prediction is for; communication deadlocks
//! involve no lock cycle (go-deadlock: 23 of 23 resource, 0 of 29 communication).

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::leak_bench::{build, run_split};

#[derive(clap::Args)]
pub struct Opts {
    /// Runs of every kernel (a kernel counts as reported if any run reports)
    #[arg(long, default_value_t = 2)]
    runs: usize,
    /// GOROOT whose kernels to run (default: `go env GOROOT`; Go 1.27 or later)
    #[arg(long)]
    goroot: Option<std::path::PathBuf>,
    /// Fail unless gorace reports at least this many Resource kernels
    #[arg(long)]
    min_resource: Option<usize>,
}

impl Opts {
    /// What CI runs.
    pub fn ci() -> Opts {
        Opts {
            runs: 2,
            goroot: None,
            min_resource: Some(20),
        }
    }
}

/// One kernel: its registered name and the README's class and sub-type.
struct Kernel {
    name: String,
    class: String,
    subtype: String,
}

/// The README's `## Project/1234` sections with their `| Type | Sub-type |` rows;
/// the registered name is `Project1234`.
fn kernels(readme: &str) -> Vec<Kernel> {
    let mut out = Vec::new();
    let mut name = None;
    for l in readme.lines() {
        if let Some(h) = l.strip_prefix("## ") {
            name = Some(h.trim().replace('/', ""));
        } else if l.starts_with("|[") {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            if let (Some(n), Some(class), Some(sub)) = (name.take(), cells.get(4), cells.get(5)) {
                out.push(Kernel {
                    name: n,
                    class: class.to_string(),
                    subtype: sub.to_lowercase(),
                });
            }
        }
    }
    out
}

/// The titles of gorace's deadlock reports in `stderr`.
fn reports(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("WARNING: "))
        .filter(|t| {
            t.starts_with("POTENTIAL DEADLOCK")
                || *t == "DOUBLE LOCK"
                || *t == "RECURSIVE READ LOCK"
        })
        .map(String::from)
        .collect()
}

pub fn run(opts: Opts) -> Result<()> {
    let goroot = match opts.goroot {
        Some(g) => g,
        None => crate::bench::go_root()?,
    };
    let dir = goroot.join("src/runtime/testdata/testgoroutineleakprofile/goker");
    let readme = std::fs::read_to_string(dir.join("README.md")).with_context(|| {
        format!(
            "reading {}/README.md (Go 1.27 or later has it)",
            dir.display()
        )
    })?;
    let kernels = kernels(&readme);
    if kernels.is_empty() {
        bail!("no kernels in {}/README.md", dir.display());
    }
    let gorace = crate::gorace()?;
    let work = crate::root().join("target/deadlockbench");
    let exe = work.join("goker");
    println!("== building the GoKer kernels with gorace");
    build(&gorace, &dir, &work.join("src"), &exe)?;
    println!(
        "== {} kernels x {} runs, GORACE=detect_deadlocks=1",
        kernels.len(),
        opts.runs
    );
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Vec<String>)>> = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(k) = kernels.get(i) else { break };
                let mut titles = Vec::new();
                for _ in 0..opts.runs {
                    let mut cmd = Command::new(&exe);
                    cmd.arg(&k.name)
                        .env("GODEBUG", "asyncpreemptoff=1")
                        .env("GORACE", "detect_deadlocks=1 atexit_sleep_ms=0");
                    if let Ok((_, err, _)) = run_split(&mut cmd, Duration::from_secs(60)) {
                        titles.extend(reports(&err));
                    }
                }
                titles.sort();
                titles.dedup();
                results.lock().expect("no worker panics").push((i, titles));
            });
        }
    });
    let mut results = results.into_inner().expect("no worker panics");
    results.sort_by_key(|r| r.0);

    // class -> (reported, present); sub-type rows likewise.
    let mut by_class: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut by_sub: BTreeMap<(&str, &str), (usize, usize)> = BTreeMap::new();
    println!("{:<18} {:<14} {:<30} gorace", "kernel", "class", "sub-type");
    for (i, titles) in &results {
        let k = &kernels[*i];
        let hit = !titles.is_empty();
        for e in [
            by_class.entry(&k.class).or_default(),
            by_sub.entry((&k.class, &k.subtype)).or_default(),
        ] {
            e.0 += hit as usize;
            e.1 += 1;
        }
        println!(
            "{:<18} {:<14} {:<30} {}",
            k.name,
            k.class,
            k.subtype,
            if hit { titles.join(", ") } else { "-".into() }
        );
    }
    println!();
    for ((class, sub), (hit, n)) in &by_sub {
        println!("{class:<14} {sub:<30} {hit}/{n}");
    }
    for (class, (hit, n)) in &by_class {
        println!("reported: {class} {hit} of {n}");
    }
    println!("({:.0} s)", started.elapsed().as_secs_f64());
    if let Some(min) = opts.min_resource {
        let hit = by_class.get("Resource").map_or(0, |r| r.0);
        if hit < min {
            bail!("gorace reported {hit} Resource kernels, fewer than {min}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_come_from_the_readme_tables() {
        let readme = "## Cockroach/10214\n\n| Bug ID |  Ref | Patch | Type | Sub-type |\n\
                      | ---- | ---- | ---- | ---- | ---- |\n\
                      |[cockroach#10214]|[pull request]|[patch]| Resource | AB-BA leak |\n\n\
                      ## Grpc/660\n|[grpc#660]|[pull request]|[patch]| Communication | Channel |\n";
        let k = kernels(readme);
        assert_eq!(k.len(), 2);
        assert_eq!(
            (k[0].name.as_str(), k[0].class.as_str()),
            ("Cockroach10214", "Resource")
        );
        assert_eq!(k[0].subtype, "ab-ba leak");
        assert_eq!(k[1].name, "Grpc660");
        let err = "==================\nWARNING: DOUBLE LOCK\nMutex ...\n\
                   WARNING: DATA RACE\nWARNING: POTENTIAL DEADLOCK (lock order inversion)\n";
        assert_eq!(
            reports(err),
            ["DOUBLE LOCK", "POTENTIAL DEADLOCK (lock order inversion)"]
        );
    }
}
