//! `EventLoop`: the loop itself. Its turn (`run_once`) reads like the asyncio page says:
//! compute the deadline from the timer heap, poll once, move ready I/O and due timers to
//! the ready queue, run exactly what was ready when the batch began.

mod metrics;
mod settings;
mod turn;

pub(crate) use metrics::{add_time, bump, ByteCounters};
pub use metrics::{LoopMetrics, TransportMetrics};

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::Location;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use slab::Slab;

use crate::current;
use crate::error::{Error, Result};
use crate::exception::ExceptionHandler;
use crate::executor::DefaultExecutor;
use crate::fd_watch::FdWatchers;
use crate::future::LoopFuture;
use crate::handle::{Handle, HandleInner, TimerHandle};
use crate::io_registry::IoRegistry;
use crate::ready_queue::{Ready, ReadyQueue};
use crate::remote::{LoopShared, RemoteHandle, RemoteItem};
use crate::signals::SignalHandlers;
use crate::sys;
use crate::task::{Task, TaskCore, TaskFactory};
use crate::timer_heap::TimerHeap;

/// The longest single wait, as asyncio's `MAXIMUM_SELECT_TIMEOUT`. Longer timers simply
/// take several waits; there is no limit on a delay's length.
const MAX_POLL_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// asyncio's `slow_callback_duration` default.
const DEFAULT_SLOW_CALLBACK: Duration = Duration::from_millis(100);
/// A poll that takes longer than this is logged at INFO in debug mode.
const SLOW_POLL: Duration = Duration::from_secs(1);
/// Timers due within this much of "now" are run in the current iteration (the monotonic
/// clock's resolution, as asyncio's `_clock_resolution`).
const CLOCK_RESOLUTION: f64 = 1e-9;
/// The environment variable that turns debug mode on (any non-empty value), like
/// `PYTHONASYNCIODEBUG`. [`EventLoop::set_debug`] overrides it for one loop.
///
/// ```
/// let ev = twinloop::EventLoop::new()?;
/// let from_env = std::env::var_os(twinloop::DEBUG_ENV_VAR).is_some_and(|v| !v.is_empty());
/// assert_eq!(ev.get_debug(), from_env);
/// # Ok::<(), twinloop::Error>(())
/// ```
pub const DEBUG_ENV_VAR: &str = "TWINLOOP_DEBUG";

static NEXT_LOOP_ID: AtomicU64 = AtomicU64::new(1);

/// An event loop: asyncio's `asyncio.AbstractEventLoop`, single-threaded and `!Send`.
///
/// `EventLoop` is a cheap handle (`Clone` shares the same loop). Callbacks receive
/// `&EventLoop`; other threads get a [`RemoteHandle`] from [`EventLoop::remote`].
///
/// ```
/// use twinloop::EventLoop;
/// let ev = EventLoop::new()?;
/// ev.call_soon(|ev| {
///     println!("Hello World");
///     ev.stop();
/// })?;
/// ev.run_forever()?;
/// ev.close()?;
/// # Ok::<(), twinloop::Error>(())
/// ```
#[derive(Clone)]
pub struct EventLoop {
    pub(crate) inner: Rc<LoopInner>,
}

pub(crate) struct LoopInner {
    id: u64,
    epoch: Instant,
    ready: RefCell<ReadyQueue>,
    timers: RefCell<TimerHeap>,
    pub(crate) reactor: RefCell<sys::Reactor>,
    /// Reused every iteration: readiness reports, then the inbox from other threads.
    events: RefCell<Vec<sys::Event>>,
    inbox: RefCell<Vec<RemoteItem>>,
    pub(crate) shared: Arc<LoopShared>,
    closed: Cell<bool>,
    running: Cell<bool>,
    stopping: Cell<bool>,
    debug: Cell<bool>,
    slow_callback_duration: Cell<Duration>,
    exception_handler: RefCell<Option<ExceptionHandler>>,
    task_factory: RefCell<Option<TaskFactory>>,
    pub(crate) tasks: RefCell<Slab<Rc<TaskCore>>>,
    io: RefCell<IoRegistry>,
    /// `run_in_executor`'s default executor (see `executor::run`).
    pub(crate) executor: RefCell<DefaultExecutor>,
    /// One read buffer for every stream transport of the loop: reads are delivered to the
    /// protocol synchronously, so one buffer serves them all (moved out while in use).
    read_buffer: RefCell<Box<[u8]>>,
    /// Turns run so far (lets a source tell two reports of one turn apart).
    turns: Cell<u64>,
    /// What `metrics()` reports (besides `turns`).
    counters: metrics::LoopCounters,
    /// Descriptors watched with `add_reader` / `add_writer`.
    pub(crate) fd_watchers: RefCell<FdWatchers>,
    /// The name table asked before the system resolver (`set_resolver`).
    pub(crate) resolver: RefCell<Option<crate::net::Resolver>>,
    /// `add_signal_handler`'s handlers and their pipe, once there is one.
    pub(crate) signals: RefCell<Option<Rc<SignalHandlers>>>,
}

impl Drop for LoopInner {
    fn drop(&mut self) {
        self.shared.mark_closed();
        current::unregister_local(self.id);
    }
}

impl EventLoop {
    /// asyncio's `new_event_loop()`: a new loop with the target's backend. Debug mode is on
    /// when the environment variable `TWINLOOP_DEBUG` is set to a non-empty value.
    ///
    /// ```
    /// let ev = twinloop::EventLoop::new()?;
    /// assert!(!ev.is_closed() && !ev.is_running());
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn new() -> Result<EventLoop> {
        let reactor = sys::Reactor::new()?;
        let id = NEXT_LOOP_ID.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::new(LoopShared::new(id, reactor.waker()));
        let debug = std::env::var_os(DEBUG_ENV_VAR).is_some_and(|v| !v.is_empty());
        let inner = Rc::new(LoopInner {
            id,
            epoch: Instant::now(),
            ready: RefCell::new(ReadyQueue::new()),
            timers: RefCell::new(TimerHeap::new()),
            reactor: RefCell::new(reactor),
            events: RefCell::new(Vec::with_capacity(1024)),
            inbox: RefCell::new(Vec::new()),
            shared,
            closed: Cell::new(false),
            running: Cell::new(false),
            stopping: Cell::new(false),
            debug: Cell::new(debug),
            slow_callback_duration: Cell::new(DEFAULT_SLOW_CALLBACK),
            exception_handler: RefCell::new(None),
            task_factory: RefCell::new(None),
            tasks: RefCell::new(Slab::new()),
            io: RefCell::new(IoRegistry::new()),
            executor: RefCell::default(),
            read_buffer: RefCell::new(Box::default()),
            turns: Cell::new(0),
            counters: metrics::LoopCounters::default(),
            fd_watchers: RefCell::default(),
            resolver: RefCell::new(None),
            signals: RefCell::new(None),
        });
        current::register_local(id, &inner);
        Ok(EventLoop { inner })
    }

    /// True if both are handles to the same loop.
    ///
    /// ```
    /// let ev = twinloop::EventLoop::new()?;
    /// assert!(ev.clone().ptr_eq(&ev));
    /// assert!(!twinloop::EventLoop::new()?.ptr_eq(&ev));
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn ptr_eq(&self, other: &EventLoop) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }

    pub(crate) fn from_inner(inner: Rc<LoopInner>) -> EventLoop {
        EventLoop { inner }
    }

    pub(crate) fn downgrade(&self) -> Weak<LoopInner> {
        Rc::downgrade(&self.inner)
    }

    /// asyncio's `loop.time()`: seconds on the loop's monotonic clock, as `f64` (counted
    /// from the loop's creation). Example: [`EventLoop::call_at`].
    pub fn time(&self) -> f64 {
        self.inner.epoch.elapsed().as_secs_f64()
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.closed.get() {
            Err(Error::LoopClosed)
        } else {
            Ok(())
        }
    }

    /// asyncio's `loop.call_soon`: run `f` on the next iteration. Callbacks run in the
    /// order they were scheduled, each exactly once.
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// let ev = twinloop::EventLoop::new()?;
    /// let seen = Rc::new(RefCell::new(Vec::new()));
    /// for i in 0..3 {
    ///     let seen = seen.clone();
    ///     ev.call_soon(move |_| seen.borrow_mut().push(i))?;
    /// }
    /// ev.call_soon(|ev| ev.stop())?;
    /// ev.run_forever()?;
    /// assert_eq!(*seen.borrow(), [0, 1, 2]);
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    #[track_caller]
    pub fn call_soon(&self, f: impl FnOnce(&EventLoop) + 'static) -> Result<Handle> {
        self.check_open()?;
        let inner = HandleInner::new(f, Location::caller());
        self.inner
            .ready
            .borrow_mut()
            .push(Ready::Callback(inner.clone()));
        Ok(Handle { inner })
    }

    /// asyncio's `loop.call_soon_threadsafe` called on the loop's own thread: the same as
    /// [`EventLoop::call_soon`] (FIFO with it), for `Send` callbacks. From other threads use
    /// [`EventLoop::remote`].
    ///
    /// ```
    /// let ev = twinloop::EventLoop::new()?;
    /// ev.call_soon_threadsafe(|ev| ev.stop())?;
    /// ev.run_forever()?;
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    #[track_caller]
    pub fn call_soon_threadsafe(
        &self,
        f: impl FnOnce(&EventLoop) + Send + 'static,
    ) -> Result<Handle> {
        self.call_soon(f)
    }

    /// A `Send + Sync` handle for other threads: `call_soon_threadsafe` and `stop`. See
    /// [`RemoteHandle`] for an example.
    pub fn remote(&self) -> RemoteHandle {
        RemoteHandle {
            shared: self.inner.shared.clone(),
        }
    }

    /// asyncio's `loop.call_later`: run `f` once `delay` has passed (never earlier). A zero
    /// delay runs on the next iteration, never synchronously.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc, time::Duration};
    /// let ev = twinloop::EventLoop::new()?;
    /// let fired_at = Rc::new(Cell::new(0.0));
    /// let at = fired_at.clone();
    /// let timer = ev.call_later(Duration::from_millis(20), move |ev| {
    ///     at.set(ev.time());
    ///     ev.stop();
    /// })?;
    /// ev.run_forever()?;
    /// assert!(fired_at.get() >= timer.when()); // never early
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    #[track_caller]
    pub fn call_later(
        &self,
        delay: Duration,
        f: impl FnOnce(&EventLoop) + 'static,
    ) -> Result<TimerHandle> {
        let when = self.time() + delay.as_secs_f64();
        self.call_at(when, f)
    }

    /// asyncio's `loop.call_at`: run `f` at `when` on the [`EventLoop::time`] clock. A time
    /// in the past runs on the next iteration; overdue timers run in deadline order.
    /// `when` must not be NaN ([`Error::InvalidArgument`]).
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// let ev = twinloop::EventLoop::new()?;
    /// let order = Rc::new(RefCell::new(Vec::new()));
    /// let now = ev.time();
    /// for (delay, name) in [(0.02, "second"), (0.01, "first")] {
    ///     let order = order.clone();
    ///     ev.call_at(now + delay, move |_| order.borrow_mut().push(name))?;
    /// }
    /// ev.call_at(now + 0.03, |ev| ev.stop())?;
    /// ev.run_forever()?;
    /// assert_eq!(*order.borrow(), ["first", "second"]);
    /// assert!(ev.call_at(f64::NAN, |_| {}).is_err());
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    #[track_caller]
    pub fn call_at(&self, when: f64, f: impl FnOnce(&EventLoop) + 'static) -> Result<TimerHandle> {
        self.check_open()?;
        if when.is_nan() {
            return Err(Error::invalid_argument("call_at: `when` is NaN"));
        }
        let inner = HandleInner::new(f, Location::caller());
        let mut timers = self.inner.timers.borrow_mut();
        timers.push(when, inner.clone());
        Ok(TimerHandle {
            inner,
            when,
            heap_cancelled: timers.cancelled_counter().clone(),
        })
    }

    /// asyncio's `loop.is_running()`.
    ///
    /// ```
    /// let ev = twinloop::EventLoop::new()?;
    /// let inside = ev.run_until_complete(async {
    ///     twinloop::get_running_loop().map(|ev| ev.is_running())
    /// })?;
    /// assert!(inside? && !ev.is_running());
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn is_running(&self) -> bool {
        self.inner.running.get()
    }

    /// asyncio's `loop.is_closed()`. Example: [`EventLoop::close`].
    pub fn is_closed(&self) -> bool {
        self.inner.closed.get()
    }

    /// asyncio's `loop.stop()`. Called while the loop runs, the current batch of callbacks
    /// finishes and `run_forever` returns; callbacks scheduled by that batch wait for the next
    /// run. Called before `run_forever`, the next run polls I/O once with a zero timeout,
    /// runs what is ready, and returns.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let ev = twinloop::EventLoop::new()?;
    /// let step = Rc::new(Cell::new(0));
    /// let s = step.clone();
    /// ev.call_soon(move |ev| {
    ///     ev.stop();
    ///     ev.call_soon(move |_| s.set(2)).unwrap(); // waits for the next run
    /// })?;
    /// ev.run_forever()?;
    /// assert_eq!(step.get(), 0);
    /// ev.stop(); // before run_forever: one iteration
    /// ev.run_forever()?;
    /// assert_eq!(step.get(), 2);
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn stop(&self) {
        self.inner.stopping.set(true);
    }

    /// asyncio's `loop.close()`: drops every pending callback, timer and task, and shuts the
    /// default executor down without waiting (its running jobs finish; their results are
    /// dropped); later calls that schedule work return [`Error::LoopClosed`]. Idempotent.
    /// Fails with [`Error::LoopRunning`] (and does nothing) while the loop runs.
    ///
    /// ```
    /// use std::time::Duration;
    /// use twinloop::Error;
    /// let ev = twinloop::EventLoop::new()?;
    /// ev.call_later(Duration::from_secs(60), |_| println!("never"))?;
    /// ev.close()?; // the timer is dropped
    /// assert!(ev.is_closed());
    /// ev.close()?; // idempotent
    /// assert!(matches!(ev.run_forever(), Err(Error::LoopClosed)));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn close(&self) -> Result<()> {
        if self.inner.running.get() {
            return Err(Error::LoopRunning);
        }
        if self.inner.closed.replace(true) {
            return Ok(());
        }
        self.inner.shared.mark_closed();
        // Take everything out first; destructors run after the borrows end and may call
        // back into the (now closed) loop.
        let ready = self.inner.ready.borrow_mut().take_all();
        let timers = self.inner.timers.borrow_mut().drain();
        let tasks: Vec<_> = self.inner.tasks.borrow_mut().drain().collect();
        for task in &tasks {
            task.discard();
        }
        // asyncio's close removes the signal handlers: their signals get their default
        // action back once the pipe is dropped.
        let signals = self.inner.signals.borrow_mut().take();
        let io = self.inner.io.borrow_mut().take_all();
        let fd_watches = self.inner.fd_watchers.borrow_mut().take_all();
        let executor = self.inner.executor.borrow_mut().close();
        if let Some(executor) = &executor {
            executor.shutdown(false);
        }
        drop((ready, timers, tasks, signals, io, fd_watches, executor));
        Ok(())
    }

    /// asyncio's `loop.run_forever()`: run until [`EventLoop::stop`] is called.
    ///
    /// Errors: [`Error::LoopClosed`], [`Error::LoopRunning`] if this loop is already running,
    /// [`Error::AnotherLoopRunning`] if another loop runs on this thread, or an error from the
    /// backend's poll.
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use twinloop::Error;
    /// let ev = twinloop::EventLoop::new()?;
    /// let nested = Rc::new(RefCell::new(None));
    /// let n = nested.clone();
    /// ev.call_soon(move |ev| {
    ///     *n.borrow_mut() = Some(ev.run_forever()); // loops do not nest
    ///     ev.stop();
    /// })?;
    /// ev.run_forever()?;
    /// assert!(matches!(nested.take(), Some(Err(Error::LoopRunning))));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn run_forever(&self) -> Result<()> {
        self.check_open()?;
        current::enter_running(self)?;
        self.inner.running.set(true);
        struct Running<'a>(&'a LoopInner);
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                self.0.stopping.set(false);
                self.0.running.set(false);
                current::leave_running();
            }
        }
        let _running = Running(&self.inner);
        struct CountTime<'a>(&'a LoopInner, Option<Instant>);
        impl Drop for CountTime<'_> {
            fn drop(&mut self) {
                if let Some(started) = self.1 {
                    add_time(&self.0.counters.running, started.elapsed());
                }
            }
        }
        let timing = self.inner.counters.timing.get();
        let _time = CountTime(&self.inner, timing.then(Instant::now));
        loop {
            self.run_once()?;
            if self.inner.stopping.get() {
                return Ok(());
            }
        }
    }

    /// asyncio's `loop.run_until_complete(future)`: run the loop until `future` completes,
    /// and return its output. The future is wrapped in a task.
    ///
    /// Errors: those of [`EventLoop::run_forever`]; [`Error::LoopStopped`] if the loop was
    /// stopped first; [`Error::Panic`] if the future panicked (native targets);
    /// [`Error::Cancelled`] if its task was cancelled.
    ///
    /// A [`LoopFuture`] or [`Task`] of another loop is refused at once, where asyncio raises
    /// `ValueError`: its output is [`Error::InvalidArgument`] (the inner `Result`, as those
    /// futures' output is a `Result`), instead of a run that waits for a loop that is not
    /// running.
    ///
    /// ```
    /// use twinloop::{Error, EventLoop};
    /// let ev = EventLoop::new()?;
    /// let answer = ev.run_until_complete(async { 6 * 7 })?;
    /// assert_eq!(answer, 42);
    /// let other = EventLoop::new()?;
    /// let foreign = other.create_future::<u8>();
    /// assert!(matches!(ev.run_until_complete(foreign)?, Err(Error::InvalidArgument(_))));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn run_until_complete<F>(&self, future: F) -> Result<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.check_open()?;
        if self.inner.running.get() {
            return Err(Error::LoopRunning);
        }
        if current::get_running_loop().is_ok() {
            return Err(Error::AnotherLoopRunning);
        }
        let task = self.spawn(future, None)?;
        let weak = self.downgrade();
        let callback = task.add_done_callback(move |_| {
            if let Some(inner) = weak.upgrade() {
                inner.stopping.set(true);
            }
        });
        let outcome = self.run_forever();
        task.remove_done_callback(callback);
        outcome?;
        if !task.done() {
            return Err(Error::LoopStopped);
        }
        task.take_result()
    }

    /// asyncio's `loop.create_future()`: a future bound to this loop.
    ///
    /// ```
    /// let ev = twinloop::EventLoop::new()?;
    /// let fut = ev.create_future::<u32>();
    /// let setter = fut.clone();
    /// ev.call_soon(move |_| setter.set_result(7).unwrap())?;
    /// assert_eq!(ev.run_until_complete(fut)??, 7);
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn create_future<T: 'static>(&self) -> LoopFuture<T> {
        LoopFuture::new(self.downgrade())
    }

    /// asyncio's `loop.create_task(coro)`: run `future` as a task, starting on the next
    /// iteration. The task's name is `Task-N`; see [`EventLoop::create_task_named`].
    /// asyncio's `context=` has no counterpart: Rust has no `contextvars`, and a task
    /// carries what its future captures.
    ///
    /// ```
    /// let ev = twinloop::EventLoop::new()?;
    /// let task = ev.create_task(async { "done" })?;
    /// assert_eq!(ev.run_until_complete(task)??, "done");
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    #[track_caller]
    pub fn create_task<F>(&self, future: F) -> Result<Task<F::Output>>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.spawn(future, None)
    }

    /// asyncio's `loop.create_task(coro, name=...)`.
    ///
    /// ```
    /// let ev = twinloop::EventLoop::new()?;
    /// let task = ev.create_task_named(async { 1 }, "fetch")?;
    /// assert_eq!(task.name(), "fetch");
    /// assert_eq!(ev.run_until_complete(task)??, 1);
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    #[track_caller]
    pub fn create_task_named<F>(
        &self,
        future: F,
        name: impl Into<String>,
    ) -> Result<Task<F::Output>>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.spawn(future, Some(name.into()))
    }

    #[track_caller]
    fn spawn<F>(&self, future: F, name: Option<String>) -> Result<Task<F::Output>>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.check_open()?;
        let factory = self.inner.task_factory.borrow().clone();
        let task = Task::new(self, future, name, factory, Location::caller());
        self.schedule_task(task.core());
        Ok(task)
    }

    /// A future that completes after `delay` (asyncio's `asyncio.sleep`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let ev = twinloop::EventLoop::new()?;
    /// let sleeper = ev.sleep(Duration::from_millis(5));
    /// ev.run_until_complete(sleeper)??;
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn sleep(&self, delay: Duration) -> LoopFuture<()> {
        let fut = self.create_future();
        let done = fut.clone();
        match self.call_later(delay, move |_| {
            let _ = done.set_result(());
        }) {
            Ok(timer) => {
                fut.add_done_callback(move |f| {
                    if f.cancelled() {
                        timer.cancel();
                    }
                });
            }
            Err(e) => {
                let _ = fut.set_error(e);
            }
        }
        fut
    }
}
