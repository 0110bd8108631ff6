//! `Reporter`: how a job's result travels back to the loop (for `run_in_executor` and the
//! native name lookups alike).

use std::sync::{Arc, Mutex};

/// Where a job leaves its result for the loop to take.
pub(crate) type Slot<T> = Arc<Mutex<Option<T>>>;

/// The job-side end: stores the result in the slot shared with the loop, then calls
/// `notify` (which reports the loop's token). If the job is dropped without running (an
/// executor that discards it), it stores `dropped()` instead, so the loop never waits
/// forever.
pub(crate) struct Reporter<T> {
    slot: Slot<T>,
    notify: Option<Box<dyn FnOnce() + Send>>,
    dropped: fn() -> T,
}

impl<T> Reporter<T> {
    /// A reporter and the slot the loop takes the result from.
    pub(crate) fn new(notify: Box<dyn FnOnce() + Send>, dropped: fn() -> T) -> (Self, Slot<T>) {
        let slot: Slot<T> = Arc::new(Mutex::new(None));
        let reporter = Reporter {
            slot: slot.clone(),
            notify: Some(notify),
            dropped,
        };
        (reporter, slot)
    }

    pub(crate) fn finish(mut self, value: T) {
        self.give(value);
    }

    fn give(&mut self, value: T) {
        *self.slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(value);
        if let Some(notify) = self.notify.take() {
            notify();
        }
    }
}

impl<T> Drop for Reporter<T> {
    fn drop(&mut self) {
        if self.notify.is_some() {
            let value = (self.dropped)();
            self.give(value);
        }
    }
}

/// The result, once the job has left it.
pub(crate) fn take<T>(slot: &Slot<T>) -> Option<T> {
    slot.lock().unwrap_or_else(|p| p.into_inner()).take()
}
