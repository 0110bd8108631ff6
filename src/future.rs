//! `LoopFuture`: asyncio's `asyncio.Future`, bound to a loop, awaitable.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use crate::current;
use crate::error::{Error, Result};
use crate::event_loop::LoopInner;
use crate::exception::{self, ExceptionContext};
use crate::task::{self, TaskCore};
use crate::EventLoop;

type DoneCallback<T> = Box<dyn FnOnce(&LoopFuture<T>)>;

/// Identifies a done callback for [`LoopFuture::remove_done_callback`] (returned by
/// [`LoopFuture::add_done_callback`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallbackId(u64);

enum State<T> {
    Pending,
    Done(Result<T>),
    /// The value was moved out by `.await` or `take_result`.
    Taken,
}

pub(crate) struct FutureCell<T> {
    ev: Weak<LoopInner>,
    state: RefCell<State<T>>,
    callbacks: RefCell<Vec<(CallbackId, DoneCallback<T>)>>,
    next_callback: Cell<u64>,
    wakers: RefCell<Vec<Waker>>,
    /// Set when this is a task's result: cancelling it cancels the task.
    owner: RefCell<Option<Weak<TaskCore>>>,
    /// A failure nobody has looked at yet, and the report to make if nobody ever does
    /// (asyncio's `__log_traceback`): reported when the cell is dropped.
    unretrieved: RefCell<Option<ExceptionContext>>,
}

/// What a task needs of a future without knowing its type.
pub(crate) trait ErasedFuture {
    /// Cancel as `Future.cancel` would (or cancel the owning task). False if already done.
    fn cancel_with(self: Rc<Self>, msg: Option<String>) -> bool;
    /// Complete with an error unless already done.
    fn fail(self: Rc<Self>, error: Error);
    /// Complete with an error unless already done; if nobody retrieves it (`result`,
    /// `take_result`, `error` or `.await`) before the future is dropped, `report` goes to
    /// the exception handler then.
    fn fail_reporting_unretrieved(self: Rc<Self>, error: Error, report: ExceptionContext);
    fn is_done(&self) -> bool;
}

/// A future bound to a loop: asyncio's `asyncio.Future`, made with
/// [`EventLoop::create_future`]. Clones share the same result.
///
/// It implements `std::future::Future` with output `Result<T>`: awaiting it moves the value
/// out (a second await of a successful future gets [`Error::InvalidState`]); an error is
/// cloned to every awaiter. Done callbacks never run inside `set_result`/`set_error`/
/// `cancel`: they are scheduled on the loop, in registration order, each exactly once.
///
/// When a task is awaiting a `LoopFuture` and the task is cancelled, the future is cancelled
/// too, as in asyncio.
///
/// A `LoopFuture` is awaited on its own loop: polled while another loop is running, it is
/// ready at once with [`Error::InvalidArgument`] (asyncio's "Future attached to a different
/// loop"; see [`EventLoop::run_until_complete`]).
///
/// ```
/// use twinloop::{Error, EventLoop};
/// let ev = EventLoop::new()?;
/// let fut = ev.create_future::<&str>();
/// assert!(!fut.done());
/// assert!(matches!(fut.result(), Err(Error::InvalidState(_))));
/// fut.set_result("hi")?;
/// assert!(matches!(fut.set_result("again"), Err(Error::InvalidState(_))));
/// assert_eq!(fut.result()?, "hi");
/// # Ok::<(), Error>(())
/// ```
pub struct LoopFuture<T> {
    pub(crate) cell: Rc<FutureCell<T>>,
}

impl<T> Clone for LoopFuture<T> {
    fn clone(&self) -> Self {
        LoopFuture {
            cell: self.cell.clone(),
        }
    }
}

impl<T: 'static> LoopFuture<T> {
    pub(crate) fn new(ev: Weak<LoopInner>) -> Self {
        LoopFuture {
            cell: Rc::new(FutureCell {
                ev,
                state: RefCell::new(State::Pending),
                callbacks: RefCell::new(Vec::new()),
                next_callback: Cell::new(0),
                wakers: RefCell::new(Vec::new()),
                owner: RefCell::new(None),
                unretrieved: RefCell::new(None),
            }),
        }
    }

    pub(crate) fn set_owner(&self, task: Weak<TaskCore>) {
        *self.cell.owner.borrow_mut() = Some(task);
    }

    /// asyncio's `Future.get_loop()`: the loop this future belongs to
    /// ([`Error::LoopClosed`] if it was dropped).
    pub fn get_loop(&self) -> Result<EventLoop> {
        self.cell
            .ev
            .upgrade()
            .map(EventLoop::from_inner)
            .ok_or(Error::LoopClosed)
    }

    /// asyncio's `done()`: true once a result, an error or a cancellation was set.
    pub fn done(&self) -> bool {
        !matches!(*self.cell.state.borrow(), State::Pending)
    }

    /// asyncio's `cancelled()`: true if the future was cancelled.
    pub fn cancelled(&self) -> bool {
        matches!(
            &*self.cell.state.borrow(),
            State::Done(Err(Error::Cancelled(_)))
        )
    }

    /// asyncio's `set_result`. [`Error::InvalidState`] if the future is already done.
    pub fn set_result(&self, value: T) -> Result<()> {
        self.cell.complete(Ok(value))
    }

    /// asyncio's `set_exception`. [`Error::InvalidState`] if the future is already done.
    /// Example: [`LoopFuture::error`].
    pub fn set_error(&self, error: Error) -> Result<()> {
        self.cell.complete(Err(error))
    }

    /// asyncio's `cancel()`: true if the future was pending and is now cancelled. Done
    /// callbacks are scheduled and awaiters get [`Error::Cancelled`].
    ///
    /// ```
    /// use twinloop::Error;
    /// let ev = twinloop::EventLoop::new()?;
    /// let fut = ev.create_future::<()>();
    /// assert!(fut.cancel_with_message(Some("shutting down")));
    /// assert!(fut.cancelled() && fut.done());
    /// assert!(!fut.cancel()); // already done
    /// assert!(matches!(fut.error(), Err(Error::Cancelled(Some(m))) if m == "shutting down"));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn cancel(&self) -> bool {
        self.cancel_with_message(None::<String>)
    }

    /// asyncio's `cancel(msg)`: the message is carried by the [`Error::Cancelled`] that
    /// awaiters get. Example: [`LoopFuture::cancel`].
    pub fn cancel_with_message(&self, msg: Option<impl Into<String>>) -> bool {
        ErasedFuture::cancel_with(self.cell.clone(), msg.map(Into::into))
    }

    /// asyncio's `result()`, for cloneable values: the value, the error, or
    /// [`Error::InvalidState`] while pending (or after the value was moved out by `.await`).
    pub fn result(&self) -> Result<T>
    where
        T: Clone,
    {
        match &*self.cell.state.borrow() {
            State::Pending => Err(Error::invalid_state("result is not set yet")),
            State::Done(r) => {
                self.cell.mark_retrieved();
                r.clone()
            }
            State::Taken => Err(Error::invalid_state("result was already taken")),
        }
    }

    /// Moves the result out (what `.await` does), for values that are not `Clone`. Later
    /// calls get [`Error::InvalidState`]; an error is cloned to every caller.
    ///
    /// ```
    /// use twinloop::Error;
    /// struct Connection; // not Clone
    /// let ev = twinloop::EventLoop::new()?;
    /// let fut = ev.create_future();
    /// fut.set_result(Connection)?;
    /// let _conn: Connection = fut.take_result()?;
    /// assert!(matches!(fut.take_result(), Err(Error::InvalidState(_))));
    /// assert!(fut.done() && fut.error()?.is_none());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn take_result(&self) -> Result<T> {
        self.cell.take()
    }

    /// asyncio's `exception()`: `Ok(None)` after a result, `Ok(Some(e))` after an error;
    /// [`Error::InvalidState`] while pending; the [`Error::Cancelled`] if cancelled.
    ///
    /// ```
    /// use twinloop::Error;
    /// let ev = twinloop::EventLoop::new()?;
    /// let fut = ev.create_future::<u8>();
    /// assert!(matches!(fut.error(), Err(Error::InvalidState(_)))); // pending
    /// fut.set_error(Error::Timeout)?;
    /// assert!(matches!(fut.error()?, Some(Error::Timeout)));
    /// assert!(matches!(fut.result(), Err(Error::Timeout)));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn error(&self) -> Result<Option<Error>> {
        if self.done() {
            self.cell.mark_retrieved();
        }
        match &*self.cell.state.borrow() {
            State::Pending => Err(Error::invalid_state("exception is not set yet")),
            State::Done(Err(e @ Error::Cancelled(_))) => Err(e.clone()),
            State::Done(Err(e)) => Ok(Some(e.clone())),
            State::Done(Ok(_)) | State::Taken => Ok(None),
        }
    }

    /// asyncio's `add_done_callback`: `f` runs on the loop (never inside the call that
    /// completed the future) once the future is done. If it is already done the callback
    /// is scheduled at once. Returns an id for [`LoopFuture::remove_done_callback`].
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let ev = twinloop::EventLoop::new()?;
    /// let fut = ev.create_future::<u32>();
    /// let seen = Rc::new(Cell::new(None));
    /// let s = seen.clone();
    /// fut.add_done_callback(move |f| s.set(f.result().ok()));
    /// let unwanted = fut.add_done_callback(|_| println!("removed, never runs"));
    /// assert_eq!(fut.remove_done_callback(unwanted), 1);
    /// fut.set_result(7)?;
    /// assert_eq!(seen.get(), None); // scheduled, not run yet
    /// ev.call_soon(|ev| ev.stop())?;
    /// ev.run_forever()?;
    /// assert_eq!(seen.get(), Some(7));
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn add_done_callback(&self, f: impl FnOnce(&LoopFuture<T>) + 'static) -> CallbackId {
        let id = CallbackId(self.cell.next_callback.get());
        self.cell.next_callback.set(id.0 + 1);
        if self.done() {
            schedule_callback(self.clone(), Box::new(f));
        } else {
            self.cell.callbacks.borrow_mut().push((id, Box::new(f)));
        }
        id
    }

    /// asyncio's `remove_done_callback`: how many registrations were removed (0 or 1).
    /// asyncio removes every registration of a callable; here one [`CallbackId`] names one
    /// registration. Example: [`LoopFuture::add_done_callback`].
    pub fn remove_done_callback(&self, id: CallbackId) -> usize {
        let mut callbacks = self.cell.callbacks.borrow_mut();
        let before = callbacks.len();
        callbacks.retain(|(cid, _)| *cid != id);
        before - callbacks.len()
    }
}

impl<T: 'static> FutureCell<T> {
    fn complete(self: &Rc<Self>, result: Result<T>) -> Result<()> {
        {
            let mut state = self.state.borrow_mut();
            if !matches!(*state, State::Pending) {
                return Err(Error::invalid_state("the future is already done"));
            }
            *state = State::Done(result);
        }
        // Done callbacks are queued before the awaiting tasks are woken, so they run
        // first and can still read the result that an `.await` then moves out.
        let callbacks = self.callbacks.take();
        for (_, callback) in callbacks {
            schedule_callback(LoopFuture { cell: self.clone() }, callback);
        }
        for waker in self.wakers.take() {
            waker.wake();
        }
        Ok(())
    }

    /// The failure (if any) was seen: nothing to report when the future is dropped.
    fn mark_retrieved(&self) {
        let report = self.unretrieved.borrow_mut().take();
        drop(report);
    }

    /// The loop this future belongs to, when a different loop is the one running: a
    /// future is only awaited on its own loop (asyncio's "attached to a different loop").
    fn foreign_loop_error(&self) -> Option<Error> {
        let own = self.ev.upgrade()?;
        if current::running_is(&own)? {
            return None;
        }
        Some(Error::invalid_argument(
            "the future belongs to a different event loop than the one running it; await \
             a LoopFuture or Task only on the loop that created it",
        ))
    }

    fn take(&self) -> Result<T> {
        let mut state = self.state.borrow_mut();
        if !matches!(*state, State::Pending) {
            self.mark_retrieved();
        }
        match &*state {
            State::Pending => return Err(Error::invalid_state("result is not set yet")),
            State::Taken => return Err(Error::invalid_state("result was already taken")),
            State::Done(Err(e)) => return Err(e.clone()),
            State::Done(Ok(_)) => {}
        }
        match std::mem::replace(&mut *state, State::Taken) {
            State::Done(r) => r,
            _ => unreachable!("checked above"),
        }
    }
}

fn schedule_callback<T: 'static>(fut: LoopFuture<T>, callback: DoneCallback<T>) {
    if let Ok(ev) = fut.get_loop() {
        // A closed loop drops the callback, as asyncio's closed loop refuses call_soon.
        let _ = ev.call_soon(move |_| callback(&fut));
    }
}

impl<T: 'static> ErasedFuture for FutureCell<T> {
    fn cancel_with(self: Rc<Self>, msg: Option<String>) -> bool {
        let owner = self.owner.borrow().as_ref().and_then(Weak::upgrade);
        if let Some(task) = owner {
            return task.cancel(msg);
        }
        self.complete(Err(Error::Cancelled(msg))).is_ok()
    }

    fn fail(self: Rc<Self>, error: Error) {
        let _ = self.complete(Err(error));
    }

    fn fail_reporting_unretrieved(self: Rc<Self>, error: Error, report: ExceptionContext) {
        if self.complete(Err(error)).is_ok() {
            *self.unretrieved.borrow_mut() = Some(report);
        }
    }

    fn is_done(&self) -> bool {
        !matches!(*self.state.borrow(), State::Pending)
    }
}

impl<T: 'static> Future for LoopFuture<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        if let Some(error) = self.cell.foreign_loop_error() {
            return Poll::Ready(Err(error));
        }
        if self.done() {
            return Poll::Ready(self.cell.take());
        }
        {
            let mut wakers = self.cell.wakers.borrow_mut();
            if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                wakers.push(cx.waker().clone());
            }
        }
        task::set_awaiting(self.cell.clone());
        Poll::Pending
    }
}

impl<T> Drop for FutureCell<T> {
    /// asyncio's "Task exception was never retrieved", reported when the last handle goes.
    fn drop(&mut self) {
        let Some(report) = self.unretrieved.get_mut().take() else {
            return;
        };
        match self.ev.upgrade() {
            Some(inner) => EventLoop::from_inner(inner).call_exception_handler(&report),
            None => exception::default_handler(&report),
        }
    }
}

impl<T> fmt::Debug for LoopFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &*self.cell.state.borrow() {
            State::Pending => "pending",
            State::Done(Ok(_)) | State::Taken => "finished",
            State::Done(Err(Error::Cancelled(_))) => "cancelled",
            State::Done(Err(_)) => "failed",
        };
        write!(f, "<LoopFuture {state}>")
    }
}
