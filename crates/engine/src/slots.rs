//! Slots: the identities goroutines use in vector clocks and shadow cells.
//!
//! A Go program may create millions of goroutines, but vector clocks have a fixed
//! width ([`MAX_SLOTS`]). Each goroutine therefore *holds a slot*, exclusively. A slot's
//! epochs keep counting across holders, so every `(slot, epoch)` pair names one interval
//! of one goroutine's execution, and a [`Journal`] per slot remembers which goroutine
//! that was (for reports).
//!
//! A goroutine takes its slot when it begins to run, not when it is created (see
//! [`crate::goroutine::Goroutine::attached`]). The choice of its slot decides precision:
//!
//! 1. **Happens-before-safe reuse** (preferred): a free slot `s` whose last holder's last
//!    used epoch `E` is already known to the new goroutine (`clock[s] >= E`).
//!    Anything that later synchronises with the new holder is then genuinely ordered
//!    after every access of the old holder, so reuse loses nothing. This is the
//!    condition Miri uses for reusing vector indices, specialised to the creating
//!    goroutine (Go has no joins, but WaitGroups, channels and semaphores make parents
//!    learn about finished children all the time).
//! 2. A never-used slot.
//! 3. The free slot that has been free the longest (FIFO, like ThreadSanitizer). Never a
//!    false positive; whoever later synchronises with the new holder looks ordered after
//!    the old holder's accesses too.
//! 4. With all slots held by live goroutines, an **inactive** slot (no epoch advanced
//!    since the clock hand last passed it, second-chance style: typically a goroutine
//!    blocked for long) is *preempted*, as in ThreadSanitizer: it changes holder, and the goroutine that
//!    held it moves to another slot at its next release (its clock keeps the old entry,
//!    so its own past stays ordered before it). Holders never overlap, so the journal
//!    always names the right goroutine; races between the preempted goroutine's
//!    accesses up to its next release and the new holder's can be missed.
//!
//! A slot whose epoch counter reaches [`MAX_EPOCH`] is retired; its holder moves to
//! another slot the same way.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::clock::{Epoch, Slot, ThreadClock, MAX_EPOCH, MAX_SLOTS};
use crate::stats::{bump, Stat};

/// Journal entries kept per slot; older tenures are forgotten (reports then name the
/// goroutine as unknown, the access stack itself is never lost).
pub const JOURNAL_CAP: usize = 4096;

/// No goroutine holds the slot.
const NOBODY: u32 = u32::MAX;

/// One goroutine's tenure on a slot, from `start` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tenure {
    pub start: Epoch,
    pub gid: u32,
    /// Stack-depot node of the `go` statement that created the goroutine.
    pub creation: u32,
    pub finished: bool,
}

/// Which goroutine held a slot at which epoch.
#[derive(Default)]
pub struct Journal {
    entries: VecDeque<Tenure>,
}

impl Journal {
    fn push(&mut self, t: Tenure) {
        if self.entries.len() == JOURNAL_CAP {
            self.entries.pop_front();
        }
        self.entries.push_back(t);
    }

    /// The tenure covering `epoch`: the latest one that started at or before it.
    pub fn find(&self, epoch: Epoch) -> Option<Tenure> {
        let i = self.entries.partition_point(|t| t.start <= epoch);
        if i == 0 {
            return None;
        }
        Some(self.entries[i - 1])
    }

    /// Marks `gid`'s tenure that started at `start` finished. The tenure is usually
    /// among the latest entries, but may lie thousands back when the slot was preempted
    /// since (this runs under the table's lock at every goroutine exit): a galloping
    /// search from the back, then a binary one, touches the recent (cached) entries
    /// first and at most about twice the logarithm of the distance. Nothing if the
    /// tenure was already forgotten.
    fn finish(&mut self, gid: u32, start: Epoch) {
        let e = &mut self.entries;
        let n = e.len();
        // Find `lo <= i < hi` with `e[lo].start <= start < e[hi].start` (`hi` may be n).
        let (mut lo, mut hi, mut step) = (0, n, 1);
        while step <= n {
            let i = n - step;
            if e[i].start <= start {
                lo = i;
                break;
            }
            hi = i;
            step *= 2;
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if e[mid].start <= start {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        if let Some(t) = e.get_mut(lo) {
            if t.start == start && t.gid == gid {
                t.finished = true;
            }
        }
    }
}

struct SlotState {
    /// The slot's epoch when the preemption clock hand last passed it.
    seen: Epoch,
    retired: bool,
    journal: Journal,
}

struct Inner {
    slots: Vec<SlotState>,
    /// Per slot: the last epoch its holders stamped on any access or released, while
    /// it is free (what a new goroutine must know to reuse it safely), else [`HELD`].
    /// The scan for a safe slot at every goroutine start compares this array with the
    /// goroutine's clock, eight slots per compare ([`ThreadClock::first_at_least`]).
    free_since: [Epoch; MAX_SLOTS],
    /// Per slot: how often it was freed.
    frees: [u32; MAX_SLOTS],
    /// Free slots, oldest first, each with its [`Self::frees`] count when it was freed;
    /// entries of slots taken since are skipped when met (a slot reused safely is not
    /// looked for in the queue), and dropped once they outnumber the slots.
    order: VecDeque<(Slot, u32)>,
    /// The preemption clock hand: next slot to consider.
    hand: usize,
}

/// [`Inner::free_since`] of a slot that is not free: no clock reaches it.
const HELD: Epoch = Epoch::MAX;
const _: () = assert!(crate::clock::MAX_EPOCH < HELD);

impl Inner {
    /// Whether the queue entry `(slot, frees)` still stands for a free slot.
    fn still_free(&self, (slot, frees): (Slot, u32)) -> bool {
        let s = slot as usize;
        self.free_since[s] != HELD && self.frees[s] == frees
    }

    fn take(&mut self, slot: Slot) {
        self.free_since[slot as usize] = HELD;
    }

    fn free(&mut self, slot: Slot, last_used: Epoch) {
        let s = slot as usize;
        self.free_since[s] = last_used;
        self.frees[s] = self.frees[s].wrapping_add(1);
        self.order.push_back((slot, self.frees[s]));
        if self.order.len() > 2 * MAX_SLOTS {
            let mut order = core::mem::take(&mut self.order);
            order.retain(|&e| self.still_free(e));
            self.order = order;
        }
    }
}

/// What [`SlotTable::attach`] decided, for tests and statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    SafeReuse,
    Fresh,
    UnsafeReuse,
    Preempted,
}

/// A slot's lock-free words: the epoch counter its holder advances on every release
/// and who holds it. One cache line per slot: with the slots side by side, every
/// release's increment would move a line that all running goroutines write.
#[repr(align(64))]
struct SlotWords {
    epoch: AtomicU32,
    holder: AtomicU32,
}

/// All slots. Attach/detach take a spin lock (goroutine start and end only); epoch
/// increments and the holder check of a release are lock-free.
pub struct SlotTable {
    words: [SlotWords; MAX_SLOTS],
    inner: crate::lock::Mutex<Inner>,
}

impl Default for SlotTable {
    fn default() -> Self {
        Self::new()
    }
}

impl SlotTable {
    pub fn new() -> Self {
        SlotTable {
            words: [const {
                SlotWords {
                    epoch: AtomicU32::new(0),
                    holder: AtomicU32::new(NOBODY),
                }
            }; MAX_SLOTS],
            inner: crate::lock::Mutex::new(Inner {
                slots: Vec::new(),
                free_since: [HELD; MAX_SLOTS],
                frees: [0; MAX_SLOTS],
                order: VecDeque::new(),
                hand: 0,
            }),
        }
    }

    /// Gives goroutine `gid` a slot and its first epoch there. `known` is the clock the
    /// goroutine starts with (its parent's, or its own when it moves). Returns `None`
    /// only when every slot's epochs are exhausted.
    pub fn attach(
        &self,
        known: &ThreadClock,
        gid: u32,
        creation: u32,
    ) -> Option<(Slot, Epoch, Choice)> {
        let mut inner = self.inner.lock();
        for _ in 0..2 * MAX_SLOTS {
            let (slot, choice) = self.choose(&mut inner, known)?;
            bump(Stat::Attach);
            if choice == Choice::Preempted {
                bump(Stat::Preempted);
            }
            let epoch = self.words[slot as usize]
                .epoch
                .fetch_add(1, Ordering::Relaxed)
                + 1;
            let st = &mut inner.slots[slot as usize];
            if epoch > MAX_EPOCH {
                st.retired = true;
                self.words[slot as usize]
                    .holder
                    .store(NOBODY, Ordering::Relaxed);
                continue;
            }
            self.words[slot as usize]
                .holder
                .store(gid, Ordering::Relaxed);
            st.seen = epoch; // activity is counted from the new holder's start
            st.journal.push(Tenure {
                start: epoch,
                gid,
                creation,
                finished: false,
            });
            return Some((slot, epoch, choice));
        }
        None
    }

    fn choose(&self, inner: &mut Inner, known: &ThreadClock) -> Option<(Slot, Choice)> {
        // 1. A free slot whose last holder the new goroutine already happens-after.
        // (`detach` frees no retired slot; one whose epochs ran out meanwhile is
        // retired by `attach` when chosen, which then chooses again.)
        // The lowest such slot: clocks stay short.
        if let Some(s) = known.first_at_least(&inner.free_since, inner.slots.len()) {
            inner.take(s);
            return Some((s, Choice::SafeReuse));
        }
        // 2. A slot never used before.
        if inner.slots.len() < MAX_SLOTS {
            let s = inner.slots.len() as Slot;
            inner.slots.push(SlotState {
                seen: 0,
                retired: false,
                journal: Journal::default(),
            });
            return Some((s, Choice::Fresh));
        }
        // 3. The slot free the longest.
        while let Some(e) = inner.order.pop_front() {
            if inner.still_free(e) {
                inner.take(e.0);
                return Some((e.0, Choice::UnsafeReuse));
            }
        }
        // 4. Preempt a held slot that has been idle since the hand last passed it
        //    (second chance: an active one is marked and skipped).
        let n = inner.slots.len();
        let mut fallback = None;
        for _ in 0..2 * n {
            let s = inner.hand % n;
            inner.hand = (s + 1) % n;
            let now = self.words[s].epoch.load(Ordering::Relaxed);
            let st = &mut inner.slots[s];
            if st.retired {
                continue;
            }
            fallback = fallback.or(Some(s));
            if st.seen == now {
                return Some((s as Slot, Choice::Preempted));
            }
            st.seen = now;
        }
        fallback.map(|s| (s as Slot, Choice::Preempted))
    }

    /// Whether `gid` still holds `slot` (it may have been preempted).
    #[inline]
    pub fn holds(&self, slot: Slot, gid: u32) -> bool {
        self.words[slot as usize].holder.load(Ordering::Relaxed) == gid
    }

    /// Goroutine `gid` leaves `slot`, either because it ended (`ended` is then the
    /// start of its tenure there, from [`Self::attach`]) or to move to another slot;
    /// `last_used` is the last epoch it stamped or released there. A preempted
    /// goroutine's slot is no longer its own to free.
    pub fn detach(&self, slot: Slot, gid: u32, last_used: Epoch, ended: Option<Epoch>) {
        self.leave(&mut self.inner.lock(), slot, gid, last_used, ended);
    }

    fn leave(
        &self,
        inner: &mut Inner,
        slot: Slot,
        gid: u32,
        last_used: Epoch,
        ended: Option<Epoch>,
    ) {
        let st = &mut inner.slots[slot as usize];
        if let Some(start) = ended {
            st.journal.finish(gid, start);
        }
        if self.words[slot as usize].holder.load(Ordering::Relaxed) != gid {
            return;
        }
        self.words[slot as usize]
            .holder
            .store(NOBODY, Ordering::Relaxed);
        if !st.retired {
            inner.free(slot, last_used);
        }
    }

    /// Goroutine `gid` ended: it leaves `held` (its slot, the last epoch it used there
    /// and the start of its tenure; `None` if it never took one, see [`Self::detach`]),
    /// and the journals of the slots it moved on from (`moved_from`, each with the
    /// start of its latest tenure there) learn that it ended. One acquisition of the
    /// table's lock, which every goroutine's start and end takes.
    pub fn end(&self, gid: u32, held: Option<(Slot, Epoch, Epoch)>, moved_from: &[(Slot, Epoch)]) {
        if held.is_none() && moved_from.is_empty() {
            return;
        }
        let mut inner = self.inner.lock();
        for &(slot, start) in moved_from {
            if let Some(st) = inner.slots.get_mut(slot as usize) {
                st.journal.finish(gid, start);
            }
        }
        if let Some((slot, last_used, start)) = held {
            self.leave(&mut inner, slot, gid, last_used, Some(start));
        }
    }

    /// A new epoch for the holder of `slot` (after a release). `None` when the slot is
    /// exhausted: the caller must move to another slot.
    #[inline]
    pub fn tick(&self, slot: Slot) -> Option<Epoch> {
        let e = self.words[slot as usize]
            .epoch
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        (e <= MAX_EPOCH).then_some(e)
    }

    /// Marks `slot` retired (its epochs are exhausted).
    pub fn retire(&self, slot: Slot) {
        self.inner.lock().slots[slot as usize].retired = true;
    }

    /// The newest epoch handed out on every slot (used to acquire "everything so far").
    pub fn latest(&self, slot: Slot) -> Epoch {
        self.words[slot as usize]
            .epoch
            .load(Ordering::Relaxed)
            .min(MAX_EPOCH)
    }

    /// Number of slots ever used.
    pub fn used(&self) -> usize {
        self.inner.lock().slots.len()
    }

    /// Which goroutine stamped `(slot, epoch)`.
    pub fn who(&self, slot: Slot, epoch: Epoch) -> Option<Tenure> {
        let inner = self.inner.lock();
        inner.slots.get(slot as usize)?.journal.find(epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuse_only_when_the_new_goroutine_happens_after_the_old() {
        let t = SlotTable::new();
        let empty = ThreadClock::new();
        let (s0, e0, c0) = t.attach(&empty, 0, 0).unwrap();
        assert_eq!((s0, e0, c0), (0, 1, Choice::Fresh));
        let (s1, e1, _) = t.attach(&empty, 1, 0).unwrap();
        assert_eq!((s1, e1), (1, 1));
        t.detach(s1, 1, 1, Some(e1));
        // A sibling that never heard of goroutine 1 does not get its slot.
        let (s2, _, c2) = t.attach(&empty, 2, 0).unwrap();
        assert_eq!((s2, c2), (2, Choice::Fresh));
        // A goroutine whose parent waited for goroutine 1 does.
        let mut waited = ThreadClock::new();
        waited.set(1, 1);
        let (s3, e3, c3) = t.attach(&waited, 3, 0).unwrap();
        assert_eq!((s3, e3, c3), (1, 2, Choice::SafeReuse));
        assert_eq!(t.who(1, 1).map(|x| (x.gid, x.finished)), Some((1, true)));
        assert_eq!(t.who(1, 2).map(|x| (x.gid, x.finished)), Some((3, false)));
        assert_eq!(t.used(), 3);
    }

    #[test]
    fn a_goroutine_that_moved_ends_in_every_journal_it_is_in() {
        let t = SlotTable::new();
        let empty = ThreadClock::new();
        let (s0, e0, _) = t.attach(&empty, 7, 0).unwrap();
        // Goroutine 7 moves on (as after a preemption) and takes a second slot.
        let (s1, e1, _) = t.attach(&empty, 7, 0).unwrap();
        assert_ne!(s0, s1);
        t.end(7, Some((s1, e1, e1)), &[(s0, e0)]);
        assert_eq!(t.who(s0, e0).map(|x| (x.gid, x.finished)), Some((7, true)));
        assert_eq!(t.who(s1, e1).map(|x| (x.gid, x.finished)), Some((7, true)));
        assert!(!t.holds(s1, 7), "its slot is free again");
        // A goroutine that never took a slot ends without touching the table.
        t.end(8, None, &[]);
    }

    /// A table whose every slot is held, goroutine `g` on slot `g`.
    fn full_table() -> SlotTable {
        let t = SlotTable::new();
        for g in 0..MAX_SLOTS as u32 {
            t.attach(&ThreadClock::new(), g, 0).unwrap();
        }
        t
    }

    #[test]
    fn full_table_falls_back_to_oldest_free_then_preempts_an_idle_slot() {
        let t = full_table();
        let empty = ThreadClock::new();
        t.detach(5, 5, 1, Some(1));
        t.detach(9, 9, 1, Some(1));
        let (s, _, c) = t.attach(&empty, 1000, 0).unwrap();
        assert_eq!((s, c), (5, Choice::UnsafeReuse), "oldest free first");
        let (s, _, c) = t.attach(&empty, 1001, 0).unwrap();
        assert_eq!((s, c), (9, Choice::UnsafeReuse));
        // Every slot but 7 advances; 7's holder is idle and loses its slot.
        for s in 0..MAX_SLOTS as u16 {
            if s != 7 {
                t.tick(s);
            }
        }
        let (s, e, c) = t.attach(&empty, 1002, 0).unwrap();
        assert_eq!((s, c), (7, Choice::Preempted));
        assert!(t.holds(7, 1002) && !t.holds(7, 7));
        assert_eq!(
            t.who(7, e).unwrap().gid,
            1002,
            "the journal names the new holder"
        );
        assert_eq!(t.who(7, e - 1).unwrap().gid, 7, "and the old one before");
        // The preempted goroutine's exit does not free a slot it no longer holds.
        t.detach(7, 7, e - 1, Some(1));
        assert!(t.holds(7, 1002));
        assert!(t.who(7, e - 1).unwrap().finished, "its tenure is finished");
        assert!(!t.who(7, e).unwrap().finished);
    }

    #[test]
    fn safe_reuse_takes_the_lowest_known_slot_and_the_queue_skips_it() {
        let t = full_table();
        let empty = ThreadClock::new();
        t.detach(9, 9, 1, Some(1));
        t.detach(5, 5, 1, Some(1));
        let mut knows = ThreadClock::new();
        knows.set(5, 1);
        knows.set(9, 1);
        let (s, e, c) = t.attach(&knows, 1000, 0).unwrap();
        assert_eq!((s, c), (5, Choice::SafeReuse), "the lowest, not the oldest");
        let (s, _, c) = t.attach(&empty, 1001, 0).unwrap();
        assert_eq!((s, c), (9, Choice::UnsafeReuse));
        // Slot 5's queue entry is stale: with nothing free, an idle slot is preempted.
        let (_, _, c) = t.attach(&empty, 1002, 0).unwrap();
        assert_eq!(c, Choice::Preempted);
        // Freed and taken again many times, a slot leaves the queue bounded.
        let (mut gid, mut start) = (1000, e);
        for round in 0..10 * MAX_SLOTS as u32 {
            t.detach(5, gid, start, Some(start));
            knows.set(5, start);
            gid = 2000 + round;
            let (s, e, c) = t.attach(&knows, gid, 0).unwrap();
            assert_eq!((s, c), (5, Choice::SafeReuse));
            start = e;
        }
        assert!(t.inner.lock().order.len() <= 2 * MAX_SLOTS);
    }

    #[test]
    fn a_finished_tenure_is_found_however_far_back_it_lies() {
        let mut j = Journal::default();
        for i in 0..1000 {
            j.push(Tenure {
                start: 10 * i + 1,
                gid: i,
                creation: 0,
                finished: false,
            });
        }
        for (gid, start) in [(999, 9991), (998, 9981), (37, 371), (0, 1), (512, 5121)] {
            j.finish(gid, start);
            assert!(j.find(start + 5).unwrap().finished, "tenure of {gid}");
        }
        // Another goroutine's tenure, or a start that is no tenure's, changes nothing.
        j.finish(1, 371);
        j.finish(38, 385);
        let done = j.entries.iter().filter(|t| t.finished).count();
        assert_eq!(done, 5);
        assert!(!j.find(381).unwrap().finished);
    }

    #[test]
    fn epochs_keep_growing_across_holders() {
        let t = SlotTable::new();
        let empty = ThreadClock::new();
        let (s, e, _) = t.attach(&empty, 0, 0).unwrap();
        assert_eq!(t.tick(s), Some(e + 1));
        t.detach(s, 0, e + 1, Some(e));
        let mut known = ThreadClock::new();
        known.set(s, e + 1);
        let (s2, e2, _) = t.attach(&known, 1, 0).unwrap();
        assert_eq!((s2, e2), (s, e + 2));
    }
}
