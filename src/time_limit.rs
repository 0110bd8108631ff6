//! Time limits: asyncio's `asyncio.timeout`, `asyncio.timeout_at` and `asyncio.wait_for`.
//!
//! A time limit polls its future in the caller's task. When the deadline passes it
//! cancels the loop future (or [`Task`](crate::Task)) that its future is waiting on, as
//! asyncio's timeout cancels the current task and with it the future the task waits on,
//! then drops its future (a future's destructors are its cleanup) and ends with
//! [`Error::Timeout`].

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::current;
use crate::error::{Error, Result};
use crate::future::ErasedFuture;
use crate::handle::TimerHandle;
use crate::task::poll_capturing_awaited;
use crate::EventLoop;

/// asyncio's `asyncio.wait_for(aw, timeout)`: `future`'s output, or [`Error::Timeout`] if it
/// takes longer than `timeout`. On timeout, what `future` waits on is cancelled (a
/// [`Task`](crate::Task) it awaits is cancelled, as asyncio's `wait_for` cancels a task),
/// and `future` is dropped. A zero timeout still polls `future` once, so a future that is
/// ready at once gives its value.
///
/// `future`'s output is a `Result` (as every twinloop future's is); wrap other futures:
/// `wait_for(async { Ok(fut.await) }, d)`. Errors: [`Error::NoRunningLoop`] outside a
/// running loop, [`Error::Timeout`], or `future`'s error.
///
/// ```
/// use std::time::Duration;
/// use twinloop::Error;
/// twinloop::run(|ev| async move {
///     let slow = ev.create_task(ev.sleep(Duration::from_secs(3600)))?;
///     let outcome = twinloop::wait_for(slow.clone(), Duration::from_millis(10)).await;
///     assert!(matches!(outcome, Err(Error::Timeout)));
///     twinloop::sleep(Duration::ZERO).await?; // the task takes its cancellation
///     assert!(slow.cancelled());
///     let quick = twinloop::wait_for(async { Ok(7) }, Duration::from_secs(1)).await?;
///     assert_eq!(quick, 7);
///     Ok(())
/// })?;
/// # Ok::<(), Error>(())
/// ```
pub async fn wait_for<F, T>(future: F, timeout: Duration) -> Result<T>
where
    F: IntoFuture<Output = Result<T>>,
{
    self::timeout(timeout)?.run(future).await
}

/// asyncio's `asyncio.timeout(delay)`: a [`Timeout`] whose deadline is `delay` from now on
/// the running loop's clock (`None`: no deadline, until [`Timeout::reschedule`]). Run a
/// future under it with [`Timeout::run`]. [`Error::NoRunningLoop`] outside a running loop
/// (asyncio reads the running loop's clock here too).
///
/// ```
/// use std::time::Duration;
/// use twinloop::Error;
/// twinloop::run(|_ev| async move {
///     let limit = twinloop::timeout(Duration::from_millis(10))?;
///     let outcome = limit
///         .run(async {
///             twinloop::sleep(Duration::from_secs(3600)).await?;
///             Ok("woke up")
///         })
///         .await;
///     assert!(matches!(outcome, Err(Error::Timeout)) && limit.expired());
///     Ok(())
/// })?;
/// # Ok::<(), Error>(())
/// ```
pub fn timeout(delay: impl Into<Option<Duration>>) -> Result<Timeout> {
    let ev = current::get_running_loop()?;
    let when = delay.into().map(|d| ev.time() + d.as_secs_f64());
    Ok(Timeout::new(ev, when))
}

/// asyncio's `asyncio.timeout_at(when)`: a [`Timeout`] with a deadline at `when` on the
/// running loop's clock ([`EventLoop::time`]). [`Error::NoRunningLoop`] outside a running
/// loop, [`Error::InvalidArgument`] for NaN.
///
/// ```
/// use std::time::Duration;
/// twinloop::run(|ev| async move {
///     let limit = twinloop::timeout_at(ev.time() + 60.0)?;
///     let n = limit.run(async { ev.sleep(Duration::from_millis(1)).await?; Ok(1) }).await?;
///     assert!(n == 1 && !limit.expired());
///     Ok(())
/// })?;
/// # Ok::<(), twinloop::Error>(())
/// ```
pub fn timeout_at(when: impl Into<Option<f64>>) -> Result<Timeout> {
    let ev = current::get_running_loop()?;
    let when = when.into();
    check_when(when)?;
    Ok(Timeout::new(ev, when))
}

fn check_when(when: Option<f64>) -> Result<()> {
    match when {
        Some(w) if w.is_nan() => Err(Error::invalid_argument("timeout: `when` is NaN")),
        _ => Ok(()),
    }
}

/// A time limit: asyncio's `asyncio.Timeout`, made by [`timeout`] or [`timeout_at`]. It is
/// a handle (clones share it), used for one scope: [`Timeout::run`] is asyncio's
/// `async with`. The deadline can move while the scope runs ([`Timeout::reschedule`]).
///
/// ```
/// use std::time::Duration;
/// twinloop::run(|ev| async move {
///     let limit = twinloop::timeout(None)?; // no deadline yet
///     let done = limit
///         .run(async {
///             limit.reschedule(ev.time() + 60.0)?; // now there is one
///             ev.sleep(Duration::from_millis(1)).await?;
///             Ok("in time")
///         })
///         .await?;
///     assert_eq!(done, "in time");
///     assert!(limit.reschedule(None).is_err()); // the scope is over
///     Ok(())
/// })?;
/// # Ok::<(), twinloop::Error>(())
/// ```
#[derive(Clone)]
pub struct Timeout {
    state: Rc<TimeoutState>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Created,
    Entered,
    /// The deadline passed; the scope ends with `Error::Timeout` at its next poll.
    Expiring,
    Expired,
    Exited,
}

struct TimeoutState {
    ev: EventLoop,
    when: Cell<Option<f64>>,
    phase: Cell<Phase>,
    timer: RefCell<Option<TimerHandle>>,
    /// The scope's task, woken when the deadline passes.
    waker: RefCell<Option<Waker>>,
    /// What the scope's future waits on: cancelled when the deadline passes.
    awaited: RefCell<Option<Rc<dyn ErasedFuture>>>,
}

impl Timeout {
    fn new(ev: EventLoop, when: Option<f64>) -> Timeout {
        Timeout {
            state: Rc::new(TimeoutState {
                ev,
                when: Cell::new(when),
                phase: Cell::new(Phase::Created),
                timer: RefCell::new(None),
                waker: RefCell::new(None),
                awaited: RefCell::new(None),
            }),
        }
    }

    /// asyncio's `Timeout.when()`: the deadline on the loop's clock, `None` if there is none.
    pub fn when(&self) -> Option<f64> {
        self.state.when.get()
    }

    /// asyncio's `Timeout.reschedule(when)`: a new deadline (`None`: none). A deadline in
    /// the past expires the scope on the next iteration. [`Error::InvalidState`] once the
    /// scope expired or ended; [`Error::InvalidArgument`] for NaN. Example: [`Timeout`].
    pub fn reschedule(&self, when: impl Into<Option<f64>>) -> Result<()> {
        let when = when.into();
        check_when(when)?;
        let st = &self.state;
        match st.phase.get() {
            Phase::Created => {}
            Phase::Entered => st.disarm(),
            Phase::Expiring | Phase::Expired | Phase::Exited => {
                return Err(Error::invalid_state(
                    "cannot reschedule a timeout that expired or whose scope ended",
                ))
            }
        }
        st.when.set(when);
        if st.phase.get() == Phase::Entered {
            st.arm()?;
        }
        Ok(())
    }

    /// asyncio's `Timeout.expired()`: true once the deadline passed inside the scope (the
    /// scope then ends, or ended, with [`Error::Timeout`]).
    pub fn expired(&self) -> bool {
        matches!(self.state.phase.get(), Phase::Expiring | Phase::Expired)
    }

    /// asyncio's `async with timeout:` around `future`: `future`'s output, or
    /// [`Error::Timeout`] when the deadline passes first (what `future` waits on is then
    /// cancelled and `future` dropped). A `Timeout` serves one scope: a second `run`
    /// ends with [`Error::InvalidState`]. Example: [`timeout`].
    pub fn run<F, T>(&self, future: F) -> TimeLimited<F::IntoFuture>
    where
        F: IntoFuture<Output = Result<T>>,
    {
        TimeLimited {
            scope: self.clone(),
            future: Some(Box::pin(future.into_future())),
            entered: false,
        }
    }
}

impl TimeoutState {
    /// Starts the timer for the current deadline, if there is one.
    fn arm(self: &Rc<Self>) -> Result<()> {
        let Some(when) = self.when.get() else {
            return Ok(());
        };
        let weak = Rc::downgrade(self);
        let timer = self.ev.call_at(when, move |_| expire(&weak))?;
        *self.timer.borrow_mut() = Some(timer);
        Ok(())
    }

    fn disarm(&self) {
        if let Some(timer) = self.timer.borrow_mut().take() {
            timer.cancel();
        }
    }

    /// The scope is over: no timer, nothing to cancel.
    fn exit(&self, phase: Phase) {
        self.disarm();
        self.phase.set(phase);
        self.waker.borrow_mut().take();
        self.awaited.borrow_mut().take();
    }
}

/// The timer's callback: asyncio's `Timeout._on_timeout`.
fn expire(state: &Weak<TimeoutState>) {
    let Some(st) = state.upgrade() else {
        return;
    };
    if st.phase.get() != Phase::Entered {
        return;
    }
    st.phase.set(Phase::Expiring);
    st.timer.borrow_mut().take();
    let awaited = st.awaited.borrow_mut().take();
    if let Some(awaited) = awaited {
        awaited.cancel_with(None);
    }
    let waker = st.waker.borrow_mut().take();
    if let Some(waker) = waker {
        waker.wake();
    }
}

impl fmt::Debug for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("when", &self.when())
            .field("phase", &self.state.phase.get())
            .finish()
    }
}

/// The future of [`Timeout::run`] (and of [`wait_for`]): the inner future under a time
/// limit. Dropped before it finishes, it cancels what the inner future waits on, as
/// cancelling asyncio's `wait_for` cancels its inner task.
pub struct TimeLimited<F> {
    scope: Timeout,
    /// `None` once finished.
    future: Option<Pin<Box<F>>>,
    entered: bool,
}

impl<F, T> Future for TimeLimited<F>
where
    F: Future<Output = Result<T>>,
{
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = self.get_mut();
        let st = this.scope.state.clone();
        if !std::mem::replace(&mut this.entered, true) {
            if st.phase.get() != Phase::Created {
                this.future = None;
                return Poll::Ready(Err(Error::invalid_state(
                    "this Timeout was already used for a scope; make a new one",
                )));
            }
            st.phase.set(Phase::Entered);
            if let Err(e) = st.arm() {
                this.future = None;
                st.exit(Phase::Exited);
                return Poll::Ready(Err(e));
            }
        }
        let Some(future) = this.future.as_mut() else {
            return Poll::Ready(Err(Error::invalid_state(
                "a time-limited future was polled after it finished",
            )));
        };
        if st.phase.get() == Phase::Expiring {
            this.future = None;
            st.exit(Phase::Expired);
            return Poll::Ready(Err(Error::Timeout));
        }
        let (poll, awaited) = poll_capturing_awaited(|| future.as_mut().poll(cx));
        match poll {
            Poll::Ready(output) => {
                this.future = None;
                st.exit(Phase::Exited);
                Poll::Ready(output)
            }
            Poll::Pending => {
                *st.awaited.borrow_mut() = awaited;
                *st.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl<F> Drop for TimeLimited<F> {
    fn drop(&mut self) {
        if self.future.is_none() || !self.entered {
            return;
        }
        let st = &self.scope.state;
        let awaited = st.awaited.borrow_mut().take();
        st.exit(Phase::Exited);
        if let Some(awaited) = awaited {
            awaited.cancel_with(None);
        }
    }
}
