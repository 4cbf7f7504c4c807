//! `cargo xtask bench`: gorace against the stock race runtime, measured in one run.
//!
//! Every workload is built four ways: plain (no `-race`), stock `-race`, gorace, and
//! the *floor* (gorace-rt built with its `floor` feature: the instrumentation calls
//! land in a runtime that only performs atomics, the unavoidable cost of `-race`
//! code). Each build runs `--runs` times, the four variants interleaved, with
//! `GORACE=atexit_sleep_ms=0`; the table gives median wall time and median peak RSS,
//! gorace/stock ratios, and `(gorace - floor) / (stock - floor)` (the detectors' own
//! cost). The same numbers go to a JSON file. `--scaling` also runs the defer/recover
//! and short-goroutine workloads at 10x their size to check that gorace's memory
//! stays flat.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::{root, run};

#[derive(clap::Args, Clone)]
pub struct Opts {
    /// Runs of each build (interleaved across the four variants); medians are reported
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Only these workloads (comma-separated names)
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Also run the defer/recover and goroutine workloads at 10x size (memory flatness)
    #[arg(long)]
    scaling: bool,
    /// Where to write the JSON results
    #[arg(long, default_value = "target/bench.json")]
    json: PathBuf,
    /// Instead of timing: run each workload once under a runtime built with the
    /// `stats` feature and print its hot-path event counts
    #[arg(long)]
    stats: bool,
}

/// A benchmark program: a Go program under bench/workloads, or a standard-library test
/// suite (built with `go test -c`).
#[derive(Clone)]
struct Workload {
    name: &'static str,
    what: &'static str,
    source: Source,
    args: Vec<String>,
}

#[derive(Clone)]
enum Source {
    Program(&'static str),
    StdTest(&'static str),
}

fn workloads() -> Vec<Workload> {
    let p = |name, what, dir, args: &[&str]| Workload {
        name,
        what,
        source: Source::Program(dir),
        args: args.iter().map(|s| s.to_string()).collect(),
    };
    let t = |name, pkg| Workload {
        name,
        what: "standard-library test suite (-test.short)",
        source: Source::StdTest(pkg),
        args: vec!["-test.short".into(), "-test.count=1".into()],
    };
    vec![
        p(
            "trees",
            "pointer-heavy CPU work: build and walk trees",
            "trees",
            &[],
        ),
        p(
            "pipeline",
            "channel pipeline, 500K messages",
            "pipeline",
            &[],
        ),
        p("mutexmap", "contended mutex-protected map", "mutexmap", &[]),
        p("atomics", "atomic counters, 8 goroutines", "atomics", &[]),
        p(
            "goroutines",
            "1,000,000 short goroutines, 10,000 alive",
            "goroutines",
            &["1000000"],
        ),
        p(
            "copies",
            "large slice copies (range accesses)",
            "copies",
            &[],
        ),
        p(
            "deferrecover",
            "10,000,000 defer+recover rounds in one goroutine",
            "deferrecover",
            &["10000000"],
        ),
        p(
            "bigheap",
            "1 GiB live heap touched by 4 goroutines",
            "bigheap",
            &["1024"],
        ),
        t("encoding/json", "encoding/json"),
        t("compress/flate", "compress/flate"),
        t("strings", "strings"),
    ]
}

/// The four builds of every workload.
const VARIANTS: [&str; 4] = ["plain", "floor", "stock", "gorace"];

#[derive(Serialize, Clone, Copy, Default)]
struct Sample {
    secs: f64,
    rss_kb: u64,
}

#[derive(Serialize)]
struct Row {
    workload: String,
    what: String,
    /// Median per variant.
    median: BTreeMap<String, Sample>,
    /// Every run, per variant.
    runs: BTreeMap<String, Vec<Sample>>,
    time_ratio: f64,
    rss_ratio: f64,
    /// (gorace - floor) / (stock - floor), wall time.
    detector_time_ratio: f64,
}

#[derive(Serialize)]
struct Scaling {
    workload: String,
    small_args: Vec<String>,
    large_args: Vec<String>,
    gorace_rss_kb: (u64, u64),
    stock_rss_kb: (u64, u64),
    gorace_growth: f64,
}

#[derive(Serialize)]
struct Report {
    runs: usize,
    rows: Vec<Row>,
    time_ratio_geomean: f64,
    time_ratio_max: f64,
    rss_ratio_geomean: f64,
    rss_ratio_max: f64,
    scaling: Vec<Scaling>,
}

/// `go env GOROOT`.
pub fn go_root() -> Result<PathBuf> {
    let out = Command::new("go").args(["env", "GOROOT"]).output()?;
    if !out.status.success() {
        bail!("go env GOROOT failed");
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Builds gorace-rt with `feature` (`floor`, `stats`) into one localized object.
fn feature_object(feature: &str) -> Result<PathBuf> {
    let dir = root().join("target").join(feature);
    run(Command::new(env!("CARGO"))
        .current_dir(root())
        .args([
            "rustc",
            "--quiet",
            "-p",
            "gorace-rt",
            "--profile",
            "rt",
            "--features",
            feature,
        ])
        .args(["--crate-type", "staticlib", "--target-dir"])
        .arg(&dir)
        .args(["--", "--emit=obj", "-C", "force-unwind-tables=no"]))?;
    let obj = std::fs::read_dir(dir.join("rt/deps"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy();
            n.starts_with("gorace_rt-") && n.ends_with(".o")
        })
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .with_context(|| format!("cargo emitted no gorace_rt-*.o for {feature}"))?;
    let out = dir.join(format!("gorace_rt_{feature}.o"));
    run(Command::new("objcopy")
        .args([
            "--strip-debug",
            "--wildcard",
            "--keep-global-symbol=__tsan_*",
        ])
        .arg(&obj)
        .arg(&out))?;
    Ok(out)
}

/// The command that builds `w` as `variant` into `out`.
fn build_cmd(w: &Workload, variant: &str, out: &Path, gorace: &Path, object: &Path) -> Command {
    let bench = root().join("bench");
    let (mut cmd, race) = match variant {
        "plain" => (Command::new("go"), false),
        "stock" => (Command::new("go"), true),
        _ => (Command::new(gorace), false),
    };
    if variant == "floor" || variant == "stats" {
        cmd.env("GORACE_RUNTIME_OBJECT", object);
    }
    cmd.current_dir(&bench);
    match w.source {
        Source::Program(dir) => {
            cmd.arg("build");
            if race {
                cmd.arg("-race");
            }
            cmd.arg("-o").arg(out).arg(format!("./workloads/{dir}"));
        }
        Source::StdTest(pkg) => {
            cmd.arg("test");
            if race {
                cmd.arg("-race");
            }
            cmd.arg("-c").arg("-o").arg(out).arg(pkg);
        }
    }
    cmd
}

/// Runs a binary once: wall time and peak RSS (from `wait4`).
fn measure(bin: &Path, args: &[String], cwd: &Path) -> Result<Sample> {
    let start = Instant::now();
    let child = Command::new(bin)
        .args(args)
        .current_dir(cwd)
        .env("GORACE", "atexit_sleep_ms=0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("running {}", bin.display()))?;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; status and usage are valid out-pointers.
    let r = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let secs = start.elapsed().as_secs_f64();
    if r < 0 {
        bail!("wait4 failed for {}", bin.display());
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!(
            "{} {} failed (wait status {status})",
            bin.display(),
            args.join(" ")
        );
    }
    Ok(Sample {
        secs,
        rss_kb: usage.ru_maxrss as u64,
    })
}

fn median(v: &[Sample]) -> Sample {
    let mut t: Vec<f64> = v.iter().map(|s| s.secs).collect();
    let mut r: Vec<u64> = v.iter().map(|s| s.rss_kb).collect();
    t.sort_by(|a, b| a.total_cmp(b));
    r.sort();
    Sample {
        secs: t[t.len() / 2],
        rss_kb: r[r.len() / 2],
    }
}

fn geomean(v: &[f64]) -> f64 {
    (v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp()
}

pub fn bench(opts: Opts) -> Result<()> {
    let gorace = crate::gorace()?;
    let bin_dir = root().join("target/bench-bin");
    let selected: Vec<Workload> = workloads()
        .into_iter()
        .filter(|w| opts.only.is_empty() || opts.only.iter().any(|o| o == w.name))
        .collect();
    if selected.is_empty() {
        bail!("no workload matches --only {:?}", opts.only);
    }
    let bin = |w: &Workload, v: &str| bin_dir.join(v).join(w.name.replace('/', "_"));
    if opts.stats {
        return stats(&selected, &gorace, &bin);
    }
    println!("== building the floor runtime object");
    let floor = feature_object("floor")?;
    println!(
        "== building {} workloads x {} variants",
        selected.len(),
        VARIANTS.len()
    );
    for w in &selected {
        for v in VARIANTS {
            let out = bin(w, v);
            std::fs::create_dir_all(out.parent().expect("has a parent"))?;
            run(build_cmd(w, v, &out, &gorace, &floor).stdout(Stdio::null()))
                .with_context(|| format!("building {} ({v})", w.name))?;
        }
    }
    let tmp = std::env::temp_dir();
    let goroot = go_root()?;
    // Standard-library tests read their testdata relative to the package directory.
    let cwd = |w: &Workload| match w.source {
        Source::StdTest(pkg) => goroot.join("src").join(pkg),
        Source::Program(_) => tmp.clone(),
    };
    let mut rows = Vec::new();
    println!(
        "== running: {} runs each, interleaved, GORACE=atexit_sleep_ms=0\n",
        opts.runs
    );
    println!(
        "{:<15} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9} | {:>7} {:>7} {:>7} {:>7} {:>7}",
        "workload",
        "plain",
        "floor",
        "stock",
        "gorace",
        "g/s",
        "(g-f)/(s-f)",
        "plain",
        "floor",
        "stock",
        "gorace",
        "g/s"
    );
    println!(
        "{:<15} {:-^59} | {:-^39}",
        "", " median wall time (s) ", " median peak RSS (MB) "
    );
    for w in &selected {
        let mut runs: BTreeMap<String, Vec<Sample>> = BTreeMap::new();
        for _ in 0..opts.runs {
            for v in VARIANTS {
                let s = measure(&bin(w, v), &w.args, &cwd(w))?;
                runs.entry(v.to_string()).or_default().push(s);
            }
        }
        let m: BTreeMap<String, Sample> =
            runs.iter().map(|(k, v)| (k.clone(), median(v))).collect();
        let (f, s, g, p) = (m["floor"], m["stock"], m["gorace"], m["plain"]);
        let row = Row {
            workload: w.name.to_string(),
            what: w.what.to_string(),
            time_ratio: g.secs / s.secs,
            rss_ratio: g.rss_kb as f64 / s.rss_kb as f64,
            detector_time_ratio: (g.secs - f.secs) / (s.secs - f.secs),
            median: m.clone(),
            runs,
        };
        let mb = |x: Sample| x.rss_kb as f64 / 1024.0;
        println!(
            "{:<15} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>9.2} | {:>7.0} {:>7.0} {:>7.0} {:>7.0} {:>7.2}",
            w.name, p.secs, f.secs, s.secs, g.secs, row.time_ratio, row.detector_time_ratio,
            mb(p), mb(f), mb(s), mb(g), row.rss_ratio
        );
        rows.push(row);
    }
    let times: Vec<f64> = rows.iter().map(|r| r.time_ratio).collect();
    let rsss: Vec<f64> = rows.iter().map(|r| r.rss_ratio).collect();
    let max = |v: &[f64]| v.iter().cloned().fold(f64::MIN, f64::max);
    let report = Report {
        runs: opts.runs,
        time_ratio_geomean: geomean(&times),
        time_ratio_max: max(&times),
        rss_ratio_geomean: geomean(&rsss),
        rss_ratio_max: max(&rsss),
        scaling: if opts.scaling {
            scaling(&gorace, &bin_dir, &tmp)?
        } else {
            Vec::new()
        },
        rows,
    };
    println!(
        "\ngorace/stock wall time: geomean {:.2}, max {:.2}",
        report.time_ratio_geomean, report.time_ratio_max
    );
    println!(
        "gorace/stock peak RSS:  geomean {:.2}, max {:.2}",
        report.rss_ratio_geomean, report.rss_ratio_max
    );
    for s in &report.scaling {
        println!(
            "scaling {:<13} {} -> {}: gorace RSS {:.0} -> {:.0} MB ({:+.1}%), stock {:.0} -> {:.0} MB",
            s.workload,
            s.small_args.join(" "),
            s.large_args.join(" "),
            s.gorace_rss_kb.0 as f64 / 1024.0,
            s.gorace_rss_kb.1 as f64 / 1024.0,
            (s.gorace_growth - 1.0) * 100.0,
            s.stock_rss_kb.0 as f64 / 1024.0,
            s.stock_rss_kb.1 as f64 / 1024.0,
        );
    }
    let json = root().join(&opts.json);
    std::fs::write(&json, serde_json::to_string_pretty(&report)?)?;
    println!("results: {}", json.display());
    Ok(())
}

/// `--stats`: each workload once under the counting runtime, its counters printed.
fn stats(
    selected: &[Workload],
    gorace: &Path,
    bin: &dyn Fn(&Workload, &str) -> PathBuf,
) -> Result<()> {
    println!("== building the counting runtime object (feature stats)");
    let object = feature_object("stats")?;
    let goroot = go_root()?;
    for w in selected {
        let out = bin(w, "stats");
        std::fs::create_dir_all(out.parent().expect("has a parent"))?;
        run(build_cmd(w, "stats", &out, gorace, &object).stdout(Stdio::null()))
            .with_context(|| format!("building {} (stats)", w.name))?;
        let cwd = match w.source {
            Source::StdTest(pkg) => goroot.join("src").join(pkg),
            Source::Program(_) => std::env::temp_dir(),
        };
        let o = Command::new(&out)
            .args(&w.args)
            .current_dir(cwd)
            .env("GORACE", "atexit_sleep_ms=0")
            .output()
            .with_context(|| format!("running {}", out.display()))?;
        let err = String::from_utf8_lossy(&o.stderr);
        let line = err
            .lines()
            .rfind(|l| l.starts_with("gorace stats:"))
            .with_context(|| format!("{} printed no stats line", w.name))?;
        println!(
            "{:<15} {}",
            w.name,
            line.trim_start_matches("gorace stats:")
        );
    }
    Ok(())
}

/// Memory flatness: the defer/recover and goroutine workloads at their default size
/// and 10x (10 M goroutines take about 40 s per run, for either runtime).
fn scaling(_gorace: &Path, bin_dir: &Path, cwd: &Path) -> Result<Vec<Scaling>> {
    let cases = [
        ("deferrecover", ["1000000", "10000000"]),
        ("goroutines", ["1000000", "10000000"]),
    ];
    let mut out = Vec::new();
    for (name, [small, large]) in cases {
        let rss = |variant: &str, arg: &str| -> Result<u64> {
            let bin = bin_dir.join(variant).join(name);
            let samples: Vec<Sample> = (0..3)
                .map(|_| measure(&bin, &[arg.to_string()], cwd))
                .collect::<Result<_>>()?;
            Ok(median(&samples).rss_kb)
        };
        let g = (rss("gorace", small)?, rss("gorace", large)?);
        let s = (rss("stock", small)?, rss("stock", large)?);
        out.push(Scaling {
            workload: name.to_string(),
            small_args: vec![small.to_string()],
            large_args: vec![large.to_string()],
            gorace_rss_kb: g,
            stock_rss_kb: s,
            gorace_growth: g.1 as f64 / g.0 as f64,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_geomeans() {
        let s = |secs, rss_kb| Sample { secs, rss_kb };
        let m = median(&[s(3.0, 10), s(1.0, 30), s(2.0, 20)]);
        assert_eq!((m.secs, m.rss_kb), (2.0, 20));
        assert!((geomean(&[1.0, 4.0]) - 2.0).abs() < 1e-12);
    }

    #[test]
    fn every_workload_has_a_source() {
        for w in workloads() {
            if let Source::Program(dir) = w.source {
                assert!(
                    root()
                        .join("bench/workloads")
                        .join(dir)
                        .join("main.go")
                        .is_file(),
                    "{dir}"
                );
            }
        }
    }
}
