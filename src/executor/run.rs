//! The loop's side of executors: `run_in_executor`, the default executor and its
//! shutdown.
//!
//! A job's result travels back like a name lookup's: the job stores it in a slot shared
//! with a handler in the loop's I/O registry and reports that handler's token through the
//! loop's inbox (which wakes the poller); the handler then completes the
//! [`LoopFuture`]. A closed loop refuses the report, so a job finishing late never calls
//! back into it.

use std::cell::RefCell;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{take, Executor, Job, Reporter, Slot, ThreadPoolExecutor};
use crate::error::{panic_message, Error, Result};
use crate::future::LoopFuture;
use crate::io_registry::IoHandler;
use crate::registration::Registration;
use crate::remote::RemoteHandle;
use crate::sys;
use crate::EventLoop;

/// The loop's default executor: created on first use, replaced by `set_default_executor`,
/// refused after `shutdown_default_executor` or `close`.
#[derive(Default)]
pub(crate) struct DefaultExecutor {
    executor: Option<Arc<dyn Executor>>,
    shutdown_called: bool,
}

impl DefaultExecutor {
    /// `close()`: no more default executor; the caller shuts the old one down (outside the
    /// loop's borrow), without waiting.
    pub(crate) fn close(&mut self) -> Option<Arc<dyn Executor>> {
        self.shutdown_called = true;
        self.executor.take()
    }
}

/// The guest's default executor: no threads, so the job runs on the loop's thread, on the
/// next turn (a `call_soon`).
struct NextTurn(RemoteHandle);

impl Executor for NextTurn {
    fn execute(&self, job: Job) -> Result<()> {
        self.0.call_soon_threadsafe(move |_| job()).map(drop)
    }
}

/// Runs each job on a new thread: only for `shutdown_default_executor`'s one wait.
struct HelperThread;

impl Executor for HelperThread {
    fn execute(&self, job: Job) -> Result<()> {
        std::thread::Builder::new()
            .name("twinloop-executor-shutdown".into())
            .spawn(job)?;
        Ok(())
    }
}

/// A job's token: its completion reaches the loop through the notifier, not the reactor.
struct JobToken;

impl sys::Watchable for JobToken {
    fn as_source(&mut self) -> Option<&mut dyn sys::Source> {
        None
    }
}

/// The loop-side end of one job: completes `fut` once the job has left its result.
struct Completion<T> {
    slot: Slot<Result<T>>,
    fut: LoopFuture<T>,
    /// Dropped (the token freed) when the result is in.
    registration: RefCell<Option<Registration<JobToken>>>,
}

impl<T: 'static> IoHandler for Completion<T> {
    fn io_ready(self: Rc<Self>, _ev: &EventLoop, _readable: bool, _writable: bool) {
        let Some(result) = take(&self.slot) else {
            return; // a spurious report
        };
        drop(self.registration.borrow_mut().take());
        // Already done if it was cancelled: the result is dropped.
        let _ = match result {
            Ok(value) => self.fut.set_result(value),
            Err(e) => self.fut.set_error(e),
        };
    }
}

impl EventLoop {
    /// asyncio's `loop.run_in_executor(executor, func)`: runs `f` on `executor` (`None`:
    /// the loop's default executor) and returns a future for its result; await it with
    /// `.await?` (the method itself returns `Result` for the errors asyncio raises at once).
    ///
    /// Natively the default executor is a [`ThreadPoolExecutor`] with
    /// [`ThreadPoolExecutor::default_max_workers`] threads, created on first use (or the one
    /// given to [`EventLoop::set_default_executor`]). A panic in `f` becomes
    /// [`Error::Panic`] in the result. Cancelling the future before `f` starts means `f`
    /// never runs; once it runs, it finishes and its result is dropped.
    ///
    /// In the `wasm32-wasip1` guest there are no threads: the default executor runs `f` on
    /// the loop's own thread on the next turn of the loop (the loop waits while it runs),
    /// so that code written for both targets works; a [`ThreadPoolExecutor`] there fails
    /// with [`Error::Unsupported`].
    ///
    /// Errors: [`Error::LoopClosed`]; [`Error::InvalidState`] for `None` after
    /// [`EventLoop::shutdown_default_executor`] (asyncio's `RuntimeError`); what the
    /// executor's [`Executor::execute`] returns.
    ///
    /// ```
    /// let ev = twinloop::EventLoop::new()?;
    /// let sum = ev.run_until_complete(async {
    ///     let ev = twinloop::get_running_loop()?;
    ///     // Blocking or CPU-bound work, off the loop's thread (natively):
    ///     ev.run_in_executor(None, || (1..=100u32).sum::<u32>())?.await
    /// })??;
    /// assert_eq!(sum, 5050);
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn run_in_executor<T, F>(
        &self,
        executor: Option<&dyn Executor>,
        f: F,
    ) -> Result<LoopFuture<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if self.is_closed() {
            return Err(Error::LoopClosed);
        }
        match executor {
            Some(executor) => self.submit(executor, f),
            None => self.submit(&*self.default_executor()?, f),
        }
    }

    /// asyncio's `loop.set_default_executor(executor)`: what
    /// [`EventLoop::run_in_executor`] uses when given `None` (and what native name
    /// resolution runs on). The previous default executor is not shut down (as in
    /// asyncio).
    ///
    /// ```
    /// use twinloop::ThreadPoolExecutor;
    /// let ev = twinloop::EventLoop::new()?;
    /// let pool = ThreadPoolExecutor::with_options(2, "blocking-io")?;
    /// ev.set_default_executor(pool.clone());
    /// # if twinloop::HAS_THREADS {
    /// let name = ev.run_in_executor(None, || std::thread::current().name().map(String::from))?;
    /// assert_eq!(ev.run_until_complete(name)??.as_deref(), Some("blocking-io-0"));
    /// assert_eq!(pool.thread_count(), 1);
    /// # }
    /// # Ok::<(), twinloop::Error>(())
    /// ```
    pub fn set_default_executor(&self, executor: ThreadPoolExecutor) {
        self.inner.executor.borrow_mut().executor = Some(Arc::new(executor));
    }

    /// asyncio's `loop.shutdown_default_executor(timeout)`: shuts the default executor down
    /// and waits (on a helper thread, so the loop goes on) until its threads have finished
    /// their jobs, or until `timeout` has passed: then it logs a warning (`log::warn!`, where
    /// asyncio emits a `RuntimeWarning`) and returns `Ok` without waiting longer. Afterwards
    /// `run_in_executor(None, ..)` fails with [`Error::InvalidState`]. In the guest nothing
    /// runs in the background, so it returns at once. The future holds its own handle to
    /// the loop (`'static`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use twinloop::Error;
    /// let ev = twinloop::EventLoop::new()?;
    /// ev.run_until_complete(ev.run_in_executor(None, || ())?)??;
    /// ev.run_until_complete(ev.shutdown_default_executor(Some(Duration::from_secs(10))))??;
    /// assert!(matches!(ev.run_in_executor(None, || ()), Err(Error::InvalidState(_))));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn shutdown_default_executor(
        &self,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<()>> + 'static {
        let ev = self.clone();
        async move { ev.join_default_executor(timeout).await }
    }

    async fn join_default_executor(&self, timeout: Option<Duration>) -> Result<()> {
        let executor = {
            let mut default = self.inner.executor.borrow_mut();
            default.shutdown_called = true;
            default.executor.clone()
        };
        let Some(executor) = executor else {
            return Ok(());
        };
        if !sys::HAS_THREADS {
            executor.shutdown(true);
            return Ok(());
        }
        let joined = self.submit(&HelperThread, move || executor.shutdown(true))?;
        let timer = match timeout {
            Some(timeout) => {
                let expire = joined.clone();
                Some(self.call_later(timeout, move |_| {
                    let _ = expire.set_error(Error::Timeout);
                })?)
            }
            None => None,
        };
        let outcome = joined.await;
        if let Some(timer) = timer {
            timer.cancel();
        }
        match outcome {
            Err(Error::Timeout) => {
                log::warn!(
                    "The executor did not finish joining its threads within {:.3} seconds.",
                    timeout.unwrap_or_default().as_secs_f64()
                );
                Ok(())
            }
            other => other,
        }
    }

    /// The default executor, created on first use.
    pub(crate) fn default_executor(&self) -> Result<Arc<dyn Executor>> {
        let mut default = self.inner.executor.borrow_mut();
        if default.shutdown_called {
            return Err(Error::invalid_state(
                "executor shutdown has been called: run_in_executor(None, ..) has no default \
                 executor (pass one, or use a new loop)",
            ));
        }
        let executor = default.executor.get_or_insert_with(|| {
            if sys::HAS_THREADS {
                Arc::new(ThreadPoolExecutor::new())
            } else {
                Arc::new(NextTurn(self.remote()))
            }
        });
        Ok(executor.clone())
    }

    /// Runs `f` on `executor`; the result completes the returned future on this loop.
    fn submit<T, F>(&self, executor: &dyn Executor, f: F) -> Result<LoopFuture<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let fut = self.create_future();
        let registration = Registration::new(self, JobToken);
        let (reporter, slot) = Reporter::new(self.io_notifier(registration.token()), || {
            Err(Error::Cancelled(Some(
                "the executor dropped the job without running it".into(),
            )))
        });
        let completion = Rc::new(Completion {
            slot,
            fut: fut.clone(),
            registration: RefCell::new(None),
        });
        registration.set_handler(completion.clone());
        *completion.registration.borrow_mut() = Some(registration);
        let cancelled = Arc::new(AtomicBool::new(false));
        let skip = cancelled.clone();
        let job: Job = Box::new(move || {
            if skip.load(Ordering::Acquire) {
                return; // `reporter`'s drop reports the cancellation
            }
            let result = panic::catch_unwind(AssertUnwindSafe(f))
                .map_err(|payload| Error::Panic(panic_message(&*payload)));
            reporter.finish(result);
        });
        // If it is refused, the job is dropped: its report removes the handler.
        executor.execute(job)?;
        fut.add_done_callback(move |f| {
            if f.cancelled() {
                cancelled.store(true, Ordering::Release);
            }
        });
        Ok(fut)
    }
}
