//! Goroutine leaks: user goroutines still alive when the program exits
//! (`GORACE=detect_leaks=1`).
//!
//! Every goroutine has a [`Visible`] record, the part of its state other threads may
//! read, kept in the [`LiveSet`] from `go_start` to `go_end`. At exit the detector
//! takes the live set, drops system goroutines (runtime, `testing`, `os/signal`, ...:
//! [`is_system`]), waits a grace period for the rest to end, and reports each that did
//! not, grouped by creation site, in Go's report style:
//!
//! ```text
//! ==================
//! WARNING: GOROUTINE LEAK
//! Goroutine 9 (blocked in chan send since 2.1s) last seen at:
//!   main.fetch.func1()
//!       /path/main.go:9 +0x2b
//! Created at:
//!   main.fetch()
//!       /path/main.go:8 +0x44
//! Leaked by test: TestFetch
//! (3 goroutines leaked from this creation site)
//! ==================
//! ```
//!
//! "Last seen" is the goroutine's last synchronising step or runtime-reported access
//! (channel operations, mutexes, atomics, `sync` waits): where goroutines block. A
//! goroutine with no such step is shown by its function (read from Go's `g.startpc`
//! when the `g` layout could be verified). The test a goroutine leaked from is the
//! function `testing.tRunner` (or a benchmark or example runner) called in the first
//! creation stack up its chain of creators that has one ([`Visible::chain`]), so it is
//! right under `t.Parallel` and for subtests.

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};

use crate::report::{write_frames, Frame, Style};

/// `parent` of goroutines the runtime starts by itself (timers, cleanups).
pub const NO_PARENT: u32 = u32::MAX;

/// What other threads may read about a live goroutine. The goroutine's own
/// [`crate::goroutine::Goroutine`] is touched only by the thread running it; this record
/// is shared (through an `Arc`) with the [`LiveSet`], and only atomics in it change.
#[derive(Debug)]
pub struct Visible {
    pub gid: u32,
    /// The creating goroutine's id, [`NO_PARENT`] if the runtime started it.
    pub parent: u32,
    /// Stack-depot node of the `go` statement's stack.
    pub creation: u32,
    /// The `go` statement's pc as Go reported it (Go's `g.gopc`).
    pub gopc: u64,
    /// Address of the goroutine's state (Go's `g.racectx`).
    pub ctx: AtomicUsize,
    /// Go's `g`, from the goroutine's first function entry (0 until then).
    pub gptr: AtomicUsize,
    /// Stack-depot node of the last synchronising step (0: none yet).
    pub last_site: AtomicU32,
    /// Platform ticks at that step, or at the goroutine's start.
    pub last_tick: AtomicU64,
    /// Creation stacks up the chain of creators: this goroutine's, its parent's, ...
    /// (0 past the known ones). The first that runs under a test runner names the test
    /// the goroutine leaked from; nothing is symbolised until then.
    pub chain: [u32; CHAIN],
    /// [`CLASS_UNKNOWN`] until the goroutine's first function entry classifies its
    /// creation stack as [`CLASS_USER`] or [`CLASS_SYSTEM`].
    pub class: core::sync::atomic::AtomicU8,
    index: AtomicUsize,
}

/// [`Visible::class`] values.
pub const CLASS_UNKNOWN: u8 = 0;
pub const CLASS_USER: u8 = 1;
pub const CLASS_SYSTEM: u8 = 2;

/// Creators followed up the chain to find a goroutine's test.
pub const CHAIN: usize = 8;

impl Visible {
    /// `parent_chain` is the creator's [`Visible::chain`] (empty for the runtime's own).
    pub fn new(
        gid: u32,
        parent: u32,
        creation: u32,
        gopc: u64,
        tick: u64,
        parent_chain: &[u32],
    ) -> Visible {
        let mut chain = [0; CHAIN];
        chain[0] = creation;
        for (c, &p) in chain[1..].iter_mut().zip(parent_chain) {
            *c = p;
        }
        Visible {
            gid,
            parent,
            creation,
            gopc,
            ctx: AtomicUsize::new(0),
            gptr: AtomicUsize::new(0),
            last_site: AtomicU32::new(0),
            last_tick: AtomicU64::new(tick),
            chain,
            class: core::sync::atomic::AtomicU8::new(CLASS_UNKNOWN),
            index: AtomicUsize::new(usize::MAX),
        }
    }
}

/// The goroutines alive now.
#[derive(Default)]
pub struct LiveSet {
    list: crate::lock::Mutex<Vec<Arc<Visible>>>,
}

impl LiveSet {
    pub fn insert(&self, v: &Arc<Visible>) {
        let mut list = self.list.lock();
        v.index.store(list.len(), Relaxed);
        list.push(v.clone());
    }

    pub fn remove(&self, v: &Visible) {
        let mut list = self.list.lock();
        let i = v.index.load(Relaxed);
        if i < list.len() && core::ptr::eq(Arc::as_ptr(&list[i]), v) {
            list.swap_remove(i);
            if let Some(moved) = list.get(i) {
                moved.index.store(i, Relaxed);
            }
        }
    }

    /// The goroutines alive at this moment.
    pub fn snapshot(&self) -> Vec<Arc<Visible>> {
        self.list.lock().clone()
    }

    pub fn len(&self) -> usize {
        self.list.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The package of a Go function name: `runtime` for `runtime.main`, `os/signal` for
/// `os/signal.loop`, `example.com/m/x` for `example.com/m/x.(*T).Run`.
pub fn package(func: &str) -> &str {
    let slash = func.rfind('/').map_or(0, |i| i + 1);
    match func[slash..].find('.') {
        Some(dot) => &func[..slash + dot],
        None => func,
    }
}

/// Packages whose goroutines are the system's, never leaks.
pub fn is_system_package(pkg: &str) -> bool {
    pkg == "runtime"
        || pkg.starts_with("runtime/")
        || pkg.starts_with("internal/")
        || pkg == "testing"
        || pkg.starts_with("testing/internal/")
        || pkg == "os/signal"
}

/// Whether a goroutine created at `created_at` (symbolised, innermost first) by
/// `parent` is a system goroutine: started by the runtime itself, or by a `go`
/// statement in a system package (the innermost frame, inlined functions included).
pub fn is_system(parent: u32, created_at: &[Frame]) -> bool {
    parent == NO_PARENT
        || created_at
            .first()
            .is_none_or(|f| is_system_package(package(&f.func)))
}

/// Frames on top of a last-seen stack that say how, not where: the runtime's, the
/// atomics' assembly and ABI wrappers, the semaphores under `sync`.
pub fn is_plumbing(f: &Frame) -> bool {
    matches!(
        package(&f.func),
        "runtime" | "sync/atomic" | "internal/race" | "internal/sync"
    ) || f.file == "<autogenerated>"
}

/// Functions that run a test, benchmark or example's function.
const TEST_RUNNERS: &[&str] = &[
    "testing.tRunner",
    "testing.(*B).runN",
    "testing.runExample",
    "testing.(*F).Fuzz.func1",
];

/// The test function in a creation stack (innermost first): the frame a test runner
/// called, without its package (`TestFetch`, `TestParallel.func2` for a subtest).
pub fn test_function(created_at: &[Frame]) -> Option<String> {
    let i = created_at
        .iter()
        .position(|f| TEST_RUNNERS.contains(&f.func.as_str()))?;
    let f = created_at.get(i.checked_sub(1)?)?;
    let pkg = package(&f.func);
    Some(f.func[(pkg.len() + 1).min(f.func.len())..].to_string())
}

/// How a test function is named in a report: `TestFetch`, or, for a subtest's
/// function, `TestParallel (subtest TestParallel.func2)`.
pub fn test_label(function: &str) -> String {
    match function.split_once('.') {
        Some((test, _)) if test.starts_with("Test") || test.starts_with("Benchmark") => {
            alloc::format!("{test} (subtest {function})")
        }
        _ => function.to_string(),
    }
}

/// What a goroutine blocked in, from its last-seen frames (innermost first), when
/// they show it, in the words of Go's goroutine dumps. `nil_chan`: a channel operation
/// of the frames was on a nil channel.
pub fn wait_reason(last_seen: &[Frame], nil_chan: bool) -> Option<&'static str> {
    const REASONS: &[(&str, &str)] = &[
        ("runtime.block", "select (no cases)"),
        ("runtime.chansend", "chan send"),
        ("runtime.chansend1", "chan send"),
        ("runtime.chanrecv", "chan receive"),
        ("runtime.chanrecv1", "chan receive"),
        ("runtime.chanrecv2", "chan receive"),
        ("runtime.selectgo", "select"),
        ("runtime.closechan", "chan close"),
        ("sync.(*WaitGroup).Wait", "sync.WaitGroup.Wait"),
        ("sync.(*Cond).Wait", "sync.Cond.Wait"),
        ("sync.(*RWMutex).RLock", "sync.RWMutex.RLock"),
        ("sync.(*RWMutex).Lock", "sync.RWMutex.Lock"),
        ("internal/sync.(*Mutex).lockSlow", "sync.Mutex.Lock"),
        ("internal/sync.(*Mutex).Lock", "sync.Mutex.Lock"),
        ("sync.(*Mutex).Lock", "sync.Mutex.Lock"),
        ("time.Sleep", "sleep"),
    ];
    let reason = last_seen.iter().find_map(|f| {
        REASONS
            .iter()
            .find(|(func, _)| *func == f.func)
            .map(|&(_, r)| r)
    });
    match reason {
        Some("chan send") if nil_chan => Some("chan send (nil chan)"),
        Some("chan receive") if nil_chan => Some("chan receive (nil chan)"),
        r => r,
    }
}

/// `leak_ignore` matching: a pattern names a function exactly (`pkg.Func`,
/// `pkg.(*T).Method`), or ends with `*` to match a prefix (`example.com/m/worker.*`).
pub fn matches(pattern: &str, func: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => func.starts_with(prefix),
        None => pattern == func,
    }
}

/// Whether any `leak_ignore` pattern matches the top frame, any last-seen frame or any
/// creation frame.
pub fn ignored(patterns: &[String], last_seen: &[Frame], created_at: &[Frame]) -> bool {
    patterns.iter().any(|p| {
        last_seen
            .iter()
            .chain(created_at)
            .any(|f| matches(p, &f.func))
    })
}

/// One leaked goroutine, symbolised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leak {
    pub gid: u32,
    /// No synchronising step during the grace period.
    pub blocked: bool,
    pub wait_reason: Option<&'static str>,
    /// Milliseconds since its last step (or its start).
    pub since_ms: u64,
    /// Innermost first, the runtime's outermost frame dropped ([`crate::report::symbolize`]);
    /// empty when nothing is known (then `entry` may say where).
    pub last_seen: Vec<Frame>,
    /// The goroutine's function, when read from Go's `g`.
    pub entry: Option<Frame>,
    pub created_at: Vec<Frame>,
    pub test: Option<String>,
    /// Key grouping leaks by creation site.
    pub site: u32,
}

/// Leaks from one creation site: the first (lowest id) shown, and how many in all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeakGroup {
    pub first: Leak,
    pub count: usize,
}

/// Groups leaks by creation site, test and where they wait (goroutines from one `go`
/// statement blocked in two places make two reports), in order of their first
/// goroutine.
pub fn group(mut leaks: Vec<Leak>) -> Vec<LeakGroup> {
    let waits_at = |l: &Leak| l.last_seen.first().map(|f| (f.func.clone(), f.line));
    leaks.sort_by_key(|l| l.gid);
    let mut groups: Vec<LeakGroup> = Vec::new();
    for l in leaks {
        match groups.iter_mut().find(|g| {
            g.first.site == l.site && g.first.test == l.test && waits_at(&g.first) == waits_at(&l)
        }) {
            Some(g) => g.count += 1,
            None => groups.push(LeakGroup { first: l, count: 1 }),
        }
    }
    groups
}

fn seconds(ms: u64) -> String {
    alloc::format!("{}.{}s", ms / 1000, (ms % 1000) / 100)
}

impl LeakGroup {
    /// The report for this group, fences included.
    pub fn to_text(&self, style: &Style) -> String {
        let l = &self.first;
        let mut out = String::from("==================\nWARNING: GOROUTINE LEAK\n");
        let state = match (l.blocked, l.wait_reason) {
            (true, Some(r)) => alloc::format!("blocked in {r}"),
            (true, None) => String::from("blocked"),
            (false, _) => String::from("running"),
        };
        let _ = writeln!(
            out,
            "Goroutine {} ({state} since {}) last seen at:",
            l.gid,
            seconds(l.since_ms)
        );
        match (&l.last_seen[..], &l.entry) {
            ([], Some(entry)) => write_frames(&mut out, core::slice::from_ref(entry), false, style),
            ([], None) => out.push_str("  [not seen running before the program's end]\n"),
            (frames, _) => write_frames(&mut out, frames, false, style),
        }
        out.push_str("Created at:\n");
        write_frames(&mut out, &l.created_at, false, style);
        if let Some(t) = &l.test {
            let _ = writeln!(out, "Leaked by test: {}", test_label(t));
        }
        if self.count > 1 {
            let _ = writeln!(
                out,
                "({} goroutines leaked from this creation site)",
                self.count
            );
        }
        out.push_str("==================\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(func: &str, line: u64) -> Frame {
        Frame {
            func: func.to_string(),
            file: String::from("/p/main.go"),
            line,
            offset: 0x10,
        }
    }

    #[test]
    fn packages_and_system_goroutines() {
        assert_eq!(package("runtime.main"), "runtime");
        assert_eq!(package("os/signal.loop"), "os/signal");
        assert_eq!(package("example.com/m/x.(*T).Run.func1"), "example.com/m/x");
        assert_eq!(package("main.main"), "main");
        assert!(is_system(NO_PARENT, &[f("main.main", 1)]));
        assert!(is_system(
            3,
            &[f("testing.(*T).Run", 1), f("main.TestX", 2)]
        ));
        assert!(is_system(3, &[f("os/signal.Notify.func1", 1)]));
        assert!(is_system(3, &[f("internal/poll.x", 1)]));
        assert!(!is_system(3, &[f("main.fetch", 8), f("main.main", 20)]));
        assert!(
            !is_system(3, &[f("sync.(*WaitGroup).Go", 1), f("main.main", 2)]),
            "wg.Go runs the user's function"
        );
    }

    #[test]
    fn tests_are_named_by_the_function_their_runner_called() {
        let created = [
            f("example.com/m.fetch", 8),
            f("example.com/m.TestFetch", 20),
            f("testing.tRunner", 1),
        ];
        assert_eq!(test_function(&created).as_deref(), Some("TestFetch"));
        assert_eq!(test_label("TestFetch"), "TestFetch");
        let sub = [f("m.TestParallel.func2", 3), f("testing.tRunner", 1)];
        assert_eq!(test_function(&sub).as_deref(), Some("TestParallel.func2"));
        assert_eq!(
            test_label("TestParallel.func2"),
            "TestParallel (subtest TestParallel.func2)"
        );
        assert_eq!(test_function(&[f("main.main", 1)]), None);
        assert_eq!(
            test_function(&[f("testing.tRunner", 1)]),
            None,
            "no test frame"
        );
    }

    #[test]
    fn wait_reasons_and_ignores() {
        let seen = [f("runtime.chansend1", 1), f("main.fetch.func1", 9)];
        assert_eq!(wait_reason(&seen, false), Some("chan send"));
        assert_eq!(wait_reason(&seen, true), Some("chan send (nil chan)"));
        let parked = [
            f("runtime.gopark", 1),
            f("runtime.block", 2),
            f("main.f", 3),
        ];
        assert_eq!(wait_reason(&parked, false), Some("select (no cases)"));
        let rw = [
            f("runtime.semacquire1", 1),
            f("internal/sync.(*Mutex).lockSlow", 2),
            f("sync.(*RWMutex).Lock", 3),
        ];
        assert_eq!(
            wait_reason(&rw, false),
            Some("sync.Mutex.Lock"),
            "the innermost frame decides, as in Go's dumps"
        );
        assert_eq!(wait_reason(&[f("main.x", 1)], false), None);
        let created = [f("example.com/m/worker.Start", 3)];
        let ig = |p: &str| ignored(&[p.to_string()], &seen, &created);
        assert!(ig("main.fetch.func1"), "any last-seen frame");
        assert!(ig("example.com/m/worker.*"), "a creation frame, by prefix");
        assert!(!ig("main.fetch"), "exact names only without *");
    }

    #[test]
    fn leaks_group_by_site_and_print_in_report_style() {
        let leak = |gid, site| Leak {
            gid,
            blocked: true,
            wait_reason: Some("chan send"),
            since_ms: 2150,
            last_seen: alloc::vec![f("main.fetch.func1", 9)],
            entry: None,
            created_at: alloc::vec![f("main.fetch", 8), f("main.main", 20)],
            test: Some(String::from("TestFetch")),
            site,
        };
        let groups = group(alloc::vec![leak(12, 7), leak(9, 7), leak(10, 8)]);
        assert_eq!(groups.len(), 2);
        let mut elsewhere = leak(13, 7);
        elsewhere.last_seen = alloc::vec![f("main.fetch.func1", 11)];
        assert_eq!(
            group(alloc::vec![leak(9, 7), elsewhere]).len(),
            2,
            "one creation site, two places they wait: two reports"
        );
        assert_eq!((groups[0].first.gid, groups[0].count), (9, 2));
        let style = Style {
            strip_path_prefix: "",
        };
        assert_eq!(
            groups[0].to_text(&style),
            "==================
WARNING: GOROUTINE LEAK
Goroutine 9 (blocked in chan send since 2.1s) last seen at:
  main.fetch.func1()
      /p/main.go:9 +0x10
Created at:
  main.fetch()
      /p/main.go:8 +0x10
  main.main()
      /p/main.go:20 +0x10
Leaked by test: TestFetch
(2 goroutines leaked from this creation site)
==================
"
        );
        assert!(!groups[1].to_text(&style).contains("goroutines leaked"));
    }

    #[test]
    fn the_live_set_follows_starts_and_ends() {
        let s = LiveSet::default();
        let v: Vec<Arc<Visible>> = (0..3)
            .map(|g| Arc::new(Visible::new(g, NO_PARENT, 0, 0, 0, &[])))
            .collect();
        for x in &v {
            s.insert(x);
        }
        s.remove(&v[0]);
        let ids = |s: &LiveSet| {
            let mut i: Vec<u32> = s.snapshot().iter().map(|x| x.gid).collect();
            i.sort();
            i
        };
        assert_eq!(ids(&s), alloc::vec![1, 2]);
        s.remove(&v[0]);
        s.remove(&v[2]);
        assert_eq!(ids(&s), alloc::vec![1]);
        s.insert(&v[0]);
        assert_eq!(ids(&s), alloc::vec![0, 1]);
    }
}
