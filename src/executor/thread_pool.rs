//! `ThreadPoolExecutor`: a bounded pool of worker threads fed from one queue.
//!
//! A job is queued; a thread is started only when there are more queued jobs than idle
//! workers and fewer workers than the bound (Python's `_adjust_thread_count`). Workers
//! live until the pool is shut down, then finish the queue and exit.

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::{Executor, Job};
use crate::error::{Error, Result};
use crate::sys;

/// A pool of at most `max_workers` threads: Python's
/// `concurrent.futures.ThreadPoolExecutor`, and the loop's default executor natively.
///
/// Threads are started lazily, one per job while no worker is idle, up to the bound; they
/// stay until [`Executor::shutdown`]. `Clone` shares the pool; when the last clone is
/// dropped the pool shuts down without waiting (queued jobs still run).
///
/// In the `wasm32-wasip1` guest there are no threads: [`Executor::execute`] fails with
/// [`Error::Unsupported`].
///
/// ```
/// use std::sync::mpsc;
/// use twinloop::{Executor, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::with_options(2, "worker")?;
/// assert_eq!(pool.max_workers(), 2);
/// assert_eq!(pool.thread_count(), 0); // no thread until there is work
/// # if twinloop::HAS_THREADS {
/// let (tx, rx) = mpsc::channel();
/// for i in 0..10 {
///     let tx = tx.clone();
///     pool.execute(Box::new(move || tx.send(i * i).unwrap()))?;
/// }
/// drop(tx);
/// assert_eq!(rx.iter().sum::<i32>(), 285);
/// assert!(pool.thread_count() <= 2);
/// # }
/// pool.shutdown(true);
/// # Ok::<(), twinloop::Error>(())
/// ```
#[derive(Clone)]
pub struct ThreadPoolExecutor {
    owner: Arc<Owner>,
}

/// Held by the user's clones only (workers hold `Shared`): its drop shuts the pool down.
struct Owner {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a job is queued or the pool shuts down.
    work: Condvar,
    /// Signalled when a worker exits.
    exited: Condvar,
    max_workers: usize,
    thread_name_prefix: String,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// Workers waiting for a job.
    idle: usize,
    /// Workers alive.
    threads: usize,
    /// Workers ever started (for their names).
    started: usize,
    shutdown: bool,
    handles: Vec<JoinHandle<()>>,
}

thread_local! {
    /// The pool this thread works for (its `Shared`'s address), so that a job calling
    /// `shutdown(true)` on its own pool does not wait for itself.
    static WORKER_OF: Cell<usize> = const { Cell::new(0) };
}

impl ThreadPoolExecutor {
    /// asyncio's bound for its default executor: `min(32, cpu_count + 4)`.
    ///
    /// ```
    /// let n = twinloop::ThreadPoolExecutor::default_max_workers();
    /// assert!((5..=32).contains(&n));
    /// ```
    pub fn default_max_workers() -> usize {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cpus + 4).min(32)
    }

    /// `ThreadPoolExecutor()`: [`ThreadPoolExecutor::default_max_workers`] threads at most,
    /// named `twinloop-executor-N`.
    ///
    /// ```
    /// let pool = twinloop::ThreadPoolExecutor::new();
    /// assert_eq!(pool.max_workers(), twinloop::ThreadPoolExecutor::default_max_workers());
    /// ```
    pub fn new() -> ThreadPoolExecutor {
        ThreadPoolExecutor::build(Self::default_max_workers(), "twinloop-executor".into())
    }

    /// `ThreadPoolExecutor(max_workers, thread_name_prefix)`: threads are named
    /// `{prefix}-N`. [`Error::InvalidArgument`] if `max_workers` is 0 (Python's
    /// `ValueError`).
    ///
    /// ```
    /// use twinloop::{Error, ThreadPoolExecutor};
    /// assert_eq!(ThreadPoolExecutor::with_options(3, "io")?.max_workers(), 3);
    /// assert!(matches!(ThreadPoolExecutor::with_options(0, "io"), Err(Error::InvalidArgument(_))));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn with_options(
        max_workers: usize,
        thread_name_prefix: impl Into<String>,
    ) -> Result<ThreadPoolExecutor> {
        if max_workers == 0 {
            return Err(Error::invalid_argument(
                "ThreadPoolExecutor: max_workers must be greater than 0",
            ));
        }
        Ok(ThreadPoolExecutor::build(
            max_workers,
            thread_name_prefix.into(),
        ))
    }

    fn build(max_workers: usize, thread_name_prefix: String) -> ThreadPoolExecutor {
        ThreadPoolExecutor {
            owner: Arc::new(Owner {
                shared: Arc::new(Shared {
                    state: Mutex::new(State::default()),
                    work: Condvar::new(),
                    exited: Condvar::new(),
                    max_workers,
                    thread_name_prefix,
                }),
            }),
        }
    }

    /// The most threads this pool runs at once. Example: [`ThreadPoolExecutor`].
    pub fn max_workers(&self) -> usize {
        self.owner.shared.max_workers
    }

    /// How many worker threads are alive now (never more than
    /// [`ThreadPoolExecutor::max_workers`]; 0 before the first job and once a shut-down
    /// pool's workers have exited). Example: [`ThreadPoolExecutor`].
    pub fn thread_count(&self) -> usize {
        self.owner.shared.lock().threads
    }

    /// True once [`Executor::shutdown`] was called (or the pool was dropped).
    ///
    /// ```
    /// use twinloop::{Error, Executor, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new();
    /// assert!(!pool.is_shutdown());
    /// pool.shutdown(true);
    /// assert!(pool.is_shutdown());
    /// assert!(pool.execute(Box::new(|| {})).is_err());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.owner.shared.lock().shutdown
    }
}

impl Default for ThreadPoolExecutor {
    fn default() -> Self {
        ThreadPoolExecutor::new()
    }
}

impl fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.owner.shared.lock();
        f.debug_struct("ThreadPoolExecutor")
            .field("max_workers", &self.owner.shared.max_workers)
            .field("threads", &state.threads)
            .field("queued", &state.queue.len())
            .field("shutdown", &state.shutdown)
            .finish()
    }
}

impl Executor for ThreadPoolExecutor {
    fn execute(&self, job: Job) -> Result<()> {
        self.owner.shared.execute(job)
    }

    fn shutdown(&self, wait: bool) {
        self.owner.shared.shutdown(wait);
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.shutdown(false);
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Jobs run outside the lock, so a poisoned lock only means a panic in our own
        // bookkeeping; the state is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn execute(self: &Arc<Self>, job: Job) -> Result<()> {
        if !sys::HAS_THREADS {
            return Err(Error::Unsupported {
                what: "ThreadPoolExecutor::execute (no threads)",
                target: sys::TARGET,
            });
        }
        let mut state = self.lock();
        if state.shutdown {
            return Err(Error::invalid_state(
                "cannot schedule new jobs after the executor was shut down",
            ));
        }
        state.queue.push_back(job);
        if state.queue.len() > state.idle && state.threads < self.max_workers {
            if let Err(e) = self.start_worker(&mut state) {
                // With no worker at all the job would never run: give it back.
                if state.threads == 0 {
                    state.queue.pop_back();
                    return Err(e.into());
                }
            }
        }
        drop(state);
        self.work.notify_one();
        Ok(())
    }

    fn start_worker(self: &Arc<Self>, state: &mut State) -> std::io::Result<()> {
        let shared = self.clone();
        let handle = std::thread::Builder::new()
            .name(format!("{}-{}", self.thread_name_prefix, state.started))
            .spawn(move || shared.work_loop())?;
        state.started += 1;
        state.threads += 1;
        state.handles.push(handle);
        Ok(())
    }

    fn work_loop(self: Arc<Self>) {
        WORKER_OF.with(|w| w.set(Arc::as_ptr(&self) as usize));
        let mut state = self.lock();
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                // `run_in_executor` catches its function's panics itself; a bare job that
                // panics must not take the worker (and the pool's count) down with it.
                let _ = panic::catch_unwind(AssertUnwindSafe(job));
                state = self.lock();
            } else if state.shutdown {
                state.threads -= 1;
                drop(state);
                self.exited.notify_all();
                return;
            } else {
                state.idle += 1;
                state = self.work.wait(state).unwrap_or_else(|p| p.into_inner());
                state.idle -= 1;
            }
        }
    }

    fn shutdown(self: &Arc<Self>, wait: bool) {
        let handles = {
            let mut state = self.lock();
            state.shutdown = true;
            if wait {
                std::mem::take(&mut state.handles)
            } else {
                Vec::new()
            }
        };
        self.work.notify_all();
        if !wait {
            return;
        }
        let me = Arc::as_ptr(self) as usize;
        if WORKER_OF.with(Cell::get) == me {
            // A job shutting down its own pool: waiting would wait for itself.
            return;
        }
        let current = std::thread::current().id();
        for handle in handles {
            if handle.thread().id() != current {
                let _ = handle.join();
            }
        }
        // Another caller may have taken the handles: wait for every worker regardless.
        let mut state = self.lock();
        while state.threads > 0 {
            state = self.exited.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }
}
