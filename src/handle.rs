//! `Handle` and `TimerHandle`: what `call_soon`, `call_later` and `call_at` return.

use std::cell::Cell;
use std::fmt;
use std::panic::Location;
use std::rc::Rc;

use crate::EventLoop;

/// Where a handle keeps its callback until it runs: the closure itself, stored inline in
/// the handle's one allocation (no second box per callback).
pub(crate) trait CallbackSlot {
    /// Takes the callback out and runs it; false if it was gone (run or cancelled).
    fn run(&self, ev: &EventLoop) -> bool;
    /// Drops the callback now, if it is still there.
    fn clear(&self);
}

/// The [`CallbackSlot`] of a closure `F`.
struct Slot<F>(Cell<Option<F>>);

impl<F: FnOnce(&EventLoop)> CallbackSlot for Slot<F> {
    fn run(&self, ev: &EventLoop) -> bool {
        match self.0.take() {
            Some(f) => {
                f(ev);
                true
            }
            None => false,
        }
    }

    fn clear(&self) {
        // Take first, drop after: the closure's destructor may call back into the handle.
        let callback = self.0.take();
        drop(callback);
    }
}

/// The shared state behind a [`Handle`]: the callback until it runs or is cancelled.
pub(crate) struct HandleInner<C: ?Sized = dyn CallbackSlot> {
    cancelled: Cell<bool>,
    /// Where the callback was scheduled (`#[track_caller]`), shown in debug-mode reports.
    pub(crate) location: &'static Location<'static>,
    /// True while a timer for this handle sits in the timer heap.
    pub(crate) in_heap: Cell<bool>,
    /// Last, so that `Rc<HandleInner<Slot<F>>>` coerces to `Rc<HandleInner>`.
    callback: C,
}

impl HandleInner {
    /// A handle for `f`: one allocation, the closure inside it.
    pub(crate) fn new(
        f: impl FnOnce(&EventLoop) + 'static,
        location: &'static Location<'static>,
    ) -> Rc<Self> {
        Rc::new(HandleInner {
            cancelled: Cell::new(false),
            location,
            in_heap: Cell::new(false),
            callback: Slot(Cell::new(Some(f))),
        })
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.get()
    }

    /// Marks the handle cancelled and drops its callback at once. Returns false if it was
    /// already cancelled.
    pub(crate) fn cancel(&self) -> bool {
        if self.cancelled.replace(true) {
            return false;
        }
        self.callback.clear();
        true
    }

    /// Runs the callback unless it was cancelled (which dropped it) or already ran;
    /// whether it ran (a panic in it unwinds through here).
    pub(crate) fn run(&self, ev: &EventLoop) -> bool {
        self.callback.run(ev)
    }

    pub(crate) fn describe(&self) -> String {
        format!("<Handle created at {}>", self.location)
    }
}

/// A callback scheduled with [`EventLoop::call_soon`]; asyncio's `asyncio.Handle`.
///
/// Cloning gives another handle to the same callback. There is no `get_context`: Rust
/// has no `contextvars`, and a callback carries what its closure captures.
///
/// ```
/// use twinloop::EventLoop;
/// let ev = EventLoop::new()?;
/// let h = ev.call_soon(|_| unreachable!("cancelled before its turn"))?;
/// h.cancel();
/// assert!(h.cancelled());
/// ev.call_soon(|ev| ev.stop())?;
/// ev.run_forever()?;
/// # Ok::<(), twinloop::Error>(())
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(crate) inner: Rc<HandleInner>,
}

impl Handle {
    /// asyncio's `Handle.cancel()`: the callback will not run, and it is dropped now.
    /// Idempotent; cancelling a callback that already ran does nothing.
    pub fn cancel(&self) {
        self.inner.cancel();
    }

    /// asyncio's `Handle.cancelled()`: true once `cancel` was called.
    pub fn cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }

    /// Where the callback was scheduled (file and line of the `call_soon` call); debug-mode
    /// reports show it, as asyncio's `source_traceback` does.
    ///
    /// ```
    /// let ev = twinloop::EventLoop::new()?;
    /// let h = ev.call_soon(|_| {})?;
    /// assert_eq!(h.location().file(), file!());
    /// println!("scheduled at {}", h.location());
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn location(&self) -> &'static Location<'static> {
        self.inner.location
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("created_at", &format_args!("{}", self.inner.location))
            .field("cancelled", &self.cancelled())
            .finish()
    }
}

/// A callback scheduled for a time with [`EventLoop::call_later`] or [`EventLoop::call_at`];
/// asyncio's `asyncio.TimerHandle`.
///
/// ```
/// use std::time::Duration;
/// use twinloop::EventLoop;
/// let ev = EventLoop::new()?;
/// let t = ev.call_later(Duration::from_millis(10), |ev| ev.stop())?;
/// assert!(t.when() >= ev.time());
/// ev.run_forever()?;
/// # Ok::<(), twinloop::Error>(())
/// ```
#[derive(Clone)]
pub struct TimerHandle {
    pub(crate) inner: Rc<HandleInner>,
    pub(crate) when: f64,
    /// The heap's count of cancelled entries, bumped when this handle is cancelled in it.
    pub(crate) heap_cancelled: Rc<Cell<usize>>,
}

impl TimerHandle {
    /// asyncio's `TimerHandle.when()`: the absolute time, on the loop's
    /// [`EventLoop::time`] clock, at which the callback is due.
    pub fn when(&self) -> f64 {
        self.when
    }

    /// asyncio's `TimerHandle.cancel()`: the callback will not run, and it is dropped now,
    /// not at the deadline. Idempotent.
    ///
    /// ```
    /// use std::{rc::Rc, time::Duration};
    /// let ev = twinloop::EventLoop::new()?;
    /// let resource = Rc::new("connection");
    /// let held = resource.clone();
    /// let timer = ev.call_later(Duration::from_secs(60), move |_| drop(held))?;
    /// timer.cancel();
    /// assert!(timer.cancelled());
    /// assert_eq!(Rc::strong_count(&resource), 1); // the callback is already gone
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn cancel(&self) {
        if self.inner.cancel() && self.inner.in_heap.get() {
            self.heap_cancelled.set(self.heap_cancelled.get() + 1);
        }
    }

    /// asyncio's `TimerHandle.cancelled()`: true once `cancel` was called.
    pub fn cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }

    /// Where the timer was scheduled (as [`Handle::location`]).
    pub fn location(&self) -> &'static Location<'static> {
        self.inner.location
    }
}

impl PartialEq for TimerHandle {
    /// asyncio's rule: equal when they are the same timer, or when neither is cancelled and
    /// both are due at the same time from the same place.
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
            || (self.when == other.when
                && !self.cancelled()
                && !other.cancelled()
                && self.inner.location == other.inner.location)
    }
}

impl PartialOrd for TimerHandle {
    /// Timers order by deadline; distinct timers with the same deadline are unordered.
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        if self == other {
            return Some(std::cmp::Ordering::Equal);
        }
        // Unequal timers due at the same time are unordered, so `a != b` never pairs with
        // `Equal`.
        match self.when.partial_cmp(&other.when) {
            Some(std::cmp::Ordering::Equal) => None,
            other => other,
        }
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHandle")
            .field("when", &self.when)
            .field("created_at", &format_args!("{}", self.inner.location))
            .field("cancelled", &self.cancelled())
            .finish()
    }
}
