//! End-to-end tests of deadlock prediction (`GORACE=detect_deadlocks=1`, `gorace run
//! --deadlocks`): lock-order inversions that never deadlock in the run, a three-lock
//! cycle, consistent ordering, readers, locks handed between goroutines, TryLock,
//! recursive read locks and double locks (deadlocks/locks.go).
//!
//! These are gorace's own reports (the stock runtime has none); needs `go` on PATH.

mod common;

use common::*;

const LOCKS: &str = "deadlocks/locks.go";

fn run_locks(flag: Option<&str>, mode: &str, options: &str) -> Outcome {
    gorace_run_args(flag, LOCKS, &[mode], options)
}

/// Asserts `n` deadlock reports with the `Found` line, exit status 66 and no race.
fn assert_deadlocks(out: &Outcome, n: usize) -> Vec<DeadlockReport> {
    let reports = parse_deadlocks(&out.stderr);
    assert_eq!(reports.len(), n, "expected {n} deadlock report(s):\n{out}");
    assert_eq!(found_deadlocks(&out.stderr), Some(n as u32), "{out}");
    assert!(out.reports().is_empty(), "no race here:\n{out}");
    out.assert_go_run_exit_status(66);
    reports
}

/// Asserts a run with nothing on stderr (but the leak hint) and exit 0.
fn assert_quiet(out: &Outcome) {
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stderr
            .lines()
            .all(|l| l.trim().is_empty() || is_leak_hint(l)),
        "expected no report:\n{out}"
    );
}

/// Whether some stack of `r` has the frames `specs` consecutively (innermost first).
fn has_stack(r: &DeadlockReport, specs: &[FrameSpec]) -> bool {
    r.stacks.iter().any(|(_, frames)| {
        frames
            .windows(specs.len())
            .any(|w| w.iter().zip(specs).all(|(f, s)| s.matches(f)))
    })
}

#[test]
fn two_lock_inversion_is_reported_though_the_run_never_deadlocks() {
    let src = Source::load(LOCKS);
    let out = run_locks(None, "inversion", "detect_deadlocks=1");
    assert_eq!(out.stdout, "11 9\n", "the program ran to its end:\n{out}");
    let r = &assert_deadlocks(&out, 1)[0];
    assert_eq!(r.title, "POTENTIAL DEADLOCK (lock order inversion)");
    let cycle = r.cycle.as_deref().expect("a Cycle: line");
    let locks: Vec<&str> = cycle.split(" → ").collect();
    assert_eq!(locks.len(), 3, "{cycle}");
    assert_eq!(locks[0], locks[2], "a cycle ends where it starts: {cycle}");
    assert!(locks.iter().all(|l| l.starts_with("mutex 0x")), "{cycle}");
    // Each edge: where the second lock was requested, and where the first was taken.
    assert_eq!(r.stacks.len(), 4, "{}", r.text);
    for (spawn, tag) in [
        ("main.inversion.func1", "inversion-ab"),
        ("main.inversion.func2", "inversion-ba"),
    ] {
        for lock_line in ["transfer-first", "transfer-second"] {
            assert!(
                has_stack(
                    r,
                    &[
                        func("sync.(*Mutex).Lock"),
                        src.at("main.transfer", lock_line),
                        src.at(spawn, tag)
                    ]
                ),
                "no stack through {spawn} at {lock_line}:\n{}",
                r.text
            );
        }
    }
    let gids: Vec<&str> = r
        .stacks
        .iter()
        .filter_map(|(h, _)| h.split(" by goroutine ").nth(1))
        .collect();
    assert_eq!(gids.len(), 2, "{}", r.text);
    assert_ne!(gids[0], gids[1], "two goroutines:\n{}", r.text);
}

#[test]
fn three_lock_cycle_across_three_goroutines() {
    let out = run_locks(None, "cycle3", "detect_deadlocks=1");
    let r = &assert_deadlocks(&out, 1)[0];
    let cycle = r.cycle.as_deref().expect("a Cycle: line");
    assert_eq!(cycle.split(" → ").count(), 4, "three locks around: {cycle}");
    assert_eq!(r.stacks.len(), 6, "{}", r.text);
    let mut gids: Vec<&str> = r
        .stacks
        .iter()
        .filter_map(|(h, _)| h.split(" by goroutine ").nth(1))
        .collect();
    gids.sort_unstable();
    gids.dedup();
    assert_eq!(gids.len(), 3, "{}", r.text);
}

#[test]
fn consistent_order_readers_and_handed_over_locks_report_nothing() {
    for mode in ["consistent", "readers", "handoff"] {
        assert_quiet(&run_locks(None, mode, "detect_deadlocks=1"));
    }
}

#[test]
fn recursive_read_lock_is_reported() {
    let src = Source::load(LOCKS);
    let out = run_locks(None, "recursive", "detect_deadlocks=1");
    assert_eq!(out.stdout, "3\n", "{out}");
    let r = &assert_deadlocks(&out, 1)[0];
    assert_eq!(r.title, "RECURSIVE READ LOCK");
    assert!(
        r.text.contains("by main goroutine, which already holds it"),
        "{}",
        r.text
    );
    let (again, held) = (&r.stacks[0].1, &r.stacks[1].1);
    let at = |frames: &[Frame], spec: &FrameSpec| frames.iter().any(|f| spec.matches(f));
    assert!(
        at(again, &src.at("main.(*cache).get", "get-rlock")),
        "{}",
        r.text
    );
    assert!(
        at(again, &src.at("main.(*cache).sum", "sum-get")),
        "{}",
        r.text
    );
    assert!(
        at(held, &src.at("main.(*cache).sum", "sum-rlock")),
        "{}",
        r.text
    );
    assert_eq!(held[0].func, "sync.(*RWMutex).RLock", "{}", r.text);
}

#[test]
fn double_lock_is_reported_before_the_goroutine_hangs() {
    let src = Source::load(LOCKS);
    let out = run_locks(None, "double", "detect_deadlocks=1");
    let r = &assert_deadlocks(&out, 1)[0];
    assert_eq!(r.title, "DOUBLE LOCK");
    assert!(r.stacks[0].0.starts_with("Mutex 0x"), "{}", r.text);
    assert!(
        r.stacks[0]
            .1
            .iter()
            .any(|f| src.at("main.double.func1", "double-second").matches(f)),
        "{}",
        r.text
    );
    assert!(
        r.stacks[1]
            .1
            .iter()
            .any(|f| src.at("main.double.func1", "double-first").matches(f)),
        "{}",
        r.text
    );
}

#[test]
fn a_successful_trylock_orders_later_locks_after_it() {
    let src = Source::load(LOCKS);
    let out = run_locks(None, "trylock", "detect_deadlocks=1");
    let r = &assert_deadlocks(&out, 1)[0];
    assert!(
        has_stack(
            r,
            &[
                func("sync.(*Mutex).TryLock"),
                src.at("main.trylock", "trylock")
            ]
        ),
        "the TryLock's stack:\n{}",
        r.text
    );
}

#[test]
fn gorace_run_deadlocks_flag_and_the_default_off() {
    let out = run_locks(Some("--deadlocks"), "inversion", "");
    assert_deadlocks(&out, 1);
    assert_quiet(&run_locks(None, "inversion", ""));
}

#[test]
fn hang_watchdog_prints_every_goroutine_and_its_locks_then_exits() {
    let src = Source::load(LOCKS);
    let out = run_locks(None, "hang", "deadlock_watchdog_s=1");
    out.assert_go_run_exit_status(66);
    // The inversion is reported when the second goroutine requests its second lock...
    let inversion = parse_deadlocks(&out.stderr);
    assert_eq!(inversion.len(), 1, "{out}");
    // ...and the hang after a second without progress.
    let text = &out.stderr;
    let hang = text
        .find("WARNING: DEADLOCK (no goroutine has made progress for 1s)")
        .map(|i| &text[i..])
        .unwrap_or_else(|| panic!("no watchdog report:\n{out}"));
    // Go's wait reason, for the Go release the program was built with.
    assert!(
        hang.contains("\nMain goroutine (blocked in sync.WaitGroup.Wait since "),
        "{out}"
    );
    for (first, second) in [("hang-a", "hang-ab"), ("hang-b", "hang-ba")] {
        for tag in [first, second] {
            let at = format!("locks.go:{} ", src.line(tag));
            assert!(hang.contains(&at), "no held lock at {tag} ({at}):\n{out}");
        }
    }
    assert_eq!(
        hang.matches("Holds (or waits for) mutex 0x").count(),
        4,
        "two locks each, held and requested:\n{out}"
    );
    assert!(out.stdout.is_empty(), "{out}");
}

#[test]
fn hang_watchdog_sees_a_channel_only_hang() {
    let src = Source::load(LOCKS);
    let out = run_locks(None, "chanhang", "deadlock_watchdog_s=1");
    out.assert_go_run_exit_status(66);
    let text = &out.stderr;
    let hang = text
        .find("WARNING: DEADLOCK (no goroutine has made progress for 1s)")
        .map(|i| &text[i..])
        .unwrap_or_else(|| panic!("no watchdog report:\n{out}"));
    for what in [
        "Main goroutine (blocked in chan receive since ",
        "(blocked in select since ",
    ] {
        assert!(hang.contains(what), "no {what:?}:\n{out}");
    }
    assert_eq!(
        hang.matches("(blocked in chan receive since ").count(),
        2,
        "main and the worker wait for a value:\n{out}"
    );
    assert!(
        !hang.contains("Holds (or waits for)"),
        "no lock here:\n{out}"
    );
    // Blocked since about the watchdog's limit (not since the machine booted).
    let since: Vec<f64> = hang
        .split(" since ")
        .skip(1)
        .map(|rest| rest.split('s').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(since.len(), 3, "{out}");
    assert!(
        since.iter().all(|&s| (1.0..30.0).contains(&s)),
        "{since:?}:\n{out}"
    );
    // The worker and the collector made no synchronising step: their creation says
    // which they are.
    for tag in ["chanhang-worker", "chanhang-collector"] {
        let at = format!("locks.go:{} ", src.line(tag));
        assert!(hang.contains(&at), "no {tag} ({at}):\n{out}");
    }
}

#[test]
fn the_watchdog_leaves_a_program_that_ends_alone() {
    let out = run_locks(None, "inversion", "deadlock_watchdog_s=1");
    assert_deadlocks(&out, 1);
    assert!(!out.stderr.contains("WARNING: DEADLOCK ("), "{out}");
    assert_quiet(&run_locks(None, "consistent", "deadlock_watchdog_s=1"));
    // Idle for longer than the watchdog's limit, no lock waited for: not a hang.
    let idle = run_locks(None, "idle", "deadlock_watchdog_s=1");
    assert_quiet(&idle);
    assert_eq!(idle.stdout, "idled\n", "{idle}");
    // Waiting for a signal for longer than the limit (everything else parked on a
    // channel): os/signal's goroutine is in a system call, so not a hang.
    let signalled = run_locks(None, "signalwait", "deadlock_watchdog_s=1");
    assert_quiet(&signalled);
    assert_eq!(signalled.stdout, "signalled\n", "{signalled}");
}
