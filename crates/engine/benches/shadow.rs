//! Micro-benchmarks of the per-granule check (`shadow::check_and_store`) on the access
//! patterns that dominate the workloads of `cargo xtask bench`: run with
//! `cargo bench -p gorace-engine`. With `SHADOW_BENCH_ITERS=N` set, each pattern runs
//! N times outside criterion instead (those named as arguments, else all), for instruction counts under
//! `valgrind --tool=cachegrind` (wall time on a shared machine is too noisy to compare
//! small changes).

use core::sync::atomic::AtomicU64;

use criterion::{criterion_group, criterion_main, Criterion};
use gorace_engine::cell::{Cell, Kind};
use gorace_engine::clock::ThreadClock;
use gorace_engine::shadow::{self, Granule, Outcome, OVERFLOW};

/// One granule's shadow: primary pair, its block's overflow cells, secondary pair.
#[derive(Default)]
struct Mem {
    primary: [AtomicU64; 2],
    overflow: [AtomicU64; OVERFLOW],
    secondary: [AtomicU64; 2],
}

impl Mem {
    fn granule(&self) -> Granule<'_> {
        Granule {
            primary: &self.primary,
            overflow: &self.overflow,
            index: 0,
            secondary: &self.secondary,
        }
    }

    /// The fast path, then the check: what `Detector::access` does.
    fn access(&self, clock: &ThreadClock, cur: Cell) -> Outcome {
        let g = self.granule();
        if shadow::known(g, cur) {
            return Outcome::Known;
        }
        shadow::check_and_store(g.primary, || self.granule(), clock, cur, || 7)
    }
}

/// `readers` goroutines (slots 1..) each read a word that slot 0 wrote before
/// creating them, every read in a new epoch (a release in between): a loop bound or a
/// configuration value read in a loop that also synchronises. The granule spills.
fn read_shared(readers: u16) -> impl FnMut() {
    let mem = Mem::default();
    let mut clocks: Vec<ThreadClock> = (0..=readers)
        .map(|s| {
            let mut t = ThreadClock::new();
            t.set(0, 1);
            t.set(s, 1);
            t
        })
        .collect();
    let w = Cell::new(Cell::stamp(0, 1), 0, 8, Kind::Write);
    assert_eq!(mem.access(&clocks[0], w), Outcome::Stored);
    let mut r = 1;
    move || {
        let clock = &mut clocks[r as usize];
        let e = clock.get(r) + 1;
        clock.set(r, e);
        let cur = Cell::new(Cell::stamp(r, e), 0, 8, Kind::Read);
        let out = mem.access(clock, cur);
        assert!(!matches!(out, Outcome::Race(_)));
        r = r % readers + 1;
    }
}

/// One goroutine's atomic counter, incremented then loaded, every operation in a new
/// epoch: two cells (atomic write, atomic read) replaced in turn.
fn private_atomic() -> impl FnMut() {
    let mem = Mem::default();
    let mut clock = ThreadClock::new();
    let mut e = 1;
    move || {
        for kind in [Kind::AtomicWrite, Kind::AtomicRead] {
            e += 1;
            clock.set(3, e);
            let cur = Cell::new(Cell::stamp(3, e), 0, 8, kind);
            assert!(!matches!(mem.access(&clock, cur), Outcome::Race(_)));
        }
    }
}

/// A named access pattern: each call makes one step of it.
type Pattern = (&'static str, Box<dyn FnMut()>);

fn patterns() -> Vec<Pattern> {
    vec![
        ("read_shared_2", Box::new(read_shared(2))),
        ("read_shared_8", Box::new(read_shared(8))),
        ("private_atomic", Box::new(private_atomic())),
    ]
}

fn benches(c: &mut Criterion) {
    if let Some(n) = std::env::var("SHADOW_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        // The patterns named on the command line (all without a name).
        let only: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with('-'))
            .collect();
        for (name, mut f) in patterns() {
            if !only.is_empty() && !only.iter().any(|o| o == name) {
                continue;
            }
            for _ in 0..n {
                f();
            }
            println!("{name}: {n} iterations");
        }
        return;
    }
    for (name, mut f) in patterns() {
        c.bench_function(name, |b| b.iter(&mut f));
    }
}

criterion_group!(shadow_benches, benches);
criterion_main!(shadow_benches);
