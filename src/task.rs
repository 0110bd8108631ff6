//! `Task`: asyncio's `asyncio.Task`, a future driven by the loop.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use crate::current;
use crate::error::{panic_message, Error, Result};
use crate::exception::ExceptionContext;
use crate::future::{CallbackId, ErasedFuture, LoopFuture};
use crate::remote::{LoopShared, RemoteItem};
use crate::EventLoop;

/// A task's future with its output type erased (the typed result goes to the task's
/// [`LoopFuture`]). What a [`TaskFactory`] receives and returns.
pub type TaskFuture = Pin<Box<dyn Future<Output = ()>>>;

/// asyncio's task factory: `factory(loop, future, name)` returns the future the task will
/// drive (the same one, or a wrapper around it). The loop sets the name itself.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use twinloop::{EventLoop, TaskFuture};
/// let ev = EventLoop::new()?;
/// let made = Rc::new(Cell::new(0));
/// let count = made.clone();
/// ev.set_task_factory(Some(Rc::new(move |_ev: &EventLoop, fut: TaskFuture, _name: &str| {
///     count.set(count.get() + 1);
///     fut
/// })));
/// ev.run_until_complete(async {})?;
/// assert_eq!(made.get(), 1);
/// # Ok::<(), twinloop::Error>(())
/// ```
pub type TaskFactory = Rc<dyn Fn(&EventLoop, TaskFuture, &str) -> TaskFuture>;

static NEXT_TASK_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The task being polled on this thread, so that a `LoopFuture` it awaits can register
    /// itself as the task's cancellation target.
    static POLLING: RefCell<Option<Rc<TaskCore>>> = const { RefCell::new(None) };
}

/// Records `fut` as what the currently polled task (if any) awaits.
pub(crate) fn set_awaiting(fut: Rc<dyn ErasedFuture>) {
    POLLING.with(|p| {
        if let Some(task) = &*p.borrow() {
            *task.awaiting.borrow_mut() = Some(fut);
        }
    });
}

/// Polls an inner future (`poll`) inside the current task and returns, with the poll's
/// outcome, the loop future the inner future is now waiting on, if it awaited one: what
/// a time limit or a gather cancels when it gives up on that inner future, as asyncio
/// cancels the future a cancelled task waits on. The task's own slot ends as the poll
/// left it, or as it was when the inner future set nothing.
pub(crate) fn poll_capturing_awaited<R>(
    poll: impl FnOnce() -> R,
) -> (R, Option<Rc<dyn ErasedFuture>>) {
    let task = POLLING.with(|p| p.borrow().clone());
    let Some(task) = task else {
        return (poll(), None);
    };
    let before = task.awaiting.borrow_mut().take();
    let outcome = poll();
    let mut slot = task.awaiting.borrow_mut();
    let awaited = slot.clone();
    if awaited.is_none() {
        *slot = before;
    }
    (outcome, awaited)
}

/// The untyped part of a task, shared by the loop's task table, its `Waker` and `Task`.
pub(crate) struct TaskCore {
    pub(crate) id: u64,
    key: usize,
    name: RefCell<String>,
    future: RefCell<Option<TaskFuture>>,
    waker: Waker,
    pub(crate) scheduled: Cell<bool>,
    /// Shared with the task's wrapper future, which ends the task cancelled if its future
    /// returns after a cancel request (asyncio's `_must_cancel`).
    cancel_requested: Rc<RefCell<Option<Option<String>>>>,
    awaiting: RefCell<Option<Rc<dyn ErasedFuture>>>,
    result: Rc<dyn ErasedFuture>,
    location: &'static Location<'static>,
}

/// A task's `Waker`: a loop id and the task's slot. Woken on the loop's thread it schedules
/// the task directly; woken elsewhere it goes through the loop's inbox.
struct TaskWaker {
    shared: Arc<LoopShared>,
    key: usize,
    id: u64,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let (key, id) = (self.key, self.id);
        if current::with_running(self.shared.id, |inner| inner.wake_task(key, id)).is_some() {
            return;
        }
        if let Some(inner) = current::local_loop(self.shared.id) {
            inner.wake_task(self.key, self.id);
        } else {
            let _ = self.shared.push(RemoteItem::WakeTask {
                key: self.key,
                id: self.id,
            });
        }
    }
}

impl TaskCore {
    /// Runs one step: poll the future once (or finish the cancellation).
    pub(crate) fn step(self: &Rc<Self>, ev: &EventLoop) {
        self.scheduled.set(false);
        if self.result.is_done() {
            self.finish(ev);
            return;
        }
        let cancel = self.cancel_requested.borrow_mut().take();
        if let Some(msg) = cancel {
            self.finish(ev);
            self.result.clone().fail(Error::Cancelled(msg));
            return;
        }
        self.awaiting.borrow_mut().take();
        let previous = POLLING.with(|p| p.borrow_mut().replace(self.clone()));
        let started = ev.get_debug().then(Instant::now);
        let outcome = {
            let mut slot = self.future.borrow_mut();
            let Some(future) = slot.as_mut() else {
                drop(slot);
                POLLING.with(|p| *p.borrow_mut() = previous);
                return;
            };
            let mut cx = Context::from_waker(&self.waker);
            panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx)))
        };
        POLLING.with(|p| *p.borrow_mut() = previous);
        if let Some(started) = started {
            ev.log_if_slow(started, || self.describe());
        }
        match outcome {
            Ok(Poll::Pending) => {
                // Cancelled during this step (by itself, say): what it now awaits is
                // cancelled too, as asyncio does.
                let msg = self.cancel_requested.borrow().clone();
                if let Some(msg) = msg {
                    let awaiting = self.awaiting.borrow_mut().take();
                    if let Some(awaiting) = awaiting {
                        awaiting.cancel_with(msg);
                    }
                }
            }
            Ok(Poll::Ready(())) => self.finish(ev),
            Err(payload) => {
                let error = Error::Panic(panic_message(&*payload));
                self.finish(ev);
                // Reported only if nobody retrieves the failure before the task is dropped
                // (asyncio's "Task exception was never retrieved").
                let mut report = ExceptionContext::new("Task exception was never retrieved")
                    .with_error(error.clone());
                report.task = Some(self.name.borrow().clone());
                report.future = Some(self.describe());
                if ev.get_debug() {
                    report.source_traceback = Some(self.location.to_string());
                }
                self.result
                    .clone()
                    .fail_reporting_unretrieved(error, report);
            }
        }
    }

    /// Drops the future and leaves the loop's task table.
    fn finish(&self, ev: &EventLoop) {
        let future = self.future.borrow_mut().take();
        drop(future);
        self.awaiting.borrow_mut().take();
        let mut tasks = ev.inner.tasks.borrow_mut();
        if tasks.get(self.key).is_some_and(|t| t.id == self.id) {
            let removed = tasks.remove(self.key);
            drop(tasks);
            drop(removed);
        }
    }

    /// On `close()`: the task will never run again.
    pub(crate) fn discard(&self) {
        let future = self.future.borrow_mut().take();
        drop(future);
        self.awaiting.borrow_mut().take();
    }

    /// asyncio's `Task.cancel`: request cancellation; the awaited future is cancelled now.
    pub(crate) fn cancel(self: &Rc<Self>, msg: Option<String>) -> bool {
        if self.result.is_done() {
            return false;
        }
        if self.cancel_requested.borrow().is_none() {
            *self.cancel_requested.borrow_mut() = Some(msg.clone());
        }
        let awaiting = self.awaiting.borrow_mut().take();
        if let Some(awaiting) = awaiting {
            awaiting.cancel_with(msg);
        }
        self.waker.wake_by_ref();
        true
    }

    fn describe(&self) -> String {
        format!("<Task {} created at {}>", self.name.borrow(), self.location)
    }
}

/// A task: asyncio's `asyncio.Task`, made by [`EventLoop::create_task`]. It runs its
/// future on the loop; awaiting the `Task` gives the future's output, or
/// [`Error::Cancelled`] / [`Error::Panic`].
///
/// Cancelling a task cancels the [`LoopFuture`] it is awaiting (so the code that set that
/// future up sees the cancellation), then drops the task's future at its next step: the
/// future's destructors are its cleanup, as `finally` blocks are in Python.
///
/// ```
/// use std::time::Duration;
/// use twinloop::{Error, EventLoop};
/// let ev = EventLoop::new()?;
/// let sleeper = ev.create_task_named(twinloop::sleep(Duration::from_secs(3600)), "sleeper")?;
/// assert_eq!(sleeper.name(), "sleeper");
/// let canceller = sleeper.clone();
/// ev.call_soon(move |_| { canceller.cancel(); })?;
/// assert!(matches!(ev.run_until_complete(sleeper)?, Err(Error::Cancelled(_))));
/// # Ok::<(), Error>(())
/// ```
pub struct Task<T> {
    core: Rc<TaskCore>,
    result: LoopFuture<T>,
}

impl<T> Clone for Task<T> {
    fn clone(&self) -> Self {
        Task {
            core: self.core.clone(),
            result: self.result.clone(),
        }
    }
}

impl<T: 'static> Task<T> {
    pub(crate) fn new<F>(
        ev: &EventLoop,
        future: F,
        name: Option<String>,
        factory: Option<TaskFactory>,
        location: &'static Location<'static>,
    ) -> Task<T>
    where
        F: Future<Output = T> + 'static,
    {
        let id = NEXT_TASK_ID.fetch_add(1, Ordering::Relaxed);
        let name = name.unwrap_or_else(|| format!("Task-{id}"));
        let result = ev.create_future::<T>();
        let setter = result.clone();
        let cancel_requested: Rc<RefCell<Option<Option<String>>>> = Rc::default();
        let must_cancel = cancel_requested.clone();
        let mut erased: TaskFuture = Box::pin(async move {
            let value = future.await;
            let cancel = must_cancel.borrow_mut().take();
            let _ = match cancel {
                Some(msg) => setter.set_error(Error::Cancelled(msg)),
                None => setter.set_result(value),
            };
        });
        if let Some(factory) = factory {
            erased = factory(ev, erased, &name);
        }
        let mut tasks = ev.inner.tasks.borrow_mut();
        let entry = tasks.vacant_entry();
        let key = entry.key();
        let waker = Waker::from(Arc::new(TaskWaker {
            shared: ev.inner.shared.clone(),
            key,
            id,
        }));
        let core = Rc::new(TaskCore {
            id,
            key,
            name: RefCell::new(name),
            future: RefCell::new(Some(erased)),
            waker,
            scheduled: Cell::new(false),
            cancel_requested,
            awaiting: RefCell::new(None),
            result: result.cell.clone(),
            location,
        });
        entry.insert(core.clone());
        drop(tasks);
        result.set_owner(Rc::downgrade(&core));
        Task { core, result }
    }

    pub(crate) fn core(&self) -> &Rc<TaskCore> {
        &self.core
    }

    /// asyncio's `Task.get_name()`: `Task-N` unless a name was given.
    ///
    /// ```
    /// let ev = twinloop::EventLoop::new()?;
    /// let task = ev.create_task(async {})?;
    /// assert!(task.name().starts_with("Task-"));
    /// task.set_name("worker");
    /// assert_eq!(task.name(), "worker");
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn name(&self) -> String {
        self.core.name.borrow().clone()
    }

    /// asyncio's `Task.set_name`.
    pub fn set_name(&self, name: impl Into<String>) {
        *self.core.name.borrow_mut() = name.into();
    }

    /// asyncio's `Task.cancel()`: true unless the task is already done. The future the task
    /// awaits is cancelled now; the task finishes as [`Error::Cancelled`] at its next step.
    /// Unlike a coroutine, the future cannot catch the cancellation: it is dropped (see
    /// [`Task`]).
    pub fn cancel(&self) -> bool {
        self.core.cancel(None)
    }

    /// asyncio's `Task.cancel(msg)`: the message is carried by the [`Error::Cancelled`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use twinloop::Error;
    /// let ev = twinloop::EventLoop::new()?;
    /// let task = ev.create_task(twinloop::sleep(Duration::from_secs(3600)))?;
    /// let t = task.clone();
    /// ev.call_soon(move |_| { t.cancel_with_message("shutting down"); })?;
    /// let outcome = ev.run_until_complete(task.clone())?;
    /// assert!(matches!(outcome, Err(Error::Cancelled(Some(m))) if m == "shutting down"));
    /// assert!(task.cancelled());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn cancel_with_message(&self, msg: impl Into<String>) -> bool {
        self.core.cancel(Some(msg.into()))
    }

    /// asyncio's `Task.done()`: true once the task finished, failed or was cancelled.
    pub fn done(&self) -> bool {
        self.result.done()
    }

    /// asyncio's `Task.cancelled()`.
    pub fn cancelled(&self) -> bool {
        self.result.cancelled()
    }

    /// asyncio's `Task.result()` for cloneable outputs (see [`LoopFuture::result`]).
    pub fn result(&self) -> Result<T>
    where
        T: Clone,
    {
        self.result.result()
    }

    /// Moves the output out (what `.await` does; see [`LoopFuture::take_result`]).
    pub fn take_result(&self) -> Result<T> {
        self.result.take_result()
    }

    /// asyncio's `Task.add_done_callback`: `f` gets the task's result future.
    ///
    /// ```
    /// let ev = twinloop::EventLoop::new()?;
    /// let task = ev.create_task(async { 6 * 7 })?;
    /// let unwanted = task.add_done_callback(|_| println!("removed, never runs"));
    /// assert_eq!(task.remove_done_callback(unwanted), 1);
    /// task.add_done_callback(|f| f.get_loop().unwrap().stop());
    /// ev.run_forever()?;
    /// assert!(task.done() && !task.cancelled() && task.as_future().done());
    /// assert!(task.get_loop()?.ptr_eq(&ev));
    /// assert_eq!(task.result()?, 42); // the value stays
    /// assert_eq!(task.take_result()?, 42); // moved out, as `.await` does
    /// assert!(task.result().is_err());
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn add_done_callback(&self, f: impl FnOnce(&LoopFuture<T>) + 'static) -> CallbackId {
        self.result.add_done_callback(f)
    }

    /// asyncio's `Task.remove_done_callback` (by [`CallbackId`]; see
    /// [`LoopFuture::remove_done_callback`]).
    pub fn remove_done_callback(&self, id: CallbackId) -> usize {
        self.result.remove_done_callback(id)
    }

    /// asyncio's `Task.get_loop()`: the loop running this task.
    pub fn get_loop(&self) -> Result<EventLoop> {
        self.result.get_loop()
    }

    /// The task's result as a plain [`LoopFuture`].
    pub fn as_future(&self) -> &LoopFuture<T> {
        &self.result
    }
}

impl<T: 'static> Future for Task<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        Pin::new(&mut self.get_mut().result).poll(cx)
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.core.describe())
    }
}

/// asyncio's `asyncio.sleep(delay)` on the running loop. A zero delay is asyncio's
/// `sleep(0)`: the task yields once, resuming after the callbacks already ready (no timer).
///
/// Fails with [`Error::NoRunningLoop`] when called outside a running loop. asyncio's
/// `result` argument is not there: follow the sleep with the value.
///
/// ```
/// use std::time::Duration;
/// let ev = twinloop::EventLoop::new()?;
/// ev.run_until_complete(async {
///     twinloop::sleep(Duration::from_millis(1)).await?;
///     println!("a millisecond later");
///     Ok::<(), twinloop::Error>(())
/// })??;
/// # Ok::<(), twinloop::Error>(())
/// ```
pub async fn sleep(delay: std::time::Duration) -> Result<()> {
    let ev = current::get_running_loop()?;
    if delay.is_zero() {
        // asyncio's `sleep(0)`: a bare yield, the task goes to the back of the ready queue.
        YieldOnce(false).await;
        return Ok(());
    }
    ev.sleep(delay).await
}

/// Pending once (waking its task at once), then ready.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}
