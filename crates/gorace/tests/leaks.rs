//! End-to-end tests of goroutine leak detection (`GORACE=detect_leaks=1`, `gorace run
//! --leaks`, `gorace test --leaks`): the leak patterns of the seed documents and their
//! fixed versions (leaks/patterns.go), goroutines that end during the grace period,
//! system goroutines, `leak_ignore`, the hint line without the switch, and parallel
//! subtests each blamed for their own leak (leaks/gotest).
//!
//! These are gorace's own reports (the stock runtime has none); needs `go` on PATH.

mod common;

use common::*;

const PATTERNS: &str = "leaks/patterns.go";

fn run_patterns(flag: Option<&str>, args: &[&str], options: &str) -> Outcome {
    gorace_run_args(flag, PATTERNS, args, options)
}

/// Asserts the user-visible facts of a run that leaked `n` goroutines in `groups`
/// reports: the reports, the `Found N goroutine leak(s)` line, the program's exit
/// status 66, and no race report. Returns the reports.
fn assert_leaks(out: &Outcome, groups: usize, n: u32) -> Vec<LeakReport> {
    let leaks = parse_leaks(&out.stderr);
    assert_eq!(
        leaks.len(),
        groups,
        "expected {groups} leak report(s):\n{out}"
    );
    assert_eq!(
        leaks.iter().map(|l| l.count).sum::<u32>(),
        n,
        "goroutines leaked:\n{out}"
    );
    assert_eq!(found_leaks(&out.stderr), Some(n), "the Found line:\n{out}");
    assert!(out.reports().is_empty(), "no race here:\n{out}");
    out.assert_go_run_exit_status(66);
    leaks
}

/// Asserts a run without leak report, hint or race: exit 0, nothing on stderr.
fn assert_no_leaks(out: &Outcome) {
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stderr.trim().is_empty(),
        "expected nothing on stderr:\n{out}"
    );
}

#[test]
fn premature_return_leaves_the_sender_blocked_on_an_unbuffered_channel() {
    let src = Source::load(PATTERNS);
    let out = run_patterns(None, &["early"], "detect_leaks=1");
    let l = &assert_leaks(&out, 1, 1)[0];
    l.assert_sites(
        &src.at("main.earlyReturn.func1", "early-send"),
        &src.at("main.earlyReturn", "early-spawn"),
    );
    assert!(l.state.starts_with("blocked in chan send"), "{}", l.text);
    assert!(l.test.is_none(), "not under go test:\n{}", l.text);
    assert_no_leaks(&run_patterns(None, &["early", "fixed"], "detect_leaks=1"));
}

#[test]
fn timeout_leaves_the_late_worker_blocked() {
    let src = Source::load(PATTERNS);
    let out = run_patterns(None, &["timeout"], "detect_leaks=1");
    let l = &assert_leaks(&out, 1, 1)[0];
    l.assert_sites(
        &src.at("main.timeout.func1", "timeout-send"),
        &src.at("main.timeout", "timeout-spawn"),
    );
    assert!(l.state.starts_with("blocked in chan send"), "{}", l.text);
    assert_no_leaks(&run_patterns(None, &["timeout", "fixed"], "detect_leaks=1"));
}

#[test]
fn n_cast_with_one_reader_leaks_the_other_senders_in_one_report() {
    let src = Source::load(PATTERNS);
    let out = run_patterns(None, &["ncast"], "detect_leaks=1");
    let l = &assert_leaks(&out, 1, 3)[0];
    l.assert_sites(
        &src.at("main.nCast.func1", "ncast-send"),
        &src.at("main.nCast", "ncast-spawn"),
    );
    assert!(
        l.text
            .contains("(3 goroutines leaked from this creation site)"),
        "{}",
        l.text
    );
    assert_no_leaks(&run_patterns(None, &["ncast", "fixed"], "detect_leaks=1"));
}

#[test]
fn range_over_a_channel_never_closed_leaks_the_consumer() {
    let src = Source::load(PATTERNS);
    let out = run_patterns(None, &["range"], "detect_leaks=1");
    let l = &assert_leaks(&out, 1, 1)[0];
    l.assert_sites(
        &src.at("main.rangeNoClose.func1", "range-recv"),
        &src.at("main.rangeNoClose", "range-spawn"),
    );
    assert!(l.state.starts_with("blocked in chan receive"), "{}", l.text);
    assert_no_leaks(&run_patterns(None, &["range", "fixed"], "detect_leaks=1"));
}

#[test]
fn polling_worker_whose_stop_channel_is_never_closed_leaks() {
    let src = Source::load(PATTERNS);
    let out = run_patterns(None, &["polling"], "detect_leaks=1");
    let l = &assert_leaks(&out, 1, 1)[0];
    // It polls: caught asleep, locking or ticking; in its own function either way.
    let own = l
        .last_seen
        .iter()
        .find(|f| !f.func.starts_with("time.") && !f.func.starts_with("sync."));
    assert!(
        own.is_some_and(|f| f.func == "main.polling.func1" && f.file.ends_with(src.file_name())),
        "last seen in the worker's loop:\n{}",
        l.text
    );
    assert!(
        l.created
            .first()
            .is_some_and(|f| src.at("main.polling", "poll-spawn").matches(f)),
        "{}",
        l.text
    );
    assert_no_leaks(&run_patterns(None, &["polling", "fixed"], "detect_leaks=1"));
}

#[test]
fn goroutines_that_end_during_the_grace_period_are_not_leaks() {
    // They sleep 100 ms past main's return: inside the default 500 ms grace...
    assert_no_leaks(&run_patterns(None, &["grace"], "detect_leaks=1"));
    // ...and leaks when exit does not wait for them.
    // (Where they are is what main's return saw: maybe not yet started.)
    let out = run_patterns(None, &["grace"], "detect_leaks=1 leak_grace_ms=0");
    assert_leaks(&out, 1, 3);
}

#[test]
fn system_goroutines_are_never_reported() {
    // os/signal's watcher, the runtime's own (GC, finalizers, timers).
    assert_no_leaks(&run_patterns(None, &["system"], "detect_leaks=1"));
}

#[test]
fn leak_ignore_drops_leaks_by_a_frame_of_either_stack() {
    for pattern in ["main.nCast.func1", "main.nCast", "main.n*"] {
        let out = run_patterns(
            None,
            &["ncast"],
            &format!("detect_leaks=1 leak_ignore={pattern}"),
        );
        assert_no_leaks(&out);
    }
    // Another function's name leaves the leak reported.
    let out = run_patterns(None, &["ncast"], "detect_leaks=1 leak_ignore=main.other");
    assert_leaks(&out, 1, 3);
}

#[test]
fn without_the_switch_one_hint_line_and_a_clean_exit() {
    let out = run_patterns(None, &["ncast"], "");
    assert_eq!(out.code, 0, "{out}");
    let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line:\n{out}");
    assert!(is_leak_hint(lines[0]), "{out}");
    assert!(lines[0].starts_with("gorace: 3 goroutine(s)"), "{out}");
    assert!(parse_leaks(&out.stderr).is_empty());
}

#[test]
fn gorace_run_leaks_flag_turns_detection_on() {
    let src = Source::load(PATTERNS);
    let out = run_patterns(Some("--leaks"), &["early"], "");
    assert_leaks(&out, 1, 1)[0].assert_sites(
        &src.at("main.earlyReturn.func1", "early-send"),
        &src.at("main.earlyReturn", "early-spawn"),
    );
}

#[test]
fn go_test_blames_each_parallel_subtest_for_its_own_leak() {
    ready();
    let src = Source::load("leaks/gotest/leak_test.go");
    let out = run_raw(
        gorace_cmd()
            .current_dir(programs_dir().join("leaks/gotest"))
            .args(["test", "--leaks", "-count=1", "-v", "."]),
    );
    // go test prints the test binary's output, reports included, on stdout.
    let all = format!("{}\n{}", out.stdout, out.stderr);
    let leaks = parse_leaks(&all);
    assert_eq!(leaks.len(), 2, "{out}");
    assert_eq!(found_leaks(&all), Some(2), "{out}");
    let by_spawn = |tag: &str| {
        let spawn = src.line(tag);
        leaks
            .iter()
            .find(|l| l.created.first().is_some_and(|f| f.line == spawn))
            .unwrap_or_else(|| panic!("no leak created at line {spawn}:\n{out}"))
    };
    let send = by_spawn("send-spawn");
    let recv = by_spawn("recv-spawn");
    assert!(send.state.contains("chan send"), "{}", send.text);
    assert!(recv.state.contains("chan receive"), "{}", recv.text);
    assert_eq!(
        send.test.as_deref(),
        Some("TestParallel (subtest TestParallel.func1)"),
        "{}",
        send.text
    );
    assert_eq!(
        recv.test.as_deref(),
        Some("TestParallel (subtest TestParallel.func2)"),
        "{}",
        recv.text
    );
    // The leaks fail the package, not a test (they are found at exit).
    let lines: Vec<&str> = out.stdout.lines().map(str::trim_end).collect();
    assert!(
        lines.iter().any(|l| l.starts_with("--- PASS: TestClean")),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("FAIL\texample.com/leaks")),
        "{out}"
    );
    assert_ne!(out.code, 0, "{out}");
}
