//! Property tests: the engine against the reference model on random event streams.
//! What each run checks, and why it is sound, is in [`super::harness`].

use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;
use proptest::strategy::{Union, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use super::harness::{Op, Sim, SimConfig, Stats, SyncOp};
use crate::detector::AtomicOp;

/// Relative frequencies of the kinds of events in a stream.
#[derive(Clone, Copy)]
struct Mix {
    /// Scalar access sizes 1, 2, 4, 8 (aligned), and unaligned anything.
    sizes: [u32; 4],
    odd: u32,
    access: u32,
    range: u32,
    atomic: u32,
    sync: u32,
    ignore: u32,
    func: u32,
    go: u32,
    runtime_go: u32,
    end: u32,
    malloc: u32,
    free: u32,
    global: u32,
}

/// A goroutine selector (index into the live goroutines, modulo their number).
fn who() -> impl Strategy<Value = u16> {
    0u16..16
}

/// `(offset, len)` in a granule: naturally aligned 1, 2, 4 or 8 bytes (as compiled
/// Go code accesses scalars) with relative frequencies `sizes`, or anything, with
/// frequency `odd`.
fn off_len(sizes: [u32; 4], odd: u32) -> impl Strategy<Value = (u8, u8)> {
    let aligned = |log: u8| {
        let s = 1u8 << log;
        (0..8 / s).prop_map(move |k| (k * s, s)).boxed()
    };
    let mut all: Vec<(u32, BoxedStrategy<(u8, u8)>)> =
        (0..4).map(|l| (sizes[l as usize], aligned(l))).collect();
    all.push((odd, (0u8..8, 1u8..=8).boxed()));
    Union::new_weighted(all.into_iter().filter(|(w, _)| *w > 0).collect())
}

fn arb_op(m: Mix) -> impl Strategy<Value = Op> {
    let atomic_op = prop_oneof![
        Just(AtomicOp::Load),
        Just(AtomicOp::Store),
        Just(AtomicOp::ReadModifyWrite),
        Just(AtomicOp::CompareAndSwap),
    ];
    let sync_op = prop_oneof![
        3 => Just(SyncOp::Acquire),
        3 => Just(SyncOp::Release),
        1 => Just(SyncOp::ReleaseMerge),
        1 => Just(SyncOp::ReleaseAcquire),
        1 => Just(SyncOp::AcquireRelease),
    ];
    let all: Vec<(u32, BoxedStrategy<Op>)> = vec![
        (
            m.access,
            (who(), 0u8..8, off_len(m.sizes, m.odd), any::<bool>())
                .prop_map(|(g, granule, (off, len), write)| Op::Access {
                    g,
                    granule,
                    off,
                    len,
                    write,
                })
                .boxed(),
        ),
        (
            m.range,
            (who(), 0u16..64, 1u16..40, any::<bool>())
                .prop_map(|(g, start, size, write)| Op::Range {
                    g,
                    start,
                    size,
                    write,
                })
                .boxed(),
        ),
        (
            m.atomic,
            (who(), 0u8..8, 0u8..8, 0u8..4, atomic_op, any::<bool>())
                .prop_map(|(g, granule, off, log_size, op, cas_ok)| Op::Atomic {
                    g,
                    granule,
                    off,
                    log_size,
                    op,
                    cas_ok,
                })
                .boxed(),
        ),
        (
            m.sync,
            (who(), 0u8..8, sync_op)
                .prop_map(|(g, addr, op)| Op::Sync { g, addr, op })
                .boxed(),
        ),
        (m.ignore, who().prop_map(|g| Op::IgnoreBegin { g }).boxed()),
        (m.ignore, who().prop_map(|g| Op::IgnoreEnd { g }).boxed()),
        (m.func, who().prop_map(|g| Op::FuncEnter { g }).boxed()),
        (m.func, who().prop_map(|g| Op::FuncExit { g }).boxed()),
        (
            m.go,
            who()
                .prop_map(|parent| Op::Go {
                    parent,
                    runtime: false,
                })
                .boxed(),
        ),
        (
            m.runtime_go,
            who()
                .prop_map(|parent| Op::Go {
                    parent,
                    runtime: true,
                })
                .boxed(),
        ),
        (m.end, who().prop_map(|g| Op::End { g }).boxed()),
        (
            m.malloc,
            (0u8..8, 1u8..4)
                .prop_map(|(granule, n)| Op::Malloc { granule, n })
                .boxed(),
        ),
        (
            m.free,
            (0u8..8, 1u8..4)
                .prop_map(|(granule, n)| Op::Free { granule, n })
                .boxed(),
        ),
        (
            m.global,
            who().prop_map(|g| Op::AcquireGlobal { g }).boxed(),
        ),
    ];
    Union::new_weighted(all.into_iter().filter(|(w, _)| *w > 0).collect())
}

/// A generator profile: where events land and how often each kind occurs.
#[derive(Clone)]
struct Profile {
    cfg: SimConfig,
    mix: Mix,
    len: core::ops::Range<usize>,
}

/// Few goroutines (at most 4 alive, a few dozen in all), a few granules: races are
/// frequent and the false-negative check applies almost everywhere.
fn small() -> Profile {
    Profile {
        cfg: SimConfig {
            data_granules: 3,
            // Two inside the data granules (atomics there synchronise too), three in
            // granules only sync operations, malloc and free touch.
            sync_addrs: vec![0, 4, 12, 24, 36],
            max_live: 4,
        },
        mix: Mix {
            // Mostly whole words: fewer evictions, so nearly every access is compared.
            sizes: [1, 1, 3, 6],
            odd: 0,
            access: 30,
            range: 5,
            atomic: 10,
            sync: 15,
            ignore: 2,
            func: 2,
            go: 6,
            runtime_go: 1,
            end: 4,
            malloc: 5,
            free: 2,
            global: 0,
        },
        len: 1..150,
    }
}

/// More goroutines and addresses, longer ranges, and finalizer-style global acquires.
fn wide() -> Profile {
    Profile {
        cfg: SimConfig {
            data_granules: 6,
            sync_addrs: vec![0, 8, 12, 40, 48, 52, 60],
            max_live: 8,
        },
        mix: Mix {
            sizes: [1, 1, 1, 1],
            odd: 1,
            access: 30,
            range: 8,
            atomic: 10,
            sync: 15,
            ignore: 2,
            func: 3,
            go: 6,
            runtime_go: 1,
            end: 4,
            malloc: 3,
            free: 2,
            global: 1,
        },
        len: 1..300,
    }
}

/// Hundreds to thousands of short-lived goroutines, few alive at once: slots are
/// reused, safely and (past 256 goroutines) unsafely.
fn churn() -> Profile {
    Profile {
        cfg: SimConfig {
            data_granules: 4,
            sync_addrs: vec![0, 8, 12, 36],
            max_live: 6,
        },
        mix: Mix {
            sizes: [1, 1, 2, 4],
            odd: 0,
            access: 20,
            range: 3,
            atomic: 6,
            sync: 12,
            ignore: 1,
            func: 1,
            go: 20,
            runtime_go: 1,
            end: 20,
            malloc: 8,
            free: 2,
            global: 0,
        },
        len: 1500..6000,
    }
}

fn stream(p: &Profile) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(arb_op(p.mix), p.len.clone())
}

fn check(p: &Profile, ops: &[Op]) -> Result<(), TestCaseError> {
    Sim::run(p.cfg.clone(), ops)
        .map(|_| ())
        .map_err(TestCaseError::fail)
}

/// Proptest's default generator (ChaCha) dominates the run time of unoptimised test
/// builds; XorShift is plenty for generating streams. `PROPTEST_CASES` overrides the
/// number of cases (for long soak runs).
fn config(cases: u32) -> Config {
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(cases),
        rng_algorithm: RngAlgorithm::XorShift,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// (a) No false positives and exact report contents, and (b) no false negatives
    /// wherever the engine is precise, on small streams.
    #[test]
    fn engine_matches_model_on_small_streams(ops in stream(&small())) {
        check(&small(), &ops)?;
    }

    /// The same on wider streams (more goroutines, longer ranges, global acquires).
    #[test]
    fn engine_matches_model_on_wide_streams(ops in stream(&wide())) {
        check(&wide(), &ops)?;
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// (c) Slot reuse: hundreds to thousands of goroutines in all, few alive at once,
    /// every slot used in most runs. No false positives ever. Once more than 256
    /// goroutines exist, an access is compared with the model when every goroutine
    /// that accessed its granules (since they were last allocated) is still alive: in
    /// particular, races between goroutines whose lifetimes overlap are all found.
    #[test]
    fn engine_matches_model_with_slot_reuse(ops in stream(&churn())) {
        check(&churn(), &ops)?;
    }
}

/// Runs `n` streams of a profile from a fixed seed and adds up their statistics.
fn sample(p: &Profile, n: usize) -> Stats {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(RngAlgorithm::XorShift),
    );
    let strategy = stream(p);
    let mut total = Stats::default();
    for _ in 0..n {
        let ops = strategy.new_tree(&mut runner).expect("generate").current();
        match Sim::run(p.cfg.clone(), &ops) {
            Ok(s) => total.add(&s),
            Err(e) => panic!("{e}\nops: {ops:?}"),
        }
    }
    total
}

/// The generators exercise what the properties are about: races are frequent, most
/// accesses are compared against the model, evictions happen but rarely, and under
/// unsafe slot reuse races are still compared.
#[test]
fn generators_exercise_the_interesting_cases() {
    let s = sample(&small(), 64);
    std::eprintln!("small: {s:?}");
    assert!(s.reports * 8 > s.accesses, "races are frequent: {s:?}");
    assert!(
        s.checked * 10 > s.accesses * 8,
        "most accesses are compared: {s:?}"
    );
    assert!(s.evictions > 0, "{s:?}");
    assert!(
        s.checked_races * 10 > s.checked,
        "many compared accesses race: {s:?}"
    );
    assert!(s.goroutines > 64 * 4, "goroutines come and go: {s:?}");

    let w = sample(&wide(), 32);
    std::eprintln!("wide: {w:?}");
    assert!(w.evictions > 0 && w.after_global > 0, "{w:?}");
    assert!(w.checked * 5 > w.accesses * 2, "{w:?}");

    let c = sample(&churn(), 4);
    std::eprintln!("churn: {c:?}");
    assert!(c.goroutines > 4 * 300, "more goroutines than slots: {c:?}");
    assert!(c.slots_exhausted >= 3, "every slot used: {c:?}");
    assert!(
        c.checked_races_after_reuse > 100,
        "races compared after slot reuse: {c:?}"
    );
    assert!(c.unchecked_dead > 0, "{c:?}");
}
