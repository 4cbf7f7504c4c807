//! Per-goroutine state: identity, vector clock, shadow call stack.
//!
//! A [`Goroutine`] is only ever touched by the thread currently running that goroutine
//! (Go guarantees one at a time), so nothing in it is synchronised.

use alloc::vec::Vec;

use crate::cell::Cell;
use crate::clock::{Epoch, Slot, ThreadClock};
use crate::stack::{StackDepot, ROOT};

/// A frame of the shadow call stack: the return address into the caller, and, once
/// needed, the stack-depot node of the stack up to and including this frame.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    pub pc: u64,
    node: u32,
}

const UNRESOLVED: u32 = u32::MAX;
const SITE_CACHE: usize = 64;

#[derive(Clone, Copy)]
struct CacheEntry {
    pc: u64,
    parent: u32,
    node: u32,
}

/// The shadow call stack and the memo that turns it into stack-depot nodes.
///
/// Function entry and exit only push and pop pcs. A node is computed lazily, when an
/// access has to be remembered, and then memoised in the frame; a small direct-mapped
/// cache keyed by `(parent node, pc)` makes repeated calls from a loop cheap.
pub struct ShadowStack {
    frames: Vec<Frame>,
    cache: [CacheEntry; SITE_CACHE],
}

impl Default for ShadowStack {
    fn default() -> Self {
        Self::new()
    }
}

impl ShadowStack {
    pub fn new() -> Self {
        ShadowStack {
            frames: Vec::new(),
            cache: [CacheEntry {
                pc: 0,
                parent: UNRESOLVED,
                node: 0,
            }; SITE_CACHE],
        }
    }

    #[inline(always)]
    pub fn push(&mut self, pc: u64) {
        self.frames.push(Frame {
            pc,
            node: UNRESOLVED,
        });
    }

    #[inline(always)]
    pub fn pop(&mut self) {
        self.frames.pop();
    }

    pub fn depth(&self) -> usize {
        self.frames.len()
    }

    /// Return addresses, outermost first.
    pub fn pcs(&self) -> impl DoubleEndedIterator<Item = u64> + '_ {
        self.frames.iter().map(|f| f.pc)
    }

    fn intern(&mut self, depot: &StackDepot, parent: u32, pc: u64) -> u32 {
        let h = (pc ^ (pc >> 17) ^ (parent as u64).wrapping_mul(0x9e37_79b9)) as usize;
        let e = &mut self.cache[h % SITE_CACHE];
        if e.pc == pc && e.parent == parent {
            return e.node;
        }
        let node = depot.intern(parent, pc);
        *e = CacheEntry { pc, parent, node };
        node
    }

    /// The node of the current stack (all frames).
    pub fn node(&mut self, depot: &StackDepot) -> u32 {
        let top = match self.frames.last() {
            None => return ROOT,
            Some(f) if f.node != UNRESOLVED => return f.node,
            Some(_) => self.frames.len() - 1,
        };
        let mut i = top;
        while i > 0 && self.frames[i - 1].node == UNRESOLVED {
            i -= 1;
        }
        let mut node = if i == 0 {
            ROOT
        } else {
            self.frames[i - 1].node
        };
        for j in i..=top {
            node = self.intern(depot, node, self.frames[j].pc);
            self.frames[j].node = node;
        }
        node
    }

    /// The node of the current stack extended by `pc` (an access or a `go` statement).
    pub fn site(&mut self, depot: &StackDepot, pc: u64) -> u32 {
        let parent = self.node(depot);
        self.intern(depot, parent, pc)
    }
}

/// Everything gorace knows about one goroutine.
pub struct Goroutine {
    /// Sequential id, in creation order; 0 is the main goroutine. Printed in reports.
    pub gid: u32,
    pub slot: Slot,
    /// Current epoch on `slot`; `clock[slot] >= epoch` always.
    pub epoch: Epoch,
    /// `Cell::stamp(slot, epoch)`, ready to be or-ed into new cells.
    pub stamp: u64,
    /// Whether a cell was stamped with `epoch` (decides slot reuse at exit).
    pub stamped: bool,
    pub clock: ThreadClock,
    pub stack: ShadowStack,
    /// Nesting depth of `ignore_sync_begin`.
    pub ignore_sync: u32,
    /// Stack-depot node of the `go` statement that created this goroutine.
    pub creation: u32,
}

impl Goroutine {
    pub fn new(gid: u32, clock: ThreadClock, creation: u32) -> Self {
        Goroutine {
            gid,
            slot: 0,
            epoch: 0,
            stamp: 0,
            stamped: false,
            clock,
            stack: ShadowStack::new(),
            ignore_sync: 0,
            creation,
        }
    }

    /// Moves to `epoch` on `slot`.
    pub fn set_epoch(&mut self, slot: Slot, epoch: Epoch) {
        self.slot = slot;
        self.epoch = epoch;
        self.stamp = Cell::stamp(slot, epoch);
        self.stamped = false;
        let known = self.clock.get(slot);
        self.clock.set(slot, known.max(epoch));
    }

    /// The last epoch of this goroutine's current slot that anybody can know about:
    /// the current one if a cell carries it, else the one before (last released).
    pub fn last_used_epoch(&self) -> Epoch {
        if self.stamped {
            self.epoch
        } else {
            self.epoch.saturating_sub(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_lazy_and_memoised() {
        let depot = StackDepot::new();
        let mut s = ShadowStack::new();
        s.push(0x100);
        s.push(0x200);
        assert_eq!(depot.len(), 0, "entering functions interns nothing");
        let site = s.site(&depot, 0x250);
        assert_eq!(depot.pcs(site), vec![0x250, 0x200, 0x100]);
        let n = depot.len();
        s.pop();
        s.push(0x300);
        let site2 = s.site(&depot, 0x350);
        assert_eq!(depot.pcs(site2), vec![0x350, 0x300, 0x100]);
        assert_eq!(
            depot.len(),
            n + 2,
            "the shared outer frame was not interned again"
        );
        s.pop();
        s.pop();
        assert_eq!(s.node(&depot), ROOT);
    }
}
