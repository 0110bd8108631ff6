//! `ReadyQueue`: what runs in the loop's next batch, in FIFO order.

use std::collections::VecDeque;
use std::rc::Rc;

use crate::handle::HandleInner;
use crate::sys;
use crate::task::TaskCore;

/// One unit of work in the ready queue.
pub(crate) enum Ready {
    /// A plain callback (`call_soon`, a due timer, a future's done callback).
    Callback(Rc<HandleInner>),
    /// One step of a task (it was woken). No allocation: the task is already shared.
    TaskStep(Rc<TaskCore>),
    /// A readiness report queued by the loop itself (a source to come back to, an answer
    /// from a helper thread).
    Io(sys::Event),
    /// Every report of this turn's poll, kept in the loop's event buffer: one entry for the
    /// whole batch, in the place asyncio gives I/O callbacks (after what was ready before
    /// the poll, before the timers that fell due).
    IoBatch,
}

/// FIFO of ready work. The loop runs exactly the entries present when a batch begins;
/// what they schedule waits for the next batch.
pub(crate) struct ReadyQueue {
    queue: VecDeque<Ready>,
}

impl ReadyQueue {
    pub(crate) fn new() -> Self {
        ReadyQueue {
            queue: VecDeque::with_capacity(64),
        }
    }

    pub(crate) fn push(&mut self, item: Ready) {
        self.queue.push_back(item);
    }

    pub(crate) fn pop(&mut self) -> Option<Ready> {
        self.queue.pop_front()
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Empties the queue (on `close`); the caller drops the items outside its borrow.
    pub(crate) fn take_all(&mut self) -> VecDeque<Ready> {
        std::mem::take(&mut self.queue)
    }
}
