//! `TimerHeap`: scheduled timers ordered by deadline, with cancelled entries compacted away.

use std::cell::Cell;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::rc::Rc;

use crate::handle::HandleInner;

/// asyncio's `_MIN_SCHEDULED_TIMER_HANDLES`: below this size the heap is never compacted.
const MIN_SCHEDULED_FOR_COMPACTION: usize = 100;

struct TimerEntry {
    when: f64,
    /// Insertion order; breaks ties so equal deadlines keep a stable, cheap order.
    seq: u64,
    handle: Rc<HandleInner>,
}

impl PartialEq for TimerEntry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for TimerEntry {}
impl PartialOrd for TimerEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for TimerEntry {
    /// Reversed, so that `BinaryHeap` (a max-heap) yields the earliest deadline first.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .when
            .total_cmp(&self.when)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// The loop's timers. Cancelled timers are dropped when they reach the head, and the whole
/// heap is rebuilt without them once more than half of its (over 100) entries are cancelled,
/// as asyncio does, so cancelled timers never pile up.
pub(crate) struct TimerHeap {
    heap: BinaryHeap<TimerEntry>,
    next_seq: u64,
    /// How many entries in `heap` are cancelled; shared with each `TimerHandle`.
    cancelled: Rc<Cell<usize>>,
}

impl TimerHeap {
    pub(crate) fn new() -> Self {
        TimerHeap {
            heap: BinaryHeap::new(),
            next_seq: 0,
            cancelled: Rc::new(Cell::new(0)),
        }
    }

    /// The counter a `TimerHandle` bumps when it is cancelled while in this heap.
    pub(crate) fn cancelled_counter(&self) -> &Rc<Cell<usize>> {
        &self.cancelled
    }

    pub(crate) fn push(&mut self, when: f64, handle: Rc<HandleInner>) {
        handle.in_heap.set(true);
        self.heap.push(TimerEntry {
            when,
            seq: self.next_seq,
            handle,
        });
        self.next_seq += 1;
    }

    /// Drops cancelled entries at the head (and compacts the heap when most are cancelled),
    /// then returns the earliest live deadline.
    pub(crate) fn next_deadline(&mut self) -> Option<f64> {
        let cancelled = self.cancelled.get();
        if self.heap.len() > MIN_SCHEDULED_FOR_COMPACTION && cancelled * 2 > self.heap.len() {
            self.heap.retain(|e| {
                let live = !e.handle.is_cancelled();
                if !live {
                    e.handle.in_heap.set(false);
                }
                live
            });
            self.cancelled.set(0);
        }
        while let Some(head) = self.heap.peek() {
            if !head.handle.is_cancelled() {
                return Some(head.when);
            }
            let entry = self.heap.pop().expect("peeked entry exists");
            entry.handle.in_heap.set(false);
            self.cancelled.set(self.cancelled.get().saturating_sub(1));
        }
        None
    }

    /// Pops every timer due at or before `end`, in deadline order, handing live ones to
    /// `ready`.
    /// Whether no timer is scheduled (cancelled ones still in the heap count).
    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    pub(crate) fn pop_due(&mut self, end: f64, mut ready: impl FnMut(Rc<HandleInner>)) {
        while let Some(head) = self.heap.peek() {
            if head.when > end {
                break;
            }
            let entry = self.heap.pop().expect("peeked entry exists");
            entry.handle.in_heap.set(false);
            if entry.handle.is_cancelled() {
                self.cancelled.set(self.cancelled.get().saturating_sub(1));
            } else {
                ready(entry.handle);
            }
        }
    }

    /// Removes every timer (on `close`), returning their handles so that they are dropped
    /// outside any borrow of the loop.
    pub(crate) fn drain(&mut self) -> Vec<Rc<HandleInner>> {
        self.cancelled.set(0);
        self.heap
            .drain()
            .map(|e| {
                e.handle.in_heap.set(false);
                e.handle
            })
            .collect()
    }
}
