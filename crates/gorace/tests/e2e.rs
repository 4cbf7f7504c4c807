//! End-to-end tests: real Go programs built and run under `gorace`, checked for what a
//! user sees (race reports, their stacks and source lines, exit statuses, messages).
//!
//! Every racy program here was checked to race under the stock detector too
//! (`go run -race`), and every clean one not to, so the tests encode facts about the
//! programs rather than about gorace: `GORACE_E2E_STOCK=1 cargo test --test e2e` runs
//! the programs with the stock runtime instead, and only the tests of gorace's own
//! improvements fail then (long history, recovered panics, option warnings). Which of
//! two racing accesses is reported as "current" depends on the scheduler, so pairs of
//! accesses are matched in either order.
//!
//! Needs `go` (1.23 to 1.27) on PATH; without it the tests fail saying so.

mod common;

use common::*;

/// The lines printed by a program, sorted (for goroutines printing in any order).
fn sorted_lines(s: &str) -> Vec<&str> {
    let mut v: Vec<&str> = s.lines().collect();
    v.sort_unstable();
    v
}

/// Asserts that every access of every report is one of `sides`, each report pairing
/// two of them.
fn assert_pairs_among(reports: &[Report], sides: &[Side]) {
    for r in reports {
        r.assert_goroutine_blocks();
        let ok = sides
            .iter()
            .enumerate()
            .any(|(i, a)| sides[i + 1..].iter().any(|b| r.is_pair(a, b)) || r.is_pair(a, a));
        assert!(
            ok,
            "report does not pair two of the expected accesses {sides:#?}:\n{}",
            r.text
        );
    }
}

/// Parses `0xc000012345` (as printed by Go's `%p`).
fn parse_ptr(s: &str) -> u64 {
    u64::from_str_radix(s.trim().trim_start_matches("0x"), 16)
        .unwrap_or_else(|_| panic!("not a pointer: {s:?}"))
}

// ---------------------------------------------------------------------------------------
// The typical data races of the race detector documentation, and their fixes
// ---------------------------------------------------------------------------------------

#[test]
fn loop_counter_race_is_reported() {
    let src = Source::load("loop_counter_racy.go");
    let out = gorace_run_racy(&src.name, "");
    let reports = out.assert_races(Count::AtLeast(1));
    let read_in_goroutine = read()
        .by_goroutine(src.at("main.main", "spawn"))
        .frame(src.at("main.main.func1", "read"));
    let increment = write().by_main().frame(src.at("main.main", "increment"));
    for r in &reports {
        r.assert_pair(&read_in_goroutine, &increment);
    }
}

#[test]
fn loop_counter_copy_is_clean() {
    let out = gorace_run("loop_counter_fixed.go", "");
    out.assert_clean();
    assert_eq!(
        sorted_lines(&out.stdout),
        ["0", "1", "2", "3", "4"],
        "{out}"
    );
}

#[test]
fn shared_err_race_is_reported() {
    let src = Source::load("shared_err_racy.go");
    let out = gorace_run_racy(&src.name, "");
    let reports = out.assert_races(Count::AtLeast(1));
    // Which accesses to err meet first varies; every report must be about err.
    let in_goroutine = |spawn, f, kind: Side, tag| {
        kind.by_goroutine(src.at("main.ParallelWrite", spawn))
            .frame(src.at(f, tag))
    };
    let in_main = |kind: Side, tag| {
        kind.by_main()
            .frame(src.at("main.ParallelWrite", tag))
            .frame(func("main.main"))
    };
    let (f1, f2) = ("main.ParallelWrite.func1", "main.ParallelWrite.func2");
    let sides = [
        in_goroutine("spawn1", f1, write(), "write1"),
        in_goroutine("spawn1", f1, read(), "send1"),
        in_goroutine("spawn2", f2, write(), "write2"),
        in_goroutine("spawn2", f2, read(), "send2"),
        in_main(write(), "create2"),
        in_main(read(), "check2"),
    ];
    assert_pairs_among(&reports, &sides);
    let addr = reports[0].current.addr;
    for r in &reports {
        assert!(
            r.current.addr == addr && r.previous.addr == addr,
            "all races are on the one variable err:\n{out}"
        );
    }
}

#[test]
fn shared_err_with_own_variables_is_clean() {
    let out = gorace_run("shared_err_fixed.go", "");
    out.assert_clean();
    assert_eq!(out.stdout, "<nil> <nil>\n");
}

#[test]
fn global_map_race_shows_map_runtime_frames() {
    let src = Source::load("global_map_racy.go");
    let out = gorace_run_racy(&src.name, "");
    let r = &out.assert_races(Count::Exactly(1))[0];
    // The write's stack: the map runtime function, then the user's frames.
    let register = write()
        .by_goroutine(src.at("main.main", "spawn"))
        .frame(func_prefix("runtime.mapassign"))
        .frame(src.at("main.RegisterService", "register"))
        .frame(src.at("main.main.func1", "call-register"));
    // The lookup is a read inside the map runtime.
    let lookup = read().by_main().frame(func_prefix("runtime.mapaccess"));
    r.assert_pair(&register, &lookup);
    assert_eq!(out.stdout, "\"\"\n");
}

#[test]
fn global_map_with_mutex_is_clean() {
    let out = gorace_run("global_map_fixed.go", "");
    out.assert_clean();
    assert_eq!(out.stdout, "\"\"\n\"10.0.0.1:5432\"\n");
}

#[test]
fn watchdog_race_is_reported() {
    let src = Source::load("watchdog_racy.go");
    let out = gorace_run_racy(&src.name, "");
    let reports = out.assert_races(Count::AtLeast(1));
    let keepalive = write()
        .by_main()
        .frame(src.at("main.(*Watchdog).KeepAlive", "keepalive"))
        .frame(src.at("main.main", "call-keepalive"));
    let check = read()
        .by_goroutine(src.at("main.(*Watchdog).Start", "spawn"))
        .frame(src.at("main.(*Watchdog).Start.func1", "check"));
    for r in &reports {
        r.assert_pair(&keepalive, &check);
        // The goroutine was created by Start, called from main.
        let c = r.creation_of(if r.current.goroutine == Gid::Main {
            &r.previous
        } else {
            &r.current
        });
        assert!(
            c.frames.len() >= 2 && c.frames[1].func == "main.main",
            "{}",
            r.text
        );
        assert_eq!(c.frames[1].line, src.line("call-start"), "{}", r.text);
    }
    assert_eq!(out.stdout, "alive\n");
}

#[test]
fn watchdog_with_atomics_is_clean() {
    let out = gorace_run("watchdog_fixed.go", "");
    out.assert_clean();
    assert_eq!(out.stdout, "alive\n");
}

#[test]
fn unsynchronized_send_and_close_race() {
    let src = Source::load("send_close_racy.go");
    let out = gorace_run_racy(&src.name, "");
    let r = &out.assert_races(Count::Exactly(1))[0];
    let send = read()
        .by_goroutine(src.at("main.main", "spawn"))
        .frame(func_prefix("runtime.chansend"))
        .frame(src.at("main.main.func1", "send"));
    let close = write()
        .by_main()
        .frame(func("runtime.closechan"))
        .frame(src.at("main.main", "close"));
    r.assert_pair(&send, &close);
}

#[test]
fn receive_before_close_is_clean() {
    let out = gorace_run("send_close_fixed.go", "");
    out.assert_clean();
    assert_eq!(out.stdout, "closed: true\n");
}

// ---------------------------------------------------------------------------------------
// Atomics
// ---------------------------------------------------------------------------------------

#[test]
fn concurrent_atomic_adds_are_clean() {
    let out = gorace_run("atomic_counter.go", "");
    out.assert_clean();
    assert_eq!(out.stdout, "4000\n");
}

#[test]
fn atomic_store_races_with_plain_read() {
    let src = Source::load("atomic_store_plain_read.go");
    let out = gorace_run_racy(&src.name, "");
    let r = &out.assert_races(Count::Exactly(1))[0];
    // Atomic accesses are reported as plain writes, with sync/atomic on their stack.
    let store = write()
        .by_goroutine(src.at("main.main", "spawn"))
        .frame(func("sync/atomic.StoreInt64"));
    let plain = read().by_main().frame(src.at("main.main", "read"));
    r.assert_pair(&store, &plain);
}

#[test]
fn atomic_flag_publishes_data_without_race() {
    let out = gorace_run("atomic_flag_publish.go", "");
    out.assert_clean();
    assert_eq!(out.stdout, "1 42 3\n");
}

// ---------------------------------------------------------------------------------------
// Channels
// ---------------------------------------------------------------------------------------

#[test]
fn channel_semaphore_gives_mutual_exclusion() {
    let out = gorace_run("chan_semaphore.go", "");
    out.assert_clean();
    assert_eq!(out.stdout, "400\n");
}

#[test]
fn unbuffered_handoff_is_clean() {
    let out = gorace_run("chan_handoff.go", "");
    out.assert_clean();
    assert_eq!(out.stdout, "3\n");
}

#[test]
fn close_then_receive_is_clean() {
    let out = gorace_run("chan_close_receive.go", "");
    out.assert_clean();
    assert_eq!(out.stdout, "computed false\n");
}

#[test]
fn buffered_send_does_not_wait_for_the_receiver() {
    let src = Source::load("chan_wrong_direction.go");
    let out = gorace_run_racy(&src.name, "");
    let r = &out.assert_races(Count::Exactly(1))[0];
    r.assert_pair(
        &write()
            .by_goroutine(src.at("main.main", "spawn"))
            .frame(src.at("main.main.func1", "write")),
        &read().by_main().frame(src.at("main.main", "read")),
    );
}

// ---------------------------------------------------------------------------------------
// sync
// ---------------------------------------------------------------------------------------

#[test]
fn mutex_is_clean() {
    let out = gorace_run("sync_mutex_ok.go", "");
    out.assert_clean();
    assert_eq!(out.stdout, "400\n");
}

#[test]
fn mutex_read_outside_the_lock_races() {
    let src = Source::load("sync_mutex_read_outside_lock.go");
    let out = gorace_run_racy(&src.name, "");
    let r = &out.assert_races(Count::Exactly(1))[0];
    r.assert_pair(
        &write()
            .by_goroutine(src.at("main.main", "spawn"))
            .frame(src.at("main.increment", "write"))
            .frame(src.at("main.main.func1", "call")),
        &read().by_main().frame(src.at("main.main", "read")),
    );
}

#[test]
fn rwmutex_readers_and_writer_are_clean() {
    let out = gorace_run("sync_rwmutex_ok.go", "");
    out.assert_clean();
    assert_eq!(out.stdout, "51\n");
}

#[test]
fn rwmutex_write_under_read_lock_races() {
    let src = Source::load("sync_rwmutex_write_under_rlock.go");
    let out = gorace_run_racy(&src.name, "");
    let r = &out.assert_races(Count::Exactly(1))[0];
    r.assert_pair(
        &write()
            .by_goroutine(src.at("main.main", "spawn"))
            .frame(src.at("main.main.func1", "write")),
        &read().by_main().frame(src.at("main.main", "read")),
    );
}

#[test]
fn waitgroup_is_clean() {
    let out = gorace_run("sync_waitgroup_ok.go", "");
    out.assert_clean();
    assert_eq!(out.stdout, "140\n");
}

#[test]
fn waitgroup_done_before_the_work_races() {
    let src = Source::load("sync_waitgroup_done_early.go");
    let out = gorace_run_racy(&src.name, "");
    let r = &out.assert_races(Count::Exactly(1))[0];
    r.assert_pair(
        &write()
            .by_goroutine(src.at("main.main", "spawn"))
            .frame(src.at("main.main.func1", "write")),
        &read().by_main().frame(src.at("main.main", "read")),
    );
    // main read after the worker had exited.
    assert_eq!(r.current.kind, Kind::Read, "{}", r.text);
    assert!(r.creation_of(&r.previous).finished, "{}", r.text);
    assert_eq!(out.stdout, "42\n");
}

#[test]
fn once_is_clean() {
    let out = gorace_run("sync_once_ok.go", "");
    out.assert_clean();
    assert_eq!(out.stdout, "[prod prod prod prod]\n");
}

#[test]
fn once_fast_path_outside_do_races() {
    let src = Source::load("sync_once_fast_path.go");
    let out = gorace_run_racy(&src.name, "");
    let reports = out.assert_races(Count::AtLeast(1));
    // The initialisation runs in whichever goroutine gets to Do first.
    let init = write()
        .frame(src.at("main.initConfig", "init"))
        .frame(func("sync.(*Once).doSlow"));
    let fast_path = read().frame(src.at("main.get", "fastpath"));
    // The config returned by the fast path is then read without synchronisation too.
    let name_in_goroutine = read()
        .by_goroutine(src.at("main.main", "spawn"))
        .frame(src.at("main.main.func1", "spawn"));
    let name_in_main = read().by_main().frame(src.at("main.main", "main-get"));
    for r in &reports {
        assert!(
            [&fast_path, &name_in_goroutine, &name_in_main]
                .iter()
                .any(|s| r.is_pair(&init, s)),
            "unexpected race:\n{}",
            r.text
        );
        r.assert_goroutine_blocks();
    }
    assert!(
        reports.iter().any(|r| r.is_pair(&init, &fast_path)),
        "the fast-path read must be reported:\n{out}"
    );
    assert_eq!(out.stdout, "prod prod\n");
}

#[test]
fn cond_is_clean() {
    let out = gorace_run("sync_cond_ok.go", "");
    out.assert_clean();
    assert_eq!(out.stdout, "6\n");
}

#[test]
fn cond_broadcast_without_lock_races() {
    let src = Source::load("sync_cond_broadcast_without_lock.go");
    let out = gorace_run_racy(&src.name, "");
    let reports = out.assert_races(Count::AtLeast(1));
    let producer = |tag| {
        write()
            .by_goroutine(src.at("main.main", "spawn"))
            .frame(src.at("main.main.func1", tag))
    };
    let waiter = |tag| read().by_main().frame(src.at("main.main", tag));
    let data = (producer("write-data"), waiter("read-data"));
    let ready = (producer("write-ready"), waiter("read-ready"));
    for r in &reports {
        assert!(
            r.is_pair(&data.0, &data.1) || r.is_pair(&ready.0, &ready.1),
            "unexpected race:\n{}",
            r.text
        );
        r.assert_goroutine_blocks();
    }
    assert!(
        reports.iter().any(|r| r.is_pair(&data.0, &data.1)),
        "the race on data must be reported:\n{out}"
    );
    assert_eq!(out.stdout, "42\n");
}

// ---------------------------------------------------------------------------------------
// Sub-word accesses and ranges
// ---------------------------------------------------------------------------------------

#[test]
fn disjoint_fields_of_one_word_are_clean() {
    let out = gorace_run("subword_disjoint.go", "");
    out.assert_clean();
    assert_eq!(out.stdout, "99 99 99 99\n");
}

#[test]
fn same_byte_field_races_and_neighbours_do_not() {
    let src = Source::load("subword_same_field.go");
    let out = gorace_run_racy(&src.name, "");
    let r = &out.assert_races(Count::Exactly(1))[0];
    r.assert_pair(
        &write()
            .by_goroutine(src.at("main.main", "spawn1"))
            .frame(src.at("main.main.func1", "first")),
        &write()
            .by_goroutine(src.at("main.main", "spawn2"))
            .frame(src.at("main.main.func2", "second")),
    );
    let b = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("b at "))
        .unwrap_or_else(|| panic!("no address printed:\n{out}"));
    assert_eq!(
        (r.current.addr, r.previous.addr),
        (parse_ptr(b), parse_ptr(b)),
        "the race is on field b:\n{out}"
    );
    // The first goroutine had exited before the second started.
    assert_eq!(r.current.frames[0].func, "main.main.func2", "{}", r.text);
    assert!(r.creation_of(&r.previous).finished, "{}", r.text);
    assert_eq!(out.stdout.lines().next(), Some("2"), "{out}");
}

/// The same race with both goroutines running at once: their updates of the one
/// shadowed word can then be simultaneous. gorace must still report the race every
/// time (the stock runtime did in 1900 of 1900 runs on 2 cores).
#[test]
fn same_byte_field_race_is_reported_every_time() {
    ready();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let bin = dir.path().join("subword");
    let build = run_raw(
        gorace_cmd()
            .args(["build", "-o"])
            .arg(&bin)
            .arg("subword_same_field_concurrent.go"),
    );
    assert_eq!(build.code, 0, "{build}");
    let runs = 300;
    let missed = (0..runs)
        .filter(|_| {
            let out = run_raw(
                std::process::Command::new(&bin)
                    .env("GORACE", "atexit_sleep_ms=0")
                    .env("GOMAXPROCS", "2"),
            );
            assert!(out.code == 0 || out.code == 66, "{out}");
            out.code == 0
        })
        .count();
    assert_eq!(missed, 0, "race missed in {missed} of {runs} runs");
}

#[test]
fn copy_races_with_an_element_write() {
    let src = Source::load("copy_race.go");
    let out = gorace_run_racy(&src.name, "");
    let r = &out.assert_races(Count::Exactly(1))[0];
    r.assert_pair(
        &read()
            .by_goroutine(src.at("main.main", "spawn"))
            .below_runtime()
            .frame(src.at("main.main.func1", "copy")),
        &write().by_main().frame(src.at("main.main", "element")),
    );
    let elem = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("element at "))
        .unwrap_or_else(|| panic!("no address printed:\n{out}"));
    assert_eq!(
        (r.current.addr, r.previous.addr),
        (parse_ptr(elem), parse_ptr(elem)),
        "the race is reported at the written element, inside the copied range:\n{out}"
    );
    // main wrote after the copying goroutine had exited.
    assert_eq!(r.current.kind, Kind::Write, "{}", r.text);
    assert!(r.creation_of(&r.previous).finished, "{}", r.text);
}

#[test]
fn writes_deep_inside_freshly_filled_big_buffers_race() {
    let src = Source::load("big_buffer_fill_race.go");
    let out = gorace_run_racy(&src.name, "");
    let reports = out.assert_races(Count::Exactly(2));
    let printed = |prefix: &str| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .map(parse_ptr)
            .unwrap_or_else(|| panic!("no address printed:\n{out}"))
    };
    let by_goroutine = |kind: Side| kind.by_goroutine(src.at("main.main", "spawn"));
    let cases = [
        (
            "a at ",
            by_goroutine(write())
                .frame(src.at("main.fill", "fill"))
                .frame(src.at("main.main.func1", "call")),
            write().by_main().frame(src.at("main.main", "poke_a")),
        ),
        (
            "b at ",
            by_goroutine(write())
                .below_runtime()
                .frame(src.at("main.main.func1", "copy")),
            write().by_main().frame(src.at("main.main", "poke_b")),
        ),
    ];
    for (prefix, filler, poke) in cases {
        let addr = printed(prefix);
        let r = reports
            .iter()
            .find(|r| r.current.addr == addr)
            .unwrap_or_else(|| panic!("no race at {prefix}{addr:#x}:\n{out}"));
        r.assert_pair(&filler, &poke);
        // The fill's bytes merged into one cell per granule: its first byte is named.
        assert_eq!(r.previous.addr, addr & !7, "{}", r.text);
    }
}

#[test]
fn struct_slice_elements_owned_by_goroutines_are_clean() {
    let out = gorace_run("struct_slice_own_index.go", "");
    out.assert_clean();
    assert_eq!(out.stdout, "{7 -7 104}\n");
}

#[test]
fn whole_struct_assignments_race() {
    let src = Source::load("struct_slice_whole_element.go");
    let out = gorace_run_racy(&src.name, "");
    let reports = out.assert_races(Count::AtLeast(1));
    for r in &reports {
        r.assert_pair(
            &write()
                .by_goroutine(src.at("main.main", "spawn1"))
                .frame(src.at("main.main.func1", "first")),
            &write()
                .by_goroutine(src.at("main.main", "spawn2"))
                .frame(src.at("main.main.func2", "second")),
        );
    }
}

// ---------------------------------------------------------------------------------------
// Goroutine lifetimes and history
// ---------------------------------------------------------------------------------------

#[test]
fn race_with_a_finished_goroutine() {
    let src = Source::load("finished_goroutine.go");
    let out = gorace_run_racy(&src.name, "");
    let r = &out.assert_races(Count::Exactly(1))[0];
    r.assert_goroutine_blocks();
    // The writer had exited before main read: the order is fixed.
    let (cur, prev) = (&r.current, &r.previous);
    assert_eq!(
        (cur.kind, cur.goroutine),
        (Kind::Read, Gid::Main),
        "{}",
        r.text
    );
    assert_eq!(cur.frames[0].func, "main.main", "{}", r.text);
    assert_eq!(cur.frames[0].line, src.line("read"), "{}", r.text);
    assert_eq!(prev.kind, Kind::Write, "{}", r.text);
    assert_eq!(prev.frames.len(), 1, "{}", r.text);
    assert_eq!(prev.frames[0].func, "main.main.func1", "{}", r.text);
    assert_eq!(prev.frames[0].line, src.line("write"), "{}", r.text);
    let c = r.creation_of(prev);
    assert!(c.finished, "the writer is finished:\n{}", r.text);
    assert!(
        r.text
            .contains(&format!("Goroutine {} (finished) created at:", c.id)),
        "{}",
        r.text
    );
    assert_eq!(
        (c.frames[0].func.as_str(), c.frames[0].line),
        ("main.main", src.line("spawn")),
        "{}",
        r.text
    );
    assert_eq!(out.stdout, "1\n");
}

/// The stock runtime drops this race (its per-goroutine trace cannot replay an access
/// that old); gorace must report it with the old write's full stack.
#[test]
fn a_write_deep_in_recursion_keeps_its_innermost_frames() {
    let src = Source::load("deep_recursion.go");
    let out = gorace_run_racy(&src.name, "");
    let r = &out.assert_races(Count::Exactly(1))[0];
    let (cur, prev) = (&r.current, &r.previous);
    assert_eq!(
        (cur.kind, cur.frames[0].func.as_str(), cur.frames[0].line),
        (Kind::Read, "main.main", src.line("read")),
        "{}",
        r.text
    );
    let stack = prev.func_lines();
    assert_eq!(
        (prev.kind, &stack[..]),
        (
            Kind::Write,
            &[
                ("main.down", src.line("write")),
                ("main.down", src.line("recurse"))
            ][..]
        ),
        "the innermost frames of the write 3,000 calls deep:\n{}",
        r.text
    );
    assert!(
        r.text
            .contains("[outer frames not kept: the stack was deeper than 1024 frames"),
        "{}",
        r.text
    );
    assert_eq!(out.stdout, "1\n");
}

#[test]
fn long_history_keeps_the_old_write_stack() {
    let src = Source::load("long_history.go");
    let out = gorace_run_racy(&src.name, "");
    let r = &out.assert_races(Count::Exactly(1))[0];
    r.assert_goroutine_blocks();
    let (cur, prev) = (&r.current, &r.previous);
    assert_eq!(
        (cur.kind, cur.goroutine),
        (Kind::Read, Gid::Main),
        "{}",
        r.text
    );
    assert_eq!(
        (cur.frames[0].func.as_str(), cur.frames[0].line),
        ("main.main", src.line("read")),
        "{}",
        r.text
    );
    assert_eq!(prev.kind, Kind::Write, "{}", r.text);
    let stack = prev.func_lines();
    assert_eq!(
        stack,
        [
            ("main.setX", src.line("write")),
            ("main.publish", src.line("call-setX")),
            ("main.main.func1", src.line("call-publish")),
        ],
        "the old write's full stack:\n{}",
        r.text
    );
    assert!(
        prev.frames
            .iter()
            .all(|f| f.file.ends_with("/long_history.go")),
        "{}",
        r.text
    );
    let c = r.creation_of(prev);
    assert!(c.finished, "{}", r.text);
    assert_eq!(
        (c.frames[0].func.as_str(), c.frames[0].line),
        ("main.main", src.line("spawn")),
        "{}",
        r.text
    );
    assert_eq!(out.stdout, "1\n");
}

/// Heap memory Go gives back to the kernel has its shadow dropped (the memory bound of
/// a long-lived program whose heap moves around), and objects made there afterwards
/// start with a clean history: only the race on them is reported, none against the
/// dead objects' unordered writes.
#[test]
fn shadow_of_memory_given_back_is_dropped_and_reuse_is_clean() {
    let src = Source::load("heap_given_back.go");
    let out = gorace_run_racy(&src.name, "");
    assert_eq!(
        out.stdout, "true\nshadow given back: true\ntrue\n",
        "{}",
        out.stderr
    );
    let r = &out.assert_races(Count::Exactly(1))[0];
    r.assert_pair(
        &write()
            .by_goroutine(src.at("main.main", "spawn"))
            .frame(src.at("main.main.func1", "write-goroutine")),
        &write().by_main().frame(src.at("main.main", "write-main")),
    );
}

// ---------------------------------------------------------------------------------------
// go test
// ---------------------------------------------------------------------------------------

#[test]
fn go_test_fails_only_the_racy_test() {
    ready();
    let src = Source::load("gotest/counter_test.go");
    let out = run_raw(
        gorace_cmd()
            .current_dir(programs_dir().join("gotest"))
            .env("GOMAXPROCS", "1") // see gorace_run_racy
            .args(["test", "-count=1", "-v", "."]),
    );
    // go test prints the test binary's output, reports included, on stdout.
    let all = format!("{}\n{}", out.stdout, out.stderr);
    let reports = parse_reports(&all);
    assert!(!reports.is_empty(), "{out}");
    let increment = || {
        access()
            .by_goroutine(src.at("example.com/gotest.TestRacy", "spawn"))
            .frame(src.at("example.com/gotest.TestRacy.func1", "increment"))
    };
    for r in &reports {
        r.assert_pair(&increment(), &increment());
        assert!(
            [r.current.kind, r.previous.kind].contains(&Kind::Write),
            "{}",
            r.text
        );
    }
    let lines: Vec<&str> = out.stdout.lines().map(str::trim_end).collect();
    let has = |pred: &dyn Fn(&str) -> bool| lines.iter().any(|l| pred(l));
    assert!(
        has(&|l| l.ends_with("race detected during execution of test")),
        "{out}"
    );
    assert!(has(&|l| l.starts_with("--- FAIL: TestRacy ")), "{out}");
    assert!(has(&|l| l.starts_with("--- PASS: TestClean ")), "{out}");
    assert!(!has(&|l| l.starts_with("--- FAIL: TestClean")), "{out}");
    assert!(has(&|l| l == "FAIL"), "{out}");
    assert!(has(&|l| l.starts_with("FAIL\texample.com/gotest")), "{out}");
    assert_ne!(out.code, 0, "{out}");
}

// ---------------------------------------------------------------------------------------
// GORACE options
// ---------------------------------------------------------------------------------------

/// The two races of two_races.go.
fn two_races() -> (Source, Side, Side, Side, Side) {
    let src = Source::load("two_races.go");
    let w = |tag| {
        write()
            .by_goroutine(src.at("main.main", "spawn"))
            .frame(src.at("main.main.func1", tag))
    };
    let r = |tag| read().by_main().frame(src.at("main.main", tag));
    let (wx, rx, wy, ry) = (w("write-x"), r("read-x"), w("write-y"), r("read-y"));
    (src, wx, rx, wy, ry)
}

fn assert_both_races(reports: &[Report]) {
    let (_, wx, rx, wy, ry) = two_races();
    assert_eq!(reports.len(), 2, "two reports: {reports:#?}");
    let x = reports.iter().filter(|r| r.is_pair(&wx, &rx)).count();
    let y = reports.iter().filter(|r| r.is_pair(&wy, &ry)).count();
    assert_eq!(
        (x, y),
        (1, 1),
        "one race on x, one on y:\n{}\n{}",
        reports[0].text,
        reports[1].text
    );
}

/// The pid the program printed.
fn program_pid(out: &Outcome) -> u32 {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("start pid "))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the program did not start:\n{out}"))
}

#[test]
fn default_options_report_every_race() {
    let out = gorace_run_racy("two_races.go", "");
    assert_both_races(&out.assert_races(Count::Exactly(2)));
    program_pid(&out);
    assert!(out.stdout.ends_with("done true\n"), "{out}");
}

#[test]
fn exitcode_option_sets_the_exit_status() {
    let out = gorace_run_racy("two_races.go", "exitcode=13");
    assert_both_races(&out.reports());
    assert_eq!(out.found(), Some(2), "{out}");
    out.assert_go_run_exit_status(13);
}

#[test]
fn halt_on_error_exits_after_the_first_report() {
    let (_, wx, rx, wy, ry) = two_races();
    let out = gorace_run_racy("two_races.go", "halt_on_error=1");
    let reports = out.reports();
    assert_eq!(reports.len(), 1, "{out}");
    assert!(
        reports[0].is_pair(&wx, &rx) || reports[0].is_pair(&wy, &ry),
        "{}",
        reports[0].text
    );
    assert_eq!(out.found(), None, "no `Found` line after halting:\n{out}");
    out.assert_go_run_exit_status(66);
    assert_eq!(out.stray_stderr(), Vec::<String>::new(), "{out}");
    program_pid(&out);
    assert!(
        !out.stdout.contains("done"),
        "the program must stop at the first race:\n{out}"
    );
}

#[test]
fn log_path_writes_reports_to_a_pid_file() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let prefix = dir.path().join("r");
    let out = gorace_run_racy(
        "two_races.go",
        &format!("log_path={}", prefix.to_str().unwrap()),
    );
    out.assert_go_run_exit_status(66);
    assert!(
        !out.stderr.contains("DATA RACE") && out.found().is_none(),
        "reports must not go to stderr:\n{out}"
    );
    assert_eq!(out.stray_stderr(), Vec::<String>::new(), "{out}");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [format!("r.{}", program_pid(&out))],
        "one log file named after the program's pid:\n{out}"
    );
    let log = std::fs::read_to_string(dir.path().join(&names[0])).unwrap();
    assert_both_races(&parse_reports(&log));
    assert_eq!(found(&log), Some(2), "{log}");
}

#[test]
fn strip_path_prefix_shortens_file_paths() {
    let prefix = format!("{}/", programs_dir().to_str().unwrap());
    let out = gorace_run_racy("two_races.go", &format!("strip_path_prefix={prefix}"));
    let reports = out.assert_races(Count::Exactly(2));
    assert_both_races(&reports);
    for r in &reports {
        for f in r
            .current
            .frames
            .iter()
            .chain(&r.previous.frames)
            .chain(r.created.iter().flat_map(|c| &c.frames))
        {
            assert_eq!(f.file, "two_races.go", "path not stripped:\n{}", r.text);
        }
    }
    assert!(!out.stderr.contains(&prefix), "{out}");
}

/// Runs two_races.go with a bad option: one warning line, and the program still runs
/// with the defaults (both races reported, exit status 66).
fn assert_one_warning(option: &str, names: &[&str]) {
    let out = gorace_run_racy("two_races.go", option);
    let stray = out.stray_stderr();
    assert_eq!(stray.len(), 1, "exactly one warning line:\n{out}");
    assert!(stray[0].starts_with("gorace: "), "{out}");
    for n in names {
        assert!(stray[0].contains(n), "the warning names {n:?}:\n{out}");
    }
    assert_both_races(&out.reports());
    assert_eq!(out.found(), Some(2), "{out}");
    out.assert_go_run_exit_status(66);
    assert!(out.stdout.ends_with("done true\n"), "{out}");
}

#[test]
fn unknown_option_is_one_warning() {
    assert_one_warning("bogus=1", &["bogus"]);
}

#[test]
fn malformed_option_is_one_warning() {
    assert_one_warning("exitcode=abc", &["exitcode", "abc"]);
}

// ---------------------------------------------------------------------------------------
// gorace build, gorace env
// ---------------------------------------------------------------------------------------

#[test]
fn built_binary_exits_with_the_race_exit_code() {
    ready();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let bin = dir.path().join("two_races");
    let build = run_raw(
        gorace_cmd()
            .args(["build", "-o"])
            .arg(&bin)
            .arg("two_races.go"),
    );
    assert_eq!(build.code, 0, "{build}");
    assert!(build.stderr.trim().is_empty(), "{build}");
    let run = |options: &str| {
        run_raw(
            std::process::Command::new(&bin)
                .env("GORACE", format!("atexit_sleep_ms=0 {options}"))
                .env("GOMAXPROCS", "1") // see gorace_run_racy
                .current_dir(dir.path()),
        )
    };
    let out = run("");
    assert_eq!(out.code, 66, "{out}");
    assert_both_races(&out.reports());
    assert_eq!(out.found(), Some(2), "{out}");
    assert_eq!(
        outside_reports(&out.stderr),
        ["Found 2 data race(s)"],
        "{out}"
    );
    assert_eq!(run("exitcode=13").code, 13);
}

/// A binary from `gorace build`, run on its own, still names standard-library files by
/// the real GOROOT, not gorace's shadow copy.
#[test]
fn built_binary_reports_real_goroot_paths() {
    ready();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let bin = dir.path().join("global_map");
    let build = run_raw(
        gorace_cmd()
            .args(["build", "-o"])
            .arg(&bin)
            .arg("global_map_racy.go"),
    );
    assert_eq!(build.code, 0, "{build}");
    let out = run_raw(
        std::process::Command::new(&bin)
            .env("GORACE", "atexit_sleep_ms=0")
            .env("GOMAXPROCS", "1")
            .env_remove("GORACE_SHADOW_GOROOT")
            .env_remove("GORACE_REAL_GOROOT"),
    );
    assert_eq!(out.code, 66, "{out}");
    let goroot = String::from_utf8(
        std::process::Command::new("go")
            .args(["env", "GOROOT"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let runtime_frame = out
        .stderr
        .lines()
        .find(|l| l.contains("/src/internal/runtime/maps/"))
        .unwrap_or_else(|| panic!("a map runtime frame:\n{out}"));
    assert!(
        runtime_frame.trim_start().starts_with(goroot.trim()),
        "{runtime_frame:?} is under the real GOROOT {goroot:?}"
    );
}

#[test]
fn gorace_env_makes_plain_go_use_gorace() {
    ready();
    let out = run_raw(
        std::process::Command::new("bash")
            .arg("-c")
            .arg(r#"eval "$("$GORACE_BIN" env)" && go env GOROOT && go run -race two_races.go"#)
            .current_dir(programs_dir())
            .env("GORACE_BIN", gorace_bin())
            .env("GORACE_CACHE", cache_dir())
            .env("GORACE", "atexit_sleep_ms=0 bogus=1")
            .env("GOMAXPROCS", "1") // see gorace_run_racy
            .env_remove("GOFLAGS"),
    );
    // `go` now sees the shadow GOROOT in gorace's cache...
    let goroot = out.stdout.lines().next().unwrap_or_default();
    assert!(
        goroot.starts_with(cache_dir().to_str().unwrap()) && goroot.ends_with("goroot"),
        "GOROOT is gorace's shadow:\n{out}"
    );
    // ...and `go run -race` links gorace's runtime: only it warns about unknown options.
    let stray: Vec<String> = outside_reports(&out.stderr)
        .into_iter()
        .filter(|l| !l.starts_with("Found ") && !l.starts_with("exit status "))
        .collect();
    assert_eq!(stray.len(), 1, "{out}");
    assert!(
        stray[0].starts_with("gorace: ") && stray[0].contains("bogus"),
        "{out}"
    );
    assert_both_races(&parse_reports(&out.stderr));
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.trim_end().ends_with("exit status 66"), "{out}");
}

// ---------------------------------------------------------------------------------------
// Toolchain errors (these need no Go)
// ---------------------------------------------------------------------------------------

/// `gorace run two_races.go` with `PATH=<path>` and no GOROOT.
fn gorace_with_path(path: &std::path::Path) -> Outcome {
    run_raw(
        std::process::Command::new(gorace_bin())
            .args(["run", "two_races.go"])
            .current_dir(programs_dir())
            .env("PATH", path)
            .env_remove("GOROOT")
            .env("GORACE_CACHE", cache_dir()),
    )
}

fn assert_one_error_line(out: &Outcome) -> &str {
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stdout.is_empty(), "{out}");
    let line = out.stderr.trim_end();
    assert!(
        !line.contains('\n') && line.starts_with("gorace: "),
        "one `gorace: ` line:\n{out}"
    );
    line
}

#[test]
fn missing_go_is_one_clear_error() {
    let empty = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let out = gorace_with_path(empty.path());
    let line = assert_one_error_line(&out);
    assert!(
        line.contains("install Go") && line.contains("PATH"),
        "the error says what to install:\n{out}"
    );
}

#[test]
fn unsupported_go_is_one_clear_error() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let go = dir.path().join("go");
    std::fs::write(
        &go,
        "#!/bin/sh\n\
         if [ \"$1\" = env ]; then echo /nonexistent/goroot; echo go1.20.1; exit 0; fi\n\
         echo \"fake go called with: $*\" >&2\n\
         exit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&go, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = gorace_with_path(dir.path());
    let line = assert_one_error_line(&out);
    assert!(
        line.contains("go1.20.1") && line.contains("supports Go 1."),
        "the error names the version found and the supported ones:\n{out}"
    );
}

// ---------------------------------------------------------------------------------------
// Stacks and goroutine identities under stress
// ---------------------------------------------------------------------------------------

/// The stock runtime prints the frames abandoned by recovered panics (every `deep` and
/// `survive` call) on top of the racy accesses' stacks; gorace must print the stacks as
/// they are at the accesses.
#[test]
fn recovered_panics_leave_no_stale_frames() {
    let src = Source::load("recovered_panics.go");
    let out = gorace_run_racy(&src.name, "");
    let r = &out.assert_races(Count::Exactly(1))[0];
    r.assert_pair(
        &write()
            .by_goroutine(src.at("main.main", "spawn"))
            .frame(src.at("main.worker", "write")),
        &read().by_main().frame(src.at("main.main", "read")),
    );
    let (worker, main) = if r.current.goroutine == Gid::Main {
        (&r.previous, &r.current)
    } else {
        (&r.current, &r.previous)
    };
    assert_eq!(
        main.frames.len(),
        1,
        "main's stack is main.main only:\n{}",
        r.text
    );
    // Below main.worker only the `go` statement's wrapper may follow.
    assert!(
        worker.frames[1..]
            .iter()
            .all(|f| f.func.starts_with("main.main.") && f.line == src.line("spawn")),
        "no abandoned frames below main.worker:\n{}",
        r.text
    );
    assert!(
        !r.text.contains("main.deep") && !r.text.contains("main.survive"),
        "{}",
        r.text
    );
}

/// More goroutines alive at once than gorace has vector-clock slots: slots get
/// preempted, and the report must still name main for main's access (the stock runtime
/// does).
#[test]
fn many_live_goroutines_keep_access_attribution() {
    let src = Source::load("many_goroutines.go");
    let out = gorace_run_racy(&src.name, "");
    let r = &out.assert_races(Count::Exactly(1))[0];
    r.assert_pair(
        &write()
            .by_goroutine(src.at("main.main", "spawn"))
            .frame(src.at("main.main.func2", "write-goroutine")),
        &write().by_main().frame(src.at("main.main", "write-main")),
    );
    assert_eq!(
        r.created.len(),
        1,
        "only the racing goroutine's block:\n{}",
        r.text
    );
}

/// Three different pairs of stacks racing on one variable: three reports, as the stock
/// runtime prints (it never suppresses by address in Go programs).
#[test]
fn every_stack_pair_on_one_address_is_reported() {
    let src = Source::load("same_address_three_pairs.go");
    let out = gorace_run_racy(&src.name, "");
    let races = out.assert_races(Count::Exactly(3));
    let addrs: std::collections::BTreeSet<u64> = races.iter().map(|r| r.current.addr).collect();
    assert_eq!(addrs.len(), 1, "all on one address:\n{out}");
}
