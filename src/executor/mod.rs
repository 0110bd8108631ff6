//! Executors: where `run_in_executor` runs blocking functions, so that the loop does not.
//!
//! - [`Executor`]: the trait (Python's `concurrent.futures.Executor`): takes a [`Job`],
//!   can be shut down.
//! - [`ThreadPoolExecutor`] (`thread_pool`): a bounded pool of worker threads, started
//!   lazily; the loop's default executor natively.
//! - `run` (`EventLoop::run_in_executor`, `set_default_executor`,
//!   `shutdown_default_executor`): the loop's side. A job's result comes back through
//!   the loop's inbox from other threads and completes a [`LoopFuture`](crate::LoopFuture).
//!
//! In the `wasm32-wasip1` guest there are no threads: the default executor runs each
//! function on the loop's own thread, on the next turn of the loop, and a
//! [`ThreadPoolExecutor`] refuses jobs with [`Error::Unsupported`](crate::Error).

mod report;
mod run;
mod thread_pool;

pub(crate) use report::{take, Reporter, Slot};
pub(crate) use run::DefaultExecutor;
pub use thread_pool::ThreadPoolExecutor;

use crate::error::Result;

/// A unit of work handed to an [`Executor`]: run it once, on whichever thread.
///
/// ```
/// use twinloop::Job;
/// let job: Job = Box::new(|| println!("working"));
/// job();
/// ```
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// Something that runs [`Job`]s: Python's `concurrent.futures.Executor`, as far as
/// [`EventLoop::run_in_executor`](crate::EventLoop::run_in_executor) needs it. Implement it
/// to run jobs your own way (a dedicated thread, a priority queue, ...).
///
/// `execute` must run every job it accepts exactly once, or drop it; a dropped job's
/// `run_in_executor` future fails with [`Error::Cancelled`](crate::Error::Cancelled).
///
/// ```
/// use twinloop::{EventLoop, Executor, Job};
///
/// /// Runs every job on a new thread (unbounded: an example, not a recommendation).
/// struct ThreadPerJob;
///
/// impl Executor for ThreadPerJob {
///     fn execute(&self, job: Job) -> twinloop::Result<()> {
///         std::thread::spawn(job);
///         Ok(())
///     }
/// }
///
/// # if twinloop::HAS_THREADS {
/// let ev = EventLoop::new()?;
/// let answer = ev.run_in_executor(Some(&ThreadPerJob), || 6 * 7)?;
/// assert_eq!(ev.run_until_complete(answer)??, 42);
/// # }
/// # Ok::<(), twinloop::Error>(())
/// ```
pub trait Executor: Send + Sync {
    /// Python's `Executor.submit`, without the future: schedules `job` to run. Fails when
    /// the executor cannot take it (after `shutdown`: [`Error::InvalidState`]).
    ///
    /// [`Error::InvalidState`]: crate::Error::InvalidState
    fn execute(&self, job: Job) -> Result<()>;

    /// Python's `Executor.shutdown(wait)`: accept no more jobs; jobs already accepted still
    /// run. With `wait`, return only once they have finished. The default does nothing.
    /// Example: [`ThreadPoolExecutor::is_shutdown`].
    fn shutdown(&self, wait: bool) {
        let _ = wait;
    }
}
