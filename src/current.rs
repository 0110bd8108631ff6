//! The thread-local current loop: `get_running_loop`, `get_event_loop`, `set_event_loop`.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use crate::error::{Error, Result};
use crate::event_loop::LoopInner;
use crate::EventLoop;

thread_local! {
    /// The loop running on this thread, if any.
    static RUNNING: RefCell<Option<EventLoop>> = const { RefCell::new(None) };
    /// The loop set with `set_event_loop`.
    static CURRENT: RefCell<Option<EventLoop>> = const { RefCell::new(None) };
    /// Every live loop created on this thread, so that a task's `Waker` woken here can
    /// reach its loop without a lock.
    static LOCAL_LOOPS: RefCell<Vec<(u64, Weak<LoopInner>)>> = const { RefCell::new(Vec::new()) };
}

/// asyncio's `get_running_loop()`: the loop running on this thread.
///
/// ```
/// use twinloop::EventLoop;
/// assert!(twinloop::get_running_loop().is_err());
/// let ev = EventLoop::new()?;
/// let inside = ev.run_until_complete(async { twinloop::get_running_loop().is_ok() })?;
/// assert!(inside);
/// # Ok::<(), twinloop::Error>(())
/// ```
pub fn get_running_loop() -> Result<EventLoop> {
    RUNNING
        .with(|r| r.borrow().clone())
        .ok_or(Error::NoRunningLoop)
}

/// asyncio's `get_event_loop()` (3.14 semantics): the running loop, else the one set with
/// [`set_event_loop`], else [`Error::NoCurrentLoop`]. It never creates a loop.
///
/// ```
/// let ev = twinloop::new_event_loop()?;
/// twinloop::set_event_loop(Some(&ev));
/// assert!(twinloop::get_event_loop()?.ptr_eq(&ev));
/// twinloop::set_event_loop(None);
/// assert!(twinloop::get_event_loop().is_err());
/// # Ok::<(), twinloop::Error>(())
/// ```
pub fn get_event_loop() -> Result<EventLoop> {
    if let Ok(ev) = get_running_loop() {
        return Ok(ev);
    }
    CURRENT
        .with(|c| c.borrow().clone())
        .ok_or(Error::NoCurrentLoop)
}

/// asyncio's `set_event_loop()`: makes `ev` this thread's current loop (`None` clears it).
/// The thread keeps the loop alive until it is cleared or replaced.
///
/// ```
/// let ev = twinloop::new_event_loop()?;
/// twinloop::set_event_loop(Some(&ev));
/// // elsewhere on this thread, without a handle to it:
/// twinloop::get_event_loop()?.call_soon(|ev| ev.stop())?;
/// ev.run_forever()?;
/// twinloop::set_event_loop(None);
/// # Ok::<(), twinloop::Error>(())
/// ```
pub fn set_event_loop(ev: Option<&EventLoop>) {
    CURRENT.with(|c| *c.borrow_mut() = ev.cloned());
}

/// asyncio's `new_event_loop()`: the same as [`EventLoop::new`]. Example:
/// [`set_event_loop`].
pub fn new_event_loop() -> Result<EventLoop> {
    EventLoop::new()
}

/// Installs `ev` as the running loop; fails if any loop already runs on this thread.
/// Whether `inner` is the loop running on this thread (`None`: no loop is running), without
/// handing out a handle: asked on every poll of a `LoopFuture`.
pub(crate) fn running_is(inner: &Rc<LoopInner>) -> Option<bool> {
    RUNNING.with(|r| {
        r.borrow()
            .as_ref()
            .map(|running| Rc::ptr_eq(&running.inner, inner))
    })
}

pub(crate) fn enter_running(ev: &EventLoop) -> Result<()> {
    RUNNING.with(|r| {
        let mut r = r.borrow_mut();
        if let Some(running) = &*r {
            return Err(if running.ptr_eq(ev) {
                Error::LoopRunning
            } else {
                Error::AnotherLoopRunning
            });
        }
        *r = Some(ev.clone());
        Ok(())
    })
}

pub(crate) fn leave_running() {
    let previous = RUNNING.with(|r| r.borrow_mut().take());
    drop(previous);
}

/// Runs `f` on the running loop if it is the loop `id`: a task's waker on the loop's own
/// thread, with no reference counting on that hot path. `None` otherwise (another loop
/// or none is running, or this thread is tearing its locals down).
pub(crate) fn with_running<R>(id: u64, f: impl FnOnce(&LoopInner) -> R) -> Option<R> {
    RUNNING
        .try_with(|r| {
            let running = r.try_borrow().ok()?;
            let inner = &running.as_ref()?.inner;
            (inner.shared.id == id).then(|| f(inner))
        })
        .ok()
        .flatten()
}

pub(crate) fn register_local(id: u64, inner: &Rc<LoopInner>) {
    LOCAL_LOOPS.with(|l| l.borrow_mut().push((id, Rc::downgrade(inner))));
}

pub(crate) fn unregister_local(id: u64) {
    // `try_with`: the thread may be tearing its locals down.
    let _ = LOCAL_LOOPS.try_with(|l| {
        if let Ok(mut l) = l.try_borrow_mut() {
            l.retain(|(lid, _)| *lid != id);
        }
    });
}

/// The loop with this id, if it lives on this thread.
pub(crate) fn local_loop(id: u64) -> Option<Rc<LoopInner>> {
    LOCAL_LOOPS
        .try_with(|l| {
            l.borrow()
                .iter()
                .find(|(lid, _)| *lid == id)
                .and_then(|(_, w)| w.upgrade())
        })
        .ok()
        .flatten()
}
