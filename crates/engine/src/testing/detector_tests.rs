//! Detector-level behaviours checked on the test platform: report text, goroutine
//! naming, de-duplication, halting, the exit summary, and a few documented precision
//! limits (ignored tests that fail, with the event sequence that shows each).

use std::boxed::Box;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::string::String;
use std::sync::Arc;
use std::vec::Vec;

use super::harness::report_everything;
use super::parse::parse_report;
use super::platform::{TestPlatform, APP_BASE};
use crate::cell::Kind;
use crate::clock::MAX_SLOTS;
use crate::detector::{Detector, Platform};
use crate::goroutine::Goroutine;
use crate::options::Options;
use crate::report::MAIN_GID;

const X: usize = APP_BASE + 0x10;
const Y: usize = APP_BASE + 0x100;
const M: usize = APP_BASE + 0x200;

fn detector(options: Options) -> Detector<TestPlatform> {
    Detector::new(TestPlatform::new(), options)
}

/// Goroutine 0 (the `init_goroutine` context) and the main goroutine it starts.
fn start(d: &Detector<TestPlatform>) -> (Box<Goroutine>, Box<Goroutine>) {
    let mut g0 = d.init_goroutine();
    let main = d.go_start(Some(&mut g0), 0x50);
    (g0, main)
}

/// A goroutine started by `parent` at `pc` that has begun to run (its first function
/// entry: it holds a slot from then on).
fn running(d: &Detector<TestPlatform>, parent: &mut Goroutine, pc: u64) -> Box<Goroutine> {
    let mut g = d.go_start(Some(parent), pc);
    d.first_entry(&mut g);
    g
}

#[test]
fn report_text_is_go_format() {
    let d = detector(report_everything());
    let (_g0, mut main) = start(&d);
    d.func_enter(&mut main, 900, 0); // runtime.main: the outermost frame is not shown
    d.func_enter(&mut main, 100, 0);
    let mut child = d.go_start(Some(&mut main), 101);
    d.access(&mut main, X, 8, Kind::Write, 102);
    d.func_enter(&mut child, 901, 0); // runtime.goexit
    d.access(&mut child, X + 4, 4, Kind::Read, 201);
    assert_eq!(d.report_count(), 1);
    assert_eq!(
        d.platform.output(),
        "==================
WARNING: DATA RACE
Read at 0x000000001014 by goroutine 2:
  f201()
      t.go:201 +0x0

Previous write at 0x000000001010 by main goroutine:
  f102()
      t.go:102 +0x0
  f100()
      t.go:100 +0x0

Goroutine 2 (running) created at:
  f101()
      t.go:101 +0x0
  f100()
      t.go:100 +0x0
==================
"
    );
}

#[test]
fn goroutine_ids_and_the_main_goroutine() {
    let d = detector(report_everything());
    let mut g0 = d.init_goroutine();
    assert_eq!(g0.gid, 0, "the init context is goroutine 0");
    let mut main = d.go_start(Some(&mut g0), 0x50);
    assert_eq!(
        main.gid, MAIN_GID,
        "the first go_start is the main goroutine"
    );
    let runtime = d.go_start(None, 0x51);
    assert_eq!(runtime.gid, 2);
    let mut child = d.go_start(Some(&mut main), 0x52);
    assert_eq!(child.gid, 3);

    d.access(&mut child, X, 8, Kind::Write, 10);
    d.access(&mut main, X, 8, Kind::Read, 20);
    let text = d.platform.take_writes().concat();
    assert!(
        text.contains("Read at 0x000000001010 by main goroutine:"),
        "{text}"
    );
    let r = parse_report(&text).unwrap();
    assert_eq!((r.current.gid, r.previous.gid), (Some(1), Some(3)));
    assert_eq!(
        r.goroutines.iter().map(|n| n.gid).collect::<Vec<_>>(),
        [3],
        "the main goroutine gets no creation note"
    );

    // Goroutine 0 is named as a goroutine; its creation stack is unknown.
    d.access(&mut g0, Y, 1, Kind::Write, 30);
    d.access(&mut child, Y, 1, Kind::Write, 40);
    let text = d.platform.take_writes().concat();
    assert!(
        text.contains("Previous write at 0x000000001100 by goroutine 0:"),
        "{text}"
    );
    assert!(
        text.contains("Goroutine 0 (running) created at:\n  [failed to restore the stack]\n"),
        "{text}"
    );
    // A goroutine started by the runtime is created at the given pc only.
    let mut runtime = runtime;
    d.access(&mut runtime, Y + 8, 1, Kind::Write, 50);
    d.access(&mut main, Y + 8, 1, Kind::Write, 60);
    let r = parse_report(&d.platform.take_writes().concat()).unwrap();
    assert_eq!(r.goroutines.len(), 1);
    assert_eq!(
        (r.goroutines[0].gid, &r.goroutines[0].created_at[..]),
        (2, &[0x51][..])
    );
}

#[test]
fn finished_goroutines_are_named_finished() {
    let d = detector(report_everything());
    let (_g0, mut main) = start(&d);
    let mut child = d.go_start(Some(&mut main), 0x60);
    d.access(&mut child, X, 8, Kind::Write, 10);
    d.go_end(child);
    d.access(&mut main, X, 8, Kind::Write, 20);
    let text = d.platform.output();
    assert!(
        text.contains("Previous write at 0x000000001010 by goroutine 2:"),
        "{text}"
    );
    assert!(
        text.contains("\nGoroutine 2 (finished) created at:\n"),
        "{text}"
    );
    // While it runs, it is running.
    let mut other = d.go_start(Some(&mut main), 0x61);
    d.access(&mut other, Y, 8, Kind::Write, 30);
    d.access(&mut main, Y, 8, Kind::Write, 40);
    assert!(d
        .platform
        .output()
        .contains("\nGoroutine 3 (running) created at:\n"));
}

/// Two races between the same two stacks, at different addresses.
#[test]
fn a_goroutine_started_in_a_finished_ones_state_starts_afresh() {
    let d = detector(report_everything());
    let (_g0, mut main) = start(&d);
    d.func_enter(&mut main, 100, 0);
    // The first child ends deep in calls, inside `ignore_sync`, after a write, and
    // nothing orders its end before the second child.
    let mut first = d.go_start(Some(&mut main), 0x60);
    d.func_enter(&mut first, 300, 0);
    d.func_enter(&mut first, 301, 0);
    d.access(&mut first, X, 8, Kind::Write, 10);
    first.ignore_sync += 1;
    let first_addr = &*first as *const Goroutine as usize;
    let seen = first.visible.clone();
    d.go_end(first);
    assert_eq!(
        Arc::strong_count(&seen),
        1,
        "a kept state lets go of its goroutine's Visible (the leak check's sign that it ended)"
    );
    let mut second = d.go_start(Some(&mut main), 0x61);
    assert_eq!(
        &*second as *const Goroutine as usize, first_addr,
        "the second child reuses the first one's state"
    );
    // Not ordered after the first child: its write races with the first one's, and
    // its stack is its own.
    d.access(&mut second, X, 8, Kind::Write, 20);
    let text = d.platform.output();
    assert_eq!(d.report_count(), 1, "{text}");
    assert!(
        text.contains("Write at 0x000000001010 by goroutine 3:\n  f20()\n      t.go:20 +0x0\n\nPrevious write at 0x000000001010 by goroutine 2:\n  f10()\n      t.go:10 +0x0\n  f301()\n"),
        "{text}"
    );
    assert!(
        text.contains("\nGoroutine 3 (running) created at:\n  f97()\n"),
        "{text}"
    );
    // Its releases count (it is not inside the first one's `ignore_sync`).
    d.access(&mut second, Y, 8, Kind::Write, 21);
    d.release(&mut second, M);
    d.acquire(&mut main, M);
    d.access(&mut main, Y, 8, Kind::Write, 22);
    assert_eq!(d.report_count(), 1, "{}", d.platform.output());
}

fn same_stacks_twice(d: &Detector<TestPlatform>) {
    let (_g0, mut main) = start(d);
    let mut child = d.go_start(Some(&mut main), 0x60);
    d.first_entry(&mut child);
    for a in [X, Y] {
        d.access(&mut child, a, 8, Kind::Write, 10);
        d.access(&mut main, a, 8, Kind::Write, 20);
    }
}

/// Two races at the same address, between different stacks.
fn same_address_twice(d: &Detector<TestPlatform>) {
    let (_g0, mut main) = start(d);
    let mut child = d.go_start(Some(&mut main), 0x60);
    d.access(&mut child, X, 8, Kind::Write, 10);
    d.access(&mut main, X, 8, Kind::Write, 20);
    d.access(&mut main, X, 8, Kind::Write, 30);
}

#[test]
fn suppress_equal_stacks() {
    let d = detector(Options {
        suppress_equal_addresses: false,
        ..Options::default()
    });
    assert!(d.options.suppress_equal_stacks, "on by default");
    same_stacks_twice(&d);
    assert_eq!(d.report_count(), 1);
    assert_eq!(d.platform.output().matches("WARNING: DATA RACE").count(), 1);

    let d = detector(report_everything());
    same_stacks_twice(&d);
    assert_eq!(d.report_count(), 2);
    assert_eq!(d.platform.output().matches("WARNING: DATA RACE").count(), 2);
}

#[test]
fn suppress_equal_addresses() {
    let d = detector(Options {
        suppress_equal_stacks: false,
        suppress_equal_addresses: true,
        ..Options::default()
    });
    same_address_twice(&d);
    assert_eq!(d.report_count(), 1);

    let d = detector(Options::default());
    assert!(
        !d.options.suppress_equal_addresses,
        "off by default, as the stock runtime behaves"
    );
    same_address_twice(&d);
    assert_eq!(
        d.report_count(),
        2,
        "two stack pairs on one address: two reports"
    );
}

#[test]
fn halt_on_error_exits_after_the_first_report() {
    let d = detector(Options {
        halt_on_error: true,
        exitcode: 42,
        ..report_everything()
    });
    let r = catch_unwind(AssertUnwindSafe(|| same_stacks_twice(&d)));
    let msg = r.expect_err("exit panics on the test platform");
    assert_eq!(
        msg.downcast_ref::<String>().map(|s| s.as_str()),
        Some("test platform: exit(42)")
    );
    assert_eq!(d.platform.exit_code(), Some(42));
    assert_eq!(d.report_count(), 1);
    assert_eq!(
        d.platform.output().matches("WARNING: DATA RACE").count(),
        1,
        "the report is written before exiting"
    );

    let d = detector(report_everything());
    same_stacks_twice(&d);
    assert_eq!(d.platform.exit_code(), None, "off by default");
}

#[test]
fn fini_summarises_only_when_races_were_found() {
    let quiet = detector(Options {
        atexit_sleep_ms: 7,
        exitcode: 3,
        ..report_everything()
    });
    let (_g0, mut main) = start(&quiet);
    quiet.access(&mut main, X, 8, Kind::Write, 10);
    assert_eq!(quiet.fini(), 0);
    assert_eq!(quiet.platform.output(), "");
    assert_eq!(quiet.platform.slept_ms(), 7, "sleeps atexit_sleep_ms first");

    let racy = detector(Options {
        atexit_sleep_ms: 0,
        exitcode: 3,
        ..report_everything()
    });
    same_stacks_twice(&racy);
    racy.platform.take_writes();
    assert_eq!(racy.fini(), 3);
    assert_eq!(
        racy.platform.output(),
        "gorace: 1 goroutine(s) still running at exit; \
         GORACE=detect_leaks=1 (gorace --leaks) reports them as leaks\n\
         Found 2 data race(s)\n",
        "the child goroutine never ended: one hint line"
    );
}

#[test]
fn malloc_forgets_accesses_and_free_forgets_releases() {
    // Without malloc, the child's write races with main's.
    let d = detector(report_everything());
    let (_g0, mut main) = start(&d);
    let mut child = d.go_start(Some(&mut main), 0x60);
    d.access(&mut child, X, 8, Kind::Write, 10);
    d.malloc(X, 8);
    d.access(&mut main, X, 8, Kind::Write, 20);
    assert_eq!(d.report_count(), 0, "the child's write was forgotten");

    let run = |free: bool| {
        let d = detector(report_everything());
        let (_g0, mut main) = start(&d);
        let mut a = d.go_start(Some(&mut main), 0x60);
        let mut b = d.go_start(Some(&mut main), 0x61);
        d.access(&mut a, X, 8, Kind::Write, 10);
        d.release(&mut a, M);
        if free {
            d.free(M, 8);
        }
        d.acquire(&mut b, M);
        d.access(&mut b, X, 8, Kind::Write, 20);
        d.report_count()
    };
    assert_eq!(run(false), 0, "release/acquire orders the writes");
    assert_eq!(run(true), 1, "nothing to acquire after free");
}

#[test]
fn malloc_forgets_every_cell_stored_however_it_was_stored() {
    // Blocks of eight granules (sharing their overflow cells).
    let unit = 64;
    let base = Y.next_multiple_of(unit);
    // Each way of storing a cell, each into blocks of its own: a range write over fresh
    // memory spanning three blocks, a scalar write, a byte loop widening a cell.
    let ways: [(usize, usize); 3] = [(base, 3 * unit), (base + 4 * unit, 8), (base + 5 * unit, 4)];
    for (i, &(addr, size)) in ways.iter().enumerate() {
        let d = detector(report_everything());
        let (_g0, mut main) = start(&d);
        let mut child = d.go_start(Some(&mut main), 0x60);
        match i {
            0 => d.access_range(&mut child, addr, size, Kind::Write, 10),
            1 => d.access(&mut child, addr, 8, Kind::Write, 10),
            _ => (0..size).for_each(|b| d.access(&mut child, addr + b, 1, Kind::Write, 10)),
        }
        // Without malloc, main's write to the last granule races with the child's.
        let last = addr + size - 1;
        d.malloc(addr, size);
        d.access(&mut main, last & !7, 8, Kind::Write, 20);
        d.access(&mut main, addr, 8, Kind::Write, 21);
        assert_eq!(
            d.report_count(),
            0,
            "way {i}: the child's cells were forgotten"
        );
        // Cells stored anew are forgotten by the next malloc too.
        d.malloc(addr, size);
        d.access(&mut child, addr, 8, Kind::Write, 11);
        d.malloc(addr, size);
        d.access(&mut main, addr, 8, Kind::Write, 22);
        assert_eq!(d.report_count(), 0, "way {i}: forgotten again");
        d.access(&mut child, addr, 8, Kind::Write, 12);
        d.access(&mut main, addr, 8, Kind::Write, 23);
        assert_eq!(d.report_count(), 1, "way {i}: without malloc, a race");
    }
}

#[test]
fn sync_objects_made_by_releases_and_atomics_are_freed_with_their_memory() {
    use super::platform::{APP_SIZE, META_PAGE};
    // Both ways a sync object is made (a release, an atomic store); freeing a range
    // on another meta page leaves it, freeing its own memory drops it.
    let run = |atomic: bool, free_at: usize| {
        let d = detector(report_everything());
        let (_g0, mut main) = start(&d);
        let mut a = d.go_start(Some(&mut main), 0x60);
        let mut b = d.go_start(Some(&mut main), 0x61);
        d.access(&mut a, X, 8, Kind::Write, 10);
        if atomic {
            d.atomic(&mut a, M, 4, crate::AtomicOp::Store, (11, 12), || {
                ((), true)
            });
        } else {
            d.release(&mut a, M);
        }
        d.free(free_at, 8);
        if atomic {
            d.atomic(&mut b, M, 4, crate::AtomicOp::Load, (21, 22), || {
                ((), false)
            });
        } else {
            d.acquire(&mut b, M);
        }
        d.access(&mut b, X, 8, Kind::Write, 20);
        d.report_count()
    };
    let elsewhere = (M / META_PAGE + 2) * META_PAGE;
    assert!(elsewhere + 8 <= APP_BASE + APP_SIZE && elsewhere / META_PAGE != X / META_PAGE);
    for atomic in [false, true] {
        assert_eq!(run(atomic, elsewhere), 0, "atomic={atomic}: still ordered");
        assert_eq!(
            run(atomic, M),
            1,
            "atomic={atomic}: nothing to acquire after free"
        );
    }
}

#[test]
fn atomics_synchronise_and_are_silent_under_ignore_sync() {
    // Races reported, as (current pc, previous pc).
    let run = |ignore: bool| {
        let d = detector(report_everything());
        let (_g0, mut main) = start(&d);
        let mut a = d.go_start(Some(&mut main), 0x60);
        let mut b = d.go_start(Some(&mut main), 0x61);
        d.access(&mut a, X, 8, Kind::Write, 10);
        a.ignore_sync += ignore as u32;
        d.atomic(&mut a, M, 4, crate::AtomicOp::Store, (11, 12), || {
            ((), true)
        });
        d.atomic(&mut b, M, 4, crate::AtomicOp::Load, (21, 22), || {
            ((), false)
        });
        d.access(&mut b, X, 8, Kind::Read, 23);
        // A plain read conflicts with the atomic store, not with the atomic load.
        d.access(&mut main, M, 4, Kind::Read, 30);
        d.platform
            .take_writes()
            .iter()
            .map(|t| {
                let r = parse_report(t).unwrap();
                (r.current.stack[0], r.previous.stack[0])
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        run(false),
        [(30, 12)],
        "the store/load pair orders X; the plain read races with the store"
    );
    assert_eq!(
        run(true),
        [(23, 10)],
        "nothing was recorded for the store: X races, the plain read does not"
    );
}

// Documented precision limits. Each test asserts what the reference model says; they
// fail on the current engine and are ignored so that the suite stays green. Run them
// with `cargo test -p gorace-engine -- --ignored`.

/// One goroutine writes the 8 bytes of a word one at a time, with no synchronisation
/// at all; another goroutine, started before, reads them one at a time. All 8 reads
/// race. The granule keeps 4 cells and none of the 8 single-byte writes covers
/// another, so 4 of them are evicted and the reads of those bytes are missed.
///
/// The shadow documentation says eviction "needs five mutually unordered accesses to
/// one granule": in fact five accesses of a single goroutine, all ordered, suffice
/// when none covers another (disjoint bytes), or when their kinds differ (a write, a
/// read in a later epoch, an atomic write, an atomic read...). ThreadSanitizer has the
/// same limit (4 cells per 8 bytes).
/// The same byte loop written as a loop (one pc): adjacent same-site writes merge into
/// one cell, so every later read races.
#[test]
fn accesses_to_the_own_stack_are_neither_checked_nor_remembered() {
    let d = detector(report_everything());
    let (_g0, mut main) = start(&d);
    let mut child = d.go_start(Some(&mut main), 101);
    // Memory that held a heap object before it became the stack keeps that object's
    // cells until it is allocated again: they are not looked at either.
    d.access(&mut child, Y + 0x20, 8, Kind::Write, 200);
    main.own_stack = (Y, Y + 0x40);
    d.access(&mut main, Y + 0x20, 8, Kind::Write, 105);
    assert_eq!(d.report_count(), 0, "an own-stack access over an old cell");
    d.access(&mut main, Y + 8, 8, Kind::Write, 102);
    d.access_range(&mut main, Y + 0x10, 16, Kind::Write, 103);
    assert_eq!(
        d.platform.cells(Y + 8).0[0],
        crate::cell::Cell::EMPTY,
        "nothing stored"
    );
    // (Another goroutine cannot reach that memory in Go; if it did, nothing would race.)
    d.access(&mut child, Y + 8, 8, Kind::Write, 201);
    d.access(&mut child, Y + 0x10, 8, Kind::Write, 202);
    assert_eq!(d.report_count(), 0);
    // Outside the stack, the same accesses race as ever.
    d.access(&mut main, X, 8, Kind::Write, 104);
    d.access(&mut child, X, 8, Kind::Write, 203);
    assert_eq!(d.report_count(), 1);
}

#[test]
fn a_long_range_over_fresh_memory_has_its_shadow_prepared_once() {
    const BASE: usize = 0x10_0000;
    let d = Detector::new(
        TestPlatform::with_range(BASE, 0x2_0000),
        report_everything(),
    );
    let (_g0, mut main) = start(&d);
    let mut child = d.go_start(Some(&mut main), 0x60);
    let (a, len) = (BASE + 0x18, 40_000);
    d.access_range(&mut main, a, len, Kind::Write, 100);
    assert_eq!(d.platform.prepared(), [(a, len)]);
    for at in [a, a + 20_000, a + len - 8] {
        assert!(!d.platform.cells(at).0[0].is_empty(), "a cell at {at:#x}");
    }
    // Known already: nothing to prepare.
    d.access_range(&mut main, a, len, Kind::Write, 100);
    // Short ranges are not worth a call.
    let b = a + len + 0x100;
    d.access_range(&mut main, b, 8 << 10, Kind::Write, 101);
    assert_eq!(d.platform.prepared().len(), 1);
    // The run of fresh granules is prepared from its first granule to the range's end.
    let c = b + (8 << 10);
    d.access(&mut main, c, 8, Kind::Write, 102);
    d.access_range(&mut main, c, 20 << 10, Kind::Write, 103);
    assert_eq!(d.platform.prepared()[1], (c + 8, (20 << 10) - 8));
    // Another goroutine writing in the first range races with it all the same.
    d.access(&mut child, a + 30_000, 1, Kind::Write, 200);
    assert_eq!(d.report_count(), 1);
}

#[test]
fn only_a_cell_stored_into_a_fresh_pair_is_announced() {
    let d = detector(report_everything());
    let (_g0, mut main) = start(&d);
    d.first_entry(&mut main); // attached: its first access takes the fresh path
    d.access(&mut main, X, 1, Kind::Write, 100);
    d.access(&mut main, X + 1, 1, Kind::Write, 100); // the byte loop's next byte
    d.access(&mut main, X + 8, 1, Kind::Write, 100);
    let mut child = running(&d, &mut main, 0x60);
    d.access(&mut child, X + 2, 1, Kind::Read, 200); // beside the loop's cell
    d.access(&mut child, X + 16, 4, Kind::Read, 201);
    assert_eq!(d.platform.fresh_stores(), [X, X + 8, X + 16]);
}

#[test]
fn a_byte_loop_from_one_site_keeps_every_byte() {
    let d = detector(report_everything());
    let (_g0, mut main) = start(&d);
    let mut reader = d.go_start(Some(&mut main), 0x60);
    for i in 0..8 {
        d.access(&mut main, X + i, 1, Kind::Write, 100);
    }
    for i in 0..8 {
        d.access(&mut reader, X + i, 1, Kind::Read, 200 + i as u64);
    }
    assert_eq!(d.report_count(), 8, "every read races with a write");
}

#[test]
fn a_byte_loop_continued_from_another_caller_keeps_each_callers_stack() {
    // One function (its byte write at pc 100) fills the first half of X when called
    // from 110 and the second half when called from 120: the same pc, two sites.
    let d = detector(report_everything());
    let (_g0, mut main) = start(&d);
    let mut reader = d.go_start(Some(&mut main), 0x60);
    d.func_enter(&mut main, 900, 0);
    for (caller, bytes) in [(110, 0..4), (120, 4..8)] {
        d.func_enter(&mut main, caller, 0);
        for i in bytes {
            d.access(&mut main, X + i, 1, Kind::Write, 100);
        }
        d.func_exit(&mut main, 0);
    }
    d.access(&mut reader, X + 1, 1, Kind::Read, 201);
    d.access(&mut reader, X + 6, 1, Kind::Read, 202);
    let callers: Vec<_> = d
        .platform
        .take_writes()
        .iter()
        .map(|t| {
            let r = parse_report(t).unwrap();
            (r.current.stack[0], r.previous.stack[0], r.previous.stack[1])
        })
        .collect();
    assert_eq!(callers, [(201, 100, 110), (202, 100, 120)]);
}

#[test]
#[ignore = "precision limit: one goroutine's byte-by-byte writes from eight different pcs evict each other"]
fn limit_bytewise_writes_of_one_goroutine_evict_each_other() {
    let d = detector(report_everything());
    let (_g0, mut main) = start(&d);
    let mut reader = d.go_start(Some(&mut main), 0x60);
    for i in 0..8 {
        d.access(&mut main, X + i, 1, Kind::Write, 100 + i as u64);
    }
    for i in 0..8 {
        d.access(&mut reader, X + i, 1, Kind::Read, 200 + i as u64);
    }
    assert_eq!(d.report_count(), 8, "every read races with a write");
}

/// A finalizer goroutine acquires globally; another goroutine then writes X without
/// releasing anything; the finalizer writes X. The reference says the writes race (the
/// second write came after the global acquire). The engine made the finalizer learn
/// the writer's *current epoch*, which also covers everything the writer does until
/// its next release, so it misses the race. ThreadSanitizer's `AcquireGlobal` does the
/// same.
#[test]
#[ignore = "precision limit: acquire_global orders the rest of every goroutine's current epoch"]
fn limit_acquire_global_covers_the_rest_of_current_epochs() {
    let d = detector(report_everything());
    let (_g0, mut main) = start(&d);
    let mut writer = running(&d, &mut main, 0x60);
    let mut fin = d.go_start(Some(&mut main), 0x61);
    d.acquire_global(&mut fin);
    d.access(&mut writer, X, 8, Kind::Write, 10);
    d.access(&mut fin, X, 8, Kind::Write, 20);
    assert_eq!(d.report_count(), 1);
}

/// Goroutine L is long-lived. Goroutine G writes X and ends, without synchronising
/// with anyone. 252 more goroutines each write something and end; each takes a fresh
/// slot (their parent knows nothing of the freed ones), until all 256 slots have been
/// used. The next goroutine, H, then reuses the slot G freed first, although its
/// parent never learned about G. H releases M, L acquires M, L writes X: L's and G's
/// writes are unordered (and L was alive all along), but L now knows an epoch of G's
/// slot newer than G's write, so the engine takes the write as ordered before L's.
///
/// The slot documentation says unsafe reuse "may hide a race between the old and the
/// new holder"; it also hides races between the old holder and every goroutine that
/// later synchronises with the new one, including goroutines whose lifetime overlapped
/// the old holder's.
#[test]
#[ignore = "precision limit: unsafe slot reuse hides races with the old holder's accesses"]
fn limit_unsafe_slot_reuse_hides_races_of_the_old_holder() {
    let d = detector(report_everything());
    let (_g0, mut main) = start(&d);
    let mut long = running(&d, &mut main, 0x60);
    let mut g = d.go_start(Some(&mut main), 0x61);
    d.access(&mut g, X, 8, Kind::Write, 10);
    d.go_end(g);
    for i in 0..MAX_SLOTS - 4 {
        let mut c = d.go_start(Some(&mut main), 0x100 + i as u64);
        d.access(&mut c, Y + 8 * (i % 16), 1, Kind::Read, 0x1000 + i as u64);
        d.go_end(c);
    }
    assert_eq!(d.slots.used(), MAX_SLOTS, "every slot has been used");
    let mut h = running(&d, &mut main, 0x70); // reuses G's slot
    d.release(&mut h, M);
    d.acquire(&mut long, M);
    d.access(&mut long, X, 8, Kind::Write, 20);
    assert_eq!(d.report_count(), 1, "L's write races with G's");
}

/// Goroutines take their slots when they begin to run. A goroutine L that writes X and
/// then waits keeps its slot while main creates four times as many goroutines as there
/// are slots (with slots taken at creation, they preempted L's, and the one that took
/// it knew L's slot past L's write: their race with it was missed). Each then runs,
/// writes X and ends: the first one's write races with L's.
#[test]
fn goroutines_waiting_to_run_take_no_slot_from_running_ones() {
    let d = detector(report_everything());
    let (_g0, mut main) = start(&d);
    let mut l = running(&d, &mut main, 0x60);
    d.access(&mut l, X, 8, Kind::Write, 10);
    let children: Vec<_> = (0..4 * MAX_SLOTS)
        .map(|i| d.go_start(Some(&mut main), 0x100 + i as u64))
        .collect();
    assert!(
        d.slots.holds(l.slot, l.gid),
        "goroutines that have not run preempt nobody"
    );
    for mut c in children {
        d.first_entry(&mut c);
        d.access(&mut c, X, 8, Kind::Write, 20);
        d.go_end(c);
    }
    assert!(d.slots.holds(l.slot, l.gid));
    let reports: Vec<_> = d
        .platform
        .take_writes()
        .iter()
        .map(|t| parse_report(t).unwrap().previous.gid)
        .collect();
    assert_eq!(reports.len(), 4 * MAX_SLOTS, "every child's write races");
    assert_eq!(reports[0], Some(l.gid), "the first with L's");
}

/// Fills every slot (goroutine 0, main and 254 running children), then starts S,
/// which preempts an idle child's slot. Returns the children, S and the index of the
/// child that lost its slot (goroutines stay boxed, as `go_start` returns them).
#[allow(clippy::vec_box)]
fn preempt_a_child(
    d: &Detector<TestPlatform>,
    main: &mut Goroutine,
) -> (Vec<Box<Goroutine>>, Box<Goroutine>, usize) {
    let children: Vec<_> = (0..MAX_SLOTS - 2)
        .map(|i| running(d, main, 0x100 + i as u64))
        .collect();
    let s = running(d, main, 0x70);
    let i = children
        .iter()
        .position(|c| c.slot == s.slot)
        .expect("S took an idle child's slot");
    (children, s, i)
}

/// 256 goroutines are alive (goroutine 0, main and 254 children), so every slot is
/// held and the next goroutine, S, preempts the least active slot: a child that has
/// done nothing since it started. That child then releases (and so moves to another
/// slot) and writes X; main writes X. The report names the child as the previous
/// writer: holders of a slot never overlap, so the journal stays exact.
#[test]
fn preempted_goroutines_keep_their_identity_in_reports() {
    let d = detector(report_everything());
    let (_g0, mut main) = start(&d);
    let (mut children, s, i) = preempt_a_child(&d, &mut main);
    let victim = &mut children[i];
    let victim_gid = victim.gid;
    d.release(victim, M);
    assert_ne!(
        victim.slot, s.slot,
        "the preempted child moved on at its release"
    );
    d.access(victim, X, 8, Kind::Write, 10);
    d.access(&mut main, X, 8, Kind::Write, 20);
    let r = parse_report(&d.platform.output()).unwrap();
    assert_eq!(
        r.previous.gid,
        Some(victim_gid),
        "the previous write was the child's"
    );
    assert_eq!(r.current.gid, Some(main.gid));
}

/// A preempted goroutine P writes X (stamped on the slot it no longer holds),
/// releases M (moving to another slot) and writes Y. Main then acquires M: P's write
/// of X happened before, its write of Y did not.
#[test]
fn a_preempted_goroutine_is_ordered_by_its_release() {
    let d = detector(report_everything());
    let (_g0, mut main) = start(&d);
    let (mut children, _s, i) = preempt_a_child(&d, &mut main);
    let p = &mut children[i];
    d.access(p, X, 8, Kind::Write, 10);
    d.release(p, M);
    d.access(p, Y, 8, Kind::Write, 11);
    d.acquire(&mut main, M);
    d.access(&mut main, X, 8, Kind::Write, 20);
    assert_eq!(
        d.report_count(),
        0,
        "the write of X happened before the release"
    );
    d.access(&mut main, Y, 8, Kind::Write, 21);
    assert_eq!(d.report_count(), 1, "the write of Y came after it");
}

#[test]
fn limit_tests_set_up_what_they_claim() {
    // The limit tests above fail only because of the limit: with the detail that
    // triggers it removed, each scenario reports what the model says.
    let d = detector(report_everything());
    let (_g0, mut main) = start(&d);
    let mut reader = d.go_start(Some(&mut main), 0x60);
    for i in 0..4 {
        d.access(&mut main, X + i, 1, Kind::Write, 100 + i as u64);
    }
    for i in 0..4 {
        d.access(&mut reader, X + i, 1, Kind::Read, 200 + i as u64);
    }
    assert_eq!(
        d.report_count(),
        4,
        "four single-byte writes fit in a granule"
    );

    let d = detector(report_everything());
    let (_g0, mut main) = start(&d);
    let mut writer = running(&d, &mut main, 0x60);
    let mut fin = d.go_start(Some(&mut main), 0x61);
    d.acquire_global(&mut fin);
    d.release(&mut writer, M); // the writer moves to a new epoch
    d.access(&mut writer, X, 8, Kind::Write, 10);
    d.access(&mut fin, X, 8, Kind::Write, 20);
    assert_eq!(
        d.report_count(),
        1,
        "a write in a later epoch is not covered"
    );

    let d = detector(report_everything());
    let (_g0, mut main) = start(&d);
    let mut long = running(&d, &mut main, 0x60);
    let mut g = d.go_start(Some(&mut main), 0x61);
    d.access(&mut g, X, 8, Kind::Write, 10);
    d.go_end(g);
    for i in 0..MAX_SLOTS - 5 {
        let mut c = d.go_start(Some(&mut main), 0x100 + i as u64);
        d.access(&mut c, Y + 8 * (i % 16), 1, Kind::Read, 0x1000 + i as u64);
        d.go_end(c);
    }
    let mut h = running(&d, &mut main, 0x70); // the last fresh slot
    assert_eq!(d.slots.used(), MAX_SLOTS);
    d.release(&mut h, M);
    d.acquire(&mut long, M);
    d.access(&mut long, X, 8, Kind::Write, 20);
    assert_eq!(d.report_count(), 1, "with a slot to spare, no reuse");

    let d = detector(report_everything());
    let (mut g0, mut main) = start(&d);
    let children: Vec<_> = (0..MAX_SLOTS - 2)
        .map(|i| running(&d, &mut main, 0x100 + i as u64))
        .collect();
    d.release(&mut g0, M);
    d.access(&mut g0, X, 8, Kind::Write, 10);
    d.access(&mut main, X, 8, Kind::Write, 20);
    let r = parse_report(&d.platform.output()).unwrap();
    assert_eq!(
        r.previous.gid,
        Some(0),
        "without sharing, the right goroutine"
    );
    drop(children);
}

/// The watchdog over main and one goroutine it started, in the given states (and a
/// third, system, goroutine in `other` if given): what it printed once 2 s passed
/// without a step, if it fired.
fn watchdog_run(
    main_state: crate::watchdog::GoState,
    child_state: crate::watchdog::GoState,
    other: Option<crate::watchdog::GoState>,
) -> Option<String> {
    let d = detector(Options {
        deadlock_watchdog_s: 1,
        ..Options::default()
    });
    let (_g0, mut main) = start(&d);
    let (main_g, child_g, other_g) = (0x10_000, 0x20_000, 0x30_000);
    main.set_gptr(main_g);
    d.first_entry(&mut main);
    d.func_enter(&mut main, 100, 0);
    let mut child = d.go_start(Some(&mut main), 101);
    child.set_gptr(child_g);
    d.first_entry(&mut child);
    let mut system = d.go_start(None, 300); // started by the runtime
    system.set_gptr(other_g);
    d.first_entry(&mut system);
    d.platform.set_state(main_g, main_state);
    d.platform.set_state(child_g, child_state);
    if let Some(s) = other {
        d.platform.set_state(other_g, s);
    }
    for _ in 0..8 {
        d.platform.sleep_ms(250);
        if d.watchdog_check() {
            return Some(d.platform.output());
        }
    }
    None
}

#[test]
fn the_watchdog_fires_only_when_every_goroutine_waits_for_another() {
    use crate::watchdog::{GoState, WaitReason};
    let waits = |what, blocking| GoState::Waiting(Some(WaitReason { what, blocking }));
    let recv = waits("chan receive", true);
    let send = waits("chan send", true);

    let out = watchdog_run(recv, send, None).expect("a channel hang");
    assert!(
        out.contains("WARNING: DEADLOCK (no goroutine has made progress for 1s)"),
        "{out}"
    );
    assert!(
        out.contains("\nMain goroutine (blocked in chan receive since "),
        "{out}"
    );
    assert!(
        out.contains("\nGoroutine 2 (blocked in chan send since "),
        "{out}"
    );
    assert!(out.contains("Created at:\n  f101()\n"), "{out}");

    // Each of these may still move on its own.
    assert_eq!(
        watchdog_run(recv, waits("sleep", false), None),
        None,
        "a sleeper"
    );
    assert_eq!(
        watchdog_run(recv, waits("IO wait", false), None),
        None,
        "the network"
    );
    assert_eq!(
        watchdog_run(recv, GoState::Active, None),
        None,
        "a running goroutine"
    );
    assert_eq!(
        watchdog_run(recv, send, Some(GoState::Syscall)),
        None,
        "a system call anywhere in the process (os/signal waiting for a signal)"
    );
    // Wait reasons unknown (a Go release without a table): only a lock wait counts.
    let parked = GoState::Waiting(None);
    assert_eq!(
        watchdog_run(parked, parked, None),
        None,
        "parked, no lock wanted"
    );
}
